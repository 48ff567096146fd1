"""Building the function bundle without Docker: commands, contents and the asset hash."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from aws_cdk import DockerImage

from idnode_infra import bundling


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    """A miniature repository: a lock file and a function package with build debris."""
    package = tmp_path / "functions" / "idnode"
    (package / "handlers" / "__pycache__").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "handlers" / "__init__.py").write_text("")
    (package / "handlers" / "graphql.py").write_text("handler = None\n")
    (package / "handlers" / "__pycache__" / "graphql.cpython-311.pyc").write_bytes(b"\0")
    (tmp_path / "uv.lock").write_text("version = 1\n")
    return tmp_path


def _hash(repository: Path) -> str:
    return bundling.source_hash(repository / "functions" / "idnode", repository / "uv.lock")


def test_hash_is_stable_and_ignores_bytecode(repository: Path) -> None:
    first = _hash(repository)
    pycache = repository / "functions" / "idnode" / "handlers" / "__pycache__"
    (pycache / "graphql.cpython-311.pyc").write_bytes(b"changed")
    (pycache / "other.cpython-311.pyc").write_bytes(b"new")
    assert _hash(repository) == first


@pytest.mark.parametrize(
    "change",
    [
        "functions/idnode/handlers/graphql.py",
        "functions/idnode/handlers/handles.py",
        "uv.lock",
    ],
)
def test_hash_follows_sources_and_lock(repository: Path, change: str) -> None:
    before = _hash(repository)
    path = repository / change
    path.write_text(path.read_text() + "# edited\n" if path.exists() else "handler = None\n")
    assert _hash(repository) != before


def test_export_takes_runtime_dependencies_from_the_lock_only() -> None:
    command = bundling.export_command("uv", Path("/scratch/requirements.txt"))
    assert command[:2] == ["uv", "export"]
    for flag in ("--frozen", "--no-dev", "--no-hashes", "--no-emit-project"):
        assert flag in command
    assert command[command.index("--no-group") + 1] == "infra"


def test_install_targets_the_lambda_platform_with_wheels_only() -> None:
    command = bundling.install_command("uv", Path("/scratch/req.txt"), Path("/out"))
    assert command[:3] == ["uv", "pip", "install"]
    assert command[command.index("--target") + 1] == "/out"
    assert command[command.index("--python-platform") + 1] == "x86_64-manylinux2014"
    assert command[command.index("--python-version") + 1] == "3.11"
    assert command[command.index("--only-binary") + 1] == ":all:"


def test_pinned_uv_is_preferred(repository: Path) -> None:
    pinned = repository / ".tools" / "bin" / "uv"
    pinned.parent.mkdir(parents=True)
    pinned.write_text("#!/bin/sh\n")
    pinned.chmod(0o755)
    assert bundling.find_uv(repository) == str(pinned)


def test_bundle_holds_dependencies_and_package_without_debris(
    repository: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    commands: list[list[str]] = []

    def run(command: Sequence[str], cwd: Path) -> None:
        commands.append(list(command))
        if "--target" in command:
            # What `uv pip install --target` leaves: packages and console scripts.
            target = Path(command[command.index("--target") + 1])
            (target / "bin").mkdir(parents=True)
            (target / "bin" / "strawberry").write_text("#!/host/python\n")
            (target / "mangum").mkdir()
            (target / "mangum" / "__init__.py").write_text("")

    monkeypatch.setattr(bundling, "_run", run)
    monkeypatch.setattr(bundling, "find_uv", lambda root: "/usr/bin/uv")
    output = tmp_path / "bundle"
    output.mkdir()

    built = bundling.LockedWheelsBundling(repository).try_bundle(
        str(output), image=DockerImage.from_registry("unused")
    )

    assert built is True
    export, install, precompile = commands
    assert (export[1], install[1]) == ("export", "pip")
    assert precompile[1:3] == ["-m", "compileall"]
    assert "unchecked-hash" in precompile
    files = {path.relative_to(output).as_posix() for path in output.rglob("*") if path.is_file()}
    assert files == {
        "mangum/__init__.py",
        "idnode/__init__.py",
        "idnode/handlers/__init__.py",
        "idnode/handlers/graphql.py",
    }


def test_failed_command_stops_the_synth(repository: Path, tmp_path: Path) -> None:
    with pytest.raises(bundling.BundlingError, match="exit code"):
        bundling._run(["false"], repository)
