"""`tandem submit` and `tandem schedule`: a compiled package onto a Kubeflow Pipelines v2 API.

Everything goes through `kfp.Client` (the v2beta1 REST API): pipelines are found by name and
uploaded, or get a new version named by the content hash of their IR (an unchanged IR reuses
its version); runs and recurring runs reference that version id. Every failure becomes one
TandemError line: an unreachable host, a refused token (401/403), an unknown recurring run, a
host that does not answer within the request timeout (TANDEM_KFP_TIMEOUT_S, default 60 s; every
request, kfp.Client's own included, is bounded by it, so a hanging API server cannot block a
command for ever).

KFP's scheduler parses cron with seconds first (6 fields); the usual 5-field form
(`0 3 * * *`, 03:00 daily) is converted by prefixing `0` seconds — passed through unchanged it
would mean "minute 3 of every hour".
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from components.common.errors import TandemError
from components.common.settings import seconds_setting
from tandem.deploy.package import CompiledPipeline, Package

TOKEN_ENV = "KF_PIPELINES_TOKEN"
HEALTHZ_PATH = "/apis/v2beta1/healthz"
HEALTHZ_TIMEOUT_S = 10.0
TIMEOUT_ENV = "TANDEM_KFP_TIMEOUT_S"
DEFAULT_TIMEOUT_S = 60.0
# The KFP filter proto's EQUALS operation, as kfp.Client sends it.
EQUALS = 1


@dataclass(frozen=True)
class Target:
    """Where to deploy: the KFP API endpoint, the user's namespace (multi-user mode) and token."""

    host: str
    namespace: str | None = None
    token: str | None = None
    timeout_s: float = field(default_factory=lambda: request_timeout_s())

    @property
    def url(self) -> str:
        return self.host.rstrip("/")

    def where(self) -> str:
        return self.url + (f" (namespace {self.namespace})" if self.namespace else "")


@dataclass(frozen=True)
class Uploaded:
    pipeline: CompiledPipeline
    pipeline_id: str
    version_id: str
    new_version: bool


@dataclass(frozen=True)
class Submitted:
    uploaded: Uploaded
    run_id: str
    url: str


@dataclass(frozen=True)
class Scheduled:
    name: str
    recurring_run_id: str
    action: str
    url: str


def kfp_cron(expression: str) -> str:
    """A cron expression in KFP's 6-field form (seconds first)."""
    fields = expression.split()
    if len(fields) == 5:
        return " ".join(["0", *fields])
    if len(fields) == 6:
        return " ".join(fields)
    raise TandemError(
        f"--cron {expression!r}: expected 5 fields (minute hour day month weekday) "
        "or KFP's 6 (seconds first)"
    )


def request_timeout_s() -> float:
    """Seconds any one request to the KFP API may take: TANDEM_KFP_TIMEOUT_S, default 60."""
    return seconds_setting(TIMEOUT_ENV, DEFAULT_TIMEOUT_S, allow_zero=False)


def _timed_out(target: Target, seconds: float | None = None) -> TandemError:
    """A request that got no answer within `seconds` (default: the target's timeout)."""
    return TandemError(
        f"Kubeflow Pipelines at {target.url} did not answer within "
        f"{seconds or target.timeout_s:g} s "
        f"({TIMEOUT_ENV}); check the API server (kubectl -n kubeflow get pods) or raise "
        f"{TIMEOUT_ENV}"
    )


def recurring_run_name(pipeline_name: str) -> str:
    return f"{pipeline_name}-schedule"


def _check_reachable(target: Target) -> None:
    """One quick health check, so a dead host or a refused token fails in seconds: kfp.Client
    would retry a failing health check 5 times, 5 s apart."""
    request = urllib.request.Request(target.url + HEALTHZ_PATH)
    if target.token:
        request.add_header("Authorization", f"Bearer {target.token}")
    timeout_s = min(HEALTHZ_TIMEOUT_S, target.timeout_s)
    try:
        with urllib.request.urlopen(request, timeout=timeout_s):
            return
    except urllib.error.HTTPError as exc:
        raise _http_error(target, exc.code, exc.reason, exc.read()) from None
    except TimeoutError:
        raise _timed_out(target, timeout_s) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise TandemError(
            f"cannot reach Kubeflow Pipelines at {target.url}: {reason}; check --host "
            "(e.g. kubectl port-forward -n kubeflow svc/ml-pipeline-ui 8080:80)"
        ) from None


