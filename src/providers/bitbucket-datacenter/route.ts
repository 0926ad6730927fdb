// Which repository a Data Center delivery is about, read from the JSON body before anything else is trusted about
// it (the signature can only be checked once the Repository, and so its secret, is known). Pure.
import type { DeliveryTarget } from "../provider.ts";
import { serverFromLinks } from "./classify.ts";
import { Repository as PayloadRepository } from "./payloads.ts";

/**
 * The repository a delivery is about: the pull request's target, the pushed (commented, forked) repository, or for
 * `repo:modified` the repository as it is now (`new`).
 */
export function deliveryTarget(body: unknown): DeliveryTarget | undefined {
  if (body === null || typeof body !== "object" || Array.isArray(body)) return undefined;
  const b = body as Record<string, unknown>;
  const pr = b.pullRequest as Record<string, unknown> | undefined;
  const candidate =
    pr !== null && typeof pr === "object"
      ? (pr.toRef as Record<string, unknown> | undefined)?.repository
      : (b.repository ?? b.new);
  const parsed = PayloadRepository.safeParse(candidate);
  if (!parsed.success) return undefined;
  const repo = parsed.data;
  const server = serverFromLinks(repo);
  return {
    ...(server === undefined ? {} : { server }),
    project: repo.project.key.toUpperCase(),
    slug: repo.slug.toLowerCase(),
  };
}
