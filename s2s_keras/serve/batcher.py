"""Micro-batching with a share for every client: batches of rows, taken in turns.

A request becomes a job of rows. One worker task builds each call of a
signature from the jobs that wait: a job that `PASSED_OVER` (4) calls have
passed over since its own last one first (the one that has waited longest),
else the job that has had the least of the model so far (least attained
service). So a small request goes before a large one's next rows, and a
large one still gets one call in five at least, however many small ones
keep coming
(TF Serving's batching, with its large-batch splitting):

    job A (80 rows)  ->  A[0:32]  ·  B[0:1] C[0:2] A[32:61]  ·  A[61:80]
    job B (1 row)        (the first call of A's rows; then B and C, which
    job C (2 rows)        came meanwhile and had nothing yet, with A's next)

- A call holds at most `max_batch_size` rows. A job with more is split: it
  gives the rows that fit and waits behind the jobs that have had less, so
  a request of any size holds the worker for one call at a time and a small
  request that comes meanwhile waits for one call at most. A row may count
  for more than one (`row_cost`: a request for outputs 4 times the export's
  length counts each row 4 times), so that a call costs about the same
  whatever its requests ask for.
- The first job of a call may wait up to `timeout_ms` for others to fill it
  (TF Serving's `batch_timeout_micros`). Jobs share a call when their
  signature is batchable and their scalar settings are the same.
- A job whose rows are all answered gets its outputs back in order (the
  pieces padded to a common shape as one call would pad them, with 0 or
  `""`).
- Bounds: at most `max_queued` jobs wait (one more is refused at once,
  `Busy`, answered 503); a job that would bring the output tokens waiting
  (rows times the length each asks for) over `max_queued_tokens` is refused
  at once unless nothing waits (`Overloaded`, answered 429), so that the
  work waiting stays what the model does in a few seconds; a job not
  answered within `request_timeout_s` raises `DeadlineExceeded` (answered
  504) and its rows not yet run are dropped.

Each call runs in one thread beside the event loop, so the server keeps
reading requests while the model runs.
"""

import asyncio
import concurrent.futures
import dataclasses

import numpy as np

# Calls that may pass over a waiting job before it goes first: a large job
# gets one call in five at least, while small ones keep coming.
PASSED_OVER = 4


class Busy(Exception):
    """The queue is full: the request was not taken (answered 503)."""


class Overloaded(Exception):
    """Too much work waits for this request to join now (answered 429)."""


class DeadlineExceeded(Exception):
    """The request was not answered in time; its rows left were dropped (504)."""


@dataclasses.dataclass(eq=False)
class _Job:
    signature: object
    inputs: dict
    rows: int
    future: asyncio.Future
    row_cost: int = 1  # what one row counts for in a call's max_batch_size
    length: int = 1  # output tokens a row asks for
    arrival: int = 0  # the job's number, in order of arrival
    last_call: int = 0  # the call it last had a place in (at arrival: the count so far)
    taken: int = 0  # rows handed to calls so far
    answered: int = 0  # rows whose outputs came back
    pieces: dict = dataclasses.field(default_factory=dict)  # first row -> outputs

    def batch_key(self):
        """Jobs with the same key can run as one call; None runs alone."""
        if not self.signature.batchable:
            return None
        scalars = tuple(
            (name, self.inputs[name].item())
            for name, spec in self.signature.inputs.items()
            if not spec.batched
        )
        return self.signature.name, scalars

    @property
    def left(self):
        return self.rows - self.taken

    def turn(self, calls):
        """The order of turns after `calls` calls: a job passed over by
        `PASSED_OVER` calls since its last one first, the longest waiting
        first; then least attained service, then arrival."""
        if calls >= self.last_call + PASSED_OVER:
            return 0, self.last_call, self.arrival
        return 1, self.taken * self.row_cost, self.arrival

    def take(self, count):
        """The next `count` rows: `(first row, count, inputs)`."""
        first = self.taken
        self.taken += count
        inputs = {
            name: value[first : first + count] if spec.batched else value
            for name, value in self.inputs.items()
            for spec in (self.signature.inputs[name],)
        }
        return first, count, inputs


@dataclasses.dataclass(eq=False)
class _Piece:
    job: _Job
    first: int
    rows: int
    inputs: dict


