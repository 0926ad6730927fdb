// The webhook secrets the intake checks signatures against: a Repository's own (or the one Baton generated for it)
// and its project hook's, read from Secrets with a short cache so a burst of deliveries is not a burst of reads.
import type { Repository } from "../api/repository.ts";
import { parseRepositoryUrl } from "../repositories/decisions.ts";
import { projectWebhookSecretName, webhookSecretName } from "../repositories/resource.ts";
import type { Clock } from "../runtime/clock.ts";
import type { Informer } from "../runtime/informer.ts";
import { type KubeClient, Secrets } from "../runtime/kube.ts";
import type { Logger } from "../runtime/logger.ts";
import { scrub } from "../runtime/redact.ts";
import type { DeliveryTarget } from "./route.ts";

export interface SecretRef {
  namespace: string;
  name: string;
  key: string;
}

export interface WebhookSecretsOptions {
  kube: KubeClient;
  repositories: Informer<Repository>;
  clock: Clock;
  logger: Logger;
  /** Where project-scope webhook secrets live (the operator's namespace). */
  operatorNamespace: string;
}

const cacheMs = 10_000;

export class WebhookSecrets {
  readonly #o: WebhookSecretsOptions;
  readonly #cache = new Map<string, { value: string | undefined; at: number }>();

  constructor(options: WebhookSecretsOptions) {
    this.#o = options;
  }

  /** Where the secrets that may sign a delivery for `repository` are. */
  refs(repository: Repository): SecretRef[] {
    const namespace = repository.metadata.namespace ?? "";
    const own = repository.spec.webhook?.secretRef;
    const refs = [
      own
        ? { namespace, name: own.name, key: own.key }
        : { namespace, name: webhookSecretName(repository), key: "secret" },
    ];
    const location = parseRepositoryUrl(repository.spec.url, repository.spec.provider);
    if (location) {
      refs.push({
        namespace: this.#o.operatorNamespace,
        name: projectWebhookSecretName(location.server, location.project),
        key: "secret",
      });
    }
    return refs;
  }

  /** Whether the project webhook Baton keeps for the target's project (on any server it is kept on) signed this. */
  async signedByProjectHook(target: DeliveryTarget, verify: (secrets: string[]) => boolean): Promise<boolean> {
    const servers = new Set<string>();
    for (const repo of this.#o.repositories.list()) {
      const location = parseRepositoryUrl(repo.spec?.url ?? "", repo.spec?.provider);
      if (repo.spec?.webhook?.scope === "project" && location?.project === target.project) servers.add(location.server);
    }
    const secrets = await Promise.all(
      [...servers].map((server) =>
        this.read(
          {
            namespace: this.#o.operatorNamespace,
            name: projectWebhookSecretName(server, target.project),
            key: "secret",
          },
          false,
        ),
      ),
    );
    const known = secrets.filter((secret): secret is string => secret !== undefined);
    return known.length > 0 && verify(known);
  }

  /** The secret's value; `fresh` reads it again unless read in the last second (it may just have been rotated). */
  async read(ref: SecretRef, fresh: boolean): Promise<string | undefined> {
    const cacheKey = `${ref.namespace}/${ref.name}/${ref.key}`;
    const cached = this.#cache.get(cacheKey);
    const now = this.#o.clock.now();
    if (cached && now - cached.at < (fresh ? 1_000 : cacheMs)) return cached.value;
    let value: string | undefined;
    try {
      const secret = await this.#o.kube.get(Secrets, { namespace: ref.namespace, name: ref.name });
      const data = secret?.data?.[ref.key];
      value = data === undefined ? secret?.stringData?.[ref.key] : Buffer.from(data, "base64").toString("utf8");
      if (value !== undefined) value = value.replace(/\r?\n$/, "");
      if (value === "") value = undefined;
    } catch (err) {
      // The operator may not be allowed to read Secrets in its own namespace (no project hooks): not a failure.
      this.#o.logger.debug(
        { secret: `${ref.namespace}/${ref.name}`, err: scrub(String(err)) },
        "webhook secret unreadable",
      );
      value = undefined;
    }
    if (this.#cache.size > 10_000) this.#cache.clear();
    this.#cache.set(cacheKey, { value, at: now });
    return value;
  }
}
