// Generates Baton's CustomResourceDefinitions from the zod schemas, so the API server validates exactly what the
// controllers expect. `npm run generate` writes crds/*.yaml; a test fails when the committed files differ.
import { z } from "zod";
import { apiVersion, group, patternMessages, version } from "./common.ts";
import { RepositorySpec, RepositoryStatus, kind as repositoryKind } from "./repository.ts";
import { TokenSpec, TokenStatus, kind as tokenKind } from "./token.ts";

interface PrinterColumn {
  name: string;
  type: "string" | "date" | "integer" | "boolean";
  jsonPath: string;
  description?: string;
  priority?: number;
}

interface ResourceDefinition {
  kind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  description: string;
  spec: z.ZodType;
  specDescription: string;
  status: z.ZodType;
  statusDescription: string;
  printerColumns: PrinterColumn[];
}

const conditionField = (type: string, field: string) => `.status.conditions[?(@.type=="${type}")].${field}`;
const condition = (type: string) => conditionField(type, "status");

export const resources: ResourceDefinition[] = [
  {
    kind: tokenKind,
    plural: "bitbucketprojecttokens",
    singular: "bitbucketprojecttoken",
    shortNames: ["bbtoken"],
    description:
      "A Bitbucket Data Center project or repository HTTP access token that Baton issues, stores in a Secret, " +
      "renews before it expires and revokes after rotation; or an externally supplied token it validates and tracks.",
    spec: TokenSpec,
    specDescription:
      "The token wanted: which Bitbucket server, project (and repository), permissions and lifetime, and the " +
      "Secret it is kept in.",
    status: TokenStatus,
    statusDescription:
      "What Baton last observed and did: the current token, its expiry and renewal time, and the Ready condition.",
    printerColumns: [
      { name: "Project", type: "string", jsonPath: ".spec.project" },
      { name: "Repository", type: "string", jsonPath: ".spec.repository" },
      { name: "Ready", type: "string", jsonPath: condition("Ready") },
      // Why not Ready (Expired, Unauthorized, NoValidToken…) without a `kubectl describe`.
      { name: "Reason", type: "string", jsonPath: conditionField("Ready", "reason") },
      // Where consumers find the token, as cert-manager's Certificate shows its Secret.
      { name: "Secret", type: "string", jsonPath: ".spec.secretName" },
      // Future times as strings: kubectl renders a future `date` column as "<invalid>".
      { name: "Expires", type: "string", jsonPath: ".status.notAfter" },
      { name: "Renews", type: "string", jsonPath: ".status.renewalTime" },
      { name: "Message", type: "string", jsonPath: conditionField("Ready", "message"), priority: 1 },
      { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
    ],
  },
  {
    kind: repositoryKind,
    plural: "repositories",
    singular: "repository",
    shortNames: ["bbrepo"],
    description:
      "A Bitbucket Data Center repository wired to Tekton: Baton keeps its webhook in sync, turns its pull-request, " +
      "push and comment events into PipelineRuns from its .tekton folder, and reports their build status.",
    spec: RepositorySpec,
    specDescription:
      "The repository, the token Baton calls Bitbucket with, its webhook, and how its PipelineRuns are run.",
    status: RepositoryStatus,
    statusDescription:
      "What Baton last observed and did: token and webhook conditions, the last event and the last PipelineRun.",
    printerColumns: [
      { name: "URL", type: "string", jsonPath: ".spec.url" },
      { name: "Ready", type: "string", jsonPath: condition("Ready") },
      { name: "Reason", type: "string", jsonPath: conditionField("Ready", "reason") },
      { name: "Webhook", type: "string", jsonPath: condition("WebhookSynced") },
      { name: "Last Run", type: "string", jsonPath: ".status.lastRun.status" },
      { name: "Message", type: "string", jsonPath: conditionField("Ready", "message"), priority: 1 },
      { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
    ],
  },
];

type Schema = Record<string, unknown>;

/** Turns zod's OpenAPI 3.0 output into a Kubernetes structural schema. */
function structural(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(structural);
  if (node === null || typeof node !== "object") return node;
  const out: Schema = {};
  for (const [key, value] of Object.entries(node as Schema)) {
    // Object-valued keys whose children are names, not schemas, must keep their names; only recurse into values.
    out[key] = key === "properties" ? mapValues(value as Schema, structural) : structural(value);
  }
  // JavaScript's safe-integer bounds are zod's way of saying "integer"; they mean nothing to users.
  if (out.maximum === Number.MAX_SAFE_INTEGER) delete out.maximum;
  if (out.minimum === Number.MIN_SAFE_INTEGER) delete out.minimum;
  if (out.type === "integer") out.format = "int64";
  // Kubernetes evaluates `pattern` with RE2; zod's date-time pattern uses constructs RE2 lacks. The format check
  // is what the API server enforces for date-time anyway.
  if (out.format === "date-time") delete out.pattern;
  const message = typeof out.pattern === "string" ? patternMessages.get(out.pattern) : undefined;
  if (message !== undefined) {
    // A CEL raw string keeps the regex's backslashes as they are; RE2 and JavaScript agree on these patterns.
    const rule = { rule: `self.matches(r'${out.pattern}')`, message };
    out["x-kubernetes-validations"] = [...((out["x-kubernetes-validations"] as unknown[]) ?? []), rule];
    delete out.pattern;
  }
  // An integer-or-string union is Kubernetes' IntOrString (a host's webhook id: a number on DC, a {uuid} on Cloud).
  const union = out.anyOf;
  if (
    Array.isArray(union) &&
    union.length === 2 &&
    union.every((branch) => ["integer", "string"].includes((branch as Schema).type as string)) &&
    (union[0] as Schema).type !== (union[1] as Schema).type
  ) {
    delete out.anyOf;
    out["x-kubernetes-int-or-string"] = true;
  }
  if (out.additionalProperties === false) delete out.additionalProperties;
  if (isEmptyObject(out.additionalProperties)) {
    delete out.additionalProperties;
    out["x-kubernetes-preserve-unknown-fields"] = true;
  }
  return out;
}

function mapValues(record: Schema, fn: (v: unknown) => unknown): Schema {
  return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, fn(v)]));
}

