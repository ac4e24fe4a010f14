"""One served model behind both protocols: its signatures, limits and batcher.

REST (`app.py`) and gRPC (`grpc_api.py`) read their requests into the same
`PredictRequest` and hand it to `Predictor.predict`, so a request costs,
queues and fails the same whichever way it came: rows over `max_rows` and
output tokens over `max_output_tokens` are refused (413), the rest runs
through the one `MicroBatcher` (`batcher.py`), in turns with every other
request, and each call is counted in the metrics.
"""

from s2s_keras.serve.batcher import MicroBatcher
from s2s_keras.serve.tensors import RequestError


class Predictor:
    """A `Servable` served as a version of model `name`, with the server's limits.

    Args:
        servable: a `Servable` (an export folder's SavedModel).
        name: the model's name in URLs and gRPC model specs.
        version: the version number served.
        metrics: the server's `Metrics` (each call of the model counted),
            or None.
        max_batch_size, batch_timeout_ms, max_queued, request_timeout_s,
            max_queued_tokens: the `MicroBatcher`'s.
        max_rows: rows in one request at most; more are refused (413).
        max_output_tokens: rows times the output length a request asks for
            (its `max_length`, or the export's), at most; more are refused
            (413). In calls, a row asking for k times the export's length
            counts as k rows of `max_batch_size`.

    Attributes:
        batcher: the `MicroBatcher` (start it in the running event loop).
    """

    def __init__(
        self,
        servable,
        name,
        version=1,
        metrics=None,
        max_batch_size=32,
        batch_timeout_ms=5.0,
        max_queued=256,
        max_rows=256,
        request_timeout_s=30.0,
        max_output_tokens=8192,
        max_queued_tokens=8192,
    ):
        for argument, value in (
            ("max_rows", max_rows),
            ("max_output_tokens", max_output_tokens),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"{argument} must be a positive integer, got {value!r}"
                )
        self.servable = servable
        self.name = name
        self.version = version
        self.max_rows = max_rows
        self.max_output_tokens = max_output_tokens
        on_call = None
        if metrics is not None:

            def on_call(signature, rows, seconds):
                metrics.called(name, signature, rows, seconds)

        self.batcher = MicroBatcher(
            max_batch_size,
            batch_timeout_ms,
            max_queued,
            request_timeout_s,
            max_queued_tokens,
            on_call=on_call,
        )

    async def predict(self, request):
        """The outputs of a `PredictRequest`, run in turns with the others.

        Returns:
            `{name: np.ndarray}`, every output batched.

        Raises:
            RequestError: a signature unknown (400), too many rows or output
                tokens (413), or input the signature refused (400).
            Busy, Overloaded, DeadlineExceeded: the batcher's.
        """
        signature = self.servable.signature(request.signature_name)
        if request.rows > self.max_rows:
            raise RequestError(
                f"the request has {request.rows} rows; this server takes "
                f"{self.max_rows} at most in one request (--max-rows): send them in "
                "several",
                413,
            )
        length = signature.length_asked(request.inputs)
        if request.rows * length > self.max_output_tokens:
            raise RequestError(
                f"the request asks for {request.rows} rows of up to {length} output "
                f"tokens ({request.rows * length}); this server takes "
                f"{self.max_output_tokens} at most in one request "
                "(--max-output-tokens): send fewer rows, or a smaller max_length",
                413,
            )
        row_cost = -(-length // (signature.max_length or length))  # ceil
        return await self.batcher.submit(
            signature, request.inputs, request.rows, row_cost, length
        )
