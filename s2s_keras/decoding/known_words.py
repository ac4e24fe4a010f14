"""The `known_words_only` control's walk: a `Lexicon`'s trie, row by row, in graph.

At every step of the search loop, `KnownWords.allowed` says which pieces
keep the word each row is writing a known word (`lexicon.py`) or a word of
the row's own source, and `advance` follows the pieces written:

| the row is...                                | allowed next                                       |
|----------------------------------------------|----------------------------------------------------|
| between words (at the start)                 | the first piece of a known or source word; `<EOS>` |
| inside a word that is a known or source word | its continuations; a word start or `<EOS>`         |
| inside a word that is only a prefix of some  | its continuations only                             |

A piece is allowed only if the word it extends can still be finished in
the steps left before `max_length` (the trie's `remaining`), so no output
ends inside a word.

A row's state is its trie node (int32 `(rows,)`) and, where sources share
the target vocabulary (`source_words`), which source positions the word
being written matches so far (`matched`, bool `(rows, S)`).

The arrays are held small, as a TFLite file holds them: pieces in int16,
`remaining` in int8 (127: as far as it counts). To allow, a node's children
are gathered `max_children` at a time; the few nodes with more than
`NARROW` children (`▁lib` + ...) get a row over the vocabulary instead
(`wide_remaining[row, piece]`: the child's `remaining`, -1 where the piece
is no child). To advance, a binary search finds the piece written among
its node's children (they are ordered by piece). Every op is a TFLite
builtin.
"""

import numpy as np
import tensorflow as tf

from s2s_keras.decoding.controls import token_sets
from s2s_keras.special_tokens import EOS_ID
from s2s_keras.special_tokens import PAD_ID

NARROW = 64  # children a node has at most to be walked by a gather (else a row)
FAR = 127  # int8 `remaining`: this many pieces or more (never within reach)


