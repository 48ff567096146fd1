"""The IoT repositories on moto's DynamoDB: every method, and the conditions that keep
concurrent and redelivered writes safe."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest
from moto import mock_aws

from idnode.domain.alarms import Alarm, AlarmStatus, alarm_id
from idnode.domain.commands import Command, CommandResponse, CommandStatus
from idnode.domain.devices import (
    AlarmRule,
    Comparison,
    Device,
    DeviceProfile,
    LatestValue,
    LifecycleState,
    Metric,
    MetricType,
    RuleState,
    Severity,
    build_profile,
)
from idnode.domain.errors import ConcurrentUpdateError, InvalidStateError, InvalidValueError
from idnode.domain.telemetry import TelemetryMessage
from idnode.store.alarms import AlarmRepository
from idnode.store.commands import CommandRepository
from idnode.store.device_models import (
    AlarmModel,
    CommandModel,
    DeviceModel,
    ProfileModel,
    TelemetryModel,
)
from idnode.store.devices import DeviceRepository
from idnode.store.models import bind
from idnode.store.pages import Page
from idnode.store.profiles import ProfileRepository
from idnode.store.telemetry import TelemetryRepository

REGION = "us-east-1"
ENT = "ent-1"
OTHER = "ent-2"
T0 = 1_700_000_000_000
EXPIRES = T0 // 1000 + 86_400


@dataclass
class Store:
    devices: DeviceRepository
    profiles: ProfileRepository
    telemetry: TelemetryRepository
    alarms: AlarmRepository
    commands: CommandRepository
    device_model: type[DeviceModel]
    telemetry_model: type[TelemetryModel]


@pytest.fixture(scope="module")
def tables() -> Iterator[dict[str, Any]]:
    # Built once per module (clients and tables take about a second); emptied per test.
    with mock_aws():
        models: dict[str, Any] = {
            name: bind(model, f"test-{name}", REGION, None)
            for name, model in (
                ("devices", DeviceModel),
                ("profiles", ProfileModel),
                ("telemetry", TelemetryModel),
                ("alarms", AlarmModel),
                ("commands", CommandModel),
            )
        }
        for model in models.values():
            model.create_table(billing_mode="PAY_PER_REQUEST", wait=True)
        yield models


@pytest.fixture
def store(tables: dict[str, Any]) -> Store:
    for model in tables.values():
        with model.batch_write() as batch:
            for item in model.scan():
                batch.delete(item)
    return Store(
        devices=DeviceRepository(tables["devices"]),
        profiles=ProfileRepository(tables["profiles"]),
        telemetry=TelemetryRepository(tables["telemetry"]),
        alarms=AlarmRepository(tables["alarms"]),
        commands=CommandRepository(tables["commands"]),
        device_model=tables["devices"],
        telemetry_model=tables["telemetry"],
    )


def device(
    number: int = 1,
    *,
    enterprise: str = ENT,
    profile: str = "pump",
    state: LifecycleState = LifecycleState.REGISTERED,
) -> Device:
    return Device(
        id=f"d-{number:04d}",
        enterprise=enterprise,
        prefix="88.100.1",
        identifier=f"88.100.1/PUMP-{number:04d}",
        profile=profile,
        name=f"Pump {number}",
        state=state,
        firmware="1.0.0",
        created_at=T0,
        updated_at=T0,
        version=1,
    )


def profile(name: str = "pump", *, version: int = 1, enterprise: str = ENT) -> DeviceProfile:
    return build_profile(
        enterprise,
        name,
        "Centrifugal pumps",
        [
            Metric("temperature", MetricType.NUMBER, "C", -40.0, 150.0),
            Metric("rpm", MetricType.INTEGER, "1/min", 0, 10_000),
            Metric("running", MetricType.BOOLEAN),
        ],
        [AlarmRule("hot", "temperature", Comparison.GT, 90.0, 60, Severity.MAJOR)],
        version=version,
        created_at=T0,
        updated_at=T0 + version,
    )


def alarm(
    device_id: str = "d-0001",
    rule: str = "hot",
    since: int = T0,
    *,
    enterprise: str = ENT,
    severity: Severity = Severity.MAJOR,
) -> Alarm:
    return Alarm(
        id=alarm_id(device_id, rule, since),
        enterprise=enterprise,
        device=device_id,
        rule=rule,
        metric="temperature",
        severity=severity,
        comparison=Comparison.GT,
        threshold=90.0,
        status=AlarmStatus.ACTIVE,
        raised_at=since,
        raised_value=95.5,
    )


def command(number: int, *, device_id: str = "d-0001", sent_at: int = T0) -> Command:
    return Command(
        id=f"c{number:03d}",
        device=device_id,
        enterprise=ENT,
        name="reboot",
        parameters={"delay": number},
        status=CommandStatus.SENT,
        sent_at=sent_at,
        deadline=sent_at + 30_000,
        sent_by="ann",
    )


def read_all(listing: Any, **kwargs: Any) -> list[Any]:
    """Every item of a listing, page by page, checking each page's cursors."""
    items: list[Any] = []
    cursor: str | None = None
    for _ in range(100):
        page: Page[Any] = listing(cursor=cursor, **kwargs)
        assert len(page.cursors) == len(page.items)
        items.extend(page.items)
        if page.next_cursor is None:
            return items
        cursor = page.next_cursor
    raise AssertionError("the listing never ended")


