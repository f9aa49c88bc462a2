"""Dynamic batching: concurrent requests share model calls, each gets exactly its own
answer (as if run alone), a failing request fails alone, and the server batches sentiment
requests from 16 concurrent clients."""

import asyncio
import concurrent.futures
import threading
import time

import numpy as np
import pytest

from bertlab.serving.dynamic_batcher import DynamicBatcher
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
    batcher.close()


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
    assert sorted(model.calls) == [2, 6]  # the big one alone; the two small ones together
    model.calls.clear()
    calls = _run_all(DynamicBatcher(lambda i: {"s": i["x"].sum(axis=1)}, 8, 0.05),
                     [other_shape, {"x": np.array([[1]])}])
    assert calls[0]["s"].tolist() == [3, 3] and calls[1]["s"].tolist() == [1]
    for bad in [dict(max_batch_size=0), dict(batch_timeout_s=-1),
                dict(max_concurrent_batches=0)]:
        with pytest.raises(ValueError, match=list(bad)[0]):
            DynamicBatcher(model, **bad)


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
