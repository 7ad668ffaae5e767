"""The WordPiece tokenizer both frameworks share: trained at ingest on the train split, saved in the
snapshot, read by the PyTorch side through Hugging Face `tokenizers` and by the TensorFlow side
through tensorflow-text (`components.tf_trainer.text_tokens`), which must give the same ids.

A row's text becomes ids in four steps:
1. normalisation: control and format characters (Unicode Cc other than whitespace, Cf: NUL,
   zero-width joiners, soft hyphens, byte-order marks) are dropped, then NFD, then every
   combining mark (Unicode M) is dropped — accents, whether precomposed or decomposed in the
   input — then lowercasing, character by character;
2. words: split on Unicode White_Space (removed) and on punctuation (Unicode P and every ASCII
   symbol) and CJK ideographs (each kept as a word of its own), as BERT does;
3. WordPiece: the longest vocabulary token from the start of each word, then "##"-prefixed
   continuations; a word that cannot be covered, or that is longer than
   `MAX_WORD_CHARACTERS`, becomes one [UNK];
4. ids: [CLS], the word pieces cut to `max_length` ids in total, then [PAD] up to `max_length`.

Steps 1 and 2 are regular expressions rather than the library's BERT components because
tensorflow-text can reproduce a regular expression exactly, while `BertPreTokenizer` and
`StripAccents` carry old Unicode tables that disagree with tensorflow-text on hundreds of
characters added since, and `BertPreTokenizer` keeps CJK ideographs together where
tensorflow-text splits them. The character classes below are written once, in the syntax both
regex engines (Oniguruma here, RE2 in TensorFlow) read the same way.

The special tokens are in the vocabulary but not registered as added tokens, so text that happens
to contain "[CLS]" is tokenized as the characters "[", "cls", "]", as tensorflow-text does.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, trainers

from components.common.errors import TandemError

PAD_TOKEN, UNK_TOKEN, CLS_TOKEN = "[PAD]", "[UNK]", "[CLS]"
SPECIAL_TOKENS = (PAD_TOKEN, UNK_TOKEN, CLS_TOKEN)
PAD_ID, UNK_ID, CLS_ID = range(len(SPECIAL_TOKENS))
TOKENIZER_FILE = "tokenizer.json"
VOCABULARY_FILE = "vocab.txt"
CONTINUATION_PREFIX = "##"
# Longer words become [UNK]: WordPiece's greedy search costs the square of a word's length.
MAX_WORD_CHARACTERS = 100
# tensorflow-text cannot hold a vocabulary token longer than this (without its "##").
MAX_TOKEN_BYTES = 256

# Character-class bodies (put them inside [...]), the same in Oniguruma and RE2.
DROPPED_CHARACTERS = r"\x{0}-\x{8}\x{E}-\x{1F}\x{7F}-\x{84}\x{86}-\x{9F}\p{Cf}"
COMBINING_MARKS = r"\p{M}"
# Unicode White_Space, listed because RE2 has no name for it.
WHITESPACE_CHARACTERS = (
    r"\x{9}-\x{D}\x{20}\x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}"
    r"\x{3000}"
)
# Unicode punctuation, the ASCII symbols, and the CJK ideograph blocks BERT splits character by
# character (the ranges of tensorflow-text's IsPunctuationOrChineseChar).
SEPARATE_CHARACTERS = (
    r"\p{P}\x{21}-\x{2F}\x{3A}-\x{40}\x{5B}-\x{60}\x{7B}-\x{7E}"
    r"\x{3400}-\x{4DBF}\x{4E00}-\x{9FFF}\x{F900}-\x{FAFF}\x{20000}-\x{2A6DF}\x{2A700}-\x{2B73F}"
    r"\x{2B740}-\x{2B81F}\x{2B820}-\x{2CEAF}\x{2F800}-\x{2FA1F}"
)


def train_tokenizer(texts: Iterable[str], vocabulary_size: int) -> Tokenizer:
    """A WordPiece tokenizer of at most about `vocabulary_size` tokens (special tokens first, in
    id order) trained on `texts`; the same texts give the same vocabulary. Every character seen
    in training is kept, so a text with more distinct characters than `vocabulary_size` gives a
    larger vocabulary: the true size is `tokenizer.get_vocab_size()`."""
    texts = list(texts)
    tokenizer = _tokenizer(models.WordPiece(unk_token=UNK_TOKEN, **_WORDPIECE_SETTINGS))
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocabulary_size,
        special_tokens=[*SPECIAL_TOKENS, *_continuations(tokenizer, texts)],
        continuing_subword_prefix=CONTINUATION_PREFIX,
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer)
    trained = sorted(tokenizer.get_vocab(with_added_tokens=False).items(), key=lambda kv: kv[1])
    usable = [token for token, _ in trained if _fits_tensorflow_text(token)]
    return from_vocabulary(usable)


def from_vocabulary(tokens: Sequence[str]) -> Tokenizer:
    """The tokenizer over these tokens (id = position; the special tokens must come first)."""
    ids = {token: index for index, token in enumerate(tokens)}
    return _tokenizer(models.WordPiece(vocab=ids, unk_token=UNK_TOKEN, **_WORDPIECE_SETTINGS))


def save_tokenizer(tokenizer: Tokenizer, directory: Path) -> None:
    """`directory`/tokenizer.json (Hugging Face) and `directory`/vocab.txt (one token per line,
    line number = id, for tensorflow-text)."""
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(directory / TOKENIZER_FILE))
    lines = "".join(f"{token}\n" for token in vocabulary(tokenizer))
    (directory / VOCABULARY_FILE).write_bytes(lines.encode("utf-8"))


def load_tokenizer(directory: Path) -> Tokenizer:
    path = directory / TOKENIZER_FILE
    if not path.is_file():
        raise TandemError(f"{path}: no tokenizer there; run the ingest step again")
    return Tokenizer.from_file(str(path))


def vocabulary(tokenizer: Tokenizer) -> list[str]:
    """The tokens in id order."""
    ids = tokenizer.get_vocab(with_added_tokens=False)
    return sorted(ids, key=ids.__getitem__)


def read_vocabulary(directory: Path) -> list[str]:
    """vocab.txt's tokens in id order (no token holds a line break: normalisation and word
    splitting leave none)."""
    path = directory / VOCABULARY_FILE
    if not path.is_file():
        raise TandemError(f"{path}: no vocabulary there; run the ingest step again")
    tokens = path.read_bytes().decode("utf-8").split("\n")[:-1]
    if tuple(tokens[: len(SPECIAL_TOKENS)]) != SPECIAL_TOKENS:
        expected = ", ".join(SPECIAL_TOKENS)
        raise TandemError(f"{path}: the first lines must be {expected}; run the ingest step again")
    return tokens


def token_ids(tokenizer: Tokenizer, texts: Sequence[str], max_length: int) -> np.ndarray:
    """int64 [len(texts), max_length]: per row [CLS], the word pieces cut to `max_length` ids in
    total, then [PAD] (0)."""
    ids = np.full((len(texts), max_length), PAD_ID, dtype=np.int64)
    ids[:, 0] = CLS_ID
    for row, pieces in enumerate(_pieces(tokenizer, texts)):
        kept = pieces[: max_length - 1]
        ids[row, 1 : 1 + len(kept)] = kept
    return ids


def piece_counts(tokenizer: Tokenizer, texts: Sequence[str]) -> tuple[np.ndarray, int]:
    """Per row, how many ids it would have before cutting ([CLS] included, so a row is cut when
    its count exceeds max_length) as int64 [len(texts)]; and how many of all those ids are
    [UNK]."""
    counts = np.ones(len(texts), dtype=np.int64)
    unknown = 0
    for row, pieces in enumerate(_pieces(tokenizer, texts)):
        counts[row] += len(pieces)
        unknown += pieces.count(UNK_ID)
    return counts, unknown


def _pieces(tokenizer: Tokenizer, texts: Sequence[str]) -> list[list[int]]:
    return [e.ids for e in tokenizer.encode_batch_fast(list(texts), add_special_tokens=False)]


_WORDPIECE_SETTINGS = {
    "continuing_subword_prefix": CONTINUATION_PREFIX,
    "max_input_chars_per_word": MAX_WORD_CHARACTERS,
}


def _tokenizer(model: models.WordPiece) -> Tokenizer:
    tokenizer = Tokenizer(model)
    tokenizer.normalizer = normalizers.Sequence(
        [
            normalizers.Replace(Regex(f"[{DROPPED_CHARACTERS}]"), ""),
            normalizers.NFD(),
            normalizers.Replace(Regex(f"[{COMBINING_MARKS}]"), ""),
            normalizers.Lowercase(),
        ]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.WhitespaceSplit(),
            pre_tokenizers.Split(Regex(f"[{SEPARATE_CHARACTERS}]"), behavior="isolated"),
        ]
    )
    return tokenizer


def _continuations(tokenizer: Tokenizer, texts: list[str]) -> list[str]:
    """ "##c" for every character c that can continue a word in `texts`, sorted.

    The trainer numbers the "##c" it makes in hash-map order and breaks ties between equally
    frequent merges by those numbers, so the same texts could give different vocabularies
    (huggingface/tokenizers#1794). Passed to it first, they are numbered in this order instead.
    Every character that is neither whitespace nor split off on its own counts, whether or not
    it follows another in `texts`: an unused "##c" costs one vocabulary slot, a missed one
    brings the hash order back.
    """
    raw: set[str] = set()
    for text in texts:
        raw.update(text)
    # Normalisation works character by character: the distinct characters normalise together.
    characters = sorted(set(tokenizer.normalizer.normalize_str("".join(raw))))
    probes = tokenizer.pre_tokenizer.pre_tokenize_str(" ".join(f"a{c}" for c in characters))
    whole = {word for word, _ in probes}
    return [CONTINUATION_PREFIX + c for c in characters if f"a{c}" in whole]


def _fits_tensorflow_text(token: str) -> bool:
    return len(token.removeprefix(CONTINUATION_PREFIX).encode("utf-8")) <= MAX_TOKEN_BYTES
