"""Decoding controls against brute force on a tiny vocabulary, and hand-built models.

The vocabulary: `<PAD> <UNK> <BOS> <EOS> ▁a ▁b c d`: "▁a" and "▁b" start
words, "c" and "d" continue them, so "▁a c ▁b" is two words, "ac" and "b".
"""

import itertools

import numpy as np
import pytest
import tensorflow as tf

from s2s_keras import build_seq2seq
from s2s_keras.decoding import BeamSearch
from s2s_keras.decoding import Controls
from s2s_keras.decoding import generate
from s2s_keras.decoding import score
from s2s_keras.decoding import search
from s2s_keras.decoding import word_starts
from s2s_keras.decoding.choosers import Greedy
from s2s_keras.special_tokens import BOS_ID
from s2s_keras.special_tokens import EOS_ID
from s2s_keras.special_tokens import PAD_ID
from s2s_keras.special_tokens import UNK_ID

PIECES = ["<PAD>", "<UNK>", "<BOS>", "<EOS>", "▁a", "▁b", "c", "d"]
STARTS = word_starts(PIECES)
VOCAB = len(PIECES)
OUTPUTS = [UNK_ID, 4, 5, 6, 7]  # every id a search may write but <EOS>


class PiecesTokenizer:
    """Stands for the target tokenizer: the controls only read its pieces."""

    def vocabulary(self):
        return PIECES


PIECES_TOKENIZER = PiecesTokenizer()


# ---------------------------------------------------------------- brute force


def words(tokens, starts):
    """Tokens -> words (tuples of pieces); the first token always starts one."""
    found = []
    for index, token in enumerate(tokens):
        if index == 0 or starts[token]:
            found.append([token])
        else:
            found[-1].append(token)
    return [tuple(word) for word in found]


def repeats(tokens, n, starts, ended):
    """How many complete word n-grams of `tokens` equal an earlier one.

    The last word is complete only when the output has `ended`.
    """
    complete = words(tokens, starts)
    if not ended:
        complete = complete[:-1]
    grams = [tuple(complete[i : i + n]) for i in range(len(complete) - n + 1)]
    return sum(gram in grams[:index] for index, gram in enumerate(grams))


def brute_force_bans(history, n, starts, final):
    """The tokens whose choice now would complete a new repeated n-gram."""
    ends_at_once = starts is None  # subwords: every piece a complete word
    starts = np.ones(VOCAB, bool) if ends_at_once else starts
    before = repeats(history, n, starts, ended=ends_at_once)
    banned = set()
    for token in [*OUTPUTS, EOS_ID]:
        after, ended = (
            (history, True) if token == EOS_ID else (history + [token], final)
        )
        if repeats(after, n, starts, ended or ends_at_once) > before:
            banned.add(token)
    return banned


def valid(tokens, ended, n, starts, min_length, prefix):
    """Whether a whole output obeys the controls (the brute-force filter)."""
    if n and repeats(tokens, n, starts, ended=True):
        return False
    if ended and len(tokens) < min_length:
        return False
    return tuple(tokens[: len(prefix)]) == tuple(prefix)


# ---------------------------------------------------------------- n-gram bans


def written_after(controls, histories, length):
    """The controls' `Written` once `histories` `(rows, step)` were written."""
    written = controls.start(len(histories), length)
    for step in range(histories.shape[1]):
        tokens = tf.constant(histories[:, step], tf.int32)
        written = controls.record(written, tokens, tf.constant(step))
    return written


@pytest.mark.parametrize("unit", ["word", "subword"])
@pytest.mark.parametrize("n", [1, 2, 3])
def test_ngram_bans_equal_brute_force(unit, n):
    """Every history of 500 random ones at every step, the last step included."""
    rng = np.random.default_rng(n)
    length = 9
    controls = Controls(no_repeat_ngram_size=n, ngram_unit=unit, word_starts=STARTS)
    starts = STARTS if unit == "word" else None
    checked = 0
    for step in range(length):
        # Few distinct tokens, so that repeats are common.
        histories = rng.choice([4, 5, 6, 4, 5, 1], size=(500, step))
        written = written_after(controls, histories, length)
        assert not written.tokens.numpy()[:, step:].any()
        np.testing.assert_array_equal(written.tokens.numpy()[:, :step], histories)
        banned = controls.banned_ngram_ends(
            written, tf.constant(step), length, VOCAB
        ).numpy()
        for row, history in enumerate(histories):
            expected = brute_force_bans(
                list(history), n, starts, final=step == length - 1
            )
            found = {token for token in [*OUTPUTS, EOS_ID] if banned[row, token]}
            assert found == expected, (list(history), step)
            checked += bool(expected)
    assert checked > 100  # the histories did repeat


