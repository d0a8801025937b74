"""China Mobile MM7 API parity: concepts, config files, status tables, API errors, API shape, dialect,
and the manual's §4.3 flow against `mm7bind simulate --dialect cmcc`."""

from __future__ import annotations

import copy
import io
import json
import logging
import os
import pickle
import re
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests

import mm7bind as mm7
from mm7bind import cmcc
from mm7bind.cmcc import codes
from mm7bind.cmcc import status as cst
from mm7bind.cmcc.config import read as read_cmcc
from mm7bind.config import ConfigError
from mm7bind.profiles import CMCC, CMCC_SDK
from mm7bind.simulator import Simulator, SimulatorConfig

from .fake_http import FakeServer, Reply, dead_url, default_responder, mm7_reply, times_out_once
from .test_commands import Background, run

NS = "http://mms.chinamobile.com/mm7ConfigSchema"


@pytest.fixture(autouse=True)
def _close_sdk_log_files():
    """Senders and receivers start the configuration's log file (as the SDK did); each test closes its own."""
    from mm7bind.cmcc.logs import stop_logging

    logger = logging.getLogger("mm7bind")
    level = logger.level
    yield
    stop_logging()
    logger.setLevel(level)


def mm7config(tmp_path, **over) -> str:
    values = {
        "AuthenticationMode": "2", "UserName": "zxme", "Password": "zxme", "MaxMessageSize": "100000",
        "LogPath": str(tmp_path / "logs"), "logLevel": "3", "Charset": "GB2312", "mmscURL": " /mm7",
        "MmscID": "910010", "UseSSL": "false", "ListenIP": "127.0.0.1", "ListenPort": "8088", "BackLog": "50",
        "TimeOut": "2000", "ReSendCount": "2", "LogNum": "100", "LogInterval": "60", "LogSize": "500",
    }
    values.update(over)
    ips = values.pop("mmscIP", ["192.120.231.180", "192.120.231.181:8080"])
    (tmp_path / "logs").mkdir(exist_ok=True)
    body = "".join(f"<{k}>{v}</{k}>" for k, v in values.items() if v is not None)
    body += "".join(f"<mmscIP>{ip}</mmscIP>" for ip in ips)
    path = tmp_path / "mm7Config.xml"
    path.write_text(f'<?xml version="1.0" encoding="UTF-8"?><vasp:MM7Config xmlns:vasp="{NS}">{body}</vasp:MM7Config>',
                    encoding="utf-8")
    return str(path)


CONN = """<?xml version="1.0" encoding="UTF-8"?>
<connection><KeepAlive>on</KeepAlive><MaxKeepAliveRequests>30</MaxKeepAliveRequests>
<ServerMaxKeepAlive>12</ServerMaxKeepAlive><MinKeepAliveRequests>1</MinKeepAliveRequests>
<ScanInterval>300</ScanInterval><KeepAliveTimeout>50000</KeepAliveTimeout><step>1</step></connection>"""


# -- §2 concepts ------------------------------------------------------------------------------


def test_enterprise_service_business_and_operation_codes():
    assert codes.check_enterprise_code("801234") == []
    assert [p.rule for p in codes.check_enterprise_code("12345")] == ["2.1-six-digits"]
    assert [p.rule for p in codes.check_enterprise_code("901234")] == ["2.1-starts-with-8"]
    # (§2.1: a 9XY code is an SP's SMS or WAP one, which an SP running those may give by mistake)
    assert "nationwide SMS SP's code (9XY001–9XY500)" in str(codes.check_enterprise_code("901234")[0])
    assert "nationwide WAP SP's code (9XY501–9XY999)" in str(codes.check_enterprise_code("901501")[0])
    assert "SP's code" not in str(codes.check_enterprise_code("701234")[0])
    assert [p.rule for p in codes.check_enterprise_code("812000")] == ["2.1-not-000"]
    with pytest.raises(codes.CodeError) as err:
        codes.check_enterprise_code("x", strict=True)
    assert err.value.rule == "2.1-six-digits" and "[2.1-six-digits]" in str(err.value)
    assert codes.check_service_code("8888") == [] and codes.check_service_code("01234") == []
    assert [p.rule for p in codes.check_service_code("1301")] == ["2.2-unallocated"]
    assert [p.rule for p in codes.check_service_code("7001")] == ["2.2-unallocated"]
    assert [p.rule for p in codes.check_service_code("12345")] == ["2.2-local-range"]
    assert [p.rule for p in codes.check_service_code("123")] == ["2.2-four-or-five-digits"]
    assert codes.check_business_code("123", direction="up") == []
    assert codes.check_business_code("0", direction="up") == []
    assert [p.rule for p in codes.check_business_code("912", direction="up")] == ["2.3.1-reserved-first-digit"]
    assert [p.rule for p in codes.check_business_code("000", direction="up")] == ["2.3-not-000"]
    assert codes.check_business_code("111201") == []
    rules = [p.rule for p in codes.check_business_code("919901")]
    assert rules == ["2.3.2-function-flag", "2.3.2-subcategory", "2.3.2-business-mode"]
    assert [p.rule for p in codes.check_business_code("191101")] == ["2.3.2-category"]
    d = codes.parse_downstream("133301")
    assert (d.category, d.subcategory, d.sp_part) == ("时尚生活", "文化教育", "01") and "monthly" in d.mode
    assert codes.check_operation_code("CX XW") == []
    assert [p.rule for p in codes.check_operation_code("XW")] == ["2.4-cx-prefix"]
    assert codes.check_operation_code("XW", ordered_by_sms=False) == []
    assert codes.long_number("8888", "123", "01") == "888812301"
    with pytest.raises(codes.CodeError, match="2.2-digits-only"):
        codes.long_number("8888", "123", "CX", strict=True)
    assert codes.split_long_number("888812301", "8888") == ("123", "01")


def test_downstream_codes_in_english_too_and_the_bare_service_codes_business_code():
    """§2.3.2's categories come in English beside the manual's Chinese; an MO to the bare service
    code has the default business code "0" (§2.3.1); a direction other than up or down is refused
    rather than checked against the downstream rules."""
    d = codes.parse_downstream("166401")
    assert (d.category, d.subcategory, d.category_en, d.subcategory_en) == ("彩图动画", "体育纵横", "pictures and animation",
                                                                           "sports")
    assert (codes.parse_downstream("101101").category_en, codes.parse_downstream("101101").subcategory_en) == (
        "special uses", "free customer service")
    assert all(zh and en for _, _, subs in codes.CATEGORIES.values() for zh, en in subs.values())
    assert codes.split_long_number("8888", "8888") == ("0", "")
    assert codes.split_long_number("8888123", "8888") == ("123", "")
    with pytest.raises(ValueError, match="'up' or 'down'"):
        codes.check_business_code("123", direction="upstream")


def test_long_number_of_business_code_0_is_the_bare_service_code_and_splits_back():
    """§2.3.1: "0" is the business code the MMSC gives an MO sent to the bare service code, which
    `split_long_number` reads back so; `long_number` made "88880" of it, a number no MO arrives
    from. A number that cannot be read back (no service code: "123" is another SP's number; an
    operation code after business code 0 or none) is refused even without strict."""
    assert codes.long_number("8888", "0") == "8888"
    assert codes.split_long_number(codes.long_number("8888", "0"), "8888") == ("0", "")
    for args, rule in ((("", "123", "01"), "2.2-service-code"), (("", "123"), "2.2-service-code"),
                       (("8888", "0", "01"), "2.2-business-code-first"), (("8888", "", "01"), "2.2-business-code-first")):
        with pytest.raises(codes.CodeError) as err:
            codes.long_number(*args)
        assert err.value.rule == rule
    with pytest.raises(codes.CodeError, match="2.2-service-code"):
        codes.split_long_number("888812301", "")
    assert codes.split_long_number(codes.long_number("8888", "123", "01"), "8888") == ("123", "01")


def test_codes_in_full_width_digits_are_refused_saying_so():
    """A Chinese input method's full-width digits (８８８８) are digits to Python's \\d and isdigit(),
    not to an MMSC: each check refuses them, saying the digits must be ASCII (a full-width service
    code passed as a nationwide one, an upstream business code as valid)."""
    for problems, rule in ((codes.check_enterprise_code("８０１２３４"), "2.1-six-digits"),
                           (codes.check_service_code("８８８８"), "2.2-four-or-five-digits"),
                           (codes.check_service_code("０１２３４"), "2.2-four-or-five-digits"),
                           (codes.check_business_code("１２３", direction="up"), "2.3.1-three-digits"),
                           (codes.check_business_code("１１１２０１"), "2.3.2-six-digits")):
        assert [p.rule for p in problems] == [rule] and "ASCII 0-9" in problems[0].message
    with pytest.raises(codes.CodeError, match="2.2-digits-only"):
        codes.long_number("8888", "123", "０１", strict=True)
    assert codes.check_service_code("8888") == [] and codes.long_number("8888", "123", "01", strict=True) == "888812301"


# -- §3.2 configuration files ---------------------------------------------------------------------


def test_config_files_map_onto_settings(tmp_path):
    (tmp_path / "ConnConfig.xml").write_text(CONN, encoding="utf-8")
    cfg, problems = read_cmcc(mm7config(tmp_path), tmp_path / "ConnConfig.xml")
    assert [p for p in problems if p.level == "error"] == []
    m, r, lg = cfg.mmsc, cfg.receiver, cfg.logging
    assert m.urls == ["http://192.120.231.180/mm7", "http://192.120.231.181:8080/mm7"]
    assert (m.username, m.password, m.dialect, m.charset) == ("zxme", "zxme", "cmcc", "GB2312")
    assert m.auth == "auto"  # the SDK's sender: Basic, Digest when challenged
    assert m.read_timeout == 2.0 and m.max_attempts == 3 and m.max_message_size == 100000 and m.pool_size == 30
    assert (r.auth, r.host, r.port, r.backlog, r.threads) == ("digest", "127.0.0.1", 8088, 50, 12)
    assert lg.level == "INFO" and lg.file.endswith("910010.log") and lg.rotate == "both"
    assert (lg.max_bytes, lg.backups, lg.when, lg.interval) == (500 * 1024, 99, "M", 60)
    sdk = cmcc.MM7Config(mm7config(tmp_path), tmp_path / "ConnConfig.xml")  # the SDK's getters, by key
    assert sdk.get("MmscURL") == "/mm7" and sdk.get("mmscIP") == ["192.120.231.180", "192.120.231.181:8080"]
    assert sdk.get("TimeOut") == 2000 and sdk.get("MaxKeepAliveRequests") == 30 and sdk.get("UserName") == "zxme"
    # ... and by the names of the SDK's getters where they differ from the element's
    assert (sdk.get("MMSCURL"), sdk.get("MMSCIP")[0], sdk.get("MmscId"), sdk.get("MaxMsgSize")) == (
        "/mm7", "192.120.231.180", "910010", 100000)
    assert (sdk.get("CharSet"), sdk.get("LogLevel"), sdk.get("ListenPort")) == ("GB2312", 3, 8088)
    with pytest.raises(KeyError, match="neither"):
        sdk.get("NoSuchKey")
    warned = {p.where.split(":")[-1] for p in problems if p.level == "warning"}
    # (MinKeepAliveRequests 1 and step 1, the SDK's file's, are what the pool does: not warned of)
    assert {"ScanInterval", "mmscURL"} <= warned and not {"MinKeepAliveRequests", "step"} & warned
    # KeepAliveTimeout (ms) is the client's idle limit (it had no effect, with a warning saying so)
    assert "KeepAliveTimeout" not in warned and cfg.mmsc.idle_timeout == 50.0
    assert cfg.make_client().config.idle_timeout == 50.0
    profile = cfg.profile()
    assert profile.version == "REL-6-MM7-1-0" and profile.xml.encoding == "GB2312"


def test_the_sdks_own_conn_config_reads_without_a_warning_and_other_pool_values_are_said(tmp_path):
    """The ConnConfig.xml China Mobile shipped (MinKeepAliveRequests 1, step 1, no ScanInterval) warned
    "no effect" at every start, and leaving those keys out warned "missing": no file read clean. The
    values the pool follows anyway are taken without a word; others still say they have no effect."""
    shipped = CONN.replace("<ScanInterval>300</ScanInterval>", "")
    (tmp_path / "ConnConfig.xml").write_text(shipped, encoding="utf-8")
    _, problems = read_cmcc(mm7config(tmp_path, mmscURL="/mm7"), tmp_path / "ConnConfig.xml")
    assert [p for p in problems if p.where.startswith("ConnConfig.xml")] == []
    tuned = shipped.replace("<MinKeepAliveRequests>1<", "<MinKeepAliveRequests>5<").replace("<step>1<", "<step>2<")
    (tmp_path / "ConnConfig.xml").write_text(tuned, encoding="utf-8")
    _, problems = read_cmcc(mm7config(tmp_path, mmscURL="/mm7"), tmp_path / "ConnConfig.xml")
    assert sorted(p.where for p in problems if p.message.startswith("no effect")) == [
        "ConnConfig.xml:MinKeepAliveRequests", "ConnConfig.xml:step"]