# Devices


def test_a_device_is_created_once_and_read_back_whole(store: Store) -> None:
    created = device()
    store.devices.create(created)
    assert store.devices.get(created.id) == created
    assert store.devices.get("d-none") is None
    with pytest.raises(InvalidStateError, match="exists already"):
        store.devices.create(replace(created, name="Other"))
    assert store.devices.get(created.id) == created


def test_saving_a_device_bumps_its_version_and_refuses_a_stale_one(store: Store) -> None:
    store.devices.create(device())
    read = store.devices.get("d-0001")
    assert read is not None
    saved = store.devices.save(
        replace(
            read,
            state=LifecycleState.PROVISIONED,
            certificate_id="cert-1",
            firmware="1.1.0",
            updated_at=T0 + 5,
        )
    )
    assert (saved.version, saved.state, saved.certificate_id) == (
        2,
        LifecycleState.PROVISIONED,
        "cert-1",
    )
    assert store.devices.get("d-0001") == saved
    with pytest.raises(ConcurrentUpdateError):
        store.devices.save(replace(read, name="Lost update"))
    assert store.devices.get("d-0001") == saved
    cleared = store.devices.save(replace(saved, certificate_id=None, updated_at=T0 + 6))
    assert cleared.certificate_id is None
    assert cleared.version == 3


def test_saving_a_device_keeps_what_telemetry_recorded_meanwhile(store: Store) -> None:
    store.devices.create(device())
    read = store.devices.get("d-0001")
    assert read is not None
    assert store.devices.record_latest("d-0001", {"temperature": 71.5}, T0 + 10)
    assert store.devices.record_connectivity("d-0001", True, T0 + 5)
    assert store.devices.record_alarm_states(
        "d-0001", {"hot": RuleState(pending_since=T0 + 10)}, expected_version=0
    )
    store.devices.record_rejection("d-0001", "out-of-range")
    saved = store.devices.save(replace(read, state=LifecycleState.MAINTENANCE))
    assert saved.latest == {"temperature": LatestValue(71.5, T0 + 10)}
    assert saved.connected is True
    assert saved.alarm_states == {"hot": RuleState(pending_since=T0 + 10)}
    assert saved.rejected == 1
    assert store.devices.get("d-0001") == saved


def test_saving_an_unknown_device_is_a_conflict_and_creates_nothing(store: Store) -> None:
    with pytest.raises(ConcurrentUpdateError):
        store.devices.save(device(9))
    assert store.devices.get("d-0009") is None


