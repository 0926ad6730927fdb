// `kubectl baton doctor`: one Repository's chain from Bitbucket to a PipelineRun, checked link by link in the order
// an event travels it, stopping at the first broken link with what to do. The host is asked through the provider
// interface (providers/provider.ts): token validation, one read, the webhook list and the .tekton source.
import type { Repository } from "../api/repository.ts";
import type { BitbucketProjectToken } from "../api/token.ts";
import { DefinitionCache, type TektonSource } from "../pipelines/definitions.ts";
import { tektonSource } from "../pipelines/run-context.ts";
import { DataCenterProvider } from "../providers/bitbucket-datacenter/provider.ts";
import { TooManyResultsError } from "../providers/http/errors.ts";
import type { GitProvider, Hook, TokenValidation } from "../providers/provider.ts";
import { providerKindOf } from "../providers/registry.ts";
import { webhookFailure, webhookName } from "../repositories/decisions.ts";
import { failureOf } from "../repositories/failures.ts";
import { operatorToken } from "../repositories/resource.ts";
import { legacyInstance } from "../runtime/installation.ts";
import type { KubeClient } from "../runtime/kube.ts";
import { CliError, exitCodes, globalHelp, type Io, onePositional, parseCommand } from "./common.ts";
import { cliKube } from "./kube.ts";
import { lintReport } from "./lint.ts";
import { problemLine } from "./locate.ts";
import { emit, table } from "./output.ts";
import { contextFromRepository, readRepository } from "./pipelines-context.ts";

export const doctorHelp = `Checks one Repository link by link, in the order an event travels, and stops at the first broken link
with what to do:
  1. the Repository names a Bitbucket repository and the operator has acted on it
  2. its token is there (Secret or BitbucketProjectToken) and Bitbucket accepts it
  3. the token may read the repository (REPO_READ)
  4. the token may manage the webhook (REPO_ADMIN, or PROJECT_ADMIN for a project webhook), when Baton manages it
  5. the webhook exists, is active, and delivers to the intake URL
  6. the intake answers (a diagnostics:ping, as Bitbucket's "Test connection" sends)
  7. the .tekton folder lints clean at the default branch

Reads the token's Secret (as the operator does), so it needs get on Secrets in the namespace.

Usage: kubectl baton doctor NAME [options]

  --intake-url URL   the operator's BATON_INTAKE_URL: the webhook must deliver there (default: not compared)
  --instance NAME    the operator's BATON_INSTANCE, which names its webhook (default: baton)

${globalHelp}

Exit status: 0 when every link holds, 1 at a broken link, 4 when the Repository does not exist or Kubernetes cannot be
reached.

Examples:
  kubectl baton doctor my-app -n ci
  kubectl baton doctor my-app -n ci --intake-url https://baton.example.com/hooks/bitbucket -o json`;

const options = { "intake-url": { type: "string" }, instance: { type: "string" } } as const;

/** The few host calls the doctor makes, with the operator's token. */
export interface DoctorHost {
  validateToken(): Promise<TokenValidation>;
  /** Resolves when the token may read the repository; rejects with the provider's error otherwise. */
  readRepository(): Promise<void>;
  /** The webhooks of the repository, or of its project. */
  hooks(scope: "repository" | "project"): Promise<Hook[]>;
  /** The `.tekton` folder, at the default branch when the commit is "". */
  tekton: TektonSource;
}

/** The doctor's calls on one GitProvider. */
export function doctorHost(provider: GitProvider, owner: string, name: string, token: string): DoctorHost {
  const ref = { owner, name };
  const auth = { kind: "bearer", token } as const;
  return {
    validateToken: () => provider.validateToken(token),
    readRepository: async () => {
      try {
        await provider.listOpenPullRequests(ref, { auth, pageSize: 25, maxItems: 25 });
      } catch (error) {
        // More open pull requests than asked for: the token read them, which is all this asks.
        if (!(error instanceof TooManyResultsError)) throw error;
      }
    },
    hooks: (scope) =>
      provider.listHooks(scope === "project" ? { kind: "owner", owner } : { kind: "repository", repo: ref }, { auth }),
    tekton: tektonSource({ client: provider, ref, auth }),
  };
}

