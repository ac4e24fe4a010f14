"""A bounded load test on 127.0.0.1: 2,000 requests at concurrency 16.

Every request is answered 200 with what the export gives that text alone,
and the micro-batcher ran them in fewer calls than requests. The latency and
throughput figures are measured by bench/serving.py, not asserted here.
"""

import asyncio
import time

import httpx2
import numpy as np
import tensorflow as tf

REQUESTS, CONCURRENCY = 2000, 16
WORDS = "the encoder reads source attention decoder looks back at every word".split()


def texts(count=40):
    rng = np.random.default_rng(0)
    return [" ".join(rng.choice(WORDS, size=rng.integers(1, 12))) for _ in range(count)]


async def load(url, sources):
    """Sends REQUESTS requests, CONCURRENCY at a time; returns (text, response, seconds) each."""
    results = []
    queue = iter(range(REQUESTS))

    async def client_loop(client):
        for index in queue:
            text = sources[index % len(sources)]
            start = time.perf_counter()
            response = await client.post(
                "/v1/models/beam:predict", json={"instances": [text]}
            )
            results.append((text, response, time.perf_counter() - start))

    limits = httpx2.Limits(max_connections=CONCURRENCY)
    async with httpx2.AsyncClient(base_url=url, limits=limits, timeout=60) as client:
        await asyncio.wait_for(
            asyncio.gather(*(client_loop(client) for _ in range(CONCURRENCY))), 300
        )
    return results


def alone(servable, text):
    """The export's answer to one text, called without the server."""
    outputs = servable.loaded.signatures["serving_default"](text=tf.constant([text]))
    return outputs["text"].numpy()[0].decode(), float(outputs["scores"].numpy()[0])


def test_2000_requests_at_concurrency_16_are_all_answered_right(live_server, servable):
    sources = texts()
    expected = {text: alone(servable, text) for text in sources}
    start = time.perf_counter()
    results = asyncio.run(load(live_server.url, sources))
    seconds = time.perf_counter() - start
    assert len(results) == REQUESTS
    assert {response.status_code for _, response, _ in results} == {200}
    for text, response, _ in results:
        (prediction,) = response.json()["predictions"]
        assert prediction["text"] == expected[text][0]
        assert abs(prediction["scores"] - expected[text][1]) < 1e-3
    calls = live_server.app.state.batcher.calls
    assert calls < REQUESTS / 2, (
        f"{calls} model calls for {REQUESTS} requests: no batching"
    )
    latencies = np.array([latency for _, _, latency in results]) * 1000
    print(
        f"\n{REQUESTS} requests at concurrency {CONCURRENCY}: {REQUESTS / seconds:.0f}/s, "
        f"p50 {np.percentile(latencies, 50):.1f} ms, p99 {np.percentile(latencies, 99):.1f} ms, "
        f"{calls} model calls"
    )
