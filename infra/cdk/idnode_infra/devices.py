"""Device access on AWS IoT Core: the device policy, the topic rules of `iot_rules/` and the
dead-letter queue that keeps whatever the node could not take from a device."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import Aws, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_iot as iot
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from idnode_infra.bundling import REPOSITORY_ROOT

RULES_DIRECTORY = REPOSITORY_ROOT / "iot_rules"
# The names a rule document may use for its target and its error action.
FUNCTIONS = ("device-events",)
ERROR_ACTIONS = ("dead-letters",)
_RULE_NAME = re.compile(r"^[A-Za-z0-9_]{1,128}$")
_RULE_FIELDS = ("name", "description", "sql", "sqlVersion", "function", "errorAction")

# IoT Core policy variables: a device's certificate is attached to its thing, and it connects
# with the thing's name as client id, so each statement narrows to the device's own topics.
THING = "${iot:Connection.Thing.ThingName}"
DEVICE_TOPICS = f"idnode/devices/{THING}"
SHADOW_TOPICS = f"$aws/things/{THING}/shadow"

# A message the node could not take is kept this long for an operator to look at or replay.
DEAD_LETTER_RETENTION = Duration.days(14)
# Lambda retries an asynchronous invocation twice; an event older than this is given up on.
MAX_EVENT_AGE = Duration.hours(6)


class RuleDefinitionError(ValueError):
    """A document in iot_rules/ does not describe a usable rule."""


@dataclass(frozen=True)
class RuleDefinition:
    """One topic rule, as `iot_rules/<file>.json` defines it."""

    name: str
    description: str
    sql: str
    sql_version: str
    function: str
    error_action: str
    source: Path

    @classmethod
    def read(cls, path: Path) -> RuleDefinition:
        document: Any = json.loads(path.read_text())
        if not isinstance(document, dict):
            raise RuleDefinitionError(f"{path.name}: a rule is a JSON object")
        missing = [field for field in _RULE_FIELDS if not isinstance(document.get(field), str)]
        if missing:
            raise RuleDefinitionError(f"{path.name}: missing or not a string: {missing}")
        unknown = sorted(set(document) - set(_RULE_FIELDS))
        if unknown:
            raise RuleDefinitionError(f"{path.name}: unknown fields {unknown}")
        if not _RULE_NAME.match(document["name"]):
            raise RuleDefinitionError(f"{path.name}: name must be letters, digits, underscores")
        if document["function"] not in FUNCTIONS:
            raise RuleDefinitionError(f"{path.name}: function must be one of {FUNCTIONS}")
        if document["errorAction"] not in ERROR_ACTIONS:
            raise RuleDefinitionError(f"{path.name}: errorAction must be one of {ERROR_ACTIONS}")
        return cls(
            name=document["name"],
            description=document["description"],
            sql=document["sql"],
            sql_version=document["sqlVersion"],
            function=document["function"],
            error_action=document["errorAction"],
            source=path,
        )


def load_rules(directory: Path = RULES_DIRECTORY) -> list[RuleDefinition]:
    """Every rule document of `directory` (sample events live in its subfolder)."""
    rules = [RuleDefinition.read(path) for path in sorted(directory.glob("*.json"))]
    names = [rule.name for rule in rules]
    if len(set(names)) != len(names):
        raise RuleDefinitionError(f"rule names repeat: {names}")
    return rules


def device_policy_document() -> dict[str, Any]:
    """What a device certificate allows: connect as its own thing, publish its telemetry and
    command answers, take its commands, and use its own shadow. Nothing else."""
    prefix = f"arn:{Aws.PARTITION}:iot:{Aws.REGION}:{Aws.ACCOUNT_ID}"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "iot:Connect",
                "Resource": f"{prefix}:client/{THING}",
                "Condition": {"Bool": {"iot:Connection.Thing.IsAttached": "true"}},
            },
            {
                "Effect": "Allow",
                "Action": "iot:Publish",
                "Resource": [
                    f"{prefix}:topic/{DEVICE_TOPICS}/telemetry",
                    f"{prefix}:topic/{DEVICE_TOPICS}/responses/*",
                    f"{prefix}:topic/{SHADOW_TOPICS}/update",
                    f"{prefix}:topic/{SHADOW_TOPICS}/get",
                ],
            },
            {
                "Effect": "Allow",
                "Action": "iot:Subscribe",
                "Resource": [
                    f"{prefix}:topicfilter/{DEVICE_TOPICS}/commands/+",
                    f"{prefix}:topicfilter/{SHADOW_TOPICS}/update/*",
                    f"{prefix}:topicfilter/{SHADOW_TOPICS}/get/*",
                ],
            },
            {
                "Effect": "Allow",
                "Action": "iot:Receive",
                "Resource": [
                    f"{prefix}:topic/{DEVICE_TOPICS}/commands/*",
                    f"{prefix}:topic/{SHADOW_TOPICS}/update/*",
                    f"{prefix}:topic/{SHADOW_TOPICS}/get/*",
                ],
            },
        ],
    }


class Devices(Construct):
    """The device policy and dead-letter queue (needed by every function's settings), then
    `route()` the topic rules to the function that processes device events."""

    def __init__(self, scope: Construct, construct_id: str, *, removal_policy: RemovalPolicy):
        super().__init__(scope, construct_id)
        self.dead_letters = sqs.Queue(
            self,
            "DeadLetters",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=DEAD_LETTER_RETENTION,
            removal_policy=removal_policy,
        )
        self.policy_name = f"{Stack.of(self).stack_name}-device"
        self.device_policy = iot.CfnPolicy(
            self,
            "DevicePolicy",
            policy_name=self.policy_name,
            policy_document=device_policy_document(),
        )
        # IoT Core's role for the rules' error action: it may only add to the dead letters.
        self.rule_role = iam.Role(
            self,
            "RuleErrorRole",
            assumed_by=iam.ServicePrincipal("iot.amazonaws.com"),
            description="Lets IoT topic rules put undeliverable device messages in dead letters",
        )
        self.dead_letters.grant_send_messages(self.rule_role)
        self.rules: dict[str, iot.CfnTopicRule] = {}

    def route(self, events_function: lambda_.Function, rules: list[RuleDefinition]) -> None:
        """Create each rule, invoking `events_function`; what the function cannot process after
        Lambda's retries goes to the dead letters too."""
        events_function.configure_async_invoke(
            on_failure=destinations.SqsDestination(self.dead_letters),
            retry_attempts=2,
            max_event_age=MAX_EVENT_AGE,
        )
        self.dead_letters.grant_send_messages(events_function)
        for rule in rules:
            self.rules[rule.name] = self._rule(rule, events_function)

    def _rule(self, rule: RuleDefinition, function: lambda_.Function) -> iot.CfnTopicRule:
        construct_id = "".join(part.capitalize() for part in rule.name.split("_")) + "Rule"
        topic_rule = iot.CfnTopicRule(
            self,
            construct_id,
            rule_name=rule.name,
            topic_rule_payload=iot.CfnTopicRule.TopicRulePayloadProperty(
                description=rule.description,
                sql=rule.sql,
                aws_iot_sql_version=rule.sql_version,
                rule_disabled=False,
                actions=[
                    iot.CfnTopicRule.ActionProperty(
                        lambda_=iot.CfnTopicRule.LambdaActionProperty(
                            function_arn=function.function_arn
                        )
                    )
                ],
                error_action=iot.CfnTopicRule.ActionProperty(
                    sqs=iot.CfnTopicRule.SqsActionProperty(
                        queue_url=self.dead_letters.queue_url,
                        role_arn=self.rule_role.role_arn,
                        use_base64=False,
                    )
                ),
            ),
        )
        # Only this rule may invoke the function through this permission.
        function.add_permission(
            f"{construct_id}Invoke",
            principal=iam.ServicePrincipal("iot.amazonaws.com"),
            source_arn=topic_rule.attr_arn,
            source_account=Aws.ACCOUNT_ID,
        )
        return topic_rule
