"""Campaigns resumed and stopped by how the MMSC refuses them: a recipient refused for good is not
sent again, a refusal for a while is; a campaign the MMSC refuses alike, request after request,
stops; and the command's output is a campaign's whenever a recipient file is given."""

from __future__ import annotations

import itertools
import json
import threading

import pytest

import mm7bind as mm7
from mm7bind.outbox import Outbox

from .fake_http import FakeServer, Reply, dead_url, default_responder, mm7_reply, times_out_once


def refusing(codes: dict[str, int]):
    """An MMSC answering the recipients of `codes` with that status (in a SubmitRsp), the others accepted."""

    def answer(req):
        env = req.decode()
        [to] = [str(a) for a in env.body.recipients]
        if to in codes:
            return mm7_reply(mm7.SubmitRsp(status=mm7.Status(codes[to]), message_id="-"), env)
        return default_responder(req)

    return answer


def sent_to(server: FakeServer) -> list[str]:
    return [str(a) for req in server.requests for a in req.decode().body.recipients]


def test_a_resumed_campaign_sends_again_only_to_those_refused_for_a_while(store):
    """Resumed under its tag, a campaign sent again to every recipient the MMSC had refused, those
    it refused for their address too (2002 Address Error, 2003 Address Not Found), each time: they
    are held back (`refused_before`); those refused for a while (3000) or for the account (4001
    Improper identification: every recipient alike, mended by the credentials) are sent again, and
    `retry_refused` sends the others too."""
    from mm7bind.bulk import RefusedBefore, queue_bulk, send_bulk, send_tagged

    rcpts = [f"+861380000000{i}" for i in range(5)]
    codes = {rcpts[0]: 2002, rcpts[1]: 2003, rcpts[2]: 3000, rcpts[3]: 4001}
    template = mm7.SubmitReq(subject="camp")
    with FakeServer(refusing(codes)) as mmsc:
        client = mm7.Client(mmsc.url, store=store, retry=mm7.RetryPolicy.never())
        first = send_bulk(client, template, rcpts, tag="promo", concurrency=1)
        assert (first.sent, first.failed) == (1, 4)
        resumed = send_bulk(client, template, rcpts, tag="promo", concurrency=1)
        assert sent_to(mmsc)[5:] == [rcpts[2], rcpts[3]]
        assert (resumed.total, resumed.skipped, resumed.refused_before) == (2, 1, 2)
        assert resumed.refused_before_to == rcpts[:2]
        one = mm7.SubmitReq(subject="camp", recipients=mm7.Recipients(to=[rcpts[0]]))
        with pytest.raises(RefusedBefore):
            send_tagged(client, one, "promo")
        queued = queue_bulk(Outbox(client), template, rcpts, tag="promo")
        assert (queued.sent, queued.refused_before_to) == (2, rcpts[:2])  # (those refused for a while)
        assert len(mmsc.requests) == 7
        codes.clear()  # (mended: the address, the credentials)
        again = send_bulk(client, template, rcpts[:2], tag="promo", retry_refused=True)
        client.close()
    assert (again.sent, again.refused_before) == (2, 0)
    assert sorted(sent_to(mmsc)[7:]) == rcpts[:2]


def test_a_refusal_after_an_unanswered_attempt_is_not_one_for_good(store):
    """Refused for good only after an attempt that got no answer, the MMSC may have the message: a
    resumed run sends it again under its TransactionID (so that the MMSC can tell), as before."""
    from mm7bind.bulk import send_bulk

    gave_up = threading.Event()
    replies = iter([Reply(hold=gave_up), "refuse"])

    def answer(req):
        reply = next(replies, None)
        if reply == "refuse":
            return mm7_reply(mm7.SubmitRsp(status=mm7.Status(2002), message_id="-"), req.decode())
        return reply or default_responder(req)

    with FakeServer(answer) as mmsc:
        client = mm7.Client(mmsc.url, store=store, retry=mm7.RetryPolicy(max_attempts=2, backoff=0.0, jitter=0.0))
        times_out_once(client, gave_up)
        first = send_bulk(client, mm7.SubmitReq(subject="camp"), ["+8613800000001"], tag="late")
        resumed = send_bulk(client, mm7.SubmitReq(subject="camp"), ["+8613800000001"], tag="late")
        client.close()
    assert (first.failed, resumed.sent, resumed.refused_before) == (1, 1, 0)
    assert len({req.decode().transaction_id for req in mmsc.requests}) == 1


