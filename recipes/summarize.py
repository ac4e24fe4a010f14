"""Summarize: write a package's one-line synopsis from its long description.

The main job of s2s_keras. With no arguments it downloads Debian's package
descriptions with apt (about 16 MB, once), learns a subword vocabulary,
trains an LSTM encoder-decoder with Luong attention that can also copy
source words (a pointer-generator, with coverage) with `model.fit`,
scores it with ROUGE against the lead baseline (the first k words of the
description, k the median synopsis length), plots what it learned, and
exports a SavedModel (text in, text out), a TFLite file and a .keras file.

    python recipes/summarize.py                       # the whole job
    python recipes/summarize.py --quick               # a one-minute smoke run
    python recipes/summarize.py --no-copy --no-coverage   # plain attention
    python recipes/summarize.py --backend jax         # train on JAX, export on TF
    python recipes/summarize.py --data my.jsonl --source-field article --target-field summary
    python recipes/summarize.py --data 'corpus/*.jsonl.gz' --steps-per-epoch 5000  # any size
    python recipes/summarize.py --model saved_models/summarize --predict "Some long text ..."

Run it again with the same --output after a crash and it resumes from its
last backup. The other task recipes (translate.py, paraphrase.py, qa.py)
run the same steps, `train_and_export` below, on their own task.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from s2s_keras.data.pairs import open_splits  # noqa: E402
from s2s_keras.data.pairs import tokenizer_for  # noqa: E402
from s2s_keras.models import build_seq2seq  # noqa: E402
from s2s_keras.models import compile_seq2seq  # noqa: E402
from s2s_keras.training import flags  # noqa: E402
from s2s_keras.training import tasks  # noqa: E402
from s2s_keras.training.evaluation import evaluate  # noqa: E402
from s2s_keras.training.evaluation import lexicon_for  # noqa: E402
from s2s_keras.training.reporting import write_results  # noqa: E402
from s2s_keras.training.runner import Runner  # noqa: E402

## Configuration: the corpus, metric, baseline and defaults of the task
## (lengths, vocabulary, copy and coverage) are in s2s_keras/training/tasks.py.

TASK = tasks.get("summarize")


def main(argv=None):
    parser = flags.recipe_parser(__doc__, TASK)
    return run(TASK, flags.parse(parser, argv))


def run(task, args, corpus_options=None):
    """`--predict` through an export, or a whole run of `task` on the flags."""
    if args.predict is not None:
        return flags.predict(args)
    return train_and_export(task, flags.run_config(args, corpus_options))


def train_and_export(task, config):
    """Data, baseline, model, `fit`, scores and export of one task's run."""
    runner = Runner(config.output, config.training)  # strategy, precision, seeds
    data, training = config.data, config.training

    ## Data: streamed from shards; what is held in memory is bounded
    splits = open_splits(data, runner.workers, runner.worker_index)
    train_sample, test_pairs = splits.sample(), splits.take("test")
    tokenizer = tokenizer_for(
        config.output / "tokenizer", train_sample, data.vocab_size, training.seed
    )
    lexicon = lexicon_for(config.output, splits, tokenizer)  # its words, known
    # An epoch: --steps-per-epoch batches, or a pass over the training pairs.
    steps = training.steps_per_epoch or splits.steps_per_epoch(training.batch_size)
    lengths = {
        "max_source_length": data.max_source_length,
        "max_target_length": data.max_target_length,
    }
    train = splits.batches(
        "train",
        tokenizer,
        training.batch_size,
        **lengths,
        repeat=steps is not None,  # batches run on across passes
        seed=training.seed,
    )
    validation = splits.batches("validation", tokenizer, training.batch_size, **lengths)

    ## Baseline
    rows = task.baseline_scores(train_sample, test_pairs)

    ## Model: the flags' model, and with --compare-no-attention the plain seq2seq
    attentions = [config.model.attention]
    if training.compare_no_attention and config.model.attention:
        attentions.append(None)
    results = []
    for attention in attentions:
        name, run_name = config.model.system_name(attention)
        print(f"Training {name} ...", flush=True)
        with runner.scope():
            model = build_seq2seq(
                tokenizer.vocab_size,
                tokenizer.vocab_size,
                **config.model.build_arguments(attention),
            )
            compile_seq2seq(
                model,
                training.optimizer_learning_rate,
                training.label_smoothing,
                training.ema_momentum,
            )

        ## Train
        training_run = runner.training_run(run_name, model)
        history = None
        if not training_run.trained_before:  # kept by a crash, or before scoring
            history = model.fit(
                train,
                validation_data=validation,
                epochs=training.epochs,
                steps_per_epoch=steps,
                shuffle=False,  # the batches shuffle themselves, seeded
                callbacks=training_run.callbacks,
                verbose=runner.verbose,
            )
        trained = training_run.finish(history)
        if not runner.scores_here:
            continue  # scored and exported by the chief, in a fresh process

        ## Generate and score
        rows[name], outputs = evaluate(
            trained.model,
            tokenizer,
            test_pairs,
            config.generation,
            task.metric,
            data.max_source_length,
            lexicon,
        )
        results.append((name, trained, outputs))

    ## Show and export
    if not runner.chief:
        print("Training done; the chief writes the scores and the export.")
        return 0
    if not runner.scores_here:
        runner.continue_in_fresh_process()  # a fresh process finds the trained models
    name, trained, outputs = results[0]
    return write_results(
        task.name,
        config,
        tokenizer,
        splits.sizes,
        test_pairs,
        rows,
        trained,
        outputs,
        task.metric,
        lexicon,
        # A multilingual run (<2de> ... in its sources): each language's scores
        by_target=task.scores_by_target_tag(train_sample, test_pairs, outputs, name),
    )


if __name__ == "__main__":
    flags.run(main)
