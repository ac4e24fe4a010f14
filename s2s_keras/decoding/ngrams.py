"""N-gram blocking's bookkeeping: which tokens would complete a repeated n-gram.

`Controls` (`controls.py`) keeps, for each row, how far its output matches
each shift of itself (`extend_runs`, one token at a time), and asks
`repeated_ngram_ends` at every step which earlier tokens may not come next;
word n-grams follow the rules in `controls.py`'s docstring. Everything is
`(rows, L)`: a step costs O(rows x L) time and memory whatever n and L.
"""

import tensorflow as tf


def extend_runs(history, runs, tokens, step):
    """The shift matches `runs` `(rows, L)` after `tokens` `(rows,)` at `step`.

    The text's match with its d-shift grows by one where the new token
    equals the one d positions before it, and starts over elsewhere.
    """
    before = banned_tokens(history, step)  # (rows, L): the token at t - d
    shifts = tf.range(1, tf.shape(runs)[1] + 1)
    same = tf.logical_and(tf.equal(before, tokens[:, None]), (step - shifts >= 0)[None])
    return tf.where(same, runs + 1, 0)


def repeated_ngram_ends(history, runs, step, n, word_starts, final):
    """Which earlier n-grams the next token would repeat, by shift.

    For each row and each shift d = 1..L, the counterpart of the next token
    is the one written d positions earlier, at c = t - d. Writing the token
    at c again completes a repeat when the d-shifted text matches the
    current n-gram so far.

    Args:
        history: int32 `(rows, L)`, the tokens written (0 from `step` on).
        runs: int32 `(rows, L)`, the text's matches with its shifts
            (`Written.runs`).
        step: int32 scalar t.
        n: int32 scalar >= 1.
        word_starts: bool `(vocab,)`, or None when every piece is a word.
        final: bool scalar, whether the token chosen now is the output's
            last (words then end with it).

    Returns:
        `(banned (rows, L), ban_word_starts (rows,))`: `banned[r, d - 1]`
        says the token at t - d may not come next; `ban_word_starts` that
        no word may start (nor `<EOS>` come): the current word would
        complete a repeated n-gram.
    """
    length = tf.shape(history)[1]
    positions = tf.range(length)
    written = positions < step  # (L,)
    if word_starts is None:
        starts = tf.broadcast_to(written[None, :], tf.shape(history))
    else:
        starts = tf.logical_or(tf.gather(word_starts, history), positions[None] == 0)
        starts = tf.logical_and(starts, written[None, :])  # (rows, L)
    # Word starts in [i, t), to find the k-th last one.
    starts_from = tf.cumsum(tf.cast(starts, tf.int32), axis=1, reverse=True)

    def start_of(k):
        """The k-th last word start (rows,); t for k = 0; -1 if there is none."""
        found = tf.logical_and(starts, tf.equal(starts_from, k))
        position = tf.reduce_max(tf.where(found, positions, -1), axis=1)
        return tf.where(tf.equal(k, 0), step, position)

    shifts = tf.range(1, length + 1)  # (D,) = (L,)

    def matches(span_start):
        """(rows, D): [p, p + t - a) equals [a, t), p = a - d a word start."""
        span_start = span_start[:, None]
        p = span_start - shifts[None, :]
        starts_at_p = tf.gather(starts, tf.maximum(p, 0), batch_dims=1)
        return tf.logical_and(
            tf.logical_and(p >= 0, runs >= step - span_start), starts_at_p
        )

    counterpart = step - shifts  # (D,): c = t - d
    start_at_c = tf.gather(starts, tf.maximum(counterpart, 0), axis=1)  # (rows, D)
    if word_starts is None:
        complete_at_c = complete_before_now = tf.ones_like(start_at_c)
    else:  # the earlier word ends at c: a word starts at c + 1 ...
        after = tf.clip_by_value(counterpart + 1, 0, length - 1)
        complete_at_c = tf.logical_and(
            tf.gather(starts, after, axis=1), (counterpart + 1 < step)[None, :]
        )
        complete_at_c = tf.logical_and(complete_at_c, final)
        # ... or at t, where the next token starts one (the current word at
        # c = t - 1 then ends too).
        complete_before_now = tf.logical_or(
            complete_at_c, tf.logical_and(tf.equal(counterpart + 1, step), final)
        )
    # The next token starts a new (one-piece) word that ends the n-gram ...
    if word_starts is None:
        token_starts_word = start_at_c
    else:  # by its id: at c = 0 a piece that continues words starts the output
        token_starts_word = tf.gather(word_starts, banned_tokens(history, step))
    new_word = tf.logical_and(matches(start_of(n - 1)), token_starts_word)
    new_word = tf.logical_and(new_word, complete_before_now)
    # ... or continues the current word, which ends the n-gram.
    same_word = tf.logical_and(matches(start_of(n)), tf.logical_not(start_at_c))
    same_word = tf.logical_and(same_word, complete_at_c)
    banned = tf.logical_or(new_word, same_word)
    if word_starts is None:
        return banned, tf.zeros([tf.shape(history)[0]], tf.bool)
    # The current word is done if the next token starts one: is it a repeat?
    ends_here = tf.logical_and(matches(start_of(n)), start_at_c)
    return banned, tf.reduce_any(ends_here, axis=1)


def banned_tokens(history, step):
    """int32 `(rows, L)`: the token at t - d for the shifts d = 1..L."""
    counterpart = step - tf.range(1, tf.shape(history)[1] + 1)
    return tf.gather(history, tf.maximum(counterpart, 0), axis=1)
