"""The export directory: SavedModel, TFLite and .keras, each used as a user would."""

import json
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

import s2s_keras
from s2s_keras import build_seq2seq
from s2s_keras.decoding import generate
from s2s_keras.decoding import score
from s2s_keras.export import convert_to_tflite
from s2s_keras.export import read_export
from s2s_keras.export import tflite_ops
from s2s_keras.export import write_export
from s2s_keras.special_tokens import BOS_ID
from s2s_keras.special_tokens import EOS_ID
from s2s_keras.text import SubwordTokenizer
from tests.text.test_tokenizer import corpus

MAX_SOURCE, MAX_LENGTH = 16, 10
BAD_INPUTS = [
    "",
    "   \t ",
    "word " * 10_000,
    "control \x00\x07\x1b characters",
    "emoji 😀🚀👩‍💻",
    "qqqq zzzz xxxx",  # all unknown words
    "the encoder reads the source",
    "ünïcödé 東京",
]


def sharp_model(vocab_size, attention="dot"):
    """An untrained model with large weights: confident, varied outputs."""
    model = build_seq2seq(vocab_size, vocab_size, 8, 16, attention=attention)
    rng = np.random.default_rng(0)
    for weight in model.weights:
        weight.assign(rng.normal(size=weight.shape).astype("float32") * 0.5)
    return model


def sharp_export(tmp_path_factory, name, tokenizer=None, **options):
    """A sharp model and its tokenizer, exported to a new folder `name`."""
    tokenizer = tokenizer or SubwordTokenizer.train(corpus(), vocab_size=320)
    model = sharp_model(tokenizer.vocab_size)
    directory = tmp_path_factory.mktemp(name)
    write_export(
        directory,
        model,
        tokenizer,
        max_source_length=MAX_SOURCE,
        max_length=MAX_LENGTH,
        **options,
    )
    return directory, model, tokenizer


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    return sharp_export(
        tmp_path_factory,
        "export",
        method="greedy",
        extra_files={"README.md": "# card\n"},
    )


def test_layout(exported):
    directory, _, _ = exported
    names = sorted(path.name for path in directory.iterdir())
    assert names == [
        "README.md",
        "export.json",
        "model.keras",
        "model.tflite",
        "saved_model",
        "tokenizer",
    ]
    settings = json.loads((directory / "export.json").read_text())
    assert settings["max_source_length"] == MAX_SOURCE
    assert settings["s2s_keras_version"] == s2s_keras.__version__
    assert settings["generator"]["method"] == "greedy"
    assert (directory / "tokenizer" / "vocabulary.txt").is_file()


def run_without_s2s_keras(script):
    """Runs `script` in a fresh Python that cannot import s2s_keras."""
    prelude = "import sys\nsys.modules['s2s_keras'] = None\n"
    result = subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(script)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_saved_model_answers_bad_input_without_s2s_keras(exported):
    directory, _, _ = exported
    script = f"""
        import json
        import tensorflow as tf
        import tensorflow_text  # the SentencePiece ops
        model = tf.saved_model.load({str(directory / "saved_model")!r})
        serve = model.signatures["serving_default"]
        inputs = {BAD_INPUTS!r}
        raw = [b"\\xff\\xfe invalid utf-8", b"\\xc3", b"ok \\xe2\\x82"]
        results = {{}}
        batch = serve(text=tf.constant(inputs))
        results["batch"] = [t.decode("utf-8") for t in batch["text"].numpy()]
        results["one_by_one"] = [
            serve(text=tf.constant([text]))["text"].numpy()[0].decode("utf-8")
            for text in inputs
        ]
        results["raw"] = len(serve(text=tf.constant(raw))["text"].numpy())
        results["empty_batch"] = serve(text=tf.constant([], tf.string))["text"].shape[0]
        ids = model.signatures["tokenize"](text=tf.constant(inputs))["source_ids"]
        results["source_width"] = int(ids.shape[1])
        generated = model.signatures["generate_ids"](source_ids=ids)
        text = model.signatures["detokenize"](target_ids=generated["target_ids"])["text"]
        results["pipeline"] = [t.decode("utf-8") for t in text.numpy()]
        attention = model.signatures["attention"](text=tf.constant(inputs[-2:]))
        results["attention"] = list(attention["weights"].shape)
        results["scores_finite"] = bool(tf.reduce_all(tf.math.is_finite(batch["scores"])))
        generated = model.signatures["generate"](
            text=tf.constant(inputs), target_prefix=tf.constant([""] * len(inputs)),
            max_length=tf.constant(4), min_length=tf.constant(2),
            no_repeat_ngram_size=tf.constant(2), repetition_penalty=tf.constant(1.2),
            length_penalty=tf.constant(0.6), coverage_penalty=tf.constant(0.0))
        results["generate"] = [t.decode("utf-8") for t in generated["text"].numpy()]
        scored = model.signatures["score"](
            source=tf.constant(inputs), target=tf.constant(raw + [b""] * 5))
        results["score"] = [float(v) for v in scored["log_likelihood"].numpy()]
        print(json.dumps(results))
    """
    results = json.loads(run_without_s2s_keras(script).strip().splitlines()[-1])
    assert len(results["batch"]) == len(BAD_INPUTS)
    assert results["batch"] == results["one_by_one"] == results["pipeline"]
    assert results["raw"] == 3 and results["empty_batch"] == 0
    assert results["source_width"] == MAX_SOURCE  # 10,000 words cut
    assert results["attention"][0] == 2 and results["attention"][2] <= MAX_SOURCE
    assert results["scores_finite"]
    assert len(results["generate"]) == len(BAD_INPUTS)
    assert all(len(text.split()) <= 4 for text in results["generate"])
    assert len(results["score"]) == len(BAD_INPUTS)
    assert all(score < 0 for score in results["score"])


