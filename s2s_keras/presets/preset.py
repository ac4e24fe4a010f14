"""A trained model of the zoo, loaded in one line: `Preset`, `load`, `available`.

    from s2s_keras import presets
    summarizer = presets.load("summarize_debian")
    summarizer(["A fast, light text editor for the terminal, with syntax ..."])
    summarizer.generate(texts, method="greedy", max_length=12)
    summarizer.export("exports/summarize")   # SavedModel, TFLite, .keras

A preset is a folder. The shipped ones are the repository's `saved_models/`,
which an installed wheel or sdist holds as `s2s_keras/presets/shipped/` (package
data: every install loads them by name, offline); `$S2S_KERAS_PRESETS` names
another folder of them:

| file | what it holds |
|---|---|
| `config.json` | the model's Keras config, the task, the maximum source length, the decoding settings (chosen on the validation split), the weight storage |
| `weights.npz` | the weights, float16 or int8 (`weights.py`), no optimizer state |
| `tokenizer/` | the SentencePiece model, shared by sources and outputs |
| `lexicon.npz` | the words of the training text, for `known_words_only` (optional; `decoding.Lexicon`) |
| `metadata.json` | package versions, parameter count, vocabulary size, data source and license, date, scores |
| `README.md` | the model card |
"""

import dataclasses
import json
import os
import pathlib

import keras

from s2s_keras.decoding import Lexicon
from s2s_keras.export import write_export
from s2s_keras.presets import remote
from s2s_keras.presets.weights import load_weights
from s2s_keras.text import SubwordTokenizer
from s2s_keras.training.config import GenerationConfig
from s2s_keras.training.evaluation import evaluate
from s2s_keras.training.evaluation import generate_texts

CONFIG = "config.json"
WEIGHTS = "weights.npz"
METADATA = "metadata.json"
TOKENIZER = "tokenizer"
INSTALLED = pathlib.Path(__file__).resolve().parent / "shipped"  # in a wheel
CHECKOUT = pathlib.Path(__file__).resolve().parents[2] / "saved_models"
SHIPPED = INSTALLED if INSTALLED.is_dir() else CHECKOUT


def presets_folder():
    """Where presets are looked up by name: `$S2S_KERAS_PRESETS` or `saved_models/`."""
    return pathlib.Path(os.environ.get("S2S_KERAS_PRESETS") or SHIPPED)


def available():
    """The names of the presets in `presets_folder()`, sorted."""
    folder = presets_folder()
    if not folder.is_dir():
        return []
    return sorted(path.name for path in folder.iterdir() if (path / CONFIG).is_file())


def is_preset(name_or_path):
    """Whether `name_or_path` is a preset's name or folder."""
    try:
        find(name_or_path)
    except ValueError:
        return False
    return True


def is_name(name_or_path):
    """Whether `name_or_path` is a bare name (a preset's), not a path.

    A string without a path separator that is not `.`, `..` or `~...` is a
    name; a `pathlib.Path`, or a string with a separator (`./summarize`,
    `runs/model`), is a path.
    """
    if not isinstance(name_or_path, str) or not name_or_path:
        return False
    separators = {"/", os.sep, os.altsep} - {None}
    return (
        not any(separator in name_or_path for separator in separators)
        and name_or_path not in (".", "..")
        and not name_or_path.startswith("~")
    )


def find(name_or_path, sha256=None):
    """The folder of a preset given by name (`"summarize_debian"`), path or URL.

    A bare name is always a preset's name, looked up in `presets_folder()`,
    never a folder of the working directory that has the same name: pass
    `./NAME` (or a `pathlib.Path`) to mean that folder. A URL (`https://`,
    `file://`) is an archive of `pack`, pinned by `sha256` and fetched once
    into the cache (`remote.py`). Anything else is a path to a preset folder.

    Raises:
        ValueError: no such preset, naming the presets there are (and the
            way to a same-named local folder, if there is one).
    """
    if remote.is_url(name_or_path):
        return remote.fetch(name_or_path, sha256)
    if sha256 is not None:
        raise ValueError(
            f"sha256 pins a preset fetched by URL; {name_or_path!r} is not a URL"
        )
    if is_name(name_or_path):
        directory = presets_folder() / name_or_path
        if (directory / CONFIG).is_file():
            return directory
        names = ", ".join(available()) or "none"
        local = pathlib.Path(name_or_path)
        hint = (
            f" A folder {name_or_path!r} is in the working directory: a name is "
            f"never taken as a folder, pass './{name_or_path}' to load it."
            if local.is_dir()
            else ""
        )
        raise ValueError(
            f"No preset named {name_or_path!r} in {presets_folder()} (presets there: "
            f"{names}).{hint}"
        )
    path = pathlib.Path(name_or_path).expanduser()
    if (path / CONFIG).is_file():
        return path
    raise ValueError(
        f"No preset in {path}: {path / CONFIG} not found. A preset folder holds "
        f"{CONFIG}, {WEIGHTS} and {TOKENIZER}/ (python -m s2s_keras.presets list)."
    )


