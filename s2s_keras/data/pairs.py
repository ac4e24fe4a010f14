"""A run's pairs: its three splits as streams, its tokenizer, and its batches.

    splits = open_splits(DataConfig(corpus="debian_descriptions", quick=True))
    tokenizer = tokenizer_for("out/tokenizer", splits.sample(), vocab_size=4000)
    steps = splits.steps_per_epoch(batch_size=64)
    train = splits.batches("train", tokenizer, batch_size=64, repeat=True)
    validation = splits.batches("validation", tokenizer, batch_size=64)
    model.fit(train, steps_per_epoch=steps, validation_data=validation)
    test_pairs = splits.take("test")

Nothing here holds a split in memory, nor passes over one before training:
built-in corpora and `--data` files are prepared once into shards
(`data/shards.py`) and streamed; `--tfds` sets are TFDS's own streams. What
is held is bounded: the tokenizer's sample, the validation pairs (cached
once tokenized) and the test pairs, each cut to the config's limits.
"""

import math
from functools import partial

import tensorflow as tf

from s2s_keras.data.batching import make_batches
from s2s_keras.data.corpora import load_corpus
from s2s_keras.data.corpora import prepare_corpus
from s2s_keras.data.files import prepare_files
from s2s_keras.data.languages import language_counts
from s2s_keras.data.languages import resampled_by_language
from s2s_keras.data.languages import temperature_weights
from s2s_keras.data.service import through_service
from s2s_keras.data.shards import read_manifest
from s2s_keras.data.shards import read_pairs
from s2s_keras.data.shards import split_files
from s2s_keras.data.shards import split_records
from s2s_keras.data.splits import SPLITS
from s2s_keras.data.tfds_sets import load_tfds
from s2s_keras.data.tfds_sets import tfds_size
from s2s_keras.special_tokens import leading_target_tag
from s2s_keras.text import SubwordTokenizer
from s2s_keras.utils.checks import check_choice
from s2s_keras.utils.console import log
from s2s_keras.utils.memory import release_freed_memory