# The generate signature's numeric inputs, at values that change nothing.
SETTING_DEFAULTS = {
    "max_length": MAX_LENGTH,
    "min_length": 0,
    "no_repeat_ngram_size": 0,
    "repetition_penalty": 1.0,
    "length_penalty": 0.6,
    "coverage_penalty": 0.0,
}
BAD_SETTINGS = [
    ("max_length", 0),
    ("max_length", 100_000),
    ("min_length", -1),
    ("min_length", MAX_LENGTH + 1),
    ("no_repeat_ngram_size", -2),
    ("no_repeat_ngram_size", MAX_LENGTH + 1),
    ("repetition_penalty", 0.0),
    ("repetition_penalty", float("nan")),
    ("repetition_penalty", float("inf")),
    ("length_penalty", float("-inf")),
    ("length_penalty", -0.5),
    ("coverage_penalty", float("nan")),
]


def test_saved_model_rejects_bad_settings_and_bounds_its_inputs_without_s2s_keras(
    exported,
):
    """Each bad setting is an InvalidArgumentError naming it and its value;
    over-long sources and score targets are cut, ids outside the vocabulary
    rejected: the bounds hold in any TensorFlow program, not only the server."""
    directory, _, tokenizer = exported
    defaults = SETTING_DEFAULTS
    script = f"""
        import json
        import tensorflow as tf
        import tensorflow_text  # the SentencePiece ops
        model = tf.saved_model.load({str(directory / "saved_model")!r})
        generate = model.signatures["generate"]
        defaults = {defaults!r}
        results = {{"rejected": [], "accepted": []}}
        def call(name, value):
            settings = {{**defaults, name: value}}
            inputs = {{
                key: tf.constant(v, tf.int32 if isinstance(v, int) else tf.float32)
                for key, v in settings.items()
            }}
            return generate(text=tf.constant(["a text"]),
                            target_prefix=tf.constant([""]), **inputs)
        for name, value in json.loads({json.dumps(BAD_SETTINGS)!r}):
            try:
                call(name, value)
                results["accepted"].append([name, value])
            except tf.errors.InvalidArgumentError as error:
                results["rejected"].append([name, str(value), error.message])
        results["at_the_cap"] = int(call("max_length", {MAX_LENGTH})["text"].shape[0])
        json_cap = json.load(open({str(directory / "export.json")!r}))["max_target_length"]
        results["cap_accepted"] = int(call("max_length", json_cap)["text"].shape[0])
        try:
            call("max_length", json_cap + 1)
        except tf.errors.InvalidArgumentError:
            results["over_cap"] = "rejected"
        wide = tf.fill([2, 5000], 7)
        results["wide"] = list(model.signatures["generate_ids"](source_ids=wide)["target_ids"].shape)
        for name, ids in [("source_ids", [[5, -1]]), ("source_ids", [[5, 10**6]])]:
            try:
                model.signatures["generate_ids"](source_ids=tf.constant(ids))
            except tf.errors.InvalidArgumentError as error:
                results.setdefault("bad_ids", []).append(error.message)
        try:
            model.signatures["detokenize"](target_ids=tf.constant([[4, 10**6]]))
        except tf.errors.InvalidArgumentError as error:
            results.setdefault("bad_ids", []).append(error.message)
        long_target = " ".join(["word"] * 20000)
        scored = model.signatures["score"](source=tf.constant(["x"]),
                                           target=tf.constant([long_target]))
        results["score_length"] = int(scored["length"].numpy()[0])
        results["json_cap"] = json_cap
        print(json.dumps(results))
    """
    results = json.loads(run_without_s2s_keras(script).strip().splitlines()[-1])
    assert results["accepted"] == []
    assert len(results["rejected"]) == len(BAD_SETTINGS)
    for (name, _, message), (bad_name, bad_value) in zip(
        results["rejected"], BAD_SETTINGS, strict=True
    ):
        assert name == bad_name and f"generate: {name} must be" in message, message
        assert f"Received: {name} =" in message
        assert str(bad_value).lower().split(".")[0] in message.lower(), message
    assert results["at_the_cap"] == results["cap_accepted"] == 1
    assert results["over_cap"] == "rejected"
    assert results["wide"][0] == 2
    assert len(results["bad_ids"]) == 3
    assert all("must be token ids in 0.." in m for m in results["bad_ids"])
    assert "-1" in results["bad_ids"][0] and "1000000" in results["bad_ids"][1]
    # The target is cut to the cap: that many tokens and <EOS> are scored.
    assert results["score_length"] == results["json_cap"] + 1


