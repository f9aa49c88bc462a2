"""Server-side dynamic batching: concurrent requests to one signature run as one batch,
behind a bounded queue with a deadline per request.

Like TF Serving's batching (`max_batch_size`, `batch_timeout_micros`,
`num_batch_threads`, `max_enqueued_batches`, `enable_large_batch_splitting`):

- a request waits at most `batch_timeout_s` for others; requests whose inputs
  have the same shape past the batch axis are concatenated (up to
  `max_batch_size` rows), run once, and each gets its own rows of every output
  back. While a batch runs, the next one fills, so under load batches grow and
  the model is called less often; `max_concurrent_batches` batches run at once.
- the queue is bounded (`admission.QueueBound`, shared by a model's
  signatures): a request that finds it full is refused at once with
  `Overloaded`; one still waiting after `request_timeout_s` is answered with
  `DeadlineExceeded` and never run.
- a request of more than `max_batch_size` rows is split: each batch takes as
  many of its rows as fit, and the request then goes to the back of the queue,
  so it never holds the batch slot against the requests that arrived after it;
  its parts' outputs are joined back in order. (Split requests are never
  refused for their size; a model whose outputs' shapes past the batch axis
  differ between the parts gets `CannotSplit`.)
- if a batch fails (a request with a value the model rejects), the failing
  request is found by bisection: one bad request among n costs about log2(n)
  more model calls, not n; every other request gets its answer.

String outputs that the batch padded along axis 1 with "" (a tagger's words
and tags are padded to the batch's longest text) are cut back to the
request's own width, so a batched answer equals the unbatched one.

Example (inside an asyncio event loop):
>>> batcher = DynamicBatcher(lambda inputs: model(**inputs), max_batch_size=32,
...                          request_timeout_s=10)
>>> outputs = await batcher.run({"text": np.array([b"a fine film"], dtype=object)})
"""

import asyncio
import collections
import concurrent.futures
import threading
import time

import numpy as np

from bertlab.serving.admission import DeadlineExceeded, QueueBound
from bertlab.serving.latency_histogram import LatencyHistogram
from bertlab.serving.thread_priority import start_worker_threads


class CannotSplit(ValueError):
    """The parts of a split request have outputs that cannot be joined (HTTP 400)."""


class BatchStats:
    """Counters: `requests` (queued), `batches` (run), `rows`, `largest_batch` (rows),
    `refused` (queue full), `expired` (deadline passed while waiting), `split` (requests
    of more than `max_batch_size` rows), `isolation_calls` (model calls made to find the
    request that failed a batch); and `latency_ms_counts`, the `LatencyHistogram` of the
    answered requests (from the queue to the answer back in the event loop)."""

    FIELDS = ("requests", "batches", "rows", "largest_batch", "refused", "expired", "split",
              "isolation_calls")

    def __init__(self):
        self._lock = threading.Lock()
        for field in self.FIELDS:
            setattr(self, field, 0)
        self.latency = LatencyHistogram()

    def record(self, rows):
        with self._lock:
            self.batches += 1
            self.rows += rows
            self.largest_batch = max(self.largest_batch, rows)

    def count(self, field, n=1):
        with self._lock:
            setattr(self, field, getattr(self, field) + n)

    def record_latency(self, seconds):
        with self._lock:
            self.latency.add(seconds)

    def as_dict(self):
        with self._lock:
            stats = {field: getattr(self, field) for field in self.FIELDS}
            stats["latency_ms_counts"] = self.latency.snapshot()
            return stats


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


def _join(name, arrays):
    """The parts' arrays of one output, concatenated on axis 0; string arrays of different
    widths are padded with "" to the widest (as one call would have padded them)."""
    if len({a.shape[1:] for a in arrays}) > 1:
        if all(a.dtype == object and a.ndim >= 2 for a in arrays) and \
                len({a.shape[2:] for a in arrays}) == 1:
            width = max(a.shape[1] for a in arrays)
            padded = []
            for a in arrays:
                wide = np.full((a.shape[0], width) + a.shape[2:], b"", dtype=object)
                wide[:, :a.shape[1]] = a
                padded.append(wide)
            arrays = padded
        else:
            raise CannotSplit(
                f"This request is larger than a batch and was split, but the model's output "
                f"{name!r} has different shapes in the parts "
                f"({sorted({a.shape[1:] for a in arrays})}); send fewer rows per request.")
    return np.concatenate(arrays, axis=0)


