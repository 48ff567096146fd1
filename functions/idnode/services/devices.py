"""Device management (IOT-2, IOT-3, IOT-4, IOT-6, PL-1): device profiles, registration with an
industrial identifier, CSR provisioning and certificates on AWS IoT Core, the lifecycle,
desired state, commands and alarms.

Every use case authorises first (view-devices, manage-devices or control-devices, on the
enterprise the device or profile belongs to) and every change runs inside the operation log.
The device record is the source of truth; the identifier's lifecycle value mirrors it and is
brought up to date after each state change.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from idnode.adapters.iot import IssuedCertificate, Shadow
from idnode.domain.access import Operation, Principal, Scope, authorise, service_principal
from idnode.domain.alarms import Alarm, AlarmStatus, acknowledge
from idnode.domain.commands import (
    Command,
    CommandResponse,
    CommandStatus,
    command_message,
    new_command,
)
from idnode.domain.devices import (
    METRIC_NAME_PATTERN,
    AlarmRule,
    Device,
    DeviceProfile,
    LifecycleState,
    Metric,
    Severity,
    build_profile,
    check_transition,
    command_topic,
    identifier_values,
    lifecycle_value,
    new_device_id,
    validate_device_fields,
)
from idnode.domain.errors import (
    ConcurrentUpdateError,
    IdnodeError,
    InvalidStateError,
    InvalidValueError,
    NotAuthorisedError,
    NotFoundError,
)
from idnode.domain.handles import Handle, fold_case
from idnode.domain.parameters import Parameters
from idnode.domain.values import Value
from idnode.observability import logger
from idnode.services.operations import OperationLog, Pending
from idnode.store.pages import Page

MAX_REASON = 500
MAX_DESIRED_BYTES = 8 * 1024
# A PEM certificate signing request is about 1 KB for an RSA-2048 or EC key; this leaves
# room for larger keys and extensions while keeping junk out of the IoT API.
MAX_CSR_BYTES = 16 * 1024
CSR_HEADER = "-----BEGIN CERTIFICATE REQUEST-----"
DAY_SECONDS = 86_400
# A state change a person may ask for; `provisioned` follows from issuing a certificate.
REQUESTABLE_STATES = frozenset(
    {LifecycleState.ACTIVE, LifecycleState.MAINTENANCE, LifecycleState.RETIRED}
)
COMMANDABLE_STATES = frozenset(
    {LifecycleState.PROVISIONED, LifecycleState.ACTIVE, LifecycleState.MAINTENANCE}
)
FIRST_CONNECTION = "first-connection"
_ATTEMPTS = 3
_DESIRED_KEY = re.compile(METRIC_NAME_PATTERN)


class DeviceStore(Protocol):
    def create(self, device: Device) -> None: ...
    def get(self, device_id: str) -> Device | None: ...
    def save(self, device: Device) -> Device: ...
    def list(
        self,
        enterprise: str | None,
        *,
        state: LifecycleState | None,
        profile: str | None,
        connected: bool | None,
        first: int,
        cursor: str | None,
    ) -> Page[Device]: ...
    def count_by_state(self, enterprise: str | None) -> dict[LifecycleState, int]: ...


class ProfileStore(Protocol):
    def put(self, profile: DeviceProfile) -> DeviceProfile: ...
    def get(self, enterprise: str, name: str) -> DeviceProfile | None: ...
    def list(self, enterprise: str, *, first: int, cursor: str | None) -> Page[DeviceProfile]: ...


class CommandStore(Protocol):
    def create(self, command: Command, *, expires: int) -> None: ...
    def get(self, command_id: str) -> Command | None: ...
    def respond(self, command_id: str, response: CommandResponse, at: int) -> bool: ...
    def list(self, device: str, *, first: int, cursor: str | None) -> Page[Command]: ...


class AlarmStore(Protocol):
    def get(self, alarm_id: str) -> Alarm | None: ...
    def save(self, alarm: Alarm, *, expected: AlarmStatus) -> bool: ...
    def list(
        self,
        *,
        enterprise: str | None,
        device: str | None,
        status: AlarmStatus | None,
        severity: Severity | None,
        first: int,
        cursor: str | None,
    ) -> Page[Alarm]: ...


class IotControl(Protocol):
    """AWS IoT Core: things, certificates, shadows and publishing (`adapters/iot.py`)."""

    def endpoint(self) -> str: ...
    def ensure_thing(self, device_id: str, attributes: Mapping[str, str]) -> None: ...
    def issue_certificate(self, device_id: str, csr_pem: str) -> IssuedCertificate: ...
    def deactivate_certificate(
        self, device_id: str, certificate_id: str, *, revoke: bool
    ) -> None: ...
    def publish(self, topic: str, message: Mapping[str, Any]) -> None: ...
    def update_desired(self, device_id: str, desired: Mapping[str, Any]) -> Shadow: ...
    def shadow(self, device_id: str) -> Shadow: ...


class IdentifierRegistry(Protocol):
    """Where a device's identifier is registered (the registry service: its checks apply)."""

    def create(self, name: str, values: Sequence[Value], principal: Principal) -> Any: ...
    def upsert_values(self, name: str, values: Sequence[Value], principal: Principal) -> Any: ...
    def delete(self, name: str, principal: Principal) -> Any: ...


