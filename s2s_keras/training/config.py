"""The settings of a run, as small dataclasses: what the library takes.

Library functions take these (or plain keyword arguments), never the parsed
command line: `flags.py` turns the flags into a `RunConfig`, and code that
has no command line builds the dataclasses itself.

    config = RunConfig(
        data=DataConfig(corpus="debian_descriptions", quick=True),
        model=ModelConfig(units=64, copy=True),
        output=pathlib.Path("saved_models/summarize"),
    )
"""

import dataclasses
import pathlib

from s2s_keras.decoding import METHODS
from s2s_keras.decoding.beam import COVERAGE_FORMS
from s2s_keras.decoding.controls import NGRAM_UNITS
from s2s_keras.layers.luong_attention import SCORES
from s2s_keras.schedules import SCHEDULES
from s2s_keras.schedules import learning_rate_schedule
from s2s_keras.training.distribute import PRECISIONS
from s2s_keras.training.distribute import STRATEGIES
from s2s_keras.utils.checks import check_bool
from s2s_keras.utils.checks import check_choice
from s2s_keras.utils.checks import check_language_temperature
from s2s_keras.utils.checks import check_non_negative_int
from s2s_keras.utils.checks import check_positive_int
from s2s_keras.utils.checks import check_rate
from s2s_keras.utils.checks import check_sampling_alpha

