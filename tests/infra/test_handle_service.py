"""The optional Handle protocol service in AWS: Fargate behind a network load balancer."""

from __future__ import annotations

import json
from typing import Any

from idnode_infra.handle_service import IMAGE, PORT

from .conftest import HANDLE_KEY_SECRET, Synthesised


def _of_type(synthesised: Synthesised, kind: str) -> dict[str, Any]:
    found: dict[str, Any] = synthesised.template.find_resources(kind)
    return found


def test_it_is_off_unless_configured(aws: Synthesised) -> None:
    assert not _of_type(aws, "AWS::ECS::Service")
    assert not _of_type(aws, "AWS::ElasticLoadBalancingV2::LoadBalancer")


def test_one_listener_takes_tcp_and_udp_to_the_tasks(aws_with_service: Synthesised) -> None:
    (balancer,) = _of_type(aws_with_service, "AWS::ElasticLoadBalancingV2::LoadBalancer").values()
    assert balancer["Properties"]["Type"] == "network"
    assert balancer["Properties"]["Scheme"] == "internet-facing"
    (listener,) = _of_type(aws_with_service, "AWS::ElasticLoadBalancingV2::Listener").values()
    assert (listener["Properties"]["Port"], listener["Properties"]["Protocol"]) == (PORT, "TCP_UDP")
    (group,) = _of_type(aws_with_service, "AWS::ElasticLoadBalancingV2::TargetGroup").values()
    assert group["Properties"]["Protocol"] == "TCP_UDP"
    assert group["Properties"]["TargetType"] == "ip"
    (service,) = _of_type(aws_with_service, "AWS::ECS::Service").values()
    assert service["Properties"]["DesiredCount"] == 2
    assert service["Properties"]["LaunchType"] == "FARGATE"


def test_the_task_runs_the_functions_bundle_in_the_public_lambda_image(
    aws_with_service: Synthesised,
) -> None:
    (task,) = _of_type(aws_with_service, "AWS::ECS::TaskDefinition").values()
    (container,) = task["Properties"]["ContainerDefinitions"]
    assert container["Image"] == IMAGE
    assert "handle-server" in container["Command"][0]
    variables = {v["Name"]: v["Value"] for v in container["Environment"]}
    assert {"IDNODE_CODE_BUCKET", "IDNODE_CODE_KEY", "IDNODE_IDENTIFIERS_TABLE"} <= set(variables)
    assert variables["IDNODE_HANDLE_KEY_SECRET"] == HANDLE_KEY_SECRET
    ports = {(m["ContainerPort"], m["Protocol"]) for m in container["PortMappings"]}
    assert ports == {(PORT, "tcp"), (PORT, "udp")}


def test_the_task_may_resolve_and_sign_but_not_write_records(
    aws_with_service: Synthesised,
) -> None:
    (task,) = _of_type(aws_with_service, "AWS::ECS::TaskDefinition").values()
    role = task["Properties"]["TaskRoleArn"]["Fn::GetAtt"][0]
    actions: set[str] = set()
    for policy in _of_type(aws_with_service, "AWS::IAM::Policy").values():
        if {"Ref": role} in policy["Properties"]["Roles"]:
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                found = statement["Action"]
                actions |= set(found if isinstance(found, list) else [found])
    assert "secretsmanager:GetSecretValue" in actions
    assert "dynamodb:GetItem" in actions
    assert not {"dynamodb:PutItem", "dynamodb:DeleteItem"} & actions
    assert "dynamodb:UpdateItem" in actions  # the resolution counters only
    outputs = aws_with_service.template.to_json()["Outputs"]
    assert "HandleServiceAddress" in outputs
    assert json.dumps(outputs["HandleServiceAddress"]["Value"]).count("DNSName") == 1


def test_synth_with_the_service_has_no_unacknowledged_finding(
    aws_with_service: Synthesised,
) -> None:
    (report,) = [
        plugin
        for plugin in aws_with_service.validation_report()["pluginReports"]
        if plugin["pluginName"] == "AwsSolutions"
    ]
    assert report["conclusion"] == "success"
    assert report["violations"] == []
    for acknowledged in report["suppressedViolations"]:
        assert acknowledged["reason"].strip(), acknowledged["ruleName"]
