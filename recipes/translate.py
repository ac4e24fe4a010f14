"""Translate: English package descriptions into another language.

With no arguments it fetches Debian's English and Italian package
descriptions with apt (once), pairs them sentence block by sentence block
(synopses, and paragraphs where both sides have as many), trains an LSTM
encoder-decoder with Luong attention, scores it with BLEU and chrF
(sacrebleu) against copying the source unchanged, and exports it.

    python recipes/translate.py                  # English -> Italian
    python recipes/translate.py --lang fr        # English -> French
    python recipes/translate.py --lang da,de,fr,it,pt_BR   # one model, five targets
    python recipes/translate.py --lang da,de,fr,it,pt_BR --language-temperature 3
    python recipes/translate.py --tfds ted_hrlr_translate/pt_to_en
    python recipes/translate.py --model saved_models/translate --predict "A fast text editor"
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from summarize import run  # noqa: E402  (summarize.py's steps, on this task)

from s2s_keras.training import flags  # noqa: E402
from s2s_keras.training import tasks  # noqa: E402

## Configuration: the corpus, metric, baseline and defaults of the task are
## in s2s_keras/training/tasks.py.

TASK = tasks.get("translate")


def main(argv=None):
    parser = flags.recipe_parser(__doc__, TASK)
    parser.add_argument(
        "--lang",
        default="it",
        help="target language of debian_translations, or several (da,de,fr,it,pt_BR): "
        "one model for all, the target chosen by a tag that starts each source, "
        "'<2de> Show the version and exit.' (default: %(default)s)",
    )
    parser.add_argument(
        "--language-temperature",
        metavar="T",
        type=flags.language_temperature,
        default=1.0,
        help="with several --lang: draw each language's training pairs with "
        "probability ~ (its pairs)^(1/T), so the small ones are seen more often "
        "(Arivazhagan et al., 2019); 1: as the corpus has them, 3-5: more even "
        "(default: %(default)s)",
    )
    args = flags.parse(parser, argv)
    return run(TASK, args, corpus_options={"lang": args.lang})


if __name__ == "__main__":
    flags.run(main)
