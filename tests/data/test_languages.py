"""Drawing a multilingual corpus's languages at a temperature."""

import collections
import math
import re

import pytest
import tensorflow as tf

from s2s_keras.data.languages import language_counts
from s2s_keras.data.languages import resampled_by_language
from s2s_keras.data.languages import temperature_weights
from s2s_keras.data.pairs import open_splits
from s2s_keras.data.pairs import tokenizer_for
from s2s_keras.training.config import DataConfig
from tests.data.test_shards import letters
from tests.data.test_shards import write_jsonl


def tagged_rows(counts):
    return [
        {"source": f"{tag} text {letters(index)}", "target": letters(index)}
        for tag, count in counts.items()
        for index in range(count)
    ]


def as_dataset(rows):
    sources = [row["source"] for row in rows]
    return tf.data.Dataset.from_tensor_slices((sources, sources))


def test_languages_are_counted_and_weighed_by_temperature():
    pairs = as_dataset(tagged_rows({"<2de>": 90, "<2pt_BR>": 10}))
    counts = language_counts(pairs, batch_size=16)
    assert counts == {"<2de>": 90, "<2pt_BR>": 10}
    assert temperature_weights(counts, 1) == pytest.approx(
        {"<2de>": 0.9, "<2pt_BR>": 0.1}
    )
    # sqrt(90) : sqrt(10) = 3 : 1
    assert temperature_weights(counts, 2.0) == pytest.approx(
        {"<2de>": 0.75, "<2pt_BR>": 0.25}
    )
    flat = temperature_weights(counts, 1e6)
    assert flat["<2de>"] == pytest.approx(0.5, abs=1e-4)
    assert math.fsum(temperature_weights(counts, 3).values()) == pytest.approx(1.0)


@pytest.mark.parametrize("bad", [0.5, 0, -2, float("inf"), float("nan"), True, "3"])
def test_a_temperature_below_1_or_not_a_number_is_refused(bad):
    with pytest.raises(ValueError, match=r"number >= 1.*Received: temperature="):
        temperature_weights({"<2de>": 3}, bad)
    with pytest.raises(ValueError, match="Received: language_temperature="):
        DataConfig(corpus="debian_translations", language_temperature=bad)


def test_a_corpus_without_tags_cannot_be_drawn_by_language():
    counts = language_counts(as_dataset([{"source": "no tag here"}] * 3))
    assert counts == {None: 3}
    with pytest.raises(ValueError, match="needs a multilingual corpus.*Received: 3"):
        temperature_weights(counts, 3.0)
    with pytest.raises(ValueError, match="Received: 'de'"):
        resampled_by_language(as_dataset([]), {"de": 1}, {"de": 1.0})


def test_a_pass_comes_in_the_weights_shares_each_pair_repeated_or_skipped():
    rows = tagged_rows({"<2da>": 300, "<2de>": 40, "<2pt_BR>": 10})
    counts = {"<2da>": 300, "<2de>": 40, "<2pt_BR>": 10}
    weights = {"<2da>": 0.5, "<2de>": 0.3, "<2pt_BR>": 0.2}
    passes = resampled_by_language(as_dataset(rows), counts, weights, seed=1).repeat(12)
    drawn = [source.decode() for source, _ in passes.as_numpy_iterator()]
    assert len(drawn) / 12 == pytest.approx(350, rel=0.05)  # a pass: as many pairs
    shares = collections.Counter(source.split()[0] for source in drawn)
    for tag, weight in weights.items():
        assert shares[tag] / len(drawn) == pytest.approx(weight, abs=0.03)
    # Each Portuguese pair came 7 times a pass (0.2 * 350 / 10), every pass.
    portuguese = collections.Counter(s for s in drawn if s.startswith("<2pt_BR>"))
    assert len(portuguese) == 10 and set(portuguese.values()) == {7 * 12}
    assert set(drawn) <= {row["source"] for row in rows}
    # Each pass draws anew: which Danish pairs are kept changes.
    danish = [s for s in drawn if s.startswith("<2da>")]
    first = len(danish) // 12
    assert danish[:first] != danish[first : 2 * first]


def test_training_batches_draw_languages_at_the_configs_temperature(tmp_path, capsys):
    path = write_jsonl(
        tmp_path / "pairs.jsonl", tagged_rows({"<2da>": 900, "<2de>": 100})
    )
    splits = open_splits(DataConfig(data=path, language_temperature=2.0))
    tokenizer = tokenizer_for(tmp_path / "tokenizer", splits.sample(), 300)
    train = splits.batches("train", tokenizer, batch_size=32, repeat=True)
    log = capsys.readouterr().out
    # About 9 Danish pairs to 1 German in the train split: sqrt, 3 to 1.
    assert re.search(
        r"temperature 2: <2da> 7\d% \(9\d% of the pairs\), <2de> 2\d%", log
    )
    german = tokenizer.vocabulary().index("<2de>")
    sources = [inputs["source_ids"].numpy() for inputs, _ in train.take(40)]
    share = sum(int((rows == german).any(1).sum()) for rows in sources) / (40 * 32)
    assert share == pytest.approx(0.25, abs=0.05)  # 10% in the corpus
