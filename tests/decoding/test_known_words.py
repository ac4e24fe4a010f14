"""The known-words control: the trie against a set of words, the search
against a brute-force reference, and every method keeping to the words."""

import itertools

import numpy as np
import pytest
import tensorflow as tf

from s2s_keras.decoding import Lexicon
from s2s_keras.decoding import generate
from s2s_keras.decoding import known_words as known_words_module
from s2s_keras.decoding import word_starts
from s2s_keras.special_tokens import EOS_ID
from s2s_keras.special_tokens import PAD_ID
from tests.decoding.test_controls import confident_model
from tests.decoding.test_controls import step_log_probs

PIECES = ["<PAD>", "<UNK>", "<BOS>", "<EOS>", "▁a", "▁b", "c", "d", "▁e", "f"]
STARTS = word_starts(PIECES)
VOCAB = len(PIECES)
WORDS = [(4,), (4, 6), (4, 6, 7), (5, 7, 7), (8, 9, 9, 9), (5, 6, 6, 7, 9)]
SOURCES = np.array(
    [[4, 5, 6, 5], [6, 6, 0, 0], [5, 9, 9, 0], [8, 9, 4, 6], [5, 7, 0, 0]], "int32"
)


def split_words(tokens, starts=STARTS):
    """Tokens -> words (tuples); a token after nothing starts one."""
    found = []
    for token in tokens:
        if not found or starts[token]:
            found.append([token])
        else:
            found[-1].append(token)
    return [tuple(word) for word in found]


def source_words(source):
    return set(split_words([token for token in source if token != PAD_ID]))


# ---------------------------------------------------------------- the trie


def random_words(rng, count, vocab_size=40, starts=None):
    starts = starts if starts is not None else np.arange(vocab_size) % 3 == 1
    first = np.flatnonzero(starts[4:]) + 4
    rest = np.flatnonzero(~starts[4:]) + 4
    return {
        (int(rng.choice(first)), *rng.choice(rest, rng.integers(0, 5)).tolist())
        for _ in range(count)
    }, starts


def test_the_trie_holds_exactly_the_words_and_how_far_each_prefix_is_from_one(
    tmp_path,
):
    rng = np.random.default_rng(0)
    words, starts = random_words(rng, 300)
    starts[[EOS_ID, 1]] = True
    lexicon = Lexicon.from_words(words, starts)
    assert len(lexicon) == len(words)
    candidates, _ = random_words(rng, 2000, starts=starts)
    for word in words | candidates:
        assert (word in lexicon) == (word in words), word
    # remaining: the fewest pieces that finish a word, from every prefix.
    for word in words:
        for cut in range(1, len(word) + 1):
            prefix = word[:cut]
            node = lexicon.root_child[prefix[0]]
            for piece in prefix[1:]:
                children = range(
                    lexicon.first_child[node], lexicon.first_child[node + 1]
                )
                (node,) = [n for n in children if lexicon.pieces[n] == piece]
            fewest = min(len(w) - cut for w in words if w[:cut] == prefix)
            assert lexicon.remaining[node] == fewest, prefix
    lexicon.save(tmp_path)
    loaded = Lexicon.load(tmp_path)
    for name in ("pieces", "first_child", "remaining", "root_child", "word_starts"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(lexicon, name))
    assert loaded.source_words and Lexicon.load(tmp_path / "none") is None


@pytest.mark.parametrize("narrow", [64, 4], ids=["gathered", "wide-rows"])
def test_the_walk_ends_on_a_word_exactly_for_the_words(narrow, monkeypatch):
    """`advance` over every word and as many non-words, nodes of up to 26 children."""
    monkeypatch.setattr(known_words_module, "NARROW", narrow)
    rng = np.random.default_rng(1)
    words, starts = random_words(rng, 300)
    walk = Lexicon.from_words(words, starts, source_words=False).known_words()
    candidates, _ = random_words(rng, 300, starts=starts)
    rows = sorted(words | candidates)
    width = max(map(len, rows))
    node = tf.zeros([len(rows)], tf.int32)
    nothing = tf.zeros([len(rows), 0], tf.int32)
    for step in range(width):
        tokens = tf.constant([row[step] if step < len(row) else 0 for row in rows])
        moved, _ = walk.advance(node, tf.cast(nothing, tf.bool), nothing, tokens)
        node = tf.where(tokens > 0, moved, node)
    remaining = walk.variables_by_name["remaining"].numpy()[node.numpy()]
    np.testing.assert_array_equal(remaining == 0, [row in words for row in rows])


