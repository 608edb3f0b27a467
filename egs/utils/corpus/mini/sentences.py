"""Varied English sentences for synthetic speakers, from a small seeded grammar."""

import numpy as np

_SUBJECTS = [
    "the old sailor",
    "my neighbour",
    "a small child",
    "the tired doctor",
    "our teacher",
    "the young pilot",
    "a quiet farmer",
    "the brave soldier",
    "her brother",
    "the baker",
    "a friendly dog",
    "the city council",
    "the night guard",
    "his grandmother",
    "a tall man",
]
_VERBS = [
    "painted",
    "carried",
    "found",
    "repaired",
    "opened",
    "counted",
    "followed",
    "watched",
    "described",
    "cleaned",
    "borrowed",
    "delivered",
    "measured",
    "collected",
    "remembered",
]
_OBJECTS = [
    "a yellow boat",
    "the broken clock",
    "seven green bottles",
    "the heavy wooden box",
    "a letter from Paris",
    "the silver key",
    "twelve fresh eggs",
    "the narrow bridge",
    "a map of the island",
    "the red bicycle",
    "an empty basket",
    "the kitchen window",
    "a jar of honey",
    "the morning paper",
    "four blue chairs",
]
_ENDINGS = [
    "before the storm",
    "near the harbour",
    "after a long day",
    "in the cold rain",
    "under the bright moon",
    "without saying a word",
    "at half past nine",
    "on a sunny morning",
    "behind the old church",
    "while the kettle boiled",
    "across the busy street",
    "during the holidays",
    "with great care",
    "next to the river",
    "in the dark cellar",
]
_OPENERS = ["", "", "", "yesterday ", "last winter ", "every sunday ", "suddenly ", "once "]


def sentence(rng: np.random.Generator) -> str:
    """One random sentence (about 2-4 s of speech)."""
    parts = [
        rng.choice(_OPENERS) + rng.choice(_SUBJECTS),
        rng.choice(_VERBS),
        rng.choice(_OBJECTS),
        rng.choice(_ENDINGS),
    ]
    text = " ".join(parts).strip()
    return text[0].upper() + text[1:] + "."