@pytest.mark.parametrize("refusal", ["status", "fault", "http"])
def test_a_campaign_every_request_of_which_is_refused_alike_stops(refusal):
    """Wrong credentials refuse every recipient alike: the campaign went through the whole list,
    each refused; after `stop_after_refused` refusals in a row alike it stops, and says why."""
    from mm7bind.bulk import send_bulk

    def answer(req):
        env = req.decode()
        if refusal == "status":
            return mm7_reply(mm7.SubmitRsp(status=mm7.Status(4001), message_id="-"), env)
        if refusal == "fault":
            return mm7_reply(mm7.Fault(code="Client", detail=mm7.RSErrorRsp(status=mm7.Status(4001))), env, 500)
        return Reply(403, b"forbidden", {"Content-Type": "text/plain"})

    rcpts = [f"+86138000{i:05d}" for i in range(40)]
    with FakeServer(answer) as mmsc, mm7.Client(mmsc.url, retry=mm7.RetryPolicy.never()) as client:
        stopped = send_bulk(client, mm7.SubmitReq(subject="camp"), rcpts, stop_after_refused=5, concurrency=1)
        never = send_bulk(client, mm7.SubmitReq(subject="camp"), rcpts[:8], stop_after_refused=0)
    assert (stopped.sent, stopped.failed) == (0, 5) and len(mmsc.requests) == 5 + 8
    assert stopped.stopped_by_refusal == ("HTTP 403" if refusal == "http" else "4001 Improper identification")
    assert (never.failed, never.stopped_by_refusal) == (8, None)


@pytest.mark.parametrize("silence", ["timeout", "hang-up", "gateway", "unavailable"])
def test_a_campaign_no_request_of_which_is_answered_stops(silence):
    """An MMSC that takes every connection and answers none (it hangs, or hangs up once the request
    is in) had the run go through the whole list, each recipient waiting out its retries and left
    "may have arrived"; so did a gateway timing out in turn with a hang-up (each told apart as a
    refusal of its own). As an MMSC refusing connections, it stops after `stop_after_unreachable`,
    and so does one answering 503 (unavailable, it took nothing), not as a refusal."""
    from mm7bind.bulk import send_bulk

    never = threading.Event()
    replies = {"timeout": [Reply(hold=never)], "hang-up": [Reply(drop=True)],
               "gateway": [Reply(504, b"<html>gateway time-out</html>", {"Content-Type": "text/html"}),
                           Reply(drop=True)],
               "unavailable": [Reply(503, b"busy", {"Content-Type": "text/plain"})]}[silence]
    rcpts = [f"+86138000{i:05d}" for i in range(30)]
    try:
        with FakeServer(lambda req, given=itertools.cycle(replies): next(given)) as mmsc, \
                mm7.Client(mmsc.url, read_timeout=0.2, retry=mm7.RetryPolicy.never()) as client:
            result = send_bulk(client, mm7.SubmitReq(subject="camp"), rcpts, stop_after_unreachable=4,
                               concurrency=1)
    finally:
        never.set()
    assert (result.unreachable, result.stopped_by_refusal, result.failed) == (True, None, 4)
    assert result.may_have_arrived == (0 if silence == "unavailable" else 4)
    assert len(mmsc.requests) == 4


def test_an_answer_between_requests_that_reached_no_mmsc_starts_their_count_again():
    """A refused connection, then a Fault from the other MMSC, in turn: an MMSC answers, the run
    goes on (only a refused connection answered in a response started the count again)."""
    from mm7bind.bulk import send_bulk

    def answer(req):
        return mm7_reply(mm7.Fault(code="Client", detail=mm7.RSErrorRsp(status=mm7.Status(2002))), req.decode(), 500)

    rcpts = [f"+86138000{i:05d}" for i in range(8)]
    with FakeServer(answer) as mmsc, mm7.Client((dead_url(), mmsc.url), round_robin=True,
                                                retry=mm7.RetryPolicy.never()) as client:
        result = send_bulk(client, mm7.SubmitReq(subject="camp"), rcpts, stop_after_unreachable=2, concurrency=1)
    assert (result.unreachable, result.failed) == (False, 8)
    assert len(mmsc.requests) == 4


