// Kubeconfig and context the way kubectl picks them: --kubeconfig, else $KUBECONFIG (a list of files, merged), else
// ~/.kube/config, else the in-cluster service account; --context, else current-context; --namespace, else the
// context's namespace, else "default".
import { KubeConfig } from "@kubernetes/client-node";
import { fetch as undiciFetch } from "undici";
import { type Fetch, KubeClient } from "../runtime/kube.ts";
import { CliError, exitCodes, type GlobalOptions } from "./common.ts";

export interface CliKube {
  kube: KubeClient;
  namespace: string;
  context: string;
}

/** The kubeconfig kubectl would use, with --context applied; no request is made. */
export function cliKubeConfig(global: GlobalOptions): KubeConfig {
  const kc = new KubeConfig();
  try {
    if (global.kubeconfig !== undefined) kc.loadFromFile(global.kubeconfig);
    else kc.loadFromDefault();
  } catch (error) {
    throw new CliError(`could not read the kubeconfig: ${(error as Error).message}`, exitCodes.unavailable);
  }
  if (global.context !== undefined) {
    if (kc.getContextObject(global.context) === null) {
      const known = kc.getContexts().map((c) => c.name);
      throw new CliError(
        `context ${global.context} is not in the kubeconfig (it has: ${known.join(", ") || "none"})`,
        exitCodes.usage,
      );
    }
    kc.setCurrentContext(global.context);
  }
  if (!kc.getCurrentCluster()) {
    throw new CliError(
      "no cluster to talk to: the kubeconfig has no current context; pass --context or --kubeconfig",
      exitCodes.unavailable,
    );
  }
  return kc;
}

/** The namespace kubectl would use: -n, else the context's, else "default". */
export function cliNamespace(global: GlobalOptions, kc: KubeConfig | undefined): string {
  if (global.namespace !== undefined) return global.namespace;
  const context = kc?.getContextObject(kc.getCurrentContext());
  return context?.namespace || "default";
}

/**
 * kubectl (client-go) waits out a 429 for its Retry-After, as an API server starting up or shedding load asks; so
 * does the CLI, a few times within seconds, rather than fail a command the next second would have answered.
 */
export function retryingFetch(fetch: Fetch = undiciFetch as Fetch, attempts = 5): Fetch {
  return async (url, init) => {
    for (let attempt = 1; ; attempt++) {
      const res = await fetch(url, init);
      if (res.status !== 429 || attempt >= attempts) return res;
      const seconds = Number(res.headers.get("retry-after"));
      await res.body?.cancel();
      await new Promise((resolve) => setTimeout(resolve, Math.min(Number.isFinite(seconds) ? seconds : 1, 5) * 1000));
    }
  };
}

export function cliKube(global: GlobalOptions): CliKube {
  const kc = cliKubeConfig(global);
  return {
    kube: new KubeClient(kc, { fieldManager: "kubectl-baton", userAgent: "kubectl-baton", fetch: retryingFetch() }),
    namespace: cliNamespace(global, kc),
    context: kc.getCurrentContext(),
  };
}
