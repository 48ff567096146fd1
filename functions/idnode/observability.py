"""One Logger, Tracer and Metrics for every layer (Powertools)."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger(service="idnode")
tracer = Tracer(service="idnode")
metrics = Metrics(namespace="idnode", service="idnode")
