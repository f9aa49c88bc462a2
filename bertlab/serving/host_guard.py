"""DNS-rebinding protection: a server on a loopback address answers only requests for a
loopback host name.

A web page can make a browser send requests to `http://127.0.0.1:8501`, and
with DNS rebinding (its own name, re-pointed to 127.0.0.1) read the answers:
the browser then sends that page's host name in the `Host` header. A server
bound to 127.0.0.1 or ::1 serves this machine only, so every legitimate
request names `localhost`, `127.0.0.1` or `[::1]` (with or without a port);
`LoopbackHostGuard` answers anything else with 403 (400 without a `Host`).
`BackgroundServer` puts it in front of the app whenever it binds to a loopback
address.

Example:
>>> host_name("[::1]:8501"), host_name("LocalHost"), host_name("evil.example:80")
('::1', 'localhost', 'evil.example')
>>> app = LoopbackHostGuard(app)            # an ASGI app in front of another
"""

import ipaddress

from starlette.responses import JSONResponse

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def is_loopback(host):
    """Whether `host` (an address to bind, or a name) is this machine only."""
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_name(header):
    """The host of a `Host` header, lower-cased, without its port or IPv6 brackets;
    None if it is malformed."""
    header = header.strip().lower()
    if header.startswith("["):
        end = header.find("]")
        if end < 0:
            return None
        name, rest = header[1:end], header[end + 1:]
    else:
        name, colon, port = header.partition(":")
        rest = colon + port
    if rest and not (rest.startswith(":") and rest[1:].isdigit()):
        return None
    return name or None


class LoopbackHostGuard:
    """ASGI middleware: HTTP requests whose `Host` is not in `allowed` get 403.

    Args:
      app: the ASGI app behind it.
      allowed: host names accepted (default: `LOOPBACK_NAMES`).
    """

    def __init__(self, app, allowed=LOOPBACK_NAMES):
        self.app = app
        self.allowed = frozenset(name.strip("[]").lower() for name in allowed)

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            header = next((v for k, v in scope["headers"] if k == b"host"), None)
            refusal = None
            if header is None:
                refusal = ("A Host header is required.", 400)
            elif host_name(header.decode("latin-1")) not in self.allowed:
                refusal = (f"Host {header.decode('latin-1')[:100]!r} is not allowed: this "
                           "server listens on a loopback address and answers requests for "
                           "localhost, 127.0.0.1 or [::1] only (DNS-rebinding protection).",
                           403)
            if refusal is not None:
                response = JSONResponse({"error": refusal[0]}, status_code=refusal[1])
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