def test_saved_model_matches_python_generation(exported):
    directory, model, tokenizer = exported
    loaded = tf.saved_model.load(str(directory / "saved_model"))
    texts = BAD_INPUTS[4:]
    source_ids = tokenizer.tokenize(texts)[:, :MAX_SOURCE].to_tensor()
    expected = generate(model, source_ids, max_length=MAX_LENGTH)
    served = loaded.signatures["generate_ids"](source_ids=source_ids)
    np.testing.assert_array_equal(served["target_ids"].numpy(), expected["target_ids"])
    text = loaded.signatures["serving_default"](text=tf.constant(texts))["text"].numpy()
    assert list(text) == list(tokenizer.detokenize(expected["target_ids"]).numpy())


def test_saved_model_cli_runs_it(exported):
    directory, _, _ = exported
    script = f"""
        import sys
        import tensorflow_text  # the SentencePiece ops, before the graph loads
        from tensorflow.python.tools import saved_model_cli
        sys.argv = ["saved_model_cli", "run", "--dir", {str(directory / "saved_model")!r},
                    "--tag_set", "serve", "--signature_def", "serving_default",
                    "--input_exprs", 'text=["the encoder reads", ""]']
        saved_model_cli.main()
    """
    output = run_without_s2s_keras(script)
    assert "Result for output key text" in output
    assert "Result for output key score" in output


def padded(source_ids):
    """The TFLite file's fixed source width: 0-padded at the end."""
    return np.pad(source_ids, [[0, 0], [0, MAX_SOURCE - source_ids.shape[1]]])


def check_parity(model, source_ids, on_device, served):
    """TFLite's ids equal the SavedModel's, or part only at a tie.

    XNNPACK and TensorFlow's CPU kernels sum in different orders, chosen by
    the processor's features (AVX2, AVX-512, AMX): where two tokens' logits
    tie within float rounding, the two runtimes may pick different ones, and
    the outputs part from there. Any other difference fails.

    Returns:
        Whether the two outputs are identical.
    """
    if np.array_equal(on_device, served):
        return True
    step = int(np.argmax(on_device[0] != served[0]))
    target_ids = np.array([[BOS_ID, *served[0, :step]]], "int32")
    logits = np.asarray(model({"source_ids": source_ids, "target_ids": target_ids}))
    gap = abs(logits[0, step, served[0, step]] - logits[0, step, on_device[0, step]])
    assert gap < 1e-3, (source_ids, step, gap, on_device, served)
    return False


