"""The known-words control in an export: the SavedModel and the TFLite file
decode as Python does, with the lexicon stored beside."""

import json

import numpy as np
import pytest
import tensorflow as tf

from s2s_keras.decoding import Lexicon
from s2s_keras.decoding import generate
from s2s_keras.decoding import known_words as known_words_module
from s2s_keras.decoding import word_starts
from s2s_keras.export import read_export
from s2s_keras.export import tflite_ops
from s2s_keras.special_tokens import PAD_ID
from s2s_keras.text import SubwordTokenizer
from tests.decoding.test_known_words import random_words
from tests.decoding.test_known_words import split_words
from tests.export.test_export import MAX_LENGTH
from tests.export.test_export import MAX_SOURCE
from tests.export.test_export import check_parity
from tests.export.test_export import padded
from tests.export.test_export import sharp_export
from tests.text.test_tokenizer import corpus


@pytest.fixture(scope="module")
def known_export(tmp_path_factory):
    """A sharp model exported with known_words_only, and a lexicon of a few texts."""
    texts = corpus()
    tokenizer = SubwordTokenizer.train(texts, vocab_size=320)
    # The words of a few texts (one piece each, at this vocabulary) and 300
    # random words of up to 5 pieces, so that the walk has deep nodes, and
    # nodes of more than 2 children walked by rows: the file holds both ways.
    starts = word_starts(tokenizer)
    words = {
        word
        for text in texts[:12]
        for word in split_words(tokenizer.tokenize([text]).numpy()[0].tolist(), starts)
    }
    words |= random_words(np.random.default_rng(2), 300, starts=starts)[0]
    lexicon = Lexicon.from_words(words, starts)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(known_words_module, "NARROW", 2)
        assert lexicon.known_words().variables_by_name["wide_nodes"].shape[0] > 3
    directory, model, _ = sharp_export(
        tmp_path_factory,
        "known",
        tokenizer,
        method="beam",
        beam_width=3,
        known_words_only=True,
        lexicon=lexicon,
    )
    return directory, model, tokenizer, lexicon


def test_the_export_holds_the_lexicon_and_the_setting(known_export):
    directory, _, _, lexicon = known_export
    settings = json.loads((directory / "export.json").read_text())
    assert settings["generator"]["known_words_only"] is True
    loaded = read_export(directory)["lexicon"]
    assert len(loaded) == len(lexicon)
    np.testing.assert_array_equal(loaded.first_child, lexicon.first_child)


def test_saved_model_and_tflite_decode_known_words_as_python_does(known_export):
    from ai_edge_litert.interpreter import Interpreter

    directory, model, tokenizer, lexicon = known_export
    starts = word_starts(tokenizer)
    loaded = tf.saved_model.load(str(directory / "saved_model"))
    flatbuffer = (directory / "model.tflite").read_bytes()
    assert not [op for op in tflite_ops(flatbuffer) if op.startswith("Flex")]
    assert "CUSTOM" not in tflite_ops(flatbuffer)
    interpreter = Interpreter(model_content=flatbuffer)
    greedy = interpreter.get_signature_runner("serving_default")
    beam = interpreter.get_signature_runner("beam_search")
    rng = np.random.default_rng(7)
    unconstrained_invents = 0
    for length in range(1, MAX_SOURCE + 1):
        source_ids = rng.integers(4, tokenizer.vocab_size, (1, length)).astype("int32")
        known = {word for word in split_words(source_ids[0].tolist(), starts)}
        served = loaded.signatures["generate_ids"](source_ids=source_ids)
        expected = generate(
            model,
            source_ids,
            max_length=MAX_LENGTH,
            method="beam",
            beam_width=3,
            num_results=3,
            known_words_only=True,
            lexicon=lexicon,
        )
        width = served["target_ids"].shape[1]
        np.testing.assert_array_equal(
            served["target_ids"], expected["target_ids"][:, :width]
        )
        assert not expected["target_ids"][:, width:].any()
        n_best = np.pad(
            expected["n_best_ids"],
            [[0, 0], [0, 0], [0, MAX_LENGTH - expected["n_best_ids"].shape[2]]],
        )
        on_device = beam(source_ids=padded(source_ids))
        np.testing.assert_allclose(
            on_device["scores"], expected["n_best_scores"], atol=1e-3
        )
        for ids in [*on_device["target_ids"][0], *n_best[0]]:
            words = split_words([t for t in ids.tolist() if t != PAD_ID], starts)
            assert all(word in lexicon or word in known for word in words), ids
        greedy_python = generate(
            model,
            source_ids,
            max_length=MAX_LENGTH,
            known_words_only=True,
            lexicon=lexicon,
        )["target_ids"]
        greedy_python = np.pad(
            greedy_python, [[0, 0], [0, MAX_LENGTH - greedy_python.shape[1]]]
        )
        on_device = greedy(source_ids=padded(source_ids))["target_ids"]
        check_parity(model, source_ids, on_device, greedy_python)
        free = generate(model, source_ids, max_length=MAX_LENGTH)["target_ids"][0]
        words = split_words([t for t in free.tolist() if t != PAD_ID], starts)
        unconstrained_invents += any(w not in lexicon and w not in known for w in words)
    assert unconstrained_invents  # without the control, this model invents words


def test_a_preset_made_from_it_keeps_the_lexicon_and_decodes_with_it(
    known_export, tmp_path
):
    from s2s_keras import presets
    from tests.presets.test_presets import TEXTS
    from tests.presets.test_presets import decoded_by_its_model
    from tests.presets.test_presets import run_metrics

    directory, _, _, lexicon = known_export
    (directory / "metrics.json").write_text(json.dumps(run_metrics()))
    folder = tmp_path / "known_preset"
    pairs = [(text, " ".join(text.split()[:2])) for text in corpus()[:8]]
    preset = presets.make_preset(directory, folder, command="test", test_pairs=pairs)
    assert (folder / "lexicon.npz").is_file() and preset.generation.known_words_only
    assert len(preset.lexicon) == len(lexicon)
    assert preset(TEXTS) == decoded_by_its_model(preset, TEXTS)
    (folder / "lexicon.npz").unlink()
    without = presets.load(folder)
    with pytest.raises(ValueError, match="has no lexicon.npz"):
        without(TEXTS)
    assert len(without.generate(TEXTS, known_words_only=False)) == len(TEXTS)
