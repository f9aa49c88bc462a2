"""Load test of the local server (`python -m apps.serve`) with the sentiment export.

Starts the server in its own process on 127.0.0.1, then sends one-text
`:predict` requests (SST-2 dev sentences, or built-in ones without the data),
first from 1 client one at a time, then from 16 concurrent clients (each on
its own keep-alive connection). Each phase is bounded by a request count and
a time limit. Prints throughput, p50/p99 latency and errors per phase (errors
must be zero), then the concurrent/sequential throughput ratio; the goal
with dynamic batching is >= 3x.

    python benchmarks/serving_load.py [--model_base_path=saved_models] [--model=sentiment]
        [--requests=400] [--max_seconds=60] [--clients=16] [--no_batching]

Not a test: run it on a quiet machine (the numbers share the CPU with the
clients, which run here too).
"""

import argparse
import concurrent.futures
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FALLBACK_TEXTS = [
    "a charming and affecting journey", "dull , lifeless and far too long",
    "the performances are wonderful , but the script lets them down",
    "one of the most inventive films of the year", "i could not wait for it to end",
    "a gripping , beautifully acted drama that stays with you",
]


def read_texts(data_dir, limit=2000):
    path = os.path.join(data_dir, "sst2", "dev.tsv")
    if not os.path.isfile(path):
        return FALLBACK_TEXTS
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()[1:limit + 1]
    return [line.split("\t")[0] for line in lines if line.strip()] or FALLBACK_TEXTS


def start_server(args):
    command = [sys.executable, "-m", "apps.serve", f"--model_base_path={args.model_base_path}",
               "--host=127.0.0.1", "--port=0", "--poll_interval_s=0", "--demo_page=false",
               f"--enable_batching={'false' if args.no_batching else 'true'}",
               f"--max_batch_size={args.max_batch_size}",
               f"--batch_timeout_ms={args.batch_timeout_ms}"]
    process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True,
                               env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    deadline = time.monotonic() + 300
    lines = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        found = re.search(r"demo page at http://127\.0\.0\.1:(\d+)/", line)
        if found:
            # Keep draining the server's log so it never blocks on a full pipe.
            threading.Thread(target=lambda: [None for _ in process.stdout], daemon=True).start()
            return process, int(found.group(1))
    process.kill()
    raise RuntimeError("The server did not start:\n" + "".join(lines[-40:]))


class Client:
    """One keep-alive connection sending `:predict` requests."""

    def __init__(self, port, model):
        self.port, self.path = port, f"/v1/models/{model}:predict"
        self.connection = None

    def predict(self, text):
        body = json.dumps({"instances": [text]})
        for attempt in range(2):
            try:
                if self.connection is None:
                    self.connection = http.client.HTTPConnection("127.0.0.1", self.port,
                                                                 timeout=120)
                self.connection.request("POST", self.path, body,
                                        {"Content-Type": "application/json"})
                response = self.connection.getresponse()
                data = response.read()
                if response.status != 200:
                    return f"HTTP {response.status}: {data[:200]!r}"
                prediction = json.loads(data)["predictions"][0]
                return None if "label" in prediction else f"unexpected answer {data[:200]!r}"
            except (http.client.HTTPException, OSError) as error:
                self.close()
                if attempt:
                    return f"{type(error).__name__}: {error}"
        return "unreachable"

    def close(self):
        if self.connection is not None:
            self.connection.close()
            self.connection = None


def run_phase(port, model, texts, clients, requests, max_seconds):
    """Sends up to `requests` requests from `clients` threads; returns the phase's numbers."""
    latencies, errors, lock = [], [], threading.Lock()
    counter = iter(range(requests))
    deadline = time.monotonic() + max_seconds

    def worker():
        client = Client(port, model)
        try:
            while time.monotonic() < deadline:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                started = time.perf_counter()
                error = client.predict(texts[i % len(texts)])
                elapsed = time.perf_counter() - started
                with lock:
                    (errors.append(error) if error else latencies.append(elapsed))
        finally:
            client.close()

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        for future in [pool.submit(worker) for _ in range(clients)]:
            future.result()
    wall = time.perf_counter() - started
    latencies.sort()

    def percentile(q):
        return 1000 * latencies[min(len(latencies) - 1, int(q * len(latencies)))] \
            if latencies else float("nan")

    return {"clients": clients, "requests": len(latencies) + len(errors), "ok": len(latencies),
            "errors": len(errors), "first_errors": errors[:3], "seconds": round(wall, 2),
            "throughput_rps": round(len(latencies) / wall, 2) if wall else 0.0,
            "p50_ms": round(percentile(0.50), 1), "p99_ms": round(percentile(0.99), 1)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model_base_path", default=os.path.join(REPO_ROOT, "saved_models"))
    parser.add_argument("--model", default="sentiment")
    parser.add_argument("--data_dir", default=os.path.join(os.path.dirname(REPO_ROOT), "shared",
                                                           "data"))
    parser.add_argument("--requests", type=int, default=400, help="per phase (upper bound)")
    parser.add_argument("--max_seconds", type=float, default=60.0, help="per phase")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--warmup_requests", type=int, default=32)
    parser.add_argument("--max_batch_size", type=int, default=32)
    parser.add_argument("--batch_timeout_ms", type=float, default=2.0)
    parser.add_argument("--no_batching", action="store_true", help="serve without batching")
    args = parser.parse_args()
    if not os.path.isdir(os.path.join(args.model_base_path, args.model)):
        sys.exit(f"error: no {args.model} export under {args.model_base_path} (train one: "
                 "python -m apps.sentiment.train --config=configs/sentiment/smoke.yaml)")
    texts = read_texts(args.data_dir)
    process, port = start_server(args)
    try:
        run_phase(port, args.model, texts, 4, args.warmup_requests, args.max_seconds)
        results = {
            "sequential": run_phase(port, args.model, texts, 1, args.requests,
                                    args.max_seconds),
            "concurrent": run_phase(port, args.model, texts, args.clients, args.requests,
                                    args.max_seconds),
        }
    finally:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
    for name, r in results.items():
        print(f"{name:>10}: {r['clients']:>2} client(s)  {r['ok']:>5} ok  {r['errors']} errors  "
              f"{r['throughput_rps']:8.1f} req/s  p50 {r['p50_ms']:7.1f} ms  "
              f"p99 {r['p99_ms']:7.1f} ms  ({r['seconds']} s)")
        for error in r["first_errors"]:
            print(f"            error: {error}")
    ratio = results["concurrent"]["throughput_rps"] / max(
        results["sequential"]["throughput_rps"], 1e-9)
    print(f"throughput ratio ({args.clients} concurrent / 1 sequential): {ratio:.2f}x "
          f"(batching {'off' if args.no_batching else 'on'}; goal >= 3x)")
    print(json.dumps({"results": results, "ratio": round(ratio, 2), "cpu_count": os.cpu_count(),
                      "hostname": socket.gethostname(), "batching": not args.no_batching}))
    if any(r["errors"] for r in results.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
