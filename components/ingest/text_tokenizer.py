"""A text feature's tokenizer: trained on the train split once the Beam run has written it, saved
inside the snapshot being staged (so it is published with the rows, or not at all), and described
in the manifest.

Only train rows teach the tokenizer, as only train rows give the numeric statistics: a word seen
only in eval or test must not be in the vocabulary. The rows are read back from the split's
Parquet files in file-name order, a batch at a time (the whole column is never held at once).
`tokens_per_row` counts a row's ids before they are cut to `max_length`: [CLS] and its word
pieces, so `truncated_share` is the share of rows longer than `max_length`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
from tokenizers import Tokenizer

from components.common.text_tokens import (
    VOCABULARY_FILE,
    piece_counts,
    save_tokenizer,
    train_tokenizer,
)
from components.ingest.split import SPLITS
from components.spec import Feature

TOKENIZERS_DIR = "tokenizers"
_READ_ROWS = 8192


def tokenizer_dir(feature: Feature) -> str:
    """Where a feature's tokenizer sits, relative to the snapshot directory."""
    return f"{TOKENIZERS_DIR}/{feature.name}"


def _text_batches(split_dir: Path, column: str) -> Iterator[list[str]]:
    for path in sorted(split_dir.glob("*.parquet")):
        for batch in pq.ParquetFile(path).iter_batches(batch_size=_READ_ROWS, columns=[column]):
            yield batch.column(0).to_pylist()


def _texts(split_dir: Path, column: str) -> Iterator[str]:
    for texts in _text_batches(split_dir, column):
        yield from texts


def _piece_counts(tokenizer: Tokenizer, split_dir: Path, column: str) -> tuple[np.ndarray, int]:
    """Ids per row before cutting ([CLS] included) and how many of all ids are [UNK]."""
    counts = [piece_counts(tokenizer, texts) for texts in _text_batches(split_dir, column)]
    if not counts:
        return np.zeros(0, np.int64), 0
    return np.concatenate([rows for rows, _ in counts]), sum(unknown for _, unknown in counts)


def _tokens_per_row(ids_per_row: np.ndarray, max_length: int) -> dict[str, float]:
    return {
        "mean": float(ids_per_row.mean()),
        "p50": float(np.percentile(ids_per_row, 50)),
        "p95": float(np.percentile(ids_per_row, 95)),
        "max": int(ids_per_row.max()),
        "truncated_share": float((ids_per_row > max_length).mean()),
    }


def train_text_tokenizer(feature: Feature, snapshot: Path) -> dict[str, Any]:
    """Train `feature`'s tokenizer on the snapshot's train split, save it under
    `tokenizers/<feature>/` and return its manifest entry (statistics["text"][feature])."""
    tokenizer = train_tokenizer(_texts(snapshot / "train", feature.name), feature.vocabulary_size)
    directory = snapshot / tokenizer_dir(feature)
    save_tokenizer(tokenizer, directory)
    unknown_rate = {}
    tokens_per_row = {}
    for split in SPLITS:
        ids_per_row, unknown = _piece_counts(tokenizer, snapshot / split, feature.name)
        pieces = int((ids_per_row - 1).sum())
        unknown_rate[split] = unknown / pieces if pieces else 0.0
        if split == "train":
            tokens_per_row = _tokens_per_row(ids_per_row, feature.max_length)
    vocabulary = (directory / VOCABULARY_FILE).read_bytes()
    return {
        "vocabulary_size": tokenizer.get_vocab_size(),
        "max_length": feature.max_length,
        "tokenizer": tokenizer_dir(feature),
        "vocabulary_sha256": hashlib.sha256(vocabulary).hexdigest(),
        "tokens_per_row": tokens_per_row,
        "unknown_token_rate": unknown_rate,
    }