def test_a_config_file_not_found_is_said_with_where_it_was_looked_for(tmp_path, monkeypatch):
    """The SDK's examples name "./config/mm7Config.xml" and "./config/ConnConfig.xml": run from another
    folder, or without a ConnConfig.xml, the error said "ConnConfig.xml: cannot read: No such file or
    directory" — not where it was looked for, nor that the file may be left out."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config").mkdir()
    mm7config(tmp_path / "config", mmscURL="/mm7")
    _, problems = read_cmcc("./config/mm7Config.xml", "./config/ConnConfig.xml")
    [said] = [p for p in problems if p.level == "error"]
    assert said.where == "ConnConfig.xml" and said.message == (
        f"cannot read: No such file or directory (./config/ConnConfig.xml, from the working directory {tmp_path}); "
        "without one, give no ConnConfig.xml: the manual's link settings are used")
    monkeypatch.chdir(tmp_path / "config")
    with pytest.raises(ConfigError, match=r"mm7Config.xml: cannot read: No such file or directory "
                       r"\(\./config/mm7Config\.xml, from the working directory .*config\)$"):
        cmcc.MM7Sender(cmcc.MM7Config("./config/mm7Config.xml"))


def test_digest_setting_is_the_qop_chosen_when_offered_several(tmp_path):
    cfg, problems = read_cmcc(mm7config(tmp_path, Digest="auth-int"))
    assert cfg.mmsc.digest_qop == "auth-int" and cfg.make_client().config.digest_qop == "auth-int"
    cfg, problems = read_cmcc(mm7config(tmp_path, Digest="MD5"))
    assert cfg.mmsc.digest_qop == "" and any(p.where.endswith(":Digest") and "no qop" in p.message for p in problems)


def test_config_file_problems(tmp_path):
    path = mm7config(tmp_path, logLevel=None, UseSSL="true", mmscIP=["10.0.0.1:8443"], Digest="auth-int")
    text = open(path, encoding="utf-8").read().replace("<ListenPort>", "<listenport>").replace("</ListenPort>", "</listenport>")
    open(path, "w", encoding="utf-8").write(text)
    cfg, problems = read_cmcc(path)
    by = {p.where.split(":")[-1]: p for p in problems}
    assert by["listenport"].level == "error" and "case-sensitive" in by["listenport"].message
    assert by["logLevel"].level == "warning" and "missing" in by["logLevel"].message
    # The SDK never read UseSSL (its shipped files say true): plain http, and a warning saying so.
    assert cfg.mmsc.urls == ["http://10.0.0.1:8443/mm7"]
    assert by["UseSSL"].level == "warning" and "ignored, as in the SDK" in by["UseSSL"].message
    assert "Digest" not in by and cfg.mmsc.digest_qop == "auth-int"  # the SDK's choice when offered both
    proc = run("config", "check", path)
    assert proc.returncode == 3 and "case-sensitive" in proc.stdout
    assert "warning: mm7Config.xml:UseSSL: true is ignored, as in the SDK" in proc.stdout
    # TLS is asked for explicitly, with an https mmscIP; a UseSSL the SDK would not even parse only warns.
    cfg, problems = read_cmcc(mm7config(tmp_path, UseSSL="yes", mmscIP=["https://10.0.0.1:8443", "10.0.0.2"]))
    assert cfg.mmsc.urls == ["https://10.0.0.1:8443/mm7", "http://10.0.0.2/mm7"]
    assert [p.level for p in problems if p.where.endswith("UseSSL")] == ["warning"]
    bad = tmp_path / "x.xml"
    bad.write_text("<vasp:MM7Config xmlns:vasp='%s'><TimeOut>soon</TimeOut></vasp:MM7Config>" % NS)
    _, problems = read_cmcc(bad)
    assert any("not a whole number" in p.message for p in problems)
    assert any("no MMSC address" in p.message for p in problems)
    cut = tmp_path / "m.xml"
    cut.write_text("<vasp:MM7Config xmlns:vasp='%s'><TimeOut>" % NS)
    _, problems = read_cmcc(cut)
    assert [(p.where, p.message.split(":")[0]) for p in problems] == [("m.xml", "not well-formed XML")]  # (named once)
    # mmscURL written as a whole URL: the SDK sent it as the request-URI (absolute form) to mmscIP,
    # so the MMSC saw its path; here too, with a warning, never a path made of a URL.
    cfg, problems = read_cmcc(mm7config(tmp_path, mmscURL="http://211.136.90.202:8080/mm7/submit?x=1"))
    assert cfg.mmsc.urls == ["http://192.120.231.180/mm7/submit?x=1", "http://192.120.231.181:8080/mm7/submit?x=1"]
    assert [p.level for p in problems if p.where.endswith("mmscURL")] == ["warning"]
    # an address with spaces inside is no address (the SDK failed on it too)
    _, problems = read_cmcc(mm7config(tmp_path, mmscIP=["211.136.90.202 : 8080"]))
    assert [p.level for p in problems if p.where.endswith("mmscIP")] == ["error"]
    # a logLevel the manual does not have says so (the SDK wrote nothing for it)
    _, problems = read_cmcc(mm7config(tmp_path, logLevel="9"))
    assert [p.level for p in problems if p.where.endswith("logLevel")] == ["warning"]


# -- §5, §7 status ------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", [6, -1, 1.5, "read", None, True])
def test_a_status_number_the_manual_has_not_is_a_value_error_naming_those_it_has(code):
    with pytest.raises(ValueError, match=r"MMStatus .* none of the manual's numbers: 0 \(expired\), .*5 \(forwarded\)"):
        cst.MMStatus.to_mm7(code)
    with pytest.raises(ValueError, match=r"ReadStatusCode .*: 0 \(read\), 1 \(deleted without being read\), 2 "):
        cst.ReadStatusCode.to_mm7(code)
    # (its digits, as read from a file, are the number)
    assert cst.MMStatus.to_mm7("5") == (mm7.DeliveryStatus.FORWARDED, None)
    assert cst.ReadStatusCode.to_mm7("2") is mm7.ReadStatus.INDETERMINATE


def test_status_tables():
    assert cst.MMStatus.from_mm7(mm7.DeliveryStatus.RETRIEVED) == 1
    assert cst.MMStatus.from_mm7("Rejected") == 2
    assert cst.MMStatus.from_mm7("Rejected", "RejectionByMMSRecipient") == 3
    assert cst.MMStatus.from_mm7("Unrecognised") == 4 and cst.MMStatus.from_mm7("Forwarded") == 5
    assert cst.MMStatus.to_mm7(3) == (mm7.DeliveryStatus.REJECTED, "RejectionByMMSRecipient")
    assert cst.MMStatus.TEXTS[2] == ("系统拒绝", "system rejected")
    assert [cst.ReadStatusCode.from_mm7(v) for v in ("Read", "deleted", "Indeterminate")] == [0, 1, 2]
    assert cst.ReadStatusCode.to_mm7(1) is mm7.ReadStatus.DELETED
    assert cst.status_text(1001) == "部分成功" and cst.status_text(4006, "en") == "Service unavailable"
    # the API's own codes (§7) too, as MM7RSErrorRes holds them: not "unknown"
    assert cst.status_text(-104) == "Socket不通" and cst.status_text(-113, "en") == "The message is larger than allowed"
    assert cmcc.RequestStatus.PARTIAL_SUCCESS == 1001 and cmcc.RequestStatus.SERVICE_DENIED == 4007
    assert sorted(cmcc.API_ERRORS) == [-113, -111, -110, -109, -108, -107, -106, -105, -104, -103, -102, -101, -100]
    e = cst.SendTimeout("after 2 s")
    assert e.code == -101 and "超时发送失败" in str(e) and isinstance(e, cmcc.APIError)


def test_use_ssl_says_whether_tls_is_used_and_get_what_the_file_says(tmp_path, caplog):
    """The SDK's getUseSSL() was always false (Boolean.getBoolean reads a system property, not the
    text) and it always spoke plain http: `get("UseSSL")` is the file's value, as get() gives every
    key; the typed getter, as the others, what is used: TLS only with https mmscIPs."""
    caplog.set_level(logging.ERROR, logger="mm7bind")  # (UseSSL true warns that it is ignored)
    plain = cmcc.MM7Config(mm7config(tmp_path, UseSSL="true"))
    assert plain.get("UseSSL") is True and plain.use_ssl is False
    (tmp_path / "tls").mkdir()
    tls = cmcc.MM7Config(mm7config(tmp_path / "tls", UseSSL="false", mmscIP=["https://10.0.0.1:8443"]))
    assert tls.get("UseSSL") is False and tls.use_ssl is True
    (tmp_path / "mixed").mkdir()
    mixed = cmcc.MM7Config(mm7config(tmp_path / "mixed", mmscIP=["https://10.0.0.1:8443", "10.0.0.2"]))
    assert mixed.use_ssl is False  # (a request may go to the plain one)


def cmcc_config(tmp_path, url: str, **over) -> cmcc.MM7Config:
    path = mm7config(tmp_path, mmscIP=[url.split("//")[1].split("/")[0]], mmscURL="/mm7", AuthenticationMode="0",
                     **over)
    return cmcc.MM7Config(path)


def submit_req(**kw) -> cmcc.MM7SubmitReq:
    req = cmcc.MM7SubmitReq(transaction_id=kw.pop("transaction_id", None), vaspid="801234", vasid="8888",
                            service_code="111201", sender_address="8888", subject="测试", **kw)
    req.add_to("13915002000")
    return req


def test_api_errors_in_their_situations(tmp_path):
    with FakeServer() as srv:
        sender = cmcc.MM7Sender(cmcc_config(tmp_path, srv.url, MaxMessageSize="2000", ReSendCount="0"),
                                errors="raise")
        with pytest.raises(cst.EmptyMessage) as err:
            sender.send(None)
        assert err.value.code == -105
        with pytest.raises(cst.WrongMessage):
            sender.send(cmcc.MM7DeliverRes())
        # A message that cannot be built or written is a wrong message (-106), never a stray exception.
        no_recipient = cmcc.MM7SubmitReq(vaspid="801234")
        bad_priority = submit_req()
        bad_priority.priority = "urgent!"
        bad_subject = submit_req()
        bad_subject.subject = "bell \x07"
        bool_expiry = submit_req(expiry_date=True)  # (went as one second from now: PT1S)
        returning = cmcc.MM7Sender(sender.config)  # the SDK's way, and the default
        text_content = submit_req()
        text_content.content = "多媒体消息的内容"  # as the manual's §4.2.2.1 sample has it
        for req, why in ((no_recipient, "Recipients is required"), (bad_priority, "urgent!"),
                         (bad_subject, "character U.0007"), (text_content, r"MMContent.create_from_string\(text\)"),
                         (bool_expiry, "True is no time")):
            with pytest.raises(cst.WrongMessage, match=why):
                sender.send(req)
            res = returning.send(req)
            assert isinstance(res, cmcc.MM7RSErrorRes) and res.status_code == -106 and re.search(why, res.status_detail)
        assert srv.requests == []
        big = cmcc.MMContent.create_from_bytes(bytes(5000))
        big.content_type = cmcc.ContentType.JPEG
        with pytest.raises(cst.MessageTooLarge) as err:
            sender.send(submit_req(content=big))
        assert err.value.code == -113 and len(srv.requests) == 0  # refused before anything was sent
    dead = dead_url()
    sender = cmcc.MM7Sender(cmcc_config(tmp_path, dead, ReSendCount="0"), errors="raise")
    with pytest.raises(cst.SocketUnreachable):
        sender.send(submit_req())
    res = cmcc.MM7Sender(cmcc_config(tmp_path, dead, ReSendCount="0")).send(submit_req())
    assert isinstance(res, cmcc.MM7RSErrorRes) and res.status_code == -104 and res.status_text == "Socket不通"
    assert isinstance(res.error, cst.SocketUnreachable) and res.error.__traceback__ is None
    # As V1.5.3 answered (manual §7 and its code): an HTML page, even with HTTP 200, is -108; a read
    # timeout and credentials refused are -102 (its -101 never reached the application).
    for reply, error, code in (
            (Reply(200, b"<html>oops</html>", {"Content-Type": "text/html"}), cst.BadRequest, -108),
            (Reply(200, b"<!DOCTYPE html>\n<html><head><title>oops</title></head></html>", {"Content-Type": "text/html"}),
             cst.BadRequest, -108),  # (with its DOCTYPE too, which our XML reader refuses: it was -109)
            (Reply(502, b"<html>bad gateway</html>", {"Content-Type": "text/html"}), cst.BadRequest, -108),
            # no XML at all is -108 too, whatever the answer is instead (it was -111 and -109)
            (Reply(200, b"Service temporarily unavailable", {"Content-Type": "text/plain"}), cst.BadRequest, -108),
            (Reply(200, b"busy"), cst.BadRequest, -108),
            (Reply(200, b"<?xml version='1.0'?><env:Envelope", {"Content-Type": "text/xml"}), cst.XMLParseError, -109),
            (Reply(500, b""), cst.EmptyResponse, -107),
            (Reply(401, b"", {"WWW-Authenticate": 'Basic realm="realm"'}), cst.ReceiveFailed, -102),
            (None, cst.ReadTimeout, -102)):  # (None: no answer before the request timed out)
        held = []  # (each sender's: its request alone waits 0.3 s, its answer held until it gave up)

        def sender(config, reply=reply, held=held, **kw):
            s = cmcc.MM7Sender(config, **kw)
            if reply is None:
                held.append(threading.Event())
                times_out_once(s.client, held[-1])
            return s

        with FakeServer(lambda req, r=reply, h=held: r or Reply(hold=h[-1])) as srv:
            config = cmcc_config(tmp_path, srv.url, ReSendCount="0", TimeOut="30000")
            with pytest.raises(error) as raised:
                sender(config, errors="raise").send(submit_req())
            # A port written to the manual catches its timeout as SendTimeout (−101): it does, though
            # the code is V1.5.3's −102; no other −102 is taken for a timeout.
            assert isinstance(raised.value, cst.SendTimeout) == (error is cst.ReadTimeout)
            assert raised.value.code == code
            res = sender(config).send(submit_req())
            assert res.status_code == code
            # Returned, a timeout was told from the other -102s by its detail text alone: the result
            # carries the exception raised otherwise, to be tested the same way.
            def said(exc):  # (each send its own TransactionID, which an error after sending names)
                return re.sub(r"TransactionID \w+", "TransactionID T", str(exc))

            assert type(res.error) is error and res.error.code == code and said(res.error) == said(raised.value)
            assert isinstance(res.error, cst.SendTimeout) == (error is cst.ReadTimeout)

    def bare_fault(req):
        return mm7_reply(mm7.Fault(code="Server", string="down"), req.decode(), 500)

    with FakeServer(bare_fault) as srv:
        with pytest.raises(cst.ServerFault) as err:
            cmcc.MM7Sender(cmcc_config(tmp_path, srv.url, ReSendCount="0"), errors="raise").send(submit_req())
        assert err.value.code == -110

    def rserror(req):
        return mm7_reply(mm7.Fault(code="Client", detail=mm7.RSErrorRsp(status=mm7.Status(2002))), req.decode(), 500)

    with FakeServer(rserror) as srv:
        res = cmcc.MM7Sender(cmcc_config(tmp_path, srv.url)).send(submit_req())
        assert isinstance(res, cmcc.MM7RSErrorRes) and res.status_code == 2002 and res.status_text_zh == "地址错误"
        assert res.error is None  # (the MMSC's error, not the API's own)

    def status_in_faultstring(req):  # a gateway that writes the code only into faultstring
        return mm7_reply(mm7.Fault(code="Client", string="2002 address error"), req.decode(), 500)

    with FakeServer(status_in_faultstring) as srv:
        res = cmcc.MM7Sender(cmcc_config(tmp_path, srv.url)).send(submit_req())
        assert isinstance(res, cmcc.MM7RSErrorRes) and res.status_code == 2002, res


def test_a_charset_set_after_create_from_string_that_cannot_hold_the_text_is_said_as_sending_says_it():
    """`content`/`size` of a text whose charset was changed afterwards to one that cannot hold it
    (or that no one knows) raised a raw UnicodeEncodeError / LookupError: an EncodeError naming the
    part and the charset, as sending it does."""
    text = cmcc.MMContent.create_from_string("新年快乐", charset="UTF-8")
    text.content_id = "1.txt"
    text.charset = "ISO-8859-1"
    for read in (lambda: text.content, lambda: text.size):
        with pytest.raises(mm7.EncodeError, match=r"text 1.txt cannot be written in"):
            read()
    text.charset = "no-such-charset"
    with pytest.raises(mm7.EncodeError, match="unknown charset 'no-such-charset'"):
        text.content
    text.charset = "Cp936"  # (a Java name, read as GBK)
    assert text.content == "新年快乐".encode("gbk") and text.size == 8


def test_cmcc_dialect_on_the_wire(tmp_path):
    with FakeServer() as srv:
        sender = cmcc.MM7Sender(cmcc_config(tmp_path, srv.url))
        content = cmcc.MMContent()
        content.content_type = cmcc.ContentType.MULTIPART_MIXED
        with pytest.raises(mm7.EncodeError, match="gb2312"):
            cmcc.MMContent.create_from_string("镕", charset="GB2312")  # not in GB2312: said, not mislabelled
        text = cmcc.MMContent.create_from_string("中文内容", charset="GB2312")
        text.content_id = "2.txt"
        content.add_sub_content(text)
        res = sender.send(submit_req(content=content, expiry_date=3600, charged_party=4,
                                     time_stamp=datetime(2024, 2, 9, 10, 21, 7, tzinfo=timezone.utc),
                                     priority=cmcc.Priority.HIGH, message_class="Advertisement "))
        assert isinstance(res, cmcc.MM7SubmitRes) and res.status_code == 1000 and res.message_id
        [req] = srv.requests
        assert req.header("MM7APIVersion") == cmcc.API_VERSION
        env = req.decode()
        assert env.deviations == [] and env.version.name == "REL-6-MM7-1-0" and env.body.mm7_version == "6.3.0"
        body = env.body
        assert body.time_stamp.utcoffset() == timedelta(hours=8) and body.time_stamp.hour == 18
        assert body.expiry_date == timedelta(hours=1) and body.charged_party is mm7.ChargedParty.THIRD_PARTY
        assert body.priority is mm7.Priority.HIGH and body.message_class is mm7.MessageClass.ADVERTISEMENT
        soap_part = req.body.split(b"\r\n\r\n", 2)[1]
        assert b'<?xml version="1.0" encoding="GB2312"?>' in req.body and "中文".encode("gb2312") in req.body
        assert b'charset="gb2312"' in req.body.lower() and b"Content-Transfer-Encoding: 8bit" in req.body
        [part] = body.content.parts
        assert part.text_value == "中文内容" and part.charset.lower() == "gb2312" and part.content_id == "2.txt"
        assert soap_part


def test_reply_charging_is_asked_for_only_when_the_sp_says_so(tmp_path):
    """ReplyCharging makes the SP pay for the recipients' replies. A deadline or a size alone asked
    for nothing in the SDK, and reply_charging=False must not ask either: both sent a
    ReplyCharging element all the same."""
    asked = {"on": dict(reply_charging=True, reply_deadline=7200, reply_charging_size=1000),
             "off": dict(reply_charging=False, reply_deadline=7200, reply_charging_size=1000),
             "deadline only": dict(reply_deadline=7200), "size only": dict(reply_charging_size=1000)}
    with FakeServer() as srv:
        sender = cmcc.MM7Sender(cmcc_config(tmp_path, srv.url))
        for fields in asked.values():
            assert sender.send(submit_req(**fields)).status_code == 1000
        sent = [req.decode().body.reply_charging for req in srv.requests]
    assert sent[0] is not None and (sent[0].size, sent[0].deadline) == (1000, timedelta(hours=2))
    assert sent[1:] == [None, None, None]


def test_sdk_habits_read_and_reproduced_on_request():
    c = mm7.Content(parts=[mm7.Part.text("hi", content_id="1.txt")])
    msg = mm7.SubmitReq(recipients=["13915002000"], sender_address="8888", content=c)
    out = mm7.encode(msg, transaction_id="sdk-1", profile=CMCC_SDK)
    data = out.to_bytes()
    assert data.startswith(b"this is a multi-part message in MIME format\r\n\r\n----NextPart_0_2817_24856\r\n")
    assert b"<Content" not in data and b"Content-ID: </tnn-200102/mm7-vasp>" in data
    env = mm7.decode(data, out.content_type)
    assert {d.code for d in env.deviations} == {"content-ref-missing"}
    assert env.body.content.parts[0].text_value == "hi"
    plain = mm7.encode(msg, transaction_id="sdk-2", profile=CMCC).to_bytes()
    assert b"<Content href=" in plain and b"NextPart" not in plain  # the dialect itself stays clean


def test_the_sdk_cancel_req_is_read_with_its_sender_address():
    """The SDK's CancelReq: children in no namespace, and SenderAddress after SenderIdentification
    instead of inside it (what an MMSC, or `mm7bind simulate`, gets from an SP still on the SDK)."""
    mm7ns = "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-6-MM7-1-0"
    xml = ('<?xml version="1.0" encoding="GB2312"?><env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/">'
           f'<env:Header><mm7:TransactionID xmlns:mm7="{mm7ns}" env:mustUnderstand="1">c-1</mm7:TransactionID>'
           f'</env:Header><env:Body><CancelReq xmlns:mm7="{mm7ns}" env:mustUnderstand="1"><MM7Version>6.3.0'
           '</MM7Version><SenderIdentification><VASPID>805555</VASPID><VASID>5555</VASID></SenderIdentification>'
           '<SenderAddress>5555</SenderAddress><MessageID>m-1</MessageID></CancelReq></env:Body></env:Envelope>')
    env = mm7.decode(xml.encode("gb2312"), 'text/xml;charset="GB2312"')
    body = env.body
    assert isinstance(body, mm7.CancelReq) and body.message_id == "m-1" and body.vaspid == "805555"
    assert str(body.sender_address) == "5555"
    codes = {d.code for d in env.deviations}
    assert "moved-element" in codes and "unknown-element" not in codes


def test_an_mmsc_reads_the_sdks_unescaped_values():
    """The SDK writes values into the XML unescaped: a Subject with "&" or "<" is not well-formed
    XML, and an MMSC (`mm7bind simulate`) still takes the message, with the deviations noted."""
    mm7ns = "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-6-MM7-1-0"
    xml = ('<?xml version="1.0" encoding="GB2312"?><env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/">'
           f'<env:Header><mm7:TransactionID xmlns:mm7="{mm7ns}" env:mustUnderstand="1">s-1</mm7:TransactionID>'
           f'</env:Header><env:Body><SubmitReq xmlns="{mm7ns}"><MM7Version>6.3.0</MM7Version><SenderIdentification>'
           '<VASPID>805555</VASPID><VASID>5555</VASID><SenderAddress>5555</SenderAddress></SenderIdentification>'
           '<Recipients><To><Number>13915002000</Number></To></Recipients><ServiceCode>A&B</ServiceCode>'
           '<Subject><新品> 优惠 & 活动</Subject></SubmitReq></env:Body></env:Envelope>')
    with Simulator(dialect="cmcc-sdk") as sim:
        answer = sim.handle(xml.encode("gb2312"), 'text/xml;charset="GB2312"', {})
        assert answer.status == 200, answer.body
        [stored] = sim.messages.values()
    assert stored.request.subject == "<新品> 优惠 & 活动" and str(stored.request.service_code) == "A&B"
    assert {"unescaped-ampersand", "unescaped-markup"} <= {d.code for d in stored.deviations}


def test_mmcontent(tmp_path):
    gif = tmp_path / "1.gif"
    gif.write_bytes(b"GIF89a" + bytes(30))
    root = cmcc.MMContent()
    root.content_type = cmcc.ContentType.MULTIPART_RELATED
    f = cmcc.MMContent.create_from_file(gif)
    f.content_id = "1.gif"
    root.add_sub_content(f)
    s = cmcc.MMContent.create_from_stream(io.BytesIO(b"streamed text"), length=8)
    s.content_id = "3.txt"  # no type: from the id, as §4.3 allows
    root.add_sub_content(s)
    smil = cmcc.MMContent.create_from_string("<smil><body/></smil>")
    smil.content_type = cmcc.ContentType.SMIL
    root.add_sub_content(smil)
    assert root.is_multipart and root.get_sub_content_by_id("<1.gif>") is f and f.size == 36
    assert root.get_sub_content_by_location("1.gif") is f and s.content_as_string == "streamed"
    content = root.to_content()
    assert [p.content_type for p in content.parts] == ["image/gif", "text/plain"] and content.smil is not None
    with pytest.raises(OSError):
        cmcc.MMContent.create_from_file(tmp_path / "missing.gif")
    back = cmcc.MMContent.from_content(content)
    assert back.content_type == cmcc.ContentType.MULTIPART_RELATED and len(back.sub_contents) == 3


@pytest.mark.parametrize(("given", "sent"), [
    ("Cp936", "GBK"), ("ISO8859_1", "ISO-8859-1"), ("EUC_CN", "GB2312"), ("UTF8", "UTF-8"), ("ASCII", "US-ASCII"),
    ("GB2312", "GB2312"), ("gbk", "GBK"), ("ISO-2022-JP", "ISO-2022-JP"), ("text/plain;charset=Cp936", "GBK")])
def test_a_parts_own_charset_in_a_java_name_goes_by_its_iana_name(given, sent):
    # As the configuration's Charset does: a handset knows GBK, not Java's Cp936.
    if given.startswith("text/"):
        text = cmcc.MMContent.create_from_string("abc")
        text.content_type = given
    else:
        text = cmcc.MMContent.create_from_string("abc", given)
    assert text.to_part("UTF-8").charset == sent
    root = cmcc.MMContent()
    root.content_type = cmcc.ContentType.MULTIPART_MIXED
    root.add_sub_content(text)
    out = mm7.encode(mm7.SubmitReq(recipients=["+8613800000000"], content=root.to_content()), transaction_id="t")
    assert f'Content-Type: text/plain; charset="{sent}"'.encode() in out.to_bytes()
    assert text.text_charset() == given.rpartition("=")[2]  # (the SP's part as it was)


def test_a_file_whose_name_is_gbk_bytes_is_sent_under_the_name_they_spell(tmp_path):
    # Unpacked from an archive made on Chinese Windows: Python gives the GBK bytes of the name as
    # surrogates, which no header carries; the part was refused when sent.
    if sys.getfilesystemencoding().lower() not in ("utf-8", "utf8"):
        pytest.skip("the file system's names are not read as UTF-8 here")
    try:
        with open(os.path.join(os.fsencode(tmp_path), "新年.gif".encode("gbk")), "wb") as out:
            out.write(b"GIF89a" + bytes(20))
    except OSError:
        pytest.skip("this file system takes no names that are not UTF-8")
    [name] = os.listdir(tmp_path)  # (as an SP's code finds it)
    picture = cmcc.MMContent.create_from_file(tmp_path / name)
    assert picture.content_location == "新年.gif"
    root = cmcc.MMContent()
    root.content_type = cmcc.ContentType.MULTIPART_MIXED
    root.add_sub_content(picture)
    out = mm7.encode(mm7.SubmitReq(recipients=["+8613800000000"], content=root.to_content()), transaction_id="t")
    assert b"Content-Location: %E6%96%B0%E5%B9%B4.gif\r\n" in out.to_bytes()


# -- §4.3 worked example, against `mm7bind simulate --dialect cmcc` ---------------------------------


@pytest.fixture
def cmcc_simulator_for(tmp_path):
    started = []

    def start(vasp_url: str):
        sim = Background("simulate", "--port", "0", "--dialect", "cmcc", "--vasp-url", vasp_url,
                         "--report-delay", "0.2")
        port = sim.port()
        sim.wait_for(f"http://127.0.0.1:{port}/control/health")
        sim.url = f"http://127.0.0.1:{port}/mm7"
        sim.control = f"http://127.0.0.1:{port}/control"
        started.append(sim)
        return sim

    yield start
    for sim in started:
        sim.stop()


def wait_until(predicate, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_worked_example_pythonic(cmcc_simulator_for):
    """Receive an MO, answer it with a Submit that copies its LinkedID (manual §4.3)."""
    replies = []

    class Inbox(mm7.Handler):
        def on_deliver(self, msg, ctx):
            reply = mm7.SubmitReq(vaspid="801234", vasid="8888", service_code="111201", sender_address="8888",
                                  recipients=mm7.Recipients(to=[msg.sender]), linked_id=msg.linked_id,
                                  subject="Re: " + (msg.subject or ""), content=msg.content)
            replies.append(client.submit(reply))
            return mm7.DeliverRsp(service_code="111201")

    with mm7.serve(mm7.Receiver(Inbox()), port=0) as vasp:
        sim = cmcc_simulator_for(vasp.url + "/mm7")
        client = mm7.Client(sim.url, profile=CMCC)
        mo = requests.post(sim.control + "/deliver", json={"from": "13915002000", "to": ["8888"], "subject": "天气",
                                                           "text": "CX TQ"}, timeout=10).json()
        assert mo["status"] == 1000
        assert wait_until(lambda: replies)
        [result] = replies
        assert result.ok and result.version.name == "REL-6-MM7-1-0"
        [stored] = [s for s in requests.get(sim.control + "/messages", timeout=10).json()
                    if s["message_id"] == result.message_id]
        assert stored["subject"] == "Re: 天气" and stored["recipients"] == ["13915002000"]


def test_worked_example_cmcc_shaped(tmp_path, cmcc_simulator_for):
    """The same flow with the China Mobile-shaped API: MM7Receiver.do_deliver + MM7Sender.send."""
    results = []

    class MyReceiver(cmcc.MM7Receiver):
        def do_deliver(self, deliver_req):
            submit = cmcc.MM7SubmitReq(vaspid="801234", vasid="8888", service_code="111201")
            submit.sender_address = deliver_req.to[0]
            submit.to = [deliver_req.sender]
            submit.linked_id = deliver_req.linked_id
            submit.priority = deliver_req.priority
            submit.subject = deliver_req.subject
            submit.content = deliver_req.content
            results.append(sender.send(submit))
            res = cmcc.MM7DeliverRes()
            res.service_code = "111201"
            res.status_code = cmcc.RequestStatus.SUCCESS
            return res

    receiver = MyReceiver()
    receiver.set_config(cmcc.MM7Config(mm7config(tmp_path, ListenPort="0", AuthenticationMode="0")))
    receiver.start()
    try:
        port = receiver.server.port
        sim = cmcc_simulator_for(f"http://127.0.0.1:{port}/mm7")
        cfg = cmcc_config(tmp_path, sim.url)
        sender = cmcc.MM7Sender(cfg)
        mo = requests.post(sim.control + "/deliver", json={"from": "13915002000", "to": ["8888"], "subject": "彩信",
                                                           "text": "订阅"}, timeout=10).json()
        assert mo["status"] == 1000, mo
        assert wait_until(lambda: results)
        [res] = results
        assert isinstance(res, cmcc.MM7SubmitRes) and res.status_code == 1000 and res.message_id.startswith("SIM")
        stored = {s["message_id"]: s for s in requests.get(sim.control + "/messages", timeout=10).json()}
        assert stored[res.message_id]["subject"] == "彩信" and stored[res.message_id]["deviations"] == []
        # The MO came with the China Mobile MMSC's plain-text Sender, and was read all the same.
        assert mo["linked_id"].startswith("LNK")
        assert receiver.join(timeout=0.01) is False  # still serving
        import threading

        threading.Thread(target=receiver.stop).start()  # as another thread would
        assert receiver.join() is True
    finally:
        receiver.stop()


def test_the_chinese_mmscs_mo_and_reports_reach_the_callbacks_and_forward_intact(tmp_path):
    """What China Mobile's MMSC sends (the simulator's cmcc dialect, in the capture's layout: plain
    Sender, MMSRelayServerID out of order, a bare Content-ID, TimeStamp and MMSStatusErrorCode in a
    report), through MM7Receiver over loopback: every getter the manual's §4.3 copies is filled, and the
    content forwarded in a Submit reaches the MMSC part for part (SMIL, raw JPEG, Chinese text)."""
    from .test_cmcc_mmsc import JPEG, SMIL, TEXT, mo_parts

    got, results = [], []

    class MyReceiver(cmcc.MM7Receiver):
        def do_deliver(self, deliver_req):
            got.append(deliver_req)
            submit = cmcc.MM7SubmitReq(vaspid="801234", vasid="10085", service_code="111201",
                                       sender_address=deliver_req.to[0], to=[deliver_req.sender],
                                       linked_id=deliver_req.linked_id, subject=deliver_req.subject,
                                       content=deliver_req.content, delivery_report=True)
            results.append(sender.send(submit))
            return cmcc.MM7DeliverRes(service_code="111201")

        def do_delivery_report(self, req):
            got.append(req)

    with Simulator(dialect="cmcc", report_delay=3600) as sim:
        sender = cmcc.MM7Sender(cmcc_config(tmp_path, sim.url))
        receiver = MyReceiver(cmcc.MM7Config(mm7config(tmp_path, ListenPort="0", AuthenticationMode="0")))
        receiver.start()
        try:
            port = receiver.server.port
            sim.config.vasp_url = f"http://127.0.0.1:{port}/mm7"
            mo = sim.deliver("+8618703815655", ["10085"], subject="彩信", parts=mo_parts())
            assert mo["status"] == 1000, mo
            [res] = results
            assert isinstance(res, cmcc.MM7SubmitRes) and res.status_code == 1000 and res.status_text_zh == "成功"
            assert sim.send_report(res.message_id, "+8618703815655", "Rejected")["status"] == 1000
        finally:
            receiver.stop()
        deliver_req, report = got
        assert (deliver_req.sender, deliver_req.to, deliver_req.subject) == ("+8618703815655", ["10085"], "彩信")
        assert deliver_req.mms_relay_server_id == sim.config.relay_server_id
        assert deliver_req.linked_id == mo["linked_id"]
        assert deliver_req.mm7_version == "6.3.0" and deliver_req.time_stamp is not None
        content = deliver_req.content
        assert content.content_type == cmcc.ContentType.MULTIPART_RELATED and content.content_id == "defaultID"
        assert content.get_sub_content_by_location("1447137257000.jpg").content == JPEG
        assert content.get_sub_content_by_location("text_0.txt").content_as_string == TEXT
        forwarded = sim.messages[res.message_id].request.content
        assert forwarded.smil.text_value == SMIL and forwarded.by_location("1447137257000.jpg").data == JPEG
        assert forwarded.by_location("text_0.txt").text_value == TEXT
        # The report in the Chinese MMSC's words: TimeStamp for Date, MMSStatusErrorCode beside MMStatus.
        assert isinstance(report, cmcc.MM7DeliveryReportReq) and report.message_id == res.message_id
        assert report.mm_status == cmcc.MMStatus.SYSTEM_REJECT and report.time_stamp is not None
        assert report.recipient == "+8618703815655" and report.sender == "10085"
        assert report.mms_status_error_code == "130"  # (MM1's code of Rejected)


def test_chinese_gateways_delivery_reports_reach_do_delivery_report(tmp_path, samples_dir):
    """Two Chinese gateways' DeliveryReportReqs, as captured (read in place): TimeStamp for Date, a
    plain-text Sender, MMSStatusErrorCode, a StatusText holding a code, a GB2312 declaration sent as
    UTF-8, a single-digit month. Each reaches do_delivery_report with the getters filled (§5.2 numbers)."""
    got = []

    class MyReceiver(cmcc.MM7Receiver):
        def do_delivery_report(self, req):
            got.append(req)

    template = (samples_dir / "cn-mmsc-simulator__delivery_report_req_template.xml").read_text(encoding="ascii")
    for key, value in {"{RTransactionID}": "t-2", "{MM7Version}": "6.3.0", "{MessageID}": "M2",
                       "{DestAddr0}": "13900000000", "{SrcAddr}": "10085", "{RStatusText}": "Rejected",
                       "{RStatusCode}": "130"}.items():
        template = template.replace(key, value)
    receiver = MyReceiver(cmcc.MM7Config(mm7config(tmp_path, ListenPort="0", AuthenticationMode="0")))
    try:
        receiver.start()
        for body, ctype in (((samples_dir / "cn-mmsmp__Sender_delivery_report_req.xml").read_bytes(),
                             "text/xml;charset=UTF-8"), (template.encode("ascii"), "text/xml; charset=utf-8")):
            answer = requests.post(receiver.url + "/mm7", data=body, headers={"Content-Type": ctype}, timeout=10)
            assert answer.status_code == 200 and b"<StatusCode>1000</StatusCode>" in answer.content
    finally:
        receiver.stop()
    china = timezone(timedelta(hours=8))
    assert [(r.transaction_id, r.mms_relay_server_id, r.message_id, r.recipient, r.sender, r.time_stamp,
             r.mm_status, r.status_text, r.mms_status_error_code) for r in got] == [
        ("dLj160WywOJ0", "877101", "MessageID001", "8613161608360", "1065580001",
         datetime(2010, 2, 10, 9, 14, 39, tzinfo=china), cmcc.MMStatus.RETRIEVED, "1000", "129"),
        ("t-2", "902500", "M2", "13900000000", "10085", datetime(2014, 3, 24, 10, 34, 50, tzinfo=china),
         cmcc.MMStatus.SYSTEM_REJECT, "OK", "130")]


DELIVER_WITH_SHOWN_CC = """<?xml version="1.0" encoding="UTF-8"?>
<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/"><env:Header>
<mm7:TransactionID xmlns:mm7="http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-6-MM7-1-0"
 env:mustUnderstand="1">mo-1</mm7:TransactionID></env:Header><env:Body>
