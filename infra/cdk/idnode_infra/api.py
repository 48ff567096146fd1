"""HTTP API: GraphQL for people and frontends, the Handle REST API for Handle clients."""

from __future__ import annotations

import json

import jsii
from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk.aws_apigatewayv2_integrations import HttpLambdaIntegration
from constructs import Construct

from idnode.domain.schemes import GS1_PRIMARY_AIS

# The default account quota for API Gateway; SN-13 plans for 10,000 resolutions per second.
# Raise both after a quota increase, never above it (the stage limit would be ignored).
THROTTLE_RATE_LIMIT = 10_000
THROTTLE_BURST_LIMIT = 5_000
ACCESS_LOG_RETENTION = logs.RetentionDays.THREE_MONTHS

# HTTP API context variables; one JSON object per request, so Logs Insights can query fields.
_ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "requestTime": "$context.requestTimeEpoch",
    "sourceIp": "$context.identity.sourceIp",
    "userAgent": "$context.identity.userAgent",
    "httpMethod": "$context.httpMethod",
    "path": "$context.path",
    "routeKey": "$context.routeKey",
    "protocol": "$context.protocol",
    "status": "$context.status",
    "responseLength": "$context.responseLength",
    "responseLatency": "$context.responseLatency",
    "integrationLatency": "$context.integrationLatency",
    "integrationError": "$context.integrationErrorMessage",
}


@jsii.implements(apigwv2.IAccessLogSettings)
class _AccessLogSettings:
    def __init__(self, log_group: logs.ILogGroup) -> None:
        self._destination = apigwv2.LogGroupLogDestination(log_group)

    @property
    def destination(self) -> apigwv2.IAccessLogDestination:
        return self._destination

    @property
    def format(self) -> apigateway.AccessLogFormat:
        return apigateway.AccessLogFormat.custom(json.dumps(_ACCESS_LOG_FIELDS))


# One route per GS1 primary key (GTIN, SSCC, GLN, GRAI, GIAI), and the resolver description.
DIGITAL_LINK_PATHS = (
    *(f"/{ai}/{{key+}}" for ai in sorted(GS1_PRIMARY_AIS)),
    "/.well-known/gs1resolver",
)

# The Handle protocol's HTTP interface (docs/handle-protocol.md): messages POSTed to
# `/hdl/<handle>`, answered by the same lean function.
HANDLE_PROTOCOL_PATHS = ("/hdl", "/hdl/{handle+}")


class Api(Construct):
    """Routes `/graphql`, `/api/handles` and the GS1 Digital Link paths to their functions on
    one `$default` stage."""

    http_api: apigwv2.HttpApi
    stage: apigwv2.HttpStage

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        graphql_function: lambda_.IFunction,
        handles_function: lambda_.IFunction,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        self.http_api = apigwv2.HttpApi(
            self,
            "HttpApi",
            # Named after the stack, so that several nodes in one account stay apart.
            api_name=f"{Stack.of(self).stack_name}-api",
            description="idnode GraphQL and Handle REST API",
            # The stage is created below so that it can carry throttling and access logs.
            create_default_stage=False,
            cors_preflight=apigwv2.CorsPreflightOptions(
                # Callers authenticate with bearer tokens, never cookies, so any origin may
                # call and credentials are never allowed.
                allow_origins=["*"],
                allow_credentials=False,
                allow_headers=["authorization", "content-type"],
                allow_methods=[
                    apigwv2.CorsHttpMethod.GET,
                    apigwv2.CorsHttpMethod.POST,
                    apigwv2.CorsHttpMethod.PUT,
                    apigwv2.CorsHttpMethod.DELETE,
                    apigwv2.CorsHttpMethod.OPTIONS,
                ],
                max_age=Duration.hours(1),
            ),
        )

        access_logs = logs.LogGroup(
            self, "AccessLogs", retention=ACCESS_LOG_RETENTION, removal_policy=removal_policy
        )
        self.stage = apigwv2.HttpStage(
            self,
            "DefaultStage",
            http_api=self.http_api,
            stage_name="$default",
            auto_deploy=True,
            throttle=apigwv2.ThrottleSettings(
                rate_limit=THROTTLE_RATE_LIMIT, burst_limit=THROTTLE_BURST_LIMIT
            ),
            access_log_settings=_AccessLogSettings(access_logs),
        )

        # Authentication happens in the functions: resolution is public (SN-4) and GraphQL
        # serves anonymous queries next to authenticated mutations.
        graphql = HttpLambdaIntegration("GraphqlIntegration", graphql_function)
        handles = HttpLambdaIntegration("HandlesIntegration", handles_function)
        self.http_api.add_routes(
            path="/graphql", methods=[apigwv2.HttpMethod.ANY], integration=graphql
        )
        self.http_api.add_routes(
            path="/api/handles/{handle+}", methods=[apigwv2.HttpMethod.ANY], integration=handles
        )
        self.http_api.add_routes(
            path="/api/handles",
            # GET lists a prefix's identifiers; POST registers a batch (docs/batch.md).
            methods=[apigwv2.HttpMethod.GET, apigwv2.HttpMethod.POST],
            integration=handles,
        )
        for path in HANDLE_PROTOCOL_PATHS:
            self.http_api.add_routes(
                path=path, methods=[apigwv2.HttpMethod.POST], integration=handles
            )
        # The GS1 Digital Link resolver (docs/digital-link.md) runs in the same lean function
        # as Handle resolution: one route per GS1 primary key, and the resolver description.
        for path in DIGITAL_LINK_PATHS:
            self.http_api.add_routes(
                path=path,
                methods=[apigwv2.HttpMethod.GET, apigwv2.HttpMethod.HEAD],
                integration=handles,
            )

    @property
    def base_url(self) -> str:
        """The API's endpoint as the service reports it (the local cloud answers with its own
        host), without a trailing slash, so that paths append to it."""
        return self.http_api.api_endpoint
