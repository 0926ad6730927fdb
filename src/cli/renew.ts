// `kubectl baton renew` and `revoke-previous`: set the operator's request annotations (tokens/requests.ts) on a
// BitbucketProjectToken and, by default, wait until status.requests records the value as handled, printing the
// token's Events as they come.
import { type BitbucketProjectToken, requestAnnotations } from "../api/token.ts";
import { Events, type KubeClient } from "../runtime/kube.ts";
import type { Event } from "../runtime/kube-types.ts";
import { Tokens } from "../tokens/reconciler.ts";
import { CliError, exitCodes, globalHelp, type Io, onePositional, parseCommand, parseTimeout } from "./common.ts";
import { cliKube } from "./kube.ts";
import { emit, table } from "./output.ts";

type Request = "renew" | "revokePrevious";

const texts: Record<Request, { command: string; does: string; example: string }> = {
  renew: {
    command: "renew",
    does: `Issues a new token at once (${requestAnnotations.renew}); the previous one keeps its grace period so running
PipelineRuns finish.`,
    example: "kubectl baton renew ci-token -n ci",
  },
  revokePrevious: {
    command: "revoke-previous",
    does: `Revokes the previous token at once, without its grace period (${requestAnnotations.revokePrevious}): after a
suspected leak, usually right after "renew".`,
    example: "kubectl baton revoke-previous ci-token -n ci",
  },
};

function help(request: Request): string {
  const t = texts[request];
  return `${t.does}

Usage: kubectl baton ${t.command} NAME [options]

  --no-wait          set the annotation and return; do not wait for the outcome
  --timeout DURATION how long to wait (default 2m)
  --value TEXT       the annotation's value (default: the current time); each value is acted on once

${globalHelp}

Exit status: 0 when the operator handled the request, 1 when it reported a failure, 3 when --timeout passed first,
4 when the token does not exist or Kubernetes cannot be reached.

Examples:
  ${t.example}
  ${t.example} --timeout 5m -o json
  kubectl baton renew ci-token -n ci && kubectl baton revoke-previous ci-token -n ci`;
}

const options = {
  wait: { type: "boolean", default: true },
  "no-wait": { type: "boolean" },
  timeout: { type: "string" },
  value: { type: "string" },
} as const;

export interface EventLine {
  type: string;
  reason: string;
  message: string;
  time: string;
}

export interface RequestReport {
  token: string;
  namespace: string;
  annotation: string;
  value: string;
  outcome: "handled" | "failed" | "requested" | "timeout";
  events: EventLine[];
  status: BitbucketProjectToken["status"] | undefined;
}

/** Warning Events that mean the request's work failed; the operator retries, but the user should know. */
const failures = new Set(["IssueFailed", "ServerNotAllowed", "SecretConflict"]);

function eventLine(e: Event): EventLine {
  return {
    type: e.type ?? "Normal",
    reason: e.reason ?? "",
    message: e.message ?? "",
    time: e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? "",
  };
}

async function tokenEvents(kube: KubeClient, token: BitbucketProjectToken): Promise<Event[]> {
  const { items } = await kube.list(Events, {
    namespace: token.metadata.namespace ?? "",
    fieldSelector: `involvedObject.kind=BitbucketProjectToken,involvedObject.name=${token.metadata.name}`,
  });
  return items.filter((e) => !e.involvedObject?.uid || e.involvedObject.uid === token.metadata.uid);
}

const seenKey = (e: Event) => `${e.metadata?.uid ?? ""}#${e.count ?? 1}`;

export async function requestCommand(request: Request, args: readonly string[], io: Io): Promise<number> {
  const { values: v, positionals, global } = parseCommand(args, options);
  const name = onePositional(positionals, "BitbucketProjectToken name");
  const timeoutMs = parseTimeout(v.timeout ?? "2m");
  const wait = v["no-wait"] !== true;
  const { kube, namespace } = cliKube(global);
  const annotation = requestAnnotations[request];
  const token = await kube.get(Tokens, { namespace, name }).catch((error: unknown) => {
    throw new CliError(`could not read BitbucketProjectToken ${namespace}/${name}: ${(error as Error).message}`);
  });
  if (token === undefined) throw new CliError(`BitbucketProjectToken ${namespace}/${name} not found`);
  if (token.spec.adminCredentialsRef === undefined) {
    throw new CliError(
      `BitbucketProjectToken ${namespace}/${name} is externally managed (no spec.adminCredentialsRef): Baton cannot ` +
        `issue or revoke its tokens; put a new token in Secret ${token.spec.secretName} instead`,
      exitCodes.findings,
    );
  }
  const value = v.value ?? new Date().toISOString();
  const before = new Set((await tokenEvents(kube, token)).map(seenKey));
  await kube.patch(Tokens, { namespace, name }, { metadata: { annotations: { [annotation]: value } } });
  const report: RequestReport = {
    token: name,
    namespace,
    annotation,
    value,
    outcome: "requested",
    events: [],
    status: token.status,
  };
  const live = global.output === "table";
  if (live) io.out(`${namespace}/${name}: ${annotation}=${value}\n`);
  if (wait) {
    const deadline = Date.now() + timeoutMs;
    let eventGrace = deadline;
    for (;;) {
      for (const e of await tokenEvents(kube, token)) {
        if (before.has(seenKey(e))) continue;
        before.add(seenKey(e));
        const line = eventLine(e);
        report.events.push(line);
        if (live) io.out(`${line.type.padEnd(8)} ${line.reason.padEnd(16)} ${line.message}\n`);
        if (line.type === "Warning" && failures.has(line.reason) && report.outcome !== "handled") {
          report.outcome = "failed";
        }
      }
      if (report.outcome === "handled") {
        // The operator writes its Event without waiting for it, so status can say "handled" a moment before the
        // Event naming this value is stored; give it a short while so the outcome is printed with its reason.
        if (report.events.some((e) => e.message.includes(`${annotation}=${value}`)) || Date.now() >= eventGrace) break;
      } else {
        const current = await kube.get(Tokens, { namespace, name });
        report.status = current?.status;
        if (current?.status?.requests?.[request] === value) {
          report.outcome = "handled";
          eventGrace = Math.min(deadline, Date.now() + 5_000);
          continue;
        }
        if (report.outcome === "failed") break;
        if (Date.now() >= deadline) {
          report.outcome = "timeout";
          break;
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
  emit(io, global.output, report, () => {
    const s = report.status;
    const lines: string[] = [];
    if (report.outcome === "timeout") lines.push(`not handled within ${v.timeout ?? "2m"}; is the operator running?`);
    if (report.outcome === "failed") lines.push("the operator could not do it; it retries with back-off (see above)");
    if (report.outcome === "requested") lines.push("requested; not waiting (--no-wait)");
    lines.push(
      table(
        ["token", "revision", "token id", "expires", "previous token", "revoke previous at"],
        [[name, s?.revision, s?.tokenId, s?.notAfter, s?.previousToken?.id, s?.previousToken?.revokeAt]],
      ),
    );
    return lines.join("\n");
  });
  return {
    handled: exitCodes.ok,
    requested: exitCodes.ok,
    failed: exitCodes.findings,
    timeout: exitCodes.timeout,
  }[report.outcome];
}

export const renewHelp = help("renew");
export const revokePreviousHelp = help("revokePrevious");
export const renewCommand = (args: readonly string[], io: Io) => requestCommand("renew", args, io);
export const revokePreviousCommand = (args: readonly string[], io: Io) => requestCommand("revokePrevious", args, io);
