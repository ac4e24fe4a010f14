"""Every preset shipped in saved_models/: it loads, answers, exports, and its card holds.

The scores of a preset's card are reproduced on the same test pairs within
0.5 (the float16 or int8 weights are what was scored, so they match unless
the machine's arithmetic differs).
"""

import json
import re
import subprocess
import sys

import pytest

from s2s_keras import presets
from s2s_keras.presets.make import MAX_MEGABYTES
from s2s_keras.presets.preset import SHIPPED
from tests.export.test_export import run_without_s2s_keras
from tests.recipes.test_recipes import RECIPES

SHIPPED_NAMES = sorted(
    path.name for path in SHIPPED.glob("*") if (path / "config.json").is_file()
)
TEXTS = {
    "summarize": "GNU Emacs is the extensible, customizable, self-documenting "
    "real-time display editor. This package contains the Lisp source files.",
    "translate": "This package contains the documentation of the library.",
    "paraphrase": "And God said, Let there be light: and there was light.",
    "qa": "What is an editor?",
}


README = RECIPES.parent / "README.md"
NAMED_PRESETS = {"summarize_debian", "translate_en_it", "paraphrase_kjv_web"}


def card(name):
    return json.loads((SHIPPED / name / "metadata.json").read_text())


def test_the_named_presets_are_shipped():
    assert NAMED_PRESETS - set(SHIPPED_NAMES) == set()


@pytest.mark.parametrize("name", SHIPPED_NAMES)
def test_the_readme_table_gives_a_shipped_presets_card_scores(name):
    rows = [
        line
        for line in README.read_text().splitlines()
        if line.startswith(f"| `{name}` |")
    ]
    assert len(rows) == 1, f"README.md has {len(rows)} rows for {name}"
    scores = card(name)["scores"]
    figures = [*scores["preset"].values()]
    figures += [value for row in scores["baselines"].values() for value in row.values()]
    # The row's figures as whole numbers, so that 4.5 is not found in 44.5.
    in_row = re.findall(r"(?<![\d.])\d+\.\d+(?![\d.])", rows[0])
    for value in figures:
        assert f"{value:.1f}" in in_row, (value, in_row)


@pytest.mark.parametrize("name", SHIPPED_NAMES)
def test_a_shipped_preset_loads_and_answers_and_is_small(name):
    folder = SHIPPED / name
    size = sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())
    assert size <= MAX_MEGABYTES * 1e6
    preset = presets.load(name)
    output = preset(TEXTS[preset.task])
    assert isinstance(output, str) and output.strip()
    assert name in presets.list()


@pytest.mark.slow
@pytest.mark.parametrize("name", SHIPPED_NAMES)
def test_a_shipped_preset_reproduces_its_frozen_test_scores(name):
    """`python -m s2s_keras.presets evaluate NAME`: each score on the test pairs
    stored with the preset within 0.2 of its card's (Debian's index moves, so
    the day's split is not the card's a month later)."""
    result = subprocess.run(
        [sys.executable, "-m", "s2s_keras.presets", "evaluate", name],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]
    frozen = card(name)["frozen_test"]
    assert frozen["pairs"] == card(name)["scores"]["test_pairs"]
    for key in frozen["scores"]:
        assert f"| {key} |" in result.stdout


@pytest.mark.slow
@pytest.mark.parametrize("name", SHIPPED_NAMES)
def test_a_shipped_preset_exports_for_a_program_without_s2s_keras(name, tmp_path):
    preset = presets.load(name)
    folder = preset.export(tmp_path / name)
    text = TEXTS[preset.task]
    script = f"""
        import json
        import tensorflow as tf
        import tensorflow_text
        model = tf.saved_model.load({str(folder / "saved_model")!r})
        out = model.signatures["serving_default"](text=tf.constant([{text!r}]))
        print(json.dumps(out["text"].numpy()[0].decode()))
    """
    answer = json.loads(run_without_s2s_keras(script).strip().splitlines()[-1])
    assert answer == preset(text)
