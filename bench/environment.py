"""The environment every measured process runs in: a function's settings, nothing real.

Measured processes get the variables a deployed function gets (tables, node prefix, user
pool) and fake credentials, so that nothing can reach a real AWS account. Powertools
metrics and logs stay on, as deployed, so that their cost is measured; the suite discards
the measured processes' standard output, where they go. Tracing is off: outside Lambda
there is no X-Ray daemon to send segments to (Powertools turns it off there anyway).
"""

from __future__ import annotations

from collections.abc import Mapping

from idnode import settings

REGION = "us-east-1"
NODE_PREFIX = "88.100"
FUNCTION_VARIABLES = {
    **{
        variable: f"bench-{variable.split('_')[1].lower()}" for variable in settings.TABLES.values()
    },
    settings.NODE_PREFIX: NODE_PREFIX,
    # A pool is configured, as when deployed; anonymous requests never fetch its keys.
    settings.USER_POOL_ID: f"{REGION}_BENCH",
    settings.USER_POOL_CLIENT_ID: "bench-client",
    settings.GRAPHIQL: "false",
}
POWERTOOLS = {
    "POWERTOOLS_SERVICE_NAME": "idnode",
    "POWERTOOLS_METRICS_NAMESPACE": "idnode",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "INFO",
}
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_REGION": REGION,
    "AWS_DEFAULT_REGION": REGION,
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
}
# Variables that could point a measured process at a real account or endpoint, or change
# what an import costs (no bytecode cache, an interpreter-wide profiler).
DROPPED = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_ENDPOINT_URL",
    "PYTHONDONTWRITEBYTECODE",
    "PYTHONPROFILEIMPORTTIME",
    "PYTHONWARNINGS",
    # Developer switches that change what Powertools does per request.
    "POWERTOOLS_DEV",
    "POWERTOOLS_METRICS_DISABLED",
    "POWERTOOLS_LOGGER_LOG_EVENT",
    "POWERTOOLS_DEBUG",
)


def measured_environment(
    base: Mapping[str, str], endpoint_url: str | None = None
) -> dict[str, str]:
    """`base` with the function's settings, fake credentials and Powertools as deployed."""
    env = {
        name: value
        for name, value in base.items()
        if name not in DROPPED and not name.startswith(("AWS_ENDPOINT_URL_", "IDNODE_"))
    }
    env.update(FAKE_AWS)
    env.update(FUNCTION_VARIABLES)
    env.update(POWERTOOLS)
    if endpoint_url:
        env["AWS_ENDPOINT_URL"] = endpoint_url
    return env
