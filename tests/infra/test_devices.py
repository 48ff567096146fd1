"""Device access in the template: the device policy's scoping, the topic rules of iot_rules/,
their permissions and error path, the dead letters and what each function may do with devices."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from idnode_infra.devices import (
    RULES_DIRECTORY,
    THING,
    RuleDefinitionError,
    load_rules,
)

from .conftest import Synthesised
from .test_template import (
    HANDLERS,
    WRITE_ACTIONS,
    _dynamodb_grants,
    _function_id,
    _of_type,
    _role_statements,
    _table_id,
)

RULES = load_rules()


def _policy_statements(synthesised: Synthesised, function_id: str) -> list[dict[str, Any]]:
    return _role_statements(synthesised, function_id)


def _actions(statement: dict[str, Any]) -> set[str]:
    actions = statement["Action"]
    return {actions} if isinstance(actions, str) else set(actions)


def _text(value: Any) -> str:
    """A resource, with CloudFormation joins flattened to the text they produce."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(_text(part) for part in parts)
    if isinstance(value, dict) and "Ref" in value:
        return f"<{value['Ref']}>"
    return json.dumps(value)


def _iot_actions(synthesised: Synthesised, handler: str) -> dict[str, set[str]]:
    """IoT actions the function may perform, each with the resources it may perform them on."""
    granted: dict[str, set[str]] = {}
    for statement in _policy_statements(synthesised, _function_id(synthesised, handler)):
        resources = statement["Resource"]
        resources = resources if isinstance(resources, list) else [resources]
        for action in _actions(statement):
            if action.startswith("iot:"):
                granted.setdefault(action, set()).update(_text(r) for r in resources)
    return granted


def _device_policy(synthesised: Synthesised) -> dict[str, Any]:
    (policy,) = _of_type(synthesised, "AWS::IoT::Policy").values()
    document: dict[str, Any] = policy["Properties"]["PolicyDocument"]
    return document


# --- the device policy ----------------------------------------------------------------------


def test_a_device_connects_only_as_its_own_attached_thing(aws: Synthesised) -> None:
    (connect,) = [s for s in _device_policy(aws)["Statement"] if s["Action"] == "iot:Connect"]
    assert _text(connect["Resource"]).endswith(f":client/{THING}")
    assert connect["Condition"] == {"Bool": {"iot:Connection.Thing.IsAttached": "true"}}


def test_every_topic_a_device_may_use_is_its_own(aws: Synthesised) -> None:
    statements = _device_policy(aws)["Statement"]
    assert {s["Action"] for s in statements} == {
        "iot:Connect",
        "iot:Publish",
        "iot:Subscribe",
        "iot:Receive",
    }
    for statement in statements:
        assert statement["Effect"] == "Allow"
        resources = statement["Resource"]
        for resource in resources if isinstance(resources, list) else [resources]:
            text = _text(resource)
            # The thing name follows the topic root at once: no wildcard reaches another device.
            assert (
                f"idnode/devices/{THING}/" in text
                or f"$aws/things/{THING}/shadow/" in text
                or text.endswith(f"client/{THING}")
            ), text
            assert "idnode/devices/*" not in text and "idnode/devices/+" not in text


def test_a_device_publishes_telemetry_and_answers_and_receives_only_commands(
    aws: Synthesised,
) -> None:
    by_action = {
        s["Action"]: [_text(r) for r in s["Resource"]]
        for s in _device_policy(aws)["Statement"]
        if isinstance(s["Resource"], list)
    }
    published = {r.split(":topic/")[1] for r in by_action["iot:Publish"]}
    assert published == {
        f"idnode/devices/{THING}/telemetry",
        f"idnode/devices/{THING}/responses/*",
        f"$aws/things/{THING}/shadow/update",
        f"$aws/things/{THING}/shadow/get",
    }
    subscribed = {r.split(":topicfilter/")[1] for r in by_action["iot:Subscribe"]}
    assert f"idnode/devices/{THING}/commands/+" in subscribed
    assert not any("telemetry" in topic for topic in subscribed)


