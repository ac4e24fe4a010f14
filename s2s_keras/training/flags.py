"""The recipes' command line: every common flag, declared once, and its checks.

This is the one module that knows argparse. A recipe makes its parser with
`recipe_parser`, adds its own flags with `add_argument`, reads them with
`parse`, and hands the library a `RunConfig` (`run_config`), never the
parsed `Namespace`:

    parser = flags.recipe_parser(__doc__, tasks.get("translate"))
    parser.add_argument("--lang", default="it", help="target language")
    args = flags.parse(parser, argv)
    config = flags.run_config(args, corpus_options={"lang": args.lang})

Flag types reuse the library's argument checks (`checks.py`); choices come
from the library (`decoding.METHODS`, `distribute.STRATEGIES` ...).
"""

import argparse
import dataclasses
import pathlib
import re
import sys

import keras

from s2s_keras import presets
from s2s_keras.decoding import METHODS
from s2s_keras.decoding.beam import COVERAGE_FORMS
from s2s_keras.decoding.controls import NGRAM_UNITS
from s2s_keras.export import predict_texts
from s2s_keras.layers.luong_attention import SCORES
from s2s_keras.schedules import SCHEDULES
from s2s_keras.training.config import QUICK_PAIRS
from s2s_keras.training.config import DataConfig
from s2s_keras.training.config import GenerationConfig
from s2s_keras.training.config import ModelConfig
from s2s_keras.training.config import RunConfig
from s2s_keras.training.config import TrainingConfig
from s2s_keras.training.distribute import PRECISIONS
from s2s_keras.training.distribute import STRATEGIES
from s2s_keras.training.runner import TrainingDiverged
from s2s_keras.utils import checks
from s2s_keras.utils.backends import BACKENDS
from s2s_keras.utils.backends import run_again_on


def flag_type(convert, check):
    """An argparse `type`: `convert` the text, then `check` the value.

    A bad value reads "argument --units: expected a positive integer, got 0".
    """

    def parse(text):
        try:
            return check("value", convert(text))
        except ValueError as error:
            expected = re.search(r"Expected (.*?)\. Received", str(error))
            what = expected.group(1) if expected else "a valid value"
            raise argparse.ArgumentTypeError(f"expected {what}, got {text}") from None

    parse.__name__ = check.__name__.removeprefix("check_")
    return parse


positive_int = flag_type(int, checks.check_positive_int)
positive_float = flag_type(float, checks.check_positive_float)
non_negative_int = flag_type(int, checks.check_non_negative_int)
non_negative_float = flag_type(float, checks.check_non_negative_float)
rate = flag_type(float, checks.check_rate)
sampling_alpha = flag_type(float, checks.check_sampling_alpha)
language_temperature = flag_type(float, checks.check_language_temperature)


def momentum(text):
    """--ema-momentum: a rate in [0, 1); 0 is off (None), so a task's default can be undone."""
    return rate(text) or None


# Smaller defaults of --quick; flags given explicitly still win.
QUICK_DEFAULTS = {"epochs": 1, "units": 64, "embedding_dim": 32, "layers": 1}
QUICK_VOCAB_SIZE = 1000


