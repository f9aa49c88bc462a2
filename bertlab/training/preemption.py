"""Saving a checkpoint when the job is told to stop (SIGTERM), then exiting with status 143.

Schedulers stop a job with SIGTERM and kill it (SIGKILL) a grace period later:
Kubernetes after `terminationGracePeriodSeconds` (30 s by default), Slurm after
`KillWait` (30 s), GCE spot/preemptible VMs after 30 s. Without a handler, Python
dies on SIGTERM at once and the run loses everything since its last checkpoint.

`PreemptionWatcher` replaces the SIGTERM handler while the runner trains: the
signal only sets a flag. The `Trainer` looks at the flag before every loop of
`steps_per_loop` steps (a `tf.function` call cannot be interrupted half-way;
Python runs a signal handler only when the call returns) and before its final
evaluation, saves a checkpoint of the step reached and raises
`TrainingPreempted`, a `SystemExit` with status 143 (128 + SIGTERM's 15: what a
shell reports for a process killed by SIGTERM, and the "restartable" code
TensorFlow's own `PreemptionCheckpointHandler` exits with on GCE). Rerunning the
same command resumes from that checkpoint. So the grace period must cover the
rest of one loop (or of an evaluation at `eval_interval`) plus a save: keep a
loop of `steps_per_loop` steps well under it. Outside `Trainer.train` (model
building, export) SIGTERM keeps its default effect: the process ends at once,
and what it was writing is cleaned at the next start.

Multi-worker runs: every worker must take part in a save, so all of them have
to stop at the same loop. `stop_requested` then sums the workers' flags with one
all-reduce of a scalar per loop (every worker runs the same loops), so a SIGTERM
to any one worker stops all of them after the same step. (Checked by hand with
two workers on 127.0.0.1, SIGTERM to the non-chief: both stopped at step 6,
the chief saved `ckpt-6`, both exited with 143 and resumed from it; not a test,
which would cost the suite ~20 s. An input pipeline that runs Python in its
prefetch threads, `tf.numpy_function`, can hang a multi-worker process at exit
after the save, as it can after any early exit; bertlab's pipelines run none.)

Why not `tf.distribute.experimental.PreemptionCheckpointHandler`: outside
Google's own platforms it watches exactly SIGTERM too (`TerminationConfig`'s
default), restores through its own `CheckpointManager` and adds a run counter
variable to the checkpoint (older checkpoints without it then fail the runner's
`assert_existing_objects_matched`, and its saves are not numbered by the
step). What it adds besides is polling GCE's maintenance-event notice on GPU
VMs (it declines GCE CPU VMs) and Borg's TPU preemption op; neither applies to
a single machine, where SIGTERM is the notice.

Example:
>>> with PreemptionWatcher() as watcher:
...     while training:
...         run_a_loop()
...         if stop_requested(watcher, strategy):
...             save_checkpoint()
...             raise TrainingPreempted(step, path)
"""

import signal
import threading

import tensorflow as tf
from absl import logging

from bertlab.training import strategy as strategy_lib

# 128 + SIGTERM: the status a shell gives a process SIGTERM killed, and TensorFlow's
# restartable exit code on GCE (failure_handling_util._RESTARTABLE_EXIT_CODE).
PREEMPTED_EXIT_CODE = 128 + signal.SIGTERM


class TrainingPreempted(SystemExit):
    """Raised by the runner after it saved a checkpoint because SIGTERM asked it to stop.

    A `SystemExit` with code `PREEMPTED_EXIT_CODE` (143): an app that lets it
    through exits with that status, after its `finally` blocks ran.

    Attributes:
      step: the step the checkpoint holds.
      checkpoint: the checkpoint's path (None on workers that are not the chief).
    """

    def __init__(self, step, checkpoint):
        super().__init__(PREEMPTED_EXIT_CODE)
        self.step = step
        self.checkpoint = checkpoint

    def __str__(self):
        return (f"Stopped by SIGTERM at step {self.step} (checkpoint {self.checkpoint}); "
                f"exit status {PREEMPTED_EXIT_CODE}. Rerun the same command to resume.")


class PreemptionWatcher:
    """While entered, SIGTERM sets `requested` instead of ending the process.

    Only the main thread of a process can install a signal handler; entered
    from another thread the watcher does nothing (SIGTERM keeps its previous
    handling) and says so in the log. On exit the previous handler is put back.
    """

    def __init__(self):
        self.requested = False
        self.signal_count = 0
        self._previous = None
        self._installed = False

    def _handle(self, signum, frame):
        del frame
        self.requested = True
        self.signal_count += 1
        if self.signal_count == 1:
            logging.warning("Received %s: saving a checkpoint after the current loop of steps, "
                            "then exiting.", signal.Signals(signum).name)

    def __enter__(self):
        if threading.current_thread() is not threading.main_thread():
            logging.info("Not in the main thread: SIGTERM will not save a checkpoint.")
            return self
        self._previous = signal.signal(signal.SIGTERM, self._handle)
        self._installed = True
        return self

    def __exit__(self, *exc_info):
        if self._installed:
            # None: a handler set outside Python; the default is the closest we can restore.
            signal.signal(signal.SIGTERM,
                          signal.SIG_DFL if self._previous is None else self._previous)
            self._installed = False
        return False


def stop_requested(watcher, strategy):
    """Whether the run stops now: this process got SIGTERM or, in a multi-worker
    run, any worker did (one all-reduce; every worker must call this at the same
    point of the run)."""
    if strategy_lib.num_workers(strategy) == 1:
        return watcher.requested
    flag = tf.constant(1.0 if watcher.requested else 0.0)
    total = strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(lambda: flag), axis=None)
    return float(total) > 0
