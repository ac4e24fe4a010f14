"""Out-of-domain summarization pairs: Python packages' descriptions and summaries.

A Python distribution's METADATA holds a one-line `Summary:` and a long
description (its README, in Markdown or reStructuredText). Written by
thousands of authors for PyPI, not by Debian's maintainers for Debian's
index, they test whether a summarizer trained on `debian_descriptions` has
learnt to summarize or only Debian's house style. The pairs are

    source: the long description's opening prose (its first paragraphs of
            running text, up to about 80 words: headings, badges, images,
            HTML, code and tables are skipped; links keep their text)
    target: the Summary line

of every distribution installed where they are built (pip's, and Debian's
`python3-*` packages; not s2s_keras itself), one per project name, sorted
by name. A development
set, never trained on: it chooses settings and is reported beside the
lead-10 baseline. What is installed moves, so the set is used frozen
(`frozen.frozen_test_pairs("python_summaries", VERSION)`; `freeze_pairs`
makes a new version):

    python -m s2s_keras.data freeze python_summaries
"""

import importlib.metadata
import re

NAME = "python_summaries"
MIN_WORDS = 12  # a paragraph shorter than this is a caption or a tagline
LEAD_WORDS = 80  # the source: paragraphs until this many words
MIN_SUMMARY_WORDS = 3

_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")  # [text](url), ![alt](src)
_TAG = re.compile(r"<[^>]+>")  # inline HTML: <br />, <b>
_RST_LINK = re.compile(r"`([^`<]+?)\s*<[^>]+>`_+")  # `text <url>`_
_MARKUP = re.compile(r"\*\*|__|``|`|(?<!\w)\*(?=\w)|(?<=\w)\*(?!\w)")
_NOT_PROSE = re.compile(
    r"^\s*(#|=|-{3}|\*{3}|<|\[!\[|!\[|\.\. |\||```|~~~|>|\$ |pip |import |from )"
)


def _clean(paragraph):
    text = _RST_LINK.sub(r"\1", _LINK.sub(r"\1", _TAG.sub(" ", paragraph)))
    text = _MARKUP.sub("", text)
    return " ".join(text.split())


def _is_prose(paragraph):
    lines = paragraph.strip().splitlines()
    if not lines or any(_NOT_PROSE.match(line) for line in lines[:1]):
        return False
    if len(lines) > 1 and set(lines[1].strip()) <= set("=-~^*#+"):
        return False  # a reStructuredText heading: the title, then its underline
    words = _clean(paragraph).split()
    letters = sum(word.isalpha() for word in words)
    return len(words) >= MIN_WORDS and letters >= len(words) / 2


def lead_text(description, lead_words=LEAD_WORDS):
    """The opening prose of a long description (see the module docstring).

    Returns:
        A string of whole paragraphs, up to about `lead_words` words (the
        first paragraph whole, however long), or `""` if none is prose.
    """
    paragraphs = re.split(r"\n\s*\n", description.replace("\r\n", "\n"))
    kept = []
    for paragraph in paragraphs:
        if _is_prose(paragraph):
            kept.append(_clean(paragraph))
            if sum(len(text.split()) for text in kept) >= lead_words:
                break
        elif kept:
            break  # the opening prose ended
    return " ".join(kept)


def summary_pairs(paths=None):
    """`(opening prose, summary)` of each installed distribution, sorted by name.

    Args:
        paths: the folders to read distributions from; None for `sys.path`.

    Returns:
        `(pairs, versions)`: the pairs, and `{project name: version}` of the
        distributions they come from.
    """
    found = {}
    for distribution in importlib.metadata.distributions(
        **({} if paths is None else {"path": list(paths)})
    ):
        metadata = distribution.metadata
        name = (metadata["Name"] or "").lower().replace("_", "-")
        summary = " ".join((metadata["Summary"] or "").split())
        description = metadata.get_payload() or metadata["Description"] or ""
        if name in ("", "s2s-keras") or name in found or summary.upper() == "UNKNOWN":
            continue
        source = lead_text(description)
        if source and len(summary.split()) >= MIN_SUMMARY_WORDS:
            found[name] = (source, summary, metadata["Version"])
    names = sorted(found)
    pairs = [found[name][:2] for name in names]
    return pairs, {name: found[name][2] for name in names}


def freeze(folder=None):
    """Freezes today's pairs as a version of `python_summaries`; returns its entry.

    Reads the distributions on `sys.path` and Debian's
    `/usr/lib/python3/dist-packages`; the provenance lists each one's version.
    """
    import datetime
    import sys

    from s2s_keras.data.frozen import freeze_pairs

    paths = [*sys.path, "/usr/lib/python3/dist-packages"]
    pairs, versions = summary_pairs(paths)
    today = datetime.date.today().isoformat()
    provenance = {"corpus": NAME, "prepared": today, "sources": versions}
    return freeze_pairs(NAME, today, pairs, provenance, folder)
