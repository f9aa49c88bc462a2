"""Chaos check of preemption: SIGTERM in the middle of a real training run, the same
command again, and the final weights against an uninterrupted run's.

Runs an app's train command (default: `apps.sentiment.train` with
`configs/sentiment/smoke.yaml`, MiniLM fine-tuned on 2,000 SST-2 sentences for
63 steps, seeded, on the CPU) three or four times, each in its own process:

1. uninterrupted, into `reference/`;
2. the same command into `chaos/`, sent SIGTERM as soon as it logs the progress
   line of step `--kill_at_step` or later (mid-run): it must save a checkpoint
   and exit with status 143 (`bertlab.training.preemption`);
3. the same command again: it must resume from that checkpoint and finish;
4. (`--rerun`, on by default) the same command once more: it must train and
   export nothing ("nothing to train", no second export version).
Then every tensor of the two final checkpoints (model weights, optimizer
moments, step, dropout generator states; not the checkpoint's own save
counter) and of the two exported best weights is compared: the goal is a
maximum absolute difference of exactly 0.

    python benchmarks/preemption_chaos.py [--app=sentiment]
        [--config=configs/sentiment/smoke.yaml] [--kill_at_step=20]
        [--work_dir=DIR] [--set trainer.steps_per_loop=10 ...] [--norerun]

Not a test (a few minutes on 2 CPU cores); the test with a tiny model is
`tests/training/test_preemption.py`. Exits with 1 if a check fails.
"""

import argparse
import glob
import os
import pathlib
import re
import signal
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # this process reads checkpoints only

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
# tf.train.Checkpoint's count of its own saves (1 for a run saved once, 2 with the
# preemption save): bookkeeping of the checkpoint object, not training state.
NOT_STATE = frozenset({"save_counter/.ATTRIBUTES/VARIABLE_VALUE"})
PREEMPTED_EXIT_CODE = 143  # bertlab.training.preemption.PREEMPTED_EXIT_CODE
_PROGRESS = re.compile(rb"step (\d+)/(\d+) ")


def train_command(args, model_dir, export_dir):
    command = [sys.executable, "-m", f"apps.{args.app}.train", f"--config={args.config}",
               f"--model_dir={model_dir}", f"--export_dir={export_dir}"]
    for override in args.set:
        command += ["--set", override]
    return command


