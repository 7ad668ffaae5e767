"""A stand-in for the KFP v2 driver and launcher: run one container task of a compiled IR inside
the real image, with the IR's own command and args.

For a task of the root DAG, `Launcher.run`:
- resolves its inputs as the driver does: `runtimeValue` constants, `componentInputParameter`
  (the pipeline's run parameters over its declared defaults), `taskOutputParameter` and
  `taskOutputArtifact` from the outputs of tasks run before (what `run` returned for them), and
  the component's own defaults for optional inputs the task leaves out;
- builds the ExecutorInput as `kfp.local.executor_input_utils.construct_executor_input` does:
  `inputs.parameterValues`, `inputs.artifacts` (name, type, uri, metadata), one output artifact
  per declared output at `<pipeline root>/<task>/<output>`, output parameter files at
  `<pipeline root>/<task>/<parameter>`, `outputs.outputFile` at
  `<pipeline root>/<task>/executor_output.json`; the pipeline root is a folder of the runs
  mount, so every URI is a path the container sees;
- substitutes the placeholders (`{{$}}`, `{{$.inputs.parameters['x']}}`, `{{$.outputs...}}`,
  IfPresent/Concat) with kfp.local's own `placeholder_utils.replace_placeholders`;
- runs the command in a fresh container of the image (`buildah from`, `buildah run --isolation
  chroot --user <uid:gid>`, the runs folder bind-mounted, the executor's `container.env` and the
  caller's environment as `-e`), stdout and stderr into `<pipeline root>/<task>.log` on the host;
- reads back executor_output.json (output parameters, artifact URIs and metadata) and the output
  parameter files, as the launcher publishes them for downstream tasks.

One divergence, for TFX's IR: KubeflowV2DagRunner writes pipeline spec schema 2.0.0, whose
parameters are legacy-typed (`type: STRING`) and whose constants are the deprecated
`runtimeValue.constantValue`. TFX's `kubeflow_v2_run_executor` reads exec properties from the
legacy `inputs.parameters` field unless the IR passes `--json_serialized_inputs_spec_args` (schema
2.1), so for a legacy-typed input this launcher fills `inputs.parameters` as well as
`inputs.parameterValues`, as Vertex AI Pipelines does for such IRs (TFX's own test data shows
both). The open-source KFP v2 driver resolves only `runtimeValue.constant`: it rejects
`constantValue` ("param runtime value spec of type ... not implemented").

Not done, because these IRs run without them: retries (`retryPolicy`), caching, `triggerPolicy`
conditions and sub-DAGs (the PyTorch pipeline's push step lives in one; `run_tasks` skips
non-container tasks), iterators, importer and resolver executors, lifecycle hooks (TFX's
ExampleGen `preCacheCheck` driver, which only computes a span and fingerprint for the cache),
resource requests and limits, and the KFP_POD_* environment the launcher sets.
"""

from __future__ import annotations

import graphlib
import subprocess
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.images.containers import IMAGE_USER, container, make_writable, run_argv
from tests.processes import log_tail, stop_group

EXECUTOR_OUTPUT = "executor_output.json"
DEFAULT_TIMEOUT_S = 900.0
# Spec 2.0.0's legacy parameter types and the python type of each.
LEGACY_TYPES = {"STRING": str, "INT": int, "DOUBLE": float}
LEGACY_VALUE_FIELDS = {"stringValue": str, "intValue": int, "doubleValue": float}
LEGACY_FIELD_OF_TYPE = {"STRING": "stringValue", "INT": "intValue", "DOUBLE": "doubleValue"}


class TaskFailed(RuntimeError):
    """A task's container exited non-zero (or ran past its timeout)."""


@dataclass(frozen=True)
class RunsMount:
    """A host folder and where the containers see it."""

    host: Path
    container: str

    def host_path(self, container_path: str) -> Path:
        root = self.container.rstrip("/")
        if container_path != root and not container_path.startswith(f"{root}/"):
            raise ValueError(f"{container_path} is not under the runs mount {root}")
        return self.host / container_path[len(root) :].lstrip("/")


@dataclass(frozen=True)
class Artifact:
    """One runtime artifact as KFP passes it on: its type as the IR declares it
    (`schemaTitle`/`schemaVersion`, or TFX's `instanceSchema`), URI and metadata."""

    name: str
    type: dict
    uri: str
    metadata: dict = field(default_factory=dict)

    def runtime_artifact(self) -> dict:
        return {"name": self.name, "type": self.type, "uri": self.uri, "metadata": self.metadata}


