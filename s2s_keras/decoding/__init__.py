"""In-graph generation: one search loop on the decoder's step, and token choosers.

    generate(model, source_ids, method="beam", beam_width=4,
             no_repeat_ngram_size=3, tokenizer=tokenizer, min_length=4)
    score(model, source_ids, target_ids)

`search.py` holds the loop, `choosers.py` greedy and sampling, `beam.py`
beam search, `methods.py` the lookup by name, `controls.py` what every
method obeys (n-gram blocking, minimum length, repetition penalty, forced
prefix, known words), `lexicon.py` the trie of known words and
`known_words.py` that control's walk of it, `generator.py` the compiled search kept per model and settings,
`scoring.py` the log-likelihood of given outputs.
"""

from s2s_keras.decoding.beam import BeamSearch
from s2s_keras.decoding.choosers import Greedy
from s2s_keras.decoding.choosers import Sampling
from s2s_keras.decoding.choosers import TokenChooser
from s2s_keras.decoding.controls import Controls
from s2s_keras.decoding.controls import word_starts
from s2s_keras.decoding.generator import Generator
from s2s_keras.decoding.generator import generate
from s2s_keras.decoding.generator import generator_for
from s2s_keras.decoding.generator import generator_settings
from s2s_keras.decoding.known_words import KnownWords
from s2s_keras.decoding.lexicon import Lexicon
from s2s_keras.decoding.methods import METHODS
from s2s_keras.decoding.methods import get_chooser
from s2s_keras.decoding.scoring import log_likelihood
from s2s_keras.decoding.scoring import score
from s2s_keras.decoding.search import search

__all__ = [
    "METHODS",
    "BeamSearch",
    "Controls",
    "Generator",
    "Greedy",
    "KnownWords",
    "Lexicon",
    "Sampling",
    "TokenChooser",
    "generate",
    "generator_for",
    "generator_settings",
    "get_chooser",
    "log_likelihood",
    "score",
    "search",
    "word_starts",
]
