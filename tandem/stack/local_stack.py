"""The local MLflow stack, shaped like the Kubernetes deployment: `mlflow server` on a PostgreSQL
backend, artifacts proxied by the server (a local directory stands in for the S3 bucket), bound to
127.0.0.1 and answering only localhost Host headers (`--allowed-hosts`).

Everything lives in one stack directory (default `.tandem-stack/`, gitignored):

    postgres/     the cluster (tandem/stack/local_postgres.py) and postgres.log
    pgpass        the MLflow role's password, a libpq password file (mode 600)
    artifacts/    the artifact store behind the server's proxy
    mlflow.log    the server's output
    stack.json    ports and the server's process id

`start` is idempotent (a running stack is reused), `stop` ends both servers, `status` reports.
`tandem up` / `tandem down` (`make up`, `make down`) call them.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.error import URLError
from urllib.request import urlopen

from components.common.errors import TandemError
from tandem.stack import local_postgres

DEFAULT_STATE_DIR = Path(".tandem-stack")
DEFAULT_MLFLOW_PORT = 5000
HOST = "127.0.0.1"
HEALTH_TIMEOUT_S = 120.0
STATE_FILE = "stack.json"
# One worker is plenty for a workstation, and each costs a few hundred MB on a small machine.
MLFLOW_WORKERS = 1
# Servers this process started: stop() reaps them so none is left behind as a zombie.
_spawned: dict[int, subprocess.Popen] = {}


@dataclass(frozen=True)
class StackInfo:
    state_dir: Path
    mlflow_port: int
    postgres_port: int
    mlflow_pid: int
    reused: bool = False

    @property
    def tracking_uri(self) -> str:
        return f"http://{HOST}:{self.mlflow_port}"

    @property
    def backend_store_uri(self) -> str:
        return _cluster(self.state_dir).uri(self.postgres_port)

    @property
    def passfile(self) -> Path:
        return self.state_dir / "pgpass"

    @property
    def artifacts_dir(self) -> Path:
        return self.state_dir / "artifacts"

    @property
    def mlflow_log(self) -> Path:
        return self.state_dir / "mlflow.log"

    @property
    def postgres_log(self) -> Path:
        return _cluster(self.state_dir).log_file


@dataclass(frozen=True)
class StackStatus:
    postgres_port: int | None
    mlflow: StackInfo | None

    @property
    def running(self) -> bool:
        return self.postgres_port is not None and self.mlflow is not None


def _cluster(state_dir: Path) -> local_postgres.Cluster:
    return local_postgres.Cluster(root=state_dir / "postgres", passfile=state_dir / "pgpass")


def _load_state(state_dir: Path) -> dict:
    path = state_dir / STATE_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def _port_free(port: int) -> bool:
    """Whether a server could listen on port: SO_REUSEADDR, as the servers set it, so the
    TIME_WAIT connections a just-stopped server leaves behind do not count."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A port nobody listens on right now (the kernel's choice)."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def _healthy(port: int) -> bool:
    try:
        with urlopen(f"http://{HOST}:{port}/health", timeout=2) as response:
            return response.status == 200
    except (URLError, OSError):
        return False


def _serves_this_stack(pid: int, state_dir: Path) -> bool:
    """Whether pid is an MLflow server of this stack (a recycled pid is not)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"mlflow" in cmdline and str(state_dir / "artifacts").encode() in cmdline


def _running_server(state_dir: Path, state: dict) -> int | None:
    pid = state.get("mlflow_pid")
    return pid if pid and _serves_this_stack(pid, state_dir) else None


def _last_log_line(log: Path) -> str:
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1].strip() if lines else "(empty)"


def _wait_healthy(pid: int, port: int, log: Path, timeout_s: float) -> None:
    """Poll /health until it answers 200; one clear error (naming the log) when it doesn't."""
    deadline = time.monotonic() + timeout_s
    while not _healthy(port):
        process = _spawned.get(pid)
        if process is not None and process.poll() is not None:
            _spawned.pop(pid)
            raise TandemError(
                f"the MLflow server exited (code {process.returncode}) before it was healthy; "
                f"see {log}: {_last_log_line(log)}"
            )
        if time.monotonic() > deadline:
            _terminate(pid)
            raise TandemError(
                f"the MLflow server on {HOST}:{port} was not healthy after {timeout_s:.0f} s; "
                f"see {log}: {_last_log_line(log)}"
            )
        time.sleep(0.5)


