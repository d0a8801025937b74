"""MM7 schemas laid out as the official 3GPP files may lay them out, built from the fixtures in
schemas/: for the import tests and the element tables alike."""

from __future__ import annotations

import re
from pathlib import Path

from lxml import etree

OFFICIAL_STYLE = Path(__file__).parent / "schemas" / "official-style-REL-6-MM7-1-4.xsd"


def official_layout(envelope_imported: bool = True) -> bytes:
    """The official-style fixture laid out as a 3GPP file may be: an xml-stylesheet instruction and a
    comment before the root, a BOM and CRLF line ends, xs: and env: prefixes, capitalised type names
    (SubmitReqType), attribute groups, documentation with characters outside ASCII, xs:any
    extension points (ends of the base types, after SubmitReq's Content) and an attribute wildcard,
    the global elements first and the complex types last. Without `envelope_imported` the SOAP
    envelope is not imported (TransactionID takes its attributes by a wildcard), and the MM7
    namespace is the default one: types are referred to without a prefix."""
    text = OFFICIAL_STYLE.read_text()
    text = text[text.index("<schema "):]
    text = text.replace('xmlns="http://www.w3.org/2001/XMLSchema"', 'xmlns:xs="http://www.w3.org/2001/XMLSchema"')
    text = re.sub(r"<(/?)([A-Za-z]+)(?=[\s/>])", r"<\1xs:\2", text)
    text = re.sub(r'\b(type|base|memberTypes)="([^"]*)"',
                  lambda m: m[1] + '="' + " ".join(t if ":" in t else "xs:" + t for t in m[2].split()) + '"', text)
    text = text.replace("xmlns:soap=", "xmlns:env=").replace('"soap:', '"env:')
    text = re.sub(r'(name="|mm7:)([a-z])(\w*Type)"', lambda m: m[1] + m[2].upper() + m[3] + '"', text)
    content = ('    <xs:attribute name="href" type="xs:anyURI" use="required"/>\n'
               '    <xs:attribute name="allowAdaptations" type="xs:boolean" default="true"/>\n')
    assert content in text
    text = text.replace(content, '    <xs:attributeGroup ref="mm7:contentAttributes"/>\n')
    groups = ('  <xs:attributeGroup name="contentAttributes">\n'
              '    <xs:annotation><xs:documentation>Where the content is; whether it may be adapted.'
              '</xs:documentation></xs:annotation>\n' + content + '  </xs:attributeGroup>\n')
    header = ('          <xs:attribute ref="env:mustUnderstand"/>\n'
              '          <xs:attribute ref="env:encodingStyle"/>\n'
              '          <xs:attribute ref="env:actor"/>\n')
    assert header in text
    if envelope_imported:
        text = text.replace(header, '          <xs:attributeGroup ref="mm7:headerAttributes"/>\n')
        groups += '  <xs:attributeGroup name="headerAttributes">\n' + header[6:].replace("\n      ", "\n") + \
            '  </xs:attributeGroup>\n'
    else:
        text = text.replace(header, '          <xs:anyAttribute namespace="##other" processContents="lax"/>\n')
        text, count = re.subn(r'\s*<xs:import namespace="http://schemas.xmlsoap.org/soap/envelope/"\s*'
                              r'schemaLocation="[^"]*"/>', "", text)
        assert count == 1
        text = text.replace(' xmlns:env="http://schemas.xmlsoap.org/soap/envelope/"', "")
    text = text.replace("</xs:schema>", groups + "</xs:schema>")
    extension = '<xs:any namespace="##other" processContents="lax" minOccurs="0" maxOccurs="unbounded"/>'
    for base in ("GenericVASPRequestType", "GenericRSReqType", "GenericResponseType"):
        start = text.index(f'<xs:complexType name="{base}">')
        end = text.index("    </xs:sequence>", start)
        text = text[:end] + f"      {extension}\n" + text[end:]
    start = text.index('<xs:complexType name="SubmitReqType">')
    end = text.index('<xs:element ref="mm7:Content" minOccurs="0"/>', start) + len('<xs:element ref="mm7:Content" minOccurs="0"/>')
    text = text[:end] + "\n          " + extension + text[end:]
    end = text.index("      </xs:extension>", start)
    text = text[:end] + '        <xs:anyAttribute namespace="##other" processContents="lax"/>\n' + text[end:]
    text = text.replace('<xs:element name="SubmitReq" type="mm7:SubmitReqType"/>',
                        '<xs:element name="SubmitReq" type="mm7:SubmitReqType"><xs:annotation>'
                        '<xs:documentation xml:lang="en">VASP → MMS Relay/Server – “MM7_submit.REQ”.'
                        '</xs:documentation></xs:annotation></xs:element>')
    root = etree.fromstring(text.encode())
    rank = {"annotation": 0, "import": 0, "element": 1, "attributeGroup": 2, "simpleType": 3, "complexType": 4}
    declarations = sorted((d for d in root if isinstance(d.tag, str)), key=lambda d: rank[etree.QName(d).localname])
    for node in list(root):
        root.remove(node)
    for node in declarations:
        node.tail = None
        root.append(node)
    etree.indent(root, "  ")
    text = ('<?xml version="1.0" encoding="UTF-8"?>\n<?xml-stylesheet type="text/xsl" href="xs3p.xsl"?>\n'
            "<!-- MM7 (3GPP TS 23.140), layout test © -->\n" + etree.tostring(root, encoding="unicode") + "\n")
    if not envelope_imported:
        text = text.replace("xmlns:mm7=", "xmlns=").replace('"mm7:', '"')
        assert "mm7:" not in text
    return b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode()