<DeliverReq xmlns="http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-6-MM7-1-0">
<MM7Version>6.3.0</MM7Version><MMSRelayServerID>910010</MMSRelayServerID><LinkedID>L1</LinkedID>
<Sender><Number>13800138000</Number></Sender><Recipients><To><ShortCode>8888</ShortCode></To>
<Cc><Number displayOnly="true">13900000000</Number></Cc><Bcc><Number>13700000000</Number></Bcc></Recipients>
<Subject>hi</Subject></DeliverReq></env:Body></env:Envelope>"""


def test_a_display_only_recipient_of_an_mo_stays_display_only_in_a_submit_copying_it(tmp_path):
    """An MO's recipient the MMSC marked displayOnly (shown, not delivered to) reached do_deliver as
    plain text, so a Submit copying the MO's recipients, as §4.3 does, delivered to it. It comes as
    a `cmcc.DisplayOnly` (a str: compared and printed as the number) and goes out displayOnly; an SP
    marks an address "for reference only" (§4.2.2.1) the same way."""
    got = []

    class MyReceiver(cmcc.MM7Receiver):
        def do_deliver(self, req):
            got.append(req)

    receiver = MyReceiver(cmcc.MM7Config(mm7config(tmp_path, ListenPort="0", AuthenticationMode="0")))
    try:
        receiver.start()
        answer = requests.post(receiver.url + "/mm7", data=DELIVER_WITH_SHOWN_CC.encode(),
                               headers={"Content-Type": "text/xml; charset=utf-8"}, timeout=10)
        assert answer.status_code == 200 and b"<StatusCode>1000</StatusCode>" in answer.content
    finally:
        receiver.stop()
    (mo,) = got
    assert (mo.to, mo.cc, mo.bcc) == (["8888"], ["13900000000"], ["13700000000"])
    assert isinstance(mo.cc[0], cmcc.DisplayOnly) and not isinstance(mo.bcc[0], cmcc.DisplayOnly)
    submit = cmcc.MM7SubmitReq(vaspid="801234", vasid="8888", service_code="111201", sender_address="8888",
                               to=[mo.sender], cc=mo.cc, bcc=[*mo.bcc, cmcc.DisplayOnly(" a@b.cn ")])
    r = submit.to_message().recipients
    assert [(str(a), a.display_only) for a in r] == [("13800138000", False), ("13900000000", True),
                                                    ("13700000000", False), ("a@b.cn", True)]
    assert r.bcc[1].kind == mm7.AddressKind.RFC2822 and r.cc[0].kind == mm7.AddressKind.NUMBER
    # Display-only recipients alone reach no one (§4.2.2.1: at least one of To, Cc, Bcc): -106, nothing sent.
    shown_only = cmcc.MM7SubmitReq(vaspid="801234", vasid="8888", service_code="111201", sender_address="8888",
                                   to=[cmcc.DisplayOnly("13800138000")], cc=mo.cc)
    with FakeServer() as srv:
        res = cmcc.MM7Sender(cmcc_config(tmp_path, srv.url)).send(shown_only)
        assert srv.requests == []
    assert res.status_code == -106 and "delivered to no one" in res.status_detail and res.may_have_arrived is False


# A README example run as a program (example.py, its server given port 0); Ctrl-C as in a terminal,
# even when the suite itself runs with SIGINT ignored (which a child inherits). Its own first line
# says where it receives, as a user starting it needs to know (port 0: the port the system picked).
RUN_EXAMPLE = """\
import runpy, signal
signal.signal(signal.SIGINT, signal.default_int_handler)
runpy.run_path("example.py", run_name="__main__")
"""


def started_example(cwd):
    """Run `cwd`/example.py as RUN_EXAMPLE does → (the process, the port its server listens on)."""
    import select
    import subprocess
    import sys

    from .conftest import ROOT
    from .test_commands import ENV

    proc = subprocess.Popen([sys.executable, "-c", RUN_EXAMPLE], cwd=cwd, env={**ENV, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # (the bound is for a program that hangs before it serves; one that ends says why at once)
    line = proc.stdout.readline() if select.select([proc.stdout], [], [], 120)[0] else ""
    said = re.match(r"receiving MM7 at http://[\d.]+:(\d+)\S* - Ctrl-C stops$", line)
    if said is None or said[1] == "0":
        proc.kill()
        out, err = proc.communicate(timeout=30)
        raise AssertionError(f"the program did not say where it serves: {line}{out}{err}")
    return proc, int(said[1])


def test_the_readme_china_mobile_example_runs_as_a_program(tmp_path):
    """The README's "China Mobile way" block, copied into a file next to ./config/ as a new user would:
    it keeps serving after start() (the manual's `for(;;);`), answers an MO with a Submit, and ends
    cleanly on Ctrl-C."""
    import signal

    from .conftest import ROOT

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    [block] = [b for b in re.findall(r"```python\n(.*?)```", readme, re.S) if b.startswith("# The China Mobile way")]
    (tmp_path / "config").mkdir()
    (tmp_path / "example.py").write_text(block, encoding="utf-8")
    with Simulator(SimulatorConfig(dialect="cmcc", report_delay=0.2)) as sim:
        mm7config(tmp_path / "config", ListenPort="0", AuthenticationMode="0", mmscURL="/mm7",
                  mmscIP=[sim.server.url.split("//")[1]])
        (tmp_path / "config" / "ConnConfig.xml").write_text(CONN, encoding="utf-8")
        proc, port = started_example(tmp_path)
        try:
            sim.config.vasp_url = f"http://127.0.0.1:{port}/mm7"
            assert proc.poll() is None, proc.communicate()  # still serving after the last line of the block
            mo = requests.post(sim.server.url + "/control/deliver", json={
                "from": "13915002000", "to": ["8888"], "subject": "天气", "text": "CX TQ"}, timeout=10).json()
            assert mo["status"] == 1000, mo
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate(timeout=30)
    assert proc.returncode == 0 and "Traceback" not in err, err
    [line] = out.splitlines()  # (the port's line read already)
    assert line.startswith("1000 ") and line.split()[-1].startswith("SIM"), out


def test_the_readme_pythonic_example_runs_as_a_program(tmp_path):
    """The README's "Pythonic way" block, copied into a file as a new user would (with the
    simulator's address, and port 0 for its own): it serves, and answers an MO with a Submit."""
    from .test_docs import adapted, python_block

    with Simulator(SimulatorConfig(dialect="cmcc", report_delay=0.2)) as sim:
        (tmp_path / "example.py").write_text(adapted(python_block("# The Pythonic way\n"), {
            '"http://127.0.0.1:9090/mm7"': repr(sim.url), "port=8088": "port=0"}), encoding="utf-8")
        proc, port = started_example(tmp_path)
        try:
            sim.config.vasp_url = f"http://127.0.0.1:{port}/mm7"
            assert proc.poll() is None, proc.communicate()
            mo = requests.post(sim.server.url + "/control/deliver", json={
                "from": "13915002000", "to": ["8888"], "subject": "天气", "text": "CX TQ"}, timeout=10).json()
            assert mo["status"] == 1000, mo
            stored = requests.get(sim.server.url + "/control/messages", timeout=10).json()
            [reply] = [s for s in stored if s["subject"] == "Re: 天气"]
            # (taken; delivered already when the simulator's 0.2 s report delay passed before this read)
            assert reply["recipients"] == ["13915002000"] and reply["state"] in ("accepted", "delivered")
        finally:
            proc.terminate()
            proc.communicate(timeout=30)


def test_a_field_set_under_its_java_name_is_refused_not_kept_unsent():
    """req.VASPID = ..., as Java code reads ported, made an attribute beside `vaspid` that was never
    sent (a Submit without its SP code, an answer without its status): refused, naming the field."""
    req = submit_req()
    for name, field in (("VASPID", "vaspid"), ("SenderAddress", "sender_address"), ("Subject", "subject"),
                        ("ChargedPartyID", "charged_party_id")):
        with pytest.raises(AttributeError, match=rf"^MM7SubmitReq has no field {name} \(the field is {field}\)$"):
            setattr(req, name, "x")
    with pytest.raises(AttributeError, match=r"did you mean message_id"):
        cmcc.MM7CancelReq().mesage_id = "m-1"  # the manual's §4.6 setMesageID
    res = cmcc.MM7DeliverRes()
    with pytest.raises(AttributeError, match=r"the field is status_code"):
        res.StatusCode = 2001
    res.status_code, req.vaspid = 2001, "801235"  # the fields themselves, as ever
    assert (res.status_code, req.vaspid) == (2001, "801235")


def test_a_method_called_under_its_java_name_says_its_python_one(tmp_path):
    """The manual's flows copied as written (submitReq.setVASPID(...), MMContent.createFromFile(...),
    res.getStatusCode()) failed with a bare AttributeError: it names the field or method to use."""
    cfg = cmcc.MM7Config(mm7config(tmp_path))
    req, res, content = submit_req(), cmcc.MM7SubmitRes(), cmcc.MMContent()
    for call, said in (
            (lambda: req.setVASPID("801234"), r"MM7SubmitReq has no setVASPID \(set the field: \.vaspid = value\)"),
            (lambda: req.addTo("139"), r"MM7SubmitReq has no addTo \(it is add_to\)"),
            (lambda: req.isChargedPartyIDExist(), r"\(\.charged_party_id is not None\)"),
            (lambda: res.getStatusCode(), r"MM7SubmitRes has no getStatusCode \(read the field: \.status_code\)"),
            (lambda: cmcc.MM7DeliveryReportReq().getMMSRelayServerID(), r"\.mms_relay_server_id\)"),
            (lambda: cmcc.MMContent.createFromFile("f:\\yellow.gif"), r"MMContent has no createFromFile \(it is create_from_file\)"),
            (lambda: content.setContentID("1.gif"), r"\.content_id = value"),
            (lambda: content.addSubContent(content), r"it is add_sub_content"),
            (lambda: cfg.setConnConfigName("ConnConfig.xml"), r"it is set_conn_config_name"),
            (lambda: cfg.getMMSCURL(), r'MM7Config has no getMMSCURL \(\.get\("MMSCURL"\)\)'),
            (lambda: cfg.setPassword("x"), r'\(\.set\("Password", value\)\)'),
            (lambda: cmcc.MM7Sender().setConfig(cfg), r"MM7Sender has no setConfig \(it is set_config\)"),
            (lambda: cmcc.MM7Receiver().setConfig(cfg), r"MM7Receiver has no setConfig \(it is set_config\)"),
            (lambda: req.frobnicate, r"^MM7SubmitReq has no frobnicate$")):
        with pytest.raises(AttributeError, match=said):
            call()
    # What looks for an attribute that is not there goes on as before, and a property failing with
    # an AttributeError of its own says that one.
    assert not hasattr(req, "VASPID") and getattr(cmcc.MM7Receiver(), "Config", None) is None
    assert copy.deepcopy(req) == req and pickle.loads(pickle.dumps(req)) == req

    class Part(cmcc.MMContent):
        @property
        def broken(self):
            return self.not_there

    with pytest.raises(AttributeError, match=r"^Part has no not_there$"):
        Part().broken


def test_the_sdk_class_hierarchy():
    """The manual's instanceof checks work on requests too, and MM7AbstractReceiver names the callbacks."""
    assert all(issubclass(c, cmcc.MM7VASPReq) for c in (cmcc.MM7SubmitReq, cmcc.MM7CancelReq, cmcc.MM7ReplaceReq))
    assert all(issubclass(c, cmcc.MM7RSReq) for c in (cmcc.MM7DeliverReq, cmcc.MM7DeliveryReportReq,
                                                       cmcc.MM7ReadReplyReq))
    assert issubclass(cmcc.MM7VASPReq, cmcc.MM7Message) and not issubclass(cmcc.MM7DeliverReq, cmcc.MM7VASPReq)
    assert issubclass(cmcc.MM7Receiver, cmcc.MM7AbstractReceiver)
    assert issubclass(cmcc.MM7ReceiveServlet, cmcc.MM7AbstractReceiver)


def test_subclasses_that_set_their_configuration_in_their_own_constructor(tmp_path):
    """The SDK's MyReceiveServlet sets `Config = new MM7Config(path)` in its constructor and calls no
    super constructor; ported as is, the servlet and the receiver work."""
    from .test_receiver import call_wsgi, deliver

    path = mm7config(tmp_path, AuthenticationMode="0", ListenPort="0")

    class MyReceiveServlet(cmcc.MM7ReceiveServlet):
        def __init__(self):
            self.config = cmcc.MM7Config(path)

    class MyReceiver(cmcc.MM7Receiver):
        def __init__(self):
            self.config = cmcc.MM7Config(path)

    out = mm7.encode(deliver(), transaction_id="mo-1", version="REL-6-MM7-1-0")
    assert call_wsgi(MyReceiveServlet(), out.to_bytes(), out.content_type)["status"] == 200
    receiver = MyReceiver()
    assert receiver.url == "" and receiver.join() is True  # not started: nothing to wait for
    try:
        receiver.start()
        answer = requests.post(receiver.url + "/mm7", data=out.to_bytes(), headers={"Content-Type": out.content_type},
                               timeout=10)
        assert answer.status_code == 200 and mm7.decode(answer.content, answer.headers["Content-Type"]).body.status.code == 1000
    finally:
        receiver.stop()


def _two_requests_on_one_connection(url: str, body: bytes, content_type: str) -> tuple[bytes, bytes]:
    """Two HTTP/1.1 requests over one connection, as an MMSC keeping its links open sends them: the
    first answer, and what came after it (the second answer, or b"" when the connection was closed)."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    head = (f"POST /mm7 HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode("latin-1")
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        reader = sock.makefile("rb")
        sock.sendall(head + body)
        first = b""
        while not first.endswith(b"\r\n\r\n"):
            first += reader.readline()
        length = int(re.search(rb"(?i)content-length: *(\d+)", first)[1])
        first += reader.read(length)
        try:
            sock.sendall(head + body)
            return first, reader.readline()
        except OSError:  # (the request written to a closed connection: reset)
            return first, b""


@pytest.mark.parametrize("keep_alive", ["on", "off"])
def test_the_receiver_honours_keep_alive_off(tmp_path, keep_alive):
    """ConnConfig.xml KeepAlive=off: the SDK's MM7Receiver closed the connection after each answer
    (and said so); on, the MMSC sends its next request on the same connection."""
    from .test_receiver import deliver

    (tmp_path / "ConnConfig.xml").write_text(CONN.replace("<KeepAlive>on<", f"<KeepAlive>{keep_alive}<"),
                                             encoding="utf-8")
    config = cmcc.MM7Config(mm7config(tmp_path, AuthenticationMode="0", ListenPort="0"), tmp_path / "ConnConfig.xml")
    assert config.config.receiver.keep_alive is (keep_alive == "on")
    out = mm7.encode(deliver(), transaction_id="mo-1", version="REL-6-MM7-1-0")
    receiver = cmcc.MM7Receiver(config)
    try:
        receiver.start()
        first, then = _two_requests_on_one_connection(receiver.url, out.to_bytes(), out.content_type)
    finally:
        receiver.stop()
    assert first.startswith(b"HTTP/1.1 200 ") and b"<StatusCode>1000</StatusCode>" in first
    if keep_alive == "off":
        assert re.search(rb"(?im)^connection: *close\r$", first) and then == b""
    else:
        assert not re.search(rb"(?im)^connection: *close", first) and then.startswith(b"HTTP/1.1 200 ")


def test_a_request_too_large_for_the_receiver_is_logged_into_its_log_file(tmp_path):
    """An MMSC's MO declared larger than the receiver takes is refused (413) before its body is read,
    by the server: as with `mm7bind serve`, that refusal is logged (into the configuration's own
    log file, which the SP reads) and counted, not lost without a trace."""
    import socket

    config = cmcc.MM7Config(mm7config(tmp_path, AuthenticationMode="0", ListenPort="0", logLevel="1"))
    receiver = cmcc.MM7Receiver(config)
    try:
        receiver.start()
        limit = config.config.receiver.max_body
        host, port = receiver.url.split("//")[1].split("/")[0].rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=10) as conn:
            conn.sendall(f"POST /mm7 HTTP/1.1\r\nHost: {host}\r\nContent-Type: text/xml\r\n"
                         f"Content-Length: {limit + 1}\r\n\r\n".encode("ascii"))
            answer = conn.recv(4096)
    finally:
        receiver.stop()
    assert answer.startswith(b"HTTP/1.1 413 ")
    [log_file] = (tmp_path / "logs").glob("910010*.log")
    assert f"{limit + 1} bytes, over max_body" in log_file.read_text(encoding="utf-8")


def test_a_request_cut_short_is_logged_into_the_receivers_log_file(tmp_path):
    """An MO whose body never comes whole (the MMSC's upload cut off) is no message; as with
    `mm7bind serve`, the receiver logs it into the configuration's log file (the server closed
    such a connection without a word)."""
    import socket

    config = cmcc.MM7Config(mm7config(tmp_path, AuthenticationMode="0", ListenPort="0", logLevel="1"))
    receiver = cmcc.MM7Receiver(config)
    try:
        receiver.start()
        host, port = receiver.url.split("//")[1].split("/")[0].rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=10) as conn:
            conn.sendall(f"POST /mm7 HTTP/1.1\r\nHost: {host}\r\nContent-Type: text/xml\r\n"
                         f"Content-Length: 5000\r\n\r\n".encode("ascii") + b"x" * 1000)
            conn.shutdown(socket.SHUT_WR)
            while conn.recv(4096):  # (until the server has done with it)
                pass
    finally:
        receiver.stop()
    [log_file] = (tmp_path / "logs").glob("910010*.log")
    assert "not taken: the connection closed after 1000 bytes of its body (of 5000)" in \
        log_file.read_text(encoding="utf-8")


@pytest.mark.parametrize("text", ["true", "yes", "1", ""])
def test_a_keep_alive_neither_on_nor_off_is_off_as_in_the_sdk(tmp_path, text):
    """The SDK kept connections for "on" only and closed them for anything else: such a file worked
    with it (closing each connection), so it loads, closing them, with a warning."""
    conn = tmp_path / "ConnConfig.xml"
    conn.write_text(CONN.replace("<KeepAlive>on<", f"<KeepAlive>{text}<"), encoding="utf-8")
    cfg, problems = read_cmcc(mm7config(tmp_path), conn)
    assert [p.level for p in problems if p.where.endswith(":KeepAlive")] == ["warning"]
    assert [p for p in problems if p.level == "error"] == []
    assert cfg.mmsc.keep_alive is False and cfg.receiver.keep_alive is False


def test_a_receiver_without_configuration_says_so():
    with pytest.raises(ValueError, match="set_config"):
        cmcc.MM7Receiver().start()
    from .test_receiver import call_wsgi

    with pytest.raises(ValueError, match="set_config"):  # a method the servlet has too
        call_wsgi(cmcc.MM7ReceiveServlet(), b"<x/>", "text/xml")


@pytest.mark.parametrize(("name", "meant"), [("doDeliver", "do_deliver"), ("doDeliveryReport", "do_delivery_report"),
                                           ("doDelivery", "do_delivery_report"), ("do_delivery", "do_delivery_report"),
                                           ("doDeliverReport", "do_delivery_report"),
                                           ("doReadReply", "do_read_reply")])
@pytest.mark.parametrize("base", [cmcc.MM7Receiver, cmcc.MM7ReceiveServlet])
def test_a_callback_under_the_sdks_name_is_refused_not_ignored(base, name, meant):
    """Ported with its Java name, or the manual's doDelivery (§4.4.2), a callback was never called:
    every message was answered 1000 by the default, and lost. Refused when the class is made."""
    with pytest.raises(TypeError, match=f"{name} would never be called: the callback is {meant}$"):
        type("MyReceiver", (base,), {name: lambda self, req: cmcc.MM7DeliverRes()})


def test_get_config_is_there_beside_set_config(tmp_path):
    """A port turning setConfig into set_config turns getConfig into get_config: it was missing."""
    config = cmcc.MM7Config(mm7config(tmp_path, AuthenticationMode="0"))
    for made in (cmcc.MM7Sender(), cmcc.MM7Receiver(), cmcc.MM7ReceiveServlet()):
        assert made.get_config() is None
        made.set_config(config)
        assert made.get_config() is config is made.config

    class AsInTheExample(cmcc.MM7ReceiveServlet):
        def __init__(self):
            self.Config = config

    assert AsInTheExample().get_config() is config


def test_starting_a_serving_receiver_again_is_refused(tmp_path):
    """A second start() made a second server: the first served on, out of stop()'s reach (on a
    fixed port the second failed as 'address in use', which said nothing of the first)."""
    receiver = cmcc.MM7Receiver(cmcc.MM7Config(mm7config(tmp_path, AuthenticationMode="0")))
    receiver.start(port=0)
    first = receiver.server
    try:
        with pytest.raises(RuntimeError, match=f"already serving at {re.escape(receiver.url)}: stop"):
            receiver.start(port=0)
        assert receiver.server is first
    finally:
        receiver.stop()
    assert first.thread is None or not first.thread.is_alive()
    receiver.start(port=0)  # (stopped, it starts again)
    receiver.stop()


def test_a_servlet_configured_as_the_sdks_examples_configure_it(tmp_path):
    """The SDK's servlet has a protected field `Config`, which its example servlet sets in its
    constructor (`Config = new MM7Config(path)`): ported word for word, or with `set_config`, it works."""
    from .test_receiver import call_wsgi, deliver

    path = mm7config(tmp_path, AuthenticationMode="0")

    class AsInTheExample(cmcc.MM7ReceiveServlet):
        def __init__(self):
            self.Config = cmcc.MM7Config(path)

    configured = cmcc.MM7ReceiveServlet()
    configured.set_config(cmcc.MM7Config(path))
    out = mm7.encode(deliver(), transaction_id="mo-1", version="REL-6-MM7-1-0")
    for servlet in (AsInTheExample(), configured):
        answer = call_wsgi(servlet, out.to_bytes(), out.content_type)
        assert answer["status"] == 200 and mm7.decode(answer["body"]).body.status.code == 1000
    with pytest.raises(ValueError, match="set_config"):
        cmcc.MM7ReceiveServlet()({}, lambda *_: None)


def test_a_servlet_given_another_configuration_after_serving_uses_it(tmp_path):
    """The servlet's application was built at its first request and kept: a configuration set
    afterwards (a reloaded file asking for Basic authentication) was never used."""
    from .test_receiver import call_wsgi, deliver

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    servlet = cmcc.MM7ReceiveServlet(cmcc.MM7Config(mm7config(tmp_path / "a", AuthenticationMode="0")))
    out = mm7.encode(deliver(), transaction_id="mo-1", version="REL-6-MM7-1-0")
    assert call_wsgi(servlet, out.to_bytes(), out.content_type)["status"] == 200
    servlet.set_config(cmcc.MM7Config(mm7config(tmp_path / "b", AuthenticationMode="1")))
    assert call_wsgi(servlet, out.to_bytes(), out.content_type)["status"] == 401


def test_receive_servlet_and_reports(tmp_path):
    seen = []

    class Servlet(cmcc.MM7ReceiveServlet):
        def do_delivery_report(self, req):
            seen.append(req)
            return cmcc.MM7DeliveryReportRes()

        def do_read_reply(self, req):
            seen.append(req)
            return cmcc.MM7VASPErrorRes(status_code=4007)

    app = Servlet(cmcc.MM7Config(mm7config(tmp_path, AuthenticationMode="0")))
    from .test_receiver import call_wsgi, read_reply, report

    out = mm7.encode(report(mm_status=mm7.DeliveryStatus.REJECTED, relay_server_id="910010"), transaction_id="dr-1",
                     version="REL-6-MM7-1-0")
    rsp = call_wsgi(app, out.to_bytes(), out.content_type)
    assert rsp["status"] == 200 and mm7.decode(rsp["body"]).transaction_id == "dr-1"
    out = mm7.encode(read_reply(), transaction_id="rr-1", version="REL-6-MM7-1-0")
    rsp = call_wsgi(app, out.to_bytes(), out.content_type)
    assert rsp["status"] == 500 and mm7.decode(rsp["body"]).body.status.code == 4007
    dr, rr = seen
    # (MM7Receiver's own answers, as MyServlet's: the manual's 成功, not the core's "Success")
    out = mm7.encode(read_reply(), transaction_id="rr-2", version="REL-6-MM7-1-0")
    rsp = call_wsgi(cmcc.MM7ReceiveServlet(app.config), out.to_bytes(), out.content_type)
    assert rsp["status"] == 200 and mm7.decode(rsp["body"]).body.status.text == "成功"
    assert isinstance(dr, cmcc.MM7DeliveryReportReq) and dr.mm_status == cmcc.MMStatus.SYSTEM_REJECT
    assert dr.transaction_id == "dr-1" and dr.message_id == "m-1" and dr.mms_relay_server_id == "910010"  # (§4.4)
    assert isinstance(rr, cmcc.MM7ReadReplyReq) and rr.mm_status == cmcc.ReadStatusCode.READ


@pytest.mark.parametrize("status, number", [
    ("Deferred", cmcc.MMStatus.INDETERMINATE), ("Unrecognised", cmcc.MMStatus.INDETERMINATE),
    ("DeliveryConditionNotMet", cmcc.MMStatus.INDETERMINATE), ("Indeterminate", cmcc.MMStatus.INDETERMINATE),
    ("Retrieved", cmcc.MMStatus.RETRIEVED)])
def test_a_report_says_the_mmstatus_the_manuals_numbers_have_not(tmp_path, status, number):
    """REL-6-MM7-1-0, China Mobile's version, has MMStatus values §5.2 has no number for: they are 4,
    as in the SDK, and the word the MMSC wrote is there too (a Deferred message may still arrive)."""
    seen = []

    class Servlet(cmcc.MM7ReceiveServlet):
        def do_delivery_report(self, req):
            seen.append(req)

        def do_read_reply(self, req):
            seen.append(req)

    app = Servlet(cmcc.MM7Config(mm7config(tmp_path, AuthenticationMode="0")))
    from .test_receiver import call_wsgi, read_reply, report

    for msg in (report(mm_status=mm7.DeliveryStatus(status)), read_reply()):
        out = mm7.encode(msg, transaction_id="r-1", version="REL-6-MM7-1-0")
        assert call_wsgi(app, out.to_bytes(), out.content_type)["status"] == 200
    dr, rr = seen
    assert (dr.mm_status, dr.mm7_status, dr.mms_status_error_code) == (number, status, None)  # (no vendor element)
    assert (rr.mm_status, rr.mm7_status) == (cmcc.ReadStatusCode.READ, "Read")


def test_what_the_answer_of_a_callback_means(tmp_path):
    """do_deliver's answer goes to the MMSC: a status below 2000 in the DeliverRsp; 2000 or more
    (an MM7DeliverRes too) as 3GPP answers an error, a Fault with VASPErrorRsp; None is success; an
    exception a Server Fault (3000), which the MMSC sends again later. An answer without a
    status_text says the manual's (§5.1) for its code, not the core's English "Success": the SDK wrote
    none, which the schema does not allow; a code the manual does not list keeps its English text."""
    from .test_receiver import call_wsgi, deliver

    answers = {"ok": cmcc.MM7DeliverRes(service_code="111201", status_text="收到"),
               "partial": cmcc.MM7DeliverRes(status_code=cmcc.RequestStatus.PARTIAL_SUCCESS),
               "refused": cmcc.MM7DeliverRes(status_code=cmcc.RequestStatus.OPERATION_RESTRICTED, status_text="受限"),
               "content": cmcc.MM7DeliverRes(status_code=cmcc.RequestStatus.CONTENT_REFUSED),
               "denied": cmcc.MM7VASPErrorRes(status_code=4008),
               "default": cmcc.MM7DeliverRes(), "empty": cmcc.MM7DeliverRes(status_text=""),
               "none": None}

    class Servlet(cmcc.MM7ReceiveServlet):
        def do_deliver(self, req):
            if req.subject == "boom":
                raise RuntimeError("the SP's bug")
            return answers[req.subject]

    app = Servlet(cmcc.MM7Config(mm7config(tmp_path, AuthenticationMode="0")))
    seen = {}
    for subject in (*answers, "boom"):
        out = mm7.encode(deliver(subject=subject), transaction_id=f"t-{subject}", version="REL-6-MM7-1-0")
        answer = call_wsgi(app, out.to_bytes(), out.content_type)
        env = mm7.decode(answer["body"])
        assert env.transaction_id == f"t-{subject}"  # echoed, though no callback set it
        body = env.body
        seen[subject] = (answer["status"], type(body).__name__, body.status.code,
                         body.status.text if subject != "boom" else None)
    assert seen == {"ok": (200, "DeliverRsp", 1000, "收到"), "partial": (200, "DeliverRsp", 1001, "部分成功"),
                    "refused": (500, "Fault", 2001, "受限"), "content": (500, "Fault", 2004, "多媒体内容被拒绝"),
                    "denied": (500, "Fault", 4008, "Application denied"),
                    "default": (200, "DeliverRsp", 1000, "成功"), "empty": (200, "DeliverRsp", 1000, ""),
                    "none": (200, "DeliverRsp", 1000, "成功"), "boom": (500, "Fault", 3000, None)}


@pytest.mark.parametrize(("returned", "said"), [
    (1000, r"MyServlet.do_deliver returned 1000 \(int\); it must return an MM7VASPRes \(MM7DeliverRes, "),
    ({"status_code": 1000}, r"returned \{'status_code': 1000\} \(dict\); it must return an MM7VASPRes"),
    (cmcc.MM7SubmitRes(status_code=1000), r"returned MM7SubmitRes\(.*\) \(MM7SubmitRes\); it must return an MM7VASPRes"),
    (cmcc.MM7DeliverRes(status_code="1000"), r"returned MM7DeliverRes with status_code '1000' \(str\); it must be an int"),
])
def test_a_callback_returning_what_is_not_an_answer_is_told_what_it_returned_and_what_it_must(tmp_path, caplog,
                                                                                            returned, said):
    """Anything but an MM7VASPRes or None failed as an AttributeError deep in the bridge (or, an
    MMSC's MM7SubmitRes, went out as an answer): still a Server Fault (3000), the message kept for
    the MMSC's next copy, but the log now says what the callback returned and what it must."""
    failed = _failed_answer(tmp_path, caplog, lambda: returned)
    assert failed.exc_info[0] is TypeError and re.search(said, str(failed.exc_info[1])), failed.exc_info


@pytest.mark.parametrize("code", [5, 999, 5000, 99999, -1])
def test_a_callback_answering_a_code_outside_mm7s_range_is_told_so(tmp_path, caplog, code):
    """A status code no MMSC can read (a DeliverRsp saying 5, a Fault saying 5000) went out as it
    was; now it is said, as any answer that is none, and the MMSC gets a Server Fault (3000)."""
    failed = _failed_answer(tmp_path, caplog, lambda: cmcc.MM7DeliverRes(status_code=code))
    assert failed.exc_info[0] is ValueError and str(failed.exc_info[1]) == (
        f"MyServlet.do_deliver returned MM7DeliverRes with status_code {code}; an MM7 status code is 1000-4999 "
        "(RequestStatus: 1000 success, 2000 or more an error)")


def test_an_error_res_carrying_a_success_code_answers_as_a_success(tmp_path, caplog):
    """MM7VASPErrorRes(status_code=1000) went out as a Fault carrying 1000: an error answer saying
    success, which an MMSC reads as a refusal. The code decides, as for every answer (and as the SDK
    wrote it): a response with it, and a warning that the class said otherwise."""
    from .test_receiver import call_wsgi, deliver, report

    class MyServlet(cmcc.MM7ReceiveServlet):
        def do_deliver(self, req):
            return cmcc.MM7VASPErrorRes(status_code=cmcc.RequestStatus.SUCCESS, status_text="ok")

        def do_delivery_report(self, req):
            res = cmcc.MM7VASPErrorRes()
            res.status_code = 1001
            return res

    app = MyServlet(cmcc.MM7Config(mm7config(tmp_path, AuthenticationMode="0")))
    seen = []
    with caplog.at_level(logging.WARNING, logger="mm7bind"):
        for msg in (deliver(), report(), deliver()):
            out = mm7.encode(msg, transaction_id="t-1", version="REL-6-MM7-1-0")
            answer = call_wsgi(app, out.to_bytes(), out.content_type)
            body = mm7.decode(answer["body"]).body
            seen.append((answer["status"], type(body).__name__, body.status.code))
    assert seen == [(200, "DeliverRsp", 1000), (200, "DeliveryReportRsp", 1001), (200, "DeliverRsp", 1000)]
    assert [r.getMessage() for r in caplog.records if "success code" in r.getMessage()] == [
        "MyServlet.do_deliver returned MM7VASPErrorRes with the success code 1000: answered as a success"]


@pytest.mark.parametrize("code", [None, 0])
def test_an_error_res_without_a_code_answers_its_default_error(tmp_path, caplog, code):
    """MM7VASPErrorRes(status_code=None) (or Java's unset 0) answered success, with a warning about
    "the success code None": an error answer with no code is still an error, the class's 4000."""
    from .test_receiver import call_wsgi, deliver, read_reply

    class MyServlet(cmcc.MM7ReceiveServlet):
        def do_deliver(self, req):
            return cmcc.MM7VASPErrorRes(status_code=code, status_text="no")

        def do_read_reply(self, req):
            res = cmcc.MM7VASPErrorRes()
            res.status_code = code
            return res

    app = MyServlet(cmcc.MM7Config(mm7config(tmp_path, AuthenticationMode="0")))
    seen = []
    with caplog.at_level(logging.WARNING, logger="mm7bind"):
        for msg in (deliver(), read_reply()):
            out = mm7.encode(msg, transaction_id="t-1", version="REL-6-MM7-1-0")
            answer = call_wsgi(app, out.to_bytes(), out.content_type)
            body = mm7.decode(answer["body"]).body
            seen.append((answer["status"], type(body).__name__, body.status.code, body.status.text))
    assert seen == [(500, "Fault", 4000, "no"), (500, "Fault", 4000, "一般服务错误")]  # (the manual's text)
    assert not [r for r in caplog.records if "success code" in r.getMessage()]


@pytest.mark.parametrize("code", [cmcc.RequestStatus.SERVICE_UNAVAILABLE, cmcc.RequestStatus.SERVER_ERROR])
def test_a_callback_saying_try_later_is_called_again_with_the_next_copy(tmp_path, caplog, code):
    """An answer of 4006 (or a 3xxx server error) says "send it again later". As a Reject it left the
    message rejected in the store, and every copy the MMSC sent again got that answer without reaching
    the callback: lost. Failed instead, the next copy is handed to the callback again."""
    from .test_receiver import call_wsgi, deliver

    calls = []

    class MyServlet(cmcc.MM7ReceiveServlet):
        def do_deliver(self, req):
            calls.append(req.transaction_id)
            if len(calls) == 1:
                return cmcc.MM7VASPErrorRes(status_code=code, status_text="busy")
            return cmcc.MM7DeliverRes()

    store = mm7.MemoryStore()
    app = MyServlet(cmcc.MM7Config(mm7config(tmp_path, AuthenticationMode="0")), store=store)
    out = mm7.encode(deliver(), transaction_id="t-1", version="REL-6-MM7-1-0")
    seen = []
    with caplog.at_level(logging.ERROR, logger="mm7bind"):
        for _ in range(2):
            answer = call_wsgi(app, out.to_bytes(), out.content_type)
            seen.append((answer["status"], mm7.decode(answer["body"]).body.status.code))
    assert seen == [(500, 3000), (200, 1000)] and calls == ["t-1", "t-1"]
    assert any(f"MyServlet.do_deliver answered {code} busy" in r.getMessage() and not r.exc_info
               for r in caplog.records)


def test_a_deliver_res_returned_for_a_report_answers_it(tmp_path):
    """To the SDK every answer is an MM7VASPRes: an MM7DeliverRes with its ServiceCode, returned by
    do_delivery_report or do_read_reply (one answer class reused), answers the report with its status.
    It failed into a Server Fault (3000) instead, which the MMSC retried for ever."""
    from .test_receiver import call_wsgi, read_reply, report

    class Servlet(cmcc.MM7ReceiveServlet):
        def do_delivery_report(self, req):
            return cmcc.MM7DeliverRes(service_code="111201", status_text="收到")

        def do_read_reply(self, req):
            return cmcc.MM7DeliverRes(service_code="111201", status_code=cmcc.RequestStatus.PARTIAL_SUCCESS)

    app = Servlet(cmcc.MM7Config(mm7config(tmp_path, AuthenticationMode="0")))
    seen = []
    for msg in (report(), read_reply()):
        out = mm7.encode(msg, transaction_id="t-1", version="REL-6-MM7-1-0")
        answer = call_wsgi(app, out.to_bytes(), out.content_type)
        body = mm7.decode(answer["body"]).body
        seen.append((answer["status"], type(body).__name__, body.status.code))
    assert seen == [(200, "DeliveryReportRsp", 1000), (200, "ReadReplyRsp", 1001)]


def test_received_text_reads_as_a_string_whatever_its_charset_label(tmp_path):
    # A charset Python does not know raised LookupError in content_as_string (and bytes in no
    # charset a DecodeError): the handler failed, and the MMSC got "internal error" for every retry.
    texts = []

    class Servlet(cmcc.MM7ReceiveServlet):
        def do_deliver(self, req):
            texts.extend(sub.content_as_string for sub in req.content.sub_contents if sub.content_type == "text/plain")
            return cmcc.MM7DeliverRes()

    app = Servlet(cmcc.MM7Config(mm7config(tmp_path, AuthenticationMode="0")))
    from .test_receiver import call_wsgi, deliver

    parts = [mm7.Part.from_bytes("中文".encode("gbk"), "text/plain", charset="x-gbk-variant"),
             mm7.Part.from_bytes(b"ok \xff", "text/plain", charset="utf-8")]
    out = mm7.encode(deliver(content=mm7.Content(parts=parts)), transaction_id="mo-1", version="REL-6-MM7-1-0")
    rsp = call_wsgi(app, out.to_bytes(), out.content_type)
    assert rsp["status"] == 200 and texts == ["中文", "ok \ufffd"]


def test_received_text_forwarded_is_labelled_with_the_charset_of_its_bytes(tmp_path):
    """Manual §4.3: a Submit takes the MO's content as it is. A text part that came without a
    charset (GB2312 bytes), UTF-8 labelled GB2312 (the SDK's own slip) or with a label Python does
    not know goes on labelled with what its bytes are: never mislabelled, never refused."""
    from .test_receiver import call_wsgi, deliver

    originals = ["无标签", "标错了", "未知标签", "正常"]
    parts = [mm7.Part.from_bytes(originals[0].encode("gb2312"), "text/plain"),
             mm7.Part.from_bytes(originals[1].encode("utf-8"), "text/plain", charset="GB2312"),
             mm7.Part.from_bytes(originals[2].encode("gbk"), "text/plain", charset="x-gbk-variant"),
             mm7.Part.from_bytes(originals[3].encode("utf-8"), "text/plain", charset="utf-8"),
             mm7.Part.from_bytes(b"GIF89a" + bytes(10), "image/gif")]
    results = []
    with FakeServer() as srv:
        sender = cmcc.MM7Sender(cmcc_config(tmp_path, srv.url))  # Charset GB2312

        class Servlet(cmcc.MM7ReceiveServlet):
            def do_deliver(self, req):
                results.append(sender.send(submit_req(content=req.content)))
                return cmcc.MM7DeliverRes()

        out = mm7.encode(deliver(content=mm7.Content(parts=parts)), transaction_id="mo-1", version="REL-6-MM7-1-0")
        assert call_wsgi(Servlet(sender.config), out.to_bytes(), out.content_type)["status"] == 200
        [res] = results
        assert res.status_code == 1000, res
        env = srv.requests[0].decode()
    forwarded = env.body.content.parts
    assert [p.text_value for p in forwarded[:4]] == originals and forwarded[4].content_type == "image/gif"
    assert [p.charset.lower() for p in forwarded[:4]] == ["gb2312", "utf-8", "gb2312", "utf-8"]
    assert not [d for d in env.deviations if d.code.startswith("charset")], env.deviations


def test_the_sdk_dialect_sends_the_sdks_api_version():
    # A gateway checking MM7APIVersion against the SDK's sees the SDK's string from cmcc-sdk; the
    # cmcc dialect says what it is (mm7bind's version).
    for profile, expected in ((mm7.profiles.CMCC_SDK, "V1.5.3_20040621"), (mm7.profiles.CMCC, cmcc.API_VERSION)):
        with FakeServer() as srv, mm7.Client(srv.url, profile=profile) as client:
            client.submit(mm7.SubmitReq(recipients=["13915002000"]))
            [req] = srv.requests
            assert req.header("MM7APIVersion") == expected
    assert mm7.cmcc.constants.SDK_API_VERSION == "V1.5.3_20040621"


def test_version_command_and_config_driven_send(tmp_path):
    proc = run("version")
    assert proc.returncode == 0 and cmcc.API_VERSION in proc.stdout and "当前使用的MM7 API的版本为" in proc.stdout
    with FakeServer() as srv:
        path = mm7config(tmp_path, mmscIP=[srv.url.split("//")[1].split("/")[0]], mmscURL="/mm7",
                         AuthenticationMode="0")
        proc = run("send", "--config", path, "--to", "13915002000", "--subject", "配置", "--text", "正文")
        assert proc.returncode == 0, proc.stderr
        [req] = srv.requests
        assert req.header("MM7APIVersion") == cmcc.API_VERSION
        assert req.decode().body.subject == "配置" and b'encoding="GB2312"' in req.body
    assert json.loads(json.dumps({"ok": True}))


def test_a_commands_warnings_on_mm7config_are_said_by_its_elements(tmp_path):
    """`send --config mm7Config.xml` checks the settings again after its options: what it found
    was said as mm7bind settings and an MM7BIND_ variable, where `config check` of the same file
    names its elements; a warning about an option's value stays in the settings' words."""
    host = dead_url().split("//")[1].split("/")[0]
    path = mm7config(tmp_path, mmscIP=[host], mmscURL="/mm7", AuthenticationMode="1", Password="")
    proc = run("send", "--config", path, "--vaspid", "800001", "--to", "13915002000", "--text", "x")
    assert "warning: mm7Config.xml:Password: a UserName is set without a Password" in proc.stderr, proc.stderr
    assert f"warning: mm7Config.xml:mmscIP: Basic credentials over plain http can be read on the way: http://{host}/mm7" \
        in proc.stderr
    assert "mmsc.password" not in proc.stderr and "MM7BIND_" not in proc.stderr
    proc = run("send", "--config", path, "--mmsc", f"http://{host}/other", "--vaspid", "800001", "--to", "13915002000",
               "--text", "x")
    assert f"warning: mmsc.urls: Basic credentials over plain http can be read on the way: http://{host}/other" \
        in proc.stderr, proc.stderr


def test_serve_on_a_port_taken_names_the_files_listenport(tmp_path):
    import socket

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        path = mm7config(tmp_path, ListenPort=str(port), AuthenticationMode="0")
        proc = run("serve", "--config", path, cwd=str(tmp_path))
    finally:
        taken.close()
    assert proc.returncode == 3 and f"cannot listen on 127.0.0.1:{port}" in proc.stderr, proc.stderr
    assert "give another --port (or mm7Config.xml's ListenPort); 0 picks a free one)" in proc.stderr, proc.stderr


def test_content_goes_as_the_sp_built_it(tmp_path):
    """The SDK never generated SMIL; the content goes as the multipart the root names (the SP's
    SMIL, if any, as the start of a multipart/related)."""
    def manual_content(root_type, with_smil=False):
        root = cmcc.MMContent()
        root.content_type = root_type
        gif = cmcc.MMContent.create_from_bytes(b"GIF89a" + bytes(10))
        gif.content_type, gif.content_id = cmcc.ContentType.GIF, "1.gif"
        text = cmcc.MMContent.create_from_string("This is a Test2!")
        text.content_type, text.content_id = cmcc.ContentType.TEXT, "2.txt"
        for sub in [gif, text]:
            root.add_sub_content(sub)
        if with_smil:
            smil = cmcc.MMContent.create_from_string('<smil><body><par><img src="cid:1.gif"/></par></body></smil>')
            smil.content_type, smil.content_id = cmcc.ContentType.SMIL, "start.smil"
            root.add_sub_content(smil)
        return root

    with FakeServer() as srv:
        sender = cmcc.MM7Sender(cmcc_config(tmp_path, srv.url))
        for root_type in (cmcc.ContentType.MULTIPART_MIXED, "multipart/related;start=<START>"):
            assert sender.send(submit_req(content=manual_content(root_type))).status_code == 1000
        assert sender.send(submit_req(content=manual_content(cmcc.ContentType.MULTIPART_RELATED, True))).status_code == 1000
        mixed, related_without_smil, related = [r.decode().body.content for r in srv.requests]
    for content, mtype in ((mixed, "mixed"), (related_without_smil, "related")):
        assert content.smil is None and content.multipart_type == mtype
        assert [p.content_id for p in content.parts] == ["1.gif", "2.txt"]
    assert b'start="<1.gif>"' in srv.requests[1].body  # RFC 2387: without a SMIL the first part is the root
    assert b"application/smil" not in srv.requests[0].body and b"presentation.smil" not in srv.requests[1].body
    assert related.multipart_type == "related" and related.smil.content_id == "start.smil"
    assert [p.content_id for p in related.parts] == ["1.gif", "2.txt"]
    # The dialect itself adds no SMIL either (the SDK's habit for content built any way).
    c = mm7.Content(parts=[mm7.Part.text("hi", content_id="1.txt")])
    for profile in (CMCC, CMCC_SDK):
        data = mm7.encode(mm7.SubmitReq(recipients=["13915002000"], content=c), transaction_id="t", profile=profile)
        assert b"application/smil" not in data.to_bytes() and b"multipart/mixed" in data.to_bytes()


def test_send_returns_errors_as_the_sdk_did(tmp_path):
    """The manual's flow: `res = sender.send(req)`, then instanceof MM7SubmitRes / MM7RSErrorRes — nothing raised."""
    gone = tmp_path / "1.gif"
    gone.write_bytes(b"GIF89a" + bytes(10))
    content = cmcc.MMContent()
    content.content_type = cmcc.ContentType.MULTIPART_MIXED
    content.add_sub_content(cmcc.MMContent.create_from_file(gone))
    gone.unlink()  # read when sent: an unexpected failure is the SDK's -100
    sender = cmcc.MM7Sender()  # the SDK's no-argument constructor, then setConfig
    assert isinstance(sender.send(submit_req()), cmcc.MM7RSErrorRes)
    with FakeServer(lambda req: Reply(500, b"")) as srv:
        sender.set_config(cmcc_config(tmp_path, srv.url, ReSendCount="0"))
        results = [sender.send(None), sender.send(cmcc.MM7DeliverRes()), sender.send(submit_req()),
                   sender.send(submit_req(content=content))]
    assert all(type(r) is cmcc.MM7RSErrorRes for r in results)
    assert [r.status_code for r in results] == [-105, -106, -107, -100]
    assert results[0].status_text == "待发送的消息为空" and "FileNotFoundError" in results[3].status_detail
    # status_text_zh: the manual's Chinese text for the API's own codes (§7) as for the MMSC's (§5.1)
    assert [r.status_text_zh for r in results] == ["待发送的消息为空", "发送消息不正确", "接收消息为空", "系统错误"]
    assert cmcc.MM7RSErrorRes(status_code=-112).status_text_zh is None  # (a code the manual has not)
    with pytest.raises(ValueError):
        cmcc.MM7Sender(errors="ignore")


def test_a_res_says_when_the_mmsc_may_have_the_message_twice_or_once(tmp_path):
    """The SDK re-sent a request whose answer did not come in time and never said so: a success
    after such an attempt says `earlier_unanswered` (the MMSC may have it twice), as the core's
    Result does; an API error after the request went out says `may_have_arrived` (sending it again
    may deliver it twice), one before it did not; an MMSC's answer says the Retry-After it asked for."""
    calls, gave_up = [], threading.Event()

    def first_unanswered(req):
        calls.append(req)
        return Reply(hold=gave_up) if len(calls) == 1 else default_responder(req)

    with FakeServer(first_unanswered) as srv:
        sender = cmcc.MM7Sender(cmcc_config(tmp_path, srv.url, ReSendCount="1", TimeOut="30000"))
        times_out_once(sender.client, gave_up)  # (the first attempt alone waits 0.3 s for its answer)
        res = sender.send(submit_req())
    assert isinstance(res, cmcc.MM7SubmitRes) and res.status_code == 1000 and len(calls) == 2
    assert res.earlier_unanswered is True
    with FakeServer() as srv:
        res = cmcc.MM7Sender(cmcc_config(tmp_path, srv.url)).send(submit_req())
    assert isinstance(res, cmcc.MM7SubmitRes) and res.earlier_unanswered is False and res.deviations == []

    never = threading.Event()  # (no answer until every attempt has timed out)
    with FakeServer(lambda req: Reply(hold=never)) as srv:
        config = cmcc_config(tmp_path, srv.url, ReSendCount="1", TimeOut="300")
        try:
            res = cmcc.MM7Sender(config).send(submit_req())
            with pytest.raises(cst.ReadTimeout) as raised:
                cmcc.MM7Sender(config, errors="raise").send(submit_req())
        finally:
            never.set()
    assert res.status_code == -102 and res.may_have_arrived is True
    assert res.error.may_have_arrived is True and raised.value.may_have_arrived is True
    res = cmcc.MM7Sender(cmcc_config(tmp_path, dead_url(), ReSendCount="0")).send(submit_req())
    assert res.status_code == -104 and res.may_have_arrived is False  # (no connection: nothing went out)
    res = cmcc.MM7Sender(cmcc_config(tmp_path, dead_url())).send(cmcc.MM7SubmitReq(vaspid="801234"))
    assert res.status_code == -106 and res.may_have_arrived is False

    answered = []

    def busy(req):  # 4006, "try again in 30 s", in a Fault, then in a SubmitRsp
        answered.append(req)
        status = mm7.Status(4006)
        fault = len(answered) == 1
        body = mm7.Fault(code="Server", detail=mm7.RSErrorRsp(status=status)) if fault \
            else mm7.SubmitRsp(status=status, message_id="busy-1")
        reply = mm7_reply(body, req.decode(), 500 if fault else 200)
        reply.headers["Retry-After"] = "30"
        return reply

    with FakeServer(busy) as srv:
        sender = cmcc.MM7Sender(cmcc_config(tmp_path, srv.url, ReSendCount="0"))
        answers = [sender.send(submit_req()), sender.send(submit_req())]
    assert [(type(r), r.status_code, r.retry_after) for r in answers] == [
        (cmcc.MM7RSErrorRes, 4006, 30.0), (cmcc.MM7SubmitRes, 4006, 30.0)]


def test_another_requests_transaction_id_is_refused_as_no_answer_to_it_unless_accepted(tmp_path):
    """The SDK took any answer whatever its TransactionID; mm7bind refuses another request's answer
    (its MessageID is not this message's). A well-formed answer: -111, the answer that is not the
    response to this request, never -109 (XML that does not parse). An MMSC that writes a
    TransactionID of its own is taken with `accept_transaction_id_mismatch=True`, the deviation noted;
    the answer's `transaction_id` is then the MMSC's, as the SDK returned it, the request's kept as
    `request_transaction_id` (it was ours, which the SDK never gave back)."""

    def own_transaction_id(req):
        return mm7_reply(mm7.SubmitRsp(message_id="MMSC-1"), req.decode(), transaction_id="MMSC-OWN-1")

    with FakeServer(own_transaction_id) as srv:
        config = cmcc_config(tmp_path, srv.url, ReSendCount="0")
        res = cmcc.MM7Sender(config).send(submit_req())
        assert type(res) is cmcc.MM7RSErrorRes and res.status_code == -111, res
        assert isinstance(res.error, cst.ServerError) and "accept_transaction_id_mismatch" in res.status_detail
        assert res.may_have_arrived is True
        res = cmcc.MM7Sender(config, accept_transaction_id_mismatch=True).send(submit_req(transaction_id="T-1"))
    assert isinstance(res, cmcc.MM7SubmitRes) and res.status_code == 1000 and res.message_id == "MMSC-1"
    assert [d.code for d in res.deviations] == ["transaction-id-mismatch"]
    assert (res.transaction_id, res.request_transaction_id) == ("MMSC-OWN-1", "T-1")
    with FakeServer() as srv:  # (an MMSC echoing it: both the same)
        res = cmcc.MM7Sender(cmcc_config(tmp_path, srv.url), accept_transaction_id_mismatch=True).send(
            submit_req(transaction_id="T-2"))
    assert (res.transaction_id, res.request_transaction_id, res.deviations) == ("T-2", "T-2", [])


def test_sdk_log_files_from_the_api(tmp_path):
    """LogPath/MmscID/logLevel are written by the senders and receivers themselves, as in the SDK."""
    from mm7bind.cmcc.logs import stop_logging

    logger = logging.getLogger("mm7bind")
    before_handlers, before_level = list(logger.handlers), logger.level
    folder = tmp_path / "vas_log" / "mm7"  # not there yet: the SDK created its files, so no error
    try:
        with FakeServer() as srv:
            path = mm7config(tmp_path, mmscIP=[srv.url.split("//")[1].split("/")[0]], mmscURL="/mm7",
                             AuthenticationMode="0", LogPath=str(folder), logLevel="3")
            _, problems = read_cmcc(path)
            assert not folder.exists() and [p.level for p in problems if "LogPath" in p.where] == ["warning"]
            assert not [p for p in problems if p.level == "error"]
            config = cmcc.MM7Config(path)
            senders = [cmcc.MM7Sender(config), cmcc.MM7Sender(cmcc.MM7Config(path))]
            assert len(logger.handlers) == len(before_handlers) + 1  # one file, however many senders
            assert senders[1].send(submit_req(transaction_id="log-1")).status_code == 1000
        log = (folder / "910010.log").read_text(encoding="utf-8")
        assert "tid=log-1" in log and " INFO " in log
        stop_logging()
        assert logger.handlers == before_handlers
        # logLevel 0 is no log at all: no file from the API, and the null device for the command line.
        quiet = mm7config(tmp_path, logLevel="0")
        cmcc.MM7Sender(cmcc.MM7Config(quiet))
        assert logger.handlers == before_handlers
        cfg, _ = read_cmcc(quiet)
        assert cfg.logging.file == os.devnull and cfg.logging.rotate == "none"
        # The shipped E:\vas_log on a system without drive letters: a warning, no folder made.
        cfg, problems = read_cmcc(mm7config(tmp_path, LogPath="E:\\vas_log"))
        if os.name != "nt":
            assert cfg.logging.file == "" and any("Windows path" in p.message for p in problems)
    finally:
        stop_logging()
        logger.setLevel(before_level)


@pytest.mark.parametrize("user", ["sender", "receiver"])
def test_the_files_warnings_reach_their_own_log_file(tmp_path, user):
    """mm7Config.xml's warnings were logged when it was read, before the sender or receiver opened
    its log file: the file the operator reads never had them. Written there once it opens; and
    those of a configuration read once its file is open go there at once."""
    from mm7bind.cmcc.logs import stop_logging

    logger = logging.getLogger("mm7bind")
    before_level = logger.level
    try:
        config = cmcc.MM7Config(mm7config(tmp_path, AuthenticationMode="0", UseSSL="yes"))
        config.config  # (read first, as a program checking its configuration, or a getter, reads it)
        if user == "sender":
            cmcc.MM7Sender(config)
        else:
            cmcc.MM7Receiver(config).start(port=0).stop()
        other = tmp_path / "other"
        other.mkdir()
        later = cmcc.MM7Config(mm7config(other, AuthenticationMode="0", LogPath=str(tmp_path / "logs"),
                                         MmscID="910010", mmscURL="/mm7", UseSSL="on"))
        later.config
        stop_logging()
        log = (tmp_path / "logs" / "910010.log").read_text(encoding="utf-8")
        assert log.count("mm7Config.xml:UseSSL: 'yes' is not true or false") == 1, log
        assert log.count("mm7Config.xml:mmscURL: spaces around '/mm7' removed") == 1, log
        assert log.count("mm7Config.xml:UseSSL: 'on' is not true or false") == 1, log
        assert " WARNING " in log
    finally:
        stop_logging()
        logger.setLevel(before_level)


def test_each_mmscs_log_file_has_its_own_records(tmp_path):
    """A program with a configuration per MMSC has a log file per MmscID, as with the SDK, whose
    senders and receivers each wrote their own. Every file got every configuration's records."""
    from .test_receiver import call_wsgi, deliver

    with FakeServer() as srv:
        address = srv.url.split("//")[1].split("/")[0]
        configs = {}
        for mmsc in ("910010", "910020"):
            (tmp_path / mmsc).mkdir()
            configs[mmsc] = cmcc.MM7Config(mm7config(tmp_path / mmsc, mmscIP=[address], mmscURL="/mm7", MmscID=mmsc,
                                                     AuthenticationMode="0", LogPath=str(tmp_path / "logs")))
        for mmsc, config in configs.items():
            assert cmcc.MM7Sender(config).send(submit_req(transaction_id=f"mt-{mmsc}")).status_code == 1000
            out = mm7.encode(deliver(), transaction_id=f"mo-{mmsc}", version="REL-6-MM7-1-0")
            assert call_wsgi(cmcc.MM7ReceiveServlet(config), out.to_bytes(), out.content_type)["status"] == 200
    for mmsc, other in (("910010", "910020"), ("910020", "910010")):
        log = (tmp_path / "logs" / f"{mmsc}.log").read_text(encoding="utf-8")
        assert f"tid=mt-{mmsc}" in log and f"tid=mo-{mmsc}" in log
        assert f"mt-{other}" not in log and f"mo-{other}" not in log


@pytest.mark.parametrize("log_num", [1, 3])
def test_log_num_is_the_number_of_log_files_kept(tmp_path, log_num):
    """LogNum is "the maximum number of log files" (manual §3.2), the one being written included:
    the SDK deleted the oldest before it started a new one."""
    from mm7bind.cmcc.logs import start_logging, stop_logging

    config = cmcc.MM7Config(mm7config(tmp_path, LogSize="1", LogNum=str(log_num), logLevel="1"))
    try:
        assert start_logging(config.config) is not None
        for n in range(40):  # ~12 KB at 1 KB a file: many new files
            logging.getLogger("mm7bind.client").warning("SubmitReq tid=t-%02d failed: %s", n, "x" * 250)
    finally:
        stop_logging()
    files = sorted(p.name for p in (tmp_path / "logs").iterdir() if "910010" in p.name)
    assert len(files) == log_num and "910010.log" in files, files
    assert "t-39" in (tmp_path / "logs" / "910010.log").read_text(encoding="utf-8")


def test_log_file_names_carry_the_minute_their_period_began(tmp_path):
    """The SDK names a log file <MmscID>_<yyyyMMddHHmm>.<NNNN>.log: the minute its LogInterval period
    began, and a counter for the files LogSize cut that period into."""
    from mm7bind.config import SizeAndTimeRotatingHandler

    def minute(*when):
        return datetime(*when).timestamp()  # (local time, as the names are)

    log_file = tmp_path / "910010.log"
    log_file.write_text("from a run in 2020\n", encoding="utf-8")
    os.utime(log_file, (minute(2020, 1, 2, 3, 4), minute(2020, 1, 2, 3, 4)))
    handler = SizeAndTimeRotatingHandler(str(log_file), max_bytes=1000, when="M", interval=60)
    handler.setFormatter(logging.Formatter("%(message)s"))

    def write(n):
        for i in range(n):
            handler.emit(logging.makeLogRecord({"msg": f"line {i} " + "x" * 90}))

    try:
        write(1)  # the file's period ended long ago: it goes, named by its own minute
        assert (tmp_path / "910010_202001020304.0001.log").read_text(encoding="utf-8") == "from a run in 2020\n"
        handler.period_began = minute(2021, 5, 6, 7, 8)  # (the period now running, as if it began then)
        write(25)  # ~2.5 KB at 1000 bytes a file: two files cut by size within that period
    finally:
        handler.close()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["910010.log", "910010_202001020304.0001.log", "910010_202105060708.0001.log",
                     "910010_202105060708.0002.log"], names


def test_the_error_log_has_the_failed_sends(tmp_path):
    """logLevel 1 (the manual's "error log", and its samples' value) logs what failed, and only that."""
    from mm7bind.cmcc.logs import stop_logging

    try:
        with FakeServer() as srv:
            assert cmcc.MM7Sender(cmcc_config(tmp_path, srv.url, logLevel="1")).send(
                submit_req(transaction_id="went-1")).status_code == 1000
        gone = cmcc.MM7Sender(cmcc_config(tmp_path, dead_url(), logLevel="1", ReSendCount="0"))
        assert gone.send(submit_req(transaction_id="lost-1")).status_code == -104
        # An API error names the TransactionID the request went with, given or made up, as the log does.
        lost = gone.send(submit_req())
        assert lost.status_code == -104 and lost.transaction_id
        stop_logging()
        log = (tmp_path / "logs" / "910010.log").read_text(encoding="utf-8")
        assert "lost-1" in log and "cannot connect" in log and "went-1" not in log, log
        assert f"tid={lost.transaction_id} " in log
    finally:
        stop_logging()


def test_the_full_log_shows_chinese_as_written(tmp_path):
    """logLevel 6 logs whole messages; GB2312 ones (the configured Charset, here and in the answer)
    read as Chinese there, not as replacement characters."""
    from mm7bind.cmcc.logs import stop_logging

    def gb2312_answer(req):
        env = req.decode()
        out = mm7.encode(mm7.SubmitRsp(status=mm7.Status(1000, "成功"), message_id="m-1"),
                         transaction_id=env.transaction_id, version=env.version, profile=CMCC)
        return Reply(200, out.to_bytes(), {"Content-Type": out.content_type})

    text = cmcc.MMContent.create_from_string("正文")
    text.content_id = "1.txt"
    try:
        with FakeServer(gb2312_answer) as srv:
            for logged, content in (("plain", None), ("multipart", text)):
                (tmp_path / logged).mkdir()
                config = cmcc_config(tmp_path / logged, srv.url, logLevel="6")
                assert cmcc.MM7Sender(config).send(submit_req(content=content)).status_code == 1000
                stop_logging()
                log = (tmp_path / logged / "logs" / "910010.log").read_text(encoding="utf-8")
                assert "<Subject>测试</Subject>" in log and "<StatusText>成功</StatusText>" in log, log
                assert "\ufffd" not in log
    finally:
        stop_logging()


def test_the_full_log_of_the_receiver_shows_what_came_and_what_went(tmp_path):
    """logLevel 6 on the receiving side: the MMSC's request and the answer, in their own charset,
    with the MMSC's credentials masked (the SDK logged the raw HTTP messages at that level)."""
    from mm7bind.cmcc.logs import stop_logging

    receiver = cmcc.MM7Receiver(cmcc.MM7Config(mm7config(tmp_path, ListenPort="0", AuthenticationMode="1",
                                                         logLevel="6")))
    receiver.do_deliver = lambda req: cmcc.MM7DeliverRes(status_text="已收到")
    content = mm7.Content()
    content.add_text("订阅天气", charset="gb2312")
    out = mm7.encode(mm7.DeliverReq(sender="13915002000", recipients=mm7.Recipients(to=["8888"]), subject="天气",
                                    content=content), transaction_id="mo-1", profile=CMCC)
    try:
        receiver.start()
        answer = requests.post(f"{receiver.server.url}/mm7", data=out.to_bytes(), auth=("zxme", "zxme"),
                               headers={"Content-Type": out.content_type}, timeout=10)
        assert answer.status_code == 200
    finally:
        receiver.stop()
        stop_logging()
    log = (tmp_path / "logs" / "910010.log").read_text(encoding="utf-8")
    assert "<Subject>天气</Subject>" in log and "订阅天气" in log and "<StatusText>已收到</StatusText>" in log, log
    assert "Authorization: Basic ***" in log and "enhtZTp6eG1l" not in log and "\ufffd" not in log


def test_text_parts_take_the_configured_charset(tmp_path):
    """Charset is the default of text parts; a charset= in the SP's content type is kept; the SDK's charset names work."""
    with FakeServer() as srv:
        sender = cmcc.MM7Sender(cmcc_config(tmp_path, srv.url))  # Charset GB2312
        root = cmcc.MMContent()
        root.content_type = cmcc.ContentType.MULTIPART_MIXED
        texts = {"1.txt": cmcc.MMContent.create_from_string("中文内容"),
                 "2.txt": cmcc.MMContent("中文".encode("gb2312")),
                 "3.txt": cmcc.MMContent.create_from_string("中文"),
                 "4.txt": cmcc.MMContent("中文".encode("gbk")),
                 "5.txt": cmcc.MMContent.create_from_string("镕")}  # not in GB2312: UTF-8, labelled so
        texts["2.txt"].content_type = texts["5.txt"].content_type = cmcc.ContentType.TEXT
        texts["3.txt"].content_type = "text/plain;charset=UTF-8"
        texts["4.txt"].content_type = 'text/plain; charset="GBK"'
        for cid, sub in texts.items():
            sub.content_id = cid
            root.add_sub_content(sub)
        assert texts["1.txt"].content_as_string == "中文内容" and texts["2.txt"].text_charset() is None
        assert sender.send(submit_req(content=root)).status_code == 1000
        parts = srv.requests[0].decode().body.content.parts
        assert [p.charset.lower() for p in parts] == ["gb2312", "gb2312", "utf-8", "gbk", "utf-8"]
        assert [p.text_value for p in parts] == ["中文内容", "中文", "中文", "中文", "镕"]
        assert "中文内容".encode("gb2312") in srv.requests[0].body
        labelled = cmcc.MMContent.create_from_string("镕")
        labelled.content_type = "text/plain;charset=GB2312"  # the SP said GB2312: refused, never mislabelled
        res = sender.send(submit_req(content=labelled))
        assert res.status_code == -106 and "GB2312" in res.status_detail
    for charset, label in (("US-ASCII", b'encoding="US-ASCII"'), ("ISO-8859-1", b'encoding="ISO-8859-1"'),
                           ("ISO-10646-UCS-2", '<?xml version="1.0" encoding="UTF-16BE"?>'.encode("utf-16-be"))):
        with FakeServer() as srv:
            config = cmcc_config(tmp_path, srv.url, Charset=charset)
            _, problems = read_cmcc(config.path)
            assert not [p for p in problems if p.level == "error"], problems
            res = cmcc.MM7Sender(config).send(submit_req())
            assert res.status_code == 1000, res
            [req] = srv.requests
            assert label in req.body and req.decode().body.subject == "测试"
    assert any("UTF-16BE" in p.message for p in problems if p.where.endswith("Charset"))


@pytest.mark.parametrize(("charset", "label"), [("ISO8859_1", "ISO-8859-1"), ("Cp936", "GBK"), ("EUC_CN", "GB2312"),
                                                ("ASCII", "US-ASCII"), ("gb2312", "GB2312")])
def test_a_java_charset_name_labels_text_parts_with_its_standard_name(tmp_path, charset, label):
    """The SDK ran on Java, so Charset may be one of Java's names for a charset. The XML declared
    its standard name, but text parts in it were labelled with Java's (charset="ISO8859_1",
    "Cp936"), which handsets do not know."""
    with FakeServer() as srv:
        config = cmcc_config(tmp_path, srv.url, Charset=charset)
        assert config.charset == label
        assert cmcc.MM7Sender(config).send(submit_req(content=cmcc.MMContent.create_from_string("abc"))).status_code == 1000
        [req] = srv.requests
        assert f'encoding="{label}"'.encode() in req.body
        assert f'text/plain; charset="{label}"'.encode() in req.body


def test_a_utf8_text_file_is_labelled_utf8_not_with_the_configured_charset(tmp_path):
    (tmp_path / "utf8.txt").write_bytes("\ufeff新年快乐".encode())  # (as Windows editors save it)
    (tmp_path / "gbk.txt").write_bytes("新年快乐".encode("gbk"))
    (tmp_path / "plain.txt").write_bytes(b"Happy new year")
    root = cmcc.MMContent()
    root.content_type = cmcc.ContentType.MULTIPART_MIXED
    for name in ("utf8.txt", "gbk.txt", "plain.txt"):
        root.add_sub_content(cmcc.MMContent.create_from_file(tmp_path / name))
    utf8_bytes = cmcc.MMContent("新年".encode())
    utf8_bytes.content_type = cmcc.ContentType.TEXT
    root.add_sub_content(utf8_bytes)
    parts = root.to_content("GB2312").parts
    assert [p.charset.lower() for p in parts] == ["utf-8", "gb2312", "gb2312", "utf-8"]
    assert [p.data.decode(p.charset) for p in parts] == ["新年快乐", "新年快乐", "Happy new year", "新年"]
    # A configuration in UTF-8 does not make a GBK file UTF-8: its bytes are Chinese in GB2312.
    parts = root.to_content("UTF-8").parts
    assert [p.charset.lower() for p in parts] == ["utf-8", "gb2312", "utf-8", "utf-8"]


def test_nested_content_is_flattened_never_sent_empty(tmp_path):
    def leaf(maker, ctype, cid):
        sub = maker()
        sub.content_type, sub.content_id = ctype, cid
        return sub

    slide = cmcc.MMContent()
    slide.content_type = cmcc.ContentType.MULTIPART_RELATED
    for sub in (leaf(lambda: cmcc.MMContent.create_from_string('<smil><body/></smil>'), cmcc.ContentType.SMIL, "s.smil"),
                leaf(lambda: cmcc.MMContent.create_from_bytes(b"GIF89a" + bytes(10)), cmcc.ContentType.GIF, "1.gif"),
                leaf(lambda: cmcc.MMContent.create_from_string("图片说明"), cmcc.ContentType.TEXT, "1.txt")):
        slide.add_sub_content(sub)
    root = cmcc.MMContent()
    root.content_type, root.content_id = cmcc.ContentType.MULTIPART_MIXED, "<SaturnPics-01020930>"
    root.add_sub_content(slide)
    root.add_sub_content(leaf(lambda: cmcc.MMContent.create_from_string("附言"), cmcc.ContentType.TEXT, "2.txt"))
    empty = cmcc.MMContent()
    empty.content_type = cmcc.ContentType.MULTIPART_RELATED
    with FakeServer() as srv:
        sender = cmcc.MM7Sender(cmcc_config(tmp_path, srv.url))
        assert sender.send(submit_req(content=root)).status_code == 1000
        bad = cmcc.MMContent()
        bad.content_type = cmcc.ContentType.MULTIPART_MIXED
        bad.add_sub_content(empty)
        res = sender.send(submit_req(content=bad))
        assert res.status_code == -106 and "no sub-contents" in res.status_detail
        [req] = srv.requests
    content = req.decode().body.content
    assert content.smil.content_id == "s.smil" and content.content_id == "SaturnPics-01020930"
    assert [(p.content_id, p.size > 0) for p in content.parts] == [("1.gif", True), ("1.txt", True), ("2.txt", True)]
    assert [p.text_value for p in content.parts[1:]] == ["图片说明", "附言"]


@pytest.mark.parametrize("root_type, sent", [(cmcc.ContentType.WAP_MULTIPART_MIXED, "multipart/mixed"),
                                              (cmcc.ContentType.WAP_MULTIPART_RELATED, "multipart/related")])
def test_a_wap_multipart_root_goes_as_the_multipart_it_names(tmp_path, root_type, sent):
    """MMConstants' WAP_MULTIPART_MIXED and WAP_MULTIPART_RELATED are MM1's names of multipart/mixed
    and related: a root of either goes as that multipart, SMIL or none, as MULTIPART_MIXED and
    MULTIPART_RELATED do (the WAP names were taken for no type at all: a mixed one with a SMIL went
    as related, a related one without as mixed)."""
    root = cmcc.MMContent()
    root.content_type = root_type
    smil = cmcc.MMContent.create_from_string("<smil><body/></smil>")
    smil.content_type, smil.content_id = cmcc.ContentType.SMIL, "s.smil"
    text = cmcc.MMContent.create_from_string("附言")
    text.content_type, text.content_id = cmcc.ContentType.TEXT, "1.txt"
    with FakeServer() as srv:
        sender = cmcc.MM7Sender(cmcc_config(tmp_path, srv.url))
        plain = cmcc.MMContent()
        plain.content_type = root_type
        plain.add_sub_content(text)
        root.add_sub_content(smil)
        root.add_sub_content(text)
        assert sender.send(submit_req(content=root)).status_code == 1000
        assert sender.send(submit_req(content=plain)).status_code == 1000
        sent_types = [req.decode().body.content.multipart_type for req in srv.requests]
    assert ["multipart/" + t for t in sent_types] == [sent, sent]


def test_a_received_content_says_the_multipart_it_came_as_and_is_forwarded_as_that(tmp_path):
    """deliver_req.content's type is the multipart the MO came as, not one guessed from whether it
    has a SMIL: a multipart/related without one stays related, a multipart/mixed with one stays
    mixed, and a Submit forwarding it (manual §4.3) sends it so."""
    from mm7bind.content import BytesBlob

    from .test_receiver import call_wsgi

    got = []

    class Servlet(cmcc.MM7ReceiveServlet):
        def do_deliver(self, req):
            got.append(req.content)

    app = Servlet(cmcc.MM7Config(mm7config(tmp_path, AuthenticationMode="0")))
    for mtype, with_smil in (("related", False), ("mixed", True)):
        smil = mm7.Part(BytesBlob(b"<smil><body/></smil>"), "application/smil", content_id="s.smil")
        content = mm7.Content(parts=[mm7.Part.text("你好", content_id="1.txt")], smil=smil if with_smil else None,
                              multipart_type=mtype)
        out = mm7.encode(mm7.DeliverReq(sender="13900000000", recipients=["8888"], content=content),
                         transaction_id=f"d-{mtype}", version="REL-6-MM7-1-0", profile=CMCC)
        assert call_wsgi(app, out.to_bytes(), out.content_type)["status"] == 200
    assert [str(c.content_type) for c in got] == ["multipart/related", "multipart/mixed"]
    with FakeServer() as srv:
        sender = cmcc.MM7Sender(cmcc_config(tmp_path, srv.url))
        for content in got:
            assert sender.send(submit_req(content=content)).status_code == 1000
        assert [req.decode().body.content.multipart_type for req in srv.requests] == ["related", "mixed"]


def test_text_given_where_mmcontent_takes_bytes_is_refused_at_once():
    """create_from_stream of a file opened without "b" (the SDK's InputStream gave bytes), or text
    given to create_from_bytes, is refused when made, pointing to create_from_string, not found
    only when sent, as a bare "string argument without an encoding"."""
    for make in (lambda: cmcc.MMContent.create_from_stream(io.StringIO("你好")),
                 lambda: cmcc.MMContent.create_from_bytes("你好"), lambda: cmcc.MMContent("你好")):
        with pytest.raises(TypeError, match=r"create_from_string\(text\)"):
            make()
    assert cmcc.MMContent.create_from_stream(io.BytesIO(b"GIF89a"), 3).content == b"GIF"
    assert cmcc.MMContent.create_from_bytes(bytearray(b"GIF")).content == b"GIF"


def test_create_from_stream_reads_its_length_from_a_stream_giving_less_at_a_time():
    """A pipe, a socket or a file opened unbuffered gives what it has at hand: one read took the
    first bytes of an image and sent them as the whole."""
    class Trickle(io.RawIOBase):
        def __init__(self, data):
            self.data = data

        def readable(self):
            return True

        def readinto(self, buf):
            n = min(len(buf), 3, len(self.data))
            buf[:n], self.data = self.data[:n], self.data[n:]
            return n

    assert cmcc.MMContent.create_from_stream(Trickle(b"GIF89a-image"), 10).content == b"GIF89a-ima"
    assert cmcc.MMContent.create_from_stream(Trickle(b"GIF"), 10).content == b"GIF"  # (the end first)
    assert cmcc.MMContent.create_from_stream(Trickle(b"GIF"), 0).content == b""
    assert cmcc.MMContent.create_from_stream(Trickle(b"GIF89a-image")).content == b"GIF89a-image"


def test_sdk_saved_spelling_and_password_trimmed_as_the_sdk_did(tmp_path):
    cfg, problems = read_cmcc(mm7config(tmp_path, MmscID=None, MmscId="910011", Password="\n    pa ss\t\n  "))
    assert [p for p in problems if p.level == "error"] == []
    [case] = [p for p in problems if p.where.endswith("MmscId")]
    assert case.level == "warning" and "read as MmscID" in case.message
    assert cfg.logging.file.endswith("910011.log")
    # The SDK read every value with getTextTrim(): the MMSC knows the password without the
    # spaces and line breaks a pretty-printed file puts around it. Said, never quoted.
    assert cfg.mmsc.password == cfg.receiver.password == "pa ss"
    [trimmed] = [p for p in problems if p.where.endswith("Password")]
    assert trimmed.level == "warning" and "pa ss" not in trimmed.message
    assert cmcc.MM7Config(cfg.source).get("Password") == "pa ss"
    # Java's trim() removes what is U+0020 or below, no other blank: an ideographic space stays.
    cfg, _ = read_cmcc(mm7config(tmp_path, Password=" pa ss\u3000"))
    assert cfg.mmsc.password == "pa ss\u3000"


def plain_http(problem) -> bool:
    """The warning of credentials sent over the SDK's plain http, said of mmscIP beside what a test looks for there."""
    return problem.message.startswith("Basic credentials over plain http")


@pytest.mark.parametrize("key", ["UserName", "Password", "Charset", "mmscURL", "LogPath", "MmscID"])
def test_a_text_key_left_out_is_said_with_what_is_used_instead(tmp_path, key):
    """The SDK read these as null (no path in its request line, credentials "null:null", a log file
    named null_...): a file without one did not work as meant, and is not read silently here."""
    _, problems = read_cmcc(mm7config(tmp_path, **{key: None}))
    # (UserName and Password: what the credentials check says of them is said by the element too)
    [missing] = [p for p in problems if p.where.endswith(f":{key}") and p.message.startswith("missing")]
    assert missing.level == "warning"
    if key == "MmscID":  # the name it says, and the same for an empty one
        assert read_cmcc(mm7config(tmp_path, MmscID=""))[0].logging.file.endswith("/mmsc.log")
    # the log file's keys matter only with a log
    _, problems = read_cmcc(mm7config(tmp_path, LogPath=None, MmscID=None, logLevel="0"))
    assert not [p for p in problems if p.where.split(":")[-1] in ("LogPath", "MmscID")]


@pytest.mark.parametrize("listen_ip", [None, ""])
def test_a_receiver_without_listen_ip_says_it_listens_on_every_interface(tmp_path, listen_ip, caplog):
    """The SDK's receiver bound InetAddress.getByName(null or ""), the loopback, where no MMSC
    reached it. Here every interface is listened on, which was done silently: said when a receiver
    starts (a sender has no business with it)."""
    cfg, problems = read_cmcc(mm7config(tmp_path, ListenIP=listen_ip))
    assert cfg.receiver.host == "0.0.0.0"
    [said] = [p for p in problems if p.where.endswith(":ListenIP")]
    assert said.level == "warning" and said.about == "serving" and "every interface" in said.message
    config = cmcc.MM7Config(mm7config(tmp_path, ListenIP=listen_ip, AuthenticationMode="0"))
    with caplog.at_level(logging.WARNING, logger="mm7bind"):
        cmcc.MM7Sender(config)
        assert "ListenIP" not in caplog.text
        cmcc.MM7ReceiveServlet(config)._receiver()
    assert "ListenIP" in caplog.text and "every interface" in caplog.text


@pytest.mark.parametrize("key", ["Charset", "mmscURL", "LogPath", "MmscID"])
def test_a_text_key_left_empty_is_read_as_left_out_and_said(tmp_path, key):
    """An empty Charset, mmscURL or LogPath did not work with the SDK either (no charset of that
    name, a request line without a path, log files at the root): read as left out, with a warning.
    An empty Charset silently sent GB2312 (the dialect's), not the manual's default UTF-8; an
    empty LogPath silently kept no log."""
    def settings(cfg):
        return cfg.mmsc.charset, cfg.mmsc.urls, cfg.logging.file

    cfg, problems = read_cmcc(mm7config(tmp_path, **{key: ""}))
    [said] = [p for p in problems if p.where.endswith(f":{key}")]
    assert said.level == "warning" and said.message.startswith("empty: ")
    assert settings(cfg) == settings(read_cmcc(mm7config(tmp_path, **{key: None}))[0])
    # (what is used instead: the manual's UTF-8, the path /mm7, no log file, mmsc.log)
    assert {"Charset": cfg.mmsc.charset == "UTF-8", "mmscURL": cfg.mmsc.urls[0] == "http://192.120.231.180/mm7",
            "LogPath": cfg.logging.file == "", "MmscID": cfg.logging.file.endswith("/mmsc.log")}[key]


def test_keys_set_in_code_as_with_the_sdks_setters(tmp_path):
    """MM7Config's setters (setPassword, setMMSCIP, setListenPort...): a password kept out of the
    file, an MMSC address from elsewhere. There was no way to set a key from code."""
    import base64

    from mm7bind.config import ConfigError

    config = cmcc.MM7Config(mm7config(tmp_path, mmscIP=["192.0.2.1"], AuthenticationMode="0"))
    with FakeServer() as srv:
        config.set("MMSCIP", [srv.url.split("//")[1].split("/")[0]])  # by the getter's name, or the element's
        config.set("Password", "s3cret")
        config.set("ListenPort", 9999)
        assert config.get("mmscIP") == [srv.url.split("//")[1].split("/")[0]] and config.get("Password") == "s3cret"
        assert config.listen_port == 9999 and config.mmsc_urls == [srv.url]
        assert cmcc.MM7Sender(config).send(submit_req()).status_code == 1000
        [req] = srv.requests
        assert req.header("Authorization") == "Basic " + base64.b64encode(b"zxme:s3cret").decode()
    with pytest.raises(KeyError, match="no key of mm7Config.xml"):
        config.set("KeepAlive", "on")  # (ConnConfig.xml's: the SDK had no setter for them)
    with pytest.raises(ValueError, match="whole number"):
        config.set("TimeOut", "2000")
    config.set("AuthenticationMode", 5)  # checked as the file's values are
    with pytest.raises(ConfigError, match="AuthenticationMode"):
        config.config


def test_the_sdks_no_argument_configuration_load_and_add_mmsc_ip(tmp_path, caplog):
    """`new MM7Config()` then `load(path)`, or its setters alone with no file (a configuration
    kept elsewhere), `addMMSCIP(ip)` and `getConnConfigName()`, as Java code calls them."""
    config = cmcc.MM7Config()
    config.set("ListenPort", 1)  # replaced by the file's, as SDK's load() replaced every field
    config.load(mm7config(tmp_path))
    assert config.get("ListenPort") == 8088 and config.listen_port == 8088
    config.add_mmsc_ip("10.0.0.1:8080")
    assert config.get("MMSCIP") == ["192.120.231.180", "192.120.231.181:8080", "10.0.0.1:8080"]
    assert config.mmsc_urls[-1] == "http://10.0.0.1:8080/mm7"
    assert config.get_conn_config_name() is None
    config.set_conn_config_name(tmp_path / "ConnConfig.xml")
    assert config.get_conn_config_name() == tmp_path / "ConnConfig.xml"

    with pytest.raises(ValueError, match="path of mm7Config.xml"):
        cmcc.MM7Config().config  # (nothing to go by)
    in_code = cmcc.MM7Config()
    with FakeServer() as srv:
        in_code.add_mmsc_ip(srv.url.split("//")[1].split("/")[0])
        for key, value in (("MMSCURL", "/mm7"), ("UserName", "zxme"), ("Password", "zxme"), ("logLevel", 0)):
            in_code.set(key, value)
        caplog.clear()
        assert cmcc.MM7Sender(in_code).send(submit_req()).status_code == 1000
        [req] = srv.requests
    assert req.path == "/mm7" and in_code.time_out == 90_000 and in_code.re_send_count == 2  # the manual's
    # (a number no setter was called for crashed nothing in the SDK: not said to be missing)
    assert not [r for r in caplog.records if "SDK would fail" in r.getMessage()]


def test_the_mmsc_list_of_a_file_without_one_is_the_callers_own(tmp_path):
    """getMMSCIP().add(ip), as Java code adds an address: on a file without mmscIP it changed the
    default every later file without one was read with."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = cmcc.MM7Config(mm7config(tmp_path / "a", mmscIP=[]))
    first.get("MMSCIP").append("10.0.0.1")
    assert cmcc.MM7Config(mm7config(tmp_path / "b", mmscIP=[])).get("mmscIP") == []


def test_conn_config_keys_the_sdk_needed_are_said_when_left_out(tmp_path):
    """The SDK's pool parsed KeepAlive, ServerMaxKeepAlive, KeepAliveTimeout... with no guard: a
    ConnConfig.xml without one failed; here its default is used, with a warning, as in mm7Config.xml."""
    conn = tmp_path / "ConnConfig.xml"
    conn.write_text("<connection><KeepAlive>on</KeepAlive><ServerMaxKeepAlive>12</ServerMaxKeepAlive></connection>",
                    encoding="utf-8")
    cfg, problems = read_cmcc(mm7config(tmp_path), conn)
    missing = {p.where.split(":")[-1]: p for p in problems if p.message.startswith("missing")}
    assert set(missing) == {"MaxKeepAliveRequests", "MinKeepAliveRequests", "KeepAliveTimeout", "step"}
    assert all(p.level == "warning" for p in missing.values()) and "using 30" in missing["MaxKeepAliveRequests"].message
    assert cfg.mmsc.pool_size == 30 and cfg.receiver.threads == 12 and cfg.mmsc.idle_timeout == 50.0
    conn.write_text(CONN.replace("<KeepAliveTimeout>50000<", "<KeepAliveTimeout>0<"), encoding="utf-8")
    assert read_cmcc(mm7config(tmp_path), conn)[0].make_client().config.idle_timeout is None  # (0: no limit)
    conn.write_text(CONN, encoding="utf-8")  # the manual's file: nothing missing (ScanInterval is V1.5.6's)
    assert not [p for p in read_cmcc(mm7config(tmp_path), conn)[1] if p.message.startswith("missing")]


def test_without_conn_config_the_pool_and_receiver_threads_are_the_manuals_30(tmp_path):
    """No ConnConfig.xml given: MaxKeepAliveRequests and ServerMaxKeepAlive are the manual's 30
    (V1.5.7 §4.2.1), as `get` says they are; mm7bind's own defaults (10 connections, 4 threads)
    were used instead, so the numbers shown were not those in effect."""
    config = cmcc.MM7Config(mm7config(tmp_path))
    assert (config.get("MaxKeepAliveRequests"), config.get("ServerMaxKeepAlive")) == (30, 30)
    assert (config.config.mmsc.pool_size, config.config.receiver.threads) == (30, 30)
    assert config.config.mmsc.keep_alive and config.get("KeepAlive") == "on"


def test_the_two_files_given_in_each_others_place_are_named_for_what_they_are(tmp_path):
    """`--config ConnConfig.xml` (or the mm7Config.xml as --conn-config) said only "root element is
    connection, expected MM7Config"."""
    conn = tmp_path / "ConnConfig.xml"
    conn.write_text(CONN, encoding="utf-8")
    problems = read_cmcc(str(conn))[1]
    assert any("this is a ConnConfig.xml (--conn-config" in p.message for p in problems), problems
    problems = read_cmcc(mm7config(tmp_path), mm7config(tmp_path))[1]
    assert any("this is an mm7Config.xml (--config" in p.message for p in problems), problems


def test_a_root_of_another_name_is_read_as_the_sdk_read_it(tmp_path):
    """The SDK read the root's children whatever the root was called (JDOM's getRootElement), so a
    file written `<mm7Config>` after its file name worked with it; here it was an error and nothing
    was read. Read, with a warning showing the root as China Mobile's files write it; a root holding
    no setting at all stays an error, saying what the file is."""
    path = tmp_path / "mm7Config.xml"
    text = Path(mm7config(tmp_path)).read_text(encoding="utf-8")
    path.write_text(text.replace(f'vasp:MM7Config xmlns:vasp="{NS}"', "mm7Config")
                    .replace("</vasp:MM7Config>", "</mm7Config>"), encoding="utf-8")
    cfg, problems = read_cmcc(str(path))
    assert [p for p in problems if p.level == "error"] == [], problems
    [said] = [p for p in problems if "root element" in p.message]
    assert said.level == "warning" and "mm7Config, not MM7Config" in said.message
    assert f'<vasp:MM7Config xmlns:vasp="{NS}">' in said.message
    assert cfg.mmsc.username == "zxme" and cfg.receiver.port == 8088  # (its settings are used)
    path.write_text("<html><body>not a configuration</body></html>", encoding="utf-8")
    [said] = read_cmcc(str(path))[1]
    assert said.level == "error" and "root element is html, expected MM7Config" in said.message
    assert f'<vasp:MM7Config xmlns:vasp="{NS}">' in said.message


def test_connection_counts_below_one_are_said(tmp_path):
    """MaxKeepAliveRequests 0 made the SDK open a short connection per send; here there is one
    connection at least, and sends take turns on it: said, not done silently (nor for the receiver)."""
    conn = tmp_path / "ConnConfig.xml"
    conn.write_text(CONN.replace("<MaxKeepAliveRequests>30", "<MaxKeepAliveRequests>0")
                    .replace("<ServerMaxKeepAlive>12", "<ServerMaxKeepAlive>-1"), encoding="utf-8")
    cfg, problems = read_cmcc(mm7config(tmp_path), conn)
    assert (cfg.mmsc.pool_size, cfg.receiver.threads) == (1, 1)
    said = {p.where.split(":")[-1]: p for p in problems if "read as 1" in p.message}
    assert set(said) == {"MaxKeepAliveRequests", "ServerMaxKeepAlive"}
    assert all(p.level == "warning" for p in said.values())


@pytest.mark.parametrize("address", ["10.0.0.1,10.0.0.2", "10.0.0.1:8080/", "10.0.0.1:", "10.0.0.1:abc",
                                     "10.0.0.1:70000", "10.0.0.1:0", "10.0.0.1 8080", "mmsc/mm7"])
def test_an_mmsc_address_that_is_none_is_said_when_read(tmp_path, address):
    """An mmscIP that is no host[:port] failed at every send of the SDK (its port parsed as a number,
    its host looked up); here it made a URL that failed or posted to another path ("//mm7"). Said
    once, by its name in the file: a port no connection can go to was said again of the URL made of
    it, as mmsc.urls, a setting the file does not have."""
    _, problems = read_cmcc(mm7config(tmp_path, mmscIP=[address]))
    assert [(p.level, p.where) for p in problems if p.level == "error"] == [("error", "mm7Config.xml:mmscIP")]


def test_mmsc_addresses_as_the_sdk_took_them(tmp_path):
    ips = ["211.136.90.202", "192.120.231.180:8080", "mmsc-gw.example.com:80", "[2001:db8::1]:8080", "https://10.0.0.1:8443"]
    cfg, problems = read_cmcc(mm7config(tmp_path, mmscIP=ips))
    assert not [p for p in problems if p.where.endswith(":mmscIP") and not plain_http(p)]
    assert cfg.mmsc.urls[3] == "http://[2001:db8::1]:8080/mm7" and cfg.mmsc.urls[4] == "https://10.0.0.1:8443/mm7"


def test_an_mmsc_port_in_full_width_digits_is_the_port_the_sdk_read(tmp_path):
    """Java's Integer.parseInt reads full-width digits (８０８０, from a Chinese input method), so the
    SDK dialled port 8080; here they made a URL no HTTP client takes (each send a -102 saying the
    MMSC may have the message). Read as the SDK read them, with a warning; a host in them is still no address."""
    with FakeServer() as srv:
        port = srv.url.split("//")[1].split("/")[0].split(":")[1]
        wide = "".join(chr(ord(d) + 0xFEE0) for d in port)
        config = cmcc.MM7Config(mm7config(tmp_path, mmscIP=[f"127.0.0.1:{wide}"], mmscURL="/mm7",
                                          AuthenticationMode="0"))
        assert config.mmsc_urls == [f"http://127.0.0.1:{port}/mm7"]
        assert cmcc.MM7Sender(config).send(submit_req()).status_code == 1000 and len(srv.requests) == 1
    _, problems = read_cmcc(mm7config(tmp_path, mmscIP=["127.0.0.1:８０８０"]))
    assert [(p.level, str(p)) for p in problems if p.where.endswith(":mmscIP") and not plain_http(p)] == [
        ("warning", "warning: mm7Config.xml:mmscIP: port ８０８０ read as 8080 (its digits are not ASCII 0-9; "
                    "the SDK read them so)")]
    _, problems = read_cmcc(mm7config(tmp_path, mmscIP=["１２７.0.0.1:80"]))
    assert [p.level for p in problems if p.where.endswith(":mmscIP") and not plain_http(p)] == ["error"]


def test_a_comment_inside_a_value_is_passed_over_as_jdom_did(tmp_path):
    """JDOM joined an element's text nodes, leaving comments out: <Password><!-- from ops -->s3cret
    was s3cret to the SDK, and is here (the text before the comment alone would be an empty
    password, and a TimeOut that is no number)."""
    path = tmp_path / "mm7Config.xml"
    path.write_text(f'<vasp:MM7Config xmlns:vasp="{NS}"><UserName>zxme</UserName>'
                    "<Password><!-- from ops -->s3cret</Password><mmscURL>/mm7<!-- was /mm7test --></mmscURL>"
                    "<mmscIP>127.0.0.1</mmscIP><TimeOut><!-- ms -->2000</TimeOut></vasp:MM7Config>", encoding="utf-8")
    cfg, problems = read_cmcc(path)
    assert (cfg.mmsc.password, cfg.mmsc.urls, cfg.mmsc.read_timeout) == ("s3cret", ["http://127.0.0.1/mm7"], 2.0)
    assert not [p for p in problems if p.where.split(":")[-1] in ("Password", "TimeOut", "mmscURL")]
    config = cmcc.MM7Config(path)
    assert (config.get("Password"), config.get("TimeOut")) == ("s3cret", 2000)


@pytest.mark.parametrize("key", ["BackLog", "TimeOut", "ListenPort", "ReSendCount", "LogInterval", "MaxMessageSize"])
@pytest.mark.parametrize("written", ["99999999999", "-99999999999", "1" + "0" * 30])
def test_a_number_past_a_java_int_is_an_error_naming_its_element(tmp_path, key, written):
    """The SDK's Integer.parseInt refused such a number. Taken, a BackLog of 99999999999 ended the
    receiver's start with an OverflowError (config check had nothing to say), a TimeOut was said
    as mmsc.read_timeout's error, a ReSendCount taken: each is now an error naming its element."""
    cfg, problems = read_cmcc(mm7config(tmp_path, **{key: written}))
    assert [str(p) for p in problems if p.level == "error"] == [
        f"error: mm7Config.xml:{key}: {int(written)} is past what the SDK reads (a Java int: -2147483648 to "
        "2147483647)"]
    assert read_cmcc(mm7config(tmp_path, **{key: "2147483647"}))[0] is not None
    conn = tmp_path / "ConnConfig.xml"
    conn.write_text(CONN.replace("<ServerMaxKeepAlive>12<", f"<ServerMaxKeepAlive>{written}<"), encoding="utf-8")
    problems = read_cmcc(mm7config(tmp_path), conn)[1]
    assert [p.where for p in problems if p.level == "error"] == ["ConnConfig.xml:ServerMaxKeepAlive"]


def test_a_number_of_thousands_of_digits_is_said_by_its_length_not_as_no_number(tmp_path):
    """int() refuses more than 4300 digits with the ValueError of a text that is no number: such a
    number in a whole-number element was said to be "not a whole number", and quoted whole; one set
    in code ended the reading with str()'s ValueError, one in an mmscIP's full-width port with
    int()'s. Leading zeros, which Integer.parseInt read past, count for nothing."""
    past = "is past what the SDK reads (a Java int: -2147483648 to 2147483647)"
    for written, said in (("9" * 5000, "a number of 5000 digits"), ("-" + "1" * 101, "a number of 101 digits"),
                          ("1" + "0" * 99, "1" + "0" * 99)):
        problems = read_cmcc(mm7config(tmp_path, TimeOut=written))[1]
        assert [str(p) for p in problems if p.level == "error"] == [f"error: mm7Config.xml:TimeOut: {said} {past}"]
        conn = tmp_path / "ConnConfig.xml"
        conn.write_text(CONN.replace("<step>1<", f"<step>{written}<"), encoding="utf-8")
        problems = read_cmcc(mm7config(tmp_path), conn)[1]
        assert [str(p) for p in problems if p.level == "error"] == [f"error: ConnConfig.xml:step: {said} {past}"]
    cfg, problems = read_cmcc(mm7config(tmp_path, TimeOut="0" * 5000 + "2500"))
    assert cfg.mmsc.read_timeout == 2.5 and not [p for p in problems if p.where.endswith(":TimeOut")]
    problems = read_cmcc(None, overrides={"mmscIP": ["10.0.0.1"], "TimeOut": -10**5000})[1]
    assert [str(p) for p in problems if p.level == "error"] == [
        f"error: mm7Config.xml:TimeOut: a number of 5001 digits {past}"]
    problems = read_cmcc(mm7config(tmp_path, mmscIP=["10.0.0.1:" + "８" * 5000]))[1]
    assert [p.where for p in problems if p.level == "error"] == ["mm7Config.xml:mmscIP"]


@pytest.mark.parametrize("written", ["1_000", "2500\u3000", "\xa02500", "2500\u2028", "\U0001d7d0\U0001d7d3"])
def test_a_number_integer_parseint_refused_is_no_number(tmp_path, written):
    """Python's int() reads more than Java's Integer.parseInt did: underscores between digits, any
    blank around them (Java's trim removed only U+0000-U+0020), digits past U+FFFF (two UTF-16
    units to Java, neither a digit). The SDK refused such a file; it was read."""
    problems = read_cmcc(mm7config(tmp_path, TimeOut=written))[1]
    assert [(p.level, p.message) for p in problems if p.where.endswith(":TimeOut")] == [
        ("error", f"{written!r} is not a whole number")]
    conn = tmp_path / "ConnConfig.xml"
    conn.write_text(CONN.replace("<step>1<", f"<step>{written}<"), encoding="utf-8")
    problems = read_cmcc(mm7config(tmp_path), conn)[1]
    assert [(p.level, p.message) for p in problems if p.where.endswith(":step")] == [
        ("error", f"{written!r} is not a whole number")]


def test_a_number_of_more_digits_than_any_setting_takes_is_refused_alike_by_both_readers(tmp_path):
    """China Mobile's files and the TOML file or MM7BIND_ variables refuse, unread, a whole number of
    more digits than config.MOST_DIGITS, and read one of as many."""
    from mm7bind import config

    for digits, refused in ((config.MOST_DIGITS, False), (config.MOST_DIGITS + 1, True)):
        number = "9" * digits
        problems = config.load(None, env={"MM7BIND_RECEIVER_PORT": number})[1]
        assert any("too large for any setting" in p.message for p in problems) == refused
        problems = read_cmcc(mm7config(tmp_path, TimeOut=number))[1]
        assert [p.message.startswith(f"a number of {digits} digits") for p in problems if
                p.where.endswith(":TimeOut")] == [refused]


def test_a_long_value_is_quoted_by_its_start_and_its_length(tmp_path):
    """A value that is no number (or not true or false, no qop...) was quoted whole: one of 100,000
    characters made a message, and a config check's output, of as many."""
    long = "x" * 100_000
    said = f"a text of 100000 characters ({'x' * 40!r}...)"
    problems = read_cmcc(mm7config(tmp_path, TimeOut=long, UseSSL=long, Digest=long))[1]
    assert sorted((p.where, p.message) for p in problems if p.where.endswith(("TimeOut", "UseSSL", "Digest"))) == [
        ("mm7Config.xml:Digest", f"{said} is no qop (auth or auth-int): auth is used when offered"),
        ("mm7Config.xml:TimeOut", f"{said} is not a whole number"),
        ("mm7Config.xml:UseSSL", f"{said} is not true or false")]
    problems = read_cmcc(mm7config(tmp_path, mmscIP=[long[1:] + "!"], MmscID=f" {long}"))[1]
    assert sorted((p.where, p.message) for p in problems if p.where.endswith(("mmscIP", "MmscID"))
                  and not plain_http(p)) == [
        ("mm7Config.xml:MmscID", f"spaces around {said} removed"),
        ("mm7Config.xml:mmscIP", f"{said} is no address (ip or host, :port optional)")]
    conn = tmp_path / "ConnConfig.xml"
    conn.write_text(CONN.replace("<step>1<", f"<step>{long}<").replace(">on<", f">{long}<"), encoding="utf-8")
    problems = read_cmcc(mm7config(tmp_path), conn)[1]
    assert sorted((p.where, p.message) for p in problems if p.where.endswith(("KeepAlive", "step"))) == [
        ("ConnConfig.xml:KeepAlive", f"{said} is neither on nor off: off, as the SDK read it (each connection "
                                     "closed after its answer)"),
        ("ConnConfig.xml:step", f"{said} is not a whole number")]
    for written, shown in (("y" * 100, repr("y" * 100)), ("y" * 101, f"a text of 101 characters ({'y' * 40!r}...)")):
        problems = read_cmcc(mm7config(tmp_path, TimeOut=written))[1]
        assert [p.message for p in problems if p.where.endswith(":TimeOut")] == [f"{shown} is not a whole number"]


def test_what_integer_parseint_read_is_read(tmp_path):
    """A leading + (Java 7 on) and any script's digits of the BMP (Character.digit): read as the SDK
    read them; the same digits past U+FFFF in an mmscIP's port are no port, as the SDK dialled none."""
    for written in ("+2500", "２５００", "\u0662\u0665\u0660\u0660", " 2500\t"):
        cfg, problems = read_cmcc(mm7config(tmp_path, TimeOut=written))
        assert cfg.mmsc.read_timeout == 2.5
        assert not [p for p in problems if p.level == "error" or "TimeOut" in p.where and "spaces" not in p.message]
    problems = read_cmcc(mm7config(tmp_path, mmscIP=["10.0.0.1:\U0001d7d6\U0001d7ce"]))[1]
    assert [(p.level, p.message) for p in problems if p.where.endswith(":mmscIP")] == [
        ("error", "'10.0.0.1:\U0001d7d6\U0001d7ce' is no address (ip or host, :port optional)")]


@pytest.mark.parametrize("key, setting", [("MaxKeepAliveRequests", "mmsc.pool_size"),
                                          ("ServerMaxKeepAlive", "receiver.threads")])
def test_more_connections_or_threads_than_mm7bind_takes_is_an_error_naming_the_element(tmp_path, key, setting):
    """A ServerMaxKeepAlive of a million (threads each started with the receiver) was said as
    receiver.threads' error, a setting the files do not have: said as their own element."""
    conn = tmp_path / "ConnConfig.xml"
    conn.write_text(re.sub(rf"<{key}>\d+<", f"<{key}>1000000<", CONN), encoding="utf-8")
    problems = read_cmcc(mm7config(tmp_path), conn)[1]
    assert [str(p) for p in problems if p.level == "error"] == [
        f"error: ConnConfig.xml:{key}: 1000000 is more than mm7bind takes ({setting}: at most 10000)"]


@pytest.mark.parametrize("backlog", [-1, 2**31, 99999999999, 10**30, 2.5, True])
def test_a_listen_backlog_the_socket_layer_cannot_take_is_refused_when_given(tmp_path, backlog):
    """receiver.backlog = 99999999999 passed config check and ended serve at start with an
    OverflowError from the socket's listen; a negative one was taken as 0 without a word."""
    from mm7bind import config

    if not isinstance(backlog, (bool, float)):
        (tmp_path / "c.toml").write_text(f"[receiver]\nbacklog = {backlog}\n", encoding="utf-8")
        _, problems = config.load(tmp_path / "c.toml", env={})
        assert [str(p) for p in problems if p.level == "error"] == [
            "error: receiver.backlog: must be from 0 to 2147483647"]
    with pytest.raises(ValueError, match="^backlog must be a whole number from 0 to 2147483647"):
        mm7.serve(mm7.Receiver(store=mm7.MemoryStore()), port=0, backlog=backlog)


@pytest.mark.parametrize(("written", "backlog"), [("0", 50), ("-5", 50), ("1", 1), ("200", 200)])
def test_a_backlog_of_0_or_less_is_javas_default_as_in_the_sdk(tmp_path, written, backlog):
    """The SDK's ServerSocket took a backlog of 0 or less as Java's default, 50; it was read as 1,
    a listener turning the MMSC's connections away as soon as two came at once."""
    assert read_cmcc(mm7config(tmp_path, BackLog=written))[0].receiver.backlog == backlog


def test_a_negative_resend_count_is_no_resend_as_in_the_sdk(tmp_path):
    """The SDK's re-send loop (for j < ReSendCount) never ran for a negative count: such a file
    worked, sending once; it was refused."""
    cfg, problems = read_cmcc(mm7config(tmp_path, ReSendCount="-1"))
    assert [p.level for p in problems if p.where.endswith(":ReSendCount")] == ["warning"]
    assert not [p for p in problems if p.level == "error"] and cfg.mmsc.max_attempts == 1


def test_a_number_that_is_not_one_is_not_said_to_be_missing(tmp_path):
    _, problems = read_cmcc(mm7config(tmp_path, BackLog=""))
    assert [(p.level, p.message) for p in problems if p.where.endswith(":BackLog")] == [
        ("error", "'' is not a whole number")]


def test_serve_with_china_mobile_config_answers_any_path(tmp_path, monkeypatch):
    """The SDK's MM7Receiver took a request at whatever URI the MMSC posted to; serve --config mm7Config.xml too."""
    from . import test_commands
    from .conftest import ROOT
    from .test_receiver import deliver

    # Run in tmp_path (the store of a China Mobile config is ./mm7bind.db), with this tree's package.
    monkeypatch.setattr(test_commands, "ENV", {**test_commands.ENV, "PYTHONPATH": str(ROOT)})
    path = mm7config(tmp_path, ListenPort="0", AuthenticationMode="0")
    cfg, problems = read_cmcc(path)
    assert cfg.receiver.path == "*" and not [p for p in problems if p.level == "error"]
    server = Background("serve", "--config", path, "--out", str(tmp_path / "in"), cwd=tmp_path)
    try:
        port = server.port()
        server.wait_for(f"http://127.0.0.1:{port}/")
        for i, where in enumerate(("/mm7", "/", "/vasp/mo.do")):
            out = mm7.encode(deliver(), transaction_id=f"any-{i}", version="REL-6-MM7-1-0")
            rsp = requests.post(f"http://127.0.0.1:{port}{where}", data=out.to_bytes(),
                                headers={"Content-Type": out.content_type}, timeout=10)
            assert rsp.status_code == 200 and mm7.decode(rsp.content).transaction_id == f"any-{i}", (where, rsp.text)
    finally:
        output = server.stop()
    assert "(any path)" in output


def test_serve_with_keep_alive_off_closes_each_connection(tmp_path, monkeypatch):
    """`serve --config mm7Config.xml --conn-config ConnConfig.xml` with KeepAlive=off, as MM7Receiver."""
    from . import test_commands
    from .conftest import ROOT
    from .test_receiver import deliver

    monkeypatch.setattr(test_commands, "ENV", {**test_commands.ENV, "PYTHONPATH": str(ROOT)})
    path = mm7config(tmp_path, ListenPort="0", AuthenticationMode="0")
    (tmp_path / "ConnConfig.xml").write_text(CONN.replace("<KeepAlive>on<", "<KeepAlive>off<"), encoding="utf-8")
    server = Background("serve", "--config", path, "--conn-config", str(tmp_path / "ConnConfig.xml"),
                        "--out", str(tmp_path / "in"), cwd=tmp_path)
    try:
        port = server.port()
        server.wait_for(f"http://127.0.0.1:{port}/")
        out = mm7.encode(deliver(), transaction_id="mo-1", version="REL-6-MM7-1-0")
        first, then = _two_requests_on_one_connection(f"http://127.0.0.1:{port}", out.to_bytes(), out.content_type)
    finally:
        server.stop()
    assert first.startswith(b"HTTP/1.1 200 ") and re.search(rb"(?im)^connection: *close\r$", first) and then == b""


def test_sdk_constant_names_and_manual_ranges(tmp_path):
    assert cmcc.RequestStatus.TEXT_SUCCESS == "成功" and cmcc.RequestStatus.TEXT_PARTIAL_SUCCESS == "部分成功"
    assert cmcc.RequestStatus.TEXT_MULTIADDRESS_NOTSUPPORT == "不支持多个地址"
    assert cmcc.ReadStatus is cmcc.ReadStatusCode and cmcc.ReadStatus.DELETED == 1
    # ... and under the name the manual's samples use: MMConstants.X.Y, as written in Java
    constants = cmcc.MMConstants
    assert (constants.RequestStatus.SUCCESS, constants.ContentType.MULTIPART_MIXED, constants.Priority.HIGH) == (
        1000, "multipart/mixed", 2)
    assert (constants.MMStatus.FORWARDED, constants.ReadStatus.DELETED, constants.ChargedParty.THIRD_PARTY) == (5, 1, 4)
    assert (constants.MessageClass.AUTO, constants.Charset.GB2312) == ("Auto", "GB2312")
    # The SDK's MMConstants had more, which code ported as written names: the Charset names it
    # spelled its own way, the TEXT_* of MMStatus and ReadStatus, and its plain constants.
    assert (constants.Charset.UTF8, constants.Charset.ISO8859_1, constants.Charset.ISO10646_UCS_2) == (
        "UTF-8", "ISO-8859-1", "ISO-10646-UCS-2")
    assert [getattr(constants.MMStatus, "TEXT_" + n) for n in ("EXPIRED", "RETRIEVED", "SYSTEM_REJECT",
                                                              "RECIPIENT_REJECT", "INDETERMINATE", "FORWARDED")] == [
        cmcc.MMStatus.TEXTS[code][0] for code in range(6)]
    assert (constants.ReadStatus.TEXT_READ, constants.ReadStatus.TEXT_DELETED) == ("已读取", "未读被删")
    assert (constants.DELIVERREQ, constants.STATUSDETAIL, constants.ARRAYLIMIT, constants.AUTHENTICATION) == (
        "DeliverReq", "Details", 256, "WWW-Authenticate")
    # The SDK's names, meaning what they say on the wire (its RECEIVER=2 was sent as Both).
    req = submit_req(charged_party=cmcc.ChargedParty.RECEIVER)
    assert req.to_message().charged_party is mm7.ChargedParty.RECIPIENT
    assert submit_req(charged_party=cmcc.ChargedParty.NONE).to_message().charged_party is mm7.ChargedParty.NEITHER
    _, problems = read_cmcc(mm7config(tmp_path, LogNum="0", LogInterval="2880", LogSize="20000",
                                      MaxMessageSize="100000000"))
    by = {p.where.split(":")[-1]: p for p in problems}
    assert "1–9999 files; 1 is used" in by["LogNum"].message and "1–1440 minutes" in by["LogInterval"].message
    assert "1–10000 KB" in by["LogSize"].message and "128K" in by["MaxMessageSize"].message
    assert all(by[k].level == "warning" for k in ("LogNum", "LogInterval", "LogSize", "MaxMessageSize"))
    _, problems = read_cmcc(mm7config(tmp_path))
    assert not {"LogNum", "LogInterval", "LogSize", "MaxMessageSize"} & {p.where.split(":")[-1] for p in problems}
    # TimeOut 0 was the SDK's "no read timeout": such a file worked there, so it loads, with a bound.
    cfg, problems = read_cmcc(mm7config(tmp_path, TimeOut="0"))
    assert [(p.level, p.where) for p in problems if "TimeOut" in p.where] == [("warning", "mm7Config.xml:TimeOut")]
    assert cfg.mmsc.read_timeout == 90.0 and cmcc.MM7Sender(cmcc.MM7Config(mm7config(tmp_path, TimeOut="0"))).client
    _, problems = read_cmcc(mm7config(tmp_path, TimeOut="-1"))
    assert [p.level for p in problems if "TimeOut" in p.where] == ["error"]


def test_a_misspelt_name_gets_the_same_hint_in_every_file_and_request(tmp_path):
    """mm7Config.xml, the TOML configuration and the send API's JSON name the likely key alike."""
    from mm7bind.config import load
    from mm7bind.sendapi import ApiError, submit_from_json

    xml = tmp_path / "mm7Config.xml"
    xml.write_text(f'<MM7Config xmlns="{NS}"><mmscIP>127.0.0.1:9090</mmscIP><UserNme>sp</UserNme></MM7Config>',
                   encoding="utf-8")
    assert "warning: mm7Config.xml:UserNme: unknown element, ignored (did you mean UserName?)" in [
        str(p) for p in read_cmcc(xml)[1]]
    toml = tmp_path / "cfg.toml"
    toml.write_text('[mmcs]\nurls = []\n[receiver]\nprot = 1\n', encoding="utf-8")
    problems = [str(p) for p in load(toml, env={})[1]]
    assert "error: mmcs: unknown section (did you mean mmsc?)" in problems
    assert "error: receiver.prot: unknown setting (did you mean port?)" in problems
    with pytest.raises(ApiError, match=r"^unknown field\(s\): subjet \(did you mean subject\?\)$"):
        submit_from_json({"to": "1", "subjet": "typo"})


def test_a_receiver_is_not_warned_of_the_senders_plain_http_credentials(tmp_path, caplog):
    """The SDK spoke plain http to the MMSC: a sender's Basic credentials can be read on the way,
    said once by the sender; a receiver sharing the configuration never sends, and says nothing of it."""
    config = cmcc.MM7Config(mm7config(tmp_path, logLevel="0"))
    warning = "Basic credentials over plain http"
    with caplog.at_level("WARNING", logger="mm7bind.config"):
        cmcc.MM7Receiver(config)._receiver()
        assert not [r for r in caplog.records if warning in r.getMessage()]
        for _ in range(2):
            cmcc.MM7Sender(config).client.close()
    assert len([r for r in caplog.records if warning in r.getMessage()]) == 1


def _failed_answer(tmp_path, caplog, answer_with):
    """A DeliverReq to a servlet whose do_deliver returns `answer_with()`: answered with a Server
    Fault (3000), the message kept → the log record saying why."""
    from .test_receiver import call_wsgi, deliver

    class MyServlet(cmcc.MM7ReceiveServlet):
        def do_deliver(self, req):
            return answer_with()

    app = MyServlet(cmcc.MM7Config(mm7config(tmp_path, AuthenticationMode="0")))
    out = mm7.encode(deliver(), transaction_id="t-1", version="REL-6-MM7-1-0")
    with caplog.at_level(logging.ERROR, logger="mm7bind"):
        answer = call_wsgi(app, out.to_bytes(), out.content_type)
    assert answer["status"] == 500 and mm7.decode(answer["body"]).body.status.code == 3000
    [failed] = [r for r in caplog.records if r.exc_info]
    return failed


def test_the_receiver_serves_tls_with_serves_settings_and_asks_for_the_mmscs_certificate(tmp_path):
    """The SDK's MM7Receiver spoke plain HTTP only (UseSSL was never read), and so did this one: an
    MO crossed the network in clear, and the MMSC's client certificate could not be asked for.
    `tls_cert`/`tls_key` serve TLS, `tls_client_ca` requires a certificate that CA signed: the
    settings `serve` takes in [receiver]."""
    import requests

    from .test_receiver import deliver
    from .tls import write_mutual_tls

    write_mutual_tls(tmp_path)
    config = cmcc.MM7Config(mm7config(tmp_path, AuthenticationMode="0", ListenPort="0"))
    out = mm7.encode(deliver(), transaction_id="mo-tls", version="REL-6-MM7-1-0")

    def post(receiver, **tls):
        return requests.post(receiver.url + "/mm7", data=out.to_bytes(), headers={"Content-Type": out.content_type},
                             verify=str(tmp_path / "server-ca.pem"), timeout=10, **tls)

    receiver = cmcc.MM7Receiver(config, tls_cert=tmp_path / "cert.pem", tls_key=tmp_path / "key.pem")
    try:
        receiver.start(host="127.0.0.1")
        assert receiver.url.startswith("https://127.0.0.1:")
        answer = post(receiver)
    finally:
        receiver.stop()
    assert answer.status_code == 200 and mm7.decode(answer.content).body.status.text == "成功"
    receiver = cmcc.MM7Receiver(config, tls_cert=tmp_path / "cert.pem", tls_key=tmp_path / "key.pem",
                                tls_client_ca=tmp_path / "mmsc-ca.pem")
    try:
        receiver.start(host="127.0.0.1")
        with pytest.raises(requests.exceptions.RequestException):  # (no client certificate: no handshake)
            post(receiver)
        with pytest.raises(requests.exceptions.RequestException):  # (another CA's)
            post(receiver, cert=str(tmp_path / "stranger.pem"))
        answer = post(receiver, cert=(str(tmp_path / "mmsc-cert.pem"), str(tmp_path / "mmsc-key.pem")))
    finally:
        receiver.stop()
    assert answer.status_code == 200 and mm7.decode(answer.content).transaction_id == "mo-tls"
    # (the configuration's [receiver] settings, as serve reads them, are used too)
    config.config.receiver.tls_cert, config.config.receiver.tls_key = str(tmp_path / "cert.pem"), ""
    with pytest.raises(ValueError, match="tls_cert and tls_key go together"):
        cmcc.MM7Receiver(config).start(host="127.0.0.1")
    with pytest.raises(ValueError, match="tls_client_ca"):
        cmcc.MM7Receiver(cmcc.MM7Config(mm7config(tmp_path, AuthenticationMode="0", ListenPort="0")),
                         tls_client_ca=tmp_path / "mmsc-ca.pem").start(host="127.0.0.1")


def test_content_types_are_the_sdks_mmcontenttype_with_its_getters():
    """The SDK's MMContent.getContentType() gave an MMContentType (getPrimaryType(), getSubType(),
    getParameter()); code ported as written, checking what a received part is, found a bare string.
    Any content type given (a string, a ContentType constant) or received is one, equal to its string."""
    gif = cmcc.MMContentType('image/GIF; name="a.gif"')
    assert (gif.primary_type, gif.sub_type, gif.get_parameter("Name"), gif.get_parameter("charset")) == (
        "image", "gif", "a.gif", None)
    assert isinstance(cmcc.ContentType.JPEG, cmcc.MMContentType) and cmcc.ContentType.JPEG == "image/jpeg"
    part = cmcc.MMContent.create_from_bytes(b"GIF89a")
    part.content_type = "text/plain;charset=GB2312"
    assert part.content_type.sub_type == "plain" and part.content_type.parameter_list == {"charset": "GB2312"}
    assert part.text_charset() == "GB2312"  # (honoured, where the SDK dropped it)
    content = mm7.Content(parts=[mm7.Part.text("hi"), mm7.Part.from_bytes(b"GIF89a", "image/gif")])
    received = cmcc.MMContent.from_content(content)
    assert [(s.content_type.primary_type, s.content_type.sub_type) for s in received.sub_contents] == [
        ("text", "plain"), ("image", "gif")]
    assert received.content_type.sub_type == "mixed"


def test_an_answer_without_a_transaction_id_keeps_the_requests_and_says_so(tmp_path):
    """The SDK never handed an SP an answer without a TransactionID: one without a SOAP Header was
    its -111, and with one it took the Header's first element, whatever it was. mm7bind takes such an
    answer (HTTP pairs it with its request): its `transaction_id` is the request's, so a port keying
    its records by `res.transaction_id` goes on working (a None would break it, which no SDK answer
    ever was), and `deviations` says the MMSC wrote none."""

    def without_header(req):
        env = req.decode()
        body = mm7.encode(mm7.SubmitRsp(message_id="MMSC-2"), transaction_id=env.transaction_id,
                          version=env.version).to_bytes()
        body = re.sub(rb"<env:Header>.*?</env:Header>", b"", body, flags=re.S)
        assert b"TransactionID" not in body
        return Reply(200, body, {"Content-Type": 'text/xml; charset="utf-8"'})

    with FakeServer(without_header) as srv:
        res = cmcc.MM7Sender(cmcc_config(tmp_path, srv.url)).send(submit_req(transaction_id="T-3"))
    assert isinstance(res, cmcc.MM7SubmitRes) and (res.status_code, res.message_id) == (1000, "MMSC-2")
    assert (res.transaction_id, res.request_transaction_id) == ("T-3", "T-3")
    assert "missing-transaction-id" in [d.code for d in res.deviations]


def test_save_writes_a_file_that_reads_back_the_same(tmp_path):
    """The SDK's MM7Config.save(path) wrote <MmscId> (its load() read only MmscID), values unescaped
    and without an encoding declared. Here the saved file reads back to every value, those set in
    code too, with no warning about the keys."""
    config = cmcc.MM7Config(mm7config(tmp_path, UseSSL="true"))
    config.set("Password", "p<&>w")
    config.set("MmscId", "910&010")
    config.add_mmsc_ip("10.0.0.9:8080")
    config.set("ListenPort", 9090)
    saved = tmp_path / "saved" / "mm7Config.xml"
    saved.parent.mkdir()
    config.save(saved)
    text = saved.read_text(encoding="utf-8")
    assert "<MmscID>910&amp;010</MmscID>" in text and "<MmscId>" not in text and "p&lt;&amp;&gt;w" in text
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    again = cmcc.MM7Config(saved)
    from mm7bind.cmcc.config import MM7_KEYS
    assert {k: again.get(k) for k in MM7_KEYS} == {k: config.get(k) for k in MM7_KEYS}
    assert (again.get("Password"), again.get("MmscID"), again.get("ListenPort"), again.get("UseSSL")) == (
        "p<&>w", "910&010", 9090, True)
    assert again.get("mmscIP")[-1] == "10.0.0.9:8080"
    problems = read_cmcc(saved)[1]
    assert not [p for p in problems if "missing" in p.message or "read as" in p.message], problems
    if os.name != "nt":  # (it holds the password: a new file is its owner's alone)
        assert saved.stat().st_mode & 0o777 == 0o600
    # Without a file, the keys set in code (what no setter set: the manual's default, written)
    bare = cmcc.MM7Config()
    bare.set("mmscIP", ["192.120.231.180"])
    bare.save(tmp_path / "bare.xml")
    assert cmcc.MM7Config(tmp_path / "bare.xml").get("mmscIP") == ["192.120.231.180"]
    assert cmcc.MM7Config(tmp_path / "bare.xml").get("TimeOut") == 90_000
    config.save()  # (by default over the file read)
    assert cmcc.MM7Config(config.path).get("ListenPort") == 9090


def test_mmcontenttype_has_the_sdks_setters_and_constants_stay_as_they_are(tmp_path):
    """The SDK's MMContentType had setPrimaryType, setSubType and setParameter (and lock(), which
    stopped none of them: a parameter set on a shared constant went with every part of that type)."""
    ct = cmcc.MMContentType()
    ct.primary_type, ct.sub_type = "text", "plain"
    ct.set_parameter("charset", "GB2312")
    assert str(ct) == "text/plain; charset=GB2312" and ct == "TEXT/plain;charset=GB2312" and ct != "text/plain"
    assert ct.match("text/plain; charset=UTF-8") and not ct.match(cmcc.ContentType.XML)
    ct.set_parameter("charset", None)
    assert ct.parameter_list == {} and ct == cmcc.ContentType.TEXT
    ct.set_parameter("name", 'say "hi"; now.txt')  # (written quoted and escaped: it reads back the same)
    assert cmcc.MMContentType(str(ct)).get_parameter("name") == 'say "hi"; now.txt'
    ct.set_parameter("name", None)
    assert ct.lock() is ct and ct.is_locked
    with pytest.raises(TypeError, match="locked"):
        ct.set_parameter("charset", "GBK")
    for change in (lambda: cmcc.ContentType.TEXT.set_parameter("charset", "GBK"),
                   lambda: setattr(cmcc.ContentType.GIF, "sub_type", "png")):
        with pytest.raises(TypeError, match="locked"):
            change()
    # A part given a constant holds its own copy: its setters change that part alone.
    a, b = cmcc.MMContent.create_from_string("甲"), cmcc.MMContent.create_from_string("乙")
    a.content_type.set_parameter("charset", "GBK")
    assert a.text_charset() == "GBK" and b.text_charset() is None and cmcc.ContentType.TEXT.parameter_list == {}
    assert a.to_part().charset == "GBK" and a.to_part().data == "甲".encode("gbk")
    gif = cmcc.MMContent.create_from_bytes(b"GIF89a")
    gif.content_type = cmcc.ContentType.GIF
    gif.content_type.sub_type = "png"  # (the SDK's getContentType().setSubType("png"))
    assert gif.to_part().content_type == "image/png" and cmcc.ContentType.GIF == "image/gif"
    # Still taken where a string goes: the core's Part keeps it as its string.
    assert mm7.Part.from_bytes(b"GIF89a", cmcc.ContentType.GIF).content_type == "image/gif"
    with pytest.raises(TypeError, match="string or an MMContentType"):
        gif.content_type = 5


def test_message_class_in_any_case_and_numbers_outside_the_manuals_said_as_such(tmp_path):
    """The SDK sent setMessageClass's text as written: "personal" went out so, which the schema's list
    (Personal, Informational, Advertisement, Auto) does not hold; here it goes as the schema spells it.
    A priority or charged party outside the manual's numbers was a bare KeyError: 5 in the -106."""
    with FakeServer() as srv:
        sender = cmcc.MM7Sender(cmcc_config(tmp_path, srv.url, ReSendCount="0"))
        for given, sent in (("personal", b"<MessageClass>Personal</MessageClass>"),
                            (" ADVERTISEMENT ", b"<MessageClass>Advertisement</MessageClass>"),
                            (cmcc.MessageClass.AUTO, b"<MessageClass>Auto</MessageClass>")):
            assert sender.send(submit_req(message_class=given)).status_code == 1000
            assert sent in srv.requests[-1].body
        for field, value, words in (("priority", 5, "0 (low), 1 (normal) or 2 (high)"),
                                    ("priority", True, "0 (low)"), ("charged_party", 7, "4 (ThirdParty)")):
            res = sender.send(submit_req(**{field: value}))
            assert res.status_code == -106 and f"{field} {value!r} is none of the manual's numbers" in res.status_detail
            assert words in res.status_detail
        assert sender.send(submit_req(message_class="Private")).status_code == -106  # (no such class: the schema's)


def test_an_mmcontent_field_set_under_its_java_name_is_refused_not_kept_unsent():
    """content.ContentID = "1.gif" (or the SDK's setPresentionContent, as an attribute) was kept beside
    the real field and never sent: the part went without its id. Refused, naming the field."""
    part = cmcc.MMContent.create_from_bytes(b"GIF89a")
    for name, says in (("ContentID", "the field is content_id"), ("contentType", "the field is content_type"),
                       ("contentLocation", "the field is content_location"),
                       ("presention_content", "add_sub_content"), ("content_typ", "did you mean content_type")):
        with pytest.raises(AttributeError, match=says):
            setattr(part, name, "1.gif")
    part.content_id, part.content_type, part.charset = "1.gif", "image/gif", None
    assert part.to_part().content_id == "1.gif"

    class Mine(cmcc.MMContent):  # (a subclass's own attributes are its own)
        def __init__(self):
            super().__init__()
            self.note = "kept"

    assert Mine().note == "kept"


@pytest.mark.parametrize("timeout", [float("inf"), 1e10])
def test_a_receivers_join_without_end_waits_until_it_is_stopped(timeout, tmp_path):
    """join(timeout=inf) or 1e10 (past what a thread's join holds) raised an OverflowError at once,
    where the manual's `for(;;);` waits: it waits, without a limit, until the receiver is stopped."""
    receiver = cmcc.MM7Receiver(cmcc.MM7Config(mm7config(tmp_path, ListenPort="0", AuthenticationMode="0")))
    receiver.start()
    got = []
    try:
        waiter = threading.Thread(target=lambda: got.append(receiver.join(timeout=timeout)), daemon=True)
        waiter.start()
        waiter.join(0.2)
        assert waiter.is_alive() and got == []  # (still waiting, not ended by an error)
        with pytest.raises(ValueError, match="^timeout must be a number of seconds"):
            receiver.join(timeout=float("nan"))
        receiver.stop()
        waiter.join(10)
        assert got == [True]
    finally:
        receiver.stop()


def test_a_submit_without_its_enterprise_code_goes_as_the_sdk_sent_it_saying_so(tmp_path, caplog):
    """The manual's "required" SP code (setVASPID): the SDK printed "SP代码VASPID不许为空！" and sent a
    SubmitReq without one all the same — the manual's own §4.2.5 example sets none. It was refused
    here as -106, so that example failed as written: it goes, with the SDK's words in the log. A
    blank one (it would go as an empty element, the code of no SP) is still -106, nothing sent."""
    caplog.set_level(logging.WARNING, logger="mm7bind.cmcc")
    with FakeServer() as srv:
        sender = cmcc.MM7Sender(cmcc_config(tmp_path, srv.url))
        for vaspid in ("", " \t"):
            req = submit_req()
            req.vaspid = vaspid
            res = sender.send(req)
            assert isinstance(res, cmcc.MM7RSErrorRes) and res.status_code == -106, res
            assert "VASPID (企业代码) blank" in res.status_detail
        for other in (cmcc.MM7CancelReq(vaspid=" ", message_id="m-1"), cmcc.MM7ReplaceReq(vaspid="", message_id="m-1")):
            assert sender.send(other).status_code == -106
        assert srv.requests == []
        caplog.clear()
        for _ in range(2):
            unset = submit_req()
            unset.vaspid = None
            assert isinstance(sender.send(unset), cmcc.MM7SubmitRes)
        said = [r.getMessage() for r in caplog.records if r.name == "mm7bind.cmcc" and r.levelno == logging.WARNING]
        assert len(said) == 1 and said[0].startswith(
            "SubmitReq without a VASPID (SP代码VASPID不许为空！, as the SDK said): sent as it is"), said
        assert len(srv.requests) == 2 and b"<VASPID>" not in srv.requests[0].body
        sender.send(submit_req())
        assert b"<VASPID>801234</VASPID>" in srv.requests[2].body


def test_the_manuals_send_example_works_as_written(tmp_path):
    """§4.2.5, ported line by line: mm7Config.xml and ConnConfig.xml, an MM7Sender, a SubmitReq with
    TransactionID 11111111, one addTo, VASID 1234, ServiceCode 123 and Subject 测试 (no VASPID, no
    SenderAddress), MULTIPART_MIXED content of a GIF from a file (ContentID 1.gif) and a text
    (2.txt), sent, and its status read from the MM7SubmitRes."""
    (tmp_path / "f").mkdir()
    gif = tmp_path / "f" / "yellow.gif"
    gif.write_bytes(b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff,\x00\x00\x00\x00\x01\x00\x01\x00"
                    b"\x00\x02\x02D\x01\x00;")
    conn = tmp_path / "ConnConfig.xml"
    conn.write_text("<connection><KeepAlive>on</KeepAlive><MaxKeepAliveRequests>30</MaxKeepAliveRequests>"
                    "<ServerMaxKeepAlive>30</ServerMaxKeepAlive><MinKeepAliveRequests>1</MinKeepAliveRequests>"
                    "<KeepAliveTimeout>50000</KeepAliveTimeout><step>1</step></connection>", encoding="utf-8")
    with FakeServer() as srv:
        mm7_config = cmcc_config(tmp_path, srv.url)
        mm7_config.set_conn_config_name(conn)
        mm7_sender = cmcc.MM7Sender(mm7_config)
        submit = cmcc.MM7SubmitReq()
        submit.transaction_id = "11111111"
        submit.add_to("13915002000")
        submit.vasid = "1234"
        submit.service_code = "123"
        submit.subject = "测试"
        content = cmcc.MMContent()
        content.content_type = cmcc.MMConstants.ContentType.MULTIPART_MIXED
        sub1 = cmcc.MMContent.create_from_file(str(gif))
        sub1.content_id = "1.gif"
        sub1.content_type = cmcc.MMConstants.ContentType.GIF
        content.add_sub_content(sub1)
        sub2 = cmcc.MMContent.create_from_string("This is a Test2!")
        sub2.content_id = "2.txt"
        sub2.content_type = cmcc.MMConstants.ContentType.TEXT
        content.add_sub_content(sub2)
        submit.content = content
        res = mm7_sender.send(submit)
        assert isinstance(res, cmcc.MM7SubmitRes), res
        assert res.status_code == 1000 and res.status_text and res.transaction_id == "11111111"
        [sent] = srv.requests
        msg = mm7.decode(sent.body, sent.headers["Content-Type"]).body
        assert (msg.vaspid, msg.vasid, msg.service_code, msg.subject) == (None, "1234", "123", "测试")
        assert [str(a) for a in msg.recipients.to] == ["13915002000"]
        assert [(p.content_id, p.content_type) for p in msg.content.parts] == [("1.gif", "image/gif"),
                                                                              ("2.txt", "text/plain")]
        assert msg.content.parts[1].text_value == "This is a Test2!"


def test_a_submit_without_its_service_or_business_code_goes_as_the_sdk_sent_it_saying_so(tmp_path, caplog):
    """VASID and ServiceCode, "required" in the manual (§4.2.2.1): the SDK's encoder printed
    "服务代码VASID不许为空！" and "业务代码ServiceCode不许为空！" and sent the message all the same. So
    does the layer, saying those words in the log, once per sender: nothing was said. SenderAddress and
    ChargedPartyID, "required" too, the SDK sent without a word, and so does this."""
    caplog.set_level(logging.WARNING, logger="mm7bind.cmcc")

    def warnings() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name == "mm7bind.cmcc" and r.levelno == logging.WARNING]

    with FakeServer() as srv:
        sender = cmcc.MM7Sender(cmcc_config(tmp_path, srv.url))
        caplog.clear()
        assert sender.send(submit_req()).status_code == 1000  # (no sender_address nor charged_party_id: not a word)
        assert warnings() == []
        for _ in range(2):
            bare = submit_req()
            bare.vasid, bare.service_code, bare.sender_address = None, " ", None
            assert isinstance(sender.send(bare), cmcc.MM7SubmitRes)
        said = warnings()
        assert len(said) == 2, said
        assert said[0].startswith("SubmitReq without a VASID (服务代码VASID不许为空！, as the SDK said): sent as it is")
        assert said[1].startswith("SubmitReq without a ServiceCode (业务代码ServiceCode不许为空！, as the SDK said)")
        assert len(srv.requests) == 3 and b"<VASID>" not in srv.requests[1].body
        # Another sender says it again (its log may be another MMSC's).
        caplog.clear()
        cmcc.MM7Sender(sender.config).send(bare)
        assert [w.split(" (")[0] for w in warnings()] == ["SubmitReq without a VASID", "SubmitReq without a ServiceCode"]


