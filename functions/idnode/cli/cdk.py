"""The CDK CLI: installed from infra/cdk/package-lock.json, run against AWS or the local cloud.

The CLI versions are pinned in infra/cdk/package.json: aws-cdk 2.1148.1 and aws-cdk-local 3.0.4
(aws-cdk 3.x fails against aws-cdk-lib 2.275 with "Cloud assembly schema version mismatch").
"""

from __future__ import annotations

import hashlib
import json
import shlex
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

from idnode.cli.workspace import (
    CommandError,
    Workspace,
    host_environment,
    python_first_path,
    run_logged,
)

STACK_NAME = "idnode"
LOCAL_ACCOUNT = "000000000000"
LOCAL_REGION = "us-east-1"
BOOTSTRAP_STACK = "CDKToolkit"
LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
_INSTALL_STAMP = ".idnode-lock.sha256"
_CLI_NAMES = ("cdk", "cdklocal")
_SETTLED_STATES = frozenset({"CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE"})
# Variables a deploy to AWS legitimately reads: credentials, profile, region, CA bundle,
# the CDK's account and region overrides, and the product's own settings.
_AWS_PREFIXES = ("AWS_", "CDK_", "IDNODE_")


class OutputsError(CommandError):
    """The deployed stack did not publish the outputs the local cloud needs."""


def lock_digest(cdk_dir: Path) -> str:
    """Changes whenever `npm ci` would install something different."""
    digest = hashlib.sha256()
    for name in ("package.json", "package-lock.json"):
        digest.update((cdk_dir / name).read_bytes())
    return digest.hexdigest()


def cli_path(workspace: Workspace, name: str) -> Path:
    """An installed CDK CLI entry point (`cdk` or `cdklocal`)."""
    return workspace.cdk_dir / "node_modules" / ".bin" / name


def _stamp(workspace: Workspace) -> Path:
    # Inside node_modules, so that deleting node_modules also forgets the install.
    return workspace.cdk_dir / "node_modules" / _INSTALL_STAMP


def cli_is_current(workspace: Workspace) -> bool:
    """Whether node_modules holds exactly what the lock file pins."""
    stamp = _stamp(workspace)
    if not stamp.is_file() or not all(cli_path(workspace, n).is_file() for n in _CLI_NAMES):
        return False
    return stamp.read_text(encoding="utf-8").strip() == lock_digest(workspace.cdk_dir)


def ensure_cli(workspace: Workspace, env: Mapping[str, str]) -> bool:
    """`npm ci` unless node_modules is current; True when it installed."""
    if cli_is_current(workspace):
        return False
    run_logged(
        ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=workspace.cdk_dir,
        env=host_environment(env),
        log_path=workspace.log_path("npm-ci"),
        what="npm ci in infra/cdk",
    )
    _stamp(workspace).write_text(lock_digest(workspace.cdk_dir) + "\n", encoding="utf-8")
    return True


def app_command() -> str:
    """The CDK app, run by this very interpreter (the project's virtualenv)."""
    return f"{shlex.quote(sys.executable)} app.py"


def _common_environment(workspace: Workspace, env: Mapping[str, str]) -> dict[str, str]:
    result = host_environment(env)
    result.update(
        PATH=python_first_path(env, workspace),
        JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="20",
        JSII_RUNTIME_PACKAGE_CACHE_ROOT=str(workspace.jsii_cache_dir),
        # Both would try the network on every run; neither changes what gets deployed.
        CDK_DISABLE_VERSION_CHECK="1",
        CDK_DISABLE_CLI_TELEMETRY="true",
    )
    return result


def local_environment(
    workspace: Workspace, env: Mapping[str, str], endpoint_url: str
) -> dict[str, str]:
    """cdklocal's environment for a LocalStack-compatible endpoint.

    cdklocal refuses AWS_ENDPOINT_URL without AWS_ENDPOINT_URL_S3; assets are uploaded with
    path-style S3 addressing; EDGE_PORT and LOCALSTACK_HOSTNAME name the same endpoint for
    the parts of cdklocal that predate AWS_ENDPOINT_URL. A user's profile or session token
    never reaches the emulator.
    """
    endpoint_url = endpoint_url.rstrip("/")
    parts = urlsplit(endpoint_url)
    default_port = 443 if parts.scheme == "https" else 80
    result = _common_environment(workspace, env)
    result.update(LOCAL_CREDENTIALS)
    result.update(
        AWS_ENDPOINT_URL=endpoint_url,
        AWS_ENDPOINT_URL_S3=endpoint_url,
        AWS_S3_FORCE_PATH_STYLE="1",
        EDGE_PORT=str(parts.port or default_port),
        LOCALSTACK_HOSTNAME=parts.hostname or "127.0.0.1",
        AWS_REGION=LOCAL_REGION,
        AWS_DEFAULT_REGION=LOCAL_REGION,
        CDK_OUTDIR=str(workspace.local_assembly_dir),
    )
    return result


def aws_environment(workspace: Workspace, env: Mapping[str, str]) -> dict[str, str]:
    """The CDK CLI's environment for real AWS: the caller's AWS and CDK variables pass through."""
    result = _common_environment(workspace, env)
    result.update((name, value) for name, value in env.items() if name.startswith(_AWS_PREFIXES))
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        # A leftover local endpoint would send a production deploy to the emulator.
        result.pop(name, None)
    return result