class Splits:
    """The train, validation and test streams of a `DataConfig`.

    Args:
        config: a `DataConfig`: where the pairs come from, and how many.
        workers: int, machines training together (they share the train split
            by shard file; see `data.shards.read_pairs`).
        worker_index: int, this machine's place among them (0 is the chief).

    Attributes:
        sizes: dict split -> the pairs its stream gives (after the config's
            limits); where the source does not say, the limit (at most that
            many) or None.

    Raises:
        ValueError: a split is empty, or the data cannot be read.
    """

    def __init__(self, config, workers=1, worker_index=0):
        self.config = config
        self.workers = workers
        self.worker_index = worker_index
        self.limits = config.limits()
        self._files, self._records, hint = {}, {}, ""
        self._frozen_test = None
        if config.test_version is not None:
            if config.data or config.tfds or not config.corpus:
                raise ValueError(
                    "A frozen test split is a built-in corpus's: --test-version "
                    "takes no --data or --tfds. Received: "
                    f"test_version={config.test_version!r}, data={config.data!r}, "
                    f"tfds={config.tfds!r}"
                )
            self._frozen_test = load_corpus(
                config.corpus,
                "test",
                version=config.test_version,
                **config.corpus_options,
            )
        if config.tfds:
            found = {split: tfds_size(config.tfds, split) for split in SPLITS}
        else:
            if config.data:
                folder = prepare_files(
                    config.data,
                    config.source_field,
                    config.target_field,
                    config.context_field,
                    config.shards,
                    log=log,
                )
            else:
                folder = prepare_corpus(
                    config.corpus,
                    log=log,
                    shards=config.shards,
                    **config.corpus_options,
                )
            manifest = read_manifest(folder)
            found = {split: manifest["splits"][split]["pairs"] for split in SPLITS}
            if self._frozen_test is not None:
                found["test"] = int(self._frozen_test.cardinality())
            self._files = {split: split_files(folder, split) for split in SPLITS}
            self._records = {split: split_records(folder, split) for split in SPLITS}
            if config.data and manifest.get("groups") is not None:
                hint = (
                    f" {config.data} is split 90/5/5 by a hash of each "
                    f"{manifest['split_by']}, and holds {manifest['groups']} "
                    "distinct one(s): rows that share one stay together."
                )
        self.sizes = {}
        for split in SPLITS:
            size, limit = found[split], self.limits.get(split)
            if size == 0:
                raise ValueError(
                    f"The {split} split is empty: more data is needed.{hint}"
                )
            self.sizes[split] = limit if size is None else min(size, limit or size)
        log(
            "Pairs: "
            + ", ".join(
                f"{split} {'?' if size is None else size}"
                for split, size in self.sizes.items()
            )
            + (
                f" (train in {len(self._files['train'])} shard files)"
                if self._files
                else ""
            )
        )

    def stream(self, split, seed=None):
        """The split's `(source, target)` strings, cut to its limit.

        The train split is this worker's part of it when several train
        (unless the tf.data service shares it out). With a `seed`, its
        shard files are read in an order drawn anew each pass (epoch) from
        the seed; without, in stored order.
        """
        if split == "train" and not self.config.data_service:
            return self._read(split, self.workers, self.worker_index, seed)
        return self._read(split, seed=seed)

    def texts(self, split):
        """Every source and target of a split (all of it, whatever the worker), as bytes."""
        for source, target in self._read(split).as_numpy_iterator():
            yield source
            yield target

    def take(self, split, count=None):
        """The first `count` pairs of a split (default: its limit), as Python strings."""
        pairs = self._read(split)
        if count is not None:
            pairs = pairs.take(count)
        return [
            (source.decode("utf-8"), target.decode("utf-8"))
            for source, target in pairs.as_numpy_iterator()
        ]

    def sample(self, count=None):
        """A bounded sample of the train split: its first `count` pairs.

        Prepared splits are stored shuffled (seeded), so their first pairs
        are a fair sample; TFDS shuffles its sets when it prepares them.

        Args:
            count: int, pairs at most; defaults to the config's
                `tokenizer_sample`.
        """
        return self.take("train", count or self.config.tokenizer_sample)

    def _read(self, split, workers=1, index=0, seed=None):
        check_choice("split", split, SPLITS)
        config = self.config
        if config.tfds:
            pairs = load_tfds(
                config.tfds,
                split,
                None if config.source_field == "source" else config.source_field,
                None if config.target_field == "target" else config.target_field,
                workers=workers,
                index=index,
            )
        elif split == "test" and self._frozen_test is not None:
            pairs = self._frozen_test
        else:
            pairs = read_pairs(
                self._files[split], workers, index, seed, self._records[split]
            )
        limit = self.limits.get(split)
        return pairs if limit is None else pairs.take(math.ceil(limit / workers))

    def steps_per_epoch(self, batch_size):
        """Batches in a pass over the train split, or None where its size is unknown."""
        size = self.sizes["train"]
        return None if size is None else max(1, math.ceil(size / batch_size))

    def batches(
        self,
        split,
        tokenizer,
        batch_size=64,
        max_source_length=96,
        max_target_length=24,
        repeat=False,
        seed=0,
    ):
        """Bucketed id batches of a split, ready for `fit` on any strategy.

        The train split is shuffled (a bounded buffer, seeded), with
        `repeat` endlessly (then give `fit` a `steps_per_epoch`), read by
        each worker from its own shard files and, with the config's
        `data_service`, prepared on tf.data service workers, and with its
        `subword_sampling`, cut anew at each pass; with its
        `language_temperature` above 1, its languages drawn in the shares
        that temperature gives (`data/languages.py`; the languages are
        counted first, in a pass over the split's sources). The validation
        and test splits are read once, kept tokenized in memory (they are
        bounded) and counted, and split between workers element by element.

        Args:
            split: `"train"`, `"validation"` or `"test"`.
            tokenizer: the `SubwordTokenizer`.
            batch_size: int, pairs per (global) batch.
            max_source_length: int, source ids kept per pair.
            max_target_length: int, length of `<BOS>` + target ids, at most.
            repeat: bool, whether the train stream repeats (see above).
            seed: int, the shuffle seed.

        Returns:
            A `tf.data.Dataset` of `({"source_ids", "target_ids"}, labels)`
            batches (see `make_batches`).
        """
        train = split == "train"
        service = self.config.data_service if train else None
        dataset = make_batches(
            self.training_pairs(seed) if train else self.stream(split),
            tokenizer,
            batch_size=batch_size,
            max_source_length=max_source_length,
            max_target_length=max_target_length,
            shuffle=train,
            seed=seed,
            cache=not train,
            repeat=train and repeat,
            before_batching=service and partial(through_service, address=service),
            subword_sampling=self.config.subword_sampling if train else 0.0,
        )
        if not train:  # bounded and cached: counted, so `fit` knows its length
            count = int(dataset.reduce(0, lambda count, _: count + 1))
            dataset = dataset.apply(tf.data.experimental.assert_cardinality(count))
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = (
            tf.data.experimental.AutoShardPolicy.OFF  # sharded above, by file
            if train
            else tf.data.experimental.AutoShardPolicy.DATA
        )
        return dataset.with_options(options)

    def training_pairs(self, seed=0):
        """The train split's `(source, target)` strings as training reads them.

        This worker's part, its shard files read in an order drawn from
        `seed` at each pass (`stream`); with the config's
        `language_temperature` above 1, its languages drawn in the shares
        that temperature gives (`data/languages.py`), after a pass that
        counts them (the shares are logged).
        """
        pairs = self.stream("train", seed=seed)
        temperature = self.config.language_temperature
        if temperature == 1.0:
            return pairs
        counts = language_counts(self.stream("train"))
        weights = temperature_weights(counts, temperature)
        total = sum(counts.values())
        log(
            f"Languages drawn at temperature {temperature:g}: "
            + ", ".join(
                f"{tag} {weights[tag]:.0%} ({count / total:.0%} of the pairs)"
                for tag, count in counts.items()
            )
        )
        return resampled_by_language(pairs, counts, weights, seed=seed)


