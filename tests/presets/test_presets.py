"""Presets: made from a run's export, loaded in one line, exported, served, listed."""

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from s2s_keras import presets
from s2s_keras.presets import frozen
from s2s_keras.presets.card import model_card
from s2s_keras.training.config import GenerationConfig
from s2s_keras.training.evaluation import generate_texts
from tests.export.test_export import run_without_s2s_keras
from tests.export.test_export import sharp_export
from tests.text.test_tokenizer import corpus

TEXTS = ["the encoder reads the source", "attention looks back at every word", ""]


def run_metrics(task="summarize"):
    """A recipe run's metrics.json, as `reporting.write_results` writes it."""
    return {
        "task": task,
        "metric": "rouge",
        "scores": {
            "lead-2": {"rouge1": 10.0, "rouge2": 1.0, "rougeL": 9.0},
            "seq2seq + dot attention": {"rouge1": 20.0, "rouge2": 2.0, "rougeL": 19.0},
        },
        "training_minutes": 1.5,
        "epochs": 2,
        "precision": "float32",
        "pairs": {"train": 100, "validation": 10, "test": 30},
        "config": {"corpus": "debian_descriptions", "eval_pairs": 30},
    }


@pytest.fixture(scope="module")
def test_pairs():
    return [(text, " ".join(text.split()[:2])) for text in corpus(30, seed=5)]


@pytest.fixture(scope="module")
def made(tmp_path_factory, test_pairs):
    """A run's export (beam 3) made into the preset `tiny_summarizer`."""
    export, _, _ = sharp_export(tmp_path_factory, "run", method="beam", beam_width=3)
    (export / "metrics.json").write_text(json.dumps(run_metrics()))
    folder = tmp_path_factory.mktemp("presets") / "tiny_summarizer"
    preset = presets.make_preset(
        export,
        folder,
        decoding={"method": "greedy", "max_length": 6, "bogus_field": 1},
        command="python recipes/summarize.py --quick",
        test_pairs=test_pairs,
        compare={"20-minute default": export},
    )
    return export, folder, preset


def test_the_folder_holds_the_weights_tokenizer_config_metadata_and_card(made):
    _, folder, preset = made
    assert sorted(path.name for path in folder.iterdir()) == [
        "README.md", "config.json", "metadata.json", "test_pairs.jsonl", "tokenizer",
        "weights.npz",
    ]  # fmt: skip
    metadata = json.loads((folder / "metadata.json").read_text())
    assert metadata["task"] == "summarize" and metadata["weights"] == "float16"
    assert metadata["parameters"] == preset.model.count_params() > 0
    assert metadata["vocabulary_size"] == preset.tokenizer.vocab_size
    assert {"tensorflow", "keras", "tensorflow_text", "python"} <= set(
        metadata["packages"]
    )
    assert "public domain" not in metadata["data"]["license"]  # Debian's terms
    assert metadata["data"]["source"].startswith("Debian's package descriptions")
    assert metadata["scores"]["test_pairs"] == 30 and len(metadata["examples"]) == 5
    # The decoding given (greedy, 6 subwords) replaced the export's (beam).
    assert metadata["generation"]["method"] == "greedy"
    assert metadata["generation"]["max_length"] == 6
    card = (folder / "README.md").read_text()
    for words in ("python recipes/summarize.py --quick", "lead-2 (baseline)", "20-minute default",
                  "## Limits", "## Examples", 'presets.load("tiny_summarizer")'):  # fmt: skip
        assert words in card


def test_the_scored_test_pairs_are_frozen_with_the_preset(made, test_pairs):
    """make_preset stores the pairs its card was scored on, pinned by sha256,
    so that `presets evaluate` reproduces the card any day."""
    _, folder, preset = made
    metadata = json.loads((folder / "metadata.json").read_text())
    stored = metadata["frozen_test"]
    assert stored["pairs"] == 30 and stored["scores"] == metadata["scores"]["preset"]
    assert frozen.frozen_pairs(preset) == test_pairs
    compared = frozen.evaluate(presets.load(folder))
    assert all(abs(card - now) < 1e-6 for card, now in compared.values())
    assert stored["sha256"] in (folder / "README.md").read_text()


