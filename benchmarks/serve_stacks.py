"""The HTTP route API on other server stacks, for ``bench_serve.py``'s comparison: the same
:class:`tandem.serve.http.HttpApi` (same table, same answers) behind

* ``uvicorn``: a bare ASGI callable on uvicorn (httptools parser, uvloop);
* ``starlette``: a Starlette application (one catch-all route) on the same uvicorn.

    python benchmarks/serve_stacks.py uvicorn routes.tdm PORT

(``tandem serve http`` itself is the third candidate: asyncio + httptools, no ASGI.)
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tandem.calls import Calls  # noqa: E402
from tandem.lcr.router import Router  # noqa: E402
from tandem.lcr.table import RoutingTable  # noqa: E402
from tandem.serve.http import HttpApi  # noqa: E402
from tandem.serve.metrics import Metrics  # noqa: E402
from tandem.serve.service import RouteService  # noqa: E402
from tandem.state import MemoryCounters  # noqa: E402


def make_api(table_path: str) -> HttpApi:
    router = Router(RoutingTable.load(table_path))
    calls = Calls(router, counters=MemoryCounters())
    svc = RouteService(router, table_path, metrics=Metrics("http"), calls=calls,
                       lifecycle_json=False)  # fmt: skip
    return HttpApi(svc)


def asgi_app(api: HttpApi) -> Any:
    async def app(scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        query = scope["query_string"].decode("latin-1")
        target = scope["path"] + ("?" + query if query else "")
        auth = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                auth = value.decode("latin-1")
        status, ctype, body, _extra = api.handle(scope["method"], target, auth, b"")
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", ctype.encode()),
                            (b"content-length", str(len(body)).encode())],
            }
        )  # fmt: skip
        await send({"type": "http.response.body", "body": body})

    return app


def starlette_app(api: HttpApi) -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    async def endpoint(request: Request) -> Response:
        query = request.url.query
        target = request.url.path + ("?" + query if query else "")
        status, ctype, body, _extra = api.handle(
            request.method, target, request.headers.get("authorization"), b""
        )
        return Response(body, status_code=status, media_type=ctype)

    return Starlette(routes=[Route("/{path:path}", endpoint, methods=["GET", "POST"])])


def main() -> None:
    import uvicorn

    kind, table_path, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    api = make_api(table_path)
    app = asgi_app(api) if kind == "uvicorn" else starlette_app(api)
    print(f"listening on http://127.0.0.1:{port}", file=sys.stderr, flush=True)
    uvicorn.run(app, host="127.0.0.1", port=port, loop="uvloop", http="httptools",
                log_level="warning", access_log=False, lifespan="off")  # fmt: skip


if __name__ == "__main__":
    main()