def test_functions_are_told_the_device_policy_and_dead_letters(aws: Synthesised) -> None:
    (policy_id,) = _of_type(aws, "AWS::IoT::Policy")
    policy_name = aws.resources[policy_id]["Properties"]["PolicyName"]
    (queue_id,) = _of_type(aws, "AWS::SQS::Queue")
    for handler in HANDLERS.values():
        variables = aws.resources[_function_id(aws, handler)]["Properties"]["Environment"][
            "Variables"
        ]
        assert variables["IDNODE_DEVICE_POLICY"] == policy_name
        assert variables["IDNODE_DEAD_LETTER_QUEUE_URL"] == {"Ref": queue_id}


# --- topic rules ----------------------------------------------------------------------------


def test_every_rule_document_becomes_one_topic_rule(aws: Synthesised) -> None:
    rules = {
        rule["Properties"]["RuleName"]: rule["Properties"]["TopicRulePayload"]
        for rule in _of_type(aws, "AWS::IoT::TopicRule").values()
    }
    assert set(rules) == {rule.name for rule in RULES}
    assert len(RULES) == 3
    for definition in RULES:
        payload = rules[definition.name]
        assert payload["Sql"] == definition.sql
        assert payload["AwsIotSqlVersion"] == definition.sql_version
        assert payload["RuleDisabled"] is False


def test_rules_invoke_the_device_events_function_and_fail_into_the_dead_letters(
    aws: Synthesised,
) -> None:
    function_id = _function_id(aws, HANDLERS["device_events"])
    (queue_id,) = _of_type(aws, "AWS::SQS::Queue")
    for rule in _of_type(aws, "AWS::IoT::TopicRule").values():
        payload = rule["Properties"]["TopicRulePayload"]
        (action,) = payload["Actions"]
        assert action["Lambda"]["FunctionArn"] == {"Fn::GetAtt": [function_id, "Arn"]}
        error = payload["ErrorAction"]["Sqs"]
        assert error["QueueUrl"] == {"Ref": queue_id}
        role_id = error["RoleArn"]["Fn::GetAtt"][0]
        role = aws.resources[role_id]["Properties"]
        assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
            "Service": "iot.amazonaws.com"
        }


def test_each_rule_may_invoke_the_function_through_its_own_permission(aws: Synthesised) -> None:
    function_id = _function_id(aws, HANDLERS["device_events"])
    rule_ids = set(_of_type(aws, "AWS::IoT::TopicRule"))
    permissions = [
        p["Properties"]
        for p in _of_type(aws, "AWS::Lambda::Permission").values()
        if p["Properties"]["Principal"] == "iot.amazonaws.com"
    ]
    assert len(permissions) == len(rule_ids)
    scoped = set()
    for permission in permissions:
        assert permission["FunctionName"] == {"Fn::GetAtt": [function_id, "Arn"]}
        assert permission["SourceAccount"] == {"Ref": "AWS::AccountId"}
        scoped.add(permission["SourceArn"]["Fn::GetAtt"][0])
    assert scoped == rule_ids


def test_failed_invocations_end_in_the_dead_letters(aws: Synthesised) -> None:
    function_id = _function_id(aws, HANDLERS["device_events"])
    (queue_id,) = _of_type(aws, "AWS::SQS::Queue")
    (config,) = _of_type(aws, "AWS::Lambda::EventInvokeConfig").values()
    props = config["Properties"]
    assert props["FunctionName"] == {"Ref": function_id}
    assert props["MaximumRetryAttempts"] == 2
    destination = props["DestinationConfig"]["OnFailure"]["Destination"]
    assert destination == {"Fn::GetAtt": [queue_id, "Arn"]}


def test_the_dead_letters_are_encrypted_kept_and_reachable_over_tls_only(aws: Synthesised) -> None:
    (queue,) = _of_type(aws, "AWS::SQS::Queue").values()
    assert queue["Properties"]["SqsManagedSseEnabled"] is True
    assert queue["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600
    (policy,) = _of_type(aws, "AWS::SQS::QueuePolicy").values()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for s in statements
    )


# --- what each function may do ----------------------------------------------------------------


