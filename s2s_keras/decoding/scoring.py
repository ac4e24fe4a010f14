"""`score`: the log-likelihood a model gives to outputs it is shown.

    log P(y | x) = sum_t log P(y_t | y_<t, x),   t = 1 .. |y| + 1 (`<EOS>`)

One teacher-forced pass (the model reads `<BOS> y_1 .. y_T` and is asked
for `y_1 .. y_T <EOS>`), with the search's own log-probabilities (`<PAD>`
and `<BOS>` never outputs), so the score of an output that a search wrote
with no repetition penalty is the search's score of it (before any length
or coverage penalty). For re-ranking n-best lists, evaluating references,
or filtering a corpus by how well a model explains it.
"""

import weakref

import numpy as np
import tensorflow as tf

from s2s_keras.data.batching import teacher_forcing
from s2s_keras.decoding.search import next_token_log_probs
from s2s_keras.special_tokens import PAD_ID


def log_likelihood(model, source_ids, target_ids):
    """In-graph log P(target + `<EOS>` | source), per token.

    Args:
        model: a model from `build_seq2seq`.
        source_ids: int32 `(batch, S)`, 0 = padding.
        target_ids: int32 `(batch, T)`, the outputs without `<BOS>` and
            `<EOS>`, 0-padded at the end (an empty output is a row of 0).

    Returns:
        float32 `(batch, T + 1)`: log P of each output token and of the
        `<EOS>` after the last, 0 after it.
    """
    target_ids = tf.cast(target_ids, tf.int32)
    shape = tf.stack([tf.shape(target_ids)[0], tf.shape(target_ids)[1] + 1])
    ragged = tf.RaggedTensor.from_tensor(target_ids, padding=PAD_ID)
    inputs, labels = teacher_forcing(ragged)  # the training batches' framing
    inputs, labels = inputs.to_tensor(shape=shape), labels.to_tensor(shape=shape)
    logits = model({"source_ids": source_ids, "target_ids": inputs}, training=False)
    normalized = getattr(model.get_layer("decoder"), "returns_log_probs", False)
    log_probs = next_token_log_probs(logits, normalized)  # (batch, T + 1, vocab)
    chosen = tf.gather(log_probs, labels, batch_dims=2)
    return tf.where(labels != PAD_ID, chosen, 0.0)


_SCORERS = weakref.WeakKeyDictionary()  # model -> its compiled `log_likelihood`
IDS = tf.TensorSpec([None, None], tf.int32)


def score(model, source_ids, target_ids, per_token=False):
    """The log-likelihood of given outputs, per row (and per token).

    Args:
        model: a model from `build_seq2seq`.
        source_ids: int `(batch, S)` array or tensor, 0 = padding.
        target_ids: int `(batch, T)`, the outputs without `<BOS>`/`<EOS>`,
            0-padded at the end (what `generate` returns).
        per_token: bool, whether to also return each token's log P.

    Returns:
        float32 NumPy `(batch,)`: log P(target `<EOS>` | source); with
        `per_token=True`, a tuple `(scores, token_scores (batch, T + 1))`,
        the last column that of `<EOS>` for the longest row, 0 past each
        row's `<EOS>`.

    Raises:
        ValueError: shapes that do not pair a source with a target, or ids
            outside the vocabulary.
    """
    source_ids = np.asarray(source_ids)
    target_ids = np.asarray(target_ids)
    if source_ids.ndim != 2 or target_ids.ndim != 2:
        raise ValueError(
            "Expected source_ids and target_ids of rank 2 (batch, length). "
            f"Received: shapes {source_ids.shape} and {target_ids.shape}"
        )
    if len(source_ids) != len(target_ids):
        raise ValueError(
            "Expected one target row per source row. Received: "
            f"{len(source_ids)} sources and {len(target_ids)} targets"
        )
    vocab_size = model.get_layer("decoder").vocab_size
    if target_ids.size and not 0 <= target_ids.min() <= target_ids.max() < vocab_size:
        raise ValueError(
            f"Expected target ids in [0, {vocab_size}). Received: ids from "
            f"{target_ids.min()} to {target_ids.max()}"
        )
    if model not in _SCORERS:  # traced once per model, as `generator_for`
        _SCORERS[model] = tf.function(
            lambda source, target: log_likelihood(model, source, target),
            input_signature=[IDS, IDS],
            autograph=False,
        )
    per_token_scores = _SCORERS[model](
        tf.constant(source_ids, tf.int32), tf.constant(target_ids, tf.int32)
    ).numpy()
    scores = per_token_scores.sum(axis=1)
    return (scores, per_token_scores) if per_token else scores
