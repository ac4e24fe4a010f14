import numpy as np
import pytest
import tensorflow as tf

from s2s_keras import special_tokens
from s2s_keras.text import SubwordTokenizer

WORDS = (
    "the encoder reads every word of the source and the decoder writes the "
    "target one word at a time while attention looks back at the source "
    "library package tool data file program server client network"
).split()


def corpus(count=400, seed=0):
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=rng.integers(4, 12))) for _ in range(count)]


@pytest.fixture(scope="module")
def tokenizer():
    return SubwordTokenizer.train(corpus(), vocab_size=320)


TEXTS = [
    "the encoder reads the source",
    "Naïve café déjà vu, Ærøskøbing",
    "東京で機械学習を勉強する",
    "emoji 😀🚀 and ZWJ 👩‍💻",
    "tabs\tand  double  spaces",
    "",
]


def test_round_trip_on_accents_cjk_and_emoji(tokenizer):
    ids = tokenizer.tokenize(TEXTS)
    restored = [text.decode("utf-8") for text in tokenizer.detokenize(ids).numpy()]
    # Spacing is normalized (NFKC, runs of white space become one space).
    assert restored == [" ".join(text.split()) for text in TEXTS]
    assert not np.any(ids.flat_values.numpy() == special_tokens.UNK_ID)


def test_reserved_ids_come_first(tokenizer):
    pieces = [piece.decode() for piece in tokenizer.id_to_token(tf.range(4)).numpy()]
    assert pieces == list(special_tokens.RESERVED_TOKENS)
    assert tokenizer.vocabulary()[:4] == list(special_tokens.RESERVED_TOKENS)
    ids = tokenizer.tokenize(TEXTS).flat_values.numpy()
    assert ids.min() > special_tokens.EOS_ID  # text never maps to a reserved id


def test_eager_tf_function_and_tf_data_agree(tokenizer):
    eager = tokenizer.tokenize(TEXTS)

    @tf.function
    def in_graph(texts):
        return tokenizer.tokenize(texts)

    graph = in_graph(tf.constant(TEXTS))
    dataset = tf.data.Dataset.from_tensor_slices(TEXTS).batch(2).map(tokenizer.tokenize)
    from_data = tf.concat([batch for batch in dataset], axis=0)
    for other in (graph, from_data):
        assert eager.to_list() == other.to_list()


def test_detokenize_stops_at_eos_and_skips_pad_and_bos(tokenizer):
    words = tokenizer.tokenize(["the source", "attention"]).to_tensor()
    bos = np.full((2, 1), special_tokens.BOS_ID)
    eos = np.full((2, 1), special_tokens.EOS_ID)
    garbage = tokenizer.tokenize(["network network"]).to_tensor().numpy()
    garbage = np.repeat(garbage, 2, axis=0)
    ids = np.concatenate([bos, words.numpy(), eos, garbage, np.zeros((2, 3), int)], 1)
    text = tokenizer.detokenize(ids).numpy()
    assert list(text) == [b"the source", b"attention"]


def test_save_and_load_give_the_same_ids(tokenizer, tmp_path):
    tokenizer.save(tmp_path)
    assert (tmp_path / "vocabulary.txt").read_text().split("\n")[:4] == list(
        special_tokens.RESERVED_TOKENS
    )
    loaded = SubwordTokenizer.load(tmp_path)
    assert loaded.tokenize(TEXTS).to_list() == tokenizer.tokenize(TEXTS).to_list()
    assert loaded.vocab_size == tokenizer.vocab_size


def test_lowercase_option_folds_case():
    lower = SubwordTokenizer.train(corpus(), vocab_size=320, lowercase=True)
    ids = lower.tokenize(["The ENCODER", "the encoder"]).to_list()
    assert ids[0] == ids[1]


def test_training_is_deterministic():
    first = SubwordTokenizer.train(corpus(), vocab_size=320, seed=3)
    second = SubwordTokenizer.train(corpus(), vocab_size=320, seed=3)
    assert first.vocabulary() == second.vocabulary()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"vocab_size": 100}, "vocab_size.*at least 300.*Received: vocab_size=100"),
        ({"vocab_size": 0}, "vocab_size.*Received: vocab_size=0"),
        ({"lowercase": "no"}, "lowercase.*Received: lowercase='no'"),
    ],
)
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SubwordTokenizer.train(corpus(10), **{"vocab_size": 320, **kwargs})


def test_no_text_raises():
    with pytest.raises(ValueError, match="no text"):
        SubwordTokenizer.train(["", "  "], vocab_size=320)


def test_load_from_a_folder_without_tokenizer(tmp_path):
    with pytest.raises(ValueError, match="No tokenizer in .*tokenizer.model not found"):
        SubwordTokenizer.load(tmp_path)


def test_survives_reseeding(tokenizer):
    """tf.random.set_seed drops eager tf-text resources; ours live in graphs."""
    before = tokenizer.tokenize(TEXTS).to_list()
    tf.random.set_seed(7)
    assert tokenizer.tokenize(TEXTS).to_list() == before
    assert tokenizer.detokenize(tokenizer.tokenize(TEXTS)).shape == (len(TEXTS),)


def test_not_a_model():
    with pytest.raises(ValueError, match="Not a SentencePiece model"):
        SubwordTokenizer(b"not a model")
