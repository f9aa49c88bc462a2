"""Progress lines: rates, ETA and the terminal line."""

import io

import pytest

from bertlab.training.progress import Progress, format_duration


def test_progress_rates_eta_and_terminal_line():
    stream = io.StringIO()
    progress = Progress(total_steps=1000, examples_per_step=64, start_step=100, stream=stream)
    progress.update(steps=50, seconds=10.0)
    rates = progress.report(step=150, loss=1.25, extra={"accuracy": 0.5})
    assert rates == {"steps_per_second": 5.0, "examples_per_second": 320.0}
    line = stream.getvalue()
    assert line.startswith("\rstep 150/1000  loss 1.2500  5.00 steps/s  320.0 examples/s")
    assert "ETA 0:02:50" in line and "accuracy 0.5" in line  # 850 steps at 5/s
    # The window restarts after a report; the run-wide rate does not.
    progress.update(steps=10, seconds=1.0)
    assert progress.report(step=160, loss=1.0)["steps_per_second"] == 10.0
    assert progress.examples_per_second == pytest.approx(60 * 64 / 11.0)
    progress.update(steps=840, seconds=84.0)
    progress.report(step=1000, loss=0.5)
    assert stream.getvalue().endswith("\n")  # the last line stays on screen
    assert format_duration(3725) == "1:02:05"
