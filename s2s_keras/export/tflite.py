"""A TFLite file for phones: token ids in, output ids out, builtin ops only.

The pip TensorFlow (2.20 and later) ships no Flex delegate, so a TFLite file
that needs TensorFlow ops ("SELECT_TF_OPS") runs nowhere we can test. This
one holds the encoder and the whole search loop (a TFLite `WHILE`) with only
builtin ops; tokenization stays outside (ship `tokenizer.model` or
`vocabulary.txt` beside it and tokenize on the device).

Two signatures, with the export's decoding controls (minimum length, n-gram
blocking, repetition penalty, target prefix) built in:

| signature         | input                                   | outputs                                                |
|-------------------|-----------------------------------------|--------------------------------------------------------|
| `serving_default` | `source_ids` int32 `(1, max_source_length)` | `target_ids` int32 `(1, max_length)`: greedy       |
| `beam_search`     | `source_ids` int32 `(1, max_source_length)` | `target_ids` int32 `(1, n, max_length)`, `scores` float32 `(1, n)`: the n = beam width best, best first |

The source ids are 0-padded at the end; the outputs are the generated ids
without `<BOS>`/`<EOS>`, 0-padded; a place with no hypothesis has the score
`-inf` and no ids.

Every shape is fixed: the interpreter never resizes a tensor, so the file
runs the same with or without a delegate (XNNPACK, GPU) that plans its
buffers once. Padding changes nothing: the encoder carries its state over
padded positions and attention gives them weight 0.

The variables are frozen into constants before conversion: read inside the
loop, they would stay resource variables that the TFLite runtime cannot read.
Each signature is converted alone and the files merged into one
(`tflite_merge.py`): the converter then holds one search at a time.
"""

import tensorflow as tf
from tensorflow.python.framework.convert_to_constants import (
    convert_variables_to_constants_v2,
)

from s2s_keras.decoding.beam import BeamSearch
from s2s_keras.decoding.choosers import Greedy
from s2s_keras.decoding.search import search
from s2s_keras.export.tflite_merge import merge_signatures
from s2s_keras.utils.checks import check_choice
from s2s_keras.utils.checks import check_positive_int

QUANTIZATIONS = (None, "dynamic_range", "float16")
SIGNATURES = ("serving_default", "beam_search")


def convert_to_tflite(
    model,
    max_source_length=128,
    max_length=32,
    quantization=None,
    beam_width=4,
    length_penalty=0.6,
    coverage_penalty=0.0,
    coverage_form="gnmt",
    controls=None,
    target_prefix=(),
    signatures=SIGNATURES,
):
    """Converts a `build_seq2seq` model's greedy and beam search to a TFLite flatbuffer.

    Args:
        model: a model from `build_seq2seq`, any flavour.
        max_source_length: int, the file's fixed source width; pad shorter
            sources with 0 and cut longer ones.
        max_length: int, output tokens at most.
        quantization: `None` (float32), `"dynamic_range"` (int8 weights) or
            `"float16"` (float16 weights).
        beam_width: int, hypotheses of the `beam_search` signature (all
            returned, best first).
        length_penalty: float, its GNMT length penalty.
        coverage_penalty: float, its coverage penalty (attention only).
        coverage_form: `"gnmt"` or `"summary"`.
        controls: `decoding.Controls` for both signatures, or None.
        target_prefix: ids every output starts with (a list; empty: none).
        signatures: the signatures the file holds, of `SIGNATURES`
            (`"serving_default"`: greedy, `"beam_search"`).

    Returns:
        The flatbuffer, as bytes.

    Raises:
        ValueError: the converted file would need an op that is not a TFLite
            builtin.
    """
    max_source_length = check_positive_int("max_source_length", max_source_length)
    max_length = check_positive_int("max_length", max_length)
    check_choice("quantization", quantization, QUANTIZATIONS)
    if not signatures or not set(signatures) <= set(SIGNATURES):
        raise ValueError(
            f"Invalid value for argument signatures. Expected some of {SIGNATURES}. "
            f"Received: signatures={signatures!r}"
        )
    encoder, decoder = model.get_layer("encoder"), model.get_layer("decoder")
    source_spec = tf.TensorSpec([1, max_source_length], tf.int32, name="source_ids")
    beam = BeamSearch(
        beam_width, length_penalty, beam_width, coverage_penalty, coverage_form
    )
    prefix = tf.constant([list(target_prefix)], tf.int32, shape=[1, len(target_prefix)])

    def run(chooser, source_ids):
        return search(
            encoder, decoder, source_ids, max_length, chooser, controls, prefix
        )

    def fixed_width(ids):
        # A fixed width: an empty output (EOS first) would otherwise be a
        # zero-size tensor, which the TFLite runtime cannot hand back.
        padding = [[0, 0]] * (len(ids.shape) - 1) + [
            [0, max_length - tf.shape(ids)[-1]]
        ]
        return tf.pad(ids, padding)

    @tf.function(input_signature=[source_spec], autograph=False)
    def greedy(source_ids):
        found = run(Greedy(), source_ids)
        return tf.reshape(fixed_width(found["target_ids"]), [1, max_length])

    @tf.function(input_signature=[source_spec], autograph=False)
    def best_hypotheses(source_ids):
        found = run(beam, source_ids)
        ids = fixed_width(found["n_best_ids"])
        shape = [1, beam_width]
        return tf.reshape(ids, [*shape, max_length]), tf.reshape(
            found["n_best_scores"], shape
        )

    def frozen_search(name):
        """The signature `name`'s search, frozen, with its outputs named."""
        if name == "serving_default":
            frozen = convert_variables_to_constants_v2(greedy.get_concrete_function())

            def named(source_ids):
                return {"target_ids": frozen(source_ids)[0]}

        else:
            frozen = convert_variables_to_constants_v2(
                best_hypotheses.get_concrete_function()
            )

            def named(source_ids):
                ids, scores = frozen(source_ids)
                return {"target_ids": ids, "scores": scores}

        return tf.function(named, input_signature=[source_spec], autograph=False)

    def converted(name):
        """A flatbuffer of the one signature `name` (called serving_default there)."""
        module = tf.Module()
        module.search = frozen_search(name)
        converter = tf.lite.TFLiteConverter.from_concrete_functions(
            [module.search.get_concrete_function()], module
        )
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        if quantization is not None:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if quantization == "float16":
            converter.target_spec.supported_types = [tf.float16]
        flatbuffer = converter.convert()
        custom = {
            op
            for op in tflite_ops(flatbuffer)
            if op.startswith("Flex") or op == "CUSTOM"
        }
        if custom:
            raise ValueError(
                f"The TFLite file would need non-builtin ops: {sorted(custom)}"
            )
        return flatbuffer

    # One conversion a signature, merged (and named): the converter holds one
    # search at a time.
    return merge_signatures({name: converted(name) for name in signatures})


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


def export_tflite(
    model,
    path,
    max_source_length=128,
    max_length=32,
    quantization=None,
    **search_options,
):
    """Writes `convert_to_tflite(...)` to `path`; `search_options` are its
    `beam_width`, `length_penalty`, `coverage_penalty`, `coverage_form`,
    `controls` and `target_prefix`."""
    from s2s_keras.utils.atomic_files import atomic_write

    flatbuffer = convert_to_tflite(
        model, max_source_length, max_length, quantization, **search_options
    )
    with atomic_write(path, "wb") as file:
        file.write(flatbuffer)
    return path
