import { createHmac } from "node:crypto";
import { type DeliveryStyle, signBody } from "../deliveries.ts";
import { type CommitInfo, EMPTY_TREE, ZERO_SHA } from "../git.ts";
import type { GitHubCore, RefChange } from "./core.ts";
import { type Json, nodeId } from "./presenter.ts";
import type { Account, CheckRun, HookConfig, Installation, RepoHook, Repository } from "./state.ts";

/**
 * GitHub's webhook headers: X-GitHub-Event, X-GitHub-Delivery, X-Hub-Signature(-256), the hook's target and
 * GitHub-Hookshot as User-Agent; no automatic retry (GitHub redelivers only on request).
 */
export const githubDeliveryStyle: DeliveryStyle = {
  headers: ({ target, eventKey, requestId, body, secret }) => {
    const headers: Record<string, string> = {
      "Content-Type": target.hook.configuration.contentType === "form" ? formType : "application/json",
      "X-GitHub-Event": eventKey,
      "X-GitHub-Delivery": requestId,
      "X-GitHub-Hook-ID": String(target.hook.id),
    };
    const { targetType, targetId } = target.hook.configuration;
    headers["X-GitHub-Hook-Installation-Target-Type"] = String(targetType);
    headers["X-GitHub-Hook-Installation-Target-ID"] = String(targetId);
    const signature = secret ? signBody(secret, body) : null;
    if (signature && secret) {
      headers["X-Hub-Signature-256"] = signature;
      // The SHA-1 signature is still sent, for old receivers.
      headers["X-Hub-Signature"] = `sha1=${createHmac("sha1", secret).update(body, "utf8").digest("hex")}`;
    }
    headers["User-Agent"] = "GitHub-Hookshot/sim";
    return { headers, signature };
  },
};

const formType = "application/x-www-form-urlencoded";

/**
 * The body of a delivery as the hook's content type has it: the JSON itself, or (`form`) a form with the JSON in
 * its `payload` field. Either way the signature covers the bytes sent.
 */
export function deliveryBody(contentType: HookConfig["content_type"], json: string): string {
  return contentType === "form" ? new URLSearchParams({ payload: json }).toString() : json;
}

/** Webhook events: built from the model, delivered to repository hooks and to the Apps installed on the repository. */
export class Events {
  private readonly core: GitHubCore;

  constructor(core: GitHubCore) {
    this.core = core;
  }

