"""Campaigns from the command line: the output is a campaign's whenever a recipient file is given."""

from __future__ import annotations

import json

from .fake_http import FakeServer


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
