"""Corpora from Debian's package descriptions, fetched with apt.

Every Debian package has a one-line synopsis and a long description, written
by its maintainer, and most descriptions are translated by Debian's
translation teams. apt's index files hold them all:

- `Packages`: one stanza per binary package, with `Source:` (the source
  package it is built from) and `Description-md5:` (which description it has);
- `Translation-LANG`: one stanza per description, keyed by `Description-md5`,
  whose `Description-LANG:` field is the synopsis, then the long description
  in Debian's markup (" ." for a paragraph break, lines indented by two spaces
  kept verbatim).

This machine's apt configuration may not fetch `Translation-*` files
(`Acquire::Languages "none"`), so `fetch_apt_indexes` runs `apt-get update`
into a folder of the s2s_keras cache, with its own lists, cache and languages:
the system's apt state is not touched and no root is needed.
"""

import os
import shutil
import subprocess

from s2s_keras.data.cache import cache_dir
from s2s_keras.data.cache import exclusive_lock
from s2s_keras.data.splits import grouped_splits
from s2s_keras.data.splits import text_key
from s2s_keras.data.splits import without_version
from s2s_keras.special_tokens import target_tag
from s2s_keras.special_tokens import without_target_tag
from s2s_keras.utils.checksums import files_sha256

APT_HELPER = "/usr/lib/apt/apt-helper"
NO_APT_HINT = (
    "Pass your own data with --data FILE (JSONL, TSV or CSV) or a TensorFlow "
    "Datasets set with --tfds NAME instead."
)


def translation_files(lists, language):
    """`lists`' `Translation-LANG` files of `language`.

    apt escapes `_` in its list file names: `pt_BR`'s are `Translation-pt%5fBR`.
    """
    name = f"*_i18n_Translation-{language.replace('_', '%5f')}"
    return sorted([*lists.glob(name), *lists.glob(f"{name}.*")])


def fetched_languages(lists):
    """The languages whose `Translation-LANG` files are in `lists`."""
    return {
        path.name.split("_i18n_Translation-")[1].split(".")[0].replace("%5f", "_")
        for path in lists.glob("*_i18n_Translation-*")
    }


def fetch_apt_indexes(languages=("en",), log=print):
    """Fetches apt's `Packages` and `Translation-*` index files into the cache.

    Args:
        languages: description languages to fetch, e.g. `("en", "it")`.
        log: callable for progress messages.

    Returns:
        The folder (`pathlib.Path`) holding the index files.

    Raises:
        ValueError: apt is not available here, or `apt-get update` failed.
    """
    if shutil.which("apt-get") is None or not os.path.exists(APT_HELPER):
        raise ValueError(
            "The Debian corpora are read from apt's index files, but this "
            f"machine has no apt (apt-get and {APT_HELPER} not found). " + NO_APT_HINT
        )
    root = cache_dir("apt")
    lists = root / "lists"
    (lists / "partial").mkdir(parents=True, exist_ok=True)
    (root / "cache" / "archives" / "partial").mkdir(parents=True, exist_ok=True)
    command = [
        "apt-get",
        "update",
        "-o",
        f"Dir::State::Lists={lists}",
        "-o",
        f"Dir::Cache={root / 'cache'}",
        "-o",
        # apt deletes the lists of languages it is not asked for: the ones
        # fetched before are asked for again, for the corpora built from them.
        f"Acquire::Languages={','.join(sorted({*languages, *fetched_languages(lists)}))}",
        "-o",
        "Debug::NoLocking=1",
    ]
    if os.geteuid() != 0:
        # As a normal user apt cannot switch to its sandbox user.
        command += ["-o", "APT::Sandbox::User="]
    log(f"Fetching apt index files ({', '.join(languages)}) into {lists} ...")
    # apt's own lock is off (it needs root), so this one keeps two recipes
    # from updating the same lists at once and corrupting each other's files.
    with exclusive_lock(root / "update.lock"):
        result = subprocess.run(command, capture_output=True, text=True)
        missing = [
            language for language in languages if not translation_files(lists, language)
        ]
        has_packages = bool(list(lists.glob("*_Packages*")))
    if result.returncode != 0 or missing or not has_packages:
        raise ValueError(
            "Could not fetch apt's index files "
            f"(exit code {result.returncode}; no Translation file for "
            f"{missing or 'none missing'}): {result.stderr.strip()[-500:]}\n"
            + NO_APT_HINT
        )
    return lists


def index_checksums(languages=("en",)):
    """`{file: sha256}` of the apt index files a Debian corpus is read from.

    The `Packages` files and the `Translation-LANG` files of `languages` in
    the cache's lists folder, as `fetch_apt_indexes` left them: the data's
    provenance, for a corpus's manifest and a model card.
    """
    lists = cache_dir("apt") / "lists"
    paths = [*lists.glob("*_Packages*")]
    for language in languages:
        paths += translation_files(lists, language)
    return files_sha256(paths)


def read_stanzas(path):
    """Yields each stanza of a (possibly compressed) apt index file as a dict.

    A field's continuation lines are kept, with their one leading space
    removed, after a newline.
    """
    process = subprocess.Popen(
        [APT_HELPER, "cat-file", str(path)],
        stdout=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        errors="replace",
    )
    stanza, field = {}, None
    for line in process.stdout:
        line = line.rstrip("\n")
        if not line:
            if stanza:
                yield stanza
            stanza, field = {}, None
        elif line[0] in " \t" and field is not None:
            stanza[field] += "\n" + line[1:]
        elif ":" in line:
            field, value = line.split(":", 1)
            stanza[field] = value.strip()
    if stanza:
        yield stanza
    if process.wait() != 0:
        raise ValueError(f"{APT_HELPER} cat-file could not read {path}")


