"""`python -m s2s_keras.serve EXPORT_DIR`: an export served over TF Serving's REST API."""

import argparse
import pathlib
import re
import sys

DESCRIPTION = """\
Serve an export folder (a recipe's --output) over TF Serving's REST API, with
requests batched together as they arrive, and a page at / to try it.

    python -m s2s_keras.serve saved_models/summarize
    curl http://127.0.0.1:8501/v1/models/summarize/metadata
    curl -d '{"instances": ["A fast text editor ..."]}' \\
        http://127.0.0.1:8501/v1/models/summarize:predict
    curl -d '{"signature_name": "generate", "inputs": {"text": ["..."], "max_length": 12}}' \\
        http://127.0.0.1:8501/v1/models/summarize:predict

Every request's cost is bounded: a body over --max-body-kb, more rows than
--max-rows or more output tokens than --max-output-tokens is answered 413, one that
would bring the waiting work over --max-queued-tokens 429, a
setting out of its range 400 (the SavedModel
checks them: max_length at most the export's max_target_length), a full
queue 503, a request past --request-timeout-s 504. A request larger than
--max-batch-size runs in calls of that size, in turns with the others, so
one client never holds the model for more than one call.

Only the export's SavedModel and export.json are loaded. It listens on
127.0.0.1 unless --host says otherwise: put it behind a proxy with TLS and
authentication before opening it to a network.
"""


def port(text):
    """A TCP port number, 1 to 65535."""
    value = int(text)
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 1 to 65535, got {value}")
    return value


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m s2s_keras.serve",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # fmt: off
    parser.add_argument("export", metavar="EXPORT_DIR", help="an export folder (saved_model/ and export.json), or a preset's name or folder (python -m s2s_keras.presets list); a bare name that is a preset's is the preset, never a same-named folder here (write ./NAME for the folder)")
    parser.add_argument("--name", help="the model's name in the URLs (default: the folder's name)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on; 0.0.0.0 for every interface (default: %(default)s)")
    parser.add_argument("--port", type=port, default=8501, help="port, TF Serving's REST port by default (default: %(default)s)")
    parser.add_argument("--max-batch-size", type=int, default=32, help="rows in one call of the model at most; a larger request is split into calls of this size that take turns with the other requests (default: %(default)s)")
    parser.add_argument("--max-rows", type=int, default=256, help="rows in one request at most; more are answered 413 (default: %(default)s)")
    parser.add_argument("--max-output-tokens", type=int, default=8192, help="rows times the output length (max_length) one request may ask for; more are answered 413. A row asking for k times the export's max_length counts as k rows in a call of --max-batch-size (default: %(default)s)")
    parser.add_argument("--max-queued-tokens", type=int, default=8192, help="output tokens (rows x max_length) the waiting requests may ask for at most; a request that would pass it is answered 429 with Retry-After, unless nothing waits (default: %(default)s)")
    parser.add_argument("--request-timeout-s", type=float, default=30.0, help="seconds a request may take, waiting included; past them 504, and its rows not yet run are dropped (default: %(default)s)")
    parser.add_argument("--batch-timeout-ms", type=float, default=5.0, help="how long a request waits for others to run with (default: %(default)s)")
    parser.add_argument("--max-queued", type=int, default=256, help="requests waiting at most; more are answered 503 (default: %(default)s)")
    parser.add_argument("--max-body-kb", type=int, default=1024, help="largest request body, in KiB; larger ones are answered 413 (default: %(default)s)")
    parser.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"], help="uvicorn's log level (default: %(default)s)")
    parser.add_argument("--access-log", action=argparse.BooleanOptionalAction, default=False, help="log every request (default: %(default)s)")
    # fmt: on
    return parser


def default_name(directory):
    """The folder's name as a model name: other characters become `_`."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", pathlib.Path(directory).resolve().name)
    return name.lstrip("._-") or "model"


def exported(export_or_preset):
    """The export folder to serve: the folder given, or a preset's export.

    A preset (a name such as `summarize_debian`, or a preset folder) is
    served through its export (without TFLite), written once into the cache
    and reused by later starts (`presets/exports.py`). A bare name that is a
    preset's means the preset, as `presets.load` reads it: a same-named folder
    of the working directory is served only as `./NAME`.
    """
    from s2s_keras import presets
    from s2s_keras.presets.exports import cached_export

    path = pathlib.Path(export_or_preset)
    named_preset = presets.is_name(export_or_preset) and presets.is_preset(
        export_or_preset
    )
    if not named_preset and (path / "saved_model").is_dir():
        return path
    if not presets.is_preset(export_or_preset):
        raise ValueError(
            f"No SavedModel in {path} ({path / 'saved_model'} not found) and no preset "
            f"of that name (presets: {', '.join(presets.list()) or 'none'}). Pass an "
            "export folder (the --output of a recipe) or a preset's name."
        )
    return cached_export(export_or_preset, log=lambda line: print(line, flush=True))


def main(argv=None):
    args = build_parser().parse_args(argv)
    app, servable, name = _app(args)
    servable.warm_up()
    base = f"http://{args.host}:{args.port}"
    print(
        f"Serving {name} (signatures: {', '.join(sorted(servable.signatures))})\n"
        f"  page:    {base}/\n"
        f"  predict: POST {base}/v1/models/{name}:predict",
        flush=True,
    )
    import uvicorn

    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=args.access_log,
    )


def _app(args):
    """The app, its `Servable` and the model's name; bad input exits 2."""
    from s2s_keras.serve.app import create_app
    from s2s_keras.serve.servable import Servable

    try:
        servable = Servable(exported(args.export))
        name = args.name or default_name(args.export)
        app = create_app(
            servable,
            name,
            max_batch_size=args.max_batch_size,
            batch_timeout_ms=args.batch_timeout_ms,
            max_queued=args.max_queued,
            max_body_bytes=args.max_body_kb * 1024,
            max_rows=args.max_rows,
            max_output_tokens=args.max_output_tokens,
            max_queued_tokens=args.max_queued_tokens,
            request_timeout_s=args.request_timeout_s,
        )
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    return app, servable, name


if __name__ == "__main__":
    main()
