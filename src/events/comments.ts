// GitOps commands in pull-request comments, as Pipelines-as-Code reads them (pkg/opscomments):
// `/test`, `/test <name>`, `/retest`, `/retest <name>`, `/cancel`, `/cancel <name>`, `/ok-to-test [<sha>]`.
//
// Like PAC: a command is a line of its own anywhere in the comment, case-sensitive (`/Test` is prose), and when a
// comment holds several commands the first kind in PAC's order wins (retest, test, ok-to-test, cancel), not the
// first line. Unlike PAC, leading spaces before the slash are tolerated (Bitbucket's editor indents easily), and
// the name is the first word after the command (PAC splits on the first "/test" anywhere in the text, which
// misreads names containing "/test").
import { z } from "zod";

export const CommentCommand = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("test"), pipeline: z.string().optional() }),
  z.object({ kind: z.literal("retest"), pipeline: z.string().optional() }),
  z.object({ kind: z.literal("cancel"), pipeline: z.string().optional() }),
  /** `sha`: the commit the voucher looked at (PAC's `/ok-to-test <sha>`); absent means the current head. */
  z.object({ kind: z.literal("ok-to-test"), sha: z.string().optional() }),
]);
export type CommentCommand = z.infer<typeof CommentCommand>;

const line = (body: string) => new RegExp(`^[ \\t]*${body}[ \\t]*\\r?$`, "m");
const patterns = {
  retestAll: line("/retest"),
  retestOne: line("/retest[ \\t]+(\\S+)(?:[ \\t].*)?"),
  testAll: line("/test"),
  testOne: line("/test[ \\t]+(\\S+)(?:[ \\t].*)?"),
  okToTest: line("/ok-to-test(?:[ \\t]+([0-9a-fA-F]{7,40}))?"),
  cancelAll: line("/cancel"),
  cancelOne: line("/cancel[ \\t]+(\\S+)(?:[ \\t].*)?"),
};

/** The command in a comment, or undefined for ordinary prose. */
export function parseComment(text: string): CommentCommand | undefined {
  // Bitbucket does not limit comment size; commands are short lines, so a huge comment is not worth scanning.
  const scanned = text.length > 65536 ? text.slice(0, 65536) : text;
  let m: RegExpExecArray | null = patterns.retestAll.exec(scanned);
  if (m) return { kind: "retest" };
  m = patterns.retestOne.exec(scanned);
  if (m) return { kind: "retest", pipeline: m[1] as string };
  m = patterns.testAll.exec(scanned);
  if (m) return { kind: "test" };
  m = patterns.testOne.exec(scanned);
  if (m) return { kind: "test", pipeline: m[1] as string };
  m = patterns.okToTest.exec(scanned);
  if (m) return m[1] ? { kind: "ok-to-test", sha: (m[1] as string).toLowerCase() } : { kind: "ok-to-test" };
  m = patterns.cancelAll.exec(scanned);
  if (m) return { kind: "cancel" };
  m = patterns.cancelOne.exec(scanned);
  if (m) return { kind: "cancel", pipeline: m[1] as string };
  return undefined;
}

/** PAC's event_type for a command (`{{ event_type }}`, the event-type label): e.g. `retest-comment`. */
export function commentEventType(command: CommentCommand): string {
  switch (command.kind) {
    case "test":
      return command.pipeline ? "test-comment" : "test-all-comment";
    case "retest":
      return command.pipeline ? "retest-comment" : "retest-all-comment";
    case "cancel":
      return command.pipeline ? "cancel-comment" : "cancel-all-comment";
    case "ok-to-test":
      return "ok-to-test-comment";
  }
}
