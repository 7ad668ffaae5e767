"""A small text corpus for the tokenizer tests, generated, so nothing is downloaded: a few hundred
short sentences over a fixed word list in several scripts, and held-out sentences built around
a word the training sentences never use."""

from __future__ import annotations

import random

TRAINING_WORDS = (
    "the", "model", "learns", "tokens", "from", "short", "sentences", "every", "epoch", "river",
    "mountain", "garden", "running", "jumped", "quickly", "over", "lazy", "dogs", "and", "cats",
    "café", "naïve", "Straße", "Istanbul", "Москва", "ёлка", "Ελλάδα", "οδός", "東京", "日本",
    "😀", "42", "3.14", "https://example.com/path", "don't", "well-known",
)  # fmt: skip
FREQUENT_WORDS = ("the", "model", "learns", "garden", "running")
HELD_OUT_WORD = "zygomorphic"


def training_sentences(count: int = 400) -> list[str]:
    """`count` sentences of 7 to 15 training words, three of them FREQUENT_WORDS."""
    rng = random.Random(15)
    sentences = []
    for _ in range(count):
        words = rng.choices(TRAINING_WORDS, k=rng.randint(4, 12))
        words += rng.sample(FREQUENT_WORDS, k=3)
        rng.shuffle(words)
        sentence = " ".join(words)
        sentences.append(sentence[0].upper() + sentence[1:] + rng.choice(".!?"))
    return sentences


def held_out_sentences(count: int = 100) -> list[str]:
    """`count` sentences that all use HELD_OUT_WORD, several times."""
    rng = random.Random(16)
    return [
        " ".join([HELD_OUT_WORD, *rng.choices(TRAINING_WORDS, k=5), HELD_OUT_WORD] * 2)
        for _ in range(count)
    ]