  async emitPush(repo: Repository, change: RefChange, actor: Account): Promise<void> {
    const full = this.core.state.fullName(repo);
    const created = change.before === ZERO_SHA;
    const deleted = change.after === ZERO_SHA;
    let commits: CommitInfo[] = [];
    let forced = false;
    if (!deleted) {
      let exclude: string | null = created ? null : change.before;
      if (created && change.ref !== `refs/heads/${repo.defaultBranch}`)
        exclude = await this.core.git.resolveRef(repo.gitPath, `refs/heads/${repo.defaultBranch}`);
      if (!created) forced = !(await this.core.git.isAncestor(repo.gitPath, change.before, change.after));
      const ids = await this.core.git.revList(repo.gitPath, change.after, exclude, 20);
      commits = (await this.core.git.log(repo.gitPath, ["--no-walk=unsorted", ...ids.reverse()])) ?? [];
    }
    const entries: Json[] = [];
    for (const c of commits) {
      const tree = await this.core.git.treeOf(repo.gitPath, c.id);
      const files = await this.core.fileChanges(repo, c.parents[0] ?? EMPTY_TREE, c.id);
      entries.push(this.core.presenter.commits.pushCommit(repo, c, tree, files));
    }
    let headCommit: Json | null = entries.at(-1) ?? null;
    if (!deleted && headCommit === null) {
      const c = await this.core.git.commit(repo.gitPath, change.after);
      if (c) {
        const tree = await this.core.git.treeOf(repo.gitPath, c.id);
        headCommit = this.core.presenter.commits.pushCommit(repo, c, tree, []);
      }
    }
    const short = change.ref.replace(/^refs\/(heads|tags)\//, "");
    const payload: Json = {
      ref: change.ref,
      before: change.before,
      after: change.after,
      created,
      deleted,
      forced,
      base_ref: null,
      compare: created
        ? `${this.core.baseUrl}/${full}/compare/${short}`
        : `${this.core.baseUrl}/${full}/compare/${change.before.slice(0, 12)}...${change.after.slice(0, 12)}`,
      commits: entries,
      head_commit: headCommit,
      repository: this.core.presenter.repository(repo, { pushEvent: true }),
      pusher: { name: actor.login, email: actor.email },
      sender: this.core.presenter.user(actor),
    };
    this.emit(repo, "push", payload);
  }

  createHook(
    repo: Repository,
    input: { name?: string; active?: boolean; events?: string[]; config: RepoHook["config"] },
  ): RepoHook {
    const now = this.core.clock.now();
    const hook: RepoHook = {
      id: this.core.state.nextId(),
      repositoryId: repo.id,
      name: input.name ?? "web",
      active: input.active ?? true,
      events: input.events ?? ["push"],
      config: input.config,
      createdAt: now,
      updatedAt: now,
    };
    this.core.state.hooks.set(hook.id, hook);
    return hook;
  }

  /** The ping GitHub sends to a new hook (and on `POST …/pings`). */
  ping(hook: RepoHook, sender: Account | null): void {
    const repo = this.core.state.repository(hook.repositoryId);
    const payload: Json = {
      zen: "Keep it logically awesome.",
      hook_id: hook.id,
      hook: { ...this.core.presenter.hook(hook), config: this.core.presenter.hookConfig(hook.config) },
      repository: this.core.presenter.repository(repo),
      sender: this.core.presenter.user(sender ?? this.core.state.account(repo.ownerId)),
    };
    this.sendToHook(hook, "ping", payload);
  }

  private sendToHook(hook: RepoHook, event: string, payload: Json): void {
    this.core.deliveries.enqueue(
      {
        hook: {
          id: hook.id,
          url: hook.config.url,
          configuration: {
            secret: hook.config.secret,
            contentType: hook.config.content_type,
            targetType: "repository",
            targetId: hook.repositoryId,
          },
          credentials: null,
          scope: { kind: "repository" },
        },
      },
      event,
      deliveryBody(hook.config.content_type, JSON.stringify(payload)),
    );
  }

  /**
   * Delivers an event to the repository's hooks that subscribe to it and to every App installed on the
   * repository whose installation subscribes to it (with the `installation` field those carry).
   */
  emit(repo: Repository, event: string, payload: Json, options: { onlyApp?: number } = {}): void {
    const owner = this.core.state.account(repo.ownerId);
    const withOrg = owner.type === "Organization" ? { ...payload, organization: this.organization(owner) } : payload;
    if (options.onlyApp === undefined)
      for (const hook of this.core.state.hooks.values())
        if (hook.repositoryId === repo.id && hook.active && (hook.events.includes(event) || hook.events.includes("*")))
          this.sendToHook(hook, event, withOrg);
    for (const inst of this.core.state.installationsFor(repo, options.onlyApp)) {
      if (inst.suspended || !inst.events.includes(event)) continue;
      this.toApp(inst.appId, event, { ...withOrg, installation: this.core.presenter.installationRef(inst) });
    }
  }

  /** One delivery to an App's own webhook (nothing when the App has none). */
  toApp(appId: number, event: string, payload: Json): void {
    const app = this.core.state.apps.get(appId);
    if (!app?.hook) return;
    this.core.deliveries.enqueue(
      {
        hook: {
          id: app.hookId,
          url: app.hook.url,
          configuration: {
            secret: app.hook.secret,
            contentType: app.hook.content_type,
            targetType: "integration",
            targetId: app.id,
          },
          credentials: null,
          scope: { kind: "app" },
        },
      },
      event,
      deliveryBody(app.hook.content_type, JSON.stringify(payload)),
    );
  }

  /** `installation` (created, deleted, suspend, unspend…): to the App itself, whatever it subscribed to. */
  installation(inst: Installation, action: string, sender: Account): void {
    const payload: Json = {
      action,
      installation: this.core.presenter.installation(inst, { event: true }),
      repositories: this.core.installationRepos(inst).map((r) => ({
        id: r.id,
        node_id: nodeId("Repository", r.id),
        name: r.name,
        full_name: this.core.state.fullName(r),
        private: r.private,
      })),
      requester: null,
      sender: this.core.presenter.user(sender),
    };
    this.toApp(inst.appId, "installation", payload);
  }

  /** `check_run` events; `rerequested` goes only to the App that owns the run, as on GitHub. */
  checkRun(run: CheckRun, action: string, sender: Account): void {
    const repo = this.core.state.repository(run.repositoryId);
    const payload: Json = {
      action,
      check_run: this.core.presenter.commits.checkRun(run, { event: true }),
      repository: this.core.presenter.repository(repo),
      sender: this.core.presenter.user(sender),
    };
    const owner = action === "rerequested" && run.appId !== null ? { onlyApp: run.appId } : {};
    this.emit(repo, "check_run", payload, owner);
  }

  private organization(org: Account): Json {
    const u = `${this.core.baseUrl}/orgs/${org.login}`;
    return {
      login: org.login,
      id: org.id,
      node_id: this.core.presenter.user(org).node_id,
      url: u,
      repos_url: `${u}/repos`,
      events_url: `${u}/events`,
      hooks_url: `${u}/hooks`,
      issues_url: `${u}/issues`,
      members_url: `${u}/members{/member}`,
      public_members_url: `${u}/public_members{/member}`,
      avatar_url: `${this.core.baseUrl}/avatars/u/${org.id}?v=4`,
      description: null,
    };
  }
}
