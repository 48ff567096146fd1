"""The idnode stack: composes the capabilities, publishes their endpoints, checks them."""

from __future__ import annotations

from aws_cdk import Acknowledgment, CfnOutput, CfnResource, Stack, Stage, Validations
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from cdk_nag import AwsSolutionsChecks
from constructs import Construct, IConstruct

from idnode import settings
from idnode_infra.api import Api
from idnode_infra.auth import Auth
from idnode_infra.data import Data
from idnode_infra.deployment import Deployment
from idnode_infra.functions import Functions

GRAPHQL_HANDLER = "idnode.handlers.graphql.handler"
HANDLES_HANDLER = "idnode.handlers.handles.handler"
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
        functions = Functions(
            self,
            "Functions",
            removal_policy=deployment.removal_policy,
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

        self._grant(data, auth, graphql_function, handles_function)

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
            "NodePrefix": deployment.node_prefix,
            "Region": self.region,
        }
        for key, value in outputs.items():
            CfnOutput(self, key, value=value)

        self._acknowledge_findings(
            data=data, auth=auth, api=api, functions=(graphql_function, handles_function)
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
        ):
            table.grant_read_write_data(graphql_function)
        data.operations.grant_read_data(graphql_function)
        auth.user_pool.grant(graphql_function, *PEOPLE_ACTIONS)

        # The Handle API resolves, registers and authenticates Handle clients; it logs its
        # writes, counts its work and reads the parameters and directory that shape both.
        data.identifiers.grant_read_write_data(handles_function)
        for table in (data.prefixes, data.credentials, data.parameters, data.enterprises):
            table.grant_read_data(handles_function)
        data.statistics.grant(handles_function, "dynamodb:UpdateItem")
        auth.user_pool.grant(handles_function, *MFA_CHECK_ACTIONS)
        for function in (graphql_function, handles_function):
            data.operations.grant(function, "dynamodb:PutItem")

    def _acknowledge_findings(
        self,
        *,
        data: Data,
        auth: Auth,
        api: Api,
        functions: tuple[lambda_.Function, ...],
    ) -> None:
        """Every accepted cdk-nag finding, each with the reason it is accepted."""
        for function in functions:
            _acknowledge(
                function,
                "AwsSolutions-L1",
                "Python 3.11 is pinned on purpose: the bundle's wheels are built for it and the "
                "local cloud runs functions on the host's Python 3.11. Upgrade both together.",
            )
            policy = function.role.node.find_child("DefaultPolicy") if function.role else None
            assert policy is not None
            _acknowledge(
                policy,
                "AwsSolutions-IAM5[Resource::*]",
                "X-Ray PutTraceSegments and PutTelemetryRecords support no resource-level "
                "permissions; active tracing needs them on '*'.",
            )
            for table in (
                data.identifiers,
                data.prefixes,
                data.enterprises,
                data.applications,
                data.operations,
            ):
                _acknowledge(
                    policy,
                    f"AwsSolutions-IAM5[Resource::<{self._logical_id(table)}.Arn>/index/*]",
                    "Queries on the table's own global secondary indexes; the wildcard covers "
                    "only index names of this one table.",
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

    def _logical_id(self, table: dynamodb.Table) -> str:
        resource = table.node.default_child
        assert isinstance(resource, CfnResource)
        return self.get_logical_id(resource)


def _acknowledge(construct: IConstruct, rule: str, reason: str) -> None:
    Validations.of(construct).acknowledge(Acknowledgment(id=f"{_NAG_PACK}::{rule}", reason=reason))
