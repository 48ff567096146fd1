"""Commands to devices (IOT-3): sent on the device's command topic, answered on its response
topic before a deadline, or timed out.

A device answers `{"status": "ok" | "failed", "result": {...}, "error": "..."}` (result and
error optional).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from idnode.domain.errors import InvalidValueError
from idnode.domain.telemetry import RejectionReason, TelemetryRejected, excerpt

COMMAND_NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$"
MAX_PARAMETERS_BYTES = 8 * 1024
MIN_TIMEOUT_SECONDS = 1
MAX_TIMEOUT_SECONDS = 3600
DEFAULT_TIMEOUT_SECONDS = 30
MAX_ERROR_LENGTH = 1000
RESPONSE_FIELDS = frozenset({"status", "result", "error"})

_COMMAND_NAME = re.compile(COMMAND_NAME_PATTERN)


class CommandStatus(StrEnum):
    SENT = "sent"
    ACKNOWLEDGED = "acknowledged"
    FAILED = "failed"
    TIMED_OUT = "timed-out"


@dataclass(frozen=True, slots=True)
class Command:
    id: str
    device: str
    enterprise: str
    name: str
    parameters: Mapping[str, Any]
    status: CommandStatus
    sent_at: int
    deadline: int  # epoch ms; a response after it is late
    sent_by: str
    responded_at: int | None = None
    result: Mapping[str, Any] | None = None
    error: str | None = None

    def effective(self, now: int) -> Command:
        """The command as of `now`: one still unanswered past its deadline has timed out."""
        if self.status is CommandStatus.SENT and now > self.deadline:
            return replace(self, status=CommandStatus.TIMED_OUT)
        return self


def new_command(
    device: str,
    enterprise: str,
    name: str,
    parameters: Mapping[str, Any],
    timeout_seconds: int,
    *,
    sent_by: str,
    now: int,
) -> Command:
    """A command about to be sent; InvalidValueError names the bad field."""
    if not isinstance(name, str) or not _COMMAND_NAME.fullmatch(name):
        raise InvalidValueError(
            f"name: {excerpt(name)} must start with a letter and hold up to 64 letters, digits, "
            "'_', '.' and '-'"
        )
    if not isinstance(parameters, Mapping):
        raise InvalidValueError(f"parameters: {excerpt(parameters)} must be a JSON object")
    try:
        encoded = json.dumps(parameters, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as error:
        raise InvalidValueError(f"parameters: not representable as JSON ({error})") from None
    size = len(encoded.encode("utf-8"))
    if size > MAX_PARAMETERS_BYTES:
        raise InvalidValueError(
            f"parameters: {size} bytes as JSON, at most {MAX_PARAMETERS_BYTES} allowed"
        )
    if isinstance(timeout_seconds, bool) or not isinstance(timeout_seconds, int):
        raise InvalidValueError(
            f"timeout_seconds: {excerpt(timeout_seconds)} is not a whole number"
        )
    if not MIN_TIMEOUT_SECONDS <= timeout_seconds <= MAX_TIMEOUT_SECONDS:
        raise InvalidValueError(
            f"timeout_seconds: {timeout_seconds} must be between {MIN_TIMEOUT_SECONDS} and "
            f"{MAX_TIMEOUT_SECONDS}"
        )
    return Command(
        id=uuid.uuid4().hex,
        device=device,
        enterprise=enterprise,
        name=name,
        # A detached copy: the caller's mapping may change after the command is recorded.
        parameters=json.loads(encoded),
        status=CommandStatus.SENT,
        sent_at=now,
        deadline=now + timeout_seconds * 1000,
        sent_by=sent_by,
    )


def command_message(command: Command) -> dict[str, Any]:
    """What the device receives on its command topic."""
    return {
        "id": command.id,
        "name": command.name,
        "parameters": dict(command.parameters),
        "deadline": command.deadline,
    }


@dataclass(frozen=True, slots=True)
class CommandResponse:
    status: CommandStatus  # ACKNOWLEDGED or FAILED
    result: Mapping[str, Any] | None
    error: str | None


_RESPONSE_STATUS = {"ok": CommandStatus.ACKNOWLEDGED, "failed": CommandStatus.FAILED}


def _malformed(message: str) -> TelemetryRejected:
    return TelemetryRejected(RejectionReason.MALFORMED, message)


def read_response(document: Mapping[str, Any]) -> CommandResponse:
    """A device's answer to a command, decoded from its response payload."""
    unexpected = document.keys() - RESPONSE_FIELDS
    if unexpected:
        raise _malformed(
            f"payload: unexpected fields {excerpt(sorted(unexpected))}; a response has status, "
            "result and error"
        )
    raw_status = document.get("status")
    status = _RESPONSE_STATUS.get(raw_status) if isinstance(raw_status, str) else None
    if status is None:
        raise _malformed(f"status: {excerpt(raw_status)} must be 'ok' or 'failed'")
    result = document.get("result")
    if result is not None and not isinstance(result, dict):
        raise _malformed(f"result: {excerpt(result)} must be a JSON object")
    error = document.get("error")
    if error is not None and (not isinstance(error, str) or len(error) > MAX_ERROR_LENGTH):
        raise _malformed(
            f"error: {excerpt(error)} must be text of up to {MAX_ERROR_LENGTH} characters"
        )
    return CommandResponse(status=status, result=result, error=error)