def recipe_parser(description, task):
    """The parser of a task's recipe: the common flags, the task's defaults.

    Args:
        description: the recipe's `--help` text (its docstring).
        task: a `tasks.Task`: its corpus, output folder and defaults.

    Returns:
        An `argparse.ArgumentParser`; add the recipe's own flags to it.
    """
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    # fmt: off
    data = parser.add_argument_group("data")
    data.add_argument("--data", help="your own pairs: a .jsonl, .tsv or .csv file (or .gz), or a quoted glob of them ('corpus/*.jsonl.gz'); prepared once into shuffled shards, split 90/5/5 by a hash of the source text (case, white space and digits folded)")
    data.add_argument("--source-field", default="source", help="source field or column of --data (default: %(default)s)")
    data.add_argument("--target-field", default="target", help="target field or column of --data (default: %(default)s)")
    data.add_argument("--tfds", help="a TensorFlow Datasets name, e.g. cnn_dailymail, instead of the built-in corpus")
    data.add_argument("--corpus", help="built-in corpus used when neither --data nor --tfds is given (default: %(default)s)")
    data.add_argument("--max-train-pairs", type=positive_int, help="use at most this many training pairs")
    data.add_argument("--validation-pairs", type=positive_int, default=5000, help="validation pairs read, at most (default: %(default)s)")
    data.add_argument("--eval-pairs", type=positive_int, default=1000, help="test pairs scored at the end (default: %(default)s)")
    data.add_argument("--test-version", metavar="DATE", help="score on the built-in corpus's test split frozen on DATE (e.g. 2026-12-03, or latest; python -m s2s_keras.data frozen lists them), the same pairs any day; default: the split of today's sources")
    data.add_argument("--vocab-size", type=positive_int, default=8000, help="subword vocabulary size, shared by source and target (default: %(default)s)")
    data.add_argument("--max-source-length", type=positive_int, default=96, help="source subwords kept; the rest is cut (default: %(default)s)")
    data.add_argument("--max-target-length", type=positive_int, default=24, help="target subwords at most, in training and generation (default: %(default)s)")
    data.add_argument("--tokenizer-sample", type=positive_int, default=100_000, help="training pairs the subword vocabulary is learned from, at most: the first of the shuffled split (default: %(default)s)")
    data.add_argument("--subword-sampling", metavar="ALPHA", type=sampling_alpha, default=0.0, help="subword regularization (Kudo, 2018): each training text cut anew at each pass, one of its segmentations drawn with probability ~ likelihood^ALPHA, in (0, 1] (0.1-0.5 is usual; smaller: more varied cuts); validation, test and exports keep the best cut (default: 0, off)")
    data.add_argument("--shards", type=positive_int, help="training shard files at least when the data is prepared (several workers each read whole files); default: one per 16 MiB of text")
    data.add_argument("--data-service", metavar="ADDRESS", help="prepare the training batches on tf.data service workers: the dispatcher's grpc://HOST:PORT (see python -m s2s_keras.data.service --help)")

    model = parser.add_argument_group("model")
    model.add_argument("--embedding-dim", type=positive_int, default=128, help="embedding size (default: %(default)s)")
    model.add_argument("--units", type=positive_int, default=256, help="LSTM state size (default: %(default)s)")
    model.add_argument("--layers", type=positive_int, default=1, help="LSTM layers in encoder and decoder (default: %(default)s)")
    model.add_argument("--bidirectional", action=argparse.BooleanOptionalAction, default=False, help="read the source both ways (default: %(default)s)")
    model.add_argument("--attention", choices=[*SCORES, "none"], default="dot", help="Luong score, or none for the plain seq2seq (default: %(default)s)")
    model.add_argument("--input-feeding", action=argparse.BooleanOptionalAction, default=False, help="Luong input feeding (slower: the decoder then runs step by step) (default: %(default)s)")
    model.add_argument("--copy", action=argparse.BooleanOptionalAction, default=False, help="let the decoder copy source tokens (pointer-generator; needs attention) (default: %(default)s)")
    model.add_argument("--coverage", action=argparse.BooleanOptionalAction, default=False, help="coverage: the attention sees what it attended to before (needs attention) (default: %(default)s)")
    model.add_argument("--coverage-weight", type=non_negative_float, default=1.0, help="weight of the coverage loss, with --coverage (default: %(default)s)")
    model.add_argument("--tie-embeddings", action=argparse.BooleanOptionalAction, default=False, help="the decoder's output layer goes through its transposed target embedding: embedding-size weights instead of a vocabulary-wide matrix (default: %(default)s)")
    model.add_argument("--dropout", type=rate, default=0.1, help="dropout rate (default: %(default)s)")

    training = parser.add_argument_group("training")
    training.add_argument("--epochs", type=positive_int, default=10, help="epochs at most (default: %(default)s)")
    training.add_argument("--batch-size", type=positive_int, default=64, help="pairs per batch (default: %(default)s)")
    training.add_argument("--learning-rate", type=positive_float, default=2e-3, help="Adam learning rate; the global norm of the gradients is clipped to 1 (default: %(default)s)")
    training.add_argument("--lr-schedule", choices=SCHEDULES, default="constant", help="the learning rate after the warm-up: constant, inverse_sqrt (peak x sqrt(warm-up steps / step)) or cosine (down to 0 at --max-steps, which it needs) (default: %(default)s)")
    training.add_argument("--warmup-steps", type=non_negative_int, default=0, help="raise the learning rate linearly from 0 to --learning-rate over this many steps (default: %(default)s: none)")
    training.add_argument("--lr-decay", type=rate, help="multiply the learning rate by this after an epoch that did not lower the validation loss, e.g. 0.5 (default: constant)")
    training.add_argument("--ema-momentum", type=momentum, help="validate, keep and export an exponential moving average of the weights with this momentum, e.g. 0.999 (about the last 1,000 steps); 0 turns it off: the last weights (default: %(default)s)")
    training.add_argument("--average-epochs", type=positive_int, default=1, help="keep and export the mean of the weights of this many epochs, the best one and those before it (checkpoint averaging; with --ema-momentum, of the moving averages validated), e.g. 3; each epoch's weights wait in the run folder until the export (default: %(default)s: the best epoch's alone)")
    training.add_argument("--keep-backup", action="store_true", help="keep each model's backup (<output>/runs/<model>/backup) when training ends, so that a finished run can be continued: rerun it with the same --output and a larger --max-steps or --epochs and it resumes from its last epoch (default: the backup is deleted once training ends)")
    training.add_argument("--label-smoothing", type=rate, default=0.0, help="train against targets with this much probability spread over the vocabulary, e.g. 0.1: a regulariser for long runs (default: %(default)s)")
    training.add_argument("--time-budget", type=positive_float, default=20.0, help="minutes of training at most, for each model trained, counted from its start of training (default: %(default)s; off with --max-steps, unless given)")
    training.add_argument("--steps-per-epoch", type=positive_int, help="batches an epoch (validation and backup after each); default: a pass over the training pairs, as many batches as they fill")
    training.add_argument("--max-steps", type=positive_int, help="stop after this many optimizer steps in all, for each model trained: a budget that does not depend on the machine, so the same --seed gives the same metrics")
    training.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    training.add_argument("--strategy", choices=STRATEGIES, default="auto", help="tf.distribute strategy; multi-worker reads TF_CONFIG (default: %(default)s)")
    training.add_argument("--backend", choices=BACKENDS, help="the Keras backend to train on: jax trains on JAX (the [jax] extra), then scores and exports on TensorFlow in a fresh process; multi-worker needs tensorflow. The command starts again on the backend asked for unless KERAS_BACKEND already names it (default: KERAS_BACKEND, else tensorflow)")
    training.add_argument("--precision", choices=PRECISIONS, default="auto", help="auto: mixed_bfloat16 where the machine multiplies bfloat16 natively (GPUs from Ampere, CPUs with AMX), else float32; generation and export compute in float32 (default: %(default)s)")
    training.add_argument("--compare-no-attention", action=argparse.BooleanOptionalAction, default=False, help="also train and score the plain seq2seq with the same settings (default: %(default)s)")

    generation = parser.add_argument_group("generation")
    generation.add_argument("--method", "--decoder", choices=METHODS, default="greedy", help="decoding method used for scoring and in the export; --decoder is its older name (default: %(default)s)")
    generation.add_argument("--beam-width", type=positive_int, default=4, help="beam width (default: %(default)s)")
    generation.add_argument("--length-penalty", type=float, default=0.6, help="the GNMT length penalty exponent of beam search (default: %(default)s)")
    generation.add_argument("--coverage-penalty", type=non_negative_float, default=0.0, help="beta of beam search's coverage penalty (see --coverage-form); needs attention (default: %(default)s, off)")
    generation.add_argument("--coverage-form", choices=COVERAGE_FORMS, default="gnmt", help="gnmt: favour outputs that attended to every source word (translation); summary: penalize attending to a source word more than once in all (default: %(default)s)")
    generation.add_argument("--min-length", type=non_negative_int, default=0, help="output subwords at least: <EOS> is banned before (default: %(default)s)")
    generation.add_argument("--no-repeat-ngram-size", type=non_negative_int, default=0, help="no n-gram occurs twice in an output, n counted in --ngram-unit (default: %(default)s, off)")
    generation.add_argument("--ngram-unit", choices=NGRAM_UNITS, default="word", help="what --no-repeat-ngram-size counts: words (a piece that starts one and those after it) or subwords (default: %(default)s)")
    generation.add_argument("--repetition-penalty", type=positive_float, default=1.0, help="CTRL's penalty on tokens already written: logits over 0 divided by it, others multiplied (default: %(default)s, off)")
    generation.add_argument("--known-words-only", action=argparse.BooleanOptionalAction, default=False, help="write only words of the training text or of the source: no made-up word, none left cut off at --max-target-length (in the export too) (default: %(default)s)")
    generation.add_argument("--target-prefix", default="", help="text every output starts with, forced (default: none)")

    output = parser.add_argument_group("output")
    output.add_argument("--output", type=pathlib.Path, help="where the model, logs, plots and export go (default: %(default)s)")
    output.add_argument("--quantize", choices=["int8"], help="int8 weights in the export: Keras' int8 Dense and Embedding layers in the SavedModel and model.keras, dynamic range in model.tflite (default: float32)")
    output.add_argument("--quick", action=argparse.BooleanOptionalAction, default=False, help="a smoke run of about a minute: 2,000 training pairs, a tiny model, 1 epoch (flags given explicitly still apply) (default: %(default)s)")

    prediction = parser.add_argument_group("prediction from an existing export")
    prediction.add_argument("--model", help="an export directory (the --output of an earlier run), or a preset's name or folder (python -m s2s_keras.presets list); a bare name is a preset's, ./NAME a folder")
    prediction.add_argument("--predict", help="text to run through --model; '-' reads one text per line from standard input")

    # fmt: on
    parser.set_defaults(
        corpus=task.corpus, output=pathlib.Path(task.output), **task.defaults
    )
    return parser


