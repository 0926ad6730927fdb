import type { KubeObject } from "../runtime/kube.ts";

/** Events on the Repository, so `kubectl describe` tells its story. Must never throw. */
export interface EventSink {
  normal(obj: KubeObject, reason: string, message: string): void;
  warning(obj: KubeObject, reason: string, message: string): void;
}
