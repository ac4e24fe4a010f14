"""How often a multilingual corpus's languages are drawn for training.

A corpus of several target languages (`--lang da,de,fr,it,pt_BR`, each
source led by its target's tag, `<2de> ...`) is rarely balanced: Debian has
145,000 Danish pairs and 18,000 Brazilian Portuguese ones. Read as it is,
the small languages get a few percent of the batches. Drawing language `l`
with probability

    p_l ∝ n_l ** (1 / T)

(Arivazhagan et al., 2019, "Massively Multilingual Neural Machine
Translation in the Wild") goes from the corpus's own mix (T = 1) towards
every language equally often (T -> infinity); T = 3 to 5 is usual. The
small languages' pairs are then read more often than the large ones'.

    counts = language_counts(splits.stream("train"))    # {"<2da>": 130841, ...}
    weights = temperature_weights(counts, temperature=3.0)
    pairs = mixed_by_language(lambda: splits.stream("train", seed=0), weights)
"""

import re

import tensorflow as tf

from s2s_keras.special_tokens import TARGET_TAG
from s2s_keras.special_tokens import leading_target_tag

# Longer than any target tag: all of a source that is read to count it.
_TAG_BYTES = 16


def language_counts(pairs, batch_size=8192):
    """The pairs of each target tag in a stream (one pass over its sources).

    Args:
        pairs: a finite `tf.data.Dataset` of `(source, target)` strings.
        batch_size: int, sources read at a time.

    Returns:
        A dict tag -> pairs, e.g. `{"<2da>": 130841, "<2de>": 36265}`, in
        the order the tags are first met; sources without a tag are counted
        under None.
    """
    heads = pairs.map(
        lambda source, target: tf.strings.substr(source, 0, _TAG_BYTES),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    counts = {}
    for batch in heads.batch(batch_size).as_numpy_iterator():
        for head in batch:
            tag = leading_target_tag(head.decode("utf-8", "ignore"))
            counts[tag] = counts.get(tag, 0) + 1
    return counts


def check_language_temperature(name, value):
    """Raise unless `value` is a finite number >= 1; returns it as a float."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not (1.0 <= value < float("inf"))
    ):
        raise ValueError(
            f"Invalid value for argument {name}. Expected a number >= 1 (1: "
            "the corpus's own mix of languages; larger: more even). "
            f"Received: {name}={value!r}"
        )
    return float(value)


def temperature_weights(counts, temperature):
    """Each language's share of the batches, drawn at `temperature`.

    Args:
        counts: dict tag -> training pairs (`language_counts`).
        temperature: float >= 1: 1 keeps the corpus's own mix, larger
            values flatten it towards equal shares.

    Returns:
        A dict tag -> probability, summing to 1, in the order of `counts`.
    """
    temperature = check_language_temperature("temperature", temperature)
    if not counts or None in counts or any(count < 1 for count in counts.values()):
        untagged = counts.get(None, 0) if counts else 0
        raise ValueError(
            "Drawing languages at a temperature needs a multilingual corpus: "
            "every training source led by its target's tag, as "
            "`--lang de,fr,it` makes ('<2de> Show the version and exit.'). "
            f"Received: {untagged} training source(s) without a tag, and "
            f"tags {sorted(tag for tag in counts if tag) if counts else []}"
        )
    scaled = {tag: count ** (1.0 / temperature) for tag, count in counts.items()}
    total = sum(scaled.values())
    return {tag: value / total for tag, value in scaled.items()}


def mixed_by_language(make_stream, weights, seed=None):
    """An endless stream of pairs whose languages come in `weights`' shares.

    Each language is its own filter of the stream, read again and again
    (`make_stream` is called once per language, so each reads its files in
    its own order), and each pair drawn picks a language by `weights`.

    Args:
        make_stream: callable `() -> tf.data.Dataset` of `(source, target)`
            strings, the sources led by target tags.
        weights: dict tag -> probability (`temperature_weights`).
        seed: int or None, the seed of the draws.

    Returns:
        An endless `tf.data.Dataset` of `(source, target)` strings.
    """
    for tag in weights:
        if not isinstance(tag, str) or not TARGET_TAG.fullmatch(tag):
            raise ValueError(
                "Invalid value for argument weights. Expected target tags "
                f"such as '<2de>' as keys. Received: {tag!r}"
            )

    def of_language(tag):
        # What `leading_target_tag` reads: white space, then the tag.
        pattern = r"(?s)\s*" + re.escape(tag) + ".*"
        return (
            make_stream()
            .filter(lambda source, _: tf.strings.regex_full_match(source, pattern))
            .repeat()
        )

    return tf.data.Dataset.sample_from_datasets(
        [of_language(tag) for tag in weights],
        weights=list(weights.values()),
        seed=seed,
    )
