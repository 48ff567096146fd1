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
        test-localcloud peer-runtime lint typecheck schema bench synth deploy clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

$(UV):
	python3 -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: $(UV) uv.lock pyproject.toml
	$(UV) sync --frozen --quiet
	@touch $@

install: $(VENV)/.synced  ## create .venv with every dependency group

# The real Handle.Net server and client beside the repository (../shared, as in CI) are the
# peer of the Handle protocol tests; they need these Debian packages at run time.
PEER := ../shared/tools/handle-server
PEER_PACKAGES := openjdk-17-jre-headless libgoogle-gson-java libcommons-codec-java \
	libbcprov-java libbcpkix-java libbcutil-java libservlet-api-java libdb-je-java libjetty9-java
PEER_JARS := gson commons-codec bcprov bcpkix bcutil servlet-api db-je jetty9-server

peer-runtime:  ## install the Handle.Net peer's run-time packages where ../shared exists
	@if [ ! -d $(PEER) ]; then echo "peer-runtime: $(PEER) is absent; its tests will report NOT RUN"; exit 0; fi; \
	missing=$$(command -v java >/dev/null || echo java); \
	for j in $(PEER_JARS); do [ -f /usr/share/java/$$j.jar ] || missing="$$missing $$j"; done; \
	if [ -n "$$missing" ]; then \
	  echo "peer-runtime: installing $(PEER_PACKAGES)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  export DEBIAN_FRONTEND=noninteractive; \
	  $$SUDO apt-get install -y -qq --no-install-recommends $(PEER_PACKAGES) >/dev/null 2>&1 \
	  || { $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq --no-install-recommends $(PEER_PACKAGES) >/dev/null; }; \
	fi

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

test-contract: install peer-runtime
	$(PYTEST) tests/contract

test-infra: install
	$(PYTEST) tests/infra

test-localcloud: install peer-runtime  ## deploys into the local cloud (starts it if needed)
	$(PYTEST) tests/localcloud

test: lint test-unit test-functional test-contract test-infra test-localcloud  ## every tier

bench: install peer-runtime  ## benchmark suite: prints ratios, writes bench/results.json (ARGS=--no-local-cloud skips the latency)
	$(RUN) python -m bench $(ARGS)

synth: install  ## synthesise the CDK app for AWS into infra/cdk/cdk.out (ARGS go to cdk)
	$(RUN) idnode synth $(ARGS)

deploy: install  ## deploy the CDK app to the AWS account in the environment (ARGS go to cdk)
	$(RUN) idnode deploy $(ARGS)

clean:
	rm -rf $(VENV) $(TOOLS) .idnode infra/cdk/cdk.out .pytest_cache .mypy_cache .ruff_cache
