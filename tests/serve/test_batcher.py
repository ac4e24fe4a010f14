"""The micro-batcher: concurrent requests share calls, a full queue refuses."""

import asyncio
import threading
import time

import numpy as np
import pytest

from s2s_keras.serve import Busy
from s2s_keras.serve import DeadlineExceeded
from s2s_keras.serve import MicroBatcher
from s2s_keras.serve import Overloaded
from s2s_keras.serve import RequestError
from s2s_keras.serve.batcher import LARGE_SHARE
from s2s_keras.serve.tensors import TensorSpec


class Upper:
    """A stand-in signature: upper-cases `text`, repeated `times` (a scalar)."""

    def __init__(self, name="upper", batchable=True, gate=None):
        self.name = name
        self.batchable = batchable
        self.inputs = {
            "text": TensorSpec("string", (None,)),
            "times": TensorSpec("int32", ()),
        }
        self.batches = []  # the rows of each call
        self.gate = gate  # a threading.Event the call waits for, if given

    def __call__(self, inputs):
        if self.gate is not None:
            self.gate.wait(10)
        texts = [text.decode() for text in inputs["text"]]
        self.batches.append(texts)
        if "bad" in texts:
            raise RequestError("bad text")
        times = int(inputs["times"])
        return {
            "text": np.array([text.upper() * times for text in texts], dtype=object)
        }


def job(text, times=1):
    return rows_job([text], times)


def rows_job(texts, times=1):
    return {
        "text": np.array([text.encode() for text in texts], dtype=object),
        "times": np.array(times, np.int32),
    }


class Ragged(Upper):
    """Answers `(rows, k)` letters, k the longest text's length in the call:
    one call pads its rows to its longest, as the model's id outputs do."""

    def __call__(self, inputs):
        texts = [text.decode() for text in inputs["text"]]
        self.batches.append(texts)
        width = max(len(text) for text in texts)
        letters = [[c.encode() for c in text.ljust(width, "\0")] for text in texts]
        return {
            "letters": np.array(
                [[b"" if c == b"\0" else c for c in row] for row in letters],
                dtype=object,
            ),
            "length": np.array([len(text) for text in texts], np.int32),
        }


def run(coroutine_function, **options):
    async def main():
        batcher = MicroBatcher(**options)
        batcher.start()
        try:
            return await coroutine_function(batcher)
        finally:
            await batcher.stop()

    return asyncio.run(main())


def test_requests_within_the_timeout_share_one_call_and_get_their_own_rows():
    signature = Upper()

    async def requests(batcher):
        texts = [f"t{i}" for i in range(10)]
        answers = await asyncio.gather(
            *(batcher.submit(signature, job(t), 1) for t in texts)
        )
        return texts, answers, batcher.calls

    texts, answers, calls = run(requests, timeout_ms=50)
    assert [answer["text"].tolist() for answer in answers] == [
        [t.upper()] for t in texts
    ]
    assert calls == 1 and signature.batches == [[f"t{i}" for i in range(10)]]


def test_batches_keep_to_the_size_and_settings_and_unbatchable_run_alone():
    upper, alone = Upper(), Upper("alone", batchable=False)

    async def requests(batcher):
        return await asyncio.gather(
            *(batcher.submit(upper, job(f"a{i}"), 1) for i in range(5)),
            batcher.submit(upper, job("twice", times=2), 1),
            *(batcher.submit(alone, job(f"s{i}"), 1) for i in range(2)),
        )

    answers = run(requests, timeout_ms=50, max_batch_size=3)
    assert answers[5]["text"].tolist() == ["TWICETWICE"]
    assert upper.batches == [["a0", "a1", "a2"], ["a3", "a4"], ["twice"]]
    assert alone.batches == [["s0"], ["s1"]]


