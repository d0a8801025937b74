"""The XSDs in schemas/ against the protocol's element tables, release by release.

The schemas are the project's own reconstruction of TS 23.140's, and every other test takes them
as given (messages are built from, and validated against, whatever they say). Here each body
element's content model — element names in order, minOccurs/maxOccurs, value types, enumerations,
attributes — is compared with the structure the protocol publishes for REL-6-MM7-1-4, minus what
Rel-6 added for the Rel-5 schemas and minus MMStatusExtension and the extended operations for
REL-6-MM7-1-0 … 1-3. A schema edited out of line with that fails here, whatever it still validates.

The schemas are read through `xsd_model`, which answers by element name whatever the layout (type
names, references, groups, derivations), so an official 3GPP file imported for a version is held to
the same tables (where it disagrees with them, the official file is right: correct the tables). The
official-style fixtures in tests/schemas/ are checked here too, to keep the reading honest about that,
and one laid out with extension points in the body types (`layouts.official_layout`): the tables
leave out an official file's extension points (xs:any of other namespaces), which carry no MM7 element.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import mm7bind as mm7

from .layouts import official_layout
from .xsd_model import UNBOUNDED, XS, Schema

VERSIONS = mm7.versions.all_versions()
# Files in the official files' layout, each standing for the version its namespace names.
OFFICIAL_STYLE = sorted((Path(__file__).parent / "schemas").glob("official-style-*.xsd"))

# Marks on the REL-6-MM7-1-4 tables: "6" = added in Rel-6, "14" = only in REL-6-MM7-1-4.
VASP_BASE = [("MM7Version", 1, 1), ("SenderIdentification", 1, 1)]
RS_BASE = [("MM7Version", 1, 1), ("MMSRelayServerID", 0, 1)]
RESPONSE = [("MM7Version", 1, 1), ("Status", 1, 1)]
APPLIC = [("ApplicID", 0, 1, "6"), ("ReplyApplicID", 0, 1, "6"), ("AuxApplicInfo", 0, 1, "6")]

BODIES: dict[str, list[tuple]] = {
    "SubmitReq": VASP_BASE + [
        ("Recipients", 1, 1), ("ServiceCode", 0, 1), ("LinkedID", 0, 1), ("MessageClass", 0, 1), ("TimeStamp", 0, 1),
        ("ReplyCharging", 0, 1), ("EarliestDeliveryTime", 0, 1), ("ExpiryDate", 0, 1), ("DeliveryReport", 0, 1),
        ("ReadReply", 0, 1), ("Priority", 0, 1), ("Subject", 0, 1), ("ChargedParty", 0, 1),
        ("ChargedPartyID", 0, 1, "6"), ("DistributionIndicator", 0, 1), ("DeliveryCondition", 0, 1, "6"), *APPLIC,
        ("ContentClass", 0, 1, "6"), ("DRMContent", 0, 1, "6"), ("Content", 0, 1)],
    "SubmitRsp": RESPONSE + [("MessageID", 1, 1)],
    "DeliverReq": RS_BASE + [
        ("VASPID", 0, 1, "6"), ("VASID", 0, 1, "6"), ("LinkedID", 0, 1), ("Sender", 1, 1), ("Recipients", 0, 1),
        ("Previouslysentby", 0, 1, "6"), ("Previouslysentdateandtime", 0, 1, "6"), ("SenderSPI", 0, 1, "6"),
        ("RecipientSPI", 0, 1, "6"), ("TimeStamp", 0, 1), ("ReplyChargingID", 0, 1), ("Priority", 0, 1),
        ("Subject", 0, 1), *APPLIC, ("UACapabilities", 0, 1, "6"), ("Content", 0, 1)],
    "DeliverRsp": RESPONSE + [("ServiceCode", 0, 1)],
    "CancelReq": VASP_BASE + [("MessageID", 1, 1), ("Recipients", 0, 1, "6"), *APPLIC],
    "CancelRsp": RESPONSE,
    "ReplaceReq": VASP_BASE + [
        ("MessageID", 1, 1), ("ServiceCode", 0, 1), ("TimeStamp", 0, 1), ("ReadReply", 0, 1),
        ("EarliestDeliveryTime", 0, 1), ("DistributionIndicator", 0, 1), ("ContentClass", 0, 1, "6"),
        ("DRMContent", 0, 1, "6"), *APPLIC, ("Content", 0, 1)],
    "ReplaceRsp": RESPONSE,
    "extendedCancelReq": VASP_BASE + [("CancelID", 1, 1)],
    "extendedCancelRsp": RESPONSE,
    "extendedReplaceReq": [
        ("MM7Version", 1, 1), ("VASPID", 0, 1), ("VASID", 0, 1), ("ServiceCode", 0, 1), ("ReplaceID", 0, 1),
        ("TimeStamp", 0, 1), ("EarliestDeliveryTime", 0, 1), ("ExpiryDate", 0, 1), ("ReadReply", 0, 1),
        ("DeliveryReport", 0, 1), ("Content", 0, 1)],
    "extendedReplaceRsp": [("MM7Version", 1, 1), ("MessageID", 1, 1), ("Status", 1, 1)],
    "DeliveryReportReq": RS_BASE + [
        ("MessageID", 1, 1), ("Recipient", 1, 1), ("Sender", 1, 1), ("Date", 1, 1), ("MMStatus", 1, 1),
        ("MMStatusExtension", 0, 1, "14"), ("StatusText", 0, 1), *APPLIC, ("UACapabilities", 0, 1, "6")],
    "DeliveryReportRsp": RESPONSE,
    "ReadReplyReq": RS_BASE + [
        ("MessageID", 1, 1), ("Recipient", 1, 1), ("Sender", 1, 1), ("TimeStamp", 1, 1), ("MMStatus", 1, 1),
        ("StatusText", 0, 1), *APPLIC],
    "ReadReplyRsp": RESPONSE,
    "RSErrorRsp": RESPONSE,
    "VASPErrorRsp": RESPONSE,
}
EXTENDED = {"extendedCancelReq", "extendedCancelRsp", "extendedReplaceReq", "extendedReplaceRsp"}

# Children of the structures inside the messages (the same in every version that has them).
PARTS = {
    ("SubmitReq", "SenderIdentification"): [("VASPID", 0, 1), ("VASID", 0, 1), ("SenderAddress", 0, 1)],
    ("SubmitRsp", "Status"): [("StatusCode", 1, 1), ("StatusText", 1, 1), ("Details", 0, 1)],
    ("extendedCancelRsp", "Status"): [("StatusCode", 1, 1)],
    ("extendedReplaceRsp", "Status"): [("StatusCode", 1, 1)],
    ("DeliverReq", "Previouslysentby"): [("UserAgent", 0, UNBOUNDED)],
    ("DeliverReq", "Previouslysentdateandtime"): [("DateTime", 0, UNBOUNDED)],
    ("SubmitReq", "DeliveryCondition"): [("DC", 0, UNBOUNDED)],
}

# Value types: xs:dateTime, a relative-or-absolute time, booleans, positive integers.
DATE_TIME = ("dateTime",)
WHEN = ("dateTime", "duration")
TYPES = {
    "TimeStamp": DATE_TIME, "Date": DATE_TIME, "EarliestDeliveryTime": WHEN, "ExpiryDate": WHEN,
    "DeliveryReport": ("boolean",), "ReadReply": ("boolean",), "DistributionIndicator": ("boolean",),
    "DRMContent": ("boolean",), "StatusCode": ("positiveInteger",), "DC": ("positiveInteger",),
    "Subject": ("string",), "StatusText": ("string",), "MessageID": ("string",), "LinkedID": ("string",),
    "ApplicID": ("string",), "ReplyApplicID": ("string",), "AuxApplicInfo": ("string",), "VASPID": ("string",),
    "VASID": ("string",), "MMSRelayServerID": ("string",), "CancelID": ("string",), "ReplaceID": ("string",),
    "ChargedPartyID": ("string",), "SenderSPI": ("string",), "RecipientSPI": ("string",),
    "ReplyChargingID": ("string",), "DateTime": WHEN,
}

REL5_DELIVERY = ["Expired", "Retrieved", "Rejected", "Indeterminate", "Forwarded"]
ENUMS = {  # (element holding it, child) → (Rel-5 values, values Rel-6 adds)
    ("SubmitReq", "MessageClass"): (["Personal", "Informational", "Advertisement", "Auto"], []),
    ("SubmitReq", "Priority"): (["Normal", "High", "Low"], []),
    ("SubmitReq", "ChargedParty"): (["Sender", "Recipient", "Both", "Neither"], ["ThirdParty"]),
    ("DeliveryReportReq", "MMStatus"): (REL5_DELIVERY, ["Unrecognised", "Deferred", "DeliveryConditionNotMet"]),
    ("ReadReplyReq", "MMStatus"): (["Indeterminate", "Read", "Deleted"], []),
    ("SubmitReq", "ContentClass"): ([], ["text", "image-basic", "image-rich", "video-basic", "video-rich",
                                        "megapixel", "content-basic", "content-rich"]),
    ("DeliveryReportReq", "MMStatusExtension"): ([], ["RejectionByMMSRecipient", "RejectionByOtherRS"]),
}
MM7_VERSION_LISTS = {  # newest first, every older value kept
    "REL-5-MM7-1-5": ["5.10.0", "5.8.0", "5.6.0", "5.5.0", "5.3.0"],
    "REL-6-MM7-1-4": ["6.8.0", "6.6.0", "6.5.0", "6.4.0", "6.3.0", "5.10.0", "5.8.0", "5.6.0", "5.5.0", "5.3.0"],
}


def in_version(entry: tuple, version: mm7.Version) -> bool:
    mark = entry[3] if len(entry) > 3 else ""
    return (mark != "6" or version.release >= 6) and (mark != "14" or version.name == "REL-6-MM7-1-4")


def expected_bodies(version: mm7.Version) -> dict[str, list[tuple[str, int, int | None]]]:
    out = {}
    for name, entries in BODIES.items():
        if name in EXTENDED and version.name != "REL-6-MM7-1-4":
            continue
        out[name] = [e[:3] for e in entries if in_version(e, version)]
    return out


def schema_files() -> list[tuple[mm7.Version, Path | None, str]]:
    out = [(v, v.schema_path, v.name) for v in VERSIONS]
    for path in OFFICIAL_STYLE:
        version = mm7.versions.get(path.stem.removeprefix("official-style-"))
        out.append((version, path, f"{version.name}-official-style"))
    out.append((mm7.versions.get("REL-6-MM7-1-4"), None, "REL-6-MM7-1-4-official-layout"))
    return out


@pytest.fixture(scope="module", params=schema_files(), ids=lambda p: p[2])
def schema(request, tmp_path_factory) -> tuple[mm7.Version, Schema]:
    version, path, _ = request.param
    if path is None:  # (built: xs:any extension points in the body types, xs:anyAttribute on SubmitReq)
        path = tmp_path_factory.mktemp("layout") / f"{version.name}.xsd"
        path.write_bytes(official_layout())
    return version, Schema(path)


def test_the_official_style_fixtures_are_checked():
    assert {p.stem for p in OFFICIAL_STYLE} == {"official-style-REL-5-MM7-1-3", "official-style-REL-6-MM7-1-0",
                                                "official-style-REL-6-MM7-1-4"}


def test_namespace_and_body_elements(schema):
    """The body elements are the global elements with MM7Version first; any other global element
    than TransactionID is a declaration the file shares by reference."""
    version, xsd = schema
    assert xsd.ns == version.namespace == mm7.versions.MM7_NS_BASE + version.name
    assert xsd.root.get("elementFormDefault") == "qualified"
    assert xsd.root.get("attributeFormDefault", "unqualified") == "unqualified"
    elements = xsd.global_elements
    bodies = {name for name, decl in elements.items() if xsd.children(decl)[:1] == [("MM7Version", 1, 1)]}
    assert bodies == set(expected_bodies(version))
    assert "TransactionID" in elements
    assert set(elements) - bodies - {"TransactionID"} <= xsd.ref_names()


def test_every_body_element_in_order_with_its_cardinality(schema):
    version, xsd = schema
    for name, children in expected_bodies(version).items():
        assert xsd.children(xsd.element(name)) == children, f"{version.name} {name}"


def test_extension_points_are_read_as_such(tmp_path):
    """An official file's xs:any of other namespaces, optional, is left out of the tables; one
    that takes MM7 elements (##any, the target namespace), or must be there, is not."""
    text = official_layout().decode("utf-8-sig")

    def read(text: str) -> Schema:
        path = tmp_path / "REL-6-MM7-1-4.xsd"
        path.write_text(text, encoding="utf-8")
        return Schema(path)

    xsd = read(text)
    body = xsd.element("SubmitReq")
    assert [(p.namespace, p.min) for p in xsd.extension_points(body)] == [("##other", 0), ("##other", 0)]
    assert [c[0] for c in xsd.children(body)][:3] == ["MM7Version", "SenderIdentification", "Recipients"]
    wildcard = '<xs:any namespace="##other" processContents="lax" minOccurs="0"'
    assert wildcard in text
    for namespace, low in (("##any", "0"), ("##targetNamespace", "0"), ("##other", "1"), (xsd.ns, "0")):
        altered = read(text.replace(wildcard, f'<xs:any namespace="{namespace}" processContents="lax" minOccurs="{low}"'))
        assert xsd.children(body) != altered.children(altered.element("SubmitReq")), (namespace, low)


def test_shared_structures(schema):
    version, xsd = schema
    bodies = expected_bodies(version)
    for (owner, child), children in PARTS.items():
        if owner not in bodies or child not in {c[0] for c in bodies[owner]}:
            continue
        assert xsd.children(xsd.path(owner, child)) == children, f"{owner}/{child}"
    # Recipients: To, Cc and Bcc in any order and number, at least one; each a list of addresses.
    roles = xsd.model(xsd.path("SubmitReq", "Recipients"))
    assert (roles.kind, roles.min, roles.max) == ("choice", 1, UNBOUNDED)
    assert [(e.decl.name, e.min, e.max) for e in roles.items] == [("To", 1, 1), ("Cc", 1, 1), ("Bcc", 1, 1)]
    # An address is one of three forms: once in Sender, repeated in To.
    for holder, high in ((xsd.path("DeliverReq", "Sender"), 1), (xsd.path("SubmitReq", "Recipients", "To"), UNBOUNDED)):
        forms = xsd.model(holder)
        assert (forms.kind, forms.min, forms.max) == ("choice", 1, high), holder.name
        assert [(e.kind, e.decl.name, e.min, e.max) for e in forms.items] == [
            ("element", name, 1, 1) for name in ("RFC2822Address", "Number", "ShortCode")]


def test_value_types(schema):
    version, xsd = schema
    for name in expected_bodies(version):
        for child, _, _ in xsd.children(xsd.element(name)):
            if child in TYPES:
                assert xsd.value_kinds(xsd.path(name, child)) == TYPES[child], f"{name}/{child}"
    if version.release >= 6:
        dated = xsd.path("DeliverReq", "Previouslysentdateandtime", "DateTime")
        assert xsd.value_kinds(dated) == WHEN


def test_enumerations(schema):
    version, xsd = schema
    bodies = expected_bodies(version)
    for (owner, child), (rel5, rel6) in ENUMS.items():
        values = rel5 + (rel6 if version.release >= 6 else [])
        if child in [c[0] for c in bodies[owner]]:  # (the tables above say which versions have it)
            assert sorted(xsd.enumeration(xsd.path(owner, child))) == sorted(values), f"{owner}/{child}"
    mm7_version = xsd.path("SubmitReq", "MM7Version")
    listed = xsd.enumeration(mm7_version)
    # (in any order: the manifest, not the schema, says which value is sent by default)
    assert sorted(listed) == sorted(MM7_VERSION_LISTS.get(version.name, [])), "MM7Version"
    if not listed:  # a dotted x.y.z
        assert xsd.patterns(mm7_version) == [r"[0-9]+\.[0-9]+\.[0-9]+"]


def test_manifest_values_are_the_schemas(schema):
    """versions.toml pairs each namespace with MM7Version values the schema takes, and sends 5.3.0
    (the one value every Rel-5 list has) for Rel-5, the release's own value for Rel-6."""
    version, xsd = schema
    listed = MM7_VERSION_LISTS.get(version.name)
    if listed:
        assert sorted(version.mm7_versions) == sorted(listed)
    mm7_version = xsd.path("SubmitReq", "MM7Version")
    taken = xsd.enumeration(mm7_version)
    for value in version.mm7_versions:
        assert value in taken if taken else re.fullmatch(xsd.patterns(mm7_version)[0], value), value
    expected_default = {"REL-6-MM7-1-0": "6.3.0", "REL-6-MM7-1-1": "6.4.0", "REL-6-MM7-1-2": "6.5.0",
                        "REL-6-MM7-1-3": "6.6.0", "REL-6-MM7-1-4": "6.8.0"}.get(version.name, "5.3.0")
    assert version.default_mm7_version == expected_default


def test_attributes(schema):
    version, xsd = schema
    attrs = xsd.attributes(xsd.path("SubmitReq", "Recipients", "To", "Number"))
    assert set(attrs) == ({"displayOnly", "addressCoding", "id"} if version.release >= 6 else {"displayOnly"})
    assert attrs["displayOnly"].node.get("default") == "false" and xsd.value_kinds(attrs["displayOnly"]) == ("boolean",)
    if version.release >= 6:
        assert sorted(xsd.enumeration(attrs["addressCoding"])) == ["encrypted", "obfuscated"]
        assert xsd.value_kinds(attrs["id"]) == ("ID",)
    content = xsd.attributes(xsd.path("SubmitReq", "Content"))
    assert set(content) == {"href", "allowAdaptations"}
    assert content["href"].node.get("use") == "required" and xsd.value_kinds(content["href"]) == ("anyURI",)
    assert content["allowAdaptations"].node.get("default") == "true"
    charging = xsd.attributes(xsd.path("SubmitReq", "ReplyCharging"))
    assert {k: xsd.value_kinds(a) for k, a in charging.items()} == {
        "replyChargingSize": ("positiveInteger",), "replyDeadline": WHEN}
    if version.release >= 6:
        caps = xsd.attributes(xsd.path("DeliverReq", "UACapabilities"))
        assert {k: xsd.value_kinds(a) for k, a in caps.items()} == {"UAProf": ("string",), "TimeStamp": WHEN}
    header = xsd.element("TransactionID")
    assert xsd.value_kinds(header) == ("string",) and xsd.children(header) == []
    soap = mm7.versions.SOAP_NS
    assert {k: a.namespace for k, a in xsd.attributes(header).items()} == {
        "actor": soap, "encodingStyle": soap, "mustUnderstand": soap}


# ---------------------------------------------------------------------------------------------
# Every occurrence, not only the first: the structures below are shared by several messages (and
# an official file may give each message its own copy of a type), so each is checked wherever it
# sits in any body element of the version.

ADDRESS_FORMS = ["RFC2822Address", "Number", "ShortCode"]
# Elements holding one address, or (To, Cc, Bcc) one or more in any mix of forms.
ADDRESS_HOLDERS = {"SenderAddress": 1, "Sender": 1, "Recipient": 1, "UserAgent": 1,
                   "To": UNBOUNDED, "Cc": UNBOUNDED, "Bcc": UNBOUNDED}
# Elements that carry nothing but attributes.
EMPTY = {"Content", "ReplyCharging", "UACapabilities"}


def everywhere(version: mm7.Version, xsd: Schema):
    """(body element, path below it, declaration) of every element inside every body element."""
    for name in expected_bodies(version):
        for path, decl in xsd.descendants(xsd.element(name)):
            yield name, path, decl


def test_addresses_wherever_they_occur(schema):
    """Each address holder is a choice of the three forms (once, or repeated in To/Cc/Bcc); each
    form is text with displayOnly (default false), plus addressCoding and id from Rel-6 on."""
    version, xsd = schema
    rel6 = version.release >= 6
    holders = set()
    for body, path, decl in everywhere(version, xsd):
        where = f"{body}/{'/'.join(path)}"
        if decl.name in ADDRESS_FORMS:
            assert path[-2:-1] and path[-2] in ADDRESS_HOLDERS, f"{where}: an address form outside an address"
            assert xsd.value_kinds(decl) == ("string",), where
            attrs = xsd.attributes(decl)
            assert set(attrs) == ({"displayOnly", "addressCoding", "id"} if rel6 else {"displayOnly"}), where
            assert attrs["displayOnly"].node.get("default") == "false", where
            assert xsd.value_kinds(attrs["displayOnly"]) == ("boolean",), where
            if rel6:
                assert sorted(xsd.enumeration(attrs["addressCoding"])) == ["encrypted", "obfuscated"], where
                assert xsd.value_kinds(attrs["id"]) == ("ID",), where
            assert xsd.attribute_wildcard(decl) is None, where
        elif decl.name in ADDRESS_HOLDERS:
            holders.add(decl.name)
            forms = xsd.model(decl)
            assert (forms.kind, forms.min, forms.max) == ("choice", 1, ADDRESS_HOLDERS[decl.name]), where
            assert [(e.kind, e.decl.name, e.min, e.max) for e in forms.items] == [
                ("element", name, 1, 1) for name in ADDRESS_FORMS], where
            sequence = {"sequence"} if decl.name == "UserAgent" else set()
            assert set(xsd.attributes(decl)) == sequence, where
            if sequence:
                assert xsd.value_kinds(xsd.attributes(decl)["sequence"]) == ("positiveInteger",), where
    assert holders == set(ADDRESS_HOLDERS) - (set() if rel6 else {"UserAgent"})


ENUMERATED = {child: values for (_, child), values in ENUMS.items() if child != "MMStatus"}


def test_enumerations_wherever_they_occur(schema):
    """The enumerated elements take the same values in every message that has them (MMStatus: the
    delivery or the read statuses, by report), and no other element is enumerated."""
    version, xsd = schema
    rel6 = version.release >= 6
    for body, path, decl in everywhere(version, xsd):
        where = f"{body}/{'/'.join(path)}"
        if path == ("MM7Version",) or not xsd.has_text(decl) or xsd.mixed(decl):
            continue  # (MM7Version: test_enumerations; the others hold elements or nothing)
        if decl.name == "MMStatus":
            rel5_values, rel6_values = ENUMS[(body, "MMStatus")]
        else:
            rel5_values, rel6_values = ENUMERATED.get(decl.name, ([], []))
        expected = rel5_values + (rel6_values if rel6 else [])
        assert sorted(xsd.enumeration(decl)) == sorted(expected), where


def test_the_status_of_every_response(schema):
    """Status: StatusCode (a positive integer), StatusText (mandatory, free text) and Details (any
    content: text, elements and attributes of any namespace); StatusCode alone in the extended
    operations' responses."""
    version, xsd = schema
    responses = [name for name, kids in expected_bodies(version).items() if ("Status", 1, 1) in kids]
    assert set(responses) == {n for n in expected_bodies(version) if n.endswith("Rsp")}
    for name in responses:
        status = xsd.path(name, "Status")
        code_only = name in EXTENDED
        assert xsd.children(status) == PARTS[("extendedCancelRsp" if code_only else "SubmitRsp", "Status")], name
        assert xsd.attributes(status) == {} and xsd.attribute_wildcard(status) is None, name
        code = xsd.child(status, "StatusCode")
        assert xsd.value_kinds(code) == ("positiveInteger",) and xsd.attributes(code) == {}, name
        if code_only:
            continue
        text = xsd.child(status, "StatusText")
        assert xsd.value_kinds(text) == ("string",) and xsd.enumeration(text) == [], name
        details = xsd.child(status, "Details")
        content = xsd.model(details)
        assert (content.kind, content.min, content.max) == ("any", 0, UNBOUNDED), name
        assert xsd.mixed(details) and xsd.attribute_wildcard(details) is not None, name


def test_attribute_only_elements_and_service_code_wherever_they_occur(schema):
    """Content, ReplyCharging and UACapabilities are empty elements with attributes (Content:
    href required, allowAdaptations default true); ServiceCode is text with any attributes."""
    version, xsd = schema
    seen = set()
    for body, path, decl in everywhere(version, xsd):
        where = f"{body}/{'/'.join(path)}"
        if decl.name in EMPTY:
            seen.add(decl.name)
            assert xsd.children(decl) == [] and not xsd.has_text(decl), f"{where} is not empty"
            assert xsd.attribute_wildcard(decl) is None, where
            attrs = xsd.attributes(decl)
            kinds = {k: xsd.value_kinds(a) for k, a in attrs.items()}
            if decl.name == "Content":
                assert kinds == {"href": ("anyURI",), "allowAdaptations": ("boolean",)}, where
                assert attrs["href"].node.get("use") == "required", where
                assert attrs["allowAdaptations"].node.get("default") == "true", where
            elif decl.name == "ReplyCharging":
                assert kinds == {"replyChargingSize": ("positiveInteger",), "replyDeadline": WHEN}, where
            else:
                assert kinds == {"UAProf": ("string",), "TimeStamp": WHEN}, where
                assert all(a.node.get("use", "optional") == "optional" for a in attrs.values()), where
        elif decl.name == "ServiceCode":
            seen.add(decl.name)
            assert xsd.value_kinds(decl) == ("string",) and xsd.children(decl) == [], where
            assert xsd.attributes(decl) == {} and xsd.attribute_wildcard(decl) is not None, where
        elif decl.name == "DateTime":
            attrs = xsd.attributes(decl)
            assert {k: xsd.value_kinds(a) for k, a in attrs.items()} == {"sequence": ("positiveInteger",)}, where
    assert seen == {"Content", "ReplyCharging", "ServiceCode"} | ({"UACapabilities"} if version.release >= 6 else set())


def test_the_soap_envelope_attributes_transaction_id_takes():
    """mustUnderstand is a boolean written 0 or 1 only, encodingStyle a list of URIs (so the empty
    string Nokia sends is valid), actor a URI; Fault children are unqualified."""
    soap = Schema(mm7.versions.envelope_schema_path())
    assert soap.ns == mm7.versions.SOAP_NS
    must = soap.global_attribute("mustUnderstand")
    assert soap.value_kinds(must) == ("boolean",) and soap.patterns(must) == ["0|1"]
    items = soap.global_attribute("encodingStyle").type.find(f"{XS}list")
    assert items is not None and soap.type_ref(items, items.get("itemType")) == "anyURI"
    assert soap.value_kinds(soap.global_attribute("actor")) == ("anyURI",)
    assert soap.root.get("elementFormDefault", "unqualified") == "unqualified"
    assert soap.children(soap.element("Fault")) == [
        ("faultcode", 1, 1), ("faultstring", 1, 1), ("faultactor", 0, 1), ("detail", 0, 1)]


def test_the_decoders_reading_of_content_models_agrees(tmp_path):
    """mm7bind reads where a schema's extension points stand (validation.at_extension_point) with a
    reading of its own; it finds the same elements in the same order as the tables' reading, in
    every file here, of every layout, wherever they are nested."""
    from mm7bind.validation import _SchemaReading

    layout = tmp_path / "REL-6-MM7-1-4.xsd"
    layout.write_bytes(official_layout())
    for _, path, _ in schema_files():
        path = path or layout
        decoders, xsd = _SchemaReading(path), Schema(path)
        for name, decl in xsd.global_elements.items():
            for below, inner in [((), decl), *xsd.descendants(decl)]:
                slots = decoders.slots((name, *below))
                assert [n for kind, n in slots if kind == "element"] == [e.decl.name for e in xsd.model(inner).elements()], \
                    (path.name, name, below)
    slots = _SchemaReading(layout).slots(("SubmitReq",))
    assert [n for kind, n in slots if kind == "any"] == ["##other", "##other"]
    assert slots.index(("any", "##other")) == 2 and slots[-1] == ("any", "##other")