def test_the_card_gives_the_datas_provenance(made):
    _, folder, _ = made
    metadata = json.loads((folder / "metadata.json").read_text())
    provenance = {
        "corpus": "debian_descriptions",
        "options": {},
        "prepared": "2026-12-03",
        "format_version": 4,
        "split_rule_version": 2,
        "sources": {"main_binary-amd64_Packages.lz4": "38163a87d0269f1a"},
        "split_sizes": {"train": 55688, "validation": 3287, "test": 2833},
    }
    metadata["data"]["provenance"] = provenance
    metadata["frozen_test"]["provenance"] = {**provenance, "prepared": "2026-12-04"}
    card = model_card(metadata)
    for words in (
        "The corpus was prepared on 2026-12-03 (corpus format version 4, split rule "
        "version 2), split sizes train 55,688, validation 3,287, test 2,833",
        "| `main_binary-amd64_Packages.lz4` | `38163a87d0269f1a` |",
        "They were drawn from the corpus prepared on 2026-12-04",
    ):
        assert words in card


def test_the_card_passes_the_projects_format_check(made):
    # A card is committed with its preset, and CI runs `ruff format --check .`,
    # which formats the Python blocks of Markdown files too.
    _, folder, _ = made
    check = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", str(folder / "README.md")],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_its_scores_are_the_stored_weights_own(made, test_pairs):
    _, folder, _ = made
    metadata = json.loads((folder / "metadata.json").read_text())
    reloaded = presets.load(folder)
    scores, _ = reloaded.score(test_pairs)
    assert scores == pytest.approx(metadata["scores"]["preset"], abs=1e-6)


def test_load_by_name_list_and_a_missing_name(made, monkeypatch):
    _, folder, _ = made
    monkeypatch.setenv("S2S_KERAS_PRESETS", str(folder.parent))
    assert presets.list() == ["tiny_summarizer"]
    preset = presets.load("tiny_summarizer")
    assert preset.name == "tiny_summarizer" and preset.task == "summarize"
    assert presets.is_preset("tiny_summarizer") and not presets.is_preset("nothing")
    with pytest.raises(
        ValueError, match=r"No preset named 'nothing'.*presets there: tiny_summarizer"
    ):
        presets.load("nothing")


def test_a_bare_name_is_a_preset_and_a_path_is_a_folder(made, monkeypatch, tmp_path):
    """A folder of the working directory named like a preset is never taken
    by the bare name; './NAME' takes it; a bare name of a folder only says how."""
    import shutil

    _, folder, _ = made
    monkeypatch.setenv("S2S_KERAS_PRESETS", str(folder.parent))
    monkeypatch.chdir(tmp_path)
    local = tmp_path / "tiny_summarizer"
    shutil.copytree(folder, local)
    config = json.loads((local / "config.json").read_text())
    config["task"] = "local copy"
    (local / "config.json").write_text(json.dumps(config))
    assert presets.load("tiny_summarizer").task == "summarize"
    assert presets.load("./tiny_summarizer").task == "local copy"
    assert presets.load(local).task == "local copy"
    shutil.copytree(local, tmp_path / "mine")
    with pytest.raises(ValueError, match=r"No preset named 'mine'.*pass './mine'"):
        presets.load("mine")
    assert presets.load("./mine").task == "local copy"
    with pytest.raises(ValueError, match=r"No preset in nowhere: nowhere/config.json"):
        presets.load("./nowhere")


def decoded_by_its_model(preset, texts, generation=None):
    """What `preset`'s model, tokenizer and lexicon write for `texts`, decoded
    as the preset decodes, or with `generation`."""
    return generate_texts(
        preset.model,
        preset.tokenizer,
        texts,
        generation or preset.generation,
        preset.max_source_length,
        lexicon=preset.lexicon,
    )


