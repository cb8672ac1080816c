"""The subject a CertificateSigningRequest asks for: the organisations (O=, which become Kubernetes
groups in a client certificate) and common name (CN=, the user name) of ``spec.request``.

``spec.request`` is a base64-encoded PEM ``CERTIFICATE REQUEST`` (PKCS#10). The ``cryptography``
package is not a kposture dependency, so this module walks the DER encoding itself: just far enough
to reach ``certificationRequestInfo.subject`` and read its attribute values. Anything malformed gives
None; nothing here verifies the signature (a forged signature does not change what is asked for).
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

_PEM = re.compile(
    rb"-----BEGIN (?:NEW )?CERTIFICATE REQUEST-----(.+?)-----END (?:NEW )?CERTIFICATE REQUEST-----",
    re.DOTALL,
)
_SEQUENCE = 0x30
_SET = 0x31
_OID = 0x06
_ORGANIZATION = bytes((0x55, 0x04, 0x0A))  # 2.5.4.10
_COMMON_NAME = bytes((0x55, 0x04, 0x03))  # 2.5.4.3
_STRING_TAGS = {0x0C: "utf-8", 0x13: "ascii", 0x16: "ascii", 0x14: "latin-1", 0x1E: "utf-16-be"}


@dataclass(frozen=True, slots=True)
class CsrSubject:
    """What a CSR asks to be: ``organizations`` (groups) and ``common_name`` (user)."""

    organizations: tuple[str, ...]
    common_name: str


class _DerError(ValueError):
    pass


def _element(data: bytes, offset: int) -> tuple[int, int, int]:
    """(tag, start of content, end of content) of the DER element at ``offset``."""
    if offset + 2 > len(data):
        raise _DerError("truncated")
    tag = data[offset]
    length = data[offset + 1]
    start = offset + 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or start + count > len(data):
            raise _DerError("bad length")
        length = int.from_bytes(data[start : start + count], "big")
        start += count
    end = start + length
    if end > len(data):
        raise _DerError("truncated")
    return tag, start, end


def _children(data: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    found = []
    offset = start
    while offset < end:
        element = _element(data, offset)
        found.append(element)
        offset = element[2]
    return found


def _subject(der: bytes) -> CsrSubject:
    tag, start, end = _element(der, 0)
    if tag != _SEQUENCE:
        raise _DerError("not a sequence")
    info_tag, info_start, info_end = _children(der, start, end)[0]
    if info_tag != _SEQUENCE:
        raise _DerError("no certificationRequestInfo")
    fields = _children(der, info_start, info_end)
    name_tag, name_start, name_end = fields[1]  # version, subject, subjectPKInfo, attributes
    if name_tag != _SEQUENCE:
        raise _DerError("no subject")
    organizations: list[str] = []
    common_name = ""
    for rdn_tag, rdn_start, rdn_end in _children(der, name_start, name_end):
        if rdn_tag != _SET:
            raise _DerError("bad RDN")
        for _, attr_start, attr_end in _children(der, rdn_start, rdn_end):
            (oid_tag, oid_start, oid_end), (value_tag, value_start, value_end) = _children(
                der, attr_start, attr_end
            )[:2]
            encoding = _STRING_TAGS.get(value_tag)
            if oid_tag != _OID or encoding is None:
                continue
            value = der[value_start:value_end].decode(encoding, errors="replace")
            oid = der[oid_start:oid_end]
            if oid == _ORGANIZATION:
                organizations.append(value)
            elif oid == _COMMON_NAME:
                common_name = value
    return CsrSubject(tuple(organizations), common_name)


def csr_subject(request: object) -> CsrSubject | None:
    """The subject of a CSR's ``spec.request`` (base64 of a PEM, or the PEM text itself)."""
    if not isinstance(request, str) or not request.strip():
        return None
    text = request.strip().encode("ascii", errors="ignore")
    if b"-----BEGIN" not in text:
        try:
            text = base64.b64decode(text, validate=False)
        except (binascii.Error, ValueError):
            return None
    match = _PEM.search(text)
    if match is None:
        return None
    try:
        der = base64.b64decode(b"".join(match.group(1).split()), validate=False)
        return _subject(der)
    except (binascii.Error, ValueError, IndexError):
        return None
