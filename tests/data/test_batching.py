import numpy as np
import pytest
import tensorflow as tf

from s2s_keras.data import make_batches
from s2s_keras.data import padding_fraction
from s2s_keras.data.batching import bucket_boundaries
from s2s_keras.special_tokens import BOS_ID
from s2s_keras.special_tokens import EOS_ID
from tests.text.test_tokenizer import WORDS
from tests.text.test_tokenizer import corpus
from tests.text.test_tokenizer import tokenizer  # noqa: F401 (fixture)


def varied_pairs(count=300, seed=0):
    rng = np.random.default_rng(seed)
    sources = [
        " ".join(rng.choice(WORDS, size=rng.integers(2, 60))) for _ in range(count)
    ]
    targets = [" ".join(source.split()[:3]) for source in sources]
    return tf.data.Dataset.from_tensor_slices((sources, targets))


def test_batches_have_the_contract_shapes(tokenizer):  # noqa: F811
    batches = make_batches(
        varied_pairs(),
        tokenizer,
        batch_size=16,
        max_source_length=20,
        max_target_length=6,
    )
    count = 0
    for inputs, labels in batches:
        count += int(tf.shape(labels)[0])
        source, target = inputs["source_ids"].numpy(), inputs["target_ids"].numpy()
        labels = labels.numpy()
        assert source.dtype == target.dtype == labels.dtype == np.int32
        assert source.shape[0] == target.shape[0] == labels.shape[0] <= 16
        assert source.shape[1] <= 20 and target.shape[1] <= 6
        assert target.shape == labels.shape
        assert np.all(target[:, 0] == BOS_ID)
        # labels are target_ids shifted left by one, ending with EOS
        assert np.all(
            labels[:, :-1][target[:, 1:] != 0] == target[:, 1:][target[:, 1:] != 0]
        )
        lengths = (labels != 0).sum(1)
        assert np.all(labels[np.arange(len(labels)), lengths - 1] == EOS_ID)
        assert np.all((target != 0).sum(1) == lengths)
    assert count == 300


def test_bucketing_cuts_padding(tokenizer):  # noqa: F811
    kwargs = {"batch_size": 16, "max_source_length": 64, "max_target_length": 8}
    bucketed = padding_fraction(make_batches(varied_pairs(), tokenizer, **kwargs))
    padded = padding_fraction(
        make_batches(varied_pairs(), tokenizer, bucket=False, **kwargs)
    )
    assert bucketed < padded * 0.6, (bucketed, padded)


def test_same_seed_same_order(tokenizer):  # noqa: F811
    def first_batch(seed):
        batches = make_batches(
            varied_pairs(), tokenizer, batch_size=8, shuffle=True, seed=seed
        )
        return next(iter(batches))[0]["source_ids"].numpy()

    np.testing.assert_array_equal(first_batch(1), first_batch(1))
    assert not np.array_equal(first_batch(1), first_batch(2))


def test_subword_sampling_cuts_each_pass_anew_into_the_same_texts(tokenizer):  # noqa: F811
    sentence = "the decoder attends over the encoder states"
    pairs = tf.data.Dataset.from_tensor_slices(([sentence] * 8, [sentence] * 8))
    best = tokenizer.tokenize([sentence])[0].numpy().tolist()
    batches = make_batches(
        pairs, tokenizer, batch_size=8, max_source_length=64, max_target_length=64,
        bucket=False, repeat=True, subword_sampling=0.2,
    )  # fmt: skip
    cuts = set()
    for inputs, labels in batches.take(4):  # 32 draws of one sentence
        for source, target in zip(
            inputs["source_ids"].numpy(), labels.numpy(), strict=True
        ):
            source = [int(i) for i in source if i]
            assert tokenizer.detokenize([source]).numpy()[0].decode() == sentence
            assert (
                tokenizer.detokenize([target.tolist()]).numpy()[0].decode() == sentence
            )
            cuts.add(tuple(source))
    # 32 draws at alpha 0.2 give 4 to 8 distinct cuts (13 runs), drawn unseeded;
    # the best cut alone would be 1.
    assert len(cuts) > 1
    # Off (the default), every pass gives the best cut.
    plain = make_batches(
        pairs, tokenizer, batch_size=8, max_source_length=64, bucket=False
    )
    for inputs, _ in plain:
        for source in inputs["source_ids"].numpy():
            assert [int(i) for i in source if i] == best
    for bad in (-0.1, 1.5, True):
        with pytest.raises(ValueError, match="subword_sampling"):
            make_batches(pairs, tokenizer, subword_sampling=bad)
    with pytest.raises(ValueError, match="cache"):
        make_batches(pairs, tokenizer, subword_sampling=0.2, cache=True)
    with pytest.raises(ValueError, match="alpha"):
        tokenizer.tokenize_sampled(tf.constant([sentence]), 0.0)


def test_bucket_boundaries_grow_and_stop_below_the_maximum():
    assert bucket_boundaries(128) == [8, 12, 16, 24, 32, 48, 64, 96]
    assert bucket_boundaries(8) == []


def test_bad_lengths_raise(tokenizer):  # noqa: F811
    with pytest.raises(
        ValueError, match="max_target_length.*Received: max_target_length=1"
    ):
        make_batches(varied_pairs(), tokenizer, max_target_length=1)
    with pytest.raises(ValueError, match="batch_size.*Received: batch_size=0"):
        make_batches(varied_pairs(), tokenizer, batch_size=0)


def test_corpus_helper_is_text():
    assert all(isinstance(text, str) for text in corpus(3))
