# ruff: noqa: RUF001 (look-alike letters from other scripts are what these texts are for)
"""The TensorFlow graph's token ids equal the Hugging Face tokenizer's (the PyTorch side's), read
back from a SavedModel as serving sees them."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from components.common.text_tokens import (
    CLS_ID,
    PAD_ID,
    SPECIAL_TOKENS,
    UNK_ID,
    from_vocabulary,
    save_tokenizer,
    token_ids,
    train_tokenizer,
    vocabulary,
)
from components.tf_trainer.text_tokens import TextTokenizer
from tests.components.text_corpus import training_sentences

MAX_LENGTH = 24

TRICKY_TEXTS = [
    # accents, precomposed and decomposed; case
    "Café naïve", "Cafe\u0301 nai\u0308ve", "CAFÉ NAÏVE", "MiXeD CaSe WoRdS",
    # German ß, Turkish dotted and dotless i, Greek with final sigma, Cyrillic
    "Straße STRASSE ẞ", "İstanbul ISTANBUL ıstanbul", "Ελλάδα ΟΔΟΣ οδός ΣΣ", "Москва МОСКВА Ёлка",
    # CJK ideographs (split one by one), kana (not), fullwidth forms
    "東京は日本の首都です", "日本語のテキスト。ＡＢＣ１２３",
    # emoji: modifiers, joiner sequences, flags, keycaps
    "emoji 😀👍🏽 👨‍👩‍👧 🇩🇪 1️⃣ ☃",
    # punctuation runs and brackets, dashes, quotes
    'Wait!!! What?!?... (really) [no] {yes} <tag> "quoted" \'single\' – em—dash «guillemets» ¿qué?',
    # URLs, e-mail, numbers
    "https://example.com/path?query=1&b=2#frag user@example.org www.test.co.uk/a_b-c",
    "3.14159 1,000,000 -42 +7 2024-06-01 10:30am $5 €10 50% ½ ²",
    # text that looks like a special token
    "[CLS] [PAD] [UNK] ## ##ing",
    # every kind of white space, and invisible characters
    "tab\tseparated\nlines\r\nand\u00a0nbsp\u3000ideographic\u2028line\u2029para",
    "soft\u00adhyphen zero\u200bwidth bom\ufeff joiner\u200d",
    # more words than ids; words around the length limit
    " ".join(["garden"] * 300), "a" * 100, "a" * 101, "x" * 150, "é" * 100, "é" * 101,
    "\u0435" * 150, "😀" * 100, "😀" * 101, "running" * 14 + "!",
    # empty after normalisation
    "", " ", "   \t\n  ", "\x00\x01\x07\x1b\x7f\x9f", "\u200b\u200d\ufeff", "\u0301\u0308",
]  # fmt: skip


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer(training_sentences(), 300)


class _Serving(tf.Module):
    def __init__(self, tokenizer: TextTokenizer):
        super().__init__()
        self.tokenizer = tokenizer

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def serve(self, texts):
        return {"ids": self.tokenizer(texts)}


@pytest.fixture(scope="module")
def serving(tokenizer, tmp_path_factory):
    """The in-graph tokenizer, built from the saved vocab.txt, saved as a SavedModel signature
    and loaded back."""
    directory = tmp_path_factory.mktemp("tokens")
    save_tokenizer(tokenizer, directory / "text")
    module = _Serving(TextTokenizer.from_directory(directory / "text", MAX_LENGTH))
    tf.saved_model.save(module, str(directory / "model"), signatures={"serving": module.serve})
    return tf.saved_model.load(str(directory / "model")).signatures["serving"]


def test_saved_model_ids_equal_the_hugging_face_ids_on_tricky_text(tokenizer, serving):
    expected = token_ids(tokenizer, TRICKY_TEXTS, MAX_LENGTH)
    served = serving(texts=tf.constant(TRICKY_TEXTS))["ids"].numpy()
    assert served.dtype == np.int64
    differs = (expected != served).any(axis=1)
    mismatched = [text for text, bad in zip(TRICKY_TEXTS, differs, strict=True) if bad]
    assert mismatched == []


def test_the_tricky_texts_reach_every_case(tokenizer):
    """The comparison above means something: the texts exercise known pieces, unknown words,
    cutting, padding and empty rows."""
    ids = token_ids(tokenizer, TRICKY_TEXTS, MAX_LENGTH)
    rows = dict(zip(TRICKY_TEXTS, ids, strict=True))
    assert (rows["Café naïve"] == rows["Cafe\u0301 nai\u0308ve"]).all()
    assert UNK_ID not in rows["Café naïve"]
    assert (rows[" ".join(["garden"] * 300)] != PAD_ID).all()
    for too_long in ("a" * 101, "x" * 150, "é" * 101, "😀" * 101):
        assert rows[too_long][:3].tolist() == [CLS_ID, UNK_ID, PAD_ID]
    for fits in ("a" * 100, "é" * 100, "😀" * 100):
        assert rows[fits][1] != UNK_ID
    for empty in (
        "",
        "   \t\n  ",
        "\x00\x01\x07\x1b\x7f\x9f",
        "\u200b\u200d\ufeff",
        "\u0301\u0308",
    ):
        assert rows[empty].tolist() == [CLS_ID] + [PAD_ID] * (MAX_LENGTH - 1)


def test_a_column_of_texts_and_an_empty_batch(tokenizer):
    in_graph = TextTokenizer(vocabulary(tokenizer), 8)
    column = in_graph(tf.constant([["the model"], [""]])).numpy()
    assert column.shape == (2, 8)
    assert in_graph(tf.constant([], tf.string)).numpy().shape == (0, 8)


@pytest.mark.slow
def test_ids_inside_a_tf_transform_graph(tokenizer, tmp_path):
    """A preprocessing_fn that tokenizes, analyzed by tf.Transform and applied from its saved
    transform graph, as the TFX Trainer and the serving signature apply it."""
    import apache_beam as beam
    import tensorflow_transform as tft
    import tensorflow_transform.beam as tft_beam
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner
    from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils

    save_tokenizer(tokenizer, tmp_path / "text")

    def preprocessing_fn(inputs):
        in_graph = TextTokenizer.from_directory(tmp_path / "text", MAX_LENGTH)
        return {"ids": in_graph(inputs["text"])}

    feature_spec = {"text": tf.io.FixedLenFeature([], tf.string)}
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(feature_spec))
    with (
        beam.Pipeline(runner=FnApiRunner()) as pipeline,
        tft_beam.Context(temp_dir=str(tmp_path / "tmp")),
    ):
        rows = pipeline | beam.Create([{"text": text} for text in TRICKY_TEXTS])
        transform_fn = (rows, metadata) | tft_beam.AnalyzeDataset(preprocessing_fn)
        _ = transform_fn | tft_beam.WriteTransformFn(str(tmp_path / "transform"))
    output = tft.TFTransformOutput(str(tmp_path / "transform"))
    transformed = output.transform_raw_features({"text": tf.constant(TRICKY_TEXTS)})
    expected = token_ids(tokenizer, TRICKY_TEXTS, MAX_LENGTH)
    assert (transformed["ids"].numpy() == expected).all()


# Where the two sides' Unicode tables disagree in the Basic Multilingual Plane: capital letters
# of Unicode 14 that TensorFlow does not lowercase, and characters new in Unicode 16.
KNOWN_BMP_DIFFERENCES = {
    0x0897, 0x1C89, 0x2C2F, 0xA7C0, 0xA7CB, 0xA7CC, 0xA7CE, 0xA7D0, 0xA7D2, 0xA7D4, 0xA7D6,
    0xA7D8, 0xA7DA, 0xA7DC,
}  # fmt: skip


def test_every_character_of_the_basic_plane_tokenizes_alike():
    """Each character alone, inside a word and repeated, over a vocabulary holding every
    character: normalisation and word splitting agree character by character."""
    code_points = [c for c in range(1, 0x10000) if not 0xD800 <= c <= 0xDFFF]
    vocabulary = _every_character_vocabulary("".join(map(chr, code_points)))
    texts = [f"a{chr(c)}a {chr(c)}{chr(c)} X{chr(c)}" for c in code_points]
    expected = token_ids(from_vocabulary(vocabulary), texts, 8)
    in_graph = TextTokenizer(vocabulary, 8)(tf.constant(texts)).numpy()
    different = {code_points[row] for row in np.flatnonzero((expected != in_graph).any(axis=1))}
    assert different <= KNOWN_BMP_DIFFERENCES


def _every_character_vocabulary(characters: str) -> list[str]:
    """The special tokens, every character the normalisation makes of `characters`, and the
    "##" continuation of each that can continue a word."""
    plain = from_vocabulary(list(SPECIAL_TOKENS))
    normalized = sorted(set(plain.normalizer.normalize_str(characters)) - {" "})
    probes = plain.pre_tokenizer.pre_tokenize_str(" ".join(f"a{c}" for c in normalized))
    pieces = {word for word, _ in probes}
    visible = [c for c in normalized if f"a{c}" in pieces or c in pieces]
    continuing = [f"##{c}" for c in normalized if f"a{c}" in pieces]
    return [*SPECIAL_TOKENS, *visible, *continuing]
