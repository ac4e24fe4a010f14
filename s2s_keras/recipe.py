"""The plumbing every recipe shares: flags, data, training, evaluation, export.

A recipe (`recipes/summarize.py` ...) reads top to bottom and says only what
is its own: its default corpus, its metric and baseline. Everything else is
here, written once:

- `parse_args`: the common flags, with help and checked values;
- `load_splits`: train / validation / test pairs from `--data`, `--tfds` or a
  built-in corpus;
- `fit`: `model.fit` with a progress bar, validation, early stopping, a
  backup that resumes after a crash, TensorBoard logs, a time budget and a
  stop on NaN;
- `evaluate`: generation on the test split, scored against the references
  and against a baseline;
- `show` and `export`: plots, a printed table, `metrics.json`, a model card
  and the export directory;
- `predict`: text through an existing export;
- `run`: calls a recipe's `main` and turns a bad input into a clear message
  and exit code 2 instead of a traceback.
"""

import argparse
import json
import os
import pathlib
import random
import sys
import time

import keras
import numpy as np
import tensorflow as tf

from s2s_keras import data
from s2s_keras import distribute
from s2s_keras import metrics
from s2s_keras import plotting
from s2s_keras.data.cache import atomic_path
from s2s_keras.data.splits import split_of
from s2s_keras.data.splits import text_key
from s2s_keras.decoding import Generator
from s2s_keras.export import write_export
from s2s_keras.models import build_seq2seq
from s2s_keras.models import compile_seq2seq
from s2s_keras.special_tokens import PAD_ID
from s2s_keras.text import SubwordTokenizer

QUICK = {"train": 2000, "validation": 200, "test": 200}


def positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def positive_float(text):
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return value


def non_negative_float(text):
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text}")
    return value


def rate(text):
    value = float(text)
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text}")
    return value


