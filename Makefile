# Baton developer commands. npm scripts run on the pinned Node 24 (node_modules/.bin/node).
SHELL := /usr/bin/env bash
KUBE_VERSION := v1.36.3
GO_LDFLAGS := -s -w -X k8s.io/component-base/version.gitVersion=$(KUBE_VERSION) \
	-X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=36

.PHONY: all install testenv tekton test-rules tekton-crds generate typecheck lint test test-unit demo cluster-up cluster-down image clean

all: install testenv generate typecheck lint test

install: node_modules/.package-lock.json
# npm ci empties node_modules first, following a link: in a worktree whose node_modules links to another
# checkout's, it would empty that checkout's instead. Such a worktree installs from the checkout it links to.
node_modules/.package-lock.json: package.json package-lock.json
	@if [ -L node_modules ]; then \
		echo "node_modules links to $$(readlink node_modules): not running npm ci through it (install there)"; \
	else npm ci; fi

# The test control plane (etcd + kube-apiserver + kube-controller-manager + kubectl), built reproducibly from
# hack/testenv/go.sum. Make's timestamps keep a warm rebuild to a no-op; go's build cache makes a real one quick.
testenv: bin/testenv bin/kubectl
bin/testenv: $(wildcard hack/testenv/*.go) hack/testenv/go.mod hack/testenv/go.sum
	cd hack/testenv && go build -mod=readonly -trimpath -ldflags "$(GO_LDFLAGS)" -o ../../bin/testenv .
bin/kubectl: bin/testenv
	ln -sf testenv bin/kubectl

# The real Tekton Pipelines controller and admission webhook (the release hack/tekton pins for the CRDs) and kwok,
# which fakes a Node and plays the kubelet for Tekton's step Pods (hack/kwok/stages.yaml): tests and the demo that
# ask for real Tekton run them (hack/lib/tekton.ts) next to `testenv scheduler`. Each builds from its own go.sum:
# Tekton and kwok pull Kubernetes libraries at other versions than the testenv's.
tekton: bin/tekton-controller bin/tekton-webhook bin/kwok bin/git-init
bin/tekton-controller: hack/tekton/go.mod hack/tekton/go.sum
	cd hack/tekton && go build -mod=readonly -trimpath -ldflags "-s -w" -o ../../bin/tekton-controller github.com/tektoncd/pipeline/cmd/controller
bin/tekton-webhook: hack/tekton/go.mod hack/tekton/go.sum
	cd hack/tekton && go build -mod=readonly -trimpath -ldflags "-s -w" -o ../../bin/tekton-webhook github.com/tektoncd/pipeline/cmd/webhook
bin/kwok: hack/kwok/go.mod hack/kwok/go.sum
	cd hack/kwok && go build -mod=readonly -trimpath -ldflags "-s -w" -o ../../bin/kwok sigs.k8s.io/kwok/cmd/kwok
# The catalog git-clone task's program, at the Tekton release git-clone 0.9 pins (hack/git-init/go.mod says why).
bin/git-init: hack/git-init/go.mod hack/git-init/go.sum
	cd hack/git-init && go build -mod=readonly -trimpath -ldflags "-s -w" -o ../../bin/git-init github.com/tektoncd/pipeline/cmd/git-init

# Prometheus's promtool, reproducibly from hack/promtool/go.sum: the judge of the alert rule tests and of a real
# /metrics scrape. Without the service-discovery plugins (remove_all_sd), which neither use and which would
# double the build.
bin/promtool: hack/promtool/go.mod hack/promtool/go.sum
	cd hack/promtool && go build -mod=readonly -trimpath -tags remove_all_sd -ldflags "-s -w" \
		-o ../../bin/promtool github.com/prometheus/prometheus/cmd/promtool

# `promtool check rules` and `promtool test rules` on config/monitoring/ (part of `make test` too).
test-rules: install bin/promtool
	node_modules/.bin/node --test test/integration/alerts.test.ts

# Prints the verified directory of the pinned Tekton Pipelines module (its config/300-crds/ are installed in tests).
tekton-crds:
	@cd hack/tekton && go mod download -json github.com/tektoncd/pipeline | sed -n 's/.*"Dir": "\(.*\)",/\1\/config\/300-crds/p'

generate: install
	npm run generate

typecheck: install
	npm run typecheck

lint: install
	npm run lint

# Everything CI runs: static checks, unit tests, and integration tests against the real control plane.
test: install testenv tekton bin/promtool
	npm run typecheck
	npm run lint
	npm test

test-unit: install
	npm run test:unit

# PROVIDER=bitbucket-cloud tells the story on the Bitbucket Cloud simulator instead of Data Center.
PROVIDER ?= bitbucket-datacenter
demo: install testenv tekton
	npm run demo -- --provider $(PROVIDER)

# Leaves a control plane with Baton's and Tekton's CRDs running; prints the kubeconfig to use with bin/kubectl.
# TEKTON=real also runs the real Tekton controller and webhook with kwok's simulated Node (builds them first).
TEKTON ?= crds
cluster-up: install testenv $(if $(filter real,$(TEKTON)),tekton)
	node_modules/.bin/node hack/cluster.ts up --tekton $(TEKTON)

cluster-down:
	node_modules/.bin/node hack/cluster.ts down

image:
	docker build -t baton:dev .

clean:
	rm -rf bin .cache
