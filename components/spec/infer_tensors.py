"""How init-spec recognises the inputs that are one tensor, and what it proposes for them.

A text column (free text: reviews, notes) becomes a `text` feature with tokenizer settings read
from the data. A run of numbered numeric columns (`pixel_0`..`pixel_783`, or `f0`..`f783` of a
CSV without a header) becomes one `array` feature: a square count an image, any other count a
series. Each proposal carries the sentence init-spec prints on stderr about it.
"""

from __future__ import annotations

import fnmatch
import glob
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from components.spec import DEFAULT_VOCABULARY_SIZE, Feature

# A text column: its values run to at least this many whitespace-separated words at the median
# (category names and labels are shorter; a one-word id or hash never qualifies, however long)...
TEXT_MIN_MEDIAN_WORDS = 4
# ...and at least this share of its present values is distinct (a category repeats).
TEXT_MIN_DISTINCT_SHARE = 0.5
# max_length: the 95th percentile of words per value times this (word pieces and [CLS]), rounded
# up to a multiple of MAX_LENGTH_STEP, at most MAX_LENGTH_CAP.
TOKENS_PER_WORD = 1.3
MAX_LENGTH_STEP = 8
MAX_LENGTH_CAP = 512
# vocabulary_size: the lower-case words seen at least twice (rarer ones are left to word pieces),
# rounded up to a multiple of VOCABULARY_STEP, at most the spec's default.
VOCABULARY_STEP = 1000
MAX_VOCABULARY_SIZE = DEFAULT_VOCABULARY_SIZE
# An array: at least this many numeric columns sharing a prefix, numbered consecutively.
MIN_ARRAY_COLUMNS = 16
# The cnn proposed for an array: a block (convolution, pooling by 2) per halving of its smallest
# side while the pooled side stays at least MIN_POOLED_SIDE, 1 to MAX_CNN_BLOCKS blocks, channels
# doubling from FIRST_CHANNELS.
MIN_POOLED_SIDE = 3
MAX_CNN_BLOCKS = 3
FIRST_CHANNELS = 16
_NUMBERED = re.compile(r"(.*?)([0-9]+)")


@dataclass(frozen=True)
class Proposal:
    """A text or array feature, the source columns it reads and why, in one sentence."""

    feature: Feature
    columns: tuple[str, ...]
    reason: str


def text_feature(name: str, text: pa.ChunkedArray) -> Proposal | None:
    """The text feature `text` (a column as ingest reads it: strings, missing values as nulls)
    makes, or None when its values are not free text."""
    present = pc.drop_null(text)
    if len(present) == 0:
        return None
    distinct_share = len(pc.unique(present)) / len(present)
    if distinct_share < TEXT_MIN_DISTINCT_SHARE:
        return None
    words = pc.list_value_length(pc.utf8_split_whitespace(present)).to_numpy()
    median = float(np.median(words))
    if median < TEXT_MIN_MEDIAN_WORDS:
        return None
    p95 = float(np.percentile(words, 95))
    wanted = max(1, math.ceil(p95 * TOKENS_PER_WORD / MAX_LENGTH_STEP)) * MAX_LENGTH_STEP
    max_length = min(wanted, MAX_LENGTH_CAP)
    repeated = _repeated_words(present)
    vocabulary_size = min(
        max(1, math.ceil(repeated / VOCABULARY_STEP)) * VOCABULARY_STEP, MAX_VOCABULARY_SIZE
    )
    capped = f", capped at {MAX_LENGTH_CAP}" if wanted > MAX_LENGTH_CAP else ""
    reason = (
        f"column '{name}' is a text feature: its values run to {median:g} words at the median "
        f"and {distinct_share:.0%} of them are distinct (free text); max_length {max_length} "
        f"(95th percentile {p95:g} words times {TOKENS_PER_WORD} for word pieces and [CLS], to a "
        f"multiple of {MAX_LENGTH_STEP}{capped}), vocabulary_size {vocabulary_size} ({repeated} "
        f"lower-case words occur at least twice; to a multiple of {VOCABULARY_STEP}, at most "
        f"{MAX_VOCABULARY_SIZE})"
    )
    feature = Feature(
        name=name,
        type="text",
        required=text.null_count == 0,
        vocabulary_size=vocabulary_size,
        max_length=max_length,
    )
    return Proposal(feature, (name,), reason)


