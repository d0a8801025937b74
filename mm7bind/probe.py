"""Probing a VASP's receiving endpoint as an MMSC would: every operation an MMSC sends, in every
schema version, and the same request again.

"Accept any version in, answer in the caller's version" is where receivers (China Mobile's SDK,
home-grown servlets, ours behind a proxy) most often fall short, and nothing shows it until an
MMSC is upgraded. `probe` sends a DeliverReq, a DeliveryReportReq and a ReadReplyReq in each
version and checks each answer: the response the operation calls for, success, in the request's
version and namespace, its TransactionID echoed, nothing the decoder had to tolerate; then a
request sent again with its TransactionID (an MMSC that got no answer does that) must be answered
as the first one was. The requests are real to the VASP: point it at a test instance.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone

from . import messages as m
from . import versions
from .arrival import none_answered
from .client import Client, ClientConfig, is_http_url, new_transaction_id, not_http_url
from .content import Content, Part
from .display import shown_url
from .errors import ConnectError, FaultError, InvalidURLError, RequestTimeout, SendError
from .profiles import Profile
from .retry import RetryPolicy
from .status import DeliveryStatus, ReadStatus

OPERATIONS = ("DeliverReq", "DeliveryReportReq", "ReadReplyReq")
SILENT_STOP = 3  # requests in a row left unanswered in time, after which the probe stops
_UNREACHABLE = "unreachable"  # (how a problem saying there was no connection begins)
_STOPPED = "stopped: "  # (how the problem saying the probe stopped after this one begins)


@dataclass
class ProbeResult:
    version: str
    operation: str
    transaction_id: str
    repeat: bool = False  # the same request sent again
    status: int | None = None  # the answer's status code (a Fault's too)
    status_text: str | None = None
    answered_version: str | None = None
    problems: list[str] = field(default_factory=list)  # what is wrong with the answer, or why there was none
    elapsed: float = 0.0
    timed_out: bool = False  # no answer within the read timeout
    # no answer from the VASP: no connection, a timeout, the connection lost, a 502, 503 or 504 (as
    # `send` counts a request no MMSC answered: `arrival.none_answered`)
    unanswered: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def unreachable(self) -> bool:
        """The request never reached the VASP (no connection): nothing further can."""
        return bool(self.problems) and self.problems[0].startswith(_UNREACHABLE)

    @property
    def stopped(self) -> bool:
        """The probe stopped after this request: the VASP could not be reached, or left `SILENT_STOP`
        requests in a row unanswered in time."""
        return self.unreachable or any(p.startswith(_STOPPED) for p in self.problems)


def probe_message(operation: str, sender: str, recipient: str, n: int) -> m.Message:
    """The request `probe` sends for `operation`, marked as a probe's wherever text can say so."""
    now = datetime.now(timezone.utc).replace(microsecond=0)
    # (as `send` reads an address: "ShortCode:1065888" is a ShortCode, not a Number of that text)
    sender, recipient = (m.Address.parse(m.written_address(a, recipient=False)) for a in (sender, recipient))
    if operation == "DeliverReq":
        return m.DeliverReq(sender=m.Address.parse(sender), recipients=m.Recipients(to=[recipient]),
                            subject="mm7bind probe", time_stamp=now, linked_id=f"mm7bind-probe-{n}",
                            content=Content(parts=[Part.text("mm7bind probe: please ignore", charset="utf-8")]))
    if operation == "DeliveryReportReq":
        return m.DeliveryReportReq(message_id=f"mm7bind-probe-{n}", recipient=m.Address.parse(sender),
                                   sender=m.Address.parse(recipient), date=now, mm_status=DeliveryStatus("Retrieved"),
                                   status_text="mm7bind probe")
    if operation == "ReadReplyReq":
        return m.ReadReplyReq(message_id=f"mm7bind-probe-{n}", recipient=m.Address.parse(sender),
                              sender=m.Address.parse(recipient), time_stamp=now, mm_status=ReadStatus("Read"))
    raise ValueError(f"not an operation an MMSC sends to a VASP: {operation}")


