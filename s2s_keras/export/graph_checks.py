"""Checks of a SavedModel's inputs, inside its graph.

Each returns its input once it holds, and otherwise fails the call with an
`InvalidArgumentError` whose message says what was expected and what was
received (the server turns it into a 400 answer): nothing out of range
reaches a gather or a loop bound.
"""

import re

import tensorflow as tf

from s2s_keras.special_tokens import tags_expected


def checked_ids(ids, vocab_size, name):
    """`ids`, once every one is in 0..vocab_size - 1 (else InvalidArgumentError)."""
    valid = tf.logical_and(ids >= 0, ids < vocab_size)
    expected = f"{name} must be token ids in 0..{vocab_size - 1}"
    return _checked(ids, valid, expected)


def checked_tags(text, tags):
    """`text`, once every row starts with one of `tags` (else InvalidArgumentError)."""
    pattern = r"(?s)\s*(?:" + "|".join(re.escape(tag) for tag in tags) + ").*"
    return _checked(
        text, tf.strings.regex_full_match(text, pattern), tags_expected(tags)
    )


def _checked(values, valid, expected):
    """`values`, once all of `valid` holds; else an error naming the first bad one."""
    first_bad = tf.boolean_mask(values, tf.logical_not(valid))[:1]
    check = tf.debugging.Assert(
        tf.reduce_all(valid), [f"{expected}. Received:", first_bad]
    )
    with tf.control_dependencies([check]):
        return tf.identity(values)


def checked_settings(rules):
    """The settings, once each is finite and in its range (else InvalidArgumentError).

    Args:
        rules: `{name: (value, valid, expected)}`: a scalar tensor, whether
            it is in range (a bool tensor), and the range in words.

    Returns:
        The values, in the order of `rules`.
    """
    checks = []
    for name, (value, valid, expected) in rules.items():
        if value.dtype.is_floating:
            valid = tf.logical_and(valid, tf.math.is_finite(value))
        message = f"generate: {name} must be {expected}. Received: {name} ="
        checks.append(tf.debugging.Assert(valid, [message, value]))
    with tf.control_dependencies(checks):
        return [tf.identity(value) for value, _, _ in rules.values()]


def valid_utf8(text):
    """Invalid UTF-8 bytes replaced by U+FFFD: every input gets an answer."""
    return tf.strings.unicode_transcode(
        text, "UTF-8", "UTF-8", errors="replace", replacement_char=0xFFFD
    )