def test_it_answers_as_its_model_decodes(made):
    _, _, preset = made
    expected = decoded_by_its_model(preset, TEXTS)
    assert preset(TEXTS) == expected
    assert preset(TEXTS[0]) == expected[0]  # one string in, one out
    controls = {"max_length": 2, "method": "beam", "beam_width": 2}
    shorter = preset.generate(TEXTS, **controls)
    changed = dataclasses.replace(preset.generation, **controls)
    assert shorter == decoded_by_its_model(preset, TEXTS, changed)
    assert preset.generation.max_length == 6  # the preset's own stays
    with pytest.raises(ValueError, match=r"Unknown decoding setting\(s\) \['beams'\]"):
        preset.generate(TEXTS, beams=3)
    with pytest.raises(ValueError, match="method"):
        preset.generate(TEXTS, method="sideways")
    with pytest.raises(ValueError, match="texts must be strings"):
        preset.generate([1, 2])


def test_its_export_loads_without_s2s_keras_and_answers_the_same(made, tmp_path):
    _, _, preset = made
    folder = preset.export(tmp_path / "export")
    assert {
        "saved_model",
        "model.tflite",
        "model.keras",
        "tokenizer",
        "export.json",
    } <= {path.name for path in folder.iterdir()}
    settings = json.loads((folder / "export.json").read_text())["generator"]
    assert settings["method"] == "greedy" and settings["max_length"] == 6
    script = f"""
        import json
        import tensorflow as tf
        import tensorflow_text
        model = tf.saved_model.load({str(folder / "saved_model")!r})
        out = model.signatures["serving_default"](text=tf.constant({TEXTS!r}))
        print(json.dumps([t.decode() for t in out["text"].numpy()]))
    """
    answers = json.loads(run_without_s2s_keras(script).strip().splitlines()[-1])
    assert answers == preset(TEXTS)


def python_module(*args, cwd=None):
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )


@pytest.mark.slow
def test_the_command_line_lists_and_exports(made, tmp_path, monkeypatch):
    _, folder, preset = made
    monkeypatch.setenv("S2S_KERAS_PRESETS", str(folder.parent))
    listed = python_module("-m", "s2s_keras.presets", "list")
    assert listed.returncode == 0 and listed.stdout.startswith(
        "tiny_summarizer: writes"
    )
    result = python_module(
        "-m",
        "s2s_keras.presets",
        "export",
        "tiny_summarizer",
        str(tmp_path / "e"),
        "--no-tflite",
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "e" / "saved_model").is_dir() and not (
        tmp_path / "e" / "model.tflite"
    ).exists()
    missing = python_module(
        "-m", "s2s_keras.presets", "export", "nope", str(tmp_path / "x")
    )
    assert missing.returncode == 2 and "No preset named 'nope'" in missing.stderr


@pytest.mark.slow
def test_a_recipe_predicts_with_a_preset_name(made, monkeypatch):
    _, folder, preset = made
    monkeypatch.setenv("S2S_KERAS_PRESETS", str(folder.parent))
    recipe = os.path.join(
        os.path.dirname(__file__), "..", "..", "recipes", "summarize.py"
    )
    result = python_module(recipe, "--model", "tiny_summarizer", "--predict", TEXTS[0])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == preset(TEXTS[0]).strip()


def test_a_preset_over_the_size_limit_is_refused(made, tmp_path, test_pairs):
    export, _, _ = made
    with pytest.raises(ValueError, match=r"over 0.001 MB: use storage='int8'"):
        presets.make_preset(
            export, tmp_path / "big", test_pairs=test_pairs, max_megabytes=0.001
        )
    assert not (tmp_path / "big").exists()
    assert list(tmp_path.iterdir()) == []  # no staging folder left


def test_an_export_without_a_run_is_refused(made, tmp_path):
    export, _, _ = made
    bare = tmp_path / "bare"
    bare.mkdir()
    for entry in export.iterdir():
        if entry.name != "metrics.json":
            (bare / entry.name).symlink_to(entry)
    with pytest.raises(ValueError, match="has no metrics.json"):
        presets.make_preset(bare, tmp_path / "p")


