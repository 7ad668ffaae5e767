"""The benchmark spec: one validated YAML file drives ingest and both frameworks.

A spec names the dataset (where it is, its label, id, features and their types, how to split it)
and the training settings both frameworks read (model shape, optimizer, batch size, epochs, seeds,
workers, compile mode). Every loading error names the file and the field.
"""

from __future__ import annotations

import importlib.resources
import math
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from components.common.errors import TandemError
from components.spec.data_files import DataFile, format_of, locate

# `package.module:function` (the attribute may be dotted too: `module:Class.method`).
_IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_]*"
BUILDER_PATH = re.compile(rf"^{_IDENTIFIER}(\.{_IDENTIFIER})*:{_IDENTIFIER}(\.{_IDENTIFIER})*$")
Task = Literal["classification", "regression"]
DEFAULT_MISSING_VALUES = ["", "NA", "N/A", "NULL", "null", "None"]
BUNDLED_DIR = "bundled"
DEFAULT_SPEC = "penguins"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


FeatureType = Literal["numeric", "categorical", "text", "array"]
# What a text feature gets when the spec leaves its tokenizer settings out.
DEFAULT_VOCABULARY_SIZE = 8000
DEFAULT_MAX_LENGTH = 128
_TEXT_ONLY = ("vocabulary_size", "max_length")
_ARRAY_ONLY = ("shape", "columns")


class Feature(_Strict):
    name: str = Field(min_length=1)
    type: FeatureType = Field(
        description="numeric, categorical, text (one string column) or array (a fixed-shape "
        "numeric tensor: an image, a series)."
    )
    required: bool = Field(True, description="Rows missing a required value are quarantined.")
    values: list[str] | None = Field(
        None, description="Allowed categories (categorical only); anything else is quarantined."
    )
    slice: bool = Field(False, description="Report evaluation metrics per value of this feature.")
    vocabulary_size: int | None = Field(
        None,
        ge=16,
        description=f"text only: WordPiece vocabulary size, special tokens included (default "
        f"{DEFAULT_VOCABULARY_SIZE}); the tokenizer is trained at ingest on the train split.",
    )
    max_length: int | None = Field(
        None,
        ge=2,
        description=f"text only: token ids per row, [CLS] included; longer text is cut, shorter "
        f"padded (default {DEFAULT_MAX_LENGTH}).",
    )
    shape: list[int] | None = Field(
        None,
        min_length=1,
        description="array only: the tensor's shape without the batch axis, channels last, "
        "e.g. [28, 28, 1] for an image or [24, 1] for a series.",
    )
    columns: str | list[str] | None = Field(
        None,
        description="array only: the source columns holding the values in row-major order, as a "
        "list or a glob (`pixel_*`, ordered by the number in each name; the label, id and other "
        "features' columns never match). Without it the array is the list-typed Parquet column "
        "`name`.",
    )

    @model_validator(mode="before")
    @classmethod
    def _text_defaults(cls, data: Any) -> Any:
        """A text feature's tokenizer settings are filled in, so every reader sees numbers."""
        if isinstance(data, dict) and data.get("type") == "text":
            defaults = {
                "vocabulary_size": DEFAULT_VOCABULARY_SIZE,
                "max_length": DEFAULT_MAX_LENGTH,
            }
            return defaults | {key: value for key, value in data.items() if value is not None}
        return data

    @model_validator(mode="after")
    def _settings_match_type(self) -> Feature:
        if self.type == "categorical" and not self.values:
            raise ValueError(f"categorical feature '{self.name}' needs a non-empty 'values' list")
        if self.type != "categorical" and (self.values is not None or self.slice):
            raise ValueError(
                f"{self.type} feature '{self.name}' takes neither 'values' nor 'slice'"
            )
        if self.values is not None and len(set(self.values)) != len(self.values):
            raise ValueError(f"feature '{self.name}' lists a category twice")
        for kind, settings in (("text", _TEXT_ONLY), ("array", _ARRAY_ONLY)):
            misplaced = [key for key in settings if getattr(self, key) is not None]
            if self.type != kind and misplaced:
                raise ValueError(
                    f"{self.type} feature '{self.name}' takes no {', '.join(misplaced)} "
                    f"({kind} features only)"
                )
        if self.type in ("text", "array") and not self.required:
            raise ValueError(
                f"{self.type} feature '{self.name}' is the model's whole input, so it is always "
                "required; drop 'required: false'"
            )
        if self.type == "array":
            self._check_array()
        return self

    def _check_array(self) -> None:
        if self.shape is None:
            raise ValueError(
                f"array feature '{self.name}' needs a 'shape', e.g. [28, 28, 1] or [24, 1]"
            )
        if any(size < 1 for size in self.shape):
            raise ValueError(f"array feature '{self.name}': shape sizes must all be >= 1")
        if isinstance(self.columns, list):
            if len(set(self.columns)) != len(self.columns):
                raise ValueError(f"array feature '{self.name}' lists a column twice")
            if len(self.columns) != self.size:
                raise ValueError(
                    f"array feature '{self.name}': shape {self.shape} holds {self.size} values "
                    f"but columns lists {len(self.columns)}"
                )

    @property
    def size(self) -> int:
        """Values in one array feature's tensor (the product of its shape)."""
        return math.prod(self.shape or [])