def test_a_recipient_given_as_a_string_is_one_recipient_not_one_per_digit(tmp_path):
    """The SDK's setTo/setCc/setBcc took a List; `to=deliver_req.sender`, one number as a str, was
    split into its characters, and the Submit went to eleven one-digit "numbers". It is one recipient,
    and add_to/add_cc add to it; None is none (-106: no recipient)."""
    with FakeServer() as srv:
        sender = cmcc.MM7Sender(cmcc_config(tmp_path, srv.url))
        req = cmcc.MM7SubmitReq(vaspid="801234", vasid="8888", service_code="111201", to="13900000000")
        req.cc = cmcc.DisplayOnly("13800000000")
        req.add_cc("13700000000")
        assert (req.to, req.cc) == (["13900000000"], ["13800000000", "13700000000"])
        assert sender.send(req).status_code == 1000
        [sent] = srv.requests
        sent_to = mm7.decode(sent.body, sent.headers["Content-Type"]).body.recipients
        assert [(a.value, a.display_only) for a in sent_to.to + sent_to.cc] == [
            ("13900000000", False), ("13800000000", True), ("13700000000", False)]
        res = sender.send(cmcc.MM7SubmitReq(vaspid="801234", to=None))
        assert res.status_code == -106 and "Recipients is required" in res.status_detail and len(srv.requests) == 1


