"""CDK entry point for the idnode stack.

Run by the CDK CLI (`cdk --app "<python> app.py" -c local=true ...`) or directly with
`python app.py`, in which case context comes from CDK_CONTEXT_JSON. Context keys:
`local` ("true" for the local cloud), `stackName` (default idnode), `nodePrefix` (default 88.100).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# The environment variable names are owned by the function package (idnode.settings).
sys.path.insert(0, str(HERE.parents[1] / "functions"))

from aws_cdk import App  # noqa: E402  (needs the path above)

from idnode_infra.deployment import Deployment  # noqa: E402
from idnode_infra.stack import IdnodeStack  # noqa: E402

DEFAULT_OUTDIR = HERE / "cdk.out"


def main() -> None:
    """Synthesise into CDK_OUTDIR (the CLI sets it) or infra/cdk/cdk.out."""
    app = App(outdir=os.environ.get("CDK_OUTDIR") or str(DEFAULT_OUTDIR))
    IdnodeStack(app, Deployment.from_context(app.node))
    app.synth()


if __name__ == "__main__":
    main()
