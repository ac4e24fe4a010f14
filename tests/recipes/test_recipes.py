"""Every recipe end to end on a small file, then used through its export."""

import importlib
import io
import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from s2s_keras.training import distribute
from tests.conftest import WORDS

RECIPES = pathlib.Path(__file__).parents[2] / "recipes"
# The run folder of summarize's default model (dot attention, copy, coverage).
SUMMARIZE_RUN = "dot-copy-coverage"


def load_recipe(name):
    """A recipe module, imported by name (recipes/ is on the test path)."""
    return importlib.import_module(name)


def quick_args(pairs_file, output):
    return [
        "--data", str(pairs_file), "--source-field", "text", "--target-field", "summary",
        "--quick", "--output", str(output), "--vocab-size", "320",
        "--max-source-length", "24", "--max-target-length", "8", "--eval-pairs", "20",
    ]  # fmt: skip


def check_output(output, metric_names):
    names = {path.name for path in output.iterdir()}
    expected = {"saved_model", "model.tflite", "model.keras", "tokenizer", "metrics.json",
                "README.md", "training_curves.png", "attention.png", "export.json"}  # fmt: skip
    assert expected <= names, expected - names
    results = json.loads((output / "metrics.json").read_text())
    assert len(results["scores"]) == 2  # the baseline and the model
    for scores in results["scores"].values():
        assert set(scores) == set(metric_names)
        assert all(0.0 <= value <= 100.0 for value in scores.values())
    assert len(results["examples"]) == 5
    assert results["pairs"]["test"] <= 20
    assert "Scores on the test split" in (output / "README.md").read_text()
    # What --precision auto chose on this machine, not "auto".
    expected = "mixed_bfloat16" if distribute.native_bfloat16() else "float32"
    assert results["config"]["precision"] == "auto"
    assert results["precision"] == expected
    assert f"minutes in {expected}" in (output / "README.md").read_text()
    return results


@pytest.fixture(scope="module")
def summarize_run(pairs_file, tmp_path_factory):
    """A quick summarize run's output folder."""
    output = tmp_path_factory.mktemp("runs") / "summarize"
    load_recipe("summarize").main(quick_args(pairs_file, output))
    return output


def test_summarize_end_to_end_then_predict(summarize_run, monkeypatch, capsys):
    summarize = load_recipe("summarize")
    output = summarize_run
    results = check_output(output, ["rouge1", "rouge2", "rougeL"])
    assert any(name.startswith("lead-") for name in results["scores"])

    capsys.readouterr()
    printed = summarize.main(
        ["--model", str(output), "--predict", "alpha beta gamma delta"]
    )
    assert len(printed) == 1 and capsys.readouterr().out.strip() == printed[0]

    monkeypatch.setattr(sys, "stdin", io.StringIO("alpha beta\n\nkappa mu eta\n"))
    assert len(summarize.main(["--model", str(output), "--predict", "-"])) == 3


@pytest.mark.slow
@pytest.mark.parametrize(
    "name, metric_names, extra",
    [
        ("translate", ["bleu", "chrf"], ["--label-smoothing", "0.1"]),
        ("paraphrase", ["bleu", "chrf"], []),
        ("qa", ["rouge1", "rouge2", "rougeL"], ["--context-field", "context"]),
    ],
)
def test_other_recipes_end_to_end(pairs_file, tmp_path, name, metric_names, extra):
    recipe = load_recipe(name)
    recipe.main(quick_args(pairs_file, tmp_path / name) + extra)
    results = check_output(tmp_path / name, metric_names)
    if "--label-smoothing" in extra:  # trained with it, and the card says so
        assert results["config"]["label_smoothing"] == 0.1
        assert "label smoothing 0.1" in (tmp_path / name / "README.md").read_text()


@pytest.mark.slow  # a quick translate run, 30-40 s
def test_a_multilingual_run_scores_each_target_language(pairs_file, tmp_path, capsys):
    # Sources tagged <2de> / <2fr>, each tag asking for other target words.
    tagged = tmp_path / "tagged.jsonl"
    with open(pairs_file) as rows, open(tagged, "w") as out:
        for index, line in enumerate(rows):
            row = json.loads(line)
            words = row["text"].split()
            tag, target = ("<2de>", words[:3]) if index % 2 else ("<2fr>", words[-3:])
            out.write(
                json.dumps(
                    {"text": f"{tag} {row['text']}", "summary": " ".join(target)}
                )
                + "\n"
            )
    output = tmp_path / "translate"
    argv = [*quick_args(tagged, output), "--language-temperature", "3"]
    load_recipe("translate").main(argv)
    assert "Languages drawn at temperature 3: <2" in capsys.readouterr().out
    results = check_output(output, ["bleu", "chrf"])
    by_target = results["scores_by_target"]
    assert sorted(by_target) == ["<2de>", "<2fr>"]
    for systems in by_target.values():
        assert list(systems) == list(results["scores"])  # the baseline, the model
    card = (output / "README.md").read_text()
    assert "By target language" in card and "| `<2fr>` copy source |" in card
    from s2s_keras.text import SubwordTokenizer

    assert SubwordTokenizer.load(output / "tokenizer").target_tags == ("<2de>", "<2fr>")


