"""The MM7 receiver in a FastAPI (Starlette) application, two ways.

    uvicorn examples.fastapi_app:app
"""

import asyncio
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

import mm7bind as mm7


class Inbox(mm7.Handler):
    def on_deliver(self, msg, ctx):
        print(f"MO from {msg.sender}: {msg.subject}")  # your code here


receiver = mm7.Receiver(Inbox(), store=mm7.SqliteStore("mm7-inbox.db"))

mm7_app = mm7.asgi_app(receiver)


@asynccontextmanager
async def lifespan(_app):
    yield
    await asyncio.to_thread(mm7_app.close)  # (a route's app gets no lifespan: its worker threads end here)


app = FastAPI(lifespan=lifespan)

# 1. The ASGI app at one path (the receiver runs in a worker thread; the event loop never waits on
#    it). A route, not `app.mount("/mm7", ...)`: a mount answers a POST to /mm7 with a redirect to
#    /mm7/, which an MMSC does not follow.
app.add_route("/mm7", mm7_app, methods=["POST"])


# 2. Or an endpoint: read the body (no more than max_body: a peer's 1 GB is refused, not held in
#    memory), run the (blocking) receiver in the thread pool.
@app.post("/mm7-endpoint")
async def mm7_endpoint(request: Request) -> Response:
    peer = request.client.host if request.client else None
    # The target with its query (a Digest answer covers it), the headers by their usual names
    # (Starlette's are lower-case; ctx.headers["X-Carrier-Id"] as under the route), a repeated
    # one's values joined with ", " (RFC 9110 §5.3, as the route and WSGI servers hand them on;
    # a dict of them kept the last alone), the body's framing left out.
    uri = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    headers: dict[str, str] = {}
    for name, value in request.headers.items():  # (every field as it came, repeated ones too)
        if name not in ("content-length", "transfer-encoding"):
            name = name.title()
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
    body, rsp = bytearray(), None
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > receiver.config.max_body:  # (told the request: a Digest answer is kept spent, in the store)
                rsp = await run_in_threadpool(receiver.too_large, peer, None, method=request.method, uri=uri,
                                              authorization=headers.get("Authorization"))
                break
    except ClientDisconnect:  # the MMSC left mid-body: logged and counted as the route does (it sends it again)
        declared = request.headers.get("content-length")
        receiver.incomplete(peer, len(body), int(declared) if declared and declared.isdigit() else None)
        return Response(b"request body cut short\n", status_code=400)  # (to no one: the connection is gone)
    if rsp is None:
        rsp = await run_in_threadpool(
            receiver.handle, bytes(body), headers.get("Content-Type"), headers, peer, request.method, uri,
        )
    return Response(rsp.body, status_code=rsp.status, headers=dict(rsp.headers))
