import numpy as np
import pytest
import tensorflow as tf

from s2s_keras import build_seq2seq
from s2s_keras.decoding import BeamSearch
from s2s_keras.decoding import Generator
from s2s_keras.decoding import generate
from s2s_keras.decoding import generator_settings
from s2s_keras.decoding import search
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


def exhaustive_search(log_probs_of, words, max_length, alpha):
    """Every output of at most `max_length` tokens, scored as beam search does.

    Args:
        log_probs_of: callable, `(count, max_length)` decoder inputs ->
            log-probabilities `(count, max_length, vocab)`.

    Returns a list of `(normalized score, output words)`, best first: an
    output that ends in `<EOS>` is normalized by the GNMT penalty of its
    length with `<EOS>`, one cut at `max_length` by that of `max_length`.
    """
    import itertools

    candidates = [  # (tokens to score, output words)
        ((*prefix, EOS_ID), prefix)
        for length in range(max_length)
        for prefix in itertools.product(words, repeat=length)
    ] + [(prefix, prefix) for prefix in itertools.product(words, repeat=max_length)]
    inputs = np.zeros((len(candidates), max_length), "int32")
    for row, (tokens, _) in enumerate(candidates):
        inputs[row, : len(tokens)] = [BOS_ID, *tokens[:-1]]
    log_probs = log_probs_of(inputs)
    scored = []
    for row, (tokens, output) in enumerate(candidates):
        score = sum(log_probs[row, t, token] for t, token in enumerate(tokens))
        penalty = ((5.0 + len(tokens)) / 6.0) ** alpha
        scored.append((score / penalty, output))
    return sorted(scored, key=lambda found: -found[0])


def model_log_probs(model, source):
    def log_probs_of(inputs):
        sources = np.repeat(source[None], len(inputs), axis=0)
        logits = np.array(model({"source_ids": sources, "target_ids": inputs}))
        logits[..., [PAD_ID, BOS_ID]] = -1e9
        return logits - np.log(np.exp(logits).sum(-1, keepdims=True))

    return log_probs_of


@pytest.mark.parametrize("alpha", [0.0, 0.6], ids=["no-penalty", "alpha-0.6"])
@pytest.mark.parametrize("copy", [False, True], ids=["attention", "copy"])
def test_a_beam_wide_enough_finds_the_exhaustive_best(copy, alpha):
    """Vocabulary {<UNK>, <EOS>, 4, 5, 6}, 3 tokens at most: 85 outputs, all scored.

    With a length penalty the best output is often longer than the first
    one that ends: the search must not stop there.
    """
    import keras

    keras.utils.set_random_seed(3)
    vocab, max_length = 7, 3
    small = build_seq2seq(vocab, vocab, embedding_dim=4, units=8, copy=copy)
    for weight in small.weights:
        weight.assign(weight * 3.0)
    source_ids = np.array(
        [[4, 5, 6, 5], [6, 6, 0, 0], [5, 0, 0, 0], [4, 4, 4, 6], [6, 5, 4, 0]], "int32"
    )
    for row, source in enumerate(source_ids):
        ranked = exhaustive_search(
            model_log_probs(small, source), [1, 4, 5, 6], max_length, alpha
        )
        found = generate(
            small,
            source[None],
            max_length=max_length,
            method="beam",
            beam_width=128,
            length_penalty=alpha,
            num_results=4,
        )
        for rank in range(4):
            ids = np.asarray(found["n_best_ids"])[0, rank]
            assert tuple(ids[ids != PAD_ID]) == ranked[rank][1], (row, rank)
            assert float(found["n_best_scores"][0, rank]) == pytest.approx(
                ranked[rank][0], abs=1e-4
            )


def test_n_best_has_no_placeholder_hypotheses():
    """One token at most over {<UNK>, <EOS>, 4}: three outputs exist, not eight."""
    import keras

    keras.utils.set_random_seed(3)
    small = build_seq2seq(5, 5, embedding_dim=4, units=8)
    found = generate(
        small,
        np.array([[4, 4, 0], [4, 1, 4]], "int32"),
        max_length=1,
        method="beam",
        beam_width=8,
        num_results=8,
    )
    scores, ids = np.asarray(found["n_best_scores"]), np.asarray(found["n_best_ids"])
    assert np.isfinite(scores[:, :3]).all() and (scores[:, :3] < 0).all()
    assert np.isneginf(scores[:, 3:]).all()  # not hypotheses: -inf, no ids
    assert (ids[:, 3:] == PAD_ID).all()
    outputs = {tuple(ids[0, rank][ids[0, rank] != PAD_ID]) for rank in range(3)}
    assert outputs == {(), (1,), (4,)}


class BigramDecoder:
    """A hand-built decoder: the next word's probabilities depend only on the last.

    It has the `step` and `get_initial_state` that beam search calls, and
    `PassThroughEncoder` stands for the encoder.
    """

    def __init__(self, table):
        self.log_table = tf.math.log(tf.constant(table, tf.float32) + 1e-12)

    def get_initial_state(self, final_states, memory, source_ids=None):
        return final_states

    def step(self, tokens, state, memory, memory_mask):
        logits = tf.gather(self.log_table, tokens)  # (batch, vocab)
        return logits, state, tf.zeros(tf.shape(memory_mask), tf.float32)


