"""A subword tokenizer that runs inside the TensorFlow graph.

Text becomes ids with a SentencePiece model (Kudo and Richardson, 2018) that
`tensorflow_text.SentencepieceTokenizer` runs as a graph op, so the same
tokenization works in eager code, in `tf.data`, in a `tf.function` and in an
exported SavedModel that takes raw strings.

- Unicode normalization (NFKC, and optional case folding) is part of the
  model, so it is applied wherever the model goes.
- The vocabulary is learned from the training text; its first four ids are
  the reserved `<PAD>`, `<UNK>`, `<BOS>`, `<EOS>` of `s2s_keras.special_tokens`.
- Byte fallback: a character the vocabulary does not hold (a rare CJK
  character, an emoji) is spelled as its UTF-8 bytes, so any text round-trips
  and `<UNK>` is almost never produced.
- Detokenization rejoins the pieces with the original spacing, and stops at
  the first `<EOS>`.

Training uses the `sentencepiece` package; running a trained tokenizer needs
only TensorFlow and `tensorflow_text`.
"""

import functools
import io
import pathlib

import tensorflow as tf
import tensorflow_text as tf_text

from s2s_keras import special_tokens
from s2s_keras.utils.atomic_files import atomic_write
from s2s_keras.utils.checks import check_bool
from s2s_keras.utils.checks import check_positive_int

MODEL_FILE = "tokenizer.model"
VOCABULARY_FILE = "vocabulary.txt"
BYTE_PIECES = 256


