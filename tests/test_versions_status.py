"""The version registry and the status tables."""

from __future__ import annotations

import dataclasses

import pytest
from lxml import etree

import mm7bind as mm7
from mm7bind import status, versions

NAMES = [f"REL-5-MM7-1-{i}" for i in range(6)] + [f"REL-6-MM7-1-{i}" for i in range(5)]


def test_all_eleven_versions_in_order():
    assert [v.name for v in versions.all_versions()] == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_version_entry(name):
    v = versions.get(name)
    assert v.namespace == "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/" + name
    assert v.schema_path.name == f"{name}.xsd" and v.schema_path.is_file()
    root = etree.parse(str(v.schema_path)).getroot()
    assert root.get("targetNamespace") == v.namespace
    assert v.default_mm7_version == ("5.3.0" if v.release == 5 else v.mm7_versions[0])
    assert v.element_class("TransactionID") is not None and v.element_class("SubmitReq") is not None
    assert versions.by_namespace(v.namespace) is v


def test_lookup_forms():
    v = versions.get("REL-6-MM7-1-4")
    assert versions.get("rel6_mm7_1_4") is v and versions.get("6-1-4") is v and versions.get(v.namespace) is v
    assert versions.get(v) is v
    with pytest.raises(KeyError, match="known: REL-5-MM7-1-0"):
        versions.get("REL-7-MM7-1-0")


@pytest.fixture
def manifest_copy(tmp_path, monkeypatch):
    """versions.toml copied where the registry reads it, to be edited; the caches read afresh."""
    copy = tmp_path / "versions.toml"
    copy.write_text((versions.schema_dir() / "versions.toml").read_text(encoding="utf-8"), encoding="utf-8")
    caches = [versions._registry, versions._namespaces, versions._spellings, versions._latest,
              versions.envelope_schema_path]
    monkeypatch.setattr(versions, "schema_dir", lambda: tmp_path)
    for cached in caches:
        cached.cache_clear()
    yield copy
    monkeypatch.undo()
    for cached in caches:
        cached.cache_clear()


@pytest.mark.parametrize(("edit", "said"), [
    (lambda text: text.replace('pairing = "confirmed"\n', 'pairing = "confirmed"\nsource = "TS 23.140"\n', 1),
     '[versions."REL-5-MM7-1-0"] has source, which mm7bind does not know (a version\'s keys: file, includes,'),
    (lambda text: text.replace('package = "rel5_mm7_1_1"\n', "", 1),
     '[versions."REL-5-MM7-1-1"] lacks package (a version\'s keys:'),
    (lambda text: text.replace('[versions."REL-6-MM7-1-0"]', '[versions."REL-6-MM7-1-0"', 1), "is not valid TOML: "),
    # (a string where a list belongs was read a character a value: MM7Version "5" sent)
    (lambda text: text.replace('mm7_versions = ["5.3.0"]', 'mm7_versions = "5.3.0"', 1),
     '[versions."REL-5-MM7-1-0"] mm7_versions = \'5.3.0\' is no list of strings'),
    (lambda text: text.replace('pairing = "confirmed"\n', 'pairing = true\n', 1),
     '[versions."REL-5-MM7-1-0"] pairing = True is no string'),
], ids=["unknown-key", "missing-key", "not-toml", "string-not-list", "bool-not-string"])
def test_a_manifest_edited_by_hand_is_named_with_what_is_wrong_in_it(manifest_copy, edit, said):
    # A key the registry did not know was a bare TypeError (Version.__init__() got an unexpected
    # keyword argument) from `import mm7bind`, naming neither the file nor the version.
    manifest_copy.write_text(edit(manifest_copy.read_text(encoding="utf-8")), encoding="utf-8")
    for read in (versions.all_versions, versions.envelope_schema_path):
        with pytest.raises(versions.ManifestError) as caught:
            read()
        assert str(caught.value).startswith(str(manifest_copy)) and said in str(caught.value)


def test_the_registry_takes_the_keys_the_tools_write():
    from tools import regen

    # (the tool checks the file with the registry's own check, and its record holds each key it takes)
    assert regen.parse_manifest is versions.parse_manifest
    assert versions._KEYS == {f.name for f in dataclasses.fields(regen.VersionEntry)} - {"name"}


def test_closest_versions_for_odd_namespaces():
    base = "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/"
    assert versions.closest_for_namespace(base + "REL-6-MM7-6-7").name == "REL-6-MM7-1-4"
    assert versions.closest_for_namespace(base + "REL-5-MM7-1-9").name == "REL-5-MM7-1-5"
    assert versions.closest_for_namespace("http://example.com/mm7") is None
    assert versions.for_mm7_version("6.3.0").name == "REL-6-MM7-1-0"
    assert versions.for_mm7_version("6.8.0").name == "REL-6-MM7-1-4"
    assert versions.for_mm7_version("5.3.0").release == 5


def test_mm7version_enumerations_match_the_manifest():
    for name in ("REL-5-MM7-1-5", "REL-6-MM7-1-4"):
        v = versions.get(name)
        from mm7bind.binding import field_enum_values

        assert set(field_enum_values(v, "SubmitReq", "MM7Version")) == set(v.mm7_versions)


