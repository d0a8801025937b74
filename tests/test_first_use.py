"""What a new user meets first — the commands' help, the simulator's control answers, a refusal's
words — says what it means."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from mm7bind.simulator import Simulator


def test_a_control_request_says_whether_a_field_is_missing_or_names_nothing_known():
    """`/control/resend` with a TransactionID never sent answered "missing or unknown nope", and
    `/control/deliver` without `from` "missing or unknown from": one wording for two mistakes."""
    sim = Simulator()  # (control() needs no server)
    assert sim.control("POST", "deliver", json.dumps({"text": "hi"}).encode()) == (400, {"error": "missing from"})
    status, body = sim.control("POST", "report", json.dumps({"recipient": "1"}).encode())
    assert (status, body["error"]) == (400, "missing message_id")
    for route in ("report", "read"):
        status, body = sim.control("POST", route, json.dumps({"message_id": "nope", "recipient": "1"}).encode())
        assert status == 400 and body["error"].startswith("no message 'nope'"), body
    status, body = sim.control("POST", "resend", json.dumps({"transaction_id": "never-sent"}).encode())
    assert status == 400 and body["error"].startswith(
        "no report, read reply or MO went out with TransactionID 'never-sent'"), body


def test_every_command_and_action_says_what_it_does_atop_its_help():
    """`mm7bind mo --help`, `store inbox --help`, `config check --help` showed their usage and
    options without a word of what the command does (that was in the parent's list alone)."""
    import argparse

    from mm7bind.cli import build_parser

    def walk(parser, words):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                helps = {choice.dest: choice.help for choice in action._choices_actions}
                for name, sub in action.choices.items():
                    yield [*words, name], sub, helps[name]
                    yield from walk(sub, [*words, name])

    missing = [" ".join(words) for words, sub, _help in walk(build_parser(), []) if not sub.description]
    assert missing == []
    mo = next(sub for words, sub, _help in walk(build_parser(), []) if words == ["mo"])
    assert "Make a running simulator send an MO message" in mo.format_help()


def test_store_inbox_help_says_the_order_it_lists_in():
    """"(the latest first cut by --limit)" read as if the latest came first: they come last."""
    from mm7bind.cli import build_parser

    store = next(a for a in build_parser()._actions if a.dest == "command").choices["store"]
    text = " ".join(store.format_help().split())
    assert "the latest last" in text and "latest first" not in text


def test_a_refusal_says_the_mmscs_details_beside_its_status_text(capsys):
    """China Mobile's MMSC answers 4001 "标识不正确" ("identification incorrect") and says in Details
    what was wrong; `mm7bind send` printed the code and the text alone, leaving a new user to guess
    which of VASPID, VASID or ServiceCode it meant."""
    from mm7bind.cli import main

    with Simulator(dialect="cmcc") as sim:
        code = main(["send", "--mmsc", sim.url, "--to", "13800138000", "--text", "hi"])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("mm7bind send: refused: 4001 标识不正确 (no VASPID"), err
    assert err.count("\n") == 1


def test_simulate_help_names_every_control_endpoint():
    """`simulate --help` named /control/deliver alone: a test author reading it could not learn
    that the simulator can fail, drop an answer, resend or list what it received."""
    from mm7bind.cli import build_parser
    from mm7bind.simulator import CONTROL_METHODS

    simulate = next(a for a in build_parser()._actions if a.dest == "command").choices["simulate"]
    text = " ".join(simulate.format_help().split())
    assert "/control/" in text
    assert [route for route in CONTROL_METHODS if not re.search(rf"\b{route}\b", text)] == []


def test_serve_help_names_what_the_configuration_adds_to_it():
    """`serve --help` spoke of saving, handling and forwarding alone: a user could not learn from it
    that serve also serves TLS (mutual TLS too), metrics, a health check, the send API, the outbox
    and retention, each turned on in the configuration."""
    from mm7bind.cli import build_parser

    serve = next(a for a in build_parser()._actions if a.dest == "command").choices["serve"]
    text = " ".join(serve.format_help().split())
    for key in ("tls_cert", "tls_client_ca", "metrics_path", "health_path", "[api] path", "[outbox] enabled",
                "keep_days"):
        assert key in text, key


def test_a_send_to_no_configured_mmsc_says_it_tried_the_simulators_address(capsys, monkeypatch, tmp_path):
    """A first `mm7bind send --to ...` without --mmsc goes to the simulator's address; with no
    simulator running it said only "cannot connect to http://127.0.0.1:9090/mm7", leaving a new
    user to wonder where that address came from."""
    import socket

    from mm7bind import config
    from mm7bind.cli import main

    # (a port nothing listens on, in place of 9090, which a test may be using: held bound and not
    # listening, refusing connections, for no other server to take it while the test runs)
    held = socket.socket()
    held.bind(("127.0.0.1", 0))
    closed = f"http://127.0.0.1:{held.getsockname()[1]}/mm7"
    monkeypatch.setattr(config, "SIMULATOR_URL", closed)
    monkeypatch.chdir(tmp_path)
    for var in [v for v in os.environ if v.startswith("MM7BIND_MMSC_")]:
        monkeypatch.delenv(var)
    assert main(["send", "--to", "1", "--text", "x"]) == 4
    err = capsys.readouterr().err
    assert err.startswith(f"mm7bind send: not sent: cannot connect to {closed}: nothing listens at the simulator's "
                          "address") and "`mm7bind simulate`" in err, err
    # One hint, in place of the client's (said once: its "is the MMSC up" was cut from the text after the fact)
    assert "is the MMSC up" not in err and err.count("nothing listens") == 1 and err.count("\n") == 1, err
    assert err.rstrip().endswith("Connection refused)"), err  # (the cause last)
    assert main(["send", "--to", "1", "--text", "x", "--json"]) == 4  # (the same words in JSON)
    said = json.loads(capsys.readouterr().out)["message"]
    assert err.rstrip() == f"mm7bind send: not sent: {said}", (err, said)
    assert main(["send", "--to", "1", "--text", "x", "--mmsc", closed.replace("/mm7", "/other")]) == 4
    assert "simulate" not in capsys.readouterr().err  # (an MMSC given: no word of the simulator)
    # A run to several, too short to stop for the MMSC being down, says it once too
    assert main(["send", "--to", "1", "--to", "2", "--text", "x", "--quiet"]) == 4
    err = capsys.readouterr().err
    held.close()
    assert err.startswith("mm7bind send: no MMSC answered: each of the 2 requests, after its retries, met no "
                          "connection"), err
    assert err.splitlines()[1:] == [f"mm7bind send: {closed}: nothing listens at the simulator's address, tried for "
                                    "want of --mmsc or [mmsc] urls: is `mm7bind simulate` running?"], err


def test_store_outbox_says_whom_each_item_is_for(capsys, tmp_path):
    """`store outbox` listed each item's TransactionID, tag and state, never its recipients: which
    item was the one for +8613800000001 could not be told without --json."""
    import mm7bind as mm7
    from mm7bind.cli import main
    from mm7bind.outbox import Outbox

    (tmp_path / "c.toml").write_text(f'[store]\npath = "{tmp_path / "s.db"}"\n', encoding="utf-8")
    store = mm7.SqliteStore(tmp_path / "s.db")
    with mm7.Client("http://127.0.0.1:9/mm7", store=store) as client:
        box = Outbox(client)
        box.put(mm7.SubmitReq(recipients=["+8613800000001"]), tag="one")
        box.put(mm7.SubmitReq(recipients=["+8613800000002", "+8613800000003", "+8613800000004"]))
    store.close()
    assert main(["store", "outbox", "--config", str(tmp_path / "c.toml")]) == 0
    one, many = capsys.readouterr().out.splitlines()[1:]
    assert " one → +8613800000001 " in one
    assert " - → +8613800000002, +8613800000003 +1 " in many


def test_store_purge_help_names_everything_a_purge_removes():
    """`store purge` removes finished outbox items too (`Purged.outbox`), which its help left out
    while `--keep-sent` spoke of them."""
    import dataclasses

    from mm7bind.cli import build_parser
    from mm7bind.store import Purged

    store = next(a for a in build_parser()._actions if a.dest == "command").choices["store"]
    actions = next(a for a in store._actions if a.dest == "store_command").choices
    purge = " ".join(actions["purge"].format_help().split()).split("options:")[0]
    assert {f.name for f in dataclasses.fields(Purged)} == {"inbox", "bodies", "sent", "outbox"}
    for words in ("handled messages", "sent records", "outbox items"):
        assert words in purge, words


def test_received_keeps_the_credentials_a_test_checks_and_its_json_masks_them():
    """README said `simulator.received` had secret-looking header values masked: only its JSON
    (`/control/received`) and its repr do; the attribute keeps what was sent, for a test to check."""
    import mm7bind as mm7

    with Simulator() as sim, mm7.Client(sim.url, username="sp", password="s3cret") as client:
        client.submit(mm7.SubmitReq(recipients=["+8613800000001"]))
        [got] = sim.received
        assert got.headers["Authorization"].startswith("Basic ") and "***" not in got.headers["Authorization"]
        status, [shown] = sim.control("GET", "received", b"")
        assert status == 200 and "***" in shown["headers"]["Authorization"] and "***" in repr(got)
    text = " ".join((Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8").split())
    assert "the attribute keeps them as sent" in text


def test_a_send_without_content_says_so_and_sends_it(capsys):
    """`mm7bind send --to N` without --text or --attach sent a SubmitReq without content without a
    word (MM7 allows one): a user who forgot --text learnt it from the handset."""
    from mm7bind.cli import main

    with Simulator() as sim:
        assert main(["send", "--mmsc", sim.url, "--to", "13800138000", "--subject", "hi"]) == 0
        out, err = capsys.readouterr()
        assert out.strip() and err == "mm7bind send: note: no --text, --attach or --smil: the message goes without " \
                                      "content\n", err
        [stored] = sim.messages.values()
        assert stored.request.content is None  # (sent all the same)
        assert main(["send", "--mmsc", sim.url, "--to", "13800138000", "--text", "hi"]) == 0
        assert capsys.readouterr().err == ""
        # Said once the arguments are known good (not before a refusal of them), and not around --json
        assert main(["send", "--mmsc", sim.url, "--to", "13800138000", "--from", "1\n2"]) == 2
        assert "note" not in capsys.readouterr().err
        assert main(["send", "--mmsc", sim.url, "--to", "13800138000", "--json"]) == 0
        assert capsys.readouterr().err == ""


def test_a_client_given_a_url_without_its_scheme_is_told_how_to_write_it():
    """`mm7bind send --mmsc 127.0.0.1:9090/mm7` and the configuration said "write http://...";
    `Client("127.0.0.1:9090/mm7")` said only "not an http(s) URL of an MMSC"."""
    import pytest

    import mm7bind as mm7

    with pytest.raises(ValueError) as err:
        mm7.Client("127.0.0.1:9090/mm7")
    assert str(err.value) == ("'127.0.0.1:9090/mm7' is not an http(s) URL of an MMSC (no scheme: write "
                              "http://127.0.0.1:9090/mm7, or https://)")
    with pytest.raises(ValueError) as err:  # (a scheme, the wrong one: nothing to add)
        mm7.ClientConfig(urls=("ftp://mmsc.example/mm7",))
    assert str(err.value) == "'ftp://mmsc.example/mm7' is not an http(s) URL of an MMSC"
    with pytest.raises(ValueError) as err:  # (bytes: said as such, not "a bytes-like object is required")
        mm7.ClientConfig(urls=(b"http://mmsc.example/mm7",))
    assert str(err.value) == "b'http://mmsc.example/mm7' is not an http(s) URL of an MMSC"


def test_a_proxy_given_without_its_scheme_is_told_how_to_write_it(tmp_path):
    """A proxy is written "host:port" as often as not; the MMSC's URLs were told to add the scheme,
    the proxy (a check written apart) only "not an http(s) URL"."""
    import pytest

    import mm7bind as mm7
    from mm7bind import config

    said = "'proxy.example:3128' is not an http(s) URL (no scheme: write http://proxy.example:3128, or https://)"
    with pytest.raises(ValueError) as err:
        mm7.Client("http://127.0.0.1:9/mm7", proxy="proxy.example:3128")
    assert str(err.value) == f"proxy {said}"
    (tmp_path / "c.toml").write_text('[mmsc]\nproxy = "proxy.example:3128"\n', encoding="utf-8")
    cfg, _ = config.load(tmp_path / "c.toml", env={})
    assert [(p.where, p.message) for p in config.check(cfg) if p.level == "error"] == [("mmsc.proxy", said)]


def test_a_url_whose_port_no_connection_can_go_to_is_refused_when_it_is_given(capsys, tmp_path):
    """`http://mmsc:99999/mm7`, `:0`, `:80a`: taken when the client was made, the sync client then
    retried every send as one the MMSC "may have taken" ("Failed to parse: ..."), the async one
    raised a bare "Port out of range 0-65535", and port 0 was dialled as 80, its hint "nothing
    listens at mmsc:0:80". Refused where it is given, the port named: the client, the
    configuration (its MMSC URLs, proxy, forward URL), China Mobile's mmscIP, the command's options."""
    import pytest

    import mm7bind as mm7
    from mm7bind import config
    from mm7bind.cli import main
    from mm7bind.cmcc.config import NAMESPACE, read as read_cmcc

    bad = [("http://127.0.0.1:99999/mm7", "99999"), ("http://127.0.0.1:0/mm7", "0"),
           ("https://mmsc.example:80a/mm7", "80a"), ("http://[::1]:-1/mm7", "-1"),
           ("http://sp:pw@127.0.0.1:65536/mm7", "65536"), ("http://127.0.0.1:\uff18\uff10/mm7", "\uff18\uff10")]
    for url, port in bad:
        shown = url.replace(":pw@", ":***@")  # (the password never in an error)
        said = f"{shown!r} is not a usable URL of an MMSC: its port {port!r} is not a number from 1 to 65535"
        with pytest.raises(ValueError) as err:
            mm7.ClientConfig(urls=("http://127.0.0.1:9/mm7", url))
        assert str(err.value) == said
        with pytest.raises(ValueError) as err:
            mm7.AsyncClient(url)
        assert str(err.value) == said
        with pytest.raises(ValueError) as err:
            mm7.Client("http://127.0.0.1:9/mm7", proxy=url.removesuffix("/mm7"))
        assert str(err.value) == (f"proxy {shown.removesuffix('/mm7')!r} is not a usable URL: its port {port!r} is "
                                  "not a number from 1 to 65535")
    with pytest.raises(ValueError) as err:  # (no host: an IPv6 address without its brackets, not its "port ':1:8080'")
        mm7.ClientConfig(urls=("http://::1:8080/mm7",))
    assert str(err.value) == ("'http://::1:8080/mm7' is not a usable URL of an MMSC: an IPv6 address goes in brackets, "
                              "http://[::1]:8080/...")
    for url in ("http://127.0.0.1:1/mm7", "http://127.0.0.1:65535/mm7", "https://[::1]:8443/mm7",
                "http://127.0.0.1:/mm7"):  # (an empty port is the scheme's, as RFC 3986 has it)
        mm7.ClientConfig(urls=(url,), proxy="http://proxy.example:3128")

    (tmp_path / "c.toml").write_text('[mmsc]\nurls = ["http://mmsc.example:99999/mm7"]\nproxy = "http://p:0"\n'
                                     '[receiver]\nforward_url = "http://127.0.0.1:8o80/in"\n', encoding="utf-8")
    cfg, problems = config.load(tmp_path / "c.toml", env={})
    assert [str(p) for p in problems if p.level == "error"] == [
        "error: mmsc.urls: 'http://mmsc.example:99999/mm7' is not a usable URL: its port '99999' is not a number "
        "from 1 to 65535",
        "error: mmsc.proxy: 'http://p:0' is not a usable URL: its port '0' is not a number from 1 to 65535",
        "error: receiver.forward_url: 'http://127.0.0.1:8o80/in' is not a usable URL: its port '8o80' is not a "
        "number from 1 to 65535"]
    (tmp_path / "mm7Config.xml").write_text(f'<vasp:MM7Config xmlns:vasp="{NAMESPACE}"><mmscIP>https://10.0.0.1:99999'
                                            "</mmscIP></vasp:MM7Config>", encoding="utf-8")
    assert "error: mm7Config.xml:mmscIP: 'https://10.0.0.1:99999/mm7' is not a usable URL: its port '99999' is not a number from " \
           "1 to 65535" in [str(p) for p in read_cmcc(tmp_path / "mm7Config.xml")[1]]

    with pytest.raises(SystemExit) as exit_:  # (argparse's refusal of an option, as of any other)
        main(["send", "--mmsc", "http://127.0.0.1:99999/mm7", "--to", "13800138000"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "argument --mmsc: 'http://127.0.0.1:99999/mm7' is not a usable URL: its port '99999' is not a number " \
           "from 1 to 65535" in err and "Traceback" not in err, err


def test_a_url_whose_host_urlsplit_misreads_is_refused_where_it_is_given(capsys, tmp_path):
    """`http://[::1]x:80/`: urlsplit drops what follows the bracket, so it was taken as an MMSC at
    [::1]; "a[::1]", "[::1]]" and a space in the host alike. Refused wherever a URL is given, the
    URL named: the client (MMSC, proxy), the configuration (its MMSC URLs, proxy, forward URL),
    China Mobile's mmscIP, the command's options."""
    import pytest

    import mm7bind as mm7
    from mm7bind import config
    from mm7bind.cli import main
    from mm7bind.cmcc.config import NAMESPACE, read as read_cmcc

    bad = [("http://[::1]x:80/mm7", "'x:80' after the ] of its host (only :port may follow)"),
           ("http://sp:pw@[::1]x/mm7", "'x' after the ] of its host (only :port may follow)"),
           ("http://a[::1]:80/mm7", "'a' before the [ of its host"),
           ("https://[::1]]:80/mm7", "its host '[::1]]:80' has brackets other than one [ ] around an IPv6 address"),
           ("http://mmsc example/mm7", "its host holds ' '")]
    for url, why in bad:
        shown = url.replace(":pw@", ":***@")  # (the password never in an error)
        with pytest.raises(ValueError) as err:
            mm7.ClientConfig(urls=("http://127.0.0.1:9/mm7", url))
        assert str(err.value) == f"{shown!r} is not a usable URL of an MMSC: {why}"
        with pytest.raises(ValueError) as err:
            mm7.Client("http://127.0.0.1:9/mm7", proxy=url.removesuffix("/mm7"))
        assert str(err.value) == f"proxy {shown.removesuffix('/mm7')!r} is not a usable URL: {why}"
    for url in ("http://[::1]:8080/mm7", "http://[fe80::1%25eth0]:80/mm7", "http://sp:pw@[::1]/mm7",
                "http://127.0.0.1/a[b]"):  # (brackets in the path are the path's)
        mm7.ClientConfig(urls=(url,), proxy="http://[::1]:3128")

    (tmp_path / "c.toml").write_text('[mmsc]\nurls = ["http://[::1]x:80/mm7"]\nproxy = "http://[::1]x"\n'
                                     '[receiver]\nforward_url = "http://a[::1]/in"\n', encoding="utf-8")
    _, problems = config.load(tmp_path / "c.toml", env={})
    assert [str(p) for p in problems if p.level == "error"] == [
        "error: mmsc.urls: 'http://[::1]x:80/mm7' is not a usable URL: 'x:80' after the ] of its host (only :port "
        "may follow)",
        "error: mmsc.proxy: 'http://[::1]x' is not a usable URL: 'x' after the ] of its host (only :port may follow)",
        "error: receiver.forward_url: 'http://a[::1]/in' is not a usable URL: 'a' before the [ of its host"]
    (tmp_path / "mm7Config.xml").write_text(f'<vasp:MM7Config xmlns:vasp="{NAMESPACE}"><mmscIP>http://[::1]x:80'
                                            "</mmscIP></vasp:MM7Config>", encoding="utf-8")
    assert "error: mm7Config.xml:mmscIP: 'http://[::1]x:80/mm7' is not a usable URL: 'x:80' after the ] of its host " \
           "(only :port may follow)" in [str(p) for p in read_cmcc(tmp_path / "mm7Config.xml")[1]]

    for option in (["send", "--mmsc"], ["simulate", "--vasp-url"], ["serve", "--forward"], ["probe"]):
        with pytest.raises(SystemExit) as exit_:  # (argparse's refusal of an option, as of any other)
            main([*option, "http://[::1]x:80/mm7"])
        assert exit_.value.code == 2
        err = capsys.readouterr().err
        assert "'http://[::1]x:80/mm7' is not a usable URL: 'x:80' after the ] of its host" in err, err
    with pytest.raises(SystemExit):  # (two URLs in one are said to be so, not "a space in its host")
        main(["send", "--mmsc", "http://a/mm7, http://b/mm7"])
    assert "is several URLs in one" in capsys.readouterr().err


def test_a_url_given_in_code_to_a_forwarding_handler_or_the_simulator_is_refused_when_made():
    """`ForwardingHandler(url)` and `SimulatorConfig(vasp_url=)` took any text where `serve --forward`,
    `[receiver] forward_url` and `simulate --vasp-url` refuse a malformed URL: each message then
    failed when forwarded, each report ended in a traceback logged (listed by no `not_taken()`).
    Refused when made, in the words the client and the options use, the password never shown."""
    import pytest

    from mm7bind.handlers import ForwardingHandler
    from mm7bind.simulator import SimulatorConfig

    bad = [("127.0.0.1:8080/in", "is not an http(s) URL{of} (no scheme: write http://127.0.0.1:8080/in, or https://)"),
           ("ftp://app.example/in", "is not an http(s) URL{of}"),
           ("http://app:pw@[::1]x/in", "is not a usable URL{of}: 'x' after the ] of its host (only :port may follow)"),
           ("http://app.example:99999/in", "is not a usable URL{of}: its port '99999' is not a number from 1 to 65535")]
    for url, why in bad:
        shown = repr(url.replace(":pw@", ":***@"))
        with pytest.raises(ValueError) as err:
            ForwardingHandler(url)
        assert str(err.value) == f"{shown} {why.format(of=' to forward to')}"
        for made in (SimulatorConfig, Simulator):
            with pytest.raises(ValueError) as err:
                made(vasp_url=url)
            assert str(err.value) == f"vasp_url {shown} {why.format(of='')}"
    with pytest.raises(ValueError) as err:
        ForwardingHandler(None)
    assert str(err.value) == "None is not an http(s) URL to forward to"
    assert ForwardingHandler("http://[::1]:8080/in").url == "http://[::1]:8080/in"
    for none in (None, ""):  # (no VASP: messages delivered, no report sent)
        assert SimulatorConfig(vasp_url=none).vasp_url == none
    assert SimulatorConfig(vasp_url="https://sp:pw@vasp.example/mm7").vasp_url == "https://sp:pw@vasp.example/mm7"


def test_a_url_whose_host_no_http_library_takes_is_refused_when_given(capsys, tmp_path):
    """`http://a..b/mm7`, a label past 63 characters, `xn--a`, `%zz`: taken when given, the first
    send let urllib3's LocationParseError or idna's InvalidCodepoint out of the client (the async
    one of `xn--a`, the sync one of `a..b`), or retried a request that never left as one "the MMSC
    may have taken" (`.a`, `%zz`). Refused where given, as the project's own error (a ValueError
    still), the password masked; the commands say it in one line."""
    import pytest

    import mm7bind as mm7
    from mm7bind import config, probe
    from mm7bind.cli import main
    from mm7bind.handlers import ForwardingHandler
    from mm7bind.simulator import SimulatorConfig

    long_label = "a" * 64
    bad = [("http://sp:pw@a..b/mm7", "its host 'a..b' has an empty label (a dot at its start, or two together)"),
           ("http://.mmsc.example/mm7", "its host '.mmsc.example' has an empty label (a dot at its start, or two "
                                        "together)"),
           (f"http://{long_label}.example/mm7", "its host has a label of 64 characters, more than the 63 DNS allows"),
           ("http://" + "a" * 300 + "/mm7", "its host has a label of 300 characters, more than the 63 DNS allows"),
           ("http://" + ".".join(["abcdefgh"] * 30) + "/mm7",
            "its host name is 269 characters long, more than the 253 DNS allows"),
           ("http://xn--a.com/mm7", "its host 'xn--a.com' is no host name IDNA can spell (Codepoint U+0080 at "
                                    "position 1 of '\\x80' not allowed)"),
           ("http://\u2603.example/mm7", "its host '\u2603.example' is no host name IDNA can spell (Codepoint "
                                         "U+2603 at position 1 of '\u2603' not allowed)"),
           ("http://%zz/mm7", "its host '%zz' holds a %: write the name itself, not percent-encoded"),
           ("http://*.example/mm7", "its host '*.example' begins with *, which no host name does"),
           ("http://999.0.0.1/mm7", "its host '999.0.0.1' is no IPv4 address (four numbers of 0-255, without "
                                    "leading zeros)"),
           ("http://[::1/mm7", "its host opens a [ (an IPv6 address) it does not close"),
           ("http:///mm7", "it names no host")]
    for url, why in bad:
        shown = url.replace(":pw@", ":***@")
        for make in (lambda: mm7.ClientConfig(urls=(url,)), lambda: mm7.AsyncClient(url)):
            with pytest.raises(mm7.InvalidURLError) as err:
                make()
            assert str(err.value).startswith(f"{shown!r} is not a usable URL of an MMSC: {why}")
            assert isinstance(err.value, (ValueError, mm7.MM7Error)) and "pw" not in str(err.value)
        with pytest.raises(mm7.InvalidURLError, match=f"is not a usable URL of a VASP's receiver: {re.escape(why)}"):
            probe.probe(url)
        with pytest.raises(mm7.InvalidURLError, match=f"^vasp_url '.*' is not a usable URL: {re.escape(why)}"):
            SimulatorConfig(vasp_url=url)
        with pytest.raises(mm7.InvalidURLError, match=f"is not a usable URL to forward to: {re.escape(why)}"):
            ForwardingHandler(url)
        cfg = config.Config()
        cfg.mmsc.urls = [url]
        assert [str(p) for p in config.check(cfg) if p.where == "mmsc.urls"] == [
            f"error: mmsc.urls: {shown!r} is not a usable URL: {why}"]
        for argv, option in ((["send", "--mmsc", url, "--to", "13800138000"], "--mmsc"), (["probe", url], "URL"),
                             (["simulate", "--port", "0", "--vasp-url", url], "--vasp-url")):
            with pytest.raises(SystemExit) as exit_:
                main(argv)
            assert exit_.value.code == 2
            said = capsys.readouterr().err
            assert said.splitlines()[-1].endswith(f"error: argument {option}: {shown!r} is not a usable URL: {why}")
            assert "Traceback" not in said and "pw" not in said.replace("pw@", "")
    for url in ("http://a.example./mm7", "http://\u00fc.example/mm7", "http://xn--tda.example/mm7", "http://a_b/mm7",
                "http://[fe80::1%25eth0]/mm7", "http://" + ".".join(["a" * 63] * 3) + "/mm7", "http://10.0.0.1/mm7"):
        mm7.ClientConfig(urls=(url,))  # (a final dot, IDNA, an underscore, a zone, 63 characters: taken)


def test_a_host_the_http_library_refuses_when_sending_fails_as_not_sent(monkeypatch):
    """A host `is_http_url` took and the HTTP library refuses when it sends (urllib3's
    LocationParseError, idna's error): a failure to connect, the request never sent, not the
    library's exception out of send, nor "the MMSC may have taken it"."""
    import asyncio

    import pytest

    import mm7bind as mm7
    from mm7bind import client

    monkeypatch.setattr(client, "_bad_host", lambda netloc: None)  # (as a host a later library refuses)
    once = mm7.RetryPolicy(max_attempts=1)
    message = mm7.SubmitReq(recipients=["+8613800000000"], subject="x")
    for url in ("http://a..b/mm7", "http://%zz/mm7", "http://.a/mm7"):
        with mm7.Client(url, retry=once) as c, pytest.raises(mm7.ConnectError) as err:
            c.send(message)
        assert "failed before the request was sent" in str(err.value) and "may have" not in str(err.value)

    async def send_async(url: str) -> None:
        async with mm7.AsyncClient(url, retry=once) as c:
            await c.send(message)

    with pytest.raises(mm7.ConnectError) as err:
        asyncio.run(send_async("http://xn--a.com/mm7"))
    assert "failed before the request was sent" in str(err.value) and "may have" not in str(err.value)


def test_version_help_says_all_the_command_prints(capsys):
    """`mm7bind version --help` spoke of two versions; the command prints the schema versions too."""
    import pytest

    from mm7bind.cli import main

    assert main(["version"]) == 0
    assert "schema versions: REL-5-MM7-1-0" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["version", "--help"])
    assert "the schema versions" in " ".join(capsys.readouterr().out.split())


def test_a_send_to_the_simulators_address_that_never_answers_is_not_told_nothing_listens(capsys, monkeypatch,
                                                                                         tmp_path):
    """A connection to the simulator's address (tried for want of --mmsc) that timed out was told
    "nothing listens ... is `mm7bind simulate` running?": something is there, taking no
    connections (hung), or a firewall drops the packets. One message and a campaign alike."""
    import socket

    from mm7bind import config
    from mm7bind.cli import main

    listener = socket.socket()  # (never accepting, its queue full: the next handshake gets no answer)
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        fillers.append(s)
    monkeypatch.setattr(config, "SIMULATOR_URL", f"http://127.0.0.1:{port}/mm7")
    monkeypatch.chdir(tmp_path)
    for var in [v for v in os.environ if v.startswith("MM7BIND_MMSC_")]:
        monkeypatch.delenv(var)
    (tmp_path / "c.toml").write_text("[mmsc]\nconnect_timeout = 0.3\nmax_attempts = 1\n", encoding="utf-8")
    try:
        one = main(["send", "--config", "c.toml", "--to", "1", "--text", "x"])
        err = capsys.readouterr().err
        many = main(["send", "--config", "c.toml", "--to", "1", "--to", "2", "--text", "x", "--quiet"])
        err_many = capsys.readouterr().err
    finally:
        for s in fillers:
            s.close()
        listener.close()
    assert one == 4 and many == 4
    for said in (err, err_many):
        assert "nothing listens" not in said and "nothing answered at the simulator's address" in said, said
        assert "firewall" in said and said.count("nothing answered") == 1, said
    assert err.rstrip().endswith("(no connection within 0.3 s (connect_timeout))"), err  # (the cause last)


def test_simulate_asked_to_send_an_mo_without_a_vasp_url_says_so_before_it_starts(capsys):
    """`mm7bind simulate --mo-text hi` without --vasp-url started, then printed a thread's traceback
    (RuntimeError: no VASP URL configured) once --mo-after had passed, and ran on as if nothing had
    happened: the MO it was asked for could never go. A usage error, naming the option and where
    `mm7bind serve` receives by default."""
    from mm7bind.cli import main

    assert main(["simulate", "--port", "0", "--mo-text", "hi"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == ("mm7bind simulate: --mo-text sends an MO to the VASP: give --vasp-url too (`mm7bind "
                                 "serve` receives at http://127.0.0.1:8080/mm7 unless configured otherwise)\n"), err
