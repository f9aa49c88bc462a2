"""The server under overload and slow or hostile clients, with small limits so that each
case takes a second or less: a full queue is a fast 503 with `Retry-After`, a request past
its deadline a 504 that never runs; slow request heads and bodies get 408 and are closed,
and so are idle kept-alive connections; connections beyond the cap get a fast 503; a
shutdown finishes the requests in flight and is bounded; a POST must be application/json
(415); on a loopback address only loopback host names are answered (403); whatever the
parser raises is a 400.

A fake model (no TensorFlow call) behind the real app, batcher and uvicorn protocol."""

import json
import socket
import threading
import time

import numpy as np
import pytest

from bertlab.serving.dynamic_batcher import DynamicBatcher
from bertlab.serving.host_guard import host_name, is_loopback
from bertlab.serving.http_protocol import ConnectionLimits
from bertlab.serving.model_registry import NotFound
from bertlab.serving.rest_server import BackgroundServer, create_app

PATH = "/v1/models/gated:predict"


class GatedModel:
    """A served model (`gated`: float `x` in, `y = 2x` out) whose calls wait while
    `release` is clear; `seen` holds the first value of each call."""

    name, version, metadata = "gated", 1, {}
    inputs = {"serving_default": {"x": (np.dtype(np.float32), (-1,))}}
    outputs = {"serving_default": ["y"]}

    def __init__(self, **batching):
        self.started, self.release, self.seen = threading.Event(), threading.Event(), []
        self.release.set()
        self.batcher = DynamicBatcher(self._run, **{"max_batch_size": 1,
                                                    "batch_timeout_s": 0.0, **batching})
        self.queue_bound = self.batcher.queue_bound

    def _run(self, inputs):
        self.seen.append(float(inputs["x"][0]))
        self.started.set()
        self.release.wait(10)
        return {"y": inputs["x"] * 2}

    async def predict_async(self, signature, inputs):
        return await self.batcher.run(inputs)

    def batch_stats(self):
        return {"serving_default": self.batcher.stats.as_dict()}


class OneModelRegistry:
    """What the app needs of a `ModelRegistry`, serving one model."""

    def __init__(self, model):
        self.model = model

    def get(self, name, version=None):
        if name != self.model.name:
            raise NotFound(f"Servable not found for request: Latest({name})")
        return self.model

    def names(self):
        return [self.model.name]

    def served(self):
        return [self.model]


@pytest.fixture
def start():
    """`start(model=None, **BackgroundServer kwargs)`: a started server (stopped after)."""
    servers = []

    def make(model=None, **kwargs):
        model = model or GatedModel()
        server = BackgroundServer(create_app(OneModelRegistry(model)), **kwargs).start()
        server.model = model
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.model.release.set()
        server.stop()


