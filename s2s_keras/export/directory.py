"""One export directory with everything a user ships or fine-tunes.

    <directory>/
      saved_model/          text in, text out (see saved_model.py)
      model.tflite          ids in, ids out, greedy and beam search,
                            builtin ops (see tflite.py)
      model.keras           the Keras model, to reload and train on
      tokenizer/            tokenizer.model + vocabulary.txt (sources)
      target_tokenizer/     the same for targets, if they have their own
      lexicon.npz           the training text's words, for known_words_only
                            (decoding/lexicon.py), if the run made one
      export.json           the lengths and the decoding settings, like a
                            generation config

Everything is first written to a hidden folder inside the final one, then
moved into place entry by entry, each with one atomic rename, so a crash
while exporting never leaves a half-written file or SavedModel where a
complete one was: every entry is the previous export's or the new one's,
whole. `export.json` goes last.
"""

import json
import pathlib
import shutil
import tempfile
import warnings
import zipfile

import keras

from s2s_keras._version import __version__
from s2s_keras.decoding import generator_settings
from s2s_keras.export.saved_model import Seq2SeqServer
from s2s_keras.export.saved_model import export_saved_model
from s2s_keras.export.tflite import export_tflite
from s2s_keras.models import float32_copy
from s2s_keras.models import rebuilt
from s2s_keras.utils.atomic_files import move_into_place
from s2s_keras.utils.checks import check_choice

QUANTIZATIONS = (None, "int8")