def test_refusals_of_several_kinds_or_among_accepted_ones_do_not_stop_a_campaign():
    """Refusals that are the recipients' (an address here, another there, accepted ones between)
    do not stop it: only `stop_after_refused` alike in a row do."""
    from mm7bind.bulk import send_bulk

    rcpts = [f"+86138000{i:05d}" for i in range(12)]
    codes = {r: (2002 if i % 2 else 2003) for i, r in enumerate(rcpts[:8])}  # (two kinds, in turn)
    codes.update({r: 2002 for r in rcpts[9:]})  # (an accepted one, then three alike)
    with FakeServer(refusing(codes)) as mmsc, mm7.Client(mmsc.url, retry=mm7.RetryPolicy.never()) as client:
        result = send_bulk(client, mm7.SubmitReq(subject="camp"), rcpts, stop_after_refused=4, concurrency=1)
    assert (result.sent, result.failed, result.stopped_by_refusal) == (1, 11, None)
    assert len(mmsc.requests) == 12


def test_a_stop_after_refused_that_is_no_whole_number_is_refused():
    from mm7bind.bulk import send_bulk

    with mm7.Client("http://127.0.0.1:9/mm7") as client:
        for value in (-1, 1.5, True):
            with pytest.raises(ValueError, match="stop_after_refused"):
                send_bulk(client, mm7.SubmitReq(subject="x"), ["+8613800000000"], stop_after_refused=value)


def test_without_a_country_code_a_recipient_spelled_anew_goes_again_under_its_transaction_id(store):
    """One recipient to the campaign ("+8613800000001" and "8613800000001"), but its TransactionID
    was derived from it as written: left unanswered, it went again from a list spelling it
    otherwise under a new one, and an MMSC that had the first took it for another message. It goes
    again as that request went (its TransactionID, its address); queued, the same."""
    from mm7bind.bulk import bulk_transaction_id, installation, queue_bulk, send_bulk

    tids = {}
    for tag in ("sent", "queued"):
        tids[tag] = bulk_transaction_id(tag, "+8613800000001", 0, installation(store))
        store.record_sent(mm7.SentRecord(
            transaction_id=tids[tag], operation="SubmitReq", version="REL-6-MM7-1-4", recipients=["+8613800000001"],
            message_id=None, url=None, status_code=None, status_text=None,
            error="RequestTimeout: no answer within 0.3 s", attempts=1, tag=tag))
    with FakeServer() as mmsc, mm7.Client(mmsc.url, store=store) as client:
        resumed = send_bulk(client, mm7.SubmitReq(subject="camp"), ["8613800000001"], tag="sent")
        queued = queue_bulk(Outbox(client), mm7.SubmitReq(subject="camp"), ["008613800000001"], tag="queued")
    assert (resumed.sent, resumed.earlier_unanswered) == (1, 1)
    [req] = mmsc.requests
    assert req.decode().transaction_id == tids["sent"]
    [item] = store.outbox(tag="queued")
    assert queued.sent == 1 and (item.transaction_id, item.recipients) == (tids["queued"], ["+8613800000001"])


def config(tmp_path, url: str) -> str:
    path = tmp_path / "cfg.toml"
    path.write_text(f'[mmsc]\nurls = ["{url}"]\n[store]\npath = "{(tmp_path / "vasp.db").as_posix()}"\n',
                    encoding="utf-8")
    return str(path)


