import numpy as np
import pytest

from s2s_keras import build_seq2seq
from s2s_keras.decoding import Generator
from s2s_keras.decoding import generate
from s2s_keras.special_tokens import BOS_ID
from s2s_keras.special_tokens import EOS_ID
from s2s_keras.special_tokens import PAD_ID

VOCAB = 20
MAX_LENGTH = 7


@pytest.fixture(scope="module", params=["dot", None], ids=["attention", "plain"])
def model(request):
    import keras

    keras.utils.set_random_seed(0)
    model = build_seq2seq(
        VOCAB, VOCAB, embedding_dim=8, units=16, attention=request.param
    )
    # Sharpen the untrained model a little so outputs differ by source.
    decoder = model.get_layer("decoder")
    decoder.output_projection.kernel.assign(decoder.output_projection.kernel * 6.0)
    return model


def sources(count=6, seed=0):
    rng = np.random.default_rng(seed)
    ids = np.zeros((count, 9), "int32")
    for row in range(count):
        length = rng.integers(2, 10)
        ids[row, :length] = rng.integers(4, VOCAB, size=length)
    return ids


def teacher_forced_log_probs(model, source_ids, target_ids):
    """log P(each target token) from the full-sequence pass, and its argmax."""
    ended = np.array([[*row[row != 0], EOS_ID] for row in target_ids], dtype=object)
    length = max(len(row) for row in ended)
    labels = np.zeros((len(ended), length), "int32")
    for index, row in enumerate(ended):
        labels[index, : len(row)] = row
    decoder_inputs = np.concatenate(
        [np.full((len(labels), 1), BOS_ID), labels[:, :-1]], axis=1
    ).astype("int32")
    decoder_inputs[labels == 0] = 0
    logits = np.array(model({"source_ids": source_ids, "target_ids": decoder_inputs}))
    logits[..., [PAD_ID, BOS_ID]] = -1e9  # never generated
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    chosen = np.take_along_axis(log_probs, labels[..., None], -1)[..., 0]
    return labels, chosen * (labels != 0), logits.argmax(-1)


def test_greedy_equals_argmax_of_the_full_pass_on_its_own_output(model):
    source_ids = sources()
    outputs = generate(model, source_ids, max_length=MAX_LENGTH)
    labels, chosen, argmax = teacher_forced_log_probs(
        model, source_ids, outputs["target_ids"]
    )
    for row in range(len(source_ids)):
        generated = labels[row][labels[row] != 0]
        if len(generated) > MAX_LENGTH:  # cut by max_length: no EOS was chosen
            generated = generated[:MAX_LENGTH]
        np.testing.assert_array_equal(argmax[row, : len(generated)], generated)
    np.testing.assert_allclose(
        outputs["scores"],
        [
            chosen[row, : min(len(labels[row][labels[row] != 0]), MAX_LENGTH)].sum()
            for row in range(len(labels))
        ],
        rtol=1e-4,
        atol=1e-4,
    )


def test_beam_width_one_equals_greedy(model):
    source_ids = sources()
    greedy = generate(model, source_ids, max_length=MAX_LENGTH)
    beam = generate(
        model,
        source_ids,
        max_length=MAX_LENGTH,
        method="beam",
        beam_width=1,
        length_penalty=0.0,
    )
    np.testing.assert_array_equal(beam["target_ids"], greedy["target_ids"])
    np.testing.assert_allclose(beam["scores"], greedy["scores"], rtol=1e-5, atol=1e-5)


def test_beam_search_finds_sequences_greedy_misses(model):
    source_ids = sources(count=24, seed=1)
    greedy = generate(model, source_ids, max_length=MAX_LENGTH)
    beam = generate(
        model,
        source_ids,
        max_length=MAX_LENGTH,
        method="beam",
        beam_width=4,
        length_penalty=0.0,
        num_results=4,
    )
    assert np.all(beam["scores"] >= greedy["scores"] - 1e-4)
    assert np.any(beam["scores"] > greedy["scores"] + 1e-3)
    # The scores are the model's own log-probabilities of those outputs.
    _, chosen, _ = teacher_forced_log_probs(model, source_ids, beam["target_ids"])
    finished = (beam["target_ids"] != 0).sum(1) < MAX_LENGTH
    np.testing.assert_allclose(
        beam["scores"][finished], chosen.sum(1)[finished], rtol=1e-4, atol=1e-4
    )
    # n-best comes best first.
    assert np.all(np.diff(beam["n_best_scores"], axis=1) <= 1e-6)


def test_sampling_at_low_temperature_is_greedy_and_seeded(model):
    source_ids = sources()
    greedy = generate(model, source_ids, max_length=MAX_LENGTH)
    cold = generate(
        model, source_ids, max_length=MAX_LENGTH, method="sample", temperature=1e-7
    )
    np.testing.assert_array_equal(cold["target_ids"], greedy["target_ids"])

    def sample(seed):
        return generate(
            model,
            source_ids,
            max_length=MAX_LENGTH,
            method="sample",
            temperature=2.0,
            seed=seed,
        )["target_ids"]

    np.testing.assert_array_equal(sample(5), sample(5))
    assert not np.array_equal(sample(5), sample(6))


def test_top_k_one_and_tiny_top_p_are_greedy(model):
    source_ids = sources()
    greedy = generate(model, source_ids, max_length=MAX_LENGTH)["target_ids"]
    for options in ({"top_k": 1}, {"top_p": 1e-6}):
        sampled = generate(
            model,
            source_ids,
            max_length=MAX_LENGTH,
            method="sample",
            temperature=3.0,
            **options,
        )
        np.testing.assert_array_equal(sampled["target_ids"], greedy)


