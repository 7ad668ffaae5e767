"""The ingest KFP v2 component: runs under kfp.local and compiles to loadable IR."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from kfp import compiler, local

from components.ingest.kfp_component import ingest_component
from components.spec import default_spec_path

pytestmark = pytest.mark.e2e


def test_component_runs_locally_and_emits_the_snapshot(tmp_path):
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path / "root"))
    component = ingest_component("tandem-pytorch:test")
    task = component(
        spec_yaml=default_spec_path().read_text(),
        spec_dir=str(default_spec_path().parent),
        output_dir=str(tmp_path / "runs"),
    )
    snapshot = task.outputs["snapshot"]
    manifest = json.loads((Path(snapshot.path) / "manifest.json").read_text())
    assert snapshot.metadata["fingerprint"] == manifest["fingerprint"]
    assert snapshot.metadata["rows_accepted"] == 333
    assert (Path(snapshot.path) / "train").is_dir()
    assert snapshot.metadata["mlflow_run_id"]


def test_component_compiles_with_the_image_it_was_given(tmp_path):
    compiler.Compiler().compile(
        ingest_component("registry.example/tandem:1.2"), str(tmp_path / "c.yaml")
    )
    ir = yaml.safe_load((tmp_path / "c.yaml").read_text())
    executor = ir["deploymentSpec"]["executors"]["exec-ingest-snapshot"]["container"]
    assert executor["image"] == "registry.example/tandem:1.2"
    inputs = ir["components"]["comp-ingest-snapshot"]["inputDefinitions"]["parameters"]
    assert set(inputs) == {"spec_yaml", "spec_dir", "output_dir"}
    outputs = ir["components"]["comp-ingest-snapshot"]["outputDefinitions"]["artifacts"]
    assert outputs["snapshot"]["artifactType"]["schemaTitle"] == "system.Dataset"