def pass_through_encoder(source_ids, training=False):
    batch, length = tf.shape(source_ids)[0], tf.shape(source_ids)[1]
    return tf.zeros([batch, length, 1]), source_ids != PAD_ID, [tf.zeros([batch, 1])]


def test_beam_search_does_not_stop_at_the_first_output_that_ends():
    # After <BOS>: <EOS> 0.40, "4" 0.35 ...; after "4" comes "5", after "5"
    # <EOS>, almost surely. The empty output ends first and has the higher
    # log-probability (-0.92 against -1.07), but "4 5" wins under the length
    # penalty 0.6 (-1.07 / 1.19 = -0.90).
    table = np.zeros((7, 7))
    table[BOS_ID, [EOS_ID, 4, 5, 6]] = [0.40, 0.35, 0.15, 0.10]
    table[4, [5, EOS_ID, 4, 6]] = [0.99, 0.004, 0.003, 0.003]
    table[5, [EOS_ID, 4, 5, 6]] = [0.99, 0.004, 0.003, 0.003]
    table[6, [EOS_ID, 4]] = [0.5, 0.5]
    table[[PAD_ID, 1, EOS_ID], EOS_ID] = 1.0
    decoder = BigramDecoder(table)

    def log_probs_of(inputs):
        log_probs = np.log(table[inputs] + 1e-12)
        return log_probs - np.log(np.exp(log_probs).sum(-1, keepdims=True))

    max_length = 5
    ranked = exhaustive_search(log_probs_of, [4, 5, 6], max_length, alpha=0.6)
    assert ranked[0][1] == (4, 5)  # the brute force agrees with the comment
    found = search(
        pass_through_encoder,
        decoder,
        tf.constant([[4, 5, 0]]),
        max_length=max_length,
        chooser=BeamSearch(beam_width=4, length_penalty=0.6, num_results=2),
    )
    for rank in range(2):
        ids = np.asarray(found["n_best_ids"])[0, rank]
        assert tuple(ids[ids != PAD_ID]) == ranked[rank][1]
        assert float(found["n_best_scores"][0, rank]) == pytest.approx(
            ranked[rank][0], abs=1e-4
        )


@pytest.mark.parametrize("method", ["greedy", "beam"])
def test_generate_traces_the_search_once_per_model_and_settings(method, monkeypatch):
    import keras

    keras.utils.set_random_seed(0)
    model = build_seq2seq(VOCAB, VOCAB, embedding_dim=8, units=16)
    decoder = model.get_layer("decoder")
    traced = []  # Python runs of the step: one per trace of the search
    step = decoder.step
    monkeypatch.setattr(
        decoder, "step", lambda *a, **k: traced.append(1) or step(*a, **k)
    )
    first = generate(model, sources(), max_length=MAX_LENGTH, method=method)
    traces = len(traced)
    assert traces >= 1
    again = generate(
        model, sources(count=3, seed=1), max_length=MAX_LENGTH, method=method
    )
    assert len(traced) == traces  # another batch, the same compiled search
    assert len(again["target_ids"]) == 3 and len(first["target_ids"]) == 6
    generate(model, sources(), max_length=MAX_LENGTH - 1, method=method)
    assert len(traced) > traces  # other settings: a search of their own


def test_the_kept_searches_are_bounded_least_recently_used_out():
    import keras

    from s2s_keras.decoding import generator
    from s2s_keras.decoding.generator import GENERATORS_KEPT
    from s2s_keras.decoding.generator import generator_for

    keras.utils.set_random_seed(0)
    model = build_seq2seq(VOCAB, VOCAB, embedding_dim=8, units=16)
    first = generator_for(model, max_length=1)
    for length in range(2, GENERATORS_KEPT + 1):
        generator_for(model, max_length=length)
    assert generator_for(model, max_length=1) is first  # used again: kept, now last
    for length in range(GENERATORS_KEPT + 1, 3 * GENERATORS_KEPT):
        generator_for(model, max_length=length)
        assert len(generator._GENERATORS[model]) <= GENERATORS_KEPT
    assert generator_for(model, max_length=1) is not first  # fell out, made anew


def test_choosers_are_looked_up_by_name():
    from s2s_keras.decoding import METHODS
    from s2s_keras.decoding import get_chooser

    assert set(METHODS) == {"greedy", "beam", "sample"}
    beam = get_chooser("beam", beam_width=3, length_penalty=0.2, seed=1)
    assert isinstance(beam, BeamSearch) and beam.width == 3
    assert get_chooser("greedy", beam_width=3).width == 1
    with pytest.raises(ValueError, match="method.*Received: method='nucleus'"):
        get_chooser("nucleus")
    with pytest.raises(ValueError, match=r"Unknown decoding options \['alpha'\]"):
        get_chooser("beam", alpha=0.6)


def test_generator_settings_are_the_options_and_every_default():
    settings = generator_settings(method="beam", max_length=7, top_k=None)
    assert settings["method"] == "beam" and settings["max_length"] == 7
    assert settings["beam_width"] == 4 and settings["length_penalty"] == 0.6
    assert "top_k" not in settings and "model" not in settings
    with pytest.raises(ValueError, match=r"Unknown Generator setting\(s\) \['beam'\]"):
        generator_settings(beam=3)
