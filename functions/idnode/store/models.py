"""pynamodb models: the only description of the tables' shape in the product code.

Table names come from settings, so each model is bound to its table at start-up with
`bind()`, which returns a subclass whose Meta names the table, region and endpoint.
Key schemas here must match infra/cdk/idnode_infra/data.py (an infra test checks both).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    ListAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
    VersionAttribute,
)
from pynamodb.connection import Connection
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from idnode.settings import Settings
from idnode.store.device_models import (
    AlarmModel,
    CommandModel,
    DeviceModel,
    ProfileModel,
    TelemetryModel,
)
from idnode.store.metadata_models import CodeModel, KeyModel, TemplateModel

M = TypeVar("M", bound=Model)


class _ByPrefix(GlobalSecondaryIndex["IdentifierModel"]):
    class Meta:
        index_name = "byPrefix"
        projection = AllProjection()

    prefix = UnicodeAttribute(hash_key=True)
    handle = UnicodeAttribute(range_key=True)


class IdentifierModel(Model):
    """One identifier record. `handle` is the case-folded key; `name` the display form."""

    class Meta:
        table_name = "unbound-identifiers"

    handle = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute()
    prefix = UnicodeAttribute()  # case-folded, for the byPrefix index
    # Values as one JSON document: read and written whole, and cheap to (de)serialise on
    # the resolution hot path compared with nested DynamoDB maps.
    values = JSONAttribute()
    created = UTCDateTimeAttribute()
    updated = UTCDateTimeAttribute()
    version = VersionAttribute()
    by_prefix = _ByPrefix()


class _ByEnterprise(GlobalSecondaryIndex["PrefixModel"]):
    class Meta:
        index_name = "byEnterprise"
        projection = AllProjection()

    enterprise = UnicodeAttribute(hash_key=True)
    prefix = UnicodeAttribute(range_key=True)


class PrefixModel(Model):
    """An allocated prefix: the node's own, or an enterprise's."""

    class Meta:
        table_name = "unbound-prefixes"

    prefix = UnicodeAttribute(hash_key=True)  # case-folded
    name = UnicodeAttribute()  # display form
    enterprise = UnicodeAttribute()
    status = UnicodeAttribute(default="active")
    # A suspended prefix may stay resolvable (writes stopped only) or not (both stopped).
    resolvable = BooleanAttribute(default=True)
    created = UTCDateTimeAttribute()
    by_enterprise = _ByEnterprise()


class CredentialModel(Model):
    """An admin identity (`index:handle`) and its hashed secret."""

    class Meta:
        table_name = "unbound-credentials"

    identity = UnicodeAttribute(hash_key=True)  # case-folded `index:handle`
    name = UnicodeAttribute()
    secret_hash = UnicodeAttribute()
    prefixes = ListAttribute(of=UnicodeAttribute)  # case-folded
    enabled = BooleanAttribute(default=True)
    created = UTCDateTimeAttribute()


class _EnterprisesByStatus(GlobalSecondaryIndex["EnterpriseModel"]):
    class Meta:
        index_name = "byStatus"
        projection = AllProjection()

    status = UnicodeAttribute(hash_key=True)
    name_key = UnicodeAttribute(range_key=True)


class EnterpriseModel(Model):
    """An approved enterprise (an enterprise node of this secondary node). Its id is its
    unified social credit code, so one legal entity is onboarded once."""

    class Meta:
        table_name = "unbound-enterprises"

    id = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute()
    # Case-folded name + "#" + id: sorts the directory by name and stays unique.
    name_key = UnicodeAttribute()
    profile = JSONAttribute()  # the reviewed application data (domain.enterprises.Profile)
    status = UnicodeAttribute()  # active | suspended
    prefix = UnicodeAttribute()
    industry = UnicodeAttribute()  # GB/T 4754 division (section letter + two digits)
    created = UTCDateTimeAttribute()
    updated = UTCDateTimeAttribute()
    version = VersionAttribute()
    by_status = _EnterprisesByStatus()


class _ApplicationsByStatus(GlobalSecondaryIndex["ApplicationModel"]):
    class Meta:
        index_name = "byStatus"
        projection = AllProjection()

    status = UnicodeAttribute(hash_key=True)
    submitted_key = UnicodeAttribute(range_key=True)


class _ApplicationsByApplicant(GlobalSecondaryIndex["ApplicationModel"]):
    class Meta:
        index_name = "byApplicant"
        projection = AllProjection()

    applicant = UnicodeAttribute(hash_key=True)
    submitted_key = UnicodeAttribute(range_key=True)


class _ApplicationsByEnterprise(GlobalSecondaryIndex["ApplicationModel"]):
    class Meta:
        index_name = "byEnterprise"
        projection = AllProjection()

    enterprise = UnicodeAttribute(hash_key=True)
    submitted_key = UnicodeAttribute(range_key=True)


class ApplicationModel(Model):
    """An application to onboard an enterprise, or to change an approved one's data, with
    the decision taken on it."""

    class Meta:
        table_name = "unbound-applications"

    id = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute()  # onboarding | change
    enterprise = UnicodeAttribute()  # the USCC (the enterprise id to be)
    applicant = UnicodeAttribute()  # username of the person who applied
    profile = JSONAttribute()
    status = UnicodeAttribute()  # pending | approved | rejected | withdrawn
    submitted = UTCDateTimeAttribute()
    submitted_key = UnicodeAttribute()  # ISO time + "#" + id: newest last, unique
    decided_by = UnicodeAttribute(null=True)
    decided_at = UTCDateTimeAttribute(null=True)
    reason = UnicodeAttribute(null=True)
    prefix = UnicodeAttribute(null=True)  # allocated on approval of an onboarding
    version = VersionAttribute()
    by_status = _ApplicationsByStatus()
    by_applicant = _ApplicationsByApplicant()
    by_enterprise = _ApplicationsByEnterprise()


class MemberModel(Model):
    """A person bound to an enterprise (Cognito holds the account; this lists them by
    enterprise, which Cognito cannot filter on)."""

    class Meta:
        table_name = "unbound-members"

    enterprise = UnicodeAttribute(hash_key=True)
    username = UnicodeAttribute(range_key=True)
    role = UnicodeAttribute()
    created = UTCDateTimeAttribute()


class _OperationsByEnterprise(GlobalSecondaryIndex["OperationModel"]):
    class Meta:
        index_name = "byEnterprise"
        projection = AllProjection()

    enterprise = UnicodeAttribute(hash_key=True)
    at_key = UnicodeAttribute(range_key=True)


class _OperationsByActor(GlobalSecondaryIndex["OperationModel"]):
    class Meta:
        index_name = "byActor"
        projection = AllProjection()

    actor = UnicodeAttribute(hash_key=True)
    at_key = UnicodeAttribute(range_key=True)


class OperationModel(Model):
    """One entry of the append-only operation log (IOT-1). Partitioned by month; the sort
    key orders entries by time and keeps them unique."""

    class Meta:
        table_name = "unbound-operations"

    month = UnicodeAttribute(hash_key=True)  # YYYY-MM
    at_key = UnicodeAttribute(range_key=True)  # ISO time (UTC, microseconds) + "#" + id
    at = UTCDateTimeAttribute()
    actor = UnicodeAttribute()
    actor_kind = UnicodeAttribute()
    action = UnicodeAttribute()
    target = UnicodeAttribute()
    enterprise = UnicodeAttribute(null=True)  # absent for node-wide operations (sparse index)
    result = UnicodeAttribute()  # "ok" or the error's kind
    message = UnicodeAttribute(null=True)
    source = UnicodeAttribute(null=True)  # the caller's address
    details = JSONAttribute(null=True)
    expires = TTLAttribute(null=True)  # retention (system parameter), enforced by DynamoDB
    by_enterprise = _OperationsByEnterprise()
    by_actor = _OperationsByActor()


class CounterModel(Model):
    """Daily counters of one scope (`node`, `enterprise#<id>`, `industry#<code>`,
    `prefix#<prefix>`): deltas added atomically, summed into series and statements."""

    class Meta:
        table_name = "unbound-statistics"

    scope = UnicodeAttribute(hash_key=True)
    day = UnicodeAttribute(range_key=True)  # YYYY-MM-DD
    registrations = NumberAttribute(default=0)
    resolutions = NumberAttribute(default=0)
    deletions = NumberAttribute(default=0)
    identifiers = NumberAttribute(default=0)  # net change of registered identifiers
    enterprises = NumberAttribute(default=0)  # net change of active enterprises
    prefixes = NumberAttribute(default=0)  # net change of allocated prefixes


class ParameterModel(Model):
    """A named system parameter document (IOT-1), read through Powertools' DynamoDB
    parameter provider, which expects the key `id` and a string `value`."""

    class Meta:
        table_name = "unbound-parameters"

    id = UnicodeAttribute(hash_key=True)
    value = UnicodeAttribute()  # JSON
    updated = UTCDateTimeAttribute()
    updated_by = UnicodeAttribute()
    version = VersionAttribute()


class SequenceModel(Model):
    """A monotonic counter (e.g. the next enterprise prefix number), kept in the parameters
    table under its own id."""

    class Meta:
        table_name = "unbound-parameters"

    id = UnicodeAttribute(hash_key=True)
    next = NumberAttribute(default=0)


def bind(model: type[M], table_name: str, region: str, host: str | None) -> type[M]:
    """A subclass of `model` bound to a concrete table."""
    meta: dict[str, Any] = {"table_name": table_name, "region": region}
    if host:
        meta["host"] = host
    # Keep connections short-lived enough to fail fast, long enough for a cold table.
    meta.update(connect_timeout_seconds=3, read_timeout_seconds=10, max_retry_attempts=3)
    return type(model.__name__, (model,), {"Meta": type("Meta", (), meta)})


class HealthModel(Model):
    """The health of a self-hosted enterprise node (`at` = 0: its current state) and its
    outage and recovery events (`at` = when, epoch ms), per node."""

    class Meta:
        table_name = "unbound-health"

    node = UnicodeAttribute(hash_key=True)  # `<prefix>#<address>`
    at = NumberAttribute(range_key=True)
    prefix = UnicodeAttribute()
    enterprise = UnicodeAttribute()
    address = UnicodeAttribute()
    state = UnicodeAttribute(null=True)  # up | down (current state)
    since = NumberAttribute(null=True)
    checks = NumberAttribute(default=0)
    successes = NumberAttribute(default=0)
    consecutive_failures = NumberAttribute(default=0)
    rtt_ms = NumberAttribute(null=True)
    average_rtt_ms = NumberAttribute(null=True)
    last_checked = NumberAttribute(null=True)
    last_failure_at = NumberAttribute(null=True)
    last_failure = UnicodeAttribute(null=True)
    kind = UnicodeAttribute(null=True)  # outage | recovery (events)
    reason = UnicodeAttribute(null=True)
    duration_ms = NumberAttribute(null=True)


@dataclass(frozen=True)
class Tables:
    """The node's models, each bound to its table."""

    identifiers: type[IdentifierModel]
    prefixes: type[PrefixModel]
    credentials: type[CredentialModel]
    enterprises: type[EnterpriseModel]
    applications: type[ApplicationModel]
    members: type[MemberModel]
    operations: type[OperationModel]
    statistics: type[CounterModel]
    parameters: type[ParameterModel]
    sequences: type[SequenceModel]  # shares the parameters table
    devices: type[DeviceModel]
    profiles: type[ProfileModel]
    telemetry: type[TelemetryModel]
    alarms: type[AlarmModel]
    commands: type[CommandModel]
    templates: type[TemplateModel]
    keys: type[KeyModel]
    codes: type[CodeModel]
    health: type[HealthModel]

    def all(self) -> tuple[type[Model], ...]:
        """One model per table (to create them in tests)."""
        return (
            self.identifiers,
            self.prefixes,
            self.credentials,
            self.enterprises,
            self.applications,
            self.members,
            self.operations,
            self.statistics,
            self.parameters,
            self.devices,
            self.profiles,
            self.telemetry,
            self.alarms,
            self.commands,
            self.templates,
            self.keys,
            self.codes,
            self.health,
        )