class _Request:
    """A queued request: its inputs, how many of its rows are taken and answered.

    `units` is its row count when it can be batched, else 1 (it runs alone, whole).
    """

    __slots__ = ("key", "inputs", "units", "mergeable", "future", "arrival", "taken",
                 "answered", "parts", "timer", "counted")

    def __init__(self, key, inputs, units, mergeable, future):
        self.key, self.inputs, self.units, self.mergeable = key, inputs, units, mergeable
        self.future, self.arrival = future, time.monotonic()
        self.taken = self.answered = 0
        self.parts = {}       # first row -> that part's outputs
        self.timer = None     # the deadline, until the first part is taken
        self.counted = True   # counts in the queue bound

    @property
    def remaining(self):
        return self.units - self.taken

    def part_inputs(self, start, end):
        if not self.mergeable or (start == 0 and end == self.units):
            return self.inputs
        return {n: a[start:end] for n, a in self.inputs.items()}


class DynamicBatcher:
    """Batches concurrent `run` calls of one function, behind a bounded queue.

    Args:
      run_fn: `{input: ndarray [batch, ...]} -> {output: ndarray [batch, ...]}`,
        called in a worker thread.
      max_batch_size: most rows in one call (a larger request is split).
      batch_timeout_s: longest a request waits for others to join its batch.
      max_concurrent_batches: batches of this function running at once.
      executor: the thread pool whose threads take and run the batches (default: a
        private one of `max_concurrent_batches` threads). A shared pool needs
        `max_concurrent_batches` threads for each signature busy at once: a worker
        keeps its thread while its queue has requests.
      max_queued_requests: most requests waiting (0: no bound); ignored when
        `queue_bound` is given.
      request_timeout_s: a request still waiting this long is answered with
        `DeadlineExceeded` and not run (None or 0: no deadline).
      queue_bound: an `admission.QueueBound` shared with the other signatures
        of the same model (default: one of `max_queued_requests` of its own).
      batching: False runs every request alone and whole (a signature without
        a batch axis, or batching turned off); the queue bound, the deadline
        and `max_concurrent_batches` still apply.
    """

    def __init__(self, run_fn, max_batch_size=32, batch_timeout_s=0.002,
                 max_concurrent_batches=1, executor=None, max_queued_requests=64,
                 request_timeout_s=None, queue_bound=None, batching=True):
        if int(max_batch_size) < 1:
            raise ValueError(f"`max_batch_size` must be positive, got {max_batch_size}.")
        if float(batch_timeout_s) < 0:
            raise ValueError(f"`batch_timeout_s` must be >= 0, got {batch_timeout_s}.")
        if int(max_concurrent_batches) < 1:
            raise ValueError("`max_concurrent_batches` must be positive, got "
                             f"{max_concurrent_batches}.")
        if request_timeout_s is not None and float(request_timeout_s) < 0:
            raise ValueError(f"`request_timeout_s` must be >= 0, got {request_timeout_s}.")
        self.run_fn = run_fn
        self.max_batch_size = int(max_batch_size)
        self.batch_timeout_s = float(batch_timeout_s)
        self.max_concurrent_batches = int(max_concurrent_batches)
        self.request_timeout_s = float(request_timeout_s) if request_timeout_s else None
        self.queue_bound = (queue_bound if queue_bound is not None
                            else QueueBound(max_queued_requests))
        self.batching = bool(batching)
        if executor is None:
            executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=self.max_concurrent_batches, thread_name_prefix="batch")
            start_worker_threads(executor, self.max_concurrent_batches)
        self._executor = executor
        self.stats = BatchStats()
        self._lock = threading.Condition()  # guards the queue, shared with the workers
        self._pending = collections.deque()
        self._workers = 0  # worker threads taking and running batches
        self._loop = None

    # ------------------------------------------------------------- requests

    async def run(self, inputs):
        """Runs `inputs` (with the batch on axis 0) as part of a batch; returns its outputs.

        Raises:
          Overloaded: the model's queue is full (nothing was queued).
          DeadlineExceeded: the request waited `request_timeout_s` without starting.
          CannotSplit: a split request's parts' outputs cannot be joined.
          Whatever `run_fn` raises for this request's rows.
        """
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # first call, or a new event loop
            with self._lock:
                self._loop, self._pending = loop, collections.deque()
        try:
            self.queue_bound.enter()
        except Exception:
            self.stats.count("refused")
            raise
        rows = _rows(inputs)
        mergeable = self.batching and bool(rows)
        request = _Request(_batch_key(inputs) if mergeable else object(), inputs,
                           rows if mergeable else 1, mergeable, loop.create_future())
        if mergeable and rows > self.max_batch_size:
            self.stats.count("split")
        self.stats.count("requests")
        if self.request_timeout_s:
            request.timer = loop.call_later(self.request_timeout_s, self._expire, request)
        with self._lock:
            self._pending.append(request)
            self._lock.notify()
            self._start_worker_if_idle()
        try:
            outputs = await request.future
            self.stats.record_latency(time.monotonic() - request.arrival)
            return outputs
        except asyncio.CancelledError:  # the caller went away (or the server shuts down)
            self._drop(request)
            raise

    def _expire(self, request):
        with self._lock:
            if request.taken or request.future.done():
                return  # started (or answered) meanwhile: the deadline no longer applies
            self._drop_locked(request)
        self.stats.count("expired")
        request.future.set_exception(DeadlineExceeded(
            f"The request waited {self.request_timeout_s:g} s for the model without "
            "starting (the server is overloaded); try again later."))

    def _stop_waiting(self, request):
        """The request no longer counts in the queue bound (called with the lock held)."""
        if request.counted:
            request.counted = False
            self.queue_bound.leave()

    def _drop(self, request):
        """Takes the request out of the queue (its remaining rows will not run)."""
        with self._lock:
            self._drop_locked(request)
        if request.timer is not None:
            request.timer.cancel()

    def _drop_locked(self, request):
        self._stop_waiting(request)
        try:
            self._pending.remove(request)
        except ValueError:
            pass

    # ------------------------------------------------------------- batching
    #
    # Batches are formed and run in worker threads, not in the event loop: under
    # overload the loop is busy answering refusals, and a model that waited for the
    # loop to start each batch would sit idle between batches (measured: with 1,000
    # clients, the model's threads used 0.55 of the 2 cores while 0.4 were free).
    # The loop only queues requests and delivers the answers.

    def _start_worker_if_idle(self):
        """With the lock held: one more worker if requests wait and a batch slot is free."""
        if self._pending and self._workers < self.max_concurrent_batches:
            self._workers += 1
            self._executor.submit(self._work)

    def _work(self):
        """In a worker thread: takes and runs batches until the queue is empty."""
        while True:
            with self._lock:
                parts = self._next_batch()
                if not parts:
                    self._workers -= 1
                    return
                self._start_worker_if_idle()  # e.g. the rest of a split request
            live = [part for part in parts if not part[0].future.done()]  # gone: skip
            if not live:
                continue
            self.stats.record(sum(end - start for _, start, end in live))
            try:
                results = self._run_batch(live)
            except Exception as error:  # noqa: BLE001  (delivered to the requests)
                results = [error] * len(live)
            try:
                self._loop.call_soon_threadsafe(self._deliver_all, live, results)
            except RuntimeError:  # the event loop is closed: nobody waits for the answers
                pass

    def _next_batch(self):
        """With the lock held: waits until the oldest request's batch is full or its
        timeout has passed, and takes it (`[]` when the queue is empty)."""
        while self._pending:
            head = self._pending[0]
            if not head.mergeable:
                return self._take(head.key)
            ready = sum(r.remaining for r in self._pending if r.key == head.key)
            remaining = head.arrival + self.batch_timeout_s - time.monotonic()
            if ready >= self.max_batch_size or remaining <= 0:
                return self._take(head.key)
            self._lock.wait(remaining)
        return []

    def _take(self, key):
        """`[(request, first row, end row)]`: the next batch's parts, in queue order.

        A request that fits is taken whole; one larger than a batch gives the rows that
        fit and goes to the back of the queue; a smaller one that does not fit waits.
        """
        parts, rows = [], 0
        kept, requeued = collections.deque(), []
        for request in self._pending:
            space = self.max_batch_size - rows
            if request.key != key or space <= 0:
                kept.append(request)
                continue
            if not request.mergeable or request.remaining <= space:
                n = request.remaining
            elif request.units > self.max_batch_size:
                n = space
            else:
                kept.append(request)
                continue
            parts.append((request, request.taken, request.taken + n))
            request.taken += n  # started: its deadline no longer applies (`_expire`)
            rows += n
            if request.remaining:
                requeued.append(request)
            else:
                self._stop_waiting(request)
            if not request.mergeable:
                rows = self.max_batch_size  # it runs alone: the others wait
        kept.extend(requeued)
        self._pending = kept
        return parts

    def _deliver_all(self, parts, results):
        """In the event loop: each part's outputs (or error) to its request."""
        for (request, start, end), result in zip(parts, results):
            if request.timer is not None:
                request.timer.cancel()
                request.timer = None
            self._deliver(request, start, end, result)

    def _deliver(self, request, start, end, result):
        if request.future.done():
            return
        if isinstance(result, BaseException):
            self._drop(request)
            request.future.set_exception(result)
            return
        request.parts[start] = result
        request.answered += end - start
        if request.answered < request.units:
            return
        if len(request.parts) == 1:
            request.future.set_result(result)
            return
        ordered = [request.parts[s] for s in sorted(request.parts)]
        try:
            joined = {n: _join(n, [np.asarray(p[n]) for p in ordered]) for n in ordered[0]}
        except CannotSplit as error:
            request.future.set_exception(error)
        else:
            request.future.set_result(joined)

    # -------------------------------------------------------- worker thread

    def _run_batch(self, parts):
        """In a worker thread: the outputs (or the error) of each part; one model call if
        none fails, else bisection to isolate the failing parts."""
        results, calls = [None] * len(parts), [0]
        self._bisect(parts, 0, len(parts), results, None, calls)
        if calls[0] > 1:
            self.stats.count("isolation_calls", calls[0] - 1)
        return results

    def _bisect(self, parts, lo, hi, results, failure, calls):
        """Fills `results[lo:hi]`; returns None if all of them succeeded, else an error.

        `failure`: an error this range is known to raise (its parent failed and its
        sibling succeeded), so it is split without being called; a single part is always
        called, so that it gets its own answer or error.
        """
        if failure is None or hi - lo == 1:
            try:
                results[lo:hi] = self._call(parts[lo:hi], calls)
                return None
            except _NotBatchMajor:  # outputs that cannot be cut per request: one call each
                return self._one_by_one(parts, lo, hi, results, calls)
            except Exception as error:  # noqa: BLE001  (isolate the request that fails)
                if hi - lo == 1:
                    results[lo] = error
                    return error
                failure = error
        mid = (lo + hi) // 2
        left = self._bisect(parts, lo, mid, results, None, calls)
        self._bisect(parts, mid, hi, results, failure if left is None else None, calls)
        return failure

    def _one_by_one(self, parts, lo, hi, results, calls):
        error = None
        for i in range(lo, hi):
            try:
                results[i] = self._call(parts[i:i + 1], calls)[0]
            except Exception as e:  # noqa: BLE001
                results[i] = error = e
        return error

    def _call(self, parts, calls):
        """One model call for `parts`; each part's outputs."""
        calls[0] += 1
        if len(parts) == 1:
            request, start, end = parts[0]
            return [self.run_fn(request.part_inputs(start, end))]
        pieces = [request.part_inputs(start, end) for request, start, end in parts]
        merged = {n: np.concatenate([p[n] for p in pieces], axis=0) for n in pieces[0]}
        total = sum(end - start for _, start, end in parts)
        outputs = self.run_fn(merged)
        if any(not np.ndim(v) or np.shape(v)[0] != total for v in outputs.values()):
            raise _NotBatchMajor()
        results, first = [], 0
        for _, start, end in parts:
            last = first + end - start
            results.append({n: _trim_string_padding(np.asarray(v)[first:last])
                            for n, v in outputs.items()})
            first = last
        return results

    def close(self):
        """Stops the worker threads (after running batches finish)."""
        self._executor.shutdown(wait=True)


class _NotBatchMajor(Exception):
    """The merged call's outputs do not have the batch on axis 0."""
