"""RLMI / multipart/related / PIDF parsing of resource-list NOTIFY bodies
(RFC 4662), including malformed and hostile input."""

from __future__ import annotations

import contextlib
import random
import tracemalloc

import pytest

from softphone.core.agent_state import AgentState
from softphone.core.rlmi import (
    MAX_BODY_BYTES,
    MAX_XML_DEPTH,
    PidfStatus,
    RlmiError,
    agent_state_from_pidf,
    is_list_body,
    parse_list_notify,
    parse_media_type,
    parse_pidf,
    parse_rlmi,
    parse_xml,
    split_multipart,
)

BOUNDARY = "PQm3dVdTmxOCWF1GmOTKfC5T"
LIST = "sip:support-list@127.0.0.1"
ROOT_CID = f"1796151584.{LIST}.326994156"


def _pidf(entity: str, note: str, basic: str = "open") -> str:
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="{entity}">\n'
            f'  <tuple id="t1">\n    <status>\n      <basic>{basic}</basic>\n    </status>\n'
            f'    <note>{note}</note>\n  </tuple>\n</presence>')


def _notify(resources: str, parts: list[tuple[str, str, str]], *, version: int = 2,
            full: bool = False, boundary: str = BOUNDARY, eol: str = "\r\n") -> tuple[str, bytes]:
    """A body shaped like Kamailio 5.6's rls module writes it."""
    rlmi = (f'<?xml version="1.0"?>\n<list uri="{LIST}" xmlns="urn:ietf:params:xml:ns:rlmi" '
            f'version="{version}" fullState="{"true" if full else "false"}">{resources}</list>\n')
    body = (f"--{boundary}{eol}Content-Transfer-Encoding: binary{eol}Content-ID: <{ROOT_CID}>{eol}"
            f'Content-Type: application/rlmi+xml;charset="UTF-8"{eol}{eol}{rlmi}{eol}')
    for cid, ctype, content in parts:
        body += (f"--{boundary}{eol}Content-Transfer-Encoding: binary{eol}Content-ID: <{cid}>{eol}"
                 f"Content-Type: {ctype}{eol}{eol}{content}{eol}{eol}")
    body += f"--{boundary}--{eol}"
    content_type = (f'multipart/related;type="application/rlmi+xml";start="<{ROOT_CID}>";'
                    f'boundary="{boundary}"')
    return content_type, body.encode()


def test_kamailio_full_state_without_instances():
    ctype, body = _notify(
        '<resource uri="sip:1002@127.0.0.1"/><resource uri="sip:1003@127.0.0.1"/>',
        [], version=1, full=True)
    n = parse_list_notify(ctype, body)
    assert (n.uri, n.version, n.full_state) == (LIST, 1, True)
    assert n.states == {"sip:1002@127.0.0.1": None, "sip:1003@127.0.0.1": None}
    assert n.problems == ()


def test_kamailio_partial_state_with_pidf_parts():
    cid2, cid3 = "c.sip:1002@127.0.0.1.1", "c.sip:1003@127.0.0.1.2"
    ctype, body = _notify(
        f'<resource uri="sip:1002@127.0.0.1"><instance id="a" state="active" cid="{cid2}"/>'
        f'</resource><resource uri="sip:1003@127.0.0.1"><instance id="b" state="active" '
        f'cid="{cid3}"/></resource>',
        [(cid2, "application/pidf+xml", _pidf("sip:1002@127.0.0.1", "Not Ready: Lunch")),
         (cid3, "application/pidf+xml", _pidf("sip:1003@127.0.0.1", "Available"))])
    n = parse_list_notify(ctype, body)
    assert not n.full_state and n.version == 2
    assert n.states == {"sip:1002@127.0.0.1": (AgentState.NOT_READY, "Lunch"),
                        "sip:1003@127.0.0.1": (AgentState.AVAILABLE, "")}


def test_bare_lf_line_ends_and_cid_urls_are_accepted():
    cid = "x@y"
    ctype, body = _notify(f'<resource uri="sip:b@h"><instance id="1" state="active" '
                          f'cid="cid:{cid}"/></resource>',
                          [(cid, "application/pidf+xml", _pidf("sip:b@h", "Talking"))], eol="\n")
    assert parse_list_notify(ctype, body).states == {"sip:b@h": (AgentState.TALKING, "")}


@pytest.mark.parametrize(("instances", "expected"), [
    ('<instance id="1" state="pending"/>', None),
    ('<instance id="1" state="terminated" reason="rejected"/>', (AgentState.LOGGED_OUT, "")),
    ('', None),
    # an active instance whose part is missing: unknown, and said so
    ('<instance id="1" state="active" cid="nowhere"/>', None),
])
def test_instance_states(instances, expected):
    ctype, body = _notify(f'<resource uri="sip:b@h">{instances}</resource>', [])
    n = parse_list_notify(ctype, body)
    assert n.states == {"sip:b@h": expected}
    if "nowhere" in instances:
        assert n.problems and "nowhere" in n.problems[0]


