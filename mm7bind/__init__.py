"""mm7bind: MM7 (3GPP TS 23.140) for value-added service providers.

The core is sans I/O: messages in, bytes out, and back. See README.md for the one-page API.
"""

from __future__ import annotations

import importlib
import warnings
from typing import TYPE_CHECKING, Any

from xsdata.exceptions import ConverterWarning

__version__ = "0.1.0"

# Invalid enum or date values are reported by mm7bind's own tolerance layer (schema validation of
# the normalised tree), so xsdata's duplicate warning is noise. Said at `import mm7bind`, not when
# the XML bindings are first used: that may be inside a `warnings.catch_warnings()` (pytest runs
# every test in one), which would drop the filter again when it ends.
warnings.filterwarnings("ignore", category=ConverterWarning)

if TYPE_CHECKING:  # what type checkers read; at run time each name is imported on first use (below)
    from . import auth, versions
    from .client import AsyncClient, Client, ClientConfig, Result
    from .codec import HttpMessage, MessageTooLargeError, decode, encode
    from .content import Content, Part
    from .envelope import Envelope, Fault, XmlStyle
    from .envelope import decode as decode_envelope
    from .envelope import encode as encode_envelope
    from .mime import MimeError, MimeLimits
    from .profiles import STANDARD, Profile
    from .receiver import Context, Handler, Receiver, ReceiverConfig, Reject, Unavailable
    from .server import EmbeddedServer, asgi_app, serve, wsgi_app
    from .retry import RateLimiter, RetryPolicy, SharedRateLimiter
    from .metrics import Metrics
    from .store import (
        InboxRecord,
        MemoryStore,
        OutboxItem,
        Purged,
        Retention,
        SentRecord,
        SqliteStore,
        TagSummary,
        summarize,
    )
    from .outbox import Outbox
    from .handlers import ForwardingHandler
    from .sendapi import SendApi
    from .xmlsafe import XmlLimits
    from .errors import (
        ConnectError,
        DecodeError,
        Deviation,
        EncodeError,
        FaultError,
        HTTPStatusError,
        InvalidURLError,
        LimitExceededError,
        MalformedXMLError,
        MM7Error,
        NotSOAPError,
        ProtocolError,
        RequestTimeout,
        SendError,
        TransportError,
        UnknownNamespaceError,
        UnsupportedEncodingError,
        UnsupportedFieldError,
        UnsupportedOperationError,
        ValidationError,
        XMLSecurityError,
    )
    from .messages import (
        Address,
        AddressKind,
        CancelReq,
        CancelRsp,
        ChargedParty,
        ContentClass,
        ContentRef,
        DeliverReq,
        DeliverRsp,
        DeliveryReportReq,
        DeliveryReportRsp,
        DeliveryStatus,
        ExtendedCancelReq,
        ExtendedCancelRsp,
        ExtendedReplaceReq,
        ExtendedReplaceRsp,
        Message,
        MessageClass,
        Number,
        Priority,
        ReadReplyReq,
        ReadReplyRsp,
        ReadStatus,
        Recipients,
        ReplaceReq,
        ReplaceRsp,
        ReplyCharging,
        RFC2822Address,
        RSErrorRsp,
        ShortCode,
        Status,
        SubmitReq,
        SubmitRsp,
        UACapabilities,
        VASPErrorRsp,
    )
    from .status import RequestStatus
    from .versions import Version