function isEmptyObject(value: unknown): boolean {
  return typeof value === "object" && value !== null && !Array.isArray(value) && Object.keys(value).length === 0;
}

function openAPISchema(schema: z.ZodType, description: string): Schema {
  const json = z.toJSONSchema(schema, { target: "openapi-3.0", io: "input", unrepresentable: "throw" });
  const { $schema: _ignored, ...rest } = structural(json) as Schema;
  return { description, ...rest };
}

// `kubectl explain` reads these from the CRD like any other field; without them it prints <empty>.
function typeMeta(kind: string): Schema {
  return {
    apiVersion: { type: "string", description: `${apiVersion}: the API group and version of this object's schema.` },
    kind: { type: "string", description: `${kind}: the type of this object.` },
    // The API server refuses anything here but `type` and publishes ObjectMeta's own schema and description.
    metadata: { type: "object" },
  };
}

export function customResourceDefinition(def: ResourceDefinition): Schema {
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: {
      name: `${def.plural}.${group}`,
      labels: { "app.kubernetes.io/name": "baton", "app.kubernetes.io/part-of": "baton" },
    },
    spec: {
      group,
      names: {
        kind: def.kind,
        listKind: `${def.kind}List`,
        plural: def.plural,
        singular: def.singular,
        shortNames: def.shortNames,
        categories: ["baton"],
      },
      scope: "Namespaced",
      versions: [
        {
          name: version,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: def.printerColumns,
          schema: {
            openAPIV3Schema: {
              description: def.description,
              type: "object",
              required: ["spec"],
              properties: {
                ...typeMeta(def.kind),
                spec: openAPISchema(def.spec, def.specDescription),
                status: openAPISchema(def.status, def.statusDescription),
              },
            },
          },
        },
      ],
    },
  };
}