def test_a_failing_request_fails_alone():
    signature = Upper()

    async def requests(batcher):
        return await asyncio.gather(
            *(batcher.submit(signature, job(t), 1) for t in ["ok", "bad", "fine"]),
            return_exceptions=True,
        )

    good, bad, fine = run(requests, timeout_ms=50)
    assert isinstance(bad, RequestError) and str(bad) == "bad text"
    assert good["text"].tolist() == ["OK"] and fine["text"].tolist() == ["FINE"]
    # The batch failed, then each request ran alone.
    assert signature.batches[0] == ["ok", "bad", "fine"] and len(signature.batches) == 4


def test_a_full_queue_refuses_at_once_and_serves_the_rest():
    gate = threading.Event()
    signature = Upper(gate=gate)

    async def requests(batcher):
        first = asyncio.ensure_future(batcher.submit(signature, job("first"), 1))
        await asyncio.sleep(0.1)  # the worker holds "first", blocked on the gate
        waiting = [
            asyncio.ensure_future(batcher.submit(signature, job(f"w{i}"), 1))
            for i in range(2)
        ]
        await asyncio.sleep(0)
        with pytest.raises(Busy, match="2 requests are waiting"):
            await batcher.submit(signature, job("refused"), 1)
        gate.set()
        return await asyncio.gather(first, *waiting)

    answers = run(requests, timeout_ms=0, max_queued=2)
    assert [answer["text"].tolist() for answer in answers] == [
        ["FIRST"],
        ["W0"],
        ["W1"],
    ]


@pytest.mark.parametrize(
    "options, match",
    [
        ({"max_batch_size": 0}, "max_batch_size"),
        ({"max_queued": 1.5}, "max_queued"),
        ({"timeout_ms": -1}, "timeout_ms"),
        ({"request_timeout_s": 0}, "request_timeout_s"),
        ({"max_queued_tokens": 0}, "max_queued_tokens"),
    ],
)
def test_bad_settings_raise(options, match):
    with pytest.raises(ValueError, match=match):
        MicroBatcher(**options)


def test_a_request_over_max_batch_size_is_split_and_answered_as_one_call():
    signature = Ragged(batchable=False)  # unbatchable: still split, never shared
    texts = ["a", "bbbbb", "cc", "d", "eeeeeeee", "ff", "g"]

    async def requests(batcher):
        return await batcher.submit(signature, rows_job(texts), len(texts))

    answer = run(requests, timeout_ms=0, max_batch_size=3)
    assert signature.batches == [texts[:3], texts[3:6], texts[6:]]
    one_call = Ragged()({"text": rows_job(texts)["text"]})
    assert answer["letters"].tolist() == one_call["letters"].tolist()
    assert answer["length"].tolist() == [len(text) for text in texts]


def test_a_small_request_is_answered_while_a_large_one_is_split():
    """Fairness: a 1-row request that comes while a 40-row one runs waits for
    that call only, and its own call holds it alone: the large request's
    next rows do not fill it (they would make it as slow as theirs)."""
    gate = threading.Event()
    signature = Upper(gate=gate)
    order = []

    async def requests(batcher):
        large = asyncio.ensure_future(
            batcher.submit(signature, rows_job([f"r{i}" for i in range(40)]), 40)
        )
        await asyncio.sleep(0.1)  # the first 4 rows of the large one are running
        small = asyncio.ensure_future(batcher.submit(signature, job("small"), 1))
        small.add_done_callback(lambda _: order.append("small"))
        large.add_done_callback(lambda _: order.append("large"))
        await asyncio.sleep(0)
        gate.set()
        return await asyncio.gather(large, small)

    large, small = run(requests, timeout_ms=0, max_batch_size=4)
    assert order == ["small", "large"]
    assert small["text"].tolist() == ["SMALL"]
    assert large["text"].tolist() == [f"R{i}" for i in range(40)]
    assert signature.batches[0] == ["r0", "r1", "r2", "r3"]
    assert signature.batches[1] == ["small"]
    assert signature.batches[2] == ["r4", "r5", "r6", "r7"]
    assert all(len(batch) <= 4 for batch in signature.batches)
    assert sum(len(batch) for batch in signature.batches) == 41