def test_config_check_speaks_of_the_enterprise_code_for_china_mobile(tmp_path):
    """`config check` said nothing of a missing or malformed VASPID under the cmcc dialects, whose
    MMSC answers 4001 without a right one; mm7Config.xml has none to check (the SDK set it on each
    request), and the standard dialect's optional one is not asked for."""
    from mm7bind import config

    def said(text: str) -> list[str]:
        (tmp_path / "c.toml").write_text('[mmsc]\nurls = ["http://127.0.0.1:9/mm7"]\n' + text, encoding="utf-8")
        _, problems = config.load(tmp_path / "c.toml", env={})
        return [str(p) for p in problems if p.where == "vasp.vaspid"]

    for dialect in ("cmcc", "cmcc-sdk"):
        assert said(f'dialect = "{dialect}"\n') == [
            "warning: vasp.vaspid: not set: China Mobile requires the enterprise code (VASPID) in every SubmitReq, "
            "so each message must carry one or the MMSC answers 4001"]
        assert said(f'dialect = "{dialect}"\n[vasp]\nvaspid = "12345"\n') == [
            "warning: vasp.vaspid: enterprise code '12345' must be 6 digits [2.1-six-digits]"]
        assert said(f'dialect = "{dialect}"\n[vasp]\nvaspid = "801234"\n') == []
    assert said("") == [] and said('[vasp]\nvaspid = "ACME"\n') == []
    assert [str(p) for p in read_cmcc(mm7config(tmp_path))[1] if "vaspid" in p.where.lower()] == []