def test_word_starts_come_from_the_pieces():
    assert list(np.nonzero(STARTS)[0]) == [UNK_ID, EOS_ID, 4, 5]


def test_word_ngrams_need_the_vocabulary():
    with pytest.raises(ValueError, match="needs the target vocabulary"):
        Controls(no_repeat_ngram_size=3)
    Controls(no_repeat_ngram_size=3, ngram_unit="subword")  # no vocabulary needed


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"min_length": -1}, "min_length=-1"),
        ({"no_repeat_ngram_size": 1.5}, "no_repeat_ngram_size=1.5"),
        ({"repetition_penalty": 0.0}, "repetition_penalty=0.0"),
        ({"ngram_unit": "char"}, "ngram_unit='char'"),
    ],
)
def test_bad_controls_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Controls(**kwargs)


# ---------------------------------------------------------------- tiny models


def confident_model(vocab_size):
    """A tiny untrained model with its weights tripled: peaked, varied outputs."""
    import keras

    keras.utils.set_random_seed(5)
    model = build_seq2seq(vocab_size, vocab_size, embedding_dim=4, units=8)
    for weight in model.weights:
        weight.assign(weight * 3.0)
    return model


@pytest.fixture(scope="module")
def tiny():
    return confident_model(VOCAB)


SOURCES = np.array(
    [[4, 5, 6, 5], [6, 6, 0, 0], [5, 0, 0, 0], [4, 4, 4, 6], [7, 5, 4, 0]], "int32"
)


def step_log_probs(model, source, written, repetition_penalty):
    """log P(next | written, source) by a full pass, with the CTRL penalty."""
    inputs = np.array([[BOS_ID, *written]], "int32")
    logits = np.array(
        model({"source_ids": source[None], "target_ids": inputs}), "float64"
    )[0, -1]
    for token in set(written):
        value = logits[token]
        logits[token] = (
            value / repetition_penalty if value > 0 else value * repetition_penalty
        )
    logits[[PAD_ID, BOS_ID]] = -1e9
    return logits - np.log(np.exp(logits - logits.max()).sum()) - logits.max()


def greedy_reference(model, source, max_length, n, min_length, penalty, prefix):
    written = []
    for step in range(max_length):
        log_probs = step_log_probs(model, source, written, penalty)
        allowed = [token for token in [*OUTPUTS, EOS_ID]]
        if n:
            banned = brute_force_bans(written, n, STARTS, final=step == max_length - 1)
            allowed = [token for token in allowed if token not in banned]
        if step < min_length:
            allowed = [token for token in allowed if token != EOS_ID]
        if not allowed:  # the controls left nothing: <EOS> ends the output
            allowed = [EOS_ID]
        if step < len(prefix):
            allowed = [prefix[step]]
        token = max(allowed, key=lambda token: log_probs[token])
        if token == EOS_ID:
            break
        written.append(token)
    return written


@pytest.mark.parametrize(
    "n, min_length, penalty",
    [(2, 0, 1.0), (1, 0, 1.0), (0, 4, 1.0), (0, 0, 3.0), (2, 3, 1.5)],
    ids=["bigrams", "unigrams", "min-length", "repetition", "all"],
)
def test_greedy_with_controls_equals_the_reference(tiny, n, min_length, penalty):
    max_length = 7
    prefixes = [[], [5], [], [4, 6], []]
    found = generate(
        tiny,
        SOURCES,
        max_length=max_length,
        no_repeat_ngram_size=n,
        tokenizer=PIECES_TOKENIZER,
        min_length=min_length,
        repetition_penalty=penalty,
        target_prefix=prefixes,
    )
    for row, source in enumerate(SOURCES):
        expected = greedy_reference(
            tiny, source, max_length, n, min_length, penalty, prefixes[row]
        )
        ids = found["target_ids"][row]
        assert list(ids[ids != PAD_ID]) == expected, row


