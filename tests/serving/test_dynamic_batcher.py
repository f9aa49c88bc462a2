"""Dynamic batching: concurrent requests share model calls, each gets exactly its own
answer (as if run alone), a failing request fails alone (found by bisection), a full queue
refuses at once, a request past its deadline is not run, a large request is split so it
never blocks the others, and the server batches sentiment requests from 16 concurrent
clients."""

import asyncio
import concurrent.futures
import threading
import time

import numpy as np
import pytest

from bertlab.serving.admission import DeadlineExceeded, Overloaded
from bertlab.serving.dynamic_batcher import DynamicBatcher
from bertlab.serving.latency_histogram import LatencyHistogram
from tests.serving.helpers import http


class Recorder:
    """A model: doubles `x`, echoes words padded to the batch's longest row; records calls."""

    def __init__(self, delay=0.02):
        self.calls, self.delay, self.lock = [], delay, threading.Lock()

    def __call__(self, inputs):
        x = inputs["x"]
        with self.lock:
            self.calls.append(len(x))
        if (x < 0).any():
            raise ValueError("negative input")
        time.sleep(self.delay)
        width = int(x.max()) if len(x) else 0
        words = np.full((len(x), width), b"", dtype=object)
        for i, n in enumerate(x):
            words[i, :int(n)] = b"w"
        return {"y": x * 2.0, "words": words}


def _run_all(batcher, requests):
    async def main():
        return await asyncio.gather(*(batcher.run(r) for r in requests),
                                    return_exceptions=True)

    return asyncio.run(main())


def test_concurrent_requests_are_batched_and_answered_exactly():
    model = Recorder()
    batcher = DynamicBatcher(model, max_batch_size=8, batch_timeout_s=0.05)
    requests = [{"x": np.array([i % 4 + 1, 1], np.int64)} for i in range(12)]
    results = _run_all(batcher, requests)
    alone = [model(r) for r in requests]
    for got, expected in zip(results, alone):
        np.testing.assert_array_equal(got["y"], expected["y"])
        # Padding added by the batch's longer rows is cut back.
        np.testing.assert_array_equal(got["words"], expected["words"])
    batched = model.calls[:-12]
    assert sum(batched) == 24 and max(batched) == 8 and len(batched) <= 4
    stats = batcher.stats.as_dict()
    assert stats["requests"] == 12 and stats["batches"] == len(batched) and \
        stats["largest_batch"] == 8
    # Every answered request's latency is counted: at least one 20 ms model call each.
    latencies = stats["latency_ms_counts"]
    assert sum(latencies) == 12 and LatencyHistogram.percentile(latencies, 0.1) >= 18
    batcher.close()


def test_latency_histogram_percentiles_are_within_a_bucket_of_the_exact_ones():
    latencies_s = np.random.RandomState(0).lognormal(np.log(0.05), 1.0, size=5000)
    histogram = LatencyHistogram()
    for seconds in latencies_s:
        histogram.add(seconds)
    counts = histogram.snapshot()
    for q in (50, 90, 99):
        exact = np.percentile(latencies_s * 1000, q)
        assert exact <= LatencyHistogram.percentile(counts, q) <= exact * 1.1 + 1e-9, q
    # The difference of two snapshots: only what was added in between.
    histogram.add(100.0)
    later = [b - a for a, b in zip(counts, histogram.snapshot())]
    assert sum(later) == 1 and 100_000 <= LatencyHistogram.percentile(later, 50) <= 110_000
    assert LatencyHistogram.percentile([0] * len(counts), 50) is None


def test_a_failing_request_fails_alone():
    model = Recorder()
    batcher = DynamicBatcher(model, max_batch_size=16, batch_timeout_s=0.05)
    requests = [{"x": np.array([1])}, {"x": np.array([-1])}, {"x": np.array([3])}]
    results = _run_all(batcher, requests)
    assert isinstance(results[1], ValueError) and "negative" in str(results[1])
    assert results[0]["y"].tolist() == [2.0] and results[2]["y"].tolist() == [6.0]
    batcher.close()