@pytest.mark.parametrize("method", ["greedy", "beam"])
def test_batch_equals_one_by_one(model, method):
    source_ids = sources()
    generator = Generator(
        model, max_length=MAX_LENGTH, method=method, length_penalty=0.0
    )
    batch = generator(source_ids)
    for row in range(len(source_ids)):
        real = source_ids[row : row + 1, : (source_ids[row] != 0).sum()]
        alone = generator(real)
        ids = alone["target_ids"].numpy()[0]
        expected = batch["target_ids"].numpy()[row]
        np.testing.assert_array_equal(ids, expected[: len(ids)])
        assert np.all(expected[len(ids) :] == 0)
        np.testing.assert_allclose(
            alone["scores"].numpy()[0],
            batch["scores"].numpy()[row],
            rtol=1e-4,
            atol=1e-4,
        )


@pytest.mark.parametrize("method", ["greedy", "beam"])
def test_eos_stops_generation(model, method):
    decoder = model.get_layer("decoder")
    bias = decoder.output_projection.bias
    saved = bias.numpy()
    try:
        forced = np.zeros_like(saved)
        forced[EOS_ID] = 1e4
        bias.assign(forced)
        outputs = generate(model, sources(), max_length=MAX_LENGTH, method=method)
        assert outputs["target_ids"].shape == (6, 0)  # EOS first, nothing after
    finally:
        bias.assign(saved)


def test_padding_and_bos_are_never_generated(model):
    bias = model.get_layer("decoder").output_projection.bias
    saved = bias.numpy()
    try:
        favoured = np.zeros_like(saved)
        favoured[[PAD_ID, BOS_ID]] = 1e3
        bias.assign(favoured)
        for method in ("greedy", "beam"):
            ids = generate(model, sources(), max_length=MAX_LENGTH, method=method)[
                "target_ids"
            ]
            assert not np.any(ids == BOS_ID)
            # 0 only as padding after the words, never as a word
            words = (ids != PAD_ID).sum(1)
            assert all(
                np.all(row[:count] != PAD_ID)
                for row, count in zip(ids, words, strict=True)
            )
            assert words.max() == MAX_LENGTH
    finally:
        bias.assign(saved)


def test_attention_of_the_chosen_sequences(model):
    if model.get_layer("decoder").__class__.__name__ != "AttentionDecoder":
        with pytest.raises(
            ValueError, match="return_attention=True needs a model with attention"
        ):
            Generator(model, return_attention=True)
        return
    source_ids = sources()
    for method in ("greedy", "beam"):
        outputs = generate(
            model,
            source_ids,
            max_length=MAX_LENGTH,
            method=method,
            return_attention=True,
        )
        attention = outputs["attention"]
        assert attention.shape == (*outputs["target_ids"].shape, source_ids.shape[1])
        live = outputs["target_ids"] != 0
        np.testing.assert_allclose(attention.sum(-1)[live], 1.0, atol=1e-5)
        assert np.all(
            attention[:, :, :][
                np.broadcast_to(source_ids[:, None, :] == 0, attention.shape)
            ]
            == 0
        )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"method": "nucleus"}, "argument method.*Received: method='nucleus'"),
        ({"max_length": 0}, "argument max_length.*Received: max_length=0"),
        ({"num_results": 5, "beam_width": 4}, "num_results.*at most beam_width=4"),
        ({"temperature": 0.0}, "temperature.*Received: temperature=0.0"),
        ({"top_p": 1.5}, "top_p.*Received: top_p=1.5"),
        ({"top_k": 0}, "top_k.*Received: top_k=0"),
    ],
)
def test_bad_arguments_raise(model, kwargs, match):
    with pytest.raises(ValueError, match=match):
        Generator(model, **kwargs)


@pytest.mark.parametrize("copy", [False, True], ids=["attention", "copy"])
def test_a_beam_wide_enough_finds_the_exhaustive_best(copy):
    """Vocabulary {<UNK>, <EOS>, 4, 5, 6}, 3 tokens at most: 85 outputs, all scored."""
    import itertools

    import keras

    keras.utils.set_random_seed(3)
    vocab, max_length = 7, 3
    small = build_seq2seq(vocab, vocab, embedding_dim=4, units=8, copy=copy)
    for weight in small.weights:
        weight.assign(weight * 3.0)
    source_ids = np.array([[4, 5, 6, 5], [6, 6, 0, 0]], "int32")
    words = [1, 4, 5, 6]
    for row, source in enumerate(source_ids):
        candidates = [  # (tokens to score, output words)
            ((*prefix, EOS_ID), prefix)
            for length in range(max_length)
            for prefix in itertools.product(words, repeat=length)
        ] + [(prefix, prefix) for prefix in itertools.product(words, repeat=max_length)]
        best_score, best_words = -np.inf, None
        for tokens, output in candidates:
            inputs = np.array([[BOS_ID, *tokens[:-1]]], "int32")
            logits = np.array(small({"source_ids": source[None], "target_ids": inputs}))
            logits[..., [PAD_ID, BOS_ID]] = -1e9
            log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
            score = sum(log_probs[0, t, token] for t, token in enumerate(tokens))
            if score > best_score:
                best_score, best_words = score, output
        found = generate(
            small,
            source[None],
            max_length=max_length,
            method="beam",
            beam_width=64,
            length_penalty=0.0,
        )
        ids = np.asarray(found["target_ids"])[0]
        assert tuple(ids[ids != PAD_ID]) == tuple(w for w in best_words), row
        assert float(found["scores"][0]) == pytest.approx(best_score, abs=1e-4)
