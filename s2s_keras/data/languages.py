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
small languages' pairs are then repeated, the large ones' skipped at times.

    counts = language_counts(splits.stream("train"))    # {"<2da>": 130841, ...}
    weights = temperature_weights(counts, temperature=3.0)
    pairs = resampled_by_language(splits.stream("train", seed=0), counts, weights)
"""

import tensorflow as tf

from s2s_keras.special_tokens import TARGET_TAG
from s2s_keras.special_tokens import leading_target_tag
from s2s_keras.utils.checks import check_language_temperature

# Longer than any target tag: all of a source that is read to count it.
_TAG_BYTES = 16
# `leading_target_tag` in RE2, for tf.strings: white space, then the tag.
_LEADING_TAG = r"(?s)^\s*(" + TARGET_TAG.pattern + r").*$"


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


def resampled_by_language(pairs, counts, weights, seed=None):
    """A pass over `pairs` whose languages come in `weights`' shares.

    Each pair is kept a random number of times, `rate` on average: its
    language's share asked for over its share of `counts` (a Portuguese pair
    of a 5% language asked at 16% comes about 3 times, a Danish pair of a
    35% language asked at 23% two times out of three). The stream is read
    once per pass, whatever the weights; the copies come one after the
    other, for a shuffle after this to spread. Each pass draws anew.

    Args:
        pairs: a `tf.data.Dataset` of `(source, target)` strings, the
            sources led by target tags.
        counts: dict tag -> pairs in a pass (`language_counts`).
        weights: dict tag -> share asked for (`temperature_weights`).
        seed: int or None, the seed of the draws.

    Returns:
        A `tf.data.Dataset` of `(source, target)` strings, about as many
        per pass as `pairs` has (a pair of a tag not in `counts` is kept
        once).
    """
    for tag in weights:
        if not isinstance(tag, str) or not TARGET_TAG.fullmatch(tag):
            raise ValueError(
                "Invalid value for argument weights. Expected target tags "
                f"such as '<2de>' as keys. Received: {tag!r}"
            )
    total = sum(counts.values())
    rates = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(
            list(weights),
            [weights[tag] * total / counts[tag] for tag in weights],
            value_dtype=tf.float32,
        ),
        default_value=1.0,
    )
    draws = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).map(
        lambda bits: tf.cast(bits % (1 << 24), tf.float32) / (1 << 24)  # [0, 1)
    )

    def copies(pair, draw):
        head = tf.strings.substr(pair[0], 0, _TAG_BYTES)
        tag = tf.strings.regex_replace(head, _LEADING_TAG, r"\1")
        rate = rates.lookup(tag)
        times = tf.floor(rate) + tf.cast(draw < rate - tf.floor(rate), tf.float32)
        return tf.data.Dataset.from_tensors(pair).repeat(tf.cast(times, tf.int64))

    return tf.data.Dataset.zip((pairs, draws)).flat_map(copies)
