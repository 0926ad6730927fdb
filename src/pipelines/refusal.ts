// Why the API server refused to create a PipelineRun, in the words an author can act on: the server's own message
// without the request line, and Tekton named when its admission webhook is the one that said no.

/** `message` is the scrubbed error message; the request line is stripped when it is KubeApiError's own. */
export function refusalMessage(message: string, request?: { method: string; target: string }): string {
  let detail = message;
  if (request) {
    // KubeApiError: "<METHOD> <target>: <code> <Reason>: <detail>", the target sometimes with spaces ("x in ns").
    const line = `${request.method} ${request.target}: `;
    if (detail.startsWith(line)) detail = detail.slice(line.length).replace(/^\d+ \w+: /, "");
  }
  const webhook = /^admission webhook "([^"]+)" denied the request: /.exec(detail);
  // The Tekton webhook's validation is what a real cluster applies; the description has room for its reason only.
  if (webhook?.[1]?.endsWith(".tekton.dev"))
    return `Tekton refused the PipelineRun: ${detail.slice(webhook[0].length)}`;
  return `Kubernetes refused the PipelineRun: ${detail}`;
}
