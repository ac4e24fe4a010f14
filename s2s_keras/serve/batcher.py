"""Micro-batching: requests that arrive within a few milliseconds run as one batch.

One worker task takes the first waiting request, waits up to `timeout_ms`
for more (TF Serving's `batch_timeout_micros`), groups the requests that can
share a call (the same signature and the same scalar settings), and runs each
group as one call of the signature, in one thread beside the event loop, so
the server keeps reading requests while the model runs. The queue is
bounded: a request that finds it full is refused at once (`Busy`, answered
503) instead of waiting without end.
"""

import asyncio
import concurrent.futures
import dataclasses

import numpy as np


class Busy(Exception):
    """The queue is full: the request was not taken (answered 503)."""


@dataclasses.dataclass(eq=False)
class _Job:
    signature: object
    inputs: dict
    rows: int
    future: asyncio.Future

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


class MicroBatcher:
    """Runs signature calls in batches, from a bounded queue.

    Args:
        max_batch_size: rows in one call at most (a request with more runs
            alone).
        timeout_ms: how long the first request of a batch waits for others.
        max_queued: requests waiting at most; one more is refused (`Busy`).

    Use `start()` inside the running event loop, `await submit(...)` per
    request, `await stop()` at the end.
    """

    def __init__(self, max_batch_size=32, timeout_ms=5.0, max_queued=256):
        for name, value in (
            ("max_batch_size", max_batch_size),
            ("max_queued", max_queued),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if timeout_ms < 0:
            raise ValueError(f"timeout_ms must be >= 0, got {timeout_ms!r}")
        self.max_batch_size = max_batch_size
        self.timeout = timeout_ms / 1000.0
        self.max_queued = max_queued
        self.calls = 0  # signature calls made: fewer than requests when batching works
        self._queue = None
        self._worker = None
        self._executor = None

    def start(self):
        self._queue = asyncio.Queue(self.max_queued)
        self._executor = concurrent.futures.ThreadPoolExecutor(1, "s2s_keras-model")
        self._worker = asyncio.get_running_loop().create_task(self._work())

    async def stop(self):
        self._worker.cancel()
        try:
            await self._worker
        except asyncio.CancelledError:
            pass
        self._executor.shutdown(wait=True)

    async def submit(self, signature, inputs, rows):
        """Runs `signature` on `inputs` (`rows` rows) in a batch; returns its outputs.

        Raises:
            Busy: the queue is full.
            Exception: what the signature raised (`RequestError` for input
                it refused).
        """
        future = asyncio.get_running_loop().create_future()
        try:
            self._queue.put_nowait(_Job(signature, inputs, rows, future))
        except asyncio.QueueFull:
            raise Busy(
                f"the server is busy: {self.max_queued} requests are waiting; retry later"
            ) from None
        return await future

    async def _work(self):
        while True:
            jobs = await self._gather()
            for group in _groups(jobs, self.max_batch_size):
                await self._run(group)

    async def _gather(self):
        """The first waiting job and those that come within the timeout."""
        jobs = [await self._queue.get()]
        if jobs[0].batch_key() is None:
            return jobs  # it runs alone: nothing to wait for
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        rows = jobs[0].rows
        while rows < self.max_batch_size:
            try:
                job = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                left = deadline - loop.time()
                if left <= 0:
                    break
                try:
                    job = await asyncio.wait_for(self._queue.get(), left)
                except TimeoutError:
                    break
            jobs.append(job)
            rows += job.rows
        return jobs

    async def _run(self, group):
        """One call for the group; its rows handed back to each job."""
        loop = asyncio.get_running_loop()
        signature = group[0].signature
        inputs = _concatenate([job.inputs for job in group], signature)
        self.calls += 1
        try:
            outputs = await loop.run_in_executor(self._executor, signature, inputs)
        except Exception as error:  # noqa: BLE001  (handed to the requests)
            if len(group) > 1:  # one request's input may be the cause: each alone
                for job in group:
                    await self._run([job])
                return
            _settle(group[0].future, error=error)
            return
        start = 0
        for job in group:
            rows = slice(start, start + job.rows)
            _settle(job.future, {key: value[rows] for key, value in outputs.items()})
            start += job.rows


def _groups(jobs, max_batch_size):
    """The jobs in calls: same key together, in arrival order, rows capped."""
    by_key = {}
    for job in jobs:
        key = job.batch_key()
        by_key.setdefault(key if key is not None else id(job), []).append(job)
    for same in by_key.values():
        group, rows = [], 0
        for job in same:
            if group and rows + job.rows > max_batch_size:
                yield group
                group, rows = [], 0
            group.append(job)
            rows += job.rows
        yield group


def _concatenate(inputs_list, signature):
    if len(inputs_list) == 1:
        return inputs_list[0]
    return {
        name: np.concatenate([inputs[name] for inputs in inputs_list])
        if spec.batched
        else inputs_list[0][name]
        for name, spec in signature.inputs.items()
    }


def _settle(future, result=None, error=None):
    if future.done():  # the client went away and its request was cancelled
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
