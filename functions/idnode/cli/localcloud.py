"""The local cloud's lifecycle: find or start an emulator, deploy, seed, publish endpoints.

`idnode up` and the localcloud test fixtures share `bring_up`, so tests exercise exactly what
a developer runs. What `up` started is recorded in .idnode/state.json, and only that is ever
stopped: an emulator somebody else runs is left alone.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, TextIO

from idnode import settings
from idnode.cli import cdk, emulator, localprotocol
from idnode.cli.workspace import Workspace

REQUIRED_OUTPUTS = (
    "HttpApiId",
    "UserPoolId",
    "UserPoolClientId",
    *(settings.table_output(attribute) for attribute in settings.TABLES),
    "DevicePolicyName",
    "DeadLetterQueueUrl",
    "DeviceEventsFunctionName",
    "NodePrefix",
)
# Workers of the device-events function started before any device connects. The emulator
# starts a cold worker for every message that finds none free; a burst of messages right after
# a deploy would start dozens at once, each taking seconds of CPU, and none would finish.
WARM_WORKERS = 4
# A presence event of a client that is no device: the function reads one item and ignores it.
WARM_UP_EVENT = {
    "kind": "presence",
    "clientId": "idnode-warm-up",
    "eventType": "connected",
    "timestamp": 0,
}
# The local cloud serves every HTTP API under this path of the gateway: the `{id}.execute-api.
# localhost` host names in the stack outputs do not resolve outside curl and browsers.
EXECUTE_API_PATH = "/_aws/execute-api/{api_id}/$default"


class EndpointSource(StrEnum):
    """How the local cloud's endpoint was found."""

    ENVIRONMENT = "environment"  # AWS_ENDPOINT_URL was set
    RUNNING = "running"  # something already answered on 127.0.0.1:4566
    EMBEDDED = "embedded"  # `idnode up` started ministack


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A LocalStack-compatible endpoint and how it was found."""

    url: str
    source: EndpointSource


def choose_endpoint(env: Mapping[str, str], probe: Callable[[str], bool]) -> Endpoint | None:
    """The endpoint to use, or None when the embedded emulator must be started.

    AWS_ENDPOINT_URL wins; then whatever answers the LocalStack health check on the default
    port (a LocalStack, or an emulator started earlier).
    """
    configured = env.get("AWS_ENDPOINT_URL", "").strip()
    if configured:
        return Endpoint(configured.rstrip("/"), EndpointSource.ENVIRONMENT)
    if probe(emulator.LOCAL_ENDPOINT):
        return Endpoint(emulator.LOCAL_ENDPOINT, EndpointSource.RUNNING)
    return None


def http_api_url(endpoint_url: str, api_id: str) -> str:
    """Base URL of an HTTP API's default stage in the local cloud."""
    return endpoint_url.rstrip("/") + EXECUTE_API_PATH.format(api_id=api_id)


def missing_outputs(outputs: Mapping[str, str]) -> list[str]:
    """Required stack outputs that are absent or empty."""
    return [name for name in REQUIRED_OUTPUTS if not outputs.get(name)]


def reachable_outputs(outputs: Mapping[str, str], endpoint_url: str) -> dict[str, str]:
    """Stack outputs with the API URLs replaced by ones this machine can reach."""
    if missing := missing_outputs(outputs):
        raise cdk.OutputsError(f"the stack outputs lack {', '.join(missing)}")
    base = http_api_url(endpoint_url, outputs["HttpApiId"])
    return {**outputs, "GraphqlUrl": f"{base}/graphql", "HandleApiUrl": base}


