"""What one TFX pipeline run did, read back from ML Metadata: each node's execution state
(COMPLETE, CACHED, FAILED, …) and its output artifacts.

LocalDagRunner returns nothing; MLMD is its record. A run is the newest `pipeline_run` context of
the pipeline (LocalDagRunner names it with the start time).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

PIPELINE_RUN_CONTEXT = "pipeline_run"
NODE_CONTEXT = "node"


@dataclass
class NodeRecord:
    node_id: str
    state: str
    outputs: dict[str, list] = field(default_factory=dict)

    def output(self, key: str):
        """The single output artifact under `key` (an MLMD Artifact proto), or None."""
        artifacts = self.outputs.get(key, [])
        return artifacts[0] if artifacts else None


def _store(metadata_path: Path):
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2

    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = str(metadata_path)
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    return metadata_store.MetadataStore(config)


def _outputs(store, execution_id: int) -> dict[str, list]:
    from ml_metadata.proto import metadata_store_pb2

    events = [
        event
        for event in store.get_events_by_execution_ids([execution_id])
        if event.type in (metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.DECLARED_OUTPUT)
    ]
    artifacts = {a.id: a for a in store.get_artifacts_by_id([e.artifact_id for e in events])}
    outputs: dict[str, list] = {}
    for event in events:
        key = next((step.key for step in event.path.steps if step.HasField("key")), "")
        outputs.setdefault(key, []).append(artifacts[event.artifact_id])
    return outputs


def latest_run(metadata_path: Path, pipeline_name: str) -> dict[str, NodeRecord]:
    """Node id → record for the newest run of `pipeline_name` in the MLMD sqlite file."""
    from ml_metadata.proto import metadata_store_pb2

    store = _store(metadata_path)
    pipeline = store.get_context_by_type_and_name("pipeline", pipeline_name)
    if pipeline is None:
        return {}
    runs = [
        context
        for context in store.get_children_contexts_by_context(pipeline.id)
        if context.type == PIPELINE_RUN_CONTEXT
    ]
    if not runs:
        return {}
    run = max(runs, key=lambda context: context.create_time_since_epoch)
    prefix = f"{pipeline_name}."
    records = {}
    for execution in store.get_executions_by_context(run.id):
        nodes = [
            context.name.removeprefix(prefix)
            for context in store.get_contexts_by_execution(execution.id)
            if context.type == NODE_CONTEXT
        ]
        state = metadata_store_pb2.Execution.State.Name(execution.last_known_state)
        for node in nodes:
            records[node] = NodeRecord(node, state, _outputs(store, execution.id))
    return records


def custom_property(artifact, name: str):
    """An MLMD artifact's custom property value (int, double or string), or None."""
    if artifact is None or name not in artifact.custom_properties:
        return None
    value = artifact.custom_properties[name]
    return getattr(value, value.WhichOneof("value"))


@dataclass(frozen=True)
class Outcome:
    """What tandem's local run reports of a TFX run: the judge's verdict, the registry version,
    where the model was pushed, each node's state."""

    blessed: bool
    evaluation_dir: Path
    model_version: str | None
    pushed_model_dir: Path | None
    node_states: dict[str, str]


def outcome(
    metadata_path: Path, pipeline_name: str, evaluator: str, registrar: str, pusher: str
) -> Outcome:
    """The newest run's outcome, from the evaluator's, registrar's and pusher's node records."""
    records = latest_run(metadata_path, pipeline_name)
    blessing = records[evaluator].output("blessing")
    pushed = records[pusher].output("pushed_model")
    registered = records[registrar].output("registered")
    return Outcome(
        blessed=custom_property(blessing, "blessed") == 1,
        evaluation_dir=Path(blessing.uri),
        model_version=custom_property(registered, "model_version") or None,
        pushed_model_dir=(
            Path(custom_property(pushed, "pushed_destination"))
            if custom_property(pushed, "pushed") == 1
            else None
        ),
        node_states={node: record.state for node, record in records.items()},
    )
