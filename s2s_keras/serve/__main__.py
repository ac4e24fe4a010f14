"""`python -m s2s_keras.serve PATH`: exports served over TF Serving's REST and gRPC APIs."""

import argparse
import sys

DESCRIPTION = """\
Serve an export folder (a recipe's --output), a preset, or a base folder of
numbered export folders (versions: 1/, 2/, ...) over TF Serving's REST API
(and its gRPC API with --grpc-port), with requests batched together as they
arrive, Prometheus metrics, and a page at / to try it.

    python -m s2s_keras.serve saved_models/summarize
    python -m s2s_keras.serve models/summarize --versions latest:2 --labels stable=1,canary=2
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
    parser.add_argument("export", metavar="PATH", nargs="?", help="an export folder (saved_model/ and export.json); a preset's name or folder (python -m s2s_keras.presets list), a bare name that is a preset's being the preset, never a same-named folder here (write ./NAME for the folder); or a base folder whose numbered subfolders are export folders, the model's versions, looked at every --poll-seconds: a new one is loaded in the background and swapped in, a removed one unloaded once its requests are answered")
    parser.add_argument("--model-config-file", metavar="FILE", help="serve several models instead of PATH: TF Serving's ModelServerConfig in text format, a config (name, base_path: a PATH as above, model_version_policy, version_labels) a model; see docs/serving.md")
    parser.add_argument("--versions", default="latest", help="which versions of a base folder are served: latest, latest:N (the newest N), all, or numbers such as 1,3 (default: %(default)s)")
    parser.add_argument("--labels", default="", help="version labels, LABEL=VERSION pairs such as stable=1,canary=2, served at /v1/models/NAME/labels/LABEL (default: none)")
    parser.add_argument("--poll-seconds", type=float, default=2.0, help="how often a base folder is looked at for new or removed versions; 0: only at start (default: %(default)s)")
    parser.add_argument("--name", help="the model's name in the URLs (default: the folder's name)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on; 0.0.0.0 for every interface (default: %(default)s)")
    parser.add_argument("--port", type=port, default=8501, help="port, TF Serving's REST port by default (default: %(default)s)")
    parser.add_argument("--grpc-port", type=port, help="also serve TF Serving's gRPC API (PredictionService, ModelService) on this port, 8500 being TF Serving's; the same batcher and limits as REST (default: REST only)")
    parser.add_argument("--shutdown-timeout-s", type=float, default=30.0, help="on SIGTERM or Ctrl-C: stop taking requests, answer those in flight for up to this many seconds, then exit (default: %(default)s)")
    parser.add_argument("--max-batch-size", type=int, default=32, help="rows in one call of the model at most; a larger request is split into calls of this size that take turns with the other requests (default: %(default)s)")
    parser.add_argument("--max-rows", type=int, default=256, help="rows in one request at most; more are answered 413 (default: %(default)s)")
    parser.add_argument("--max-output-tokens", type=int, default=8192, help="rows times the output length (max_length) one request may ask for; more are answered 413. A row asking for k times the export's max_length counts as k rows in a call of --max-batch-size (default: %(default)s)")
    parser.add_argument("--max-queued-tokens", type=int, default=8192, help="output tokens (rows x max_length) the waiting requests may ask for at most, counted apart for large requests (more rows than --max-batch-size) and small ones; a request that would pass its size's is answered 429 with Retry-After, unless none of its size waits (default: %(default)s)")
    parser.add_argument("--request-timeout-s", type=float, default=30.0, help="seconds a request may take, waiting included; past them 504, and its rows not yet run are dropped (default: %(default)s)")
    parser.add_argument("--batch-timeout-ms", type=float, default=5.0, help="how long a request waits for others to run with (default: %(default)s)")
    parser.add_argument("--max-queued", type=int, default=256, help="requests waiting at most; more are answered 503 (default: %(default)s)")
    parser.add_argument("--max-body-kb", type=int, default=1024, help="largest request body, in KiB; larger ones are answered 413 (default: %(default)s)")
    parser.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"], help="uvicorn's log level (default: %(default)s)")
    parser.add_argument("--access-log", action=argparse.BooleanOptionalAction, default=False, help="log every request (default: %(default)s)")
    # fmt: on
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    app, names = _app(args)
    base = f"http://{args.host}:{args.port}"
    grpc = f"\n  gRPC:    {args.host}:{args.grpc_port}" if args.grpc_port else ""
    predict = "".join(
        f"\n  predict: POST {base}/v1/models/{name}:predict" for name in names
    )
    print(
        f"Serving {', '.join(names)}\n"
        f"  page:    {base}/{predict}\n"
        f"  metrics: {base}/monitoring/prometheus/metrics{grpc}",
        flush=True,
    )
    import signal

    import uvicorn

    # uvicorn answers the requests in flight, then raises the signal again
    # once its own handler is gone: a stop asked for is a clean exit.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=args.access_log,
        timeout_graceful_shutdown=args.shutdown_timeout_s,
    )


def _app(args):
    """The app and the models' names; bad input exits 2."""
    from s2s_keras.serve.app import create_app
    from s2s_keras.serve.config import source_of
    from s2s_keras.serve.config import sources_from_config
    from s2s_keras.serve.versions import VersionPolicy
    from s2s_keras.serve.versions import parse_labels

    try:
        if (args.export is None) == (args.model_config_file is None):
            raise ValueError("give a PATH or --model-config-file FILE (one of them)")
        if args.poll_seconds < 0:
            raise ValueError(f"--poll-seconds must be >= 0, got {args.poll_seconds}")
        if args.model_config_file:
            sources = sources_from_config(args.model_config_file)
        else:
            policy = VersionPolicy.parse(args.versions)
            labels = parse_labels(args.labels)
            sources = [source_of(args.export, args.name, policy, labels)]
        app = create_app(
            models=sources,
            max_batch_size=args.max_batch_size,
            batch_timeout_ms=args.batch_timeout_ms,
            max_queued=args.max_queued,
            max_body_bytes=args.max_body_kb * 1024,
            max_rows=args.max_rows,
            max_output_tokens=args.max_output_tokens,
            max_queued_tokens=args.max_queued_tokens,
            request_timeout_s=args.request_timeout_s,
            grpc_port=args.grpc_port,
            host=args.host,
            poll_seconds=args.poll_seconds or None,
        )
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    return app, [source.name for source in sources]


if __name__ == "__main__":
    main()
