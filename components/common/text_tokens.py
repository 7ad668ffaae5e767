"""One WordPiece tokenizer for both frameworks (issue 15 contract): trained at ingest on the train
split, saved in the snapshot, read back by both trainers and the judge.

Special tokens, in id order: [PAD]=0, [UNK]=1, [CLS]=2. A row's ids are [CLS] then its word
pieces, cut to `max_length` ids and padded with [PAD].
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

PAD_ID, UNK_ID, CLS_ID = 0, 1, 2
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]")
TOKENIZER_FILE = "tokenizer.json"
VOCABULARY_FILE = "vocab.txt"
CONTINUATION_PREFIX = "##"


def _untrained() -> Tokenizer:
    tokenizer = Tokenizer(
        models.WordPiece(
            unk_token=SPECIAL_TOKENS[UNK_ID], continuing_subword_prefix=CONTINUATION_PREFIX
        )
    )
    tokenizer.normalizer = normalizers.Sequence(
        [normalizers.NFD(), normalizers.StripAccents(), normalizers.Lowercase()]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece(prefix=CONTINUATION_PREFIX)
    return tokenizer


def train_tokenizer(texts: Iterable[str], vocabulary_size: int) -> Tokenizer:
    """A WordPiece tokenizer with at most `vocabulary_size` tokens, special tokens included."""
    tokenizer = _untrained()
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocabulary_size,
        special_tokens=list(SPECIAL_TOKENS),
        continuing_subword_prefix=CONTINUATION_PREFIX,
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer)
    return tokenizer


def save_tokenizer(tokenizer: Tokenizer, directory: Path) -> None:
    """`tokenizer.json` (Hugging Face) and `vocab.txt` (one token per line, line number = id)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(directory / TOKENIZER_FILE))
    vocabulary = sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])
    (directory / VOCABULARY_FILE).write_text("".join(f"{token}\n" for token, _ in vocabulary))


def load_tokenizer(directory: Path) -> Tokenizer:
    return Tokenizer.from_file(str(Path(directory) / TOKENIZER_FILE))


def token_ids(tokenizer: Tokenizer, texts: Sequence[str], max_length: int) -> np.ndarray:
    """int64 [rows, max_length]: [CLS], the word pieces, cut to max_length, padded with [PAD]."""
    ids = np.full((len(texts), max_length), PAD_ID, dtype=np.int64)
    ids[:, 0] = CLS_ID
    encodings = tokenizer.encode_batch_fast(list(texts), add_special_tokens=False)
    for row, encoding in enumerate(encodings):
        pieces = encoding.ids[: max_length - 1]
        ids[row, 1 : 1 + len(pieces)] = pieces
    return ids
