"""The MM7 receiver in a FastAPI (Starlette) application, two ways.

    uvicorn examples.fastapi_app:app
"""

import asyncio
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool

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
    # (Starlette's are lower-case; ctx.headers["X-Carrier-Id"] as under the route), the body's
    # framing left out, as the route hands them on.
    uri = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    headers = {name.title(): value for name, value in request.headers.items()
               if name not in ("content-length", "transfer-encoding")}
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > receiver.config.max_body:  # (told the request: a Digest answer is kept spent, in the store)
            rsp = await run_in_threadpool(receiver.too_large, peer, None, method=request.method, uri=uri,
                                          authorization=headers.get("Authorization"))
            break
    else:
        rsp = await run_in_threadpool(
            receiver.handle, bytes(body), headers.get("Content-Type"), headers, peer, request.method, uri,
        )
    return Response(rsp.body, status_code=rsp.status, headers=dict(rsp.headers))