# (group, flag, type, built-in default, help); a recipe's DEFAULTS override the
# defaults by the flag's name with underscores. `bool` flags are switches.
FLAGS = [
    (
        "data",
        "--data",
        pathlib.Path,
        None,
        "your own pairs: a .jsonl, .tsv or .csv file (or .gz), split 90/5/5 by a hash of the source text (case, white space and digits folded)",
    ),
    (
        "data",
        "--source-field",
        str,
        "source",
        "source field or column of --data (default: %(default)s)",
    ),
    (
        "data",
        "--target-field",
        str,
        "target",
        "target field or column of --data (default: %(default)s)",
    ),
    (
        "data",
        "--tfds",
        str,
        None,
        "a TensorFlow Datasets name, e.g. cnn_dailymail, instead of the built-in corpus",
    ),
    (
        "data",
        "--corpus",
        str,
        None,
        "built-in corpus used when neither --data nor --tfds is given (default: %(default)s)",
    ),
    (
        "data",
        "--max-train-pairs",
        positive_int,
        None,
        "use at most this many training pairs",
    ),
    (
        "data",
        "--eval-pairs",
        positive_int,
        1000,
        "test pairs scored at the end (default: %(default)s)",
    ),
    (
        "data",
        "--vocab-size",
        positive_int,
        8000,
        "subword vocabulary size, shared by source and target (default: %(default)s)",
    ),
    (
        "data",
        "--max-source-length",
        positive_int,
        96,
        "source subwords kept; the rest is cut (default: %(default)s)",
    ),
    (
        "data",
        "--max-target-length",
        positive_int,
        24,
        "target subwords at most, in training and generation (default: %(default)s)",
    ),
    (
        "model",
        "--embedding-dim",
        positive_int,
        128,
        "embedding size (default: %(default)s)",
    ),
    ("model", "--units", positive_int, 256, "LSTM state size (default: %(default)s)"),
    (
        "model",
        "--layers",
        positive_int,
        1,
        "LSTM layers in encoder and decoder (default: %(default)s)",
    ),
    ("model", "--bidirectional", bool, False, "read the source both ways"),
    (
        "model",
        "--attention",
        ["dot", "general", "concat", "none"],
        "dot",
        "Luong score, or none for the plain seq2seq (default: %(default)s)",
    ),
    (
        "model",
        "--input-feeding",
        bool,
        False,
        "Luong input feeding (slower: the decoder then runs step by step)",
    ),
    (
        "model",
        "--copy",
        bool,
        False,
        "let the decoder copy source tokens (pointer-generator; needs attention)",
    ),
    (
        "model",
        "--coverage",
        bool,
        False,
        "coverage: the attention sees what it attended to before (needs attention)",
    ),
    (
        "model",
        "--coverage-weight",
        non_negative_float,
        1.0,
        "weight of the coverage loss, with --coverage (default: %(default)s)",
    ),
    ("model", "--dropout", rate, 0.1, "dropout rate (default: %(default)s)"),
    ("training", "--epochs", positive_int, 10, "epochs at most (default: %(default)s)"),
    (
        "training",
        "--batch-size",
        positive_int,
        64,
        "pairs per batch (default: %(default)s)",
    ),
    (
        "training",
        "--learning-rate",
        positive_float,
        2e-3,
        "Adam learning rate; the global norm of the gradients is clipped to 1 (default: %(default)s)",
    ),
    (
        "training",
        "--time-budget",
        positive_float,
        20.0,
        "minutes of training at most, for each model trained, counted from its "
        "start of training (default: %(default)s; off with --max-steps, unless "
        "given)",
    ),
    (
        "training",
        "--max-steps",
        positive_int,
        None,
        "stop after this many optimizer steps in all, for each model trained: a "
        "budget that does not depend on the machine, so the same --seed gives "
        "the same metrics",
    ),
    ("training", "--seed", int, 0, "random seed (default: %(default)s)"),
    (
        "training",
        "--strategy",
        list(distribute.STRATEGIES),
        "auto",
        "tf.distribute strategy; multi-worker reads TF_CONFIG (default: %(default)s)",
    ),
    (
        "training",
        "--precision",
        list(distribute.PRECISIONS),
        "float32",
        "float32, or mixed precision for GPUs and TPUs (default: %(default)s)",
    ),
    (
        "training",
        "--compare-no-attention",
        bool,
        False,
        "also train and score the plain seq2seq with the same settings",
    ),
    (
        "generation",
        "--decoder",
        ["greedy", "beam", "sample"],
        "greedy",
        "search used for scoring and in the export (default: %(default)s)",
    ),
    (
        "generation",
        "--beam-width",
        positive_int,
        4,
        "beam width (default: %(default)s)",
    ),
    (
        "generation",
        "--length-penalty",
        float,
        0.6,
        "GNMT length penalty alpha of beam search (default: %(default)s)",
    ),
    (
        "output",
        "--output",
        pathlib.Path,
        None,
        "where the model, logs, plots and export go (default: %(default)s)",
    ),
    (
        "output",
        "--quick",
        bool,
        False,
        "a smoke run of about a minute: 2,000 training pairs, a tiny model, 1 epoch "
        "(flags given explicitly still apply)",
    ),
    (
        "prediction from an existing export",
        "--model",
        pathlib.Path,
        None,
        "an export directory (the --output of an earlier run)",
    ),
    (
        "prediction from an existing export",
        "--predict",
        str,
        None,
        "text to run through --model; '-' reads one text per line from standard input",
    ),
]


STRATEGIES = {}  # strategy name -> the strategy made when the flags were read


