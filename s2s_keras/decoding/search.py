"""The search loop: the encoder once, then `decoder.step` in one `tf.while_loop`.

Every decoding method runs this loop. It feeds `<BOS>` first, then the
tokens the chooser picked, until the chooser says every source is done or
`max_length` steps have run; nothing goes back to Python between steps (the
keras.io and TensorFlow tutorial loops call `predict` or an eager step per
token). What differs between greedy decoding, sampling and beam search is
only how the next tokens are chosen from the step's log-probabilities: that
is a `TokenChooser` (see `choosers.py` and `beam.py`).

    memory, mask, (h_S, c_S) = encoder(x)          # once
    state = s_0, c_0 = h_S, c_S
    repeat:
        logits, state, alpha_t = decoder.step(y_{t-1}, state, memory, mask)
        y_t, origin = chooser.choose(log_softmax(logits), ...)
        state = state[origin]                      # beam search only

A chooser keeps `width` hypotheses per source (1, or the beam width): the
decoder runs on `batch * width` rows, and the chooser says which row each
new token extends (`origin`), so the decoder state follows its hypothesis.

Between the step and the chooser, the `Controls` (`controls.py`) penalize
repeats, ban tokens (too early an `<EOS>`, a repeated n-gram) and force a
prefix; they read what each row has written so far (`written`, reordered
with the state).

The loop uses only ops that TFLite has as builtins (no TensorArray): output
ids are written into a preallocated `(batch, max_length)` tensor.
"""

import tensorflow as tf

from s2s_keras.decoding.controls import NEGATIVE
from s2s_keras.decoding.controls import Controls
from s2s_keras.special_tokens import BOS_ID
from s2s_keras.special_tokens import EOS_ID
from s2s_keras.special_tokens import PAD_ID

SMALLEST_MASS = 1e-30  # what the real tokens keep at least, when renormalized


def next_token_log_probs(logits, normalized=False):
    """Step logits `(..., vocab)` -> float32 log-probabilities of real tokens.

    `<PAD>` and `<BOS>` are never outputs: their probability is 0, and the
    rest is renormalized.

    Args:
        logits: float `(..., vocab)`.
        normalized: whether `logits` are log-probabilities already (the copy
            decoder's `returns_log_probs`): then the renormalization is
            `log P - log(1 - P(<PAD>) - P(<BOS>))`, one pass over the
            vocabulary where a log-softmax takes three.
    """
    logits = tf.cast(logits, tf.float32)  # (..., vocab)
    vocab_size = tf.shape(logits)[-1]
    never = tf.reduce_max(tf.one_hot([PAD_ID, BOS_ID], vocab_size), axis=0)  # (vocab,)
    if not normalized:
        return tf.nn.log_softmax(logits + NEGATIVE * never)
    banned = tf.exp(logits[..., PAD_ID]) + tf.exp(logits[..., BOS_ID])  # (...,)
    rest = tf.math.log(tf.maximum(1.0 - banned, SMALLEST_MASS))[..., None]
    return logits - rest + NEGATIVE * never


def words_only(ids):
    """Drops `<EOS>` (to padding) and the all-padding columns at the end.

    Args:
        ids: int32 `(..., max_length)`, words, then `<EOS>`, then padding.

    Returns:
        `(ids (..., T), T)`, T the longest output's number of words.
    """
    ids = tf.where(tf.equal(ids, EOS_ID), PAD_ID, ids)
    length = tf.reduce_max(tf.reduce_sum(tf.cast(ids != PAD_ID, tf.int32), axis=-1))
    return ids[..., :length], length


def search(
    encoder,
    decoder,
    source_ids,
    max_length,
    chooser,
    controls=None,
    target_prefix=None,
    return_attention=False,
):
    """Runs the search loop of the module docstring.

    Args:
        encoder: the model's `Encoder` layer.
        decoder: its `Decoder`, `AttentionDecoder` or `CopyAttentionDecoder`.
        source_ids: int32 `(batch, S)`, 0 = padding.
        max_length: int or int32 scalar, output tokens at most.
        chooser: a `TokenChooser` (`get_chooser("beam", ...)`).
        controls: `Controls`, or None for none.
        target_prefix: int32 `(batch, P)`, ids every output of a source
            starts with, 0-padded at the end (a row of zeros: no prefix),
            or None.
        return_attention: bool, whether to keep the attention weights of
            the outputs (the decoder must have attention).

    Returns:
        The chooser's outputs: a dict with `"target_ids"` int32 `(batch, T)`,
        T <= max_length, without `<BOS>`/`<EOS>`, 0-padded, and `"scores"`
        float32 `(batch,)`; more keys where the chooser has more to say
        (beam search's n best); with `return_attention`, `"attention"`
        float32 `(batch, T, S)`.
    """
    controls = controls or Controls()
    memory, memory_mask, final_states = encoder(source_ids, training=False)
    state = decoder.get_initial_state(final_states, memory, source_ids=source_ids)
    batch_size = tf.shape(source_ids)[0]
    width = chooser.width
    if width > 1:  # every hypothesis of a source reads the same memory
        memory = tf.repeat(memory, width, axis=0)  # (batch * width, S, memory_dim)
        memory_mask = tf.repeat(memory_mask, width, axis=0)
        state = [tf.repeat(tensor, width, axis=0) for tensor in state]
        if target_prefix is not None:
            target_prefix = tf.repeat(target_prefix, width, axis=0)
    rows_source = None  # each row's source, for the controls that read it
    if controls.known_words is not None:
        rows_source = tf.repeat(source_ids, width, axis=0)
    track_attention = return_attention or chooser.needs_attention
    normalized = getattr(decoder, "returns_log_probs", False)
    # What each row has written so far, for the controls.
    written = controls.start(batch_size * width, max_length, rows_source)

    def body(step, tokens, state, progress, written):
        logits, state, weights = decoder.step(tokens, state, memory, memory_mask)
        logits = controls.penalize(tf.cast(logits, tf.float32), written, step)
        log_probs = next_token_log_probs(logits, normalized)  # (batch * width, vocab)
        log_probs = controls.restrict(
            log_probs, written, step, max_length, target_prefix, rows_source
        )
        if track_attention:
            weights = tf.cast(weights, tf.float32)  # (batch * width, S)
        else:
            weights = None
        tokens, origin, progress = chooser.choose(step, log_probs, weights, progress)
        if origin is not None:  # (batch, width): the row each hypothesis extends
            state = [_take_rows(tensor, origin, width) for tensor in state]
            written = tf.nest.map_structure(
                lambda tensor: _take_rows(tensor, origin, width), written
            )
        written = controls.record(written, tokens, step, rows_source)
        return step + 1, tokens, state, progress, written

    def not_done(step, tokens, state, progress, written):
        return tf.logical_and(
            step < max_length, tf.logical_not(chooser.all_done(progress))
        )

    loop_vars = (
        tf.constant(0),
        tf.fill([batch_size * width], BOS_ID),
        state,
        chooser.start(source_ids != PAD_ID, max_length, return_attention),
        written,
    )
    steps, _, _, progress, _ = tf.while_loop(
        not_done, body, loop_vars, maximum_iterations=max_length
    )
    return chooser.results(progress, steps, return_attention)


def _take_rows(tensor, origin, width):
    """`(batch * width, ...)` rows picked per source by `origin` `(batch, width)`."""
    shape = tf.shape(tensor)
    per_source = tf.reshape(tensor, tf.concat([[-1, width], shape[1:]], 0))
    picked = tf.gather(per_source, origin, batch_dims=1)  # (batch, width, ...)
    return tf.reshape(picked, shape)