/** The host of a Repository, for the kinds this build's CLI knows; undefined for the others. */
export function hostFor(repository: Repository, server: string): GitProvider | undefined {
  if (providerKindOf(repository.spec) !== "bitbucket-datacenter") return undefined;
  return new DataCenterProvider({ baseUrl: server, retry: { maxAttempts: 1 }, userAgent: "kubectl-baton" });
}

export interface Link {
  check: string;
  ok: boolean;
  detail: string;
  /** What to do, on the broken link. */
  fix?: string;
}

export interface DoctorReport {
  repository: string;
  namespace: string;
  links: Link[];
  healthy: boolean;
}

export interface DoctorInput {
  kube: KubeClient;
  repository: Repository;
  token: BitbucketProjectToken | undefined;
  intakeUrl?: string | undefined;
  instance: string;
  /** The repository's host, or undefined when this build cannot talk to its kind. */
  host(repository: Repository, server: string): GitProvider | undefined;
  /** Sends Bitbucket's "Test connection" to the intake. */
  ping(url: string): Promise<{ status: number; body: string }>;
}

async function pingIntake(url: string): Promise<{ status: number; body: string }> {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json; charset=utf-8", "x-event-key": "diagnostics:ping" },
    body: JSON.stringify({ test: true }),
    signal: AbortSignal.timeout(10_000),
  });
  return { status: res.status, body: (await res.text()).slice(0, 500) };
}

