"""A latency histogram: the percentiles of the requests answered between two snapshots."""

import math

_FIRST_MS, _FACTOR, _SIZE = 0.1, 1.1, 150


class LatencyHistogram:
    """Counts of request latencies in exponential buckets (10% wide, 0.1 ms to ~2 min),
    as a Prometheus histogram or TF Serving's request-latency metric keep them: the
    difference of two snapshots gives the percentiles of the requests in between.

    Example:
    >>> histogram = LatencyHistogram()
    >>> histogram.add(0.012)
    >>> LatencyHistogram.percentile(histogram.snapshot(), 50)   # ms, within 10%
    """

    FIRST_MS, FACTOR, SIZE = _FIRST_MS, _FACTOR, _SIZE
    BOUNDS_MS = tuple(_FIRST_MS * _FACTOR ** i for i in range(_SIZE))  # upper bounds

    def __init__(self):
        self._counts = [0] * (self.SIZE + 1)  # the last: above the largest bound

    def add(self, seconds):
        ms = seconds * 1000.0
        index = 0 if ms <= self.FIRST_MS else min(
            self.SIZE, math.ceil(math.log(ms / self.FIRST_MS) / math.log(self.FACTOR)))
        self._counts[index] += 1

    def snapshot(self):
        return list(self._counts)

    @classmethod
    def percentile(cls, counts, q):
        """The upper bound (ms) of the bucket holding the `q`th percentile of `counts`
        (a snapshot, or the difference of two); None without any count."""
        total = sum(counts)
        if not total:
            return None
        rank, seen = q / 100.0 * total, 0
        for index, count in enumerate(counts):
            seen += count
            if count and seen >= rank:
                return round(cls.BOUNDS_MS[min(index, cls.SIZE - 1)], 2)
        return None
