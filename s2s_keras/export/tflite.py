"""A TFLite file for phones: token ids in, greedy output ids out, builtin ops only.

The pip TensorFlow (2.20 and later) ships no Flex delegate, so a TFLite file
that needs TensorFlow ops ("SELECT_TF_OPS") runs nowhere we can test. This
one holds the encoder and the whole greedy loop (a TFLite `WHILE`) with only
builtin ops; tokenization stays outside (ship `tokenizer.model` or
`vocabulary.txt` beside it and tokenize on the device).

Signature `serving_default`: `source_ids` int32 `(1, max_source_length)`, the
source ids 0-padded at the end -> `target_ids` int32 `(1, max_length)`, the
generated ids without `<BOS>`/`<EOS>`, 0-padded.

Both shapes are fixed: the interpreter never resizes a tensor, so the file
runs the same with or without a delegate (XNNPACK, GPU) that plans its
buffers once. Padding changes nothing: the encoder carries its state over
padded positions and attention gives them weight 0.

The variables are frozen into constants before conversion: read inside the
loop, they would stay resource variables that the TFLite runtime cannot read.
"""

import tensorflow as tf
from tensorflow.python.framework.convert_to_constants import (
    convert_variables_to_constants_v2,
)

from s2s_keras.checks import check_choice
from s2s_keras.checks import check_positive_int
from s2s_keras.decoding.choosers import Greedy
from s2s_keras.decoding.search import search

QUANTIZATIONS = (None, "dynamic_range", "float16")


def convert_to_tflite(model, max_source_length=128, max_length=32, quantization=None):
    """Converts a `build_seq2seq` model's greedy decoding to a TFLite flatbuffer.

    Args:
        model: a model from `build_seq2seq`, any flavour.
        max_source_length: int, the file's fixed source width; pad shorter
            sources with 0 and cut longer ones.
        max_length: int, output tokens at most.
        quantization: `None` (float32), `"dynamic_range"` (int8 weights) or
            `"float16"` (float16 weights).

    Returns:
        The flatbuffer, as bytes.

    Raises:
        ValueError: the converted file would need an op that is not a TFLite
            builtin.
    """
    max_source_length = check_positive_int("max_source_length", max_source_length)
    max_length = check_positive_int("max_length", max_length)
    check_choice("quantization", quantization, QUANTIZATIONS)
    encoder, decoder = model.get_layer("encoder"), model.get_layer("decoder")
    source_spec = tf.TensorSpec([1, max_source_length], tf.int32, name="source_ids")

    @tf.function(input_signature=[source_spec])
    def greedy(source_ids):
        ids = search(encoder, decoder, source_ids, max_length, Greedy())["target_ids"]
        # A fixed width: an empty output (EOS first) would otherwise be a
        # zero-size tensor, which the TFLite runtime cannot hand back.
        ids = tf.pad(ids, [[0, 0], [0, max_length - tf.shape(ids)[1]]])
        return tf.reshape(ids, [1, max_length])  # a static shape, with builtin ops

    frozen = convert_variables_to_constants_v2(greedy.get_concrete_function())

    @tf.function(input_signature=[source_spec])
    def serving_default(source_ids):
        return {"target_ids": frozen(source_ids)[0]}

    module = tf.Module()
    module.serving_default = serving_default
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [serving_default.get_concrete_function()], module
    )
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantization is not None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantization == "float16":
        converter.target_spec.supported_types = [tf.float16]
    flatbuffer = converter.convert()
    custom = {
        op for op in tflite_ops(flatbuffer) if op.startswith("Flex") or op == "CUSTOM"
    }
    if custom:
        raise ValueError(
            f"The TFLite file would need non-builtin ops: {sorted(custom)}"
        )
    return flatbuffer


def tflite_ops(flatbuffer):
    """The names of the op kinds a TFLite flatbuffer uses, all subgraphs included.

    Builtin ops by their builtin name (`"WHILE"`, `"FULLY_CONNECTED"`, ...);
    any other op by its custom code (Flex ops are `"Flex..."`).
    """
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(flatbuffer, 0))
    builtin_names = {
        value: name
        for name, value in vars(schema.BuiltinOperator).items()
        if name.isupper()
    }
    names = set()
    for code in model.operatorCodes:
        if code.customCode:
            names.add(code.customCode.decode("utf-8"))
        else:
            builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
            names.add(builtin_names.get(builtin, f"BUILTIN_{builtin}"))
    return names


def export_tflite(model, path, max_source_length=128, max_length=32, quantization=None):
    """Writes `convert_to_tflite(...)` to `path`."""
    from s2s_keras.atomic_files import atomic_write

    flatbuffer = convert_to_tflite(model, max_source_length, max_length, quantization)
    with atomic_write(path, "wb") as file:
        file.write(flatbuffer)
    return path