def run(command, log_path, kill_at_step=None):
    """Runs `command` (output to `log_path`); with `kill_at_step`, sends SIGTERM once a
    progress line reaches that step. Returns `(status, seconds, seconds from SIGTERM to
    exit or None, the step of the progress line that triggered it)`."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    started = time.perf_counter()
    killed_at, signalled = None, None
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT)
        try:
            for line in iter(process.stdout.readline, b""):
                log.write(line)
                if kill_at_step is None or signalled is not None:
                    continue
                steps = [int(m.group(1)) for m in _PROGRESS.finditer(line)]
                if steps and max(steps) >= kill_at_step:
                    killed_at = max(steps)
                    process.send_signal(signal.SIGTERM)
                    signalled = time.perf_counter()
            status = process.wait()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    ended = time.perf_counter()
    return status, ended - started, (ended - signalled if signalled else None), killed_at


def tensors(checkpoint_prefix):
    """`{name: array}` of every variable in a TensorFlow checkpoint."""
    import tensorflow as tf  # deferred: the training processes need no TensorFlow here

    reader = tf.train.load_checkpoint(checkpoint_prefix)
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
            if name != "_CHECKPOINTABLE_OBJECT_GRAPH" and name not in NOT_STATE}


def max_abs_difference(a, b):
    """`(max |a - b| over all tensors, names present in one only, names that differ)`."""
    import numpy as np

    only = sorted(set(a) ^ set(b))
    worst, differing = 0.0, []
    for name in sorted(set(a) & set(b)):
        x, y = np.asarray(a[name]), np.asarray(b[name])
        if x.shape != y.shape:
            differing.append(name)
            worst = float("inf")
            continue
        if x.dtype.kind in "fc" or y.dtype.kind in "fc":
            diff = float(np.max(np.abs(x.astype(np.float64) - y.astype(np.float64)))) \
                if x.size else 0.0
        else:
            diff = 0.0 if np.array_equal(x, y) else float("inf")
        if diff > 0:
            differing.append(name)
        worst = max(worst, diff)
    return worst, only, differing


def latest_checkpoint(model_dir):
    import tensorflow as tf  # deferred: see `tensors`

    return tf.train.latest_checkpoint(str(model_dir))


def versions(export_dir):
    return sorted(int(p.name) for p in pathlib.Path(export_dir).glob("[0-9]*") if p.is_dir())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--app", default="sentiment")
    parser.add_argument("--config", default=str(REPO_ROOT / "configs/sentiment/smoke.yaml"))
    parser.add_argument("--kill_at_step", type=int, default=20,
                        help="SIGTERM once a progress line reaches this step.")
    parser.add_argument("--work_dir", default=None, help="Default: a temporary directory.")
    parser.add_argument("--set", action="append", default=[], help="Passed on to the app.")
    parser.add_argument("--rerun", action=argparse.BooleanOptionalAction, default=True,
                        help="Run the finished command once more (no new export expected).")
    args = parser.parse_args()
    work = pathlib.Path(args.work_dir or tempfile.mkdtemp(prefix="preemption_chaos-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"work dir {work}; {args.app} {args.config} {' '.join(args.set)}", flush=True)
    failures = []

    status, seconds, _, _ = run(train_command(args, work / "reference", work / "exports_ref"),
                                work / "reference.log")
    print(f"uninterrupted run: status {status}, {seconds:.1f} s", flush=True)
    if status != 0:
        sys.exit(f"the uninterrupted run failed; see {work / 'reference.log'}")

    chaos = train_command(args, work / "chaos", work / "exports_chaos")
    status, seconds, to_exit, killed_at = run(chaos, work / "killed.log", args.kill_at_step)
    saved = latest_checkpoint(work / "chaos")
    stop_line = [line for line in (work / "killed.log").read_text(errors="replace").splitlines()
                 if "Stopped by SIGTERM" in line]
    print(f"SIGTERM after the progress line of step {killed_at}: status {status} "
          f"(expected {PREEMPTED_EXIT_CODE}), exited {to_exit or float('nan'):.1f} s after "
          f"the signal, latest checkpoint {saved and os.path.basename(saved)}", flush=True)
    print(f"  log: {stop_line[-1].strip() if stop_line else '(no stop line)'}", flush=True)
    if killed_at is None:
        failures.append(f"no progress line reached step {args.kill_at_step}")
    if status != PREEMPTED_EXIT_CODE:
        failures.append(f"the interrupted run exited with {status}, not {PREEMPTED_EXIT_CODE}")
    if saved is None:
        failures.append("no checkpoint after SIGTERM")

    status, seconds, _, _ = run(chaos, work / "resumed.log")
    resumed = [line for line in (work / "resumed.log").read_text(errors="replace").splitlines()
               if "Training from step" in line]
    print(f"same command again: status {status}, {seconds:.1f} s; "
          f"{resumed[0].split('] ')[-1].strip() if resumed else '(no training line)'}",
          flush=True)
    if status != 0:
        failures.append(f"the resumed run exited with {status}")

    if args.rerun:
        before = versions(work / "exports_chaos")
        status, seconds, _, _ = run(chaos, work / "rerun.log")
        after = versions(work / "exports_chaos")
        nothing = [line for line in (work / "rerun.log").read_text(errors="replace").splitlines()
                   if "nothing to train (step" in line]
        print(f"finished command once more: status {status}, {seconds:.1f} s, export versions "
              f"{before} -> {after}; {nothing[0].split('] ')[-1].strip() if nothing else '?'}",
              flush=True)
        if status != 0 or after != before or not nothing:
            failures.append("the rerun of the finished command trained or exported again")

    reference_ckpt, chaos_ckpt = latest_checkpoint(work / "reference"), latest_checkpoint(
        work / "chaos")
    if reference_ckpt is None or chaos_ckpt is None:
        failures.append("a final checkpoint is missing")
    else:
        worst, only, differing = max_abs_difference(tensors(reference_ckpt), tensors(chaos_ckpt))
        print(f"final checkpoints {os.path.basename(reference_ckpt)} vs "
              f"{os.path.basename(chaos_ckpt)}: max abs difference {worst:.3g} over all tensors "
              f"({len(differing)} differ, {len(only)} in one only)", flush=True)
        if worst != 0 or only or os.path.basename(reference_ckpt) != os.path.basename(
                chaos_ckpt):
            failures.append(f"final checkpoints differ: {(differing + only)[:5]}")
    best = [glob.glob(str(work / run_dir / "best" / "model.index")) for run_dir in
            ("reference", "chaos")]
    if all(best):
        worst, only, _ = max_abs_difference(
            tensors(best[0][0][:-len(".index")]), tensors(best[1][0][:-len(".index")]))
        print(f"best weights (exported): max abs difference {worst:.3g}", flush=True)
        if worst != 0 or only:
            failures.append("the exported best weights differ")
    for failure in failures:
        print(f"FAILED: {failure}", flush=True)
    print("OK" if not failures else f"{len(failures)} check(s) failed", flush=True)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