def parse_args(argv, description, defaults):
    """The recipes' common flags (`FLAGS`) and the recipe's own.

    Args:
        argv: list of strings, or None for `sys.argv[1:]`.
        description: the recipe's `--help` text.
        defaults: dict flag name (with underscores) -> default value; must
            give `corpus` and `output`. `extra_flags` maps more flag names to
            `add_argument` keyword arguments.

    Returns:
        An `argparse.Namespace`.
    """
    parser = argparse.ArgumentParser(
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    groups = {}
    for group_name, flag, kind, default, help_text in FLAGS:
        group = groups.setdefault(group_name, parser.add_argument_group(group_name))
        default = defaults.get(flag[2:].replace("-", "_"), default)
        if kind is bool:
            group.add_argument(
                flag,
                action=argparse.BooleanOptionalAction,
                default=default,
                help=f"{help_text} (default: {'on' if default else 'off'})",
            )
        elif isinstance(kind, list):
            group.add_argument(flag, choices=kind, default=default, help=help_text)
        else:
            group.add_argument(flag, type=kind, default=default, help=help_text)
    for name, options in defaults.get("extra_flags", {}).items():
        groups["data"].add_argument(f"--{name}", **options)
    argv = sys.argv[1:] if argv is None else list(argv)
    if "--quick" in argv:  # smaller defaults; flags given explicitly still win
        parser.set_defaults(
            epochs=1,
            units=64,
            embedding_dim=32,
            layers=1,
            vocab_size=min(parser.get_default("vocab_size"), 1000),
            eval_pairs=min(parser.get_default("eval_pairs"), QUICK["test"]),
        )
    args = parser.parse_args(argv)
    if args.max_steps and not any(flag.startswith("--time-budget") for flag in argv):
        args.time_budget = None  # the step budget alone: the same on any machine
    if (args.model is None) != (args.predict is None):
        parser.error("--model and --predict go together")
    if args.data and args.tfds:
        parser.error("give --data or --tfds, not both")
    args.attention = None if args.attention == "none" else args.attention
    if args.predict is None:
        # Now, before any TensorFlow op runs: a multi-worker strategy sets up
        # its collective ops at program start-up or not at all.
        STRATEGIES[args.strategy] = distribute.get_strategy(args.strategy)
    return args


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the last good backup is kept."""


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


def log(message):
    print(message, flush=True)


# -- Data ------------------------------------------------------------------


def load_splits(args, combine=None, **corpus_options):
    """Train / validation / test lists of `(source, target)` Python strings.

    A `--data` file is split 90 / 5 / 5 by a hash of each source text with
    case, white space and digits folded (`text_key`), so texts that differ
    only there share a split.

    Args:
        args: the parsed flags (`--data`, `--tfds`, `--corpus`, limits).
        combine: optional callable `args -> (sources, targets, keys)` that
            reads `--data` itself (to join several fields into the source);
            `keys` are the texts the split is hashed from (a QA row's
            context: every question about one passage in one split).
        **corpus_options: options of the built-in corpus, e.g. `lang="fr"`.
    """
    if args.data:
        if combine is not None:
            sources, targets, keys = combine(args)
        else:
            sources, targets = data.read_pairs(
                args.data, args.source_field, args.target_field, log=log
            )
            keys = sources
        folded = [text_key(key) for key in keys]
        splits = {"train": [], "validation": [], "test": []}
        for pair, key in zip(zip(sources, targets, strict=True), folded, strict=True):
            splits[split_of(key)].append(pair)
        what = "context" if combine is not None else "source text"
        hint = (
            f" {args.data} is split 90/5/5 by a hash of each {what}, and holds "
            f"{len(set(folded))} distinct one(s): rows that share one stay together."
        )
    else:
        splits, hint = {}, ""
        for split in ("train", "validation", "test"):
            if args.tfds:
                dataset = data.load_tfds(
                    args.tfds,
                    split,
                    None if args.source_field == "source" else args.source_field,
                    None if args.target_field == "target" else args.target_field,
                )
            else:
                dataset = data.load_corpus(
                    args.corpus, split, log=log, **corpus_options
                )
            splits[split] = [
                (source.decode("utf-8"), target.decode("utf-8"))
                for source, target in dataset.as_numpy_iterator()
            ]
    for split_pairs in splits.values():  # a fixed order, so that cuts are fair samples
        random.Random(0).shuffle(split_pairs)
    limits = dict(QUICK) if args.quick else {}
    if args.max_train_pairs:
        limits["train"] = min(
            limits.get("train", args.max_train_pairs), args.max_train_pairs
        )
    limits["test"] = min(limits.get("test", args.eval_pairs), args.eval_pairs)
    for split, limit in limits.items():
        splits[split] = splits[split][:limit]
    for split, pairs in splits.items():
        if not pairs:
            raise ValueError(f"The {split} split is empty: more data is needed.{hint}")
    log(
        "Pairs: "
        + ", ".join(f"{split} {len(pairs)}" for split, pairs in splits.items())
    )
    return splits


def dataset_of(pairs):
    sources, targets = zip(*pairs, strict=True)
    return tf.data.Dataset.from_tensor_slices((list(sources), list(targets)))


def tokenizer_for(args, train_pairs):
    """The output folder's tokenizer, or a new one learned from the train split.

    Reusing the saved one keeps ids stable when a run resumes from its backup.
    """
    folder = args.output / "tokenizer"
    if (folder / "tokenizer.model").is_file():
        log(f"Using the tokenizer in {folder}")
        return SubwordTokenizer.load(folder)
    log(f"Learning a {args.vocab_size}-piece subword vocabulary ...")
    texts = [text for pair in train_pairs for text in pair]
    tokenizer = SubwordTokenizer.train(
        texts, vocab_size=args.vocab_size, seed=args.seed
    )
    tokenizer.save(folder)
    return tokenizer


def batches(args, pairs, tokenizer, shuffle):
    """Bucketed batches of `pairs`, with a known length (for progress bars)."""
    dataset = data.make_batches(
        dataset_of(pairs),
        tokenizer,
        batch_size=args.batch_size,
        max_source_length=args.max_source_length,
        max_target_length=args.max_target_length,
        shuffle=shuffle,
        seed=args.seed,
    )
    # Bucket sizes do not depend on the order, so neither does the count.
    count = int(dataset.reduce(0, lambda count, _: count + 1))
    return dataset.apply(tf.data.experimental.assert_cardinality(count))


# -- Model and training ----------------------------------------------------


def build_model(args, vocab_size, attention):
    return build_seq2seq(
        vocab_size,
        vocab_size,
        embedding_dim=args.embedding_dim,
        units=args.units,
        attention=attention,
        num_layers=args.layers,
        bidirectional=args.bidirectional,
        input_feeding=bool(args.input_feeding and attention),
        dropout=args.dropout,
        copy=bool(args.copy and attention),
        coverage=bool(args.coverage and attention),
        coverage_loss_weight=args.coverage_weight,
    )


class StopOnNaN(keras.callbacks.Callback):
    """Stops training at the first batch whose loss is NaN or infinite.

    It freezes the backup first, so the weights that went bad are never
    saved over the last good ones, and the backup is kept for a rerun.
    """

    def __init__(self, backup):
        super().__init__()
        self.backup = backup
        self.where = None

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(float(loss)):
            self.where = (self.epoch, batch, float(loss))
            self.backup.freeze()
            self.model.stop_training = True

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch


class TimeBudget(keras.callbacks.Callback):
    """Stops training once `minutes` have passed, mid-epoch if need be.

    The clock starts when training starts (`on_train_begin`), not when the
    callback is made: every model trained with it, and every keras-tuner
    trial (which trains a copy of it), gets the whole budget.

    Keras then still validates the model on the partial epoch, so early
    stopping and the backup see it. With several workers, every
    `check_every` batches they agree (the longest time any of them has
    run) so that all stop at the same batch.
    """

    def __init__(self, minutes, check_every=10):
        super().__init__()
        self.minutes = minutes
        self.check_every = check_every
        self.workers = distribute.worker_count()  # read TF_CONFIG once, not per batch
        self.start = None

    def on_train_begin(self, logs=None):
        self.start = time.monotonic()

    def _minutes(self):
        minutes = (time.monotonic() - self.start) / 60.0
        if self.workers == 1:
            return minutes
        strategy = self.model.distribute_strategy
        # Reductions are SUM or MEAN only: gather every replica's time instead.
        per_replica = strategy.run(lambda: tf.constant([minutes], tf.float32))
        return float(tf.reduce_max(strategy.gather(per_replica, axis=0)))

    def on_train_batch_end(self, batch, logs=None):
        if self.model.stop_training:
            return
        if self.workers > 1 and batch % self.check_every:
            return
        if self._minutes() > self.minutes:
            log(f"\nTime budget of {self.minutes:g} minutes reached: stopping.")
            self.model.stop_training = True


class StepBudget(keras.callbacks.Callback):
    """Stops training after `steps` optimizer steps in all, mid-epoch if need be.

    It counts the optimizer's steps, which a resumed run restores with the
    weights: the budget is the same on any machine, loaded or not, and
    across a crash and its rerun.
    """

    def __init__(self, steps):
        super().__init__()
        self.steps = steps

    def on_train_batch_end(self, batch, logs=None):
        if not self.model.stop_training and (
            int(self.model.optimizer.iterations) >= self.steps
        ):
            log(f"\nStep budget of {self.steps} steps reached: stopping.")
            self.model.stop_training = True


def fit(model, args, train, validation, run_name, compile_model=True, callbacks=()):
    """Compiles (unless told not to) and trains `model`; resumes from a backup.

    `callbacks` are added to the recipe's own (backup, NaN guard, early
    stopping, time budget, and on the chief a CSV log and TensorBoard).

    Returns:
        `(history dict, minutes spent)`.

    Raises:
        TrainingDiverged: the loss became NaN or infinite; the backup of
            the last good epoch is kept.
    """
    if compile_model:
        compile_for_training(model, args)
    chief = distribute.is_chief()
    run_folder = args.output / "runs" / run_name
    backup = run_folder / "backup"  # the callback says when it resumes from it
    history_file = run_folder / "history.csv"
    # The chief backs up and logs; every worker resumes from its backup.
    backup_callback = distribute.ClusterBackupAndRestore(str(backup))
    nan_guard = StopOnNaN(backup_callback)
    # The chief logs an epoch before it backs it up: a kill between the two
    # runs that epoch again (read_history keeps its last row), never loses it.
    logs = [
        keras.callbacks.CSVLogger(str(history_file), append=True),
        keras.callbacks.TensorBoard(str(run_folder / "logs")),
    ]
    callbacks = [
        *callbacks,
        *(logs if chief else []),
        backup_callback,
        nan_guard,
        keras.callbacks.EarlyStopping(patience=2, restore_best_weights=True),
    ]
    if args.time_budget:
        callbacks.append(TimeBudget(args.time_budget))
    if args.max_steps:
        callbacks.append(StepBudget(args.max_steps))
    run_folder.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    history = model.fit(
        train,
        validation_data=validation,
        epochs=args.epochs,
        shuffle=False,  # the dataset shuffles itself, seeded
        callbacks=callbacks,
        verbose=2 if os.environ.get("CI") else 1,
    )
    minutes = (time.monotonic() - start) / 60.0
    if nan_guard.where is not None:
        epoch, batch, loss = nan_guard.where
        raise TrainingDiverged(
            f"the training loss became {loss} at epoch {epoch + 1}, batch "
            f"{batch + 1}. The last good backup is kept in {backup}: lower "
            "--learning-rate (or check the data) and run the same command "
            "again to resume from it."
        )
    return (read_history(history_file) if chief else history.history), minutes


def compile_for_training(model, args):
    compile_seq2seq(model, args.learning_rate)


def read_history(path):
    """The per-epoch history from a CSVLogger file (all runs, resumed ones too).

    An epoch logged twice (a run that diverged, then resumed from the backup
    before it) counts once, as its last run.
    """
    import csv

    with open(path, encoding="utf-8") as file:
        by_epoch = {int(row["epoch"]): row for row in csv.DictReader(file)}
    rows = [by_epoch[epoch] for epoch in sorted(by_epoch)]
    return {
        key: [float(row[key]) for row in rows]
        for key in (rows[0] if rows else {})
        if key != "epoch"
    }


# -- Evaluation ------------------------------------------------------------


def generator_options(args):
    return {
        "max_length": args.max_target_length,
        "method": args.decoder,
        "beam_width": args.beam_width,
        "length_penalty": args.length_penalty,
        "seed": args.seed,
    }


def generate_texts(model, tokenizer, sources, args, batch_size=64):
    """Generated text for every source, in order."""
    generator = Generator(model, **generator_options(args))
    outputs = []
    for start in range(0, len(sources), batch_size):
        chunk = sources[start : start + batch_size]
        ids = tokenizer.tokenize(chunk)[:, : args.max_source_length]
        ids = ids.to_tensor(default_value=PAD_ID)  # (batch, S)
        if ids.shape[1] == 0:  # every source empty: one masked column
            ids = tf.zeros([len(chunk), 1], tf.int32)
        generated = generator(ids)
        texts = tokenizer.detokenize(generated["target_ids"]).numpy()
        outputs += [text.decode("utf-8") for text in texts]
    return outputs


def evaluate(model, tokenizer, test_pairs, args, metric):
    """Scores the model's outputs on the test pairs; returns scores and outputs."""
    sources = [source for source, _ in test_pairs]
    references = [target for _, target in test_pairs]
    log(f"Generating for {len(sources)} test pairs ({args.decoder}) ...")
    outputs = generate_texts(model, tokenizer, sources, args)
    return metrics.score(metric, outputs, references), outputs