def test_latest_values_take_only_newer_readings(store: Store) -> None:
    store.devices.create(device())
    assert store.devices.record_latest(
        "d-0001", {"temperature": 70.25, "rpm": 1500, "running": True}, T0 + 100
    )
    # The same point again (redelivery) and an older one change nothing.
    assert not store.devices.record_latest("d-0001", {"temperature": 1.0}, T0 + 100)
    assert not store.devices.record_latest("d-0001", {"temperature": 2.0}, T0 + 50)
    # A newer one updates its metrics and keeps the others.
    assert store.devices.record_latest("d-0001", {"temperature": 72.0}, T0 + 200)
    found = store.devices.get("d-0001")
    assert found is not None
    assert found.latest == {
        "temperature": LatestValue(72.0, T0 + 200),
        "rpm": LatestValue(1500, T0 + 100),
        "running": LatestValue(True, T0 + 100),
    }
    assert isinstance(found.latest["running"].value, bool)
    assert isinstance(found.latest["rpm"].value, int)
    assert found.latest_at == T0 + 200
    assert found.last_seen == T0 + 200
    assert found.version == 1  # telemetry does not move the management version


def test_latest_values_of_an_unknown_device_create_nothing(store: Store) -> None:
    assert not store.devices.record_latest("d-ghost", {"temperature": 1.0}, T0)
    assert store.devices.get("d-ghost") is None


def test_connectivity_takes_only_newer_events(store: Store) -> None:
    store.devices.create(device())
    assert store.devices.record_connectivity("d-0001", True, T0 + 100)
    # A disconnection that happened before, delivered late, is stale.
    assert not store.devices.record_connectivity("d-0001", False, T0 + 50)
    assert not store.devices.record_connectivity("d-0001", False, T0 + 100)
    found = store.devices.get("d-0001")
    assert found is not None
    assert (found.connected, found.connectivity_at, found.last_seen) == (True, T0 + 100, T0 + 100)
    assert store.devices.record_connectivity("d-0001", False, T0 + 300)
    store.devices.record_latest("d-0001", {"rpm": 1}, T0 + 200)
    found = store.devices.get("d-0001")
    assert found is not None
    assert (found.connected, found.last_seen) == (False, T0 + 300)
    assert not store.devices.record_connectivity("d-ghost", True, T0)
    assert store.devices.get("d-ghost") is None


def test_alarm_states_change_only_the_rules_given(store: Store) -> None:
    store.devices.create(device())
    assert store.devices.record_alarm_states(
        "d-0001",
        {
            "hot": RuleState(pending_since=T0, alarm=alarm_id("d-0001", "hot", T0)),
            "cold": RuleState(pending_since=T0 + 5),
        },
        expected_version=0,
    )
    assert store.devices.record_alarm_states("d-0001", {"cold": RuleState()}, expected_version=1)
    assert store.devices.record_alarm_states("d-0001", {}, expected_version=2)
    found = store.devices.get("d-0001")
    assert found is not None
    assert found.alarm_version == 2
    assert found.alarm_states == {
        "hot": RuleState(pending_since=T0, alarm=alarm_id("d-0001", "hot", T0))
    }
    ghost = {"hot": RuleState(pending_since=T0)}
    assert not store.devices.record_alarm_states("d-ghost", ghost, expected_version=0)
    assert store.devices.get("d-ghost") is None


def test_alarm_states_written_by_another_invocation_meanwhile_refuse_a_stale_writer(
    store: Store,
) -> None:
    """Two invocations read version 0; the second to write must read again."""
    store.devices.create(device())
    first = {"hot": RuleState(pending_since=T0, alarm=alarm_id("d-0001", "hot", T0))}
    second = {"hot": RuleState(pending_since=T0 + 1, alarm=alarm_id("d-0001", "hot", T0 + 1))}
    assert store.devices.record_alarm_states("d-0001", first, expected_version=0)
    assert not store.devices.record_alarm_states("d-0001", second, expected_version=0)
    found = store.devices.get("d-0001")
    assert found is not None
    assert found.alarm_states == first


