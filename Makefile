# Catalyst Forge composition functions. `make render` and `make test` are the two
# commands the README names; everything else hangs off them.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help venv tools render conformance test lint format xrds schemas clean packages image image-lock xpkg push e2e bench soak

help: ## List the targets
	@grep -E '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | sort

# The runtime (pyproject.toml, package forge) and the development package
# (devtools/pyproject.toml, package forge_dev), both editable.
$(STAMP): pyproject.toml devtools/pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e . -e devtools
	touch $@

venv: $(STAMP) ## Create the virtual environment with every dependency

# --- The real Crossplane tools (tools/go.mod pins them; see docs/development.md) ----------
# Built once from the Go module proxy into .cache/tools/; Go's own module and build caches
# make a rebuild on the same machine a link step.
TOOLS       := .cache/tools
CORE_MODULE := github.com/crossplane/crossplane/v2
GO          ?= go

tools: $(TOOLS)/crossplane $(TOOLS)/forge-xp $(TOOLS)/crossplane-cli $(TOOLS)/forge-dnslabel $(TOOLS)/helm ## Build Crossplane core (its render engine), the crossplane CLI, forge-xp, forge-dnslabel and helm into .cache/tools (needs Go)

$(TOOLS)/crossplane: tools/go.mod tools/go.sum
	@command -v $(GO) >/dev/null 2>&1 || { echo "make tools: Go ($(GO)) is not installed: install Go 1.26 or newer with access to the Go module proxy (Debian 12's golang-go is too old); nothing is faked without it" >&2; exit 1; }
	@mkdir -p $(TOOLS)
	cd tools && $(GO) build -trimpath -o ../$@ \
	  -ldflags "-X github.com/crossplane/crossplane-runtime/v2/pkg/version.version=$$($(GO) list -m -f '{{.Version}}' $(CORE_MODULE))" \
	  $(CORE_MODULE)/cmd/crossplane

# The crossplane CLI's own module is not served by the Go module proxy; v2.2.0 is the last
# release that ships it inside Crossplane's module (cmd/crank): docs/decisions/0001.
$(TOOLS)/crossplane-cli: tools/cli/go.mod tools/cli/go.sum
	@command -v $(GO) >/dev/null 2>&1 || { echo "make tools: Go ($(GO)) is not installed (see docs/development.md)" >&2; exit 1; }
	@mkdir -p $(TOOLS)
	cd tools/cli && $(GO) build -trimpath -o ../../$@ \
	  -ldflags "-X $(CORE_MODULE)/internal/version.version=$$($(GO) list -m -f '{{.Version}}' $(CORE_MODULE))" \
	  $(CORE_MODULE)/cmd/crank