@dataclass(frozen=True)
class Provisioned:
    """A device with a freshly issued certificate. The PEM is shown once: the platform keeps
    only the certificate's id (the private key never left the device)."""

    device: Device
    certificate_id: str
    certificate_pem: str
    endpoint: str


class DeviceService:
    def __init__(
        self,
        devices: DeviceStore,
        profiles: ProfileStore,
        iot: IotControl,
        registry: IdentifierRegistry,
        log: OperationLog,
        *,
        commands: CommandStore,
        alarms: AlarmStore,
        prefixes_of: Callable[[str], Sequence[str]],
        parameters: Callable[[], Parameters],
        clock: Callable[[], int],
    ) -> None:
        self._devices = devices
        self._profiles = profiles
        self._iot = iot
        self._registry = registry
        self._log = log
        self._commands = commands
        self._alarms = alarms
        self._prefixes_of = prefixes_of
        self._parameters = parameters
        self._clock = clock

    # Profiles

    def define_profile(  # noqa: PLR0917 - a profile's parts, in the order GraphQL gives them
        self,
        principal: Principal,
        enterprise: str,
        name: str,
        description: str,
        metrics: Sequence[Metric],
        alarm_rules: Sequence[AlarmRule],
    ) -> DeviceProfile:
        with self._log.recording(
            principal, "define-device-profile", name, enterprise=enterprise
        ) as op:
            authorise(principal, Operation.MANAGE_DEVICES, enterprise=enterprise)
            now = self._clock()
            profile = build_profile(
                enterprise,
                name,
                description,
                metrics,
                alarm_rules,
                version=1,
                created_at=now,
                updated_at=now,
            )
            op.details.update(metrics=len(profile.metrics), alarm_rules=len(profile.alarm_rules))
            return self._profiles.put(profile)

    def update_profile(  # noqa: PLR0917 - a profile's parts, in the order GraphQL gives them
        self,
        principal: Principal,
        enterprise: str,
        name: str,
        description: str,
        metrics: Sequence[Metric],
        alarm_rules: Sequence[AlarmRule],
        *,
        version: int,
    ) -> DeviceProfile:
        """Replace a profile's description, metrics and rules; `version` is the one the caller
        read (ConcurrentUpdateError when it has moved on since)."""
        with self._log.recording(
            principal, "update-device-profile", name, enterprise=enterprise
        ) as op:
            authorise(principal, Operation.MANAGE_DEVICES, enterprise=enterprise)
            current = self._require_profile(enterprise, name)
            if current.version != version:
                raise ConcurrentUpdateError(
                    f"device profile {name} is at version {current.version}, not {version}; "
                    "read it again"
                )
            profile = build_profile(
                enterprise,
                name,
                description,
                metrics,
                alarm_rules,
                version=version + 1,
                created_at=current.created_at,
                updated_at=self._clock(),
            )
            op.details.update(version=profile.version)
            return self._profiles.put(profile)

    def profile(self, principal: Principal, enterprise: str, name: str) -> DeviceProfile:
        authorise(principal, Operation.VIEW_DEVICES, enterprise=enterprise)
        return self._require_profile(enterprise, name)

    def profiles(
        self, principal: Principal, enterprise: str, *, first: int, cursor: str | None
    ) -> Page[DeviceProfile]:
        authorise(principal, Operation.VIEW_DEVICES, enterprise=enterprise)
        return self._profiles.list(enterprise, first=self._page_size(first), cursor=cursor)

    # Devices

    def register(
        self,
        principal: Principal,
        *,
        enterprise: str,
        suffix: str,
        profile: str,
        name: str,
        firmware: str = "",
        prefix: str | None = None,
    ) -> Device:
        """A new device in `registered` state, with its identifier `prefix/suffix` registered
        (the enterprise's first prefix unless one of its others is named)."""
        with self._log.recording(principal, "register-device", suffix, enterprise=enterprise) as op:
            authorise(principal, Operation.MANAGE_DEVICES, enterprise=enterprise)
            validate_device_fields(name, firmware)
            chosen = self._prefix_for(enterprise, prefix)
            identifier = Handle.parse(f"{chosen}/{suffix}").name
            op.target = identifier
            self._require_profile(enterprise, profile)
            now = self._clock()
            device = Device(
                id=new_device_id(),
                enterprise=enterprise,
                prefix=chosen,
                identifier=identifier,
                profile=profile,
                name=name,
                state=LifecycleState.REGISTERED,
                firmware=firmware,
                created_at=now,
                updated_at=now,
                version=1,
            )
            op.target = device.id
            op.details.update(identifier=identifier, profile=profile)
            self._registry.create(identifier, identifier_values(device), principal)
            try:
                self._devices.create(device)
            except Exception:
                self._withdraw_identifier(identifier, principal, op)
                raise
            return device

    def device(self, principal: Principal, device_id: str) -> Device:
        return self._visible_device(principal, device_id, Operation.VIEW_DEVICES)

    def devices(
        self,
        principal: Principal,
        *,
        enterprise: str | None,
        state: LifecycleState | None,
        profile: str | None,
        connected: bool | None,
        first: int,
        cursor: str | None,
    ) -> Page[Device]:
        """Devices of one enterprise, or of the whole node for those who may see it all."""
        chosen = self._listing_enterprise(principal, enterprise)
        return self._devices.list(
            chosen,
            state=state,
            profile=profile,
            connected=connected,
            first=self._page_size(first),
            cursor=cursor,
        )

    def counts(self, principal: Principal, enterprise: str | None) -> dict[LifecycleState, int]:
        return self._devices.count_by_state(self._listing_enterprise(principal, enterprise))

    def provision(self, principal: Principal, device_id: str, csr_pem: str) -> Provisioned:
        """Issue a registered device's first certificate from its CSR."""
        with self._log.recording(principal, "provision-device", device_id) as op:
            device = self._managed_device(principal, device_id, op)
            if device.state is not LifecycleState.REGISTERED:
                raise InvalidStateError(
                    f"device {device.id} is {device.state.value}, not registered; a device "
                    "that has a certificate gets a new one by rotating it"
                )
            check_transition(device.state, LifecycleState.PROVISIONED)
            _check_csr(csr_pem)
            self._iot.ensure_thing(
                device.id,
                {
                    "enterprise": device.enterprise,
                    "identifier": device.identifier,
                    "profile": device.profile,
                },
            )
            issued = self._iot.issue_certificate(device.id, csr_pem)
            op.details.update(certificate=issued.id, to=LifecycleState.PROVISIONED.value)
            changed = replace(
                device,
                state=LifecycleState.PROVISIONED,
                certificate_id=issued.id,
                updated_at=self._clock(),
            )
            saved = self._save_with_certificate(changed, issued)
            self._mirror_state(saved, principal, op)
            return Provisioned(saved, issued.id, issued.pem, self._iot.endpoint())

    def rotate_certificate(self, principal: Principal, device_id: str, csr_pem: str) -> Provisioned:
        """A new certificate from a new CSR; the old one is deactivated once the new one is
        on record, so that the device is never left without a working certificate."""
        with self._log.recording(principal, "rotate-device-certificate", device_id) as op:
            device = self._managed_device(principal, device_id, op)
            if device.state in (LifecycleState.REGISTERED, LifecycleState.RETIRED):
                raise InvalidStateError(
                    f"device {device.id} is {device.state.value}; only a provisioned, active or "
                    "maintained device has a certificate to rotate"
                )
            _check_csr(csr_pem)
            issued = self._iot.issue_certificate(device.id, csr_pem)
            previous = device.certificate_id
            op.details.update(certificate=issued.id, previous=previous)
            changed = replace(device, certificate_id=issued.id, updated_at=self._clock())
            saved = self._save_with_certificate(changed, issued)
            if previous is not None:
                self._retire_previous(saved, previous, op)
            return Provisioned(saved, issued.id, issued.pem, self._iot.endpoint())

    def revoke_certificate(self, principal: Principal, device_id: str) -> Device:
        """Revoke the device's certificate (e.g. the device was compromised)."""
        with self._log.recording(principal, "revoke-device-certificate", device_id) as op:
            device = self._managed_device(principal, device_id, op)
            if device.certificate_id is None:
                raise InvalidStateError(f"device {device.id} has no certificate to revoke")
            op.details.update(certificate=device.certificate_id)
            # Revoked before the record forgets it: a failure leaves it on record to retry.
            self._iot.deactivate_certificate(device.id, device.certificate_id, revoke=True)
            return self._devices.save(
                replace(device, certificate_id=None, updated_at=self._clock())
            )

    def update(
        self,
        principal: Principal,
        device_id: str,
        *,
        version: int,
        name: str | None = None,
        firmware: str | None = None,
    ) -> Device:
        """Rename a device or record its firmware version (e.g. after an upgrade); `version` is
        the one the caller read (ConcurrentUpdateError when it has moved on since)."""
        with self._log.recording(principal, "update-device", device_id) as op:
            device = self._managed_device(principal, device_id, op)
            if device.version != version:
                raise ConcurrentUpdateError(
                    f"device {device.id} is at version {device.version}, not {version}; "
                    "read it again"
                )
            changed = replace(
                device,
                name=device.name if name is None else name,
                firmware=device.firmware if firmware is None else firmware,
            )
            validate_device_fields(changed.name, changed.firmware)
            for field, before, after in (
                ("name", device.name, changed.name),
                ("firmware", device.firmware, changed.firmware),
            ):
                if before != after:
                    op.details[field] = {"from": before, "to": after}
            if changed == device:
                return device
            return self._devices.save(replace(changed, updated_at=self._clock()))

    def change_state(
        self, principal: Principal, device_id: str, state: LifecycleState, reason: str
    ) -> Device:
        """Move a device to active, maintenance or retired. Retiring deactivates its
        certificate for good."""
        with self._log.recording(principal, "change-device-state", device_id) as op:
            if state not in REQUESTABLE_STATES:
                allowed = ", ".join(sorted(s.value for s in REQUESTABLE_STATES))
                raise InvalidValueError(
                    f"state: {state.value} cannot be asked for (one of {allowed}); a device is "
                    "provisioned by issuing its certificate"
                )
            if not isinstance(reason, str) or len(reason) > MAX_REASON:
                raise InvalidValueError(f"reason: at most {MAX_REASON} characters")
            device = self._managed_device(principal, device_id, op)
            op.details.update({"from": device.state.value, "to": state.value, "reason": reason})
            check_transition(device.state, state)
            certificate = device.certificate_id
            if state is LifecycleState.RETIRED and certificate is not None:
                op.details["certificate"] = certificate
                # Deactivated before the record changes: a failure leaves the device as it
                # was, and asking again deactivates it again harmlessly.
                self._iot.deactivate_certificate(device.id, certificate, revoke=False)
                certificate = None
            saved = self._devices.save(
                replace(device, state=state, certificate_id=certificate, updated_at=self._clock())
            )
            self._mirror_state(saved, principal, op)
            return saved

    def activate_on_connect(self, device_id: str, at: int) -> None:
        """A provisioned device connected or published for the first time: it is active now.
        Someone else changing the device meanwhile is not an error: their change stands."""
        principal = service_principal(f"device:{device_id}")
        for _ in range(_ATTEMPTS):
            device = self._devices.get(device_id)
            if device is None or device.state is not LifecycleState.PROVISIONED:
                return
            try:
                with self._log.recording(
                    principal,
                    "change-device-state",
                    device.id,
                    enterprise=device.enterprise,
                    details={
                        "from": device.state.value,
                        "to": LifecycleState.ACTIVE.value,
                        "cause": FIRST_CONNECTION,
                        "at": at,
                    },
                ) as op:
                    saved = self._devices.save(
                        replace(device, state=LifecycleState.ACTIVE, updated_at=self._clock())
                    )
                    self._mirror_state(saved, principal, op)
                    return
            except ConcurrentUpdateError:
                continue  # read again: if it is no longer provisioned, there is nothing to do

    # Control

    def shadow(self, principal: Principal, device_id: str) -> Shadow:
        device = self._visible_device(principal, device_id, Operation.VIEW_DEVICES)
        return self._iot.shadow(device.id)

    def set_desired(
        self, principal: Principal, device_id: str, desired: Mapping[str, Any]
    ) -> Shadow:
        """Merge `desired` into the device's shadow (a key set to None is removed)."""
        with self._log.recording(principal, "set-desired-state", device_id) as op:
            device = self._controlled_device(principal, device_id, op)
            if device.state is LifecycleState.RETIRED:
                raise InvalidStateError(f"device {device.id} is retired")
            _check_desired(desired)
            op.details["keys"] = sorted(desired)
            return self._iot.update_desired(device.id, desired)

    def send_command(
        self,
        principal: Principal,
        device_id: str,
        name: str,
        parameters: Mapping[str, Any],
        timeout_seconds: int,
    ) -> Command:
        """Record a command, then publish it on the device's command topic."""
        with self._log.recording(principal, "send-command", device_id) as op:
            device = self._controlled_device(principal, device_id, op)
            if device.state not in COMMANDABLE_STATES:
                raise InvalidStateError(
                    f"device {device.id} is {device.state.value}; commands go to provisioned, "
                    "active or maintained devices"
                )
            now = self._clock()
            command = new_command(
                device.id,
                device.enterprise,
                name,
                parameters,
                timeout_seconds,
                sent_by=principal.name,
                now=now,
            )
            op.details.update(command=command.id, name=command.name)
            self._commands.create(command, expires=self._expires(now))
            try:
                self._iot.publish(command_topic(device.id, command.id), command_message(command))
            except Exception as error:
                # Recorded as failed rather than left to time out, so that whoever reads it back
                # learns it never left the node.
                undelivered = CommandResponse(
                    CommandStatus.FAILED, None, f"not delivered: {type(error).__name__}"
                )
                self._commands.respond(command.id, undelivered, now)
                raise
            return command

    def command(self, principal: Principal, command_id: str) -> Command:
        authorise(principal, Operation.VIEW_DEVICES)
        command = self._commands.get(command_id)
        if command is None:
            raise NotFoundError(f"command {command_id} does not exist")
        authorise(principal, Operation.VIEW_DEVICES, enterprise=command.enterprise)
        return command.effective(self._clock())

    def commands(
        self, principal: Principal, device_id: str, *, first: int, cursor: str | None
    ) -> Page[Command]:
        device = self._visible_device(principal, device_id, Operation.VIEW_DEVICES)
        page = self._commands.list(device.id, first=self._page_size(first), cursor=cursor)
        now = self._clock()
        return replace(page, items=[c.effective(now) for c in page.items])

    # Alarms

    def alarms(
        self,
        principal: Principal,
        *,
        enterprise: str | None,
        device: str | None,
        status: AlarmStatus | None,
        severity: Severity | None,
        first: int,
        cursor: str | None,
    ) -> Page[Alarm]:
        """Alarms newest first: of one device, of one enterprise, or (for those who may see
        it all) of the whole node."""
        size = self._page_size(first)
        if device is not None:
            found = self._visible_device(principal, device, Operation.VIEW_DEVICES)
            if enterprise is not None and enterprise != found.enterprise:
                return Page(items=[], cursors=[], next_cursor=None)
            chosen: str | None = found.enterprise
        else:
            chosen = self._listing_enterprise(principal, enterprise)
        return self._alarms.list(
            enterprise=chosen,
            device=device,
            status=status,
            severity=severity,
            first=size,
            cursor=cursor,
        )

    def acknowledge_alarm(self, principal: Principal, alarm_id: str) -> Alarm:
        """Someone is on it. Only an active alarm can be acknowledged."""
        with self._log.recording(principal, "acknowledge-alarm", alarm_id) as op:
            authorise(principal, Operation.CONTROL_DEVICES)
            for _ in range(_ATTEMPTS):
                alarm = self._alarms.get(alarm_id)
                if alarm is None:
                    raise NotFoundError(f"alarm {alarm_id} does not exist")
                op.enterprise = alarm.enterprise
                authorise(principal, Operation.CONTROL_DEVICES, enterprise=alarm.enterprise)
                acknowledged = acknowledge(alarm, principal.name, self._clock())
                if self._alarms.save(acknowledged, expected=AlarmStatus.ACTIVE):
                    op.details.update(device=alarm.device, rule=alarm.rule)
                    return acknowledged
                # Cleared or acknowledged meanwhile: the next reading says which.
            raise ConcurrentUpdateError(f"alarm {alarm_id} kept changing; try again")

    # Internals

    def _page_size(self, first: int) -> int:
        return max(1, min(first, self._parameters().max_page_size))

    def _expires(self, now: int) -> int:
        """Epoch seconds after which a command record may go: kept as long as telemetry."""
        return now // 1000 + self._parameters().telemetry_retention_days * DAY_SECONDS

    def _require_profile(self, enterprise: str, name: str) -> DeviceProfile:
        profile = self._profiles.get(enterprise, name)
        if profile is None:
            raise NotFoundError(f"device profile {name} of enterprise {enterprise} does not exist")
        return profile

    def _require_device(self, device_id: str) -> Device:
        device = self._devices.get(device_id)
        if device is None:
            raise NotFoundError(f"device {device_id} does not exist")
        return device

    def _visible_device(self, principal: Principal, device_id: str, operation: Operation) -> Device:
        # The right itself first, so that callers without it learn nothing about devices.
        authorise(principal, operation)
        device = self._require_device(device_id)
        authorise(principal, operation, enterprise=device.enterprise)
        return device

    def _managed_device(self, principal: Principal, device_id: str, op: Pending) -> Device:
        authorise(principal, Operation.MANAGE_DEVICES)
        device = self._require_device(device_id)
        op.enterprise = device.enterprise
        op.details.setdefault("identifier", device.identifier)
        authorise(principal, Operation.MANAGE_DEVICES, enterprise=device.enterprise)
        return device

    def _controlled_device(self, principal: Principal, device_id: str, op: Pending) -> Device:
        authorise(principal, Operation.CONTROL_DEVICES)
        device = self._require_device(device_id)
        op.enterprise = device.enterprise
        authorise(principal, Operation.CONTROL_DEVICES, enterprise=device.enterprise)
        return device

    def _listing_enterprise(self, principal: Principal, enterprise: str | None) -> str | None:
        """The enterprise a listing is narrowed to: the one asked for, else (for enterprise
        people) their own; None lists the whole node."""
        scope = authorise(principal, Operation.VIEW_DEVICES, enterprise=enterprise)
        if scope is Scope.ANY:
            return enterprise
        if principal.enterprise is None:
            raise NotAuthorisedError(f"{principal.name} belongs to no enterprise")
        return principal.enterprise

    def _prefix_for(self, enterprise: str, prefix: str | None) -> str:
        held = list(self._prefixes_of(enterprise))
        if not held:
            raise InvalidStateError(f"enterprise {enterprise} holds no prefix to register under")
        if prefix is None:
            return held[0]
        for candidate in held:
            if fold_case(candidate) == fold_case(prefix.strip()):
                return candidate
        raise InvalidValueError(
            f"prefix: {prefix} is not a prefix of enterprise {enterprise} ({', '.join(held)})"
        )

    def _withdraw_identifier(self, identifier: str, principal: Principal, op: Pending) -> None:
        """Undo the identifier's registration after the device could not be stored."""
        try:
            self._registry.delete(identifier, principal)
        except Exception as error:  # the original failure is what the caller must see
            op.details["identifier_left"] = True
            logger.error(
                "device identifier left registered after the device failed to be stored",
                extra={"identifier": identifier},
                exc_info=error,
            )

    def _save_with_certificate(self, device: Device, issued: IssuedCertificate) -> Device:
        """Store a device naming a certificate just issued; if that fails, revoke the
        certificate so that none is left active that no device record knows of."""
        try:
            return self._devices.save(device)
        except Exception:
            try:
                self._iot.deactivate_certificate(device.id, issued.id, revoke=True)
            except Exception as error:
                logger.error(
                    "certificate left active after its device failed to be stored",
                    extra={"device": device.id, "certificate": issued.id},
                    exc_info=error,
                )
            raise

    def _retire_previous(self, device: Device, previous: str, op: Pending) -> None:
        """Deactivate the certificate a rotation replaced. The new one is on record by now and
        its PEM exists only in this reply, so a failure must not lose it: it is recorded for
        an operator (the old certificate's id is in the log entry) instead of raised."""
        try:
            self._iot.deactivate_certificate(device.id, previous, revoke=False)
        except Exception as error:
            op.details["previous_left_active"] = True
            logger.error(
                "replaced device certificate left active",
                extra={"device": device.id, "certificate": previous},
                exc_info=error,
            )

    def _mirror_state(self, device: Device, principal: Principal, op: Pending) -> None:
        """Bring the identifier's lifecycle value up to date. The device record holds the
        truth, so a failure here is recorded (and logged) without undoing the change; the
        next state change writes the value again."""
        try:
            self._registry.upsert_values(
                device.identifier, [lifecycle_value(device.state)], principal
            )
        except IdnodeError as error:
            op.details["identifier_not_updated"] = error.message
            logger.warning(
                "device identifier's lifecycle value not updated",
                extra={"device": device.id, "identifier": device.identifier},
                exc_info=error,
            )


def _check_csr(csr_pem: str) -> None:
    if not isinstance(csr_pem, str) or CSR_HEADER not in csr_pem:
        raise InvalidValueError(
            f"csr: a PEM certificate signing request ({CSR_HEADER}) is expected"
        )
    if len(csr_pem.encode("utf-8")) > MAX_CSR_BYTES:
        raise InvalidValueError(f"csr: at most {MAX_CSR_BYTES} bytes")


def _check_desired(desired: Mapping[str, Any]) -> None:
    if not isinstance(desired, Mapping) or not desired:
        raise InvalidValueError("desired: a non-empty JSON object is expected")
    for key in desired:
        if not isinstance(key, str) or not _DESIRED_KEY.fullmatch(key):
            raise InvalidValueError(
                f"desired.{key}: a key starts with a letter and holds up to 64 letters, digits "
                "and underscores"
            )
    try:
        encoded = json.dumps(desired, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as error:
        raise InvalidValueError(f"desired: not representable as JSON ({error})") from None
    size = len(encoded.encode("utf-8"))
    if size > MAX_DESIRED_BYTES:
        raise InvalidValueError(f"desired: {size} bytes as JSON, at most {MAX_DESIRED_BYTES}")
