// Compile-time agreement between payloads.ts and GitHub's published payload types (@octokit/webhooks-types).
// Nothing here runs; `npm run typecheck` fails when the two drift apart, in either direction:
// - `Accepts`: every payload GitHub describes for the event is a valid input of Baton's schema, so a field Baton
//   requires is one GitHub always sends, with a type GitHub may send;
// - `UnknownFields`: every field Baton's schema names exists somewhere in GitHub's description (a misspelt optional
//   field would otherwise pass the first check and silently always be undefined).
import type {
  IssueCommentEvent,
  PullRequest as OctokitPullRequest,
  PingEvent,
  PullRequestEvent,
  PushEvent,
} from "@octokit/webhooks-types";
import type { z } from "zod";
import type { IssueCommentPayload, PingPayload, PullRequest, PullRequestPayload, PushPayload } from "./payloads.ts";

type Accepts<Schema extends z.ZodType, Payload> = [Payload] extends [z.input<Schema>] ? true : false;

/** Keys of any member of a union (plain `keyof` gives only the common ones). */
type AnyKey<T> = T extends unknown ? keyof T : never;
/** The type of key `K` in whichever union members have it. */
type FieldOf<T, K extends PropertyKey> = T extends unknown ? (K extends keyof T ? T[K] : never) : never;
type Element<T> = T extends readonly (infer E)[] ? E : T;

/** Dotted names of the fields in `Ours` that `Theirs` does not have; `never` when all exist. */
type UnknownFields<Ours, Theirs, Prefix extends string = ""> =
  Element<NonNullable<Ours>> extends infer O
    ? O extends object
      ? {
          [K in keyof O & string]-?: K extends AnyKey<Element<NonNullable<Theirs>>>
            ? UnknownFields<O[K], FieldOf<Element<NonNullable<Theirs>>, K>, `${Prefix}${K}.`>
            : `${Prefix}${K}`;
        }[keyof O & string]
      : never
    : never;

type Agrees<Schema extends z.ZodType, Payload> =
  Accepts<Schema, Payload> extends true
    ? [UnknownFields<z.output<Schema>, Payload>] extends [never]
      ? true
      : { unknownFields: UnknownFields<z.output<Schema>, Payload> }
    : { notAccepted: Payload };

/** Each entry is `true`, or the type error names the payload that does not fit or the fields GitHub lacks. */
export const payloadTypesAgree: {
  pullRequest: Agrees<typeof PullRequestPayload, PullRequestEvent>;
  pullRequestObject: Agrees<typeof PullRequest, OctokitPullRequest>;
  push: Agrees<typeof PushPayload, PushEvent>;
  issueComment: Agrees<typeof IssueCommentPayload, IssueCommentEvent>;
  ping: Agrees<typeof PingPayload, PingEvent>;
} = { pullRequest: true, pullRequestObject: true, push: true, issueComment: true, ping: true };