def test_rejections_are_counted_with_the_last_reason(store: Store) -> None:
    store.devices.create(device())
    store.devices.record_rejection("d-0001", "not-json")
    store.devices.record_rejection("d-0001", "out-of-range")
    found = store.devices.get("d-0001")
    assert found is not None
    assert (found.rejected, found.last_rejection) == (2, "out-of-range")
    store.devices.record_rejection("d-ghost", "unknown-device")
    assert store.devices.get("d-ghost") is None


def test_devices_are_listed_per_enterprise_page_by_page(store: Store) -> None:
    for number in range(1, 6):
        store.devices.create(device(number))
    store.devices.create(device(6, enterprise=OTHER))
    first = store.devices.list(ENT, state=None, profile=None, connected=None, first=2, cursor=None)
    assert [d.id for d in first.items] == ["d-0001", "d-0002"]
    assert first.next_cursor is not None
    # Each item's cursor resumes right after it.
    after_first = store.devices.list(
        ENT, state=None, profile=None, connected=None, first=2, cursor=first.cursors[0]
    )
    assert [d.id for d in after_first.items] == ["d-0002", "d-0003"]
    everything = read_all(
        store.devices.list, enterprise=ENT, state=None, profile=None, connected=None, first=2
    )
    assert [d.id for d in everything] == [f"d-{n:04d}" for n in range(1, 6)]
    # A page that ends the listing says so.
    whole = store.devices.list(ENT, state=None, profile=None, connected=None, first=5, cursor=None)
    assert len(whole.items) == 5
    assert whole.next_cursor is None
    all_devices = read_all(
        store.devices.list, enterprise=None, state=None, profile=None, connected=None, first=4
    )
    assert sorted(d.id for d in all_devices) == [f"d-{n:04d}" for n in range(1, 7)]


def test_device_filters_apply_across_pages(store: Store) -> None:
    for number in range(1, 31):
        state = LifecycleState.ACTIVE if number % 3 == 0 else LifecycleState.REGISTERED
        store.devices.create(device(number, state=state, profile="fan" if number == 30 else "pump"))
    store.devices.record_connectivity("d-0003", True, T0)
    store.devices.record_connectivity("d-0009", True, T0)
    active = read_all(
        store.devices.list,
        enterprise=ENT,
        state=LifecycleState.ACTIVE,
        profile=None,
        connected=None,
        first=2,
    )
    assert [d.id for d in active] == [f"d-{n:04d}" for n in range(3, 31, 3)]
    fans = read_all(
        store.devices.list, enterprise=None, state=None, profile="fan", connected=None, first=1
    )
    assert [d.id for d in fans] == ["d-0030"]
    online = read_all(
        store.devices.list,
        enterprise=ENT,
        state=LifecycleState.ACTIVE,
        profile="pump",
        connected=True,
        first=5,
    )
    assert [d.id for d in online] == ["d-0003", "d-0009"]
    offline = read_all(
        store.devices.list, enterprise=ENT, state=None, profile=None, connected=False, first=50
    )
    assert len(offline) == 28


def test_a_selective_filter_stops_reading_at_its_bound_with_a_cursor(store: Store) -> None:
    for number in range(1, 26):
        store.devices.create(device(number, profile="fan" if number == 25 else "pump"))
    # One item asked for: at most ten are read, so the first page comes back empty.
    page = store.devices.list(ENT, state=None, profile="fan", connected=None, first=1, cursor=None)
    assert page.items == []
    assert page.next_cursor is not None
    fans = read_all(
        store.devices.list, enterprise=ENT, state=None, profile="fan", connected=None, first=1
    )
    assert [d.id for d in fans] == ["d-0025"]


