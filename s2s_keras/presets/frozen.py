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
import hashlib
import json

from s2s_keras.data.corpora import FORMAT_VERSION
from s2s_keras.data.pairs import open_splits
from s2s_keras.training.config import DataConfig
from s2s_keras.utils.atomic_files import atomic_write

PAIRS_FILE = "test_pairs.jsonl"
TOLERANCE = 0.2  # score points `evaluate` allows against the card


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
    if pairs is None:
        count = metadata["scores"]["test_pairs"]
        data = DataConfig(corpus=metadata["data"]["corpus"], eval_pairs=count)
        pairs = open_splits(data).take("test")
    text = "".join(
        json.dumps({"source": source, "target": target}, ensure_ascii=False) + "\n"
        for source, target in pairs
    )
    with atomic_write(preset.directory / PAIRS_FILE) as file:
        file.write(text)
    scores, _ = preset.score(pairs)
    frozen = {
        "file": PAIRS_FILE,
        "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
        "pairs": len(pairs),
        "prepared": datetime.date.today().isoformat(),
        "corpus": metadata["data"]["corpus"],
        "corpus_format_version": FORMAT_VERSION,
        "scores": scores,
    }
    metadata["frozen_test"] = frozen
    with atomic_write(preset.directory / "metadata.json") as file:
        json.dump(metadata, file, indent=2)
        file.write("\n")
    return frozen


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
    data = (preset.directory / frozen["file"]).read_bytes()
    if hashlib.sha256(data).hexdigest() != frozen["sha256"]:
        raise ValueError(
            f"{preset.directory / frozen['file']} is not the file its metadata "
            f"pins (sha256 {frozen['sha256']}): it changed"
        )
    rows = [json.loads(line) for line in data.decode("utf-8").splitlines()]
    return [(row["source"], row["target"]) for row in rows]


def evaluate(preset):
    """Scores the preset on its frozen pairs: `{metric: (card, now)}`."""
    scores, _ = preset.score(frozen_pairs(preset))
    card = preset.metadata["frozen_test"]["scores"]
    return {key: (value, scores[key]) for key, value in card.items()}
