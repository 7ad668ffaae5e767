"""What the served model refuses before predicting, checked on the rows a caller sent (MLflow's
schema enforcement has already refused a missing column or a value of the wrong type).

A category outside the spec's values is refused, not scored: ingest quarantines such a row
(`unknown_category:<feature>`), so no model ever trained or was judged on one, and the
exported model would read it as a missing value (an all-zero one-hot block) — a typo would
silently become a confident answer. A missing value (null) is the caller saying "not known"
and keeps the exported-model contract's meaning (the train mean, an all-zero block).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

# Rows per request unless `tandem serve --max-batch-rows` says otherwise: a request is parsed
# whole in memory before it is scored.
DEFAULT_MAX_BATCH_ROWS = 10_000
# Unknown values named in a refusal, at most.
SHOWN_VALUES = 5


def categories(manifest: dict) -> dict[str, list[str]]:
    """Each categorical feature's allowed values, in spec order."""
    return {
        feature["name"]: list(feature["values"])
        for feature in manifest["dataset_spec"]["features"]
        if feature["type"] == "categorical"
    }


def request_problem(
    frame: pd.DataFrame, allowed: dict[str, list[str]], max_rows: int
) -> str | None:
    """Why these rows cannot be scored (the limit, or a column and its unknown values), or None."""
    if len(frame) > max_rows:
        return (
            f"{len(frame)} rows in one request; the limit is {max_rows} "
            f"(send smaller batches, or start the server with a larger --max-batch-rows)"
        )
    for name, values in allowed.items():
        column = frame[name]
        unknown = column[column.notna() & ~column.isin(values)].unique()
        if len(unknown):
            shown = ", ".join(repr(str(value)) for value in unknown[:SHOWN_VALUES])
            return (
                f"column {name!r}: unknown categor{'ies' if len(unknown) > 1 else 'y'} "
                f"{shown}; expected one of {', '.join(values)}"
            )
    return None