def test_a_cursor_only_works_in_the_listing_that_issued_it(store: Store) -> None:
    for number in range(1, 4):
        store.devices.create(device(number))
    page = store.devices.list(ENT, state=None, profile=None, connected=None, first=1, cursor=None)
    assert page.next_cursor is not None
    with pytest.raises(InvalidValueError, match="cursor"):
        store.devices.list(
            OTHER, state=None, profile=None, connected=None, first=1, cursor=page.next_cursor
        )
    with pytest.raises(InvalidValueError, match="cursor"):
        store.devices.list(
            ENT,
            state=LifecycleState.ACTIVE,
            profile=None,
            connected=None,
            first=1,
            cursor=page.next_cursor,
        )
    with pytest.raises(InvalidValueError, match="cursor"):
        store.devices.list(ENT, state=None, profile=None, connected=None, first=1, cursor="%%%")
    with pytest.raises(InvalidValueError, match="first"):
        store.devices.list(ENT, state=None, profile=None, connected=None, first=0, cursor=None)


def test_devices_are_counted_by_state(store: Store) -> None:
    states = [
        LifecycleState.REGISTERED,
        LifecycleState.REGISTERED,
        LifecycleState.ACTIVE,
        LifecycleState.RETIRED,
    ]
    for number, state in enumerate(states, 1):
        store.devices.create(device(number, state=state))
    store.devices.create(device(9, enterprise=OTHER, state=LifecycleState.ACTIVE))
    counts = store.devices.count_by_state(ENT)
    assert counts == {
        LifecycleState.REGISTERED: 2,
        LifecycleState.PROVISIONED: 0,
        LifecycleState.ACTIVE: 1,
        LifecycleState.MAINTENANCE: 0,
        LifecycleState.RETIRED: 1,
    }
    assert store.devices.count_by_state(None)[LifecycleState.ACTIVE] == 2
    assert sum(store.devices.count_by_state("ent-none").values()) == 0


# Profiles


def test_a_profile_is_created_once_and_replaced_version_by_version(store: Store) -> None:
    created = store.profiles.put(profile())
    assert store.profiles.get(ENT, "pump") == created
    assert store.profiles.get(ENT, "fan") is None
    assert store.profiles.get(OTHER, "pump") is None
    with pytest.raises(InvalidStateError, match="exists already"):
        store.profiles.put(profile())
    second = store.profiles.put(replace(profile(version=2), description="Second"))
    assert store.profiles.get(ENT, "pump") == second
    # Another writer that also read version 1 loses.
    with pytest.raises(ConcurrentUpdateError):
        store.profiles.put(replace(profile(version=2), description="Lost"))
    with pytest.raises(ConcurrentUpdateError):
        store.profiles.put(profile("fan", version=2))
    found = store.profiles.get(ENT, "pump")
    assert found is not None
    assert (found.description, found.version) == ("Second", 2)
    assert found.metric("rpm") == Metric("rpm", MetricType.INTEGER, "1/min", 0, 10_000)
    assert found.alarm_rules == profile().alarm_rules


def test_profiles_are_listed_by_name_page_by_page(store: Store) -> None:
    for name in ("valve", "fan", "pump", "boiler"):
        store.profiles.put(profile(name))
    store.profiles.put(profile("other", enterprise=OTHER))
    names = [p.name for p in read_all(store.profiles.list, enterprise=ENT, first=3)]
    assert names == ["boiler", "fan", "pump", "valve"]
    page = store.profiles.list(ENT, first=3, cursor=None)
    with pytest.raises(InvalidValueError, match="cursor"):
        store.profiles.list(OTHER, first=3, cursor=page.next_cursor)


# Telemetry


def test_a_telemetry_point_is_stored_once(store: Store) -> None:
    message = TelemetryMessage("d-0001", T0, {"temperature": 70.5, "running": True})
    assert store.telemetry.put(message, expires=EXPIRES)
    assert not store.telemetry.put(replace(message, values={"temperature": 1.0}), expires=EXPIRES)
    item = store.telemetry_model.get("d-0001", T0)
    assert item.values.attribute_values == {"temperature": 70.5, "running": True}
    assert int(item.expires.timestamp()) == EXPIRES


