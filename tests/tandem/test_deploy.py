"""`tandem compile`, `tandem submit` and `tandem schedule` against a KFP v2beta1 API stand-in.

This is a contract test, not a live cluster: a stdlib HTTP server in a thread answers the subset
of the Kubeflow Pipelines v2beta1 REST API that kfp.Client 2.16 calls for these commands
(healthz, pipeline upload / upload_version, pipelines and versions listed by name, experiments,
runs, recurring runs and their enable / disable / delete) with JSON shaped like the real API
server's, and records every request. The tests run the commands in-process and assert what
reached the API: the uploaded bytes are the compiled IR, runs and recurring runs reference the
uploaded version with the given parameters and cron, the namespace and the bearer token travel
with the requests, and failures are one clear line. Whether a real KFP backend runs the IR is
not tested here (no cluster).
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import shutil
import socket
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from google.protobuf import json_format

from components.spec import default_spec_path, load_spec
from tandem import cli
from tandem.deploy.cluster_config import TRAINING_EXECUTORS, load_cluster_config
from tandem.deploy.package import MANIFEST_FILE, compile_package, load_package, read_ir

API = "/apis/v2beta1"
TOKEN = "test-token-1234"
NAMESPACE = "team-ml"
TFX_IMAGE = "registry.example/tandem-tfx:1.2.3"
TORCH_IMAGE = "registry.example/tandem-torch:1.2.3"
MLFLOW_URI = "http://mlflow.example:5000"
ROOT = "s3://tandem-artifacts/root"
# The gpu overlay's ConfigMap, with a team's own volume, mount and account.
GPU_CONFIGMAP = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "tandem-training"},
    "data": {
        "service-account": "team-steps",
        "runs-pvc": "team-runs",
        "runs-mount-path": "/data/runs",
        "accelerator-type": "nvidia.com/gpu",
        "node-selector": '{"nvidia.com/gpu.present": "true"}',
        "tolerations": '[{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]',
    },
}
# Where k8s/ mounts the shared PVC tandem-runs (k8s/base/training/configmap.yaml runs-mount-path).
RUNS_MOUNT = "/mnt/tandem-runs"
PIPELINES = {"tensorflow": "tandem-penguins-tfx", "pytorch": "tandem-penguins-pytorch"}


# --- the API stand-in ---------------------------------------------------------------------


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class FakeKfp:
    """State and request log of the stand-in API; `token` None accepts any caller."""

    token: str | None = TOKEN
    requests: list[Request] = field(default_factory=list)
    pipelines: dict[str, dict] = field(default_factory=dict)
    versions: dict[str, list[dict]] = field(default_factory=dict)
    uploads: dict[str, bytes] = field(default_factory=dict)
    experiments: dict[str, dict] = field(default_factory=dict)
    runs: dict[str, dict] = field(default_factory=dict)
    recurring: dict[str, dict] = field(default_factory=dict)

    def calls(self, method: str, path_part: str) -> list[Request]:
        return [r for r in self.requests if r.method == method and path_part in r.path]

    # Each handler returns (status, JSON body).
    def handle(self, request: Request) -> tuple[int, dict]:
        if self.token and request.headers.get("authorization") != f"Bearer {self.token}":
            return 401, {"error": "Unauthorized", "code": 16, "message": "Unauthenticated"}
        path = request.path.removeprefix(API)
        routes = [
            ("GET", "/healthz", lambda: (200, {"commit_sha": "abc", "multi_user": True})),
            ("POST", "/pipelines/upload", lambda: self._upload(request)),
            ("POST", "/pipelines/upload_version", lambda: self._upload_version(request)),
            ("GET", "/pipelines", lambda: self._list_pipelines(request)),
            ("GET", "/experiments", lambda: self._list_experiments(request)),
            ("POST", "/experiments", lambda: self._create_experiment(request)),
            ("POST", "/runs", lambda: self._create_run(request)),
            ("POST", "/recurringruns", lambda: self._create_recurring(request)),
            ("GET", "/recurringruns", lambda: self._list_recurring(request)),
        ]
        for method, route, handler in routes:
            if request.method == method and path == route:
                return handler()
        if request.method == "GET" and path.endswith("/versions"):
            return self._list_versions(request, path.split("/")[2])
        if path.startswith("/recurringruns/"):
            return self._change_recurring(request, path.removeprefix("/recurringruns/"))
        return 404, {"error": f"no route {request.method} {path}", "code": 5}

    def _upload(self, request: Request) -> tuple[int, dict]:
        name = request.query["name"]
        if any(p["display_name"] == name for p in self.pipelines.values()):
            return 409, {"error": "already exists", "code": 6, "message": "pipeline exists"}
        pipeline_id = str(uuid.uuid4())
        self.pipelines[pipeline_id] = {
            "pipeline_id": pipeline_id,
            "display_name": name,
            "namespace": request.query.get("namespace", ""),
            "created_at": "2026-01-01T00:00:00Z",
        }
        self.versions[pipeline_id] = []
        self._add_version(pipeline_id, name, _uploaded_file(request))
        return 200, self.pipelines[pipeline_id]

    def _upload_version(self, request: Request) -> tuple[int, dict]:
        pipeline_id = request.query["pipelineid"]
        if pipeline_id not in self.pipelines:
            return 404, {"error": "pipeline not found", "code": 5}
        return 200, self._add_version(pipeline_id, request.query["name"], _uploaded_file(request))

    def _add_version(self, pipeline_id: str, name: str, content: bytes) -> dict:
        version_id = str(uuid.uuid4())
        version = {
            "pipeline_id": pipeline_id,
            "pipeline_version_id": version_id,
            "display_name": name,
            "created_at": f"2026-01-01T00:00:{len(self.uploads):02d}Z",
        }
        self.versions[pipeline_id].append(version)
        self.uploads[version_id] = content
        return version

    def _list_pipelines(self, request: Request) -> tuple[int, dict]:
        found = [p for p in self.pipelines.values() if _matches(request, p)]
        return 200, ({"pipelines": found, "total_size": len(found)} if found else {})

    def _list_versions(self, request: Request, pipeline_id: str) -> tuple[int, dict]:
        found = [v for v in self.versions.get(pipeline_id, []) if _matches(request, v)]
        if request.query.get("sort_by") == "created_at desc":
            found = sorted(found, key=lambda v: v["created_at"], reverse=True)
        found = found[: int(request.query.get("page_size", 10))]
        return 200, ({"pipeline_versions": found, "total_size": len(found)} if found else {})

    def _list_experiments(self, request: Request) -> tuple[int, dict]:
        found = [e for e in self.experiments.values() if _matches(request, e)]
        return 200, ({"experiments": found, "total_size": len(found)} if found else {})

    def _create_experiment(self, request: Request) -> tuple[int, dict]:
        experiment = {**request.json(), "experiment_id": str(uuid.uuid4())}
        self.experiments[experiment["experiment_id"]] = experiment
        return 200, experiment

    def _create_run(self, request: Request) -> tuple[int, dict]:
        run = {**request.json(), "run_id": str(uuid.uuid4()), "state": "PENDING"}
        self.runs[run["run_id"]] = run
        return 200, run

    def _create_recurring(self, request: Request) -> tuple[int, dict]:
        recurring = {**request.json(), "recurring_run_id": str(uuid.uuid4()), "status": "ENABLED"}
        self.recurring[recurring["recurring_run_id"]] = recurring
        return 200, recurring

    def _list_recurring(self, request: Request) -> tuple[int, dict]:
        found = [r for r in self.recurring.values() if _matches(request, r)]
        return 200, ({"recurringRuns": found, "total_size": len(found)} if found else {})

    def _change_recurring(self, request: Request, target: str) -> tuple[int, dict]:
        recurring_id, _, verb = target.partition(":")
        if recurring_id not in self.recurring:
            return 404, {"error": "recurring run not found", "code": 5}
        if request.method == "DELETE":
            del self.recurring[recurring_id]
        else:
            self.recurring[recurring_id]["status"] = {"enable": "ENABLED", "disable": "DISABLED"}[
                verb
            ]
        return 200, {}


def _uploaded_file(request: Request) -> bytes:
    parser = email.parser.BytesParser(policy=email.policy.HTTP)
    header = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
    message = parser.parsebytes(header + request.body)
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") == "uploadfile":
            return part.get_payload(decode=True)
    raise AssertionError("no uploadfile part in the upload")


def _name_filter(request: Request) -> str | None:
    if "filter" not in request.query:
        return None
    (predicate,) = json.loads(request.query["filter"])["predicates"]
    assert predicate["key"] == "display_name"
    return predicate.get("stringValue") or predicate.get("string_value")


def _matches(request: Request, item: dict) -> bool:
    name = _name_filter(request)
    namespace = request.query.get("namespace")
    in_namespace = namespace is None or item.get("namespace", namespace) == namespace
    return in_namespace and (name is None or item["display_name"] == name)


def _handler(api: FakeKfp):
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            split = urlsplit(self.path)
            length = int(self.headers.get("content-length", 0))
            request = Request(
                self.command,
                split.path,
                {key: values[0] for key, values in parse_qs(split.query).items()},
                {key.lower(): value for key, value in self.headers.items()},
                self.rfile.read(length) if length else b"",
            )
            api.requests.append(request)
            status, body = api.handle(request)
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_DELETE = _serve

        def log_message(self, *args) -> None:
            pass

    return Handler


@pytest.fixture
def kfp_api():
    """The stand-in API on a free local port: yields (FakeKfp, base URL)."""
    api = FakeKfp()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(api))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield api, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


# --- helpers ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def package(tmp_path_factory) -> Path:
    """Both pipelines compiled once (TFX compiling imports TensorFlow: the slow part)."""
    output = tmp_path_factory.mktemp("package")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            sys,
            "argv",
            [
                "tandem",
                "compile",
                "--output",
                str(output),
                "--tfx-image",
                TFX_IMAGE,
                "--torch-image",
                TORCH_IMAGE,
                "--mlflow-uri",
                MLFLOW_URI,
                "--pipeline-root",
                ROOT,
            ],
        )
        with pytest.raises(SystemExit) as exit_info:
            cli.main()
    assert exit_info.value.code in (0, None)
    return output


@pytest.fixture
def home(tmp_path: Path, monkeypatch) -> Path:
    """kfp.Client reads ~/.config/kfp/context.json: an empty home keeps a user's out."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KF_PIPELINES_TOKEN", raising=False)
    return tmp_path


