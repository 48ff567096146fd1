"""The node's DynamoDB tables: identifiers, prefixes and credentials."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

# Index names are part of the contract with the store's pynamodb models.
BY_PREFIX_INDEX = "byPrefix"
BY_ENTERPRISE_INDEX = "byEnterprise"

_STRING = dynamodb.AttributeType.STRING


class Data(Construct):
    """Three on-demand tables, encrypted with the AWS-managed key and recoverable to any second
    of the last 35 days (SN-12, SN-14)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        removal_policy: RemovalPolicy,
        deletion_protection: bool,
    ) -> None:
        super().__init__(scope, construct_id)
        self._removal_policy = removal_policy
        self._deletion_protection = deletion_protection

        # Handle records keyed by the full identifier; the stream feeds sync to the
        # top-level node (SN-10), which needs both images to send changes and deletions.
        self.identifiers = self._table(
            "Identifiers", "handle", stream=dynamodb.StreamViewType.NEW_AND_OLD_IMAGES
        )
        self.identifiers.add_global_secondary_index(
            index_name=BY_PREFIX_INDEX,
            partition_key=dynamodb.Attribute(name="prefix", type=_STRING),
            sort_key=dynamodb.Attribute(name="handle", type=_STRING),
            projection_type=dynamodb.ProjectionType.ALL,
        )

        # Allocated prefixes; uniqueness of allocation rests on conditional writes to this key.
        self.prefixes = self._table("Prefixes", "prefix")
        self.prefixes.add_global_secondary_index(
            index_name=BY_ENTERPRISE_INDEX,
            partition_key=dynamodb.Attribute(name="enterprise", type=_STRING),
            sort_key=dynamodb.Attribute(name="prefix", type=_STRING),
            projection_type=dynamodb.ProjectionType.ALL,
        )

        # Secrets of Handle clients authenticating to the REST API, keyed `index:handle`.
        self.credentials = self._table("Credentials", "identity")

    def _table(
        self,
        construct_id: str,
        partition_key: str,
        *,
        stream: dynamodb.StreamViewType | None = None,
    ) -> dynamodb.Table:
        return dynamodb.Table(
            self,
            construct_id,
            partition_key=dynamodb.Attribute(name=partition_key, type=_STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            stream=stream,
            removal_policy=self._removal_policy,
            deletion_protection=self._deletion_protection,
        )
