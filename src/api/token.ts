// BitbucketProjectToken: one Bitbucket HTTP access token, issued, tracked and rotated the way cert-manager
// treats a Certificate. DESIGN §2.
import { z } from "zod";
import { Provider } from "../events/model.ts";
import {
  apiVersion,
  Conditions,
  Duration,
  durationRule,
  LocalObjectReference,
  matching,
  ObjectMeta,
  Timestamp,
} from "./common.ts";
import { Permission, permissionRules } from "./permissions.ts";

export const kind = "BitbucketProjectToken";

export const ServerURL = matching(
  /^https?:\/\/[A-Za-z0-9.-]+(:[0-9]{1,5})?(\/[^\s?#]*)?$/,
  "must be the Bitbucket base URL, e.g. https://bitbucket.example.com or https://example.com/bitbucket",
)
  .max(2048)
  .meta({
    description:
      "Base URL of the server: a Bitbucket Data Center server (https://bitbucket.example.com), " +
      "https://bitbucket.org, https://github.com or a GitHub Enterprise Server (with provider: github).",
  });

/** A Data Center project key: a letter, then letters, digits or `_`. */
export const dataCenterProjectKey = /^[A-Za-z][A-Za-z0-9_]*$/;

/** A Bitbucket Cloud workspace slug: lower case, digits, `-` and `_`. */
export const cloudWorkspace = /^[a-z0-9][a-z0-9_-]*$/;

/** A GitHub owner: a user or organisation login (letters of either case, digits and `-`). */
export const gitHubOwner = /^[A-Za-z0-9][A-Za-z0-9-]*$/;

/** CEL: the spec's host kind is `kind`, decided as providers/registry.ts does (spec.provider, else the host). */
function kindIs(kind: "bitbucket-cloud" | "github", host: string): string {
  return `(has(self.provider) ? self.provider == '${kind}' : self.server.matches('^(?i)https?://(www[.])?${host}([:/]|$)'))`;
}

/**
 * A Data Center project key (`PLATFORM`), a Bitbucket Cloud workspace slug (`acme-ci`, `team_2`: lower case,
 * digits, `-` and `_`) or a GitHub owner (`Octo-Org`); which of them a server takes is checked by a rule on the spec.
 */
export const ProjectKey = matching(
  new RegExp(`^(${[dataCenterProjectKey, cloudWorkspace, gitHubOwner].map((r) => r.source.slice(1, -1)).join("|")})$`),
  "must be a Bitbucket project key (a letter, then letters, digits or _), a Bitbucket Cloud workspace slug (lower-case letters, digits, - or _) or a GitHub owner (letters, digits or -)",
).max(128);

export const RepositorySlug = matching(
  /^[A-Za-z0-9._-]+$/,
  "must be a Bitbucket repository slug: letters, digits, '.', '_' or '-'",
).max(128);

export const DNSName = matching(
  /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/,
  "must be a valid Kubernetes object name (lowercase letters, digits, '-' and '.')",
).max(253);

export const defaultLifetime = "2160h";
export const defaultRevocationGracePeriod = "2h";
export const defaultRevocationHoldLimit = "24h";

export const TokenSpec = z
  .object({
    server: ServerURL,
    provider: Provider.optional().meta({
      description:
        "The git host's kind. Unset: from server's host (bitbucket.org: bitbucket-cloud; github.com: github; " +
        "anything else: bitbucket-datacenter; a GitHub Enterprise Server needs github). Bitbucket Cloud tokens and " +
        "GitHub fine-grained personal tokens are made by people only: Baton validates them and warns before they " +
        "expire (GitHub states the expiry itself), and refuses adminCredentialsRef.",
    }),
    project: ProjectKey.meta({
      description:
        "Key of the project that owns the token (Bitbucket Cloud: the workspace the token is for; GitHub: the " +
        "owner of the repositories the token is for).",
    }),
    repository: RepositorySlug.optional().meta({
      description: "Slug of a repository: makes the token repository-scoped instead of project-scoped.",
    }),
    permissions: z
      .array(Permission)
      .min(1)
      .max(6)
      .meta({
        description:
          "Permissions of the token. The repository level must be at least the project level; " +
          "repository tokens take no PROJECT_* permission.",
        "x-kubernetes-list-type": "set",
      }),
    lifetime: Duration.default(defaultLifetime).meta({
      description:
        "How long each issued token is valid, in whole days (Bitbucket's expiryDays), e.g. 2160h for 90 days. " +
        "Clamped to the server's maximum expiry when an administrator set one.",
    }),
    renewBefore: Duration.optional().meta({
      description: "How long before expiry a new token is issued. Default: a third of the lifetime.",
    }),
    revocationGracePeriod: Duration.default(defaultRevocationGracePeriod).meta({
      description: "How long the previous token stays valid after a rotation, so running PipelineRuns finish with it.",
    }),
    revocationHoldLimit: Duration.optional().meta({
      description:
        "How much longer than revocationGracePeriod the previous token's revocation waits while PipelineRuns that " +
        "started with it are still running (their git Secret holds it); then it is revoked anyway, with a Warning " +
        "Event. Default 24h; 0s never waits. baton.dev/revoke-previous-requested-at revokes at once regardless.",
    }),
    adminCredentialsRef: LocalObjectReference.optional().meta({
      description:
        "Secret with `username` and `password` of a project (or repository) admin, used only for Bitbucket's " +
        "access-tokens API (a token cannot create tokens). Without it the token is externally managed: put it " +
        "in the Secret named by secretName, with its expiry in the baton.dev/expires-at annotation.",
    }),
    secretName: DNSName.meta({ description: "The Secret that holds the token under the key `token`." }),
    secretTemplate: z
      .object({
        labels: z
          .record(z.string(), z.string())
          .optional()
          .meta({ description: "Labels added to the Secret, e.g. for a tool that copies Secrets by label." }),
        annotations: z
          .record(z.string(), z.string())
          .optional()
          .meta({ description: "Annotations added to the Secret, beside the baton.dev/* ones Baton writes." }),
      })
      .optional()
      .meta({ description: "Labels and annotations added to the managed Secret." }),
    deletionPolicy: z.enum(["Revoke", "Retain"]).default("Revoke").meta({
      description: "Revoke (default) revokes the tokens in Bitbucket when this object is deleted; Retain keeps them.",
    }),
  })
  .meta({
    "x-kubernetes-validations": [
      ...permissionRules,
      {
        // Data Center unless the provider or the host (bitbucket.org, github.com) says otherwise, as
        // providers/registry.ts decides.
        rule:
          "(has(self.provider) ? self.provider == 'bitbucket-datacenter' : " +
          "!self.server.matches('^(?i)https?://(www[.])?(bitbucket[.]org|github[.]com)([:/]|$)')) ? " +
          `self.project.matches('${dataCenterProjectKey.source}') : true`,
        message: "project must be a Bitbucket Data Center project key: a letter, then letters, digits or _",
        fieldPath: ".project",
      },
      {
        rule: `${kindIs("bitbucket-cloud", "bitbucket[.]org")} ? self.project.matches('${cloudWorkspace.source}') : true`,
        message: "project must be a Bitbucket Cloud workspace slug: lower-case letters, digits, - or _",
        fieldPath: ".project",
      },
      {
        rule: `${kindIs("github", "github[.]com")} ? self.project.matches('${gitHubOwner.source}') : true`,
        message: "project must be a GitHub owner: the user or organisation login (letters, digits or -)",
        fieldPath: ".project",
      },
      {
        rule: durationRule(["lifetime"], "int(duration(self.lifetime).getSeconds()) % 86400 == 0"),
        message: "lifetime must be a whole number of days (Bitbucket issues tokens for expiryDays), e.g. 720h",
        fieldPath: ".lifetime",
      },
      {
        rule: durationRule(
          ["lifetime"],
          "duration(self.lifetime) >= duration('24h') && duration(self.lifetime) <= duration('8760h')",
        ),
        message: "lifetime must be between 24h (1 day) and 8760h (365 days)",
        fieldPath: ".lifetime",
      },
      {
        rule: durationRule(["renewBefore", "lifetime"], "duration(self.renewBefore) < duration(self.lifetime)"),
        message: "renewBefore must be shorter than lifetime, or the token would be renewed as soon as it is issued",
        fieldPath: ".renewBefore",
      },
      {
        rule: durationRule(["renewBefore"], "duration(self.renewBefore) >= duration('5m')"),
        message: "renewBefore must be at least 5m",
        fieldPath: ".renewBefore",
      },
      {
        rule: durationRule(["revocationGracePeriod"], "duration(self.revocationGracePeriod) <= duration('168h')"),
        message: "revocationGracePeriod must be at most 168h (7 days)",
        fieldPath: ".revocationGracePeriod",
      },
      {
        rule: durationRule(["revocationHoldLimit"], "duration(self.revocationHoldLimit) <= duration('168h')"),
        message: "revocationHoldLimit must be at most 168h (7 days): a token no longer current stays valid that long",
        fieldPath: ".revocationHoldLimit",
      },
    ],
  });
export type TokenSpec = z.infer<typeof TokenSpec>;

export const TokenStatus = z.object({
  observedGeneration: z.int().min(0).optional().meta({
    description: "The metadata.generation this status describes; lower while a spec change is still being acted on.",
  }),
  conditions: Conditions.optional().meta({
    description:
      "Ready: the Secret holds a valid, unexpired token. Issuing: a new token is being issued, and why. " +
      "ExpiringSoon (externally managed tokens): the token expires before renewBefore. RevocationHeld: the " +
      "previous token's revocation waits for the PipelineRuns still using it (how many, until when).",
  }),
  tokenId: z.string().optional().meta({ description: "Bitbucket's id of the current token." }),
  tokenName: z.string().optional().meta({
    description: "Name of the current token in Bitbucket (its access-tokens page); ends with the revision.",
  }),
  tokenUser: z.string().optional().meta({ description: "The user Bitbucket acts as with this token." }),
  notBefore: Timestamp.optional().meta({ description: "When Bitbucket created the current token." }),
  notAfter: Timestamp.optional().meta({ description: "When the current token expires." }),
  renewalTime: Timestamp.optional().meta({ description: "When Baton will issue the next token." }),
  revision: z.int().min(0).optional().meta({ description: "Incremented each time a token is issued." }),
  previousToken: z
    .object({
      id: z.string().meta({ description: "Bitbucket's id of the previous token." }),
      revokeAt: Timestamp.meta({ description: "When Baton revokes it: the rotation time plus revocationGracePeriod." }),
      heldBy: z
        .int()
        .min(0)
        .optional()
        .meta({
          description:
            "PipelineRuns still using it when it was last due for revocation: revocation waits for them, at most " +
            "revocationHoldLimit past revokeAt.",
        }),
    })
    .optional()
    .meta({ description: "The token replaced by the last rotation, revoked at revokeAt." }),
  requests: z
    .object({
      renew: z.string().optional().meta({ description: "The baton.dev/renew-requested-at value last acted on." }),
      revokePrevious: z
        .string()
        .optional()
        .meta({ description: "The baton.dev/revoke-previous-requested-at value last acted on." }),
    })
    .optional()
    .meta({
      description:
        "Requests made by annotation, each acted on once per value. baton.dev/renew-requested-at: <new value> " +
        "issues a new token now; the previous one keeps revocationGracePeriod. " +
        "baton.dev/revoke-previous-requested-at: <new value> revokes the previous token at once, after the new " +
        "one is in the Secret (a suspected leak: set both).",
    }),
  failedIssueAttempts: z.int().min(0).optional().meta({
    description: "Failed attempts to issue a token since the last success; the back-off grows with it.",
  }),
  lastFailureTime: Timestamp.optional().meta({ description: "When the last attempt to issue a token failed." }),
});
export type TokenStatus = z.infer<typeof TokenStatus>;

export const BitbucketProjectToken = z.object({
  apiVersion: z.literal(apiVersion),
  kind: z.literal(kind),
  metadata: ObjectMeta,
  spec: TokenSpec,
  status: TokenStatus.optional(),
});
export type BitbucketProjectToken = z.infer<typeof BitbucketProjectToken>;

/** Annotations Baton writes on the token Secret (and reads from it for externally managed tokens). */
export const secretAnnotations = {
  tokenId: "baton.dev/token-id",
  expiresAt: "baton.dev/expires-at",
  revision: "baton.dev/revision",
} as const;

/** Annotations a user sets on a BitbucketProjectToken to act now (cert-manager's `renew`); see status.requests. */
export const requestAnnotations = {
  renew: "baton.dev/renew-requested-at",
  revokePrevious: "baton.dev/revoke-previous-requested-at",
} as const;