def attention_examples(model, tokenizer, sources, args):
    """Source pieces, output pieces and weights for a few sources (for plots)."""
    generator = Generator(
        model, **{**generator_options(args), "return_attention": True}
    )
    examples = []
    for source in sources:
        ids = tokenizer.tokenize([source])[
            :, : min(args.max_source_length, 40)
        ].to_tensor()
        outputs = generator(ids)
        target_ids = outputs["target_ids"].numpy()[0]
        length = int((target_ids != PAD_ID).sum())
        weights = outputs["attention"].numpy()[0, :length]  # (T, S)
        output_tokens = tokenizer.id_to_token(target_ids[:length]).numpy()
        if not length:  # an empty output: one blank row
            weights, output_tokens = np.zeros((1, ids.shape[1])), [b"(empty)"]
        examples.append(
            {
                "source_tokens": [
                    p.decode("utf-8") for p in tokenizer.id_to_token(ids[0]).numpy()
                ],
                "output_tokens": [p.decode("utf-8") for p in output_tokens],
                "weights": weights,
            }
        )
    return examples


def system_name(args, attention):
    """The row name in the score table, and the run folder name (no spaces).

    A run folder holds one model's backup, so every model flavour has its own.
    """
    if attention is None:
        return "seq2seq, no attention", "none"
    parts = [f"{attention} attention"]
    parts += ["copy"] * bool(args.copy) + ["coverage"] * bool(args.coverage)
    return "seq2seq + " + " + ".join(parts), "-".join(part.split()[0] for part in parts)