# ---------------------------------------------------------------- beam search


def teacher_forced(model, source, outputs):
    """log P per step `(count, T, vocab)` (unpenalized logits) and attention."""
    encoder, decoder = model.get_layer("encoder"), model.get_layer("decoder")
    inputs = np.zeros((len(outputs), max(len(o) for o in outputs) + 1), "int32")
    for row, output in enumerate(outputs):
        inputs[row, : len(output) + 1] = [BOS_ID, *output]
    sources = np.repeat(source[None], len(outputs), axis=0)
    memory, mask, final = encoder(sources)
    logits, weights = decoder(
        inputs, memory, mask, initial_state=final, return_attention=True
    )
    return np.array(logits, "float64"), np.array(weights, "float64")


def exhaustive_best(
    model, source, max_length, n, min_length, penalty, alpha, beta, prefix
):
    """Every output of at most `max_length` tokens that obeys the controls,
    scored as beam search scores a finished hypothesis, best first."""
    candidates = [
        (output, True)
        for length in range(max_length)
        for output in itertools.product(OUTPUTS, repeat=length)
    ] + [(output, False) for output in itertools.product(OUTPUTS, repeat=max_length)]
    candidates = [
        (output, ended)
        for output, ended in candidates
        if valid(list(output), ended, n, STARTS, min_length, prefix)
    ]
    logits, weights = teacher_forced(model, source, [o for o, _ in candidates])
    real = source != PAD_ID
    scored = []
    for row, (output, ended) in enumerate(candidates):
        tokens = [*output, EOS_ID] if ended else list(output)
        total = 0.0
        for step, token in enumerate(tokens):
            step_logits = logits[row, step].copy()
            for seen in set(tokens[:step]):
                value = step_logits[seen]
                step_logits[seen] = value / penalty if value > 0 else value * penalty
            step_logits[[PAD_ID, BOS_ID]] = -1e9
            top = step_logits.max()
            log_z = top + np.log(np.exp(step_logits - top).sum())
            total += step_logits[token] - log_z
        coverage = weights[row, : len(tokens)].sum(axis=0)[real]
        covered = np.log(np.maximum(np.minimum(coverage, 1.0), 1e-9)).sum()
        final = total / ((5.0 + len(tokens)) / 6.0) ** alpha + beta * covered
        scored.append((final, output))
    return sorted(scored, key=lambda found: -found[0])


@pytest.mark.parametrize(
    "n, min_length, penalty, beta",
    [
        (2, 0, 1.0, 0.0),
        (0, 3, 1.0, 0.0),
        (0, 0, 2.0, 0.0),
        (0, 0, 1.0, 0.5),
        (1, 2, 1.5, 0.3),
    ],
    ids=["bigrams", "min-length", "repetition", "coverage", "all"],
)
def test_a_beam_wide_enough_finds_the_exhaustive_best_under_controls(
    tiny, n, min_length, penalty, beta
):
    """Outputs of at most 3 tokens over 5 ids (156 of them): a beam of 128
    keeps every prefix, so it must find the brute force's three best."""
    max_length, alpha = 3, 0.6
    prefixes = [[], [5], [], [4], []]
    found = generate(
        tiny,
        SOURCES,
        max_length=max_length,
        method="beam",
        beam_width=128,
        num_results=3,
        length_penalty=alpha,
        coverage_penalty=beta,
        no_repeat_ngram_size=n,
        tokenizer=PIECES_TOKENIZER,
        min_length=min_length,
        repetition_penalty=penalty,
        target_prefix=prefixes,
    )
    for row, source in enumerate(SOURCES):
        ranked = exhaustive_best(
            tiny,
            source,
            max_length,
            n,
            min_length,
            penalty,
            alpha,
            beta,
            prefixes[row],
        )
        for rank in range(3):
            ids = found["n_best_ids"][row, rank]
            assert tuple(ids[ids != PAD_ID]) == ranked[rank][1], (row, rank)
            assert found["n_best_scores"][row, rank] == pytest.approx(
                ranked[rank][0], abs=1e-4
            )