class KnownWords(tf.Module):
    """A `Lexicon`'s arrays in the graph, and its walk (module docstring).

    The arrays are variables, so that a SavedModel holds them once for all
    its signatures (a TFLite conversion freezes them into constants).

    Args:
        lexicon: a `Lexicon`.
    """

    def __init__(self, lexicon, name=None):
        super().__init__(name=name)
        self.source_words = lexicon.source_words
        self.vocab_size = lexicon.vocab_size
        degree = np.diff(lexicon.first_child)
        wide = np.flatnonzero(degree > NARROW).astype(np.int32)
        self.max_children = int(max(1, degree[degree <= NARROW].max(initial=0)))
        # Halvings that find a piece among the most children a node has.
        self.search_steps = int(degree.max(initial=0)).bit_length()
        piece_type = (
            np.int16 if lexicon.vocab_size <= np.iinfo(np.int16).max else np.int32
        )
        arrays = {
            "pieces": lexicon.pieces.astype(piece_type),
            "first_child": lexicon.first_child,
            "remaining": np.minimum(lexicon.remaining, FAR).astype(np.int8),
            "root_child": lexicon.root_child,
            "word_starts": lexicon.word_starts,
            "wide_nodes": wide,
            "wide_remaining": _wide_rows(lexicon, wide),
        }
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
        steps_left = tf.minimum(steps_left, FAR - 1)
        remaining = self._array("remaining")
        wide_row = self._wide_row(node)
        children, valid = self._children(node, wide_row)
        finishable = self._remaining(remaining, children) <= steps_left
        # Every piece a row may write, in one scatter: its node's children
        # (continuations) and, with source words, the next piece of each
        # source word it matches (continuations) and the source's first
        # pieces (word starts, allowed below only where a word ends).
        ids = [tf.cast(tf.gather(self._array("pieces"), children), tf.int32)]
        chosen = [tf.logical_and(valid, finishable)]
        word_ends = tf.equal(self._remaining(remaining, node), 0)  # (rows,)
        if self.source_words:
            following = tf.pad(source_ids[:, 1:], [[0, 0], [0, 1]])
            following_left = tf.pad(source_left[:, 1:], [[0, 0], [0, 1]])
            goes_on = tf.logical_and(matched, tf.logical_not(self._starts(following)))
            goes_on = tf.logical_and(goes_on, following != PAD_ID)
            ids.append(following)
            chosen.append(tf.logical_and(goes_on, following_left <= steps_left))
            fits = tf.logical_and(source_left <= steps_left, source_ids != PAD_ID)
            ids.append(source_ids)
            chosen.append(tf.logical_and(self._starts(source_ids), fits))
            ends = tf.logical_and(matched, source_left == 0)
            word_ends = tf.logical_or(word_ends, tf.reduce_any(ends, axis=-1))
        pieces = token_sets(
            tf.concat(ids, axis=1), tf.concat(chosen, axis=1), self.vocab_size
        )
        # (rows, vocab), -1 where no child; compared in int32: TFLite has
        # no int8 comparisons.
        wide = tf.gather(self._array("wide_remaining"), wide_row)
        wide = tf.cast(wide, tf.int32)
        continuing = tf.logical_or(
            pieces, tf.logical_and(wide >= 0, wide <= steps_left)
        )
        root_child = self._array("root_child")
        first = self._remaining(remaining, root_child) <= steps_left  # (vocab,)
        first = tf.logical_and(first, root_child > 0)
        eos = tf.one_hot(EOS_ID, self.vocab_size, on_value=True, off_value=False)
        first = tf.logical_or(first, eos)[None, :]
        starting = tf.logical_and(word_ends[:, None], tf.logical_or(first, pieces))
        return tf.where(self._array("word_starts")[None, :], starting, continuing)

    def advance(self, node, matched, source_ids, tokens):
        """The walk's state after `tokens` int32 `(rows,)`: `(node, matched)`."""
        first_child, pieces = self._array("first_child"), self._array("pieces")
        # A node's children are consecutive and ordered by piece: a binary
        # search finds the token among them, gathers of `rows` only.
        low = tf.gather(first_child, node)
        end = tf.gather(first_child, node + 1)
        high = end
        for _ in range(self.search_steps):
            middle = (low + high) // 2
            before = tf.cast(tf.gather(pieces, tf.minimum(middle, end - 1)), tf.int32)
            before = tf.logical_and(middle < high, before < tokens)
            low = tf.where(before, middle + 1, low)
            high = tf.where(before, high, tf.minimum(middle, high))
        last = tf.shape(pieces)[0] - 1
        found = tf.cast(tf.gather(pieces, tf.minimum(low, last)), tf.int32)
        off = last  # the last node: off the trie
        inside = tf.where(tf.logical_and(low < end, found == tokens), low, off)
        starting = self._starts(tokens)  # (rows,)
        first = tf.gather(self._array("root_child"), tokens)
        first = tf.where(first > 0, first, off)
        node = tf.where(starting, first, inside)
        if self.source_words:
            same = tf.equal(source_ids, tokens[:, None])  # (rows, S)
            previous = tf.pad(matched[:, :-1], [[0, 0], [1, 0]])  # matched at i - 1
            matched = tf.where(
                starting[:, None],
                tf.logical_and(same, self._starts(source_ids)),
                tf.logical_and(same, previous),
            )
        return node, matched

    def _children(self, node, wide_row):
        """Node ids `(rows, max_children)` below `node` `(rows,)`, and which are real.

        A wide node's children (`wide_row` > 0) are left out: its row of
        `wide_remaining` has them.
        """
        first = tf.gather(self._array("first_child"), node)
        last = tf.gather(self._array("first_child"), node + 1)
        last = tf.where(wide_row > 0, first, last)
        children = first[:, None] + tf.range(self.max_children)[None, :]
        valid = children < last[:, None]
        return tf.where(valid, children, 0), valid

    def _wide_row(self, node):
        """int32 `(rows,)`: the row of each wide node, 0 for the others."""
        wide = self._array("wide_nodes")
        rows = tf.range(1, tf.shape(wide)[0] + 1)
        return tf.reduce_sum(tf.where(node[:, None] == wide[None, :], rows, 0), 1)

    def _remaining(self, remaining, nodes):
        return tf.cast(tf.gather(remaining, nodes), tf.int32)

    def _starts(self, ids):
        return tf.gather(self._array("word_starts"), ids)


def _wide_rows(lexicon, wide):
    """int8 `(1 + len(wide), vocab)`: row r + 1 holds the `remaining` of the
    children of node `wide[r]` by piece, -1 where a piece is none; row 0 is
    the narrow nodes' (all -1)."""
    rows = np.full((len(wide) + 1, lexicon.vocab_size), -1, np.int8)
    for row, node in enumerate(wide, start=1):
        below = np.arange(lexicon.first_child[node], lexicon.first_child[node + 1])
        rows[row, lexicon.pieces[below]] = np.minimum(lexicon.remaining[below], FAR)
    return rows
