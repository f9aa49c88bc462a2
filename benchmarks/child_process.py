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