def write_export(
    directory,
    model,
    source_tokenizer,
    target_tokenizer=None,
    max_source_length=128,
    max_target_length=None,
    tflite=True,
    tflite_quantization=None,
    quantization=None,
    extra_files=None,
    lexicon=None,
    **generator_options,
):
    """Writes the export directory described in the module docstring.

    Args:
        directory: the export folder; created if missing. Entries with the
            same names are replaced, other files are left alone.
        model: a trained model from `build_seq2seq`; one trained under mixed
            precision is exported computing in float32 (`float32_copy`).
        source_tokenizer: `SubwordTokenizer` of the sources.
        target_tokenizer: of the targets; defaults to the source one.
        max_source_length: int, source ids kept by the SavedModel; the
            TFLite file's fixed source width.
        max_target_length: int, the SavedModel's cap on `generate`'s
            `max_length` and on the target tokens `score` reads (see
            saved_model.py); None for its default.
        tflite: bool, whether to write `model.tflite` (greedy and beam
            search, with the export's controls).
        tflite_quantization: `None`, `"dynamic_range"` or `"float16"`.
        quantization: `None`, or `"int8"`: the SavedModel and `model.keras`
            get int8 weights in their Dense and Embedding layers (Keras'
            `model.quantize("int8")`: per-channel weight scales, activations
            quantized on the fly; the LSTMs stay float32), and the TFLite
            file dynamic-range int8 weights unless `tflite_quantization`
            says otherwise. About 2.5x smaller; scores and speed:
            docs/benchmarks.md.
        extra_files: dict file name -> text, written beside (a model card,
            metrics).
        lexicon: the target vocabulary's `Lexicon`, written beside and
            built into the SavedModel and TFLite file where
            `known_words_only` is on; None for none.
        **generator_options: `Generator` arguments for the SavedModel
            (`max_length`, `method`, `beam_width`, `no_repeat_ngram_size`,
            ...), and `target_prefix` (text).

    Returns:
        The export folder, a `pathlib.Path`.
    """
    check_choice("quantization", quantization, QUANTIZATIONS)
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    float_model = float32_copy(model)  # TFLite has no bfloat16 kernels
    model = quantized_copy(float_model) if quantization else float_model
    if quantization and tflite_quantization is None:
        tflite_quantization = "dynamic_range"
    target_tokenizer = target_tokenizer or source_tokenizer
    staging = pathlib.Path(tempfile.mkdtemp(prefix=".export-", dir=directory))
    try:
        server = Seq2SeqServer(
            model,
            source_tokenizer,
            target_tokenizer,
            max_source_length=max_source_length,
            max_target_length=max_target_length,
            lexicon=lexicon,
            **generator_options,
        )
        if lexicon is not None:
            lexicon.save(staging)
        model.save(staging / "model.keras")
        source_tokenizer.save(staging / "tokenizer")
        if target_tokenizer is not source_tokenizer:
            target_tokenizer.save(staging / "target_tokenizer")
        options = generator_settings(
            **{
                key: value
                for key, value in generator_options.items()
                if key != "target_prefix"
            }
        )
        settings = {
            "s2s_keras_version": __version__,
            "max_source_length": max_source_length,
            "max_target_length": server.max_target_length,
            "quantization": quantization,
            "generator": {
                "target_prefix": generator_options.get("target_prefix") or "",
                **options,
            },
        }
        if tflite:
            max_length, beam_width = options["max_length"], options["beam_width"]
            export_tflite(
                float_model,  # TFLite quantizes it itself
                staging / "model.tflite",
                max_source_length,
                max_length,
                tflite_quantization,
                beam_width=beam_width,
                length_penalty=options["length_penalty"],
                coverage_penalty=options["coverage_penalty"],
                coverage_form=options["coverage_form"],
                controls=server.generator.controls,  # the SavedModel's, the same
                target_prefix=server.prefix_ids.numpy()[0].tolist(),
            )
            settings["tflite"] = {
                "signatures": {
                    "serving_default": "greedy",
                    "beam_search": f"beam search, the {beam_width} best",
                },
                "source_ids_shape": [1, max_source_length],
                "max_length": max_length,
                "quantization": tflite_quantization,
            }
        # The SavedModel after the TFLite file: its tracing reuses the memory
        # the conversions freed (export peak 1.39 GB against 1.89 GB the other
        # way round, for the summarizer; docs/benchmarks.md).
        export_saved_model(server, staging / "saved_model")
        (staging / "export.json").write_text(json.dumps(settings, indent=2) + "\n")
        for name, text in (extra_files or {}).items():
            (staging / name).write_text(text, encoding="utf-8")
        # export.json last: it describes what is in place.
        for entry in sorted(staging.iterdir(), key=lambda e: e.name == "export.json"):
            move_into_place(entry, directory / entry.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return directory


def quantized_copy(model, mode="int8"):
    """A copy of `model` whose Dense and Embedding layers hold `mode` weights."""
    copy = rebuilt(model)
    quantize(copy, mode)
    return copy


def quantize(model, mode):
    """`model.quantize(mode)`, without a warning for every layer it leaves alone."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Layer .* does not have a `quantize` method")
        model.quantize(mode)


def read_export(directory):
    """An export directory read back for Python: model, tokenizer and settings.

    Args:
        directory: an export folder (`write_export`'s, a recipe's `--output`).

    Returns:
        A dict: `"model"` (the Keras model), `"tokenizer"` (the source
        `SubwordTokenizer`), `"target_tokenizer"` (the same one unless the
        export has its own), `"lexicon"` (its `Lexicon`, or None),
        `"settings"` (`export.json`) and `"metrics"` (`metrics.json`, or
        None for an export without one).
    """
    from s2s_keras.decoding import Lexicon
    from s2s_keras.text import SubwordTokenizer

    directory = pathlib.Path(directory)
    if not (directory / "model.keras").is_file():
        raise ValueError(
            f"No export in {directory}: model.keras not found. Pass the "
            "--output of an earlier run."
        )
    tokenizer = SubwordTokenizer.load(directory / "tokenizer")
    target_tokenizer = tokenizer
    if (directory / "target_tokenizer").is_dir():
        target_tokenizer = SubwordTokenizer.load(directory / "target_tokenizer")
    metrics = None
    if (directory / "metrics.json").is_file():
        metrics = json.loads((directory / "metrics.json").read_text())
    settings = json.loads((directory / "export.json").read_text())
    return {
        "model": load_model(directory / "model.keras", settings.get("quantization")),
        "tokenizer": tokenizer,
        "target_tokenizer": target_tokenizer,
        "lexicon": Lexicon.load(directory),
        "settings": settings,
        "metrics": metrics,
    }


def load_model(path, quantization=None):
    """An export's `model.keras`, with its int8 weights if it has them.

    The layers build their Dense and Embedding sublayers themselves, so a
    quantized file does not load with `keras.saving.load_model` alone: the
    model is built from the file's config, quantized the same way, and
    given the file's weights.
    """
    if quantization is None:
        return keras.saving.load_model(path, safe_mode=True)
    with zipfile.ZipFile(path) as archive:
        config = json.loads(archive.read("config.json"))
    model = keras.saving.deserialize_keras_object(config, safe_mode=True)
    quantize(model, quantization)
    model.load_weights(path)
    return model


def predict_texts(directory, texts):
    """Runs texts through an export directory's SavedModel.

    Args:
        directory: an export folder (`write_export`'s, a recipe's `--output`).
        texts: list of strings.

    Returns:
        The generated texts, a list of strings in order.
    """
    import tensorflow as tf
    import tensorflow_text  # noqa: F401 (registers the tokenizer ops)

    saved_model = pathlib.Path(directory) / "saved_model"
    if not saved_model.is_dir():
        raise ValueError(
            f"No export in {directory}: {saved_model} not found. Pass the "
            "--output of an earlier run."
        )
    if not texts:
        return []
    serve = tf.saved_model.load(str(saved_model)).signatures["serving_default"]
    outputs = serve(text=tf.constant(texts))["text"].numpy()
    return [output.decode("utf-8") for output in outputs]