class SplitRatios(_Strict):
    train: float = Field(0.7, gt=0, lt=1)
    eval: float = Field(0.15, gt=0, lt=1)
    test: float = Field(0.15, gt=0, lt=1)

    @model_validator(mode="after")
    def _sum_to_one(self) -> SplitRatios:
        total = self.train + self.eval + self.test
        if abs(total - 1.0) > 1e-9:
            raise ValueError(f"train + eval + test must be 1 (they add up to {total:g})")
        return self

    def as_dict(self) -> dict[str, float]:
        return {"train": self.train, "eval": self.eval, "test": self.test}


class DatasetSpec(_Strict):
    source: str = Field(
        description="CSV/Parquet path or glob (relative to the spec file), or package://pkg/path;"
        " `archive.zip#dir/table.csv` reads one CSV member of a zip or tar archive"
    )
    format: Literal["csv", "parquet"] | None = Field(
        None, description="Default: from the file suffix."
    )
    header: bool = Field(
        True,
        description="false: the CSV has no header row; its columns are named f0, f1, ... in order.",
    )
    task: Task = Field(
        "classification",
        description="classification (binary or multiclass, over `classes`) or regression "
        "(a numeric label).",
    )
    label: str = Field(min_length=1)
    classes: list[str] | None = Field(
        None, description="The label's classes (classification only; their order is the output's)."
    )
    id: str | None = Field(
        None, description="Unique row key; without it rows are keyed by their content."
    )
    features: list[Feature] = Field(min_length=1)
    ignore_columns: list[str] = Field(
        default_factory=list, description="Columns in the data that are neither features nor keys."
    )
    missing_values: list[str] = Field(
        default_factory=lambda: list(DEFAULT_MISSING_VALUES),
        description="Cell values read as missing, in CSV and in Parquet text columns alike.",
    )
    split: SplitRatios = Field(default_factory=SplitRatios)
    seed: int = Field(42, description="Salt of the split hash: a new seed draws a new split.")

    @model_validator(mode="after")
    def _columns_consistent(self) -> DatasetSpec:
        names = [f.name for f in self.features]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"features listed twice: {', '.join(duplicated)}")
        if self.label in names:
            raise ValueError(f"the label '{self.label}' must not also be a feature")
        if self.id is not None and self.id in [*names, self.label]:
            raise ValueError(f"the id column '{self.id}' must not be the label or a feature")
        clash = sorted(set(self.ignore_columns) & {*names, self.label, self.id})
        if clash:
            raise ValueError(f"ignore_columns also names a used column: {', '.join(clash)}")
        if self.task == "classification":
            if self.classes is None or len(self.classes) < 2:
                raise ValueError("classification needs 'classes' listing at least 2 classes")
            if len(set(self.classes)) != len(self.classes):
                raise ValueError("classes lists a class twice")
        elif self.classes is not None:
            raise ValueError("a regression dataset takes no 'classes' (its label is numeric)")
        self._check_tensor_features(names)
        tokens = set(self.missing_values)
        for owner, values in [("classes", self.classes or [])] + [
            (f"feature '{f.name}' values", f.values or []) for f in self.features
        ]:
            unreadable = sorted(tokens.intersection(values))
            if unreadable:
                raise ValueError(
                    f"{owner} include {unreadable}, which missing_values reads as missing"
                )
        return self

    def _check_tensor_features(self, names: list[str]) -> None:
        """A text or an array feature is the model's whole input: the families that read them
        (transformer, cnn) take one tensor, so it stands alone among the features."""
        tensors = [f for f in self.features if f.type in ("text", "array")]
        if tensors and len(self.features) > 1:
            raise ValueError(
                f"{tensors[0].type} feature '{tensors[0].name}' must be the only feature "
                "(text and array inputs are not combined with other features yet); move the "
                "others to ignore_columns"
            )
        for feature in tensors:
            if isinstance(feature.columns, list):
                used = sorted(set(feature.columns) & {*names, self.label, self.id})
                if used:
                    raise ValueError(
                        f"array feature '{feature.name}' columns include used columns: "
                        f"{', '.join(used)}"
                    )

    @property
    def input_kind(self) -> Literal["tabular", "text", "array"]:
        """What the network reads: an encoded row of numeric and categorical features, token
        ids of the text feature, or the array feature's tensor."""
        kinds = {f.type for f in self.features} & {"text", "array"}
        return kinds.pop() if kinds else "tabular"

    @property
    def tensor_feature(self) -> Feature:
        """The text or array feature (the only feature of such a dataset)."""
        if self.input_kind == "tabular":
            raise ValueError("a tabular dataset has no text or array feature")
        return self.features[0]

    @property
    def n_outputs(self) -> int:
        """The network's output width: one logit per class, or one regression prediction."""
        return 1 if self.task == "regression" else len(self.classes)

    @property
    def n_inputs(self) -> int:
        """The encoded input width of a tabular dataset: one per numeric feature, one per
        category (one-hot)."""
        return len(self.numeric_features) + sum(
            len(f.values or []) for f in self.categorical_features
        )

    @property
    def numeric_features(self) -> list[Feature]:
        return [f for f in self.features if f.type == "numeric"]

    @property
    def categorical_features(self) -> list[Feature]:
        return [f for f in self.features if f.type == "categorical"]

    @property
    def key_columns(self) -> list[str]:
        """Columns a snapshot row carries besides the features: id (if any) and label."""
        return [c for c in (self.id, self.label) if c is not None]


