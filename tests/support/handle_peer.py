"""The real Handle.Net 9.2 server and client (`../shared/tools/handle-server`) as a test peer.

Tests that need it call `peer_tools()`. Where `../shared` is absent the test is reported as
NOT RUN, loudly, in the session summary (a skip is never a pass); `IDNODE_REQUIRE_PEER=1`
turns that into a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT.parent / "shared" / "tools" / "handle-server"
NOT_RUN: list[str] = []
RESOLVE_TIMEOUT = 60


def peer_tools() -> Path:
    """The handle-server directory; skips the test, recorded as NOT RUN, where it is missing."""
    problem = None
    if not (TOOLS / "resolve").exists():
        problem = f"{TOOLS} is missing"
    elif shutil.which("java") is None:
        problem = "java is not installed (make test installs it where ../shared exists)"
    if problem is None:
        return TOOLS
    if os.environ.get("IDNODE_REQUIRE_PEER") == "1":
        pytest.fail(f"the Handle.Net peer is required: {problem}")
    NOT_RUN.append(problem)
    pytest.skip(f"NOT RUN - the real Handle.Net peer is unavailable: {problem}")


def write_site(path: Path, site: dict[str, Any]) -> Path:
    path.write_text(json.dumps(site))
    return path


def resolve(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the real client's `resolve` tool (see its --help); output as text."""
    return subprocess.run(  # noqa: S603 - the peer's own script, arguments from the tests
        [str(peer_tools() / "resolve"), *args],
        capture_output=True,
        text=True,
        timeout=RESOLVE_TIMEOUT,
        check=False,
    )
