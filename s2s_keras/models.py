"""Functional Keras models: seq2seq with or without attention."""

import keras

from s2s_keras.layers import AttentionDecoder
from s2s_keras.layers import CopyAttentionDecoder
from s2s_keras.layers import Decoder
from s2s_keras.layers import Encoder
from s2s_keras.layers.luong_attention import SCORES
from s2s_keras.losses import SmoothedSparseCrossentropy
from s2s_keras.losses import sparse_nll_from_log_probs
from s2s_keras.utils.checks import check_choice

CROSS_ENTROPY = "cross_entropy"  # the metric name: logged as val_cross_entropy


def compile_seq2seq(model, learning_rate=2e-3, label_smoothing=0.0, ema_momentum=None):
    """Compiles a `build_seq2seq` model the way the recipes and the tuner train it.

    Adam with the global norm of all gradients together clipped to 1
    (`global_clipnorm`: the direction of the update is kept, only its length
    is capped), with an exponential moving average of the weights if
    `ema_momentum` is given (`use_ema`: fit it with `callbacks.averaged()`
    so that validation and the kept model use the average), and the
    targets' cross-entropy from the logits
    (`SmoothedSparseCrossentropy`, label-smoothed if `label_smoothing` > 0;
    the logits carry the target's padding mask, so padding costs nothing).

    Metrics: token `accuracy`, and `cross_entropy`, the targets'
    cross-entropy alone, never smoothed. The loss also holds the coverage
    loss of a model with coverage (`add_loss`), weighted by its
    `coverage_loss_weight`, so `val_loss` is not the same quantity for two
    models that differ there or in label smoothing; `val_cross_entropy` is,
    and it is what a search compares by default.
    """
    from_log_probs = getattr(model.get_layer("decoder"), "returns_log_probs", False)
    if from_log_probs:  # the copy decoder: no log-softmax of log-probabilities
        cross_entropy = keras.metrics.MeanMetricWrapper(
            sparse_nll_from_log_probs, name=CROSS_ENTROPY
        )
    else:
        cross_entropy = keras.metrics.SparseCategoricalCrossentropy(
            from_logits=True, name=CROSS_ENTROPY
        )
    model.compile(
        optimizer=keras.optimizers.Adam(
            learning_rate,
            global_clipnorm=1.0,
            use_ema=ema_momentum is not None,
            ema_momentum=0.99 if ema_momentum is None else ema_momentum,
        ),
        loss=SmoothedSparseCrossentropy(label_smoothing, from_log_probs),
        metrics=["accuracy", cross_entropy],
    )
    return model


