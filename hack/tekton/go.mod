// Pins the Tekton Pipelines release whose CRDs (config/300-crds/) Baton's tests and demo install.
// Nothing imports it: `go mod download -json github.com/tektoncd/pipeline` in this folder locates the
// verified module directory (checked against go.sum).
module github.com/baton-dev/baton/hack/tekton

go 1.26

require github.com/tektoncd/pipeline v1.15.1
