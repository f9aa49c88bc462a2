"""TF Serving's REST API over a `ModelRegistry` (Starlette app, run by uvicorn).

Endpoints (as `tensorflow_model_server --rest_api_port` has them):
- `GET /v1/models/<name>[/versions/<v>]`: version status
  (`{"model_version_status": [{"version", "state", "status"}]}`);
- `GET /v1/models/<name>[/versions/<v>]/metadata`: the signature defs;
- `POST /v1/models/<name>[/versions/<v>]:predict`: `{"instances": ...}` or
  `{"inputs": ...}` -> `{"predictions": ...}` or `{"outputs": ...}`
  (`bertlab.serving.rest_codec`), with `Content-Type: application/json`.
Errors are `{"error": "..."}`: 400 bad request (every body that cannot be
parsed, whatever the parser raises), 404 unknown model, version or path, 405
wrong method, 413 body or text over the limits, 415 a POST that is not
`application/json` (a cross-site form or `text/plain` POST cannot be one
without the browser asking first), 500 a failure inside the model (logged),
503 with `Retry-After` the model's queue is full (TF Serving's UNAVAILABLE),
504 the request waited past its deadline and was not run (DEADLINE_EXCEEDED).
A bad request never affects the next one.

Beyond TF Serving, for the demo page: `GET /` (the page, from `static_dir`),
`/static/...` (its files), `GET /demo/apps.json` (every served model's name,
version and what the `describe` hook makes of its metadata and signature:
`demo_listing`), `GET /demo/stats.json` (batching and queue counters). The
server knows no app: what a page shows of a model comes from the export's
metadata, through the hook its caller passes in.

Model names are looked up among the loaded models only, never joined to a
path; a name that is not a valid model name is refused (400).

`BackgroundServer` runs the app with uvicorn and the connection limits of
`http_protocol.ConnectionLimits` (read timeouts, a connection cap), a bounded
graceful shutdown, and on a loopback address the `Host` check of
`host_guard.LoopbackHostGuard`.

Example:
>>> registry = ModelRegistry("saved_models").start()
>>> server = BackgroundServer(create_app(registry), host="127.0.0.1", port=0).start()
>>> server.url
'http://127.0.0.1:43817'
"""

import asyncio
import logging
import os
import re
import socket
import threading
import time

import tensorflow as tf
import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import FileResponse, JSONResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from bertlab.export.model_config import is_valid_model_name
from bertlab.serving.admission import DeadlineExceeded, Overloaded
from bertlab.serving.dynamic_batcher import CannotSplit
from bertlab.serving.full_queue_refusal import FullQueueRefusal
from bertlab.serving.host_guard import LOOPBACK_NAMES, LoopbackHostGuard, is_loopback
from bertlab.serving.http_protocol import ConnectionLimits, protocol_factory
from bertlab.serving.model_registry import NotFound
from bertlab.serving.rest_codec import (DEFAULT_SIGNATURE, Limits, RequestError,
                                        decode_json_body, format_predict_response,
                                        parse_predict_request)
from bertlab.serving.thread_priority import lower_thread_priority

log = logging.getLogger("bertlab.serving")

DEFAULT_MAX_BODY_BYTES = 1 << 20
JSON_MEDIA_TYPE = "application/json"
_API_PATH = re.compile(r"^models/(?P<name>[^/:]*)"
                       r"(?:/versions/(?P<version>[^/:]*)|/labels/(?P<label>[^/:]*))?"
                       r"(?P<tail>/metadata|:[A-Za-z]+)?$")


def _error(message, status, headers=None):
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _media_type(request):
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def _read_body(request, limit):
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise RequestError(f"The request body ({int(length)} bytes) is larger than the limit "
                           f"of {limit} bytes.", status=413)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestError(f"The request body is larger than the limit of {limit} bytes.",
                               status=413)
        chunks.append(chunk)
    return b"".join(chunks)


def export_description(metadata, inputs, outputs):
    """The default `describe` hook: the export's metadata, unchanged, and the names of
    its `serving_default` inputs and outputs."""
    return {"metadata": metadata, "inputs": list(inputs), "outputs": list(outputs)}


def demo_listing(registry, describe=export_description):
    """`[{"name", "version", **describe(metadata, inputs, outputs)}]` for every served
    model, by name: what `GET /demo/apps.json` lists.

    `metadata` is the export's metadata as written (`bertlab.export.read_metadata`;
    `{}` without any), `inputs` and `outputs` the sorted names of its `serving_default`
    signature's inputs and outputs (empty without that signature). A `describe` that
    fails for one model is logged and that model gets `export_description` instead.
    """
    listing = []
    for served in registry.served():
        inputs = sorted(served.inputs.get(DEFAULT_SIGNATURE, {}))
        outputs = sorted(served.outputs.get(DEFAULT_SIGNATURE, []))
        try:
            described = dict(describe(served.metadata, inputs, outputs))
        except Exception:  # noqa: BLE001  (one odd export must not hide the others)
            log.exception("Describing %s version %d failed", served.name, served.version)
            described = export_description(served.metadata, inputs, outputs)
        listing.append({"name": served.name, "version": served.version,
                        **{k: v for k, v in described.items() if k not in ("name", "version")}})
    return listing


