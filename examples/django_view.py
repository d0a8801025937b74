"""The MM7 receiver as a Django view.

urls.py:     path("mm7", django_view.mm7_view)

No setting to raise: the view reads the body itself, up to the receiver's max_body (20 MiB by
default), where `request.body` is refused above DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB by default,
a 400 the MMSC sees for an MMS with pictures).
"""

from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt

import mm7bind as mm7


class Inbox(mm7.Handler):
    def on_deliver(self, msg, ctx):
        print(f"MO from {msg.sender}: {msg.subject}")  # your code here


receiver = mm7.Receiver(Inbox(), store=mm7.SqliteStore("mm7-inbox.db"))


@csrf_exempt  # the MMSC has no CSRF token: it authenticates with Basic/Digest or its address
def mm7_view(request):
    peer, uri, limit = request.META.get("REMOTE_ADDR"), request.get_full_path(), receiver.config.max_body
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or -1)
    except ValueError:
        declared = -1
    if declared > limit:  # refused unread, logged and counted (a Digest answer kept spent: it is told the request)
        rsp = receiver.too_large(peer, declared, method=request.method, uri=uri,
                                 authorization=request.headers.get("Authorization"))
    else:
        # request.content_type drops the parameters (boundary, start): take the raw header.
        headers = {name: value for name, value in request.headers.items() if name != "Content-Length"}
        rsp = receiver.handle(body_of(request, declared, limit), request.META.get("CONTENT_TYPE"), headers,
                              peer, request.method, uri)
    out = HttpResponse(rsp.body, status=rsp.status)
    for name, value in rsp.headers:
        out[name] = value
    return out


def body_of(request, declared: int, limit: int) -> bytes:
    """The body, up to one byte past `limit` (the receiver refuses that). A chunked one (no
    Content-Length) under a WSGI server Django reads as empty: it is read to the end the server
    says it has (wsgi.input_terminated: gunicorn, waitress). Under ASGI Django has it all already."""
    if declared < 0 and request.META.get("wsgi.input_terminated"):
        return request.META["wsgi.input"].read(limit + 1)
    return request.read(limit + 1)