def test_large_and_incompatible_requests():
    model = Recorder(delay=0.0)
    batcher = DynamicBatcher(model, max_batch_size=4, batch_timeout_s=0.05)
    big = {"x": np.arange(1, 7)}
    other_shape = {"x": np.ones((2, 3), np.int64)}
    results = _run_all(batcher, [big, {"x": np.array([1])}, {"x": np.array([2])}])
    assert results[0]["y"].tolist() == (np.arange(1, 7) * 2.0).tolist()
    # The big one is split: its first 4 rows, then its last 2 with the two small ones.
    assert model.calls == [4, 4]
    # Its parts' padded words are joined back as one call would have padded them.
    np.testing.assert_array_equal(results[0]["words"], Recorder(delay=0.0)(big)["words"])
    assert batcher.stats.as_dict()["split"] == 1
    model.calls.clear()
    calls = _run_all(DynamicBatcher(lambda i: {"s": i["x"].sum(axis=1)}, 8, 0.05),
                     [other_shape, {"x": np.array([[1]])}])
    assert calls[0]["s"].tolist() == [3, 3] and calls[1]["s"].tolist() == [1]
    for bad in [dict(max_batch_size=0), dict(batch_timeout_s=-1),
                dict(max_concurrent_batches=0)]:
        with pytest.raises(ValueError, match=list(bad)[0]):
            DynamicBatcher(model, **bad)


def test_a_failing_request_is_isolated_by_bisection():
    model = Recorder(delay=0.0)
    batcher = DynamicBatcher(model, max_batch_size=32, batch_timeout_s=0.2)
    requests = [{"x": np.array([i % 7 + 1])} for i in range(32)]
    requests[21] = {"x": np.array([-1])}
    results = _run_all(batcher, requests)
    assert isinstance(results[21], ValueError) and "negative" in str(results[21])
    for i, result in enumerate(results):
        if i != 21:
            assert result["y"].tolist() == [2.0 * (i % 7 + 1)], i
    # The batch, then halves down to the bad request: 9 calls here (at most 1 + 2 log2(32)),
    # where one call per request took 33.
    assert model.calls[0] == 32 and len(model.calls) <= 11
    assert batcher.stats.as_dict()["isolation_calls"] == len(model.calls) - 1
    batcher.close()


class Gate:
    """A model whose calls wait until `release` is set; records the value of each call."""

    def __init__(self):
        self.started, self.release, self.seen = threading.Event(), threading.Event(), []

    def __call__(self, inputs):
        self.seen.append(int(inputs["x"][0]))
        self.started.set()
        self.release.wait(10)
        return {"y": inputs["x"] * 2}


def test_full_queue_refuses_at_once_and_expired_requests_are_not_run():
    model = Gate()
    batcher = DynamicBatcher(model, max_batch_size=1, batch_timeout_s=0.0,
                             max_queued_requests=2, request_timeout_s=0.2)

    async def main():
        first = asyncio.ensure_future(batcher.run({"x": np.array([1])}))
        while not model.started.is_set():  # running: it no longer counts as waiting
            await asyncio.sleep(0.005)
        waiting = [asyncio.ensure_future(batcher.run({"x": np.array([v])})) for v in (2, 3)]
        await asyncio.sleep(0)  # both queued
        started = time.monotonic()
        with pytest.raises(Overloaded) as refused:
            await batcher.run({"x": np.array([4])})
        refused_s = time.monotonic() - started
        expired = await asyncio.gather(*waiting, return_exceptions=True)
        expired_s = time.monotonic() - started
        # A waiting request whose caller goes away leaves the queue too.
        gone = asyncio.ensure_future(batcher.run({"x": np.array([5])}))
        await asyncio.sleep(0)
        assert batcher.queue_bound.waiting == 1
        gone.cancel()
        await asyncio.sleep(0)
        model.release.set()
        return await first, refused.value, refused_s, expired, expired_s

    first, refused, refused_s, expired, expired_s = asyncio.run(main())
    assert refused_s < 0.05 and refused.retry_after_s == 1
    assert "--max_queued_requests=2" in str(refused)
    assert all(isinstance(e, DeadlineExceeded) for e in expired), expired
    assert 0.15 < expired_s < 1.5
    assert first["y"].tolist() == [2] and model.seen == [1]  # the others never ran
    assert batcher.queue_bound.waiting == 0
    stats = batcher.stats.as_dict()
    assert stats["refused"] == 1 and stats["expired"] == 2
    assert _run_all(batcher, [{"x": np.array([6])}])[0]["y"].tolist() == [12]
    batcher.close()