def train_and_score(args, tokenizer, pairs, metric):
    """Trains the model (and the plain seq2seq with --compare-no-attention).

    Returns:
        `(rows, trained)`: rows maps a system name to its test scores;
        trained is `(model, history, minutes, outputs)` of the main model.
    """
    distribute.set_precision(args.precision)
    strategy = STRATEGIES.get(args.strategy) or distribute.get_strategy(args.strategy)
    if strategy.num_replicas_in_sync > 1:
        log(f"Training on {strategy.num_replicas_in_sync} replicas ({args.strategy})")
    train = batches(args, pairs["train"], tokenizer, shuffle=True)
    validation = batches(args, pairs["validation"], tokenizer, shuffle=False)
    train, validation = (
        distribute.shard(train),
        distribute.shard(validation),
    )
    attentions = [args.attention]
    if args.compare_no_attention and args.attention:
        attentions.append(None)
    rows, trained = {}, None
    for attention in attentions:
        name, run_name = system_name(args, attention)
        log(f"Training {name} ...")
        with strategy.scope():
            model = build_model(args, tokenizer.vocab_size, attention)
            compile_for_training(model, args)
        trained_file = args.output / "runs" / run_name / TRAINED
        earlier = load_trained(trained_file, model)
        if earlier is not None:
            model, history, minutes = earlier
        else:
            history, minutes = fit(
                model, args, train, validation, run_name=run_name, compile_model=False
            )
        if not distribute.is_chief():
            continue  # the chief scores, plots and exports
        if strategy is not tf.distribute.get_strategy():
            # Generation and export want plain variables, not distributed ones.
            trained_weights = model.get_weights()
            model = build_model(args, tokenizer.vocab_size, attention)
            model.set_weights(trained_weights)
        if earlier is None:
            save_trained(trained_file, model, minutes)
        rows[name], outputs = evaluate(model, tokenizer, pairs["test"], args, metric)
        if trained is None:
            trained = (model, history, minutes, outputs)
    return rows, trained


