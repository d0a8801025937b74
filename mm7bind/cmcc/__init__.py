"""China Mobile MM7 API compatibility: its concepts, configuration files, status tables, error
codes and API shape, as a thin layer over mm7bind (see README.md, "China Mobile")."""

from .api import (
    DisplayOnly,
    MM7AbstractReceiver,
    MM7CancelReq,
    MM7CancelRes,
    MM7Config,
    MM7DeliverReq,
    MM7DeliverRes,
    MM7DeliveryReportReq,
    MM7DeliveryReportRes,
    MM7Message,
    MM7ReadReplyReq,
    MM7ReadReplyRes,
    MM7ReceiveServlet,
    MM7Receiver,
    MM7ReplaceReq,
    MM7ReplaceRes,
    MM7RSErrorRes,
    MM7RSReq,
    MM7RSRes,
    MM7Sender,
    MM7SubmitReq,
    MM7SubmitRes,
    MM7VASPErrorRes,
    MM7VASPReq,
    MM7VASPRes,
    MMContent,
)
from .constants import (
    API_VERSION, ChargedParty, ContentType, MessageClass, MMConstants, MMContentType, Priority, RequestStatus,
)
from .status import API_ERRORS, APIError, MMStatus, ReadStatusCode
from . import codes  # noqa: F401 (`cmcc.codes.check_enterprise_code`, as the README writes it)

ReadStatus = ReadStatusCode  # the SDK's MMConstants.ReadStatus

__all__ = [
    "MM7Config", "MM7Sender", "MM7Receiver", "MM7ReceiveServlet", "MMContent", "MM7SubmitReq", "MM7CancelReq",
    "MM7ReplaceReq", "MM7RSRes", "MM7SubmitRes", "MM7CancelRes", "MM7ReplaceRes", "MM7RSErrorRes", "MM7DeliverReq",
    "MM7DeliveryReportReq", "MM7ReadReplyReq", "MM7VASPRes", "MM7DeliverRes", "MM7DeliveryReportRes",
    "MM7ReadReplyRes", "MM7VASPErrorRes", "DisplayOnly", "MM7Message", "MM7VASPReq", "MM7RSReq", "MM7AbstractReceiver",
    "API_VERSION", "ChargedParty", "ContentType", "MessageClass", "MMConstants", "MMContentType", "Priority",
    "RequestStatus", "APIError", "API_ERRORS", "MMStatus", "ReadStatusCode", "ReadStatus",
]  # fmt: skip