def test_text_in_the_configuration_s_gb2312_with_a_character_gbk_reads_otherwise_goes_in_utf_8():
    """The configuration's GB2312 wrote U+2015 and U+30FB as bytes GBK readers (most handsets, and
    mm7bind) read as U+2014 and U+00B7: such text goes in UTF-8, as text GB2312 cannot hold does."""
    for text in ("甲―乙", "甲・乙"):
        part = cmcc.MMContent.create_from_string(text).to_part("GB2312")
        assert part.charset.lower() == "utf-8" and part.text_value == text
    plain = cmcc.MMContent.create_from_string("甲乙").to_part("GB2312")
    assert plain.charset.lower() == "gb2312" and plain.text_value == "甲乙"
    with pytest.raises(mm7.EncodeError, match="U\\+2015"):
        cmcc.MMContent.create_from_string("甲―乙", charset="GB2312")


def test_a_send_in_hand_ends_on_its_client_when_set_config_replaces_it(tmp_path):
    """set_config closed the client it replaced at once: a send another thread had begun on it
    ended in "the Client is closed", an exception the API does not name, where it would have had
    its answer. The old client is closed once its last send ends."""
    arrived, release = threading.Event(), threading.Event()

    def answer(req):
        if not arrived.is_set():
            arrived.set()
            release.wait(30)  # (the first request's answer held back until the configuration changed)
        return default_responder(req)

    with FakeServer(answer) as srv:
        sender = cmcc.MM7Sender(cmcc_config(tmp_path, srv.url, ReSendCount="0", TimeOut="30000"), errors="raise")
        first = sender.client
        results = []
        worker = threading.Thread(target=lambda: results.append(sender.send(submit_req())))
        worker.start()
        assert arrived.wait(10)
        try:
            (tmp_path / "new").mkdir()
            sender.set_config(cmcc_config(tmp_path / "new", srv.url, ReSendCount="0"))
            assert sender.client is not first and not first._closed  # (still sending)
        finally:
            release.set()
        worker.join(30)
        assert [r.status_code for r in results] == [1000]
        assert first._closed  # (its last send ended: closed then)
        assert sender.send(submit_req()).status_code == 1000  # (on the new one)
        sender.close()


