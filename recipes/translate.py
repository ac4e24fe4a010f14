"""Translate: English package descriptions into another language.

With no arguments it fetches Debian's English and Italian package
descriptions with apt (once), pairs them sentence block by sentence block
(synopses, and paragraphs where both sides have as many), trains an LSTM
encoder-decoder with Luong attention, scores it with BLEU and chrF
(sacrebleu) against copying the source unchanged, and exports it.

    python recipes/translate.py                  # English -> Italian
    python recipes/translate.py --lang fr        # English -> French
    python recipes/translate.py --tfds ted_hrlr_translate/pt_to_en
    python recipes/translate.py --model saved_models/translate --predict "A fast text editor"
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from s2s_keras import metrics  # noqa: E402
from s2s_keras import recipe  # noqa: E402

## Configuration

DEFAULTS = {
    "corpus": "debian_translations",
    "output": "saved_models/translate",
    "max_source_length": 64,
    "max_target_length": 64,
    "vocab_size": 8000,
    "time_budget": 20.0,
    "extra_flags": {
        "lang": {
            "default": "it",
            "help": "target language of debian_translations (default: %(default)s)",
        }
    },
}
METRIC = "bleu"


def main(argv=None):
    args = recipe.parse_args(argv, __doc__, DEFAULTS)
    if args.predict is not None:
        return recipe.predict(args)
    recipe.seed_everything(args.seed)

    ## Data
    pairs = recipe.load_splits(args, lang=args.lang)
    tokenizer = recipe.tokenizer_for(args, pairs["train"])

    ## Baseline: the source, copied (names and numbers often pass unchanged)
    sources, references = zip(*pairs["test"], strict=True)
    rows = {"copy source": metrics.score(METRIC, list(sources), list(references))}

    ## Model: train, generate, score
    model_rows, trained = recipe.train_and_score(args, tokenizer, pairs, METRIC)
    rows.update(model_rows)

    ## Show and export
    return recipe.finish("translate", args, tokenizer, pairs, rows, trained, METRIC)


if __name__ == "__main__":
    recipe.run(main)
