"""The XSDs in schemas/ against the protocol's element tables, release by release.

The schemas are the project's own reconstruction of TS 23.140's, and every other test takes them
as given (messages are built from, and validated against, whatever they say). Here each body
element's content model — element names in order, minOccurs/maxOccurs, value types, enumerations,
attributes — is compared with the structure the protocol publishes for REL-6-MM7-1-4, minus what
Rel-6 added for the Rel-5 schemas and minus MMStatusExtension and the extended operations for
REL-6-MM7-1-0 … 1-3. A schema edited out of line with that fails here, whatever it still validates.
"""

from __future__ import annotations

import pytest
from lxml import etree

import mm7bind as mm7

XS = "{http://www.w3.org/2001/XMLSchema}"
UNBOUNDED = None
VERSIONS = mm7.versions.all_versions()

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


class Schema:
    """Just enough of an XSD reader for these tables: named types, extensions, sequences."""

    def __init__(self, version: mm7.Version):
        self.root = etree.parse(str(version.schema_path)).getroot()
        self.ns = self.root.get("targetNamespace")
        self.complex = {t.get("name"): t for t in self.root.findall(f"{XS}complexType")}
        self.simple = {t.get("name"): t for t in self.root.findall(f"{XS}simpleType")}
        self.elements = {e.get("name"): e for e in self.root.findall(f"{XS}element")}

    def local(self, qname: str) -> tuple[bool, str]:
        """(is an XML Schema built-in, local name)."""
        prefix, _, name = qname.rpartition(":")
        return self.root.nsmap.get(prefix or None) == XS[1:-1], name

    def type_of(self, el: etree._Element) -> etree._Element:
        builtin, name = self.local(el.get("type"))
        assert not builtin, f"{el.get('name')} has no structure"
        return self.complex[name]

    def children(self, ctype: etree._Element) -> list[tuple[str, int, int | None]]:
        """Element children of a complex type, inherited ones first, as (name, min, max)."""
        out: list[tuple[str, int, int | None]] = []
        ext = ctype.find(f"{XS}complexContent/{XS}extension")
        if ext is not None:
            out += self.children(self.complex[self.local(ext.get("base"))[1]])
            ctype = ext
        seq = ctype.find(f"{XS}sequence")
        for el in seq if seq is not None else ():
            if el.tag == f"{XS}element":
                high = el.get("maxOccurs", "1")
                out.append((el.get("name"), int(el.get("minOccurs", "1")), None if high == "unbounded" else int(high)))
        return out

    def child(self, ctype: etree._Element, name: str) -> etree._Element:
        for el in ctype.iter(f"{XS}element"):
            if el.get("name") == name:
                return el
        ext = ctype.find(f"{XS}complexContent/{XS}extension")
        assert ext is not None, f"no child {name}"
        return self.child(self.complex[self.local(ext.get("base"))[1]], name)

    def value_kinds(self, type_name: str) -> tuple[str, ...]:
        """The built-in types a simple type (or simple content) comes down to."""
        builtin, name = self.local(type_name)
        if builtin:
            return (name,)
        if name in self.complex:
            ext = self.complex[name].find(f"{XS}simpleContent/{XS}extension")
            return self.value_kinds(ext.get("base"))
        node = self.simple[name]
        union = node.find(f"{XS}union")
        if union is not None:
            return tuple(k for member in union.get("memberTypes").split() for k in self.value_kinds(member))
        return self.value_kinds(node.find(f"{XS}restriction").get("base"))

    def enumeration(self, type_name: str) -> list[str]:
        builtin, name = self.local(type_name)
        node = None if builtin else self.simple.get(name)
        return [] if node is None else [e.get("value") for e in node.iter(f"{XS}enumeration")]

    def attributes(self, ctype: etree._Element) -> dict[str, etree._Element]:
        return {a.get("name") or a.get("ref"): a for a in ctype.iter(f"{XS}attribute")}


@pytest.fixture(scope="module", params=VERSIONS, ids=lambda v: v.name)
def schema(request) -> tuple[mm7.Version, Schema]:
    return request.param, Schema(request.param)


def test_namespace_and_body_elements(schema):
    version, xsd = schema
    assert xsd.ns == version.namespace == mm7.versions.MM7_NS_BASE + version.name
    assert xsd.root.get("elementFormDefault") == "qualified"
    assert xsd.root.get("attributeFormDefault", "unqualified") == "unqualified"
    assert set(xsd.elements) == {"TransactionID", *expected_bodies(version)}


def test_every_body_element_in_order_with_its_cardinality(schema):
    version, xsd = schema
    for name, children in expected_bodies(version).items():
        assert xsd.children(xsd.type_of(xsd.elements[name])) == children, f"{version.name} {name}"


