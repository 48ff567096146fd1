"""Every Lambda function of the product, built by one factory from one code asset."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from idnode_infra.bundling import ARCHITECTURE, RUNTIME, function_code

SERVICE_NAME = "idnode"
LOG_RETENTION = logs.RetentionDays.ONE_MONTH
DEFAULT_MEMORY_MB = 1024
# API Gateway gives up on an integration after 30 s; a request that takes a third of that is
# already failing its latency budget.
DEFAULT_TIMEOUT = Duration.seconds(10)
# The local cloud runs each worker's cold start on the host's own cores: a burst of them (a
# fresh deploy meeting a fleet of simulated devices) takes longer than a request's budget on a
# small machine, and a worker the emulator kills for its timeout costs it a concurrency slot
# until it restarts.
LOCAL_TIMEOUT = Duration.seconds(60)


class Functions(Construct):
    """Factory for the product's functions: same runtime, observability, code and settings."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        environment: Mapping[str, str],
        removal_policy: RemovalPolicy,
        code: lambda_.Code | None = None,
        timeout: Duration = DEFAULT_TIMEOUT,
    ) -> None:
        super().__init__(scope, construct_id)
        self._environment = dict(environment)
        self._removal_policy = removal_policy
        self._timeout = timeout
        # One Code object: CDK stages it once however many functions use it.
        self._code = code or function_code()

    @property
    def environment(self) -> dict[str, str]:
        """The settings every function gets (for other compute running the same code)."""
        return dict(self._environment)

    def add(
        self,
        construct_id: str,
        *,
        handler: str,
        description: str,
        memory_size: int = DEFAULT_MEMORY_MB,
        timeout: Duration | None = None,
        environment: Mapping[str, str] | None = None,
    ) -> lambda_.Function:
        """A function running `handler` (a dotted path inside the idnode package)."""
        log_group = logs.LogGroup(
            self,
            f"{construct_id}Logs",
            retention=LOG_RETENTION,
            removal_policy=self._removal_policy,
        )
        # An own role instead of AWSLambdaBasicExecutionRole: it may write to this function's
        # log group only, not create or write any log group in the account.
        role = iam.Role(
            self,
            f"{construct_id}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Runs the {construct_id} function of {SERVICE_NAME}",
        )
        log_group.grant_write(role)
        return lambda_.Function(
            self,
            construct_id,
            code=self._code,
            handler=handler,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            description=description,
            memory_size=memory_size,
            timeout=timeout or self._timeout,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=log_group,
            role=role,
            environment={
                "POWERTOOLS_SERVICE_NAME": SERVICE_NAME,
                "POWERTOOLS_METRICS_NAMESPACE": SERVICE_NAME,
                **self._environment,
                **(environment or {}),
            },
        )
