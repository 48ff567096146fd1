"""The platform, through its published GraphQL operations: the use cases the simulator
needs, and the client that runs them as the signed-in person."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from idnode.cli.simulator.sensor import SENSOR_ALARMS, SENSOR_METRICS
from idnode.cli.workspace import CommandError, Workspace

FIRMWARE = "sim-1.0.0"
PAGE_SIZE = 50
GRAPHQL_TIMEOUT_SECONDS = 60  # the first call to each function may start a cold worker
OPERATIONS_DIR = ("graphql", "operations")


class PlatformError(CommandError):
    """The platform refused a request, or could not be reached."""

    def __init__(self, message: str, kind: str = "") -> None:
        super().__init__(message)
        self.kind = kind  # the GraphQL error type, when the platform answered with one


# (operation name, variables) -> the operation's one root field
Call = Callable[[str, Mapping[str, Any]], Any]


@dataclass(frozen=True, slots=True)
class Viewer:
    username: str
    enterprise: str | None
    prefixes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PlatformDevice:
    id: str
    identifier: str
    state: str  # lower case: registered, provisioned, active, maintenance, retired
    certificate_id: str | None = None


@dataclass(frozen=True, slots=True)
class Issued:
    certificate_id: str
    certificate_pem: str
    endpoint: str


def _result(operation: str, value: Any) -> dict[str, Any]:
    """A root field's value; its typed error raised as a PlatformError."""
    if not isinstance(value, dict):
        raise PlatformError(f"{operation}: unexpected answer {value!r}")
    kind = str(value.get("__typename", ""))
    if "message" in value and kind.endswith("Error"):
        raise PlatformError(f"{operation}: {kind}: {value['message']}", kind)
    return value


def _device(node: Mapping[str, Any]) -> PlatformDevice:
    return PlatformDevice(
        id=str(node["id"]),
        identifier=str(node.get("identifier") or ""),
        state=str(node.get("state") or "").lower(),
        certificate_id=node.get("certificateId"),
    )


def profile_input(enterprise: str, name: str) -> dict[str, Any]:
    """The `DeviceProfileInput` of the simulated sensor."""
    return {
        "enterprise": enterprise,
        "name": name,
        "description": "Simulated pump sensor (idnode simulate)",
        "metrics": [
            {
                "name": metric.name,
                "type": metric.type,
                "unit": metric.unit,
                "minimum": metric.minimum,
                "maximum": metric.maximum,
            }
            for metric in SENSOR_METRICS
        ],
        "alarmRules": [
            {
                "name": rule.name,
                "metric": rule.metric,
                "comparison": rule.comparison,
                "threshold": rule.threshold,
                "durationSeconds": rule.duration_seconds,
                "severity": rule.severity,
            }
            for rule in SENSOR_ALARMS
        ],
    }


class Platform:
    """The use cases the simulator needs, over the published operation documents."""

    def __init__(self, call: Call) -> None:
        self._call = call

    def viewer(self) -> Viewer:
        value = _result("Viewer", self._call("Viewer", {}))
        if not value.get("authenticated"):
            raise PlatformError("Viewer: the platform did not accept the ID token")
        return Viewer(
            username=str(value.get("username") or ""),
            enterprise=value.get("enterprise"),
            prefixes=tuple(value.get("prefixes") or ()),
        )

    def ensure_profile(self, enterprise: str, name: str) -> bool:
        """Define the simulated sensor's profile unless it exists; True when defined now."""
        try:
            existing = _result(
                "DeviceProfile",
                self._call("DeviceProfile", {"enterprise": enterprise, "name": name}),
            )
        except PlatformError as error:
            if error.kind != "NotFoundError":
                raise
        else:
            declared = {metric.get("name") for metric in existing.get("metrics") or ()}
            if missing := [m.name for m in SENSOR_METRICS if m.name not in declared]:
                raise PlatformError(
                    f"device profile {name} exists without the simulated metrics "
                    f"{', '.join(missing)}; choose another with --profile"
                )
            return False
        _result(
            "DefineDeviceProfile",
            self._call("DefineDeviceProfile", {"input": profile_input(enterprise, name)}),
        )
        return True

    def devices(self, enterprise: str, profile: str) -> dict[str, PlatformDevice]:
        """The enterprise's devices of this profile, by identifier."""
        found: dict[str, PlatformDevice] = {}
        after: str | None = None
        while True:
            variables = {
                "filter": {"enterprise": enterprise, "profile": profile},
                "first": PAGE_SIZE,
                "after": after,
            }
            page = _result("Devices", self._call("Devices", variables))
            for edge in page.get("edges") or ():
                device = _device(edge["node"])
                found[device.identifier] = device
            info = page.get("pageInfo") or {}
            after = info.get("endCursor")
            if not info.get("hasNextPage") or not after:
                return found

    def device(self, device_id: str) -> PlatformDevice:
        return _device(_result("Device", self._call("Device", {"id": device_id})))

    def register(self, enterprise: str, prefix: str, suffix: str, profile: str) -> PlatformDevice:
        variables = {
            "input": {
                "enterprise": enterprise,
                "prefix": prefix,
                "suffix": suffix,
                "profile": profile,
                "name": f"Simulated sensor {suffix}",
                "firmware": FIRMWARE,
            }
        }
        return _device(_result("RegisterDevice", self._call("RegisterDevice", variables)))

    def provision(self, device_id: str, csr: str) -> Issued:
        return self._issue("ProvisionDevice", device_id, csr)

    def rotate(self, device_id: str, csr: str) -> Issued:
        return self._issue("RotateDeviceCertificate", device_id, csr)

    def _issue(self, operation: str, device_id: str, csr: str) -> Issued:
        value = _result(operation, self._call(operation, {"device": device_id, "csr": csr}))
        return Issued(
            certificate_id=str(value["certificateId"]),
            certificate_pem=str(value["certificatePem"]),
            endpoint=str(value.get("endpoint") or ""),
        )


def operation_document(name: str, directory: Path | None = None) -> str:
    """The published operation document `name` (graphql/operations/<name>.graphql)."""
    directory = directory or Workspace.locate().root.joinpath(*OPERATIONS_DIR)
    try:
        return (directory / f"{name}.graphql").read_text(encoding="utf-8")
    except OSError as exc:
        raise PlatformError(f"operation document {name} is missing: {exc}") from exc


def graphql_call(url: str, token: str, documents: Path | None = None) -> Call:
    """Runs published operations against the GraphQL endpoint as the signed-in person."""
    import urllib.error  # noqa: PLC0415 - `idnode` loads this module for its parser
    import urllib.request  # noqa: PLC0415

    if urlsplit(url).scheme not in ("http", "https"):
        raise PlatformError(f"the GraphQL URL must be http(s): {url}")

    def call(name: str, variables: Mapping[str, Any]) -> Any:
        body = {"query": operation_document(name, documents), "variables": dict(variables)}
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
            url,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=GRAPHQL_TIMEOUT_SECONDS) as reply:  # noqa: S310
                document = json.load(reply)
        except urllib.error.HTTPError as exc:
            detail = exc.read(300).decode(errors="replace")
            raise PlatformError(f"{name}: HTTP {exc.code} from {url}: {detail}") from exc
        except (OSError, ValueError) as exc:
            raise PlatformError(f"{name}: no answer from {url}: {exc}") from exc
        if errors := document.get("errors"):
            messages = "; ".join(str(error.get("message")) for error in errors)
            raise PlatformError(f"{name}: {messages}")
        data = document.get("data") or {}
        return next(iter(data.values()), None)

    return call
