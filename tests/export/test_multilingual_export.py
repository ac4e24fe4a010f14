"""A multilingual model's target tags: one piece each, asked for in Python,
checked by the SavedModel (in a process without s2s_keras), and read by the
TFLite file as the tokenizer cuts them."""

import numpy as np
import pytest
import tensorflow as tf

from s2s_keras.data.pairs import tokenizer_for
from s2s_keras.text import SubwordTokenizer
from s2s_keras.training.config import GenerationConfig
from s2s_keras.training.evaluation import generate_texts
from tests.export.test_export import MAX_LENGTH
from tests.export.test_export import check_parity
from tests.export.test_export import padded
from tests.export.test_export import run_without_s2s_keras
from tests.export.test_export import sharp_export
from tests.text.test_tokenizer import corpus

TAGS = ("<2de>", "<2fr>")


def tagged_pairs():
    texts = corpus()
    return [
        (f"{TAGS[index % 2]} {source}", target)
        for index, (source, target) in enumerate(zip(texts, texts[1:], strict=False))
    ]


@pytest.fixture(scope="module")
def tagged_export(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tokenizer")
    tokenizer = tokenizer_for(folder, tagged_pairs(), vocab_size=320)
    return sharp_export(tmp_path_factory, "tagged", tokenizer, method="greedy")


def test_the_tokenizer_learns_each_tag_as_one_piece(tagged_export):
    _, _, tokenizer = tagged_export
    assert tokenizer.target_tags == TAGS
    for tag in TAGS:
        pieces = tokenizer.id_to_token(tokenizer.tokenize([f"{tag} the text"])[0])
        assert tag.encode() in pieces.numpy().tolist()
    reloaded = SubwordTokenizer.load(tagged_export[0] / "tokenizer")
    assert reloaded.target_tags == TAGS
    assert SubwordTokenizer.train(corpus(), vocab_size=320).target_tags == ()
    with pytest.raises(ValueError, match="target_tags"):
        SubwordTokenizer.train(corpus(), vocab_size=320, target_tags=["de"])


def test_python_asks_for_a_known_tag(tagged_export):
    _, model, tokenizer = tagged_export
    generation = GenerationConfig(max_length=MAX_LENGTH)
    outputs = generate_texts(
        model, tokenizer, ["<2de> the text", "<2fr> the text"], generation, 16
    )
    assert len(outputs) == 2 and all(isinstance(text, str) for text in outputs)
    for text in ("the text", "<2it> the text"):
        with pytest.raises(ValueError, match="<2de> <2fr>"):
            generate_texts(model, tokenizer, ["<2de> ok", text], generation, 16)


def test_the_saved_model_refuses_a_text_without_a_known_tag(tagged_export):
    directory, _, _ = tagged_export
    script = f"""
        import tensorflow as tf
        import tensorflow_text  # the SentencePiece ops
        model = tf.saved_model.load({str(directory / "saved_model")!r})
        serve = model.signatures["serving_default"]
        print(serve(text=tf.constant(["<2de> the text", " <2fr>the text"]))["text"].shape)
        for text in ["the text", "<2it> the text", "x <2de> the text"]:
            try:
                serve(text=tf.constant(["<2de> ok", text]))
                print("answered", text)
            except tf.errors.InvalidArgumentError as error:
                print("refused", "<2de> <2fr>" in error.message, repr(text) in error.message or text in error.message)
    """
    lines = run_without_s2s_keras(script).splitlines()
    assert lines == ["(2,)", *["refused True True"] * 3], lines


def test_tflite_reads_the_tag_as_the_tokenizer_cuts_it(tagged_export):
    from ai_edge_litert.interpreter import Interpreter

    directory, model, tokenizer = tagged_export
    runner = Interpreter(
        model_content=(directory / "model.tflite").read_bytes()
    ).get_signature_runner("serving_default")
    loaded = tf.saved_model.load(str(directory / "saved_model"))
    vocabulary = tokenizer.vocabulary()
    for tag in TAGS:
        source_ids = loaded.signatures["tokenize"](
            text=tf.constant([f"{tag} the text"])
        )
        source_ids = source_ids["source_ids"].numpy()
        assert vocabulary.index(tag) in source_ids[0, :2]  # one piece, first words
        on_device = runner(source_ids=padded(source_ids))["target_ids"]
        served = loaded.signatures["generate_ids"](source_ids=source_ids)["target_ids"]
        served = np.pad(served.numpy(), [[0, 0], [0, MAX_LENGTH - served.shape[1]]])
        check_parity(model, source_ids, on_device, served)


def test_the_server_answers_an_untagged_text_400_naming_the_tags(tagged_export):
    from starlette.testclient import TestClient

    from s2s_keras.serve import Servable
    from s2s_keras.serve import create_app

    directory, _, _ = tagged_export
    with TestClient(create_app(Servable(directory), "multi")) as client:
        ok = client.post(
            "/v1/models/multi:predict", json={"instances": ["<2fr> the text"]}
        )
        assert ok.status_code == 200 and len(ok.json()["predictions"]) == 1
        refused = client.post(
            "/v1/models/multi:predict",
            json={"instances": ["<2de> fine", "no tag here"]},
        )
        assert refused.status_code == 400
        error = refused.json()["error"]
        assert "<2de> <2fr>" in error and "no tag here" in error, error
        assert "[[" not in error  # no graph internals