def test_send_with_a_recipient_file_of_one_prints_a_campaign_s_json(tmp_path, capsys):
    """The output's shape is the option's: a --to-file listing one recipient printed one send's JSON
    (message_id, status), and a script reading a campaign's counts found none."""
    from mm7bind.cli import main

    (tmp_path / "one.csv").write_text("+8613800000001\n", encoding="utf-8")
    with FakeServer() as mmsc:
        assert main(["send", "--mmsc", mmsc.url, "--to-file", str(tmp_path / "one.csv"), "--text", "x",
                     "--json"]) == 0
        campaign = json.loads(capsys.readouterr().out)
        assert main(["send", "--mmsc", mmsc.url, "--to", "+8613800000001", "--text", "x", "--json"]) == 0
        single = json.loads(capsys.readouterr().out)
    assert (campaign["total"], campaign["sent"], campaign["not_tried"]) == (1, 1, 0)
    assert list(campaign["message_ids"]) == ["+8613800000001"] and "status" not in campaign
    assert single["ok"] is True and "total" not in single


def test_send_stops_a_campaign_refused_alike_and_resumes_it_with_retry_refused(tmp_path, capsys):
    """Refused for the account (4001) it stops, and once the credentials are mended the same command
    sends to everyone, those refused included; refused for their address (2002), recipients are
    held back until --retry-refused."""
    from mm7bind.cli import main

    rcpts = [f"+86138000{i:05d}" for i in range(30)]
    (tmp_path / "to.csv").write_text("".join(f"{r}\n" for r in rcpts), encoding="utf-8")
    refusing = {"all": 4001}

    def answer(req):
        env = req.decode()
        code = refusing.get("all") or refusing.get(str(env.body.recipients.to[0]))
        if code:
            return mm7_reply(mm7.SubmitRsp(status=mm7.Status(code), message_id="-"), env)
        return default_responder(req)

    with FakeServer(answer) as mmsc:
        cfg = config(tmp_path, mmsc.url)
        send = ["send", "--config", cfg, "--to-file", str(tmp_path / "to.csv"), "--text", "x", "--tag", "t",
                "--concurrency", "1", "--quiet"]
        assert main([*send, "--stop-after-refused", "3", "--json"]) == 1
        stopped = json.loads(capsys.readouterr().out)
        assert (stopped["failed"], stopped["not_tried"]) == (3, 27)
        assert stopped["stopped_by_refusal"] == "4001 Improper identification"
        assert main([*send, "--stop-after-refused", "3"]) == 1  # (the same three, refused alike again)
        said = capsys.readouterr()
        assert "stopped: the MMSC refused 3 requests in a row alike (4001 Improper identification)" in said.err
        # (what it says sends them is what does, below: no flag, which holds back only addresses refused)
        assert "the same command (`--tag t`) sends to those refused and the 27 not tried" in said.err, said.err
        assert "refused before" not in said.out, said.out
        refusing.clear()  # (the credentials mended; two addresses are wrong)
        refusing.update({rcpts[0]: 2002, rcpts[5]: 2002})
        assert main(send) == 1
        said = capsys.readouterr().out  # (a refusal of the account's is not the recipients': no flag needed)
        assert "sent 28, failed 2" in said, said
        assert main(send) == 0
        said = capsys.readouterr().out
        assert "not sent again: 2 recipients the MMSC refused for their address before" in said, said
        refusing.clear()  # (the addresses mended)
        assert main([*send, "--retry-refused"]) == 0
        assert "sent 2, failed 0" in capsys.readouterr().out
    assert len(mmsc.requests) == 3 + 3 + 30 + 2


def test_one_send_under_a_tag_to_a_recipient_refused_for_its_address_is_not_sent_again(tmp_path, capsys):
    """`send --to N --tag T` is a campaign of one: a recipient the MMSC refused for its address
    under the tag is held back, saying which flag sends it (exit 1), in words or in JSON."""
    from mm7bind.cli import main

    def answer(req):
        return mm7_reply(mm7.SubmitRsp(status=mm7.Status(2003), message_id="-"), req.decode())

    with FakeServer(answer) as mmsc:
        send = ["send", "--config", config(tmp_path, mmsc.url), "--to", "+8613800000001", "--text", "x",
                "--tag", "t", "--quiet"]
        assert main(send) == 1
        capsys.readouterr()
        assert main(send) == 1
        said = capsys.readouterr().err
        assert said.startswith("mm7bind send: not sent: +8613800000001: the MMSC refused its address under tag")
        assert said.rstrip().endswith("--retry-refused sends it again"), said
        assert main([*send, "--json"]) == 1
        assert json.loads(capsys.readouterr().out)["error"] == "refused-before"
        assert main([*send, "--retry-refused"]) == 1  # (sent, and refused again)
    assert len(mmsc.requests) == 2


