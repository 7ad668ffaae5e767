"""The gate after ExampleValidator: stop the run when any split has anomalies.

ExampleValidator only *reports* (it writes a per-split `SchemaDiff.pb` and sets the artifact's
`blessed` property); nothing downstream refuses bad data unless a component raises on it. The gate
reads the anomalies and raises `DataAnomaliesError`, whose message lists one line per problem,
"split: feature: short description (detail)", so the failed run says what is wrong with the data.
"""

# No `from __future__ import annotations`: the component decorator reads the real type hints.
from pathlib import Path

from tfx import v1 as tfx
from tfx.types import artifact_utils, standard_artifacts

from components.common.errors import TandemError

ANOMALIES_FILE = "SchemaDiff.pb"


class DataAnomaliesError(TandemError):
    """The snapshot does not match the schema inferred from its train split."""


def split_anomalies(anomalies_uri: str, split: str):
    """The Anomalies proto ExampleValidator wrote for one split (see its executor)."""
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    path = Path(anomalies_uri) / f"Split-{split}" / ANOMALIES_FILE
    anomalies = anomalies_pb2.Anomalies()
    anomalies.ParseFromString(path.read_bytes())
    return anomalies


def _describe(info) -> str:
    """Each reason as `short description (detail)`, e.g. `Column dropped (Column is completely
    missing)`; TFDV's detail names the offending values or types."""
    reasons = [(r.short_description, r.description.strip()) for r in info.reason] or [
        (info.short_description, info.description.strip())
    ]
    return "; ".join(f"{short} ({detail})" if detail else short for short, detail in reasons)


def describe_anomalies(by_split: dict) -> list[str]:
    """One "split: feature: short description (detail)" line per anomaly, sorted."""
    lines = []
    for split, anomalies in sorted(by_split.items()):
        for feature, info in sorted(anomalies.anomaly_info.items()):
            lines.append(f"{split}: {feature}: {_describe(info)}")
        if anomalies.HasField("dataset_anomaly_info"):
            lines.append(f"{split}: (dataset): {_describe(anomalies.dataset_anomaly_info)}")
    return lines


def check_anomalies(anomalies_uri: str, splits: list[str]) -> None:
    """Raise DataAnomaliesError listing every anomaly found in the given splits."""
    lines = describe_anomalies({split: split_anomalies(anomalies_uri, split) for split in splits})
    if lines:
        listing = "\n".join(f"  {line}" for line in lines)
        raise DataAnomaliesError(
            f"the data does not match the schema inferred from the train split "
            f"({len(lines)} anomalies):\n{listing}"
        )


@tfx.dsl.components.component
def ExampleValidationGate(
    anomalies: tfx.dsl.components.InputArtifact[standard_artifacts.ExampleAnomalies],
) -> None:
    """Fail the pipeline run when ExampleValidator found anomalies in any split."""
    check_anomalies(anomalies.uri, artifact_utils.decode_split_names(anomalies.split_names))
