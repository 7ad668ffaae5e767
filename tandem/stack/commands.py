"""`tandem up` / `tandem down`: MLflow on PostgreSQL on this machine, configured like the
Kubernetes deployment (`tandem.stack.local_stack`). Registered on the `tandem` app by
`tandem.cli`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tandem.stack.local_stack import DEFAULT_STATE_DIR

StackDirOption = Annotated[
    Path,
    typer.Option("--state-dir", help="The local stack's directory: data, logs, password."),
]


def up(
    state_dir: StackDirOption = DEFAULT_STATE_DIR,
    mlflow_port: Annotated[
        int | None,
        typer.Option(
            help="MLflow's port (default: the last start's, else 5000).", show_default=False
        ),
    ] = None,
    postgres_port: Annotated[
        int | None,
        typer.Option(
            help="PostgreSQL's port (default: the last start's, else a free one).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Start MLflow on PostgreSQL locally, like the Kubernetes deployment (proxied artifacts,
    localhost Host headers only), or reuse the running stack; prints MLFLOW_TRACKING_URI."""
    from tandem.stack.local_stack import describe, start

    info = start(state_dir, mlflow_port=mlflow_port, postgres_port=postgres_port)
    typer.echo("\n".join(describe(info)))


def down(state_dir: StackDirOption = DEFAULT_STATE_DIR) -> None:
    """Stop the local MLflow stack; its data stays in the stack directory for the next `up`."""
    from tandem.stack.local_stack import stop

    stopped = stop(state_dir)
    typer.echo(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")