def test_tflite_is_builtin_only_and_equals_generate_ids(exported):
    from ai_edge_litert.interpreter import Interpreter

    directory, model, _ = exported
    flatbuffer = (directory / "model.tflite").read_bytes()
    ops = tflite_ops(flatbuffer)
    assert "WHILE" in ops
    assert not [op for op in ops if op.startswith("Flex") or op == "CUSTOM"]
    interpreter = Interpreter(model_content=flatbuffer)
    (source,) = (
        interpreter.get_signature_runner("serving_default").get_input_details().values()
    )
    assert list(source["shape"]) == [1, MAX_SOURCE]  # fixed: no resizing on device
    runner = interpreter.get_signature_runner("serving_default")
    loaded = tf.saved_model.load(str(directory / "saved_model"))
    rng = np.random.default_rng(3)
    identical = 0
    for length in [*range(1, MAX_SOURCE + 1), *rng.integers(1, MAX_SOURCE, 9)]:
        source_ids = rng.integers(4, model.get_layer("encoder").vocab_size, (1, length))
        source_ids = source_ids.astype("int32")
        on_device = runner(source_ids=padded(source_ids))["target_ids"]
        served = loaded.signatures["generate_ids"](source_ids=source_ids)["target_ids"]
        served = np.pad(served.numpy(), [[0, 0], [0, MAX_LENGTH - served.shape[1]]])
        assert on_device.shape == (1, MAX_LENGTH)  # fixed width, 0-padded
        identical += check_parity(model, source_ids, on_device, served)
    print(f"TFLite == SavedModel on {identical} of 25 inputs; the rest part at ties")


def test_tflite_answers_an_empty_output(exported):
    """EOS first: the file still returns (1, max_length) zeros, not a zero-size tensor."""
    from ai_edge_litert.interpreter import Interpreter

    _, model, _ = exported
    bias = model.get_layer("decoder").output_projection.bias
    saved = bias.numpy()
    try:
        bias.assign(saved + 1e4 * np.eye(len(saved))[EOS_ID])
        flatbuffer = convert_to_tflite(model, MAX_SOURCE, MAX_LENGTH)
    finally:
        bias.assign(saved)
    runner = Interpreter(model_content=flatbuffer).get_signature_runner(
        "serving_default"
    )
    ids = runner(source_ids=padded(np.array([[5, 6, 7]], "int32")))["target_ids"]
    np.testing.assert_array_equal(ids, np.zeros((1, MAX_LENGTH), "int32"))


@pytest.mark.parametrize("quantization", ["dynamic_range", "float16"])
def test_quantized_tflite_runs(exported, quantization):
    from ai_edge_litert.interpreter import Interpreter

    _, model, _ = exported
    flatbuffer = convert_to_tflite(model, MAX_SOURCE, MAX_LENGTH, quantization)
    runner = Interpreter(model_content=flatbuffer).get_signature_runner(
        "serving_default"
    )
    ids = runner(source_ids=padded(np.array([[5, 6, 7]], "int32")))["target_ids"]
    assert ids.shape == (1, MAX_LENGTH)


def test_a_tflite_file_of_one_signature_answers_as_the_file_of_both(exported):
    from ai_edge_litert.interpreter import Interpreter

    directory, model, _ = exported
    both = Interpreter(model_content=(directory / "model.tflite").read_bytes())
    source_ids = padded(np.array([[5, 6, 7, 9]], "int32"))
    for signature in ("serving_default", "beam_search"):
        alone = Interpreter(
            model_content=convert_to_tflite(
                model, MAX_SOURCE, MAX_LENGTH, signatures=[signature]
            )
        )
        assert list(alone.get_signature_list()) == [signature]
        expected = both.get_signature_runner(signature)(source_ids=source_ids)
        found = alone.get_signature_runner(signature)(source_ids=source_ids)
        assert found.keys() == expected.keys()
        for name in found:
            np.testing.assert_allclose(found[name], expected[name], rtol=1e-5)
    # Merged from one file a signature, yet each constant (the weights,
    # read by both) stored once.
    from tensorflow.lite.python import schema_py_generated as schema

    merged = schema.ModelT.InitFromObj(
        schema.Model.GetRootAsModel((directory / "model.tflite").read_bytes(), 0)
    )
    constants = [b.data.tobytes() for b in merged.buffers if b.data is not None]
    assert len(constants) == len(set(constants)) > 10
    kernel = model.get_layer("encoder").weights[0].numpy().astype("float32").tobytes()
    assert constants.count(kernel) == 1
    from s2s_keras.export.tflite_merge import merge_signatures

    with pytest.raises(ValueError, match="no file"):
        merge_signatures({})
    with pytest.raises(ValueError, match="one signature. Received: 2 for 'x'"):
        merge_signatures({"x": (directory / "model.tflite").read_bytes()})
    for bad in ([], ["greedy"]):
        with pytest.raises(ValueError, match="signatures"):
            convert_to_tflite(model, MAX_SOURCE, MAX_LENGTH, signatures=bad)


