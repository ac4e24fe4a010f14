"""Micro-batching with a share for every client: batches of rows, taken in turns.

A request becomes a job of rows. A job that fits one call (`max_batch_size`
rows) is small; a larger one is large, and split into calls (TF Serving's
large-batch splitting). One worker task builds each call of a signature
from the jobs that wait:

- Small jobs go first, in order of arrival, several to a call. A call that
  a small job leads holds small jobs only, so it takes the time they need.
- Large jobs get a third of the model's time (`LARGE_SHARE`) while small
  ones keep coming: once the calls that small jobs led since the last large
  call took twice as long as it, a large job leads the next (the one whose
  last call is the oldest: large jobs take turns). While small jobs wait it
  takes half a call's rows, and small ones of its kind fill the room left.
  So a small request waits for one large call at most, a short one, and
  when only large jobs wait they get every call, whole.

    job A (80 rows)  ->  A[0:32]  ·  B[0:1] C[0:2]  ·  A[32:48] D[0:1]  ·  ...
    job B, C (1, 2 rows)  came during A's first call: their own call, then
    job D (1 row)         A's next half call (D rides in the room left)

- A row may count for more than one (`row_cost`: a request for outputs 4
  times the export's length counts each row 4 times), so that a call costs
  about the same whatever its requests ask for.
- The first small job of a call may wait up to `timeout_ms` for other small
  ones to fill it (TF Serving's `batch_timeout_micros`); before a large job
  leads a call out of its turn, the worker waits as long for a small one
  (the clients of the call just answered send their next requests). Jobs
  share a call when their signature is batchable and their scalar settings
  are the same.
- A job whose rows are all answered gets its outputs back in order (the
  pieces padded to a common shape as one call would pad them, with 0 or
  `""`).
- Bounds: at most `max_queued` jobs wait (one more is refused at once,
  `Busy`, answered 503). A job that would bring the output tokens that jobs
  of its size wait for (rows times the length each asks for; large and
  small jobs counted apart, so large ones never crowd small ones out) over
  `max_queued_tokens` is refused at once unless none of them waits
  (`Overloaded`, answered 429), so that the work waiting stays what the
  model does in a few seconds. A job not answered within
  `request_timeout_s` raises `DeadlineExceeded` (answered 504) and its rows
  not yet run are dropped.

Each call runs in one thread beside the event loop, so the server keeps
reading requests while the model runs.
"""

import asyncio
import concurrent.futures
import time

from s2s_keras.serve.jobs import Job
from s2s_keras.serve.jobs import Piece
from s2s_keras.serve.jobs import concatenate
from s2s_keras.serve.jobs import joined
from s2s_keras.serve.jobs import settle

# The model's time that large jobs get while small ones keep coming: a large
# job leads a call once the calls led by small ones since the last large
# call took (1 - LARGE_SHARE) / LARGE_SHARE times as long as it, so a small
# request waits for one large call at most, and the large ones still finish
# within the deadline when the waiting work is at --max-queued-tokens.
LARGE_SHARE = 1 / 3


class Busy(Exception):
    """The queue is full: the request was not taken (answered 503)."""


class Overloaded(Exception):
    """Too much work waits for this request to join now (answered 429)."""


class DeadlineExceeded(Exception):
    """The request was not answered in time; its rows left were dropped (504)."""