def test_addresses_refused_in_a_row_are_the_recipients_and_do_not_stop_the_run():
    """2002 or 2003 to one recipient after another (a list's block of dead numbers) says the MMSC
    reads past the account: the run goes on, where refusals alike of another code stop it."""
    from mm7bind.bulk import send_bulk

    rcpts = [f"+86138000000{i:02d}" for i in range(8)]
    codes = {r: 2002 for r in rcpts[:6]}
    with FakeServer(refusing(codes)) as mmsc:
        client = mm7.Client(mmsc.url, retry=mm7.RetryPolicy.never())
        result = send_bulk(client, mm7.SubmitReq(subject="camp"), rcpts, concurrency=1, stop_after_refused=3)
        client.close()
    assert (result.failed, result.sent, result.stopped_by_refusal) == (6, 2, None)
    assert len(mmsc.requests) == 8


@pytest.mark.parametrize("tagged", [False, True])
def test_a_campaign_the_mmsc_throttles_with_http_429_waits_as_asked_and_does_not_stop(tmp_path, tagged):
    """An HTTP 429 (Too Many Requests) is the MMSC's rate limit, not a refusal: the outbox's queue
    waits it out. A direct run counted it as a refusal alike: `stop_after_refused` of them in a row
    stopped the campaign, "HTTP 429", the rest of the list unsent. It now waits as long as the
    Retry-After asks before any request starts, then sends the recipient again."""
    from mm7bind.bulk import send_bulk

    throttled = [2]

    def answer(req):
        if throttled[0]:
            throttled[0] -= 1
            return Reply(429, b"slow down", {"Content-Type": "text/plain", "Retry-After": "1"})
        return default_responder(req)

    rcpts = [f"+86138000{i:05d}" for i in range(4)]
    store = mm7.SqliteStore(tmp_path / "vasp.db") if tagged else None  # (a resumable run: each recipient claimed)
    with FakeServer(answer) as mmsc, mm7.Client(mmsc.url, retry=mm7.RetryPolicy.never(), store=store) as client:
        result = send_bulk(client, mm7.SubmitReq(subject="camp"), rcpts, stop_after_refused=2, concurrency=1,
                           tag="camp" if tagged else None)
    assert (result.sent, result.failed, result.stopped_by_refusal) == (4, 0, None)
    assert sent_to(mmsc) == [rcpts[0]] * 3 + rcpts[1:]
    assert result.elapsed >= 2  # (each Retry-After waited out)
    if tagged:
        assert len({r.transaction_id for r in store.sent(tag="camp")}) == 4  # (sent again under its TransactionID)
        store.close()


def test_a_tagged_send_with_no_time_for_an_attempt_is_one_line_and_exit_1_as_in_a_campaign(tmp_path, capsys,
                                                                                            monkeypatch):
    """`send --tag` to one recipient whose claim leaves no time for an attempt (a rate limit's wait,
    kept long by other senders, outlasting it) ended in a NoTimeLeft traceback. Now it is said in one
    line (with --json, the one object), exit 1 as a campaign counts it (failed, no MMSC unanswered),
    nothing sent, and the same command sends it once there is time."""
    from datetime import timedelta

    from mm7bind import sendonce
    from mm7bind.cli import main

    with FakeServer() as mmsc:
        send = ["send", "--config", config(tmp_path, mmsc.url), "--to", "+8613800000001", "--text", "x", "--tag", "t"]
        with monkeypatch.context() as patched:
            patched.setattr(sendonce, "lease", lambda config, size=None: timedelta(0))  # (no time left in the claim)
            assert main(send) == 1
            said = capsys.readouterr()
            assert said.out == "" and said.err.startswith("mm7bind send: not sent: no time for an attempt of SubmitReq")
            assert said.err.endswith("the same command (`--tag t`) again sends it\n") and said.err.count("\n") == 1
            assert main([*send, "--json"]) == 1
            out = json.loads(capsys.readouterr().out)
            assert (out["ok"], out["error"], out["may_have_arrived"]) == (False, "NoTimeLeft", False)
            assert out["message"].startswith("no time for an attempt") and mmsc.requests == []
        assert main(send) == 0 and len(mmsc.requests) == 1  # (the claim given back: sent)


