"""The fleet: the devices SIM-0001.. registered and provisioned on the platform, or reused
as an earlier run provisioned and stored them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from idnode.cli.simulator.keys import (
    DeviceCredentials,
    KeyStore,
    certificate_request,
    new_private_key,
)
from idnode.cli.simulator.platform import Platform, PlatformDevice, PlatformError

PROVISIONING_WORKERS = 4


@dataclass(frozen=True, slots=True)
class Fleet:
    """The devices ready to connect, and why the others are not."""

    devices: list[DeviceCredentials] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    actions: dict[str, int] = field(default_factory=dict)  # registered, provisioned, ...


def suffixes(count: int) -> list[str]:
    return [f"SIM-{number:04d}" for number in range(1, count + 1)]


def provision_fleet(
    platform: Platform,
    store: KeyStore,
    *,
    enterprise: str,
    prefix: str,
    profile: str,
    count: int,
    workers: int = PROVISIONING_WORKERS,
) -> Fleet:
    """Register and provision the devices SIM-0001.. (or reuse what was done before)."""
    from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415

    known = platform.devices(enterprise, profile)

    def prepare(suffix: str) -> tuple[DeviceCredentials | None, list[str], str]:
        try:
            return _prepare(
                platform,
                store,
                known=known,
                enterprise=enterprise,
                prefix=prefix,
                profile=profile,
                suffix=suffix,
            )
        except PlatformError as error:
            return None, [], f"{prefix}/{suffix}: {error}"

    fleet = Fleet()
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for credentials, actions, problem in pool.map(prepare, suffixes(count)):
            for action in actions:
                fleet.actions[action] = fleet.actions.get(action, 0) + 1
            if credentials is not None:
                fleet.devices.append(credentials)
            if problem:
                fleet.problems.append(problem)
    return fleet


def _prepare(
    platform: Platform,
    store: KeyStore,
    *,
    known: Mapping[str, PlatformDevice],
    enterprise: str,
    prefix: str,
    profile: str,
    suffix: str,
) -> tuple[DeviceCredentials | None, list[str], str]:
    actions: list[str] = []
    identifier = f"{prefix}/{suffix}"
    device = known.get(identifier)
    if device is None:
        device = platform.register(enterprise, prefix, suffix, profile)
        actions.append("registered")
    if device.state == "retired":
        return None, actions, f"{identifier}: the device {device.id} is retired"
    stored = store.credentials(suffix)
    if device.state != "registered" and stored is not None and stored.device_id == device.id:
        current = platform.device(device.id)
        if current.certificate_id and current.certificate_id == stored.certificate_id:
            return stored, [*actions, "reused"], ""
    key = new_private_key()
    csr = certificate_request(key, device.id)
    if device.state == "registered":
        issued = platform.provision(device.id, csr)
        actions.append("provisioned")
    else:
        # Its certificate is not here (or no longer valid): a new key, a new certificate.
        issued = platform.rotate(device.id, csr)
        actions.append("rotated")
    credentials = DeviceCredentials(
        suffix=suffix,
        device_id=device.id,
        certificate_id=issued.certificate_id,
        certificate_pem=issued.certificate_pem.encode(),
        private_key_pem=key,
        endpoint=issued.endpoint,
    )
    store.save(credentials)
    return credentials, actions, ""