def _http_error(target: Target, status: int, reason: str, body: bytes | str | None) -> TandemError:
    if status in (401, 403):
        return TandemError(
            f"Kubeflow Pipelines at {target.where()} refused the request ({status} {reason}): "
            f"pass a valid token with --existing-token or {TOKEN_ENV}"
            + (" and a namespace you may use (--namespace)" if status == 403 else "")
        )
    return TandemError(
        f"Kubeflow Pipelines at {target.where()} answered {status} {reason}: {_message(body)}"
    )


def _message(body: bytes | str | None) -> str:
    text = body.decode(errors="replace") if isinstance(body, bytes) else (body or "")
    try:
        document = json.loads(text)
    except ValueError:
        return text.strip().replace("\n", " ")[:300] or "(no details)"
    return str(document.get("message") or document.get("error") or document)[:300]


@contextlib.contextmanager
def _api_errors(target: Target) -> Iterator[None]:
    """kfp.Client's exceptions as one-line TandemErrors; its link prints are dropped (the
    commands print their own summary)."""
    import kfp_server_api
    import urllib3

    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            yield
    except (urllib3.exceptions.TimeoutError, TimeoutError):
        raise _timed_out(target) from None
    except kfp_server_api.ApiException as exc:
        if exc.status == 0:
            raise TandemError(f"Kubeflow Pipelines at {target.url}: {exc.reason}") from None
        raise _http_error(target, exc.status, exc.reason, exc.body) from None
    except urllib3.exceptions.HTTPError as exc:
        if isinstance(getattr(exc, "reason", None), urllib3.exceptions.TimeoutError):
            raise _timed_out(target) from None  # a MaxRetryError: the retry did not come
        raise TandemError(f"cannot reach Kubeflow Pipelines at {target.url}: {exc}") from None


def _kfp_client(target: Target):
    """kfp.Client on the target, every request of it bounded by the target's timeout."""
    import kfp

    class BoundedClient(kfp.Client):
        def get_kfp_healthz(self, sleep_duration: int = 5):
            # The constructor asks healthz before it returns: bound its requests first.
            _bound_requests(self, target.timeout_s)
            return super().get_kfp_healthz(sleep_duration)

    # kfp.Client treats the namespace "kubeflow" as "not set".
    client = BoundedClient(
        host=target.url, namespace=target.namespace or "kubeflow", existing_token=target.token
    )
    _bound_requests(client, target.timeout_s)
    return client


def _bound_requests(client, seconds: float) -> None:
    """Give every request of kfp.Client's generated API client a (connect, read) timeout: it
    passes none of its own (urllib3 then waits for ever), and kfp.Client's methods take none.
    A read that timed out is not retried (urllib3 would retry a GET three times)."""
    import urllib3

    rest = client._run_api.api_client.rest_client  # one client shared by every service API
    if "request" in vars(rest):
        return
    send = rest.request

    def request(*args, _request_timeout=None, **kwargs):
        return send(*args, _request_timeout=_request_timeout or (seconds, seconds), **kwargs)

    rest.request = request
    pool_manager = rest.pool_manager
    pool_manager.connection_pool_kw["retries"] = urllib3.Retry(total=3, read=0, redirect=3)
    pool_manager.clear()


def _name_filter(name: str) -> str:
    return json.dumps(
        {"predicates": [{"operation": EQUALS, "key": "display_name", "stringValue": name}]}
    )


