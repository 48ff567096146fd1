"""Every test runs with fake credentials and a fixed region, so nothing can reach real AWS."""

from __future__ import annotations

import os

os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
        "POWERTOOLS_TRACE_DISABLED": "1",
        "POWERTOOLS_METRICS_NAMESPACE": "idnode",
        "POWERTOOLS_SERVICE_NAME": "idnode",
        "POWERTOOLS_DEV": "0",
    }
)
# The local cloud a developer points at (if any) is kept for tests/localcloud only; no other
# test may talk to an endpoint outside its own process.
LOCAL_CLOUD_ENDPOINT = os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ.pop("AWS_PROFILE", None)


def pytest_terminal_summary(terminalreporter: object) -> None:
    """Say loudly which tests of the real Handle.Net peer did not run (they are not passes)."""
    from tests.support.handle_peer import NOT_RUN

    if NOT_RUN:
        write = terminalreporter.write_line  # type: ignore[attr-defined]
        write("=" * 72)
        write(f"NOT RUN: {len(NOT_RUN)} test(s) of the real Handle.Net peer: {NOT_RUN[0]}")
        write("These are not passes. Run with ../shared/tools/handle-server beside the repo.")
        write("=" * 72)
