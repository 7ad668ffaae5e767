"""The evaluation KFP v2 component: runs under kfp.local on imported artifacts; compiles."""

import yaml
from kfp import compiler, dsl, local

from components.evaluate.kfp_component import evaluate_component
from components.spec import default_spec_path
from tests.components.evaluate.tiny_models import train_tiny_torch


def _pipeline(model_uri: str, snapshot_uri: str, runs_dir: str):
    evaluate = evaluate_component("tandem-pytorch:test")

    @dsl.pipeline(name="evaluate-only")
    def evaluate_only() -> bool:
        model = dsl.importer(artifact_uri=model_uri, artifact_class=dsl.Model)
        snapshot = dsl.importer(artifact_uri=snapshot_uri, artifact_class=dsl.Dataset)
        task = evaluate(
            framework="pytorch",
            spec_yaml=default_spec_path().read_text(),
            runs_dir=runs_dir,
            model=model.output,
            snapshot=snapshot.output,
        )
        return task.outputs["blessed"]

    return evaluate_only


def test_component_judges_imported_artifacts(penguins_snapshot, tmp_path):
    model_dir = train_tiny_torch(
        penguins_snapshot.snapshot_dir, penguins_snapshot.manifest, tmp_path / "model", steps=60
    )
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path / "root"))
    pipeline = _pipeline(
        str(model_dir), str(penguins_snapshot.snapshot_dir), str(tmp_path / "runs")
    )
    run = pipeline()
    assert run.output is True


def test_component_compiles_with_its_outputs(tmp_path):
    compiler.Compiler().compile(
        evaluate_component("registry.example/t:1"), str(tmp_path / "c.yaml")
    )
    ir = yaml.safe_load((tmp_path / "c.yaml").read_text())
    component = ir["components"]["comp-evaluate-exported-model"]
    outputs = component["outputDefinitions"]
    assert outputs["parameters"]["blessed"]["parameterType"] == "BOOLEAN"
    assert outputs["artifacts"]["metrics"]["artifactType"]["schemaTitle"] == "system.Metrics"
    assert set(component["inputDefinitions"]["artifacts"]) == {"model", "snapshot"}
