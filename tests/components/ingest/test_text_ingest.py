"""Text features: rows without text quarantined, the text stored as it is, a WordPiece tokenizer
trained on the train split only and published inside the snapshot, its statistics in the manifest,
and a fingerprint that follows the tokenizer's settings."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from components.common.text_tokens import TOKENIZER_FILE, VOCABULARY_FILE, load_tokenizer
from components.ingest import run as ingest_run
from components.ingest.run import IngestResult, run_ingest
from components.ingest.snapshot import SNAPSHOTS_DIR, fingerprint
from components.ingest.split import split_of_rows
from components.ingest.tfx_example_gen import publish_file
from components.ingest.validate import REASON, SOURCE_ROW, validate_batch
from components.spec import DatasetSpec, load_spec

ROWS = 300
MAX_LENGTH = 8
# No x, y, q or k in the train words: those letters come only with the eval and test words.
TRAIN_WORDS = ["the", "movie", "was", "wonderful", "and", "great", "bad", "film", "plot", "music"]
TEST_WORD, EVAL_WORD = "xylophone", "quokka"
QUARANTINED = {1: "   \t", 2: "", 3: "NA"}


def _dataset(**changes) -> DatasetSpec:
    fields = {
        "source": "reviews.csv",
        "label": "sentiment",
        "classes": ["neg", "pos"],
        "id": "key",
        "features": [{"name": "review", "type": "text", "max_length": MAX_LENGTH}],
    }
    return DatasetSpec(**(fields | changes))


def _reviews() -> list[dict]:
    """Rows whose split is known in advance: ingest splits by a hash of the id alone."""
    keys = [f"r{i}" for i in range(ROWS)]
    splits = split_of_rows(pa.table({"key": keys}), _dataset())
    rng = np.random.default_rng(0)
    rows = []
    for index, (key, split) in enumerate(zip(keys, splits, strict=True)):
        words = list(rng.choice(TRAIN_WORDS, size=rng.integers(2, 12)))
        words += {1: [EVAL_WORD], 2: [TEST_WORD]}.get(int(split), [])
        text = QUARANTINED.get(index, " ".join(["wonderful", *words]))
        rows.append({"key": key, "sentiment": "pos" if index % 2 else "neg", "review": text})
    return rows


def _write_spec(directory: Path, **dataset) -> Path:
    with (directory / "reviews.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["key", "sentiment", "review"])
        writer.writeheader()
        writer.writerows(_reviews())
    document = {
        "name": "reviews",
        "dataset": _dataset(**dataset).model_dump(mode="json", exclude_none=True),
        "training": {"model": {"family": "transformer"}},
    }
    path = directory / "spec.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def reviews(tmp_path_factory) -> IngestResult:
    directory = tmp_path_factory.mktemp("reviews")
    return run_ingest(load_spec(_write_spec(directory)), directory / "out", track=False)


def _split_texts(result: IngestResult, split: str) -> list[str]:
    return pq.read_table(result.snapshot_dir / split).column("review").to_pylist()


def test_text_missing_or_blank_is_quarantined_and_the_rest_kept_as_written():
    table = pa.table(
        {
            "key": ["a", "b", "c", "d", "e"],
            "sentiment": ["pos"] * 5,
            "review": pa.array([" Fine, really. ", None, "", " \t\n", "NA"]),
        }
    )
    result = validate_batch(table, _dataset(), "d.csv", first_row=1)
    quarantine = result.quarantine
    rows, reasons = quarantine[SOURCE_ROW].to_pylist(), quarantine[REASON].to_pylist()
    # "" and "NA" are missing_values tokens.
    assert dict(zip(rows, reasons, strict=True)) == {
        2: "missing_value:review",
        3: "missing_value:review",
        4: "empty_text:review",
        5: "missing_value:review",
    }
    assert result.good.column("review").to_pylist() == [" Fine, really. "]
    assert result.good.schema.field("review").type == pa.string()


def test_reviews_without_text_are_quarantined_by_reason(reviews):
    assert reviews.counts["quarantined_by_reason"] == {
        "missing_value:review": 2,
        "empty_text:review": 1,
    }
    assert pq.read_table(reviews.snapshot_dir / "train").schema.field("review").type == pa.string()


def test_the_tokenizer_learns_from_train_rows_only(reviews):
    assert any(TEST_WORD in text for text in _split_texts(reviews, "test"))
    assert any(EVAL_WORD in text for text in _split_texts(reviews, "eval"))
    entry = reviews.manifest["statistics"]["text"]["review"]
    vocabulary = (reviews.snapshot_dir / entry["tokenizer"] / VOCABULARY_FILE).read_text().split()
    assert vocabulary[:3] == ["[PAD]", "[UNK]", "[CLS]"]
    assert "wonderful" in vocabulary
    letters = {char for token in vocabulary[3:] for char in token.removeprefix("##")}
    assert not letters & set(TEST_WORD + EVAL_WORD) - set("".join(TRAIN_WORDS))
    rates = entry["unknown_token_rate"]
    assert rates["train"] == 0.0
    assert rates["eval"] > 0 and rates["test"] > 0


def test_the_manifest_describes_the_published_tokenizer(reviews):
    entry = reviews.manifest["statistics"]["text"]["review"]
    directory = reviews.snapshot_dir / "tokenizers" / "review"
    assert entry["tokenizer"] == "tokenizers/review"
    assert {p.name for p in directory.iterdir()} == {TOKENIZER_FILE, VOCABULARY_FILE}
    vocabulary = (directory / VOCABULARY_FILE).read_bytes()
    assert entry["vocabulary_sha256"] == hashlib.sha256(vocabulary).hexdigest()
    assert entry["vocabulary_size"] == len(vocabulary.splitlines()) <= 8000
    assert entry["max_length"] == MAX_LENGTH
    statistics = reviews.manifest["statistics"]
    assert statistics["numeric"] == {} and statistics["array"] == {}
    assert not list(reviews.snapshot_dir.parent.glob(".tmp-*"))


def test_tokens_per_row_count_cls_and_word_pieces_of_the_train_split(reviews):
    tokenizer = load_tokenizer(reviews.snapshot_dir / "tokenizers" / "review")
    texts = _split_texts(reviews, "train")
    pieces = [len(e.ids) for e in tokenizer.encode_batch(texts, add_special_tokens=False)]
    ids_per_row = np.array(pieces) + 1
    tokens = reviews.manifest["statistics"]["text"]["review"]["tokens_per_row"]
    assert tokens["mean"] == pytest.approx(ids_per_row.mean())
    assert tokens["p50"] == pytest.approx(np.percentile(ids_per_row, 50))
    assert tokens["p95"] == pytest.approx(np.percentile(ids_per_row, 95))
    assert tokens["max"] == ids_per_row.max()
    assert tokens["truncated_share"] == pytest.approx((ids_per_row > MAX_LENGTH).mean())
    assert 0 < tokens["truncated_share"] < 1


def test_the_fingerprint_follows_the_tokenizer_settings():
    files = ["0" * 64]
    base = fingerprint(files, _dataset())
    assert fingerprint(files, _dataset()) == base
    for changed in ({"vocabulary_size": 500}, {"max_length": 16}):
        feature = {"name": "review", "type": "text", "max_length": MAX_LENGTH} | changed
        assert fingerprint(files, _dataset(features=[feature])) != base


def test_a_failure_after_the_tokenizer_is_written_publishes_nothing(tmp_path, monkeypatch):
    train = ingest_run.train_text_tokenizer

    def interrupted(feature, staging):
        train(feature, staging)
        assert (staging / "tokenizers" / "review" / VOCABULARY_FILE).exists()
        raise KeyboardInterrupt

    monkeypatch.setattr(ingest_run, "train_text_tokenizer", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_ingest(load_spec(_write_spec(tmp_path)), tmp_path / "out", track=False)
    assert sorted(p.name for p in (tmp_path / "out" / SNAPSHOTS_DIR).iterdir()) == []


def test_the_example_gen_publishes_text_as_bytes(reviews, tmp_path):
    from tensorflow_data_validation.statistics.stats_impl import generate_statistics_in_memory

    part = sorted((reviews.snapshot_dir / "train").glob("*.parquet"))[0]
    publish_file(str(part), str(tmp_path / "published.parquet"))
    table = pq.read_table(tmp_path / "published.parquet").combine_chunks()
    assert table.schema.field("review").type == pa.large_list(pa.large_binary())
    assert table.column("review")[0].as_py() == [pq.read_table(part)["review"][0].as_py().encode()]
    statistics = generate_statistics_in_memory(table.to_batches()[0])
    (review,) = [f for f in statistics.datasets[0].features if f.path.step == ["review"]]
    assert review.string_stats.common_stats.num_non_missing == table.num_rows