def test_keras_file_reloads_trains_on_and_exports_again(exported, tmp_path):
    directory, _, tokenizer = exported
    model = keras.saving.load_model(directory / "model.keras", safe_mode=True)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    inputs = {
        "source_ids": np.array([[5, 6, 7]], "int32"),
        "target_ids": np.array([[2, 5, 6]], "int32"),
    }
    history = model.fit(inputs, np.array([[5, 6, 3]]), epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    write_export(
        tmp_path, model, tokenizer, max_source_length=8, tflite=False, max_length=4
    )
    reloaded = tf.saved_model.load(str(tmp_path / "saved_model"))
    assert reloaded.signatures["serving_default"](text=tf.constant(["x"]))[
        "text"
    ].shape == (1,)


def test_failed_export_leaves_the_previous_one(exported, tmp_path):
    _, model, tokenizer = exported
    write_export(
        tmp_path, model, tokenizer, max_source_length=8, tflite=False, max_length=4
    )
    before = (tmp_path / "model.keras").read_bytes()
    with pytest.raises(ValueError, match="quantization"):
        write_export(
            tmp_path, model, tokenizer, tflite_quantization="int4", max_length=4
        )
    assert (tmp_path / "model.keras").read_bytes() == before
    assert not [path for path in tmp_path.iterdir() if path.name.startswith(".export-")]
    loaded = tf.saved_model.load(str(tmp_path / "saved_model"))
    assert loaded.signatures["serving_default"](text=tf.constant(["x"]))[
        "text"
    ].shape == (1,)


def test_plain_model_exports_without_attention_signature(tmp_path):
    tokenizer = SubwordTokenizer.train(corpus(), vocab_size=320)
    model = sharp_model(tokenizer.vocab_size, attention=None)
    write_export(
        tmp_path, model, tokenizer, max_source_length=8, tflite=False, max_length=4
    )
    loaded = tf.saved_model.load(str(tmp_path / "saved_model"))
    assert "attention" not in loaded.signatures
    assert loaded.signatures["serving_default"](text=tf.constant(["x", ""]))[
        "text"
    ].shape == (2,)


@pytest.mark.parametrize("tie_embeddings", [False, True], ids=["", "tied"])
def test_copy_and_coverage_model_exports_with_parity(tie_embeddings, tmp_path):
    """The pointer-generator with coverage: SavedModel, TFLite and .keras agree."""
    from ai_edge_litert.interpreter import Interpreter

    tokenizer = SubwordTokenizer.train(corpus(), vocab_size=320)
    model = build_seq2seq(
        tokenizer.vocab_size, tokenizer.vocab_size, 8, 16, copy=True, coverage=True,
        tie_embeddings=tie_embeddings,
    )  # fmt: skip
    rng = np.random.default_rng(1)
    for weight in model.weights:
        weight.assign(rng.normal(size=weight.shape).astype("float32") * 0.5)
    write_export(
        tmp_path, model, tokenizer, max_source_length=MAX_SOURCE, max_length=MAX_LENGTH
    )
    flatbuffer = (tmp_path / "model.tflite").read_bytes()
    assert not [
        op for op in tflite_ops(flatbuffer) if op.startswith("Flex") or op == "CUSTOM"
    ]
    runner = Interpreter(model_content=flatbuffer).get_signature_runner(
        "serving_default"
    )
    loaded = tf.saved_model.load(str(tmp_path / "saved_model"))
    identical = 0
    for length in range(1, MAX_SOURCE + 1):
        source_ids = rng.integers(4, tokenizer.vocab_size, (1, length)).astype("int32")
        served = loaded.signatures["generate_ids"](source_ids=source_ids)["target_ids"]
        served = np.pad(served.numpy(), [[0, 0], [0, MAX_LENGTH - served.shape[1]]])
        expected = generate(model, source_ids, max_length=MAX_LENGTH)["target_ids"]
        expected = np.pad(expected, [[0, 0], [0, MAX_LENGTH - expected.shape[1]]])
        np.testing.assert_array_equal(served, expected)
        on_device = runner(source_ids=padded(source_ids))["target_ids"]
        identical += check_parity(model, source_ids, on_device, served)
    print(f"TFLite == SavedModel on {identical} of {MAX_SOURCE}; the rest part at ties")
    text = loaded.signatures["serving_default"](text=tf.constant(BAD_INPUTS))["text"]
    assert text.shape == (len(BAD_INPUTS),)
    reloaded = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True)
    inputs = {"source_ids": source_ids, "target_ids": np.array([[BOS_ID, 5]], "int32")}
    np.testing.assert_allclose(reloaded(inputs), model(inputs), atol=1e-6)


