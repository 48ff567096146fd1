"""The `idnode` command's local cloud logic that needs no emulator: endpoint choice, URLs,
state and endpoints files, tool environments, process handling and argument dispatch."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
import types
from pathlib import Path
from typing import Any

import boto3
import pytest

import idnode.cli
from idnode.cli import cdk, emulator, localcloud, localprotocol, main
from idnode.cli.localcloud import Endpoint, EndpointSource, LocalCloudState
from idnode.cli.workspace import ToolError, Workspace, host_environment, run_logged
from idnode.settings import TABLES, table_output

OUTPUTS = {
    "GraphqlUrl": "http://abc123.execute-api.localhost:4566/graphql",
    "HandleApiUrl": "http://abc123.execute-api.localhost:4566",
    "HttpApiId": "abc123",
    "UserPoolId": "us-east-1_Pool",
    "UserPoolClientId": "client-1",
    **{
        table_output(attribute): f"idnode-{attribute.removesuffix('_table').capitalize()}"
        for attribute in TABLES
    },
    "DevicePolicyName": "idnode-device",
    "DeadLetterQueueUrl": "http://127.0.0.1:4566/000000000000/idnode-DeadLetters",
    "DeviceEventsFunctionName": "idnode-DeviceEvents",
    "NodePrefix": "88.100",
    "Region": "us-east-1",
}


def _never(_url: str) -> bool:
    raise AssertionError("the probe must not be called")


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    """A scratch checkout that the command uses instead of the real repository."""
    scratch = Workspace(tmp_path)
    monkeypatch.setattr(Workspace, "locate", classmethod(lambda _cls: scratch))
    return scratch


# Endpoint choice


def test_configured_endpoint_wins_without_probing() -> None:
    chosen = localcloud.choose_endpoint({"AWS_ENDPOINT_URL": "http://localhost:4567/"}, _never)
    assert chosen == Endpoint("http://localhost:4567", EndpointSource.ENVIRONMENT)


def test_running_emulator_on_default_port_is_used() -> None:
    probed: list[str] = []

    def probe(url: str) -> bool:
        probed.append(url)
        return True

    chosen = localcloud.choose_endpoint({"AWS_ENDPOINT_URL": "  "}, probe)
    assert chosen == Endpoint("http://127.0.0.1:4566", EndpointSource.RUNNING)
    assert probed == ["http://127.0.0.1:4566"]


def test_nothing_answering_means_start_the_embedded_emulator() -> None:
    assert localcloud.choose_endpoint({}, lambda _url: False) is None


def test_health_url_is_the_localstack_one() -> None:
    assert emulator.health_url("http://127.0.0.1:4566/") == (
        "http://127.0.0.1:4566/_localstack/health"
    )


def test_probe_of_a_non_http_endpoint_is_unhealthy() -> None:
    assert emulator.is_healthy("file:///etc/passwd") is False


# URLs and endpoints.json


def test_http_api_url_uses_the_gateway_path_of_the_default_stage() -> None:
    assert localcloud.http_api_url("http://127.0.0.1:4566/", "abc123") == (
        "http://127.0.0.1:4566/_aws/execute-api/abc123/$default"
    )


def test_reachable_outputs_replace_unresolvable_host_names() -> None:
    outputs = localcloud.reachable_outputs(OUTPUTS, "http://127.0.0.1:4566")
    base = "http://127.0.0.1:4566/_aws/execute-api/abc123/$default"
    assert outputs["GraphqlUrl"] == f"{base}/graphql"
    assert outputs["HandleApiUrl"] == base
    assert outputs["IdentifiersTableName"] == "idnode-Identifiers"


def test_missing_outputs_are_named() -> None:
    partial = {k: v for k, v in OUTPUTS.items() if k not in {"HttpApiId", "UserPoolId"}}
    with pytest.raises(cdk.OutputsError, match="HttpApiId, UserPoolId"):
        localcloud.reachable_outputs(partial, "http://127.0.0.1:4566")


def test_endpoints_document_has_what_clients_need() -> None:
    outputs = localcloud.reachable_outputs(OUTPUTS, "http://127.0.0.1:4566")
    document = localcloud.endpoints_document(outputs, "http://127.0.0.1:4566", {"user": "demo"})
    assert document["graphqlUrl"].endswith("/_aws/execute-api/abc123/$default/graphql")
    assert document["handleApiUrl"].endswith("/_aws/execute-api/abc123/$default")
    assert document["region"] == "us-east-1"
    assert document["endpointUrl"] == "http://127.0.0.1:4566"
    assert document["userPoolId"] == "us-east-1_Pool"
    assert document["userPoolClientId"] == "client-1"
    assert document["tables"] == {
        name: f"idnode-{name.capitalize()}"
        for name in (
            "identifiers",
            "prefixes",
            "credentials",
            "enterprises",
            "applications",
            "members",
            "operations",
            "statistics",
            "parameters",
            "devices",
            "profiles",
            "telemetry",
            "alarms",
            "commands",
            "templates",
            "keys",
            "codes",
            "health",
        )
    }
    assert document["nodePrefix"] == "88.100"
    assert document["devicePolicy"] == "idnode-device"
    assert document["deadLetterQueueUrl"].endswith("/idnode-DeadLetters")
    assert document["issuer"] == "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Pool"
    assert document["jwksUrl"] == ("http://127.0.0.1:4566/us-east-1_Pool/.well-known/jwks.json")
    assert document["demo"] == {"user": "demo"}
    json.dumps(document)  # the file must be plain JSON


def test_describe_names_every_endpoint() -> None:
    outputs = localcloud.reachable_outputs(OUTPUTS, "http://127.0.0.1:4566")
    document = localcloud.endpoints_document(outputs, "http://127.0.0.1:4566", {"user": "demo"})
    state = LocalCloudState("http://127.0.0.1:4566", EndpointSource.EMBEDDED, 42, "now")
    text = localcloud.describe(document, state)
    assert "pid 42" in text
    assert document["graphqlUrl"] in text
    assert "idnode-Credentials" in text
    assert "  Demo node\n    user  demo" in text


# Environment handed to product code during seeding


def test_product_environment_points_at_the_emulator_and_drops_profiles() -> None:
    variables = localcloud.product_environment(OUTPUTS, "http://127.0.0.1:4566/")
    assert variables["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4566"
    assert variables["AWS_PROFILE"] is None
    assert variables["AWS_SESSION_TOKEN"] is None
    assert variables["AWS_ACCESS_KEY_ID"] == "test"
    assert variables["IDNODE_IDENTIFIERS_TABLE"] == "idnode-Identifiers"
    assert variables["IDNODE_NODE_PREFIX"] == "88.100"
    assert variables["IDNODE_DEVICE_POLICY"] == "idnode-device"
    assert variables["IDNODE_DEAD_LETTER_QUEUE_URL"].endswith("/idnode-DeadLetters")


def test_environment_overrides_are_undone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_PROFILE", "production")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    overrides = {"AWS_PROFILE": None, "AWS_ENDPOINT_URL": "http://127.0.0.1:4566"}
    with localcloud.environment_overrides(overrides):
        assert "AWS_PROFILE" not in os.environ
        assert os.environ["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4566"
    assert os.environ["AWS_PROFILE"] == "production"
    assert "AWS_ENDPOINT_URL" not in os.environ


# State file


def test_state_round_trips(workspace: Workspace) -> None:
    state = LocalCloudState("http://127.0.0.1:4566", EndpointSource.EMBEDDED, 1234, "2026-01-01")
    localcloud.write_state(workspace, state)
    assert localcloud.read_state(workspace) == state
    document = json.loads(workspace.state_file.read_text())
    assert document["emulator"]["pid"] == 1234
    assert document["emulator"]["version"] == emulator.MINISTACK_VERSION
    localcloud.clear_state(workspace)
    assert localcloud.read_state(workspace) is None
    localcloud.clear_state(workspace)  # idempotent


def test_state_of_a_foreign_endpoint_has_no_emulator(workspace: Workspace) -> None:
    state = LocalCloudState("http://localhost:4566", EndpointSource.RUNNING)
    localcloud.write_state(workspace, state)
    assert json.loads(workspace.state_file.read_text())["emulator"] is None
    assert localcloud.read_state(workspace) == state


@pytest.mark.parametrize("content", ["", "{", "[]", '{"endpointUrl": "x", "source": "??"}'])
def test_malformed_state_counts_as_none(workspace: Workspace, content: str) -> None:
    workspace.state_dir.mkdir(parents=True)
    workspace.state_file.write_text(content)
    assert localcloud.read_state(workspace) is None


# down and status


def test_down_without_state_is_a_no_op(workspace: Workspace) -> None:
    out = io.StringIO()
    assert localcloud.down(out) == 0
    assert "Nothing to stop" in out.getvalue()


def test_down_leaves_a_foreign_emulator_alone(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(emulator, "stop", lambda _pid: pytest.fail("must not stop"))
    localcloud.write_state(
        workspace, LocalCloudState("http://127.0.0.1:4566", EndpointSource.RUNNING)
    )
    out = io.StringIO()
    assert localcloud.down(out) == 0
    assert "did not start it" in out.getvalue()
    assert localcloud.read_state(workspace) is None


def test_down_stops_the_recorded_emulator(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    stopped: list[int] = []

    def stop(pid: int) -> bool:
        stopped.append(pid)
        return True

    monkeypatch.setattr(emulator, "stop", stop)
    localcloud.write_state(
        workspace, LocalCloudState("http://127.0.0.1:4566", EndpointSource.EMBEDDED, 4321, "t")
    )
    workspace.endpoints_file.write_text("{}")
    leftover = workspace.emulator_temp_dir / "ministack-lambda-fn-abc"
    leftover.mkdir(parents=True)
    assert localcloud.down(io.StringIO()) == 0
    assert stopped == [4321]
    assert not workspace.endpoints_file.exists()
    assert localcloud.read_state(workspace) is None
    assert not workspace.emulator_temp_dir.exists()


def test_status_reports_down_and_no_endpoints(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(emulator, "is_healthy", lambda _url: False)
    out = io.StringIO()
    assert localcloud.status(out, env={}) == 1
    assert "http://127.0.0.1:4566: down" in out.getvalue()
    assert "No endpoints published" in out.getvalue()


def test_status_reports_published_endpoints(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(emulator, "is_healthy", lambda _url: True)
    outputs = localcloud.reachable_outputs(OUTPUTS, "http://127.0.0.1:4566")
    document = localcloud.endpoints_document(outputs, "http://127.0.0.1:4566", {})
    workspace.state_dir.mkdir(parents=True)
    workspace.endpoints_file.write_text(json.dumps(document))
    out = io.StringIO()
    assert localcloud.status(out, env={}) == 0
    assert document["graphqlUrl"] in out.getvalue()


# The emulator's installation, environment and process


def test_emulator_install_is_pinned_and_isolated(workspace: Workspace) -> None:
    install = emulator.EmulatorInstall(workspace)
    command = install.command()
    assert command[:4] == [str(workspace.uv), "tool", "install", "ministack==1.5.33"]
    assert "cryptography==50.0.2" in command
    assert f"{sys.version_info.major}.{sys.version_info.minor}" in command
    env = install.environment({"PATH": "/usr/bin", "VIRTUAL_ENV": "/repo/.venv"})
    assert env["UV_TOOL_DIR"] == str(workspace.root / ".idnode" / "tools" / "uv")
    assert env["UV_TOOL_BIN_DIR"] == str(workspace.root / ".idnode" / "tools" / "bin")
    assert "VIRTUAL_ENV" not in env


def test_emulator_environment_is_loopback_only_and_minimal(workspace: Workspace) -> None:
    env = emulator.emulator_environment(
        workspace,
        {"PATH": "/usr/bin", "HOME": "/root", "AWS_PROFILE": "prod", "PYTHONPATH": "/x"},
    )
    assert env["BIND_HOST"] == "127.0.0.1"
    assert env["GATEWAY_PORT"] == "4566"
    assert env["IOT_MTLS_ENABLED"] == "0"
    assert env["SFTP_ENABLED"] == "0"
    assert env["PATH"] == "/usr/bin"
    assert "AWS_PROFILE" not in env
    assert "PYTHONPATH" not in env
    assert env["TMPDIR"] == str(workspace.emulator_temp_dir)


def test_starting_clears_what_the_last_emulators_workers_left(
    workspace: Workspace, tmp_path: Path
) -> None:
    leftover = workspace.emulator_temp_dir / "ministack-lambda-fn-abc" / "bundle.zip"
    leftover.parent.mkdir(parents=True)
    leftover.write_bytes(b"x" * 1024)
    fake = tmp_path / "fake-emulator"
    fake.write_text('#!/bin/sh\necho "$TMPDIR"\n')
    fake.chmod(0o755)
    process = emulator.start(workspace, fake, {"PATH": "/usr/bin:/bin"})
    assert process.wait(timeout=10) == 0
    assert workspace.emulator_temp_dir.is_dir()
    assert list(workspace.emulator_temp_dir.iterdir()) == []
    assert workspace.emulator_log.read_text().strip() == str(workspace.emulator_temp_dir)


def test_host_environment_keeps_only_the_allowlist() -> None:
    env = host_environment(
        {"PATH": "/bin", "HOME": "/h", "npm_config_cache": "/c", "AWS_SECRET_ACCESS_KEY": "s"}
    )
    assert env == {"PATH": "/bin", "HOME": "/h", "npm_config_cache": "/c"}


def _spawn_lookalike() -> subprocess.Popen[bytes]:
    # A process whose command line names ministack, in its own group, like the real one.
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time; print('ready', flush=True); time.sleep(60)",
            "ministack",
        ],
        start_new_session=True,
        stdout=subprocess.PIPE,
    )
    assert process.stdout is not None
    process.stdout.readline()  # its command line is readable once it runs Python code
    return process


def test_stop_ends_the_emulator_process_group_and_is_idempotent() -> None:
    process = _spawn_lookalike()
    try:
        assert emulator.is_emulator_process(process.pid)
        assert emulator.stop(process.pid, timeout=5) is True
        assert process.poll() is not None or not emulator.is_emulator_process(process.pid)
        assert emulator.stop(process.pid, timeout=5) is False
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_processes_that_are_not_the_emulator_are_never_stopped() -> None:
    assert emulator.is_emulator_process(os.getpid()) is False
    assert emulator.stop(os.getpid()) is False
    assert emulator.is_emulator_process(0) is False


def test_wait_until_healthy_reports_an_early_exit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(emulator, "is_healthy", lambda _url: False)
    log = tmp_path / "ministack.log"
    log.write_text("ERROR: 127.0.0.1:4566 is already in use\n")
    process = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    process.wait()
    with pytest.raises(emulator.EmulatorError, match=r"code 3[\s\S]*already in use"):
        emulator.wait_until_healthy("http://127.0.0.1:4566", process, log, timeout=5)


def test_wait_until_healthy_gives_up_after_the_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(emulator, "is_healthy", lambda _url: False)
    process = _spawn_lookalike()
    try:
        with pytest.raises(emulator.EmulatorError, match=r"did not answer .* within 0 s"):
            emulator.wait_until_healthy(
                "http://127.0.0.1:4566", process, tmp_path / "absent.log", timeout=0.2
            )
    finally:
        process.kill()
        process.wait()


# The CDK CLI


def _fake_cdk_dir(workspace: Workspace) -> None:
    workspace.cdk_dir.mkdir(parents=True)
    (workspace.cdk_dir / "package.json").write_text('{"devDependencies": {}}')
    (workspace.cdk_dir / "package-lock.json").write_text('{"lockfileVersion": 3}')


def test_cli_is_current_only_for_the_locked_install(workspace: Workspace) -> None:
    _fake_cdk_dir(workspace)
    assert not cdk.cli_is_current(workspace)
    bin_dir = workspace.cdk_dir / "node_modules" / ".bin"
    bin_dir.mkdir(parents=True)
    for name in ("cdk", "cdklocal"):
        (bin_dir / name).write_text("")
    stamp = workspace.cdk_dir / "node_modules" / ".idnode-lock.sha256"
    stamp.write_text(cdk.lock_digest(workspace.cdk_dir))
    assert cdk.cli_is_current(workspace)
    (workspace.cdk_dir / "package-lock.json").write_text('{"lockfileVersion": 3, "x": 1}')
    assert not cdk.cli_is_current(workspace)


def test_committed_package_json_pins_the_cli_versions() -> None:
    cdk_dir = Workspace.locate().cdk_dir
    package = json.loads((cdk_dir / "package.json").read_text())
    lock = json.loads((cdk_dir / "package-lock.json").read_text())
    assert package["devDependencies"] == {"aws-cdk": "2.1148.1", "aws-cdk-local": "3.0.4"}
    assert lock["packages"]["node_modules/aws-cdk"]["version"] == "2.1148.1"
    assert lock["packages"]["node_modules/aws-cdk-local"]["version"] == "3.0.4"


def test_local_environment_names_the_endpoint_every_way_cdklocal_reads_it(
    workspace: Workspace,
) -> None:
    env = cdk.local_environment(
        workspace,
        {"PATH": "/usr/bin", "HOME": "/root", "AWS_PROFILE": "prod", "AWS_SESSION_TOKEN": "t"},
        "http://127.0.0.1:4566/",
    )
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4566"
    assert env["AWS_ENDPOINT_URL_S3"] == "http://127.0.0.1:4566"
    assert env["AWS_S3_FORCE_PATH_STYLE"] == "1"
    assert env["EDGE_PORT"] == "4566"
    assert env["LOCALSTACK_HOSTNAME"] == "127.0.0.1"
    assert env["AWS_ACCESS_KEY_ID"] == "test"
    assert env["AWS_SECRET_ACCESS_KEY"] == "test"
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert env["CDK_OUTDIR"] == str(workspace.root / ".idnode" / "cdk.out")
    assert env["JSII_RUNTIME_PACKAGE_CACHE_ROOT"].startswith(str(workspace.root / ".idnode"))
    assert "AWS_PROFILE" not in env
    assert "AWS_SESSION_TOKEN" not in env
    assert env["PATH"].split(":")[0] == str(Path(sys.executable).parent)


def test_aws_environment_keeps_credentials_and_drops_local_endpoints(
    workspace: Workspace,
) -> None:
    env = cdk.aws_environment(
        workspace,
        {
            "PATH": "/usr/bin",
            "AWS_PROFILE": "prod",
            "CDK_DEFAULT_REGION": "eu-west-1",
            "AWS_ENDPOINT_URL": "http://127.0.0.1:4566",
            "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:4566",
            "PYTHONPATH": "/x",
        },
    )
    assert env["AWS_PROFILE"] == "prod"
    assert env["CDK_DEFAULT_REGION"] == "eu-west-1"
    assert "AWS_ENDPOINT_URL" not in env
    assert "AWS_ENDPOINT_URL_S3" not in env
    assert "PYTHONPATH" not in env


def test_local_deploy_command(workspace: Workspace) -> None:
    command = cdk.local_deploy_command(workspace)
    assert command[0].endswith("node_modules/.bin/cdklocal")
    assert command[1:3] == ["deploy", "idnode"]
    assert command[command.index("--require-approval") + 1] == "never"
    assert command[command.index("--outputs-file") + 1] == str(workspace.outputs_file)
    assert command[command.index("--app") + 1].startswith(sys.executable)
    assert command[command.index("--app") + 1].endswith(" app.py")
    assert command[command.index("-c") + 1] == "local=true"


def test_bootstrap_names_the_local_environment(workspace: Workspace) -> None:
    command = cdk.bootstrap_command(workspace)
    assert command[1:3] == ["bootstrap", "aws://000000000000/us-east-1"]
    assert "--app" not in command


def test_outputs_are_read_from_the_stack_entry(tmp_path: Path) -> None:
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps({"idnode": OUTPUTS}))
    assert cdk.read_outputs(path) == OUTPUTS
    with pytest.raises(cdk.OutputsError, match="no outputs for stack 'other'"):
        cdk.read_outputs(path, "other")
    with pytest.raises(cdk.OutputsError, match="missing"):
        cdk.read_outputs(tmp_path / "absent.json")


def test_failed_tool_shows_the_end_of_its_log(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "tool.log"
    script = "import sys; [print(f'line {i}') for i in range(100)]; sys.exit(2)"
    with pytest.raises(ToolError, match=r"exit code 2[\s\S]*line 99") as raised:
        run_logged(
            [sys.executable, "-c", script],
            cwd=tmp_path,
            env={"PATH": os.environ.get("PATH", "")},
            log_path=log,
            what="the tool",
        )
    assert "line 0\n" not in str(raised.value)
    assert "line 0\n" in log.read_text()


def test_progress_lines_carry_elapsed_seconds() -> None:
    ticks = iter([10.0, 11.5, 11.5, 14.0, 14.0])
    out = io.StringIO()
    progress = localcloud.Progress(out, clock=lambda: next(ticks))
    with progress.step("deploying"):
        pass
    assert out.getvalue().splitlines() == [
        "[   1.5s] deploying ...",
        "[   4.0s] deploying: done in 2.5s",
    ]


# Command line dispatch


def test_serve_calls_the_gateway(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, int]] = []
    gateway = types.ModuleType("idnode.cli.gateway")
    gateway.serve = lambda host, port: calls.append((host, port))  # type: ignore[attr-defined]
    gateway.GatewayConfigError = RuntimeError  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "idnode.cli.gateway", gateway)
    monkeypatch.setattr(idnode.cli, "gateway", gateway, raising=False)
    assert main.main(["serve", "--port", "9001"]) == 0
    assert calls == [("127.0.0.1", 9001)]


def test_serve_without_configuration_is_a_plain_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    gateway = types.ModuleType("idnode.cli.gateway")

    class GatewayConfigError(RuntimeError):
        pass

    def serve(_host: str, _port: int) -> None:
        raise GatewayConfigError("endpoints.json does not exist")

    gateway.serve = serve  # type: ignore[attr-defined]
    gateway.GatewayConfigError = GatewayConfigError  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "idnode.cli.gateway", gateway)
    monkeypatch.setattr(idnode.cli, "gateway", gateway, raising=False)
    assert main.main(["serve"]) == 1
    assert "idnode serve: error: endpoints.json does not exist" in capsys.readouterr().err


def test_schema_passes_the_output_path(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Path | None] = []
    schema = types.ModuleType("idnode.cli.schema")
    schema.export_schema = calls.append  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "idnode.cli.schema", schema)
    assert main.main(["schema", "--output", "graphql/schema.graphql"]) == 0
    assert main.main(["schema"]) == 0
    assert calls == [Path("graphql/schema.graphql"), None]


def test_deploy_passes_extra_arguments_to_cdk(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[str, list[str]]] = []

    def run_for_aws(_ws: Workspace, _env: object, verb: str, extra: list[str]) -> int:
        seen.append((verb, list(extra)))
        return 0

    monkeypatch.setattr(cdk, "ensure_cli", lambda _ws, _env: False)
    monkeypatch.setattr(cdk, "run_for_aws", run_for_aws)
    assert main.main(["deploy", "--require-approval", "never", "-c", "nodePrefix=88.101"]) == 0
    assert main.main(["synth"]) == 0
    assert seen == [
        ("deploy", ["--require-approval", "never", "-c", "nodePrefix=88.101"]),
        ("synth", []),
    ]


def test_command_errors_are_reported_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def failing(**_kwargs: object) -> int:
        raise emulator.EmulatorError("ministack did not answer")

    monkeypatch.setattr(localcloud, "up", failing)
    assert main.main(["up", "--detach"]) == 1
    assert "idnode up: error: ministack did not answer" in capsys.readouterr().err


def test_importing_the_command_loads_no_sdk() -> None:
    probe = (
        "import sys, idnode.cli.main; "
        "print([m for m in sys.modules if m.split('.')[0] in "
        "('boto3', 'botocore', 'strawberry', 'pynamodb', 'aws_cdk')])"
    )
    result = subprocess.run(  # noqa: S603  (this interpreter, a fixed script)
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


# The whole bring-up, with the emulator, the CDK CLI and the seed replaced by fakes


class _FakeProcess:
    pid = 4242

    def poll(self) -> int | None:
        return None


@pytest.fixture
def fake_cloud(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Record the steps bring_up takes; nothing answers on the default port until started."""
    calls: dict[str, list[str]] = {"steps": [], "stopped": []}
    running: list[bool] = []

    def start(_ws: Workspace, _executable: Path, _env: object) -> _FakeProcess:
        calls["steps"].append("start")
        running.append(True)
        return _FakeProcess()

    def deploy(
        ws: Workspace, _env: object, endpoint_url: str, _echo: object, context: dict[str, str]
    ) -> None:
        calls["steps"].append(f"deploy {endpoint_url}")
        calls["context"] = sorted(context)
        ws.outputs_file.parent.mkdir(parents=True, exist_ok=True)
        ws.outputs_file.write_text(json.dumps({"idnode": OUTPUTS}))

    seed = types.ModuleType("idnode.cli.seed")
    seed.seed_demo = lambda outputs: {  # type: ignore[attr-defined]
        "endpoint": os.environ["AWS_ENDPOINT_URL"],
        "graphql": outputs["GraphqlUrl"],
    }
    monkeypatch.setitem(sys.modules, "idnode.cli.seed", seed)
    monkeypatch.setattr(emulator, "is_healthy", lambda _url: bool(running))
    monkeypatch.setattr(emulator, "install", lambda ws, _env: ws.tools_dir / "bin" / "ministack")
    monkeypatch.setattr(emulator, "start", start)
    monkeypatch.setattr(emulator, "wait_until_healthy", lambda *_args, **_kw: None)
    monkeypatch.setattr(emulator, "is_emulator_process", lambda pid: pid == _FakeProcess.pid)

    def stop(pid: int, timeout: float = 0) -> bool:
        calls["stopped"].append(str(pid))
        return True

    monkeypatch.setattr(emulator, "stop", stop)
    monkeypatch.setattr(cdk, "ensure_cli", lambda _ws, _env: False)
    monkeypatch.setattr(cdk, "is_bootstrapped", lambda _url: False)
    monkeypatch.setattr(cdk, "bootstrap_local", lambda *_args: calls["steps"].append("bootstrap"))
    monkeypatch.setattr(cdk, "deploy_local", deploy)
    monkeypatch.setattr(
        localcloud, "warm_device_events", lambda _outputs, _url: calls["steps"].append("warm")
    )
    monkeypatch.setattr(
        localprotocol, "start", lambda *_args: calls["steps"].append("handle-server") or 4242
    )
    return calls


