"""The model registry's conventions, shared by the judge that reads them and the register step
that writes them (so neither imports the other).

One registered model per spec and framework (`Framework.registered_model_name`). Every evaluated
model becomes a new version with the alias `challenger`; `champion` moves to it only when it is
blessed. A version carries its gated metrics as tags (`tandem.metric.<name>`): the next challenger
is judged against the champion's.
"""

from __future__ import annotations

from dataclasses import dataclass

CHAMPION = "champion"
CHALLENGER = "challenger"
METRIC_TAG = "tandem.metric."
BLESSED_TAG = "tandem.blessed"


@dataclass(frozen=True)
class Champion:
    version: str
    metrics: dict[str, float]


def current_champion(client, name: str) -> Champion | None:
    """The version holding the `champion` alias and its recorded metrics, or None."""
    from mlflow.exceptions import MlflowException

    try:
        version = client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None
    metrics = {
        key.removeprefix(METRIC_TAG): float(value)
        for key, value in version.tags.items()
        if key.startswith(METRIC_TAG)
    }
    return Champion(version=str(version.version), metrics=metrics)