class Workers(_Strict):
    nnodes: int = Field(1, ge=1)
    nproc_per_node: int = Field(2, ge=1)
    gpus_per_node: int = Field(0, ge=0, description="0 trains on CPU (gloo); >0 requests GPUs.")


class CompileModes(_Strict):
    tensorflow: Literal["eager", "graph", "xla"] = Field(
        "graph", description="eager: run_eagerly; graph: tf.function; xla: jit_compile=True"
    )
    pytorch: Literal["eager", "compile"] = Field("eager", description="compile: torch.compile")


class _ModelFamily(_Strict):
    def describe(self) -> str:
        """The family and its parameters in one line, e.g. `resnet(d_main=64, ...)`: logged as
        the train run's `model` param, which the fairness audit compares across frameworks."""
        params = getattr(self, "params", None)
        if params is None:
            return self.family
        inner = ", ".join(f"{key}={value}" for key, value in params.model_dump().items())
        return f"{self.family}({inner})"


class MLPModel(_ModelFamily):
    """Linear + ReLU per `training.hidden_sizes`, then a linear output layer."""

    family: Literal["mlp"] = "mlp"


class ResNetParams(_Strict):
    d_main: int = Field(64, ge=1, description="Width of the residual stream.")
    d_hidden: int = Field(128, ge=1, description="Width inside each block.")
    n_blocks: int = Field(2, ge=1)
    dropout: float = Field(0.0, ge=0, lt=1, description="After each block's ReLU.")
    residual_dropout: float = Field(0.0, ge=0, lt=1, description="On each block's output.")


