"""Token ids inside the TensorFlow graph, equal to `components.common.text_tokens.token_ids` (the
Hugging Face tokenizer the PyTorch side uses) for the same vocabulary: usable in a tf.function, a
tf.Transform `preprocessing_fn` and a SavedModel signature.

Loading a SavedModel that holds these ops needs `import tensorflow_text` first: the import
registers the FastWordpieceTokenizer op, and without it `tf.saved_model.load` fails.

How each step of the shared definition is reproduced:
- normalisation: the same regular expressions (RE2 here, Oniguruma there),
  `tensorflow_text.normalize_utf8` for NFD and `tf.strings.lower` for lowercasing. Like Rust's
  `char::to_lowercase` it keeps "ß" (`tensorflow_text.case_fold_utf8` would make it "ss"), but
  it lowercases a word-final capital sigma to the final form where Rust gives the plain small
  sigma, so every capital sigma becomes the plain small sigma first.
  "İ" needs nothing: NFD has made it "I" and a dot above, which is dropped as a mark;
- words: tensorflow-text's own split (ICU White_Space; ICU punctuation, ASCII symbols and the CJK
  ideograph blocks), which the shared character classes were written to match;
- word length: Hugging Face turns a word of more than MAX_WORD_CHARACTERS characters into [UNK],
  tensorflow-text one of more than `max_bytes_per_word` bytes. The byte limit here admits every
  word of up to MAX_WORD_CHARACTERS characters (4 bytes each at most), and a regular expression
  first replaces every longer word by a stand-in just over the byte limit, so both give one [UNK].

Remaining differences, from the Unicode tables each side carries (checked for every character of
the Basic Multilingual Plane, see tests/components/tf_trainer/test_tf_text_tokens.py): capital
letters added in Unicode 14 and 16 (Vithkuqi, one Glagolitic and one Cyrillic letter, a dozen
Latin Extended-D letters) are lowercased on the PyTorch side only, and characters assigned in
Unicode 15 or 16 can differ in decomposition, in being a combining mark or in being
punctuation. Ordinary text in any living script tokenizes alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import tensorflow as tf
import tensorflow_text

from components.common.text_tokens import (
    CLS_ID,
    COMBINING_MARKS,
    CONTINUATION_PREFIX,
    DROPPED_CHARACTERS,
    MAX_WORD_CHARACTERS,
    PAD_ID,
    SEPARATE_CHARACTERS,
    UNK_TOKEN,
    WHITESPACE_CHARACTERS,
    read_vocabulary,
)

# UTF-8 spends at most 4 bytes on a character.
MAX_BYTES_PER_WORD = 4 * MAX_WORD_CHARACTERS
_LONG_WORD = f"[^ ]{{{MAX_WORD_CHARACTERS + 1},}}"
_LONG_WORD_STAND_IN = "x" * (MAX_BYTES_PER_WORD + 1)
# ICU lowercases a word-final capital sigma to "\u03c2", Rust (character by character) to this.
_CAPITAL_SIGMA, _SMALL_SIGMA = "\u03a3", "\u03c3"


class TextTokenizer(tf.Module):
    """Raw text → token ids: string [batch] (or [batch, 1]) → int64 [batch, max_length], each
    row [CLS], the word pieces cut to max_length ids in total, then [PAD] (0)."""

    def __init__(self, vocabulary: Sequence[str], max_length: int, name: str | None = None):
        super().__init__(name=name)
        self.max_length = max_length
        self.wordpiece = tensorflow_text.FastWordpieceTokenizer(
            vocab=list(vocabulary),
            suffix_indicator=CONTINUATION_PREFIX,
            max_bytes_per_word=MAX_BYTES_PER_WORD,
            token_out_type=tf.int64,
            unknown_token=UNK_TOKEN,
            no_pretokenization=False,
        )

    @classmethod
    def from_directory(cls, directory: Path, max_length: int) -> TextTokenizer:
        """The tokenizer of a snapshot's `tokenizers/<feature>` directory (its vocab.txt)."""
        return cls(read_vocabulary(directory), max_length)

    def __call__(self, texts: tf.Tensor) -> tf.Tensor:
        texts = tf.reshape(texts, [-1])
        pieces = self.wordpiece.tokenize(_normalized(texts))
        pieces = pieces.to_tensor(default_value=PAD_ID, shape=[None, self.max_length - 1])
        first = tf.fill([tf.size(texts), 1], tf.constant(CLS_ID, tf.int64))
        return tf.concat([first, pieces], axis=1)


def _normalized(texts: tf.Tensor) -> tf.Tensor:
    """The shared normalisation, then every over-long word replaced by the stand-in."""
    texts = tf.strings.regex_replace(texts, f"[{DROPPED_CHARACTERS}]", "")
    texts = tensorflow_text.normalize_utf8(texts, "NFD")
    texts = tf.strings.regex_replace(texts, f"[{COMBINING_MARKS}]", "")
    texts = tf.strings.regex_replace(texts, _CAPITAL_SIGMA, _SMALL_SIGMA)
    texts = tf.strings.lower(texts, encoding="utf-8")
    return _replace_long_words(texts)


def _replace_long_words(texts: tf.Tensor) -> tf.Tensor:
    """Every word longer than MAX_WORD_CHARACTERS replaced by the stand-in. The words are first
    delimited by plain spaces (which changes no token), so that a cheap pattern finds them: one
    that repeats the full word-character class a hundred times overflows RE2's automaton."""
    texts = tf.strings.regex_replace(texts, f"[{WHITESPACE_CHARACTERS}]", " ")
    texts = tf.strings.regex_replace(texts, f"[{SEPARATE_CHARACTERS}]", r" \0 ")
    return tf.strings.regex_replace(texts, _LONG_WORD, _LONG_WORD_STAND_IN)