def test_a_broken_member_part_spoils_only_that_member():
    ctype, body = _notify(
        '<resource uri="sip:bad@h"><instance id="1" state="active" cid="bad"/></resource>'
        '<resource uri="sip:ok@h"><instance id="1" state="active" cid="ok"/></resource>'
        '<resource uri="sip:odd@h"><instance id="1" state="active" cid="odd"/></resource>',
        [("bad", "application/pidf+xml", "<presence><unclosed>"),
         ("ok", "application/pidf+xml", _pidf("sip:ok@h", "Available")),
         ("odd", "text/plain", "hello")])
    n = parse_list_notify(ctype, body)
    assert n.states == {"sip:bad@h": None, "sip:ok@h": (AgentState.AVAILABLE, ""),
                        "sip:odd@h": None}
    assert len(n.problems) == 2


def test_pidf_states():
    assert agent_state_from_pidf(parse_pidf(_pidf("e", "Available", "closed").encode())) == (
        AgentState.LOGGED_OUT, "")
    # Another kind of client: open, no agent note.
    assert agent_state_from_pidf(parse_pidf(_pidf("e", "On the phone").encode())) == (
        AgentState.AVAILABLE, "")
    assert agent_state_from_pidf(PidfStatus("", "")) == (AgentState.LOGGED_OUT, "")
    # A person note (RPID data model) when the tuple has none.
    doc = ('<presence xmlns="urn:ietf:params:xml:ns:pidf" '
           'xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" entity="e"><tuple id="t">'
           '<status><basic>open</basic></status></tuple><dm:person id="p">'
           '<dm:note>Not Ready: Break</dm:note></dm:person></presence>')
    assert agent_state_from_pidf(parse_pidf(doc.encode())) == (AgentState.NOT_READY, "Break")


def test_media_types():
    assert parse_media_type('Multipart/Related; type="application/rlmi+xml";boundary=abc') == (
        "multipart/related", {"type": "application/rlmi+xml", "boundary": "abc"})
    assert parse_media_type('a/b;x="q\\"uoted"') == ("a/b", {"x": 'q"uoted'})
    assert is_list_body('multipart/related;type="application/rlmi+xml";boundary=x')
    assert not is_list_body("application/pidf+xml")
    assert not is_list_body("garbage")
    for bad in ("", "nonsense", "a/b;=x", "a/b; x"):
        with pytest.raises(RlmiError):
            parse_media_type(bad)


def test_multipart_preamble_epilogue_and_missing_close():
    body = (b"preamble\r\n--b\r\nContent-Type: text/plain\r\n\r\none\r\n"
            b"--b\r\n\r\ntwo\r\n--b--\r\nepilogue")
    parts = split_multipart(body, "b")
    assert [p.body for p in parts] == [b"one", b"two"]
    assert parts[1].content_type == "text/plain"  # the default
    assert [p.body for p in split_multipart(b"--b\r\n\r\nunclosed", "b")] == [b"unclosed"]


@pytest.mark.parametrize("content_type, body", [
    ("application/pidf+xml", b"<presence/>"),
    ("multipart/related;boundary=x", b"--x\r\n\r\n<a/>\r\n--x--"),  # no type=rlmi
    ('multipart/related;type="application/rlmi+xml"', b"--x\r\n\r\n<a/>\r\n--x--"),  # no boundary
    ('multipart/related;type="application/rlmi+xml";boundary=x', b"no delimiter at all"),
    ('multipart/related;type="application/rlmi+xml";boundary=x', b"--x--\r\n"),  # no parts
    ('multipart/related;type="application/rlmi+xml";boundary="bad\x00"', b"--bad\x00\r\n"),
    ('multipart/related;type="application/rlmi+xml";boundary=x;start="<missing>"',
     b"--x\r\nContent-ID: <other>\r\nContent-Type: application/rlmi+xml\r\n\r\n<a/>\r\n--x--"),
    ('multipart/related;type="application/rlmi+xml";boundary=x',
     b"--x\r\nContent-Type: text/plain\r\n\r\nnot rlmi\r\n--x--"),
    ('multipart/related;type="application/rlmi+xml";boundary=x',
     b"--x\r\nContent-Type: application/rlmi+xml\r\n\r\n<list xmlns='wrong' uri='a' "
     b"version='1' fullState='true'/>\r\n--x--"),
    ('multipart/related;type="application/rlmi+xml";boundary=x',
     b"--x\r\nbad header line\r\n\r\n<a/>\r\n--x--"),
    ('multipart/related;type="application/rlmi+xml";boundary=x',
     b"--x\r\nContent-Type: \xff\xfe\r\n\r\n<a/>\r\n--x--"),
])
def test_malformed_bodies_raise_rlmi_error(content_type, body):
    with pytest.raises(RlmiError):
        parse_list_notify(content_type, body)