class ResNetModel(_ModelFamily):
    """The tabular ResNet (Gorishniy et al. 2021): a linear layer to `d_main`, then blocks of
    LayerNorm → linear → ReLU → dropout → linear → dropout added to their input, then LayerNorm →
    ReLU → linear output layer."""

    family: Literal["resnet"]
    params: ResNetParams = Field(default_factory=ResNetParams)


class FTTransformerParams(_Strict):
    d_token: int = Field(64, ge=1, description="Width of each feature's token.")
    n_blocks: int = Field(2, ge=1)
    n_heads: int = Field(4, ge=1, description="Must divide d_token.")
    d_ffn: int = Field(128, ge=1, description="Width inside each block's feed-forward network.")
    attention_dropout: float = Field(0.1, ge=0, lt=1)
    ffn_dropout: float = Field(0.0, ge=0, lt=1)
    residual_dropout: float = Field(0.0, ge=0, lt=1)

    @model_validator(mode="after")
    def _heads_divide_tokens(self) -> FTTransformerParams:
        if self.d_token % self.n_heads:
            raise ValueError(f"n_heads {self.n_heads} does not divide d_token {self.d_token}")
        return self


class FTTransformerModel(_ModelFamily):
    """The FT-Transformer (Gorishniy et al. 2021): each encoded input becomes a token (its value
    times a learned vector plus a learned bias), a learned [CLS] token is appended, pre-norm
    transformer blocks (LayerNorm → multi-head self-attention → dropout, added; LayerNorm → linear
    → ReLU → dropout → linear → dropout, added) run over the tokens, and the [CLS] token goes
    through LayerNorm → ReLU → a linear output layer."""

    family: Literal["ft_transformer"]
    params: FTTransformerParams = Field(default_factory=FTTransformerParams)


class CNNParams(_Strict):
    channels: list[int] = Field(
        default_factory=lambda: [16, 32],
        min_length=1,
        description="Output channels of each convolution block.",
    )
    kernel_size: int = Field(3, ge=1, description="Width of each convolution window, per axis.")
    d_hidden: int = Field(64, ge=1, description="Width of the dense layer before the output.")
    dropout: float = Field(0.0, ge=0, lt=1, description="Before the output layer.")

    @model_validator(mode="after")
    def _positive_channels(self) -> CNNParams:
        if any(width < 1 for width in self.channels):
            raise ValueError("channels must all be >= 1")
        return self


class CNNModel(_ModelFamily):
    """A convolutional network over an array feature, 2-D for an image ([height, width,
    channels]) and 1-D for a series ([steps, channels]): per entry of `channels` a convolution
    ('same' padding) → ReLU → max-pooling by 2, then global average pooling → linear to
    `d_hidden` → ReLU → dropout → linear output layer."""

    family: Literal["cnn"]
    params: CNNParams = Field(default_factory=CNNParams)


class TransformerParams(_Strict):
    d_model: int = Field(64, ge=1, description="Width of each token's embedding.")
    n_blocks: int = Field(2, ge=1)
    n_heads: int = Field(4, ge=1, description="Must divide d_model.")
    d_ffn: int = Field(128, ge=1, description="Width inside each block's feed-forward network.")
    attention_dropout: float = Field(0.1, ge=0, lt=1)
    ffn_dropout: float = Field(0.0, ge=0, lt=1)
    residual_dropout: float = Field(0.0, ge=0, lt=1)

    @model_validator(mode="after")
    def _heads_divide_width(self) -> TransformerParams:
        if self.d_model % self.n_heads:
            raise ValueError(f"n_heads {self.n_heads} does not divide d_model {self.d_model}")
        return self


class TransformerModel(_ModelFamily):
    """A text encoder over a text feature's token ids: token embedding plus learned position
    embedding, pre-norm transformer blocks as in the FT-Transformer (padding masked out of the
    attention), then the [CLS] token (always the first) through LayerNorm → ReLU → a linear
    output layer."""

    family: Literal["transformer"]
    params: TransformerParams = Field(default_factory=TransformerParams)