@dataclass(frozen=True)
class TaskOutputs:
    task: str
    parameters: dict[str, Any]
    artifacts: dict[str, Artifact]
    log: Path
    wall_s: float


def pipeline_spec(document: Mapping) -> dict:
    """The PipelineSpec of a compiled IR: KFP's YAML, or TFX's PipelineJob (`pipelineSpec`)."""
    return dict(document.get("pipelineSpec", document))


def _legacy_constant(value: Mapping[str, Any]) -> Any:
    """A python value from a legacy `Value` ({"intValue": "15"})."""
    ((kind, raw),) = value.items()
    return LEGACY_VALUE_FIELDS[kind](raw)


def _legacy_value(type_name: str, value: Any) -> dict:
    """A legacy `Value` for an input of legacy type `type_name` (INT: {"intValue": 15})."""
    return {LEGACY_FIELD_OF_TYPE[type_name]: LEGACY_TYPES[type_name](value)}


@dataclass
class Launcher:
    """Runs the container tasks of one compiled pipeline in `image`; `parameters` are the run's
    pipeline parameters (over the IR's defaults), `env` extra container environment."""

    spec: dict
    image: str
    mount: RunsMount
    pipeline_root: str
    parameters: Mapping[str, Any] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    user: str = IMAGE_USER
    timeout_s: float = DEFAULT_TIMEOUT_S

    def __post_init__(self) -> None:
        self.spec = pipeline_spec(self.spec)
        self.mount.host_path(self.pipeline_root)  # refuses a root outside the mount

    # --- the IR -----------------------------------------------------------------------------

    @property
    def tasks(self) -> dict[str, dict]:
        return self.spec["root"]["dag"]["tasks"]

    def component(self, task: str) -> dict:
        return self.spec["components"][self.tasks[task]["componentRef"]["name"]]

    def executor(self, task: str) -> dict:
        label = self.component(task).get("executorLabel")
        return self.spec["deploymentSpec"]["executors"][label] if label else {}

    def is_container_task(self, task: str) -> bool:
        return "container" in self.executor(task)

    def order(self) -> list[str]:
        """The root DAG's tasks, each after the tasks it depends on."""
        graph = {name: sorted(self.tasks[name].get("dependentTasks", [])) for name in self.tasks}
        return list(graphlib.TopologicalSorter(dict(sorted(graph.items()))).static_order())

    def run_parameters(self) -> dict[str, Any]:
        declared = self.spec["root"].get("inputDefinitions", {}).get("parameters", {})
        values = {name: d["defaultValue"] for name, d in declared.items() if "defaultValue" in d}
        unknown = sorted(set(self.parameters) - set(declared))
        if unknown:
            raise ValueError(f"the pipeline has no parameter {', '.join(unknown)}")
        return {**values, **self.parameters}

    # --- the driver -----------------------------------------------------------------------

    def _parameter(self, task: str, name: str, spec: dict, upstream: Mapping[str, TaskOutputs]):
        if "componentInputParameter" in spec:
            return self.run_parameters()[spec["componentInputParameter"]]
        if "taskOutputParameter" in spec:
            source = spec["taskOutputParameter"]
            return self._upstream(task, source["producerTask"], upstream).parameters[
                source["outputParameterKey"]
            ]
        runtime = spec.get("runtimeValue", {})
        if "constant" in runtime:
            return runtime["constant"]
        if "constantValue" in runtime:
            return _legacy_constant(runtime["constantValue"])
        raise NotImplementedError(f"task {task!r}: input parameter {name!r} is {spec}")

    def _upstream(self, task: str, producer: str, upstream: Mapping[str, TaskOutputs]):
        if producer not in upstream:
            raise ValueError(f"task {task!r} needs the outputs of {producer!r}, which did not run")
        return upstream[producer]

    def _input_parameters(self, task: str, upstream: Mapping[str, TaskOutputs]) -> dict:
        given = self.tasks[task].get("inputs", {}).get("parameters", {})
        values = {name: self._parameter(task, name, spec, upstream) for name, spec in given.items()}
        declared = self.component(task).get("inputDefinitions", {}).get("parameters", {})
        for name, definition in declared.items():
            if name not in values and "defaultValue" in definition:
                values[name] = definition["defaultValue"]
        return values

    def _input_artifacts(self, task: str, upstream: Mapping[str, TaskOutputs]) -> dict:
        artifacts = {}
        for name, spec in self.tasks[task].get("inputs", {}).get("artifacts", {}).items():
            if "taskOutputArtifact" not in spec:
                raise NotImplementedError(f"task {task!r}: input artifact {name!r} is {spec}")
            source = spec["taskOutputArtifact"]
            produced = self._upstream(task, source["producerTask"], upstream)
            artifacts[name] = produced.artifacts[source["outputArtifactKey"]]
        return artifacts

    def task_root(self, task: str) -> str:
        return f"{self.pipeline_root.rstrip('/')}/{task}"

    def executor_input(self, task: str, upstream: Mapping[str, TaskOutputs]) -> dict:
        """The ExecutorInput JSON the task's container receives for `{{$}}`."""
        from google.protobuf import json_format
        from kfp.compiler.pipeline_spec_builder import to_protobuf_value
        from kfp.local.executor_input_utils import executor_input_to_dict
        from kfp.pipeline_spec import pipeline_spec_pb2

        component = self.component(task)
        root = self.task_root(task)
        parameters = self._input_parameters(task, upstream)
        declared = component.get("inputDefinitions", {}).get("parameters", {})
        legacy = {
            name: _legacy_value(declared[name]["type"], value)
            for name, value in parameters.items()
            if "type" in declared.get(name, {})
        }
        outputs = component.get("outputDefinitions", {})
        output_artifacts = {
            name: Artifact(name, spec["artifactType"], f"{root}/{name}")
            for name, spec in outputs.get("artifacts", {}).items()
        }
        document = {
            "inputs": {
                "parameterValues": {
                    name: json_format.MessageToDict(to_protobuf_value(value))
                    for name, value in parameters.items()
                },
                "parameters": legacy,
                "artifacts": {
                    name: {"artifacts": [artifact.runtime_artifact()]}
                    for name, artifact in self._input_artifacts(task, upstream).items()
                },
            },
            "outputs": {
                "parameters": {
                    name: {"outputFile": f"{root}/{name}"} for name in outputs.get("parameters", {})
                },
                "artifacts": {
                    name: {"artifacts": [artifact.runtime_artifact()]}
                    for name, artifact in output_artifacts.items()
                },
                "outputFile": f"{root}/{EXECUTOR_OUTPUT}",
            },
        }
        message = json_format.ParseDict(document, pipeline_spec_pb2.ExecutorInput())
        component_spec = json_format.ParseDict(
            component, pipeline_spec_pb2.ComponentSpec(), ignore_unknown_fields=True
        )
        return executor_input_to_dict(message, component_spec)

    def command(self, task: str, executor_input: dict) -> list[str]:
        """The container's command and args with every placeholder substituted."""
        from kfp.local.placeholder_utils import replace_placeholders

        container = self.executor(task)["container"]
        return replace_placeholders(
            full_command=[*container.get("command", []), *container.get("args", [])],
            executor_input_dict=executor_input,
            pipeline_resource_name=self.spec["pipelineInfo"]["name"],
            task_resource_name=task,
            pipeline_root=self.pipeline_root,
            unique_pipeline_id=Path(self.pipeline_root).name,
        )

    # --- the launcher ---------------------------------------------------------------------

    def run(self, task: str, upstream: Mapping[str, TaskOutputs] | None = None) -> TaskOutputs:
        """Run `task` in a fresh container of the image; its outputs, for downstream tasks."""
        upstream = upstream or {}
        if not self.is_container_task(task):
            raise ValueError(f"task {task!r} is not a container task")
        spec = self.tasks[task]
        if "triggerPolicy" in spec or "iteratorPolicy" in spec or "parameterIterator" in spec:
            raise NotImplementedError(f"task {task!r}: conditions and iterators")
        executor_input = self.executor_input(task, upstream)
        argv = self.command(task, executor_input)
        task_dir = self.mount.host_path(self.task_root(task))
        self._make_writable_dir(task_dir)
        log = task_dir.parent / f"{task}.log"
        env = {
            item["name"]: item.get("value", "")
            for item in self.executor(task)["container"].get("env", [])
        }
        started = time.perf_counter()
        self._run_in_image(task, argv, {**env, **self.env}, log)
        wall_s = time.perf_counter() - started
        parameters, artifacts = self._read_outputs(task, executor_input)
        return TaskOutputs(task, parameters, artifacts, log, wall_s)

    def _make_writable_dir(self, directory: Path) -> None:
        """The task's folder and the folders made for it, writable by the image's user, as
        the whole runs volume is (a step may write beside its task folder: TFX's Pusher)."""
        made = [
            path
            for path in (directory, *directory.parents)
            if path.is_relative_to(self.mount.host) and not path.exists()
        ]
        directory.mkdir(parents=True, exist_ok=True)
        for path in made:
            make_writable(path, self.user)

    def _run_in_image(self, task: str, argv: list[str], env: Mapping[str, str], log: Path) -> None:
        # A pod's hostname resolves to its own address (the kubelet writes /etc/hosts);
        # torchrun's rendezvous connects to it.
        hostname = task.lower()
        volumes = {self.mount.host: self.mount.container}
        with container(self.image, hosts={hostname: "127.0.0.1"}) as name, log.open("w") as output:
            command = run_argv(name, argv, volumes, env, self.user, hostname)
            process = subprocess.Popen(
                command, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
            )
            try:
                code = process.wait(timeout=self.timeout_s)
            except subprocess.TimeoutExpired:
                stop_group(process)
                raise TaskFailed(
                    f"task {task!r} ran past {self.timeout_s:.0f} s; log: {log}"
                ) from None
            except BaseException:  # an interrupted test leaves no container running
                stop_group(process)
                raise
        if code != 0:
            raise TaskFailed(
                f"task {task!r} exited with code {code}; log: {log}\n{log_tail(log, 2000)}"
            )

    def _read_outputs(self, task: str, executor_input: dict) -> tuple[dict, dict[str, Artifact]]:
        """Output parameters (their files first, then executor_output.json) and artifacts (the
        URIs given, with the URI and metadata the executor wrote back)."""
        from google.protobuf import json_format
        from kfp.local.executor_output_utils import (
            cast_protobuf_numbers,
            pb2_value_to_python,
            special_dsl_outputpath_read,
        )
        from kfp.pipeline_spec import pipeline_spec_pb2

        outputs = executor_input["outputs"]
        written = pipeline_spec_pb2.ExecutorOutput()
        output_file = self.mount.host_path(outputs["outputFile"])
        if output_file.is_file():
            json_format.Parse(output_file.read_text(), written, ignore_unknown_fields=True)
        declared = json_format.ParseDict(
            self.component(task), pipeline_spec_pb2.ComponentSpec(), ignore_unknown_fields=True
        ).output_definitions.parameters
        parameters = {}
        for name, spec in outputs.get("parameters", {}).items():
            path = self.mount.host_path(spec["outputFile"])
            if path.is_file():
                parameters[name] = special_dsl_outputpath_read(
                    name, str(path), declared[name].parameter_type
                )
            elif name in written.parameter_values:
                parameters[name] = pb2_value_to_python(written.parameter_values[name])
        parameters = cast_protobuf_numbers(parameters, declared)
        artifacts = {}
        for name, listed in outputs.get("artifacts", {}).items():
            (given,) = listed["artifacts"]
            returned = written.artifacts[name].artifacts if name in written.artifacts else []
            back = json_format.MessageToDict(returned[0]) if returned else {}
            artifacts[name] = Artifact(
                name=given["name"],
                type=given["type"],
                uri=back.get("uri") or given["uri"],
                metadata=back.get("metadata", {}),
            )
        return parameters, artifacts


def run_tasks(
    launcher: Launcher,
    exclude: Collection[str] = (),
    upstream: Mapping[str, TaskOutputs] | None = None,
) -> dict[str, TaskOutputs]:
    """Run the root DAG's container tasks in dependency order, except `exclude`; tasks that are
    not containers (sub-DAGs such as a dsl.If branch, importers, resolvers) are skipped.
    `upstream`: outputs of tasks run before (not run again). Returns every task's outputs."""
    done = dict(upstream or {})
    for task in launcher.order():
        if task in exclude or task in done or not launcher.is_container_task(task):
            continue
        done[task] = launcher.run(task, done)
    return done
