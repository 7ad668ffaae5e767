"""The judge-and-register KFP v2 component: runs under kfp.local on imported artifacts (judges,
then registers in one step process); compiles with both outputs."""

import pytest
import yaml
from kfp import compiler, dsl, local
from mlflow.tracking import MlflowClient

from components.common.model_registry import CHALLENGER, CHAMPION
from components.common.tracking import tracking_uri
from components.register.kfp_component import judge_and_register_component
from components.spec import default_spec_path
from tests.components.evaluate.tiny_models import train_tiny_torch

pytestmark = pytest.mark.e2e


def _pipeline(model_uri: str, snapshot_uri: str, runs_dir: str):
    judge = judge_and_register_component("tandem-pytorch:test")

    @dsl.pipeline(name="judge-only")
    def judge_only() -> str:
        model = dsl.importer(artifact_uri=model_uri, artifact_class=dsl.Model)
        snapshot = dsl.importer(artifact_uri=snapshot_uri, artifact_class=dsl.Dataset)
        task = judge(
            framework="pytorch",
            spec_yaml=default_spec_path().read_text(),
            runs_dir=runs_dir,
            model=model.output,
            snapshot=snapshot.output,
        )
        return task.outputs["model_version"]

    return judge_only


def test_component_judges_and_registers_imported_artifacts(penguins_snapshot, tmp_path):
    model_dir = train_tiny_torch(
        penguins_snapshot.snapshot_dir, penguins_snapshot.manifest, tmp_path / "model", steps=60
    )
    runs = tmp_path / "runs"
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path / "root"))
    run = _pipeline(str(model_dir), str(penguins_snapshot.snapshot_dir), str(runs))()
    assert run.output == "1"
    client = MlflowClient(tracking_uri(runs))
    champion = client.get_model_version_by_alias("penguins-pytorch", CHAMPION)
    challenger = client.get_model_version_by_alias("penguins-pytorch", CHALLENGER)
    assert str(champion.version) == str(challenger.version) == "1"
    experiment = client.get_experiment_by_name("tandem-penguins").experiment_id
    steps = {run.data.tags["tandem.step"] for run in client.search_runs([experiment])}
    assert steps == {"evaluate", "register"}


def test_component_compiles_with_its_outputs(tmp_path):
    compiler.Compiler().compile(
        judge_and_register_component("registry.example/t:1"), str(tmp_path / "c.yaml")
    )
    ir = yaml.safe_load((tmp_path / "c.yaml").read_text())
    component = ir["components"]["comp-judge-and-register"]
    outputs = component["outputDefinitions"]
    assert outputs["parameters"]["blessed"]["parameterType"] == "BOOLEAN"
    assert outputs["parameters"]["model_version"]["parameterType"] == "STRING"
    assert outputs["artifacts"]["metrics"]["artifactType"]["schemaTitle"] == "system.Metrics"
    assert set(component["inputDefinitions"]["artifacts"]) == {"model", "snapshot"}