CONTROLS = {
    "method": "beam",
    "beam_width": 3,
    "length_penalty": 0.6,
    "coverage_penalty": 0.2,
    "min_length": 3,
    "no_repeat_ngram_size": 2,
    "repetition_penalty": 1.3,
}


@pytest.fixture(scope="module")
def controlled(tmp_path_factory):
    """An export that decodes with beam search and every control."""
    return sharp_export(tmp_path_factory, "controlled", target_prefix="the", **CONTROLS)


def python_generation(model, tokenizer, texts, prefixes, **settings):
    """What `generate` gives for texts, as the SavedModel tokenizes them."""
    source_ids = tokenizer.tokenize(texts)[:, :MAX_SOURCE].to_tensor()
    prefix = [list(row) for row in tokenizer.tokenize(prefixes).numpy()]
    return generate(
        model, source_ids, tokenizer=tokenizer, target_prefix=prefix, **settings
    )


def test_export_json_holds_every_decoding_setting(controlled):
    directory, _, _ = controlled
    settings = json.loads((directory / "export.json").read_text())
    # The settings given, and the defaults of the others: a reader needs no
    # library defaults (like a generation config).
    assert settings["generator"] == {
        **CONTROLS,
        "max_length": MAX_LENGTH,
        "target_prefix": "the",
        "coverage_form": "gnmt",
        "ngram_unit": "word",
        "known_words_only": False,
        "temperature": 1.0,
        "seed": 0,
    }
    assert set(settings["tflite"]["signatures"]) == {"serving_default", "beam_search"}


def test_saved_model_decodes_with_the_export_controls(controlled):
    directory, model, tokenizer = controlled
    loaded = tf.saved_model.load(str(directory / "saved_model"))
    texts = BAD_INPUTS[4:]
    expected = python_generation(
        model, tokenizer, texts, ["the"] * len(texts), max_length=MAX_LENGTH, **CONTROLS
    )
    served = loaded.signatures["serving_default"](text=tf.constant(texts))
    assert list(served["text"].numpy()) == list(
        tokenizer.detokenize(expected["target_ids"]).numpy()
    )
    np.testing.assert_allclose(served["scores"], expected["scores"], atol=1e-4)
    prefix = list(tokenizer.tokenize(["the"]).numpy()[0])
    for ids in expected["target_ids"]:
        assert list(ids[: len(prefix)]) == prefix and len(ids[ids != 0]) >= 3
        words = tokenizer.detokenize(ids[None]).numpy()[0].decode().split()
        bigrams = list(zip(words, words[1:], strict=False))
        assert len(set(bigrams)) == len(bigrams)


def settings_inputs(**settings):
    values = {**SETTING_DEFAULTS, **settings}
    return {
        name: tf.constant(value, tf.int32 if isinstance(value, int) else tf.float32)
        for name, value in values.items()
    }


@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"no_repeat_ngram_size": 1, "min_length": 5, "max_length": 7},
        {"repetition_penalty": 2.0, "length_penalty": 0.0, "coverage_penalty": 1.0},
    ],
    ids=["none", "blocking", "penalties"],
)
def test_generate_signature_takes_the_settings_per_call(controlled, settings):
    directory, model, tokenizer = controlled
    loaded = tf.saved_model.load(str(directory / "saved_model"))
    texts = BAD_INPUTS[4:]
    prefixes = ["", "the", "", "reads the"]
    served = loaded.signatures["generate"](
        text=tf.constant(texts),
        target_prefix=tf.constant(prefixes),
        **settings_inputs(**settings),
    )
    expected = python_generation(
        model,
        tokenizer,
        texts,
        prefixes,
        **{
            **CONTROLS,
            "min_length": 0,
            "no_repeat_ngram_size": 0,
            "repetition_penalty": 1.0,
            "coverage_penalty": 0.0,
            "max_length": MAX_LENGTH,
            "num_results": 3,
            **settings,
        },
    )
    assert list(served["text"].numpy()) == list(
        tokenizer.detokenize(expected["target_ids"]).numpy()
    )
    np.testing.assert_allclose(served["scores"], expected["scores"], atol=1e-4)
    assert served["n_best"].shape == (len(texts), 3)
    np.testing.assert_allclose(
        served["n_best_scores"], expected["n_best_scores"], atol=1e-4
    )


