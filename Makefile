# Catalyst Forge composition functions. `make render` and `make test` are the two
# commands the README names; everything else hangs off them.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help venv render test lint format xrds schemas clean packages image xpkg push e2e bench soak

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | sort

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

venv: $(STAMP) ## Create the virtual environment with every dependency

render: $(STAMP) ## Render every example locally through the real function server
	$(BIN)/python -m forge.render.examples

test: lint $(STAMP) ## Lint, check generated files, run the whole test suite
	$(BIN)/python -m forge.xrdgen --check
	$(BIN)/python -m pytest

bench: $(STAMP) ## Benchmark the function against a do-nothing floor (table, goals, bench/results/*.json)
	$(BIN)/python -m bench.run

soak: $(STAMP) ## Hardening tests at 1,000 fuzz examples and 10,000 load requests, then bench --soak
	FORGE_FUZZ_EXAMPLES=1000 FORGE_LOAD_REQUESTS=10000 $(BIN)/python -m pytest -q tests/test_hardening_*.py
	$(BIN)/python -m bench.run --soak

lint: $(STAMP) ## ruff lint and format check
	$(BIN)/ruff check functions tests bench
	$(BIN)/ruff format --check functions tests bench

format: $(STAMP) ## Format and fix lint where ruff can
	$(BIN)/ruff format functions tests bench
	$(BIN)/ruff check --fix functions tests bench

xrds: $(STAMP) ## Regenerate XRDs and Compositions from the spec models
	$(BIN)/python -m forge.xrdgen

schemas: $(STAMP) ## Fill .cache/schemas from the pinned upstream URLs (needs network)
	$(BIN)/python -m forge.schemas.fetch

clean: ## Remove the virtual environment and caches
	rm -rf $(VENV) .cache .pytest_cache build dist *.egg-info functions/*.egg-info

# --- Packages: see README "Packages" ------------------------------------------------
# VERSION defaults to `git describe` (a tag vX.Y.Z is stable, anything else a dev
# pre-release); ARCH is the runtime architecture(s) to build ("amd64 arm64");
# REGISTRY defaults to the one in forge/versions.py.
VERSION    ?= $(shell $(BIN)/python -m forge.packaging version)
ARCH       ?= $(shell uname -m | sed -e 's/^x86_64$$/amd64/' -e 's/^aarch64$$/arm64/')
REGISTRY   ?=
DOCKER     ?= docker
CROSSPLANE ?= crossplane
IMAGE      ?= function-forge-runtime
PACKAGING   = $(BIN)/python -m forge.packaging --version $(VERSION) \
              $(foreach a,$(ARCH),--arch $(a)) --crossplane $(CROSSPLANE)

packages: $(STAMP) ## Assemble the package contents into build/<package>/ (no Docker or CLI needed)
	$(PACKAGING) assemble

image: $(STAMP) ## Build the runtime image for ARCH into build/runtime-<arch>.tar (needs Docker)
	@command -v $(DOCKER) >/dev/null 2>&1 || { echo "make image: $(DOCKER) is not installed" >&2; exit 1; }
	@$(DOCKER) info >/dev/null 2>&1 || { echo "make image: no Docker engine reachable ('$(DOCKER) info' failed)" >&2; exit 1; }
	@$(DOCKER) buildx version >/dev/null 2>&1 || { echo "make image: docker buildx is not installed" >&2; exit 1; }
	@mkdir -p build
	@set -e; for arch in $(ARCH); do \
	  echo "+ $(IMAGE):$(VERSION)-$$arch -> build/runtime-$$arch.tar"; \
	  $(DOCKER) buildx build --platform linux/$$arch --build-arg VERSION=$(VERSION) \
	    --tag $(IMAGE):$(VERSION)-$$arch --load . ; \
	  $(DOCKER) save --output build/runtime-$$arch.tar $(IMAGE):$(VERSION)-$$arch ; \
	done

xpkg: $(STAMP) ## Build the xpkgs into dist/: the Function per ARCH (runtime embedded), the Configurations
	@command -v $(CROSSPLANE) >/dev/null 2>&1 || { echo "make xpkg: the crossplane CLI ($(CROSSPLANE)) is not installed; see https://docs.crossplane.io/latest/cli/" >&2; exit 1; }
	@$(MAKE) --no-print-directory image VERSION=$(VERSION) ARCH="$(ARCH)"
	$(PACKAGING) build

push: $(STAMP) ## Push the xpkgs in dist/ to REGISTRY (multi-arch Function first, then the Configurations)
	@command -v $(CROSSPLANE) >/dev/null 2>&1 || { echo "make push: the crossplane CLI ($(CROSSPLANE)) is not installed; see https://docs.crossplane.io/latest/cli/" >&2; exit 1; }
	$(PACKAGING) push $(if $(REGISTRY),--registry $(REGISTRY))

e2e: ## End-to-end on kind (SKIPs, exit 0, when docker/kind/helm/kubectl/crossplane/network are missing)
	@CROSSPLANE=$(CROSSPLANE) MAKE="$(MAKE)" bash e2e/run.sh
