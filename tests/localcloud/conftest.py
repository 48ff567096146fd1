"""Local cloud fixtures: the stack brought up exactly as `idnode up --detach` does it.

The session uses the endpoint in AWS_ENDPOINT_URL when the developer set one, else starts the
embedded emulator only when nothing answers on 127.0.0.1:4566; then it deploys
(idempotent, so a running local cloud is simply updated) and seeds the demo node. At the end it
stops the emulator only if it started it: a local cloud a developer left running stays up.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from idnode.cli import localcloud
from idnode.cli.workspace import Workspace
from tests.conftest import LOCAL_CLOUD_ENDPOINT

_HERE = Path(__file__).resolve().parent
LOCAL_CREDENTIALS = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}

AwsClientFactory = Callable[[str], Any]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test in this folder needs the deployed local cloud, whoever wrote it."""
    for item in items:
        if item.path.is_relative_to(_HERE):
            item.add_marker(pytest.mark.localcloud)


@pytest.fixture(scope="session")
def local_stack() -> Iterator[dict[str, Any]]:
    """The deployed, seeded local cloud: the content of .idnode/endpoints.json."""
    workspace = Workspace.locate()
    # Progress goes to stderr, which pytest shows when the setup fails.
    progress = localcloud.Progress(sys.stderr)
    env = dict(os.environ)
    if LOCAL_CLOUD_ENDPOINT:  # as `idnode up` would: a LocalStack-compatible endpoint given
        env["AWS_ENDPOINT_URL"] = LOCAL_CLOUD_ENDPOINT
    cloud = localcloud.bring_up(workspace, progress, env=env)
    endpoints: dict[str, Any] = json.loads(workspace.endpoints_file.read_text(encoding="utf-8"))
    try:
        yield endpoints
    finally:
        if cloud.started:
            localcloud.stop_started(workspace, cloud)


@pytest.fixture(scope="session")
def aws_client(local_stack: dict[str, Any]) -> AwsClientFactory:
    """Build a boto3 client for a service of the local cloud: `aws_client("dynamodb")`."""
    session = boto3.session.Session(
        aws_access_key_id=LOCAL_CREDENTIALS["aws_access_key_id"],
        aws_secret_access_key=LOCAL_CREDENTIALS["aws_secret_access_key"],
        region_name=local_stack["region"],
    )
    endpoint_url = local_stack["endpointUrl"]

    def make(service: str) -> Any:
        return session.client(service, endpoint_url=endpoint_url)  # type: ignore[call-overload]

    return make
