"""What each part of the export adds to a process's memory, on a shipped preset.

Loads a preset (`summarize_debian` by default) in a fresh process, then runs
one part of `write_export` and reports the resident memory's peak after
each step (sampled every 0.05 s from /proc/self/statm): the imports, the
loaded model, then the part:

- `saved_model`: the SavedModel with its signatures (`export_saved_model`);
- `tflite`: the TFLite file, greedy and beam search (`export_tflite`);
- `tflite-greedy`, `tflite-beam`: one of its two searches alone, frozen
  and converted (what the file's conversion does for each);
- `all`: the whole `write_export`.

    python bench/export_memory.py              # every part, each in its own process
    python bench/export_memory.py --parts tflite,tflite-greedy
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

PARTS = ("saved_model", "tflite", "tflite-greedy", "tflite-beam", "all")
PAGE = os.sysconf("SC_PAGE_SIZE")


class Peaks:
    """The peak resident memory (GB) of this process under each step's name."""

    def __init__(self):
        self.step, self.peaks = "imports", {}
        threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self):
        while True:
            with open("/proc/self/statm") as statm:
                rss = int(statm.read().split()[1]) * PAGE / 1e9
            self.peaks[self.step] = max(self.peaks.get(self.step, 0.0), rss)
            time.sleep(0.05)

    def next(self, step):
        time.sleep(0.2)  # a last sample of the step before
        self.step = step


def measure(part, preset):
    """In this process: the peaks of the imports, the load and `part`."""
    peaks = Peaks()
    import tensorflow as tf
    from tensorflow.python.framework import convert_to_constants

    from s2s_keras import presets
    from s2s_keras.decoding.beam import BeamSearch
    from s2s_keras.decoding.choosers import Greedy
    from s2s_keras.decoding.search import search
    from s2s_keras.export.directory import write_export
    from s2s_keras.export.saved_model import Seq2SeqServer
    from s2s_keras.export.saved_model import export_saved_model
    from s2s_keras.export.tflite import export_tflite

    peaks.next("load the preset")
    loaded = presets.load(preset)
    model, settings = loaded.model, loaded.generation.settings()
    max_source_length, max_length = loaded.max_source_length, settings["max_length"]
    folder = tempfile.mkdtemp()
    peaks.next(part)
    if part == "all":
        write_export(
            folder,
            model,
            loaded.tokenizer,
            max_source_length=max_source_length,
            **settings,
        )
    elif part == "saved_model":
        server = Seq2SeqServer(
            model, loaded.tokenizer, loaded.tokenizer, max_source_length, **settings
        )
        export_saved_model(server, f"{folder}/saved_model")
    elif part == "tflite":
        export_tflite(
            model,
            f"{folder}/model.tflite",
            max_source_length,
            max_length,
            beam_width=settings["beam_width"],
        )
    else:
        chooser = Greedy() if part == "tflite-greedy" else BeamSearch(4)
        encoder, decoder = model.get_layer("encoder"), model.get_layer("decoder")
        spec = tf.TensorSpec([1, max_source_length], tf.int32)

        @tf.function(input_signature=[spec])
        def one_search(source_ids):
            return search(encoder, decoder, source_ids, max_length, chooser)[
                "target_ids"
            ]

        frozen = convert_to_constants.convert_variables_to_constants_v2(
            one_search.get_concrete_function()
        )
        converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen])
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        converter.convert()
    peaks.next("done")
    return {step: round(peak, 2) for step, peak in peaks.peaks.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n\n".join(__doc__.split("\n\n")[1:]),
    )
    parser.add_argument("--preset", default="summarize_debian")
    parser.add_argument(
        "--parts", default=",".join(PARTS), help="comma-separated (default: all)"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure(args.child, args.preset)))
        return 0
    print(
        "| part | after the imports | after loading | peak of the part | added by it |"
    )
    print("|---|---|---|---|---|")
    for part in args.parts.split(","):
        if part not in PARTS:
            parser.error(f"unknown part {part!r}; choose from {', '.join(PARTS)}")
        completed = subprocess.run(
            [sys.executable, __file__, "--child", part, "--preset", args.preset],
            capture_output=True,
            text=True,
            check=True,
        )
        peaks = json.loads(completed.stdout.strip().splitlines()[-1])
        loaded = peaks["load the preset"]
        print(
            f"| {part} | {peaks['imports']:.2f} GB | {loaded:.2f} GB "
            f"| {peaks[part]:.2f} GB | +{peaks[part] - loaded:.2f} GB |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
