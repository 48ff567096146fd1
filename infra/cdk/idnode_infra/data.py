"""The node's DynamoDB tables: the registry (identifiers, prefixes, credentials) and the
secondary node's business data (enterprises, applications, members, operation log,
statistics, parameters) and the IoT management system's (devices, their profiles, telemetry,
alarms, commands)."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

# Index names are part of the contract with the store's pynamodb models.
BY_PREFIX_INDEX = "byPrefix"
BY_ENTERPRISE_INDEX = "byEnterprise"
BY_STATUS_INDEX = "byStatus"
BY_APPLICANT_INDEX = "byApplicant"
BY_ACTOR_INDEX = "byActor"
BY_DEVICE_INDEX = "byDevice"
BY_HANDLE_INDEX = "byHandle"

_STRING = dynamodb.AttributeType.STRING
_NUMBER = dynamodb.AttributeType.NUMBER


class Data(Construct):
    """On-demand tables, encrypted with the AWS-managed key and recoverable to any second
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

        # Approved enterprises keyed by their unified social credit code; the directory lists
        # them by status and name.
        self.enterprises = self._table("Enterprises", "id")
        self._index(self.enterprises, BY_STATUS_INDEX, "status", "name_key")

        # Applications and the decisions on them: the auditors' queue (by status), each
        # applicant's own, and each enterprise's history.
        self.applications = self._table("Applications", "id")
        for index, partition in (
            (BY_STATUS_INDEX, "status"),
            (BY_APPLICANT_INDEX, "applicant"),
            (BY_ENTERPRISE_INDEX, "enterprise"),
        ):
            self._index(self.applications, index, partition, "submitted_key")

        # People of each enterprise (Cognito cannot list users by a custom attribute).
        self.members = self._table("Members", "enterprise", sort_key="username")

        # The append-only operation log, by month; entries expire after the retention period.
        self.operations = self._table(
            "Operations", "month", sort_key="at_key", time_to_live_attribute="expires"
        )
        self._index(self.operations, BY_ENTERPRISE_INDEX, "enterprise", "at_key")
        self._index(self.operations, BY_ACTOR_INDEX, "actor", "at_key")

        # Daily counters per scope (node, enterprise, industry, prefix).
        self.statistics = self._table("Statistics", "scope", sort_key="day")

        # System parameters and sequences (the next enterprise prefix number).
        self.parameters = self._table("Parameters", "id")

        # Devices by id (the IoT thing name), listed per enterprise.
        self.devices = self._table("Devices", "device")
        self._index(self.devices, BY_ENTERPRISE_INDEX, "enterprise", "device")

        # Device profiles (typed telemetry metrics and alarm rules), per enterprise.
        self.profiles = self._table("Profiles", "enterprise", sort_key="profile")

        # One item per message, by device and time (epoch ms); points expire after the
        # telemetry retention period (a system parameter).
        self.telemetry = self._table(
            "Telemetry",
            "device",
            sort_key="at",
            sort_key_type=_NUMBER,
            time_to_live_attribute="expires",
        )

        # Alarms raised by the profiles' rules, newest first per enterprise and per device.
        self.alarms = self._table("Alarms", "alarm")
        self._index(self.alarms, BY_ENTERPRISE_INDEX, "enterprise", "raised_at", _NUMBER)
        self._index(self.alarms, BY_DEVICE_INDEX, "device", "raised_at", _NUMBER)

        # Commands sent to devices and their outcome, per device; they expire like telemetry.
        self.commands = self._table("Commands", "command", time_to_live_attribute="expires")
        self._index(self.commands, BY_DEVICE_INDEX, "device", "sent_at", _NUMBER)

        # Metadata templates (core, industry and enterprise extensions), one item per version.
        self.templates = self._table("Templates", "code", sort_key="version")

        # Identifier scheme keys (GS1, OID, Ecode, VAA) -> the node identifier they map to,
        # with a GS1 key's Digital Link links: written in one transaction with the identifier.
        self.keys = self._table("Keys", "key")

        # Enterprises' private codes -> public identifiers, and back through byHandle; the
        # owner's grants of resolution by private code live in the same table.
        self.codes = self._table("Codes", "pk", sort_key="sk")
        self._index(self.codes, BY_HANDLE_INDEX, "handle", "pk")

        # The health of self-hosted enterprise nodes (their current state, at = 0) and their
        # outage and recovery events, per node, written by the scheduled prober.
        self.health = self._table("Health", "node", sort_key="at", sort_key_type=_NUMBER)

    @property
    def tables(self) -> dict[str, dynamodb.Table]:
        """Every table by the Settings attribute that names it."""
        return {
            "identifiers_table": self.identifiers,
            "prefixes_table": self.prefixes,
            "credentials_table": self.credentials,
            "enterprises_table": self.enterprises,
            "applications_table": self.applications,
            "members_table": self.members,
            "operations_table": self.operations,
            "statistics_table": self.statistics,
            "parameters_table": self.parameters,
            "devices_table": self.devices,
            "profiles_table": self.profiles,
            "telemetry_table": self.telemetry,
            "alarms_table": self.alarms,
            "commands_table": self.commands,
            "templates_table": self.templates,
            "keys_table": self.keys,
            "codes_table": self.codes,
            "health_table": self.health,
        }

    @staticmethod
    def _index(
        table: dynamodb.Table,
        name: str,
        partition_key: str,
        sort_key: str,
        sort_key_type: dynamodb.AttributeType = _STRING,
    ) -> None:
        table.add_global_secondary_index(
            index_name=name,
            partition_key=dynamodb.Attribute(name=partition_key, type=_STRING),
            sort_key=dynamodb.Attribute(name=sort_key, type=sort_key_type),
            projection_type=dynamodb.ProjectionType.ALL,
        )

    def _table(
        self,
        construct_id: str,
        partition_key: str,
        *,
        sort_key: str | None = None,
        sort_key_type: dynamodb.AttributeType = _STRING,
        stream: dynamodb.StreamViewType | None = None,
        time_to_live_attribute: str | None = None,
    ) -> dynamodb.Table:
        return dynamodb.Table(
            self,
            construct_id,
            partition_key=dynamodb.Attribute(name=partition_key, type=_STRING),
            sort_key=dynamodb.Attribute(name=sort_key, type=sort_key_type) if sort_key else None,
            time_to_live_attribute=time_to_live_attribute,
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            stream=stream,
            removal_policy=self._removal_policy,
            deletion_protection=self._deletion_protection,
        )
