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

Several machines: start the same command on each, with the environment
variables KERASTUNER_TUNER_ID ("chief" on one, "tuner0", "tuner1" ... on the
others), KERASTUNER_ORACLE_IP and KERASTUNER_ORACLE_PORT (the chief's address).
"""

import argparse
import importlib.util
import json
import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import keras_tuner  # noqa: E402

from s2s_keras import recipe  # noqa: E402
from s2s_keras.atomic_files import atomic_write  # noqa: E402
from s2s_keras.models import CROSS_ENTROPY  # noqa: E402
from s2s_keras.tuning import Seq2SeqHyperModel  # noqa: E402

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


def load_recipe(name):
    path = pathlib.Path(__file__).with_name(f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"recipe_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def parse_args(argv):
    first = argparse.ArgumentParser(add_help=False)
    first.add_argument("--recipe", choices=RECIPES, default="summarize")
    chosen, _ = first.parse_known_args(argv)
    task = load_recipe(chosen.recipe)
    metric_names = {"rouge": "val_rougeL", "bleu": "val_bleu"}
    extra_flags = {
        **task.DEFAULTS.get("extra_flags", {}),
        "recipe": {"choices": RECIPES, "default": "summarize", "help": "whose data, metric and export to use (default: %(default)s)"},
        "tuner": {"choices": sorted(TUNERS), "default": "random", "help": "keras-tuner search algorithm (default: %(default)s)"},
        "max-trials": {"type": recipe.positive_int, "default": 8, "help": "models to try, at most (default: %(default)s)"},
        "objective": {"choices": [*MINIMIZED, metric_names[task.METRIC]], "default": MINIMIZED[0], "help": "what the search minimizes: the validation cross-entropy of the targets (the same quantity for every model), or val_loss (which also holds a coverage model's weighted coverage loss); or maximizes: the recipe's score on 200 validation pairs (default: %(default)s)"},
        "directory": {"type": pathlib.Path, "default": pathlib.Path(f"tuning/{chosen.recipe}"), "help": "where trials are kept; the same directory resumes (default: %(default)s)"},
        "export": {"type": pathlib.Path, "help": "retrain the best model and export it here"},
    }  # fmt: skip
    defaults = {
        **task.DEFAULTS,
        "epochs": 3,
        "time_budget": 10.0,
        "extra_flags": extra_flags,
    }
    args = recipe.parse_args(argv, __doc__, defaults)
    args.output = args.directory  # the tokenizer is kept with the trials
    return args, task


def main(argv=None):
    args, task = parse_args(argv)
    recipe.seed_everything(args.seed)

    ## Data, as the recipe reads it
    options = {"lang": args.lang} if hasattr(args, "lang") else {}
    pairs = recipe.load_splits(args, **options)
    tokenizer = recipe.tokenizer_for(args, pairs["train"])

    def make_batches(batch_size):
        sized = argparse.Namespace(**{**vars(args), "batch_size": batch_size})
        return (
            recipe.batches(sized, pairs["train"], tokenizer, shuffle=True),
            recipe.batches(sized, pairs["validation"], tokenizer, shuffle=False),
        )

    ## The search
    space = QUICK_SPACE if args.quick else {}
    hypermodel = Seq2SeqHyperModel(
        tokenizer.vocab_size, tokenizer.vocab_size, make_batches=make_batches, **space
    )
    maximize = args.objective not in MINIMIZED
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
    callbacks = [keras.callbacks.EarlyStopping(patience=1)]
    if args.time_budget:
        callbacks.append(recipe.TimeBudget(args.time_budget))
    if args.max_steps:
        callbacks.append(recipe.StepBudget(args.max_steps))
    if maximize:
        callbacks.append(
            recipe.ValidationScore(
                tokenizer, pairs["validation"][:200], args, task.METRIC
            )
        )
    tuner.search(
        epochs=args.epochs,
        callbacks=callbacks,
        verbose=2 if os.environ.get("CI") else 1,
    )

    ## Results
    if os.environ.get("KERASTUNER_TUNER_ID", "chief") != "chief":
        return None  # a worker: the chief reports
    trials = [
        trial for trial in tuner.oracle.trials.values() if trial.score is not None
    ]
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
        args.output, args.batch_size = (
            args.export,
            best.get("batch_size", args.batch_size),
        )
        model = hypermodel.build(best_hp)
        train, validation = make_batches(args.batch_size)
        history, minutes = recipe.fit(
            model, args, train, validation, run_name="best", compile_model=False
        )
        scores, outputs = recipe.evaluate(
            model, tokenizer, pairs["test"], args, task.METRIC
        )
        recipe.finish(
            args.recipe,
            args,
            tokenizer,
            pairs,
            {"best trial": scores},
            (model, history, minutes, outputs),
            task.METRIC,
        )
    return best


if __name__ == "__main__":
    recipe.run(main)
