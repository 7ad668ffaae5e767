"""The shared WordPiece tokenizer, Hugging Face side: training, files, ids.

Its agreement with the TensorFlow graph is tested in tests/components/tf_trainer.
"""

from __future__ import annotations

import numpy as np
import pytest

from components.common.errors import TandemError
from components.common.text_tokens import (
    CLS_ID,
    MAX_TOKEN_BYTES,
    MAX_WORD_CHARACTERS,
    PAD_ID,
    SPECIAL_TOKENS,
    TOKENIZER_FILE,
    UNK_ID,
    VOCABULARY_FILE,
    load_tokenizer,
    piece_counts,
    read_vocabulary,
    save_tokenizer,
    token_ids,
    train_tokenizer,
    vocabulary,
)
from tests.components.text_corpus import (
    FREQUENT_WORDS,
    HELD_OUT_WORD,
    held_out_sentences,
    training_sentences,
)

VOCABULARY_SIZE = 300


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer(training_sentences(), VOCABULARY_SIZE)


def test_vocabulary_learns_the_training_words_and_nothing_from_other_texts(tokenizer):
    tokens = set(vocabulary(tokenizer))
    assert set(FREQUENT_WORDS) <= tokens
    assert HELD_OUT_WORD not in tokens
    with_held_out = train_tokenizer(training_sentences() + held_out_sentences(), VOCABULARY_SIZE)
    assert HELD_OUT_WORD in vocabulary(with_held_out)


def test_special_tokens_come_first_and_the_size_is_kept(tokenizer):
    tokens = vocabulary(tokenizer)
    assert tuple(tokens[:3]) == SPECIAL_TOKENS
    assert [tokens.index(t) for t in ("[PAD]", "[UNK]", "[CLS]")] == [PAD_ID, UNK_ID, CLS_ID]
    assert len(tokens) == tokenizer.get_vocab_size() <= VOCABULARY_SIZE


def test_the_same_texts_give_the_same_vocabulary_file(tmp_path):
    for run in ("first", "second", "third"):
        save_tokenizer(train_tokenizer(training_sentences(), VOCABULARY_SIZE), tmp_path / run)
    files = {path.read_bytes() for path in tmp_path.glob(f"*/{VOCABULARY_FILE}")}
    assert len(files) == 1


def test_saved_files_load_back_to_the_same_ids(tokenizer, tmp_path):
    save_tokenizer(tokenizer, tmp_path / "text")
    assert (tmp_path / "text" / TOKENIZER_FILE).is_file()
    assert read_vocabulary(tmp_path / "text") == vocabulary(tokenizer)
    texts = training_sentences(20)
    loaded = load_tokenizer(tmp_path / "text")
    assert (token_ids(loaded, texts, 16) == token_ids(tokenizer, texts, 16)).all()


def test_a_missing_tokenizer_is_one_clear_error(tmp_path):
    with pytest.raises(TandemError, match=TOKENIZER_FILE):
        load_tokenizer(tmp_path)
    with pytest.raises(TandemError, match=VOCABULARY_FILE):
        read_vocabulary(tmp_path)


def test_ids_are_cls_then_pieces_cut_and_padded(tokenizer):
    texts = ["The model learns.", " ".join(["garden"] * 50), "", "  \t\n ", "\x00\x07\u200b\ufeff"]
    ids = token_ids(tokenizer, texts, 8)
    assert ids.dtype == np.int64 and ids.shape == (5, 8)
    assert (ids[:, 0] == CLS_ID).all()
    pieces = tokenizer.encode(texts[0]).ids
    assert 0 < len(pieces) < 7
    assert ids[0, 1 : 1 + len(pieces)].tolist() == pieces
    assert (ids[0, 1 + len(pieces) :] == PAD_ID).all()
    assert (ids[1] != PAD_ID).all()
    assert (ids[2:, 1:] == PAD_ID).all()


def test_accents_case_and_markup_are_normalised_away(tokenizer):
    same = token_ids(tokenizer, ["Café", "cafe\u0301", "CAFÉ", "ca\u00adfé"], 4)
    assert (same == same[0]).all()
    assert UNK_ID not in same
    dotted = tokenizer.encode("ISTANBUL İstanbul").tokens
    assert dotted == tokenizer.encode("istanbul istanbul").tokens
    assert "ß" in "".join(tokenizer.encode("STRAßE").tokens)


def test_special_token_text_is_plain_text(tokenizer):
    assert CLS_ID not in token_ids(tokenizer, ["[CLS] the [PAD]"], 16)[0, 1:]


def test_too_long_words_are_one_unknown_token(tokenizer):
    longest, too_long = "a" * MAX_WORD_CHARACTERS, "a" * (MAX_WORD_CHARACTERS + 1)
    assert tokenizer.encode(too_long).ids == [UNK_ID]
    assert UNK_ID not in tokenizer.encode(longest).ids


def test_piece_counts_are_ids_before_cutting(tokenizer):
    texts = ["the model", " ".join(["garden"] * 50), "", HELD_OUT_WORD + " \u2603"]
    counts, unknown = piece_counts(tokenizer, texts)
    assert counts.tolist() == [1 + len(tokenizer.encode(t).ids) for t in texts]
    assert counts[2] == 1 and counts[1] > 50
    assert unknown == sum(tokenizer.encode(t).ids.count(UNK_ID) for t in texts)
    assert unknown >= 1


def test_tokens_fit_tensorflow_text_even_for_long_repeated_words():
    repeated = train_tokenizer(["😀" * 70] * 50 + ["a b c"] * 10, 200)
    lengths = [len(t.removeprefix("##").encode("utf-8")) for t in vocabulary(repeated)]
    assert max(lengths) <= MAX_TOKEN_BYTES
    assert UNK_ID not in repeated.encode("😀" * 70).ids
