"""Server-side dynamic batching: concurrent requests to one signature run as one batch.

Like TF Serving's batching (`max_batch_size`, `batch_timeout_micros`,
`num_batch_threads`): a request waits at most `batch_timeout_s` for others;
requests whose inputs have the same shape past the batch axis are
concatenated (up to `max_batch_size` rows), run once, and each gets its own
rows of every output back. While a batch runs, the next one fills, so under
load batches grow and the model is called less often.

String outputs that the batch padded along axis 1 with "" (a tagger's words
and tags are padded to the batch's longest text) are cut back to the
request's own width, so a batched answer equals the unbatched one. If a
batch fails (one request with a value the model rejects), its requests are
retried one by one so only the bad one fails.

Example (inside an asyncio event loop):
>>> batcher = DynamicBatcher(lambda inputs: model(**inputs), max_batch_size=32)
>>> outputs = await batcher.run({"text": np.array([b"a fine film"], dtype=object)})
"""

import asyncio
import collections
import concurrent.futures
import threading
import time

import numpy as np


class BatchStats:
    """Counters: `requests`, `batches` (model calls), `rows`, `largest_batch` (rows)."""

    def __init__(self):
        self._lock = threading.Lock()
        self.requests = self.batches = self.rows = self.largest_batch = 0

    def record(self, requests, rows):
        with self._lock:
            self.requests += requests
            self.batches += 1
            self.rows += rows
            self.largest_batch = max(self.largest_batch, rows)

    def as_dict(self):
        with self._lock:
            return {"requests": self.requests, "batches": self.batches, "rows": self.rows,
                    "largest_batch": self.largest_batch}


def _batch_key(inputs):
    return tuple(sorted((name, a.dtype.str, a.shape[1:]) for name, a in inputs.items()))


def _rows(inputs):
    sizes = {a.shape[0] if a.ndim else None for a in inputs.values()}
    return sizes.pop() if len(sizes) == 1 else None


def _trim_string_padding(array):
    """Drops trailing axis-1 columns that are "" in every row (batch padding)."""
    if array.dtype != object or array.ndim < 2 or array.shape[1] == 0:
        return array
    filled = np.vectorize(lambda x: x not in (b"", ""), otypes=[bool])(array)
    filled = filled.reshape(array.shape[0], array.shape[1], -1).any(axis=(0, 2))
    width = int(np.max(np.nonzero(filled)[0]) + 1) if filled.any() else 0
    return array[:, :width]


class DynamicBatcher:
    """Batches concurrent `run` calls of one function.

    Args:
      run_fn: `{input: ndarray [batch, ...]} -> {output: ndarray [batch, ...]}`,
        called in a worker thread.
      max_batch_size: most rows in one call (a larger request runs alone).
      batch_timeout_s: longest a request waits for others to join its batch.
      max_concurrent_batches: batches of this function running at once.
      executor: the thread pool running `run_fn` (default: a private one).
    """

    def __init__(self, run_fn, max_batch_size=32, batch_timeout_s=0.002,
                 max_concurrent_batches=1, executor=None):
        if int(max_batch_size) < 1:
            raise ValueError(f"`max_batch_size` must be positive, got {max_batch_size}.")
        if float(batch_timeout_s) < 0:
            raise ValueError(f"`batch_timeout_s` must be >= 0, got {batch_timeout_s}.")
        if int(max_concurrent_batches) < 1:
            raise ValueError("`max_concurrent_batches` must be positive, got "
                             f"{max_concurrent_batches}.")
        self.run_fn = run_fn
        self.max_batch_size = int(max_batch_size)
        self.batch_timeout_s = float(batch_timeout_s)
        self.max_concurrent_batches = int(max_concurrent_batches)
        self._executor = executor or concurrent.futures.ThreadPoolExecutor(
            max_workers=self.max_concurrent_batches, thread_name_prefix="batch")
        self.stats = BatchStats()
        self._pending = collections.deque()
        self._loop = None
        self._wakeup = None
        self._slots = None
        self._task = None

    async def run(self, inputs):
        """Runs `inputs` (with the batch on axis 0) as part of a batch; returns its outputs."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # first call, or a new event loop
            self._loop, self._wakeup = loop, asyncio.Event()
            self._slots = asyncio.Semaphore(self.max_concurrent_batches)
            self._task = None
        rows = _rows(inputs)
        if rows is None or rows == 0 or rows > self.max_batch_size:
            async with self._slots:
                self.stats.record(1, rows or 0)
                return await loop.run_in_executor(self._executor, self.run_fn, inputs)
        future = loop.create_future()
        self._pending.append((_batch_key(inputs), inputs, rows, future, time.monotonic()))
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._batch_loop())
        self._wakeup.set()
        return await future

    async def _batch_loop(self):
        while self._pending:
            await self._slots.acquire()
            try:
                key, first_arrival = self._pending[0][0], self._pending[0][4]
                while True:
                    ready = sum(item[2] for item in self._pending if item[0] == key)
                    remaining = first_arrival + self.batch_timeout_s - time.monotonic()
                    if ready >= self.max_batch_size or remaining <= 0:
                        break
                    self._wakeup.clear()
                    try:
                        await asyncio.wait_for(self._wakeup.wait(), remaining)
                    except asyncio.TimeoutError:
                        pass
                batch, rows, kept = [], 0, collections.deque()
                while self._pending:
                    item = self._pending.popleft()
                    if item[0] == key and rows + item[2] <= self.max_batch_size:
                        batch.append(item)
                        rows += item[2]
                    else:
                        kept.append(item)
                self._pending.extendleft(reversed(kept))
            except BaseException:
                self._slots.release()
                raise
            self._loop.create_task(self._execute(batch, rows))

    async def _execute(self, batch, rows):
        loop = asyncio.get_running_loop()
        try:
            live = [item for item in batch if not item[3].done()]  # cancelled: client gone
            if not live:
                return
            self.stats.record(len(live), sum(item[2] for item in live))
            try:
                results = await loop.run_in_executor(self._executor, self._run_batch, live)
            except Exception as error:  # noqa: BLE001  (delivered to the requests)
                results = [error] * len(live)
            for item, result in zip(live, results):
                if item[3].done():
                    continue
                if isinstance(result, BaseException):
                    item[3].set_exception(result)
                else:
                    item[3].set_result(result)
        finally:
            self._slots.release()

    def _run_batch(self, items):
        """In a worker thread: one call for all items (or one each if that fails)."""
        if len(items) == 1:
            return [self.run_fn(items[0][1])]
        names = list(items[0][1])
        merged = {n: np.concatenate([item[1][n] for item in items], axis=0) for n in names}
        total = sum(item[2] for item in items)
        try:
            outputs = self.run_fn(merged)
            if any(not np.ndim(v) or np.shape(v)[0] != total for v in outputs.values()):
                raise ValueError("outputs are not batch-major")
        except Exception:  # noqa: BLE001  (isolate the request that fails)
            results = []
            for item in items:
                try:
                    results.append(self.run_fn(item[1]))
                except Exception as error:  # noqa: BLE001
                    results.append(error)
            return results
        results, start = [], 0
        for item in items:
            end = start + item[2]
            results.append({n: _trim_string_padding(np.asarray(v)[start:end])
                            for n, v in outputs.items()})
            start = end
        return results

    def close(self):
        """Stops the worker threads (after running batches finish)."""
        self._executor.shutdown(wait=True)