def test_points_of_one_metric_in_a_range(store: Store) -> None:
    for offset in range(5):
        store.telemetry.put(
            TelemetryMessage("d-0001", T0 + offset * 1000, {"temperature": 20.5 + offset}),
            expires=EXPIRES,
        )
    store.telemetry.put(TelemetryMessage("d-0001", T0 + 1500, {"rpm": 7}), expires=EXPIRES)
    store.telemetry.put(TelemetryMessage("d-0002", T0, {"temperature": 99.0}), expires=EXPIRES)
    points, truncated = store.telemetry.points(
        "d-0001", "temperature", start=T0 + 1000, end=T0 + 4000, limit=100
    )
    # The end is exclusive; the point without the metric is skipped.
    assert points == [(T0 + 1000, 21.5), (T0 + 2000, 22.5), (T0 + 3000, 23.5)]
    assert not truncated
    assert store.telemetry.points("d-0001", "rpm", start=T0, end=T0 + 10_000, limit=100) == (
        [(T0 + 1500, 7)],
        False,
    )
    assert store.telemetry.points("d-0001", "temperature", start=T0, end=T0, limit=10) == (
        [],
        False,
    )


def test_points_stop_at_the_limit_and_say_so(store: Store) -> None:
    for offset in range(6):
        store.telemetry.put(
            TelemetryMessage("d-0001", T0 + offset, {"running": offset % 2 == 0}), expires=EXPIRES
        )
    points, truncated = store.telemetry.points("d-0001", "running", start=T0, end=T0 + 100, limit=4)
    assert points == [(T0, True), (T0 + 1, False), (T0 + 2, True), (T0 + 3, False)]
    assert truncated
    points, truncated = store.telemetry.points("d-0001", "running", start=T0, end=T0 + 100, limit=6)
    assert len(points) == 6
    assert not truncated


# Alarms


def test_an_alarm_is_raised_once(store: Store) -> None:
    raised = alarm()
    assert store.alarms.raise_(raised)
    assert not store.alarms.raise_(replace(raised, raised_value=99.0))
    assert store.alarms.get(raised.id) == raised
    assert store.alarms.get("none") is None


def test_an_alarm_changes_only_from_the_status_expected(store: Store) -> None:
    raised = alarm()
    store.alarms.raise_(raised)
    acknowledged = replace(
        raised, status=AlarmStatus.ACKNOWLEDGED, acknowledged_at=T0 + 1, acknowledged_by="ann"
    )
    assert store.alarms.save(acknowledged, expected=AlarmStatus.ACTIVE)
    # A second acknowledgement read the alarm while it was active: too late now.
    assert not store.alarms.save(
        replace(acknowledged, acknowledged_by="bob"), expected=AlarmStatus.ACTIVE
    )
    cleared = replace(
        acknowledged, status=AlarmStatus.CLEARED, cleared_at=T0 + 2, cleared_value=80.0
    )
    assert store.alarms.save(cleared, expected=AlarmStatus.ACKNOWLEDGED)
    assert store.alarms.get(raised.id) == cleared
    assert not store.alarms.save(alarm("d-ghost"), expected=AlarmStatus.ACTIVE)
    assert store.alarms.get(alarm("d-ghost").id) is None