@pytest.mark.parametrize("method", ["greedy", "beam", "sample"])
def test_no_output_repeats_a_word_ngram(tiny, method):
    """Long outputs from a model that loves repeats: every method obeys."""
    found = generate(
        tiny,
        np.tile(SOURCES, (4, 1)),
        max_length=12,
        method=method,
        no_repeat_ngram_size=2,
        tokenizer=PIECES_TOKENIZER,
        min_length=8,
        temperature=1.5,
    )
    lengths = (found["target_ids"] != PAD_ID).sum(axis=1)
    assert (lengths >= 8).all()
    for ids in found["target_ids"]:
        assert repeats(list(ids[ids != PAD_ID]), 2, STARTS, ended=True) == 0
    plain = generate(
        tiny,
        np.tile(SOURCES, (4, 1)),
        max_length=12,
        method=method,
        min_length=8,
        temperature=1.5,
    )
    assert any(  # without blocking the same model does repeat
        repeats(list(ids[ids != PAD_ID]), 2, STARTS, ended=True)
        for ids in plain["target_ids"]
    )


# ---------------------------------------------------------------- score


@pytest.mark.parametrize("copy", [False, True], ids=["attention", "copy"])
def test_score_equals_the_search_scores(copy):
    """What greedy and beam search (no penalties) wrote, scored again."""
    import keras

    keras.utils.set_random_seed(1)
    model = build_seq2seq(VOCAB, VOCAB, embedding_dim=4, units=8, copy=copy)
    for weight in model.weights:
        weight.assign(weight * 3.0)
    greedy = generate(model, SOURCES, max_length=8, min_length=2)
    beam = generate(
        model,
        SOURCES,
        max_length=8,
        method="beam",
        length_penalty=0.0,
        no_repeat_ngram_size=1,
        ngram_unit="subword",
    )
    kinds = []  # whether each row compared ended with <EOS>
    for found in (greedy, beam):
        lengths = (found["target_ids"] != PAD_ID).sum(axis=1)
        ended = lengths < 8
        kinds += ended.tolist()
        scores, per_token = score(model, SOURCES, found["target_ids"], per_token=True)
        np.testing.assert_allclose(scores[ended], found["scores"][ended], atol=1e-4)
        # A row cut at max_length has no <EOS>: its score lacks that last term.
        without_eos = scores - per_token[np.arange(len(SOURCES)), lengths]
        np.testing.assert_allclose(
            without_eos[~ended], found["scores"][~ended], atol=1e-4
        )
        np.testing.assert_allclose(per_token.sum(axis=1), scores, rtol=1e-6)
        assert per_token.shape == (len(SOURCES), found["target_ids"].shape[1] + 1)
    # Rows of both kinds were compared: neither comparison was vacuous.
    assert any(kinds) and not all(kinds), kinds


def test_score_ranks_references_and_checks_its_input(tiny):
    targets = np.array([[4, 5, 0], [6, 0, 0], [5, 5, 5], [0, 0, 0], [7, 4, 6]])
    scores, per_token = score(tiny, SOURCES, targets, per_token=True)
    assert scores.shape == (5,) and (scores < 0).all()
    lengths = (targets != PAD_ID).sum(axis=1) + 1  # with <EOS>
    assert ((per_token != 0).sum(axis=1) == lengths).all()
    one_by_one = [
        score(tiny, SOURCES[i : i + 1], targets[i : i + 1])[0] for i in range(5)
    ]
    np.testing.assert_allclose(one_by_one, scores, atol=1e-5)
    with pytest.raises(ValueError, match="one target row per source row"):
        score(tiny, SOURCES, targets[:2])
    with pytest.raises(ValueError, match="target ids in \\[0, 8\\)"):
        score(tiny, SOURCES, targets + 8)


