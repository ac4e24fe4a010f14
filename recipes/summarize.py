"""Summarize: write a package's one-line synopsis from its long description.

The main job of s2s_keras. With no arguments it downloads Debian's package
descriptions with apt (about 16 MB, once), learns a subword vocabulary,
trains an LSTM encoder-decoder with Luong attention with `model.fit`,
scores it with ROUGE against the lead baseline (the first k words of the
description, k the median synopsis length), plots what it learned, and
exports a SavedModel (text in, text out), a TFLite file and a .keras file.

    python recipes/summarize.py                       # the whole job
    python recipes/summarize.py --quick               # a one-minute smoke run
    python recipes/summarize.py --data my.jsonl --source-field article --target-field summary
    python recipes/summarize.py --model saved_models/summarize --predict "Some long text ..."

Run it again with the same --output after a crash and it resumes from its
last backup.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from s2s_keras import metrics  # noqa: E402
from s2s_keras import recipe  # noqa: E402

## Configuration

DEFAULTS = {
    "corpus": "debian_descriptions",
    "output": "saved_models/summarize",
    "max_source_length": 96,  # subwords of description read (median: ~70)
    "max_target_length": 24,  # subwords of synopsis written (median: ~10)
    "vocab_size": 8000,
    "embedding_dim": 128,
    "units": 256,
    "epochs": 10,
    "time_budget": 20.0,  # minutes of training: the whole run stays under 30
}
METRIC = "rouge"


def main(argv=None):
    args = recipe.parse_args(argv, __doc__, DEFAULTS)
    if args.predict is not None:
        return recipe.predict(args)
    recipe.seed_everything(args.seed)

    ## Data
    pairs = recipe.load_splits(args)
    tokenizer = recipe.tokenizer_for(args, pairs["train"])
    train = recipe.batches(args, pairs["train"], tokenizer, shuffle=True)
    validation = recipe.batches(args, pairs["validation"], tokenizer, shuffle=False)

    ## Baseline: the first k words of the description
    lead_words = metrics.median_words([target for _, target in pairs["train"]])
    test_sources = [source for source, _ in pairs["test"]]
    test_references = [target for _, target in pairs["test"]]
    rows = {
        f"lead-{lead_words}": metrics.score(
            METRIC, metrics.lead(test_sources, lead_words), test_references
        )
    }

    ## Model, training and evaluation; the plain seq2seq beside it if asked
    attentions = [args.attention] + ([None] if args.compare_no_attention and args.attention else [])
    for attention in attentions:
        name = f"seq2seq + {attention} attention" if attention else "seq2seq, no attention"
        model = recipe.build_model(args, tokenizer.vocab_size, attention)
        history, minutes = recipe.fit(model, args, train, validation, run_name=attention or "none")
        rows[name], outputs = recipe.evaluate(model, tokenizer, pairs["test"], args, METRIC)
        if attention == args.attention:
            best = (model, history, minutes, outputs)

    ## Show and export
    model, history, minutes, outputs = best
    return recipe.finish(
        "summarize", args, model, tokenizer, pairs, history, minutes, rows, outputs, METRIC
    )


if __name__ == "__main__":
    recipe.run(main)