$(TOOLS)/forge-xp: tools/go.mod tools/go.sum $(wildcard tools/cmd/forge-xp/*.go)
	@command -v $(GO) >/dev/null 2>&1 || { echo "make tools: Go is not installed (see docs/development.md)" >&2; exit 1; }
	@mkdir -p $(TOOLS)
	cd tools && $(GO) build -trimpath -o ../$@ ./cmd/forge-xp

# crossplane-runtime's xpkg.ToDNSLabel as Crossplane's resolver names a dependency: the
# tests hold forge.xpkg (the names of the packages we install) equal to it.
$(TOOLS)/forge-dnslabel: tools/go.mod tools/go.sum tools/cmd/forge-dnslabel/main.go
	@command -v $(GO) >/dev/null 2>&1 || { echo "make tools: Go is not installed (see docs/development.md)" >&2; exit 1; }
	@mkdir -p $(TOOLS)
	cd tools && $(GO) build -trimpath -ldflags "-s -w" -o ../$@ ./cmd/forge-dnslabel

# helm judges the gateway-api-crds chart we generate (lint, template, show chart) and
# pushes it (make push). Built as helm's own Makefile builds a release: CGO off, -trimpath,
# its version stamped into helm.sh/helm/v4/internal/version (tools/helm/go.mod pins it).
HELM_MODULE := helm.sh/helm/v4
$(TOOLS)/helm: tools/helm/go.mod tools/helm/go.sum
	@command -v $(GO) >/dev/null 2>&1 || { echo "make tools: Go is not installed (see docs/development.md)" >&2; exit 1; }
	@mkdir -p $(TOOLS)
	cd tools/helm && CGO_ENABLED=0 $(GO) build -trimpath -o ../../$@ \
	  -ldflags "-s -w -X $(HELM_MODULE)/internal/version.version=$$($(GO) list -m -f '{{.Version}}' $(HELM_MODULE)) -X $(HELM_MODULE)/internal/version.gitTreeState=clean" \
	  $(HELM_MODULE)/cmd/helm

# YAML=1 also prints every stage's render.
render: $(STAMP) tools ## Render every example stage with Crossplane's engine: a line per example, checked against its goldens
	$(BIN)/python -m forge_dev.render.examples $(if $(YAML),--yaml)

.PHONY: fixtures
fixtures: $(STAMP) tools ## Regenerate every fixture: each example's stages from the provider player, then their goldens (review the diff)
	$(BIN)/python -m forge_dev.fixtures

# XR=<file> (required); REQUIRED="<file> ..." are passed as -e (default: the example's first stage).
.PHONY: preview
preview: $(STAMP) tools ## Drive XR=<file> to Ready round by round (engine + provider player); print it and a table of rounds
	@test -n "$(XR)" || { echo "make preview: say which XR, e.g. make preview XR=examples/cluster-aws/xr.yaml" >&2; exit 2; }
	$(BIN)/python -m forge_dev.preview $(XR) $(foreach f,$(REQUIRED),-e $(f))

conformance: $(STAMP) tools ## Real Crossplane as the judge: every example rendered by its engine, every object validated
	$(BIN)/python -m forge_dev.schemas.ensure
	$(BIN)/python -m pytest -q -m conformance

test: lint $(STAMP) tools ## Lint, check generated files, run the whole test suite (conformance included)
	$(BIN)/python -m forge_dev.schemas.ensure
	$(BIN)/python -m forge_dev.generate --check
	$(BIN)/python -m pytest

bench: $(STAMP) ## Benchmark the function against a do-nothing floor (table, goals, bench/results/*.json)
	$(BIN)/python -m bench.run

soak: $(STAMP) ## Hardening tests at 1,000 fuzz examples and 10,000 load requests, then bench --soak
	FORGE_FUZZ_EXAMPLES=1000 FORGE_LOAD_REQUESTS=10000 $(BIN)/python -m pytest -q tests/hardening
	$(BIN)/python -m bench.run --soak

lint: $(STAMP) ## ruff lint and format check
	$(BIN)/ruff check functions devtools tests bench e2e
	$(BIN)/ruff format --check functions devtools tests bench e2e

format: $(STAMP) ## Format and fix lint where ruff can
	$(BIN)/ruff format functions devtools tests bench e2e
	$(BIN)/ruff check --fix functions devtools tests bench e2e

xrds: $(STAMP) ## Regenerate XRDs and Compositions from the spec models
	$(BIN)/python -m forge_dev.generate

schemas: $(STAMP) ## Fill .cache/schemas from the pinned upstream URLs (needs network; make test does it when needed)
	$(BIN)/python -m forge_dev.schemas.fetch

clean: ## Remove the virtual environment and caches
	rm -rf $(VENV) .cache .pytest_cache build dist *.egg-info functions/*.egg-info

# --- Packages: see docs/operations.md --------------------------------------------------
# VERSION defaults to `git describe` (a tag vX.Y.Z is stable, anything else a dev
# pre-release); ARCH is the runtime architecture(s) to build (default both: the image
# build runs nothing for the target architecture, so it needs no emulation);
# REGISTRY defaults to the one in forge/versions.py.
VERSION    ?= $(shell $(BIN)/python -m forge_dev.packaging version)
ARCH       ?= amd64 arm64
REGISTRY   ?=
CROSSPLANE ?= $(TOOLS)/crossplane-cli
HELM       ?= $(TOOLS)/helm
PLAIN_HTTP ?=
PACKAGING   = $(BIN)/python -m forge_dev.packaging --version $(VERSION) \
              $(foreach a,$(ARCH),--arch $(a)) --crossplane $(CROSSPLANE) --helm $(HELM)

packages: $(STAMP) ## Assemble the package contents into build/<package>/ and the gateway-api-crds charts into build/charts/ (needs Go, no Docker or CLI)
	$(PACKAGING) assemble
	$(PACKAGING) chart

image: $(STAMP) ## Build the runtime image of each ARCH into build/runtime-<arch>.tar (no Docker: Debian packages and wheels pinned in image.lock.json); prints digests and sizes
	$(PACKAGING) image

image-lock: $(STAMP) ## Re-resolve the runtime image's Debian packages and wheels into devtools/forge_dev/packaging/image.lock.json (review the diff)
	$(PACKAGING) image-lock

xpkg: $(STAMP) ## Build the xpkgs into dist/: the Function per ARCH (runtime embedded), the Configurations
	@command -v $(CROSSPLANE) >/dev/null 2>&1 || { echo "make xpkg: the crossplane CLI ($(CROSSPLANE)) is not built: run make tools" >&2; exit 1; }
	$(PACKAGING) image
	$(PACKAGING) build

push: $(STAMP) ## Push the charts in build/charts/ to oci://REGISTRY/charts, then the xpkgs in dist/ to REGISTRY (multi-arch Function first, then the Configurations)
	@command -v $(CROSSPLANE) >/dev/null 2>&1 || { echo "make push: the crossplane CLI ($(CROSSPLANE)) is not built: run make tools" >&2; exit 1; }
	@command -v $(HELM) >/dev/null 2>&1 || { echo "make push: helm ($(HELM)) is not built: run make tools" >&2; exit 1; }
	$(PACKAGING) push $(if $(REGISTRY),--registry $(REGISTRY)) $(if $(PLAIN_HTTP),--plain-http)

e2e: ## End-to-end on kind (SKIPs, exit 0, when docker/kind/helm/kubectl/crossplane/network are missing)
	@CROSSPLANE=$(CROSSPLANE) MAKE="$(MAKE)" bash e2e/run.sh

# --- The local end-to-end test: a real control plane as local processes, no Docker -------
# See docs/development.md, "End to end on a local control plane". tools/kube/go.mod pins Kubernetes
# (a wrapper module separate from tools/go.mod, so Crossplane's dependency graph is
# untouched); the binaries are built as Kubernetes' own hack/lib/golang.sh builds them.
.PHONY: kube-tools e2e-local
NODE_TOOLS := $(TOOLS)/kubelet $(TOOLS)/kube-scheduler $(TOOLS)/kube-proxy $(TOOLS)/coredns
KUBE_MODULE  := k8s.io/kubernetes
KUBE_VERSION := $(shell awk '$$1 == "$(KUBE_MODULE)" {print $$2} $$1 == "require" && $$2 == "$(KUBE_MODULE)" {print $$3}' tools/kube/go.mod)
KUBE_LDFLAGS := -s -w -X k8s.io/component-base/version.gitVersion=$(KUBE_VERSION) \
  -X k8s.io/component-base/version.gitMajor=$(word 1,$(subst ., ,$(KUBE_VERSION:v%=%))) \
  -X k8s.io/component-base/version.gitMinor=$(word 2,$(subst ., ,$(KUBE_VERSION))) \
  -X k8s.io/component-base/version.gitTreeState=clean
KUBE_BUILD    = cd tools/kube && CGO_ENABLED=0 $(GO) build -trimpath -tags selinux,notest,grpcnotrace

kube-tools: $(TOOLS)/kube-apiserver $(TOOLS)/kube-controller-manager $(TOOLS)/kubectl $(TOOLS)/etcd $(TOOLS)/forge-e2e-oci $(NODE_TOOLS) $(TOOLS)/provider-kubernetes ## Build the control plane, the node (kubelet, kube-scheduler, CoreDNS), kubectl, etcd, the e2e registry and provider-kubernetes into .cache/tools (needs Go; long the first time)

$(TOOLS)/kube-apiserver: tools/kube/go.mod tools/kube/go.sum
	@command -v $(GO) >/dev/null 2>&1 || { echo "make kube-tools: Go is not installed (see docs/development.md)" >&2; exit 1; }
	@mkdir -p $(TOOLS)
	$(KUBE_BUILD) -ldflags "$(KUBE_LDFLAGS)" -o ../../$@ $(KUBE_MODULE)/cmd/kube-apiserver

$(TOOLS)/kube-controller-manager: tools/kube/go.mod tools/kube/go.sum
	@command -v $(GO) >/dev/null 2>&1 || { echo "make kube-tools: Go is not installed (see docs/development.md)" >&2; exit 1; }
	@mkdir -p $(TOOLS)
	$(KUBE_BUILD) -ldflags "$(KUBE_LDFLAGS)" -o ../../$@ $(KUBE_MODULE)/cmd/kube-controller-manager

# The e2e node: kubelet, kube-scheduler and kube-proxy from the same pin, CoreDNS from its
# own wrapper module (tools/coredns). The sandbox image's pause program is forge-e2e-oci's.

$(TOOLS)/kubelet $(TOOLS)/kube-scheduler $(TOOLS)/kube-proxy: tools/kube/go.mod tools/kube/go.sum
	@command -v $(GO) >/dev/null 2>&1 || { echo "make kube-tools: Go is not installed (see docs/development.md)" >&2; exit 1; }
	@mkdir -p $(TOOLS)
	$(KUBE_BUILD) -ldflags "$(KUBE_LDFLAGS)" -o ../../$@ $(KUBE_MODULE)/cmd/$(notdir $@)

$(TOOLS)/coredns: tools/coredns/go.mod tools/coredns/go.sum tools/coredns/main.go
	@command -v $(GO) >/dev/null 2>&1 || { echo "make kube-tools: Go is not installed (see docs/development.md)" >&2; exit 1; }
	@mkdir -p $(TOOLS)
	cd tools/coredns && CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w" -o ../../$@ .

# kubectl applies the platform's one-time bootstrap/ as a platform team does.
$(TOOLS)/kubectl: tools/kube/go.mod tools/kube/go.sum
	@command -v $(GO) >/dev/null 2>&1 || { echo "make kube-tools: Go is not installed (see docs/development.md)" >&2; exit 1; }
	@mkdir -p $(TOOLS)
	$(KUBE_BUILD) -ldflags "$(KUBE_LDFLAGS)" -o ../../$@ $(KUBE_MODULE)/cmd/kubectl

# etcd at the version k8s.io/kubernetes requires (go.etcd.io/etcd/server/v3 in tools/kube/go.mod),
# through its own server entry point (tools/kube/cmd/etcd).
$(TOOLS)/etcd: tools/kube/go.mod tools/kube/go.sum tools/kube/cmd/etcd/main.go
	@command -v $(GO) >/dev/null 2>&1 || { echo "make kube-tools: Go is not installed (see docs/development.md)" >&2; exit 1; }
	@mkdir -p $(TOOLS)
	cd tools/kube && CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w" -o ../../$@ ./cmd/etcd

# The local registry of e2e-local (its own module, tools/oci).
$(TOOLS)/forge-e2e-oci: tools/oci/go.mod tools/oci/go.sum tools/oci/main.go
	@command -v $(GO) >/dev/null 2>&1 || { echo "make kube-tools: Go is not installed (see docs/development.md)" >&2; exit 1; }
	@mkdir -p $(TOOLS)
	cd tools/oci && CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w" -o ../../$@ .

# The real provider-kubernetes (its own module, tools/provider-kubernetes, pins the release):
# built as its Makefile builds a release (GO_STATIC_PACKAGES cmd/provider, CGO off), its
# version stamped into internal/version. e2e-local packages it as a Provider xpkg.
PK_MODULE := github.com/crossplane-contrib/provider-kubernetes
$(TOOLS)/provider-kubernetes: tools/provider-kubernetes/go.mod tools/provider-kubernetes/go.sum
	@command -v $(GO) >/dev/null 2>&1 || { echo "make kube-tools: Go is not installed (see docs/development.md)" >&2; exit 1; }
	@mkdir -p $(TOOLS)
	cd tools/provider-kubernetes && CGO_ENABLED=0 $(GO) build -trimpath -o ../../$@ \
	  -ldflags "-s -w -X $(PK_MODULE)/internal/version.Version=$$($(GO) list -m -f '{{.Version}}' $(PK_MODULE))" \
	  $(PK_MODULE)/cmd/provider

# SCENARIOS="keda ..." runs only those (python -m forge_dev.e2e_local --list names them).
e2e-local: $(STAMP) tools kube-tools ## End to end on a local control plane (etcd, kube-apiserver, kube-controller-manager, Crossplane; providers played): summary table
	$(BIN)/python -m forge_dev.schemas.ensure
	$(BIN)/python -m forge_dev.e2e_local $(SCENARIOS)