class Deployer:
    """A connected kfp.Client plus the few operations tandem needs, each error one line."""

    def __init__(self, target: Target):
        self.target = target
        _check_reachable(target)
        with _api_errors(target):
            self.client = _kfp_client(target)

    def upload(self, package: Package, pipeline: CompiledPipeline) -> Uploaded:
        """Upload the pipeline, or a new version of it when one by that name exists (reusing
        a version with the same content)."""
        path = str(package.path(pipeline))
        version_name = f"{pipeline.name}-{_content_hash(package, pipeline)}"
        with _api_errors(self.target):
            listed = self.client.list_pipelines(
                filter=_name_filter(pipeline.name), namespace=self.target.namespace
            )
            existing = listed.pipelines or []
            if not existing:
                created = self.client.upload_pipeline(
                    path, pipeline_name=pipeline.name, namespace=self.target.namespace
                )
                version = self._latest_version(created.pipeline_id)
                return Uploaded(pipeline, created.pipeline_id, version, new_version=True)
            pipeline_id = existing[0].pipeline_id
            same = self.client.list_pipeline_versions(
                pipeline_id, filter=_name_filter(version_name)
            ).pipeline_versions
            if same:
                return Uploaded(pipeline, pipeline_id, same[0].pipeline_version_id, False)
            version = self.client.upload_pipeline_version(
                path, pipeline_version_name=version_name, pipeline_id=pipeline_id
            )
            return Uploaded(pipeline, pipeline_id, version.pipeline_version_id, True)

    def _latest_version(self, pipeline_id: str) -> str:
        versions = self.client.list_pipeline_versions(
            pipeline_id, page_size=1, sort_by="created_at desc"
        ).pipeline_versions
        if not versions:
            raise TandemError(
                f"Kubeflow Pipelines at {self.target.url} created pipeline {pipeline_id} "
                "without a version"
            )
        return versions[0].pipeline_version_id

    def experiment_id(self, name: str) -> str:
        with _api_errors(self.target):
            return self.client.create_experiment(
                name, namespace=self.target.namespace
            ).experiment_id

    def run(
        self,
        uploaded: Uploaded,
        experiment_id: str,
        params: Mapping[str, object],
        root: str,
        service_account: str,
    ) -> Submitted:
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        with _api_errors(self.target):
            run = self.client.run_pipeline(
                experiment_id=experiment_id,
                job_name=f"{uploaded.pipeline.name}-{stamp}",
                params=dict(params),
                pipeline_id=uploaded.pipeline_id,
                version_id=uploaded.version_id,
                pipeline_root=root,
                service_account=service_account,
            )
        return Submitted(uploaded, run.run_id, f"{self.target.url}/#/runs/details/{run.run_id}")

    def schedule(
        self,
        uploaded: Uploaded,
        experiment_id: str,
        cron: str,
        params: Mapping[str, object],
        root: str,
        service_account: str,
    ) -> Scheduled:
        """Create the pipeline's recurring run; one of the same name is replaced (KFP cannot
        update a recurring run in place)."""
        name = recurring_run_name(uploaded.pipeline.name)
        replaced = [self._delete(found) for found in self._recurring_runs(name)]
        with _api_errors(self.target):
            created = self.client.create_recurring_run(
                experiment_id=experiment_id,
                job_name=name,
                cron_expression=kfp_cron(cron),
                params=dict(params),
                pipeline_id=uploaded.pipeline_id,
                version_id=uploaded.version_id,
                pipeline_root=root,
                service_account=service_account,
                max_concurrency=1,
                no_catchup=True,
            )
        action = "replaced" if replaced else "created"
        return Scheduled(name, created.recurring_run_id, action, self._url(created))

    def change(self, pipeline_name: str, action: str) -> list[Scheduled]:
        """Pause, resume or delete the pipeline's recurring run(s), found by name."""
        name = recurring_run_name(pipeline_name)
        found = self._recurring_runs(name)
        if not found:
            raise TandemError(
                f"no recurring run named {name} on {self.target.where()}; "
                "create it with `tandem schedule --cron …`"
            )
        operations = {
            "paused": self.client.disable_recurring_run,
            "resumed": self.client.enable_recurring_run,
            "deleted": self.client.delete_recurring_run,
        }
        results = []
        for recurring_run in found:
            with _api_errors(self.target):
                operations[action](recurring_run.recurring_run_id)
            results.append(
                Scheduled(name, recurring_run.recurring_run_id, action, self._url(recurring_run))
            )
        return results

    def _recurring_runs(self, name: str) -> list:
        with _api_errors(self.target):
            listed = self.client.list_recurring_runs(
                filter=_name_filter(name), namespace=self.target.namespace, page_size=100
            )
        return [run for run in listed.recurring_runs or [] if run.display_name == name]

    def _delete(self, recurring_run) -> str:
        with _api_errors(self.target):
            self.client.delete_recurring_run(recurring_run.recurring_run_id)
        return recurring_run.recurring_run_id

    def _url(self, recurring_run) -> str:
        return f"{self.target.url}/#/recurringrun/details/{recurring_run.recurring_run_id}"


def _content_hash(package: Package, pipeline: CompiledPipeline) -> str:
    return hashlib.sha256(package.path(pipeline).read_bytes()).hexdigest()[:12]