def test_questions_about_one_passage_share_a_split_and_rows_stay_aligned(tmp_path):
    from s2s_keras.data.pairs import open_splits
    from s2s_keras.data.splits import SPLITS
    from s2s_keras.training.config import DataConfig

    def load_splits(config):
        splits = open_splits(config)
        return {split: splits.take(split) for split in SPLITS}

    rng = np.random.default_rng(0)
    path = tmp_path / "qa.jsonl"
    rows = []
    for passage in range(60):
        context = " ".join(rng.choice(WORDS, size=8))
        for question in range(5):
            rows.append(
                {
                    "q": f"question {question} on {context}",
                    "c": context,
                    "a": f"{passage}",
                }
            )
    rows[3]["c"] = ""  # skipped as a whole row, not only in the context column
    rows[7]["q"] = " "
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    config = DataConfig(
        data=path, source_field="q", target_field="a", context_field="c"
    )
    splits = load_splits(config)
    answer_of = {f"{row['q']} <context> {row['c']}": row["a"] for row in rows}
    split_of_context = {}
    for split, pairs in splits.items():
        for source, answer in pairs:
            assert answer_of[source] == answer  # the question's own answer
            context = source.split(" <context> ")[1]
            assert split_of_context.setdefault(context, split) == split
    assert sum(len(pairs) for pairs in splits.values()) == len(rows) - 2

    # One passage for every question: all in one split, and the error says why.
    path.write_text(
        "".join(json.dumps(dict(row, c="one passage")) + "\n" for row in rows)
    )
    with pytest.raises(ValueError, match="split is empty.*holds 1 distinct one"):
        load_splits(config)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--data", "no/such/file.jsonl"], "error: No such file: no/such/file.jsonl"),
        (
            ["--model", "no/such/export", "--predict", "x"],
            "error: No export in no/such/export",
        ),
        (["--epochs", "0"], "argument --epochs: expected a positive integer, got 0"),
        (
            ["--dropout", "1.5"],
            r"argument --dropout: expected a float in \[0, 1\), got 1.5",
        ),
        (["--attention", "bahdanau"], "argument --attention: invalid choice"),
        (
            ["--subword-sampling", "1.5"],
            r"argument --subword-sampling: expected 0 \(off\) or an alpha in \(0, 1\], got 1.5",
        ),
        (["--predict", "x"], "--model and --predict go together"),
    ],
)
def test_bad_flags_exit_2_without_traceback(argv, message, tmp_path):
    result = subprocess.run(
        [sys.executable, str(RECIPES / "summarize.py"), *argv],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    import re

    assert re.search(message, result.stderr), result.stderr[-1000:]


def test_help_explains_every_flag():
    result = subprocess.run(
        [sys.executable, str(RECIPES / "summarize.py"), "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0
    for flag in ["--data", "--tfds", "--epochs", "--batch-size", "--attention", "--decoder",
                 "--beam-width", "--output", "--seed", "--quick", "--predict", "--time-budget",
                 "--no-repeat-ngram-size", "--ngram-unit", "--min-length", "--coverage-penalty",
                 "--coverage-form", "--repetition-penalty", "--target-prefix"]:  # fmt: skip
        assert flag in result.stdout
    assert "lead baseline" in result.stdout


def test_tune_decoding_chooses_on_validation_pairs(summarize_run, tmp_path, capsys):
    """A quick run's export, its decoding searched on a few validation pairs."""
    tune = load_recipe("tune_decoding")
    output = tmp_path / "search.json"
    summary = tune.main(
        ["--model", str(summarize_run), "--pairs", "12", "--output", str(output)]
    )
    printed = capsys.readouterr().out
    assert "Best:" in printed and "Flags:" in printed
    trials = summary["trials"]
    assert len(trials) >= 10 and summary["validation_pairs"] == 12
    chosen = [t for t in trials if t["settings"] == summary["best"]]
    # No trial beat the chosen settings by the search's 0.1 points or more.
    chosen_score = chosen[0]["scores"]["rougeL"]
    assert all(t["scores"]["rougeL"] < chosen_score + 0.1 for t in trials)
    assert json.loads(output.read_text()) == summary
    # The run has a lexicon: known words only is tried, kept unless it costs.
    (known,) = [t for t in trials if t["settings"]["known_words_only"]]
    without = {**known["settings"], "known_words_only": False}
    (before,) = [t for t in trials if t["settings"] == without]
    kept = known["scores"]["rougeL"] >= before["scores"]["rougeL"] - 0.1
    assert summary["best"]["known_words_only"] == kept
    assert ("--known-words-only" in summary["flags"]) == kept
