"""Beam search with the GNMT length penalty, in a `tf.while_loop`.

Each source keeps `beam_width` hypotheses. At every step each live one is
extended by every word and the `beam_width` best extensions are kept (as in
OpenNMT). An extension that ends in `<EOS>` joins the finished hypotheses,
scored with the length penalty of Wu et al. (2016), and is not extended:

    score(Y) = log P(Y | X) / lp(Y),   lp(Y) = ((5 + |Y|) / 6) ** alpha

A source is done once no live hypothesis can still beat its `num_results`
best finished ones: a live hypothesis's log-probability can only fall as it
grows, so the best it can still reach is its log-probability now over the
largest length penalty it can still get (`lp(max_length)` for `alpha >= 0`).
Stopping when the best extension of a step ends would be wrong with a
length penalty: a longer live hypothesis can still win after normalization.
At `max_length` the live hypotheses are scored as they stand and join the
finished ones. With `beam_width=1` this is exactly greedy decoding.

Fewer than `num_results` hypotheses can exist (a vocabulary of a few words
and a short `max_length`): the places left have the score `-inf` and no ids,
so that no placeholder passes for a real hypothesis.

The first step runs once per source, not once per beam: every beam would
start from the same `<BOS>` and state, so the k best first words are taken
from one distribution and the state is copied k times after it.
"""

import tensorflow as tf

from s2s_keras.decoding.token_by_token import next_token_log_probs
from s2s_keras.decoding.token_by_token import words_only
from s2s_keras.special_tokens import BOS_ID
from s2s_keras.special_tokens import EOS_ID

NEGATIVE = -1e9


def length_penalty(length, alpha):
    """GNMT length penalty `((5 + length) / 6) ** alpha`."""
    return tf.pow((5.0 + tf.cast(length, tf.float32)) / 6.0, alpha)


def _merge_beams(tensor, beam_width):
    """(batch, beam, ...) -> (batch * beam, ...)."""
    shape = tf.shape(tensor)
    return tf.reshape(tensor, tf.concat([[shape[0] * beam_width], shape[2:]], 0))


def _split_beams(tensor, beam_width):
    """(batch * beam, ...) -> (batch, beam, ...)."""
    shape = tf.shape(tensor)
    return tf.reshape(tensor, tf.concat([[-1, beam_width], shape[1:]], 0))