def test_the_graphql_function_provisions_devices_with_the_device_policy_only(
    aws: Synthesised,
) -> None:
    granted = _iot_actions(aws, HANDLERS["graphql"])
    assert {
        "iot:CreateThing",
        "iot:CreateCertificateFromCsr",
        "iot:AttachPolicy",
        "iot:AttachThingPrincipal",
        "iot:UpdateCertificate",
        "iot:Publish",
        "iot:UpdateThingShadow",
        "iot:GetThingShadow",
        "iot:DescribeEndpoint",
    } <= granted.keys()
    # Only what takes no resource is granted on '*'.
    for action, resources in granted.items():
        if "*" in resources:
            assert action in {"iot:CreateCertificateFromCsr", "iot:DescribeEndpoint"}, action
    assert any(r.endswith("-device") for r in granted["iot:AttachPolicy"] if ":policy/" in r)
    assert {r.split(":topic/")[1] for r in granted["iot:Publish"]} == {
        "idnode/devices/*/commands/*"
    }


def test_the_device_events_function_writes_telemetry_and_never_reads_it(
    aws: Synthesised,
) -> None:
    grants = _dynamodb_grants(aws, _function_id(aws, HANDLERS["device_events"]))
    assert grants[_table_id(aws, "telemetry_table")] == {"dynamodb:PutItem"}
    assert grants[_table_id(aws, "operations_table")] == {"dynamodb:PutItem"}
    assert grants[_table_id(aws, "devices_table")] >= WRITE_ACTIONS
    assert not WRITE_ACTIONS & grants[_table_id(aws, "profiles_table")]
    assert _table_id(aws, "credentials_table") not in grants
    assert _table_id(aws, "members_table") not in grants
    assert _iot_actions(aws, HANDLERS["device_events"]) == {}


def test_only_the_device_events_function_may_send_to_the_dead_letters_besides_iot(
    aws: Synthesised,
) -> None:
    (queue_id,) = _of_type(aws, "AWS::SQS::Queue")
    senders = set()
    for handler_name, handler in HANDLERS.items():
        for statement in _policy_statements(aws, _function_id(aws, handler)):
            if "sqs:SendMessage" in _actions(statement):
                assert statement["Resource"] == {"Fn::GetAtt": [queue_id, "Arn"]}
                senders.add(handler_name)
    assert senders == {"device_events"}


def test_telemetry_and_commands_expire_and_are_keyed_for_their_queries(aws: Synthesised) -> None:
    telemetry = aws.resources[_table_id(aws, "telemetry_table")]["Properties"]
    assert telemetry["TimeToLiveSpecification"] == {"AttributeName": "expires", "Enabled": True}
    assert {"AttributeName": "at", "AttributeType": "N"} in telemetry["AttributeDefinitions"]
    commands = aws.resources[_table_id(aws, "commands_table")]["Properties"]
    assert commands["TimeToLiveSpecification"] == {"AttributeName": "expires", "Enabled": True}
    alarms = aws.resources[_table_id(aws, "alarms_table")]["Properties"]
    assert {index["IndexName"] for index in alarms["GlobalSecondaryIndexes"]} == {
        "byEnterprise",
        "byDevice",
    }


# --- the rule documents ---------------------------------------------------------------------


def test_every_rule_routes_on_its_kind_and_has_a_sample_event() -> None:
    kinds = set()
    for rule in RULES:
        assert rule.sql.startswith("SELECT '"), rule.name
        kind = rule.sql.split("'")[1]
        kinds.add(kind)
        sample = json.loads((RULES_DIRECTORY / "samples" / rule.source.name).read_text())
        assert sample["event"]["kind"] == kind
    assert kinds == {"telemetry", "response", "presence"}


@pytest.mark.parametrize(
    ("document", "complaint"),
    [
        ("[]", "JSON object"),
        ('{"name": "x"}', "missing"),
        (
            '{"name": "bad-name", "description": "", "sql": "", "sqlVersion": "", '
            '"function": "device-events", "errorAction": "dead-letters"}',
            "letters, digits",
        ),
        (
            '{"name": "ok", "description": "", "sql": "", "sqlVersion": "", '
            '"function": "elsewhere", "errorAction": "dead-letters"}',
            "function must be",
        ),
        (
            '{"name": "ok", "description": "", "sql": "", "sqlVersion": "", '
            '"function": "device-events", "errorAction": "dead-letters", "extra": ""}',
            "unknown fields",
        ),
    ],
)
def test_a_bad_rule_document_is_refused_by_name(
    tmp_path: Path, document: str, complaint: str
) -> None:
    (tmp_path / "rule.json").write_text(document)
    with pytest.raises(RuleDefinitionError, match=complaint):
        load_rules(tmp_path)
