"""MLflow set up in one place: where the store is, which experiment, how step runs nest.

The store is `MLFLOW_TRACKING_URI` when set, else an embedded sqlite file inside the output
directory (no server needed). A step started with `MLFLOW_RUN_ID` in its environment (the way
Kubeflow's MLflow integration hands the pipeline's parent run to its steps) logs a nested run under
that parent; without it the step's run is top-level in the spec's experiment.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

from components.common.run_owner import (
    KILLED,
    TAG_CLOSED_REASON,
    close_orphan_runs,
    close_run,
    interrupted_reason,
    owner_tags,
)

SQLITE_FILE = "mlflow.db"
ARTIFACTS_DIR = "mlartifacts"
PARENT_RUN_ENV = "MLFLOW_RUN_ID"
TRACKING_URI_ENV = "MLFLOW_TRACKING_URI"
EXPERIMENT_ENV = "MLFLOW_EXPERIMENT_NAME"
GIT_REVISION_ENV = "TANDEM_GIT_REVISION"
# How long the up-front reachability check waits for a server that is away, and how often it asks.
WAIT_ENV = "TANDEM_MLFLOW_WAIT_S"
DEFAULT_WAIT_S = 60.0
WAIT_POLL_S = 1.0
# TensorBoard log root under tandem's output directory: <root>/<framework>/<run>, both frameworks.
LOG_ROOT_DIR = "logs"

TAG_FRAMEWORK = "tandem.framework"
TAG_FINGERPRINT = "tandem.dataset_fingerprint"
TAG_PIPELINE_RUN_ID = "tandem.pipeline_run_id"
TAG_GIT_REVISION = "tandem.git_revision"
TAG_STEP = "tandem.step"
TAG_SEED = "tandem.seed"
TAG_RUN_GROUP = "tandem.run_group"
# Every step run logs the wall seconds of its own work under this metric name.
STEP_SECONDS = "step_s"
# ... and its process's peak RSS during the step, in MiB (components.common.resources).
PEAK_RSS = "peak_rss_mb"
# ... and its RSS when that peak's window started, in MiB: peak - start is what the step added.
START_RSS = "start_rss_mb"
# The parent run logs the wall seconds of the whole pipeline run (ingest to push).
PIPELINE_SECONDS = "pipeline_wall_s"


def rss_metrics(peak_rss_mb: float, start_rss_mb: float | None) -> dict[str, float]:
    """A step's memory metrics: its peak and, when its peak window had a start (what
    `resources.reset_peak_rss` returned; None where the OS cannot reset the peak), that start.

    The peak is at least the start: Linux updates the high-water mark (VmHWM) lazily, so memory
    the process held at the reset and returned without an unmap (allocator trims) can leave VmHWM
    below the RSS read just after the reset."""
    if start_rss_mb is None:
        return {PEAK_RSS: peak_rss_mb}
    return {PEAK_RSS: max(peak_rss_mb, start_rss_mb), START_RSS: start_rss_mb}


def training_params(training, seed: int) -> dict[str, object]:
    """The train run's params both frameworks log under the same names (a TrainingSpec)."""
    return {
        "model": training.model.describe(),
        "hidden_sizes": list(training.hidden_sizes),
        "optimizer": training.optimizer,
        "learning_rate": training.learning_rate,
        "adam_epsilon": training.adam_epsilon,
        "batch_size": training.batch_size,
        "epochs": training.epochs,
        "seed": seed,
    }


def tracking_uri(output_dir: Path) -> str:
    configured = os.environ.get(TRACKING_URI_ENV)
    if configured:
        return configured
    return f"sqlite:///{(Path(output_dir) / SQLITE_FILE).resolve()}"


def experiment_name(spec_name: str) -> str:
    """`tandem-<spec name>`, unless MLFLOW_EXPERIMENT_NAME says otherwise (`tandem compile`
    sets it on every step of a cluster pipeline)."""
    return os.environ.get(EXPERIMENT_ENV) or f"tandem-{spec_name}"


def mlflow_wait_s() -> float:
    """How long the up-front check waits for an MLflow server that is away: TANDEM_MLFLOW_WAIT_S
    seconds, default 60 (0: fail at once)."""
    from components.common.settings import seconds_setting

    return seconds_setting(WAIT_ENV, DEFAULT_WAIT_S, allow_zero=True)


