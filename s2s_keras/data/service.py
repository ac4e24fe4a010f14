"""The input pipeline on tf.data service workers, for clusters whose CPUs lag.

When tokenizing and batching cannot keep up with the accelerators, the
pipeline can run on other machines: a tf.data service dispatcher hands the
training split's shard files out to its workers as they ask (dynamic
sharding: every pair once per pass, whoever is free reads it), the workers
read, tokenize and shuffle, and the trainers batch what they receive. (The
trainers batch: with TensorFlow 2.21, bucketing by length on the workers
after a shuffle makes dynamic sharding hand every file to every worker.)
Start the servers, then pass the dispatcher's address to a recipe:

    python -m s2s_keras.data.service dispatcher --port 5050
    python -m s2s_keras.data.service worker --dispatcher HOST:5050 --port 5051
    python recipes/summarize.py --data-service grpc://HOST:5050

The workers run the pipeline's graph, which holds tf-text's tokenizer ops:
this module's `worker` imports `tensorflow_text` to register them (a worker
started another way must import it too).
"""

import argparse
import time

import tensorflow as tf

JOB_NAME = "s2s_keras-train"


def through_service(dataset, address, job_name=JOB_NAME):
    """`dataset`, processed on the tf.data service at `address`.

    Trainers that pass the same `job_name` share one job: each element goes
    to one of them (several workers of a `multi-worker` strategy read
    different pairs).

    Args:
        dataset: a `tf.data.Dataset` whose source is a list of files (or
            any splittable source): the training rows of `make_batches`.
        address: the dispatcher, e.g. `"grpc://host:5050"`.
        job_name: the shared job's name.

    Returns:
        The dataset read from the service.
    """
    if "://" not in address:
        raise ValueError(
            "Invalid value for argument address. Expected the dispatcher's "
            f"address as grpc://HOST:PORT. Received: address={address!r}"
        )
    return dataset.apply(
        tf.data.experimental.service.distribute(
            processing_mode=tf.data.experimental.service.ShardingPolicy.DYNAMIC,
            service=address,
            job_name=job_name,
        )
    )


def serve(argv=None):
    """Runs a dispatcher or a worker until it is stopped (Ctrl-C or SIGTERM)."""
    parser = argparse.ArgumentParser(
        prog="python -m s2s_keras.data.service",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    roles = parser.add_subparsers(dest="role", required=True)
    dispatcher = roles.add_parser("dispatcher", help="start the dispatcher")
    dispatcher.add_argument("--port", type=int, default=5050, help="its port (default: %(default)s)")  # fmt: skip
    worker = roles.add_parser("worker", help="start a worker")
    worker.add_argument("--dispatcher", required=True, help="the dispatcher's HOST:PORT")  # fmt: skip
    worker.add_argument("--port", type=int, default=0, help="its port (default: any free one)")  # fmt: skip
    args = parser.parse_args(argv)
    service = tf.data.experimental.service
    if args.role == "dispatcher":
        server = service.DispatchServer(service.DispatcherConfig(port=args.port))
    else:
        import tensorflow_text  # noqa: F401  (the tokenizer's ops)

        address = args.dispatcher.split("://")[-1]
        server = service.WorkerServer(
            service.WorkerConfig(dispatcher_address=address, port=args.port)
        )
    where = (
        f"on port {args.port}"
        if args.role == "dispatcher"
        else f"for the dispatcher at {args.dispatcher}"
    )
    print(f"tf.data service {args.role} serving {where}", flush=True)
    try:
        while True:  # the server runs in its own threads; Ctrl-C or SIGTERM ends it
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    serve()
