"""The MM7 receiver as a Django view.

urls.py:     path("mm7", django_view.mm7_view)
settings.py: DATA_UPLOAD_MAX_MEMORY_SIZE = 20 * 1024 * 1024
             (Django refuses request.body above 2.5 MB by default, counting the whole
             Content-Length, and MMS with pictures exceed that)
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
    # request.content_type drops the parameters (boundary, start): take the raw header.
    rsp = receiver.handle(request.body, request.META.get("CONTENT_TYPE"), dict(request.headers),
                          request.META.get("REMOTE_ADDR"), request.method, request.get_full_path())
    out = HttpResponse(rsp.body, status=rsp.status)
    for name, value in rsp.headers:
        out[name] = value
    return out
