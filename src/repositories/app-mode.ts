// The Repository reconcile of a GitHub App Repository (spec.githubApp): whether the App reaches the repository, and,
// with a managed webhook, the App's own webhook (app-hook.ts), in one status write. What the answers mean for the
// conditions is github-app.ts.
import type { Repository, RepositoryStatus } from "../api/repository.ts";
import type { ProviderLookup } from "../providers/provider.ts";
import { providerKindOf } from "../providers/registry.ts";
import type { Clock } from "../runtime/clock.ts";
import { type Condition, getCondition, rfc3339 } from "../runtime/conditions.ts";
import type { ReconcileContext, ReconcileResult } from "../runtime/controller.ts";
import { hasFinalizer, type KubeClient, keyOf } from "../runtime/kube.ts";
import type { GitHubAppCredentials } from "../tokens/github-app.ts";
import { type AppHookOutcome, type AppHooks, appIdentity } from "./app-hook.ts";
import { intakeUrlOf, jittered, type RepositoryLocation, retryDelay, syncTimeDue } from "./decisions.ts";
import type { EventSink } from "./events.ts";
import { appHookRepaired, appModeConditions } from "./github-app.ts";
import { finalizer } from "./release.ts";
import { Repositories, type WebhookSecretLocation } from "./resource.ts";
import type { WebhookSecret } from "./secrets.ts";
import type { ConditionUpdate } from "./status-write.ts";

export interface AppModeDeps {
  kube: KubeClient;
  githubApps?: GitHubAppCredentials | undefined;
  clock: Clock;
  events: EventSink;
  provider: ProviderLookup;
  intakeUrl: string | undefined;
  driftInterval: number;
  random?: () => number;
  hooks: AppHooks;
  /** The reconciler's own ways: the webhook secret (cached), watching a user's Secret, back-off, the status write. */
  webhookSecret(location: WebhookSecretLocation, ctx: ReconcileContext): Promise<WebhookSecret>;
  watch(namespace: string, name: string, ctx: ReconcileContext): Promise<void>;
  memberFailed(key: string): number;
  memberSucceeded(key: string): void;
  writeStatus(repo: Repository, status: RepositoryStatus, updates: ConditionUpdate[]): Promise<void>;
}

export class AppMode {
  readonly #deps: AppModeDeps;
  readonly #hooks: AppHooks;

  constructor(deps: AppModeDeps) {
    this.#deps = deps;
    this.#hooks = deps.hooks;
  }