# ---------------------------------------------------------------- hand-built


class TableDecoder:
    """A hand-built decoder: next-token probabilities from the last token only,
    and attention on source position `attends[token]` (coverage tests)."""

    def __init__(self, table, attends=None):
        self.log_table = tf.math.log(tf.constant(table, tf.float32) + 1e-12)
        self.attends = attends

    def get_initial_state(self, final_states, memory, source_ids=None):
        return final_states

    def step(self, tokens, state, memory, memory_mask):
        logits = tf.gather(self.log_table, tokens)  # (batch, vocab)
        if self.attends is None:
            weights = tf.zeros(tf.shape(memory_mask), tf.float32)
        else:
            position = tf.gather(tf.constant(self.attends), tokens)
            weights = tf.one_hot(position, tf.shape(memory_mask)[1])
        return logits, state, weights


def pass_through_encoder(source_ids, training=False):
    batch, length = tf.shape(source_ids)[0], tf.shape(source_ids)[1]
    return tf.zeros([batch, length, 1]), source_ids != PAD_ID, [tf.zeros([batch, 1])]


def run(table, chooser=None, max_length=8, attends=None, prefix=None, **controls):
    found = search(
        pass_through_encoder,
        TableDecoder(table, attends),
        tf.constant([[4, 5]]),
        max_length,
        chooser or Greedy(),
        Controls(word_starts=STARTS, **controls),
        None if prefix is None else tf.constant([prefix], tf.int32),
    )
    ids = found["target_ids"].numpy()[0]
    return [PIECES[i] for i in ids[ids != PAD_ID]]


def looping_table():
    """ "▁a" -> "▁b" -> "▁a" -> ... with <EOS> second best after "▁a"."""
    table = np.full((VOCAB, VOCAB), 1e-4)
    table[BOS_ID, 4] = 1.0
    table[4, [5, EOS_ID, 6]] = [0.8, 0.15, 0.05]
    table[5, [4, EOS_ID, 7]] = [0.6, 0.1, 0.3]
    table[6, 5] = table[7, EOS_ID] = 1.0
    return table


def test_hand_built_loop_is_broken_by_each_control():
    table = looping_table()
    assert run(table) == ["▁a", "▁b"] * 4  # the loop, cut at max_length
    # Subword bigrams: after "▁a ▁b ▁a", "▁b" would repeat "▁a ▁b"; <EOS>
    # (0.15) is the next best after "▁a".
    assert run(table, no_repeat_ngram_size=2, ngram_unit="subword") == [
        "▁a", "▁b", "▁a"]  # fmt: skip
    # Word bigrams: "▁b" may start the fourth word, which is not "b" yet;
    # then a word start or <EOS> would complete "a b" again, so "d" (the
    # only piece that continues it) makes the word "bd", then <EOS>.
    assert run(table, no_repeat_ngram_size=2) == ["▁a", "▁b", "▁a", "▁b", "d"]
    # Repetition penalty 4 on these logits (log P, all negative: times 4):
    # after "▁a ▁b", "▁a" falls from log 0.6 = -0.51 to -2.04, below "d"
    # (log 0.3 = -1.20); after "d", <EOS>.
    assert run(table, repetition_penalty=4.0) == ["▁a", "▁b", "d"]
    # A forced prefix, then the table: "▁b" -> "▁a" -> "▁b" ...
    assert run(table, prefix=[5], max_length=3) == ["▁b", "▁a", "▁b"]


@pytest.mark.parametrize("as_tensors", [False, True], ids=["numbers", "tensors"])
@pytest.mark.parametrize("method", ["greedy", "beam"])
def test_a_forced_prefix_wins_over_every_ban(as_tensors, method):
    """A prefix that repeats a subword bigram and a word unigram, under a
    repetition penalty and a min_length: its tokens come out as given."""
    table = looping_table()
    prefix = [4, 5, 4, 5, 6]  # "▁a ▁b ▁a ▁b c": "▁a ▁b" twice, the word "a" twice
    settings = {
        "no_repeat_ngram_size": 1,
        "repetition_penalty": 50.0,
        "min_length": 7,
    }
    if as_tensors:  # as the SavedModel's generate signature passes them
        settings = {
            key: tf.constant(
                value, tf.float32 if isinstance(value, float) else tf.int32
            )
            for key, value in settings.items()
        }
    chooser = Greedy() if method == "greedy" else BeamSearch(beam_width=2)
    for unit in ("subword", "word"):
        found = run(table, chooser, prefix=prefix, ngram_unit=unit, **settings)
        assert found[: len(prefix)] == [PIECES[i] for i in prefix], (unit, found)


