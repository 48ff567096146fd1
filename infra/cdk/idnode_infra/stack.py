"""The idnode stack: composes the capabilities, publishes their endpoints, checks them."""

from __future__ import annotations

from aws_cdk import (
    Acknowledgment,
    CfnOutput,
    CfnResource,
    Duration,
    Stack,
    Stage,
    Token,
    Validations,
)
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_secretsmanager as secretsmanager
from cdk_nag import AwsSolutionsChecks
from constructs import Construct, IConstruct

from idnode import settings
from idnode_infra.api import Api
from idnode_infra.auth import Auth
from idnode_infra.bundling import code_asset
from idnode_infra.data import Data
from idnode_infra.deployment import Deployment
from idnode_infra.devices import Devices, load_rules
from idnode_infra.functions import DEFAULT_TIMEOUT, LOCAL_TIMEOUT, Functions
from idnode_infra.handle_service import HandleService

GRAPHQL_HANDLER = "idnode.handlers.graphql.handler"
HANDLES_HANDLER = "idnode.handlers.handles.handler"
DEVICE_EVENTS_HANDLER = "idnode.handlers.device_events.handler"
HEALTH_HANDLER = "idnode.handlers.health.handler"
# HTTP API accepts up to 10 MB; the product caps request bodies well below that.
MAX_BODY_BYTES = 256 * 1024
# What the GraphQL function does with people's accounts (platform and enterprise admins
# manage users; approval binds the applicant; MFA enrolment is checked for staff roles).
PEOPLE_ACTIONS = (
    "cognito-idp:AdminAddUserToGroup",
    "cognito-idp:AdminCreateUser",
    "cognito-idp:AdminDeleteUserAttributes",
    "cognito-idp:AdminDisableUser",
    "cognito-idp:AdminEnableUser",
    "cognito-idp:AdminGetUser",
    "cognito-idp:AdminListGroupsForUser",
    "cognito-idp:AdminRemoveUserFromGroup",
    "cognito-idp:AdminUpdateUserAttributes",
    "cognito-idp:AdminUserGlobalSignOut",
    "cognito-idp:ListUsers",
)
# Checking that a person acting as platform admin or auditor has TOTP enrolled.
MFA_CHECK_ACTIONS = ("cognito-idp:AdminGetUser",)
# Registering and provisioning devices on IoT Core (things, certificates from CSRs, the device
# policy) and retiring them.
IOT_THING_ACTIONS = (
    "iot:AttachThingPrincipal",
    "iot:CreateThing",
    "iot:DescribeThing",
    "iot:DetachThingPrincipal",
    "iot:UpdateThing",
)
IOT_CERTIFICATE_ACTIONS = (
    "iot:AttachPolicy",
    "iot:DeleteCertificate",
    "iot:DescribeCertificate",
    "iot:DetachPolicy",
    "iot:UpdateCertificate",
)
# Controlling devices: desired state in their shadows, commands on their command topics.
IOT_SHADOW_ACTIONS = ("iot:GetThingShadow", "iot:UpdateThingShadow")
# The plugin name cdk-nag reports its AwsSolutions findings under.
_NAG_PACK = "AwsSolutions"