def bootstrap_command(workspace: Workspace) -> list[str]:
    """Bootstrap the local account; naming the environment avoids synthesising the app."""
    return [
        str(cli_path(workspace, "cdklocal")),
        "bootstrap",
        f"aws://{LOCAL_ACCOUNT}/{LOCAL_REGION}",
        "--no-notices",
    ]


def local_deploy_command(
    workspace: Workspace, stack: str = STACK_NAME, context: Mapping[str, str] | None = None
) -> list[str]:
    """Deploy the real CDK app into the local cloud, writing its outputs to a file."""
    extra = [part for key, value in (context or {}).items() for part in ("-c", f"{key}={value}")]
    return [
        str(cli_path(workspace, "cdklocal")),
        "deploy",
        stack,
        "--require-approval",
        "never",
        "--outputs-file",
        str(workspace.outputs_file),
        # The CLI overrides CDK_OUTDIR with its --output, so both point at .idnode/.
        "--output",
        str(workspace.local_assembly_dir),
        "--app",
        app_command(),
        "-c",
        "local=true",
        *extra,
        "--no-notices",
    ]


def aws_command(workspace: Workspace, verb: str, extra: Sequence[str]) -> list[str]:
    """`cdk synth` or `cdk deploy` of the app for AWS, with the caller's extra arguments."""
    return [
        str(cli_path(workspace, "cdk")),
        verb,
        "--app",
        app_command(),
        "--output",
        str(workspace.aws_assembly_dir),
        *extra,
    ]


def is_bootstrapped(endpoint_url: str) -> bool:
    """Whether the local account already has a settled CDK bootstrap stack."""
    import boto3  # noqa: PLC0415  (boto3 costs about 150 ms: only paid when deploying)
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    client = boto3.client(
        "cloudformation",
        endpoint_url=endpoint_url,
        region_name=LOCAL_REGION,
        aws_access_key_id=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )
    try:
        stacks = client.describe_stacks(StackName=BOOTSTRAP_STACK)["Stacks"]
    except (ClientError, BotoCoreError):
        return False
    return any(stack.get("StackStatus") in _SETTLED_STATES for stack in stacks)


def bootstrap_local(
    workspace: Workspace, env: Mapping[str, str], endpoint_url: str, echo: TextIO | None
) -> None:
    """`cdklocal bootstrap` into the local account."""
    run_logged(
        bootstrap_command(workspace),
        cwd=workspace.state_dir,
        env=local_environment(workspace, env, endpoint_url),
        log_path=workspace.log_path("cdk-bootstrap"),
        echo=echo,
        what="cdklocal bootstrap",
    )


def deploy_local(
    workspace: Workspace,
    env: Mapping[str, str],
    endpoint_url: str,
    echo: TextIO | None,
    context: Mapping[str, str] | None = None,
) -> None:
    """`cdklocal deploy` of the real app with `-c local=true` (and `context`)."""
    workspace.state_dir.mkdir(parents=True, exist_ok=True)
    run_logged(
        local_deploy_command(workspace, context=context),
        cwd=workspace.cdk_dir,
        env=local_environment(workspace, env, endpoint_url),
        log_path=workspace.log_path("cdk-deploy"),
        echo=echo,
        what="cdklocal deploy",
    )


def run_for_aws(
    workspace: Workspace, env: Mapping[str, str], verb: str, extra: Sequence[str]
) -> int:
    """Run `cdk synth|deploy` for AWS in the terminal (a deploy may ask for approval)."""
    # The command is the pinned CLI with the caller's own arguments, run on their behalf.
    completed = subprocess.run(  # noqa: S603
        aws_command(workspace, verb, extra),
        cwd=workspace.cdk_dir,
        env=aws_environment(workspace, env),
        check=False,
    )
    return completed.returncode


def read_outputs(path: Path, stack: str = STACK_NAME) -> dict[str, str]:
    """The stack's outputs from a `--outputs-file` document."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise OutputsError(f"{path} is missing: the deploy wrote no outputs") from exc
    except ValueError as exc:
        raise OutputsError(f"{path} is not JSON: {exc}") from exc
    outputs = document.get(stack) if isinstance(document, dict) else None
    if not isinstance(outputs, dict):
        raise OutputsError(f"{path} has no outputs for stack {stack!r}")
    return {str(key): str(value) for key, value in outputs.items()}


def api_cors(assembly_dir: Path, stack: str = STACK_NAME) -> dict[str, Any] | None:
    """The HTTP API's CORS configuration as synthesised into the stack's template."""
    path = assembly_dir / f"{stack}.template.json"
    if not path.exists():
        return None
    template = json.loads(path.read_text())
    for resource in template.get("Resources", {}).values():
        if resource.get("Type") == "AWS::ApiGatewayV2::Api":
            cors = resource.get("Properties", {}).get("CorsConfiguration")
            return dict(cors) if cors else None
    return None


def restore_cors(assembly_dir: Path, api_id: str, endpoint_url: str) -> bool:
    """Apply the template's CORS configuration to the deployed HTTP API.

    The local cloud drops CorsConfiguration when it deploys from CloudFormation, and then
    refuses every browser preflight; AWS applies it from the template. True if applied."""
    cors = api_cors(assembly_dir)
    if not cors:
        return False
    import boto3  # noqa: PLC0415 - keeps `idnode --help` light

    client = boto3.client("apigatewayv2", region_name=LOCAL_REGION, endpoint_url=endpoint_url)
    client.update_api(ApiId=api_id, CorsConfiguration=cors)
    return True
