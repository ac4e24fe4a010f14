"""Text pairs -> padded id batches for `build_seq2seq`, with teacher forcing.

For a target "I enjoy ML class" the decoder reads `<BOS> I enjoy ML class`
and learns to predict `I enjoy ML class <EOS>`: the same ids shifted by one.

    ({"source_ids": (batch, S), "target_ids": (batch, T)}, labels (batch, T))

Batches are bucketed by source length, so a batch of short descriptions is
not padded to the length of the longest one in the corpus: less padding,
less wasted compute.
"""

import tensorflow as tf

from s2s_keras.special_tokens import BOS_ID
from s2s_keras.special_tokens import EOS_ID
from s2s_keras.special_tokens import PAD_ID
from s2s_keras.utils.checks import check_positive_int
from s2s_keras.utils.checks import check_sampling_alpha

TOKENIZE_CHUNK = 1024  # strings tokenized per graph call
SHUFFLE_BUFFER = 16_384  # tokenized pairs shuffled together


def bucket_boundaries(max_length, first=8):
    """Source-length bucket edges: 8, 12, 16, 24, 32, 48, ... below `max_length`."""
    boundaries, edge = [], first
    while edge < max_length:
        boundaries.append(edge)
        edge = edge + edge // 2 if len(boundaries) % 2 else edge * 4 // 3
        edge = max(edge, boundaries[-1] + 1)
    return boundaries


def teacher_forcing(target_ids):
    """Ragged target ids `(rows, None)` -> `(decoder inputs, labels)`, ragged.

    The decoder reads `<BOS> y_1 .. y_n` and is asked for `y_1 .. y_n <EOS>`.
    """
    rows = target_ids.nrows(out_type=tf.int32)
    bos = tf.fill([rows, 1], BOS_ID)
    eos = tf.fill([rows, 1], EOS_ID)
    decoder_inputs = tf.concat([bos, target_ids], axis=1)  # <BOS> y_1 .. y_n
    labels = tf.concat([target_ids, eos], axis=1)  # y_1 .. y_n <EOS>
    return decoder_inputs, labels


def tokenize_pairs(
    pairs,
    source_tokenizer,
    target_tokenizer,
    max_source_length,
    max_target_length,
    subword_sampling=0.0,
):
    """`(source, target)` strings -> `({"source_ids", "target_ids"}, labels)` rows.

    Sources keep their first `max_source_length` ids; targets their first
    `max_target_length - 1`, so that `<BOS>` + target and target + `<EOS>` are
    at most `max_target_length` long. With `subword_sampling` (an alpha in
    (0, 1]) each text is cut one of its many ways, drawn anew at each pass
    (`SubwordTokenizer.tokenize_sampled`).
    """

    def cut(tokenizer, texts):
        if subword_sampling:
            return tokenizer.tokenize_sampled(texts, subword_sampling)
        return tokenizer.tokenize(texts)

    def tokenize(sources, targets):
        source_ids = cut(source_tokenizer, sources)[:, :max_source_length]
        target_ids = cut(target_tokenizer, targets)[:, : max_target_length - 1]
        decoder_inputs, labels = teacher_forcing(target_ids)
        return {"source_ids": source_ids, "target_ids": decoder_inputs}, labels

    def to_dense(inputs, labels):  # unbatched ragged rows -> 1-D tensors
        dense = {key: _dense_row(value) for key, value in inputs.items()}
        return dense, _dense_row(labels)

    return (
        pairs.batch(TOKENIZE_CHUNK)
        .map(tokenize, num_parallel_calls=tf.data.AUTOTUNE)
        .unbatch()
        .map(to_dense, num_parallel_calls=tf.data.AUTOTUNE)
    )


def _dense_row(row):
    return row.to_tensor() if isinstance(row, tf.RaggedTensor) else row