def test_a_lexicon_from_texts_holds_the_words_as_the_tokenizer_cuts_them():
    from s2s_keras.text import SubwordTokenizer
    from tests.text.test_tokenizer import corpus

    texts = corpus()
    tokenizer = SubwordTokenizer.train(texts, vocab_size=320)
    lexicon = Lexicon.from_texts(tokenizer, texts, batch_size=7)
    starts = word_starts(tokenizer)
    expected = {
        tuple(ids)
        for text in texts
        for ids in split_words(tokenizer.tokenize([text]).numpy()[0].tolist(), starts)
    }
    assert len(lexicon) == len(expected)
    assert all(word in lexicon for word in expected)


# ---------------------------------------------------------------- the search


@pytest.fixture(scope="module")
def sharp():
    return confident_model(VOCAB)


def allowed_by_brute_force(written, known, max_length):
    """The tokens after `written` that keep its words in `known`, finishable."""
    steps_left = max_length - len(written) - 1  # tokens after the next one
    last = split_words(written)[-1] if written else ()
    after_word = not last or last in known
    allowed = [EOS_ID] if after_word else []
    for token in range(4, VOCAB):
        if STARTS[token]:
            ok = after_word and any(
                w[0] == token and len(w) - 1 <= steps_left for w in known
            )
        else:
            grown = (*last, token)
            ok = bool(last) and any(
                w[: len(grown)] == grown and len(w) - len(grown) <= steps_left
                for w in known
            )
        if ok:
            allowed.append(token)
    return allowed or [EOS_ID]  # nothing allowed: <EOS> ends the output


def greedy_reference(model, source, known, max_length):
    written = []
    for _ in range(max_length):
        log_probs = step_log_probs(model, source, written, repetition_penalty=1.0)
        allowed = allowed_by_brute_force(written, known, max_length)
        token = max(allowed, key=lambda token: log_probs[token])
        if token == EOS_ID:
            break
        written.append(token)
    return written


@pytest.mark.parametrize(
    "max_length, with_source, narrow",
    [
        (1, True, 64),
        (3, True, 64),
        (6, True, 64),
        (6, False, 64),
        (3, True, 0),
        (6, False, 0),
    ],
    ids=["1", "3", "6", "6-no-source", "3-wide-rows", "6-no-source-wide-rows"],
)
def test_greedy_keeps_to_known_words_as_a_brute_force_search_does(
    sharp, max_length, with_source, narrow, monkeypatch
):
    # narrow=0: every node's children are a row over the vocabulary, not a gather.
    monkeypatch.setattr(known_words_module, "NARROW", narrow)
    lexicon = Lexicon.from_words(WORDS, STARTS, source_words=with_source)
    found = generate(
        sharp,
        SOURCES,
        max_length=max_length,
        known_words_only=True,
        lexicon=lexicon,
    )
    for row, source in enumerate(SOURCES):
        known = set(WORDS) | (source_words(source) if with_source else set())
        expected = greedy_reference(sharp, source, known, max_length)
        ids = found["target_ids"][row]
        assert list(ids[ids != PAD_ID]) == expected, row


@pytest.mark.parametrize("method", ["greedy", "beam", "sample"])
def test_every_method_writes_only_known_or_source_words_never_cut_off(sharp, method):
    lexicon = Lexicon.from_words(WORDS, STARTS)
    written_words = set()
    seeds = [0, 1] if method == "sample" else [0]
    for max_length, seed in itertools.product([2, 5, 12], seeds):
        found = generate(
            sharp,
            SOURCES,
            max_length=max_length,
            method=method,
            seed=seed,
            beam_width=3,
            num_results=3,
            temperature=1.5,
            known_words_only=True,
            lexicon=lexicon,
        )
        outputs = found.get("n_best_ids", found["target_ids"][:, None])
        for source, hypotheses in zip(SOURCES, outputs, strict=True):
            known = set(WORDS) | source_words(source)
            for ids in hypotheses:
                words = split_words([token for token in ids if token != PAD_ID])
                assert set(words) <= known, (source, ids)
                written_words |= set(words)
    # The test saw words, of several pieces too, not only empty outputs.
    assert len(written_words) >= 2 and max(map(len, written_words)) > 1


def test_without_the_control_the_model_writes_an_unknown_word(sharp):
    """The model above does invent words: the control has work to do."""
    found = generate(sharp, SOURCES, max_length=7)
    invented = [
        word
        for source, ids in zip(SOURCES, found["target_ids"], strict=True)
        for word in split_words([token for token in ids if token != PAD_ID])
        if word not in set(WORDS) | source_words(source)
    ]
    assert invented


def test_the_control_needs_a_lexicon_of_the_model_vocabulary(sharp):
    with pytest.raises(ValueError, match="lexicon=None"):
        generate(sharp, SOURCES, known_words_only=True)
    other = Lexicon.from_words(WORDS, np.append(STARTS, False))
    with pytest.raises(ValueError, match="Received: 11 pieces"):
        generate(sharp, SOURCES, known_words_only=True, lexicon=other)
    with pytest.raises(ValueError, match="known_words_only"):
        generate(sharp, SOURCES, known_words_only="yes")
