"""A preset's frozen test pairs: stored with it, pinned by sha256, scored again.

The built-in corpora are fetched anew on each machine (Debian's index moves
from day to day), so a card's test score, taken on the day's test split,
cannot be reproduced later from the corpus. `freeze` stores the test pairs
of today's split in the preset folder (`test_pairs.jsonl`, one
`{"source", "target"}` object a line) with their sha256, the date and the
corpus's format version in `metadata.json` (`frozen_test`), and the preset's
scores on them; `evaluate` scores the preset on the stored pairs again.

    python -m s2s_keras.presets freeze summarize_debian
    python -m s2s_keras.presets evaluate summarize_debian   # within 0.2, or exit 1
"""

import datetime
import json
import pathlib

from s2s_keras.data.corpora import FORMAT_VERSION
from s2s_keras.data.corpora import corpus_provenance
from s2s_keras.data.frozen import read_pinned_pairs
from s2s_keras.data.frozen import write_pairs
from s2s_keras.data.pairs import open_splits
from s2s_keras.training.config import DataConfig
from s2s_keras.utils.atomic_files import atomic_write

PAIRS_FILE = "test_pairs.jsonl"
TOLERANCE = 0.2  # score points `evaluate` allows against the card


def write_frozen_test(folder, pairs, scores, corpus, provenance=None):
    """Writes `test_pairs.jsonl` into a preset folder; returns `metadata["frozen_test"]`.

    Args:
        folder: the preset folder (or its staging folder).
        pairs: the `(source, target)` pairs its card's scores were taken on.
        scores: those scores, `{metric: value}`.
        corpus: the built-in corpus the pairs came from, or None.
        provenance: the corpus's `corpus_provenance` when the pairs were
            drawn (source checksums, split sizes, split rule), or None.
    """
    sha256 = write_pairs(pathlib.Path(folder) / PAIRS_FILE, pairs)
    return {
        "file": PAIRS_FILE,
        "sha256": sha256,
        "pairs": len(pairs),
        "prepared": datetime.date.today().isoformat(),
        "corpus": corpus,
        "corpus_format_version": FORMAT_VERSION,
        "provenance": provenance,
        "scores": scores,
    }


def freeze(preset, pairs=None):
    """Stores today's test pairs of the preset's corpus and its scores on them.

    Args:
        preset: a `Preset` (`presets.load(NAME)`) whose folder is writable.
        pairs: the `(source, target)` pairs to store; by default the first
            `metadata["scores"]["test_pairs"]` of its corpus's test split.

    Returns:
        `metadata["frozen_test"]`: the file, its sha256, the pair count, the
        date, the corpus and its format version, and the scores.
    """
    metadata = preset.metadata
    corpus = metadata["data"]["corpus"]
    provenance = None
    if pairs is None:
        count = metadata["scores"]["test_pairs"]
        data = DataConfig(corpus=corpus, eval_pairs=count)
        pairs = open_splits(data).take("test")
        provenance = corpus_provenance(corpus)
    scores, _ = preset.score(pairs)
    metadata["frozen_test"] = write_frozen_test(
        preset.directory, pairs, scores, corpus, provenance
    )
    with atomic_write(preset.directory / "metadata.json") as file:
        json.dump(metadata, file, indent=2, ensure_ascii=False)
        file.write("\n")
    return metadata["frozen_test"]


def frozen_pairs(preset):
    """The preset's stored test pairs, once their sha256 is the one recorded.

    Raises:
        ValueError: the preset has no frozen pairs, or the file changed.
    """
    frozen = preset.metadata.get("frozen_test")
    if not frozen:
        raise ValueError(
            f"The preset {preset.name} has no frozen test pairs "
            "(python -m s2s_keras.presets freeze NAME stores them)"
        )
    return read_pinned_pairs(preset.directory / frozen["file"], frozen["sha256"])


def evaluate(preset):
    """Scores the preset on its frozen pairs: `{metric: (card, now)}`."""
    scores, _ = preset.score(frozen_pairs(preset))
    card = preset.metadata["frozen_test"]["scores"]
    return {key: (value, scores[key]) for key, value in card.items()}
