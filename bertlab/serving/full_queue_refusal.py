"""ASGI middleware: a `:predict` request for a model whose queue is full is refused
(503, `Retry-After`) before the web framework sees it.

Under overload the refusal is what the server answers most (with 1,000 clients
and a queue of 64, about 99 requests in 100), and every refusal's CPU time is
taken from the model. Going through Starlette (request object, routing, the
endpoint, a `JSONResponse`) cost about a third of a refusal's time; this
middleware answers from the ASGI scope with a response whose head is built
once, so a refusal costs uvicorn's parsing and little else
(`benchmarks/serving_refusal_cost.py` measures it).

A request that should get another answer first goes on to the app unchanged:
one that is not a POST with `Content-Type: application/json` (415), for a model
or version that is not served (404), or for any other path. The app's own
check stays (a queue can fill while a request's body is read).

Example:
>>> app = FullQueueRefusal(starlette_app, find_served)   # find_served(scope) -> model or None
"""

import json


def _media_type(headers):
    for key, value in headers:
        if key == b"content-type":
            return value.split(b";", 1)[0].strip().lower()
    return b""


class FullQueueRefusal:
    """Refuses requests for models whose `queue_bound` is full (see the module docstring).

    Args:
      app: the ASGI app behind it.
      find_served: `find_served(scope)`: the served model a POST's `scope` is a
        `:predict` request for (with a `queue_bound`: `admission.QueueBound`), or None
        (not a predict request, or not a served model: the app answers).
    """

    def __init__(self, app, find_served):
        self.app = app
        self.find_served = find_served

    async def __call__(self, scope, receive, send):
        if (scope["type"] == "http" and scope["method"] == "POST"
                and _media_type(scope["headers"]) == b"application/json"):
            served = self.find_served(scope)
            if served is not None and served.queue_bound.full:
                served.queue_bound.refused += 1
                await self._refuse(served, send)
                return
        await self.app(scope, receive, send)

    @staticmethod
    async def _refuse(served, send):
        body = json.dumps({"error": served.queue_bound.refusal_message()}).encode()
        await send({"type": "http.response.start", "status": 503,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode()),
                                (b"retry-after", b"1")]})
        await send({"type": "http.response.body", "body": body})
