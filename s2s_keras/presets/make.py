"""Making a preset from a recipe's export: compact weights, scores, metadata, card.

    python -m s2s_keras.presets make /runs/summarize summarize_debian \\
        --decoding /runs/summarize/decoding_search.json --command "python recipes/..."

`make_preset` reads the export folder (`read_export`: the trained model,
tokenizer, `export.json`, `metrics.json`), writes the preset's files into a
staging folder beside the destination, loads the preset back from there,
scores it on the test pairs the run was scored on (so the card's scores are
the stored weights' own), then writes `metadata.json` and the card and moves
the folder into place.
"""

import dataclasses
import datetime
import json
import os
import pathlib
import platform
import shutil
import tempfile

import keras
import tensorflow as tf

from s2s_keras.data.corpora import SOURCES
from s2s_keras.data.corpora import corpus_provenance
from s2s_keras.data.frozen import frozen_entry
from s2s_keras.data.pairs import open_splits
from s2s_keras.export import read_export
from s2s_keras.presets.card import model_card
from s2s_keras.presets.frozen import write_frozen_test
from s2s_keras.presets.preset import CONFIG
from s2s_keras.presets.preset import METADATA
from s2s_keras.presets.preset import TOKENIZER
from s2s_keras.presets.preset import WEIGHTS
from s2s_keras.presets.preset import load
from s2s_keras.presets.weights import save_weights
from s2s_keras.special_tokens import leading_target_tag
from s2s_keras.training import tasks
from s2s_keras.training.config import GenerationConfig
from s2s_keras.training.config import run_data_config
from s2s_keras.utils.atomic_files import move_into_place

MAX_MEGABYTES = 12.0  # a preset committed to the repository, at most

DESCRIPTIONS = {
    "summarize": "writes a Debian package's one-line synopsis from its long description",
    "translate": "translates a Debian package description from English into Italian",
    "paraphrase": "rewrites a King James Version verse in modern English (World English Bible style)",
    "qa": 'answers "What is <word>?" with a WordNet-style definition',
}

LIMITS = {
    "summarize": [
        "Trained on Debian package descriptions only: other kinds of text get a "
        "synopsis in the style of a package list.",
        "English only. It reads the first 96 subwords (about 70 words) of a text and "
        "writes 24 subwords at most.",
        "A synopsis may name a version, a kind of package or a purpose the "
        "description does not state: check it before publishing it.",
    ],
    "translate": [
        "English to Italian, trained on package descriptions: software vocabulary, "
        "short technical sentences; other domains translate poorly.",
        "Reads and writes 64 subwords at most: translate long texts sentence by sentence.",
    ],
    "paraphrase": [
        "Trained on Bible verses (KJV to WEB): other text is rewritten in the manner "
        "of a Bible translation.",
        "Reads and writes 64 subwords at most (a verse).",
    ],
    "qa": [
        "Answers only definition questions about single words, from WordNet's glosses.",
    ],
}


def make_preset(
    export_dir,
    directory,
    storage="float16",
    decoding=None,
    command=None,
    test_pairs=None,
    machine=None,
    max_megabytes=MAX_MEGABYTES,
    compare=None,
):
    """Writes a preset folder from a recipe's export folder.

    Args:
        export_dir: the recipe's `--output` (an export with `metrics.json`).
        directory: the preset folder to write (its name is the preset's).
        storage: `"float16"` or `"int8"` weights.
        decoding: the decoding settings, a dict of `GenerationConfig` fields
            (`decoding_search.json`'s `"best"`); default: the export's.
        command: the command that trained it, for the card.
        test_pairs: `(source, target)` pairs to score on; default: the test
            pairs the run was scored on (its data config in `metrics.json`).
        machine: what it trained on, for the card (default: this machine).
        max_megabytes: the largest preset allowed.
        compare: `{label: export folder}` of other runs of the task (such as
            its 20-minute default) whose `metrics.json` scores the card shows.

    Returns:
        The loaded `Preset`.

    Raises:
        ValueError: the export has no `metrics.json`, has its own target
            tokenizer, or the preset would be larger than `max_megabytes`.
    """
    export_dir, directory = pathlib.Path(export_dir), pathlib.Path(directory)
    export = read_export(export_dir)
    run = export["metrics"]
    if run is None:
        raise ValueError(f"{export_dir} has no metrics.json: pass a recipe's --output")
    if export["target_tokenizer"] is not export["tokenizer"]:
        raise ValueError("a preset has one tokenizer; this export has two")
    generation = _generation(export["settings"]["generator"], decoding)
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = pathlib.Path(
        tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent)
    )
    staging.chmod(0o755)  # mkdtemp's is 0o700
    try:
        model = export["model"]
        config = {
            "task": run["task"],
            "metric": run["metric"],
            "max_source_length": export["settings"]["max_source_length"],
            "generation": dataclasses.asdict(generation),
            "weights": storage,
            "model": keras.saving.serialize_keras_object(model),
        }
        (staging / CONFIG).write_text(json.dumps(config, indent=1) + "\n")
        save_weights(model, staging / WEIGHTS, storage)
        export["tokenizer"].save(staging / TOKENIZER)
        if export["lexicon"] is not None:
            export["lexicon"].save(staging)
        preset = load(staging)
        pairs = test_pairs if test_pairs is not None else _run_test_pairs(run)
        scores, outputs = preset.score(pairs)
        metadata = _metadata(
            directory.name, preset, run, scores, pairs, command, machine
        )
        metadata["scores"]["compared"] = _compared(compare or {}, run)
        by_target = tasks.get(run["task"]).scores_by_target_tag(
            [], pairs, outputs, directory.name
        )
        if by_target:  # a multilingual preset: each language's scores and pairs
            metadata["scores"]["by_target"] = by_target
            metadata["scores"]["by_target_pairs"] = {
                tag: sum(leading_target_tag(source) == tag for source, _ in pairs)
                for tag in by_target
            }
        metadata["frozen_test"] = write_frozen_test(
            staging,
            pairs,
            scores,
            metadata["data"]["corpus"],
            _test_provenance(metadata["data"]["provenance"]),
        )
        metadata["examples"] = [
            {"source": source, "reference": target, "output": output}
            for (source, target), output in list(zip(pairs, outputs, strict=True))[:5]
        ]
        metadata["size_megabytes"] = round(_megabytes(staging), 2)
        (staging / METADATA).write_text(
            json.dumps(metadata, indent=2, ensure_ascii=False) + "\n"
        )
        (staging / "README.md").write_text(model_card(metadata), encoding="utf-8")
        size = _megabytes(staging)
        if size > max_megabytes:
            raise ValueError(
                f"The preset is {size:.1f} MB, over {max_megabytes} MB: use storage='int8'"
            )
        move_into_place(staging, directory)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return load(directory)


