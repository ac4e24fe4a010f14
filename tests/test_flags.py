"""The command line, the run settings and the task registry."""

import pathlib

import pytest

from s2s_keras.training import flags
from s2s_keras.training import tasks
from s2s_keras.training.config import ModelConfig


def parse(task_name, argv):
    return flags.parse(flags.recipe_parser("", tasks.get(task_name)), argv)


def test_flags_become_the_run_config_with_the_task_defaults():
    config = flags.run_config(
        parse("summarize", ["--units", "32", "--decoder", "beam"])
    )
    assert config.data.corpus == "debian_descriptions"
    assert config.data.vocab_size == 4000  # the task's default, not the built-in
    assert config.model.units == 32 and config.model.copy and config.model.coverage
    assert config.generation.method == "beam"  # --decoder is --method's older name
    assert config.generation.max_length == config.data.max_target_length == 24
    assert config.output == pathlib.Path("saved_models/summarize")
    assert config.flags["method"] == "beam" and config.flags["output"] == (
        "saved_models/summarize"
    )


def test_quick_shrinks_the_defaults_but_not_the_flags_given():
    config = flags.run_config(parse("translate", ["--quick", "--units", "48"]))
    assert config.training.epochs == 1 and config.model.embedding_dim == 32
    assert config.model.units == 48
    assert config.data.quick and config.data.limits() == {
        "train": 2000,
        "validation": 200,
        "test": 200,
    }


def test_a_step_budget_alone_turns_the_time_budget_off():
    assert (
        flags.run_config(parse("qa", ["--max-steps", "5"])).training.time_budget is None
    )
    both = flags.run_config(parse("qa", ["--max-steps", "5", "--time-budget", "3"]))
    assert both.training.time_budget == 3.0


def test_model_config_leaves_out_what_needs_attention():
    config = ModelConfig(copy=True, coverage=True, input_feeding=True)
    assert config.build_arguments()["copy"] and config.build_arguments()["coverage"]
    plain = config.build_arguments(attention=None)
    assert not (plain["copy"] or plain["coverage"] or plain["input_feeding"])
    assert config.system_name() == (
        "seq2seq + dot attention + copy + coverage",
        "dot-copy-coverage",
    )
    assert config.system_name(None) == ("seq2seq, no attention", "none")


def test_bad_settings_name_the_value_received():
    with pytest.raises(ValueError, match="attention.*Received: attention='bahdanau'"):
        ModelConfig(attention="bahdanau")
    with pytest.raises(ValueError, match="Received: task='summarise'"):
        tasks.get("summarise")


def test_every_task_has_its_recipe_and_scores_its_baseline():
    recipes = pathlib.Path(__file__).parents[1] / "recipes"
    pairs = {
        "train": [("a b c d", "a b"), ("c d e", "c d"), ("e f", "e f")],
        "test": [("x y z w", "x y"), ("p q", "q")],
    }
    for name, task in tasks.TASKS.items():
        assert (recipes / f"{name}.py").is_file()
        ((baseline, scores),) = task.baseline_scores(
            pairs["train"], pairs["test"]
        ).items()
        assert scores and all(0.0 <= value <= 100.0 for value in scores.values())
    assert (
        next(
            iter(tasks.get("summarize").baseline_scores(pairs["train"], pairs["test"]))
        )
        == "lead-2"
    )


def test_the_data_flags_reach_the_data_and_training_configs():
    config = flags.run_config(
        parse(
            "summarize",
            [
                "--data", "corpus/part-*.jsonl.gz", "--validation-pairs", "300",
                "--tokenizer-sample", "5000", "--shards", "8",
                "--data-service", "grpc://dispatcher:5050", "--steps-per-epoch", "100",
            ],
        )
    )  # fmt: skip
    data = config.data
    assert data.data == "corpus/part-*.jsonl.gz"  # a glob, expanded when prepared
    assert (data.tokenizer_sample, data.shards) == (5000, 8)
    assert data.data_service == "grpc://dispatcher:5050"
    assert data.limits() == {"validation": 300, "test": 1000}
    assert config.training.steps_per_epoch == 100
    with pytest.raises(SystemExit):
        parse("summarize", ["--shards", "0"])


def test_the_decoding_controls_reach_the_generation_config():
    config = flags.run_config(
        parse(
            "summarize",
            [
                "--method", "beam", "--no-repeat-ngram-size", "3", "--ngram-unit",
                "subword", "--min-length", "4", "--repetition-penalty", "1.2",
                "--coverage-penalty", "2", "--coverage-form", "summary",
                "--target-prefix", "a library",
            ],
        )
    )  # fmt: skip
    generation = config.generation
    assert (generation.no_repeat_ngram_size, generation.ngram_unit) == (3, "subword")
    assert (generation.min_length, generation.repetition_penalty) == (4, 1.2)
    assert (generation.coverage_penalty, generation.coverage_form) == (2.0, "summary")
    assert generation.target_prefix == "a library"
    assert "target_prefix" not in generation.settings()  # a per-call input
    for bad in (["--min-length", "-1"], ["--repetition-penalty", "0"],
                ["--coverage-form", "wu"], ["--ngram-unit", "char"]):  # fmt: skip
        with pytest.raises(SystemExit):
            parse("summarize", bad)


def test_precision_and_quantization_flags_reach_the_run_config():
    default = flags.run_config(parse("summarize", []))
    assert default.training.precision == "auto" and default.quantization is None
    config = flags.run_config(
        parse("summarize", ["--precision", "float32", "--quantize", "int8"])
    )
    assert config.training.precision == "float32" and config.quantization == "int8"
    for bad in (["--quantize", "int4"], ["--precision", "float64"]):
        with pytest.raises(SystemExit):
            parse("summarize", bad)


def test_ema_momentum_is_the_summarizers_default_and_0_turns_it_off():
    assert flags.run_config(parse("summarize", [])).training.ema_momentum == 0.995
    off = flags.run_config(parse("summarize", ["--ema-momentum", "0"]))
    assert off.training.ema_momentum is None
    assert flags.run_config(parse("translate", [])).training.ema_momentum is None


def test_lr_decay_reaches_the_run_config_and_bad_values_exit(capsys):
    assert flags.run_config(parse("summarize", [])).training.lr_decay is None
    config = flags.run_config(parse("summarize", ["--lr-decay", "0.5"]))
    assert config.training.lr_decay == 0.5
    with pytest.raises(SystemExit):
        parse("summarize", ["--lr-decay", "1.5"])
    with pytest.raises(SystemExit):  # the config's check, as a flag error
        parse("summarize", ["--lr-decay", "0"])
    assert "lr_decay must be between 0 and 1" in capsys.readouterr().err


@pytest.mark.parametrize(
    "flag, field, default, given, value, bad_values",
    [
        ("--average-epochs", "average_epochs", 1, "3", 3, ("0", "1.5", "x")),
        ("--label-smoothing", "label_smoothing", 0.0, "0.1", 0.1, ("1.5", "-0.1", "x")),
    ],
)
def test_a_training_flag_reaches_the_run_config_and_bad_values_exit(
    flag, field, default, given, value, bad_values
):
    training = flags.run_config(parse("summarize", [])).training
    assert getattr(training, field) == default
    config = flags.run_config(parse("summarize", [flag, given]))
    assert getattr(config.training, field) == value
    for bad in bad_values:
        with pytest.raises(SystemExit):
            parse("summarize", [flag, bad])


def test_keep_backup_reaches_the_training_config():
    assert not flags.run_config(parse("summarize", [])).training.keep_backup
    config = flags.run_config(parse("translate", ["--keep-backup"]))
    assert config.training.keep_backup is True