def make_batches(
    pairs,
    source_tokenizer,
    target_tokenizer=None,
    batch_size=64,
    max_source_length=128,
    max_target_length=32,
    shuffle=False,
    seed=0,
    bucket=True,
    cache=False,
    repeat=False,
    before_batching=None,
    subword_sampling=0.0,
):
    """Batches of ids for `build_seq2seq` from a dataset of text pairs.

    Args:
        pairs: `tf.data.Dataset` of `(source, target)` scalar strings.
        source_tokenizer: a `SubwordTokenizer` for the sources.
        target_tokenizer: one for the targets; defaults to the source one.
        batch_size: int, pairs per batch.
        max_source_length: int, source ids kept per pair (the rest is cut).
        max_target_length: int, length of `<BOS>` + target ids, at most.
        shuffle: bool, whether to shuffle the pairs (every epoch anew).
        seed: int, shuffle seed: the same seed gives the same order.
        bucket: bool, whether to batch pairs of similar source length
            together (`tf.data.Dataset.bucket_by_sequence_length`); if False
            each batch is padded to its longest pair.
        cache: bool, whether to keep the tokenized pairs in memory after the
            first pass (for bounded splits only: validation, test).
        repeat: bool, whether to go over the pairs again and again (a new
            shuffle each time); batches then run on across passes, none is
            cut short at the end of one, and `fit` needs `steps_per_epoch`.
        before_batching: optional callable, dataset -> dataset, applied to
            the tokenized (shuffled, repeated) rows before they are batched:
            `data.service.through_service` has tf.data service workers read,
            tokenize and shuffle, and the trainer batch.
        subword_sampling: float, 0 for the best cut of each text, or the
            alpha in (0, 1] of subword regularization: each pass cuts each
            text anew, one of its segmentations drawn (for training only).

    Returns:
        A `tf.data.Dataset` of `({"source_ids": int32 (batch, S),
        "target_ids": int32 (batch, T)}, labels int32 (batch, T))`, 0 =
        padding, prefetched.
    """
    batch_size = check_positive_int("batch_size", batch_size)
    max_source_length = check_positive_int("max_source_length", max_source_length)
    max_target_length = check_positive_int("max_target_length", max_target_length)
    if max_target_length < 2:
        raise ValueError(
            "Invalid value for argument max_target_length. Expected at least 2 "
            "(<BOS> or <EOS> plus one word). "
            f"Received: max_target_length={max_target_length}"
        )
    subword_sampling = check_sampling_alpha("subword_sampling", subword_sampling)
    if subword_sampling and cache:
        raise ValueError(
            "Sampled cuts are drawn anew at each pass: subword_sampling cannot "
            "be used with cache=True."
        )
    rows = tokenize_pairs(
        pairs,
        source_tokenizer,
        target_tokenizer or source_tokenizer,
        max_source_length,
        max_target_length,
        subword_sampling,
    )
    if cache:
        rows = rows.cache()
    if shuffle:
        rows = rows.shuffle(SHUFFLE_BUFFER, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        rows = rows.repeat()
    if before_batching is not None:
        rows = before_batching(rows)
    padded_shapes = ({"source_ids": [None], "target_ids": [None]}, [None])
    padding_values = ({"source_ids": PAD_ID, "target_ids": PAD_ID}, PAD_ID)
    if bucket:
        boundaries = bucket_boundaries(max_source_length)
        batches = rows.bucket_by_sequence_length(
            element_length_func=lambda inputs, labels: tf.shape(inputs["source_ids"])[
                0
            ],
            bucket_boundaries=boundaries,
            bucket_batch_sizes=[batch_size] * (len(boundaries) + 1),
            padded_shapes=padded_shapes,
            padding_values=padding_values,
        )
    else:
        batches = rows.padded_batch(
            batch_size, padded_shapes=padded_shapes, padding_values=padding_values
        )
    return batches.prefetch(tf.data.AUTOTUNE)


def padding_fraction(batches):
    """The share of padding among the source and target ids of `batches`."""
    padding = total = 0
    for inputs, _ in batches:
        for ids in inputs.values():
            total += int(tf.size(ids))
            padding += int(tf.reduce_sum(tf.cast(tf.equal(ids, PAD_ID), tf.int32)))
    return padding / max(total, 1)
