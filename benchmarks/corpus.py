"""Seeded generator of real-looking English prose, for the accuracy and speed benchmarks.

Words are drawn from English word frequencies (the ``wordfreq`` package's top 20,000 words, Zipf
weighted); sentences have realistic lengths, capitals, commas and full stops, and paragraphs break
every few sentences. Stock phrases ("on the other side of the", "subscribe to my channel") are
woven in at the rate they occur in real prose, and some texts carry a shared licence or outro
paragraph, so precision is measured against the phrases that fool naive matchers.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import cache

import numpy as np

STOCK_PHRASES = (
    "on the other side of the",
    "walked up and down the room",
    "at the end of the day",
    "in the middle of the night",
    "for the first time in years",
    "as a matter of fact",
    "it goes without saying that",
    "on the one hand",
    "on the other hand",
    "at the same time",
    "for the rest of the week",
    "in the first place",
    "there is no doubt that",
    "as far as I can tell",
    "the rest of the world",
    "by the end of the year",
    "in one way or another",
    "more often than not",
    "all of a sudden",
    "for what it is worth",
    "if you know what I mean",
    "subscribe to my channel",
    "thanks for watching",
    "let me know in the comments",
    "don't forget to like and subscribe",
    "hit the bell icon",
    "in this video I want to",
    "without further ado",
)

BOILERPLATE = (
    (
        "This work is licensed under a Creative Commons Attribution 4.0 International License. You are free to "
        "share and adapt the material for any purpose, even commercially, as long as you give appropriate credit, "
        "provide a link to the license, and indicate if changes were made."
    ),
    (
        "Thanks for watching this video. If you enjoyed it, please subscribe to my channel and hit the bell icon so "
        "you never miss a new upload, and let me know in the comments what you would like me to cover next time."
    ),
    (
        "All rights reserved. No part of this publication may be reproduced, distributed, or transmitted in any "
        "form or by any means without the prior written permission of the publisher, except for brief quotations."
    ),
)


@cache
def vocabulary() -> tuple[list[str], np.ndarray]:
    """The 20,000 most frequent English words and their sampling probabilities."""
    import wordfreq  # noqa: PLC0415 - only the benchmarks and their test need it

    words = [w for w in wordfreq.top_n_list("en", 20000) if w.isalpha() or "'" in w]
    weights = np.array([10 ** wordfreq.zipf_frequency(w, "en") for w in words])
    return words, weights / weights.sum()


@dataclass
class Prose:
    """A generator of prose from one seed."""

    seed: int
    stock_rate: float = 0.12
    boilerplate_rate: float = 0.15

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.np_rng = np.random.default_rng(self.seed)
        self.words, self.probs = vocabulary()

    def _draw(self, n: int) -> list[str]:
        idx = self.np_rng.choice(len(self.words), size=n, p=self.probs)
        return [self.words[i] for i in idx]

    def sentence(self) -> str:
        """One sentence, sometimes with a stock phrase inside."""
        n = max(4, min(45, int(self.rng.gauss(18, 7))))
        words = self._draw(n)
        if self.rng.random() < self.stock_rate:
            pos = self.rng.randrange(len(words))
            words[pos:pos] = self.rng.choice(STOCK_PHRASES).split()
        for _ in range(self.rng.choice((0, 0, 1, 1, 2))):
            pos = self.rng.randrange(1, len(words))
            words[pos - 1] += ","
        words[0] = words[0][:1].upper() + words[0][1:]
        return " ".join(words) + self.rng.choice((".", ".", ".", ".", "?", "!"))

    def text(self, n_words: int) -> str:
        """About ``n_words`` words of paragraphs; some end with a shared boilerplate paragraph."""
        paragraphs: list[str] = []
        count = 0
        while count < n_words:
            sentences = [self.sentence() for _ in range(self.rng.randint(3, 7))]
            paragraphs.append(" ".join(sentences))
            count += sum(len(s.split()) for s in sentences)
        if self.rng.random() < self.boilerplate_rate:
            paragraphs.append(self.rng.choice(BOILERPLATE))
        return "\n\n".join(paragraphs)

    def fast_text(self, n_words: int) -> str:
        """``n_words`` words drawn at once, with sentence ends every 18 words or so (for scale runs)."""
        words = self._draw(n_words)
        for i in range(17, n_words, 18):
            words[i] += "."
        return " ".join(words)

    def edit(self, words: list[str], rate: float) -> list[str]:
        """Substitute, delete or insert ``rate`` of the words (a third each), at random places."""
        out = list(words)
        n_edits = round(rate * len(words))
        for _ in range(n_edits):
            op = self.rng.choice(("sub", "del", "ins"))
            pos = self.rng.randrange(len(out))
            if op == "sub":
                out[pos] = self._draw(1)[0]
            elif op == "del" and len(out) > 1:
                del out[pos]
            else:
                out.insert(pos, self._draw(1)[0])
        return out