def _run(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["tandem", *args])
    code = 0
    try:
        cli.main()
    except SystemExit as exit_info:
        code = exit_info.code or 0
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    return lines[0]


def _executors(pipeline_spec) -> dict:
    return json_format.MessageToDict(pipeline_spec.deployment_spec)["executors"]


# --- compile ------------------------------------------------------------------------------


def test_compile_writes_loadable_irs_for_the_images_with_mlflow_on_every_step(package) -> None:
    from kfp import components

    loaded = load_package(package)
    assert {p.framework: p.name for p in loaded.pipelines} == PIPELINES
    images = {"tensorflow": TFX_IMAGE, "pytorch": TORCH_IMAGE}
    for pipeline in loaded.pipelines:
        path = loaded.path(pipeline)
        assert components.load_component_from_file(str(path)).name == pipeline.name
        spec, platform = read_ir(path)
        assert spec.pipeline_info.name == pipeline.name
        assert spec.default_pipeline_root == ROOT
        executors = _executors(spec)
        assert executors
        for executor in executors.values():
            container = executor["container"]
            assert container["image"] == images[pipeline.framework]
            assert container["env"] == [
                {"name": "MLFLOW_EXPERIMENT_NAME", "value": "tandem-penguins"},
                {"name": "MLFLOW_TRACKING_URI", "value": MLFLOW_URI},
            ]
        kubernetes = json_format.MessageToDict(platform.platforms["kubernetes"].deployment_spec)
        assert set(kubernetes["executors"]) == set(executors)
        for config in kubernetes["executors"].values():
            assert config["pvcMount"] == [{"constant": "tandem-runs", "mountPath": RUNS_MOUNT}]
            assert config["podMetadata"]["labels"] == {"tandem/pipeline-step": "true"}
    manifest = json.loads((package / MANIFEST_FILE).read_text())
    assert manifest["mlflow_tracking_uri"] == MLFLOW_URI
    assert manifest["mlflow_experiment"] == "tandem-penguins"