def test_status_table_has_every_code_with_both_texts():
    codes = {s.code for s in status.all_codes()}
    assert codes == {int(c) for c in status.RequestStatus}
    assert len(codes) == 26
    for s in status.all_codes():
        assert s.text and s.text_zh
    assert status.lookup(2007).text_zh == "消息格式破坏"
    assert status.lookup(4006).text == "Service unavailable" and status.lookup(4006).text_zh == "无法提供服务"
    assert status.lookup(2008).release == 6 and not status.lookup(2008).zh_from_manual


def test_china_mobile_partial_success_alias():
    info = status.lookup(1001)
    assert info.code == 1001 and info.text == "Partial success" and info.text_zh == "部分成功"
    assert info.is_success


@pytest.mark.parametrize(("code", "klass", "retry"), [
    (1000, status.StatusClass.SUCCESS, False),
    (2001, status.StatusClass.CLIENT_ERROR, False),
    (2104, status.StatusClass.CLIENT_ERROR, False),  # carrier-private: classified by its thousands digit
    (3000, status.StatusClass.SERVER_ERROR, True),
    (3999, status.StatusClass.SERVER_ERROR, True),
    (3001, status.StatusClass.SERVER_ERROR, False),  # the request cannot succeed as sent
    (3002, status.StatusClass.SERVER_ERROR, True),
    (3003, status.StatusClass.SERVER_ERROR, False),
    (3004, status.StatusClass.SERVER_ERROR, False),
    (4006, status.StatusClass.SERVICE_ERROR, True),
    (4101, status.StatusClass.SERVICE_ERROR, False),
    (999, status.StatusClass.UNKNOWN, False),
])
def test_classification(code, klass, retry):
    assert status.classify(code) is klass and status.is_retryable(code) is retry


def test_the_faultcode_says_whose_fault_the_status_says_it_is():
    """One rule for every Fault written: a 2xxx, and the 4xxx that blame the request as sent (who
    sent it, its version, operation or form), are Client; the rest Server. A retryable code is
    never Client: a peer reading the faultcode alone would drop what may pass."""
    client = {2000, 2002, 2007, 2104, 4001, 4002, 4003, 4004, 4007, 4008}
    server = {1000, 1100, 3000, 3001, 3003, 4000, 4005, 4006, 4101, 999, 5000}
    assert {c: status.fault_code(c) for c in client | server} == {
        **dict.fromkeys(client, "Client"), **dict.fromkeys(server, "Server")}
    assert all(status.fault_code(s.code) == "Server" for s in status.all_codes() if s.retryable)
    assert status.fault_code(status.RequestStatus.VALIDATION_ERROR) == "Client"


def test_delivery_and_read_statuses_per_version():
    rel5 = ("Expired", "Retrieved", "Rejected", "Indeterminate", "Forwarded")
    for v in versions.all_versions():
        expected = rel5 + (("Unrecognised", "Deferred", "DeliveryConditionNotMet") if v.release == 6 else ())
        assert status.delivery_statuses(v) == expected
        assert status.read_statuses(v) == ("Indeterminate", "Read", "Deleted")
    assert {s.value for s in mm7.DeliveryStatus} == set(status.delivery_statuses("REL-6-MM7-1-4"))


def test_validate_element_takes_a_version_or_its_name():
    from lxml import etree

    root = etree.fromstring(mm7.encode_envelope(mm7.DeliverRsp(), transaction_id="t", version="REL-5-MM7-1-2"))
    assert mm7.validation.validate_element(root, "REL-5-MM7-1-2") == []
    status = next(el for el in root.iter() if etree.QName(el).localname == "Status")
    status.getparent().remove(status)
    by_name = mm7.validation.validate_element(root, "REL-5-MM7-1-2")
    assert by_name and by_name == mm7.validation.validate_element(root, mm7.versions.get("REL-5-MM7-1-2"))


def test_later_release_is_the_namespaces_release_compared():
    """The one check the reader, the client's warning and the receiver's answers share."""
    rel5 = versions.get("REL-5-MM7-1-0")
    assert versions.later_release("6.3.0", rel5) == 6 and versions.later_release(" 6.3.0 ", "REL-5-MM7-1-0") == 6
    assert [versions.later_release(v, rel5) for v in ("5.10.0", "5.2.0", "4.0.0", "6.x", None)] == [None] * 5
    assert versions.later_release("6.3.0", versions.get("REL-6-MM7-1-0")) is None
    # a namespace as written is of the release it names, whatever version it is read as
    unknown = versions.MM7_NS_BASE + "REL-7-MM7-1-0"
    assert versions.later_release("7.0.0", versions.latest(), unknown) is None
    assert versions.later_release("7.0.0", versions.latest()) == 7


def test_later_than_paired_takes_a_version_or_its_name():
    """The API page writes `versions.later_than_paired(version, "6.5.0")`; a name (as `get`,
    `validate_element` and the rest take one) was an AttributeError."""
    from mm7bind import versions

    by_name = versions.later_than_paired("REL-6-MM7-1-0", "6.5.0")
    assert by_name and by_name == versions.later_than_paired(versions.get("REL-6-MM7-1-0"), "6.5.0")
    assert versions.later_than_paired("REL-6-MM7-1-4", "6.3.0") is None