TRAINED = "trained.keras"


def save_trained(path, model, minutes):
    """Keeps the trained model until the export is written (see `load_trained`).

    The minutes go first: the model file, renamed into place last, is what
    says both are there.
    """
    path.with_suffix(".json").write_text(json.dumps({"minutes": minutes}))
    with atomic_path(path) as staging:
        model.save(staging)


def load_trained(path, model):
    """The model an earlier run trained and then crashed before exporting.

    Returns `(model, history, minutes)` when `path` holds a model built by
    the same flags as `model` (on one machine), else None.
    """
    if not path.is_file() or distribute.worker_count() > 1:
        return None
    earlier = keras.saving.load_model(path, safe_mode=True)
    if json.dumps(earlier.get_config(), sort_keys=True) != json.dumps(
        model.get_config(), sort_keys=True
    ):
        log(f"{path} was built with other flags: training anew.")
        return None
    log(f"Training was done before this run stopped: using {path}")
    history = read_history(path.parent / "history.csv")
    minutes = json.loads(path.with_suffix(".json").read_text())["minutes"]
    return earlier, history, minutes


class ValidationScore(keras.callbacks.Callback):
    """Adds `val_<metric>` scores (ROUGE or BLEU) to the logs at each epoch end.

    For searches whose objective is the task's own score, not the loss.
    """

    def __init__(self, tokenizer, pairs, args, metric):
        super().__init__()
        self.tokenizer, self.pairs, self.args, self.metric = (
            tokenizer,
            pairs,
            args,
            metric,
        )

    def on_epoch_end(self, epoch, logs=None):
        scores, _ = evaluate(
            self.model, self.tokenizer, self.pairs, self.args, self.metric
        )
        for name, value in scores.items():
            logs[f"val_{name}"] = value