def test_bring_up_starts_deploys_seeds_and_publishes(
    workspace: Workspace, fake_cloud: dict[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    cloud = localcloud.bring_up(workspace, localcloud.Progress(io.StringIO()), env={})
    assert fake_cloud["steps"] == [
        "start",
        "bootstrap",
        "deploy http://127.0.0.1:4566",
        "warm",
        "handle-server",
    ]
    # The Handle protocol's interfaces and key reach the functions' settings.
    assert fake_cloud["context"] == ["handleInterfaces", "handleKeyFile"]
    assert cloud.started
    assert localcloud.read_state(workspace) == cloud.state
    assert cloud.state.emulator_pid == _FakeProcess.pid
    published = json.loads(workspace.endpoints_file.read_text())
    base = "http://127.0.0.1:4566/_aws/execute-api/abc123/$default"
    # The seed ran against the emulator, with reachable URLs, and only for its own duration.
    assert published["demo"] == {"endpoint": "http://127.0.0.1:4566", "graphql": f"{base}/graphql"}
    assert published["handleProtocol"]["apiHttp"] == f"{base}/hdl"
    site = json.loads(Path(published["handleProtocol"]["siteInfo"]).read_text())
    assert site["servers"][0]["publicKey"]["format"] == "key"  # the node's own key
    assert "AWS_ENDPOINT_URL" not in os.environ
    assert localcloud.stop_started(workspace, cloud)
    assert fake_cloud["stopped"] == [str(_FakeProcess.pid)]
    assert localcloud.read_state(workspace) is None
    assert not workspace.endpoints_file.exists()


def test_device_events_workers_are_started_together_before_devices_connect(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    arrived = threading.Barrier(localcloud.WARM_WORKERS, timeout=10)
    invoked: list[dict[str, Any]] = []

    class FakeLambda:
        def invoke(self, **request: Any) -> dict[str, Any]:
            invoked.append(request)
            arrived.wait()  # every invocation is under way at once: one worker each
            return {"StatusCode": 200, "Payload": io.BytesIO(b"{}")}

    monkeypatch.setattr(boto3, "client", lambda *_args, **_kwargs: FakeLambda())
    localcloud.warm_device_events(OUTPUTS, "http://127.0.0.1:4566")
    assert len(invoked) == localcloud.WARM_WORKERS
    assert {r["FunctionName"] for r in invoked} == {"idnode-DeviceEvents"}
    assert json.loads(invoked[0]["Payload"]) == localcloud.WARM_UP_EVENT


def test_a_device_events_function_that_fails_to_start_is_reported(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class BrokenLambda:
        def invoke(self, **_request: Any) -> dict[str, Any]:
            payload = io.BytesIO(b'{"errorMessage": "No module named idnode"}')
            return {"StatusCode": 200, "FunctionError": "Unhandled", "Payload": payload}

    monkeypatch.setattr(boto3, "client", lambda *_args, **_kwargs: BrokenLambda())
    with pytest.raises(emulator.EmulatorError, match="No module named idnode"):
        localcloud.warm_device_events(OUTPUTS, "http://127.0.0.1:4566")


def test_a_failed_deploy_stops_the_emulator_it_started(
    workspace: Workspace, fake_cloud: dict[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(*_args: object) -> None:
        raise ToolError("cdklocal deploy failed with exit code 1")

    monkeypatch.setattr(cdk, "deploy_local", failing)
    with pytest.raises(ToolError):
        localcloud.bring_up(workspace, localcloud.Progress(io.StringIO()), env={})
    assert fake_cloud["stopped"] == [str(_FakeProcess.pid)]
    assert localcloud.read_state(workspace) is None


def test_an_emulator_already_running_is_used_and_never_stopped(
    workspace: Workspace, fake_cloud: dict[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(emulator, "is_healthy", lambda _url: True)
    cloud = localcloud.bring_up(workspace, localcloud.Progress(io.StringIO()), env={})
    assert "start" not in fake_cloud["steps"]
    assert not cloud.started
    assert localcloud.read_state(workspace) == LocalCloudState(
        "http://127.0.0.1:4566", EndpointSource.RUNNING
    )
    assert localcloud.stop_started(workspace, cloud) is False
    assert fake_cloud["stopped"] == []


def test_an_emulator_from_an_earlier_detached_up_stays_recorded(
    workspace: Workspace, fake_cloud: dict[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    earlier = LocalCloudState("http://127.0.0.1:4566", EndpointSource.EMBEDDED, 4242, "t")
    localcloud.write_state(workspace, earlier)
    monkeypatch.setattr(emulator, "is_healthy", lambda _url: True)
    cloud = localcloud.bring_up(workspace, localcloud.Progress(io.StringIO()), env={})
    assert not cloud.started
    assert localcloud.read_state(workspace) == earlier  # so `idnode down` still stops it
