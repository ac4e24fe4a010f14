"""Built-in corpora: prepared once, cached, loaded by name.

| name                  | task               | pairs                               |
|-----------------------|--------------------|-------------------------------------|
| `debian_descriptions` | summarization      | package description -> its synopsis |
| `debian_translations` | translation        | English description -> translation  |
| `bible_kjv_web`       | paraphrase         | King James verse -> WEB verse       |
| `wordnet_definitions` | question answering | "What is <lemma>?" -> WordNet gloss |

Each corpus is built from what this machine's package tools can fetch,
split deterministically into train / validation / test (by source package
family, Bible book or synset; groups that share a text are kept together, so
no source text, with case, white space and digits folded, is in two splits),
and written as JSONL under `$S2S_KERAS_DATA` or `~/.cache/s2s_keras`, one
file at a time, atomically.
"""

import json
import sys

from s2s_keras.atomic_files import atomic_write
from s2s_keras.data import bible
from s2s_keras.data import debian
from s2s_keras.data import wordnet
from s2s_keras.data.cache import cache_dir
from s2s_keras.data.files import load_pairs
from s2s_keras.data.splits import SPLITS

MANIFEST = "manifest.json"
FORMAT_VERSION = 3  # raised whenever preparation changes: old caches are rebuilt


def _debian_translations(lang="it", log=print):
    return debian.translation_pairs(lang, log=log)


CORPORA = {
    "debian_descriptions": debian.description_pairs,
    "debian_translations": _debian_translations,
    "bible_kjv_web": bible.verse_pairs,
    "wordnet_definitions": wordnet.definition_pairs,
}


def _folder_name(name, options):
    settings = [f"{key}={value}" for key, value in sorted(options.items())]
    return "-".join([name, *settings, f"v{FORMAT_VERSION}"])


def _log(message):
    print(message, file=sys.stderr, flush=True)


def prepare_corpus(name, log=_log, **options):
    """Builds a corpus's split files in the cache, unless they are there.

    Args:
        name: a key of `CORPORA`.
        log: callable for progress messages.
        **options: the corpus's options, e.g. `lang="fr"`.

    Returns:
        The corpus folder (`pathlib.Path`), holding `train.jsonl`,
        `validation.jsonl`, `test.jsonl` and `manifest.json` (the counts).
    """
    if name not in CORPORA:
        raise ValueError(
            f"Unknown corpus {name!r}. Built-in corpora: {sorted(CORPORA)}. "
            "For your own data pass --data FILE."
        )
    folder = cache_dir("corpora", _folder_name(name, options))
    if (folder / MANIFEST).is_file():
        return folder
    log(f"Preparing corpus {name} (once; cached in {folder}) ...")
    splits = CORPORA[name](log=log, **options)
    for split in SPLITS:
        with atomic_write(folder / f"{split}.jsonl") as file:
            for row in splits[split]:
                file.write(json.dumps(row, ensure_ascii=False) + "\n")
    counts = {split: len(splits[split]) for split in SPLITS}
    with atomic_write(folder / MANIFEST) as file:  # written last: marks completion
        json.dump({"name": name, "options": options, "pairs": counts}, file, indent=2)
    log(f"Prepared {name}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return folder


def load_corpus(name, split="train", log=_log, **options):
    """A built-in corpus split as a `tf.data.Dataset` of `(source, target)` strings.

    Args:
        name: a built-in corpus: `"debian_descriptions"`,
            `"debian_translations"`, `"bible_kjv_web"` or
            `"wordnet_definitions"`.
        split: `"train"`, `"validation"` or `"test"`.
        log: callable for progress messages.
        **options: the corpus's options, e.g. `lang="fr"` for translations.

    Returns:
        A `tf.data.Dataset` of pairs of scalar `tf.string` tensors.
    """
    if split not in SPLITS:
        raise ValueError(
            f"Invalid value for argument split. Expected one of {list(SPLITS)}. "
            f"Received: split={split!r}"
        )
    folder = prepare_corpus(name, log=log, **options)
    return load_pairs(folder / f"{split}.jsonl", log=log)
