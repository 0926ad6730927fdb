// Repository: one Bitbucket repository wired to Tekton. DESIGN §2.
import { z } from "zod";
import { Provider } from "../events/model.ts";
import {
  apiVersion,
  Conditions,
  Duration,
  LocalObjectReference,
  matching,
  ObjectMeta,
  SecretKeyReference,
  Timestamp,
} from "./common.ts";
import { DNSName } from "./token.ts";

export const kind = "Repository";

/**
 * The browse URL Pipelines-as-Code uses (https://host[/context]/projects/KEY/repos/slug), or an HTTP clone URL
 * (https://host[/context]/scm/key/slug.git); on Bitbucket Cloud https://bitbucket.org/workspace/slug (or its
 * `.git` clone URL). The reconciler parses it into server, project (the Cloud workspace) and slug.
 */
export const repositoryUrlPattern =
  /^https?:\/\/[A-Za-z0-9.-]+(:[0-9]{1,5})?((\/[^\s?#]*)?\/(projects\/[A-Za-z0-9_~]+\/repos\/[A-Za-z0-9._-]+(\/browse)?\/?|scm\/~?[A-Za-z0-9_]+\/[A-Za-z0-9._-]+?(\.git)?)|\/[A-Za-z0-9._-]+\/[A-Za-z0-9._-]+?(\.git)?\/?)$/;

/** Webhook events the intake acts on; the default set of a managed webhook. */
export const WebhookEvent = z.enum([
  "repo:refs_changed",
  "pr:opened",
  "pr:from_ref_updated",
  "pr:modified",
  "pr:declined",
  "pr:merged",
  "pr:deleted",
  "pr:comment:added",
]);
export type WebhookEvent = z.infer<typeof WebhookEvent>;

export const CloneTokenReference = z.object({
  kind: z.enum(["BitbucketProjectToken", "Secret"]).default("BitbucketProjectToken").meta({
    description: "BitbucketProjectToken (default) or Secret: what name refers to.",
  }),
  name: z
    .string()
    .min(1)
    .max(253)
    .meta({ description: "Name of the BitbucketProjectToken or Secret, in this namespace." }),
  key: z.string().min(1).max(253).default("token").meta({ description: "Key within the Secret (kind Secret)." }),
});

/** A GitHub App Baton acts as (DESIGN §7): it mints its own installation tokens and one narrowed token per run. */
export const GitHubAppReference = z.object({
  appId: matching(/^([0-9]+|Iv[0-9A-Za-z._-]+)$/, "must be the App's numeric id or its client id (Iv…)")
    .min(1)
    .max(64)
    .meta({ description: "The GitHub App's id (App settings, About: App ID) or its client id (Iv…)." }),
  privateKeyRef: z
    .object({
      name: z.string().min(1).max(253).meta({ description: "Name of a Secret in the same namespace." }),
      key: z
        .string()
        .min(1)
        .max(253)
        .default("private-key.pem")
        .meta({ description: "Key within the Secret holding the PEM (default private-key.pem)." }),
    })
    .meta({
      description:
        "The Secret holding the App's private key (PEM, as GitHub downloads it). No PipelineRun may reference it.",
    }),
  installationId: z.int().min(1).max(Number.MAX_SAFE_INTEGER).optional().meta({
    description: "The App's installation on this repository's owner. Unset: looked up from the repository.",
  }),
});
export type GitHubAppReference = z.infer<typeof GitHubAppReference>;

export const RepositorySpec = z
  .object({
    url: matching(
      repositoryUrlPattern,
      "must be the repository's browse URL, e.g. https://bitbucket.example.com/projects/KEY/repos/slug " +
        "(Bitbucket Cloud: https://bitbucket.org/workspace/slug), or its HTTP clone URL, e.g. " +
        "https://bitbucket.example.com/scm/key/slug.git",
    )
      .max(2048)
      .meta({ description: "The repository's browse URL: https://host/projects/KEY/repos/slug." }),
    provider: Provider.optional().meta({
      description:
        "The git host's kind. Unset: from url's host (bitbucket.org: bitbucket-cloud; github.com: github; " +
        "anything else: bitbucket-datacenter). Set it for a GitHub Enterprise Server or to be explicit.",
    }),
    tokenRef: LocalObjectReference.optional().meta({
      description: "A BitbucketProjectToken whose token Baton uses for REST calls on this repository.",
    }),
    secretRef: SecretKeyReference.optional().meta({
      description:
        "A plain Secret holding a personal, project or repository token (instead of tokenRef); on GitHub a " +
        "fine-grained personal access token (github_pat_…).",
    }),
    githubApp: GitHubAppReference.optional().meta({
      description:
        "GitHub only, instead of tokenRef or secretRef: the GitHub App Baton acts as. Baton mints the App's " +
        "installation tokens for its own calls and renews them before their hour is up; each PipelineRun gets its " +
        "own token, narrowed to this repository with contents: read.",
    }),
    cloneTokenRef: CloneTokenReference.optional().meta({
      description:
        "The token handed to PipelineRuns for git (REPO_READ is enough). Unset: with a managed tokenRef Baton " +
        "issues a read-only repository token itself (<name>-clone); otherwise no run is created until this is set.",
    }),
    webhook: z
      .object({
        managed: z.boolean().default(true).meta({
          description:
            "Baton creates, repairs and deletes the webhook. Needs REPO_ADMIN (or PROJECT_ADMIN for scope project).",
        }),
        scope: z.enum(["repository", "project"]).default("repository").meta({
          description: "project: one webhook shared by every Repository of the project (Bitbucket 8.9+).",
        }),
        events: z.array(WebhookEvent).min(1).optional().meta({
          description: "Events to subscribe to. Default: every event Baton handles.",
          "x-kubernetes-list-type": "set",
        }),
        secretRef: SecretKeyReference.optional().meta({
          description:
            "Secret holding the webhook signing secret. Default: Baton generates one and keeps it in a Secret it owns.",
        }),
      })
      .prefault({})
      .meta({ description: "The Bitbucket webhook that delivers events to Baton." }),
    pipelines: z
      .object({
        path: z
          .string()
          .min(1)
          .max(1024)
          .default(".tekton")
          .meta({ description: "Folder with the PipelineRun definitions." }),
        serviceAccountName: z.string().min(1).max(253).optional().meta({
          description: "ServiceAccount the PipelineRuns run as (taskRunTemplate.serviceAccountName).",
        }),
        concurrencyLimit: z.int().min(1).max(1000).optional().meta({
          description: "At most this many runs at once; the others wait Pending and start in order.",
        }),
        maxKeepRuns: z.int().min(1).max(1000).optional().meta({
          description: "Keep at most this many completed runs per pipeline; a max-keep-runs annotation wins.",
        }),
        timeout: Duration.optional().meta({ description: "Default timeout of a PipelineRun (timeouts.pipeline)." }),
        allowedSecrets: z
          // Object names never contain `$(` or `{{`: an allowed name is one Tekton and PAC cannot rewrite.
          .array(DNSName)
          .max(256)
          .optional()
          .meta({
            description:
              "Secrets of the namespace a PipelineRun may reference by name (workspaces, volumes, env, " +
              "imagePullSecrets, resolver params), besides its own git Secret ({{ git_auth_secret }}). Any other " +
              "reference, and any name Tekton would fill in at run time ($(params.…)), is refused. Baton's own " +
              "Secrets (tokens, admin credentials, webhook secrets) are refused even when listed.",
            "x-kubernetes-list-type": "set",
          }),
        cloneWithOperatorToken: z
          .boolean()
          .optional()
          .meta({
            description:
              "Hand the operator's own token (tokenRef or secretRef, often REPO_ADMIN; with githubApp the App's " +
              "installation token, with every permission the App has) to runs for git when cloneTokenRef is unset. Any pipeline step can read it; CloneTokenWarning=True while it is on.",
          }),
      })
      .prefault({})
      .meta({ description: "Where the PipelineRun definitions are and how their runs are started and kept." }),
    policy: z
      .object({
        trustedUsers: z.array(z.string().min(1).max(255)).max(1000).optional().meta({
          description: "Bitbucket user slugs whose pull requests from forks run without /ok-to-test.",
          "x-kubernetes-list-type": "set",
        }),
        trustedGroups: z.array(z.string().min(1).max(255)).max(1000).optional().meta({
          description: "Bitbucket groups whose members' fork pull requests run without /ok-to-test.",
          "x-kubernetes-list-type": "set",
        }),
      })
      .optional()
      .meta({
        description:
          "Who may trigger runs from forks, beyond users with REPO_WRITE on the repository (who always may).",
      }),
    params: z
      .array(
        z.object({
          name: z
            .string()
            .min(1)
            .max(253)
            .regex(/^[A-Za-z_][A-Za-z0-9_.-]*$/)
            .meta({ description: "The placeholder's name: {{ name }} in a PipelineRun is replaced with value." }),
          value: z.string().max(65536).meta({ description: "The text substituted for the placeholder." }),
        }),
      )
      .max(256)
      .optional()
      .meta({
        description: "Custom parameters substituted as {{ name }} in the PipelineRuns.",
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["name"],
      }),
  })
  .meta({
    "x-kubernetes-validations": [
      {
        rule: "has(self.githubApp) ? !has(self.tokenRef) && !has(self.secretRef) : has(self.tokenRef) != has(self.secretRef)",
        message:
          "set exactly one of tokenRef (a BitbucketProjectToken), secretRef (a Secret holding a token) or githubApp",
      },
      {
        rule: "!has(self.githubApp) || (has(self.provider) ? self.provider == 'github' : self.url.matches('^https?://(?i)(www[.])?github[.]com[:/]'))",
        message: "githubApp is for GitHub repositories: a github.com url, or provider: github",
      },
      {
        rule: "!has(self.githubApp) || !has(self.cloneTokenRef)",
        message:
          "with githubApp each PipelineRun gets its own token minted by the App (contents: read on this repository); " +
          "remove cloneTokenRef",
      },
    ],
  });
export type RepositorySpec = z.infer<typeof RepositorySpec>;

export const RunSummary = z.object({
  name: z.string().meta({ description: "The PipelineRun." }),
  pipeline: z.string().optional().meta({ description: "The pipeline it runs: its name in the .tekton folder." }),
  sha: z.string().optional().meta({ description: "The commit it builds." }),
  pullRequest: z.int().optional().meta({ description: "The pull request it builds, if any." }),
  status: z.enum(["Pending", "Running", "Succeeded", "Failed", "Cancelled"]).meta({
    description: "Pending (waiting to start), Running, Succeeded, Failed or Cancelled.",
  }),
  startTime: Timestamp.optional().meta({ description: "When Tekton started it." }),
  completionTime: Timestamp.optional().meta({ description: "When it finished." }),
});

export const RepositoryStatus = z.object({
  observedGeneration: z.int().min(0).optional().meta({
    description: "The metadata.generation this status describes; lower while a spec change is still being acted on.",
  }),
  conditions: Conditions.optional().meta({
    description:
      "Ready: events from this repository turn into PipelineRuns. TokenReady: Bitbucket accepts the token. " +
      "WebhookSynced: the Bitbucket webhook matches spec.webhook.",
  }),
  server: z.string().optional().meta({ description: "Bitbucket base URL, read from spec.url." }),
  project: z.string().optional().meta({ description: "Project key, read from spec.url." }),
  slug: z.string().optional().meta({ description: "Repository slug, read from spec.url." }),
  webhook: z
    .object({
      id: z
        .union([z.int(), z.string()])
        .optional()
        .meta({ description: "The host's id of the webhook (a number on Data Center, a {uuid} on Cloud)." }),
      scope: z.enum(["repository", "project"]).optional().meta({ description: "Where the webhook is defined." }),
      events: z.array(z.string()).optional().meta({ description: "The events it delivers." }),
      lastSyncTime: Timestamp.optional().meta({ description: "When Baton last found it as declared or repaired it." }),
      secretPrint: z.string().optional().meta({
        description:
          "Where the host never shows a webhook's secret (Cloud): a one-way print of the one Baton set, to tell a rotated secret. Never the secret.",
      }),
    })
    .optional()
    .meta({ description: "The Bitbucket webhook as Baton last saw it." }),
  lastEvent: z
    .object({
      type: z.string().meta({ description: "Bitbucket's event key, e.g. pr:opened." }),
      requestId: z.string().optional().meta({ description: "Bitbucket's X-Request-Id of the delivery." }),
      sha: z.string().optional().meta({ description: "The commit the event is about." }),
      pullRequest: z.int().optional().meta({ description: "The pull request the event is about, if any." }),
      receivedTime: Timestamp.meta({ description: "When Baton received it." }),
    })
    .optional()
    .meta({ description: "The last webhook delivery Baton accepted for this repository." }),
  lastRun: RunSummary.optional().meta({ description: "The last PipelineRun Baton created for this repository." }),
});
export type RepositoryStatus = z.infer<typeof RepositoryStatus>;

export const Repository = z.object({
  apiVersion: z.literal(apiVersion),
  kind: z.literal(kind),
  metadata: ObjectMeta,
  spec: RepositorySpec,
  status: RepositoryStatus.optional(),
});
export type Repository = z.infer<typeof Repository>;