# -- Showing and exporting -------------------------------------------------


def print_table(title, rows):
    """Prints `rows` (name -> scores dict) as a Markdown table; returns it."""
    names = list(next(iter(rows.values())))
    lines = [
        f"| {title} | " + " | ".join(names) + " |",
        "|---" * (len(names) + 1) + "|",
    ]
    for system, scores in rows.items():
        lines.append(
            f"| {system} | "
            + " | ".join(f"{scores[name]:.1f}" for name in names)
            + " |"
        )
    table = "\n".join(lines)
    log("\n" + table + "\n")
    return table


def print_examples(test_pairs, outputs, count=5):
    examples = []
    for (source, reference), output in list(zip(test_pairs, outputs, strict=True))[
        :count
    ]:
        log(f"SOURCE:    {source[:300]}\nREFERENCE: {reference}\nOUTPUT:    {output}\n")
        examples.append({"source": source, "reference": reference, "output": output})
    return examples


def model_card(task, args, table, minutes, pairs):
    """The export's README.md: data, size, scores, how to load it."""
    return f"""# s2s_keras {task} model

Trained by `recipes/{task}.py` ({"--quick smoke run" if args.quick else "full run"}).

- Data: {args.data or args.tfds or args.corpus}; pairs: {", ".join(f"{k} {len(v)}" for k, v in pairs.items())}.
- Model: LSTM encoder-decoder, attention {args.attention or "none"}, {args.layers} layer(s) of {args.units} units,
  embeddings {args.embedding_dim}, subword vocabulary {args.vocab_size}{", bidirectional encoder" if args.bidirectional else ""}.
- Training: {minutes:.1f} minutes, batch {args.batch_size}, Adam {args.learning_rate:g}, seed {args.seed}.
- Generation: {args.decoder}, at most {args.max_target_length} subwords.

## Scores on the test split ({len(pairs["test"])} pairs)

{table}

## Use it

```python
import tensorflow as tf
import tensorflow_text  # registers the tokenizer ops the SavedModel uses

model = tf.saved_model.load("saved_model")
print(model.signatures["serving_default"](text=tf.constant(["your text"]))["text"])
```

Or: `python recipes/{task}.py --model {args.output} --predict "your text"`.
`model.tflite` takes token ids (see `tokenizer/`), 0-padded to
`(1, {args.max_source_length})`, and decodes greedily;
`model.keras` reloads with `keras.saving.load_model` (after `import s2s_keras`)
for fine-tuning.
"""