def test_a_generation_config_reads_back_from_the_config(made):
    _, folder, preset = made
    config = json.loads((folder / "config.json").read_text())
    assert GenerationConfig(**config["generation"]) == preset.generation
    assert textwrap.dedent(repr(preset)).startswith(
        "<Preset tiny_summarizer: summarize"
    )


@pytest.mark.slow
def test_the_server_serves_a_preset_by_name(made, tmp_path, monkeypatch):
    import httpx2

    from tests.serve.conftest import free_port
    from tests.serve.test_command import start
    from tests.serve.test_command import wait_until_up

    _, folder, preset = made
    monkeypatch.setenv("S2S_KERAS_PRESETS", str(folder.parent))
    monkeypatch.setenv("S2S_KERAS_CACHE", str(tmp_path / "cache"))
    port = free_port()
    process = start("tiny_summarizer", tmp_path, "--port", str(port))
    try:
        base = f"http://127.0.0.1:{port}/v1/models/tiny_summarizer"
        assert wait_until_up(base, process, seconds=300).status_code == 200
        answer = httpx2.post(base + ":predict", json={"instances": TEXTS}, timeout=60)
        assert [row["text"] for row in answer.json()["predictions"]] == preset(TEXTS)
    finally:
        process.terminate()
        process.communicate(timeout=60)
    # Nothing in the working folder; the export kept in the cache for the next start.
    assert [path.name for path in tmp_path.iterdir()] == ["cache"]
    exports = (tmp_path / "cache" / "exports").glob("tiny_summarizer-*")
    (export,) = [path for path in exports if path.is_dir()]  # and its lock file
    assert (export / "export.json").is_file() and (export / "saved_model").is_dir()


def test_a_presets_export_is_made_once_and_made_again_when_it_changes(
    made, tmp_path, monkeypatch
):
    """What `python -m s2s_keras.serve NAME` loads: the export is written on the
    first start only; a changed preset gets its own."""
    from s2s_keras.presets import exports

    _, folder, _ = made
    monkeypatch.setenv("S2S_KERAS_CACHE", str(tmp_path / "cache"))
    first = exports.cached_export(folder, log=lambda _: None)
    assert first.parent == tmp_path / "cache" / "exports"
    assert first.name.startswith("tiny_summarizer-")
    assert (first / "export.json").is_file() and not (first / "model.tflite").exists()

    def no_second_export(_):
        raise AssertionError("exported again")

    monkeypatch.setattr(exports, "load", no_second_export)
    assert exports.cached_export(folder, log=lambda _: None) == first
    changed = tmp_path / "tiny_summarizer"
    shutil.copytree(folder, changed)
    (changed / "README.md").write_text("# another card\n")
    assert exports.fingerprint(changed) != exports.fingerprint(folder)
    with pytest.raises(AssertionError, match="exported again"):
        exports.cached_export(changed, log=lambda _: None)


def test_frozen_test_pairs_are_pinned_and_scored_again(made, tmp_path, test_pairs):
    _, folder, _ = made
    copy = tmp_path / "tiny_summarizer"
    shutil.copytree(folder, copy)
    preset = presets.load(copy)
    stored = frozen.freeze(preset, test_pairs[:12])
    assert stored["pairs"] == 12 and (copy / "test_pairs.jsonl").is_file()
    reloaded = presets.load(copy)
    assert reloaded.metadata["frozen_test"]["sha256"] == stored["sha256"]
    assert frozen.frozen_pairs(reloaded) == test_pairs[:12]
    compared = frozen.evaluate(reloaded)
    assert compared and all(card == now for card, now in compared.values())
    with open(copy / "test_pairs.jsonl", "a") as file:
        file.write('{"source": "a", "target": "b"}\n')
    with pytest.raises(ValueError, match="is not the file that was pinned"):
        frozen.frozen_pairs(reloaded)
