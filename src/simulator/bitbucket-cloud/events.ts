import { type DeliveryStyle, signBody } from "../deliveries.ts";
import { type CommitInfo, ZERO_SHA } from "../git.ts";
import type { CloudCore } from "./core.ts";
import type { CloudSwitches } from "./options.ts";
import type { Json } from "./payloads.ts";
import type { Account, Comment, CommitStatus, Hook, PullRequest, Repository } from "./state.ts";

/** One ref moved: `from`/`to` are ZERO_SHA for a create/delete. */
export interface RefChange {
  ref: string;
  from: string;
  to: string;
}

/**
 * Turns what happened into Cloud deliveries: `repo:push` with a change per ref (at most `pushCommitsLimit`
 * commits, `truncated` beyond), `pullrequest:*`, `pullrequest:comment_created` and `repo:commit_status_*`, sent to
 * every active repository hook of the repository and workspace hook of its workspace that subscribes to the key.
 */
export class CloudEvents {
  private readonly core: CloudCore;

  constructor(core: CloudCore) {
    this.core = core;
  }

  private actor(account: Account | null, repo: Repository): Json {
    if (account) return this.core.present.account(account);
    const ws = this.core.state.workspaces.get(repo.workspace);
    return ws ? this.core.present.team(ws) : {};
  }

  /** After any ref update: `repo:push`, then `pullrequest:updated` for each open PR whose source moved. */
  async refsChanged(repo: Repository, changes: readonly RefChange[], actor: Account | null): Promise<void> {
    const relevant = changes.filter((c) => c.ref.startsWith("refs/heads/") || c.ref.startsWith("refs/tags/"));
    if (relevant.length === 0) return;
    const built: Json[] = [];
    for (const change of relevant) built.push(await this.pushChange(repo, change));
    this.dispatch(repo, "repo:push", {
      push: { changes: built },
      actor: this.actor(actor, repo),
      repository: this.core.present.repository(repo),
    });
    for (const change of relevant) {
      if (!change.ref.startsWith("refs/heads/")) continue;
      const branch = change.ref.slice("refs/heads/".length);
      for (const [destUuid, list] of this.core.state.pullRequests) {
        const dest = this.core.state.repositories.get(destUuid);
        if (!dest) continue;
        for (const pr of list) {
          if (pr.state !== "OPEN") continue;
          if (dest.uuid === repo.uuid && pr.destination.branch === branch && change.to !== ZERO_SHA)
            pr.destination.commit = change.to;
          if (pr.source.repo !== repo.uuid || pr.source.branch !== branch || change.to === ZERO_SHA) continue;
          pr.source.commit = change.to;
          pr.updatedOn = this.core.clock.now();
          this.pullRequest("pullrequest:updated", dest, pr, actor);
        }
      }
    }
  }

  private async commitOf(repo: Repository, sha: string): Promise<CommitInfo> {
    const peeled = (await this.core.git.resolveCommit(repo.gitPath, sha)) ?? sha;
    const info = await this.core.git.commit(repo.gitPath, peeled);
    if (!info) throw new Error(`commit ${sha} missing from ${repo.gitPath}`);
    return info;
  }

  /** Message and date of an annotated tag object, or null for a lightweight tag (a commit). */
  private async annotation(repo: Repository, sha: string): Promise<{ message: string; date: number } | null> {
    const res = await this.core.git.run(repo.gitPath, ["cat-file", "-p", sha], { okCodes: [128] });
    const text = res.stdout.toString("utf8");
    if (res.code !== 0 || !text.startsWith("object ")) return null;
    const [head = "", ...body] = text.split("\n\n");
    const when = /^tagger .* (\d+) [+-]\d{4}$/m.exec(head);
    return { message: body.join("\n\n").replace(/\n+$/, ""), date: when ? Number(when[1]) * 1000 : 0 };
  }

  private async ref(repo: Repository, ref: string, sha: string): Promise<Json> {
    const target = await this.commitOf(repo, sha);
    if (ref.startsWith("refs/tags/"))
      return this.core.present.tag(repo, ref.slice(10), target, await this.annotation(repo, sha));
    return this.core.present.branch(repo, ref.slice(11), target);
  }