class MicroBatcher:
    """Runs signature calls in batches of rows, taken in turns from a bounded line.

    Args:
        max_batch_size: rows in one call at most; a request with more is
            split into calls of this many rows, in turns with the others.
        timeout_ms: how long the first request of a call waits for others.
        max_queued: requests waiting at most; one more is refused (`Busy`).
        max_queued_tokens: output tokens (rows times the length each asks
            for) waiting at most, for large requests (more rows than one
            call holds) and for small ones apart; a request that would pass
            its kind's is refused (`Overloaded`) unless none of its kind
            waits. None: no limit.
        request_timeout_s: seconds a request may take, queueing included;
            past it `DeadlineExceeded`, and its rows not yet run are
            dropped. None: no limit.
        on_call: called after each call of a signature with its name, its
            rows and its seconds (the server's metrics), or None.

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
        on_call=None,
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
        self.on_call = on_call
        self._arrivals = 0
        self.calls = 0  # signature calls made: fewer than requests when batching works
        self._line = []  # jobs with rows not yet taken
        self._large_seconds = 0.0  # the last call a large job led
        self._small_seconds = 0.0  # the calls small jobs led since then
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
    def queued(self):
        """Requests waiting (with rows not yet in a call)."""
        return len(self._line)

    def queued_tokens(self, large=None):
        """Output tokens the waiting rows ask for: of every job, or of the
        large ones (`large=True`) or the small ones (`False`)."""
        return sum(
            job.left * job.length
            for job in self._line
            if large is None or job.large == large
        )

    async def submit(self, signature, inputs, rows, row_cost=1, length=1):
        """Runs `signature` on `inputs` (`rows` rows) in batches; returns its outputs.

        `row_cost` (int >= 1) is what each row counts for in a call's
        `max_batch_size`: a call holds `max_batch_size // row_cost` of its
        rows (one at least). `length` is the output tokens each row asks for.

        Raises:
            Busy: the queue is full.
            Overloaded: the request would bring the output tokens that
                requests of its size wait for (large or small) over
                `max_queued_tokens`.
            DeadlineExceeded: not answered within `request_timeout_s`.
            Exception: what the signature raised (`RequestError` for input
                it refused).
        """
        if len(self._line) >= self.max_queued:
            raise Busy(
                f"the server is busy: {self.max_queued} requests are waiting; retry later"
            )
        row_cost = max(1, int(row_cost))
        large = rows * row_cost > self.max_batch_size
        tokens, waiting = rows * length, self.queued_tokens(large)
        if (
            self.max_queued_tokens is not None
            and waiting
            and waiting + tokens > self.max_queued_tokens
        ):
            kind = "large" if large else "small"
            raise Overloaded(
                f"the server is loaded: {waiting} output tokens of {kind} requests "
                f"wait and this request asks for {tokens}, over the "
                f"{self.max_queued_tokens} that may wait (--max-queued-tokens); "
                "retry in a few seconds, or send fewer rows"
            )
        future = asyncio.get_running_loop().create_future()
        self._arrivals += 1
        job = Job(signature, inputs, rows, future, row_cost, large, length)
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
            first = self._first()
            if first.large and not self._large_turn:
                await self._arrival(self.timeout)  # out of turn: a small one may come
                self._drop_gone()
                if not self._line:
                    continue
                first = self._first()
            key = first.batch_key()
            if not first.large and key is not None:
                await self._fill(key)
                self._drop_gone()
                if not self._line:
                    continue
            await self._run(self._next_call())

    def _first(self):
        """The job whose turn it is."""
        return min(self._line, key=self._turn)

    @property
    def _large_turn(self):
        """Whether large jobs go first: small ones have had their share."""
        return self._small_seconds * LARGE_SHARE >= self._large_seconds * (
            1 - LARGE_SHARE
        )

    def _turn(self, job):
        return job.turn(large_first=self._large_turn)

    async def _arrival(self, seconds):
        """Waits up to `seconds` for a job to arrive."""
        self._arrived.clear()
        try:
            await asyncio.wait_for(self._arrived.wait(), seconds)
        except TimeoutError:
            pass

    def _drop_gone(self):
        """Jobs whose request went away (deadline, disconnect) leave the line."""
        for job in [job for job in self._line if job.future.done()]:
            self._line.remove(job)

    async def _fill(self, key):
        """Waits up to the timeout for small jobs that can share the call."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        while (
            sum(
                job.left * job.row_cost
                for job in self._line
                if not job.large and job.batch_key() == key
            )
            < self.max_batch_size
        ):
            left = deadline - loop.time()
            if left <= 0:
                return
            await self._arrival(left)
            if not self._arrived.is_set():
                return

    def _next_call(self):
        """The pieces of the next call: the rows of the job whose turn it is,
        then of the jobs of its kind, in turn (only small ones in a call that
        a small one leads, so that it stays as short as they are, or that a
        large one leads while small ones wait)."""
        in_turn = sorted(self._line, key=self._turn)
        first = in_turn[0]
        key = first.batch_key()
        # A large job takes half a call while small ones wait: a shorter call
        # for them to wait for, with room for the small ones of its kind.
        halve = first.large and any(not job.large for job in in_turn)
        pieces, used = [], 0
        for job in in_turn if key is not None else [first]:
            if job is first:
                room = self.max_batch_size // 2 if halve else self.max_batch_size
                count = min(job.left, max(1, room // job.row_cost))
            elif job.batch_key() != key or (job.large and (halve or not first.large)):
                continue
            else:
                count = min(job.left, (self.max_batch_size - used) // job.row_cost)
            if count < 1:
                continue
            pieces.append(Piece(job, *job.take(count)))
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
        inputs = concatenate([piece.inputs for piece in pieces], signature)
        self.calls += 1
        began = time.perf_counter()
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
        finally:
            seconds = time.perf_counter() - began
            self._timed(pieces[0].job.large, seconds)
            if self.on_call is not None:
                rows = sum(piece.rows for piece in pieces)
                self.on_call(signature.name, rows, seconds)
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
                settle(piece.job.future, joined(parts))

    def _timed(self, large, seconds):
        """Counts a call's seconds for the large jobs' share."""
        if large:
            self._large_seconds, self._small_seconds = seconds, 0.0
        else:
            self._small_seconds += seconds

    def _fail(self, job, error):
        """The job's request gets the error; its rows left are dropped."""
        if job in self._line:
            self._line.remove(job)
        settle(job.future, error=error)
