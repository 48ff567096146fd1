"""Lambda function: probe every self-hosted enterprise node (EventBridge schedule). Wiring only."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from idnode.node import current_node
from idnode.observability import logger, metrics


@logger.inject_lambda_context
@metrics.log_metrics
def handler(_event: dict[str, Any], _context: LambdaContext) -> dict[str, Any]:
    run = current_node().health.probe_all()
    metrics.add_metric(name="EnterpriseNodesDown", unit=MetricUnit.Count, value=run.down)
    for event in run.events:
        logger.warning(
            "enterprise node %s",
            event.kind.value,
            extra={"node": event.node, "reason": event.reason},
        )
    return {"checked": run.checked, "up": run.up, "down": run.down, "events": len(run.events)}
