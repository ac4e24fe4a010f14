"""Reserved token ids and strings, defined once for the whole library.

Every vocabulary built by `s2s_keras` starts with these four entries, in this
order, so that id 0 is always padding (and masked by every layer), and a model
can start and stop generation without knowing anything else about the
vocabulary.

| id | token   | meaning                                            |
|----|---------|----------------------------------------------------|
| 0  | `<PAD>` | padding; masked out of attention, loss and metrics |
| 1  | `<UNK>` | a word or piece the vocabulary does not hold       |
| 2  | `<BOS>` | first decoder input: "begin the output sentence"   |
| 3  | `<EOS>` | last decoder target: "the output sentence is done" |

A multilingual model adds a target tag per language (`<2de>`, `<2fr>` ...),
the first piece of each source.
"""

import re

PAD = "<PAD>"
UNK = "<UNK>"
BOS = "<BOS>"
EOS = "<EOS>"

RESERVED_TOKENS = (PAD, UNK, BOS, EOS)

PAD_ID = 0
UNK_ID = 1
BOS_ID = 2
EOS_ID = 3

# A multilingual model's target language is a tag at the start of its source
# (Johnson et al., 2017): "<2de> Show the version and exit." is translated
# into German. Each tag is one piece of the model's vocabulary.
TARGET_TAG = re.compile(r"<2[A-Za-z]{2,3}(?:_[A-Za-z]{2})?>")


def target_tag(language):
    """The tag that asks for `language`: `"de"` -> `"<2de>"`, `"pt_BR"` -> `"<2pt_BR>"`."""
    tag = f"<2{language}>"
    if not isinstance(language, str) or not TARGET_TAG.fullmatch(tag):
        raise ValueError(
            "Invalid value for argument language. Expected a language code "
            f"such as 'de' or 'pt_BR'. Received: language={language!r}"
        )
    return tag


def leading_target_tag(text):
    """The target tag `text` starts with (after white space), or None."""
    found = TARGET_TAG.match(text.lstrip())
    return found.group(0) if found else None


def without_target_tag(text):
    """`text` without the target tag it starts with, if any."""
    tag = leading_target_tag(text)
    return text.lstrip()[len(tag) :].lstrip() if tag else text


def check_target_tags(texts, tags):
    """Raises if a model with target `tags` is given a text without one of them.

    Args:
        texts: the source strings.
        tags: the model's target tags (`SubwordTokenizer.target_tags`); none
            for a model of one target language, which any text suits.

    Raises:
        ValueError: a text does not start with one of `tags`, naming them.
    """
    if not tags:
        return
    for index, text in enumerate(texts):
        if leading_target_tag(text) not in tags:
            raise ValueError(
                f"{tags_expected(tags)} (for example '{sorted(tags)[0]} Show "
                f"the version and exit.'). Received: texts[{index}]={text[:80]!r}"
            )


def tags_expected(tags):
    """What a model with target `tags` asks of its texts, in words."""
    return (
        "This model translates into several languages: start each text with "
        f"the tag of one, {' '.join(sorted(tags))}"
    )