def parse(parser, argv=None):
    """Parses `argv` (or `sys.argv[1:]`), with --quick's smaller defaults.

    Returns:
        The `argparse.Namespace`; `attention` is None for "none".
    """
    command_line = argv is None
    argv = sys.argv[1:] if argv is None else list(argv)
    if "--quick" in argv:
        parser.set_defaults(
            **QUICK_DEFAULTS,
            vocab_size=min(parser.get_default("vocab_size"), QUICK_VOCAB_SIZE),
            eval_pairs=min(parser.get_default("eval_pairs"), QUICK_PAIRS["test"]),
        )
    args = parser.parse_args(argv)
    _run_on_the_backend_asked(args, command_line)
    if args.max_steps and not any(flag.startswith("--time-budget") for flag in argv):
        args.time_budget = None  # the step budget alone: the same on any machine
    if (args.model is None) != (args.predict is None):
        parser.error("--model and --predict go together")
    if args.data and args.tfds:
        parser.error("give --data or --tfds, not both")
    args.attention = None if args.attention == "none" else args.attention
    try:  # settings that refuse each other: an error, not a traceback
        _from_flags(TrainingConfig, args)
    except ValueError as error:
        parser.error(str(error))
    return args


def _run_on_the_backend_asked(args, command_line):
    """Sets `args.backend`; starts the command again if it names another backend.

    Raises:
        ValueError: another backend is asked for in arguments that are not
            this process's command line (they cannot be run again).
    """
    backend = keras.backend.backend()
    if args.backend is None or args.backend == backend:
        args.backend = backend
        return
    if not command_line:
        raise ValueError(
            f"--backend {args.backend}: Keras runs on {backend} in this process; "
            f"set KERAS_BACKEND={args.backend} before importing keras. Received: "
            f"--backend {args.backend}"
        )
    run_again_on(args.backend, f"--backend {args.backend}: starting again on it")


