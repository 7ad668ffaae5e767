"""`tandem serve`: a registered model version (the champion by default) behind MLflow's own
scoring server, as `mlflow models serve --env-manager local` runs it: uvicorn with
`mlflow.pyfunc.scoring_server.app:app`, the model's local path and config in its environment.

uvicorn is started as `python -m uvicorn` with this interpreter, and this interpreter's
directory leads the PATH, so nothing depends on the venv's bin being on PATH (`mlflow models
serve` runs a bare `uvicorn` through bash, which fails with code 127 without it). The server
replaces this process (as `tandem tensorboard` does): a SIGTERM or Ctrl-C reaches uvicorn
itself, which stops its workers; they share its process group.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

from components.common.errors import TandemError
from components.common.tracking import (
    SQLITE_FILE,
    TRACKING_URI_ENV,
    check_reachable,
    tracking_uri,
)

APP = "mlflow.pyfunc.scoring_server.app:app"
# The environment MLflow's scoring server app reads: the model's local path and the model
# config overrides (mlflow.pyfunc.scoring_server._SERVER_MODEL_PATH, SERVING_MODEL_CONFIG).
MODEL_PATH_ENV = "__pyfunc_model_path__"
MODEL_CONFIG_ENV = "SERVING_MODEL_CONFIG"
EXAMPLE_FILE = "serving_input_example.json"


@dataclass(frozen=True)
class ServedModel:
    name: str
    alias: str
    version: str
    local_path: Path
    store: str


def store_uri(output_dir: Path) -> str:
    """The MLflow store to read; a missing embedded store is an error, not a new empty one, and
    an MLflow server that does not answer is one at once (not after MLflow's retries)."""
    uri = tracking_uri(output_dir)
    check_reachable(uri)
    database = Path(output_dir).resolve() / SQLITE_FILE
    if not os.environ.get(TRACKING_URI_ENV) and not database.is_file():
        raise TandemError(
            f"{database}: no MLflow store; run `tandem run --output-dir {output_dir}` first "
            f"(or set {TRACKING_URI_ENV})"
        )
    return uri


def resolve(name: str, alias: str, uri: str) -> ServedModel:
    """The version `name@alias` in the store at `uri`, its files on this machine (a local
    artifact store is read in place; a remote one is downloaded to a temporary directory)."""
    import mlflow
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    try:
        client.get_registered_model(name)
    except MlflowException as exc:
        raise TandemError(
            f"no registered model {name!r} in {uri}; run `tandem run` first "
            "(or pick another with --spec, --model or --output-dir)"
        ) from exc
    try:
        version = client.get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        raise TandemError(
            f"registered model {name!r} in {uri} has no version with the alias {alias!r} (only a "
            "blessed version becomes the champion); run `tandem run` again, or pass --alias"
        ) from exc
    location = client.get_model_version_download_uri(name, version.version)
    local = mlflow.artifacts.download_artifacts(artifact_uri=location, tracking_uri=uri)
    return ServedModel(name, alias, str(version.version), Path(local), uri)


def check_port(host: str, port: int) -> None:
    """Fail with one line when uvicorn could not bind (host, port); uvicorn binds it the same
    way (SO_REUSEADDR) a moment later."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise TandemError(f"--host {host}: not an address of this machine ({exc})") from exc
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise TandemError(
                    f"port {port} on {host} is in use; pick another with --port"
                ) from exc
            raise TandemError(f"cannot serve on {host}:{port}: {exc.strerror}") from exc


def server_command(host: str, port: int, workers: int) -> list[str]:
    return [
        sys.executable,
        *("-m", "uvicorn", "--host", host, "--port", str(port), "--workers", str(workers)),
        "--timeout-graceful-shutdown",
        "5",
        APP,
    ]


def server_environment(model: ServedModel, max_batch_rows: int) -> dict[str, str]:
    """This environment, plus the scoring server's model path and config override, with this
    interpreter's directory first on PATH."""
    bin_dir = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    return {
        **os.environ,
        "PATH": os.pathsep.join([bin_dir, path]) if path else bin_dir,
        MODEL_PATH_ENV: str(model.local_path),
        MODEL_CONFIG_ENV: json.dumps({"max_batch_rows": max_batch_rows}),
    }


def example_curl(host: str, port: int, model: ServedModel) -> str:
    body = model.local_path / EXAMPLE_FILE
    data = f"@{body}" if body.is_file() else "'{\"dataframe_records\": [{...}]}'"
    return f"curl -s http://{host}:{port}/invocations -H 'Content-Type: application/json' -d {data}"


def serve(model: ServedModel, host: str, port: int, workers: int, max_batch_rows: int):
    """Replace this process with the scoring server (never returns)."""
    command = server_command(host, port, workers)
    os.execve(sys.executable, command, server_environment(model, max_batch_rows))