def description_paragraphs(long_description):
    """Debian description markup -> plain-text paragraphs.

    A line "." separates paragraphs; a line indented by a further space is
    verbatim (kept on its own line); other lines are wrapped prose, joined
    with spaces.
    """
    paragraphs, lines = [], []
    for line in long_description.split("\n"):
        if line.strip() == ".":
            paragraphs.append("\n".join(lines))
            lines = []
        elif line.startswith(" "):
            lines.append(line.strip())  # verbatim
        elif lines and not lines[-1].endswith("\n"):
            lines[-1] = f"{lines[-1]} {line.strip()}"
        else:
            lines.append(line.strip())
    paragraphs.append("\n".join(lines))
    return [paragraph.strip() for paragraph in paragraphs if paragraph.strip()]


def source_packages(lists):
    """Maps Description-md5 to the (alphabetically first) source package family.

    The family is the source package's name without its version numbers
    (`without_version`): `gcc-13` and `gcc-14` describe their packages in
    words that differ only in the number, and are split together.
    """
    sources = {}
    for path in sorted(lists.glob("*_Packages*")):
        for stanza in read_stanzas(path):
            md5 = stanza.get("Description-md5")
            if not md5:
                continue
            source = stanza.get("Source", stanza["Package"]).split(" ")[0]
            source = without_version(source)
            sources[md5] = min(source, sources.get(md5, source))
    return sources


def descriptions(lists, language):
    """Maps Description-md5 to (synopsis, [paragraphs]) in `language`."""
    found = {}
    for path in translation_files(lists, language):
        for stanza in read_stanzas(path):
            text = stanza.get(f"Description-{language}")
            if text is None or "Description-md5" not in stanza:
                continue
            synopsis, _, long_description = text.partition("\n")
            found[stanza["Description-md5"]] = (
                synopsis.strip(),
                description_paragraphs(long_description),
            )
    return found


def description_pairs(log=print):
    """(long description, synopsis) pairs, split by source package.

    Returns:
        A dict split name -> list of `{"source", "target", "group"}` dicts
        (group: the source package), without duplicate pairs, sorted.
    """
    lists = fetch_apt_indexes(("en",), log=log)
    log("Reading package descriptions ...")
    sources = source_packages(lists)
    english = descriptions(lists, "en")
    rows = (
        {
            "source": "\n".join(paragraphs),
            "target": synopsis,
            "group": sources.get(md5, md5),
        }
        for md5, (synopsis, paragraphs) in english.items()
    )
    return grouped_splits(rows)


def translation_pairs(language, log=print):
    """English -> `language` pairs: synopses, and paragraphs where they align.

    Paragraphs are paired one to one only where both sides of a description
    have the same number of paragraphs. Several languages, `"de,fr,it"`, make
    a multilingual corpus (`multilingual_pairs`).

    Returns:
        A dict split name -> list of `{"source", "target", "group"}` dicts.
    """
    if "," in language:
        return multilingual_pairs(language.split(","), log=log)
    lists, english, sources = _english(language, log)
    return grouped_splits(_aligned(english, _translated(lists, language), sources))


def multilingual_pairs(languages, log=print):
    """English -> several languages, the target's tag first in each source.

    `"<2de> Show the version and exit."` -> `"Zeigt die Version und beendet."`:
    one model learns every direction, and the tag chooses (Johnson et al.,
    2017). An English text is in one split whatever the language it is
    paired with (its tag is left out when splits are drawn).

    Args:
        languages: two or more of Debian's translation languages, e.g.
            `["de", "fr", "it"]`.

    Returns:
        A dict split name -> list of `{"source", "target", "group"}` dicts.
    """
    if len(set(languages)) != len(languages) or len(languages) < 2:
        raise ValueError(
            "Invalid value for argument lang. Expected two or more different "
            f"languages, such as 'de,fr,it'. Received: lang={','.join(languages)!r}"
        )
    lists, english, sources = _english(",".join(languages), log)
    rows = []
    for language in languages:
        tag = target_tag(language)
        rows += [
            {**row, "source": f"{tag} {row['source']}"}
            for row in _aligned(english, _translated(lists, language), sources)
        ]
    return grouped_splits(
        rows, source_key=lambda text: text_key(without_target_tag(text))
    )


def _english(language, log):
    """Fetches English and `language` (`"it"`, or `"de,fr"`); the English side."""
    languages = language.split(",")
    if "en" in languages:
        raise ValueError(
            "Invalid value for argument lang. Expected a language other "
            "than English, such as 'it', 'fr' or 'de'. Received: lang='en'"
        )
    lists = fetch_apt_indexes(("en", *languages), log=log)
    log(f"Reading English and {language!r} package descriptions ...")
    return lists, descriptions(lists, "en"), source_packages(lists)


def _translated(lists, language):
    translated = descriptions(lists, language)
    if not translated:
        raise ValueError(
            f"apt has no package descriptions in language {language!r}. "
            "Debian translates descriptions into, among others: it, fr, de, "
            "es, pt_BR, ru, ja, da, nl, pl, sv, uk, zh_CN."
        )
    return translated


def _aligned(english, translated, sources):
    """Rows of English -> translated synopses and aligned paragraphs."""
    for md5, (synopsis, paragraphs) in translated.items():
        if md5 not in english:
            continue
        english_synopsis, english_paragraphs = english[md5]
        group = sources.get(md5, md5)
        yield {"source": english_synopsis, "target": synopsis, "group": group}
        if len(paragraphs) == len(english_paragraphs):
            for source, target in zip(english_paragraphs, paragraphs, strict=True):
                yield {"source": source, "target": target, "group": group}
