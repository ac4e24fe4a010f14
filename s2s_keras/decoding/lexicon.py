"""Known words: the words a model has read, as a trie over its subword pieces.

A subword decoder can write words no one wrote: it may join `▁anqu` and
`arium`, or stop after `▁changelog` + `er`. `Lexicon` keeps every word of a
corpus (a word is a piece that starts one, `▁word`, and the pieces after
it, as SentencePiece cut it) in a trie; `KnownWords` (`known_words.py`)
walks it inside the search loop for the `known_words_only` control.

The trie is three arrays, numbered breadth first so that a node's children
are consecutive nodes:

    pieces[n]       the last piece of node n's word prefix
    first_child[n]  node n's children are first_child[n] .. first_child[n+1] - 1
    remaining[n]    pieces still needed to finish a word from n (0: n is a word)

Node 0 is "between words" (a word, no children); the last node is "off the
trie" (never a word, no children). The first pieces of words are found with
`root_child[piece]` instead (the root has a child for most of the vocabulary).
"""

import pathlib

import numpy as np
import tensorflow as tf

from s2s_keras.decoding.controls import word_starts as vocabulary_word_starts
from s2s_keras.decoding.known_words import KnownWords
from s2s_keras.utils.atomic_files import atomic_write

LEXICON_FILE = "lexicon.npz"
NEVER = np.int32(1 << 20)  # the `remaining` of a node no word goes through