def test_a_campaign_of_a_message_that_cannot_be_built_says_none_may_have_arrived(tmp_path, capsys):
    """A campaign whose message is too large for max_message_size (nothing went out) said "2 of the
    failed got no answer: the MMSC may have taken them": an error the arrival rule did not know was
    taken as one that may have arrived. An EncodeError is one that took nothing (and a campaign's
    message that cannot be built is now refused before the campaign starts)."""
    from mm7bind.arrival import NOT_TAKEN, arrival
    from mm7bind.cli import main

    (tmp_path / "to.csv").write_text("+8613800000001\n+8613800000002\n", encoding="utf-8")
    (tmp_path / "big.bin").write_bytes(bytes(range(256)) * 20)
    with FakeServer() as mmsc:
        cfg = tmp_path / "c.toml"
        cfg.write_text(f'[mmsc]\nurls = ["{mmsc.url}"]\nmax_message_size = 1000\n', encoding="utf-8")
        send = ["send", "-c", str(cfg), "--to-file", str(tmp_path / "to.csv"), "--attach", str(tmp_path / "big.bin")]
        # (checked on the first recipient before the campaign starts: exit 2, as for one message)
        assert main([*send, "--json"]) == 2
        out = json.loads(capsys.readouterr().out)
        assert (out["ok"], out["error"], out["may_have_arrived"]) == (False, "MessageTooLargeError", False), out
        assert main([*send, "--quiet"]) == 2
        said = "".join(capsys.readouterr())
        assert "cannot build the message (nothing sent)" in said and "may have taken" not in said, said
        assert mmsc.requests == []
    for error in (mm7.errors.MessageTooLargeError(6204, 1000), "MessageTooLargeError: the message is 6204 bytes",
                  mm7.errors.UnsupportedFieldError("x", field="x", version="REL-5-MM7-1-0"), mm7.errors.EncodeError("x")):
        assert arrival(error) == NOT_TAKEN, error


def test_a_tagged_send_that_failed_over_goes_again_to_the_mmsc_that_may_have_it_after_its_process_died(
        store, monkeypatch):
    """A campaign's request went to the first MMSC, unavailable (4006), and failed over to the
    second; its process killed while the second had the request (no record of the send: it never
    ended), the campaign resumed (the same TransactionID) started at the first MMSC again, which
    took it: delivered twice. Where an attempt goes after a fail-over is noted with the recipient's
    claim before it goes; the resumed run goes there first. A send that goes where it starts notes
    nothing (no write per recipient)."""
    from mm7bind import sendonce
    from mm7bind.bulk import send_bulk, send_tagged

    arrived, released = threading.Event(), threading.Event()
    busy = [True]

    def first(req):  # (unavailable while the campaign's first process lives)
        if busy[0]:
            return mm7_reply(mm7.SubmitRsp(status=mm7.Status(4006, "Service unavailable"), message_id="-"),
                             req.decode())
        return default_responder(req)

    def second(req):  # (the copy is never answered while its process lives)
        if not arrived.is_set():
            arrived.set()
            return Reply(hold=released)
        return default_responder(req)

    one = mm7.SubmitReq(subject="camp", recipients=mm7.Recipients(to=["+8613800000001"]))
    noted = []
    attempt_at = store.send_claim_attempt_at
    store.send_claim_attempt_at = lambda *args: noted.append(args[-1]) or attempt_at(*args)
    with FakeServer(first) as a, FakeServer(second) as b:
        retry = mm7.RetryPolicy(max_attempts=2, backoff=0.01)
        before = mm7.Client((a.url, b.url), store=store, retry=retry)
        worker = None
        try:
            def killed():  # (released after the test, its answer matters to nobody)
                try:
                    send_tagged(before, one, "promo")
                except mm7.MM7Error:
                    pass

            worker = threading.Thread(target=killed, daemon=True)
            worker.start()
            assert arrived.wait(10)  # ... and its process is killed here
            assert list(store.submits("promo")) == []
            busy[0] = False  # (the first MMSC takes requests again)
            monkeypatch.setattr(sendonce, "_stale", lambda held: True)  # (its holder is gone)
            with mm7.Client((a.url, b.url), store=store, retry=retry) as after:
                r = send_tagged(after, one, "promo")
                assert r.ok and r.url == b.url
                resumed = send_bulk(after, mm7.SubmitReq(subject="camp"), ["+8613800000002"], tag="promo")
                assert resumed.sent == 1
            tids = {req.decode().transaction_id for srv in (a, b) for req in srv.requests}
            assert len(tids) == 2
            assert [sent_to(srv).count("+8613800000001") for srv in (a, b)] == [1, 2]
            assert noted == [b.url]  # (one note, for the fail-over; none for sends that went where they start)
        finally:
            released.set()
            if worker is not None:
                worker.join(30)
            before.close()


