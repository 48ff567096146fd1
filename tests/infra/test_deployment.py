"""Reading the deployment target from CDK context."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk import App, RemovalPolicy

from idnode_infra.deployment import Deployment, DeploymentError


def _from(context: dict[str, Any], env: dict[str, str] | None = None) -> Deployment:
    return Deployment.from_context(App(context=context).node, env or {})


def test_defaults_target_aws_from_the_cli_environment() -> None:
    deployment = _from(
        {}, {"CDK_DEFAULT_ACCOUNT": "123456789012", "CDK_DEFAULT_REGION": "eu-west-1"}
    )
    assert (deployment.stack_name, deployment.node_prefix) == ("idnode", "88.100")
    assert deployment.local is False
    assert deployment.environment.account == "123456789012"
    assert deployment.environment.region == "eu-west-1"
    assert deployment.removal_policy == RemovalPolicy.RETAIN
    assert deployment.deletion_protection is True
    assert deployment.graphiql is False


@pytest.mark.parametrize("flag", ["true", "True", "1", True])
def test_local_uses_the_fixed_local_account(flag: object) -> None:
    deployment = _from({"local": flag}, {"CDK_DEFAULT_ACCOUNT": "123456789012"})
    assert deployment.local is True
    assert deployment.environment.account == "000000000000"
    assert deployment.environment.region == "us-east-1"
    assert deployment.removal_policy == RemovalPolicy.DESTROY
    assert deployment.deletion_protection is False
    assert deployment.graphiql is True


@pytest.mark.parametrize("flag", ["false", "0", "", False])
def test_anything_else_is_not_local(flag: object) -> None:
    assert _from({"local": flag}).local is False


def test_stack_name_and_node_prefix_come_from_context() -> None:
    deployment = _from({"stackName": "idnode-test", "nodePrefix": "88.200"})
    assert (deployment.stack_name, deployment.node_prefix) == ("idnode-test", "88.200")


@pytest.mark.parametrize(
    "context",
    [
        {"nodePrefix": "88..100"},
        {"nodePrefix": "88.100/x"},
        {"stackName": "1stack"},
        {"handleInterfaces": "ftp://127.0.0.1:2641"},
        {"handleInterfaces": "tcp://127.0.0.1"},
    ],
)
def test_invalid_context_is_refused(context: dict[str, Any]) -> None:
    with pytest.raises(DeploymentError):
        _from(context)


def test_handle_interfaces_and_key_secret_come_from_context() -> None:
    deployment = _from(
        {"handleInterfaces": "tcp://192.0.2.1:2641,http://192.0.2.1:80/hdl", "handleKeySecret": "k"}
    )
    assert deployment.handle_interfaces == "tcp://192.0.2.1:2641,http://192.0.2.1:80/hdl"
    assert deployment.handle_key_secret == "k"