def create_app(registry, static_dir=None, max_body_bytes=DEFAULT_MAX_BODY_BYTES, limits=None,
               describe=None):
    """The Starlette app serving `registry` (and the demo page from `static_dir`).

    Args:
      registry: a started `ModelRegistry`.
      static_dir: directory with `index.html` and the page's files (None: no page).
      max_body_bytes: the largest request body accepted (413 beyond).
      limits: `rest_codec.Limits` (rows per request, characters per text).
      describe: `describe(metadata, inputs, outputs) -> dict`, what `/demo/apps.json`
        says of each model beside its name and version (see `demo_listing`); the
        server knows no app, the page's owner does (`apps.serve.app_views`).
        None: `export_description` (the metadata passed through).
    """
    limits = limits or Limits()
    describe = describe or export_description

    async def api(request):
        match = _API_PATH.match(request.path_params["path"])
        if not match:
            return _error(f"Malformed request: {request.method} {request.url.path}", 404)
        name, version, label, tail = match.group("name", "version", "label", "tail")
        if not is_valid_model_name(name):
            return _error(f"Invalid model name {name[:100]!r}: use letters, digits, '_', '-' "
                          "and '.'.", 400)
        if version is not None and not version.isdigit():
            return _error(f"Invalid version {version[:40]!r}: versions are integers.", 400)
        if label is not None:
            return _error(f"Version labels are not configured on this server (label "
                          f"{label[:40]!r}).", 404)
        try:
            if tail in (None, "/metadata"):
                if request.method != "GET":
                    return _error(f"{request.method} is not allowed here; use GET.", 405)
                if tail is None:
                    return JSONResponse(registry.status(name, version))
                return JSONResponse(registry.get(name, version).metadata_json())
            if tail != ":predict":
                return _error(f"{tail[1:]!r} is not supported: the exports have predict "
                              "signatures; use :predict.", 400)
            if request.method != "POST":
                return _error(f"{request.method} is not allowed for :predict; use POST.", 405)
            if _media_type(request) != JSON_MEDIA_TYPE:
                return _error(f"The request body must be JSON, sent with 'Content-Type: "
                              f"{JSON_MEDIA_TYPE}' (got "
                              f"{request.headers.get('content-type', 'none')[:100]!r}; with "
                              f"curl: -H 'Content-Type: {JSON_MEDIA_TYPE}').", 415)
            served = registry.get(name, version)
            try:
                # Full now: refused before its body is read and parsed (the refusal is what
                # an overloaded server answers most; uvicorn skips the unread body).
                served.queue_bound.refuse_if_full()
            except Overloaded as error:
                return _model_error(error, name)
            signature, inputs, row_format = await _parse(request, served)
            try:
                outputs = await served.predict_async(signature, inputs)
            except asyncio.CancelledError:
                # A shutdown past --graceful_shutdown_s cancels what is left: say so (and
                # end the request normally) instead of uvicorn's 500 with a traceback.
                return _error("The server is shutting down; try again later.", 503,
                              {"Retry-After": "1"})
            except Exception as error:  # noqa: BLE001
                return _model_error(error, name)
            return JSONResponse(format_predict_response(outputs, row_format))
        except NotFound as e:
            return _error(str(e), 404)
        except RequestError as e:
            return _error(str(e), e.status)

    async def _parse(request, served):
        """`(signature, inputs, row_format)`; `RequestError` for anything unparseable."""
        try:
            body = decode_json_body(await _read_body(request, max_body_bytes))
            return parse_predict_request(body, served.inputs, limits)
        except RequestError:
            raise
        except ClientDisconnect:
            raise RequestError("The client closed the connection before sending the whole "
                               "body.") from None
        except Exception as error:  # noqa: BLE001  (a request the codec did not foresee)
            log.warning("Refusing an unparseable request for %s: %s: %s", served.name,
                        type(error).__name__, str(error)[:200])
            raise RequestError(f"Malformed request: {type(error).__name__}.") from None

    def _model_error(error, name):
        if isinstance(error, Overloaded):
            return _error(str(error), 503, {"Retry-After": str(error.retry_after_s)})
        if isinstance(error, DeadlineExceeded):
            return _error(str(error), 504)
        if isinstance(error, CannotSplit):
            return _error(str(error), 400)
        if isinstance(error, tf.errors.InvalidArgumentError):
            return _error(f"The model rejected the input: {error.message}", 400)
        log.exception("Prediction of %s failed", name, exc_info=error)
        return _error(f"Prediction failed: {type(error).__name__}.", 500)

    async def apps(request):
        return JSONResponse({"apps": demo_listing(registry, describe)})

    async def stats(request):
        return JSONResponse({n: registry.get(n).batch_stats() for n in registry.names()})

    async def not_found(request, exc):
        return _error(exc.detail if isinstance(exc.detail, str) else "Not found",
                      exc.status_code)

    async def server_error(request, exc):
        log.exception("Unhandled error for %s", request.url.path, exc_info=exc)
        return _error("Internal server error.", 500)

    routes = [Route("/v1/{path:path}", api, methods=["GET", "POST", "PUT", "DELETE"]),
              Route("/demo/apps.json", apps), Route("/demo/stats.json", stats)]
    if static_dir is not None:
        index = os.path.join(static_dir, "index.html")
        if not os.path.isfile(index):
            raise FileNotFoundError(f"No index.html in {static_dir}.")

        async def page(request):
            return FileResponse(index, headers={"Cache-Control": "no-cache"})

        routes += [Route("/", page), Mount("/static", StaticFiles(directory=static_dir))]
    app = Starlette(routes=routes,
                    exception_handlers={HTTPException: not_found, Exception: server_error})

    def find_served(scope):
        """The served model a `:predict` POST is for, or None (the app answers)."""
        path = scope["path"]
        if not (path.startswith("/v1/") and path.endswith(":predict")):
            return None
        match = _API_PATH.match(path[4:])
        if not match or match.group("label") is not None:
            return None
        name, version = match.group("name", "version")
        if not is_valid_model_name(name) or (version is not None and not version.isdigit()):
            return None
        try:
            return registry.get(name, version)
        except NotFound:
            return None

    # The refusal of a request for a model whose queue is full, answered before Starlette.
    return FullQueueRefusal(app, find_served)


