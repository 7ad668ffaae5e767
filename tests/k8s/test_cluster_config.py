"""`tandem compile --cluster-config` reads k8s/'s ConfigMap tandem-training: the built overlays
give the settings the compiled pipelines need, and the defaults are k8s/base's."""

from __future__ import annotations

import re

import pytest

from components.common.errors import TandemError
from tandem.deploy.cluster_config import DEFAULT, load_cluster_config


def test_the_defaults_are_the_cpu_overlay(build_variant):
    assert load_cluster_config(build_variant("overlays/cpu").path) == DEFAULT


def test_the_gpu_overlay_selects_gpu_nodes(build_variant):
    gpu = load_cluster_config(build_variant("overlays/gpu").path)
    assert gpu.accelerator_type == "nvidia.com/gpu"
    assert gpu.node_selector == {"nvidia.com/gpu.present": "true"}
    assert gpu.tolerations == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    ]
    assert (gpu.runs_pvc, gpu.runs_mount_path) == (DEFAULT.runs_pvc, DEFAULT.runs_mount_path)
    assert gpu.run_service_account("pytorch") == "tandem-torchx"
    assert gpu.run_service_account("tensorflow") == "tandem-pipeline"


CONFIGMAP = "kind: ConfigMap\nmetadata: {name: tandem-training}\ndata:\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("kind: Service\nmetadata: {name: mlflow}\n", "no ConfigMap tandem-training"),
        (CONFIGMAP + "  tolerations: '[{oops'\n", "key 'tolerations' is not JSON"),
        (CONFIGMAP + "  node-selector: '[]'\n", "key 'node-selector' must be a JSON dict"),
        ("a: [", "not YAML"),
    ],
)
def test_a_bad_cluster_config_is_one_clear_error(tmp_path, text, message):
    path = tmp_path / "cluster.yaml"
    path.write_text(text)
    with pytest.raises(TandemError, match=message) as error:
        load_cluster_config(path)
    assert str(path) in str(error.value)


def test_a_missing_cluster_config_names_the_file(tmp_path):
    with pytest.raises(
        TandemError, match=re.escape("nowhere.yaml: cannot read the cluster config")
    ):
        load_cluster_config(tmp_path / "nowhere.yaml")