def run_config(args, corpus_options=None):
    """The `RunConfig` of parsed recipe flags.

    Each config's fields are read from the flags of the same name (a flag
    a recipe does not have, such as `--context-field`, keeps the field's
    default).

    Args:
        args: the `Namespace` from `parse`.
        corpus_options: keyword arguments of the built-in corpus.
    """
    return RunConfig(
        data=_from_flags(DataConfig, args, corpus_options=dict(corpus_options or {})),
        model=_from_flags(ModelConfig, args),
        training=_from_flags(TrainingConfig, args),
        generation=_from_flags(
            GenerationConfig, args, max_length=args.max_target_length
        ),
        output=args.output,
        quantization=args.quantize,
        flags={
            key: str(value) if isinstance(value, pathlib.Path) else value
            for key, value in vars(args).items()
        },
    )


def _from_flags(config_class, args, **values):
    """A `config_class` from the flags named as its fields, and `values`."""
    for field in dataclasses.fields(config_class):
        if field.name not in values and hasattr(args, field.name):
            values[field.name] = getattr(args, field.name)
    return config_class(**values)


def predict(args):
    """Prints the output for `--predict TEXT` (or each line of stdin for '-')."""
    texts = sys.stdin.read().splitlines() if args.predict == "-" else [args.predict]
    if presets.is_preset(args.model):
        results = presets.load(args.model)(texts)
    else:
        results = predict_texts(args.model, texts)
    for result in results:
        print(result)
    return results


def run(main, argv=None):
    """Calls `main(argv)`; bad input exits 2 and a diverged run 1, with a message."""
    try:
        return main(argv)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    except TrainingDiverged as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
