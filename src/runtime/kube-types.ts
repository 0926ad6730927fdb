import { z } from "zod";

// Wire shapes of the Kubernetes objects the runtime reads and writes, as zod schemas so the types are declared
// once. Timestamps stay strings, exactly as the API server sends them. Objects are loose: fields the runtime
// does not name pass through untouched.

export const ownerReferenceSchema = z.object({
  apiVersion: z.string(),
  kind: z.string(),
  name: z.string(),
  uid: z.string(),
  controller: z.boolean().optional(),
  blockOwnerDeletion: z.boolean().optional(),
});
export type OwnerReference = z.infer<typeof ownerReferenceSchema>;

export const managedFieldsEntrySchema = z.looseObject({
  manager: z.string().optional(),
  operation: z.string().optional(),
  apiVersion: z.string().optional(),
  time: z.string().optional(),
  fieldsType: z.string().optional(),
  fieldsV1: z.unknown().optional(),
  subresource: z.string().optional(),
});
export type ManagedFieldsEntry = z.infer<typeof managedFieldsEntrySchema>;

export const objectMetaSchema = z.looseObject({
  name: z.string().optional(),
  generateName: z.string().optional(),
  namespace: z.string().optional(),
  uid: z.string().optional(),
  resourceVersion: z.string().optional(),
  generation: z.number().optional(),
  creationTimestamp: z.string().optional(),
  deletionTimestamp: z.string().optional(),
  deletionGracePeriodSeconds: z.number().optional(),
  labels: z.record(z.string(), z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  finalizers: z.array(z.string()).optional(),
  ownerReferences: z.array(ownerReferenceSchema).optional(),
  managedFields: z.array(managedFieldsEntrySchema).optional(),
});
export type ObjectMeta = z.infer<typeof objectMetaSchema>;

export const kubeObjectSchema = z.looseObject({
  apiVersion: z.string().optional(),
  kind: z.string().optional(),
  metadata: objectMetaSchema.optional(),
});
/** Any Kubernetes object. */
export type KubeObject = z.infer<typeof kubeObjectSchema>;

export const statusSchema = z.looseObject({
  kind: z.literal("Status").optional(),
  apiVersion: z.string().optional(),
  status: z.string().optional(),
  message: z.string().optional(),
  reason: z.string().optional(),
  code: z.number().optional(),
  details: z
    .looseObject({
      name: z.string().optional(),
      group: z.string().optional(),
      kind: z.string().optional(),
      retryAfterSeconds: z.number().optional(),
      causes: z
        .array(
          z.looseObject({
            reason: z.string().optional(),
            message: z.string().optional(),
            field: z.string().optional(),
          }),
        )
        .optional(),
    })
    .optional(),
});
/** metav1.Status: what the API server returns for errors (and inside watch ERROR events). */
export type Status = z.infer<typeof statusSchema>;

export const configMapSchema = kubeObjectSchema.extend({
  data: z.record(z.string(), z.string()).optional(),
  binaryData: z.record(z.string(), z.string()).optional(),
});
export type ConfigMap = z.infer<typeof configMapSchema>;

export const secretSchema = kubeObjectSchema.extend({
  type: z.string().optional(),
  /** Values are base64. */
  data: z.record(z.string(), z.string()).optional(),
  stringData: z.record(z.string(), z.string()).optional(),
});
export type Secret = z.infer<typeof secretSchema>;

export const namespaceSchema = kubeObjectSchema.extend({
  status: z.looseObject({ phase: z.string().optional() }).optional(),
});
export type Namespace = z.infer<typeof namespaceSchema>;

export const leaseSpecSchema = z.looseObject({
  holderIdentity: z.string().nullable().optional(),
  leaseDurationSeconds: z.number().nullable().optional(),
  /** RFC 3339 with microseconds (metav1.MicroTime). */
  acquireTime: z.string().nullable().optional(),
  renewTime: z.string().nullable().optional(),
  leaseTransitions: z.number().nullable().optional(),
});
export const leaseSchema = kubeObjectSchema.extend({ spec: leaseSpecSchema.optional() });
export type LeaseSpec = z.infer<typeof leaseSpecSchema>;
export type Lease = z.infer<typeof leaseSchema>;

export const objectReferenceSchema = z.looseObject({
  apiVersion: z.string().optional(),
  kind: z.string().optional(),
  name: z.string().optional(),
  namespace: z.string().optional(),
  uid: z.string().optional(),
  resourceVersion: z.string().optional(),
  fieldPath: z.string().optional(),
});
export type ObjectReference = z.infer<typeof objectReferenceSchema>;

/** core/v1 Event, the kind `kubectl describe` shows. */
export const eventSchema = kubeObjectSchema.extend({
  involvedObject: objectReferenceSchema,
  reason: z.string().optional(),
  message: z.string().optional(),
  type: z.enum(["Normal", "Warning"]).optional(),
  count: z.number().optional(),
  firstTimestamp: z.string().nullable().optional(),
  lastTimestamp: z.string().nullable().optional(),
  eventTime: z.string().nullable().optional(),
  source: z.looseObject({ component: z.string().optional(), host: z.string().optional() }).optional(),
  reportingComponent: z.string().optional(),
  reportingInstance: z.string().optional(),
  action: z.string().optional(),
});
export type Event = z.infer<typeof eventSchema>;
