"""One Logger and one Metrics for every layer (Powertools).

No Powertools Tracer: it imports the X-Ray SDK, which builds botocore clients at import time
and costs about 220 ms of every cold start (measured in bench/). The functions run with
Lambda active tracing, which records each invocation without it (docs/decisions.md).
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics

logger = Logger(service="idnode")
metrics = Metrics(namespace="idnode", service="idnode")
