"""Tune: search a recipe's hyperparameters with keras-tuner, then export the best.

Takes a recipe's data flags (--data, --tfds, --corpus ...) and searches the
model's size, attention score, input feeding, copying, coverage, dropout, learning rate and
batch size. The same command with the same --directory resumes: finished
trials are not run again. Writes best_hyperparameters.json in the directory
and, with --export DIR, retrains the best model and exports it like the
recipe does.

    python recipes/tune.py --recipe summarize --max-trials 8
    python recipes/tune.py --recipe paraphrase --tuner bayesian --objective val_bleu
    python recipes/tune.py --recipe summarize --quick      # two tiny trials
    python recipes/tune.py --recipe summarize --backend jax   # trials on JAX

Several machines: start the same command on each, with the environment
variables KERASTUNER_TUNER_ID ("chief" on one, "tuner0", "tuner1" ... on the
others), KERASTUNER_ORACLE_IP and KERASTUNER_ORACLE_PORT (the chief's address).
"""

import argparse
import dataclasses
import json
import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import keras_tuner  # noqa: E402

from s2s_keras import metrics  # noqa: E402
from s2s_keras.data.pairs import open_splits  # noqa: E402
from s2s_keras.data.pairs import tokenizer_for  # noqa: E402
from s2s_keras.models import CROSS_ENTROPY  # noqa: E402
from s2s_keras.training import flags  # noqa: E402
from s2s_keras.training import tasks  # noqa: E402
from s2s_keras.training.callbacks import averaged  # noqa: E402
from s2s_keras.training.callbacks import budgets  # noqa: E402
from s2s_keras.training.evaluation import ValidationScore  # noqa: E402
from s2s_keras.training.evaluation import evaluate  # noqa: E402
from s2s_keras.training.evaluation import lexicon_for  # noqa: E402
from s2s_keras.training.reporting import write_results  # noqa: E402
from s2s_keras.training.runner import Runner  # noqa: E402
from s2s_keras.training.tuning import Seq2SeqHyperModel  # noqa: E402
from s2s_keras.utils.atomic_files import atomic_write  # noqa: E402

## Configuration

RECIPES = ("summarize", "translate", "paraphrase", "qa")
MINIMIZED = (f"val_{CROSS_ENTROPY}", "val_loss")
TUNERS = {
    "random": keras_tuner.RandomSearch,
    "hyperband": keras_tuner.Hyperband,
    "bayesian": keras_tuner.BayesianOptimization,
}
QUICK_SPACE = {  # two tiny trials that differ only in attention and rate
    "fixed": {
        "embedding_dim": 16,
        "units": 32,
        "layers": 1,
        "bidirectional": False,
        "input_feeding": False,
        "copy": False,
        "coverage": False,
        "dropout": 0.0,
        "batch_size": 64,
    },  # fmt: skip
    "space": {"attention": ["dot", "none"], "learning_rate": [2e-3, 5e-3]},
}


def parse_args(argv):
    """The recipe flags of `--recipe`'s task, and the search's own."""
    first = argparse.ArgumentParser(add_help=False)
    first.add_argument("--recipe", choices=sorted(tasks.TASKS), default="summarize")
    chosen, _ = first.parse_known_args(argv)
    task = tasks.get(chosen.recipe)
    parser = flags.recipe_parser(__doc__, task)
    parser.set_defaults(epochs=3, time_budget=10.0)
    search = parser.add_argument_group("search")
    search.add_argument(
        "--recipe",
        choices=sorted(tasks.TASKS),
        default="summarize",
        help="whose data, metric and export to use (default: %(default)s)",
    )
    search.add_argument(
        "--tuner",
        choices=sorted(TUNERS),
        default="random",
        help="keras-tuner search algorithm (default: %(default)s)",
    )
    search.add_argument(
        "--max-trials",
        type=flags.positive_int,
        default=8,
        help="models to try, at most (default: %(default)s)",
    )
    search.add_argument(
        "--objective",
        choices=[*MINIMIZED, f"val_{metrics.HEADLINE[task.metric]}"],
        default=MINIMIZED[0],
        help="what the search minimizes: the validation cross-entropy of the targets (the same quantity for every model), or val_loss (which also holds a coverage model's weighted coverage loss); or maximizes: the recipe's score on 200 validation pairs (default: %(default)s)",
    )
    search.add_argument(
        "--directory",
        type=pathlib.Path,
        default=pathlib.Path(f"tuning/{chosen.recipe}"),
        help="where trials are kept; the same directory resumes (default: %(default)s)",
    )
    search.add_argument(
        "--export", type=pathlib.Path, help="retrain the best model and export it here"
    )
    search.add_argument(
        "--lang",
        default="it",
        help="target language of debian_translations, with --recipe translate (default: %(default)s)",
    )
    search.add_argument(
        "--context-field", help="a context field of --data, with --recipe qa (optional)"
    )
    args = flags.parse(parser, argv)
    config = flags.run_config(
        args, {"lang": args.lang} if task.name == "translate" else {}
    )
    return args, task, config