# Which input each built-in family reads (a custom pair reads any).
FAMILY_INPUTS: dict[str, str] = {
    "mlp": "tabular",
    "resnet": "tabular",
    "ft_transformer": "tabular",
    "cnn": "array",
    "transformer": "text",
}


# The keywords tandem passes a custom builder for array and text input, which params must not
# use.
INPUT_KEYWORDS = ("input_shape", "vocabulary_size", "max_length")


class CustomModel(_ModelFamily):
    """A pair of builders the user brings, one per framework, each `module.path:function`:
    `build(n_inputs, n_outputs, **params)` returns a Keras model / a torch `nn.Module` mapping
    the dataset's input batch to raw outputs [batch, n_outputs]. A tabular input is float32
    [batch, n_inputs]; an array feature's is float32 [batch, *shape] and its builder also gets
    `input_shape=tuple(shape)` (n_inputs is the shape's product); a text feature's is int64
    token ids [batch, max_length] and its builder also gets `vocabulary_size=` and
    `max_length=` (n_inputs is max_length). The contract is stated in
    `components.common.custom_models`."""

    family: Literal["custom"]
    tensorflow: str = Field(description="The Keras builder, `module.path:function`.")
    pytorch: str = Field(description="The torch builder, `module.path:function`.")
    params: dict[str, Any] = Field(
        default_factory=dict, description="Keyword arguments passed to both builders."
    )

    @field_validator("tensorflow", "pytorch")
    @classmethod
    def _importable_syntax(cls, value: str) -> str:
        if not BUILDER_PATH.match(value):
            raise ValueError(
                f"{value!r} is not a builder path: expected 'module.path:function', "
                "e.g. my_models.keras_net:build"
            )
        return value

    @field_validator("params")
    @classmethod
    def _no_input_keywords(cls, value: dict[str, Any]) -> dict[str, Any]:
        taken = [key for key in INPUT_KEYWORDS if key in value]
        if taken:
            them = "it" if len(taken) == 1 else "them"
            raise ValueError(
                f"tandem passes {', '.join(taken)} from the dataset's input; remove {them} from "
                "params"
            )
        return value

    def describe(self) -> str:
        """`custom(tensorflow=..., pytorch=..., width=128)`, params by name: the same line in both
        frameworks' runs, since both read one spec (the fairness audit compares it)."""
        inner = [f"tensorflow={self.tensorflow}", f"pytorch={self.pytorch}"]
        inner += [f"{key}={value}" for key, value in sorted(self.params.items())]
        return f"custom({', '.join(inner)})"


ModelSpec = Annotated[
    MLPModel | ResNetModel | FTTransformerModel | CNNModel | TransformerModel | CustomModel,
    Field(discriminator="family"),
]


class TrainingSpec(_Strict):
    model: ModelSpec = Field(
        default_factory=MLPModel,
        description="The network family both frameworks build (mlp uses hidden_sizes), or a "
        "custom pair of builders.",
    )
    hidden_sizes: list[int] = Field(default_factory=lambda: [64, 32], min_length=1)
    optimizer: Literal["adam", "sgd"] = "adam"
    learning_rate: float = Field(1e-3, gt=0)
    adam_epsilon: float = Field(1e-7, gt=0, description="Set for both: Keras and torch differ.")
    batch_size: int = Field(32, ge=1)
    epochs: int = Field(20, ge=1)
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2], min_length=1)
    workers: Workers = Field(default_factory=Workers)
    compile: CompileModes = Field(default_factory=CompileModes)

    @model_validator(mode="after")
    def _positive_sizes(self) -> TrainingSpec:
        if any(size < 1 for size in self.hidden_sizes):
            raise ValueError("hidden_sizes must all be >= 1")
        return self

    def seed_or_default(self, seed: int | None) -> int:
        """`seed`, or the spec's first seed when none is given (one run's default)."""
        return self.seeds[0] if seed is None else int(seed)