  private async pushChange(repo: Repository, change: RefChange): Promise<Json> {
    const created = change.from === ZERO_SHA;
    const closed = change.to === ZERO_SHA;
    const isTag = change.ref.startsWith("refs/tags/");
    const full = this.core.state.fullName(repo);
    const api = `${this.core.present.api}/repositories/${full}`;
    const out: Json = {
      old: created ? null : await this.ref(repo, change.ref, change.from),
      new: closed ? null : await this.ref(repo, change.ref, change.to),
      truncated: false,
      created,
      forced: !created && !closed && !isTag && !(await this.core.git.isAncestor(repo.gitPath, change.from, change.to)),
      closed,
    };
    // Deletes carry neither `links` nor `commits`; tag creates carry `links.commits` only (the captures).
    if (closed) return out;
    const to = (await this.core.git.resolveCommit(repo.gitPath, change.to)) ?? change.to;
    if (isTag) {
      out.links = { commits: { href: `${api}/commits?include=${to}` } };
      return out;
    }
    // The 2025 captures: `include=` (and `exclude=` for an update) plus `html`; the 2023 ones also had `diff`.
    const exclude = created ? "" : `&exclude=${change.from}`;
    out.links = {
      commits: { href: `${api}/commits?include=${to}${exclude}` },
      html: { href: `${this.core.present.web}/${full}/branch/${change.ref.slice(11)}` },
    };
    const limit = this.core.options.pushCommitsLimit;
    const selection = created ? ["-n", String(limit + 1), to] : ["-n", String(limit + 1), to, `^${change.from}`];
    const commits = (await this.core.git.log(repo.gitPath, selection)) ?? [];
    out.truncated = commits.length > limit;
    out.commits = commits.slice(0, limit).map((c) => this.core.present.commit(repo, c, true));
    return out;
  }

  pullRequest(eventKey: string, repo: Repository, pr: PullRequest, actor: Account | null): void {
    this.dispatch(repo, eventKey, {
      actor: this.actor(actor, repo),
      pullrequest: this.core.present.pullRequest(pr, { shortHashes: true }),
      repository: this.core.present.repository(repo),
    });
  }

  comment(repo: Repository, pr: PullRequest, comment: Comment, actor: Account): void {
    this.dispatch(repo, "pullrequest:comment_created", {
      actor: this.actor(actor, repo),
      comment: this.core.present.comment(comment),
      pullrequest: this.core.present.pullRequest(pr, { shortHashes: true }),
      repository: this.core.present.repository(repo),
    });
  }

  async commitStatus(eventKey: string, repo: Repository, status: CommitStatus, actor: Account): Promise<void> {
    const commit = this.core.present.commit(repo, await this.commitOf(repo, status.commit), true);
    this.dispatch(repo, eventKey, {
      repository: this.core.present.repository(repo),
      actor: this.actor(actor, repo),
      commit_status: this.core.present.status(
        status,
        withoutKeys(commit, ["committer", "parents", "rendered", "properties", "summary"]),
      ),
    });
  }

  /** Subscribed, active hooks of the repository and of its workspace. */
  hooksFor(repo: Repository, eventKey: string): Hook[] {
    return [...this.core.state.hooks.values()].filter(
      (h) =>
        h.active &&
        h.events.includes(eventKey) &&
        ((h.subjectType === "repository" && h.subject === repo.uuid) ||
          (h.subjectType === "workspace" && h.subject === repo.workspace)),
    );
  }

  /** Compact JSON, as sent on the wire (no trailing newline). */
  dispatch(repo: Repository, eventKey: string, payload: Json): void {
    const body = JSON.stringify(payload);
    for (const hook of this.hooksFor(repo, eventKey)) this.deliver(hook, eventKey, body);
  }

  deliver(hook: Hook, eventKey: string, body: string): void {
    void this.core.deliveries.enqueue(
      {
        hook: {
          id: hook.id,
          url: hook.url,
          configuration: { uuid: hook.uuid },
          credentials: null,
          scope: { kind: hook.subjectType },
        },
      },
      eventKey,
      body,
      { signWith: hook.secret, credentials: null },
    );
  }
}

/**
 * Cloud's deliveries (the captures): X-Request-UUID, X-Hook-UUID, X-Attempt-Number, Bitbucket-Webhooks/2.0, and two
 * more attempts after a 5xx. The switches are read per delivery, so a change through the control API applies at once.
 */
export function cloudDeliveryStyle(switches: () => CloudSwitches): DeliveryStyle {
  return {
    headers: ({ target, eventKey, requestId, attempt, body, secret }) => {
      const uuid = String(target.hook.configuration.uuid);
      const headers: Record<string, string> = {
        "Content-Type": "application/json; charset=utf-8",
        "X-Event-Key": eventKey,
        "X-Request-UUID": requestId,
        "X-Hook-UUID": switches().hookUuidHeaderBraces ? uuid : uuid.replace(/[{}]/g, ""),
      };
      const signature = secret ? signBody(secret, body) : null;
      if (signature) headers["X-Hub-Signature"] = signature;
      headers["User-Agent"] = "Bitbucket-Webhooks/2.0";
      headers["X-Attempt-Number"] = String(attempt);
      return { headers, signature };
    },
    retries: 2,
    get freshRequestIdPerAttempt() {
      return !switches().retryKeepsRequestUuid;
    },
  };
}

/** The commit inside a `commit_status` has no committer/parents/summary (the 2025 capture). */
function withoutKeys(json: Json, keys: readonly string[]): Json {
  const out = { ...json };
  for (const k of keys) delete out[k];
  const { patch: _patch, ...links } = out.links as Json;
  out.links = links;
  return out;
}