def test_shared_structures(schema):
    version, xsd = schema
    bodies = expected_bodies(version)
    for (owner, child), children in PARTS.items():
        if owner not in bodies or child not in dict((c[0], c) for c in bodies[owner]):
            continue
        el = xsd.child(xsd.type_of(xsd.elements[owner]), child)
        assert xsd.children(xsd.type_of(el)) == children, f"{owner}/{child}"
    # Recipients: To, Cc and Bcc in any order and number, at least one; each a list of addresses.
    recipients = xsd.type_of(xsd.child(xsd.type_of(xsd.elements["SubmitReq"]), "Recipients"))
    roles = recipients.find(f"{XS}choice")
    assert roles is not None and roles.get("maxOccurs") == "unbounded" and roles.get("minOccurs", "1") == "1"
    assert [e.get("name") for e in roles.findall(f"{XS}element")] == ["To", "Cc", "Bcc"]
    # An address is one of three forms (a group reference or an inline choice, repeated in To).
    sender = xsd.type_of(xsd.child(xsd.type_of(xsd.elements["DeliverReq"]), "Sender"))
    to = xsd.type_of(roles.findall(f"{XS}element")[0])
    for holder, high in ((sender, "1"), (to, "unbounded")):
        ref = holder.find(f"{XS}sequence/{XS}group")
        forms = holder if ref is None else xsd.root.find(f"{XS}group[@name='{xsd.local(ref.get('ref'))[1]}']")
        assert [e.get("name") for e in forms.iter(f"{XS}element")] == ["RFC2822Address", "Number", "ShortCode"]
        assert (ref.get("maxOccurs", "1") if ref is not None else "1") == high


def test_value_types(schema):
    version, xsd = schema
    for name in expected_bodies(version):
        ctype = xsd.type_of(xsd.elements[name])
        for child, _, _ in xsd.children(ctype):
            if child in TYPES:
                el = xsd.child(ctype, child)
                assert xsd.value_kinds(el.get("type")) == TYPES[child], f"{name}/{child}"
    for owner, child in (("DeliverReq", "Previouslysentdateandtime"),):
        if version.release >= 6:
            holder = xsd.type_of(xsd.child(xsd.type_of(xsd.elements[owner]), child))
            el = holder.find(f"{XS}sequence/{XS}element")
            assert xsd.value_kinds(xsd.complex[xsd.local(el.get("type"))[1]].find(
                f"{XS}simpleContent/{XS}extension").get("base")) == WHEN


def test_enumerations(schema):
    version, xsd = schema
    bodies = expected_bodies(version)
    for (owner, child), (rel5, rel6) in ENUMS.items():
        values = rel5 + (rel6 if version.release >= 6 else [])
        if child in [c[0] for c in bodies[owner]]:  # (the tables above say which versions have it)
            assert sorted(xsd.enumeration(xsd.child(xsd.type_of(xsd.elements[owner]), child).get("type"))) == \
                sorted(values), f"{owner}/{child}"
    mm7_version = xsd.child(xsd.type_of(xsd.elements["SubmitReq"]), "MM7Version").get("type")
    listed = xsd.enumeration(mm7_version)
    assert listed == MM7_VERSION_LISTS.get(version.name, []), "MM7Version"
    if not listed:  # a dotted x.y.z
        pattern = xsd.simple[xsd.local(mm7_version)[1]].find(f"{XS}restriction/{XS}pattern").get("value")
        assert pattern == r"[0-9]+\.[0-9]+\.[0-9]+"


def test_manifest_values_are_the_schemas(schema):
    """versions.toml pairs each namespace with MM7Version values the schema takes, and sends 5.3.0
    (the one value every Rel-5 list has) for Rel-5, the release's own value for Rel-6."""
    version, xsd = schema
    listed = MM7_VERSION_LISTS.get(version.name)
    if listed:
        assert sorted(version.mm7_versions) == sorted(listed)
    expected_default = {"REL-6-MM7-1-0": "6.3.0", "REL-6-MM7-1-1": "6.4.0", "REL-6-MM7-1-2": "6.5.0",
                        "REL-6-MM7-1-3": "6.6.0", "REL-6-MM7-1-4": "6.8.0"}.get(version.name, "5.3.0")
    assert version.default_mm7_version == expected_default


def test_attributes(schema):
    version, xsd = schema
    submit = xsd.type_of(xsd.elements["SubmitReq"])
    address = xsd.complex[xsd.local(next(
        e for e in xsd.root.iter(f"{XS}element") if e.get("name") == "Number").get("type"))[1]]
    attrs = xsd.attributes(address)
    assert set(attrs) == ({"displayOnly", "addressCoding", "id"} if version.release >= 6 else {"displayOnly"})
    assert attrs["displayOnly"].get("default") == "false" and xsd.value_kinds(attrs["displayOnly"].get("type")) == ("boolean",)
    if version.release >= 6:
        assert sorted(xsd.enumeration(attrs["addressCoding"].get("type"))) == ["encrypted", "obfuscated"]
        assert attrs["id"].get("type") == "xs:ID"
    content = xsd.attributes(xsd.type_of(xsd.child(submit, "Content")))
    assert set(content) == {"href", "allowAdaptations"}
    assert content["href"].get("use") == "required" and xsd.value_kinds(content["href"].get("type")) == ("anyURI",)
    assert content["allowAdaptations"].get("default") == "true"
    charging = xsd.attributes(xsd.type_of(xsd.child(submit, "ReplyCharging")))
    assert {k: xsd.value_kinds(a.get("type")) for k, a in charging.items()} == {
        "replyChargingSize": ("positiveInteger",), "replyDeadline": WHEN}
    if version.release >= 6:
        caps = xsd.attributes(xsd.type_of(xsd.child(xsd.type_of(xsd.elements["DeliverReq"]), "UACapabilities")))
        assert {k: xsd.value_kinds(a.get("type")) for k, a in caps.items()} == {"UAProf": ("string",), "TimeStamp": WHEN}
    header = xsd.elements["TransactionID"].find(f"{XS}complexType/{XS}simpleContent/{XS}extension")
    assert xsd.value_kinds(header.get("base")) == ("string",)
    assert sorted(a.get("ref").split(":")[1] for a in header.findall(f"{XS}attribute")) == [
        "actor", "encodingStyle", "mustUnderstand"]
