"""Synthesise the stack once per variant and share the result across the infrastructure tests.

Bundling is skipped (`aws:cdk:bundling-stacks` = []): these tests check the template, not the
code asset, and stay fast and offline.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
HANDLE_INTERFACES = "https://hdl.example.org:443/hdl"
HANDLE_KEY_SECRET = "idnode/handle-key"

# Must be set before the jsii runtime starts, i.e. before the first aws_cdk import.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault(
    "JSII_RUNTIME_PACKAGE_CACHE_ROOT", str(REPOSITORY_ROOT / ".idnode" / "jsii-cache")
)

from aws_cdk import App  # noqa: E402
from aws_cdk.assertions import Template  # noqa: E402
from aws_cdk.cx_api import CloudAssembly  # noqa: E402

from idnode_infra.deployment import Deployment  # noqa: E402
from idnode_infra.stack import IdnodeStack  # noqa: E402


@dataclass(frozen=True)
class Synthesised:
    """One synthesised stack: the construct, its template and its cloud assembly."""

    stack: IdnodeStack
    template: Template
    assembly: CloudAssembly

    @property
    def resources(self) -> dict[str, Any]:
        """Resources of the template, by logical id."""
        resources: dict[str, Any] = self.template.to_json()["Resources"]
        return resources

    def validation_report(self) -> dict[str, Any]:
        """The policy validation report written next to the template (cdk-nag findings)."""
        report: dict[str, Any] = json.loads(
            (Path(self.assembly.directory) / "validation-report.json").read_text()
        )
        return report


def _synthesise(outdir: Path, deployment: Deployment) -> Synthesised:
    app = App(outdir=str(outdir), context={"aws:cdk:bundling-stacks": []})
    stack = IdnodeStack(app, deployment)
    # One synth; Template.from_stack would synthesise again for every template.
    assembly = app.synth()
    artifact = assembly.get_stack_artifact(stack.artifact_id)
    return Synthesised(stack, Template.from_json(artifact.template), assembly)


@pytest.fixture(scope="session")
def aws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synthesised]:
    """The stack as deployed to AWS (environment-agnostic, no CDK_DEFAULT_* needed), with the
    Handle protocol's HTTP interface published and a signing key in Secrets Manager."""
    deployment = Deployment(
        stack_name="idnode",
        handle_interfaces=HANDLE_INTERFACES,
        handle_key_secret=HANDLE_KEY_SECRET,
    )
    yield _synthesise(tmp_path_factory.mktemp("cdk-aws"), deployment)


@pytest.fixture(scope="session")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synthesised]:
    """The stack as deployed to the local cloud."""
    deployment = Deployment(
        stack_name="idnode-local",
        local=True,
        account="000000000000",
        region="us-east-1",
    )
    yield _synthesise(tmp_path_factory.mktemp("cdk-local"), deployment)


@pytest.fixture(scope="session")
def aws_with_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synthesised]:
    """The AWS stack with the Handle protocol's TCP/UDP service (`handleService=true`)."""
    deployment = Deployment(
        stack_name="idnode",
        handle_interfaces=HANDLE_INTERFACES,
        handle_key_secret=HANDLE_KEY_SECRET,
        handle_service=True,
    )
    yield _synthesise(tmp_path_factory.mktemp("cdk-aws-service"), deployment)