def test_hand_built_min_length_and_word_bigram_at_the_last_step():
    table = np.full((VOCAB, VOCAB), 1e-4)
    table[BOS_ID, [EOS_ID, 4]] = [0.9, 0.1]
    table[4, [EOS_ID, 6]] = [0.9, 0.1]
    table[6, [EOS_ID, 4]] = [0.9, 0.1]
    assert run(table) == []
    assert run(table, min_length=3) == ["▁a", "c", "▁a"]
    # "▁a c ▁a c": the word "ac" twice; with unigram blocking of words, the
    # last step may not end "▁a c" again, so "c" is banned there.
    banned_last = run(table, min_length=4, max_length=4, no_repeat_ngram_size=1)
    assert banned_last[:3] == ["▁a", "c", "▁a"] and banned_last[3] != "c"


def test_hand_built_coverage_penalty_prefers_covering_the_source():
    """ "▁a" attends to source position 0, "▁b" to 1. "▁a" then <EOS> is the
    most likely output; "▁a ▁b" covers the source and wins with beta 1."""
    table = np.full((VOCAB, VOCAB), 1e-4)
    table[BOS_ID, 4] = 1.0
    table[4, [EOS_ID, 5]] = [0.7, 0.3]
    table[5, EOS_ID] = 1.0
    attends = [0, 0, 0, 0, 0, 1, 0, 0]  # by the token read: "▁a" read -> look at 1
    plain = BeamSearch(beam_width=4, length_penalty=0.0)
    covering = BeamSearch(beam_width=4, length_penalty=0.0, coverage_penalty=1.0)
    assert run(table, plain, attends=attends) == ["▁a"]
    assert run(table, covering, attends=attends) == ["▁a", "▁b"]


def test_prefixes_are_checked_and_taken_padded_or_ragged(tiny):
    ragged = generate(tiny, SOURCES[:2], max_length=4, target_prefix=[[5, 6], []])
    padded = generate(
        tiny, SOURCES[:2], max_length=4, target_prefix=np.array([[5, 6], [0, 0]])
    )
    np.testing.assert_array_equal(ragged["target_ids"], padded["target_ids"])
    assert list(ragged["target_ids"][0, :2]) == [5, 6]
    with pytest.raises(ValueError, match="one target_prefix per source row"):
        generate(tiny, SOURCES[:2], max_length=4, target_prefix=[[5]])
    with pytest.raises(ValueError, match=r"Received: \[3\] in \[5, 3\]"):
        generate(tiny, SOURCES[:2], max_length=4, target_prefix=[[5, EOS_ID], []])
    with pytest.raises(ValueError, match=r"Received: \[0\] in \[0, 5\]"):
        generate(
            tiny, SOURCES[:2], max_length=4, target_prefix=np.array([[0, 5], [4, 0]])
        )
    with pytest.raises(ValueError, match="min_length"):
        generate(tiny, SOURCES[:2], max_length=4, min_length=5)
    with pytest.raises(ValueError, match="coverage_form"):
        generate(tiny, SOURCES[:2], method="beam", coverage_form="wu")


def test_coverage_penalty_needs_attention():
    plain = build_seq2seq(VOCAB, VOCAB, embedding_dim=4, units=8, attention=None)
    with pytest.raises(
        ValueError, match="coverage_penalty needs a model with attention"
    ):
        generate(plain, SOURCES[:1], method="beam", coverage_penalty=0.5)
    found = generate(plain, SOURCES[:1], method="beam", min_length=2, max_length=4)
    assert (found["target_ids"] != PAD_ID).sum() >= 2  # the other controls work
