"""The synthesised CloudFormation template: tables, API, functions, permissions, users, outputs."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match
from pynamodb.models import Model

from idnode import settings
from idnode.cli.gateway import DEFAULT_ROUTES
from idnode.cli.localcloud import REQUIRED_OUTPUTS
from idnode.store.device_models import (
    AlarmModel,
    CommandModel,
    DeviceModel,
    ProfileModel,
    TelemetryModel,
)
from idnode.store.metadata_models import CodeModel, KeyModel, TemplateModel
from idnode.store.models import (
    ApplicationModel,
    CounterModel,
    CredentialModel,
    EnterpriseModel,
    IdentifierModel,
    MemberModel,
    OperationModel,
    ParameterModel,
    PrefixModel,
    SequenceModel,
)
from idnode_infra.auth import ROLES

from .conftest import HANDLE_INTERFACES, HANDLE_KEY_SECRET, Synthesised

# What the local cloud reads from the stack, plus what operators read after a deploy.
OUTPUT_KEYS = {*REQUIRED_OUTPUTS, "GraphqlUrl", "HandleApiUrl", "Region"}
SETTINGS_VARIABLES = {
    *settings.TABLES.values(),
    settings.NODE_PREFIX,
    settings.USER_POOL_ID,
    settings.USER_POOL_CLIENT_ID,
    settings.GRAPHIQL,
    settings.MAX_BODY_BYTES,
    settings.REQUIRE_MFA,
    settings.METER_FLUSH_SECONDS,
    settings.DEVICE_POLICY,
    settings.DEAD_LETTER_QUEUE_URL,
}
# Each model and the Settings attribute naming its table.
MODELS: dict[type[Model], str] = {
    IdentifierModel: "identifiers_table",
    PrefixModel: "prefixes_table",
    CredentialModel: "credentials_table",
    EnterpriseModel: "enterprises_table",
    ApplicationModel: "applications_table",
    MemberModel: "members_table",
    OperationModel: "operations_table",
    CounterModel: "statistics_table",
    ParameterModel: "parameters_table",
    SequenceModel: "parameters_table",
    DeviceModel: "devices_table",
    ProfileModel: "profiles_table",
    TelemetryModel: "telemetry_table",
    AlarmModel: "alarms_table",
    CommandModel: "commands_table",
    TemplateModel: "templates_table",
    KeyModel: "keys_table",
    CodeModel: "codes_table",
}
HANDLERS = {
    "graphql": "idnode.handlers.graphql.handler",
    "handles": "idnode.handlers.handles.handler",
    "device_events": "idnode.handlers.device_events.handler",
    "health": "idnode.handlers.health.handler",
}
WRITE_ACTIONS = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}


def _of_type(synthesised: Synthesised, resource_type: str) -> dict[str, Any]:
    return {
        logical_id: resource
        for logical_id, resource in synthesised.resources.items()
        if resource["Type"] == resource_type
    }


def _table_id(synthesised: Synthesised, attribute: str) -> str:
    """The logical id of the table the Settings attribute (e.g. `prefixes_table`) names,
    found through the stack output that publishes its name."""
    output = synthesised.template.to_json()["Outputs"][settings.table_output(attribute)]
    return str(output["Value"]["Ref"])


def _function_id(synthesised: Synthesised, handler: str) -> str:
    functions = _of_type(synthesised, "AWS::Lambda::Function")
    (found,) = [
        logical_id
        for logical_id, function in functions.items()
        if function["Properties"]["Handler"] == handler
    ]
    return found


def _dynamodb_grants(synthesised: Synthesised, function_id: str) -> dict[str, set[str]]:
    """For one function: DynamoDB actions allowed on each table (by logical id)."""
    grants: dict[str, set[str]] = {}
    for statement in _role_statements(synthesised, function_id):
        actions = statement["Action"]
        actions = {actions} if isinstance(actions, str) else set(actions)
        if not any(action.startswith("dynamodb:") for action in actions):
            continue
        resources = statement["Resource"]
        for resource in resources if isinstance(resources, list) else [resources]:
            assert resource != "*", f"DynamoDB actions on '*' for {function_id}"
            grants.setdefault(_table_of(resource), set()).update(actions)
    return grants


def _policies(synthesised: Synthesised) -> list[dict[str, Any]]:
    """Inline policies and the managed ones CDK creates when a role's inline policy overflows."""
    return [
        *_of_type(synthesised, "AWS::IAM::Policy").values(),
        *_of_type(synthesised, "AWS::IAM::ManagedPolicy").values(),
    ]


