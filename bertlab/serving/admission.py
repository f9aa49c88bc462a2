"""Admission control: a bound on the requests waiting for one model, and the errors a
refused or expired request gets.

Like TF Serving's batching queues (`max_enqueued_batches`): a request that finds
the queue full is refused at once with `Overloaded` (HTTP 503, TF Serving's
UNAVAILABLE, with `Retry-After`) instead of waiting behind an ever longer
queue; a request still waiting when its deadline passes is answered with
`DeadlineExceeded` (HTTP 504, DEADLINE_EXCEEDED) and never run. A request
counts from the moment it is queued until its last rows are taken into a
batch (running requests do not count: `max_concurrent_batches` bounds those).

All of a loaded version's signatures share one `QueueBound`, so the bound is
per model (a version being swapped out drains its own queue while the new one
fills).

Example:
>>> bound = QueueBound(2)
>>> bound.enter(); bound.enter()
>>> bound.enter()
Traceback (most recent call last):
...
bertlab.serving.admission.Overloaded: 2 requests are already waiting for this model ...
>>> bound.leave()
"""

import math
import threading


class Overloaded(RuntimeError):
    """The model's queue is full; `retry_after_s`: when to try again (HTTP 503)."""

    def __init__(self, message, retry_after_s=1):
        super().__init__(message)
        self.retry_after_s = max(1, int(math.ceil(retry_after_s)))


class DeadlineExceeded(RuntimeError):
    """The request waited past its deadline and was not run (HTTP 504)."""


class QueueBound:
    """Counts the requests waiting for one model (`waiting`); refuses the one beyond
    `max_queued` (`refused` counts them).

    Requests enter in the server's event loop and leave in the batchers' worker
    threads too (a lock keeps the count exact).

    Args:
      max_queued: the most requests waiting at once (0: no bound).
    """

    def __init__(self, max_queued=64):
        if int(max_queued) < 0:
            raise ValueError(f"`max_queued` must be >= 0 (0: no bound), got {max_queued}.")
        self.max_queued = int(max_queued)
        self.waiting = 0
        self.refused = 0  # requests refused, whoever asked
        self._lock = threading.Lock()

    def enter(self):
        """Counts one more waiting request, or raises `Overloaded` if the queue is full."""
        with self._lock:
            self.refuse_if_full()
            self.waiting += 1

    def leave(self):
        """One waiting request was taken into a batch, expired or went away."""
        with self._lock:
            self.waiting = max(0, self.waiting - 1)

    @property
    def full(self):
        """Whether the next request would be refused (the server checks this before it
        reads and parses a body, so that a refusal costs next to nothing)."""
        return bool(self.max_queued) and self.waiting >= self.max_queued

    def refuse_if_full(self):
        """Raises `Overloaded` (counted in `refused`) if the queue is full."""
        if self.full:
            self.refused += 1
            raise Overloaded(self.refusal_message())

    def refusal_message(self):
        """What a refused request is told."""
        return (f"{self.waiting} requests are already waiting for this model (the limit, "
                f"--max_queued_requests={self.max_queued}); try again later.")
