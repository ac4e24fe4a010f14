"""Greedy decoding and sampling: one token per step, in a `tf.while_loop`.

Both run the encoder once and then the decoder's `step` once per output
position, feeding `<BOS>` first and then each chosen token, until every
sequence has produced `<EOS>` or `max_length` tokens. They differ only in
how the next token is chosen from the step's log-probabilities:

    greedy:  y_t = argmax_w log P(w | y_<t, x)
    sample:  y_t ~ softmax(log P(. | y_<t, x) / temperature), optionally
             restricted to the top-k words or to the top-p probability mass

The loop uses only ops that TFLite has as builtins (no TensorArray): output
ids are written into a preallocated `(batch, max_length)` tensor.
"""

import tensorflow as tf

from s2s_keras.special_tokens import BOS_ID
from s2s_keras.special_tokens import EOS_ID
from s2s_keras.special_tokens import PAD_ID

NEGATIVE = -1e9  # log-probabilities are float32 here, so -1e9 is safe


def next_token_log_probs(logits):
    """Step logits `(batch, vocab)` -> float32 log-probabilities of real tokens.

    `<PAD>` and `<BOS>` are never outputs: their probability is 0, and the
    rest is renormalized.
    """
    logits = tf.cast(logits, tf.float32)
    vocab_size = tf.shape(logits)[-1]
    never = tf.reduce_max(tf.one_hot([PAD_ID, BOS_ID], vocab_size), axis=0)  # (vocab,)
    return tf.nn.log_softmax(logits + NEGATIVE * never[None, :])


def greedy_select():
    """The most likely token: `(batch, vocab)` log-probs -> `(batch,)` ids."""

    def select(log_probs, step):
        return tf.argmax(log_probs, axis=-1, output_type=tf.int32)

    return select


def sample_select(temperature=1.0, top_k=None, top_p=None, seed=0):
    """A token drawn at random, seeded: the same seed gives the same draw.

    Args:
        temperature: float > 0; below 1 sharpens the distribution, above 1
            flattens it. As it goes to 0 sampling becomes greedy.
        top_k: int, draw only among the k most likely tokens.
        top_p: float in (0, 1], draw only among the most likely tokens whose
            probabilities add up to p (nucleus sampling).
        seed: int, the draw at step t uses the stateless seed `(seed, t)`,
            for the whole batch: the same batch and seed give the same
            sample, but a sentence may draw differently in another batch.
    """

    def select(log_probs, step):
        logits = log_probs / temperature  # (batch, vocab)
        if top_k:
            kth_best = tf.math.top_k(logits, k=top_k).values[:, -1:]  # (batch, 1)
            logits = tf.where(logits < kth_best, NEGATIVE, logits)
        if top_p is not None and top_p < 1.0:
            sorted_logits = tf.sort(logits, axis=-1, direction="DESCENDING")
            mass_before = tf.cumsum(
                tf.nn.softmax(sorted_logits), axis=-1, exclusive=True
            )
            # The smallest logit still inside the nucleus (the best is always in).
            threshold = tf.reduce_min(
                tf.where(mass_before < top_p, sorted_logits, -NEGATIVE),
                axis=-1,
                keepdims=True,
            )
            logits = tf.where(logits < threshold, NEGATIVE, logits)
        step_seed = tf.stack([tf.constant(seed, tf.int32), step])
        drawn = tf.random.stateless_categorical(
            logits, 1, seed=step_seed, dtype=tf.int32
        )
        return drawn[:, 0]  # (batch,)

    return select


def decode_token_by_token(
    encoder, decoder, source_ids, max_length, select, track_attention=False
):
    """Runs the decoding loop; see the module docstring.

    Args:
        encoder: the model's `Encoder` layer.
        decoder: its `Decoder` or `AttentionDecoder` layer.
        source_ids: int32 `(batch, S)`, 0 = padding.
        max_length: int, output tokens at most.
        select: callable `(log_probs (batch, vocab), step) -> ids (batch,)`.
        track_attention: bool, whether to keep each step's attention weights.

    Returns:
        A dict: `"target_ids"` int32 `(batch, T)` with T <= max_length, the
        generated words without `<BOS>`/`<EOS>`, 0-padded; `"scores"` float32
        `(batch,)`, the sum of the chosen tokens' log-probabilities (`<EOS>`
        included); `"attention"` float32 `(batch, T, S)` if tracked.
    """
    memory, memory_mask, final_states = encoder(source_ids, training=False)
    state = decoder.get_initial_state(final_states, memory, source_ids=source_ids)
    batch_size = tf.shape(source_ids)[0]
    source_length = tf.shape(source_ids)[1]

    def body(step, tokens, state, finished, ids, scores, attention):
        logits, state, weights = decoder.step(tokens, state, memory, memory_mask)
        log_probs = next_token_log_probs(logits)  # (batch, vocab)
        next_tokens = tf.where(finished, PAD_ID, select(log_probs, step))  # (batch,)
        chosen = tf.gather(log_probs, next_tokens, batch_dims=1)  # (batch,)
        scores += tf.where(finished, 0.0, chosen)
        at_step = tf.one_hot(step, max_length, dtype=tf.int32)  # (max_length,)
        ids += next_tokens[:, None] * at_step[None, :]  # (batch, max_length)
        if track_attention:
            live = 1.0 - tf.cast(finished, tf.float32)
            placed = tf.cast(at_step, tf.float32)[None, :, None] * live[:, None, None]
            attention += tf.cast(weights, tf.float32)[:, None, :] * placed
        finished = tf.logical_or(finished, tf.equal(next_tokens, EOS_ID))
        return step + 1, next_tokens, state, finished, ids, scores, attention

    def not_done(step, tokens, state, finished, *_):
        return tf.logical_and(
            step < max_length, tf.logical_not(tf.reduce_all(finished))
        )

    attention_shape = [batch_size, max_length, source_length if track_attention else 0]
    loop_vars = (
        tf.constant(0),
        tf.fill([batch_size], BOS_ID),
        state,
        tf.zeros([batch_size], tf.bool),
        tf.zeros([batch_size, max_length], tf.int32),
        tf.zeros([batch_size], tf.float32),
        tf.zeros(attention_shape, tf.float32),
    )
    steps, _, _, _, ids, scores, attention = tf.while_loop(
        not_done, body, loop_vars, maximum_iterations=max_length
    )
    ids, length = words_only(ids)
    outputs = {"target_ids": ids, "scores": scores}
    if track_attention:
        outputs["attention"] = attention[:, :length]  # (batch, T, S)
    return outputs


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
