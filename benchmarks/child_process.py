"""Each configuration of a benchmark in its own process, and its result back as JSON.

A benchmark that compares runtimes runs each one in a fresh Python process
(TensorFlow and PyTorch must not share threads, allocators or a warm cache): the
parent calls `spawn_child(__file__, ["--child", name, ...])`, the child does its
work and ends with `report_result({...})`, the last line it prints.

Example:
>>> spawn_child(__file__, ["--child", "bertlab"], env={"OMP_NUM_THREADS": "2"})
{'sequences_per_second': 61.1}
>>> spawn_child(__file__, ["--child", "broken"])
{'error': 'ValueError: ...'}
"""

import json
import os
import subprocess
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def report_result(result):
    """Prints `result` (a JSON-serializable dict) as the child's last stdout line."""
    print(json.dumps(result), flush=True)


def spawn_child(script, arguments, env=None):
    """Runs `python script *arguments` in a fresh process, the repository importable
    and TensorFlow's C++ logging quiet; `env` adds or overrides environment variables.

    Returns:
      the dict its last stdout line holds, or `{"error": <last stderr line>}` when it
      failed or printed no result.
    """
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
    environment["PYTHONPATH"] = os.pathsep.join(
        filter(None, [REPO_ROOT, os.environ.get("PYTHONPATH")]))
    result = subprocess.run([sys.executable, os.path.abspath(script), *arguments],
                            capture_output=True, text=True, env=environment)
    lines = result.stdout.strip().splitlines()
    if result.returncode == 0 and lines:
        try:
            return json.loads(lines[-1])
        except json.JSONDecodeError:
            pass
    errors = result.stderr.strip().splitlines()
    return {"error": errors[-1] if errors else f"exit {result.returncode}, no result printed"}


def run_configurations(configs, wanted, repeats, run_one, unit, flops_per_unit, digits=1):
    """Runs every configuration of `configs` (`(name, runner, ...)` tuples) whose name or
    runner is in `wanted`, `repeats` fresh processes each (`run_one(name)` -> a rate or
    None), and prints one row each: the best rate, its GFLOP/s (`flops_per_unit(runner)`
    floating-point operations per `unit`), and every run.

    Returns:
      `{name: [rates]}` of the configurations that produced a rate.
    """
    results = {}
    for name, runner, *_ in configs:
        if runner not in wanted and name not in wanted:
            continue
        rates = [r for r in (run_one(name) for _ in range(repeats)) if r is not None]
        if rates:
            results[name] = rates
            best = max(rates)
            each = ", ".join(f"{r:.{digits}f}" for r in rates)
            print(f"  {name:24s} {best:8.{digits}f} {unit}/s  "
                  f"{best * flops_per_unit(runner) / 1e9:7.0f} GFLOP/s  (runs: {each})",
                  flush=True)
    return results


def print_ratios(results, unit, peers=("keras-hub", "torch"), digits=1):
    """bertlab's best configuration against the best peer's, from `run_configurations`'
    results: the ratio of their best runs and of their median runs (a process that ran
    in a slow mode shows in the second), then against each peer."""
    best = {name: max(rates) for name, rates in results.items()}
    ours = {k: v for k, v in best.items() if k.startswith("bertlab")}
    others = {k: v for k, v in best.items() if not k.startswith("bertlab")}
    if not ours or not others:
        return
    mine = max(ours, key=ours.get)
    peer = max(others, key=others.get)
    print(f"\nbest bertlab: {mine} {ours[mine]:.{digits}f} {unit}/s; best peer: {peer} "
          f"{others[peer]:.{digits}f} {unit}/s; ratio {ours[mine] / others[peer]:.2f}x "
          f"(medians of the runs: {_median(results[mine]) / _median(results[peer]):.2f}x)")
    for label in peers:
        theirs = {k: v for k, v in others.items() if k.startswith(label)}
        if theirs:
            top = max(theirs, key=theirs.get)
            print(f"  vs {label} best ({top}): {ours[mine] / theirs[top]:.2f}x")


def _median(values):
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