def beam_search(
    encoder,
    decoder,
    source_ids,
    max_length,
    beam_width=4,
    alpha=0.6,
    num_results=1,
    track_attention=False,
):
    """Finds high-scoring outputs by beam search.

    Args:
        encoder: the model's `Encoder` layer.
        decoder: its `Decoder` or `AttentionDecoder` layer.
        source_ids: int32 `(batch, S)`, 0 = padding.
        max_length: int, output tokens at most.
        beam_width: int, live hypotheses per source.
        alpha: float, length penalty exponent; 0 ranks by log-probability.
        num_results: int <= beam_width, hypotheses returned per source.
        track_attention: bool, whether to keep the attention weights.

    Returns:
        A dict: `"target_ids"` int32 `(batch, T)`, the best hypothesis
        without `<BOS>`/`<EOS>`, 0-padded; `"scores"` float32 `(batch,)`, its
        length-normalized log-probability; `"n_best_ids"` `(batch,
        num_results, T)` and `"n_best_scores"` `(batch, num_results)`, best
        first (`-inf` and no ids where fewer hypotheses exist);
        `"attention"` `(batch, T, S)` of the best, if tracked.
    """
    k = beam_width
    memory, memory_mask, final_states = encoder(source_ids, training=False)
    state = decoder.get_initial_state(final_states, memory, source_ids=source_ids)
    batch_size = tf.shape(source_ids)[0]
    source_length = tf.shape(source_ids)[1]
    attention_size = source_length if track_attention else 0

    def extend(step, tokens, state, done, alive, finished, memory, memory_mask, width):
        """One step from `width` live hypotheses per source to k."""
        alive_ids, alive_scores, alive_attention = alive
        logits, state, weights = decoder.step(tokens, state, memory, memory_mask)
        log_probs = next_token_log_probs(logits)  # (batch * width, vocab)
        vocab_size = tf.shape(log_probs)[-1]
        candidates = alive_scores[:, :, None] + _split_beams(log_probs, width)
        flat = tf.reshape(candidates, [batch_size, -1])  # (batch, width * vocab)
        # A vocabulary smaller than the beam: dead columns make up the k.
        missing = tf.maximum(0, k - tf.shape(flat)[1])
        flat = tf.pad(flat, [[0, 0], [0, missing]], constant_values=NEGATIVE)
        top_scores, top_index = tf.math.top_k(flat, k=k)  # (batch, k), best first
        from_beam = tf.minimum(top_index // vocab_size, width - 1)
        top_tokens = top_index % vocab_size
        at_step = tf.one_hot(step, max_length, dtype=tf.int32)  # (max_length,)
        top_ids = tf.gather(alive_ids, from_beam, batch_dims=1)  # (batch, k, L)
        top_ids += top_tokens[:, :, None] * at_step[None, None, :]
        top_attention = tf.gather(alive_attention, from_beam, batch_dims=1)
        if track_attention:
            step_weights = _split_beams(tf.cast(weights, tf.float32), width)
            step_weights = tf.gather(step_weights, from_beam, batch_dims=1)
            placed = tf.cast(at_step, tf.float32)[None, None, :, None]
            top_attention += step_weights[:, :, None, :] * placed
        real = tf.logical_and(top_scores > NEGATIVE / 2, tf.logical_not(done)[:, None])
        ends = tf.logical_and(tf.equal(top_tokens, EOS_ID), real)  # (batch, k)

        normalized = top_scores / length_penalty(step + 1, alpha)
        finished = _keep_best(finished, (top_ids, normalized, top_attention), ends, k)
        live = tf.logical_and(real, tf.logical_not(ends))
        live_scores = tf.where(live, top_scores, NEGATIVE)  # (batch, k)
        # The best normalized score a live hypothesis can still reach; lp is
        # monotonic in the length, so its largest value is at an end.
        largest_penalty = tf.maximum(
            length_penalty(step + 1, alpha), length_penalty(max_length, alpha)
        )
        reachable = tf.reduce_max(live_scores, axis=1) / largest_penalty
        beaten = finished[1][:, num_results - 1] >= reachable
        done = tf.logical_or(done, tf.logical_or(beaten, ~tf.reduce_any(live, 1)))
        live = tf.logical_and(live, tf.logical_not(done)[:, None])
        alive = (top_ids, tf.where(live, top_scores, NEGATIVE), top_attention)
        state = [
            _merge_beams(
                tf.gather(_split_beams(tensor, width), from_beam, batch_dims=1), k
            )
            for tensor in state
        ]
        tokens = tf.reshape(top_tokens, [-1])  # (batch * k,)
        return step + 1, tokens, state, done, alive, finished

    def empty(width):
        return (
            tf.zeros([batch_size, width, max_length], tf.int32),
            tf.zeros([batch_size, width, max_length, attention_size], tf.float32),
        )

    # The first step: one hypothesis per source, <BOS>, extended to k.
    ids, attention = empty(1)
    no_ids, no_attention = empty(k)  # no finished hypothesis yet
    loop_vars = extend(
        tf.constant(0),
        tf.fill([batch_size], BOS_ID),
        state,
        tf.zeros([batch_size], tf.bool),
        (ids, tf.zeros([batch_size, 1]), attention),
        (no_ids, tf.fill([batch_size, k], NEGATIVE), no_attention),
        memory,
        memory_mask,
        width=1,
    )
    # The other steps: every beam of a source reads the same memory.
    memory = tf.repeat(memory, k, axis=0)  # (batch * k, S, memory_dim)
    memory_mask = tf.repeat(memory_mask, k, axis=0)

    def body(*loop_vars):
        return extend(*loop_vars, memory, memory_mask, width=k)

    def not_done(step, tokens, state, done, alive, finished):
        return tf.logical_and(step < max_length, tf.logical_not(tf.reduce_all(done)))

    steps, _, _, _, alive, finished = tf.while_loop(
        not_done, body, loop_vars, maximum_iterations=max_length - 1
    )
    # Hypotheses still live at the end are cut by max_length: score them as
    # they stand, beside the finished ones.
    still_live = alive[1] > NEGATIVE / 2
    cut = (alive[0], alive[1] / length_penalty(steps, alpha), alive[2])
    finished_ids, scores, attention = _keep_best(finished, cut, still_live, k)
    real = scores > NEGATIVE / 2  # (batch, k): the rest are empty places
    scores = tf.where(real, scores, -float("inf"))
    finished_ids *= tf.cast(real, tf.int32)[:, :, None]
    ids, length = words_only(finished_ids)  # (batch, k, T)
    outputs = {
        "target_ids": ids[:, 0],
        "scores": scores[:, 0],
        "n_best_ids": ids[:, :num_results],
        "n_best_scores": scores[:, :num_results],
    }
    if track_attention:
        outputs["attention"] = attention[:, 0, :length]
    return outputs


def _keep_best(pool, candidates, admitted, k):
    """The k best of a pool of hypotheses and the admitted candidates.

    Both are `(ids (batch, n, L), scores (batch, n), attention (batch, n, L,
    S))`; candidates not admitted are left out.
    """
    scores = tf.concat([pool[1], tf.where(admitted, candidates[1], NEGATIVE)], axis=1)
    best_scores, best = tf.math.top_k(scores, k=k)
    return (
        tf.gather(tf.concat([pool[0], candidates[0]], 1), best, batch_dims=1),
        best_scores,
        tf.gather(tf.concat([pool[2], candidates[2]], 1), best, batch_dims=1),
    )
