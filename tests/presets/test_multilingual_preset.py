"""A multilingual preset: each target language's scores in its card, and a
clear error for a text without one of its tags."""

import json

import pytest

from s2s_keras import presets
from tests.export.test_multilingual_export import TAGS
from tests.export.test_multilingual_export import tagged_export  # noqa: F401 (fixture)
from tests.text.test_tokenizer import corpus


def test_its_card_scores_each_language_and_it_asks_for_a_tag(
    tagged_export,  # noqa: F811 (the fixture)
    tmp_path,
):
    export, _, _ = tagged_export
    run = {
        "task": "translate",
        "metric": "bleu",
        "scores": {
            "copy source": {"bleu": 5.0, "chrf": 20.0},
            "seq2seq + dot attention": {"bleu": 20.0, "chrf": 40.0},
        },
        "training_minutes": 1.0,
        "epochs": 1,
        "precision": "float32",
        "pairs": {"train": 100, "validation": 10, "test": 12},
        "config": {"data": "tagged.jsonl", "eval_pairs": 12},
    }
    (export / "metrics.json").write_text(json.dumps(run))
    texts = corpus(12, seed=3)
    test_pairs = [
        (f"{TAGS[index % 2]} {text}", " ".join(text.split()[:2]))
        for index, text in enumerate(texts)
    ]
    preset = presets.make_preset(
        export, tmp_path / "translate_en_tiny", test_pairs=test_pairs
    )
    by_target = json.loads(
        (tmp_path / "translate_en_tiny" / "metadata.json").read_text()
    )["scores"]["by_target"]
    assert list(by_target) == list(TAGS)
    assert list(by_target["<2de>"]) == ["copy source", "translate_en_tiny"]
    card = (tmp_path / "translate_en_tiny" / "README.md").read_text()
    header = "| target | pairs | copy source: bleu | copy source: chrf | translate_en_tiny: bleu |"
    assert header in card
    assert "| `<2de>` | 6 | " in card and "| `<2fr>` | 6 | " in card
    assert 'model(["<2de> ..."])' in card
    assert len(preset([test_pairs[0][0], test_pairs[1][0]])) == 2
    with pytest.raises(ValueError, match="<2de> <2fr>"):
        preset(["a text without a tag"])
