"""mm7bind: MM7 (3GPP TS 23.140) for value-added service providers.

The core is sans I/O: messages in, bytes out, and back. See README.md for the one-page API.
"""

__version__ = "0.1.0"

from . import auth, versions  # noqa: E402
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
from .retry import RateLimiter, RetryPolicy
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
    LimitExceededError,
    MalformedXMLError,
    MM7Error,
    NotSOAPError,
    ProtocolError,
    RequestTimeout,
    SendError,
    TransportError,
    UnknownNamespaceError,
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

__all__ = [
    "versions", "auth", "Version", "encode", "decode", "encode_envelope", "decode_envelope", "HttpMessage",
    "Envelope", "Fault", "XmlStyle", "Profile", "STANDARD", "RequestStatus", "Content", "Part",
    "MimeLimits", "XmlLimits", "MimeError", "MessageTooLargeError",
    "Client", "AsyncClient", "ClientConfig", "Result", "RetryPolicy", "RateLimiter",
    "MemoryStore", "SqliteStore", "SentRecord", "InboxRecord", "Purged", "Retention", "TagSummary",
    "summarize", "Metrics",
    "Outbox", "OutboxItem", "ForwardingHandler", "SendApi",
    "Receiver", "ReceiverConfig", "Handler", "Reject", "Unavailable",
    "Context", "EmbeddedServer", "asgi_app", "serve", "wsgi_app",
    "MM7Error", "DecodeError", "EncodeError", "Deviation", "LimitExceededError", "MalformedXMLError",
    "NotSOAPError", "UnknownNamespaceError", "UnsupportedFieldError", "UnsupportedOperationError",
    "ValidationError", "XMLSecurityError", "SendError", "TransportError", "ConnectError", "RequestTimeout",
    "HTTPStatusError", "FaultError", "ProtocolError",
    "Address", "AddressKind", "Number", "RFC2822Address", "ShortCode", "Recipients", "ContentRef",
    "ReplyCharging", "UACapabilities", "Status", "Message", "MessageClass", "Priority",
    "ChargedParty", "ContentClass", "DeliveryStatus", "ReadStatus",
    "SubmitReq", "SubmitRsp", "DeliverReq", "DeliverRsp", "CancelReq", "CancelRsp", "ReplaceReq",
    "ReplaceRsp", "ExtendedCancelReq", "ExtendedCancelRsp", "ExtendedReplaceReq",
    "ExtendedReplaceRsp", "DeliveryReportReq", "DeliveryReportRsp", "ReadReplyReq", "ReadReplyRsp",
    "RSErrorRsp", "VASPErrorRsp",
]  # fmt: skip
