"""Lambda function: the GraphQL API. Wiring only."""

from __future__ import annotations

from typing import Any, cast

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from mangum import Mangum

from idnode.api.graphql.app import create_app
from idnode.node import current_node
from idnode.observability import logger, metrics

_asgi: Mangum | None = None


def _adapter() -> Mangum:
    # Built on first invocation (not import) so that the node is configured by then.
    global _asgi  # noqa: PLW0603 - one ASGI adapter per warm Lambda process
    if _asgi is None:
        _asgi = Mangum(create_app(current_node()), lifespan="off", api_gateway_base_path="/")
    return _asgi


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    metrics.add_metric(name="GraphQLRequests", unit=MetricUnit.Count, value=1)
    # Mangum declares its own LambdaContext protocol; Powertools' type is the same object.
    try:
        response: dict[str, Any] = _adapter()(event, cast(Any, context))
    finally:
        current_node().meter.flush_if_due()
    return response
