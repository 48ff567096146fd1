# Every target installs what it needs: uv into .tools/, the project into .venv/.
SHELL := /bin/bash
.DEFAULT_GOAL := help

UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
PY := $(VENV)/bin/python
RUN := $(UV) run --frozen --no-sync
PYTEST := $(RUN) pytest

.PHONY: help install run down serve test test-unit test-functional test-contract test-infra \
        test-localcloud lint typecheck schema bench synth deploy clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

$(UV):
	python3 -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: $(UV) uv.lock pyproject.toml
	$(UV) sync --frozen --quiet
	@touch $@

install: $(VENV)/.synced  ## create .venv with every dependency group

run: install  ## start the local cloud, deploy, seed the demo node and serve until Ctrl-C
	$(RUN) idnode up

down: install  ## stop what `make run` / `idnode up --detach` started
	$(RUN) idnode down

serve: install  ## serve the GraphQL and Handle APIs in-process against the configured endpoint
	$(RUN) idnode serve

lint: install  ## ruff and mypy
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy

typecheck: install
	$(RUN) mypy

schema: install  ## re-export graphql/schema.graphql from the code
	$(RUN) idnode schema --output graphql/schema.graphql

test-unit: install
	$(PYTEST) tests/unit

test-functional: install
	$(PYTEST) tests/functional

test-contract: install
	$(PYTEST) tests/contract

test-infra: install
	$(PYTEST) tests/infra

test-localcloud: install  ## deploys into the local cloud (starts it if needed)
	$(PYTEST) tests/localcloud

test: lint test-unit test-functional test-contract test-infra test-localcloud  ## every tier

bench: install  ## benchmark suite: prints ratios, writes bench/results.json (ARGS=--no-local-cloud skips the latency)
	$(RUN) python -m bench $(ARGS)

synth: install  ## synthesise the CDK app for AWS into infra/cdk/cdk.out (ARGS go to cdk)
	$(RUN) idnode synth $(ARGS)

deploy: install  ## deploy the CDK app to the AWS account in the environment (ARGS go to cdk)
	$(RUN) idnode deploy $(ARGS)

clean:
	rm -rf $(VENV) $(TOOLS) .idnode infra/cdk/cdk.out .pytest_cache .mypy_cache .ruff_cache
