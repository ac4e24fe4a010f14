"""Frozen test splits: a built-in corpus's test pairs of one day, kept for good.

The Debian corpora are built from apt's live index, which moves from day to
day, so the test split a figure was measured on is gone a month later. A
frozen split is the first `pairs` test pairs of a corpus as prepared on one
day (its *version*, the date), stored in the package (`frozen_tests/`) as one
`{"source", "target"}` JSON object a line, pinned by sha256 in
`frozen_tests/index.json` with the corpus's provenance (`corpus_provenance`:
the source files' checksums, the split sizes, the split rule's version):

    load_corpus("debian_descriptions", "test", version="2026-12-03")
    python -m s2s_keras.data frozen                      # the frozen splits
    python -m s2s_keras.data freeze debian_descriptions  # today's (maintainers)

The same files serve a preset's own frozen pairs (`presets/frozen.py`).
"""

import datetime
import itertools
import json
import pathlib

from s2s_keras.special_tokens import leading_target_tag
from s2s_keras.utils.atomic_files import atomic_write
from s2s_keras.utils.checksums import file_sha256

FOLDER = pathlib.Path(__file__).parent / "frozen_tests"
INDEX = "index.json"
PAIRS = 1000  # the test pairs every recipe scores by default (--eval-pairs)


def write_pairs(path, pairs):
    """Writes `(source, target)` pairs as JSON lines, atomically; returns the sha256."""
    with atomic_write(path) as file:
        for source, target in pairs:
            row = {"source": source, "target": target}
            file.write(json.dumps(row, ensure_ascii=False) + "\n")
    return file_sha256(path)


def read_pinned_pairs(path, sha256):
    """The pairs of a JSON-lines file, once its sha256 is `sha256`.

    Raises:
        ValueError: the file is not there, or is not the one pinned.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise ValueError(f"{path} is missing: the pinned test pairs are gone")
    if file_sha256(path) != sha256:
        raise ValueError(
            f"{path} is not the file that was pinned (sha256 {sha256}): it changed"
        )
    with open(path, encoding="utf-8") as file:
        rows = [json.loads(line) for line in file]
    return [(row["source"], row["target"]) for row in rows]


def corpus_key(name, **options):
    """A corpus with its options, as frozen splits are named: `debian_translations-lang=it`."""
    return "-".join(
        [name, *(f"{key}={value}" for key, value in sorted(options.items()))]
    )


def read_index(folder=None):
    path = pathlib.Path(folder or FOLDER) / INDEX
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def versions(name, folder=None, **options):
    """The frozen versions (dates) of a corpus's test split, oldest first."""
    return sorted(read_index(folder).get(corpus_key(name, **options), {}))


def frozen_entry(name, version, folder=None, **options):
    """`(version, index entry)` of a corpus's frozen test split.

    Args: as `frozen_test_pairs`.

    Returns:
        The version (`"latest"` resolved to the newest date) and its entry in
        `index.json`: file, sha256, pairs and the corpus's provenance.

    Raises:
        ValueError: no such version, naming the versions there are.
    """
    key = corpus_key(name, **options)
    frozen = read_index(folder).get(key, {})
    if version == "latest" and frozen:
        version = max(frozen)
    if version not in frozen:
        raise ValueError(
            f"Invalid value for argument version. Frozen test splits of {key}: "
            f"{sorted(frozen) or 'none'}. Received: version={version!r}"
        )
    return version, frozen[version]


def frozen_test_pairs(name, version, folder=None, **options):
    """A corpus's frozen test pairs of `version`.

    Args:
        name: a built-in corpus, e.g. `"debian_descriptions"`.
        version: the date it was frozen, e.g. `"2026-12-03"`; `"latest"` for
            the newest.
        folder: where frozen splits are kept; None for the package's.
        **options: the corpus's options, e.g. `lang="it"`.

    Returns:
        A list of `(source, target)` strings.

    Raises:
        ValueError: no such version, or its file is not the one pinned.
    """
    _, entry = frozen_entry(name, version, folder, **options)
    return read_pinned_pairs(
        pathlib.Path(folder or FOLDER) / entry["file"], entry["sha256"]
    )


def freeze(name, pairs=PAIRS, folder=None, **options):
    """Freezes today's test split of a built-in corpus: its first `pairs` pairs.

    A multilingual corpus (sources tagged `<2de>` ...) keeps `pairs` pairs of
    each target language (all of a language's, where it has fewer), taken
    in turn, a pair of each language after the other: its first n pairs
    hold every language about equally, and each language's scores are
    measured on as many pairs.

    Returns:
        The index entry: file, sha256, pairs and the corpus's provenance.
        Its version is the date the corpus was prepared.
    """
    from s2s_keras.data.corpora import corpus_provenance
    from s2s_keras.data.corpora import load_corpus

    provenance = corpus_provenance(name, **options)
    version = provenance["prepared"]
    test = load_corpus(name, "test", **options)
    rows = [
        (source.decode("utf-8"), target.decode("utf-8"))
        for source, target in test.as_numpy_iterator()
    ]
    tags = {leading_target_tag(source) for source, _ in rows}
    if tags == {None}:
        rows = rows[:pairs]
    else:
        by_tag = {tag: [] for tag in sorted(tags, key=str)}
        for source, target in rows:
            by_tag[leading_target_tag(source)].append((source, target))
        rows = [
            pair
            for turn in itertools.zip_longest(
                *(found[:pairs] for found in by_tag.values())
            )
            for pair in turn
            if pair is not None
        ]
    return freeze_pairs(corpus_key(name, **options), version, rows, provenance, folder)


def freeze_pairs(key, version, pairs, provenance, folder=None):
    """Writes `pairs` as version `version` of `key` and pins it in the index.

    Returns:
        The index entry: file, sha256, pairs, the day frozen and `provenance`.
    """
    folder = pathlib.Path(folder or FOLDER)
    folder.mkdir(parents=True, exist_ok=True)
    file = f"{key}-{version}.jsonl"
    entry = {
        "file": file,
        "sha256": write_pairs(folder / file, pairs),
        "pairs": len(pairs),
        "frozen": datetime.date.today().isoformat(),
        "provenance": provenance,
    }
    index = read_index(folder)
    index.setdefault(key, {})[version] = entry
    with atomic_write(folder / INDEX) as out:
        json.dump(index, out, indent=2, sort_keys=True)
        out.write("\n")
    return entry
