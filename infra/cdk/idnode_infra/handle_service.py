"""The Handle protocol over TCP and UDP in AWS (optional, CDK context `handleService=true`):
`idnode handle-server` as a Fargate service behind an internet-facing network load balancer
(one TCP_UDP listener on 2641).

No container image is built (there is no Docker here or in CI): the task runs AWS's public
Lambda Python 3.11 image, which has the same interpreter (and boto3) the functions' bundle is
built for, fetches that very bundle from the CDK asset bucket at start, and runs the server
from it in process against the node's tables.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct

PORT = 2641
IMAGE = "public.ecr.aws/lambda/python:3.11"
APP_DIR = "/tmp/idnode"  # noqa: S108 - the task's own scratch space
# Fetch the bundle, unpack it, run the server from it (PYTHONPATH is the bundle).
START = (
    'python3 -c "import boto3, io, os, zipfile; '
    "body = boto3.client('s3').get_object(Bucket=os.environ['IDNODE_CODE_BUCKET'], "
    "Key=os.environ['IDNODE_CODE_KEY'])['Body'].read(); "
    f"zipfile.ZipFile(io.BytesIO(body)).extractall('{APP_DIR}')\" && "
    f"cd {APP_DIR} && exec python3 -m idnode.cli.main handle-server "
    f"--host 0.0.0.0 --tcp-port {PORT} --udp-port {PORT}"
)


class HandleService(Construct):
    """Two tasks in two zones, public subnets (no NAT to pay for), one listener for both."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        code: s3_assets.Asset,
        environment: Mapping[str, str],
        removal_policy: RemovalPolicy,
        desired_count: int = 2,
    ) -> None:
        super().__init__(scope, construct_id)
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            max_azs=2,
            nat_gateways=0,
            subnet_configuration=[
                ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC)
            ],
        )
        self.vpc.add_flow_log(
            "FlowLog",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(
                logs.LogGroup(
                    self,
                    "FlowLogs",
                    retention=logs.RetentionDays.ONE_MONTH,
                    removal_policy=removal_policy,
                )
            ),
        )
        cluster = ecs.Cluster(
            self,
            "Cluster",
            vpc=self.vpc,
            container_insights_v2=ecs.ContainerInsights.ENABLED,
        )
        self.task = ecs.FargateTaskDefinition(self, "Task", cpu=512, memory_limit_mib=1024)
        code.grant_read(self.task.task_role)
        self.task.add_container(
            "Server",
            image=ecs.ContainerImage.from_registry(IMAGE),
            entry_point=["/bin/sh", "-c"],
            command=[START],
            environment={
                **environment,
                "IDNODE_CODE_BUCKET": code.s3_bucket_name,
                "IDNODE_CODE_KEY": code.s3_object_key,
                "POWERTOOLS_SERVICE_NAME": "idnode",
            },
            logging=ecs.LogDrivers.aws_logs(
                stream_prefix="handle-server",
                log_group=logs.LogGroup(
                    self,
                    "Logs",
                    retention=logs.RetentionDays.ONE_MONTH,
                    removal_policy=removal_policy,
                ),
            ),
            port_mappings=[
                ecs.PortMapping(container_port=PORT, protocol=ecs.Protocol.TCP),
                ecs.PortMapping(container_port=PORT, protocol=ecs.Protocol.UDP),
            ],
        )
        group = ec2.SecurityGroup(
            self, "Tasks", vpc=self.vpc, description="Handle protocol, TCP and UDP 2641"
        )
        for protocol in (ec2.Port.tcp(PORT), ec2.Port.udp(PORT)):
            group.add_ingress_rule(ec2.Peer.any_ipv4(), protocol, "Handle resolvers anywhere")
        self.service = ecs.FargateService(
            self,
            "Service",
            cluster=cluster,
            task_definition=self.task,
            desired_count=desired_count,
            assign_public_ip=True,
            security_groups=[group],
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
            min_healthy_percent=50,
            circuit_breaker=ecs.DeploymentCircuitBreaker(rollback=True),
        )
        self.load_balancer = elbv2.NetworkLoadBalancer(
            self, "LoadBalancer", vpc=self.vpc, internet_facing=True
        )
        listener = self.load_balancer.add_listener(
            "Handle", port=PORT, protocol=elbv2.Protocol.TCP_UDP
        )
        listener.add_targets(
            "Servers",
            port=PORT,
            protocol=elbv2.Protocol.TCP_UDP,
            targets=[self.service],
            health_check=elbv2.HealthCheck(
                protocol=elbv2.Protocol.TCP, interval=Duration.seconds(10)
            ),
            deregistration_delay=Duration.seconds(10),
        )

    @property
    def role(self) -> iam.IRole:
        return self.task.task_role