def main(argv=None):
    args, task, config = parse_args(argv)
    data, training = config.data, config.training
    runner = Runner(args.directory, training)

    ## Data, as the recipe reads it; the tokenizer is kept with the trials
    splits = open_splits(data, runner.workers, runner.worker_index)
    tokenizer = tokenizer_for(
        args.directory / "tokenizer", splits.sample(), data.vocab_size, training.seed
    )

    def make_batches(batch_size):
        lengths = {
            "max_source_length": data.max_source_length,
            "max_target_length": data.max_target_length,
        }
        steps = training.steps_per_epoch or splits.steps_per_epoch(batch_size)
        return (
            splits.batches("train", tokenizer, batch_size, **lengths, repeat=steps is not None, seed=training.seed),
            splits.batches("validation", tokenizer, batch_size, **lengths),
            steps,
        )  # fmt: skip

    ## The search
    space = QUICK_SPACE if args.quick else {}
    hypermodel = Seq2SeqHyperModel(
        tokenizer.vocab_size,
        tokenizer.vocab_size,
        make_batches=make_batches,
        tie_embeddings=config.model.tie_embeddings,
        label_smoothing=training.label_smoothing,
        ema_momentum=training.ema_momentum,
        **space,
    )
    maximize = args.objective not in MINIMIZED
    if maximize and runner.backend != "tensorflow":
        raise ValueError(
            f"--objective {args.objective} scores generated text, which runs on "
            "TensorFlow: pick a loss objective (val_cross_entropy) to search on "
            f"{runner.backend}. Received: --backend {runner.backend}"
        )
    objective = keras_tuner.Objective(args.objective, "max" if maximize else "min")
    tuner_options = (
        {"max_epochs": args.epochs}
        if args.tuner == "hyperband"
        else {"max_trials": args.max_trials}
    )
    tuner = TUNERS[args.tuner](
        hypermodel,
        objective=objective,
        directory=str(args.directory),
        project_name="trials",
        overwrite=False,  # the same directory resumes
        seed=args.seed,
        **tuner_options,
    )
    callbacks = [
        *averaged(training.ema_momentum),  # validation and scores on the average
        keras.callbacks.EarlyStopping(patience=1),
        *budgets(training.time_budget, training.max_steps),
    ]
    # The words known to the model, for --known-words-only and for the export.
    lexicon = (
        lexicon_for(args.directory, splits, tokenizer)
        if args.export or (maximize and config.generation.known_words_only)
        else None
    )
    if maximize:
        callbacks.append(
            ValidationScore(
                tokenizer,
                splits.take("validation", 200),
                config.generation,
                task.metric,
                data.max_source_length,
                lexicon,
            )
        )
    tuner.search(
        epochs=args.epochs,
        callbacks=callbacks,
        verbose=runner.verbose,
    )

    ## Results
    if os.environ.get("KERASTUNER_TUNER_ID", "chief") != "chief":
        return None  # a worker: the chief reports
    trials = [
        trial for trial in tuner.oracle.trials.values() if trial.score is not None
    ]
    if not trials:
        raise RuntimeError(
            f"No trial of the search in {args.directory} finished with a "
            f"{args.objective} score: every trial failed (their errors are "
            "printed above)."
        )
    trials.sort(key=lambda trial: trial.score, reverse=maximize)
    names = sorted({name for trial in trials for name in trial.hyperparameters.values})
    lines = [
        "| trial | " + " | ".join(names) + f" | {args.objective} |",
        "|---" * (len(names) + 2) + "|",
    ]
    for trial in trials:
        values = trial.hyperparameters.values
        lines.append(
            f"| {trial.trial_id} | "
            + " | ".join(str(values.get(n, "")) for n in names)
            + f" | {trial.score:.4f} |"
        )
    print("\n" + "\n".join(lines) + "\n")
    best = tuner.get_best_hyperparameters(1)[0].values
    with atomic_write(args.directory / "best_hyperparameters.json") as file:
        json.dump(
            {"objective": args.objective, "score": trials[0].score, "values": best},
            file,
            indent=2,
        )
    print(
        f"Best hyperparameters: {best}\nWritten to {args.directory / 'best_hyperparameters.json'}"
    )

    ## Retrain the best and export it, like the recipe
    if args.export:
        best_hp = tuner.get_best_hyperparameters(1)[0]
        model = hypermodel.build(best_hp)
        train, validation, steps = make_batches(
            best.get("batch_size", training.batch_size)
        )
        best_run = runner.training_run("best", model, output=args.export)
        trained = best_run.fit(train, validation, training.epochs, steps)
        if not runner.scores_here:
            runner.continue_in_fresh_process()  # the search resumes done, the model kept
        test_pairs = splits.take("test")
        scores, outputs = evaluate(
            trained.model,
            tokenizer,
            test_pairs,
            config.generation,
            task.metric,
            data.max_source_length,
            lexicon,
        )
        exported = dataclasses.replace(config, output=args.export)
        write_results(
            task.name,
            exported,
            tokenizer,
            splits.sizes,
            test_pairs,
            {"best trial": scores},
            trained,
            outputs,
            task.metric,
            lexicon,
        )
    return best


if __name__ == "__main__":
    flags.run(main)