def test_a_large_request_is_split_and_does_not_hold_the_batch_slot():
    calls, lock, in_flight = [], threading.Lock(), [0, 0]  # now, most at once

    def model(inputs):
        with lock:
            calls.append(len(inputs["x"]))
            in_flight[0] += 1
            in_flight[1] = max(in_flight)
        time.sleep(0.03)
        with lock:
            in_flight[0] -= 1
        return {"y": inputs["x"] * 2}

    batcher = DynamicBatcher(model, max_batch_size=4, batch_timeout_s=0.0)

    async def main():
        done = {}

        async def timed(name, inputs):
            outputs = await batcher.run(inputs)
            done[name] = time.monotonic()
            return outputs

        big = asyncio.ensure_future(timed("big", {"x": np.arange(40)}))  # 10 batches
        await asyncio.sleep(0.01)
        small = await timed("small", {"x": np.array([7])})
        return await big, small, done

    big, small, done = asyncio.run(main())
    assert big["y"].tolist() == (np.arange(40) * 2).tolist() and small["y"].tolist() == [14]
    assert max(calls) == 4 and in_flight[1] == 1
    assert done["small"] < done["big"]  # within a batch or two, not after all ten
    # Two batches at once: the parts of one request run side by side.
    in_flight[1] = 0
    two = DynamicBatcher(model, max_batch_size=4, batch_timeout_s=0.0,
                         max_concurrent_batches=2)
    assert _run_all(two, [{"x": np.arange(16)}])[0]["y"].tolist() == \
        (np.arange(16) * 2).tolist()
    assert in_flight[1] == 2
    batcher.close()
    two.close()


def test_server_batches_concurrent_clients(server):
    served = server.registry.get("sentiment")
    before = served.batch_stats()["serving_default"]
    texts = [f"review number {i} : {'good ' * (i % 5)}" for i in range(48)]
    alone = {t: http(f"{server.url}/v1/models/sentiment:predict", {"instances": [t]})[1]
             for t in texts[:4]}
    start = served.batch_stats()["serving_default"]
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda t: http(f"{server.url}/v1/models/sentiment:predict",
                                               {"instances": [t]}), texts))
    after = served.batch_stats()["serving_default"]
    assert all(status == 200 for status, _ in answers)
    assert after["requests"] - start["requests"] == 48
    assert after["batches"] - start["batches"] < 48 and after["largest_batch"] > 1
    for text, (_, body) in zip(texts[:4], answers[:4]):
        assert body["predictions"][0]["label"] == alone[text]["predictions"][0]["label"]
        np.testing.assert_allclose(body["predictions"][0]["probabilities"],
                                   alone[text]["predictions"][0]["probabilities"], atol=1e-5)
    assert before["requests"] <= start["requests"]


def test_batches_keep_running_while_the_event_loop_is_busy():
    # Under overload the loop is busy answering refusals; the model must not wait for it
    # between batches (batches are taken and run in the worker threads).
    model = Recorder(delay=0.01)
    batcher = DynamicBatcher(model, max_batch_size=1, batch_timeout_s=0.0)

    async def main():
        futures = [asyncio.ensure_future(batcher.run({"x": np.array([i + 1])}))
                   for i in range(5)]
        await asyncio.sleep(0)  # all five queued
        time.sleep(0.5)  # the loop is blocked: no callback of it runs meanwhile
        calls_while_blocked = len(model.calls)
        return calls_while_blocked, await asyncio.gather(*futures)

    calls_while_blocked, results = asyncio.run(main())
    assert calls_while_blocked == 5  # not 1: each batch started without the loop
    assert [r["y"].tolist() for r in results] == [[2.0], [4.0], [6.0], [8.0], [10.0]]
    batcher.close()
