# Entry points for people and CI. Each target installs what it needs first, so a fresh
# machine only needs Node.js + npm, Go (for the control plane) and apt (for redis-server).

SHELL := /bin/bash
.DEFAULT_GOAL := help
NPM_STAMP := node_modules/.installed

.PHONY: help deps demo test test-unit lint typecheck build bench gen image cluster-build cluster-up cluster-down e2e-kind clean

help: ## list targets
	@awk -F ':.*## ' '/^[a-z-]+:.*## / { printf "  %-14s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

$(NPM_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

redis-server:
	@command -v redis-server >/dev/null || { echo "installing redis-server"; (apt-get update -qq && apt-get install -y -qq redis-server) >/dev/null; }

deps: $(NPM_STAMP) redis-server ## install npm packages (Node 24 comes with them) and redis-server

demo: deps ## run Redis + PBX simulator + a worker + the Multcall side and watch calls flow
	npx tsx src/cli/main.ts demo $(ARGS)

test: deps cluster-build ## the whole test suite (typecheck, lint, unit and integration tests)
	npm test

test-unit: $(NPM_STAMP) ## pure-logic tests only, no servers
	npx vitest run test/unit test/ami

lint: $(NPM_STAMP)
	npx eslint .

typecheck: $(NPM_STAMP)
	npx tsc -p tsconfig.json --noEmit

build: $(NPM_STAMP) ## compile to dist/
	npm run build

gen: $(NPM_STAMP) ## regenerate JSON Schemas (and CRDs) from the zod schemas
	npm run gen

bench: deps ## all benchmarks; figures go to docs/benchmarks.md by hand
	npm run bench:worker

image: ## container image (needs Docker)
	docker build -t multcall-operator:dev .

cluster-build: ## build kube-apiserver, etcd, controller-manager, scheduler, kwok, kubectl, helm into the cache
	bash hack/cluster/build.sh

cluster-up: cluster-build ## start the local control plane in .cluster/ (KUBECONFIG=.cluster/kubeconfig)
	bash hack/cluster/up.sh .cluster

cluster-down: ## stop the local control plane
	bash hack/cluster/down.sh .cluster

e2e-kind: ## on a machine with Docker: image → kind cluster → helm install → samples → calls flow
	bash hack/e2e-kind.sh

clean:
	rm -rf dist coverage .cluster