class BackgroundServer:
    """Runs an ASGI app with uvicorn (in a daemon thread, or in the caller's: the CLI).

    Connections get `limits` (read timeouts, a connection cap: `http_protocol`);
    on a loopback address the app is put behind `LoopbackHostGuard`. Stopping
    (`stop`, or SIGTERM/Ctrl-C in `run_forever`) stops accepting, lets the
    requests in flight finish, and after `graceful_shutdown_s` cancels what is
    left, so the server is gone within that time (plus the model call running).

    Args:
      app: the ASGI app.
      host: address to bind (127.0.0.1 by default: local clients only).
      port: port (0: any free port; see `.port` after `start`).
      limits: `ConnectionLimits` (default: its defaults).
      graceful_shutdown_s: the longest a shutdown waits for requests in flight.
      check_host: refuse requests for other hosts than the loopback names
        (None: when `host` is a loopback address).
      event_loop_nice: added to the event loop thread's `nice` when it starts, so
        that under overload the model's threads get the cores before the refusals
        (`thread_priority`; 0: unchanged).
    """

    def __init__(self, app, host="127.0.0.1", port=0, log_level="warning", access_log=False,
                 limits=None, graceful_shutdown_s=10.0, check_host=None, event_loop_nice=0):
        self.host = host
        if not 0 <= int(event_loop_nice) <= 19:
            raise ValueError(f"`event_loop_nice` must be in [0, 19], got {event_loop_nice}.")
        self.event_loop_nice = int(event_loop_nice)
        self.limits = limits or ConnectionLimits()
        if float(graceful_shutdown_s) < 0:
            raise ValueError(f"`graceful_shutdown_s` must be >= 0, got {graceful_shutdown_s}.")
        self.graceful_shutdown_s = float(graceful_shutdown_s)
        if check_host is None:
            check_host = is_loopback(host)
        if check_host:
            app = LoopbackHostGuard(app, LOOPBACK_NAMES | {host.strip("[]").lower()})
        # IPPROTO_TCP explicitly: asyncio turns Nagle's algorithm off (TCP_NODELAY) only on
        # sockets whose `proto` says TCP, and an accepted socket inherits this one's. With
        # proto 0, a response's head and body left in two segments, the body waiting for the
        # client's delayed ACK: 45 ms for a small GET instead of 0.3 ms (127.0.0.1, measured).
        self._socket = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET,
                                     socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, int(port)))
        # Connections queue from now on, even before uvicorn runs; a burst of clients
        # connecting at once must not overflow the queue (SYN retries cost a second).
        self._socket.listen(2048)
        self.port = self._socket.getsockname()[1]
        self._server = uvicorn.Server(uvicorn.Config(
            app, log_level=log_level, access_log=access_log, backlog=2048,
            http=protocol_factory(self.limits),
            timeout_keep_alive=self.limits.keep_alive_timeout_s,
            timeout_graceful_shutdown=self.graceful_shutdown_s))
        self._thread = None

    @property
    def url(self):
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self, timeout_s=30):
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"The server did not start on {self.url}.")
            time.sleep(0.02)
        return self

    def run_forever(self):
        """Runs in the calling thread until interrupted (Ctrl-C / SIGTERM), then shuts
        down gracefully within `graceful_shutdown_s`."""
        self._serve()

    def _serve(self):
        lower_thread_priority(self.event_loop_nice)
        self._server.run(sockets=[self._socket])

    def stop(self):
        """Shuts down as on SIGTERM: stops accepting, waits for the requests in flight
        (at most `graceful_shutdown_s`), then returns."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=self.graceful_shutdown_s + 30)
        self._socket.close()