class IngestSpec(_Strict):
    beam_args: list[str] = Field(
        default_factory=list,
        description="Beam options, e.g. --runner=FlinkRunner; the CLI's --beam-arg adds more.",
    )
    batch_rows: int = Field(65_536, ge=1, description="Rows per Arrow record batch.")
    threads: int = Field(2, ge=1, description="Batches a Beam worker validates and writes at once.")


# Metrics a threshold can gate, per task: "min" means the metric must reach the threshold, "max"
# that it must not exceed it. ROC AUC and PR AUC exist for binary classification only.
GATED_METRICS: dict[str, dict[str, Literal["min", "max"]]] = {
    "classification": {
        "accuracy": "min",
        "macro_f1": "min",
        "log_loss": "max",
        "ece": "max",
        "roc_auc": "min",
        "pr_auc": "min",
    },
    "regression": {"rmse": "max", "mae": "max", "r2": "min"},
}
BINARY_ONLY_METRICS = ("roc_auc", "pr_auc")


class EvaluationSpec(_Strict):
    thresholds: dict[str, float] | None = Field(
        None,
        description="Absolute gates. Classification: accuracy, macro_f1, roc_auc, pr_auc minimums; "
        "log_loss, ece maximums (default accuracy 0.8). Regression: rmse, mae maximums; r2 minimum "
        "(default none).",
    )
    regression_tolerance: float = Field(
        0.02,
        ge=0,
        description="How far a challenger may trail the champion: on each gated metric by this "
        "amount (classification), or on RMSE by this fraction (regression).",
    )
    latency_calls: int = Field(200, ge=10, description="Timed predict calls per batch size.")

    def gates(self, task: Task) -> dict[str, float]:
        """The thresholds, or the task's default ones."""
        if self.thresholds is not None:
            return dict(self.thresholds)
        return {"accuracy": 0.8} if task == "classification" else {}


class Spec(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=60)
    dataset: DatasetSpec
    training: TrainingSpec = Field(default_factory=TrainingSpec)
    ingest: IngestSpec = Field(default_factory=IngestSpec)
    evaluation: EvaluationSpec = Field(default_factory=EvaluationSpec)

    @model_validator(mode="after")
    def _family_reads_input(self) -> Spec:
        family = self.training.model.family
        wanted = FAMILY_INPUTS.get(family)
        kind = self.dataset.input_kind
        if wanted is not None and wanted != kind:
            fitting = ", ".join(name for name, reads in FAMILY_INPUTS.items() if reads == kind)
            raise ValueError(
                f"training.model.family: {family} reads {wanted} input but this dataset's input "
                f"is {kind}; use {fitting} (or a custom pair)"
            )
        return self

    @model_validator(mode="after")
    def _cnn_fits_the_array(self) -> Spec:
        """A cnn convolves a [steps, channels] series (1-D) or a [height, width, channels] image
        (2-D), and each of its blocks halves every spatial size (rounding down)."""
        model = self.training.model
        if not isinstance(model, CNNModel):
            return self
        feature = self.dataset.tensor_feature
        if len(feature.shape) not in (2, 3):
            raise ValueError(
                f"training.model.family: cnn reads a series [steps, channels] or an image "
                f"[height, width, channels], but array feature '{feature.name}' has shape "
                f"{feature.shape}; reshape it or use a custom pair"
            )
        blocks = len(model.params.channels)
        smallest = 2**blocks
        if min(feature.shape[:-1]) < smallest:
            raise ValueError(
                f"training.model.params.channels: {blocks} blocks halve each spatial size "
                f"{blocks} times, so each size of shape {feature.shape} except the channels "
                f"must be at least {smallest}; list fewer channels"
            )
        return self

    @model_validator(mode="after")
    def _thresholds_fit_task(self) -> Spec:
        task = self.dataset.task
        gated = set(self.evaluation.gates(task))
        unknown = sorted(gated - set(GATED_METRICS[task]))
        if unknown:
            known = ", ".join(GATED_METRICS[task])
            raise ValueError(
                f"evaluation.thresholds: {unknown} do not apply to {task}; known: {known}"
            )
        binary = task == "classification" and len(self.dataset.classes) == 2
        need_binary = sorted(gated.intersection(BINARY_ONLY_METRICS)) if not binary else []
        if need_binary:
            raise ValueError(
                f"evaluation.thresholds: {need_binary} need a binary label (2 classes)"
            )
        return self