def test_an_asyncclient_is_refused_by_the_outbox_and_a_campaign_at_once(store):
    """The outbox and a campaign send from threads, through a blocking `Client` (its fail-over noted
    in the store before each attempt: `OutboxItem.attempt_url`, `SendClaim.attempt_url`). Given an
    `AsyncClient`, the outbox queued messages that never went — each round an "internal error", its
    send a coroutine never awaited — until they expired; a campaign failed every recipient so. Both
    say so at once, before anything is queued or claimed."""
    pytest.importorskip("httpx")
    from mm7bind.bulk import send_bulk, send_tagged

    client = mm7.AsyncClient("http://127.0.0.1:9/mm7", store=store)
    one = mm7.SubmitReq(subject="camp", recipients=mm7.Recipients(to=["+8613800000001"]))
    with pytest.raises(TypeError, match="AsyncClient"):
        Outbox(client)
    with pytest.raises(TypeError, match="AsyncClient"):
        send_bulk(client, mm7.SubmitReq(subject="camp"), ["+8613800000001"], tag="promo")
    with pytest.raises(TypeError, match="AsyncClient"):
        send_tagged(client, one, "promo")
    assert list(store.submits("promo")) == [] and store.outbox() == []


def test_a_tagged_send_round_robin_goes_again_to_the_mmsc_that_may_have_it_after_its_process_died(
        store, monkeypatch):
    """With `round_robin`, a campaign's request went to this process's turn of the URLs; its process
    killed while that MMSC had it (no record), the resumed run's turn sent it to another MMSC, which
    cannot tell the repeat: delivered twice. A send whose start is a turn notes where its first
    attempt goes with the recipient's claim (the first URL too), and the resumed run goes there first."""
    from mm7bind import sendonce
    from mm7bind.bulk import send_tagged

    arrived, released = threading.Event(), threading.Event()

    def held_once(req):  # (the campaign's first copy is never answered while its process lives)
        if req.decode().body.subject == "camp" and not arrived.is_set():
            arrived.set()
            return Reply(hold=released)
        return default_responder(req)

    one = mm7.SubmitReq(subject="camp", recipients=mm7.Recipients(to=["+8613800000001"]))
    with FakeServer(held_once) as a, FakeServer(held_once) as b:
        urls = (a.url, b.url)
        before = mm7.Client(urls, round_robin=True, store=store, retry=mm7.RetryPolicy.never())
        worker = None
        try:
            def killed():  # (released after the test, its answer matters to nobody)
                try:
                    send_tagged(before, one, "promo")
                except mm7.MM7Error:
                    pass

            worker = threading.Thread(target=killed, daemon=True)
            worker.start()
            assert arrived.wait(10)  # ... and its process is killed here
            monkeypatch.setattr(sendonce, "_stale", lambda held: True)  # (its holder is gone)
            with mm7.Client(urls, round_robin=True, store=store, retry=mm7.RetryPolicy.never()) as after:
                assert after.submit(mm7.SubmitReq(recipients=["0"])).ok  # (a turn taken before the campaign's)
                assert send_tagged(after, one, "promo").ok
            went = [srv for srv in (a, b) for req in srv.requests if req.decode().body.subject == "camp"]
            assert len(went) == 2 and went[0] is went[1], [srv.url for srv in went]
        finally:
            released.set()
            if worker is not None:
                worker.join(30)
            before.close()