def _health(health: str, timeout_s: float) -> tuple[int | None, str]:
    """The status /health answered (None: no answer) and, unless 200, what was wrong."""
    from urllib.error import HTTPError, URLError
    from urllib.request import urlopen

    try:
        with urlopen(health, timeout=timeout_s) as response:
            return response.status, f"{health} answered {response.status}"
    except HTTPError as exc:
        return exc.code, f"{health} answered {exc.code}"
    except (URLError, OSError) as exc:
        return None, str(getattr(exc, "reason", exc))


def check_reachable(uri: str, timeout_s: float = 5.0) -> None:
    """Wait (up to TANDEM_MLFLOW_WAIT_S, default 60 s) for an MLflow server to answer /health,
    then fail with one clear message if it still does not.

    A server restarted or paused for a moment is waited for, with one line on stderr, so a run
    rides out a short outage; a server that is not there fails the run before any work starts
    instead of when MLflow's client gives up (7 retries, 120 s timeout each). Once running, the
    client's own retries carry each call over an outage (README: MLflow outages)."""
    from components.common.errors import TandemError

    if not uri.startswith(("http://", "https://")):
        return
    health = f"{uri.rstrip('/')}/health"
    wait_s = mlflow_wait_s()
    deadline = time.monotonic() + wait_s
    announced = False
    while (answer := _health(health, timeout_s))[0] != 200:
        problem = answer[1]
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        if not announced:
            print(
                f"waiting up to {wait_s:g} s for the MLflow tracking server {uri} ({problem}; "
                f"{WAIT_ENV})",
                file=sys.stderr,
                flush=True,
            )
            announced = True
        time.sleep(min(WAIT_POLL_S, remaining))
    status, problem = answer
    if status == 200:
        return
    waited = f" after waiting {wait_s:g} s ({WAIT_ENV})" if wait_s else ""
    if status is not None:
        raise TandemError(f"the MLflow tracking server {uri} is not healthy{waited}: {problem}")
    raise TandemError(
        f"the MLflow tracking server {uri} (MLFLOW_TRACKING_URI) cannot be reached{waited}: "
        f"{problem}; start it, or unset MLFLOW_TRACKING_URI to use the embedded store"
    )


def _ensure_experiment(client, name: str, output_dir: Path, uri: str) -> str:
    from mlflow.exceptions import MlflowException

    existing = client.get_experiment_by_name(name)
    if existing is not None:
        return existing.experiment_id
    artifact_location = None
    if uri.startswith("sqlite:"):
        artifact_location = (Path(output_dir) / ARTIFACTS_DIR).resolve().as_uri()
    try:
        return client.create_experiment(name, artifact_location=artifact_location)
    except MlflowException:
        created = client.get_experiment_by_name(name)
        if created is None:
            raise
        return created.experiment_id


@contextmanager
def step_run(
    step: str,
    spec_name: str,
    output_dir: Path,
    tags: dict[str, str] | None = None,
    system_metrics: bool = False,
):
    """An active MLflow run for one pipeline step (nested under MLFLOW_RUN_ID when given).
    system_metrics: MLflow samples CPU, memory (and GPU) use into the run while it is open."""
    import mlflow
    from mlflow.tracking import MlflowClient
    from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

    Path(output_dir).mkdir(parents=True, exist_ok=True)
    uri = tracking_uri(output_dir)
    check_reachable(uri)
    client = MlflowClient(uri)
    run_tags = {TAG_STEP: step, **owner_tags(), **(tags or {})}
    parent = os.environ.get(PARENT_RUN_ENV)
    if parent:
        experiment_id = client.get_run(parent).info.experiment_id
        run_tags[MLFLOW_PARENT_RUN_ID] = parent
    else:
        experiment_id = _ensure_experiment(
            client, experiment_name(spec_name), Path(output_dir), uri
        )
    run = client.create_run(experiment_id, run_name=step, tags=run_tags)
    with _environment_kept():
        mlflow.set_tracking_uri(uri)
        try:
            with mlflow.start_run(
                run_id=run.info.run_id, log_system_metrics=system_metrics
            ) as active:
                yield active
        except KeyboardInterrupt as stop:
            # MLflow ends an interrupted run FAILED; it was stopped, not broken.
            close_run(client, run.info.run_id, interrupted_reason(stop))
            raise
        finally:
            # The fluent API's URI would otherwise outlive the step and win over
            # MLFLOW_TRACKING_URI in everything the process does next (models:/ lookups too).
            mlflow.set_tracking_uri(None)


