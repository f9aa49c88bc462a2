"""Progress of a training run: steps/s, examples/s, ETA, loss.

`Progress.update` is called after each `tf.function` loop with the number of
steps it ran and their wall time; `Progress.report` returns the rates and
writes one line to the log (absl) and, on a terminal, refreshes a status line.

Example:
>>> p = Progress(total_steps=100, examples_per_step=32, start_step=0, stream=None)
>>> p.update(steps=10, seconds=2.0)
>>> rates = p.report(step=10, loss=0.5)
>>> rates["steps_per_second"], rates["examples_per_second"]
(5.0, 160.0)
"""

import sys

from absl import logging


def format_duration(seconds):
    """`3725` -> `"1:02:05"`."""
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


class Progress:
    """Throughput and ETA since the last report, and over the whole run.

    Args:
        total_steps: the step the run ends at.
        examples_per_step: examples in one optimizer step (all replicas,
            all micro-batches).
        start_step: the step the run (re)started from.
        stream: where the terminal status line goes (default `sys.stderr`
            when it is a TTY; None: no status line).
    """

    def __init__(self, total_steps, examples_per_step, start_step=0, stream="auto"):
        self.total_steps = int(total_steps)
        self.examples_per_step = int(examples_per_step)
        if stream == "auto":
            stream = sys.stderr if sys.stderr.isatty() else None
        self._stream = stream
        self._window_steps = 0
        self._window_seconds = 0.0
        self.steps_done = 0
        self.train_seconds = 0.0
        self.start_step = int(start_step)

    def update(self, steps, seconds):
        """Counts `steps` training steps that took `seconds`."""
        self._window_steps += steps
        self._window_seconds += seconds
        self.steps_done += steps
        self.train_seconds += seconds

    @property
    def examples_per_second(self):
        """Over the whole run (training time only)."""
        if self.train_seconds <= 0:
            return 0.0
        return self.steps_done * self.examples_per_step / self.train_seconds

    def report(self, step, loss, extra=None):
        """Returns the rates since the last report and logs a progress line."""
        seconds = self._window_seconds
        steps_per_second = self._window_steps / seconds if seconds > 0 else 0.0
        rates = {
            "steps_per_second": steps_per_second,
            "examples_per_second": steps_per_second * self.examples_per_step,
        }
        remaining = max(0, self.total_steps - int(step))
        eta = format_duration(remaining / steps_per_second) if steps_per_second > 0 else "?"
        line = (f"step {int(step)}/{self.total_steps}  loss {float(loss):.4f}  "
                f"{rates['steps_per_second']:.2f} steps/s  "
                f"{rates['examples_per_second']:.1f} examples/s  ETA {eta}")
        for name, value in (extra or {}).items():
            line += f"  {name} {float(value):.4g}"
        logging.info(line)
        if self._stream is not None:
            self._stream.write("\r" + line + "\033[K")
            if int(step) >= self.total_steps:
                self._stream.write("\n")
            self._stream.flush()
        self._window_steps = 0
        self._window_seconds = 0.0
        return rates