/** Walks the links in order; the last link in the answer is the broken one when `healthy` is false. */
export async function diagnose(input: DoctorInput): Promise<DoctorReport> {
  const { repository, kube } = input;
  const ns = repository.metadata.namespace ?? "";
  const name = repository.metadata.name ?? "";
  const links: Link[] = [];
  const report = (healthy: boolean): DoctorReport => ({ repository: name, namespace: ns, links, healthy });
  const pass = (check: string, detail: string) => links.push({ check, ok: true, detail });
  const fail = (check: string, detail: string, fix: string) => {
    links.push({ check, ok: false, detail, fix });
    return report(false);
  };

  // 1. The Repository itself.
  const ctx = (() => {
    try {
      return contextFromRepository(repository, input.token);
    } catch (error) {
      return error as Error;
    }
  })();
  if (ctx instanceof Error) return fail("repository", ctx.message, "set spec.url to the repository's browse URL");
  const { location } = ctx;
  const where = `${location.project}/${location.slug} on ${location.server}`;
  if (repository.status?.conditions === undefined) {
    return fail(
      "repository",
      `${where}: the operator has not written any status`,
      "check that the operator runs and watches this namespace (kubectl logs deploy/baton -n baton-system)",
    );
  }
  pass("repository", where);

  // 2. The token, and Bitbucket's opinion of it.
  const tokenRef = repository.spec.tokenRef?.name;
  const resolved = await operatorToken(kube, repository);
  if ("problem" in resolved) {
    return fail(
      "token",
      resolved.problem,
      tokenRef
        ? `see "kubectl describe bitbucketprojecttoken ${tokenRef} -n ${ns}"; when it is not Ready, "kubectl baton renew ${tokenRef} -n ${ns}"`
        : `create the Secret ${repository.spec.secretRef?.name ?? ""} with the token under key ${repository.spec.secretRef?.key ?? "token"}`,
    );
  }
  const provider = input.host(repository, location.server);
  if (provider === undefined) {
    return fail(
      "repository",
      `kubectl baton doctor knows Bitbucket Data Center only; ${where} is a ${providerKindOf(repository.spec)} repository`,
      "check it with kubectl describe repository and the operator's Events",
    );
  }
  const bitbucket = doctorHost(provider, location.project, location.slug, resolved.token);
  const refusal = tokenRef
    ? `issue a new one: kubectl baton renew ${tokenRef} -n ${ns}`
    : `put a valid HTTP access token in Secret ${repository.spec.secretRef?.name ?? ""}`;
  let validation: TokenValidation;
  try {
    validation = await bitbucket.validateToken();
  } catch (error) {
    return fail(
      "token",
      `could not reach ${location.server}: ${failureOf(error).detail}`,
      "check the URL and that the server is reachable from here",
    );
  }
  if (!validation.valid) return fail("token", `the server refuses the token: ${validation.reason}`, refusal);
  pass("token", `the server accepts the token${tokenRef ? ` of BitbucketProjectToken ${tokenRef}` : ""}`);
  try {
    await bitbucket.readRepository();
  } catch (error) {
    const { kind, detail } = failureOf(error);
    if (kind === "unauthorized" || kind === "notFound") {
      return fail(
        "read access",
        `the token cannot read ${where} (${detail}): wrong spec.url, or the token lacks REPO_READ`,
        "check spec.url, and give the token at least REPO_READ on the repository",
      );
    }
    return fail("read access", `could not read ${where}: ${detail}`, "check that the server is reachable from here");
  }
  pass("read access", `the token reads ${where} (REPO_READ)`);

  // 3. The webhook: its permissions, existence, target.
  const webhook = repository.spec.webhook;
  const scope = webhook?.scope ?? "repository";
  const managed = webhook?.managed ?? true;
  let hooks: Hook[] | undefined;
  try {
    hooks = await bitbucket.hooks(scope);
  } catch (error) {
    const { kind, detail } = failureOf(error);
    if (managed || kind !== "unauthorized") {
      const failure = webhookFailure(kind, scope, scope === "project" ? `project ${location.project}` : where, detail);
      return fail(
        "webhook access",
        failure.message,
        kind === "unauthorized"
          ? `grant ${scope === "project" ? "PROJECT_ADMIN" : "REPO_ADMIN"} to the token, or set spec.webhook.managed: false and create the hook by hand`
          : "check that Bitbucket is reachable and try again",
      );
    }
    // A hook made by hand needs no admin token; the doctor then cannot see it, and says so.
    pass("webhook access", "not checked: spec.webhook.managed is false and the token may not list webhooks");
  }
  let intakeUrl = input.intakeUrl;
  if (hooks !== undefined) {
    pass("webhook access", `the token lists the ${scope} webhooks`);
    const recorded = repository.status?.webhook?.id;
    const names = new Set([webhookName(input.instance), webhookName(legacyInstance)]);
    const hook =
      hooks.find((h) => recorded !== undefined && h.id === String(recorded)) ??
      hooks.find((h) => names.has(h.name)) ??
      (input.intakeUrl ? hooks.find((h) => h.url === input.intakeUrl) : undefined);
    if (hook === undefined) {
      return fail(
        "webhook",
        `no webhook${recorded === undefined ? "" : ` ${recorded} (recorded in status)`} named ${[...names].join(" or ")} among the ${scope} webhooks of ${scope === "project" ? `project ${location.project}` : where}: Bitbucket sends Baton nothing`,
        managed
          ? `the operator recreates it at its next drift check; to have it now, touch the Repository: kubectl annotate repository ${name} -n ${ns} baton.dev/poke="$(date +%s)" --overwrite`
          : `create it by hand in Bitbucket's repository settings (Webhooks)${input.intakeUrl ? `, delivering to ${input.intakeUrl}` : ""}, with the Repository's webhook secret`,
      );
    }
    if (!hook.active) {
      return fail(
        "webhook",
        `webhook ${hook.id} (${hook.name}) is disabled`,
        managed ? "the operator re-enables it at its next drift check" : "enable it in Bitbucket's repository settings",
      );
    }
    if (input.intakeUrl !== undefined && hook.url !== input.intakeUrl) {
      return fail(
        "webhook",
        `webhook ${hook.id} delivers to ${hook.url}, not to the intake URL ${input.intakeUrl}`,
        managed
          ? "the operator repairs the URL at its next drift check; if it keeps coming back, check the operator's BATON_INTAKE_URL"
          : `point it at ${input.intakeUrl}`,
      );
    }
    pass("webhook", `webhook ${hook.id} (${hook.name}) delivers ${hook.events.length} event kind(s) to ${hook.url}`);
    intakeUrl = hook.url;
  }

  // 4. The intake.
  if (intakeUrl === undefined) pass("intake", "not checked: pass --intake-url");
  else {
    try {
      const answer = await input.ping(intakeUrl);
      let outcome: string | undefined;
      try {
        outcome = (JSON.parse(answer.body) as { outcome?: string }).outcome;
      } catch {
        outcome = undefined;
      }
      if (answer.status !== 200 || outcome !== "ping") {
        return fail(
          "intake",
          `${intakeUrl} answered ${answer.status}${outcome ? ` (${outcome})` : ""}, not Baton's ping answer`,
          "the URL reaches something other than Baton's intake: check the Service, Ingress and BATON_INTAKE_URL",
        );
      }
    } catch (error) {
      return fail(
        "intake",
        `${intakeUrl} did not answer: ${(error as Error).message}`,
        "check that the operator runs and its intake Service/Ingress is reachable at that URL (from Bitbucket too)",
      );
    }
    pass("intake", `${intakeUrl} answers as Baton's intake`);
  }

  // 5. The definitions at the default branch.
  let fetched: Awaited<ReturnType<DefinitionCache["fetch"]>>;
  try {
    fetched = await new DefinitionCache().fetch("doctor", ctx.folder, "", bitbucket.tekton);
  } catch (error) {
    return fail(
      "definitions",
      `could not read ${ctx.folder}/: ${failureOf(error).detail}`,
      "check REPO_READ and the folder",
    );
  }
  if (!fetched.folderExists) {
    return fail(
      "definitions",
      `${ctx.folder}/ does not exist at the default branch: no event starts anything`,
      `add PipelineRuns under ${ctx.folder}/ (kubectl baton lint checks them before you push)`,
    );
  }
  const lint = await lintReport(
    ctx,
    { ...fetched, at: "default branch" },
    {
      server: location.server,
      project: location.project,
      slug: location.slug,
      sha: "0000000000000000000000000000000000000001",
      sender: "kubectl-baton",
      pullRequestNumber: 1,
      title: "doctor",
      now: new Date(),
    },
    ["main"],
  );
  if (lint.problems.length > 0) {
    return fail(
      "definitions",
      `${lint.problems.length} problem(s) in ${ctx.folder}/ at the default branch: ${lint.problems.map(problemLine).join("; ")}`,
      "fix them (kubectl baton lint shows them in a checkout) and push",
    );
  }
  pass("definitions", `${ctx.folder}/ at the default branch: ${lint.pipelines.length} PipelineRun(s), no problems`);
  return report(true);
}

export async function doctorCommand(args: readonly string[], io: Io): Promise<number> {
  const { values: v, positionals, global } = parseCommand(args, options);
  const name = onePositional(positionals, "Repository name");
  const { kube, namespace } = cliKube(global);
  const { repository, token } = await readRepository(kube, namespace, name);
  const result = await diagnose({
    kube,
    repository,
    token,
    intakeUrl: v["intake-url"],
    instance: v.instance ?? legacyInstance,
    host: hostFor,
    ping: pingIntake,
  }).catch((error: unknown) => {
    if (error instanceof CliError) throw error;
    throw new CliError(`could not finish the checks: ${(error as Error).message}`);
  });
  emit(io, global.output, result, () => {
    const rows = result.links.map((l) => [l.ok ? "ok" : "BROKEN", l.check, l.detail]);
    const broken = result.links.find((l) => !l.ok);
    return [
      table(["result", "check", "detail"], rows),
      broken ? `\nWhat to do: ${broken.fix}` : `\n${namespace}/${name}: every link holds`,
    ].join("\n");
  });
  return result.healthy ? exitCodes.ok : exitCodes.findings;
}
