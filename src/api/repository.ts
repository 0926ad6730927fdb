// Repository: one Bitbucket repository wired to Tekton. DESIGN §2.
import { z } from "zod";
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

export const kind = "Repository";

/**
 * The browse URL Pipelines-as-Code uses (https://host[/context]/projects/KEY/repos/slug), or an HTTP clone URL
 * (https://host[/context]/scm/key/slug.git). The reconciler parses it into server, project and slug.
 */
export const repositoryUrlPattern =
  /^https?:\/\/[A-Za-z0-9.-]+(:[0-9]{1,5})?(\/[^\s?#]*)?\/(projects\/[A-Za-z0-9_~]+\/repos\/[A-Za-z0-9._-]+(\/browse)?\/?|scm\/~?[A-Za-z0-9_]+\/[A-Za-z0-9._-]+?(\.git)?)$/;

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
  kind: z.enum(["BitbucketProjectToken", "Secret"]).default("BitbucketProjectToken"),
  name: z.string().min(1).max(253),
  key: z.string().min(1).max(253).default("token").meta({ description: "Key within the Secret (kind Secret)." }),
});

export const RepositorySpec = z
  .object({
    url: matching(
      repositoryUrlPattern,
      "must be the repository's browse URL, e.g. https://bitbucket.example.com/projects/KEY/repos/slug, " +
        "or its HTTP clone URL, e.g. https://bitbucket.example.com/scm/key/slug.git",
    )
      .max(2048)
      .meta({ description: "The repository's browse URL: https://host/projects/KEY/repos/slug." }),
    tokenRef: LocalObjectReference.optional().meta({
      description: "A BitbucketProjectToken whose token Baton uses for REST calls on this repository.",
    }),
    secretRef: SecretKeyReference.optional().meta({
      description: "A plain Secret holding a personal, project or repository token (instead of tokenRef).",
    }),
    cloneTokenRef: CloneTokenReference.optional().meta({
      description:
        "A narrower token (REPO_READ is enough) handed to PipelineRuns for git. Default: the token of tokenRef " +
        "or secretRef. The operator's own token never enters a PipelineRun unless it is named here.",
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
      })
      .prefault({}),
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
            .regex(/^[A-Za-z_][A-Za-z0-9_.-]*$/),
          value: z.string().max(65536),
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
        rule: "has(self.tokenRef) != has(self.secretRef)",
        message: "set exactly one of tokenRef (a BitbucketProjectToken) or secretRef (a Secret holding a token)",
      },
    ],
  });
export type RepositorySpec = z.infer<typeof RepositorySpec>;

export const RunSummary = z.object({
  name: z.string().meta({ description: "The PipelineRun." }),
  pipeline: z.string().optional(),
  sha: z.string().optional(),
  pullRequest: z.int().optional(),
  status: z.enum(["Pending", "Running", "Succeeded", "Failed", "Cancelled"]),
  startTime: Timestamp.optional(),
  completionTime: Timestamp.optional(),
});

export const RepositoryStatus = z.object({
  observedGeneration: z.int().min(0).optional(),
  conditions: Conditions.optional(),
  server: z.string().optional(),
  project: z.string().optional(),
  slug: z.string().optional(),
  webhook: z
    .object({
      id: z.int().optional(),
      scope: z.enum(["repository", "project"]).optional(),
      events: z.array(z.string()).optional(),
      lastSyncTime: Timestamp.optional(),
    })
    .optional(),
  lastEvent: z
    .object({
      type: z.string(),
      requestId: z.string().optional(),
      sha: z.string().optional(),
      pullRequest: z.int().optional(),
      receivedTime: Timestamp,
    })
    .optional(),
  lastRun: RunSummary.optional(),
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
