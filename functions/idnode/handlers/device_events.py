"""Lambda function: device events from the IoT topic rules (telemetry, command responses,
presence), told apart by the `kind` each rule's SQL adds. Wiring only.

Bad input never raises: the service rejects it to the dead letters. A failing store or queue
raises, so that Lambda retries the asynchronous invocation and finally hands the event to
the function's on-failure destination (the same dead-letter queue).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from idnode.node import current_node
from idnode.observability import logger, metrics
from idnode.services.telemetry import Outcome, TelemetryService

_ROUTES: Mapping[str, Callable[[TelemetryService, Mapping[str, Any]], Outcome]] = {
    "telemetry": TelemetryService.ingest,
    "response": TelemetryService.respond,
    "presence": TelemetryService.presence,
}


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    service = current_node().telemetry
    kind = event.get("kind") if isinstance(event, Mapping) else None
    route = _ROUTES.get(kind) if isinstance(kind, str) else None
    outcome = route(service, event) if route is not None else service.misrouted(event)
    _count(kind, outcome)
    if outcome.kind == "rejected":
        logger.warning("device event rejected", extra={"kind": kind, "reason": outcome.reason})
    return {
        "kind": kind,
        "outcome": outcome.kind,
        "reason": outcome.reason,
        "alarms": list(outcome.alarms),
    }


def _count(kind: object, outcome: Outcome) -> None:
    """Dimension-free counts; TelemetryRejected counts every event rejected to the dead
    letters, whatever its kind."""
    if outcome.kind == "rejected":
        metrics.add_metric(name="TelemetryRejected", unit=MetricUnit.Count, value=1)
    elif kind == "telemetry" and outcome.kind == "stored":
        metrics.add_metric(name="TelemetryStored", unit=MetricUnit.Count, value=1)
    elif kind == "telemetry" and outcome.kind == "duplicate":
        metrics.add_metric(name="TelemetryDuplicates", unit=MetricUnit.Count, value=1)
    elif kind == "response" and outcome.kind == "stored":
        metrics.add_metric(name="CommandResponses", unit=MetricUnit.Count, value=1)
    if outcome.alarms:
        metrics.add_metric(name="AlarmsRaised", unit=MetricUnit.Count, value=len(outcome.alarms))