  /**
   * A GitHub App Repository (github-app.ts): no hook of its own to keep, so no finalizer (deleting it never touches
   * the App's hook); reachability is the App's installation answering for the repository, and a managed webhook is
   * the App's own, checked once per App (app-hook.ts). Both are checked again each drift interval.
   */
  async reconcile(repo: Repository, location: RepositoryLocation, ctx: ReconcileContext): Promise<ReconcileResult> {
    if (hasFinalizer(repo, finalizer)) {
      const patched = await this.#deps.kube.removeFinalizer(Repositories, repo, finalizer, { signal: ctx.signal });
      repo = { ...repo, metadata: { ...repo.metadata, ...patched.metadata } };
    }
    const apps = this.#deps.githubApps;
    const answer = apps
      ? await apps.operator(repo, location, ctx.signal)
      : { reason: "UnsupportedProvider", problem: "this Baton cannot act as a GitHub App" };
    const status: RepositoryStatus = {
      ...repo.status,
      server: location.server,
      project: location.project,
      slug: location.slug,
    };
    const hook = repo.spec.webhook.managed ? await this.#hook(repo, location, status, ctx) : undefined;
    if (!repo.spec.webhook.managed) {
      // Hands off: nothing is said of the webhook, including what was said while it was managed.
      delete status.webhook;
      status.conditions = status.conditions?.filter((c) => c.type !== "WebhookSynced");
    }
    const conditions = appModeConditions(repo, location, answer, hook);
    const was = (type: string) => getCondition(repo.status?.conditions as Condition[] | undefined, type);
    if ("problem" in answer && was("TokenReady")?.reason !== answer.reason)
      this.#deps.events.warning(repo, answer.reason, answer.problem);
    const webhook = conditions.find((c) => c.type === "WebhookSynced");
    // A problem with the App's key stops both checks: told once, by TokenReady.
    const toldAlready = "problem" in answer && webhook?.message === answer.problem;
    if (webhook?.status === "False" && was("WebhookSynced")?.reason !== webhook.reason && !toldAlready)
      this.#deps.events.warning(repo, webhook.reason, webhook.message);
    if (hook?.kind === "synced" && hook.repaired.length > 0)
      this.#deps.events.normal(repo, ...appHookRepaired(repo, hook));
    await this.#deps.writeStatus(repo, status, conditions);
    const now = this.#deps.clock.now();
    const failed = "problem" in answer || hook?.kind === "failed" || hook?.kind === "problem";
    if (!failed) this.#deps.memberSucceeded(keyOf(repo));
    const next = failed
      ? retryDelay(this.#deps.memberFailed(keyOf(repo)), this.#deps.driftInterval)
      : jittered(this.#deps.driftInterval, this.#deps.random);
    // The App's next check is when its shared result runs out, not a whole interval after this reconcile.
    const due = hook?.kind === "synced" || hook?.kind === "failed" ? Math.max(1000, hook.expiresAt - now + 250) : next;
    return { requeueAfter: Math.min(next, due) };
  }

  /** The App's own webhook, through the check every Repository of the App shares; status.webhook follows it. */
  async #hook(
    repo: Repository,
    location: RepositoryLocation,
    status: RepositoryStatus,
    ctx: ReconcileContext,
  ): Promise<AppHookOutcome> {
    const failed = (reason: string, message: string): AppHookOutcome => {
      delete status.webhook;
      return { kind: "problem", reason, message };
    };
    const apps = this.#deps.githubApps;
    const intakeUrl = this.#deps.intakeUrl;
    const ref = repo.spec.webhook.secretRef;
    if (!apps) return failed("UnsupportedProvider", "this Baton cannot act as a GitHub App");
    if (!intakeUrl)
      return failed(
        "IntakeUrlNotConfigured",
        "the operator has no intake URL, so Baton cannot tell GitHub where to deliver: set --intake-url (BATON_INTAKE_URL) to the address GitHub reaches Baton's intake at",
      );
    if (!ref)
      return failed(
        "WebhookSecretRequired",
        "the GitHub App's one webhook serves every repository it is installed on, so Baton cannot make up a secret for it: set spec.webhook.secretRef to a Secret holding the secret the App's webhook is to sign with",
      );
    const app = await apps.app(repo, location, ctx.signal);
    if ("problem" in app) return failed(app.reason, app.problem);
    const secretLocation = {
      namespace: repo.metadata.namespace ?? "",
      name: ref.name,
      keys: [ref.key],
      generated: false,
    };
    await this.#deps.watch(secretLocation.namespace, secretLocation.name, ctx);
    const secret = await this.#deps.webhookSecret(secretLocation, ctx);
    if ("problem" in secret) return failed(secret.reason, secret.problem);
    const provider = this.#deps.provider(location.server, providerKindOf(repo.spec));
    const outcome = await this.#hooks.check(appIdentity(location.server, repo.spec.githubApp?.appId ?? ""), {
      repo,
      provider,
      credential: app.credential,
      keyPrint: app.keyPrint,
      url: intakeUrlOf(intakeUrl, provider.intake.path),
      secret: secret.secret,
      signal: ctx.signal,
    });
    if (outcome.kind !== "synced") {
      delete status.webhook;
      return outcome;
    }
    const before = repo.status?.webhook;
    const changed = before?.secretPrint !== outcome.print || outcome.repaired.length > 0;
    const now = this.#deps.clock.now();
    const lastSyncTime = syncTimeDue(before?.lastSyncTime, now, changed) ? rfc3339(now) : before?.lastSyncTime;
    status.webhook = { secretPrint: outcome.print, ...(lastSyncTime ? { lastSyncTime } : {}) };
    return outcome;
  }
}
