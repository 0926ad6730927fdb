// Which Baton installation this is, as Bitbucket sees it. Two clusters (or two installations in one cluster) may
// manage the same Bitbucket project; the instance name keeps their tokens (named `<instance>/…`) and webhooks
// (`baton-<instance>`) apart, so neither revokes the other's tokens as orphans nor takes over the other's hook.
//
// BATON_INSTANCE sets it. Unset, it is derived from the uid of a Secret in the operator's own namespace, created by
// the first replica that starts and then only read: unique per installation, stable across restarts and upgrades,
// and readable with the namespace-scoped rights Baton already has (a cluster id such as kube-system's uid would
// need a cluster-scoped permission the namespaced variant does not grant). Deleting that Secret makes the next
// start a new installation; pin BATON_INSTANCE where that matters.
import { isAlreadyExists, type KubeClient, Secrets } from "./kube.ts";

export const installationSecretName = "baton-installation";

/** The instance name every release before BATON_INSTANCE used. */
export const legacyInstance = "baton";

/** The instance name derived from an installation Secret's uid: short enough for token and webhook names. */
export function instanceFromUid(uid: string): string {
  const hex = uid.toLowerCase().replaceAll(/[^0-9a-f]/g, "");
  if (hex.length < 12) throw new Error(`Secret ${installationSecretName} has no usable uid`);
  return `i${hex.slice(0, 12)}`;
}

/** Reads (or creates, once) the installation Secret in `namespace` and derives the instance name from its uid. */
export async function installationInstance(kube: KubeClient, namespace: string): Promise<string> {
  const key = { namespace, name: installationSecretName };
  const existing = await kube.get(Secrets, key);
  if (existing?.metadata?.uid) return instanceFromUid(existing.metadata.uid);
  try {
    const created = await kube.create(Secrets, {
      apiVersion: "v1",
      kind: "Secret",
      metadata: {
        ...key,
        labels: { "app.kubernetes.io/managed-by": "baton" },
        annotations: {
          "baton.dev/purpose":
            "Its uid names this Baton installation in Bitbucket (token and webhook names) unless BATON_INSTANCE " +
            "is set. Deleting it makes the next start a new installation that no longer recognises its webhooks.",
        },
      },
      type: "Opaque",
    });
    return instanceFromUid(created.metadata?.uid ?? "");
  } catch (err) {
    // Another replica created it first: use that one.
    if (!isAlreadyExists(err)) throw err;
    const theirs = await kube.get(Secrets, key);
    return instanceFromUid(theirs?.metadata?.uid ?? "");
  }
}
