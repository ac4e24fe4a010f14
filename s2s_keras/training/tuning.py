"""Hyperparameter search with keras-tuner.

`Seq2SeqHyperModel` maps a keras-tuner `HyperParameters` onto
`build_seq2seq` and `compile`, and forwards everything given to `fit`
(callbacks included). Any keras-tuner tuner runs it, on one machine or in
keras-tuner's chief/worker mode (see docs/tuning.md).

    hypermodel = Seq2SeqHyperModel(vocab_size, vocab_size, fixed={"layers": 1})
    tuner = keras_tuner.RandomSearch(
        hypermodel,
        objective=keras_tuner.Objective("val_cross_entropy", "min"),
        max_trials=10,
        directory="tuning",
    )
    tuner.search(train, validation_data=validation, epochs=3)

Compare trials by `val_cross_entropy` (the targets' cross-entropy, a metric
of every compiled model), not `val_loss`: the loss of a model with coverage
also holds its weighted coverage loss, so it is not the same quantity for
every point of the space.
"""

import keras_tuner

from s2s_keras.layers.luong_attention import SCORES
from s2s_keras.models import build_seq2seq
from s2s_keras.models import compile_seq2seq

# name -> (kind, arguments) of the default search space.
DEFAULT_SPACE = {
    "embedding_dim": ("choice", [64, 128, 256]),
    "units": ("choice", [128, 256, 512]),
    "layers": ("int", {"min_value": 1, "max_value": 2}),
    "bidirectional": ("boolean", {}),
    "attention": ("choice", ["dot", "general", "concat", "none"]),
    "input_feeding": ("boolean", {}),
    "copy": ("boolean", {}),
    "coverage": ("boolean", {}),
    "coverage_loss_weight": ("choice", [0.5, 1.0, 2.0]),
    "dropout": ("float", {"min_value": 0.0, "max_value": 0.4, "step": 0.1}),
    "learning_rate": (
        "float",
        {"min_value": 1e-4, "max_value": 1e-2, "sampling": "log"},
    ),
    "batch_size": ("choice", [32, 64, 128]),
}


class Seq2SeqHyperModel(keras_tuner.HyperModel):
    """The seq2seq models of `build_seq2seq`, as a keras-tuner search space.

    Args:
        source_vocab_size: int, source vocabulary size.
        target_vocab_size: int, target vocabulary size.
        space: dict name -> list of choices, narrowing the default space
            (`DEFAULT_SPACE`) for those names.
        fixed: dict name -> value, for names that are not searched.
        make_batches: optional callable `batch_size -> (train, validation,
            steps_per_epoch)`; when given, `fit` searches `batch_size` too
            and trains on what it returns (tf.data batches cannot be
            re-batched after the fact), `steps_per_epoch` batches an epoch
            (None: a pass over `train`).
        tie_embeddings: bool, whether every trial's output layer goes
            through the target embedding (`build_seq2seq`); not searched.
        label_smoothing: float, every trial's label smoothing
            (`compile_seq2seq`); not searched.
        ema_momentum: optional float, every trial's moving average of the
            weights (`compile_seq2seq`; fit with `callbacks.averaged()`);
            not searched.
        name: optional name of the hypermodel.

    Example:

    >>> hypermodel = Seq2SeqHyperModel(1000, 1000, fixed={"attention": "dot"})
    >>> model = hypermodel.build(keras_tuner.HyperParameters())
    """

    def __init__(
        self,
        source_vocab_size,
        target_vocab_size,
        space=None,
        fixed=None,
        make_batches=None,
        tie_embeddings=False,
        label_smoothing=0.0,
        ema_momentum=None,
        name=None,
    ):
        super().__init__(name=name, tunable=True)
        self.source_vocab_size = source_vocab_size
        self.target_vocab_size = target_vocab_size
        self.space = dict(space or {})
        self.fixed = dict(fixed or {})
        self.make_batches = make_batches
        self.tie_embeddings = tie_embeddings
        self.label_smoothing = label_smoothing
        self.ema_momentum = ema_momentum
        unknown = sorted((set(self.space) | set(self.fixed)) - set(DEFAULT_SPACE))
        if unknown:
            raise ValueError(
                f"Unknown hyperparameters {unknown}. Known: {sorted(DEFAULT_SPACE)}."
            )

    def _value(self, hp, name):
        """The value of one hyperparameter: fixed, narrowed, or from the default space."""
        if name in self.fixed:
            return hp.Fixed(name, self.fixed[name])
        if name in self.space:
            return hp.Choice(name, list(self.space[name]))
        kind, arguments = DEFAULT_SPACE[name]
        if kind == "choice":
            return hp.Choice(name, arguments)
        if kind == "int":
            return hp.Int(name, **arguments)
        if kind == "float":
            return hp.Float(name, **arguments)
        return hp.Boolean(name)

    def build(self, hp):
        attention = self._value(hp, "attention")
        attention = None if attention == "none" else attention
        input_feeding = copy = coverage = False
        coverage_loss_weight = 1.0
        if attention is not None:
            # Asked only with attention; a value asked inside a nested scope
            # (the coverage weight) is found there again at the next trial.
            with hp.conditional_scope("attention", list(SCORES)):
                input_feeding = self._value(hp, "input_feeding")
                # Copying needs one vocabulary for both sides.
                if self.source_vocab_size == self.target_vocab_size:
                    copy = self._value(hp, "copy")
                coverage = self._value(hp, "coverage")
                if coverage:
                    with hp.conditional_scope("coverage", [True]):
                        coverage_loss_weight = self._value(hp, "coverage_loss_weight")
        units = self._value(hp, "units")
        bidirectional = self._value(hp, "bidirectional")
        model = build_seq2seq(
            self.source_vocab_size,
            self.target_vocab_size,
            embedding_dim=self._value(hp, "embedding_dim"),
            units=units + units % 2 if bidirectional else units,
            attention=attention,
            num_layers=self._value(hp, "layers"),
            bidirectional=bidirectional,
            input_feeding=bool(input_feeding),
            dropout=self._value(hp, "dropout"),
            copy=bool(copy),
            coverage=bool(coverage),
            coverage_loss_weight=float(coverage_loss_weight),
            tie_embeddings=self.tie_embeddings,
        )
        return compile_seq2seq(
            model,
            self._value(hp, "learning_rate"),
            self.label_smoothing,
            self.ema_momentum,
        )

    def fit(self, hp, model, *args, **kwargs):
        """`model.fit(*args, **kwargs)`, callbacks and all; batch size searched if it can be."""
        if self.make_batches is not None:
            train, validation, steps = self.make_batches(self._value(hp, "batch_size"))
            args = (train, *args[1:])
            kwargs["validation_data"] = validation
            kwargs["steps_per_epoch"] = steps
            kwargs["shuffle"] = False  # the batches shuffle themselves, seeded
        return model.fit(*args, **kwargs)