class Lexicon:
    """The words of a corpus as a trie over subword pieces (module docstring).

    Build one with `Lexicon.from_texts(tokenizer, texts)` or
    `Lexicon.from_words(words, word_starts)`; `save`/`load` keep it beside a
    model.

    Args:
        pieces: int32 `(nodes,)`.
        first_child: int32 `(nodes + 1,)`.
        remaining: int32 `(nodes,)`.
        root_child: int32 `(vocab,)`: the node of the one-piece prefix of
            each piece, 0 where no word starts with it.
        word_starts: bool `(vocab,)`: which pieces start a word.
        source_words: bool, whether a row's source words count as known
            (sources in the target vocabulary).
    """

    def __init__(
        self, pieces, first_child, remaining, root_child, word_starts, source_words
    ):
        self.pieces = np.asarray(pieces, np.int32)
        self.first_child = np.asarray(first_child, np.int32)
        self.remaining = np.asarray(remaining, np.int32)
        self.root_child = np.asarray(root_child, np.int32)
        self.word_starts = np.asarray(word_starts, bool)
        self.source_words = bool(source_words)
        self._known_words = None
        nodes = len(self.pieces)
        if len(self.first_child) != nodes + 1 or len(self.remaining) != nodes:
            raise ValueError(
                "Expected first_child of nodes + 1 entries and remaining of "
                f"nodes. Received: {nodes} pieces, {len(self.first_child)} "
                f"first_child, {len(self.remaining)} remaining"
            )
        if len(self.root_child) != len(self.word_starts):
            raise ValueError(
                "Expected root_child and word_starts over one vocabulary. "
                f"Received: {len(self.root_child)} and {len(self.word_starts)}"
            )

    def known_words(self):
        """Its `KnownWords` (made once: generators of one lexicon share it)."""
        if self._known_words is None:
            self._known_words = KnownWords(self)
        return self._known_words

    @property
    def vocab_size(self):
        return len(self.word_starts)

    def __len__(self):
        """The number of words."""
        return int(np.sum(self.remaining[1:-1] == 0))

    def __contains__(self, ids):
        """Whether the piece ids `ids` are one known word."""
        ids = [int(i) for i in ids]
        if not ids or not 0 <= ids[0] < self.vocab_size:
            return False
        node = self.root_child[ids[0]]
        for piece in ids[1:]:
            children = range(self.first_child[node], self.first_child[node + 1])
            node = next((n for n in children if self.pieces[n] == piece), 0)
        return node > 0 and self.remaining[node] == 0

    @classmethod
    def from_words(cls, words, word_starts, source_words=True):
        """A lexicon of `words`, each a sequence of piece ids.

        Args:
            words: iterable of int sequences (`▁known` + `words`, ...).
            word_starts: bool `(vocab,)` (`decoding.word_starts(tokenizer)`).
            source_words: bool, see the class.
        """
        words = {tuple(int(i) for i in word) for word in words if len(word)}
        prefixes = {word[:k] for word in words for k in range(1, len(word) + 1)}
        # Breadth first, and by pieces within a depth: a node's children are
        # consecutive, in the order of their parents.
        ordered = sorted(prefixes, key=lambda prefix: (len(prefix), prefix))
        node_of = {prefix: n for n, prefix in enumerate(ordered, start=1)}
        nodes = len(ordered) + 2  # between words, the prefixes, off the trie
        pieces = np.zeros(nodes, np.int32)
        parents = np.zeros(nodes, np.int32)
        depth = np.zeros(nodes, np.int32)
        remaining = np.full(nodes, NEVER, np.int32)
        remaining[0] = 0
        for prefix, n in node_of.items():
            pieces[n] = prefix[-1]
            parents[n] = node_of.get(prefix[:-1], 0)
            depth[n] = len(prefix)
            if prefix in words:
                remaining[n] = 0
        for n in range(nodes - 2, 0, -1):  # deepest first: children before parents
            if depth[n] > 1:
                parent = parents[n]
                remaining[parent] = min(remaining[parent], remaining[n] + 1)
        below_root = np.flatnonzero(depth > 1)
        first_child = np.searchsorted(parents[below_root], np.arange(nodes + 1))
        first_child = first_child + (below_root[0] if len(below_root) else nodes - 1)
        root_child = np.zeros(len(word_starts), np.int32)
        for n in np.flatnonzero(depth == 1):
            root_child[pieces[n]] = n
        return cls(
            pieces, first_child, remaining, root_child, word_starts, source_words
        )

    @classmethod
    def from_texts(cls, tokenizer, texts, source_words=True, batch_size=4096):
        """A lexicon of every word of `texts` as `tokenizer` cuts them.

        Args:
            tokenizer: the target `SubwordTokenizer`.
            texts: an iterable of strings or bytes (a corpus's sources and
                targets).
            source_words: bool, whether sources are in this vocabulary.
            batch_size: texts tokenized at once.
        """
        starts = vocabulary_word_starts(tokenizer)
        words = set()
        batch = []

        def add(batch):
            ids = tokenizer.tokenize(tf.constant(batch))
            flat = ids.flat_values.numpy()
            cuts = starts[flat]
            cuts[ids.row_splits.numpy()[:-1]] = True  # a text starts a word
            bounds = np.append(np.flatnonzero(cuts), len(flat))
            words.update(
                flat[begin:end].tobytes()
                for begin, end in zip(bounds[:-1], bounds[1:], strict=True)
            )

        for text in texts:
            batch.append(text)
            if len(batch) == batch_size:
                add(batch)
                batch = []
        if batch:
            add(batch)
        return cls.from_words(
            (np.frombuffer(word, np.int32) for word in words), starts, source_words
        )

    def save(self, directory):
        """Writes `lexicon.npz` into `directory`."""
        with atomic_write(pathlib.Path(directory) / LEXICON_FILE, "wb") as file:
            np.savez_compressed(
                file,
                pieces=self.pieces.astype(
                    np.uint16 if self.vocab_size < 2**16 else np.int32
                ),
                first_child=self.first_child,
                remaining=np.minimum(self.remaining, 255).astype(np.uint8),
                root_child=self.root_child,
                word_starts=self.word_starts,
                source_words=self.source_words,
            )

    @classmethod
    def load(cls, directory):
        """Reads a lexicon written by `save`; None where `directory` has none."""
        path = pathlib.Path(directory) / LEXICON_FILE
        if not path.is_file():
            return None
        with np.load(path) as arrays:
            remaining = arrays["remaining"].astype(np.int32)
            remaining[remaining == 255] = NEVER
            return cls(
                arrays["pieces"],
                arrays["first_child"],
                remaining,
                arrays["root_child"],
                arrays["word_starts"],
                bool(arrays["source_words"]),
            )
