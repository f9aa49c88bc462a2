"""uvicorn's HTTP/1.1 protocol (h11) with read timeouts and a connection cap.

uvicorn (0.54) times out only an idle keep-alive connection *after* a
response: a connection that never sends a request, sends its head slowly, or
stops half-way through its body is held forever (slowloris), and
`limit_concurrency` answers 503 only once a request has arrived, counting the
idle connections too. `GuardedH11Protocol` adds what nginx and Apache have:

- `header_timeout_s`: the whole request head (request line and headers) must
  arrive within this time, counted from the connection's start or from the
  first byte of a request on a kept-alive connection; then the connection gets
  `408` and is closed;
- `body_timeout_s`: the whole body must arrive within this time after the
  head; then `408` (or just the close, if its request was answered already);
- `max_connections`: a connection beyond this many open ones is answered at
  once with `503` and `Retry-After` and closed, before anything is read;
- `keep_alive_timeout_s`: uvicorn's idle time after a response.

Use it through `BackgroundServer` (`bertlab.serving.rest_server`), or pass
`protocol_factory(limits)` as uvicorn's `http`.

Example:
>>> config = uvicorn.Config(app, http=protocol_factory(ConnectionLimits(header_timeout_s=5)),
...                         timeout_keep_alive=30)
"""

import functools
import json
import logging

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("bertlab.serving")


class ConnectionLimits:
    """Limits on each connection (see the module docstring).

    Args:
      max_connections: most connections open at once (the next gets 503).
      header_timeout_s: seconds to receive a request's head.
      body_timeout_s: seconds to receive a request's body after its head.
      keep_alive_timeout_s: seconds an idle connection is kept after a response.
    """

    def __init__(self, max_connections=1024, header_timeout_s=10.0, body_timeout_s=30.0,
                 keep_alive_timeout_s=30.0):
        self.max_connections = int(max_connections)
        self.header_timeout_s = float(header_timeout_s)
        self.body_timeout_s = float(body_timeout_s)
        self.keep_alive_timeout_s = float(keep_alive_timeout_s)
        if self.max_connections < 1:
            raise ValueError(f"`max_connections` must be positive, got {max_connections}.")
        for name in ("header_timeout_s", "body_timeout_s", "keep_alive_timeout_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"`{name}` must be positive, got {getattr(self, name)}.")


def raw_response(status, reason, message, extra_headers=()):
    """A complete `Connection: close` HTTP/1.1 response with a JSON `{"error": message}`
    body, as bytes (for answers written outside a request cycle)."""
    body = json.dumps({"error": message}).encode("utf-8")
    head = [f"HTTP/1.1 {status} {reason}", "Content-Type: application/json",
            f"Content-Length: {len(body)}", "Connection: close", *extra_headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode("ascii") + body


class GuardedH11Protocol(H11Protocol):
    """uvicorn's `H11Protocol` with `ConnectionLimits` (one instance per connection)."""

    def __init__(self, config, server_state, app_state, _loop=None, limits=None):
        super().__init__(config, server_state, app_state, _loop)
        self.limits = limits or ConnectionLimits()
        self._refused = False
        self._phase = None          # "head" or "body": what is being waited for
        self._read_timer = None

    # ------------------------------------------------------------ connection cap

    def connection_made(self, transport):
        if len(self.connections) >= self.limits.max_connections:
            self._refuse(transport)
            return
        super().connection_made(transport)
        self._set_phase("head")

    def _refuse(self, transport):
        """Answers 503 before reading anything; closes once the client has read it."""
        self._refused = True
        self.transport = transport
        log.debug("Refusing a connection: %d are open (--max_connections)",
                  len(self.connections))
        transport.write(raw_response(
            503, "Service Unavailable",
            f"The server has {self.limits.max_connections} connections open (the limit); "
            "try again later.", ["Retry-After: 1"]))
        if transport.can_write_eof():
            transport.write_eof()  # the client reads the answer, then closes
        # Closing now could reset the connection before the answer is read; give it a second.
        self._read_timer = self.loop.call_later(1.0, transport.close)

    def data_received(self, data):
        if self._refused:
            return  # the request is not read: it was refused
        super().data_received(data)
        self._track_phase()

    def eof_received(self):
        if self._refused:
            return None  # close
        return super().eof_received()

    def connection_lost(self, exc):
        self._cancel_timer()
        if self._refused:
            return
        super().connection_lost(exc)

    # ------------------------------------------------------------ read timeouts

    def _track_phase(self, head_started=True):
        """Starts (or keeps) the timer of what the connection is waiting for now.

        `head_started`: bytes have arrived since the last request (even a lone CRLF,
        which cancelled uvicorn's keep-alive timer), so an idle state means a head is
        being read.
        """
        state = self.conn.their_state
        if state is h11.IDLE and head_started:
            self._set_phase("head")
        elif state is h11.SEND_BODY:
            self._set_phase("body")
        else:
            self._set_phase(None)  # the request is in (the app is in charge), or idle

    def on_response_complete(self):
        super().on_response_complete()
        if not self.transport.is_closing():
            # Idle after a response: uvicorn's keep-alive timeout until the next request's
            # first byte, unless bytes of a pipelined request are already buffered.
            self._track_phase(head_started=bool(self.conn.trailing_data[0]))

    def _set_phase(self, phase):
        if phase == self._phase:
            return  # a deadline covers the whole head, or the whole body
        self._cancel_timer()
        self._phase = phase
        if phase is not None and not self.transport.is_closing():
            timeout = self.limits.header_timeout_s if phase == "head" \
                else self.limits.body_timeout_s
            self._read_timer = self.loop.call_later(timeout, self._timed_out, phase)

    def _cancel_timer(self):
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None

    def _timed_out(self, phase):
        self._read_timer = None
        if self.transport.is_closing():
            return
        timeout = self.limits.header_timeout_s if phase == "head" \
            else self.limits.body_timeout_s
        log.debug("Closing a connection: its request %s took over %g s", phase, timeout)
        # A head: no answer was begun for it. A body: its request's answer may have been
        # sent already (an early 413), and then only the close is left to say.
        answered = phase == "body" and self.cycle is not None and self.cycle.response_started
        if not answered:
            what = "head (request line and headers)" if phase == "head" else "body"
            self.transport.write(raw_response(
                408, "Request Timeout",
                f"The request {what} did not arrive within {timeout:g} s."))
        self.transport.close()  # connection_lost tells the app the client is gone


def protocol_factory(limits):
    """What uvicorn's `Config(http=...)` takes: `GuardedH11Protocol` with `limits`."""
    return functools.partial(GuardedH11Protocol, limits=limits)