@pytest.mark.parametrize("doc", [
    b"<list xmlns='urn:ietf:params:xml:ns:rlmi' version='1' fullState='true'/>",  # no uri
    b"<list xmlns='urn:ietf:params:xml:ns:rlmi' uri='a' version='x' fullState='true'/>",
    b"<list xmlns='urn:ietf:params:xml:ns:rlmi' uri='a' version='1' fullState='maybe'/>",
    b"<list xmlns='urn:ietf:params:xml:ns:rlmi' uri='a' version='99999999999' fullState='1'/>",
    # Digits to str.isdigit(), not to int(): a superscript two, an Arabic-Indic one.
    "<list xmlns='urn:ietf:params:xml:ns:rlmi' uri='a' version='²' fullState='1'/>".encode(),
    "<list xmlns='urn:ietf:params:xml:ns:rlmi' uri='a' version='\u0661' fullState='1'/>".encode(),
    b"<list xmlns='urn:ietf:params:xml:ns:rlmi' uri='a' version='1' fullState='1'>"
    b"<resource/></list>",
    b"<list xmlns='urn:ietf:params:xml:ns:rlmi' uri='a' version='1' fullState='1'>"
    b"<resource uri='b'><instance id='1' state='dancing'/></resource></list>",
    b"",
    b"\x00\x01\x02",
    b"<unclosed",
])
def test_bad_rlmi_documents(doc):
    with pytest.raises(RlmiError):
        parse_rlmi(doc)


def test_xml_bombs_and_external_entities_are_refused():
    laughs = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
              b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
              b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
              b'<presence xmlns="urn:ietf:params:xml:ns:pidf"><note>&lol3;</note></presence>')
    external = (b'<?xml version="1.0"?><!DOCTYPE p [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                b'<presence xmlns="urn:ietf:params:xml:ns:pidf"><note>&x;</note></presence>')
    for doc in (laughs, external):
        with pytest.raises(RlmiError, match="DOCTYPE"):
            parse_pidf(doc)
    deep = b"<a>" * (MAX_XML_DEPTH + 5) + b"</a>" * (MAX_XML_DEPTH + 5)
    with pytest.raises(RlmiError, match="deeper"):
        parse_xml(deep)
    with pytest.raises(RlmiError, match="over"):
        parse_xml(b"<a>" + b" " * MAX_BODY_BYTES + b"</a>")
    with pytest.raises(RlmiError, match="over"):
        split_multipart(b"x" * (MAX_BODY_BYTES + 1), "b")


def test_huge_notes_and_many_instances_are_capped():
    note = "N" * 10_000
    status = parse_pidf(_pidf("e", note).encode())
    assert len(status.note) <= 256
    instances = "".join(f'<instance id="{i}" state="pending"/>' for i in range(1000))
    doc = (f"<list xmlns='urn:ietf:params:xml:ns:rlmi' uri='a' version='1' fullState='1'>"
           f"<resource uri='b'>{instances}</resource></list>").encode()
    assert len(parse_rlmi(doc).resources[0].instances) == 16


def test_mutated_bodies_never_raise_anything_but_rlmi_error():
    cid = "c1"
    ctype, body = _notify(f'<resource uri="sip:b@h"><instance id="1" state="active" cid="{cid}"/>'
                          '</resource>',
                          [(cid, "application/pidf+xml", _pidf("sip:b@h", "Not Ready: Break"))])
    rng = random.Random(4662)
    for _ in range(400):
        data = bytearray(body)
        for _ in range(rng.randint(1, 8)):
            pos = rng.randrange(len(data))
            choice = rng.random()
            if choice < 0.4:
                data[pos] = rng.randrange(256)
            elif choice < 0.7:
                del data[pos:pos + rng.randint(1, 40)]
            else:
                data[pos:pos] = rng.choice([b"<", b"&", b"--" + BOUNDARY.encode(), b"\r\n\r\n",
                                            b"\x00", b'"', b"<!DOCTYPE x>"])
        with contextlib.suppress(RlmiError):
            parse_list_notify(ctype, bytes(data))


def test_a_body_of_delimiters_only_is_refused_without_listing_them_all():
    # 4 MB of delimiters: a match object per delimiter took 3 s and 84 MB
    # before the part count was checked.
    body = b"\n--b\n" * (MAX_BODY_BYTES // 5)
    tracemalloc.start()
    try:
        with pytest.raises(RlmiError, match="more than"):
            split_multipart(body, "b")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024