def _role_statements(synthesised: Synthesised, function_id: str) -> list[dict[str, Any]]:
    """Every policy statement of one function's role."""
    role_id = synthesised.resources[function_id]["Properties"]["Role"]["Fn::GetAtt"][0]
    return [
        statement
        for policy in _policies(synthesised)
        if {"Ref": role_id} in policy["Properties"].get("Roles", [])
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def _table_of(resource: Any) -> str:
    """The table a policy resource names: its ARN, or its ARN followed by `/index/*`."""
    if "Fn::GetAtt" in resource:
        logical_id, attribute = resource["Fn::GetAtt"]
        assert attribute == "Arn"
        return str(logical_id)
    parts = resource["Fn::Join"][1]
    assert parts[1:] == ["/index/*"], f"unexpected DynamoDB resource {resource}"
    return _table_of(parts[0])


# --- data -----------------------------------------------------------------------------------


@pytest.mark.parametrize("attribute", settings.TABLES)
def test_tables_are_on_demand_encrypted_recoverable_and_retained(
    aws: Synthesised, attribute: str
) -> None:
    table = aws.resources[_table_id(aws, attribute)]
    props = table["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    # AWS-managed KMS key: encryption enabled, no customer key named.
    assert props["SSESpecification"] == {"SSEEnabled": True}
    assert props["DeletionProtectionEnabled"] is True
    assert table["DeletionPolicy"] == "Retain"
    assert table["UpdateReplacePolicy"] == "Retain"


def test_identifiers_table_has_prefix_index_and_stream(aws: Synthesised) -> None:
    props = aws.resources[_table_id(aws, "identifiers_table")]["Properties"]
    assert props["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert props["GlobalSecondaryIndexes"] == [
        {
            "IndexName": "byPrefix",
            "KeySchema": [
                {"AttributeName": "prefix", "KeyType": "HASH"},
                {"AttributeName": "handle", "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "ALL"},
        }
    ]
    assert sorted(props["AttributeDefinitions"], key=lambda a: a["AttributeName"]) == [
        {"AttributeName": "handle", "AttributeType": "S"},
        {"AttributeName": "prefix", "AttributeType": "S"},
    ]


def test_prefixes_table_has_enterprise_index(aws: Synthesised) -> None:
    props = aws.resources[_table_id(aws, "prefixes_table")]["Properties"]
    assert "StreamSpecification" not in props
    assert props["GlobalSecondaryIndexes"] == [
        {
            "IndexName": "byEnterprise",
            "KeySchema": [
                {"AttributeName": "enterprise", "KeyType": "HASH"},
                {"AttributeName": "prefix", "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "ALL"},
        }
    ]


def test_credentials_table_has_no_index(aws: Synthesised) -> None:
    props = aws.resources[_table_id(aws, "credentials_table")]["Properties"]
    assert "GlobalSecondaryIndexes" not in props
    assert props["AttributeDefinitions"] == [{"AttributeName": "identity", "AttributeType": "S"}]


# --- functions ------------------------------------------------------------------------------


@pytest.mark.parametrize("handler", HANDLERS.values())
def test_functions_share_runtime_observability_and_settings(aws: Synthesised, handler: str) -> None:
    props = aws.resources[_function_id(aws, handler)]["Properties"]
    assert props["Runtime"] == "python3.11"
    assert props["Architectures"] == ["x86_64"]
    assert props["MemorySize"] == 1024
    assert props["Timeout"] == 10
    assert props["TracingConfig"] == {"Mode": "Active"}
    assert "LogGroup" in props["LoggingConfig"]
    variables = props["Environment"]["Variables"]
    assert variables["POWERTOOLS_SERVICE_NAME"] == "idnode"
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == "idnode"
    assert variables.keys() >= SETTINGS_VARIABLES
    assert variables[settings.NODE_PREFIX] == "88.100"
    for attribute, variable in settings.TABLES.items():
        assert variables[variable] == {"Ref": _table_id(aws, attribute)}
    assert variables[settings.GRAPHIQL] == "false"
    assert int(variables[settings.MAX_BODY_BYTES]) > 0


def test_functions_share_one_code_asset(aws: Synthesised) -> None:
    codes = {
        json.dumps(function["Properties"]["Code"], sort_keys=True)
        for function in _of_type(aws, "AWS::Lambda::Function").values()
    }
    assert len(codes) == 1
    manifest = json.loads(
        (Path(aws.assembly.directory) / f"{aws.stack.artifact_id}.assets.json").read_text()
    )
    archives = [
        asset for asset in manifest["files"].values() if asset["source"]["packaging"] == "zip"
    ]
    assert len(archives) == 1


def test_function_logs_are_kept_for_a_bounded_time(aws: Synthesised) -> None:
    for group in _of_type(aws, "AWS::Logs::LogGroup").values():
        assert group["Properties"]["RetentionInDays"] > 0


def test_graphql_function_writes_the_business_data_and_only_appends_to_the_log(
    aws: Synthesised,
) -> None:
    grants = _dynamodb_grants(aws, _function_id(aws, HANDLERS["graphql"]))
    assert grants.keys() == {_table_id(aws, attribute) for attribute in settings.TABLES}
    for attribute in settings.TABLES:
        if attribute not in ("operations_table", "telemetry_table", "health_table"):
            assert grants[_table_id(aws, attribute)] >= WRITE_ACTIONS, attribute
    # Enterprise nodes' health is written by the prober only.
    assert not WRITE_ACTIONS & grants[_table_id(aws, "health_table")]
    # Telemetry is written by the device-events function only.
    telemetry = grants[_table_id(aws, "telemetry_table")]
    assert "dynamodb:Query" in telemetry
    assert not WRITE_ACTIONS & telemetry
    log = grants[_table_id(aws, "operations_table")]
    assert {"dynamodb:PutItem", "dynamodb:Query"} <= log
    assert not {"dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"} & log


def test_handles_function_writes_identifiers_counts_and_appends_to_the_log_only(
    aws: Synthesised,
) -> None:
    grants = _dynamodb_grants(aws, _function_id(aws, HANDLERS["handles"]))
    table = {attribute: _table_id(aws, attribute) for attribute in settings.TABLES}
    assert grants.keys() == {
        table[a]
        for a in (
            "identifiers_table",
            "prefixes_table",
            "credentials_table",
            "parameters_table",
            "enterprises_table",
            "statistics_table",
            "operations_table",
            "keys_table",
            "templates_table",
        )
    }
    assert grants[table["identifiers_table"]] >= WRITE_ACTIONS
    # Scheme keys are created and deleted in one transaction with their identifiers.
    assert grants[table["keys_table"]] >= WRITE_ACTIONS
    for attribute in (
        "prefixes_table",
        "credentials_table",
        "parameters_table",
        "templates_table",
    ):
        assert "dynamodb:GetItem" in grants[table[attribute]]
        assert not WRITE_ACTIONS & grants[table[attribute]], attribute
    assert grants[table["statistics_table"]] == {"dynamodb:UpdateItem"}
    assert grants[table["operations_table"]] == {"dynamodb:PutItem"}


def test_the_prober_reads_enterprises_writes_health_and_runs_every_minute(
    aws: Synthesised,
) -> None:
    grants = _dynamodb_grants(aws, _function_id(aws, HANDLERS["health"]))
    enterprises, health = _table_id(aws, "enterprises_table"), _table_id(aws, "health_table")
    assert grants.keys() == {enterprises, health}
    assert not WRITE_ACTIONS & grants[enterprises]
    assert grants[health] >= WRITE_ACTIONS
    (rule,) = _of_type(aws, "AWS::Events::Rule").values()
    assert rule["Properties"]["ScheduleExpression"] == "rate(1 minute)"
    assert rule["Properties"]["Targets"][0]["Arn"]["Fn::GetAtt"][0] == _function_id(
        aws, HANDLERS["health"]
    )


def test_only_the_handles_function_reads_the_handle_signing_key(aws: Synthesised) -> None:
    readers = set()
    for resource in aws.template.find_resources("AWS::IAM::Policy").values():
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"]
            actions = actions if isinstance(actions, list) else [actions]
            if "secretsmanager:GetSecretValue" in actions:
                assert HANDLE_KEY_SECRET in json.dumps(statement["Resource"])
                readers |= {role["Ref"] for role in resource["Properties"]["Roles"]}
    handles = aws.resources[_function_id(aws, HANDLERS["handles"])]
    assert readers == {handles["Properties"]["Role"]["Fn::GetAtt"][0]}
    variables = handles["Properties"]["Environment"]["Variables"]
    assert variables[settings.HANDLE_INTERFACES] == HANDLE_INTERFACES
    assert variables[settings.HANDLE_KEY_SECRET] == HANDLE_KEY_SECRET


def test_only_the_graphql_function_manages_people(aws: Synthesised) -> None:
    """The Handle API only checks staff's MFA enrolment; it changes no account."""

    def cognito_actions(handler: str) -> set[str]:
        found: set[str] = set()
        for statement in _role_statements(aws, _function_id(aws, handler)):
            actions = statement["Action"]
            for action in [actions] if isinstance(actions, str) else actions:
                if action.startswith("cognito-idp:"):
                    assert statement["Resource"] != "*"
                    found.add(action)
        return found

    graphql = cognito_actions(HANDLERS["graphql"])
    assert {"cognito-idp:AdminCreateUser", "cognito-idp:AdminAddUserToGroup"} <= graphql
    assert "cognito-idp:AdminDeleteUser" not in graphql
    assert cognito_actions(HANDLERS["handles"]) == {"cognito-idp:AdminGetUser"}


def test_operation_log_expires_by_ttl_and_is_indexed_for_its_queries(aws: Synthesised) -> None:
    props = aws.resources[_table_id(aws, "operations_table")]["Properties"]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires", "Enabled": True}
    assert {index["IndexName"] for index in props["GlobalSecondaryIndexes"]} == {
        "byEnterprise",
        "byActor",
    }


def test_roles_use_no_managed_policies(aws: Synthesised) -> None:
    for role in _of_type(aws, "AWS::IAM::Role").values():
        assert "ManagedPolicyArns" not in role["Properties"]


def test_no_policy_grants_everything(aws: Synthesised) -> None:
    # Only X-Ray's trace upload and IoT's certificate from CSR and data endpoint have no
    # resource-level permissions.
    without_resources = {"iot:CreateCertificateFromCsr", "iot:DescribeEndpoint"}
    for policy in _policies(aws):
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"]
            actions = [actions] if isinstance(actions, str) else actions
            for action in actions:
                assert not action.endswith(":*"), action
            if statement["Resource"] == "*":
                assert all(a.startswith("xray:") or a in without_resources for a in actions)


# --- API ------------------------------------------------------------------------------------


def test_routes_reach_their_functions(aws: Synthesised) -> None:
    integrations = _of_type(aws, "AWS::ApiGatewayV2::Integration")
    routes = {
        route["Properties"]["RouteKey"]: route["Properties"]["Target"]["Fn::Join"][1][1]["Ref"]
        for route in _of_type(aws, "AWS::ApiGatewayV2::Route").values()
    }
    # The local gateway mirrors the deployed routes exactly.
    assert routes.keys() == {route.key for route in DEFAULT_ROUTES}
    digital_link = {
        f"{method} /{ai}/{{key+}}"
        for ai in ("01", "00", "414", "8003", "8004")
        for method in ("GET", "HEAD")
    }
    assert routes.keys() == {
        "ANY /graphql",
        "ANY /api/handles/{handle+}",
        "GET /api/handles",
        "POST /api/handles",
        "POST /hdl",
        "POST /hdl/{handle+}",
        "GET /.well-known/gs1resolver",
        "HEAD /.well-known/gs1resolver",
        *digital_link,
    }
    expected = {key: HANDLERS["handles"] for key in routes if key != "ANY /graphql"}
    expected["ANY /graphql"] = HANDLERS["graphql"]
    for route_key, integration_id in routes.items():
        props = integrations[integration_id]["Properties"]
        assert props["IntegrationType"] == "AWS_PROXY"
        assert props["PayloadFormatVersion"] == "2.0"
        assert props["IntegrationUri"] == {
            "Fn::GetAtt": [_function_id(aws, expected[route_key]), "Arn"]
        }


def test_api_gateway_may_invoke_each_function_for_its_routes_only(aws: Synthesised) -> None:
    permissions = {
        logical_id: permission
        for logical_id, permission in _of_type(aws, "AWS::Lambda::Permission").items()
        # topic rules, and the prober's schedule
        if permission["Properties"]["Principal"]
        not in ("iot.amazonaws.com", "events.amazonaws.com")
    }
    # Permissions name their route's path, for any stage and method: only the routed paths.
    sources = []
    for permission in permissions.values():
        props = permission["Properties"]
        assert props["Principal"] == "apigateway.amazonaws.com"
        tail = props["SourceArn"]["Fn::Join"][1][-1]
        assert tail.startswith("/*/*/"), tail
        sources.append(tail.removeprefix("/*/*"))
    assert set(sources) == {route.path for route in DEFAULT_ROUTES}


def test_default_stage_throttles_and_logs_access(aws: Synthesised) -> None:
    aws.template.has_resource_properties(
        "AWS::ApiGatewayV2::Stage",
        {
            "StageName": "$default",
            "AutoDeploy": True,
            "DefaultRouteSettings": {
                "ThrottlingRateLimit": Match.any_value(),
                "ThrottlingBurstLimit": Match.any_value(),
            },
            "AccessLogSettings": {
                "DestinationArn": {"Fn::GetAtt": [Match.any_value(), "Arn"]},
                "Format": Match.string_like_regexp(r"\$context\.requestId"),
            },
        },
    )
    (stage,) = _of_type(aws, "AWS::ApiGatewayV2::Stage").values()
    log_format = json.loads(stage["Properties"]["AccessLogSettings"]["Format"])
    assert {"requestId", "status", "routeKey", "integrationError"} <= log_format.keys()


def test_browsers_may_call_the_api(aws: Synthesised) -> None:
    aws.template.has_resource_properties(
        "AWS::ApiGatewayV2::Api",
        {
            "ProtocolType": "HTTP",
            "CorsConfiguration": {
                "AllowOrigins": Match.any_value(),
                "AllowHeaders": Match.array_with(["authorization", "content-type"]),
                "AllowMethods": Match.array_with(["GET", "POST", "OPTIONS"]),
            },
        },
    )


# --- people ---------------------------------------------------------------------------------


def test_user_pool_is_strict_and_lets_applicants_sign_up_with_a_verified_email(
    aws: Synthesised,
) -> None:
    (pool,) = _of_type(aws, "AWS::Cognito::UserPool").values()
    props = pool["Properties"]
    assert props["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is False
    assert props["AutoVerifiedAttributes"] == ["email"]
    policy = props["Policies"]["PasswordPolicy"]
    assert policy["MinimumLength"] >= 12
    assert all(
        policy[key]
        for key in ("RequireLowercase", "RequireUppercase", "RequireNumbers", "RequireSymbols")
    )
    assert props["MfaConfiguration"] == "OPTIONAL"
    assert props["EnabledMfas"] == ["SOFTWARE_TOKEN_MFA"]
    assert props["DeletionProtection"] == "ACTIVE"
    assert pool["DeletionPolicy"] == "Retain"
    enterprise = next(a for a in props["Schema"] if a["Name"] == "enterprise")
    assert enterprise["AttributeDataType"] == "String"
    assert enterprise["Mutable"] is True


def test_user_pool_has_the_product_roles_as_groups(aws: Synthesised) -> None:
    groups = {
        group["Properties"]["GroupName"]
        for group in _of_type(aws, "AWS::Cognito::UserPoolGroup").values()
    }
    assert groups == {"platform-admin", "auditor", "enterprise-admin", "enterprise-user"}
    assert groups == {name for name, _, _ in ROLES}


def test_app_client_issues_id_tokens_with_the_enterprise_attribute(aws: Synthesised) -> None:
    (client,) = _of_type(aws, "AWS::Cognito::UserPoolClient").values()
    props = client["Properties"]
    assert props["GenerateSecret"] is False
    assert {"ALLOW_USER_PASSWORD_AUTH", "ALLOW_USER_SRP_AUTH"} <= set(props["ExplicitAuthFlows"])
    assert "custom:enterprise" in props["ReadAttributes"]
    # A person must not be able to move themselves to another enterprise.
    assert "custom:enterprise" not in props["WriteAttributes"]


# --- outputs and checks ---------------------------------------------------------------------


def test_outputs_are_exactly_the_published_endpoints(aws: Synthesised) -> None:
    outputs = aws.template.to_json()["Outputs"]
    assert set(outputs) == OUTPUT_KEYS
    assert outputs["NodePrefix"]["Value"] == "88.100"
    assert outputs["Region"]["Value"] == {"Ref": "AWS::Region"}
    graphql_url = json.dumps(outputs["GraphqlUrl"]["Value"])
    assert graphql_url.endswith('"/graphql"]]}')
    assert "/api/handles" not in json.dumps(outputs["HandleApiUrl"]["Value"])


def test_cdk_nag_reports_no_unacknowledged_finding(aws: Synthesised) -> None:
    (report,) = [
        plugin
        for plugin in aws.validation_report()["pluginReports"]
        if plugin["pluginName"] == "AwsSolutions"
    ]
    assert report["conclusion"] == "success"
    assert report["violations"] == []
    for acknowledged in report["suppressedViolations"]:
        assert acknowledged["reason"].strip(), acknowledged["ruleName"]


def test_synth_reports_no_error_annotations(aws: Synthesised) -> None:
    artifact = aws.assembly.get_stack_artifact(aws.stack.artifact_id)
    errors = [message for message in artifact.messages if message.level.value == "error"]
    assert errors == []


# --- local cloud ----------------------------------------------------------------------------


def test_local_stack_targets_the_local_account(local: Synthesised) -> None:
    assert local.stack.account == "000000000000"
    assert local.stack.region == "us-east-1"
    outputs = local.template.to_json()["Outputs"]
    assert outputs["Region"]["Value"] == "us-east-1"


def test_local_stack_is_disposable(local: Synthesised) -> None:
    for resource_type in ("AWS::DynamoDB::Table", "AWS::Cognito::UserPool", "AWS::Logs::LogGroup"):
        for resource in _of_type(local, resource_type).values():
            assert resource["DeletionPolicy"] == "Delete", resource_type
            props = resource["Properties"]
            assert props.get("DeletionProtectionEnabled") in (None, False)
            assert props.get("DeletionProtection") in (None, "INACTIVE")


def test_local_functions_may_take_their_cold_starts_on_a_small_machine(
    local: Synthesised, aws: Synthesised
) -> None:
    for handler in HANDLERS.values():
        assert local.resources[_function_id(local, handler)]["Properties"]["Timeout"] == 60
        assert aws.resources[_function_id(aws, handler)]["Properties"]["Timeout"] == 10


def test_local_graphql_serves_graphiql(local: Synthesised) -> None:
    function = local.resources[_function_id(local, HANDLERS["graphql"])]
    assert function["Properties"]["Environment"]["Variables"][settings.GRAPHIQL] == "true"


@pytest.mark.parametrize(
    ("variant", "mfa", "flush"), [("aws", "true", "10"), ("local", "false", "0")]
)
def test_mfa_is_required_and_metering_buffered_on_aws_only(
    request: pytest.FixtureRequest, variant: str, mfa: str, flush: str
) -> None:
    synthesised: Synthesised = request.getfixturevalue(variant)
    for handler in HANDLERS.values():
        function = synthesised.resources[_function_id(synthesised, handler)]
        variables = function["Properties"]["Environment"]["Variables"]
        assert variables[settings.REQUIRE_MFA] == mfa
        assert variables[settings.METER_FLUSH_SECONDS] == flush


# --- contract with the store ----------------------------------------------------------------


def _keys(schema: Iterable[Mapping[str, Any]]) -> list[tuple[str, str]]:
    return sorted((key["KeyType"], key["AttributeName"]) for key in schema)


@pytest.mark.parametrize("model", MODELS)
def test_tables_match_the_store_models(aws: Synthesised, model: type[Model]) -> None:
    schema = model._get_schema()
    props = aws.resources[_table_id(aws, MODELS[model])]["Properties"]
    assert _keys(props["KeySchema"]) == _keys(schema["key_schema"])
    deployed = {
        index["IndexName"]: (_keys(index["KeySchema"]), index["Projection"])
        for index in props.get("GlobalSecondaryIndexes", [])
    }
    declared = {
        index["index_name"]: (_keys(index["key_schema"]), index["projection"])
        for index in schema["global_secondary_indexes"]
    }
    assert deployed == declared
    assert sorted(props["AttributeDefinitions"], key=str) == sorted(
        schema["attribute_definitions"], key=str
    )
