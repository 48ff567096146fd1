"""The one code asset every function runs, built on this machine with uv instead of Docker.

The bundle is the locked runtime dependencies, installed as manylinux wheels for Lambda's
Python 3.11 on x86_64, plus the `idnode` package. The same wheels import on the host's
Python 3.11, so the local cloud, which runs functions on the host interpreter, runs the
very bundle that AWS does.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct

REPOSITORY_ROOT = Path(__file__).resolve().parents[3]
PACKAGE_NAME = "idnode"

# These four move together: wheels are chosen for the runtime, not for the machine that synthesises.
RUNTIME = lambda_.Runtime.PYTHON_3_11
ARCHITECTURE = lambda_.Architecture.X86_64
PYTHON_VERSION = "3.11"
PYTHON_PLATFORM = "x86_64-manylinux2014"

_IGNORED_DIRS = frozenset({"__pycache__"})
_IGNORED_SUFFIXES = frozenset({".pyc", ".pyo"})


class BundlingError(RuntimeError):
    """The function bundle could not be built."""


def find_uv(repository_root: Path = REPOSITORY_ROOT) -> str:
    """The repository's pinned uv, else the one on PATH."""
    pinned = repository_root / ".tools" / "bin" / "uv"
    if pinned.is_file() and os.access(pinned, os.X_OK):
        return str(pinned)
    on_path = shutil.which("uv")
    if on_path:
        return on_path
    raise BundlingError(f"uv is neither at {pinned} nor on PATH; run `make install` first")


def export_command(uv: str, requirements: Path) -> list[str]:
    """Runtime dependencies exactly as locked: no dev or infra groups, not the project itself."""
    return [
        uv, "export", "--frozen", "--no-dev", "--no-group", "infra", "--no-hashes",
        "--no-emit-project", "--quiet", "--output-file", str(requirements),
    ]  # fmt: skip


def install_command(uv: str, requirements: Path, target: Path) -> list[str]:
    """Binary wheels for the Lambda platform, installed flat into the bundle directory."""
    return [
        uv, "pip", "install", "--target", str(target), "--requirements", str(requirements),
        "--python-platform", PYTHON_PLATFORM, "--python-version", PYTHON_VERSION,
        "--only-binary", ":all:",
    ]  # fmt: skip


def package_files(package_dir: Path) -> Iterator[Path]:
    """Files of the function package that belong in the bundle, in a stable order."""
    for path in sorted(package_dir.rglob("*")):
        relative = path.relative_to(package_dir)
        if (
            path.is_file()
            and path.suffix not in _IGNORED_SUFFIXES
            and _IGNORED_DIRS.isdisjoint(relative.parts)
        ):
            yield path


def source_hash(package_dir: Path, lock_file: Path) -> str:
    """Changes exactly when the bundle would: package sources, locked versions or target."""
    # The recipe is part of the content: target platform, and the interpreter that precompiles.
    recipe = f"{PYTHON_PLATFORM} {PYTHON_VERSION} bytecode:{sys.version_info[:2]}\n"
    digest = hashlib.sha256(recipe.encode())
    for path in package_files(package_dir):
        digest.update(path.relative_to(package_dir).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    digest.update(lock_file.read_bytes())
    return digest.hexdigest()


def _run(command: Sequence[str], cwd: Path) -> None:
    # The arguments are fixed options and paths inside this repository, never outside input.
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        raise BundlingError(
            f"`{' '.join(command)}` failed with exit code {result.returncode}:\n{result.stderr}"
        )


def compile_command(python: str, target: Path) -> list[str]:
    """Bytecode valid whatever the mtimes: the CDK zips assets with fixed timestamps."""
    return [
        python, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash",
        str(target),
    ]  # fmt: skip


def compile_bytecode(target: Path) -> bool:
    """Precompile the bundle when this interpreter matches the runtime. Lambda's code directory
    is read-only, so without it every cold start compiles every module again (measured here:
    the GraphQL handler imports in 0.5 s precompiled, 1.2 to 2.3 s without)."""
    if f"{sys.version_info.major}.{sys.version_info.minor}" != PYTHON_VERSION:
        sys.stderr.write(
            f"idnode: not precompiling, Python {sys.version_info.major}."
            f"{sys.version_info.minor} is not the runtime's {PYTHON_VERSION}\n"
        )
        return False
    _run(compile_command(sys.executable, target), target)
    return True


@jsii.implements(ILocalBundling)
class LockedWheelsBundling:
    """Builds the bundle from uv.lock; CDK calls `try_bundle` before it would try Docker."""

    def __init__(self, repository_root: Path = REPOSITORY_ROOT) -> None:
        self.repository_root = repository_root
        self.package_dir = repository_root / "functions" / PACKAGE_NAME

    def try_bundle(self, output_dir: str, *, image: DockerImage, **_options: Any) -> bool:
        """Write the bundle into `output_dir`. Never falls back to Docker: fails loudly instead."""
        started = time.monotonic()
        target = Path(output_dir)
        uv = find_uv(self.repository_root)
        with tempfile.TemporaryDirectory(prefix="idnode-bundle-") as scratch:
            # Kept outside the bundle: the requirements file is build input, not function code.
            requirements = Path(scratch) / "requirements.txt"
            _run(export_command(uv, requirements), self.repository_root)
            _run(install_command(uv, requirements, target), self.repository_root)
        # Console scripts point at this machine's interpreter; nothing in Lambda runs them.
        shutil.rmtree(target / "bin", ignore_errors=True)
        for path in package_files(self.package_dir):
            destination = target / PACKAGE_NAME / path.relative_to(self.package_dir)
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, destination)
        compile_bytecode(target)
        elapsed = time.monotonic() - started
        sys.stderr.write(f"idnode: function bundle built in {elapsed:.1f} s\n")
        return True


def _asset_options(repository_root: Path) -> dict[str, Any]:
    bundling = LockedWheelsBundling(repository_root)
    return {
        "path": str(bundling.package_dir),
        "asset_hash_type": AssetHashType.CUSTOM,
        "asset_hash": source_hash(bundling.package_dir, repository_root / "uv.lock"),
        # Required by the API, never pulled: local bundling succeeds or raises.
        "bundling": BundlingOptions(image=RUNTIME.bundling_image, local=bundling),
    }


def code_asset(
    scope: Construct, construct_id: str, repository_root: Path = REPOSITORY_ROOT
) -> s3_assets.Asset:
    """The functions' bundle as a plain S3 asset (the same staged file), for a container that
    runs it (the Handle protocol service)."""
    return s3_assets.Asset(scope, construct_id, **_asset_options(repository_root))


def function_code(repository_root: Path = REPOSITORY_ROOT) -> lambda_.Code:
    """The single asset of every function. Its hash is computed from sources, so a synth whose
    output directory already holds that bundle reuses it instead of bundling again."""
    options = _asset_options(repository_root)
    return lambda_.Code.from_asset(options.pop("path"), **options)
