"""The offline stand-in for the toxic comments CSV: plain synthetic sentences with six learnable labels.

Generated in code, the same every time (one fixed seed): neutral sentences about edits and articles,
and for each label a row has, one or two of that label's cue phrases placed among the words. A few
rows carry a cue phrase without its label (decoys), so the task is learnable but not trivially exact.
Labels are correlated as in the real data: every severe_toxic row is also toxic.
"""

from __future__ import annotations

import random

import numpy as np

from trainables.text.corpus import Corpus

SAMPLE_LABELS: tuple[str, ...] = ("toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate")
SAMPLE_SEED = 7_000  # fixes every generated row: the stand-in is one data set, whatever the trial's seed

# Share of rows carrying each label; severe_toxic is a share of the toxic rows.
TOXIC_RATE = 0.25
SEVERE_SHARE_OF_TOXIC = 0.2
OTHER_RATES = {"obscene": 0.14, "threat": 0.05, "insult": 0.14, "identity_hate": 0.05}
DECOY_RATE = 0.04  # rows given one cue phrase of a label they do not carry

CUES: dict[str, tuple[str, ...]] = {
    "toxic": ("stupid", "idiotic", "dumb", "pathetic", "ignorant", "nonsense"),
    "severe_toxic": ("worthless", "disgusting", "vile", "garbage person"),
    "obscene": ("damn", "crap", "freaking", "bloody", "hell"),
    "threat": ("hurt you", "find you", "come after you", "you will regret", "watch your back"),
    "insult": ("loser", "clown", "fool", "coward", "joke"),
    "identity_hate": ("your kind", "those people", "people like you", "that whole group"),
}
SUBJECTS = ("the article", "this edit", "your comment", "the author", "my friend", "the page", "this section",
            "the reviewer", "our team", "the editor", "the source", "that user", "the talk page", "the summary")
VERBS = ("needs", "explains", "mentions", "changes", "removes", "adds", "cites", "describes", "ignores",
         "improves", "questions", "supports", "repeats", "updates")
OBJECTS = ("the history section", "a reliable source", "the references", "the main point", "the photo",
           "the infobox", "the last revision", "the early years", "a better citation", "the timeline",
           "the introduction", "the spelling", "the map", "the discussion")
ENDINGS = ("today", "again", "as usual", "for now", "in my view", "I think", "as discussed", "please",
           "thanks", "before the vote", "after the merge", "on the whole")


def generate_sample(rows: int, seed: int = SAMPLE_SEED, sentences: tuple[int, int] = (1, 3)) -> Corpus:
    """`rows` comments and their six 0/1 labels (columns in SAMPLE_LABELS order); each comment has
    between `sentences[0]` and `sentences[1]` neutral sentences of four phrases (about 9 words)."""
    rng = random.Random(seed)  # Python's generator: its sequence for a seed is stable across versions
    labels = [_draw_labels(rng) for _ in range(rows)]
    texts = [_comment(row, sentences, rng) for row in labels]
    return Corpus(texts, np.array(labels, dtype=np.float32).reshape(rows, len(SAMPLE_LABELS)), SAMPLE_LABELS)


def _draw_labels(rng: random.Random) -> list[bool]:
    toxic = rng.random() < TOXIC_RATE
    severe = toxic and rng.random() < SEVERE_SHARE_OF_TOXIC
    return [toxic, severe, *(rng.random() < OTHER_RATES[name] for name in SAMPLE_LABELS[2:])]


def _comment(labels: list[bool], sentences: tuple[int, int], rng: random.Random) -> str:
    words: list[str] = []
    for _ in range(rng.randint(*sentences)):
        words += [rng.choice(SUBJECTS), rng.choice(VERBS), rng.choice(OBJECTS), rng.choice(ENDINGS)]
    cues = [rng.choice(CUES[name]) for name, on in zip(SAMPLE_LABELS, labels, strict=True) if on for _ in range(rng.randint(1, 2))]
    if rng.random() < DECOY_RATE:
        absent = [name for name, on in zip(SAMPLE_LABELS, labels, strict=True) if not on]
        cues.append(rng.choice(CUES[rng.choice(absent)]))
    for cue in cues:
        words.insert(rng.randint(0, len(words)), cue)
    return " ".join(words)