def bind_tables(settings: Settings) -> Tables:
    """Every model bound to the table `settings` names for it."""

    def bound(model: type[M], table_name: str) -> type[M]:
        return bind(model, table_name, settings.region, settings.endpoint_url)

    return Tables(
        identifiers=bound(IdentifierModel, settings.identifiers_table),
        prefixes=bound(PrefixModel, settings.prefixes_table),
        credentials=bound(CredentialModel, settings.credentials_table),
        enterprises=bound(EnterpriseModel, settings.enterprises_table),
        applications=bound(ApplicationModel, settings.applications_table),
        members=bound(MemberModel, settings.members_table),
        operations=bound(OperationModel, settings.operations_table),
        statistics=bound(CounterModel, settings.statistics_table),
        parameters=bound(ParameterModel, settings.parameters_table),
        sequences=bound(SequenceModel, settings.parameters_table),
        devices=bound(DeviceModel, settings.devices_table),
        profiles=bound(ProfileModel, settings.profiles_table),
        telemetry=bound(TelemetryModel, settings.telemetry_table),
        alarms=bound(AlarmModel, settings.alarms_table),
        commands=bound(CommandModel, settings.commands_table),
        templates=bound(TemplateModel, settings.templates_table),
        keys=bound(KeyModel, settings.keys_table),
        codes=bound(CodeModel, settings.codes_table),
        health=bound(HealthModel, settings.health_table),
    )


def connection_for(model: type[Model]) -> Connection:
    """A connection to the region and endpoint `model` is bound to (for transactions)."""
    meta = model.Meta
    return Connection(
        region=getattr(meta, "region", None),
        host=getattr(meta, "host", None),
        connect_timeout_seconds=getattr(meta, "connect_timeout_seconds", None),
        read_timeout_seconds=getattr(meta, "read_timeout_seconds", None),
        max_retry_attempts=getattr(meta, "max_retry_attempts", None),
    )
