"""The spec's text and array features: their settings, and that each is the model's one input,
read by the family made for it. Every mistake is one line naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from components.common.errors import TandemError
from components.spec import DEFAULT_MAX_LENGTH, DEFAULT_VOCABULARY_SIZE, parse_spec

TEXT = {"name": "review", "type": "text"}
IMAGE = {"name": "pixels", "type": "array", "shape": [4, 4, 1], "columns": "p*"}


def spec_text(features: list[dict], family: str = "transformer") -> str:
    document = {
        "name": "kinds",
        "dataset": {
            "source": "data.csv",
            "label": "y",
            "classes": ["a", "b"],
            "features": features,
        },
        "training": {"model": {"family": family}},
    }
    return yaml.safe_dump(document)


def problem(features: list[dict], family: str = "transformer") -> str:
    with pytest.raises(TandemError) as raised:
        parse_spec(spec_text(features, family), Path("spec.yaml"))
    return str(raised.value)


def test_a_text_feature_gets_the_default_tokenizer_settings():
    spec = parse_spec(spec_text([TEXT]), Path("spec.yaml")).spec
    (feature,) = spec.dataset.features
    assert (feature.vocabulary_size, feature.max_length) == (
        DEFAULT_VOCABULARY_SIZE,
        DEFAULT_MAX_LENGTH,
    )
    assert spec.dataset.input_kind == "text"
    assert spec.dataset.tensor_feature is feature


def test_an_array_feature_knows_its_size():
    spec = parse_spec(spec_text([IMAGE], "cnn"), Path("spec.yaml")).spec
    assert spec.dataset.input_kind == "array"
    assert spec.dataset.tensor_feature.size == 16


@pytest.mark.parametrize(
    ("feature", "message"),
    [
        ({"name": "pixels", "type": "array"}, "array feature 'pixels' needs a 'shape'"),
        (
            {**IMAGE, "columns": ["p0", "p1", "p2"]},
            "array feature 'pixels': shape [4, 4, 1] holds 16 values but columns lists 3",
        ),
        (
            {**IMAGE, "columns": ["p0", "p0", "p1", "p2"]},
            "array feature 'pixels' lists a column twice",
        ),
        (
            {"name": "x", "type": "numeric", "max_length": 8},
            "numeric feature 'x' takes no max_length (text features only)",
        ),
        ({**TEXT, "shape": [3]}, "text feature 'review' takes no shape (array features only)"),
        ({**TEXT, "required": False}, "text feature 'review' is the model's whole input"),
        ({**TEXT, "values": ["a"]}, "text feature 'review' takes neither 'values' nor 'slice'"),
    ],
    ids=[
        "no shape",
        "columns of another size",
        "a column twice",
        "text setting on a number",
        "array setting on a text",
        "optional text",
        "categories on a text",
    ],
)
def test_a_misplaced_or_missing_setting_is_one_line(feature, message):
    family = "cnn" if feature["type"] == "array" else "transformer"
    said = problem([feature], family if feature["type"] != "numeric" else "mlp")
    assert message in said
    assert said.startswith("spec.yaml: dataset.features[0]: ")
    assert "\n" not in said


def test_a_text_feature_is_the_only_feature():
    said = problem([TEXT, {"name": "n", "type": "numeric"}])
    assert said == (
        "spec.yaml: dataset: text feature 'review' must be the only feature (text and array "
        "inputs are not combined with other features yet); move the others to ignore_columns"
    )


@pytest.mark.parametrize(
    ("features", "family", "reads", "kind", "fitting"),
    [
        ([TEXT], "mlp", "tabular", "text", "transformer"),
        ([IMAGE], "transformer", "text", "array", "cnn"),
        (
            [{"name": "n", "type": "numeric"}],
            "cnn",
            "array",
            "tabular",
            "mlp, resnet, ft_transformer",
        ),
    ],
)
def test_a_family_reads_only_its_kind_of_input(features, family, reads, kind, fitting):
    assert problem(features, family) == (
        f"spec.yaml: training.model.family: {family} reads {reads} input but this dataset's "
        f"input is {kind}; use {fitting} (or a custom pair)"
    )