class Preset:
    """A trained model with its tokenizer and decoding settings.

    Make one with `load`. Call it on texts for outputs with the preset's
    decoding; `generate` takes other decoding settings; `export` writes an
    export folder (SavedModel, TFLite, `.keras`).

    Args:
        model: the Keras model (float32).
        tokenizer: its `SubwordTokenizer`.
        generation: the `GenerationConfig` it decodes with.
        max_source_length: source subwords read; the rest is cut.
        config: the preset's `config.json`.
        metadata: its `metadata.json` (`{}` if none).
        directory: the folder it was loaded from.
        lexicon: its `Lexicon` (the training text's words), or None.

    Attributes:
        name, task: from the folder and the config.
    """

    def __init__(
        self,
        model,
        tokenizer,
        generation,
        max_source_length,
        config,
        metadata,
        directory,
        lexicon=None,
    ):
        self.model = model
        self.lexicon = lexicon
        self.tokenizer = tokenizer
        self.generation = generation
        self.max_source_length = max_source_length
        self.config = config
        self.metadata = metadata
        self.directory = pathlib.Path(directory)
        self.name = self.directory.name
        self.task = config.get("task")

    def __repr__(self):
        return f"<Preset {self.name}: {self.task}, {self.generation.method} decoding>"

    def __call__(self, texts):
        """The outputs for `texts` (a list of strings, or one string)."""
        return self.generate(texts)

    def generate(self, texts, batch_size=64, **controls):
        """The outputs for `texts`, with decoding settings changed by `controls`.

        Args:
            texts: a list of strings, or one string (then one string back).
            batch_size: texts per search.
            **controls: `GenerationConfig` fields: `method`, `beam_width`,
                `length_penalty`, `max_length`, `min_length`,
                `no_repeat_ngram_size`, `repetition_penalty`, `coverage_penalty`,
                `target_prefix`, ...

        Returns:
            A list of strings (one string for one string).

        Raises:
            ValueError: for a setting `GenerationConfig` does not have or a
                bad value.
        """
        generation = self._generation(controls)
        single = isinstance(texts, str)
        texts = [texts] if single else list(texts)
        if not all(isinstance(text, str) for text in texts):
            raise ValueError(f"texts must be strings; got {texts[:3]!r}")
        outputs = generate_texts(
            self.model,
            self.tokenizer,
            texts,
            generation,
            self.max_source_length,
            batch_size,
            lexicon=self.lexicon,
        )
        return outputs[0] if single else outputs

    def _generation(self, controls):
        fields = {field.name for field in dataclasses.fields(GenerationConfig)}
        unknown = sorted(set(controls) - fields)
        if unknown:
            raise ValueError(
                f"Unknown decoding setting(s) {unknown}; the settings are {sorted(fields)}"
            )
        generation = dataclasses.replace(self.generation, **controls)
        if generation.known_words_only and self.lexicon is None:
            raise ValueError(
                f"known_words_only needs the words the model knows, and the preset "
                f"{self.name} has no lexicon.npz (a preset made from an export that "
                "holds one has it). Received: known_words_only=True"
            )
        return generation

    def score(self, pairs, **controls):
        """The task's scores on `(source, target)` pairs; also returns the outputs."""
        return evaluate(
            self.model,
            self.tokenizer,
            pairs,
            self._generation(controls),
            self.config["metric"],
            self.max_source_length,
            lexicon=self.lexicon,
        )

    def export(self, directory, quantization=None, tflite=True, **controls):
        """Writes today's export folder: SavedModel, TFLite, `.keras`, tokenizer.

        Args:
            directory: the export folder (created; entries replaced).
            quantization: None, or `"int8"` (see `write_export`).
            tflite: whether to write `model.tflite`.
            **controls: decoding settings other than the preset's.

        Returns:
            The folder, a `pathlib.Path`.
        """
        generation = self._generation(controls)
        card = (
            (self.directory / "README.md").read_text(encoding="utf-8")
            if (self.directory / "README.md").is_file()
            else f"# {self.name}\n"
        )
        return write_export(
            directory,
            self.model,
            self.tokenizer,
            max_source_length=self.max_source_length,
            tflite=tflite,
            quantization=quantization,
            extra_files={"README.md": card},
            lexicon=self.lexicon,
            target_prefix=generation.target_prefix,
            **generation.settings(),
        )


def load(name_or_path, sha256=None):
    """The `Preset` called `name_or_path`: a name in `presets_folder()`, a path or a URL.

    A bare name (`"summarize_debian"`) is always a preset's name; a path
    (`"./my_preset"`, `pathlib.Path("runs/preset")`) is a folder; a URL
    (`"https://.../my_preset.tar.gz"`, `"file:///..."`) is an archive of
    `python -m s2s_keras.presets pack`, pinned by its `sha256` (the argument,
    or `#sha256=...` at the URL's end) and fetched once (see `find`).

    Raises:
        ValueError: no such preset (the message lists those there are).
    """
    directory = find(name_or_path, sha256)
    config = json.loads((directory / CONFIG).read_text())
    model = keras.saving.deserialize_keras_object(config["model"])
    load_weights(model, directory / WEIGHTS)
    tokenizer = SubwordTokenizer.load(directory / TOKENIZER)
    metadata_file = directory / METADATA
    metadata = json.loads(metadata_file.read_text()) if metadata_file.is_file() else {}
    return Preset(
        model,
        tokenizer,
        GenerationConfig(**config["generation"]),
        config["max_source_length"],
        config,
        metadata,
        directory,
        Lexicon.load(directory),
    )