def test_compile_keeps_the_pytorch_pipeline_parameters(package) -> None:
    loaded = load_package(package)
    (torch,) = loaded.select(["pytorch"])
    spec, _ = read_ir(loaded.path(torch))
    parameters = spec.root.input_definitions.parameters
    assert {"spec_yaml", "output_dir", "seed", "max_retries"} <= set(parameters)
    assert parameters["output_dir"].default_value.string_value == RUNS_MOUNT
    assert loaded.path(torch).read_text().startswith("# PIPELINE DEFINITION")


def test_a_gpu_cluster_config_reaches_only_the_training_steps(tmp_path) -> None:
    """The gpu overlay's ConfigMap on a spec with GPUs: accelerator, node selector and
    tolerations on the two training executors, the shared volume and label on every step."""
    spec = yaml.safe_load(default_spec_path().read_text())
    spec["training"]["workers"]["gpus_per_node"] = 2
    (tmp_path / "gpu.yaml").write_text(yaml.safe_dump(spec))
    cluster = tmp_path / "cluster.yaml"
    cluster.write_text(yaml.safe_dump(GPU_CONFIGMAP))
    package = compile_package(
        load_spec(tmp_path / "gpu.yaml"),
        tmp_path / "out",
        cluster=load_cluster_config(cluster),
    )
    trained = set()
    for pipeline in package.pipelines:
        spec_ir, platform = read_ir(package.path(pipeline))
        configs = json_format.MessageToDict(platform.platforms["kubernetes"].deployment_spec)
        for name, executor in _executors(spec_ir).items():
            config = configs["executors"][name]
            assert config["pvcMount"] == [{"constant": "team-runs", "mountPath": "/data/runs"}]
            accelerator = executor["container"].get("resources", {}).get("accelerator")
            if name in TRAINING_EXECUTORS:
                trained.add(name)
                assert accelerator == {"resourceType": "nvidia.com/gpu", "resourceCount": "2"}
                assert config["nodeSelector"] == {"labels": {"nvidia.com/gpu.present": "true"}}
                assert config["tolerations"] == [
                    {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
                ]
            else:
                assert accelerator is None
                assert "nodeSelector" not in config and "tolerations" not in config
    assert trained == TRAINING_EXECUTORS
    assert package.service_accounts == {"tensorflow": "team-steps", "pytorch": "tandem-torchx"}


# --- submit -------------------------------------------------------------------------------


def _submit(monkeypatch, capsys, url: str, package: Path, *extra: str):
    return _run(
        monkeypatch,
        capsys,
        "submit",
        "--host",
        url,
        "--namespace",
        NAMESPACE,
        "--package",
        str(package),
        *extra,
    )


def test_submit_uploads_both_pipelines_and_runs_their_versions(
    kfp_api, package, home, monkeypatch, capsys
) -> None:
    api, url = kfp_api
    monkeypatch.setenv("KF_PIPELINES_TOKEN", TOKEN)
    code, out, err = _submit(monkeypatch, capsys, url, package, "--param", "seed=7")

    assert code == 0, err
    assert all(r.headers.get("authorization") == f"Bearer {TOKEN}" for r in api.requests)
    uploads = api.calls("POST", "/pipelines/upload")
    assert [r.query["name"] for r in uploads] == list(PIPELINES.values())
    assert all(r.query["namespace"] == NAMESPACE for r in uploads)
    loaded = load_package(package)
    by_name = {p.name: p for p in loaded.pipelines}
    for pipeline_id, versions in api.versions.items():
        name = api.pipelines[pipeline_id]["display_name"]
        assert api.uploads[versions[0]["pipeline_version_id"]] == (
            loaded.path(by_name[name]).read_bytes()
        )
    (experiment,) = api.experiments.values()
    assert experiment["display_name"] == "tandem-penguins"
    assert experiment["namespace"] == NAMESPACE
    runs = [r.json() for r in api.calls("POST", "/runs")]
    assert len(runs) == 2
    for run in runs:
        reference = run["pipeline_version_reference"]
        assert (
            api.versions[reference["pipeline_id"]][-1]["pipeline_version_id"]
            == (reference["pipeline_version_id"])
        )
        assert run["experiment_id"] == experiment["experiment_id"]
        assert run["runtime_config"]["pipeline_root"] == ROOT
    accounts = {
        api.pipelines[r["pipeline_version_reference"]["pipeline_id"]]["display_name"]: r[
            "service_account"
        ]
        for r in runs
    }
    # k8s/base/rbac: the PyTorch pipeline's train step launches TorchX jobs.
    assert accounts == {
        PIPELINES["tensorflow"]: "tandem-pipeline",
        PIPELINES["pytorch"]: "tandem-torchx",
    }
    parameters = {
        api.pipelines[r["pipeline_version_reference"]["pipeline_id"]]["display_name"]: r[
            "runtime_config"
        ].get("parameters", {})
        for r in runs
    }
    assert parameters == {PIPELINES["tensorflow"]: {}, PIPELINES["pytorch"]: {"seed": 7}}
    for run_id in api.runs:
        assert f"{url}/#/runs/details/{run_id}" in out


def test_a_second_submit_uploads_a_new_version_only_when_the_ir_changed(
    kfp_api, package, home, monkeypatch, capsys
) -> None:
    api, url = kfp_api
    args = ("--existing-token", TOKEN, "--framework", "pytorch")
    assert _submit(monkeypatch, capsys, url, package, *args)[0] == 0
    assert _submit(monkeypatch, capsys, url, package, *args)[0] == 0
    (pipeline_id,) = api.versions
    assert len(api.versions[pipeline_id]) == 2  # the first upload, then one hash-named version
    code, _, err = _submit(
        monkeypatch, capsys, url, package, *args, "--mlflow-uri", "http://other:5000"
    )
    assert code == 0, err
    versions = api.versions[pipeline_id]
    assert len(versions) == 3
    assert b"http://other:5000" in api.uploads[versions[-1]["pipeline_version_id"]]
    assert api.calls("POST", "/pipelines/upload_version")[-1].query["pipelineid"] == pipeline_id
    last_run = api.calls("POST", "/runs")[-1].json()
    assert (
        last_run["pipeline_version_reference"]["pipeline_version_id"]
        == (versions[-1]["pipeline_version_id"])
    )
    assert MLFLOW_URI.encode() in (package / "tandem-penguins-pytorch.yaml").read_bytes()


# --- schedule -----------------------------------------------------------------------------


def _schedule(monkeypatch, capsys, url: str, package: Path, *extra: str):
    return _run(
        monkeypatch,
        capsys,
        "schedule",
        "--host",
        url,
        "--namespace",
        NAMESPACE,
        "--existing-token",
        TOKEN,
        "--package",
        str(package),
        *extra,
    )


def test_schedule_creates_a_recurring_run_per_pipeline_with_kfp_cron(
    kfp_api, package, home, monkeypatch, capsys
) -> None:
    api, url = kfp_api
    code, out, err = _schedule(
        monkeypatch, capsys, url, package, "--cron", "0 3 * * *", "--param", "max_retries=3"
    )

    assert code == 0, err
    created = [r.json() for r in api.calls("POST", "/recurringruns")]
    assert sorted(r["display_name"] for r in created) == sorted(
        f"{name}-schedule" for name in PIPELINES.values()
    )
    for recurring in created:
        assert recurring["trigger"] == {"cron_schedule": {"cron": "0 0 3 * * *"}}
        assert recurring["mode"] == "ENABLE"
        assert recurring["max_concurrency"] == 1
        assert recurring["no_catchup"] is True
        reference = recurring["pipeline_version_reference"]
        assert (
            reference["pipeline_version_id"]
            == (api.versions[reference["pipeline_id"]][-1]["pipeline_version_id"])
        )
        assert recurring["runtime_config"]["pipeline_root"] == ROOT
    torch = next(r for r in created if "pytorch" in r["display_name"])
    assert torch["runtime_config"]["parameters"] == {"max_retries": 3}
    assert torch["service_account"] == "tandem-torchx"
    assert all(r.query.get("namespace") == NAMESPACE for r in api.calls("GET", "/recurringruns"))
    assert "created" in out


def test_scheduling_again_replaces_the_recurring_run(
    kfp_api, package, home, monkeypatch, capsys
) -> None:
    api, url = kfp_api
    args = ("--framework", "tensorflow", "--cron", "30 2 * * 1")
    assert _schedule(monkeypatch, capsys, url, package, *args)[0] == 0
    (first,) = api.recurring
    code, out, _ = _schedule(monkeypatch, capsys, url, package, *args)
    assert code == 0
    assert [r.path for r in api.calls("DELETE", "/recurringruns/")] == [
        f"{API}/recurringruns/{first}"
    ]
    (second,) = api.recurring
    assert second != first
    assert api.recurring[second]["trigger"]["cron_schedule"]["cron"] == "0 30 2 * * 1"
    assert "replaced" in out


@pytest.mark.parametrize(
    ("flag", "method", "suffix", "status"),
    [
        ("--pause", "POST", ":disable", "DISABLED"),
        ("--resume", "POST", ":enable", "ENABLED"),
        ("--delete", "DELETE", "", None),
    ],
)
def test_pause_resume_and_delete_hit_the_named_recurring_run(
    kfp_api, package, home, monkeypatch, capsys, flag, method, suffix, status
) -> None:
    api, url = kfp_api
    assert _schedule(monkeypatch, capsys, url, package, "--cron", "0 3 * * *")[0] == 0
    ids = {r["display_name"]: r["recurring_run_id"] for r in api.recurring.values()}
    torch_id = ids[f"{PIPELINES['pytorch']}-schedule"]

    code, out, err = _schedule(monkeypatch, capsys, url, package, flag, "--framework", "pytorch")

    assert code == 0, err
    (call,) = [r for r in api.requests if r.method == method and "/recurringruns/" in r.path]
    assert call.path == f"{API}/recurringruns/{torch_id}{suffix}"
    if status is None:
        assert torch_id not in api.recurring
    else:
        assert api.recurring[torch_id]["status"] == status
    assert torch_id in out


# --- errors -------------------------------------------------------------------------------


def test_an_unknown_recurring_run_is_one_line(kfp_api, package, home, monkeypatch, capsys):
    _, url = kfp_api
    code, _, err = _schedule(monkeypatch, capsys, url, package, "--pause")
    assert code == 2
    line = _one_error_line(err)
    assert "no recurring run named tandem-penguins-tfx-schedule" in line
    assert NAMESPACE in line


@pytest.mark.parametrize("token", [None, "wrong-token"])
def test_a_refused_token_is_one_line(kfp_api, package, home, monkeypatch, capsys, token) -> None:
    api, url = kfp_api
    args = ["submit", "--host", url, "--package", str(package)]
    if token:
        args += ["--existing-token", token]
    code, _, err = _run(monkeypatch, capsys, *args)
    assert code == 2
    line = _one_error_line(err)
    assert "401" in line and "--existing-token" in line and "KF_PIPELINES_TOKEN" in line
    assert api.calls("POST", "/pipelines/upload") == []
    assert "wrong-token" not in err


def test_a_forbidden_namespace_is_one_line(kfp_api, package, home, monkeypatch, capsys) -> None:
    api, url = kfp_api

    def forbidden(request: Request) -> tuple[int, dict]:
        if request.path.endswith("/healthz"):
            return 200, {"multi_user": True}
        return 403, {"error": "forbidden", "code": 7, "message": "no access to team-ml"}

    monkeypatch.setattr(api, "handle", forbidden)
    code, _, err = _submit(monkeypatch, capsys, url, package, "--existing-token", TOKEN)
    assert code == 2
    line = _one_error_line(err)
    assert "403" in line and "--namespace" in line and NAMESPACE in line


def test_an_unreachable_host_is_one_line(package, home, monkeypatch, capsys) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code, _, err = _submit(monkeypatch, capsys, f"http://127.0.0.1:{port}", package)
    assert code == 2
    assert "cannot reach Kubeflow Pipelines at http://127.0.0.1:" in _one_error_line(err)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--param", "nonsense=1"), "no chosen pipeline has this parameter"),
        (("--param", "seed=seven"), "expects number_integer"),
        (("--cron", "every day"), "expected 5 fields"),
    ],
)
def test_bad_arguments_fail_before_any_upload(
    kfp_api, package, home, monkeypatch, capsys, args, message
) -> None:
    api, url = kfp_api
    command = "schedule" if "--cron" in args else "submit"
    code, _, err = _run(
        monkeypatch, capsys, command, "--host", url, "--package", str(package), *args
    )
    assert code == 2
    assert message in _one_error_line(err)
    assert api.calls("POST", "/pipelines/upload") == []


