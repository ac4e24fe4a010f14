"""Known words: the words a model has read, as a trie over its subword pieces.

A subword decoder can write words no one wrote: it may join `▁anqu` and
`arium`, or stop after `▁changelog` + `er`. `Lexicon` keeps every word of a
corpus (a word is a piece that starts one, `▁word`, and the pieces after
it, as SentencePiece cut it) in a trie; `KnownWords` walks that trie inside
the search loop, so that the `known_words_only` control (`controls.py`) can
ban, at every step, each piece that would leave the word being written
outside every known word and outside every word of the row's own source:

| the row is...                              | allowed next                                   |
|--------------------------------------------|------------------------------------------------|
| between words (at the start)               | the first piece of a known or source word; `<EOS>` |
| inside a word that is a known or source word | its continuations; a word start or `<EOS>`   |
| inside a word that is only a prefix of some | its continuations only                        |

and a piece is allowed only if the word it extends can still be finished in
the steps left before `max_length` (`remaining`: the fewest pieces that
finish a word from each trie node), so no output ends inside a word.

The trie is three arrays, numbered breadth first so that a node's children
are consecutive nodes:

    pieces[n]       the last piece of node n's word prefix
    first_child[n]  node n's children are first_child[n] .. first_child[n+1] - 1
    remaining[n]    pieces still needed to finish a word from n (0: n is a word)

Node 0 is "between words" (a word, no children); the last node is "off the
trie" (never a word, no children). The first pieces of words are found with
`root_child[piece]` instead (the root has a child for most of the vocabulary).

A source word counts only where sources and targets share one vocabulary
(`source_words`): then the row also keeps which source positions the word
being written matches so far (`matched`, one bool per source position).
Every op is a TFLite builtin.
"""

import pathlib

import numpy as np
import tensorflow as tf

from s2s_keras.decoding.controls import token_sets
from s2s_keras.decoding.controls import word_starts as vocabulary_word_starts
from s2s_keras.special_tokens import EOS_ID
from s2s_keras.special_tokens import PAD_ID
from s2s_keras.utils.atomic_files import atomic_write

LEXICON_FILE = "lexicon.npz"
NEVER = np.int32(1 << 20)  # the `remaining` of a node no word goes through
NARROW = 64  # children a node has at most to be walked by a gather (else a row)


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
        if getattr(self, "_known_words", None) is None:
            self._known_words = KnownWords(self)
        return self._known_words

    @property
    def vocab_size(self):
        return len(self.word_starts)

    @property
    def max_children(self):
        """The most children of a node below the root (the walk's gather width)."""
        return int(max(1, np.diff(self.first_child).max(initial=0)))

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


