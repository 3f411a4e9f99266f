"""The hostile cases, as data: a name, the state the engine is driven to first, what is sent
(raw bytes after the TLS handshake), by which client certificate, and the documented answer
(docs/wire.md, docs/tls.md): an HTTP status, or ``CUT`` for a connection cut without an answer."""

from __future__ import annotations

from typing import Any

from attrs import frozen

from tests.web.serving import post

from .server import (
    DELEGATED,
    DEVICE,
    DEVICE2,
    FRESH,
    PEER,
    PINNED,
    PREPARED,
    RESPONDED,
    SESSION,
    example,
    request_from,
)

CUT = None  # no answer at all: the connection is cut (the site's timeout)
MT = b"application/vnd.dm.delegation+xml"
OTHER_SESSION = "hostile0unknown0" + "b" * 16


@frozen
class Case:
    name: str
    state: str
    parts: tuple[bytes, ...]
    expected: int | None
    client: str = "peer"  # "peer" (PEER), "pinned" (PINNED, a second known peer), "stranger"
    trickle: bool = False  # send ``parts[0]`` at once, then ``parts[1]`` one byte every 50 ms
    # Refused by Twisted's HTTP parser before any resource: a bare 400, no reason, no log line.
    framing: bool = False
    bug: str | None = None  # a product bug: the test is a strict xfail with this reason


def message(root: str, session_id: str = SESSION, **changes: Any) -> bytes:
    """The example ``root`` message with ``session_id`` (and ``changes``), encoded."""
    return bytes(example(root, session_id, **changes).encode())


def raw(head: bytes, body: bytes = b"") -> bytes:
    """A request from its head lines (without the empty line) and body, as sent."""
    return head.replace(b"\n", b"\r\n") + b"\r\n\r\n" + body


CONFIRMED = message("DELEGATION_CONFIRMED")
REQUEST = bytes(request_from(PEER).encode())
HEAD = b"POST /delegation HTTP/1.1\nHost: localhost\nConnection: close\nContent-Type: " + MT