@contextmanager
def _environment_kept():
    """MLflow's fluent API sets MLFLOW_TRACKING_URI and unsets MLFLOW_RUN_ID as it goes; a step
    leaves the process environment as it found it, so the next step still sees its parent run."""
    with _environment({}):
        yield


@contextmanager
def _environment(values: dict[str, str]):
    """Set `values` for the duration; afterwards MLflow's variables are as they were."""
    names = {PARENT_RUN_ENV, TRACKING_URI_ENV, *values}
    saved = {name: os.environ.get(name) for name in names}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def git_revision() -> str:
    """The revision of the code that runs: TANDEM_GIT_REVISION (set in images), else git."""
    configured = os.environ.get(GIT_REVISION_ENV)
    if configured:
        return configured
    checkout = Path(__file__).resolve().parents[2]
    try:
        completed = subprocess.run(
            ["git", "-C", str(checkout), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return completed.stdout.strip()


@contextmanager
def pipeline_run(
    spec_name: str,
    framework: str,
    output_dir: Path,
    pipeline_run_id: str | None = None,
    tags: dict[str, str] | None = None,
):
    """The parent run of one pipeline run. Inside it MLFLOW_RUN_ID and MLFLOW_TRACKING_URI name
    this run and store, so every step (and every process a step starts) nests its run under it.
    The run ends FINISHED, FAILED when the block raises, KILLED (with the reason) when it is
    interrupted (Ctrl-C, or the SIGTERM `tandem run` turns into an interrupt). The dataset
    fingerprint is known only after ingest: `tag_pipeline_run` adds it. `tags` are added to the
    parent run's (e.g. the seed and the run group of a `tandem run`). First, the store's runs
    left RUNNING by a dead process are closed (`run_owner.close_orphan_runs`); the parent run is
    tagged with this process as its owner for the next one to judge.
    """
    from mlflow.tracking import MlflowClient

    Path(output_dir).mkdir(parents=True, exist_ok=True)
    uri = tracking_uri(output_dir)
    check_reachable(uri)
    client = MlflowClient(uri)
    experiment_id = _ensure_experiment(client, experiment_name(spec_name), Path(output_dir), uri)
    pipeline_run_id = pipeline_run_id or uuid.uuid4().hex[:12]
    close_orphan_runs(client, closing=f"pipeline run {pipeline_run_id}")
    tags = {
        TAG_FRAMEWORK: framework,
        TAG_PIPELINE_RUN_ID: pipeline_run_id,
        TAG_GIT_REVISION: git_revision(),
        **owner_tags(),
        **(tags or {}),
    }
    run = client.create_run(experiment_id, run_name=f"{framework}-{pipeline_run_id}", tags=tags)
    status = "FAILED"
    try:
        with _environment({PARENT_RUN_ENV: run.info.run_id, TRACKING_URI_ENV: uri}):
            yield run
        status = "FINISHED"
    except KeyboardInterrupt as stop:
        status = KILLED
        client.set_tag(run.info.run_id, TAG_CLOSED_REASON, interrupted_reason(stop))
        raise
    finally:
        client.set_terminated(run.info.run_id, status)


def run_location(uri: str, run) -> str:
    """Where a person finds the run: experiment and run ids under the tracking URI."""
    return f"{uri} experiment {run.info.experiment_id} run {run.info.run_id}"


def _parent_run_client(caller: str):
    """An MLflow client on the pipeline's store and the parent run MLFLOW_RUN_ID names."""
    from mlflow.tracking import MlflowClient

    parent = os.environ.get(PARENT_RUN_ENV)
    if not parent:
        raise RuntimeError(f"{caller} is called inside pipeline_run")
    return MlflowClient(os.environ.get(TRACKING_URI_ENV)), parent


def log_pipeline_metrics(metrics: dict[str, float]) -> None:
    """Log metrics to the pipeline's parent run (the one MLFLOW_RUN_ID names)."""
    client, parent = _parent_run_client("log_pipeline_metrics")
    for key, value in metrics.items():
        client.log_metric(parent, key, value)


def tag_pipeline_run(tags: dict[str, str]) -> None:
    """Add tags to the pipeline's parent run (the one MLFLOW_RUN_ID names)."""
    client, parent = _parent_run_client("tag_pipeline_run")
    for key, value in tags.items():
        client.set_tag(parent, key, value)
