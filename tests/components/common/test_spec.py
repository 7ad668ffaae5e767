"""The spec: one run's seed, the model family both frameworks build, and the task (classification
or regression) with the fields and thresholds that fit it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from components.common.errors import TandemError
from components.spec import (
    EvaluationSpec,
    bundled_specs,
    default_spec_path,
    load_spec,
    spec_location,
)
from tests.conftest import penguins_regression_document


def test_a_run_takes_the_seed_asked_for_else_the_specs_first():
    training = load_spec(default_spec_path()).spec.training.model_copy(update={"seeds": [7, 3]})
    assert training.seed_or_default(None) == 7
    assert training.seed_or_default(3) == 3
    assert training.seed_or_default(0) == 0


def spec_with_model(tmp_path, model: dict):
    document = yaml.safe_load(default_spec_path().read_text())
    document["training"]["model"] = model
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def test_the_model_family_defaults_to_the_mlp_of_hidden_sizes():
    training = load_spec(default_spec_path()).spec.training
    assert training.model.family == "mlp"


def test_a_family_takes_its_parameters_and_defaults_the_rest(tmp_path):
    model = {"family": "ft_transformer", "params": {"d_token": 32, "n_heads": 8}}
    params = load_spec(spec_with_model(tmp_path, model)).spec.training.model.params
    assert (params.d_token, params.n_heads, params.n_blocks) == (32, 8, 2)


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (
            {"family": "ft_transformer", "params": {"n_heads": 3}},
            "training.model.ft_transformer.params: n_heads 3 does not divide d_token 64",
        ),
        (
            {"family": "resnet", "params": {"width": 3}},
            "training.model.resnet.params.width: Extra inputs are not permitted",
        ),
        ({"family": "gpt"}, "training.model: Input tag 'gpt' found using 'family'"),
        (
            {"family": "custom", "tensorflow": "nets.keras_net.build", "pytorch": "nets:build"},
            "training.model.custom.tensorflow: 'nets.keras_net.build' is not a builder path: "
            "expected 'module.path:function'",
        ),
        (
            {"family": "custom", "tensorflow": "nets:build", "pytorch": "nets:2build"},
            "training.model.custom.pytorch: 'nets:2build' is not a builder path",
        ),
        (
            {"family": "custom", "tensorflow": "nets:build"},
            "training.model.custom.pytorch: Field required",
        ),
    ],
)
def test_a_bad_model_names_its_field(tmp_path, model, message):
    path = spec_with_model(tmp_path, model)
    with pytest.raises(TandemError, match=re.escape(f"{path}: {message}")):
        load_spec(path)


def spec_with(tmp_path, dataset: dict, evaluation: dict | None = None) -> Path:
    document = yaml.safe_load(default_spec_path().read_text())
    document["dataset"].update(dataset)
    if evaluation is not None:
        document["evaluation"] = evaluation
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def test_a_regression_spec_has_one_output_and_no_default_thresholds(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(penguins_regression_document(), sort_keys=False))
    spec = load_spec(path).spec
    assert (spec.dataset.task, spec.dataset.classes, spec.dataset.n_outputs) == (
        "regression",
        None,
        1,
    )
    assert spec.evaluation.gates("regression") == {"r2": 0.5}
    assert EvaluationSpec().gates("regression") == {}
    assert EvaluationSpec().gates("classification") == {"accuracy": 0.8}


@pytest.mark.parametrize(
    ("dataset", "evaluation", "message"),
    [
        (
            {"task": "regression"},
            None,
            "dataset: a regression dataset takes no 'classes' (its label is numeric)",
        ),
        (
            {"classes": None},
            None,
            "dataset: classification needs 'classes' listing at least 2 classes",
        ),
        (
            {},
            {"thresholds": {"rmse": 10.0}},
            "evaluation.thresholds: ['rmse'] do not apply to classification; known: accuracy",
        ),
        (
            {},
            {"thresholds": {"roc_auc": 0.9}},
            "evaluation.thresholds: ['roc_auc'] need a binary label (2 classes)",
        ),
    ],
)
def test_a_task_that_does_not_fit_its_fields_names_them(tmp_path, dataset, evaluation, message):
    path = spec_with(tmp_path, dataset, evaluation)
    with pytest.raises(TandemError, match=re.escape(f"{path}: {message}")):
        load_spec(path)


def test_a_binary_spec_may_gate_roc_auc_and_pr_auc(tmp_path):
    dataset = {"classes": ["female", "male"], "label": "sex"}
    features = yaml.safe_load(default_spec_path().read_text())["dataset"]["features"]
    dataset["features"] = [f for f in features if f["name"] != "sex"]
    dataset["ignore_columns"] = ["year", "species"]
    path = spec_with(tmp_path, dataset, {"thresholds": {"roc_auc": 0.8, "pr_auc": 0.8}})
    assert load_spec(path).spec.evaluation.gates("classification") == {
        "roc_auc": 0.8,
        "pr_auc": 0.8,
    }


def test_bundled_specs_go_by_name():
    bundled = bundled_specs()
    assert {"penguins", "diamonds", "flights", "health-insurance"} <= set(bundled)
    assert spec_location("health-insurance") == bundled["health-insurance"]
    assert spec_location(None) == default_spec_path() == bundled["penguins"]
    assert load_spec(spec_location("health-insurance")).spec.name == "health-insurance"


def test_a_spec_file_wins_over_a_bundled_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "penguins").write_text(default_spec_path().read_text())
    assert spec_location("penguins") == Path("penguins")
    assert spec_location(str(tmp_path / "penguins.yaml")) == tmp_path / "penguins.yaml"


def test_an_unknown_spec_lists_the_bundled_names(tmp_path):
    with pytest.raises(TandemError) as error:
        load_spec(spec_location(tmp_path / "pinguins"))
    assert str(error.value) == (
        f"{tmp_path / 'pinguins'}: spec file not found (bundled specs by name: "
        f"{', '.join(bundled_specs())})"
    )
    assert "health-insurance" in str(error.value)


def test_a_custom_pair_names_both_builders_and_their_shared_params(tmp_path):
    model = {
        "family": "custom",
        "tensorflow": "my_models.keras_net:build",
        "pytorch": "my_models.torch_net:Builders.build",
        "params": {"width": 128, "activation": "gelu"},
    }
    custom = load_spec(spec_with_model(tmp_path, model)).spec.training.model
    assert custom.params == {"width": 128, "activation": "gelu"}
    assert custom.describe() == (
        "custom(tensorflow=my_models.keras_net:build, pytorch=my_models.torch_net:Builders.build, "
        "activation=gelu, width=128)"
    )
    bare = {key: value for key, value in model.items() if key != "params"}
    assert load_spec(spec_with_model(tmp_path, bare)).spec.training.model.params == {}
