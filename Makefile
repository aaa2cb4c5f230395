# Catalyst Forge composition functions. `make render` and `make test` are the two
# commands the README names; everything else hangs off them.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help venv render test lint format xrds schemas clean

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

lint: $(STAMP) ## ruff lint and format check
	$(BIN)/ruff check functions tests
	$(BIN)/ruff format --check functions tests

format: $(STAMP) ## Format and fix lint where ruff can
	$(BIN)/ruff format functions tests
	$(BIN)/ruff check --fix functions tests

xrds: $(STAMP) ## Regenerate XRDs and Compositions from the spec models
	$(BIN)/python -m forge.xrdgen

schemas: $(STAMP) ## Fill .cache/schemas from the pinned upstream URLs (needs network)
	$(BIN)/python -m forge.schemas.fetch

clean: ## Remove the virtual environment and caches
	rm -rf $(VENV) .cache .pytest_cache build *.egg-info functions/*.egg-info