def endpoints_document(
    outputs: Mapping[str, str], endpoint_url: str, demo: Mapping[str, Any]
) -> dict[str, Any]:
    """The content of .idnode/endpoints.json, from reachable outputs."""
    endpoint_url = endpoint_url.rstrip("/")
    region = outputs.get("Region") or cdk.LOCAL_REGION
    pool = outputs["UserPoolId"]
    return {
        "endpointUrl": endpoint_url,
        "region": region,
        "stackName": cdk.STACK_NAME,
        "graphqlUrl": outputs["GraphqlUrl"],
        "handleApiUrl": outputs["HandleApiUrl"],
        "httpApiId": outputs["HttpApiId"],
        "userPoolId": pool,
        "userPoolClientId": outputs["UserPoolClientId"],
        "issuer": f"https://cognito-idp.{region}.amazonaws.com/{pool}",
        "jwksUrl": f"{endpoint_url}/{pool}/.well-known/jwks.json",
        "tables": {
            attribute.removesuffix("_table"): outputs[settings.table_output(attribute)]
            for attribute in settings.TABLES
        },
        "nodePrefix": outputs["NodePrefix"],
        "devicePolicy": outputs["DevicePolicyName"],
        "deadLetterQueueUrl": outputs["DeadLetterQueueUrl"],
        "demo": dict(demo),
    }


def product_environment(outputs: Mapping[str, str], endpoint_url: str) -> dict[str, str | None]:
    """Variables under which product code (the demo seed) talks to the local cloud.

    None removes a variable: a developer's profile or session token must not be mixed with
    the emulator's test credentials.
    """
    region = outputs.get("Region") or cdk.LOCAL_REGION
    variables: dict[str, str | None] = {
        "AWS_ENDPOINT_URL": endpoint_url.rstrip("/"),
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_PROFILE": None,
        "AWS_SESSION_TOKEN": None,
        **{
            variable: outputs[settings.table_output(attribute)]
            for attribute, variable in settings.TABLES.items()
        },
        settings.NODE_PREFIX: outputs["NodePrefix"],
        settings.USER_POOL_ID: outputs["UserPoolId"],
        settings.USER_POOL_CLIENT_ID: outputs["UserPoolClientId"],
        settings.DEVICE_POLICY: outputs["DevicePolicyName"],
        settings.DEAD_LETTER_QUEUE_URL: outputs["DeadLetterQueueUrl"],
    }
    variables.update(cdk.LOCAL_CREDENTIALS)
    return variables


@contextlib.contextmanager
def environment_overrides(variables: Mapping[str, str | None]) -> Iterator[None]:
    """Apply variables to os.environ for the duration of the block, then restore it exactly.

    Restoring matters in test sessions: a leftover AWS_ENDPOINT_URL would send later moto
    tests to the emulator.
    """
    saved = {name: os.environ.get(name) for name in variables}
    try:
        for name, value in variables.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@dataclass(frozen=True, slots=True)
class LocalCloudState:
    """What .idnode/state.json records about the running local cloud."""

    endpoint_url: str
    source: EndpointSource
    emulator_pid: int | None = None
    started_at: str = ""

    def to_json(self) -> dict[str, Any]:
        """The file's JSON form."""
        emulator_record = (
            None
            if self.emulator_pid is None
            else {
                "name": "ministack",
                "version": emulator.MINISTACK_VERSION,
                "pid": self.emulator_pid,
                "startedAt": self.started_at,
            }
        )
        return {
            "endpointUrl": self.endpoint_url,
            "source": self.source.value,
            "emulator": emulator_record,
        }

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> LocalCloudState:
        """Parse the file's JSON form (ValueError/KeyError/TypeError when malformed)."""
        record = document.get("emulator")
        pid = int(record["pid"]) if isinstance(record, Mapping) else None
        started = str(record.get("startedAt", "")) if isinstance(record, Mapping) else ""
        return cls(
            endpoint_url=str(document["endpointUrl"]),
            source=EndpointSource(document["source"]),
            emulator_pid=pid,
            started_at=started,
        )