class KnownWords(tf.Module):
    """A `Lexicon`'s arrays in the graph, and its walk, row by row.

    The arrays are variables, so that a SavedModel holds them once for all
    its signatures (a TFLite conversion freezes them into constants).

    Args:
        lexicon: a `Lexicon`.
    """

    def __init__(self, lexicon, name=None):
        super().__init__(name=name)
        self.source_words = lexicon.source_words
        self.vocab_size = lexicon.vocab_size
        self.words = len(lexicon)
        arrays = {
            "pieces": lexicon.pieces,
            "first_child": lexicon.first_child,
            "remaining": lexicon.remaining,
            "root_child": lexicon.root_child,
            "word_starts": lexicon.word_starts,
            **_wide_nodes(lexicon),
        }
        degree = arrays["child_end"] - lexicon.first_child[:-1]
        self.max_children = int(max(1, degree.max(initial=0)))
        self.variables_by_name = {
            name: tf.Variable(array, trainable=False, name=name)
            for name, array in arrays.items()
        }

    def _array(self, name):
        # Read, not gathered from as a variable: a gather from a variable
        # inside the search loop does not freeze for TFLite.
        return tf.convert_to_tensor(self.variables_by_name[name])

    def start(self, source_ids):
        """The walk's state before any token, for rows of `source_ids` `(rows, S)`.

        Returns:
            `(node, matched, source_left)`: int32 `(rows,)` (0: between
            words), bool `(rows, S')` (no source position matched) and int32
            `(rows, S')`, how many pieces follow each source position in its
            word; S' is S where source words count, else 0.
        """
        rows = tf.shape(source_ids)[0]
        node = tf.zeros([rows], tf.int32)
        if not self.source_words:
            empty = tf.zeros([rows, 0], tf.int32)
            return node, tf.cast(empty, tf.bool), empty
        length = tf.shape(source_ids)[1]
        positions = tf.range(length)
        # A word ends before a piece that starts one, and before padding.
        bounds = tf.logical_or(self._starts(source_ids), source_ids == PAD_ID)
        after = positions[None, :] > positions[:, None]  # (S, S): j after i
        next_bound = tf.reduce_min(
            tf.where(
                tf.logical_and(after[None], bounds[:, None, :]), positions, length
            ),
            axis=-1,
        )  # (rows, S)
        source_left = next_bound - positions[None, :] - 1
        return node, tf.zeros([rows, length], tf.bool), source_left

    def allowed(self, node, matched, source_ids, source_left, steps_left):
        """bool `(rows, vocab)`: the tokens that keep every row's words known.

        Args:
            node, matched, source_left: the walk's state (`start`, `advance`).
            source_ids: int32 `(rows, S)`.
            steps_left: int32 scalar, tokens that may follow this one.
        """
        remaining, root_child = self._array("remaining"), self._array("root_child")
        children, valid = self._children(node)
        finishable = tf.gather(remaining, children) <= steps_left
        pieces = tf.gather(self._array("pieces"), children)
        continuing = token_sets(
            pieces, tf.logical_and(valid, finishable), self.vocab_size
        )
        wide = tf.gather(self._array("wide_remaining"), self._wide_row(node))
        continuing = tf.logical_or(continuing, wide <= steps_left)  # (rows, vocab)
        word_ends = tf.equal(tf.gather(remaining, node), 0)  # (rows,)
        first = tf.gather(remaining, root_child) <= steps_left  # (vocab,)
        first = tf.logical_and(first, root_child > 0)[None, :]
        if self.source_words:
            starts = self._starts(source_ids)
            fits = source_left <= steps_left
            following = tf.pad(source_ids[:, 1:], [[0, 0], [0, 1]])
            following_left = tf.pad(source_left[:, 1:], [[0, 0], [0, 1]])
            goes_on = tf.logical_and(matched, tf.logical_not(self._starts(following)))
            goes_on = tf.logical_and(goes_on, following != PAD_ID)
            goes_on = tf.logical_and(goes_on, following_left <= steps_left)
            continuing = tf.logical_or(
                continuing, token_sets(following, goes_on, self.vocab_size)
            )
            ends = tf.logical_and(matched, source_left == 0)
            word_ends = tf.logical_or(word_ends, tf.reduce_any(ends, axis=-1))
            source_first = tf.logical_and(
                starts, tf.logical_and(fits, source_ids != PAD_ID)
            )
            first = tf.logical_or(
                first, token_sets(source_ids, source_first, self.vocab_size)
            )
        eos = tf.one_hot(EOS_ID, self.vocab_size, on_value=True, off_value=False)
        first = tf.logical_or(first, eos[None, :])
        starting = tf.logical_and(word_ends[:, None], first)  # (rows, vocab)
        return tf.where(self._array("word_starts")[None, :], starting, continuing)

    def advance(self, node, matched, source_ids, tokens):
        """The walk's state after `tokens` int32 `(rows,)`: `(node, matched)`."""
        children, valid = self._children(node)
        same = tf.equal(tf.gather(self._array("pieces"), children), tokens[:, None])
        hits = tf.logical_and(valid, same)  # one child at most: siblings differ
        child = tf.reduce_sum(tf.where(hits, children, 0), axis=1)
        wide = tf.reshape(self._array("wide_children"), [-1])
        child += tf.gather(wide, self._wide_row(node) * self.vocab_size + tokens)
        off = tf.shape(self._array("pieces"))[0] - 1
        inside = tf.where(child > 0, child, off)
        starting = self._starts(tokens)  # (rows,)
        first = tf.gather(self._array("root_child"), tokens)
        first = tf.where(first > 0, first, off)
        node = tf.where(starting, first, inside)
        if self.source_words:
            same = tf.equal(source_ids, tokens[:, None])  # (rows, S)
            before = tf.pad(matched[:, :-1], [[0, 0], [1, 0]])  # matched at i - 1
            matched = tf.where(
                starting[:, None],
                tf.logical_and(same, self._starts(source_ids)),
                tf.logical_and(same, before),
            )
        return node, matched

    def _children(self, node):
        """Node ids `(rows, max_children)` below `node` `(rows,)`, and which are real.

        Only the children of nodes with few (`NARROW`); a wide node's are
        in `wide_children`/`wide_remaining`.
        """
        first = tf.gather(self._array("first_child"), node)
        last = tf.gather(self._array("child_end"), node)
        children = first[:, None] + tf.range(self.max_children)[None, :]
        valid = children < last[:, None]
        return tf.where(valid, children, 0), valid

    def _wide_row(self, node):
        return tf.gather(self._array("wide_row"), node)

    def _starts(self, ids):
        return tf.gather(self._array("word_starts"), ids)


def _wide_nodes(lexicon):
    """The nodes with more than `NARROW` children, as rows over the vocabulary.

    The walk gathers a node's children `max_children` at a time: one node
    with a thousand (`▁lib` + ...) would make every step a thousand wide. A
    wide node gets a row instead: `wide_children[row, piece]` is its child
    (0: none) and `wide_remaining[row, piece]` that child's `remaining`
    (`NEVER`: none). Row 0 is the narrow nodes' (empty); `child_end` ends a
    wide node's children where they start, so the gather skips them.
    """
    first_child = lexicon.first_child
    degree = np.diff(first_child)
    wide = np.flatnonzero(degree > NARROW)
    wide_row = np.zeros(len(degree), np.int32)
    wide_row[wide] = np.arange(1, len(wide) + 1)
    children = np.zeros((len(wide) + 1, lexicon.vocab_size), np.int32)
    left = np.full(children.shape, NEVER, np.int32)
    for row, node in enumerate(wide, start=1):
        below = np.arange(first_child[node], first_child[node + 1])
        children[row, lexicon.pieces[below]] = below
        left[row, lexicon.pieces[below]] = lexicon.remaining[below]
    child_end = np.where(degree > NARROW, first_child[:-1], first_child[1:])
    return {
        "child_end": child_end.astype(np.int32),
        "wide_row": wide_row,
        "wide_children": children,
        "wide_remaining": left,
    }