class MicroBatcher:
    """Runs signature calls in batches of rows, taken in turns from a bounded line.

    Args:
        max_batch_size: rows in one call at most; a request with more is
            split into calls of this many rows, in turns with the others.
        timeout_ms: how long the first request of a call waits for others.
        max_queued: requests waiting at most; one more is refused (`Busy`).
        max_queued_tokens: output tokens (rows times the length each asks
            for) waiting at most; a request that would pass it is refused
            (`Overloaded`) unless nothing waits. None: no limit.
        request_timeout_s: seconds a request may take, queueing included;
            past it `DeadlineExceeded`, and its rows not yet run are
            dropped. None: no limit.

    Use `start()` inside the running event loop, `await submit(...)` per
    request, `await stop()` at the end.
    """

    def __init__(
        self,
        max_batch_size=32,
        timeout_ms=5.0,
        max_queued=256,
        request_timeout_s=None,
        max_queued_tokens=None,
    ):
        for name, value in (
            ("max_batch_size", max_batch_size),
            ("max_queued", max_queued),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if timeout_ms < 0:
            raise ValueError(f"timeout_ms must be >= 0, got {timeout_ms!r}")
        if max_queued_tokens is not None and (
            isinstance(max_queued_tokens, bool)
            or not isinstance(max_queued_tokens, int)
            or max_queued_tokens < 1
        ):
            raise ValueError(
                "max_queued_tokens must be a positive integer (or None), got "
                f"{max_queued_tokens!r}"
            )
        if request_timeout_s is not None and not request_timeout_s > 0:
            raise ValueError(
                f"request_timeout_s must be > 0 (or None), got {request_timeout_s!r}"
            )
        self.max_batch_size = max_batch_size
        self.timeout = timeout_ms / 1000.0
        self.max_queued = max_queued
        self.request_timeout_s = request_timeout_s
        self.max_queued_tokens = max_queued_tokens
        self._arrivals = 0
        self.calls = 0  # signature calls made: fewer than requests when batching works
        self._line = []  # jobs with rows not yet taken
        self._arrived = None
        self._worker = None
        self._executor = None

    def start(self):
        self._arrived = asyncio.Event()
        self._executor = concurrent.futures.ThreadPoolExecutor(1, "s2s_keras-model")
        self._worker = asyncio.get_running_loop().create_task(self._work())

    async def stop(self):
        self._worker.cancel()
        try:
            await self._worker
        except asyncio.CancelledError:
            pass
        self._executor.shutdown(wait=True)

    @property
    def queued_tokens(self):
        """Output tokens the waiting rows ask for."""
        return sum(job.left * job.length for job in self._line)

    async def submit(self, signature, inputs, rows, row_cost=1, length=1):
        """Runs `signature` on `inputs` (`rows` rows) in batches; returns its outputs.

        `row_cost` (int >= 1) is what each row counts for in a call's
        `max_batch_size`: a call holds `max_batch_size // row_cost` of its
        rows (one at least). `length` is the output tokens each row asks for.

        Raises:
            Busy: the queue is full.
            Overloaded: the request would bring the waiting output tokens
                over `max_queued_tokens`.
            DeadlineExceeded: not answered within `request_timeout_s`.
            Exception: what the signature raised (`RequestError` for input
                it refused).
        """
        if len(self._line) >= self.max_queued:
            raise Busy(
                f"the server is busy: {self.max_queued} requests are waiting; retry later"
            )
        tokens, waiting = rows * length, self.queued_tokens
        if (
            self.max_queued_tokens is not None
            and waiting
            and waiting + tokens > self.max_queued_tokens
        ):
            raise Overloaded(
                f"the server is loaded: {waiting} output tokens wait and this request "
                f"asks for {tokens}, over the {self.max_queued_tokens} that may wait "
                "(--max-queued-tokens); retry in a few seconds, or send fewer rows"
            )
        future = asyncio.get_running_loop().create_future()
        self._arrivals += 1
        job = _Job(signature, inputs, rows, future, max(1, int(row_cost)), length)
        job.arrival, job.last_call = self._arrivals, self.calls
        self._line.append(job)
        self._arrived.set()
        try:
            return await asyncio.wait_for(future, self.request_timeout_s)
        except TimeoutError:  # the future is cancelled: its rows left are dropped
            raise DeadlineExceeded(
                f"the request was not answered within {self.request_timeout_s:g} s; "
                "its rows not yet run were dropped: send fewer rows, or retry later"
            ) from None

    async def _work(self):
        while True:
            while not self._line:
                self._arrived.clear()
                await self._arrived.wait()
            self._drop_gone()
            if not self._line:
                continue
            key = min(self._line, key=lambda job: job.turn(self.calls)).batch_key()
            if key is not None:
                await self._fill(key)
                self._drop_gone()
                if not self._line:
                    continue
            await self._run(self._next_call())

    def _drop_gone(self):
        """Jobs whose request went away (deadline, disconnect) leave the line."""
        for job in [job for job in self._line if job.future.done()]:
            self._line.remove(job)

    async def _fill(self, key):
        """Waits up to the timeout for rows that can share the first job's call."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        while (
            sum(job.left * job.row_cost for job in self._line if job.batch_key() == key)
            < self.max_batch_size
        ):
            left = deadline - loop.time()
            if left <= 0:
                return
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), left)
            except TimeoutError:
                return

    def _next_call(self):
        """The pieces of the next call: the rows of the job whose turn it is,
        then of the jobs of its kind, in turn."""
        in_turn = sorted(self._line, key=lambda job: job.turn(self.calls))
        first = in_turn[0]
        key = first.batch_key()
        pieces, used = [], 0
        for job in in_turn if key is not None else [first]:
            if job is not first and job.batch_key() != key:
                continue
            fits = (self.max_batch_size - used) // job.row_cost
            count = min(job.left, fits if job is not first else max(1, fits))
            if count < 1:
                continue
            pieces.append(_Piece(job, *job.take(count)))
            used += count * job.row_cost
        for piece in pieces:
            piece.job.last_call = self.calls + 1  # the call these pieces make
            if not piece.job.left:
                self._line.remove(piece.job)
        return pieces

    async def _run(self, pieces):
        """One call for the pieces; each piece's rows handed back to its job."""
        loop = asyncio.get_running_loop()
        signature = pieces[0].job.signature
        inputs = _concatenate([piece.inputs for piece in pieces], signature)
        self.calls += 1
        try:
            outputs = await loop.run_in_executor(self._executor, signature, inputs)
        except Exception as error:  # noqa: BLE001  (handed to the requests)
            if len(pieces) > 1:  # one request's input may be the cause: each alone
                for piece in pieces:
                    if not piece.job.future.done():
                        await self._run([piece])
                return
            self._fail(pieces[0].job, error)
            return
        start = 0
        for piece in pieces:
            rows = slice(start, start + piece.rows)
            piece.job.pieces[piece.first] = {
                key: value[rows] for key, value in outputs.items()
            }
            piece.job.answered += piece.rows
            start += piece.rows
            if piece.job.answered == piece.job.rows:
                parts = [piece.job.pieces[first] for first in sorted(piece.job.pieces)]
                _settle(piece.job.future, _joined(parts))

    def _fail(self, job, error):
        """The job's request gets the error; its rows left are dropped."""
        if job in self._line:
            self._line.remove(job)
        _settle(job.future, error=error)


def _concatenate(inputs_list, signature):
    if len(inputs_list) == 1:
        return inputs_list[0]
    return {
        name: np.concatenate([inputs[name] for inputs in inputs_list])
        if spec.batched
        else inputs_list[0][name]
        for name, spec in signature.inputs.items()
    }


def _joined(parts):
    """The outputs of a job's calls as one: padded to one shape, concatenated.

    A call pads its rows' variable dimensions to its longest (ids with 0,
    text with `""`), so padding the pieces the same way gives what one call
    over all the rows would have.
    """
    if len(parts) == 1:
        return parts[0]
    joined = {}
    for name in parts[0]:
        arrays = [np.asarray(part[name]) for part in parts]
        if arrays[0].ndim == 1:
            joined[name] = np.concatenate(arrays)
            continue
        shape = np.max([array.shape[1:] for array in arrays], axis=0).astype(int)
        padded = []
        for array in arrays:
            pad = [(0, 0)] + [
                (0, size - have)
                for size, have in zip(shape, array.shape[1:], strict=True)
            ]
            fill = b"" if array.dtype == object else 0
            padded.append(np.pad(array, pad, constant_values=fill))
        joined[name] = np.concatenate(padded)
    return joined


def _settle(future, result=None, error=None):
    if future.done():  # the client went away and its request was cancelled
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