def test_times_given_as_text_go_as_the_times_they_write_or_are_refused_saying_so(tmp_path):
    """The SDK's time setters took a Date or a long; a port passing text, as the manual writes a time
    (§4.2.2.1: "2004-02-09T10:21:07"), had it passed on unread: a TimeStamp went without its zone
    (a datetime goes with the local one), an ExpiryDate failed as int("2026-…") and "20261201" went
    as 234 days from now. Text is read as the time it writes — the same on the wire as the datetime —
    or an MM7 duration where a relative time goes; anything else is -106 naming the field."""
    def sent(req) -> dict[str, str]:
        body = mm7.encode(req.to_message(), transaction_id="t", profile=CMCC).to_bytes().decode("latin-1")
        return dict(re.findall(r"<(TimeStamp|ExpiryDate|EarliestDeliveryTime)>([^<]*)<", body))

    as_text = sent(submit_req(time_stamp="2004-02-09T10:21:07", expiry_date=" 2026-12-01T10:00:00 ",
                              earliest_delivery_time="P1D"))
    as_values = sent(submit_req(time_stamp=datetime(2004, 2, 9, 10, 21, 7), expiry_date=datetime(2026, 12, 1, 10),
                                earliest_delivery_time=timedelta(days=1)))
    assert as_text == as_values and as_text["EarliestDeliveryTime"] == "P1D"
    # (with a zone: the local time the text wrote, as a datetime without one is)
    assert datetime.fromisoformat(as_text["TimeStamp"]) == datetime(2004, 2, 9, 10, 21, 7).astimezone()
    zoned = sent(submit_req(expiry_date="2026-12-01T02:00:00Z"))
    assert zoned == sent(submit_req(expiry_date=datetime(2026, 12, 1, 2, tzinfo=timezone.utc)))
    replace = cmcc.MM7ReplaceReq(message_id="m-1", time_stamp="2004-02-09T10:21:07", earliest_delivery_time="PT2H")
    assert sent(replace) == {"TimeStamp": as_text["TimeStamp"], "EarliestDeliveryTime": "PT2H"}
    with FakeServer() as srv:
        sender = cmcc.MM7Sender(cmcc_config(tmp_path, srv.url))
        for given, said in (({"expiry_date": "tomorrow"}, "expiry_date 'tomorrow' is no time"),
                            ({"expiry_date": "20261201"}, r"seconds from now are an int"),
                            ({"reply_charging": True, "reply_deadline": "2004-02-09 10:21:07"}, "reply_deadline"),
                            ({"time_stamp": "P1D"}, "time_stamp 'P1D' is no time"),
                            ({"earliest_delivery_time": "2004-02-30T10:00:00"}, "earliest_delivery_time")):
            res = sender.send(submit_req(**given))
            assert isinstance(res, cmcc.MM7RSErrorRes) and res.status_code == -106, (given, res)
            assert re.search(said, res.status_detail), (said, res.status_detail)
        assert srv.requests == []