def test_a_request_past_its_deadline_gets_an_error_and_its_rows_left_are_dropped():
    gate = threading.Event()
    signature = Upper(gate=gate)

    async def requests(batcher):
        slow = asyncio.ensure_future(
            batcher.submit(signature, rows_job([f"r{i}" for i in range(20)]), 20)
        )
        await asyncio.sleep(0.5)  # past the deadline, the first call still held
        gate.set()
        with pytest.raises(DeadlineExceeded, match="within 0.3 s"):
            await slow
        await asyncio.sleep(0.1)
        return await batcher.submit(signature, job("next"), 1)

    after = run(requests, timeout_ms=0, max_batch_size=2, request_timeout_s=0.3)
    assert after["text"].tolist() == ["NEXT"]
    # The call that ran when the deadline came finished; no other of its rows ran.
    assert signature.batches == [["r0", "r1"], ["next"]]


def test_a_row_that_costs_more_takes_more_of_a_call():
    signature = Upper()

    async def requests(batcher):
        return await asyncio.gather(
            batcher.submit(signature, rows_job([f"a{i}" for i in range(5)]), 5, 3),
            batcher.submit(signature, rows_job(["b0", "b1", "b2"], times=2), 3, 7),
        )

    costly, costlier = run(requests, timeout_ms=50, max_batch_size=6)
    assert costly["text"].tolist() == [f"A{i}" for i in range(5)]
    assert costlier["text"].tolist() == ["B0B0", "B1B1", "B2B2"]
    # Cost 3: two rows a call of 6. Cost 7, over 6: one row a call.
    assert signature.batches == [
        ["a0", "a1"],
        ["b0"],
        ["a2", "a3"],
        ["b1"],
        ["a4"],
        ["b2"],
    ]


def test_a_request_that_would_bring_the_waiting_tokens_past_the_limit_is_refused():
    """Counted apart for small requests and large ones (more rows than a
    call): a small one is taken while large ones wait for more than the
    limit (before, it was refused), and each size is refused past it."""
    gate = threading.Event()
    signature = Upper(gate=gate)

    async def requests(batcher):
        first = asyncio.ensure_future(batcher.submit(signature, job("first"), 1, 1, 30))
        await asyncio.sleep(0.1)  # running, held by the gate: nothing waits
        large = asyncio.ensure_future(
            batcher.submit(signature, rows_job(list("abcd")), 4, 1, 10)
        )
        waiting = asyncio.ensure_future(
            batcher.submit(signature, rows_job(["a", "b"]), 2, 1, 10)
        )
        await asyncio.sleep(0)
        assert batcher.queued_tokens() == 60
        assert batcher.queued_tokens(large=True) == 40
        assert batcher.queued_tokens(large=False) == 20
        with pytest.raises(
            Overloaded, match="20 output tokens of small requests wait.*asks for 20"
        ):
            await batcher.submit(signature, rows_job(["c", "d"]), 2, 1, 10)
        with pytest.raises(Overloaded, match="40 output tokens of large requests"):
            await batcher.submit(signature, rows_job(list("fgh")), 3, 1, 10)
        fits = asyncio.ensure_future(batcher.submit(signature, job("e"), 1, 1, 10))
        gate.set()
        return await asyncio.gather(first, large, waiting, fits)

    # "first" asks for 30 alone: a request is refused only when something waits.
    answers = run(requests, timeout_ms=0, max_batch_size=2, max_queued_tokens=30)
    assert [answer["text"].tolist() for answer in answers] == [
        ["FIRST"],
        list("ABCD"),
        ["A", "B"],
        ["E"],
    ]