# Where each public name lives. They are imported on first use (PEP 562) rather than here: pytest
# imports mm7bind, for its plugin (mm7bind.testing), in every project on a machine where mm7bind is
# installed, and importing everything (the XML bindings, the client, the store...) took half a second.
_SUBMODULE_OF: dict[str, str] = {
    **dict.fromkeys(("AsyncClient", "Client", "ClientConfig", "Result"), "client"),
    **dict.fromkeys(("HttpMessage", "MessageTooLargeError", "decode", "encode"), "codec"),
    **dict.fromkeys(("Content", "Part"), "content"),
    **dict.fromkeys(("Envelope", "Fault", "XmlStyle"), "envelope"),
    **dict.fromkeys(("MimeError", "MimeLimits"), "mime"),
    **dict.fromkeys(("STANDARD", "Profile"), "profiles"),
    **dict.fromkeys(("Context", "Handler", "Receiver", "ReceiverConfig", "Reject", "Unavailable"), "receiver"),
    **dict.fromkeys(("EmbeddedServer", "asgi_app", "serve", "wsgi_app"), "server"),
    **dict.fromkeys(("RateLimiter", "RetryPolicy", "SharedRateLimiter"), "retry"),
    "Metrics": "metrics",
    **dict.fromkeys(("InboxRecord", "MemoryStore", "OutboxItem", "Purged", "Retention", "SentRecord", "SqliteStore",
                     "TagSummary", "summarize"), "store"),
    "Outbox": "outbox",
    "ForwardingHandler": "handlers",
    "SendApi": "sendapi",
    "XmlLimits": "xmlsafe",
    **dict.fromkeys(("ConnectError", "DecodeError", "Deviation", "EncodeError", "FaultError", "HTTPStatusError",
                     "InvalidURLError", "LimitExceededError", "MalformedXMLError", "MM7Error", "NotSOAPError", "ProtocolError",
                     "RequestTimeout", "SendError", "TransportError", "UnknownNamespaceError",
                     "UnsupportedEncodingError", "UnsupportedFieldError", "UnsupportedOperationError", "ValidationError", "XMLSecurityError"),
                    "errors"),
    **dict.fromkeys(("Address", "AddressKind", "CancelReq", "CancelRsp", "ChargedParty", "ContentClass", "ContentRef",
                     "DeliverReq", "DeliverRsp", "DeliveryReportReq", "DeliveryReportRsp", "DeliveryStatus",
                     "ExtendedCancelReq", "ExtendedCancelRsp", "ExtendedReplaceReq", "ExtendedReplaceRsp", "Message",
                     "MessageClass", "Number", "Priority", "ReadReplyReq", "ReadReplyRsp", "ReadStatus", "Recipients",
                     "ReplaceReq", "ReplaceRsp", "ReplyCharging", "RFC2822Address", "RSErrorRsp", "ShortCode",
                     "Status", "SubmitReq", "SubmitRsp", "UACapabilities", "VASPErrorRsp"), "messages"),
    "RequestStatus": "status",
    "Version": "versions",
}
# Exported under another name than their module's.
_RENAMED = {"decode_envelope": ("envelope", "decode"), "encode_envelope": ("envelope", "encode")}


# Hidden from type checkers, which take a module __getattr__ to mean that any name is there (a
# misspelt one too): they read the imports above.
if not TYPE_CHECKING:

    def __getattr__(name: str) -> Any:
        """A public name, or a submodule (`mm7bind.auth.BasicAuth`, `mm7bind.versions.get(...)` after a
        bare `import mm7bind`, as when everything was imported eagerly): imported now, then kept."""
        if name in _RENAMED or name in _SUBMODULE_OF:
            module, attribute = _RENAMED.get(name) or (_SUBMODULE_OF[name], name)
            value = getattr(importlib.import_module(f"{__name__}.{module}"), attribute)
            globals()[name] = value
            return value
        if name.isidentifier() and not name.startswith("_"):
            try:
                return importlib.import_module(f"{__name__}.{name}")  # (which also sets it here)
            except ModuleNotFoundError as exc:
                if exc.name != f"{__name__}.{name}":
                    raise  # (the submodule is there, but something it imports is not)
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(set(globals()) | set(__all__))


__all__ = [
    "versions", "auth", "Version", "encode", "decode", "encode_envelope", "decode_envelope", "HttpMessage",
    "Envelope", "Fault", "XmlStyle", "Profile", "STANDARD", "RequestStatus", "Content", "Part",
    "MimeLimits", "XmlLimits", "MimeError", "MessageTooLargeError",
    "Client", "AsyncClient", "ClientConfig", "Result", "RetryPolicy", "RateLimiter", "SharedRateLimiter",
    "MemoryStore", "SqliteStore", "SentRecord", "InboxRecord", "Purged", "Retention", "TagSummary",
    "summarize", "Metrics",
    "Outbox", "OutboxItem", "ForwardingHandler", "SendApi",
    "Receiver", "ReceiverConfig", "Handler", "Reject", "Unavailable",
    "Context", "EmbeddedServer", "asgi_app", "serve", "wsgi_app",
    "MM7Error", "DecodeError", "EncodeError", "Deviation", "LimitExceededError", "MalformedXMLError",
    "NotSOAPError", "UnknownNamespaceError", "UnsupportedEncodingError", "UnsupportedFieldError", "UnsupportedOperationError",
    "ValidationError", "XMLSecurityError", "SendError", "TransportError", "ConnectError", "RequestTimeout",
    "HTTPStatusError", "FaultError", "ProtocolError", "InvalidURLError",
    "Address", "AddressKind", "Number", "RFC2822Address", "ShortCode", "Recipients", "ContentRef",
    "ReplyCharging", "UACapabilities", "Status", "Message", "MessageClass", "Priority",
    "ChargedParty", "ContentClass", "DeliveryStatus", "ReadStatus",
    "SubmitReq", "SubmitRsp", "DeliverReq", "DeliverRsp", "CancelReq", "CancelRsp", "ReplaceReq",
    "ReplaceRsp", "ExtendedCancelReq", "ExtendedCancelRsp", "ExtendedReplaceReq",
    "ExtendedReplaceRsp", "DeliveryReportReq", "DeliveryReportRsp", "ReadReplyReq", "ReadReplyRsp",
    "RSErrorRsp", "VASPErrorRsp",
]  # fmt: skip
