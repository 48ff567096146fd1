"""Telemetry points in DynamoDB: one item per (device, time), expiring after the retention
period. Writing is the telemetry function's hot path: one conditional PutItem per message."""

from __future__ import annotations

from datetime import UTC, datetime

from pynamodb.exceptions import PutError

from idnode.domain.telemetry import TelemetryMessage
from idnode.store.device_models import TelemetryModel

MAX_ITEMS_PER_REQUEST = 1000


class TelemetryRepository:
    def __init__(self, model: type[TelemetryModel]) -> None:
        self._model = model

    def put(self, message: TelemetryMessage, *, expires: int) -> bool:
        """Store a message; False when this device already has a message at this time (a
        redelivery). `expires` is in epoch seconds."""
        item = self._model(
            message.device,
            message.at,
            values=dict(message.values),
            expires=datetime.fromtimestamp(expires, tz=UTC),
        )
        try:
            item.save(condition=self._model.device.does_not_exist())
        except PutError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def points(
        self, device: str, metric: str, *, start: int, end: int, limit: int
    ) -> tuple[list[tuple[int, float | int | bool]], bool]:
        """The device's readings of `metric` with `start <= at < end`, oldest first, reading
        at most `limit` items; and whether more items were left unread (truncated).
        Messages that do not carry the metric are skipped (they still count as read)."""
        if end <= start or limit < 1:
            return [], False
        model = self._model
        # One item more than the limit tells whether the range holds more.
        wanted = limit + 1
        results = model.query(
            device,
            model.at.between(start, end - 1),
            # A metric name has no dots, so this is the path values -> metric.
            attributes_to_get=["at", f"values.{metric}"],
            page_size=min(wanted, MAX_ITEMS_PER_REQUEST),
        )
        points: list[tuple[int, float | int | bool]] = []
        read = 0
        # Raw pages: up to tens of thousands of items, too many to build models for.
        pages = results.page_iter
        for page in pages:
            for raw in page.get("Items", []):
                read += 1
                if read > limit:
                    return points, True
                reading = raw.get("values", {}).get("M", {}).get(metric)
                if reading is not None:
                    points.append((int(raw["at"]["N"]), _reading(reading)))
            pages.page_size = min(wanted - read, MAX_ITEMS_PER_REQUEST)
        return points, False


def _reading(attribute: dict[str, object]) -> float | int | bool:
    if "BOOL" in attribute:
        return bool(attribute["BOOL"])
    text = str(attribute["N"])
    try:
        return int(text)
    except ValueError:
        return float(text)