class Streaming(Upper):
    """Each of the first `calls` calls, while it runs, has a new small request
    sent; a call takes `small_s` seconds, or `large_s` led by a row of a
    large request (its text starts with a letter of `large`)."""

    def __init__(self, calls, small_s=0.05, large_s=0.04, large="r"):
        super().__init__()
        self.calls, self.small_s, self.large_s, self.large = (
            calls,
            small_s,
            large_s,
            large,
        )
        self.seconds = []

    def __call__(self, inputs):
        if len(self.batches) < self.calls:
            self.loop.call_soon_threadsafe(self.send_small)
        led_by_large = inputs["text"][0].decode()[0] in self.large
        time.sleep(self.large_s if led_by_large else self.small_s)
        self.seconds.append(self.large_s if led_by_large else self.small_s)
        return super().__call__(inputs)

    def stream(self, batcher, *large_jobs):
        """Runs the large jobs (texts) while the small requests come."""

        async def requests():
            self.loop = asyncio.get_running_loop()
            smalls = []
            self.send_small = lambda: smalls.append(
                asyncio.ensure_future(
                    batcher.submit(self, job(f"s{len(smalls)}", times=2), 1)
                )
            )
            answers = await asyncio.gather(
                *(
                    batcher.submit(self, rows_job(texts), len(texts))
                    for texts in large_jobs
                )
            )
            await asyncio.sleep(0.2)
            await asyncio.gather(*smalls)
            return answers

        return requests()


def test_a_large_request_is_not_starved_by_a_stream_of_small_ones():
    """Small requests go first, but once their calls took twice as long as
    the large one's last call, the large one leads: with a new small request
    coming during every call, and a small call 5/4 of a large one's time,
    the large one leads one call in three (a third of the time), with half
    a call's rows while small ones wait."""
    signature = Streaming(calls=12)
    (large,) = run(
        lambda batcher: signature.stream(batcher, [f"r{i}" for i in range(8)]),
        timeout_ms=0,
        max_batch_size=4,
    )
    assert LARGE_SHARE == 1 / 3
    assert large["text"].tolist() == [f"R{i}" for i in range(8)]
    with_large = [i for i, b in enumerate(signature.batches) if b[0].startswith("r")]
    assert with_large == [0, 3, 6], signature.batches
    # the first call alone (nothing else waited), then half calls
    assert [len(signature.batches[i]) for i in with_large] == [4, 2, 2]
    # and two small requests went before each of the large one's next calls
    assert all(signature.batches[i][0].startswith("s") for i in (1, 2, 4, 5))


def test_large_requests_get_their_share_of_the_time_and_never_two_calls_in_a_row():
    """Two large requests whose calls take 4 times a small one's, while a
    small request comes during every call: the large ones take turns, lead
    about a third of the time, and never two calls in a row (so a small
    request waits for one large call at most; before, the two large ones
    took calls 0 and 1, and each took one call in five whatever it cost)."""
    signature = Streaming(calls=60, small_s=0.01, large_s=0.04, large="ab")
    a, b = run(
        lambda batcher: signature.stream(
            batcher, [f"a{i}" for i in range(8)], [f"b{i}" for i in range(8)]
        ),
        timeout_ms=0,
        max_batch_size=4,
    )
    assert a["text"].tolist() == [f"A{i}" for i in range(8)]
    assert b["text"].tolist() == [f"B{i}" for i in range(8)]
    led = [batch[0][0] for batch in signature.batches]
    assert "".join(c for c in led if c in "ab").startswith("ababab"), led
    assert all(
        not (first in "ab" and second in "ab")
        for first, second in zip(led, led[1:], strict=False)
    ), led
    while_streaming = range(
        led.index("a"), max(i for i, c in enumerate(led) if c in "ab")
    )
    large_time = sum(signature.seconds[i] for i in while_streaming if led[i] in "ab")
    share = large_time / sum(signature.seconds[i] for i in while_streaming)
    assert 0.25 <= share <= 1 / 3 + 0.02, (share, led)