def test_the_apis_own_errors_carry_the_sdks_words_beside_the_manuals(tmp_path):
    """`status_text` of the API's own codes is the manual's §7 words (the contract: 接收失败); the SDK
    wrote its own into StatusText, and so into its logs ([Comments={-102;接收失败！}]), which an SP's
    log watch matches: `status_text_sdk` has them, and `text_sdk` on each error class. The MMSC's
    own text is the same in both, as the SDK passed it on."""
    assert {code: cls.text_sdk for code, cls in cmcc.API_ERRORS.items()} == {
        -100: "系统错误！", -101: "超时发送失败！", -102: "接收失败！", -103: "没有返回正确的消息", -104: "Socket不通！",
        -105: "待发送的消息为空!", -106: "没有匹配的消息，请确认要发送的消息是否正确！", -107: "错误！接收到的消息为空！",
        -108: "Bad Request", -109: "XML解析错误！", -110: "Server could not fulfill the request", -111: "Server error",
        -113: "消息内容的尺寸超出允许发送的大小！"}
    assert cst.ReadTimeout.text_sdk == "接收失败！"  # (a timeout reached the SP as the SDK's -102)

    def refusing(req):
        env = req.decode()
        return mm7_reply(mm7.Fault(code="Client", detail=mm7.RSErrorRsp(status=mm7.Status(2002, "号码错误"))), env, 500)

    with FakeServer(lambda req: Reply(500, b"")) as empty, FakeServer(refusing) as refuses:
        sender = cmcc.MM7Sender(cmcc_config(tmp_path, empty.url, ReSendCount="0"))
        results = [sender.send(None), sender.send(cmcc.MM7DeliverRes()), sender.send(submit_req())]
        sender.set_config(cmcc_config(tmp_path, refuses.url, ReSendCount="0"))
        results.append(sender.send(submit_req()))
    assert [(r.status_code, r.status_text, r.status_text_sdk) for r in results] == [
        (-105, "待发送的消息为空", "待发送的消息为空!"), (-106, "发送消息不正确", "没有匹配的消息，请确认要发送的消息是否正确！"),
        (-107, "接收消息为空", "错误！接收到的消息为空！"), (2002, "号码错误", "号码错误")]
    assert cmcc.MM7SubmitRes(status_code=1000, status_text="成功").status_text_sdk == "成功"


def test_sub_contents_found_by_location_and_id_as_the_sdk_found_them_and_as_a_smil_names_them(tmp_path):
    """The SDK's getSubContentByLocation / getSubContentByID gave the first sub-content whose header
    was the string given. Parts of one Content-Location (two handsets' "a.txt"): the first, in the
    order they came. A received location is read back as the name it spells ("新.gif"), so the URL
    a SMIL `src` writes ("%E6%96%B0.gif", the header as the SDK kept it) must find it too, as must a
    `cid:` URL its Content-ID; and a Content-ID in raw GBK bytes is read as the name it spells."""
    from .test_receiver import call_wsgi, deliver

    gif = b"GIF89a" + bytes(10)
    parts = [mm7.Part.from_bytes("一".encode("gb2312"), "text/plain", charset="GB2312", content_location="a.txt"),
             mm7.Part.from_bytes("二".encode("gb2312"), "text/plain", charset="GB2312", content_location="b.txt"),
             mm7.Part.from_bytes(gif, "image/gif", content_location="新.gif", content_id="n"),
             mm7.Part.from_bytes(gif + b"2", "image/gif", content_id="图.gif")]
    out = mm7.encode(deliver(content=mm7.Content(parts=parts)), transaction_id="mo-1", version="REL-6-MM7-1-0")
    body = out.to_bytes()
    assert b"Content-Location: %E6%96%B0.gif" in body and b"<%E5%9B%BE.gif>" in body
    # as a GBK peer sends them: two parts of one location, a Content-ID in GBK bytes
    body = body.replace(b"Content-Location: b.txt", b"Content-Location: a.txt")
    body = body.replace(b"<%E5%9B%BE.gif>", "<图.gif>".encode("gbk"))
    got = []

    class Servlet(cmcc.MM7ReceiveServlet):
        def do_deliver(self, req):
            got.append(req.content)
            return cmcc.MM7DeliverRes()

    app = Servlet(cmcc.MM7Config(mm7config(tmp_path, AuthenticationMode="0")))
    assert call_wsgi(app, body, out.content_type)["status"] == 200
    [content] = got
    smil, first, second, new, picture = content.sub_contents  # (the SMIL the encoder made, first)
    assert smil.content_type == cmcc.ContentType.SMIL
    assert first.content_location == second.content_location == "a.txt"
    assert content.get_sub_content_by_location("a.txt") is first and first.content_as_string == "一"
    assert new.content_location == "新.gif"
    assert content.get_sub_content_by_location("新.gif") is new
    assert content.get_sub_content_by_location("%E6%96%B0.gif") is new  # as a SMIL src writes it
    assert content.get_sub_content_by_location("%E6%96%B0.jpg") is None
    assert picture.content_id == "图.gif" and picture.content == gif + b"2"
    for named in ("图.gif", "<图.gif>", "cid:图.gif", "cid:%E5%9B%BE.gif"):
        assert content.get_sub_content_by_id(named) is picture, named
    assert content.get_sub_content_by_id("cid:n") is new and content.get_sub_content_by_id("cid:x") is None
    assert content.get_sub_content_by_id(None) is None and content.get_sub_content_by_location(None) is None
    assert content.get_sub_content_by_location("") is None and content.get_sub_content_by_id("") is None
    # saved under the name it spells; forwarded, the Content-ID goes on as that name
    content.to_content().save(tmp_path / "saved")
    assert sorted(p.name for p in (tmp_path / "saved").iterdir()) == ["a-2.txt", "a.txt", "presentation.smil", "图.gif",
                                                                      "新.gif"]


def test_a_part_without_a_type_takes_it_from_its_content_id_written_with_angle_brackets_too():
    """§4.3: a part may leave out its ContentType when it has a ContentID, whose extension gives it.
    An id given as the header writes it, "<2.txt>" (the SDK wrote setContentID's string as the
    header, brackets and all, so SPs wrote them), is the id "2.txt" wherever the id is used; its
    text went as application/octet-stream, which a handset does not show."""
    root = cmcc.MMContent()
    root.content_type = cmcc.ContentType.MULTIPART_MIXED
    for cid, data in (("<2.txt>", b"plain words"), ("<3.txt>", "中文".encode("gbk")), ("4.txt", b"bare id")):
        sub = cmcc.MMContent.create_from_bytes(data)
        sub.content_id = cid
        root.add_sub_content(sub)
    parts = root.to_content("GB2312").parts
    assert [p.content_type for p in parts] == ["text/plain"] * 3
    assert [p.content_id for p in parts] == ["2.txt", "3.txt", "4.txt"]
    assert parts[1].charset.lower() in ("gb2312", "gbk") and parts[1].text_value == "中文"


def test_a_part_named_in_chinese_goes_with_an_ascii_content_id_its_smil_and_lookups_still_find(tmp_path):
    """The SDK let SPs name parts in Chinese; a header is ASCII on the wire (a GBK-only MMSC
    garbles UTF-8). The id goes as its UTF-8 bytes percent-encoded, the SMIL's `cid:` URL of it as
    that same string (handsets compare them as written), and a reader finds the part by the name
    it spells, by the URL, and by the header as sent. A Content-Location goes as its URL alike."""
    gif = b"GIF89a" + bytes(10)
    root = cmcc.MMContent()
    root.content_type, root.content_id = cmcc.ContentType.MULTIPART_RELATED, "内容"
    smil = cmcc.MMContent.create_from_string('<smil><body><par><img src="cid:图.gif"/><text src=\'cid:文%.txt\'/>'
                                             '<img src="新.gif"/><img src="图.gif"/><img src="http://x/图.gif"/>'
                                             '</par></body></smil>', "UTF-8")
    smil.content_type, smil.content_id = cmcc.ContentType.SMIL, "start.smil"
    picture = cmcc.MMContent.create_from_bytes(gif)
    picture.content_type, picture.content_id = cmcc.ContentType.GIF, "图.gif"
    text = cmcc.MMContent.create_from_string("你好", "GB2312")
    text.content_type, text.content_id = cmcc.ContentType.TEXT, "文%.txt"
    located = cmcc.MMContent.create_from_bytes(gif + b"2")
    located.content_type, located.content_location = cmcc.ContentType.GIF, "新.gif"
    for sub in (smil, picture, text, located):
        root.add_sub_content(sub)
    with FakeServer() as srv:
        sender = cmcc.MM7Sender(cmcc_config(tmp_path, srv.url))
        assert sender.send(submit_req(content=root)).status_code == 1000
        [request] = srv.requests
    head_lines = [line for line in request.body.split(b"\r\n") if line.lower().startswith(b"content-")]
    assert all(line.isascii() for line in head_lines), [line for line in head_lines if not line.isascii()]
    assert b"Content-ID: <%E5%9B%BE.gif>" in request.body and b"Content-ID: <%E6%96%87%25.txt>" in request.body
    assert b"Content-Location: %E6%96%B0.gif" in request.body
    # the caller's parts keep their names
    assert picture.content_id == "图.gif" and root.content_id == "内容"
    content = request.decode().body.content
    sent_smil = content.smil.text_value
    assert 'src="cid:%E5%9B%BE.gif"' in sent_smil and "src='cid:%E6%96%87%25.txt'" in sent_smil
    # a bare id (no part has it as a location) as its header, as a location is; a URL elsewhere as it was
    assert 'src="%E5%9B%BE.gif"' in sent_smil and 'src="%E6%96%B0.gif"' in sent_smil
    assert 'src="http://x/图.gif"' in sent_smil
    assert content.by_reference("cid:%E5%9B%BE.gif").content_id == "%E5%9B%BE.gif"
    assert content.by_id("图.gif").data == gif and content.by_id("cid:文%25.txt").text_value == "你好"
    assert content.by_reference("新.gif").data == gif + b"2" and not mm7.content.unresolved_references(content)
    received = cmcc.MMContent.from_content(content)
    for named in ("图.gif", "<图.gif>", "cid:%E5%9B%BE.gif", "%E5%9B%BE.gif"):
        assert received.get_sub_content_by_id(named).content == gif, named
    assert received.get_sub_content_by_id("文%.txt").content_as_string == "你好"
    assert received.get_sub_content_by_location("新.gif").content == gif + b"2"


def test_a_lookup_by_location_or_id_finds_the_exact_one_before_one_spelt_the_other_way():
    """A name ("新.gif") or a URL ("%E6%96%B0.gif") finds a part of exactly that location (or id)
    first, wherever it is among the parts; only when none has it, the one spelt the other way."""
    def part(location=None, content_id=None):
        sub = cmcc.MMContent.create_from_bytes(b"GIF89a")
        sub.content_location, sub.content_id = location, content_id
        return sub

    root = cmcc.MMContent()
    url, name = part(location="%E6%96%B0.gif"), part(location="新.gif")
    for sub in (url, name):
        root.add_sub_content(sub)
    assert root.get_sub_content_by_location("新.gif") is name
    assert root.get_sub_content_by_location("%E6%96%B0.gif") is url
    alone = cmcc.MMContent()
    alone.add_sub_content(url)
    assert alone.get_sub_content_by_location("新.gif") is url  # the URL spells that name
    assert alone.get_sub_content_by_location("%E6%96%B0.jpg") is None
    ids = cmcc.MMContent()
    sent, named = part(content_id="%E5%9B%BE.gif"), part(content_id="图.gif")
    for sub in (sent, named):
        ids.add_sub_content(sub)
    assert ids.get_sub_content_by_id("图.gif") is named and ids.get_sub_content_by_id("<%E5%9B%BE.gif>") is sent
    only_sent = cmcc.MMContent()
    only_sent.add_sub_content(sent)
    assert only_sent.get_sub_content_by_id("图.gif") is sent


def test_an_error_status_in_the_operations_own_response_keeps_the_peers_words(tmp_path):
    """A SubmitRsp (not a Fault) saying 2002 in the MMSC's own words: the result carries its code,
    text and details as sent, the manual's Chinese for the code beside them (`status_text_zh`)."""
    def refused(req):
        return mm7_reply(mm7.SubmitRsp(message_id="m1", status=mm7.Status(2002, "号码不对", details="13800")),
                         req.decode())

    with FakeServer(refused) as srv:
        res = cmcc.MM7Sender(cmcc_config(tmp_path, srv.url)).send(submit_req())
    assert isinstance(res, cmcc.MM7SubmitRes) and (res.status_code, res.status_text, res.status_detail) == (
        2002, "号码不对", "13800")
    assert res.status_text_zh == "地址错误" and res.status_text_sdk == "号码不对" and res.message_id == "m1"


def test_a_log_path_or_a_port_no_system_takes_is_an_error_naming_its_element(tmp_path):
    """A LogPath longer than a file name can be ended the reading with an OSError from the check of
    its folder, an mmscIP's port of thousands of digits with int()'s ValueError (past 4300 digits)."""
    cfg, problems = read_cmcc(mm7config(tmp_path, LogPath="/" + "x" * 5000))
    assert [(p.where, p.message.endswith("cannot be a file name: longer than this system takes"))
            for p in problems if p.level == "error"] == [("mm7Config.xml:LogPath", True)]
    cfg, problems = read_cmcc(mm7config(tmp_path, mmscIP=["10.0.0.1:" + "9" * 5000]))
    assert [p.where for p in problems if p.level == "error"] == ["mm7Config.xml:mmscIP"]


def test_a_receiver_that_cannot_listen_says_where_which_settings_and_why(tmp_path):
    """A receiver whose file names another machine's ListenIP (the production server's, copied) or a
    port another program holds (the SDK's receiver, still running) failed with a bare "[Errno 99]
    Cannot assign requested address": no address, no setting. Said, with the settings of the file
    that name the place; still an OSError of its errno (a PermissionError for a privileged port)."""
    import errno
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        path = mm7config(tmp_path, ListenPort=str(port), AuthenticationMode="0")
        receiver = cmcc.MM7Receiver(cmcc.MM7Config(path))
        with pytest.raises(OSError) as err:
            receiver.start()
        assert err.value.errno == errno.EADDRINUSE and receiver.server is None
        said = str(err.value)
        assert f"cannot listen on 127.0.0.1:{port} (ListenIP and ListenPort of {path})" in said
        assert "another program listens there" in said and "ListenPort" in said
        with pytest.raises(OSError, match=rf"127\.0\.0\.1:{port} \(ListenIP of .*, the rest given to start\(\)\)"):
            receiver.start(port=port)
    # (TEST-NET-3: no machine's own address)
    receiver = cmcc.MM7Receiver(cmcc.MM7Config(mm7config(tmp_path, ListenIP="203.0.113.7", ListenPort="0",
                                                         AuthenticationMode="0")))
    with pytest.raises(OSError) as err:
        receiver.start()
    assert err.value.errno == errno.EADDRNOTAVAIL
    assert "cannot listen on 203.0.113.7:" in str(err.value) and "as ListenIP" in str(err.value)
    receiver.start(host="127.0.0.1")  # (what it says to do works)
    receiver.stop()


def test_what_the_common_checks_find_in_the_files_is_said_by_their_elements(tmp_path):
    """The checks shared with TOML configurations named their settings and variables — "receiver.port:
    70000 is not a port number", "receiver.username: auth = 'basic' needs a username", "(MM7BIND_MMSC_PASSWORD
    not set?)" — which an SP with mm7Config.xml has never seen: said by the file's elements, in its words."""
    def said(**values):
        return [str(p) for p in read_cmcc(mm7config(tmp_path, mmscURL="/mm7", **values))[1]]

    assert "error: mm7Config.xml:ListenPort: 70000 is not a port number" in said(ListenPort="70000")
    assert ("error: mm7Config.xml:ListenIP: 'nosuch.invalid' is neither an IP address nor a name this machine "
            "resolves") in said(ListenIP="nosuch.invalid")
    assert said(AuthenticationMode="1", UserName="", Password="") == [
        "error: mm7Config.xml:UserName: AuthenticationMode 1 (Basic) needs a UserName (and Password), which the "
        "MMSC must give"]
    assert said(UserName="")[0] == "error: mm7Config.xml:UserName: a Password is set without a UserName"
    no_password = said(Password="")
    assert "warning: mm7Config.xml:Password: a UserName is set without a Password: an empty one is sent" in no_password
    assert ("warning: mm7Config.xml:Password: AuthenticationMode 2 (Digest) with an empty Password: anyone who knows "
            "the UserName is let in") in no_password
    open_receiver = said(AuthenticationMode="0", ListenIP="10.1.1.1")
    assert "warning: mm7Config.xml:mmscIP: Basic credentials over plain http can be read on the way: " \
           "http://192.120.231.180/mm7, http://192.120.231.181:8080/mm7" in open_receiver
    assert any(p.startswith("warning: mm7Config.xml:AuthenticationMode: 0 lets in whoever reaches the receiver")
               for p in open_receiver)
    assert not [p for p in said(ListenPort="70000", UserName="", AuthenticationMode="0", ListenIP="10.1.1.1")
                if re.search(r"(mmsc|receiver)[.:]|MM7BIND_", p)]


def test_an_mmcontenttype_method_called_under_its_java_name_says_its_python_one():
    """The messages, MMContent and the configuration said the Python name of a Java one called as
    ported (`part.getContentType()`); the MMContentType it gives did not: `ct.getPrimaryType()` was a
    bare AttributeError. Said as theirs are; copies and pickles are unaffected."""
    ct = cmcc.MMContentType("text/plain;charset=GB2312")
    for java, python in (("getPrimaryType", "read the field: .primary_type"),
                         ("setSubType", "set the field: .sub_type = value"),
                         ("getParameterList", "read the field: .parameter_list"),
                         ("getParameter", "it is get_parameter"), ("setParameter", "it is set_parameter"),
                         ("isLock", "read the field: .is_locked")):
        with pytest.raises(AttributeError, match=rf"^MMContentType has no {java} \({re.escape(python)}\)$"):
            getattr(ct, java)
    with pytest.raises(AttributeError, match=r"^MMContentType has no nonsense$"):
        ct.nonsense  # noqa: B018
    assert copy.deepcopy(ct) == ct and pickle.loads(pickle.dumps(ct)) == ct
    assert cmcc.ContentType.GIF.copy().get_parameter("charset") is None


def test_a_transaction_id_given_as_a_number_is_that_number_s_answer(tmp_path):
    """An SP's counter as the TransactionID (`req.transaction_id = seq`) went out as its digits and the
    MMSC took the message; its answer, echoing them, was taken for another request's: −111, and an SP
    sending again on it sent the message twice. The number is the TransactionID, as text; what is no
    text nor whole number is −106, nothing sent."""
    with FakeServer() as srv:
        sender = cmcc.MM7Sender(cmcc_config(tmp_path, srv.url, logLevel="0"))
        res = sender.send(submit_req(transaction_id=20040621))
        assert isinstance(res, cmcc.MM7SubmitRes) and res.status_code == 1000, res
        assert res.transaction_id == res.request_transaction_id == "20040621" and not res.deviations
        assert srv.requests[-1].decode().transaction_id == "20040621"
        res = sender.send(cmcc.MM7CancelReq(transaction_id=7, message_id=res.message_id))
        assert isinstance(res, cmcc.MM7CancelRes) and res.transaction_id == "7"
        sent = len(srv.requests)
        for wrong in (1.5, True, ["t-1"]):
            res = sender.send(submit_req(transaction_id=wrong))
            assert res.status_code == -106 and "transaction_id is text" in res.status_detail, res
        assert len(srv.requests) == sent


@pytest.mark.parametrize("field", ["allow_adaptations", "reply_charging"])
@pytest.mark.parametrize("written", ["false", "true", 0])
def test_a_flag_the_layer_reads_given_as_other_than_a_bool_is_refused_not_misread(tmp_path, field, written):
    """`allow_adaptations = "false"` (a value read from a properties file) went out as
    allowAdaptations="true", and `reply_charging = "true"` asked for no reply charging: text is true
    to Python, and these two flags were read by the layer, unchecked, where the codec refuses the
    others (delivery_report = "false" is −106). Refused alike, nothing sent."""
    with FakeServer() as srv:
        sender = cmcc.MM7Sender(cmcc_config(tmp_path, srv.url, logLevel="0"))
        for req in (submit_req(), cmcc.MM7ReplaceReq(message_id="m-1")):
            if not hasattr(req, field):
                continue
            req.content = cmcc.MMContent.create_from_string("x")
            setattr(req, field, written)
            res = sender.send(req)
            assert res.status_code == -106 and f"{field} is True or False" in res.status_detail, res
        assert srv.requests == []


def test_a_flag_left_unset_as_none_is_its_default(tmp_path):
    """None, a field left unset as every other one, went as allowAdaptations="false" (not None is
    true): it is the manual's default, adaptations allowed, and no reply charging asked for."""
    with FakeServer() as srv:
        sender = cmcc.MM7Sender(cmcc_config(tmp_path, srv.url, logLevel="0"))
        req = submit_req(allow_adaptations=None, reply_charging=None, reply_charging_size=1000)
        req.content = cmcc.MMContent.create_from_string("x")
        assert sender.send(req).status_code == 1000
        body = srv.requests[-1].body
        assert b'allowAdaptations="false"' not in body and b"ReplyCharging" not in body


def test_recipients_given_as_a_tuple_or_a_generator_are_a_list(tmp_path):
    """to=("139…",) kept the tuple, and add_to failed on it (no append); to=(… for …) or map(…) was
    read up by the first send, and the same request sent again went to no recipient (−106). They
    are the list the SDK's setTo took."""
    req = submit_req()
    req.to = ("13900000000",)
    req.add_to("13900000001")
    req.cc = (n for n in ["13900000002"])
    req.bcc = map(str, [13900000003])
    assert (req.to, req.cc, req.bcc) == (["13900000000", "13900000001"], ["13900000002"], ["13900000003"])
    with FakeServer() as srv:
        sender = cmcc.MM7Sender(cmcc_config(tmp_path, srv.url, logLevel="0"))
        assert sender.send(req).status_code == 1000 and sender.send(req).status_code == 1000
        assert [len(r.decode().body.recipients) for r in srv.requests] == [4, 4]