# The pairs a --quick run keeps of each split.
QUICK_PAIRS = {"train": 2000, "validation": 200, "test": 200}


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Where the pairs come from, how many are used, and their lengths.

    Args:
        data: a `.jsonl`, `.tsv` or `.csv` file (or `.gz`) of pairs, or a
            glob of such files (`"corpus/*.jsonl.gz"`), or None.
        source_field: the source field or column of `data` (or of `tfds`).
        target_field: the target field or column.
        context_field: a context field of `data`, read after the source
            (question answering), or None.
        tfds: a TensorFlow Datasets name, or None.
        corpus: a built-in corpus (`data.CORPORA`), used when neither
            `data` nor `tfds` is given.
        corpus_options: keyword arguments of the built-in corpus
            (`{"lang": "fr"}`).
        max_train_pairs: training pairs at most, or None for all.
        validation_pairs: validation pairs read, at most.
        eval_pairs: test pairs scored.
        quick: keep `QUICK_PAIRS` of each split (a smoke run).
        vocab_size: subword vocabulary size.
        max_source_length: source subwords kept.
        max_target_length: target subwords at most.
        tokenizer_sample: training pairs the tokenizer learns from, at most.
        shards: training shard files at least, when the data is prepared
            (several workers read whole files); None sizes them by the text.
        data_service: a tf.data service dispatcher (`grpc://HOST:PORT`)
            whose workers prepare the training batches, or None.
        test_version: the date of a built-in corpus's frozen test split
            (`data/frozen.py`) to score on instead of today's, or None.
        subword_sampling: 0, or the alpha in (0, 1] of subword
            regularization: training texts cut anew at each pass, one of
            their segmentations drawn (validation and test keep the best).
        language_temperature: 1 to train on a multilingual corpus's
            languages as often as it has them; T > 1 draws language l with
            probability ~ n_l ** (1 / T) (`data/languages.py`), so the
            small ones are seen more often.
    """

    data: str | pathlib.Path | None = None
    source_field: str = "source"
    target_field: str = "target"
    context_field: str | None = None
    tfds: str | None = None
    corpus: str | None = None
    corpus_options: dict = dataclasses.field(default_factory=dict)
    max_train_pairs: int | None = None
    validation_pairs: int = 5000
    eval_pairs: int = 1000
    quick: bool = False
    vocab_size: int = 8000
    max_source_length: int = 96
    max_target_length: int = 24
    tokenizer_sample: int = 100_000
    shards: int | None = None
    data_service: str | None = None
    test_version: str | None = None
    subword_sampling: float = 0.0
    language_temperature: float = 1.0

    def __post_init__(self):
        check_sampling_alpha("subword_sampling", self.subword_sampling)
        check_language_temperature("language_temperature", self.language_temperature)

    @property
    def name(self):
        """What the pairs are, in words: the file, the TFDS name or the corpus."""
        return str(self.data or self.tfds or self.corpus)

    def limits(self):
        """Pairs kept per split: `{split: count}` for the splits that are cut."""
        limits = dict(QUICK_PAIRS) if self.quick else {}
        if self.max_train_pairs:
            limits["train"] = min(
                limits.get("train", self.max_train_pairs), self.max_train_pairs
            )
        for split, limit in (
            ("validation", self.validation_pairs),
            ("test", self.eval_pairs),
        ):
            limits[split] = min(limits.get(split, limit), limit)
        return limits


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """The `build_seq2seq` settings; see its docstring for each.

    `attention=None` is the plain seq2seq; copying, coverage and input
    feeding need attention and are left out without it.
    """

    embedding_dim: int = 128
    units: int = 256
    layers: int = 1
    bidirectional: bool = False
    attention: str | None = "dot"
    input_feeding: bool = False
    copy: bool = False
    coverage: bool = False
    coverage_weight: float = 1.0
    dropout: float = 0.1
    tie_embeddings: bool = False

    def __post_init__(self):
        check_choice("attention", self.attention, (*SCORES, None))

    def build_arguments(self, attention="same"):
        """Keyword arguments of `build_seq2seq` (but the vocabulary sizes).

        Args:
            attention: the score to build with, None for the plain seq2seq,
                or `"same"` for this config's own.
        """
        attention = self.attention if attention == "same" else attention
        with_attention = attention is not None
        return {
            "embedding_dim": self.embedding_dim,
            "units": self.units,
            "attention": attention,
            "num_layers": self.layers,
            "bidirectional": self.bidirectional,
            "input_feeding": self.input_feeding and with_attention,
            "dropout": self.dropout,
            "copy": self.copy and with_attention,
            "coverage": self.coverage and with_attention,
            "coverage_loss_weight": self.coverage_weight,
            "tie_embeddings": self.tie_embeddings,
        }

    def system_name(self, attention="same"):
        """The score table's row name and the run folder's name (no spaces).

        A run folder holds one model's backup, so every flavour has its own.
        """
        attention = self.attention if attention == "same" else attention
        if attention is None:
            return "seq2seq, no attention", "none"
        parts = [f"{attention} attention"]
        parts += ["copy"] * self.copy + ["coverage"] * self.coverage
        return "seq2seq + " + " + ".join(parts), "-".join(
            part.split()[0] for part in parts
        )


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
    """How models train.

    Args:
        epochs: epochs at most.
        batch_size: pairs per (global) batch.
        learning_rate: Adam's learning rate (the peak of a schedule).
        lr_schedule: a `schedules.SCHEDULES` name: `constant`,
            `inverse_sqrt`, or `cosine` (down to 0 at `max_steps`).
        warmup_steps: steps over which the rate rises linearly from 0.
        lr_decay: the factor the learning rate is multiplied by after an
            epoch that did not lower the validation loss (Keras'
            `ReduceLROnPlateau`), or None to keep it constant.
        label_smoothing: the probability mass the training targets spread
            over the vocabulary (`SmoothedSparseCrossentropy`), in [0, 1).
        ema_momentum: keep an exponential moving average of the weights
            with this momentum (Adam's `use_ema`; 0.999 keeps about the
            last 1,000 steps), validate it and keep it as the trained
            model; None to keep the last weights.
        average_epochs: keep as the trained model the mean of the weights
            of this many epochs, the best one and those before it
            (checkpoint averaging, `callbacks.AverageEpochs`); 1 keeps the
            best epoch's alone.
        keep_backup: keep each model's backup (`runs/<model>/backup`) when
            its training ends, so that the run can be continued: rerun with
            a larger `max_steps` or `epochs`, it resumes from its last epoch.
            Off, a finished run's backup is deleted.
        time_budget: minutes of training at most per model, or None.
        max_steps: optimizer steps at most per model, or None.
        steps_per_epoch: batches an epoch, or None for a pass over the
            training pairs (as many batches as they fill).
        seed: the random seed.
        strategy: a `distribute.STRATEGIES` name.
        precision: a `distribute.PRECISIONS` name.
        compare_no_attention: also train and score the plain seq2seq.
    """

    epochs: int = 10
    batch_size: int = 64
    learning_rate: float = 2e-3
    lr_schedule: str = "constant"
    warmup_steps: int = 0
    lr_decay: float | None = None
    label_smoothing: float = 0.0
    ema_momentum: float | None = None
    average_epochs: int = 1
    keep_backup: bool = False
    time_budget: float | None = 20.0
    max_steps: int | None = None
    steps_per_epoch: int | None = None
    seed: int = 0
    strategy: str = "auto"
    precision: str = "auto"
    compare_no_attention: bool = False

    def __post_init__(self):
        check_choice("strategy", self.strategy, STRATEGIES)
        check_choice("precision", self.precision, PRECISIONS)
        for name in ("lr_decay", "ema_momentum"):
            value = getattr(self, name)
            if value is not None and not 0 < value < 1:
                raise ValueError(
                    f"{name} must be between 0 and 1 (exclusive), got {value!r}"
                )
        check_rate("label_smoothing", self.label_smoothing)
        check_choice("lr_schedule", self.lr_schedule, SCHEDULES)
        check_non_negative_int("warmup_steps", self.warmup_steps)
        check_positive_int("average_epochs", self.average_epochs)
        check_bool("keep_backup", self.keep_backup)
        if self.scheduled and self.lr_decay is not None:
            raise ValueError(
                "lr_decay lowers a constant learning rate; it cannot be used "
                f"with lr_schedule={self.lr_schedule!r}, "
                f"warmup_steps={self.warmup_steps}"
            )
        if self.lr_schedule == "cosine" and not self.max_steps:
            raise ValueError(
                "The cosine schedule decays to 0 at max_steps: give max_steps. "
                f"Received: max_steps={self.max_steps!r}"
            )

    @property
    def scheduled(self):
        """Whether the learning rate follows a schedule (a warm-up or a decay)."""
        return self.lr_schedule != "constant" or bool(self.warmup_steps)

    @property
    def optimizer_learning_rate(self):
        """What Adam is given: `learning_rate`, or its warm-up schedule."""
        return learning_rate_schedule(
            self.lr_schedule, self.learning_rate, self.warmup_steps, self.max_steps
        )


def run_data_config(run_flags, **values):
    """The `DataConfig` of a recorded run (`metrics.json`'s `"config"`), with `values`.

    Args:
        run_flags: the run's flags by name, as `metrics.json` records them.
        **values: fields to set otherwise (such as `validation_pairs`).
    """
    names = {field.name for field in dataclasses.fields(DataConfig)}
    fields = {name: run_flags[name] for name in names if name in run_flags}
    options = {"lang": run_flags["lang"]} if "lang" in run_flags else {}
    return DataConfig(**{**fields, "corpus_options": options, **values})


@dataclasses.dataclass(frozen=True)
class GenerationConfig:
    """The search used for scoring and in the export (`Generator` arguments).

    Like a generation config, it is written to the export's `export.json`.

    Args:
        method: a `decoding.METHODS` name.
        beam_width: live hypotheses per source (beam).
        length_penalty: the GNMT exponent (beam).
        coverage_penalty: the coverage penalty's beta (beam; 0 = off).
        coverage_form: `"gnmt"` or `"summary"`, its form.
        max_length: output tokens at most.
        min_length: output tokens at least.
        no_repeat_ngram_size: no n-gram repeats in an output (0 = off).
        ngram_unit: `"word"` or `"subword"`, what that n counts.
        repetition_penalty: CTRL's penalty on tokens already written (1 = off).
        known_words_only: whether every word written must be a word of the
            training text or of its source (needs the model's lexicon).
        target_prefix: text every output starts with ("" = none).
        seed: the sampling seed.
    """

    method: str = "greedy"
    beam_width: int = 4
    length_penalty: float = 0.6
    coverage_penalty: float = 0.0
    coverage_form: str = "gnmt"
    max_length: int = 24
    min_length: int = 0
    no_repeat_ngram_size: int = 0
    ngram_unit: str = "word"
    repetition_penalty: float = 1.0
    known_words_only: bool = False
    target_prefix: str = ""
    seed: int = 0

    def __post_init__(self):
        check_choice("method", self.method, METHODS)
        check_choice("ngram_unit", self.ngram_unit, NGRAM_UNITS)
        check_choice("coverage_form", self.coverage_form, COVERAGE_FORMS)
        check_bool("known_words_only", self.known_words_only)

    def settings(self):
        """The `Generator` / `generate` keyword arguments (all but the prefix)."""
        settings = dataclasses.asdict(self)
        del settings["target_prefix"]
        return settings


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Everything one recipe run needs: the four configs and the output folder.

    `quantization` is the export's (`write_export`: None or `"int8"`);
    `flags` keeps the command line's values (JSON-ready) for `metrics.json`.
    """

    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    training: TrainingConfig = TrainingConfig()
    generation: GenerationConfig = GenerationConfig()
    output: pathlib.Path = pathlib.Path("saved_models/run")
    quantization: str | None = None
    flags: dict = dataclasses.field(default_factory=dict)