def _generation(exported, decoding):
    fields = {field.name for field in dataclasses.fields(GenerationConfig)}
    settings = {key: value for key, value in exported.items() if key in fields}
    settings.update(
        {key: value for key, value in (decoding or {}).items() if key in fields}
    )
    return GenerationConfig(**settings)


def _run_test_pairs(run):
    """The test pairs a run was scored on, from its data flags in `metrics.json`."""
    return open_splits(run_data_config(run["config"])).take("test")


def _metadata(name, preset, run, scores, pairs, command, machine):
    flags = run["config"]
    corpus = flags.get("corpus")
    trained, baselines = _trained_and_baselines(run["scores"])
    return {
        "name": name,
        "task": run["task"],
        "description": DESCRIPTIONS.get(run["task"], run["task"]),
        "date": datetime.date.today().isoformat(),
        "packages": _versions(),
        "parameters": int(preset.model.count_params()),
        "vocabulary_size": preset.tokenizer.vocab_size,
        "weights": preset.config["weights"],
        "data": {
            "corpus": corpus,
            **SOURCES.get(corpus, {"source": flags.get("data") or flags.get("tfds")}),
            "pairs": run.get("pairs"),
            "provenance": _provenance(run_data_config(flags)),
        },
        "metric": run["metric"],
        "scores": {
            "preset": scores,
            "test_pairs": len(pairs),
            "baselines": baselines,
            "trained_model_float32": trained,
        },
        "generation": dataclasses.asdict(preset.generation),
        "training": {
            "command": command or "(not recorded)",
            "minutes": run.get("training_minutes"),
            "epochs": run.get("epochs"),
            "precision": run.get("precision"),
            "machine": machine or _machine(),
        },
        "limits": LIMITS.get(run["task"], []),
    }


def _provenance(data):
    """A built-in corpus's provenance (`corpus_provenance`), and with a frozen
    test split, its version; None for the user's own data, or where the corpus
    is not prepared on this machine."""
    if data.data or data.tfds or not data.corpus:
        return None
    provenance = corpus_provenance(
        data.corpus, data.shards, prepare=False, **data.corpus_options
    )
    if provenance is not None and data.test_version is not None:
        provenance["test_version"], _ = frozen_entry(
            data.corpus, data.test_version, **data.corpus_options
        )
    return provenance


def _test_provenance(provenance):
    """The provenance of the test pairs: the frozen split's when the run scored
    on one, else the corpus's own."""
    if provenance is None or "test_version" not in provenance:
        return provenance
    _, entry = frozen_entry(
        provenance["corpus"], provenance["test_version"], **provenance["options"]
    )
    return entry["provenance"]


def _trained_and_baselines(scores):
    """A run's scores split: its trained models' (named "seq2seq ...") and the rest."""
    trained = {
        model: values for model, values in scores.items() if model.startswith("seq2seq")
    }
    return trained, {
        model: values for model, values in scores.items() if model not in trained
    }


def _compared(compare, run):
    """`{label: scores}` of other runs' models, scored on the same test split."""
    compared = {}
    for label, folder in compare.items():
        other = json.loads((pathlib.Path(folder) / "metrics.json").read_text())
        if other["task"] != run["task"] or other["pairs"].get("test") != run[
            "pairs"
        ].get("test"):
            raise ValueError(f"{folder} is not a run of the same task and test split")
        trained, _ = _trained_and_baselines(other["scores"])
        compared[label] = next(iter(trained.values()))
    return compared


def _versions():
    import tensorflow_text

    import s2s_keras

    return {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "tensorflow_text": tensorflow_text.__version__,
        "s2s_keras": s2s_keras.__version__,
    }


def _machine():
    cpu = platform.processor() or platform.machine()
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpus = tf.config.list_physical_devices("GPU")
    return f"{os.cpu_count()} cores of {cpu}" + (
        f", {len(gpus)} GPU(s)" if gpus else ", no GPU"
    )


def _megabytes(folder):
    return (
        sum(path.stat().st_size for path in folder.rglob("*") if path.is_file()) / 1e6
    )
