"""Where the platform is: the endpoints file, signing in to its user pool, and the local
cloud's broker."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from idnode.cli.simulator.mqtt import LocalBroker
from idnode.cli.workspace import CommandError

LOCAL_CREDENTIALS = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}
DEMO_USERNAME = "demo"
DEMO_PASSWORD = "Demo-Passw0rd!"  # local cloud only # noqa: S105


@dataclass(frozen=True, slots=True)
class PlatformEndpoints:
    """What the endpoints file says about the platform to simulate devices for."""

    graphql_url: str
    region: str
    user_pool_client_id: str
    endpoint_url: str | None = None  # the local cloud; None for AWS
    username: str | None = None  # the demo person, local cloud only
    password: str | None = None

    @property
    def local(self) -> bool:
        return self.endpoint_url is not None


def read_endpoints(path: Path) -> PlatformEndpoints:
    """The endpoints file `idnode up` writes (or one written by hand for a stack in AWS with
    graphqlUrl, region and userPoolClientId)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CommandError(
            f"{path} does not exist: start the local cloud with `idnode up`, or pass "
            "--endpoints with a file naming graphqlUrl, region and userPoolClientId"
        ) from None
    except (OSError, ValueError) as exc:
        raise CommandError(f"cannot read {path}: {exc}") from exc
    if not isinstance(document, dict):
        raise CommandError(f"{path} does not hold a JSON object")
    missing = [
        name for name in ("graphqlUrl", "region", "userPoolClientId") if not document.get(name)
    ]
    if missing:
        raise CommandError(f"{path} lacks {', '.join(missing)}")
    demo = document.get("demo")
    demo = demo if isinstance(demo, dict) else {}
    endpoint_url = document.get("endpointUrl") or None
    return PlatformEndpoints(
        graphql_url=str(document["graphqlUrl"]),
        region=str(document["region"]),
        user_pool_client_id=str(document["userPoolClientId"]),
        endpoint_url=str(endpoint_url).rstrip("/") if endpoint_url else None,
        username=(demo.get("username") or DEMO_USERNAME) if endpoint_url else None,
        password=(demo.get("password") or DEMO_PASSWORD) if endpoint_url else None,
    )


def _aws_client(endpoints: PlatformEndpoints, service: str) -> Any:
    import boto3  # noqa: PLC0415

    client: Callable[..., Any] = boto3.client  # one service or another: untyped on purpose
    if endpoints.local:
        return client(
            service,
            region_name=endpoints.region,
            endpoint_url=endpoints.endpoint_url,
            **LOCAL_CREDENTIALS,
        )
    return client(service, region_name=endpoints.region)


def sign_in(endpoints: PlatformEndpoints, username: str, password: str) -> str:
    """A person's ID token (Cognito USER_PASSWORD_AUTH)."""
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    cognito = _aws_client(endpoints, "cognito-idp")
    try:
        reply = cognito.initiate_auth(
            ClientId=endpoints.user_pool_client_id,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": username, "PASSWORD": password},
        )
    except ClientError as exc:
        raise CommandError(f"sign-in as {username} refused: {exc}") from exc
    except BotoCoreError as exc:
        raise CommandError(f"cannot reach the user pool: {exc}") from exc
    result = reply.get("AuthenticationResult")
    if not result:
        challenge = reply.get("ChallengeName", "a challenge")
        raise CommandError(f"sign-in as {username} asks for {challenge}; sign in once by hand")
    return str(result["IdToken"])


def local_broker(endpoints: PlatformEndpoints) -> LocalBroker:
    """The local cloud's broker, reached through its gateway."""
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    assert endpoints.endpoint_url is not None
    gateway = urlsplit(endpoints.endpoint_url)
    try:
        reply = _aws_client(endpoints, "iot").describe_endpoint(endpointType="iot:Data-ATS")
    except (BotoCoreError, ClientError) as exc:
        raise CommandError(f"cannot find the local MQTT endpoint: {exc}") from exc
    return LocalBroker(
        host=gateway.hostname or "127.0.0.1",
        port=gateway.port or 80,
        host_header=str(reply["endpointAddress"]),
    )