def open_splits(config, workers=1, worker_index=0):
    """The `Splits` of a `DataConfig` (preparing its files once, if needed)."""
    return Splits(config, workers, worker_index)


def tokenizer_for(folder, train_pairs, vocab_size, seed=0):
    """The tokenizer saved in `folder`, or a new one learned from `train_pairs`.

    Reusing the saved one keeps ids stable when a run resumes from its backup.

    Args:
        folder: where the tokenizer is (or will be) saved.
        train_pairs: list of `(source, target)` strings to learn from: a
            bounded sample (`Splits.sample`), so the cost does not grow
            with the corpus.
        vocab_size: int, subword vocabulary size.
        seed: int, the learning seed.
    """
    if (folder / "tokenizer.model").is_file():
        log(f"Using the tokenizer in {folder}")
        return SubwordTokenizer.load(folder)
    texts = [text for pair in train_pairs for text in pair]
    # Sources that start with a target tag (<2de> ...): each tag one piece.
    tags = {leading_target_tag(source) for source, _ in train_pairs} - {None}
    log(
        f"Learning a {vocab_size}-piece subword vocabulary from {len(texts):,} "
        f"sentences ({len(train_pairs):,} training pairs"
        + (f"; target tags {' '.join(sorted(tags))}" if tags else "")
        + ") ..."
    )
    tokenizer = SubwordTokenizer.train(
        texts, vocab_size=vocab_size, seed=seed, target_tags=sorted(tags)
    )
    tokenizer.save(folder)
    release_freed_memory()  # SentencePiece's training freed ~0.1 GB, kept by malloc
    return tokenizer