def test_a_missing_package_is_one_line(tmp_path, home, monkeypatch, capsys) -> None:
    code, _, err = _run(
        monkeypatch, capsys, "submit", "--host", "http://x", "--package", str(tmp_path)
    )
    assert code == 2
    assert "run `tandem compile` first" in _one_error_line(err)


def test_a_package_copied_elsewhere_still_loads(package, tmp_path) -> None:
    copy = tmp_path / "moved"
    shutil.copytree(package, copy)
    assert load_package(copy).directory == copy.resolve()


def test_images_cannot_change_on_a_compiled_package(package, home, monkeypatch, capsys) -> None:
    code, _, err = _run(
        monkeypatch,
        capsys,
        "submit",
        "--host",
        "http://x",
        "--package",
        str(package),
        "--torch-image",
        "other:1",
    )
    assert code == 2
    assert "--torch-image: fixed when the package was compiled" in _one_error_line(err)


# --- a hanging API server -----------------------------------------------------------------

# TANDEM_KFP_TIMEOUT_S in these tests: a hanging call must end the command soon after it.
HANG_TIMEOUT_S = 2
# How long the stand-ins hang before they give in (the silent host drops its connections, the
# hanging route answers): a client without the timeout then fails differently, or succeeds, so
# the test fails instead of hanging.
HANG_GUARD_S = 60


