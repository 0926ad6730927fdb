// The `.tekton` PipelineRun the provider worlds share: built for pull requests and pushes to `targets`, with the
// run's git Secret bound as `basic-auth`, as the catalog git-clone task consumes it.
export function cloneRun(targets: readonly string[]): string {
  return `apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: build
  annotations:
    pipelinesascode.tekton.dev/on-event: "[pull_request, push]"
    pipelinesascode.tekton.dev/on-target-branch: "[${targets.join(", ")}]"
spec:
  params:
    - name: revision
      value: "{{ revision }}"
    - name: url
      value: "{{ repo_url }}"
  pipelineSpec:
    params:
      - name: revision
      - name: url
    tasks: []
  workspaces:
    - name: basic-auth
`;
}