class IdnodeStack(Stack):
    """Everything one secondary node needs, for AWS or the local cloud alike."""

    def __init__(self, scope: Construct, deployment: Deployment) -> None:
        super().__init__(
            scope,
            deployment.stack_name,
            env=deployment.environment,
            description=f"idnode identifier resolution node {deployment.node_prefix}",
        )
        data = Data(
            self,
            "Data",
            removal_policy=deployment.removal_policy,
            deletion_protection=deployment.deletion_protection,
        )
        auth = Auth(
            self,
            "Auth",
            removal_policy=deployment.removal_policy,
            deletion_protection=deployment.deletion_protection,
        )
        devices = Devices(self, "Devices", removal_policy=deployment.removal_policy)
        functions = Functions(
            self,
            "Functions",
            removal_policy=deployment.removal_policy,
            timeout=LOCAL_TIMEOUT if deployment.local else DEFAULT_TIMEOUT,
            # Every function reads the same settings model, which requires all table names.
            environment={
                **{
                    settings.TABLES[attribute]: table.table_name
                    for attribute, table in data.tables.items()
                },
                settings.NODE_PREFIX: deployment.node_prefix,
                settings.USER_POOL_ID: auth.user_pool.user_pool_id,
                settings.USER_POOL_CLIENT_ID: auth.client.user_pool_client_id,
                settings.GRAPHIQL: "true" if deployment.graphiql else "false",
                settings.MAX_BODY_BYTES: str(MAX_BODY_BYTES),
                settings.REQUIRE_MFA: "false" if deployment.local else "true",
                # Local functions may run each invocation in a fresh worker: count at once.
                settings.METER_FLUSH_SECONDS: "0" if deployment.local else "10",
                settings.DEVICE_POLICY: devices.policy_name,
                settings.DEAD_LETTER_QUEUE_URL: devices.dead_letters.queue_url,
                settings.HANDLE_INTERFACES: deployment.handle_interfaces,
                settings.HANDLE_KEY_SECRET: deployment.handle_key_secret,
                settings.HANDLE_KEY_FILE: deployment.handle_key_file,
            },
        )
        graphql_function = functions.add(
            "GraphqlFunction",
            handler=GRAPHQL_HANDLER,
            description="GraphQL API for people and frontends",
        )
        handles_function = functions.add(
            "HandlesFunction",
            handler=HANDLES_HANDLER,
            description="Handle REST API: resolution and identifier management",
        )
        device_events_function = functions.add(
            "DeviceEventsFunction",
            handler=DEVICE_EVENTS_HANDLER,
            description="Device telemetry, command answers and presence from the IoT topic rules",
        )
        devices.route(device_events_function, load_rules())
        health_function = functions.add(
            "HealthFunction",
            handler=HEALTH_HANDLER,
            description="Probes every self-hosted enterprise node over the Handle protocol",
        )
        # Every minute (SN-11); a run takes at most a few seconds per slow node.
        events.Rule(
            self,
            "HealthSchedule",
            description="Probe self-hosted enterprise nodes",
            schedule=events.Schedule.rate(Duration.minutes(1)),
            targets=[targets.LambdaFunction(health_function, retry_attempts=0)],
        )
        data.enterprises.grant_read_data(health_function)
        data.health.grant_read_write_data(health_function)
        data.health.grant_read_data(graphql_function)

        self._grant(data, auth, graphql_function, handles_function)
        key_secret = (
            secretsmanager.Secret.from_secret_name_v2(
                self, "HandleKey", deployment.handle_key_secret
            )
            if deployment.handle_key_secret
            else None
        )
        if key_secret is not None:
            # Only what answers the Handle protocol signs (certified responses).
            key_secret.grant_read(handles_function)
        handle_service = None
        if deployment.handle_service:
            handle_service = HandleService(
                self,
                "HandleService",
                code=code_asset(self, "HandleServiceCode"),
                environment=functions.environment,
                removal_policy=deployment.removal_policy,
            )
            self._grant_resolution(data, handle_service.role)
            if key_secret is not None:
                key_secret.grant_read(handle_service.role)
            self._acknowledge_service(data, handle_service)
        self._grant_devices(data, devices, graphql_function, device_events_function)

        api = Api(
            self,
            "Api",
            graphql_function=graphql_function,
            handles_function=handles_function,
            removal_policy=deployment.removal_policy,
        )

        outputs = {
            "GraphqlUrl": f"{api.base_url}/graphql",
            "HandleApiUrl": api.base_url,
            "HttpApiId": api.http_api.api_id,
            "UserPoolId": auth.user_pool.user_pool_id,
            "UserPoolClientId": auth.client.user_pool_client_id,
            **{
                settings.table_output(attribute): table.table_name
                for attribute, table in data.tables.items()
            },
            "DevicePolicyName": devices.policy_name,
            "DeadLetterQueueUrl": devices.dead_letters.queue_url,
            "DeviceEventsFunctionName": device_events_function.function_name,
            "NodePrefix": deployment.node_prefix,
            "Region": self.region,
        }
        if handle_service is not None:
            outputs["HandleServiceAddress"] = handle_service.load_balancer.load_balancer_dns_name
        for key, value in outputs.items():
            CfnOutput(self, key, value=value)

        self._acknowledge_findings(
            data=data,
            auth=auth,
            api=api,
            functions=(graphql_function, handles_function, device_events_function, health_function),
            graphql_function=graphql_function,
            devices=devices,
        )
        # Validation plugins belong to the enclosing app (or stage); the checks run at synth
        # and interrupt it on any unacknowledged finding.
        stage = Stage.of(self)
        assert stage is not None
        Validations.of(stage).add_plugins(AwsSolutionsChecks(stage, verbose=True))

    @staticmethod
    def _grant(
        data: Data,
        auth: Auth,
        graphql_function: lambda_.Function,
        handles_function: lambda_.Function,
    ) -> None:
        """Least privilege per function. The operation log is append-only for everyone: no
        function may update or delete its entries (they expire by TTL)."""
        for table in (
            data.identifiers,
            data.prefixes,
            data.credentials,
            data.enterprises,
            data.applications,
            data.members,
            data.statistics,
            data.parameters,
            data.templates,
            data.keys,
            data.codes,
        ):
            table.grant_read_write_data(graphql_function)
        data.operations.grant_read_data(graphql_function)
        auth.user_pool.grant(graphql_function, *PEOPLE_ACTIONS)

        # The Handle API resolves, registers and authenticates Handle clients; it logs its
        # writes, counts its work and reads the parameters and directory that shape both.
        # Scheme keys are written with their identifiers and read by the Digital Link
        # resolver; templates are read to check master data.
        data.identifiers.grant_read_write_data(handles_function)
        data.keys.grant_read_write_data(handles_function)
        for table in (
            data.prefixes,
            data.credentials,
            data.parameters,
            data.enterprises,
            data.templates,
        ):
            table.grant_read_data(handles_function)
        data.statistics.grant(handles_function, "dynamodb:UpdateItem")
        auth.user_pool.grant(handles_function, *MFA_CHECK_ACTIONS)
        for function in (graphql_function, handles_function):
            data.operations.grant(function, "dynamodb:PutItem")

    @staticmethod
    def _grant_resolution(data: Data, role: iam.IGrantable) -> None:
        """What the Handle protocol service needs to answer anonymous resolution."""
        for table in (data.identifiers, data.prefixes, data.enterprises, data.parameters):
            table.grant_read_data(role)
        data.statistics.grant(role, "dynamodb:UpdateItem")

    def _grant_devices(
        self,
        data: Data,
        devices: Devices,
        graphql_function: lambda_.Function,
        events_function: lambda_.Function,
    ) -> None:
        """People manage and control devices through GraphQL; the device-events function
        processes what devices send. Telemetry is written by the latter only."""
        for table in (data.devices, data.profiles, data.alarms, data.commands):
            table.grant_read_write_data(graphql_function)
        data.telemetry.grant_read_data(graphql_function)
        iot_arn = f"arn:{self.partition}:iot:{self.region}:{self.account}"
        statements = [
            (IOT_THING_ACTIONS + IOT_SHADOW_ACTIONS, [f"{iot_arn}:thing/*"]),
            (IOT_CERTIFICATE_ACTIONS, [f"{iot_arn}:cert/*"]),
            (("iot:AttachPolicy", "iot:DetachPolicy"), [f"{iot_arn}:policy/{devices.policy_name}"]),
            (("iot:Publish",), [f"{iot_arn}:topic/idnode/devices/*/commands/*"]),
            # Neither takes a resource: certificates are created from a CSR, and the data
            # endpoint is the account's.
            (("iot:CreateCertificateFromCsr", "iot:DescribeEndpoint"), ["*"]),
        ]
        for actions, resources in statements:
            graphql_function.add_to_role_policy(
                iam.PolicyStatement(actions=list(actions), resources=resources)
            )

        # Telemetry, alarms and command answers; a first connection activates the device and
        # updates its identifier's lifecycle value (logged, counted like any identifier change).
        data.telemetry.grant(events_function, "dynamodb:PutItem")
        data.devices.grant_read_write_data(events_function)
        data.alarms.grant_read_write_data(events_function)
        data.commands.grant(events_function, "dynamodb:GetItem", "dynamodb:UpdateItem")
        data.identifiers.grant_read_write_data(events_function)
        # Templates: the identifier's master data is checked on every write.
        for table in (
            data.profiles,
            data.parameters,
            data.prefixes,
            data.enterprises,
            data.templates,
        ):
            table.grant_read_data(events_function)
        data.statistics.grant(events_function, "dynamodb:UpdateItem")
        data.operations.grant(events_function, "dynamodb:PutItem")

    def _acknowledge_findings(
        self,
        *,
        data: Data,
        auth: Auth,
        api: Api,
        functions: tuple[lambda_.Function, ...],
        graphql_function: lambda_.Function,
        devices: Devices,
    ) -> None:
        """Every accepted cdk-nag finding, each with the reason it is accepted."""
        for function in functions:
            _acknowledge(
                function,
                "AwsSolutions-L1",
                "Python 3.11 is pinned on purpose: the bundle's wheels are built for it and the "
                "local cloud runs functions on the host's Python 3.11. Upgrade both together.",
            )
            # On the role: CDK moves statements beyond the inline policy's size limit into
            # overflow managed policies under it, and the acknowledgements must follow them.
            policy = function.role
            assert policy is not None
            _acknowledge(
                policy,
                "AwsSolutions-IAM5[Resource::*]",
                "X-Ray PutTraceSegments and PutTelemetryRecords support no resource-level "
                "permissions; active tracing needs them on '*'. So do IoT's "
                "CreateCertificateFromCsr and DescribeEndpoint (GraphQL function).",
            )
            for table in (
                data.identifiers,
                data.prefixes,
                data.enterprises,
                data.applications,
                data.operations,
                data.devices,
                data.alarms,
                data.commands,
                data.codes,
            ):
                _acknowledge(
                    policy,
                    f"AwsSolutions-IAM5[Resource::<{self._logical_id(table)}.Arn>/index/*]",
                    "Queries on the table's own global secondary indexes; the wildcard covers "
                    "only index names of this one table.",
                )
        _acknowledge(
            devices.dead_letters,
            "AwsSolutions-SQS3",
            "This queue is itself the dead-letter queue of the device rules and the device-events "
            "function; nothing consumes it automatically, so it needs no dead letters of its own.",
        )
        graphql_role = graphql_function.role
        assert graphql_role is not None
        for resource, reason in (
            (
                "thing/*",
                "Things are created per device at run time; the wildcard covers things "
                "of this account and region only, and the device's enterprise is checked first.",
            ),
            (
                "cert/*",
                "Certificates are created from device CSRs at run time; ids are unknown "
                "until then.",
            ),
            (
                "topic/idnode/devices/*/commands/*",
                "Commands go to any device's command topic; "
                "the API authorises the caller for the device's enterprise before publishing.",
            ),
        ):
            _acknowledge(
                graphql_role,
                f"AwsSolutions-IAM5[Resource::{self._nag_arn('iot')}:{resource}]",
                reason,
            )
        for route in api.http_api.node.children:
            if isinstance(route, apigwv2.HttpRoute):
                _acknowledge(
                    route,
                    "AwsSolutions-APIG4",
                    "The functions authenticate callers themselves: Handle resolution is public "
                    "(SN-4), GraphQL mixes anonymous queries with mutations that verify Cognito "
                    "ID tokens, and enterprise systems use Handle authentication.",
                )
        _acknowledge(
            auth.user_pool,
            "AwsSolutions-COG2",
            "MFA is optional pool-wide (TOTP) because it is required per role: the API withholds "
            "the platform-admin and auditor roles from anyone without TOTP enrolled "
            "(IDNODE_REQUIRE_MFA), and enterprise people may enrol.",
        )
        _acknowledge(
            auth.user_pool,
            "AwsSolutions-COG8",
            "The Essentials feature plan: accounts are created by administrators only, and "
            "the Plus plan's threat protection is billed per user; revisit before opening "
            "sign-up.",
        )

    def _acknowledge_service(self, data: Data, service: HandleService) -> None:
        """The accepted findings of the optional Handle protocol service."""
        _acknowledge(
            service,
            "AwsSolutions-EC23",
            "A public resolution service: Handle resolvers anywhere must reach TCP and UDP 2641 "
            "(seed 004, chapter 9); only that port is open.",
        )
        _acknowledge(
            service,
            "AwsSolutions-ECS2",
            "The variables are the node's settings (table names, prefix, interfaces, the key's "
            "secret name): none is secret; the key itself is read from Secrets Manager.",
        )
        _acknowledge(
            service,
            "AwsSolutions-ELB2",
            "A network load balancer passing UDP: its access logs cover TLS listeners only; the "
            "VPC flow log records the traffic.",
        )
        policy = service.role
        reason = (
            "Read access to the functions' bundle in the CDK asset bucket (CDK's asset grant), "
            "fetched by the task at start instead of a built image."
        )
        for rule in (
            "AwsSolutions-IAM5[Action::s3:GetBucket*]",
            "AwsSolutions-IAM5[Action::s3:GetObject*]",
            "AwsSolutions-IAM5[Action::s3:List*]",
            "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::"
            "cdk-hnb659fds-assets-<AWS::AccountId>-<AWS::Region>/*]",
        ):
            _acknowledge(policy, rule, reason)
        for table in (data.identifiers, data.prefixes, data.enterprises):
            _acknowledge(
                policy,
                f"AwsSolutions-IAM5[Resource::<{self._logical_id(table)}.Arn>/index/*]",
                "Reads of the table's own global secondary indexes; the wildcard covers only "
                "index names of this one table.",
            )

    def _nag_arn(self, service: str) -> str:
        """The start of an ARN of this account and region as cdk-nag prints it in findings."""
        region = "<AWS::Region>" if Token.is_unresolved(self.region) else self.region
        account = "<AWS::AccountId>" if Token.is_unresolved(self.account) else self.account
        return f"arn:<AWS::Partition>:{service}:{region}:{account}"

    def _logical_id(self, table: dynamodb.Table) -> str:
        resource = table.node.default_child
        assert isinstance(resource, CfnResource)
        return self.get_logical_id(resource)


def _acknowledge(construct: IConstruct, rule: str, reason: str) -> None:
    Validations.of(construct).acknowledge(Acknowledgment(id=f"{_NAG_PACK}::{rule}", reason=reason))