def probe(url: str, *, version_names: list[str] | None = None, operations: tuple[str, ...] = OPERATIONS,
          repeat: bool = True, sender: str = "+8613800138000", recipient: str = "1065888",
          config: ClientConfig | None = None, on_result=None,
          setting_names: dict[str, str] | None = None) -> list[ProbeResult]:
    """Probe the VASP at `url`; → one result per request sent (in order; `on_result(result)` hears
    each as it comes). `config`: credentials, TLS and timeouts (its role, profile and retries are
    the probe's own). `setting_names`: how the problems' hints name the settings, for a program
    with options of its own (`{"verify": "--ca", "cert": "--cert", "credentials": ...}`; by
    default `ClientConfig`'s). Stops early, with what it has, when the VASP cannot be reached at all, or
    has left `SILENT_STOP` requests in a row unanswered in time (a receiver that never answers
    would hold the probe for every request's timeout: a quarter of an hour by default)."""
    if not is_http_url(url):  # (said of the VASP probed, not as a client's "URL of an MMSC")
        raise InvalidURLError(not_http_url(shown_url(url) if isinstance(url, str) else url, " of a VASP's receiver"))
    config = config or ClientConfig(urls=(url,), role="mmsc")
    chosen = [versions.get(name) for name in version_names] if version_names else versions.all_versions()
    results: list[ProbeResult] = []
    n = silent = 0
    for version in chosen:
        client = Client(config=_for_probe(config, url, version.name))
        client.core.setting_names = setting_names
        try:
            for operation in operations:
                n += 1
                msg = probe_message(operation, sender, recipient, n)
                tid = f"mm7bind-probe-{new_transaction_id()[:12]}"
                first = _one(client, msg, tid, version.name, False)
                results.append(first)
                silent = silent + 1 if first.timed_out else 0
                if silent >= SILENT_STOP:  # (said before `on_result` hears it: the stop was in the JSON alone)
                    first.problems.append(f"{_STOPPED}{silent} requests in a row were not answered in time")
                if on_result:
                    on_result(first)
                if first.stopped:
                    return results
                if repeat and first.ok and operation == operations[0]:
                    again = _one(client, msg, tid, version.name, True)
                    if again.ok and (again.status, again.status_text) != (first.status, first.status_text):
                        again.problems.append(f"answered {again.status} the second time, {first.status} the first")
                    results.append(again)
                    if on_result:
                        on_result(again)
        finally:
            client.close()
    return results


def _for_probe(config: ClientConfig, url: str, version: str) -> ClientConfig:
    # (an answer with another TransactionID taken, to be reported with the rest of what is wrong in it)
    return replace(config, urls=(url,), role="mmsc", profile=Profile(version=version), retry=RetryPolicy.never(),
                   accept_transaction_id_mismatch=True)


def _one(client: Client, msg: m.Message, tid: str, version: str, repeat: bool) -> ProbeResult:
    result = ProbeResult(version, msg.ELEMENT, tid, repeat)
    started = time.monotonic()
    try:
        answer = client.send(msg, transaction_id=tid)
    except ConnectError as exc:
        result.unanswered = none_answered(exc)  # (the one rule for all: see the last except)
        result.problems.append(f"{_UNREACHABLE}: {exc}")
    except RequestTimeout as exc:
        result.timed_out, result.unanswered = True, none_answered(exc)
        result.problems.append(f"{type(exc).__name__}: {exc}")
    except FaultError as exc:  # (answered)
        status = exc.status
        result.status, result.status_text = (status.code, status.text) if status is not None else (None, None)
        result.problems.append(f"a Fault: {exc}")
    except SendError as exc:  # (a connection lost, a 502, 503 or 504: unanswered; another HTTP error, not)
        result.unanswered = none_answered(exc)
        result.problems.append(f"{type(exc).__name__}: {exc}")
    else:
        result.status, result.status_text = answer.status.code, answer.status.text
        result.answered_version = answer.version.name if answer.version else None
        if not answer.ok:
            result.problems.append(f"status {answer.status.code} {answer.status.text or ''}".rstrip())
        if result.answered_version != version:
            result.problems.append(f"answered in {result.answered_version or 'no known version'}, asked in {version}")
        for d in answer.deviations:
            result.problems.append(f"{d.code} at {d.path}: {d.message}")
        # The namespace right, its MM7Version another release's (a receiver with one value fixed, as
        # China Mobile's SDK has 6.3.0): where the schema lists the values, the deviations said it.
        said, fitting = getattr(answer.response, "mm7_version", None), versions.get(version).mm7_versions
        if result.answered_version == version and said and said not in fitting and \
                not any(d.path.endswith("/MM7Version") for d in answer.deviations):
            result.problems.append(f"MM7Version {said} in a {version} answer (it goes with {', '.join(fitting)})")
    result.elapsed = time.monotonic() - started
    return result