class SubwordTokenizer(tf.Module):
    """Text <-> subword ids, in graph, with the reserved ids of s2s_keras.

    Build one with `SubwordTokenizer.train(texts, vocab_size)` or
    `SubwordTokenizer.load(directory)`.

    Args:
        model_proto: bytes of a trained SentencePiece model whose ids 0-3 are
            `<PAD>`, `<UNK>`, `<BOS>`, `<EOS>`.
        name: module name.

    Example:

    >>> tokenizer = SubwordTokenizer.train(["a small example text"] * 50,
    ...                                    vocab_size=300)
    >>> ids = tokenizer.tokenize(["a small text"])  # ragged (batch, None)
    >>> tokenizer.detokenize(ids).numpy()
    array([b'a small text'], dtype=object)
    """

    def __init__(self, model_proto, name=None):
        super().__init__(name=name)
        self.model_proto = bytes(model_proto)
        try:
            sentencepiece = self._sentencepiece()
        except tf.errors.InternalError as error:
            raise ValueError(f"Not a SentencePiece model: {error.message}") from None
        self.vocab_size = int(sentencepiece.vocab_size())
        pieces = sentencepiece.id_to_string(tf.range(4)).numpy()
        reserved = tuple(piece.decode("utf-8") for piece in pieces)
        if reserved != special_tokens.RESERVED_TOKENS:
            raise ValueError(
                "The SentencePiece model's ids 0-3 must be "
                f"{special_tokens.RESERVED_TOKENS}. Received: {reserved}. "
                "Train it with SubwordTokenizer.train()."
            )

    def _sentencepiece(self, **options):
        """A tf-text SentencePiece op on this model (`options`: its sampling ones).

        The methods below make one inside each traced function, so the
        resource lives with the graph: an eager one is destroyed by
        `tf.random.set_seed` (which `keras.utils.set_random_seed` calls),
        after which it fails with "Resource ... does not exist".
        """
        return tf_text.SentencepieceTokenizer(
            model=self.model_proto, out_type=tf.int32, **options
        )

    @classmethod
    def train(
        cls,
        texts,
        vocab_size=8000,
        lowercase=False,
        max_sentences=200_000,
        seed=0,
        target_tags=(),
    ):
        """Learns a subword vocabulary from `texts`.

        Args:
            texts: an iterable of Python strings (or a `tf.data.Dataset` of
                scalar strings).
            vocab_size: int, number of ids, reserved and byte pieces
                included. Must leave room for them: at least 300.
            lowercase: bool, whether to case-fold text before splitting it.
            max_sentences: int, texts sampled for training, at most.
            seed: int, seed of that sample.
            target_tags: a multilingual model's target tags (`"<2de>"`
                ...; `special_tokens.target_tag`), each kept one piece.

        Returns:
            A `SubwordTokenizer`.
        """
        import sentencepiece

        vocab_size = check_positive_int("vocab_size", vocab_size)
        check_bool("lowercase", lowercase)
        minimum = len(special_tokens.RESERVED_TOKENS) + BYTE_PIECES + 40
        if vocab_size < minimum:
            raise ValueError(
                "Invalid value for argument vocab_size. Expected at least "
                f"{minimum} (4 reserved ids, 256 byte pieces and some "
                f"words). Received: vocab_size={vocab_size}"
            )
        for tag in target_tags:
            if not special_tokens.TARGET_TAG.fullmatch(tag):
                raise ValueError(
                    "Invalid value for argument target_tags. Expected tags such "
                    f"as '<2de>'. Received: {tag!r} in target_tags={target_tags!r}"
                )
        sentences = [text for text in _as_strings(texts) if text.strip()]
        if not sentences:
            raise ValueError("Cannot train a tokenizer on no text: texts is empty.")
        model = io.BytesIO()
        sentencepiece.set_random_generator_seed(seed)
        try:
            sentencepiece.SentencePieceTrainer.train(
                sentence_iterator=iter(sentences),
                model_writer=model,
                vocab_size=vocab_size,
                model_type="unigram",
                character_coverage=0.9995,
                byte_fallback=True,
                normalization_rule_name="nmt_nfkc_cf" if lowercase else "nmt_nfkc",
                pad_id=special_tokens.PAD_ID,
                unk_id=special_tokens.UNK_ID,
                bos_id=special_tokens.BOS_ID,
                eos_id=special_tokens.EOS_ID,
                pad_piece=special_tokens.PAD,
                unk_piece=special_tokens.UNK,
                bos_piece=special_tokens.BOS,
                eos_piece=special_tokens.EOS,
                input_sentence_size=max_sentences,
                shuffle_input_sentence=True,
                num_threads=2,
                hard_vocab_limit=False,
                max_sentence_length=16384,
                user_defined_symbols=sorted(target_tags),
                minloglevel=2,
            )
        except RuntimeError as error:
            raise ValueError(f"Could not train the tokenizer: {error}") from None
        return cls(model.getvalue())

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)], autograph=False)
    def tokenize(self, text):
        """Strings `(batch,)` -> ragged int32 ids `(batch, None)`, no BOS/EOS."""
        return self._sentencepiece().tokenize(text)

    def tokenize_sampled(self, text, alpha):
        """Strings `(batch,)` -> ragged ids, each text cut one of many ways.

        Subword regularization (Kudo, 2018): instead of the best
        segmentation, one drawn from all of them with probability
        proportional to their unigram likelihood to the power `alpha`
        (smaller: more varied cuts), anew at each call. For training
        batches only; the draws are not seeded. Call it inside a graph
        (a `tf.data` map, a `tf.function`).

        Args:
            text: string tensor `(batch,)`.
            alpha: float in (0, 1], the smoothing of the draw.
        """
        if not 0.0 < alpha <= 1.0:
            raise ValueError(
                "Invalid value for argument alpha. Expected a float in (0, 1]. "
                f"Received: alpha={alpha!r}"
            )
        return self._sentencepiece(nbest_size=-1, alpha=alpha).tokenize(text)

    def detokenize(self, ids):
        """Ids `(batch, T)`, dense or ragged -> strings `(batch,)`.

        Ids after the first `<EOS>` are dropped; `<PAD>` and `<BOS>` are
        skipped.
        """
        if isinstance(ids, tf.RaggedTensor):
            ids = ids.to_tensor(default_value=special_tokens.PAD_ID)
        return self._detokenize_dense(tf.cast(ids, tf.int32))

    @tf.function(
        input_signature=[tf.TensorSpec([None, None], tf.int32)], autograph=False
    )
    def _detokenize_dense(self, ids):
        eos_seen = tf.cumsum(
            tf.cast(tf.equal(ids, special_tokens.EOS_ID), tf.int32), axis=1
        )
        ids = tf.where(eos_seen > 0, special_tokens.PAD_ID, ids)  # (batch, T)
        ids = tf.RaggedTensor.from_tensor(ids, padding=special_tokens.PAD_ID)
        return self._sentencepiece().detokenize(ids)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.int32)], autograph=False)
    def id_to_token(self, ids):
        """Ids `(n,)` -> their pieces (`"▁word"` marks a word start)."""
        return self._sentencepiece().id_to_string(ids)

    @functools.cached_property
    def target_tags(self):
        """The target tags of a multilingual model's vocabulary (`("<2de>", ...)`).

        Empty for a vocabulary of one target language.
        """
        with tf.init_scope():  # eager, even when first asked inside a trace
            vocabulary = self.vocabulary()
        return tuple(
            piece for piece in vocabulary if special_tokens.TARGET_TAG.fullmatch(piece)
        )

    def vocabulary(self):
        """All pieces, as a list of Python strings indexed by id."""
        pieces = self.id_to_token(tf.range(self.vocab_size)).numpy()
        return [piece.decode("utf-8") for piece in pieces]

    def save(self, directory):
        """Writes `tokenizer.model` and a readable `vocabulary.txt`."""
        directory = pathlib.Path(directory)
        with atomic_write(directory / MODEL_FILE, "wb") as file:
            file.write(self.model_proto)
        with atomic_write(directory / VOCABULARY_FILE) as file:
            file.write("\n".join(self.vocabulary()) + "\n")

    @classmethod
    def load(cls, directory):
        """Reads a tokenizer written by `save`."""
        path = pathlib.Path(directory) / MODEL_FILE
        if not path.is_file():
            raise ValueError(
                f"No tokenizer in {directory}: {MODEL_FILE} not found. Save "
                "one with SubwordTokenizer.save(directory)."
            )
        return cls(path.read_bytes())


def _as_strings(texts):
    if isinstance(texts, tf.data.Dataset):
        texts = texts.as_numpy_iterator()
    for text in texts:
        yield text.decode("utf-8") if isinstance(text, bytes) else str(text)
