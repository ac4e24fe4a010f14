"""How often the TFLite file's greedy output equals TensorFlow's, and where not, why.

Builds an untrained model with large random weights (confident, varied
outputs, as in the export tests), converts it with `convert_to_tflite`, and
decodes random sources with TensorFlow (`generate`) and with the TFLite
file, run by `ai_edge_litert` with XNNPACK (the default) and without any
delegate. Where the outputs part, it prints the gap between the two tokens'
logits at the first differing step, in the model's own teacher-forced pass:
a gap within float rounding (< 1e-3) means a tie that the two runtimes'
kernels, which sum in different orders, broke differently.

    python bench/tflite_parity.py                   # 300 sources a model
    python bench/tflite_parity.py --inputs 50
"""

import argparse
import os
import platform

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from ai_edge_litert.interpreter import Interpreter  # noqa: E402
from ai_edge_litert.interpreter import OpResolverType  # noqa: E402

from s2s_keras import build_seq2seq  # noqa: E402
from s2s_keras.decoding import generate  # noqa: E402
from s2s_keras.export import convert_to_tflite  # noqa: E402
from s2s_keras.special_tokens import BOS_ID  # noqa: E402

VOCAB, MAX_SOURCE, MAX_LENGTH = 320, 16, 10
FLAVOURS = {"attention": {}, "copy + coverage": {"copy": True, "coverage": True}}
RUNTIMES = {
    "XNNPACK": OpResolverType.AUTO,
    "no delegate": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
}


def processor():
    """The CPU's name and the vector extensions that pick the kernels."""
    try:
        info = open("/proc/cpuinfo", encoding="utf-8").read()
    except OSError:
        return platform.machine()
    name = next(
        (
            line.split(":", 1)[1].strip()
            for line in info.splitlines()
            if "model name" in line
        ),
        platform.machine(),
    )
    flags = set(
        next(
            (line for line in info.splitlines() if line.startswith("flags")), ""
        ).split()
    )
    wanted = ["avx2", "fma", "avx512f", "amx_tile"]
    return f"{name}, {platform.machine()}; " + ", ".join(
        f"{flag} {'yes' if flag in flags else 'no'}" for flag in wanted
    )


def first_difference_gap(model, source_ids, served, on_device):
    step = int(np.argmax(on_device != served))
    target_ids = np.array([[BOS_ID, *served[:step]]], "int32")
    logits = np.asarray(model({"source_ids": source_ids, "target_ids": target_ids}))
    return abs(logits[0, step, served[step]] - logits[0, step, on_device[step]])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inputs", type=int, default=300, help="sources a model")
    args = parser.parse_args(argv)
    print(processor())
    print(
        "| model | runtime | identical | parted (logit gap at the first difference) |"
    )
    print("|---|---|---|---|")
    for name, options in FLAVOURS.items():
        model = build_seq2seq(VOCAB, VOCAB, 8, 16, **options)
        rng = np.random.default_rng(0)
        for weight in model.weights:
            weight.assign(rng.normal(size=weight.shape).astype("float32") * 0.5)
        flatbuffer = convert_to_tflite(model, MAX_SOURCE, MAX_LENGTH)
        runners = {
            runtime: Interpreter(
                model_content=flatbuffer, experimental_op_resolver_type=resolver
            ).get_signature_runner("serving_default")
            for runtime, resolver in RUNTIMES.items()
        }
        sources = [
            rng.integers(4, VOCAB, (1, rng.integers(1, MAX_SOURCE + 1))).astype("int32")
            for _ in range(args.inputs)
        ]
        served = []
        for source_ids in sources:
            ids = np.asarray(
                generate(model, source_ids, max_length=MAX_LENGTH)["target_ids"]
            )
            served.append(np.pad(ids[0], [0, MAX_LENGTH - ids.shape[1]]))
        for runtime, runner in runners.items():
            identical, gaps = 0, []
            for source_ids, expected in zip(sources, served, strict=True):
                padded = np.pad(
                    source_ids, [[0, 0], [0, MAX_SOURCE - source_ids.shape[1]]]
                )
                on_device = runner(source_ids=padded)["target_ids"][0]
                if np.array_equal(on_device, expected):
                    identical += 1
                else:
                    gaps.append(
                        first_difference_gap(model, source_ids, expected, on_device)
                    )
            parted = ", ".join(f"{gap:.1e}" for gap in sorted(gaps)) or "none"
            print(f"| {name} | {runtime} | {identical} of {args.inputs} | {parted} |")


if __name__ == "__main__":
    main()