def test_score_signature_equals_decoding_score(controlled):
    from s2s_keras.decoding import score

    directory, model, tokenizer = controlled
    loaded = tf.saved_model.load(str(directory / "saved_model"))
    sources = BAD_INPUTS[4:]
    targets = ["the encoder", "", "reads the source", "😀"]
    served = loaded.signatures["score"](
        source=tf.constant(sources), target=tf.constant(targets)
    )
    source_ids = tokenizer.tokenize(sources)[:, :MAX_SOURCE].to_tensor().numpy()
    target_ids = tokenizer.tokenize(targets).to_tensor().numpy()
    expected = score(model, source_ids, target_ids)
    np.testing.assert_allclose(served["log_likelihood"], expected, atol=1e-4)
    np.testing.assert_array_equal(served["length"], (target_ids != 0).sum(1) + 1)
    # The export's own output scores as its search scored it (beam: before
    # the length and coverage penalties, so check with the plain model score).
    generated = loaded.signatures["generate"](
        text=tf.constant(sources),
        target_prefix=tf.constant([""] * 4),
        **settings_inputs(length_penalty=0.0),
    )
    rescored = loaded.signatures["score"](
        source=tf.constant(sources), target=generated["text"]
    )
    assert (rescored["log_likelihood"].numpy() < 0).all()


def test_tflite_beam_search_signature_equals_python_beam_search(controlled):
    """Python beam search is what the SavedModel runs (tested above)."""
    from ai_edge_litert.interpreter import Interpreter

    directory, model, tokenizer = controlled
    flatbuffer = (directory / "model.tflite").read_bytes()
    assert not [
        op for op in tflite_ops(flatbuffer) if op.startswith("Flex") or op == "CUSTOM"
    ]
    interpreter = Interpreter(model_content=flatbuffer)
    beam = interpreter.get_signature_runner("beam_search")
    greedy = interpreter.get_signature_runner("serving_default")
    prefix = [list(tokenizer.tokenize(["the"]).numpy()[0])]
    rng = np.random.default_rng(4)
    identical = 0
    for length in range(1, MAX_SOURCE + 1):
        source_ids = rng.integers(4, tokenizer.vocab_size, (1, length)).astype("int32")
        on_device = beam(source_ids=padded(source_ids))
        assert on_device["target_ids"].shape == (1, 3, MAX_LENGTH)
        assert on_device["scores"].shape == (1, 3)
        expected = generate(
            model,
            source_ids,
            max_length=MAX_LENGTH,
            num_results=3,
            tokenizer=tokenizer,
            target_prefix=prefix,
            **CONTROLS,
        )
        n_best = np.pad(
            expected["n_best_ids"],
            [[0, 0], [0, 0], [0, MAX_LENGTH - expected["n_best_ids"].shape[2]]],
        )
        same = np.array_equal(on_device["target_ids"], n_best)
        identical += same
        # Ties aside (see check_parity), the best hypotheses and scores agree.
        np.testing.assert_allclose(
            on_device["scores"], expected["n_best_scores"], atol=1e-3
        )
        greedy_ids = greedy(source_ids=padded(source_ids))["target_ids"]
        assert (greedy_ids[0, : len(prefix[0])] == prefix[0]).all()
    assert identical >= MAX_SOURCE - 2


