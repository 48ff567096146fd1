"""Device management on in-memory stores: profiles, registration with its identifier,
provisioning and certificates, the lifecycle, desired state, commands and alarms; who may do
what; what is logged; what is undone when a later step fails."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from idnode.domain.access import ANONYMOUS, Principal, user
from idnode.domain.alarms import Alarm, AlarmStatus
from idnode.domain.commands import CommandStatus
from idnode.domain.devices import (
    DEVICE_ID_INDEX,
    DEVICE_TYPE_INDEX,
    ENTERPRISE_INDEX,
    LIFECYCLE_INDEX,
    Comparison,
    LifecycleState,
    Severity,
    command_topic,
    is_device_id,
)
from idnode.domain.errors import (
    AuthenticationRequiredError,
    ConcurrentUpdateError,
    HandleAlreadyExistsError,
    InvalidHandleError,
    InvalidStateError,
    InvalidValueError,
    NotAuthorisedError,
    NotFoundError,
)
from idnode.domain.parameters import Parameters
from idnode.services.devices import DeviceService, Provisioned
from idnode.services.operations import OperationLog
from tests.unit.fakes import InMemoryOperations
from tests.unit.fakes_devices import (
    CSR,
    ENTERPRISE,
    OTHER_ENTERPRISE,
    PUMP_METRICS,
    PUMP_RULES,
    EpochClock,
    FakeIotCore,
    FakeRegistry,
    InMemoryAlarms,
    InMemoryCommands,
    InMemoryDevices,
    InMemoryProfiles,
    prefixes_of,
    pump,
    pump_profile,
)

PLATFORM_ADMIN = user("pat", ["platform-admin"], None, [])
AUDITOR = user("audrey", ["auditor"], None, [])
ADMIN = user("ada", ["enterprise-admin"], ENTERPRISE, ["88.100.1000", "88.100.1001"])
MEMBER = user("eve", ["enterprise-user"], ENTERPRISE, ["88.100.1000", "88.100.1001"])
OTHER_ADMIN = user("oscar", ["enterprise-admin"], OTHER_ENTERPRISE, ["88.100.2000"])


@dataclass
class World:
    clock: EpochClock = field(default_factory=EpochClock)
    devices: InMemoryDevices = field(default_factory=InMemoryDevices)
    profiles: InMemoryProfiles = field(default_factory=InMemoryProfiles)
    commands: InMemoryCommands = field(default_factory=InMemoryCommands)
    alarms: InMemoryAlarms = field(default_factory=InMemoryAlarms)
    iot: FakeIotCore = field(default_factory=FakeIotCore)
    registry: FakeRegistry = field(default_factory=FakeRegistry)
    operations: InMemoryOperations = field(default_factory=InMemoryOperations)
    parameters: Parameters = field(default_factory=lambda: Parameters(max_page_size=50))

    def __post_init__(self) -> None:
        self.service = DeviceService(
            self.devices,
            self.profiles,
            self.iot,
            self.registry,
            OperationLog(self.operations, fallback=lambda _entry, _error: None),
            commands=self.commands,
            alarms=self.alarms,
            prefixes_of=prefixes_of,
            parameters=lambda: self.parameters,
            clock=self.clock,
        )

    def with_profile(self, enterprise: str = ENTERPRISE) -> World:
        self.profiles.put(pump_profile(enterprise))
        return self

    def register(self, principal: Principal = ADMIN, suffix: str = "PUMP-0001") -> str:
        device = self.service.register(
            principal, enterprise=ENTERPRISE, suffix=suffix, profile="pump", name="Pump 1"
        )
        return device.id

    def provisioned(self) -> str:
        device_id = self.register()
        self.service.provision(ADMIN, device_id, CSR)
        return device_id

    def entries(self, action: str) -> list[Any]:
        return [e for e in self.operations.entries if e.action == action]

    def last(self, action: str) -> Any:
        return self.entries(action)[-1]


@pytest.fixture
def world() -> World:
    return World().with_profile()


# Profiles


def test_an_enterprise_admin_defines_a_profile_of_their_enterprise() -> None:
    world = World()
    profile = world.service.define_profile(
        ADMIN, ENTERPRISE, "pump", "Centrifugal pump", PUMP_METRICS, PUMP_RULES
    )
    assert profile.version == 1
    assert world.profiles.get(ENTERPRISE, "pump") == profile
    entry = world.last("define-device-profile")
    assert (entry.result, entry.target, entry.enterprise) == ("ok", "pump", ENTERPRISE)


@pytest.mark.parametrize(
    ("principal", "error"),
    [
        (MEMBER, NotAuthorisedError),
        (AUDITOR, NotAuthorisedError),
        (OTHER_ADMIN, NotAuthorisedError),
        (ANONYMOUS, AuthenticationRequiredError),
    ],
)
def test_only_managers_of_the_enterprise_define_profiles(
    principal: Principal, error: type[Exception]
) -> None:
    world = World()
    with pytest.raises(error):
        world.service.define_profile(principal, ENTERPRISE, "pump", "", PUMP_METRICS, PUMP_RULES)
    assert world.profiles.items == {}
    assert world.last("define-device-profile").result != "ok"


def test_a_profile_is_updated_only_at_the_version_read(world: World) -> None:
    updated = world.service.update_profile(
        ADMIN, ENTERPRISE, "pump", "Pump, rev. B", PUMP_METRICS, PUMP_RULES[:1], version=1
    )
    assert (updated.version, updated.description, len(updated.alarm_rules)) == (
        2,
        "Pump, rev. B",
        1,
    )
    with pytest.raises(ConcurrentUpdateError):
        world.service.update_profile(
            ADMIN, ENTERPRISE, "pump", "stale", PUMP_METRICS, PUMP_RULES, version=1
        )
    assert world.profiles.get(ENTERPRISE, "pump") == updated
    assert [e.result for e in world.entries("update-device-profile")] == ["ok", "concurrent-update"]


def test_a_profile_with_a_bad_field_is_refused_naming_it() -> None:
    world = World()
    with pytest.raises(InvalidValueError, match=r"metrics\[0\]\.name"):
        world.service.define_profile(
            ADMIN, ENTERPRISE, "pump", "", [replace(PUMP_METRICS[0], name="1bad")], []
        )


def test_profiles_are_read_by_their_enterprise_and_staff(world: World) -> None:
    assert world.service.profile(MEMBER, ENTERPRISE, "pump").name == "pump"
    assert world.service.profile(AUDITOR, ENTERPRISE, "pump").name == "pump"
    with pytest.raises(NotAuthorisedError):
        world.service.profile(OTHER_ADMIN, ENTERPRISE, "pump")
    with pytest.raises(NotFoundError):
        world.service.profile(ADMIN, ENTERPRISE, "valve")


@pytest.mark.parametrize(("asked", "used"), [(0, 1), (20, 20), (10_000, 50)])
def test_page_sizes_are_clamped_to_the_parameters(world: World, asked: int, used: int) -> None:
    world.service.profiles(ADMIN, ENTERPRISE, first=asked, cursor=None)
    world.service.devices(
        ADMIN, enterprise=None, state=None, profile=None, connected=None, first=asked, cursor=None
    )
    assert world.profiles.asked[-1]["first"] == used
    assert world.devices.asked[-1]["first"] == used


# Registering


def test_registering_creates_the_device_and_its_identifier(world: World) -> None:
    device = world.service.register(
        ADMIN, enterprise=ENTERPRISE, suffix="PUMP-0001", profile="pump", name="Pump 1"
    )
    assert is_device_id(device.id)
    assert (device.state, device.prefix, device.identifier, device.version) == (
        LifecycleState.REGISTERED,
        "88.100.1000",
        "88.100.1000/PUMP-0001",
        1,
    )
    assert world.devices.get(device.id) == device
    name = "88.100.1000/PUMP-0001"
    assert world.registry.value(name, DEVICE_ID_INDEX) == device.id
    assert world.registry.value(name, DEVICE_TYPE_INDEX) == "pump"
    assert world.registry.value(name, ENTERPRISE_INDEX) == ENTERPRISE
    assert world.registry.value(name, LIFECYCLE_INDEX) == "registered"
    assert world.registry.calls == [("create", name, "ada")]  # with the caller's rights
    entry = world.last("register-device")
    assert (entry.result, entry.target, entry.details["identifier"]) == ("ok", device.id, name)


def test_registering_under_another_prefix_of_the_enterprise(world: World) -> None:
    device = world.service.register(
        ADMIN,
        enterprise=ENTERPRISE,
        suffix="P2",
        profile="pump",
        name="Pump 2",
        prefix="88.100.1001",
    )
    assert device.identifier == "88.100.1001/P2"


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"prefix": "88.100.2000"}, InvalidValueError),  # another enterprise's prefix
        ({"profile": "valve"}, NotFoundError),
        ({"name": ""}, InvalidValueError),
        ({"suffix": ""}, InvalidHandleError),
    ],
)
def test_registering_checks_prefix_profile_and_fields(
    world: World, changes: dict[str, Any], error: type[Exception]
) -> None:
    asked: dict[str, Any] = {
        "enterprise": ENTERPRISE,
        "suffix": "PUMP-0001",
        "profile": "pump",
        "name": "Pump 1",
        **changes,
    }
    with pytest.raises(error):
        world.service.register(ADMIN, **asked)
    assert world.devices.items == {}
    assert world.registry.records == {}
    assert world.last("register-device").result != "ok"


@pytest.mark.parametrize("principal", [MEMBER, AUDITOR, OTHER_ADMIN])
def test_only_managers_of_the_enterprise_register_devices(
    world: World, principal: Principal
) -> None:
    with pytest.raises(NotAuthorisedError):
        world.register(principal)
    assert world.devices.items == {}
    assert world.registry.calls == []
    assert world.last("register-device").result == "not-authorised"


def test_registering_a_taken_identifier_stores_no_device(world: World) -> None:
    world.register()
    with pytest.raises(HandleAlreadyExistsError):
        world.register()
    assert len(world.devices.items) == 1


def test_the_identifier_is_withdrawn_when_the_device_cannot_be_stored(world: World) -> None:
    world.devices.fail_create = RuntimeError("table unavailable")
    with pytest.raises(RuntimeError, match="table unavailable"):
        world.register()
    assert world.registry.records == {}
    assert [c[0] for c in world.registry.calls] == ["create", "delete"]
    assert world.last("register-device").result == "internal"


def test_a_failed_withdrawal_leaves_the_original_error(world: World) -> None:
    world.devices.fail_create = RuntimeError("table unavailable")
    world.registry.fail["delete"] = RuntimeError("registry down too")
    with pytest.raises(RuntimeError, match="table unavailable"):
        world.register()
    assert world.last("register-device").details["identifier_left"] is True


# Reading devices


def test_devices_are_seen_by_their_enterprise_and_staff(world: World) -> None:
    device_id = world.register()
    for principal in (ADMIN, MEMBER, AUDITOR, PLATFORM_ADMIN):
        assert world.service.device(principal, device_id).id == device_id
    with pytest.raises(NotAuthorisedError):
        world.service.device(OTHER_ADMIN, device_id)
    with pytest.raises(NotFoundError):
        world.service.device(ADMIN, "d-missing")


def test_listings_of_enterprise_people_are_narrowed_to_their_enterprise(world: World) -> None:
    mine = world.register()
    world.devices.seed(pump("d-theirs", enterprise=OTHER_ENTERPRISE))
    listed = world.service.devices(
        MEMBER, enterprise=None, state=None, profile=None, connected=None, first=10, cursor=None
    )
    assert [d.id for d in listed.items] == [mine]
    everything = world.service.devices(
        AUDITOR, enterprise=None, state=None, profile=None, connected=None, first=10, cursor=None
    )
    assert {d.id for d in everything.items} == {mine, "d-theirs"}
    with pytest.raises(NotAuthorisedError):
        world.service.devices(
            MEMBER,
            enterprise=OTHER_ENTERPRISE,
            state=None,
            profile=None,
            connected=None,
            first=10,
            cursor=None,
        )


def test_counts_by_state(world: World) -> None:
    world.register()
    world.devices.seed(pump("d-theirs", enterprise=OTHER_ENTERPRISE))
    mine = world.service.counts(ADMIN, None)
    assert mine[LifecycleState.REGISTERED] == 1
    assert mine[LifecycleState.ACTIVE] == 0
    assert world.service.counts(PLATFORM_ADMIN, None)[LifecycleState.ACTIVE] == 1
    with pytest.raises(NotAuthorisedError):
        world.service.counts(ADMIN, OTHER_ENTERPRISE)


# Provisioning and certificates


def test_provisioning_issues_a_certificate_to_a_registered_device(world: World) -> None:
    device_id = world.register()
    provisioned = world.service.provision(ADMIN, device_id, CSR)
    assert isinstance(provisioned, Provisioned)
    assert provisioned.device.state is LifecycleState.PROVISIONED
    assert provisioned.device.certificate_id == provisioned.certificate_id == "cert-1"
    assert provisioned.certificate_pem.startswith("-----BEGIN CERTIFICATE-----")
    assert provisioned.endpoint == world.iot.endpoint()
    assert world.iot.things[device_id] == {
        "enterprise": ENTERPRISE,
        "identifier": "88.100.1000/PUMP-0001",
        "profile": "pump",
    }
    assert world.iot.certificates == {"cert-1": "ACTIVE"}
    assert world.registry.value("88.100.1000/PUMP-0001", LIFECYCLE_INDEX) == "provisioned"
    entry = world.last("provision-device")
    assert (entry.result, entry.enterprise, entry.details["certificate"]) == (
        "ok",
        ENTERPRISE,
        "cert-1",
    )


def test_provisioning_happens_once_only_from_registered(world: World) -> None:
    device_id = world.provisioned()
    with pytest.raises(InvalidStateError, match="rotat"):
        world.service.provision(ADMIN, device_id, CSR)
    assert world.iot.certificates == {"cert-1": "ACTIVE"}
    assert world.last("provision-device").result == "invalid-state"


def test_a_request_that_is_no_csr_creates_no_thing(world: World) -> None:
    device_id = world.register()
    with pytest.raises(InvalidValueError, match="csr"):
        world.service.provision(ADMIN, device_id, "hello")
    assert world.iot.calls == []


@pytest.mark.parametrize("principal", [MEMBER, AUDITOR, OTHER_ADMIN])
def test_only_managers_of_the_enterprise_provision(world: World, principal: Principal) -> None:
    device_id = world.register()
    with pytest.raises(NotAuthorisedError):
        world.service.provision(principal, device_id, CSR)
    assert world.iot.calls == []


def test_a_certificate_no_record_knows_of_is_revoked_again(world: World) -> None:
    device_id = world.register()
    # Someone else changes the device between the read and the write.
    world.devices.before_save.append(
        lambda devices: devices.seed(replace(devices.items[device_id], version=2))
    )
    with pytest.raises(ConcurrentUpdateError):
        world.service.provision(ADMIN, device_id, CSR)
    assert world.iot.certificates == {"cert-1": "REVOKED"}
    assert world.devices.items[device_id].certificate_id is None


def test_rotation_issues_the_new_certificate_before_deactivating_the_old(world: World) -> None:
    device_id = world.provisioned()
    rotated = world.service.rotate_certificate(ADMIN, device_id, CSR)
    assert rotated.certificate_id == rotated.device.certificate_id == "cert-2"
    assert world.iot.certificates == {"cert-1": "INACTIVE", "cert-2": "ACTIVE"}
    certificate_calls = [c for c in world.iot.calls if c[0] != "ensure_thing"]
    assert certificate_calls == [
        ("issue_certificate", device_id),
        ("issue_certificate", device_id),
        ("deactivate_certificate", "cert-1"),
    ]
    entry = world.last("rotate-device-certificate")
    assert (entry.details["certificate"], entry.details["previous"]) == ("cert-2", "cert-1")


def test_a_failed_deactivation_of_the_old_certificate_keeps_the_new_one(world: World) -> None:
    device_id = world.provisioned()
    world.iot.fail["deactivate_certificate"] = RuntimeError("throttled")
    rotated = world.service.rotate_certificate(ADMIN, device_id, CSR)
    assert rotated.certificate_pem  # the only copy reaches the caller
    assert world.devices.items[device_id].certificate_id == "cert-2"
    assert world.last("rotate-device-certificate").details["previous_left_active"] is True


@pytest.mark.parametrize("state", [LifecycleState.REGISTERED, LifecycleState.RETIRED])
def test_rotation_needs_a_device_with_a_certificate_life(
    world: World, state: LifecycleState
) -> None:
    world.devices.seed(pump(state=state))
    with pytest.raises(InvalidStateError):
        world.service.rotate_certificate(ADMIN, "d-pump1", CSR)
    assert world.iot.calls == []


def test_revoking_a_certificate(world: World) -> None:
    device_id = world.provisioned()
    device = world.service.revoke_certificate(ADMIN, device_id)
    assert device.certificate_id is None
    assert world.iot.certificates == {"cert-1": "REVOKED"}
    with pytest.raises(InvalidStateError, match="no certificate"):
        world.service.revoke_certificate(ADMIN, device_id)
    assert [e.result for e in world.entries("revoke-device-certificate")] == [
        "ok",
        "invalid-state",
    ]


# Lifecycle


def test_changing_state_records_from_to_and_reason(world: World) -> None:
    world.devices.seed(pump())
    device = world.service.change_state(
        ADMIN, "d-pump1", LifecycleState.MAINTENANCE, "bearing replacement"
    )
    assert (device.state, device.version) == (LifecycleState.MAINTENANCE, 2)
    entry = world.last("change-device-state")
    assert (
        entry.details.items()
        >= {
            "from": "active",
            "to": "maintenance",
            "reason": "bearing replacement",
        }.items()
    )
    assert world.registry.calls[-1] == ("upsert_values", "88.100.1000/PUMP-0001", "ada")


def test_retiring_deactivates_the_certificate(world: World) -> None:
    device_id = world.provisioned()
    device = world.service.change_state(ADMIN, device_id, LifecycleState.RETIRED, "scrapped")
    assert (device.state, device.certificate_id) == (LifecycleState.RETIRED, None)
    assert world.iot.certificates == {"cert-1": "INACTIVE"}
    assert world.registry.value("88.100.1000/PUMP-0001", LIFECYCLE_INDEX) == "retired"
    assert world.last("change-device-state").details["certificate"] == "cert-1"


@pytest.mark.parametrize(
    ("current", "asked", "error"),
    [
        (LifecycleState.ACTIVE, LifecycleState.PROVISIONED, InvalidValueError),
        (LifecycleState.ACTIVE, LifecycleState.REGISTERED, InvalidValueError),
        (LifecycleState.RETIRED, LifecycleState.ACTIVE, InvalidStateError),
        (LifecycleState.REGISTERED, LifecycleState.ACTIVE, InvalidStateError),
    ],
)
def test_only_allowed_state_changes(
    world: World, current: LifecycleState, asked: LifecycleState, error: type[Exception]
) -> None:
    world.devices.seed(pump(state=current))
    with pytest.raises(error):
        world.service.change_state(ADMIN, "d-pump1", asked, "")
    assert world.devices.items["d-pump1"].state is current


def test_a_reason_is_at_most_500_characters(world: World) -> None:
    world.devices.seed(pump())
    with pytest.raises(InvalidValueError, match="reason"):
        world.service.change_state(ADMIN, "d-pump1", LifecycleState.MAINTENANCE, "x" * 501)


def test_the_identifier_failing_to_follow_does_not_undo_a_state_change(world: World) -> None:
    world.devices.seed(pump())
    world.registry.fail["upsert_values"] = HandleAlreadyExistsError("odd")
    device = world.service.change_state(ADMIN, "d-pump1", LifecycleState.MAINTENANCE, "")
    assert device.state is LifecycleState.MAINTENANCE
    entry = world.last("change-device-state")
    assert (entry.result, entry.details["identifier_not_updated"]) == ("ok", "odd")


def test_first_connection_activates_a_provisioned_device(world: World) -> None:
    device_id = world.provisioned()
    world.service.activate_on_connect(device_id, 1234)
    assert world.devices.items[device_id].state is LifecycleState.ACTIVE
    assert world.registry.value("88.100.1000/PUMP-0001", LIFECYCLE_INDEX) == "active"
    entry = world.last("change-device-state")
    assert (entry.actor, entry.actor_kind, entry.result) == (f"device:{device_id}", "service", "ok")
    assert entry.details == {
        "from": "provisioned",
        "to": "active",
        "cause": "first-connection",
        "at": 1234,
    }


def test_an_update_logs_what_changed_and_an_empty_one_writes_nothing(world: World) -> None:
    device_id = world.register()
    before = world.devices.items[device_id]
    world.clock.now += 5
    updated = world.service.update(ADMIN, device_id, version=before.version, firmware="2.0.1")
    assert (updated.firmware, updated.name, updated.version) == ("2.0.1", before.name, 2)
    assert updated.updated_at == world.clock.now
    assert world.last("update-device").details["firmware"] == {
        "from": before.firmware,
        "to": "2.0.1",
    }
    same = world.service.update(ADMIN, device_id, version=2, firmware="2.0.1")
    assert same.version == 2
    with pytest.raises(ConcurrentUpdateError):
        world.service.update(ADMIN, device_id, version=1, name="Feed pump 2")
    with pytest.raises(InvalidValueError, match=r"^name"):
        world.service.update(ADMIN, device_id, version=2, name="")
    with pytest.raises(NotAuthorisedError):
        world.service.update(OTHER_ADMIN, device_id, version=2, name="Not yours")
    assert [e.result for e in world.entries("update-device")] == [
        "ok",
        "ok",
        "concurrent-update",
        "invalid-value",
        "not-authorised",
    ]


@pytest.mark.parametrize(
    "state", [LifecycleState.ACTIVE, LifecycleState.MAINTENANCE, LifecycleState.RETIRED]
)
def test_connecting_changes_nothing_but_a_provisioned_device(
    world: World, state: LifecycleState
) -> None:
    world.devices.seed(pump(state=state))
    world.service.activate_on_connect("d-pump1", 1)
    world.service.activate_on_connect("d-unknown", 1)
    assert world.devices.items["d-pump1"].state is state
    assert world.entries("change-device-state") == []


def test_a_change_meanwhile_wins_over_activation(world: World) -> None:
    device_id = world.provisioned()

    def put_in_maintenance(devices: InMemoryDevices) -> None:
        current = devices.items[device_id]
        devices.seed(
            replace(current, state=LifecycleState.MAINTENANCE, version=current.version + 1)
        )

    world.devices.before_save.append(put_in_maintenance)
    world.service.activate_on_connect(device_id, 1)  # no error
    assert world.devices.items[device_id].state is LifecycleState.MAINTENANCE
    assert [e.result for e in world.entries("change-device-state")] == ["concurrent-update"]


# Control


def test_desired_state_is_set_by_enterprise_people_not_auditors(world: World) -> None:
    world.devices.seed(pump())
    shadow = world.service.set_desired(MEMBER, "d-pump1", {"setpoint": 42.5, "mode": "eco"})
    assert shadow.desired == {"setpoint": 42.5, "mode": "eco"}
    assert world.service.shadow(AUDITOR, "d-pump1").desired == shadow.desired
    with pytest.raises(NotAuthorisedError):
        world.service.set_desired(AUDITOR, "d-pump1", {"mode": "off"})
    with pytest.raises(NotAuthorisedError):
        world.service.set_desired(OTHER_ADMIN, "d-pump1", {"mode": "off"})
    assert [e.result for e in world.entries("set-desired-state")] == [
        "ok",
        "not-authorised",
        "not-authorised",
    ]


@pytest.mark.parametrize(
    "desired",
    [{}, {"bad key": 1}, {"big": "x" * 9000}, {"x": float("nan")}],
)
def test_desired_state_must_be_a_small_object_with_plain_keys(
    world: World, desired: dict[str, Any]
) -> None:
    world.devices.seed(pump())
    with pytest.raises(InvalidValueError, match="desired"):
        world.service.set_desired(ADMIN, "d-pump1", desired)
    assert world.iot.calls == []


def test_a_retired_device_takes_no_desired_state_and_no_commands(world: World) -> None:
    world.devices.seed(pump(state=LifecycleState.RETIRED))
    with pytest.raises(InvalidStateError):
        world.service.set_desired(ADMIN, "d-pump1", {"mode": "eco"})
    with pytest.raises(InvalidStateError):
        world.service.send_command(ADMIN, "d-pump1", "reboot", {}, 30)
    assert world.iot.calls == []


def test_a_command_is_recorded_then_published(world: World) -> None:
    world.devices.seed(pump())
    command = world.service.send_command(MEMBER, "d-pump1", "set-speed", {"rpm": 1500}, 30)
    assert world.commands.items[command.id].status is CommandStatus.SENT
    assert command.sent_by == "eve"
    assert world.iot.published == [
        (
            command_topic("d-pump1", command.id),
            {
                "id": command.id,
                "name": "set-speed",
                "parameters": {"rpm": 1500},
                "deadline": world.clock.now + 30_000,
            },
        )
    ]
    # Kept as long as telemetry.
    retention = world.parameters.telemetry_retention_days * 86_400
    assert world.commands.expires[command.id] == world.clock.now // 1000 + retention
    assert world.last("send-command").details["command"] == command.id


def test_a_command_that_could_not_be_published_is_recorded_as_failed(world: World) -> None:
    world.devices.seed(pump())
    world.iot.fail["publish"] = RuntimeError("endpoint unreachable")
    with pytest.raises(RuntimeError):
        world.service.send_command(ADMIN, "d-pump1", "reboot", {}, 30)
    (stored,) = world.commands.items.values()
    assert stored.status is CommandStatus.FAILED
    assert stored.error == "not delivered: RuntimeError"


def test_commands_go_only_to_devices_that_can_connect(world: World) -> None:
    device_id = world.register()
    with pytest.raises(InvalidStateError):
        world.service.send_command(ADMIN, device_id, "reboot", {}, 30)
    with pytest.raises(NotAuthorisedError):
        world.service.send_command(AUDITOR, device_id, "reboot", {}, 30)


def test_an_unanswered_command_reads_as_timed_out_after_its_deadline(world: World) -> None:
    world.devices.seed(pump())
    command = world.service.send_command(ADMIN, "d-pump1", "reboot", {}, 5)
    assert world.service.command(AUDITOR, command.id).status is CommandStatus.SENT
    world.clock.advance(5_001)
    assert world.service.command(MEMBER, command.id).status is CommandStatus.TIMED_OUT
    listed = world.service.commands(ADMIN, "d-pump1", first=10, cursor=None)
    assert [c.status for c in listed.items] == [CommandStatus.TIMED_OUT]
    with pytest.raises(NotAuthorisedError):
        world.service.command(OTHER_ADMIN, command.id)
    with pytest.raises(NotFoundError):
        world.service.command(ADMIN, "nope")


# Alarms


def an_alarm(
    alarm_id: str = "d-pump1:overheat:1",
    *,
    enterprise: str = ENTERPRISE,
    device: str = "d-pump1",
    status: AlarmStatus = AlarmStatus.ACTIVE,
    raised_at: int = 1,
) -> Alarm:
    return Alarm(
        id=alarm_id,
        enterprise=enterprise,
        device=device,
        rule="overheat",
        metric="temperature",
        severity=Severity.CRITICAL,
        comparison=Comparison.GT,
        threshold=100.0,
        status=status,
        raised_at=raised_at,
        raised_value=120.0,
    )


def test_alarm_listings_follow_the_callers_scope(world: World) -> None:
    world.devices.seed(pump())
    world.devices.seed(pump("d-theirs", enterprise=OTHER_ENTERPRISE))
    world.alarms.raise_(an_alarm())
    world.alarms.raise_(
        an_alarm("d-theirs:overheat:2", enterprise=OTHER_ENTERPRISE, device="d-theirs", raised_at=2)
    )

    def listed(principal: Principal, **asked: Any) -> list[str]:
        query: dict[str, Any] = {
            "enterprise": None,
            "device": None,
            "status": None,
            "severity": None,
            "first": 10,
            "cursor": None,
            **asked,
        }
        return [a.id for a in world.service.alarms(principal, **query).items]

    assert listed(MEMBER) == ["d-pump1:overheat:1"]
    assert listed(AUDITOR) == ["d-theirs:overheat:2", "d-pump1:overheat:1"]
    assert listed(ADMIN, device="d-pump1") == ["d-pump1:overheat:1"]
    assert listed(ADMIN, device="d-pump1", enterprise=OTHER_ENTERPRISE) == []
    with pytest.raises(NotAuthorisedError):
        listed(MEMBER, device="d-theirs")
    with pytest.raises(NotAuthorisedError):
        listed(MEMBER, enterprise=OTHER_ENTERPRISE)


def test_an_active_alarm_is_acknowledged_by_enterprise_people(world: World) -> None:
    world.alarms.raise_(an_alarm())
    acknowledged = world.service.acknowledge_alarm(MEMBER, "d-pump1:overheat:1")
    assert (acknowledged.status, acknowledged.acknowledged_by) == (AlarmStatus.ACKNOWLEDGED, "eve")
    assert acknowledged.acknowledged_at == world.clock.now
    assert world.alarms.items["d-pump1:overheat:1"] == acknowledged
    with pytest.raises(InvalidStateError):
        world.service.acknowledge_alarm(ADMIN, "d-pump1:overheat:1")
    entries = world.entries("acknowledge-alarm")
    assert [(e.result, e.enterprise) for e in entries] == [
        ("ok", ENTERPRISE),
        ("invalid-state", ENTERPRISE),
    ]


@pytest.mark.parametrize(
    ("principal", "error"),
    [(AUDITOR, NotAuthorisedError), (OTHER_ADMIN, NotAuthorisedError)],
)
def test_auditors_and_other_enterprises_do_not_acknowledge(
    world: World, principal: Principal, error: type[Exception]
) -> None:
    world.alarms.raise_(an_alarm())
    with pytest.raises(error):
        world.service.acknowledge_alarm(principal, "d-pump1:overheat:1")
    assert world.alarms.items["d-pump1:overheat:1"].status is AlarmStatus.ACTIVE


def test_an_alarm_cleared_meanwhile_is_not_acknowledged(world: World) -> None:
    world.alarms.raise_(an_alarm())
    world.alarms.before_save.append(
        lambda alarms: alarms.items.update(
            {"d-pump1:overheat:1": an_alarm(status=AlarmStatus.CLEARED)}
        )
    )
    with pytest.raises(InvalidStateError, match="cleared"):
        world.service.acknowledge_alarm(ADMIN, "d-pump1:overheat:1")
    with pytest.raises(NotFoundError):
        world.service.acknowledge_alarm(ADMIN, "nope")


# The operation log


def test_every_mutation_is_logged_with_its_action_and_outcome(world: World) -> None:
    service = world.service
    service.define_profile(ADMIN, ENTERPRISE, "valve", "", PUMP_METRICS, [])
    service.update_profile(ADMIN, ENTERPRISE, "valve", "v2", PUMP_METRICS, [], version=1)
    device_id = world.register()
    service.provision(ADMIN, device_id, CSR)
    service.rotate_certificate(ADMIN, device_id, CSR)
    service.set_desired(ADMIN, device_id, {"mode": "eco"})
    service.send_command(ADMIN, device_id, "reboot", {}, 30)
    service.revoke_certificate(ADMIN, device_id)
    world.alarms.raise_(an_alarm(device=device_id))
    service.acknowledge_alarm(ADMIN, "d-pump1:overheat:1")
    service.change_state(ADMIN, device_id, LifecycleState.RETIRED, "end of life")
    with pytest.raises(InvalidStateError):
        service.change_state(ADMIN, device_id, LifecycleState.ACTIVE, "")
    logged = [(e.action, e.result) for e in world.operations.entries]
    assert logged == [
        ("define-device-profile", "ok"),
        ("update-device-profile", "ok"),
        ("register-device", "ok"),
        ("provision-device", "ok"),
        ("rotate-device-certificate", "ok"),
        ("set-desired-state", "ok"),
        ("send-command", "ok"),
        ("revoke-device-certificate", "ok"),
        ("acknowledge-alarm", "ok"),
        ("change-device-state", "ok"),
        ("change-device-state", "invalid-state"),
    ]
    assert {e.actor for e in world.operations.entries} == {"ada"}