def request_bytes(body=b'{"instances": [1.0]}', host="localhost",
                  content_type="application/json", method="POST", path=PATH):
    head = [f"{method} {path} HTTP/1.1", f"Content-Length: {len(body)}"]
    if host is not None:
        head.append(f"Host: {host}")
    if content_type is not None:
        head.append(f"Content-Type: {content_type}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def read_response(sock):
    """`(status, {header: value}, JSON body)` of one response; None if closed first."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
    while len(body) < int(headers.get("content-length", 0)):
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(lines[0].split()[1]), headers, json.loads(body) if body else None


def exchange(server, data, timeout=10):
    """Sends `data` on a new connection; the response (see `read_response`)."""
    with socket.create_connection((server.host, server.port), timeout=timeout) as sock:
        sock.sendall(data)
        return read_response(sock)


def _wait_for(predicate, timeout=5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def test_full_queue_is_a_fast_503_and_a_request_past_its_deadline_a_504(start):
    model = GatedModel(max_queued_requests=2, request_timeout_s=0.5)
    server = start(model)
    model.release.clear()
    answers = {}

    def send(name, value):
        answers[name] = exchange(server, request_bytes(f'{{"instances": [{value}]}}'.encode()))

    threads = [threading.Thread(target=send, args=("running", 1.0))]
    threads[0].start()
    assert model.started.wait(10)
    threads += [threading.Thread(target=send, args=(f"queued{i}", 2.0 + i)) for i in range(2)]
    for thread in threads[1:]:
        thread.start()
    assert _wait_for(lambda: model.batcher.queue_bound.waiting == 2)
    with socket.create_connection((server.host, server.port), timeout=10) as kept:
        started = time.monotonic()
        kept.sendall(request_bytes())
        status, headers, body = read_response(kept)
        assert time.monotonic() - started < 0.4  # at once, long before anything finishes
        assert status == 503 and headers["retry-after"] == "1", body
        assert "--max_queued_requests=2" in body["error"]
        # The fast refusal (before Starlette) leaves other answers to the app: a POST
        # that is not JSON is still a 415, an unknown model a 404.
        assert exchange(server, request_bytes(content_type="text/plain"))[0] == 415
        assert exchange(server, request_bytes(path="/v1/models/other:predict"))[0] == 404
        for thread in threads[1:]:
            thread.join(10)
        for name in ("queued0", "queued1"):
            status, _, body = answers[name]
            assert status == 504 and "waited 0.5 s" in body["error"], body
        model.release.set()
        threads[0].join(10)
        assert answers["running"][0] == 200 and answers["running"][2] == {"predictions": [2.0]}
        assert model.seen == [1.0]  # the expired requests never ran
        # The queue takes requests again, on the refused request's connection too (its
        # unread body was skipped).
        kept.sendall(request_bytes())
        assert read_response(kept)[:3:2] == (200, {"predictions": [2.0]})
    stats = model.batch_stats()["serving_default"]
    # Refused before its body was read; the two waiting ones expired.
    assert model.queue_bound.refused == 1 and stats["expired"] == 2


def test_event_loop_runs_at_a_lower_priority_than_the_model_calls(start):
    """`event_loop_nice`: the loop's thread (where requests are parsed and refused) gets
    the higher nice value; the threads calling the model, started before it, keep the
    priority the server was created with."""
    import os

    class PriorityRecordingModel(GatedModel):
        def _run(self, inputs):
            self.call_nice = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
            return super()._run(inputs)

        async def predict_async(self, signature, inputs):
            self.loop_nice = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
            return await super().predict_async(signature, inputs)

    base = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    model = PriorityRecordingModel()
    server = start(model, event_loop_nice=5)
    assert exchange(server, request_bytes())[0] == 200
    assert (model.loop_nice, model.call_nice) == (min(19, base + 5), base)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == base
    with pytest.raises(ValueError, match="event_loop_nice"):
        BackgroundServer(create_app(OneModelRegistry(model)), event_loop_nice=20)


def test_post_must_be_json(start):
    server = start()
    for content_type, status in [("application/json", 200),
                                 ("application/json; charset=utf-8", 200),
                                 ("Application/JSON", 200), ("text/plain", 415),
                                 ("application/x-www-form-urlencoded", 415),
                                 ("multipart/form-data; boundary=x", 415), (None, 415)]:
        got, _, body = exchange(server, request_bytes(content_type=content_type))
        assert got == status, (content_type, body)
        if status == 415:
            assert "Content-Type: application/json" in body["error"]


def test_only_loopback_host_names_are_answered_on_a_loopback_address(start):
    server = start()
    for host, status in [("localhost", 200), (f"localhost:{server.port}", 200),
                         ("LocalHost", 200), ("127.0.0.1:1", 200), ("[::1]", 200),
                         ("[::1]:8501", 200), ("evil.example", 403),
                         (f"evil.example:{server.port}", 403), ("127.0.0.1.evil.example", 403),
                         ("localhost:80x", 403), ("[::1", 403), ("", 403), (None, 400)]:
        got, _, body = exchange(server, request_bytes(host=host).replace(
            b"HTTP/1.1", b"HTTP/1.0") if host is None else request_bytes(host=host))
        assert got == status, (host, body)
        if status == 403:
            assert "DNS-rebinding" in body["error"]
    # Reads too (a rebound page would read the answers).
    assert exchange(server, request_bytes(b"", "evil.example", None, "GET",
                                          "/demo/apps.json"))[0] == 403
    # Bound to every interface (`check_host=False` here), any name is answered.
    other = start(check_host=False)
    assert exchange(other, request_bytes(host="evil.example"))[0] == 200
    assert host_name("[::1]:8501") == "::1" and host_name("LOCALHOST:1") == "localhost"
    assert host_name("a:b") is None and host_name("[::1]x") is None
    assert is_loopback("127.0.0.2") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.1.2.3")


def test_slow_heads_and_bodies_get_408_and_idle_connections_are_closed(start):
    server = start(limits=ConnectionLimits(header_timeout_s=0.3, body_timeout_s=0.3,
                                           keep_alive_timeout_s=0.3))
    head = request_bytes(b" " * 100)[:-100]  # a head announcing a body of 100 bytes
    cases = {"nothing sent": b"", "half a head": head[:40], "a head without its body": head,
             "half a body": head + b'{"instances": '}
    for what, sent in cases.items():
        started = time.monotonic()
        with socket.create_connection((server.host, server.port), timeout=5) as sock:
            sock.sendall(sent)
            status, _, body = read_response(sock)
            assert sock.recv(10) == b""  # closed
        assert status == 408 and "did not arrive within 0.3 s" in body["error"], what
        assert 0.25 < time.monotonic() - started < 2.0, what

    # A head trickled in one byte at a time is still cut at 0.3 s from its first byte.
    started = time.monotonic()
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        try:
            for byte in head:
                sock.sendall(bytes([byte]))
                time.sleep(0.05)
        except OSError:  # closed (or reset) by the server
            pass
    assert time.monotonic() - started < 1.5

    # A kept-alive connection is closed once idle, without an answer.
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        sock.sendall(request_bytes())
        assert read_response(sock)[0] == 200
        started = time.monotonic()
        assert sock.recv(10) == b""
        assert 0.2 < time.monotonic() - started < 2.0
    assert exchange(server, request_bytes())[0] == 200


def test_connections_beyond_the_cap_get_a_fast_503(start):
    server = start(limits=ConnectionLimits(max_connections=3, header_timeout_s=10))
    open_connections = server._server.server_state.connections
    idle = [socket.create_connection((server.host, server.port)) for _ in range(3)]
    try:
        assert _wait_for(lambda: len(open_connections) == 3)
        with socket.create_connection((server.host, server.port), timeout=5) as extra:
            extra.sendall(request_bytes())
            status, headers, body = read_response(extra)
            assert extra.recv(10) == b""
        assert status == 503 and headers["retry-after"] == "1"
        assert "3 connections open" in body["error"]
    finally:
        for sock in idle:
            sock.close()
    assert _wait_for(lambda: len(open_connections) == 0)
    assert exchange(server, request_bytes())[0] == 200


def test_shutdown_finishes_requests_in_flight_and_is_bounded(start):
    model = GatedModel()
    server = start(model, graceful_shutdown_s=5)
    model.release.clear()
    answers = []
    client = threading.Thread(target=lambda: answers.append(exchange(server, request_bytes())))
    client.start()
    assert model.started.wait(10)
    began = time.monotonic()
    stopper = threading.Thread(target=server.stop)
    stopper.start()

    def refused():
        try:
            socket.create_connection((server.host, server.port), timeout=1).close()
            return False
        except OSError:
            return True

    assert _wait_for(refused)  # no new connections while finishing
    model.release.set()
    client.join(10)
    stopper.join(10)
    assert answers[0][0] == 200 and answers[0][2] == {"predictions": [2.0]}
    assert not stopper.is_alive() and time.monotonic() - began < 3

    # A request that does not finish is cut after graceful_shutdown_s.
    stuck = GatedModel()
    server = start(stuck, graceful_shutdown_s=0.3)
    stuck.release.clear()
    answers = []

    def send():
        try:
            answers.append(exchange(server, request_bytes(), timeout=3))
        except OSError as error:
            answers.append(error)

    client = threading.Thread(target=send)
    client.start()
    assert stuck.started.wait(10)
    began = time.monotonic()
    server.stop()
    assert time.monotonic() - began < 2.0
    client.join(5)
    assert answers[0] is None or isinstance(answers[0], OSError) or answers[0][0] == 503, \
        answers


def test_answers_are_not_held_back_by_nagles_algorithm(start):
    """An answer's head and body leave in two writes: without TCP_NODELAY on the accepted
    socket the body waits for the client's delayed ACK, 40 ms per request."""
    server = start()
    latencies = []
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        for _ in range(11):
            started = time.perf_counter()
            sock.sendall(request_bytes(b"", method="GET", path="/demo/apps.json"))
            assert read_response(sock)[0] == 200
            latencies.append(time.perf_counter() - started)
    assert sorted(latencies)[5] < 0.02, latencies


def test_whatever_the_parser_raises_is_a_400(start, monkeypatch):
    from bertlab.serving import rest_server

    server = start()
    for body, message in [(b'{"instances": [' + b"1" * 5000 + b"]}",
                           "Malformed JSON: an integer with more than 4300 digits."),
                          (b'{"instances": ' + b"[" * 600 + b"1.0" + b"]" * 600 + b"}",
                           "Malformed JSON: nested too deeply")]:
        status, _, answer = exchange(server, request_bytes(body))
        assert status == 400 and answer["error"].startswith(message), answer

    def unforeseen(*args, **kwargs):
        raise TypeError("a case the codec did not foresee")

    monkeypatch.setattr(rest_server, "parse_predict_request", unforeseen)
    status, _, answer = exchange(server, request_bytes())
    assert status == 400 and answer == {"error": "Malformed request: TypeError."}
    monkeypatch.undo()
    assert exchange(server, request_bytes())[0] == 200
