"""The MM7 receiver in a FastAPI (Starlette) application, two ways.

    uvicorn examples.fastapi_app:app
"""

from fastapi import FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool

import mm7bind as mm7


class Inbox(mm7.Handler):
    def on_deliver(self, msg, ctx):
        print(f"MO from {msg.sender}: {msg.subject}")  # your code here


receiver = mm7.Receiver(Inbox(), store=mm7.SqliteStore("mm7-inbox.db"))

app = FastAPI()

# 1. The ASGI app at one path (the receiver runs in a worker thread; the event loop never waits on
#    it). A route, not `app.mount("/mm7", ...)`: a mount answers a POST to /mm7 with a redirect to
#    /mm7/, which an MMSC does not follow.
app.add_route("/mm7", mm7.asgi_app(receiver), methods=["POST"])


# 2. Or an endpoint: read the body (no more than max_body: a peer's 1 GB is refused, not held in
#    memory), run the (blocking) receiver in the thread pool.
@app.post("/mm7-endpoint")
async def mm7_endpoint(request: Request) -> Response:
    peer = request.client.host if request.client else None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > receiver.config.max_body:
            rsp = receiver.too_large(peer, None)
            break
    else:
        rsp = await run_in_threadpool(
            receiver.handle, bytes(body), request.headers.get("content-type"), dict(request.headers),
            peer, request.method, request.url.path,
        )
    return Response(rsp.body, status_code=rsp.status, headers=dict(rsp.headers))