@pytest.fixture
def silent_host():
    """A real TCP server on a free local port that accepts every connection and never sends a
    byte (for HANG_GUARD_S, then it drops them); yields its URL."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        guard = time.monotonic() + HANG_GUARD_S
        while not stop.is_set() and time.monotonic() < guard:
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue
        for connection in held:
            connection.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join(timeout=5)
    listener.close()


def _hang_on(api: FakeKfp, monkeypatch, method: str, route: str, after: int = 0):
    """From its (after+1)-th call on, the route of the stand-in never answers (until the test
    ends); every other call is answered as before. Returns the release event."""
    release = threading.Event()
    answer = api.handle
    seen = []

    def handle(request: Request) -> tuple[int, dict]:
        if request.method == method and request.path.removeprefix(API) == route:
            seen.append(request)
            if len(seen) > after:
                release.wait(timeout=HANG_GUARD_S)
        return answer(request)

    monkeypatch.setattr(api, "handle", handle)
    return release


def _with_timeout(monkeypatch, capsys, *args: str) -> tuple[int, str]:
    monkeypatch.setenv("TANDEM_KFP_TIMEOUT_S", str(HANG_TIMEOUT_S))
    code, _, err = _run(monkeypatch, capsys, *args)
    return code, err


def _assert_timed_out(code: int, err: str, url: str) -> None:
    """The command gave up on the hanging call itself (its timeout's line), before the stand-in
    gave in."""
    assert code == 2
    line = _one_error_line(err)
    assert f"Kubeflow Pipelines at {url} did not answer within {HANG_TIMEOUT_S} s" in line
    assert "TANDEM_KFP_TIMEOUT_S" in line


def test_a_host_that_never_answers_fails_within_the_timeout(
    silent_host, package, home, monkeypatch, capsys
) -> None:
    code, err = _with_timeout(
        monkeypatch, capsys, "submit", "--host", silent_host, "--package", str(package)
    )
    _assert_timed_out(code, err, silent_host)


@pytest.mark.parametrize(
    ("command", "method", "route", "after"),
    [
        # kfp.Client's constructor asks healthz again (no namespace given) after tandem's check.
        ("submit", "GET", "/healthz", 1),
        ("submit", "POST", "/pipelines/upload", 0),
        ("submit", "POST", "/runs", 0),
        ("schedule", "POST", "/recurringruns", 0),
    ],
)
def test_a_call_that_hangs_after_healthz_fails_within_the_timeout(
    kfp_api, package, home, monkeypatch, capsys, command, method, route, after
) -> None:
    api, url = kfp_api
    api.token = None
    release = _hang_on(api, monkeypatch, method, route, after)
    try:
        args = [command, "--host", url, "--package", str(package), "--framework", "pytorch"]
        if command == "schedule":
            args += ["--cron", "0 3 * * *"]
        code, err = _with_timeout(monkeypatch, capsys, *args)
    finally:
        release.set()
    _assert_timed_out(code, err, url)
    assert api.calls(method, route)


def test_a_bad_timeout_setting_is_one_line(kfp_api, package, home, monkeypatch, capsys) -> None:
    _, url = kfp_api
    monkeypatch.setenv("TANDEM_KFP_TIMEOUT_S", "soon")
    code, _, err = _run(monkeypatch, capsys, "submit", "--host", url, "--package", str(package))
    assert code == 2
    assert "TANDEM_KFP_TIMEOUT_S='soon': expected a positive number of seconds" in (
        _one_error_line(err)
    )
