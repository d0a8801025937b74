"""Credentials: they never show — not in logs at any level, error texts, records, answers, reprs or
command output — and wrong ones are said in the log.

Each test sets every credential it can to a value holding SECRET and looks for that word in all
that an operator, a peer or a log collector gets to see."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pytest

import mm7bind as mm7
from mm7bind.display import shown_url
from mm7bind.handlers import ForwardingHandler
from mm7bind.retry import RetryPolicy

from .fake_http import FakeServer, Reply, dead_url, default_responder
from .test_commands import Background, refused_port, run

SECRET = "S3CRET"


def test_shown_url_hides_only_the_password():
    assert shown_url("http://sp:pw%40S3CRET@10.0.0.1:8080/mm7?x=1") == "http://sp:***@10.0.0.1:8080/mm7?x=1"
    assert shown_url("https://sp@mmsc.example/mm7") == "https://sp@mmsc.example/mm7"  # (no password)
    assert shown_url("http://mmsc.example/mm7?from=a@b") == "http://mmsc.example/mm7?from=a@b"
    assert shown_url("http://u:p@S3CRET@[::1/mm7") == "http://***@[::1/mm7"  # (unparsable: all but the host)
    assert shown_url(None) is None


def test_shown_url_hides_a_password_urlsplit_sees_no_authority_for():
    """A URL without its scheme or with one slash (sp:secret@host, as China Mobile's mmscIP and a
    shell's proxy settings write it), or a second URL in one text: urlsplit finds no password, and
    the refusal of the value quoted it whole."""
    assert shown_url(f"sp:pw-{SECRET}@10.0.0.1:8080/mm7") == "sp:***@10.0.0.1:8080/mm7"
    assert shown_url(f"http:/sp:pw-{SECRET}@mmsc/mm7") == "http:/sp:***@mmsc/mm7"
    assert shown_url(f"http://a/mm7, http://sp:p@{SECRET}@b/mm7") == "http://a/mm7, http://sp:***@b/mm7"
    assert shown_url(f"http://sp:{SECRET}@a/mm7,http://b/mm7") == "http://sp:***@a/mm7,http://b/mm7"
    assert shown_url("http://mmsc/mm7?from=a:b@c") == "http://mmsc/mm7?from=a:b@c"  # (a query's, no password)
    assert shown_url("sp@10.0.0.1/mm7") == "sp@10.0.0.1/mm7"


def test_shown_url_hides_the_value_of_a_query_parameter_named_as_a_credential():
    """Gateways that take a token or password in the query (?access_token=, &password=) or a path
    parameter (;jsessionid=): the value is shown as ***, the other parameters as they are."""
    assert shown_url(f"http://mmsc/mm7?user=sp&password={SECRET}&x=1") == "http://mmsc/mm7?user=sp&password=***&x=1"
    assert shown_url(f"https://sp:{SECRET}@mmsc/mm7?access_token={SECRET}#top") == \
        "https://sp:***@mmsc/mm7?access_token=***#top"
    assert shown_url(f"http://mmsc/mm7;jsessionid={SECRET}?a=1") == "http://mmsc/mm7;jsessionid=***?a=1"
    assert shown_url(f"to http://a/?API_KEY={SECRET}, http://b/?sig={SECRET}") == "to http://a/?API_KEY=***, http://b/?sig=***"
    assert shown_url("http://mmsc/mm7?from=a&design=b&key=") == "http://mmsc/mm7?from=a&design=b&key="


def test_a_token_in_the_mmsc_urls_query_shows_in_no_log_error_or_record(tmp_path, caplog):
    store = mm7.SqliteStore(tmp_path / "vasp.db")
    with FakeServer() as srv:
        urls = (srv.url + f"?token={SECRET}", dead_url() + f"?token={SECRET}")
        results, errors = [], []
        with caplog.at_level(logging.DEBUG, logger="mm7bind"):
            for url in urls:
                with mm7.Client(url, store=store, retry=RetryPolicy.never()) as c:
                    try:
                        results.append(c.submit(mm7.SubmitReq(recipients=mm7.Recipients(to=["+8613800000000"]))))
                    except mm7.SendError as exc:
                        errors.append(exc)
    assert len(results) == 1 and results[0].ok and srv.requests[0].path.endswith(f"?token={SECRET}")  # (it went)
    seen = [caplog.text, results[0].url, *(f"{e} {e.url}" for e in errors), repr(store.sent())]
    store.close()
    assert len(errors) == 1 and not [text for text in seen if SECRET in text]
    assert "?token=***" in errors[0].url


def test_config_check_never_quotes_the_password_of_a_url_it_refuses(tmp_path):
    from mm7bind.config import load

    path = tmp_path / "gw.toml"
    path.write_text(f'[mmsc]\nurls = ["sp:pw-{SECRET}@10.0.0.1/mm7", "http://a/mm7,http://sp:pw-{SECRET}@b/mm7"]\n'
                    f'proxy = "u:px-{SECRET}@proxy.example:3128"\n'
                    f'[receiver]\nforward_url = "http:/app:fwd-{SECRET}@app/in"\n', encoding="utf-8")
    problems = load(path, env={})[1]
    said = {p.where for p in problems if p.level == "error"}
    assert {"mmsc.urls", "mmsc.proxy", "receiver.forward_url"} <= said, problems
    assert not [p for p in problems if SECRET in str(p)], problems
    assert "'u:***@proxy.example:3128' is not an http(s) URL" in str(problems)


def test_the_command_line_never_quotes_the_password_of_a_url_option_it_refuses():
    for args, shown in ((("send", "--mmsc", f"http://sp:pw-{SECRET}@127.0.0.1:0/mm7", "--to", "+8613800000000"),
                         "'http://sp:***@127.0.0.1:0/mm7' is not a usable URL"),
                        (("probe", f"http://mmsc:pw-{SECRET}@127.0.0.1/vasp, http://127.0.0.1:9/vasp"),
                         "'http://mmsc:***@127.0.0.1/vasp, http://127.0.0.1:9/vasp' is several URLs")):
        refused = run(*args)
        assert refused.returncode == 2 and shown in refused.stderr, refused.stderr
        assert SECRET not in refused.stdout + refused.stderr, refused.stderr


def test_a_mistyped_password_option_or_a_secret_in_the_wrong_place_is_refused_without_repeating_it():
    """argparse repeats what it cannot place: `--passwrd SECRET` was "unrecognized arguments:
    --passwrd SECRET", in a service's log or a pasted terminal. The options are named, with the
    nearest of each, and the values counted."""
    for args, said in (
            (("probe", "http://127.0.0.1:9/vasp", "--passwrd", SECRET),
             "unrecognized arguments: --passwrd and 1 value, not repeated: it may be a secret "
             "(--passwrd: did you mean --password?)"),
            (("probe", "http://127.0.0.1:9/vasp", f"--passwrd={SECRET}", f"-p{SECRET}", "x"),
             "unrecognized arguments: --passwrd -p and 3 values, not repeated: one may be a secret "
             "(--passwrd: did you mean --password?)"),
            (("probe", "http://127.0.0.1:9/vasp", f"--pass={SECRET}"),
             "ambiguous option: --pass could match --password, --password-file (its value is not repeated: "
             "it may be a secret)"),
            (("probe", "http://127.0.0.1:9/vasp", "--auth", f"sp:{SECRET}"),  # (curl's -u taken for --auth)
             "argument --auth: invalid choice (the value is not repeated: it may be a secret; choose from auto, "
             "basic, digest)"),
            (("send", "--to", "+8613800000000", f"--json={SECRET}"),
             "argument --json: takes no value (the one given is not repeated: it may be a secret)"),
            (("probe", "http://127.0.0.1:9/vasp", "--username", "sp", "--password"),
             "argument --password: expected one argument")):
        refused = run(*args)
        assert refused.returncode == 2 and refused.stderr.rstrip().endswith(said), refused.stderr
        assert SECRET not in refused.stdout + refused.stderr, refused.stderr
    typo = run("probe", "http://127.0.0.1:9/vasp", "--auth", "basc")  # (a choice's typo: said, with the nearest)
    assert "invalid choice: 'basc': did you mean 'basic'?" in typo.stderr, typo.stderr


def test_mo_says_an_unreachable_simulator_without_the_password_of_its_url():
    url = f"http://ctl:pw-{SECRET}@127.0.0.1:{refused_port()}"
    for json_flag in ((), ("--json",)):
        unreached = run("mo", "--simulator", url, *json_flag)
        assert unreached.returncode == 4, unreached.stderr
        assert "cannot reach the simulator at http://ctl:***@127.0.0.1:" in unreached.stdout + unreached.stderr
        assert SECRET not in unreached.stdout + unreached.stderr, unreached.stdout + unreached.stderr


def test_credentials_in_an_mmsc_url_show_in_no_log_error_or_record(tmp_path, caplog):
    """Carriers hand out Basic credentials in the URL: they are used, and shown nowhere."""
    answers = [Reply(503, b"busy", {"Content-Type": "text/plain"})]

    def responder(req):
        if req.path.endswith("/redirected"):  # (to where the credentials are again: shown masked too)
            return Reply(302, b"", {"Location": f"http://sp:pw-{SECRET}@elsewhere.example/mm7"})
        reply = answers.pop(0) if answers else default_responder(req)
        reply.headers["Set-Cookie"] = f"session={SECRET}-cookie"
        return reply

    store = mm7.SqliteStore(tmp_path / "vasp.db")
    with FakeServer(responder, auth=mm7.auth.BasicAuth("sp", f"pw-{SECRET}")) as srv:
        url = srv.url.replace("http://", f"http://sp:pw-{SECRET}@")
        errors = []
        with caplog.at_level(logging.DEBUG, logger="mm7bind"), \
                mm7.Client(url, store=store, retry=RetryPolicy(max_attempts=2, backoff=0, jitter=0),
                           headers=(("X-Api-Key", f"key-{SECRET}"),)) as c:
            result = c.submit(mm7.SubmitReq(recipients=mm7.Recipients(to=["+8613800000000"])))
            for broken in (url + "/redirected", dead_url().replace("http://", f"http://sp:pw-{SECRET}@")):
                with mm7.Client(broken, store=store, retry=RetryPolicy.never()) as other, \
                        pytest.raises(mm7.SendError) as err:
                    other.submit(mm7.SubmitReq(recipients=mm7.Recipients(to=["+8613800000000"])))
                errors.append(err.value)
    assert result.ok and result.attempts == 2 and srv.unauthorized == 0  # the URL's credentials were sent
    seen = [caplog.text, result.url, *(f"{e} {e.url}" for e in errors), repr(store.sent())]
    store.close()
    assert not [text for text in seen if SECRET in text]
    assert "sp:***@" in caplog.text and all("sp:***@" in e.url for e in errors)  # (the URL is shown, masked)
    assert "X-Api-Key: ***" in caplog.text and "Set-Cookie: ***" in caplog.text


def test_the_async_clients_http_library_logs_no_password_of_a_url(caplog):
    """httpx logs every request at INFO on its own logger ("HTTP Request: POST URL"), which an
    application's root logger writes: with the URL's user:password@, as the client passed them."""
    import asyncio

    pytest.importorskip("httpx")

    async def submit(url: str, **settings) -> mm7.Result:
        async with mm7.AsyncClient(url, retry=RetryPolicy.never(), **settings) as c:
            return await c.submit(mm7.SubmitReq(recipients=mm7.Recipients(to=["+8613800000000"])))

    with FakeServer(auth=mm7.auth.BasicAuth("sp", f"pw@{SECRET}")) as srv, caplog.at_level(logging.DEBUG):
        url = srv.url.replace("http://", f"http://sp:pw%40{SECRET}@")
        assert asyncio.run(submit(url)).ok and srv.unauthorized == 0  # (the URL's credentials sent, unquoted)
        # (credentials given as settings come first, as before: the URL's are not sent)
        assert asyncio.run(submit(url.replace(SECRET, "wrong"), username="sp", password=f"pw@{SECRET}")).ok
    assert srv.unauthorized == 0 and len(srv.requests) == 2
    assert "HTTP Request: POST http://127.0.0.1:" in caplog.text  # (httpx's line, without the credentials)
    assert SECRET not in caplog.text and "wrong" not in caplog.text


def test_credentials_in_the_forwarding_url_show_in_no_log_or_record(caplog):
    dead = dead_url().replace("http://", f"http://app:pw-{SECRET}@")
    rx = mm7.Receiver(ForwardingHandler(dead, secret=f"hmac-{SECRET}"), store=mm7.MemoryStore())
    out = mm7.encode(mm7.DeliverReq(sender="+8613900000000", recipients=["1065888"]), transaction_id="f-1")
    with caplog.at_level(logging.DEBUG, logger="mm7bind"):
        rsp = rx.handle(out.to_bytes(), out.content_type, {}, "127.0.0.1")
    [rec] = rx.store.inbox()
    assert rsp.status == 500 and rec.state == "failed"
    assert SECRET not in caplog.text + rec.error + rsp.body.decode()
    assert "app:***@" in rec.error


def test_the_command_line_shows_no_credential_of_a_configuration(tmp_path):
    app_port = refused_port()
    config = tmp_path / "gw.toml"
    config.write_text(f"""
[mmsc]
urls = ["http://sp:url-{SECRET}@127.0.0.1:{refused_port()}/mm7"]
username = "sp"
password = "pw-{SECRET}"
[receiver]
port = 0
auth = "digest"
username = "mmsc"
password = "rx-{SECRET}"
forward_url = "http://app:fwd-{SECRET}@127.0.0.1:{app_port}/in"
forward_secret = "hmac-{SECRET}"
[api]
path = "/api"
token = "token-{SECRET}"
[outbox]
enabled = true
[store]
path = "{tmp_path / 'gw.db'}"
""", encoding="utf-8")
    checked = run("config", "check", str(config))
    assert checked.returncode == 0 and "sp:***@" in checked.stdout, checked.stdout
    serve = Background("serve", "--config", str(config), "-v")
    try:
        serve.wait_for(f"http://127.0.0.1:{serve.port()}/mm7")
        deadline = time.monotonic() + 20
        while "sending what the outbox holds" not in serve.output() and time.monotonic() < deadline:
            time.sleep(0.05)  # (the port is open a moment before the lines saying so are written)
    finally:
        served = serve.stop()
    assert "send API at" in served and "forwarding to http://app:***@" in served, served
    bad = tmp_path / "bad.toml"
    bad.write_text(f'[mmsc]\nurls = ["ftp://sp:url-{SECRET}@mmsc/mm7"]\n'
                   f'[receiver]\nforward_url = "htp://app:fwd-{SECRET}@app/in"\n', encoding="utf-8")
    refused = run("config", "check", str(bad))
    assert refused.returncode == 3 and "2 error(s)" in refused.stdout, refused.stdout
    for text in (checked.stdout, checked.stderr, served, refused.stdout, refused.stderr):
        assert SECRET not in text, text


def test_reprs_of_configurations_and_credentials_hold_no_secret():
    from mm7bind.config import load
    from mm7bind.simulator import SimulatorConfig

    cfg, _ = load(None, env={"MM7BIND_MMSC_PASSWORD": f"a-{SECRET}", "MM7BIND_RECEIVER_PASSWORD": f"b-{SECRET}",
                             "MM7BIND_RECEIVER_FORWARD_SECRET": f"c-{SECRET}", "MM7BIND_API_TOKEN": f"d-{SECRET}"})
    digest = mm7.auth.DigestAuth("mmsc", f"e-{SECRET}")
    shown = [repr(cfg), repr(digest), repr(mm7.auth.BasicAuth("mmsc", f"f-{SECRET}")),
             repr(mm7.Client("http://127.0.0.1:9/mm7", username="sp", password=f"g-{SECRET}").config),
             repr(mm7.Receiver(auth=digest).config), repr(SimulatorConfig(vasp_password=f"h-{SECRET}"))]
    assert all(SECRET not in text and "password=" not in text for text in shown), shown
    assert cfg.mmsc.password == f"a-{SECRET}"  # (kept, only not shown)


def test_reprs_show_no_password_of_a_url():
    from mm7bind.config import load
    from mm7bind.simulator import SimulatorConfig

    cfg, _ = load(None, env={"MM7BIND_MMSC_URLS": f"http://sp:a-{SECRET}@127.0.0.1:9/mm7",
                             "MM7BIND_RECEIVER_FORWARD_URL": f"http://app:b-{SECRET}@127.0.0.1:9/in"})
    client = mm7.Client((f"http://sp:c-{SECRET}@127.0.0.1:9/mm7", "http://127.0.0.1:10/mm7"))
    shown = [repr(cfg), repr(cfg.mmsc), repr(cfg.receiver), repr(client.config),
             repr(SimulatorConfig(vasp_url=f"http://mmsc:d-{SECRET}@127.0.0.1:9/vasp"))]
    assert all(SECRET not in text and ":***@127.0.0.1:9" in text for text in shown), shown
    assert "http://127.0.0.1:10/mm7" in repr(client.config) and cfg.mmsc.urls[0].startswith("http://sp:a-")


def _deliver(rx, headers):
    out = mm7.encode(mm7.DeliverReq(sender="+8613900000000", recipients=["1065888"]), transaction_id="a-1")
    return rx.handle(out.to_bytes(), out.content_type, headers, "10.9.8.7").status


def test_wrong_credentials_are_logged_once_each_and_the_usual_challenges_not_at_all(caplog):
    import base64

    def warnings():
        return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and r.name == "mm7bind.receiver"]

    basic = mm7.Receiver(auth=mm7.auth.BasicAuth("mmsc", f"pw-{SECRET}"))
    wrong = "Basic " + base64.b64encode(b"mmsc:guess").decode()
    with caplog.at_level(logging.INFO, logger="mm7bind"):
        assert _deliver(basic, {}) == 401 and warnings() == []  # (the first request of any client)
        assert _deliver(basic, {"Authorization": wrong}) == 401
    assert warnings() == ["refused request from 10.9.8.7: wrong Basic credentials"]
    caplog.clear()
    rx = mm7.Receiver(auth=mm7.auth.DigestAuth("mmsc", f"pw-{SECRET}"), store=mm7.MemoryStore())
    with caplog.at_level(logging.INFO, logger="mm7bind"), mm7.serve(rx, port=0) as srv:
        # China Mobile's way: Basic first, then the Digest answer to the challenge — nothing to say.
        with mm7.Client(srv.url + "/mm7", role="mmsc", username="mmsc", password=f"pw-{SECRET}", auth="auto") as c:
            assert c.send(mm7.DeliverReq(sender="+8613900000000", recipients=["1065888"])).ok
        assert warnings() == []
        with mm7.Client(srv.url + "/mm7", role="mmsc", username="mmsc", password="guess", auth="digest",
                        retry=RetryPolicy.never()) as c, pytest.raises(mm7.HTTPStatusError):
            c.send(mm7.DeliverReq(sender="+8613900000000", recipients=["1065888"]))
    assert warnings() == ["refused request from 127.0.0.1: wrong Digest credentials"]
    assert SECRET not in caplog.text


def test_the_send_api_logs_refused_callers(caplog):
    from mm7bind.auth import IPAllowList
    from mm7bind.sendapi import SendApi

    api = SendApi(None, token=f"tok-{SECRET}", allow=IPAllowList.parse(["10.0.0.0/8"]))
    with caplog.at_level(logging.INFO, logger="mm7bind"):
        assert api.handle("POST", "/send", b"{}", {}, "192.0.2.1").status == 403
        assert api.handle("POST", "/send", b"{}", {}, "10.0.0.1").status == 401
        assert api.handle("POST", "/send", b"{}", {"Authorization": "Bearer guess"}, "10.0.0.2").status == 401
        assert api.handle("POST", "/send", b"{}", {"Authorization": f"Bearer tok-{SECRET}"}, "10.0.0.3").status == 400
    assert [r.getMessage() for r in caplog.records] == [
        "refused API request from 192.0.2.1 (not in the allow-list)",
        "refused API request from 10.0.0.1: no bearer token",
        "refused API request from 10.0.0.2: wrong bearer token"]


def test_config_check_of_a_china_mobile_file_never_quotes_a_password(tmp_path):
    from .test_cmcc import mm7config

    path = mm7config(tmp_path, Password=f" pw-{SECRET} ")
    text = Path(path).read_text(encoding="utf-8").replace("<Password>", "<password>").replace("</Password>", "</password>")
    (tmp_path / "mm7Config.xml").write_text(text, encoding="utf-8")  # a case slip: reported, never quoted
    checked = run("config", "check", path)
    assert "password" in checked.stdout and SECRET not in checked.stdout + checked.stderr, checked.stdout


def test_china_mobile_addresses_with_a_password_are_said_without_it(tmp_path):
    """An mmscIP or mmscURL carrying Basic credentials (sp:secret@host, as carriers hand them out)
    was quoted whole in the problems said of it: "no address", spaces around it, a whole URL."""
    from mm7bind.cmcc.config import read as read_cmcc

    from .test_cmcc import mm7config

    path = mm7config(tmp_path, mmscIP=[f"sp:pw-{SECRET}@10.0.0.1", f" sp:pw-{SECRET}@10.0.0.2:8080 "],
                     mmscURL=f"http://sp:pw-{SECRET}@mmsc.example/mm7")
    problems = read_cmcc(path)[1]
    said = {(p.where, p.message) for p in problems}
    assert ("mm7Config.xml:mmscIP", "'sp:***@10.0.0.1' is no address (ip or host, :port optional)") in said
    assert ("mm7Config.xml:mmscIP", "spaces around 'sp:***@10.0.0.2:8080' removed") in said
    assert ("mm7Config.xml:mmscURL", "http://sp:***@mmsc.example/mm7 is a whole URL: its path is used, sent to the "
                                     "mmscIP addresses as the SDK did (not to mmsc.example)") in said
    assert not [p for p in problems if SECRET in str(p)], problems
    checked = run("config", "check", path)
    assert SECRET not in checked.stdout + checked.stderr, checked.stdout


def test_a_china_mobile_password_set_in_code_of_the_wrong_kind_is_refused_without_quoting_it():
    """China Mobile passwords are often digits: setPassword(12345678) ported as set("Password",
    12345678) was refused with the password in the error."""
    from mm7bind.cmcc.api import MM7Config

    for value in (20241234, f"pw-{SECRET}".encode()):
        with pytest.raises(ValueError) as refused:
            MM7Config().set("Password", value)
        assert str(refused.value) == f"Password is text, not a {type(value).__name__}"
    with pytest.raises(ValueError, match="UserName is text, not 7"):  # (no secret: quoted)
        MM7Config().set("UserName", 7)


def test_credentials_given_as_an_auth_mode_are_refused_without_quoting_them(tmp_path):
    """`auth = "sp:secret"`, as curl's -u and httpie's --auth take credentials: a slip of a mode
    ('Digest', 'basc') is quoted with the mode meant, anything else not at all."""
    from mm7bind.config import load

    path = tmp_path / "gw.toml"
    path.write_text(f'[mmsc]\nauth = "sp:{SECRET}"\n[receiver]\nauth = "mmsc:{SECRET}"\n', encoding="utf-8")
    said = {p.where: p.message for p in load(path, env={})[1] if p.level == "error"}
    not_quoted = "what was given (not repeated: it may be a credential)"
    assert said == {"mmsc.auth": f"must be basic, digest, auto, not {not_quoted}",
                    "receiver.auth": f"must be none, basic or digest, not {not_quoted}"}, said
    slips = {"MM7BIND_MMSC_AUTH": "Digest", "MM7BIND_RECEIVER_AUTH": "basc"}
    said = {p.where: p.message for p in load(None, env=slips)[1]}
    assert said["MM7BIND_MMSC_AUTH (mmsc.auth)"] == ("must be basic, digest, auto, not 'Digest' "
                                                     "(did you mean digest?)")
    assert said["MM7BIND_RECEIVER_AUTH (receiver.auth)"] == ("must be none, basic or digest, not 'basc' "
                                                             "(did you mean basic?)")
    with pytest.raises(ValueError) as refused:
        mm7.Client("http://127.0.0.1:9/mm7", username="sp", password="pw", auth=f"sp:{SECRET}")
    assert str(refused.value) == f"auth must be one of basic, digest, auto, not {not_quoted}"
    with pytest.raises(ValueError, match=r"not 'digets' \(did you mean digest\?\)$"):
        mm7.Client("http://127.0.0.1:9/mm7", username="sp", password="pw", auth="digets")


def test_config_check_never_quotes_a_secret_of_the_wrong_type(tmp_path):
    (tmp_path / "c.toml").write_text(f'[mmsc]\nusername = "sp"\npassword = ["pw-{SECRET}"]\n'
                                     f'[api]\ntoken = {{ value = "tok-{SECRET}" }}\n', encoding="utf-8")
    checked = run("config", "check", str(tmp_path / "c.toml"))
    assert checked.returncode == 3 and "mmsc.password: expected text, got a list" in checked.stdout, checked.stdout
    assert "api.token: expected text, got a dict" in checked.stdout and SECRET not in checked.stdout


def test_config_check_never_quotes_a_url_or_a_secret_header_of_the_wrong_type(tmp_path):
    """A proxy or forward_url in a list or a table, a token header's value in a list: refused, and
    the value holding the password was quoted whole."""
    from mm7bind.config import load

    path = tmp_path / "gw.toml"
    path.write_text(f'[mmsc]\nproxy = ["http://u:px-{SECRET}@proxy:3128"]\n'
                    f'headers = {{ X-Api-Key = ["key-{SECRET}"], X-Carrier = ["cmcc-01"] }}\n'
                    f'[receiver]\nforward_url = {{ url = "http://app:fwd-{SECRET}@app/in" }}\n', encoding="utf-8")
    said = {p.where: p.message for p in load(path, env={})[1] if p.level == "error"}
    assert said == {"mmsc.proxy": "expected text, got a list", "mmsc.headers": "X-Api-Key: expected text, got a list",
                    "receiver.forward_url": "expected text, got a dict"}, said
    path.write_text('[mmsc]\nheaders = { X-Carrier = ["cmcc-01"] }\n', encoding="utf-8")
    assert "X-Carrier: expected text, got ['cmcc-01']" in str(load(path, env={})[1])  # (no secret: quoted)


def test_a_whole_header_given_as_its_name_is_refused_without_repeating_its_value(tmp_path):
    """`headers = { "Authorization: Bearer ..." = "" }`: the refusal of the name quoted the token."""
    from mm7bind.config import load

    path = tmp_path / "gw.toml"
    path.write_text(f'[mmsc]\nheaders = {{ "Authorization: Bearer {SECRET}" = "" }}\n', encoding="utf-8")
    [problem] = [p for p in load(path, env={})[1] if p.level == "error"]
    assert problem.where == "mmsc.headers" and problem.message.startswith(
        "header name 'Authorization:...' is not an HTTP token"), problem
    for name, quoted in ((f"X-Api-Key k-{SECRET}", "'X-Api-Key ...'"),
                         (f"Authorization:Basic {SECRET}", "'Authorization:...'"),
                         ("X Carrier", "'X Carrier'"), ("X-Carrier:", "'X-Carrier:'")):  # (no value: whole)
        with pytest.raises(ValueError) as refused:
            mm7.Client("http://127.0.0.1:9/mm7", headers={name: "x"})
        assert f"header name {quoted} is not an HTTP token" in str(refused.value), refused.value
        assert SECRET not in str(problem) + str(refused.value)
    with pytest.raises(ValueError, match="^a header name must be text, not bytes$"):
        mm7.Client("http://127.0.0.1:9/mm7", headers={f"Authorization: {SECRET}".encode(): "x"})


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_config_check_warns_of_credentials_in_a_file_anyone_can_read(tmp_path):
    from mm7bind.config import load

    path = tmp_path / "mm7bind.toml"
    path.write_text(f'[mmsc]\nurls = ["https://sp:pw-{SECRET}@mmsc.example/mm7"]\n', encoding="utf-8")
    path.chmod(0o644)
    _, problems = load(path, env={})
    assert [str(p) for p in problems] == [(f"warning: {path}: holds credentials and any user of this machine can "
                                           "read it (mode 644): chmod o-r")]
    path.chmod(0o640)  # (root:mm7bind 640, as a service's file usually is)
    assert load(path, env={})[1] == []
    path.write_text('[mmsc]\nurls = ["https://mmsc.example/mm7"]\n', encoding="utf-8")
    path.chmod(0o644)
    assert load(path, env={})[1] == []
    # (a proxy's user:password@ without a scheme, as a shell's settings write it; a header that is
    # credentials: the same secrets in other words)
    for written in (f'proxy = "u:px-{SECRET}@proxy.example:3128"', f'headers = {{ Authorization = "Bearer {SECRET}" }}',
                    f'headers = {{ X-Api-Key = "k-{SECRET}", X-Carrier = "cmcc-01" }}'):
        path.write_text(f'[mmsc]\nurls = ["https://mmsc.example/mm7"]\n{written}\n', encoding="utf-8")
        said = [str(p) for p in load(path, env={})[1]]
        assert f"warning: {path}: holds credentials and any user of this machine can read it (mode 644): chmod o-r" \
            in said, (written, said)
        assert SECRET not in str(said)
    path.write_text('[mmsc]\nproxy = "proxy.example:3128"\nheaders = { X-Carrier = "cmcc-01", Authorization = "" }\n',
                    encoding="utf-8")
    assert not [p for p in load(path, env={})[1] if "holds credentials" in p.message]


def test_config_check_warns_of_a_username_without_its_password():
    """A password meant to come from the environment (MM7BIND_..._PASSWORD, a systemd
    EnvironmentFile not read): the client sent an empty one, and a receiver with auth let in anyone
    who knew the username, with nothing said."""
    from mm7bind.config import load

    _, problems = load(None, env={"MM7BIND_MMSC_USERNAME": "sp", "MM7BIND_RECEIVER_AUTH": "basic",
                                  "MM7BIND_RECEIVER_USERNAME": "mmsc"})
    said = {p.where: (p.level, p.message) for p in problems}
    assert said["mmsc.password"][0] == said["receiver.password"][0] == "warning", said
    assert "(MM7BIND_MMSC_PASSWORD not set?)" in said["mmsc.password"][1]
    assert "anyone who knows the username is let in" in said["receiver.password"][1]
    _, problems = load(None, env={"MM7BIND_MMSC_USERNAME": "sp", "MM7BIND_MMSC_PASSWORD": "pw",
                                  "MM7BIND_RECEIVER_AUTH": "digest", "MM7BIND_RECEIVER_USERNAME": "mmsc",
                                  "MM7BIND_RECEIVER_PASSWORD": "pw"})
    assert not [p for p in problems if p.where.endswith("password")], problems


def test_secret_looking_headers_show_masked_in_configuration_reprs():
    from mm7bind.config import load

    headers = (("Authorization", f"Bearer {SECRET}"), ("X-Auth-Token", f"t-{SECRET}"), ("X-Api-Key", f"k-{SECRET}"),
               ("Proxy-Authorization", f"Basic {SECRET}"), ("Cookie", f"sid={SECRET}"), ("X-Carrier", "cmcc-01"))
    config = mm7.Client("http://127.0.0.1:9/mm7", headers=headers).config
    cfg, _ = load(None, env={})
    cfg.mmsc.headers = dict(headers)
    for text in (repr(config), repr(cfg), repr(cfg.mmsc)):
        assert SECRET not in text, text
        assert "'Bearer ***'" in text and "'Basic ***'" in text and "'cmcc-01'" in text  # (scheme and the rest kept)
    assert dict(config.headers)["X-Auth-Token"] == f"t-{SECRET}"  # (sent as given)


def test_a_captured_messages_repr_shows_no_credential_of_its_headers():
    """A capture holds the peers' credentials: `read_capture`'s messages are printed and logged."""
    from mm7bind.pcap import read_capture

    from .pcapgen import Flow, http, pcap

    flow = Flow().open()
    flow.send(True, http("POST /mm7 HTTP/1.1", {"Authorization": f"Basic {SECRET}", "X-Carrier": "cmcc-01",
                                                "Content-Length": "2"}, b"<>"))
    [msg] = read_capture(pcap(flow.close().packets)).messages
    assert msg.headers["Authorization"] == f"Basic {SECRET}"  # (read as captured)
    assert SECRET not in repr(msg) and "'Basic ***'" in repr(msg) and "'cmcc-01'" in repr(msg), repr(msg)


def test_inspect_and_validate_show_a_captured_request_line_without_its_password(tmp_path):
    """A client sending through a proxy writes its request's target whole, the MMSC's credentials
    with it (POST http://sp:secret@mmsc/mm7): what inspect and validate print gets pasted into tickets."""
    import json

    from mm7bind.pcap import read_capture

    from .pcapgen import Flow, pcap
    from .test_pcap import submit

    request, response = submit()
    head, _, body = request.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    lines[0] = f"POST http://sp:pw-{SECRET}@10.0.0.2:8080/mm7 HTTP/1.1".encode()
    lines += [f"Proxy-Authorization: Basic {SECRET}".encode(), f"Cookie: sid={SECRET}".encode()]
    request = b"\r\n".join(lines) + b"\r\n\r\n" + body
    flow = Flow().open()
    flow.send(True, request)
    flow.send(False, response)
    capture, saved = tmp_path / "mmsc.pcap", tmp_path / "request.http"
    capture.write_bytes(pcap(flow.close().packets))
    saved.write_bytes(request)
    shown = "POST http://sp:***@10.0.0.2:8080/mm7 HTTP/1.1"
    inspected = run("inspect", str(capture))
    assert inspected.returncode == 0, inspected.stderr
    first = json.loads(inspected.stdout)["messages"][0]["http"]
    assert first["start_line"] == shown and first["headers"]["Cookie"] == "***", first
    inspected_file = run("inspect", str(saved))
    assert json.loads(inspected_file.stdout)["http"]["start_line"] == shown, inspected_file.stdout
    validated, validated_json = run("validate", str(capture)), run("validate", "--json", str(capture))
    assert f"10.0.0.2:8080: {shown}): valid (SubmitReq" in validated.stdout, validated.stdout
    assert json.loads(validated_json.stdout)[0]["capture"]["start_line"] == shown, validated_json.stdout
    [msg, _] = read_capture(pcap(flow.packets)).messages
    assert msg.start_line == shown.replace("***", f"pw-{SECRET}")  # (read as captured)
    for proc in (inspected, inspected_file, validated, validated_json):
        assert SECRET not in proc.stdout + proc.stderr, proc.stdout
    assert SECRET not in repr(msg) and shown in repr(msg), repr(msg)


def test_a_failed_wait_says_where_the_simulator_sends_without_the_password_of_its_url():
    """A test's simulator given the receiver's credentials in its vasp_url: a wait in vain quoted
    them, and said it sent elsewhere, its URL not being the receiver's to the letter."""
    from mm7bind.simulator import Simulator
    from mm7bind.testreceiver import RunningReceiver

    elsewhere = "The simulator sends its reports, read replies and MO to"
    with RunningReceiver() as rcv, Simulator() as sim:
        rcv.simulator = lambda: sim
        sim.config.vasp_url = f"http://mmsc:pw-{SECRET}@127.0.0.1:9/elsewhere"
        with pytest.raises(AssertionError) as waited:
            rcv.wait_for("DeliveryReportReq", timeout=0)
        assert f"{elsewhere} http://mmsc:***@127.0.0.1:9/elsewhere, this receiver" in str(waited.value), waited.value
        sim.config.vasp_url = rcv.url.replace("http://", f"http://mmsc:pw-{SECRET}@")  # (this receiver: not elsewhere)
        with pytest.raises(AssertionError) as waited_here:
            rcv.wait_for("DeliveryReportReq", timeout=0)
        assert elsewhere not in str(waited_here.value), waited_here.value
    assert SECRET not in str(waited.value) + str(waited_here.value)


class _Remember(mm7.Handler):
    def __init__(self):
        self.contexts = []

    def on_deliver(self, msg, ctx):
        self.contexts.append(ctx)


def test_a_handler_gets_the_authorization_the_receiver_checked_without_its_credentials():
    import base64

    handler = _Remember()
    rx = mm7.Receiver(handler, auth=mm7.auth.BasicAuth("mmsc", f"p-{SECRET}"))
    given = "Basic " + base64.b64encode(f"mmsc:p-{SECRET}".encode()).decode()
    assert _deliver(rx, {"Authorization": given, "X-Carrier": "cmcc-01"}) == 200
    [ctx] = handler.contexts
    assert ctx.headers["Authorization"] == "Basic ***" and ctx.headers["X-Carrier"] == "cmcc-01"
    assert base64.b64encode(f"mmsc:p-{SECRET}".encode()).decode() not in repr(ctx)


def test_a_handler_checking_credentials_itself_gets_them_but_its_context_never_shows_them():
    handler = _Remember()
    rx = mm7.Receiver(handler)  # no auth of the receiver's: the handler's to check
    assert _deliver(rx, {"Authorization": f"Bearer {SECRET}", "X-Token": SECRET}) == 200
    [ctx] = handler.contexts
    assert ctx.headers["Authorization"] == f"Bearer {SECRET}"
    assert SECRET not in repr(ctx) and "Bearer ***" in repr(ctx)