def read_state(workspace: Workspace) -> LocalCloudState | None:
    """The recorded state, or None when there is none (a malformed file counts as none)."""
    try:
        document = json.loads(workspace.state_file.read_text(encoding="utf-8"))
        return LocalCloudState.from_json(document) if isinstance(document, dict) else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_state(workspace: Workspace, state: LocalCloudState) -> None:
    """Record the state atomically (a concurrent `status` never reads half a file)."""
    _write_json(workspace.state_file, state.to_json())


def clear_state(workspace: Workspace) -> None:
    """Forget the state."""
    workspace.state_file.unlink(missing_ok=True)


def read_endpoints(workspace: Workspace) -> dict[str, Any] | None:
    """The endpoints `idnode up` published, or None."""
    try:
        document = json.loads(workspace.endpoints_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) else None


def _write_json(path: Path, document: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_suffix(path.suffix + ".tmp")
    scratch.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    scratch.replace(path)


class Progress:
    """Progress lines stamped with the seconds since the command started."""

    def __init__(self, out: TextIO, clock: Callable[[], float] = time.monotonic) -> None:
        self.out = out
        self.clock = clock
        self.started = clock()

    def elapsed(self) -> float:
        """Seconds since the start."""
        return self.clock() - self.started

    def __call__(self, message: str) -> None:
        """Print one progress line."""
        self.out.write(f"[{self.elapsed():6.1f}s] {message}\n")
        self.out.flush()

    @contextlib.contextmanager
    def step(self, message: str) -> Iterator[None]:
        """Announce a step, then report how long it took."""
        self(f"{message} ...")
        started = self.clock()
        yield
        self(f"{message}: done in {self.clock() - started:.1f}s")


@dataclass(slots=True)
class LocalCloud:
    """A local cloud that `bring_up` made ready."""

    endpoint: Endpoint
    state: LocalCloudState
    endpoints: dict[str, Any]
    # Set only when this very call started the emulator.
    process: subprocess.Popen[bytes] | None = field(default=None)

    @property
    def started(self) -> bool:
        """Whether this call started the emulator (and so the caller should stop it)."""
        return self.process is not None


def _start_embedded(
    workspace: Workspace, progress: Progress, env: Mapping[str, str]
) -> subprocess.Popen[bytes]:
    with progress.step(f"installing ministack {emulator.MINISTACK_VERSION} under .idnode/tools"):
        executable = emulator.install(workspace, env)
    with progress.step(f"starting ministack on {emulator.LOCAL_ENDPOINT}"):
        process = emulator.start(workspace, executable, env)
        try:
            emulator.wait_until_healthy(emulator.LOCAL_ENDPOINT, process, workspace.emulator_log)
        except BaseException:
            emulator.stop(process.pid)
            raise
    progress(f"ministack pid {process.pid}, log {workspace.emulator_log}")
    return process


def _find_or_start(
    workspace: Workspace, progress: Progress, env: Mapping[str, str]
) -> tuple[Endpoint, LocalCloudState, subprocess.Popen[bytes] | None]:
    endpoint = choose_endpoint(env, emulator.is_healthy)
    if endpoint is None:
        process = _start_embedded(workspace, progress, env)
        endpoint = Endpoint(emulator.LOCAL_ENDPOINT, EndpointSource.EMBEDDED)
        started_at = datetime.now(UTC).isoformat(timespec="seconds")
        return (
            endpoint,
            LocalCloudState(endpoint.url, endpoint.source, process.pid, started_at),
            process,
        )
    previous = read_state(workspace)
    if (
        previous is not None
        and previous.emulator_pid is not None
        and previous.endpoint_url == endpoint.url
        and emulator.is_emulator_process(previous.emulator_pid)
    ):
        progress(f"using ministack pid {previous.emulator_pid}, started earlier by `idnode up`")
        return endpoint, previous, None
    if endpoint.source is EndpointSource.ENVIRONMENT and not emulator.is_healthy(endpoint.url):
        progress(f"warning: AWS_ENDPOINT_URL={endpoint.url} does not answer {emulator.HEALTH_PATH}")
    else:
        progress(f"using the emulator already answering at {endpoint.url} ({endpoint.source})")
    return endpoint, LocalCloudState(endpoint.url, endpoint.source), None


def _deploy(
    workspace: Workspace,
    progress: Progress,
    env: Mapping[str, str],
    endpoint_url: str,
    echo: TextIO | None,
    *,
    context: Mapping[str, str] | None = None,
) -> dict[str, str]:
    with progress.step("checking the CDK CLI in infra/cdk/node_modules"):
        installed = cdk.ensure_cli(workspace, env)
    progress("installed with npm ci" if installed else "already current, npm ci skipped")
    if cdk.is_bootstrapped(endpoint_url):
        progress("CDK bootstrap already present, skipped")
    else:
        with progress.step(f"cdklocal bootstrap aws://{cdk.LOCAL_ACCOUNT}/{cdk.LOCAL_REGION}"):
            cdk.bootstrap_local(workspace, env, endpoint_url, echo)
    with progress.step(f"cdklocal deploy {cdk.STACK_NAME} (-c local=true)"):
        cdk.deploy_local(workspace, env, endpoint_url, echo, context)
    outputs = cdk.read_outputs(workspace.outputs_file)
    with environment_overrides(product_environment(outputs, endpoint_url)):
        if cdk.restore_cors(workspace.local_assembly_dir, outputs["HttpApiId"], endpoint_url):
            progress("CORS configuration applied to the HTTP API")
    return outputs


def warm_device_events(outputs: Mapping[str, str], endpoint_url: str) -> None:
    """Invoke the device-events function WARM_WORKERS times at once, so that as many warm
    workers wait for the first devices (the emulator keeps them, see emulator.py)."""
    import boto3  # noqa: PLC0415 - only `up` needs a Lambda client

    client = boto3.client(
        "lambda",
        endpoint_url=endpoint_url,
        region_name=outputs.get("Region") or cdk.LOCAL_REGION,
        aws_access_key_id=cdk.LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=cdk.LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )
    payload = json.dumps(WARM_UP_EVENT).encode()

    def invoke(_: int) -> None:
        reply = client.invoke(FunctionName=outputs["DeviceEventsFunctionName"], Payload=payload)
        if reply.get("FunctionError"):
            raise emulator.EmulatorError(
                f"the device-events function failed to start: {reply['Payload'].read()[:500]!r}"
            )

    with ThreadPoolExecutor(WARM_WORKERS) as pool:
        list(pool.map(invoke, range(WARM_WORKERS)))


def _seed(outputs: Mapping[str, str], endpoint_url: str) -> dict[str, Any]:
    from idnode.cli.seed import seed_demo  # noqa: PLC0415  (loads the product's store layer)

    with environment_overrides(product_environment(outputs, endpoint_url)):
        return dict(seed_demo(dict(outputs)))


def bring_up(
    workspace: Workspace,
    progress: Progress,
    env: Mapping[str, str] | None = None,
    echo: TextIO | None = None,
) -> LocalCloud:
    """Find or start the emulator, deploy the stack, seed the demo node, write endpoints.json.

    If anything fails, an emulator this call started is stopped again. `echo` receives the
    CDK CLI's output as it runs (it is always kept under .idnode/logs/).
    """
    env = os.environ if env is None else env
    endpoint, state, process = _find_or_start(workspace, progress, env)
    try:
        write_state(workspace, state)
        localprotocol.stop(workspace)  # its ports are chosen afresh
        protocol = localprotocol.plan(workspace)
        raw_outputs = _deploy(
            workspace, progress, env, endpoint.url, echo, context=protocol.context()
        )
        outputs = reachable_outputs(raw_outputs, endpoint.url)
        with progress.step("seeding the demo node"):
            demo = _seed(outputs, endpoint.url)
        with progress.step(f"starting {WARM_WORKERS} workers of the device-events function"):
            warm_device_events(outputs, endpoint.url)
        with progress.step(
            f"starting the Handle protocol service (TCP/UDP {protocol.tcp_port}, "
            f"HTTP {protocol.http_port})"
        ):
            localprotocol.start(workspace, protocol, product_environment(outputs, endpoint.url))
        endpoints = endpoints_document(outputs, endpoint.url, demo)
        endpoints["handleProtocol"] = localprotocol.publish(
            workspace, protocol, outputs["HandleApiUrl"]
        )
        _write_json(workspace.endpoints_file, endpoints)
    except BaseException:
        localprotocol.stop(workspace)
        if process is not None:
            progress(f"stopping ministack pid {process.pid}, which this command started")
            emulator.stop(process.pid)
            clear_state(workspace)
        raise
    return LocalCloud(endpoint=endpoint, state=state, endpoints=endpoints, process=process)


def stop_started(workspace: Workspace, cloud: LocalCloud) -> bool:
    """Stop the emulator if `cloud` was started by the caller's `bring_up`; True if stopped.
    The Handle protocol service is stopped either way."""
    localprotocol.stop(workspace)
    if cloud.process is None:
        return False
    stopped = emulator.stop(cloud.process.pid)
    emulator.clear_temp(workspace)
    current = read_state(workspace)
    if current is not None and current.emulator_pid == cloud.process.pid:
        clear_state(workspace)
        workspace.endpoints_file.unlink(missing_ok=True)
    return stopped


_ORIGINS = {
    EndpointSource.ENVIRONMENT: "given by AWS_ENDPOINT_URL, not managed by idnode",
    EndpointSource.RUNNING: "already running, not managed by idnode",
    EndpointSource.EMBEDDED: "embedded",
}


def describe(endpoints: Mapping[str, Any], state: LocalCloudState | None) -> str:
    """Endpoints in a form people read."""
    if state is not None and state.emulator_pid is not None:
        origin = f"ministack {emulator.MINISTACK_VERSION}, pid {state.emulator_pid}"
    elif state is not None:
        origin = _ORIGINS[state.source]
    else:
        origin = "not started by idnode"
    tables = endpoints.get("tables", {})
    lines = [
        f"Local cloud at {endpoints.get('endpointUrl')} ({origin})",
        f"  GraphQL          {endpoints.get('graphqlUrl')}",
        f"  Handle REST API  {endpoints.get('handleApiUrl')}/api/handles/{{handle}}",
        f"  Region           {endpoints.get('region')}",
        f"  User pool        {endpoints.get('userPoolId')}"
        f" (app client {endpoints.get('userPoolClientId')})",
        *(
            f"  {'Tables' if i == 0 else '':<17}{name}={table}"
            for i, (name, table) in enumerate(tables.items())
        ),
        f"  Node prefix      {endpoints.get('nodePrefix')}",
    ]
    protocol = endpoints.get("handleProtocol") or {}
    if protocol:
        lines += [
            f"  Handle protocol  TCP {protocol.get('tcp')}, UDP {protocol.get('udp')}, "
            f"HTTP {protocol.get('http')} (and {protocol.get('apiHttp')})",
            f"  Site info        {protocol.get('siteInfo')}",
        ]
    demo = endpoints.get("demo") or {}
    if demo:
        lines.append("  Demo node")
        width = max(len(str(key)) for key in demo)
        for key, value in demo.items():
            shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            lines.append(f"    {key:<{width}}  {shown}")
    return "\n".join(lines)


class _StopSignals:
    """SIGINT and SIGTERM: the first one interrupts; later ones are ignored, so that the
    cleanup it triggers (stopping the emulator) runs to the end."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _StopSignals:
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *_exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _handle(self, signum: int, _frame: object) -> None:
        if self.received is None:
            self.received = signum
            raise KeyboardInterrupt(f"signal {signum}")


def _wait_for_stop(workspace: Workspace, cloud: LocalCloud, out: TextIO) -> int:
    try:
        while True:
            time.sleep(1.0)
            if cloud.process is None or cloud.process.poll() is None:
                continue
            if read_state(workspace) is None:
                out.write("The emulator was stopped by `idnode down`.\n")
                return 0
            out.write(
                f"ministack exited with code {cloud.process.returncode}; "
                f"see {workspace.emulator_log}\n"
            )
            clear_state(workspace)
            return 1
    except KeyboardInterrupt:
        return 0


def up(detach: bool, verbose: bool = False, out: TextIO = sys.stdout) -> int:
    """`idnode up`: bring the local cloud up; unless detached, serve until Ctrl-C or SIGTERM."""
    workspace = Workspace.locate()
    progress = Progress(out)
    with _StopSignals():
        cloud = bring_up(workspace, progress, echo=out if verbose else None)
        out.write("\n" + describe(cloud.endpoints, cloud.state) + "\n")
        out.write(f"Endpoints written to {workspace.endpoints_file}\n")
        progress("local cloud ready")
        if detach:
            if cloud.state.emulator_pid is not None:
                out.write("Stop it with `idnode down`.\n")
            return 0
        out.write("Press Ctrl-C to stop.\n")
        code = _wait_for_stop(workspace, cloud, out)
        if cloud.started and cloud.process is not None and cloud.process.poll() is None:
            progress(f"stopping ministack pid {cloud.state.emulator_pid}")
            stop_started(workspace, cloud)
        elif not cloud.started and cloud.state.emulator_pid is not None:
            out.write("The emulator started by an earlier `idnode up --detach` keeps running.\n")
        if localprotocol.stop(workspace):
            progress("stopped the Handle protocol service")
        return code


def down(out: TextIO = sys.stdout) -> int:
    """`idnode down`: stop what `idnode up` started; leave anything else alone. Idempotent."""
    workspace = Workspace.locate()
    if localprotocol.stop(workspace):
        out.write("Stopped the Handle protocol service.\n")
    state = read_state(workspace)
    if state is None:
        out.write("Nothing to stop: `idnode up` has not started anything.\n")
        return 0
    if state.emulator_pid is None:
        out.write(f"Leaving {state.endpoint_url} running: `idnode up` did not start it.\n")
    else:
        if emulator.stop(state.emulator_pid):
            out.write(f"Stopped ministack (pid {state.emulator_pid}).\n")
        else:
            out.write(f"ministack (pid {state.emulator_pid}) was no longer running.\n")
        emulator.clear_temp(workspace)
        # Its state lived in memory only, so the published endpoints are gone with it.
        workspace.endpoints_file.unlink(missing_ok=True)
    clear_state(workspace)
    return 0


def status(out: TextIO = sys.stdout, env: Mapping[str, str] | None = None) -> int:
    """`idnode status`: 0 when the local cloud answers, 1 when it does not."""
    env = os.environ if env is None else env
    workspace = Workspace.locate()
    state = read_state(workspace)
    endpoints = read_endpoints(workspace)
    url = (
        state.endpoint_url
        if state is not None
        else (env.get("AWS_ENDPOINT_URL") or emulator.LOCAL_ENDPOINT).rstrip("/")
    )
    healthy = emulator.is_healthy(url)
    out.write(f"Local cloud at {url}: {'up' if healthy else 'down'}\n")
    if state is not None and state.emulator_pid is not None:
        alive = emulator.is_emulator_process(state.emulator_pid)
        out.write(
            f"ministack pid {state.emulator_pid} started {state.started_at}: "
            f"{'running' if alive else 'not running'}\n"
        )
    if endpoints is not None:
        out.write(describe(endpoints, state) + "\n")
    else:
        out.write("No endpoints published yet: run `idnode up`.\n")
    return 0 if healthy else 1
