"""Where and how the stack is deployed, read once from CDK context."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from aws_cdk import Environment, RemovalPolicy
from constructs import Node

from idnode.domain.errors import InvalidValueError
from idnode.domain.protocol.site import parse_interfaces

DEFAULT_STACK_NAME = "idnode"
DEFAULT_NODE_PREFIX = "88.100"

# The local cloud accepts any account; cdklocal bootstraps this one.
LOCAL_ENVIRONMENT = Environment(account="000000000000", region="us-east-1")

_PREFIX_RE = re.compile(r"^[0-9A-Za-z]+(\.[0-9A-Za-z]+)*$")
_STACK_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,127}$")


class DeploymentError(ValueError):
    """The CDK context does not describe a usable deployment."""


def _as_flag(value: object) -> bool:
    # `-c local=true` arrives as a string, CDK_CONTEXT_JSON may carry a real boolean.
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in {"1", "true", "yes"}


@dataclass(frozen=True, slots=True)
class Deployment:
    """Choices that differ between AWS and the local cloud."""

    stack_name: str = DEFAULT_STACK_NAME
    node_prefix: str = DEFAULT_NODE_PREFIX
    local: bool = False
    account: str | None = None
    region: str | None = None
    # The node's Handle protocol interfaces as its site information publishes them (see
    # docs/handle-protocol.md), and the Secrets Manager secret (name) holding its signing key.
    handle_interfaces: str = ""
    handle_key_secret: str = ""
    # The local cloud only: the key as a file on this machine (its functions run here).
    handle_key_file: str = ""
    # The Handle protocol over TCP/UDP as a Fargate service behind a network load balancer.
    handle_service: bool = False

    def __post_init__(self) -> None:
        if not _PREFIX_RE.match(self.node_prefix):
            raise DeploymentError(f"nodePrefix is not a dotted prefix: {self.node_prefix!r}")
        if not _STACK_NAME_RE.match(self.stack_name):
            raise DeploymentError(f"stackName is not a valid stack name: {self.stack_name!r}")
        if self.handle_key_file and not self.local:
            raise DeploymentError(
                "handleKeyFile is for the local cloud: on AWS use handleKeySecret"
            )
        if self.handle_service and self.local:
            raise DeploymentError("handleService is for AWS: `idnode up` runs the server locally")
        try:
            parse_interfaces(self.handle_interfaces)
        except InvalidValueError as exc:
            raise DeploymentError(f"handleInterfaces: {exc.message}") from None

    @classmethod
    def from_context(cls, node: Node, env: Mapping[str, str] | None = None) -> Deployment:
        """Read `local`, `stackName`, `nodePrefix`, `handleInterfaces`, `handleKeySecret`,
        `handleKeyFile` and `handleService` from context; the AWS target from the variables
        the CDK CLI sets (CDK_DEFAULT_ACCOUNT, CDK_DEFAULT_REGION)."""
        env = os.environ if env is None else env
        local = _as_flag(node.try_get_context("local") or False)
        return cls(
            stack_name=str(node.try_get_context("stackName") or DEFAULT_STACK_NAME),
            node_prefix=str(node.try_get_context("nodePrefix") or DEFAULT_NODE_PREFIX),
            local=local,
            handle_interfaces=str(node.try_get_context("handleInterfaces") or ""),
            handle_key_secret=str(node.try_get_context("handleKeySecret") or ""),
            handle_key_file=str(node.try_get_context("handleKeyFile") or ""),
            handle_service=_as_flag(node.try_get_context("handleService") or False),
            account=None if local else env.get("CDK_DEFAULT_ACCOUNT") or None,
            region=None if local else env.get("CDK_DEFAULT_REGION") or None,
        )

    @property
    def environment(self) -> Environment:
        """Target account and region (unset fields leave the stack environment-agnostic)."""
        if self.local:
            return LOCAL_ENVIRONMENT
        return Environment(account=self.account, region=self.region)

    @property
    def graphiql(self) -> bool:
        """The in-browser GraphQL IDE helps local development; production exposes no tooling."""
        return self.local

    @property
    def removal_policy(self) -> RemovalPolicy:
        """Stateful resources outlive the stack on AWS; the local cloud is disposable."""
        return RemovalPolicy.DESTROY if self.local else RemovalPolicy.RETAIN

    @property
    def deletion_protection(self) -> bool:
        """Guard production data against an accidental delete; never block local teardown."""
        return not self.local