def build_seq2seq(
    source_vocab_size,
    target_vocab_size,
    embedding_dim=128,
    units=256,
    attention="dot",
    num_layers=1,
    bidirectional=False,
    input_feeding=False,
    dropout=0.0,
    copy=False,
    coverage=False,
    coverage_loss_weight=1.0,
    tie_embeddings=False,
    name=None,
):
    """Builds an encoder-decoder model for teacher-forced training.

    The encoder reads `source_ids`; the decoder starts from its final states
    (s_0, c_0 = h_S, c_S) and reads `target_ids` (`<BOS>` then the target
    words) to predict the next word at every position. With `attention`, the
    decoder attends over the encoder states h_1..h_S at every step; with
    `attention=None` it is the plain seq2seq whose only view of the source is
    (h_S, c_S).

    The model is named layers `"encoder"` and `"decoder"`: generation and
    export use `model.get_layer("encoder")` and the decoder's `step`.

    Args:
        source_vocab_size: int, number of source token ids (0 = padding).
        target_vocab_size: int, number of target token ids (0 = padding).
        embedding_dim: int, size of the token embeddings. Defaults to 128.
        units: int, size of the encoder and decoder states. Defaults to 256.
        attention: `"dot"`, `"general"`, `"concat"` (Luong's three scores),
            or `None` for no attention. Defaults to `"dot"`.
        num_layers: int, LSTM layers in the encoder and in the decoder.
            Defaults to 1.
        bidirectional: bool, whether the encoder reads both ways (see
            `Encoder` for the bridge to the decoder). Defaults to `False`.
        input_feeding: bool, Luong's input feeding (attention only).
            Defaults to `False`.
        dropout: float in [0, 1). Defaults to 0.
        copy: bool, whether the decoder may also copy source tokens
            (`CopyAttentionDecoder`, a pointer-generator; attention only, and
            source and target must share one vocabulary). Its outputs are
            log-probabilities, which the same loss and generation code take
            as logits. Defaults to `False`.
        coverage: bool, whether attention keeps a coverage vector and the
            model adds See et al.'s coverage loss (attention only; see
            `AttentionDecoder`). Defaults to `False`.
        coverage_loss_weight: float >= 0, the coverage loss weight.
            Defaults to 1.
        tie_embeddings: bool, whether the decoder's output layer goes
            through its transposed embedding (`TiedReadout`): `features x
            embedding_dim` weights instead of `features x vocabulary`.
            Defaults to `False`.
        name: optional model name. Defaults to `"seq2seq_attention"` or
            `"seq2seq"`.

    Returns:
        A `keras.Model` taking a dict `{"source_ids": (batch_size, S) int32,
        "target_ids": (batch_size, T) int32}` (0 = padding) and returning
        logits `(batch_size, T, target_vocab_size)` that carry the target's
        padding mask. Train it with
        `keras.losses.SparseCategoricalCrossentropy(from_logits=True)`: Keras
        applies the mask, so padding costs nothing.

    Example:

    >>> model = build_seq2seq(100, 100, embedding_dim=16, units=32)
    >>> model.compile("adam", keras.losses.SparseCategoricalCrossentropy(
    ...     from_logits=True))
    """
    check_choice("attention", attention, (*SCORES, None))
    if input_feeding and attention is None:
        raise ValueError(
            "Invalid value for argument input_feeding. Input feeding feeds "
            "the attention context, so it needs attention. Received: "
            "input_feeding=True, attention=None"
        )
    if coverage and attention is None:
        raise ValueError(
            "Invalid value for argument coverage. Coverage sums attention "
            "weights, so it needs attention. Received: coverage=True, "
            "attention=None"
        )
    if copy and (attention is None or source_vocab_size != target_vocab_size):
        raise ValueError(
            "Invalid value for argument copy. Copying needs attention and one "
            "vocabulary shared by source and target. Received: copy=True, "
            f"attention={attention!r}, source_vocab_size={source_vocab_size}, "
            f"target_vocab_size={target_vocab_size}"
        )
    source_ids = keras.Input(shape=(None,), dtype="int32", name="source_ids")
    target_ids = keras.Input(shape=(None,), dtype="int32", name="target_ids")
    encoder = Encoder(
        source_vocab_size,
        embedding_dim,
        units,
        num_layers=num_layers,
        bidirectional=bidirectional,
        dropout=dropout,
        name="encoder",
    )
    memory, memory_mask, final_states = encoder(source_ids)
    if attention is None:
        decoder = Decoder(
            target_vocab_size,
            embedding_dim,
            units,
            num_layers=num_layers,
            dropout=dropout,
            tie_embeddings=tie_embeddings,
            name="decoder",
        )
        logits = decoder(target_ids, initial_state=final_states)
    else:
        decoder_class = CopyAttentionDecoder if copy else AttentionDecoder
        decoder = decoder_class(
            target_vocab_size,
            embedding_dim,
            units,
            num_layers=num_layers,
            attention=attention,
            input_feeding=input_feeding,
            dropout=dropout,
            coverage=coverage,
            coverage_loss_weight=coverage_loss_weight,
            tie_embeddings=tie_embeddings,
            name="decoder",
        )
        extra = {"source_ids": source_ids} if copy else {}
        logits = decoder(
            target_ids, memory, memory_mask, initial_state=final_states, **extra
        )
    if name is None:
        name = "seq2seq" if attention is None else "seq2seq_attention"
    return keras.Model(
        inputs={"source_ids": source_ids, "target_ids": target_ids},
        outputs=logits,
        name=name,
    )


def float32_copy(model):
    """`model` computing in float32: itself, or a copy with its trained weights.

    A model trained under mixed precision keeps float32 weights but computes
    in 16 bits; generation, scoring and export (TFLite has no bfloat16
    kernels) use this copy, rebuilt from the model's config with every
    layer's dtype policy set to float32.
    """
    if all(layer.compute_dtype == "float32" for layer in model.layers):
        return model
    return rebuilt(model, float32_config(model.get_config()))


def rebuilt(model, config=None):
    """A new model built from `config` (default: `model`'s) with `model`'s weights.

    Outside any distribution strategy's scope, its variables are plain ones.
    """
    copy = keras.Model.from_config(model.get_config() if config is None else config)
    copy.set_weights(model.get_weights())
    return copy


def float32_config(config):
    """A layer or model config computing in float32.

    Every dtype policy becomes float32, and so does the recorded dtype of
    every tensor between layers that was 16-bit.
    """
    if isinstance(config, dict):
        if config.get("class_name") == "DTypePolicy":
            return {**config, "config": {**config["config"], "name": "float32"}}
        config = {key: float32_config(value) for key, value in config.items()}
        if config.get("class_name") == "__keras_tensor__" and config["config"].get(
            "dtype"
        ) in ("float16", "bfloat16"):
            config["config"] = {**config["config"], "dtype": "float32"}
        return config
    if isinstance(config, (list, tuple)):
        return [float32_config(value) for value in config]
    return config