def _repeated_words(present: pa.ChunkedArray) -> int:
    """How many distinct lower-case words (punctuation split off) occur at least twice."""
    spaced = pc.replace_substring_regex(pc.utf8_lower(present), r"[^\w\s]+", " ")
    counts = pc.value_counts(pc.list_flatten(pc.utf8_split_whitespace(spaced)))
    return pc.sum(pc.greater_equal(counts.field("counts"), 2)).as_py() or 0


def array_feature(
    numeric: Mapping[str, pa.ChunkedArray], available: Sequence[str]
) -> Proposal | None:
    """The array feature the longest run of numbered `numeric` columns makes, or None. The
    columns are written as the glob `<prefix>*` when that matches the run and nothing else among
    `available` (the table's columns besides the label and id), else listed."""
    runs: dict[str, dict[int, str]] = {}
    for name in numeric:
        match = _NUMBERED.fullmatch(name)
        if match is not None:
            runs.setdefault(match.group(1), {})[int(match.group(2))] = name
    consecutive = [
        (prefix, [numbered[n] for n in sorted(numbered)])
        for prefix, numbered in runs.items()
        if len(numbered) >= MIN_ARRAY_COLUMNS
        and sorted(numbered) == list(range(min(numbered), min(numbered) + len(numbered)))
    ]
    if not consecutive:
        return None
    prefix, columns = max(consecutive, key=lambda run: len(run[1]))
    count = len(columns)
    side = math.isqrt(count)
    image = side * side == count
    shape = [side, side, 1] if image else [count, 1]
    pattern = f"{prefix}*"
    matched = {c for c in available if fnmatch.fnmatchcase(c, pattern)}
    glob_fits = not glob.has_magic(prefix) and matched == set(columns)
    feature = Feature(
        name=_array_name(prefix, image, available),
        type="array",
        required=all(numeric[c].null_count == 0 for c in columns),
        shape=shape,
        columns=pattern if glob_fits else columns,
    )
    read_as = f"a {side}x{side} image" if image else f"a series of {count} steps (not a square)"
    reason = (
        f"columns {columns[0]}..{columns[-1]} ({count} numbered numeric columns) make the array "
        f"feature '{feature.name}' with shape {shape}, read as {read_as}"
    )
    return Proposal(feature, tuple(columns), reason)


def _array_name(prefix: str, image: bool, available: Sequence[str]) -> str:
    """The prefix without its trailing separator (`pixel_` → `pixel`), unless that is a single
    letter (`f` of a CSV without a header) or an existing column: then `pixels` or `series`."""
    stem = re.sub(r"[^A-Za-z0-9]+$", "", prefix)
    if len(stem) >= 2 and stem not in available:
        return stem
    name = "pixels" if image else "series"
    while name in available:
        name = f"{name}_array"
    return name


def cnn_channels(shape: Sequence[int]) -> list[int]:
    """The cnn's channels for an array of `shape` (channels last): one block per halving of the
    smallest side while it stays at least MIN_POOLED_SIDE (28 → 14 → 7 → 3: three blocks), so
    the last convolution sees most of the image before the global average pooling."""
    side = min(shape[:-1])
    blocks = 0
    while blocks < MAX_CNN_BLOCKS and side // 2 >= MIN_POOLED_SIDE:
        side //= 2
        blocks += 1
    return [FIRST_CHANNELS * 2**block for block in range(max(blocks, 1))]