def test_alarms_are_listed_newest_first_with_filters(store: Store) -> None:
    for offset in range(5):
        severity = Severity.CRITICAL if offset % 2 else Severity.MINOR
        store.alarms.raise_(alarm("d-0001", since=T0 + offset, severity=severity))
    store.alarms.raise_(alarm("d-0002", since=T0 + 10))
    store.alarms.raise_(alarm("d-0003", since=T0 + 20, enterprise=OTHER))
    store.alarms.save(
        replace(
            alarm("d-0001", since=T0 + 3, severity=Severity.CRITICAL), status=AlarmStatus.CLEARED
        ),
        expected=AlarmStatus.ACTIVE,
    )
    common: dict[str, Any] = {"status": None, "severity": None, "first": 2}
    of_device = read_all(store.alarms.list, enterprise=None, device="d-0001", **common)
    assert [a.raised_at for a in of_device] == [T0 + 4, T0 + 3, T0 + 2, T0 + 1, T0]
    of_enterprise = read_all(store.alarms.list, enterprise=ENT, device=None, **common)
    assert [a.raised_at for a in of_enterprise] == [T0 + 10, T0 + 4, T0 + 3, T0 + 2, T0 + 1, T0]
    everywhere = read_all(store.alarms.list, enterprise=None, device=None, **common)
    assert len(everywhere) == 7
    critical_active = read_all(
        store.alarms.list,
        enterprise=ENT,
        device=None,
        status=AlarmStatus.ACTIVE,
        severity=Severity.CRITICAL,
        first=1,
    )
    assert [a.raised_at for a in critical_active] == [T0 + 1]
    cleared = read_all(
        store.alarms.list,
        enterprise=None,
        device=None,
        status=AlarmStatus.CLEARED,
        severity=None,
        first=5,
    )
    assert [a.raised_at for a in cleared] == [T0 + 3]
    # A device of another enterprise shows nothing to this one.
    assert read_all(store.alarms.list, enterprise=ENT, device="d-0003", **common) == []
    page = store.alarms.list(
        enterprise=ENT, device=None, status=None, severity=None, first=2, cursor=None
    )
    with pytest.raises(InvalidValueError, match="cursor"):
        store.alarms.list(
            enterprise=None,
            device="d-0001",
            status=None,
            severity=None,
            first=2,
            cursor=page.next_cursor,
        )


# Commands


def test_a_command_is_recorded_and_read_back(store: Store) -> None:
    sent = command(1)
    store.commands.create(sent, expires=EXPIRES)
    assert store.commands.get(sent.id) == sent
    assert store.commands.get("none") is None
    with pytest.raises(InvalidStateError):
        store.commands.create(sent, expires=EXPIRES)


def test_a_response_is_taken_once_and_only_before_the_deadline(store: Store) -> None:
    sent = command(1)
    store.commands.create(sent, expires=EXPIRES)
    ok = CommandResponse(CommandStatus.ACKNOWLEDGED, {"rebooted": True}, None)
    assert store.commands.respond(sent.id, ok, sent.deadline)
    # A duplicate (redelivered) response changes nothing.
    failed = CommandResponse(CommandStatus.FAILED, None, "busy")
    assert not store.commands.respond(sent.id, failed, sent.deadline)
    answered = store.commands.get(sent.id)
    assert answered == replace(
        sent,
        status=CommandStatus.ACKNOWLEDGED,
        responded_at=sent.deadline,
        result={"rebooted": True},
    )
    late = command(2)
    store.commands.create(late, expires=EXPIRES)
    assert not store.commands.respond(late.id, ok, late.deadline + 1)
    assert store.commands.get(late.id) == late
    assert not store.commands.respond("unknown", ok, T0)
    assert store.commands.get("unknown") is None
    store.commands.create(command(3), expires=EXPIRES)
    assert store.commands.respond("c003", failed, T0 + 1)
    refused = store.commands.get("c003")
    assert refused is not None
    assert (refused.status, refused.error, refused.result) == (CommandStatus.FAILED, "busy", None)


def test_commands_are_listed_newest_first_per_device(store: Store) -> None:
    for number in range(1, 6):
        store.commands.create(command(number, sent_at=T0 + number), expires=EXPIRES)
    store.commands.create(command(9, device_id="d-0002"), expires=EXPIRES)
    listed = read_all(store.commands.list, device="d-0001", first=2)
    assert [c.id for c in listed] == ["c005", "c004", "c003", "c002", "c001"]
    page = store.commands.list("d-0001", first=2, cursor=None)
    with pytest.raises(InvalidValueError, match="cursor"):
        store.commands.list("d-0002", first=2, cursor=page.next_cursor)
