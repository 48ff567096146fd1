"""The dead-letter queue (SQS): what devices sent that the node could not take, kept with the
reason so that it can be inspected and replayed."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from botocore.config import Config

from idnode.observability import logger

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

    from idnode.settings import Settings

MAX_BODY_BYTES = 256 * 1024  # SQS's limit for one message
# What is kept of an event too large to send whole (its JSON text, cut).
KEPT_EVENT_BYTES = 64 * 1024

_CLIENT_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 3},
    connect_timeout=3,
    read_timeout=10,
)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class DeadLetters:
    """Sends refused device messages to the dead-letter queue."""

    def __init__(
        self, client: SQSClient, queue_url: str, *, clock: Callable[[], int] = _now_ms
    ) -> None:
        self._client = client
        self._queue_url = queue_url
        self._clock = clock

    @classmethod
    def for_settings(cls, settings: Settings) -> DeadLetters:
        import boto3  # noqa: PLC0415 - only the device events function needs SQS

        client = boto3.client(
            "sqs",
            region_name=settings.region,
            endpoint_url=settings.endpoint_url,
            config=_CLIENT_CONFIG,
        )
        return cls(client, settings.dead_letter_queue_url)

    def send(self, *, kind: str, reason: str, message: str, event: Mapping[str, Any]) -> None:
        """Send one refused event: `kind` of event (telemetry, response, presence), `reason`
        (a short code), `message` (for people). Both codes are also message attributes, so
        consumers can filter without reading bodies."""
        body = _body(kind, reason, message, event, self._clock())
        if not self._queue_url:
            # A node without a queue still keeps the letter: in its log.
            logger.warning("dead letter (no queue configured)", extra={"dead_letter": body})
            return
        self._client.send_message(
            QueueUrl=self._queue_url,
            MessageBody=body,
            MessageAttributes={
                "kind": {"DataType": "String", "StringValue": kind or "unknown"},
                "reason": {"DataType": "String", "StringValue": reason or "unknown"},
            },
        )


def _body(kind: str, reason: str, message: str, event: Mapping[str, Any], at: int) -> str:
    letter: dict[str, Any] = {
        "kind": kind,
        "reason": reason,
        "message": message,
        "event": dict(event),
        "at": at,
    }
    # default=str: an event is JSON from an IoT rule, but nothing here may fail on it.
    body = json.dumps(letter, separators=(",", ":"), default=str)
    if len(body.encode()) > MAX_BODY_BYTES:
        text = json.dumps(dict(event), separators=(",", ":"), default=str)
        letter["event"] = {
            "truncated": True,
            "bytes": len(text.encode()),
            "head": text.encode()[:KEPT_EVENT_BYTES].decode(errors="ignore"),
        }
        body = json.dumps(letter, separators=(",", ":"), default=str)
    return body