class LoadedSpec(BaseModel):
    """A validated spec plus the file it came from (relative sources resolve against it)."""

    model_config = ConfigDict(frozen=True)

    spec: Spec
    path: Path

    def source_files(self) -> list[DataFile]:
        """The data files the spec points at, sorted; a TandemError if there are none."""
        return locate(self.spec.dataset.source, self.path.parent, f"{self.path}: dataset.source")

    def data_format(self, file: DataFile) -> Literal["csv", "parquet"]:
        fmt = self.spec.dataset.format or format_of(file.name)
        if fmt is None:
            raise TandemError(
                f"{self.path}: dataset.format: cannot tell the format of {file.name} from its "
                "suffix; set format: csv or format: parquet"
            )
        if file.member is not None and fmt != "csv":
            raise TandemError(
                f"{self.path}: dataset.source: {file} is read from an archive, which works for "
                "CSV members only; extract a Parquet file and point dataset.source at it"
            )
        return fmt


def _field_path(location: tuple) -> str:
    parts: list[str] = []
    for item in location:
        if isinstance(item, int):
            parts[-1:] = [f"{parts[-1]}[{item}]" if parts else f"[{item}]"]
        else:
            parts.append(str(item))
    return ".".join(parts) or "(top level)"


def validation_message(path: Path | DataFile, error: ValidationError) -> str:
    """One line per invalid field: `<file>: <field.path>: <problem>`."""
    lines = []
    for issue in error.errors():
        message = re.sub(r"^(Value error|Assertion failed), ", "", issue["msg"])
        where = f"{_field_path(issue['loc'])}: " if issue["loc"] else ""
        lines.append(f"{path}: {where}{message}")
    return "\n".join(lines)


def load_spec(path: str | Path) -> LoadedSpec:
    """Read and validate a spec file; a TandemError names the file and each bad field."""
    path = Path(path).expanduser().resolve()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TandemError(
            f"{path}: spec file not found (bundled specs by name: {', '.join(bundled_specs())})"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TandemError(f"{path}: cannot read the spec file: {exc}") from None
    return parse_spec(text, path)


def parse_spec(text: str, path: Path) -> LoadedSpec:
    """Validate spec YAML text; `path` names it in errors and anchors relative sources."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or exc
        raise TandemError(f"{path}: not valid YAML{where}: {problem}") from None
    if not isinstance(document, dict):
        raise TandemError(f"{path}: a spec is a YAML mapping with 'name' and 'dataset' keys")
    try:
        spec = Spec.model_validate(document)
    except ValidationError as exc:
        raise TandemError(validation_message(path, exc)) from None
    return LoadedSpec(spec=spec, path=path)


def bundled_specs() -> dict[str, Path]:
    """The specs shipped with tandem, by name: `tandem run --spec diamonds`."""
    folder = importlib.resources.files("components.spec").joinpath(BUNDLED_DIR)
    files = (Path(str(entry)) for entry in folder.iterdir())
    return {file.stem: file for file in sorted(files) if file.suffix == ".yaml"}


def default_spec_path() -> Path:
    """The bundled penguins spec that `make run` uses."""
    return bundled_specs()[DEFAULT_SPEC]


def spec_location(value: str | Path | None) -> Path:
    """Where a `--spec` value points: a spec file, else the bundled spec of that name; no value
    is the default spec. A file that exists wins over a bundled name."""
    if value is None:
        return default_spec_path()
    bundled = bundled_specs()
    if not Path(value).exists() and str(value) in bundled:
        return bundled[str(value)]
    return Path(value)


def spec_to_yaml(spec: Spec) -> str:
    document = spec.model_dump(mode="json", exclude_none=True)
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