def test_int8_export_is_smaller_loads_back_and_answers_like_float(exported, tmp_path):
    """--quantize int8: Keras int8 Dense and Embedding weights, TFLite dynamic range."""
    from ai_edge_litert.interpreter import Interpreter

    float_directory, model, tokenizer = exported
    directory = write_export(
        tmp_path / "int8",
        model,
        tokenizer,
        max_source_length=MAX_SOURCE,
        max_length=MAX_LENGTH,
        method="greedy",
        quantization="int8",
    )
    settings = json.loads((directory / "export.json").read_text())
    assert settings["quantization"] == "int8"
    assert settings["tflite"]["quantization"] == "dynamic_range"
    reloaded = read_export(directory)["model"]
    decoder = reloaded.get_layer("decoder")
    assert (
        keras.backend.standardize_dtype(decoder.output_projection.kernel.dtype)
        == "int8"
    )
    assert keras.backend.standardize_dtype(decoder.embedding.embeddings.dtype) == "int8"
    assert model.get_layer("decoder").output_projection.kernel.dtype == "float32"
    # int8 weights, one scale per output channel: the logits barely move.
    source_ids = tokenizer.tokenize(["the cat sat", "a dog ran far"]).to_tensor()
    inputs = {"source_ids": source_ids, "target_ids": source_ids[:, :4]}
    logits, quantized = np.asarray(model(inputs)), np.asarray(reloaded(inputs))
    assert np.abs(quantized - logits).max() < 0.05 * np.abs(logits).max()
    served = tf.saved_model.load(str(directory / "saved_model"))
    texts = served.signatures["serving_default"](tf.constant(["the cat sat"]))["text"]
    assert texts.shape == (1,)
    # This tiny model's LSTMs and file overheads are a larger share than a
    # real one's (the summarizer's: 2.5x and 3.7x smaller, docs/benchmarks.md).
    for name in ("model.keras", "model.tflite"):
        size = (directory / name).stat().st_size
        assert size < 0.8 * (float_directory / name).stat().st_size, name
    flatbuffer = (directory / "model.tflite").read_bytes()
    assert not [op for op in tflite_ops(flatbuffer) if op.startswith("FlexDelegate")]
    runner = Interpreter(model_content=flatbuffer).get_signature_runner(
        "serving_default"
    )
    ids = runner(source_ids=padded(np.array([[5, 6, 7]], "int32")))["target_ids"]
    assert ids.shape == (1, MAX_LENGTH)
    with pytest.raises(ValueError, match="int4"):
        write_export(tmp_path / "bad", model, tokenizer, quantization="int4")
    assert not (tmp_path / "bad").exists()


def test_a_model_trained_in_mixed_precision_exports_in_float32(tmp_path):
    """TFLite has no bfloat16 kernels: the export computes in float32."""
    tokenizer = SubwordTokenizer.train(corpus(), vocab_size=320)
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = sharp_model(tokenizer.vocab_size)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert model.get_layer("decoder").compute_dtype == "bfloat16"
    directory = write_export(
        tmp_path, model, tokenizer, max_source_length=MAX_SOURCE, max_length=4
    )
    reloaded = read_export(directory)["model"]
    assert reloaded.get_layer("decoder").compute_dtype == "float32"
    for trained, exported_weight in zip(
        model.get_weights(), reloaded.get_weights(), strict=True
    ):
        np.testing.assert_array_equal(trained, exported_weight)
    assert (directory / "model.tflite").stat().st_size > 0


def test_every_traced_function_is_built_without_autograph(tmp_path, monkeypatch):
    """Searches, scoring, tokenizers and every export signature are traced as
    written: AutoGraph's rewriting of their Python took most of a preset's
    first answer (4.3 s of it). TensorFlow's and Keras's own wrappers (the
    SavedModel's signature wrappers, the model's default signature) are
    theirs to convert."""
    from tensorflow.python.autograph.impl import api as autograph

    converted = []
    convert = autograph.converted_call

    def counted(function, *args, **kwargs):
        module = getattr(function, "__module__", None) or ""
        if module.startswith("s2s_keras"):
            name = getattr(function, "__qualname__", type(function).__name__)
            converted.append(f"{module}.{name}")
        return convert(function, *args, **kwargs)

    monkeypatch.setattr(autograph, "converted_call", counted)
    tokenizer = SubwordTokenizer.train(corpus(), vocab_size=320)
    model = build_seq2seq(
        tokenizer.vocab_size, tokenizer.vocab_size, 8, 16, copy=True, coverage=True
    )
    source_ids = np.array([[5, 6, 7, 0], [8, 9, 0, 0]], "int32")
    for method in ["greedy", "beam", "sample"]:
        generate(model, source_ids, max_length=4, method=method)
    score(model, source_ids, np.array([[5, 6], [7, 0]], "int32"))
    tokenizer.detokenize(tokenizer.tokenize(["the source"]))
    write_export(tmp_path, model, tokenizer, max_source_length=8, max_length=4)
    assert (tmp_path / "model.tflite").is_file()
    assert converted == []