def _spawn_server(state_dir: Path, backend_store_uri: str, port: int) -> int:
    artifacts = state_dir / "artifacts"
    artifacts.mkdir(exist_ok=True)
    allowed_hosts = f"{HOST}:{port},localhost:{port}"
    command = [
        *(sys.executable, "-m", "mlflow", "server"),
        *("--backend-store-uri", backend_store_uri),
        *("--serve-artifacts", "--artifacts-destination", str(artifacts)),
        *("--host", HOST, "--port", str(port), "--allowed-hosts", allowed_hosts),
        *("--workers", str(MLFLOW_WORKERS)),
    ]
    environment = {
        **os.environ,
        "PGPASSFILE": str(state_dir / "pgpass"),
        # The job runner serves GenAI features (LLM judges, trace roll-ups) tandem does not use;
        # it starts seven huey consumer processes and leaves its queue directory in /dev/shm.
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    }
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_ID"):
        environment.pop(name, None)
    with (state_dir / "mlflow.log").open("ab") as log:
        # Its own session: stop() ends the server and its workers as one process group, and a
        # Ctrl-C in the terminal that ran `make up` does not reach it.
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=state_dir,
            env=environment,
            start_new_session=True,
        )
    _spawned[process.pid] = process
    return process.pid


def _postgres_port(cluster: local_postgres.Cluster, state: dict) -> int:
    """The last start's port while it is free, else a free one (so never a running 5432)."""
    port = state.get("postgres_port")
    if port and (local_postgres.running_port(cluster) or _port_free(port)):
        return port
    return free_port()


def start(
    state_dir: Path = DEFAULT_STATE_DIR,
    mlflow_port: int | None = None,
    postgres_port: int | None = None,
    timeout_s: float = HEALTH_TIMEOUT_S,
) -> StackInfo:
    """Start PostgreSQL and the MLflow server (or reuse them when running) and wait until MLflow
    is healthy. Ports: the given ones, else those of the last start, else MLflow on 5000 and
    PostgreSQL on a free port (never the system cluster's 5432)."""
    state_dir = Path(state_dir).resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    state = _load_state(state_dir)
    cluster = _cluster(state_dir)

    pg_port = local_postgres.start(cluster, postgres_port or _postgres_port(cluster, state))

    pid = _running_server(state_dir, state)
    if pid is not None and state.get("postgres_port") == pg_port:
        port = state["mlflow_port"]
        _wait_healthy(pid, port, state_dir / "mlflow.log", timeout_s)
        return StackInfo(state_dir, port, pg_port, pid, reused=True)
    if pid is not None:
        _terminate(pid)  # it talks to a PostgreSQL that is gone
    port = mlflow_port or state.get("mlflow_port") or DEFAULT_MLFLOW_PORT
    if not _port_free(port):
        raise TandemError(
            f"{HOST}:{port} is already in use (another MLflow server?); choose another MLflow "
            "port (make up MLFLOW_PORT=5001, tandem up --mlflow-port 5001)"
        )
    pid = _spawn_server(state_dir, cluster.uri(pg_port), port)
    # Recorded before the wait: a start interrupted there leaves a server `stop` still finds.
    state = {"mlflow_port": port, "postgres_port": pg_port, "mlflow_pid": pid}
    (state_dir / STATE_FILE).write_text(json.dumps(state, indent=2) + "\n")
    _wait_healthy(pid, port, state_dir / "mlflow.log", timeout_s)
    return StackInfo(state_dir, port, pg_port, pid)


def _terminate(pid: int, grace_s: float = 15.0) -> None:
    """End the server's process group: SIGTERM, then SIGKILL after the grace period."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace_s
    while True:
        process = _spawned.get(pid)
        if process is not None and process.poll() is not None:
            _spawned.pop(pid)
        try:
            os.killpg(pid, signal.SIGKILL if time.monotonic() > deadline else 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)


def stop(state_dir: Path = DEFAULT_STATE_DIR) -> list[str]:
    """Stop the MLflow server, then PostgreSQL; returns what was running (empty: nothing)."""
    state_dir = Path(state_dir).resolve()
    stopped = []
    pid = _running_server(state_dir, _load_state(state_dir))
    if pid is not None:
        _terminate(pid)
        stopped.append("mlflow")
    if local_postgres.stop(_cluster(state_dir)):
        stopped.append("postgres")
    return stopped


def status(state_dir: Path = DEFAULT_STATE_DIR) -> StackStatus:
    state_dir = Path(state_dir).resolve()
    state = _load_state(state_dir)
    pg_port = local_postgres.running_port(_cluster(state_dir))
    pid = _running_server(state_dir, state)
    if pid is None or not _healthy(state["mlflow_port"]):
        return StackStatus(pg_port, None)
    info = StackInfo(state_dir, state["mlflow_port"], state["postgres_port"], pid)
    return StackStatus(pg_port, info)


def describe(info: StackInfo) -> list[str]:
    """What `up` prints: the URL, the backend, the logs, and the export line last (on its own,
    so `eval "$(… up | tail -n 1)"` works)."""
    return [
        f"MLflow      {info.tracking_uri}" + (" (already running)" if info.reused else ""),
        f"backend     {info.backend_store_uri} (password in {info.passfile})",
        f"artifacts   {info.artifacts_dir} (proxied by the server)",
        f"logs        {info.mlflow_log}, {info.postgres_log}",
        f"export MLFLOW_TRACKING_URI={info.tracking_uri}",
    ]