# ---------------------------------------------------------------- XML attacks
BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol9 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
]>
<DELEGATION_CONFIRMED><reasonCode>200</reasonCode><status>CONFIRMED</status>
<sessionId>&lol9;</sessionId></DELEGATION_CONFIRMED>"""


def with_doctype(doctype: bytes, session: bytes = SESSION.encode()) -> bytes:
    return (
        b'<?xml version="1.0"?>' + doctype + b"<DELEGATION_CONFIRMED><reasonCode>200</reasonCode>"
        b"<status>CONFIRMED</status><sessionId>" + session + b"</sessionId></DELEGATION_CONFIRMED>"
    )


XML_ATTACKS = [
    Case("billion_laughs", PREPARED, (post(BILLION_LAUGHS),), 400),
    Case(
        "external_entity_file",
        PREPARED,
        (post(with_doctype(b'<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>', b"&x;")),),
        400,
    ),
    Case(
        "external_entity_http",
        PREPARED,
        (post(with_doctype(b'<!DOCTYPE d [<!ENTITY x SYSTEM "http://127.0.0.1:9/x">]>', b"&x;")),),
        400,
    ),
    Case(
        "parameter_entity",
        PREPARED,
        (
            post(
                with_doctype(b'<!DOCTYPE d [<!ENTITY % p SYSTEM "http://127.0.0.1:9/e.dtd"> %p;]>')
            ),
        ),
        400,
    ),
    Case(
        "external_dtd",
        PREPARED,
        (post(with_doctype(b'<!DOCTYPE DELEGATION_CONFIRMED SYSTEM "http://127.0.0.1:9/d.dtd">')),),
        400,
    ),
    Case("internal_dtd_no_entity", PREPARED, (post(with_doctype(b"<!DOCTYPE d []>")),), 400),
    Case(
        "doctype_after_comment",
        PREPARED,
        (post(b"<!-- hello -->" + with_doctype(b"<!DOCTYPE d []>")[21:]),),
        400,
    ),
    Case("undeclared_entity", PREPARED, (post(with_doctype(b"", b"&x;")),), 400),
    Case(
        "xinclude",
        PREPARED,
        (
            post(
                b'<DELEGATION_CONFIRMED xmlns:xi="http://www.w3.org/2001/XInclude">'
                b'<xi:include href="file:///etc/passwd" parse="text"/></DELEGATION_CONFIRMED>'
            ),
        ),
        400,
    ),
    Case(
        "deep_5000",
        PREPARED,
        (
            post(
                b"<DELEGATION_CONFIRMED>"
                + b"<a>" * 5000
                + b"</a>" * 5000
                + b"</DELEGATION_CONFIRMED>"
            ),
        ),
        400,
    ),
    Case("deep_unclosed_20000", PREPARED, (post(b"<a>" * 20000),), 400),
    Case(
        "deep_9_levels",
        PREPARED,
        (
            post(
                b"<DELEGATION_CONFIRMED>"
                + b"<a>" * 8
                + b"x"
                + b"</a>" * 8
                + b"</DELEGATION_CONFIRMED>"
            ),
        ),
        400,
    ),
    Case(
        "huge_text_within_limit",
        PREPARED,
        (post(REQUEST.replace(b"<deviceMan>Acme", b"<deviceMan>" + b"A" * 60000)),),
        400,
    ),
    Case(
        "many_children",
        PREPARED,
        (
            post(
                CONFIRMED.replace(
                    b"</DELEGATION_CONFIRMED>", b"<x/>" * 10000 + b"</DELEGATION_CONFIRMED>"
                )
            ),
        ),
        400,
    ),
    Case("long_element_name", PREPARED, (post(b"<" + b"A" * 60000 + b"/>"),), 400),
    Case("utf16_with_bom", PREPARED, (post(CONFIRMED.decode().encode("utf-16")),), 415),
    Case("utf16_without_bom", PREPARED, (post(CONFIRMED.decode().encode("utf-16-le")),), 415),
    Case("utf32", PREPARED, (post(CONFIRMED.decode().encode("utf-32")),), 415),
    Case(
        "declared_latin1",
        PREPARED,
        (post(CONFIRMED.replace(b'encoding="UTF-8"', b'encoding="ISO-8859-1"')),),
        415,
    ),
    Case(
        "invalid_utf8_byte",
        PREPARED,
        (post(REQUEST.replace(b"<deviceMan>Acme", b"<deviceMan>Ac\xffme")),),
        400,
    ),
    Case(
        "overlong_utf8",
        PREPARED,
        (post(REQUEST.replace(b"<deviceMan>Acme", b"<deviceMan>Ac\xc0\xafme")),),
        400,
    ),
    Case(
        "control_character",
        PREPARED,
        (post(REQUEST.replace(b"<deviceMan>Acme", b"<deviceMan>Ac\x01me")),),
        400,
    ),
]

# ---------------------------------------------------------------- malformed and truncated bodies
MALFORMED = [
    Case("empty_body", PREPARED, (post(b""),), 400),
    Case("not_xml", PREPARED, (post(b"this is not XML"),), 400),
    Case("json", PREPARED, (post(b'{"DELEGATION_CONFIRMED": {"sessionId": "x"}}'),), 400),
    Case("truncated_half", PREPARED, (post(CONFIRMED[: len(CONFIRMED) // 2]),), 400),
    Case("truncated_last_byte", PREPARED, (post(CONFIRMED.rstrip()[:-1]),), 400),
    Case("declaration_only", PREPARED, (post(b'<?xml version="1.0" encoding="UTF-8"?>'),), 400),
    Case("two_roots", PREPARED, (post(CONFIRMED + CONFIRMED.split(b"?>", 1)[1]),), 400),
    Case(
        "mismatched_end_tag",
        PREPARED,
        (post(CONFIRMED.replace(b"</status>", b"</statuz>")),),
        400,
    ),
    Case(
        "unknown_root", PREPARED, (post(CONFIRMED.replace(b"DELEGATION_CONFIRMED", b"NOPE")),), 400
    ),
    Case(
        "root_in_a_namespace",
        PREPARED,
        (
            post(
                CONFIRMED.replace(
                    b"<DELEGATION_CONFIRMED>", b'<DELEGATION_CONFIRMED xmlns="urn:x">'
                )
            ),
        ),
        400,
    ),
    Case(
        "attribute_on_root",
        PREPARED,
        (post(CONFIRMED.replace(b"<DELEGATION_CONFIRMED>", b'<DELEGATION_CONFIRMED a="1">')),),
        400,
    ),
    Case(
        "missing_session_id",
        PREPARED,
        (post(CONFIRMED.replace(b"<sessionId>", b"<x>").replace(b"</sessionId>", b"</x>")),),
        400,
    ),
    Case(
        "status_not_matching_root",
        PREPARED,
        (post(CONFIRMED.replace(b"<status>CONFIRMED", b"<status>FAILURE")),),
        400,
    ),
    Case(
        "children_out_of_order",
        PREPARED,
        (
            post(
                b"<DELEGATION_CONFIRMED><status>CONFIRMED</status><reasonCode>200</reasonCode>"
                b"<sessionId>" + SESSION.encode() + b"</sessionId></DELEGATION_CONFIRMED>"
            ),
        ),
        400,
    ),
    Case(
        "unknown_child",
        PREPARED,
        (
            post(
                CONFIRMED.replace(
                    b"</DELEGATION_CONFIRMED>", b"<evil>1</evil></DELEGATION_CONFIRMED>"
                )
            ),
        ),
        400,
    ),
    Case("bad_boolean", PREPARED, (post(REQUEST.replace(b">false<", b">maybe<")),), 400),
    Case("reason_code_too_large", PREPARED, (post(CONFIRMED.replace(b">200<", b">600<")),), 400),
    Case("reason_code_not_decimal", PREPARED, (post(CONFIRMED.replace(b">200<", b">0x10<")),), 400),
    Case(
        "session_id_too_short",
        PREPARED,
        (post(CONFIRMED.replace(SESSION.encode(), b"short")),),
        400,
    ),
    Case(
        "session_id_bad_characters",
        PREPARED,
        (post(CONFIRMED.replace(SESSION.encode(), b"../../etc/passwd<>" + b"a" * 16)),),
        400,
    ),
    Case(
        "tree_uri_with_dotdot",
        FRESH,
        (post(bytes(request_from(PEER, dm_tree_uri="./Vendor/../../x").encode())),),
        400,
    ),
]

# ---------------------------------------------------------------- headers
HEADERS = [
    Case("method_get", PREPARED, (post(b"", method=b"GET"),), 405),
    Case("method_put", PREPARED, (post(CONFIRMED, method=b"PUT"),), 405),
    Case("method_delete", PREPARED, (post(CONFIRMED, method=b"DELETE"),), 405),
    Case("method_options", PREPARED, (post(b"", method=b"OPTIONS"),), 405),
    Case("method_lowercase_post", PREPARED, (post(CONFIRMED, method=b"post"),), 405),
    Case("path_other", PREPARED, (post(CONFIRMED, path=b"/other"),), 404),
    Case("path_below", PREPARED, (post(CONFIRMED, path=b"/delegation/x"),), 404),
    Case("content_type_missing", PREPARED, (post(CONFIRMED, content_type=None),), 415),
    Case("content_type_xml", PREPARED, (post(CONFIRMED, content_type=b"application/xml"),), 415),
    Case("content_type_text", PREPARED, (post(CONFIRMED, content_type=b"text/plain"),), 415),
    Case(
        "content_type_latin1",
        PREPARED,
        (post(CONFIRMED, content_type=MT + b"; charset=latin-1"),),
        415,
    ),
    Case(
        "content_type_extra_parameter",
        PREPARED,
        (post(CONFIRMED, content_type=MT + b"; boundary=x"),),
        415,
    ),
    Case(
        "content_type_repeated",
        PREPARED,
        (post(CONFIRMED, extra=b"Content-Type: " + MT + b"\r\n"),),
        415,
    ),
    Case(
        "content_length_short",
        PREPARED,
        (raw(HEAD + b"\nContent-Length: %d" % (len(CONFIRMED) - 20), CONFIRMED),),
        400,
    ),
    Case("content_length_long", PREPARED, (raw(HEAD + b"\nContent-Length: 1000", CONFIRMED),), CUT),
    Case("content_length_missing", PREPARED, (raw(HEAD, CONFIRMED),), 400),
    Case(
        "content_length_not_a_number",
        PREPARED,
        (raw(HEAD + b"\nContent-Length: ten", CONFIRMED),),
        400,
        framing=True,
    ),
    Case(
        "content_length_negative",
        PREPARED,
        (raw(HEAD + b"\nContent-Length: -1", CONFIRMED),),
        400,
        framing=True,
    ),
    Case(
        "content_length_twice",
        PREPARED,
        (raw(HEAD + b"\nContent-Length: %d\nContent-Length: 3" % len(CONFIRMED), CONFIRMED),),
        400,
        framing=True,
    ),
    Case(
        "content_length_and_chunked",
        PREPARED,
        (
            raw(
                HEAD + b"\nContent-Length: %d\nTransfer-Encoding: chunked" % len(CONFIRMED),
                b"%x\r\n%s\r\n0\r\n\r\n" % (len(CONFIRMED), CONFIRMED),
            ),
        ),
        400,
        framing=True,
    ),
    Case(
        "chunk_size_not_hex",
        PREPARED,
        (raw(HEAD + b"\nTransfer-Encoding: chunked", b"zz\r\n" + CONFIRMED + b"\r\n0\r\n\r\n"),),
        400,
        framing=True,
    ),
    Case("request_line_malformed", PREPARED, (b"POST\r\n\r\n",), 400, framing=True),
    Case(
        "header_without_colon",
        PREPARED,
        (raw(HEAD + b"\nthis is no header", CONFIRMED),),
        400,
        framing=True,
    ),
    Case(
        "header_line_too_long",
        PREPARED,
        (post(CONFIRMED, extra=b"X-A: " + b"a" * 20000 + b"\r\n"),),
        CUT,  # past Twisted's 16 KiB line limit: no answer, cut by the site's timeout
        framing=True,
    ),
    Case("http2_preface", PREPARED, (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",), 400, framing=True),
]

# ---------------------------------------------------------------- oversized and slow bodies
SIZE_AND_TIME = [
    Case(
        "oversized_announced", PREPARED, (raw(HEAD + b"\nContent-Length: 70000", b"<" * 1000),), 413
    ),
    Case("oversized_sent", PREPARED, (post(b"<a>" + b"x" * 70000 + b"</a>"),), 413),
    Case(
        "oversized_chunked",
        PREPARED,
        (raw(HEAD + b"\nTransfer-Encoding: chunked", b"%x\r\n%s\r\n" % (8000, b"x" * 8000) * 10),),
        413,
    ),
    Case(
        "trickled_body",
        PREPARED,
        (post(CONFIRMED)[: -len(CONFIRMED)], CONFIRMED),
        CUT,
        trickle=True,
    ),
    Case(
        "trickled_headers",
        PREPARED,
        (b"POST /delegation HTTP/1.1\r\n", post(CONFIRMED).split(b"\r\n", 1)[1]),
        CUT,
        trickle=True,
    ),
    Case(
        "trickled_request_line",
        PREPARED,
        (b"", post(CONFIRMED, path=b"/delegation?" + b"a" * 60)),
        CUT,
        trickle=True,
    ),
    Case("headers_then_nothing", PREPARED, (raw(HEAD + b"\nContent-Length: 10"),), CUT),
]

# ---------------------------------------------------------------- sessions: unknown, out of order
ASYNC_ROOTS = (
    "BOOTSTRAP_CONFIRMED",
    "DELEGATION_PREPARED",
    "DELEGATION_CONFIRMED",
    "DELEGATION_FAILURE",
    "BOOTSTRAP_SRV_URL_REQ",
    "BOOTSTRAP_SRV_URL_DELIVERY",
    "DELEGATION_RESP",
    "DELEGATION_TERMINATION_ACK",
    "DELEGATION_TERMINATION_RESP",
    "REVOCATION_FAILURE",
)

UNKNOWN_SESSION = [
    Case(f"unknown_session_{root.lower()}", PREPARED, (post(message(root, OTHER_SESSION)),), 404)
    for root in ASYNC_ROOTS
] + [
    Case(
        "unknown_session_delegation_revoked_without_device",
        PREPARED,
        (post(message("DELEGATION_REVOKED", OTHER_SESSION, device_id=None, dm_tree_uri=None)),),
        404,
    ),
]

# in RESPONDED, BOOTSTRAP_CONFIRMED (or a DELEGATION_FAILURE) is awaited: everything else is 409
OUT_OF_ORDER = [
    Case(f"out_of_order_{root.lower()}", RESPONDED, (post(message(root)),), 409)
    for root in (
        "DELEGATION_PREPARED",
        "DELEGATION_CONFIRMED",
        "DELEGATION_RESP",
        "BOOTSTRAP_SRV_URL_REQ",
        "BOOTSTRAP_SRV_URL_DELIVERY",
        "DELEGATION_TERMINATION_REQ",
        "DELEGATION_TERMINATION_ACK",
        "DELEGATION_TERMINATION_RESP",
        "DELEGATION_REVOCATION_REQ",
        "DELEGATION_REVOKED",
        "REVOCATION_FAILURE",
    )
] + [
    Case(
        "out_of_order_prepared_in_prepared", PREPARED, (post(message("DELEGATION_PREPARED")),), 409
    ),
    Case(
        "out_of_order_failure_when_delegated",
        DELEGATED,
        (post(message("DELEGATION_FAILURE")),),
        409,
    ),
    Case(
        "new_request_for_a_subtree_in_process",
        RESPONDED,
        (post(bytes(request_from(PEER, OTHER_SESSION).encode())),),
        409,
    ),
    Case(
        "new_request_for_a_delegated_subtree",
        DELEGATED,
        (post(bytes(request_from(PEER, OTHER_SESSION).encode())),),
        409,
    ),
    Case(
        "bootstrap_confirmed_without_account",
        RESPONDED,
        (post(message("BOOTSTRAP_CONFIRMED", is_client_bootstrapped=False, dmacc=None)),),
        400,
    ),
]

# ---------------------------------------------------------------- replays: same answer, not redone
REPLAYS = [
    Case("replay_request_when_responded", RESPONDED, (post(REQUEST),), 200),
    Case("replay_request_when_prepared", PREPARED, (post(REQUEST),), 200),
    Case("replay_request_when_delegated", DELEGATED, (post(REQUEST),), 200),
    Case("replay_bootstrap_confirmed", PREPARED, (post(message("BOOTSTRAP_CONFIRMED")),), 204),
    Case(
        "replay_bootstrap_confirmed_when_delegated",
        DELEGATED,
        (post(message("BOOTSTRAP_CONFIRMED")),),
        204,
    ),
    Case("replay_confirmed", DELEGATED, (post(CONFIRMED),), 204),
]

# ---------------------------------------------------------------- whose session is it
PARTIES = [
    Case(
        "server_id_not_the_sender",
        FRESH,
        (post(bytes(request_from(PINNED, OTHER_SESSION).encode())),),
        403,
    ),
    Case("stranger_certificate", PREPARED, (post(CONFIRMED),), 403, client="stranger"),
    # Another peer's session is, to this peer, one that does not exist (no oracle): 404 as
    # for an unknown session, 409 "already exists" for a DELEGATION_REQ that reuses its id.
    Case("foreign_confirmed", PREPARED, (post(CONFIRMED),), 404, client="pinned"),
    Case("foreign_failure", PREPARED, (post(message("DELEGATION_FAILURE")),), 404, client="pinned"),
    Case(
        "foreign_bootstrap_confirmed",
        RESPONDED,
        (post(message("BOOTSTRAP_CONFIRMED")),),
        404,
        client="pinned",
    ),
    Case(
        "foreign_request_replay",
        RESPONDED,
        (post(bytes(request_from(PINNED).encode())),),
        409,
        client="pinned",
    ),
    Case(
        "foreign_revocation_request_on_the_session",
        DELEGATED,
        (post(message("DELEGATION_REVOCATION_REQ")),),
        404,
        client="pinned",
    ),
]

# ---------------------------------------------------------------- not delegated
NOT_DELEGATED = [
    Case(
        "termination_request_for_nothing",
        FRESH,
        (post(message("DELEGATION_TERMINATION_REQ", OTHER_SESSION)),),
        409,
    ),
    Case(
        "revocation_request_for_nothing",
        FRESH,
        (post(message("DELEGATION_REVOCATION_REQ", OTHER_SESSION)),),
        409,
    ),
    Case(
        "forced_revoked_for_nothing",
        FRESH,
        (post(message("DELEGATION_REVOKED", OTHER_SESSION)),),
        409,
    ),
    Case(
        "revocation_request_from_a_peer_not_holding_it",
        DELEGATED,
        (post(message("DELEGATION_REVOCATION_REQ", OTHER_SESSION)),),
        409,
        client="pinned",
    ),
    Case(
        "revocation_request_for_another_subtree",
        DELEGATED,
        (post(message("DELEGATION_REVOCATION_REQ", OTHER_SESSION, dm_tree_uri="./Vendor/Radio")),),
        409,
    ),
    Case(
        "revocation_request_for_another_device",
        DELEGATED,
        (post(message("DELEGATION_REVOCATION_REQ", OTHER_SESSION, device_id=DEVICE2)),),
        409,
    ),
    Case(
        "termination_request_to_the_delegating_server",
        DELEGATED,
        (post(message("DELEGATION_TERMINATION_REQ", OTHER_SESSION)),),
        409,
    ),
    Case(
        "revocation_request_while_in_process",
        PREPARED,
        (post(message("DELEGATION_REVOCATION_REQ", OTHER_SESSION)),),
        409,
    ),
]

CASES: list[Case] = (
    XML_ATTACKS
    + MALFORMED
    + HEADERS
    + SIZE_AND_TIME
    + UNKNOWN_SESSION
    + OUT_OF_ORDER
    + REPLAYS
    + PARTIES
    + NOT_DELEGATED
)

__all__ = ["CASES", "CUT", "DEVICE", "Case"]