def finish(task, args, tokenizer, pairs, rows, trained, metric):
    """Table, examples, plots, metrics.json, model card and the export."""
    if trained is None:  # a worker that is not the chief: nothing to write
        log("Training done; the chief writes the scores and the export.")
        return 0
    model, history, minutes, outputs = trained
    title = {"rouge": "ROUGE F1", "bleu": "BLEU / chrF"}[metric]
    table = print_table(title, rows)
    examples = print_examples(pairs["test"], outputs)
    args.output.mkdir(parents=True, exist_ok=True)
    plotting.plot_training_curves(history, args.output / "training_curves.png")
    if args.attention:
        sources = [source for source, _ in pairs["test"][:3]]
        plotting.plot_attention(
            attention_examples(model, tokenizer, sources, args),
            args.output / "attention.png",
        )
    summary = {
        "task": task,
        "scores": rows,
        "metric": metric,
        "training_minutes": round(minutes, 2),
        "epochs": len(history.get("loss", [])),
        "pairs": {split: len(split_pairs) for split, split_pairs in pairs.items()},
        "config": {
            key: str(value) if isinstance(value, pathlib.Path) else value
            for key, value in vars(args).items()
        },
        "examples": examples,
    }
    metrics_text = json.dumps(summary, indent=2, ensure_ascii=False) + "\n"
    log(f"Exporting to {args.output} ...")
    write_export(
        args.output,
        model,
        tokenizer,
        max_source_length=args.max_source_length,
        extra_files={
            "metrics.json": metrics_text,
            "README.md": model_card(task, args, table, minutes, pairs),
        },
        **generator_options(args),
    )
    for kept in (args.output / "runs").glob(f"*/{TRAINED}"):  # exported now
        kept.unlink()
        kept.with_suffix(".json").unlink(missing_ok=True)
    log(
        f"Done: {args.output}/ holds saved_model/, model.tflite, model.keras, tokenizer/, metrics.json, README.md and plots."
    )
    return summary


def predict(args):
    """Prints the output for `--predict TEXT` (or each line of stdin for '-')."""
    saved_model = args.model / "saved_model"
    if not saved_model.is_dir():
        raise ValueError(
            f"No export in {args.model}: {saved_model} not found. Pass the --output of an earlier run."
        )
    import tensorflow_text  # noqa: F401 (registers the tokenizer ops)

    serve = tf.saved_model.load(str(saved_model)).signatures["serving_default"]
    texts = sys.stdin.read().splitlines() if args.predict == "-" else [args.predict]
    outputs = [] if not texts else serve(text=tf.constant(texts))["text"].numpy()
    results = [output.decode("utf-8") for output in outputs]
    for result in results:
        print(result)
    return results


def seed_everything(seed):
    keras.utils.set_random_seed(seed)
    np.random.seed(seed)
