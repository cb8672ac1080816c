"""Credential detection: decides whether a named value (an env var, a ConfigMap entry, a line of a
config file) holds a credential, and says which kind, without ever giving the value back.

Owns, on top of the key-name heuristics of ``credential_keys``, the placeholder and reference
policy, the known token formats (PEM private keys, cloud keys, Git forge and chat tokens, JWTs, URLs
with passwords...), the entropy test, the line-by-line scan of multi-line values and the redacted
fingerprint. Rules (``rules.secrets``) and, later, audit-log detections use it.

Placeholder policy: empty values, references resolved elsewhere (``$(VAR)``, ``${VAR}``,
``{{ template }}``, ``vault:``/``ref+``/sops ``ENC[...]`` and cloud secret-manager ids), file paths,
URLs without userinfo, public keys and markup placeholders that ask to be filled in (``<password>``,
``REPLACE_ME``, ``TODO``, ``your-token-here``) do not count. Masks (``xxx``, ``***``) and well-known
default passwords (``changeme``, ``changeit``, ``admin``) do count: a running system accepts them as
credentials, and a literal in a credential slot means the manifest is where the credential lives.

The value never leaves this module: a ``CredentialMatch`` carries the kind, the key name, the line
within the value and a fingerprint, and errors raised here never mention it. Cheap tests (cached key
classification, length, substring screens) run first; regexes, entropy and JWT decoding only run on
candidates.

Fingerprint: ``scrypt:`` and 12 hex digits of scrypt (N=2**12, r=8, p=1, 4 MiB per call) over a
domain-separated SHA-256 of the value, with a fixed, public salt. It is stable across runs, machines
and versions of the detector (finding fingerprints, SARIF ``partialFingerprints`` and de-duplication
depend on it) and is cached per distinct value within a process (an LRU keyed by the SHA-256, so the
cache holds no plain text). What it protects against: reading the value back from a report, generic
hash lookup tables, and cheap bulk guessing -- each guess costs about 9 ms of CPU and 4 MiB of memory
here, so a 14-million-word leaked-password list is about 35 CPU-hours instead of seconds. The cost
is paid by scans too, once per distinct credential: 200 distinct credentials add about 2 s (N was
lowered from 2**14 after a live-cluster scan with 600 distinct values spent 22 s hashing).
What it does not protect against: a targeted guess of one weak value (``changeme`` from a short
list is still found in seconds), and because the salt must be fixed for stability, a dictionary
precomputed once works against every kposture report. Treat a fingerprint of a weak value as the
value: rotate credentials that were committed, whatever the report looks like.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
import math
import re
from collections import Counter
from dataclasses import dataclass

from kposture.inventory.credential_keys import KeyClass, classify_key

FINGERPRINT_PREFIX = "scrypt:"
_FINGERPRINT_DOMAIN = b"kposture.credential/v1\x00"
_SCRYPT_SALT = b"kposture.credential.fingerprint/v2"
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**12, 8, 1
"""scrypt cost: 128 * N * r bytes = 4 MiB of memory per distinct value (about 9 ms on one core)."""
_FINGERPRINT_BYTES = 6
MAX_SCANNED_CHARS = 1_048_576
"""Values are scanned up to 1 MiB (the size limit of a whole ConfigMap)."""
MAX_DECODED_BYTES = 1_048_576


@dataclass(frozen=True, slots=True)
class CredentialMatch:
    """One credential found: its kind (``"AWS access key id"``, ``"password-like key"``), the key it
    sits under, the 1-based line inside a multi-line value (0 for the whole value), the inner key on
    that line when it has a safe, name-like one, and a redacted fingerprint of the value."""

    kind: str
    key: str
    fingerprint: str
    line: int = 0
    inner_key: str = ""


class CredentialScanError(RuntimeError):
    """The detector failed on a value; the message names the key, never the value."""


def fingerprint(value: str | bytes) -> str:
    """``scrypt:`` and 12 hex digits of a memory-hard, fixed-salt KDF of the value.

    Stable for a value across runs and machines; costly to guess in bulk, but one targeted guess of a
    weak value is still possible (see the module docstring). Fingerprints correlate findings; they
    are not a licence to publish weak credentials.
    """
    data = value.encode("utf-8", "surrogatepass") if isinstance(value, str) else value
    return FINGERPRINT_PREFIX + _stretched(hashlib.sha256(_FINGERPRINT_DOMAIN + data).digest())


@functools.lru_cache(maxsize=4096)
def _stretched(digest: bytes) -> str:
    """The scrypt part of a fingerprint, cached by the value's SHA-256 (never by the value)."""
    return hashlib.scrypt(
        digest,
        salt=_SCRYPT_SALT,
        n=SCRYPT_N,
        r=SCRYPT_R,
        p=SCRYPT_P,
        maxmem=64 * 1024 * 1024,
        dklen=_FINGERPRINT_BYTES,
    ).hex()


# --- values ---------------------------------------------------------------------------------------

_REFERENCE = re.compile(
    r"\$\(|\$\{|\{\{|%\(\w+\)|#\{|^\$[A-Za-z_]\w*$|^(?:vault:|ref\+|ENC\[|arn:aws:(?:secretsmanager|ssm):"
    r"|projects/[^/\s]+/secrets/|sm://|azurekeyvault://|awssecretsmanager:|op://)"
)
_MARKUP = re.compile(
    r"^(?:<[^<>]*>|\[[^\]]*\]|replace[-_ ]?me|todo|tbd|fixme|placeholder|redacted|n/?a|none|null|nil"
    r"|undefined|-|(?:your|my|insert|enter)[-_ ]?[a-z_ -]*[-_ ]here)$",
    re.IGNORECASE,
)
_BOOLEAN = frozenset({"true", "false", "yes", "no", "on", "off", "enabled", "disabled", "y", "n"})
_PATH = re.compile(r"^(?:~?/|\.{1,2}/)[\w.\-@]+(?:/[\w.\-@]*)*$|^[A-Za-z]:\\")
_PLAIN_URL = re.compile(r"^[a-z][a-z0-9+.\-]*://[^@\s?#]*$", re.IGNORECASE)
_PUBLIC_KEY = re.compile(
    r"^(?:ssh-(?:rsa|ed25519|dss)|ecdsa-sha2-\S+|sk-ssh-\S+)\s|-----BEGIN (?:PUBLIC KEY|CERTIFICATE)"
)
_NUMBER = re.compile(r"^[+-]?\d+(?:\.\d+)?$")
_DNS_NAME = re.compile(
    r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*$"
)
_RANDOM_CHARS = re.compile(r"^[A-Za-z0-9+/=_\-.~]+$")
_HEX = re.compile(r"^[0-9a-fA-F]+$")
_USER_PASS = re.compile(r"^[^\s:/@]{1,64}:[^\s:/@]{3,}$")
_AUTH_SCHEME = re.compile(r"^(?:Bearer|Basic|Token)\s+[A-Za-z0-9+/=_\-.~]{8,}$", re.IGNORECASE)


def shannon_entropy(text: str) -> float:
    """Bits per character of ``text`` (0 for empty text)."""
    if not text:
        return 0.0
    length = len(text)
    return -sum(count / length * math.log2(count / length) for count in Counter(text).values())


def looks_random(value: str) -> bool:
    """A long, single-token string with mixed letters and digits and high entropy."""
    if len(value) < 16 or len(value) > 4096 or not _RANDOM_CHARS.match(value):
        return False
    if not any(c.isdigit() for c in value) or not any(c.isalpha() for c in value):
        return False
    if _HEX.match(value):
        return len(value) >= 32 and shannon_entropy(value) >= 3.0
    return shannon_entropy(value) >= 3.5


def is_reference(value: str) -> bool:
    """Whether the value is resolved elsewhere (env expansion, templates, external secret stores)."""
    return _REFERENCE.search(value) is not None


def holds_secret_material(value: str) -> bool:
    """Whether a value stored in a Secret is worth protecting: not empty, not a reference or a
    fill-in placeholder, not a boolean, and not only public keys or certificates (a PEM bundle with a
    private key counts)."""
    stripped = value.strip()
    if not stripped or stripped.lower() in _BOOLEAN:
        return False
    if is_reference(stripped) or _MARKUP.match(stripped) is not None:
        return False
    return _PUBLIC_KEY.match(stripped) is None or "PRIVATE KEY" in stripped.upper()


def _not_a_literal(value: str) -> bool:
    lowered = value.lower()
    return (
        lowered in _BOOLEAN
        or _MARKUP.match(value) is not None
        or is_reference(value)
        or _PATH.match(value) is not None
        or _PLAIN_URL.match(value) is not None
        or _PUBLIC_KEY.match(value) is not None
    )


def _is_prose(value: str) -> bool:
    words = value.split()
    return len(words) >= 4 and sum(word.isalpha() for word in words) >= 3


def _counts(cls: KeyClass, value: str) -> bool:
    """Whether ``value`` under a key of class ``cls`` is a literal credential (policy in the
    module docstring)."""
    if not value or _not_a_literal(value) or _is_prose(value):
        return False
    if _NUMBER.match(value):
        return cls.label == "password"
    if not cls.strong:
        return (
            looks_random(value) or bool(_USER_PASS.match(value)) or bool(_AUTH_SCHEME.match(value))
        )
    # ``TLS_SECRET: ingress-tls`` names a Secret object; it is not the secret itself.
    return not (cls.label in ("secret", "credential") and "-" in value and _DNS_NAME.match(value))


# --- known formats --------------------------------------------------------------------------------

_PEM = re.compile(r"-{3,}\s*BEGIN\s+[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?\s*-{3,}", re.IGNORECASE)
_PEM_END = re.compile(r"-{3,}\s*END\s+[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?\s*-{3,}", re.IGNORECASE)
_TOKENS = re.compile(
    r"(?P<aws_id>\b(?:AKIA|ASIA)[A-Z0-9]{16}\b)"
    r"|(?P<github>\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b)"
    r"|(?P<gitlab>\bglpat-[A-Za-z0-9_\-]{20,}\b)"
    r"|(?P<slack>\bxox[baprs]-[A-Za-z0-9-]{10,}|hooks\.slack\.com/(?:services|workflows)/[A-Za-z0-9/_+-]{20,})"
    r"|(?P<stripe>\b[sr]k_live_[A-Za-z0-9]{16,})"
    r"|(?P<google>\bAIza[0-9A-Za-z_\-]{35}\b)"
    r"|(?P<npm>\bnpm_[A-Za-z0-9]{36}\b)"
    r"|(?P<sendgrid>\bSG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43}\b)"
    r"|(?P<azure>AccountKey=[A-Za-z0-9+/=]{20,}|SharedAccessKey=[A-Za-z0-9+/=]{20,})"
    r"|(?P<jwt>\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*)"
)
_TOKEN_KINDS = {
    "aws_id": "AWS access key id",
    "github": "GitHub token",
    "gitlab": "GitLab token",
    "slack": "Slack token or webhook",
    "stripe": "Stripe live key",
    "google": "Google API key",
    "npm": "npm token",
    "sendgrid": "SendGrid API key",
    "azure": "Azure connection string key",
    "jwt": "JWT",
}
_TOKEN_HINTS = (
    "AKIA", "ASIA", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "glpat-", "xox",
    "hooks.slack", "k_live_", "AIza", "npm_", "SG.", "AccountKey=", "SharedAccessKey=", "eyJ",
)  # fmt: skip
_URL_USERINFO = re.compile(r"\b[a-z][a-z0-9+.\-]*://[^/\s:@]*:([^/\s@]+)@[^\s/]", re.IGNORECASE)
_QUERY_PARAM = re.compile(r"[?&]([A-Za-z_][\w.\-]{0,63})=([^&#\s]+)")
_CONN_PASSWORD = re.compile(r"(?:^|;)\s*(?:password|pwd)\s*=\s*([^;]+)", re.IGNORECASE)
_GCP_ACCOUNT = re.compile(r'"type"\s*:\s*"service_account"')
_AWS_SECRET = re.compile(r"^[A-Za-z0-9/+]{40}$")


def _jwt_header_ok(token: str) -> bool:
    header = token.split(".", 1)[0]
    try:
        decoded = base64.urlsafe_b64decode(header + "=" * (-len(header) % 4))
        parsed = json.loads(decoded)
    except (ValueError, binascii.Error, RecursionError):
        return False
    return isinstance(parsed, dict) and "alg" in parsed


def _token_kind(value: str) -> str | None:
    for found in _TOKENS.finditer(value):
        group = found.lastgroup or ""
        if group == "jwt" and not _jwt_header_ok(found.group()):
            continue
        return _TOKEN_KINDS[group]
    return None


def format_kind(value: str) -> str | None:
    """The kind of a credential recognised by its format alone, whatever its key; None otherwise."""
    if len(value) < 9:
        return None
    if "PRIVATE KEY" in value.upper() and _PEM.search(value):
        return "GCP service-account key" if _GCP_ACCOUNT.search(value) else "private key (PEM)"
    if len(value) >= 15 and any(hint in value for hint in _TOKEN_HINTS):
        kind = _token_kind(value)
        if kind is not None:
            return kind
    if "://" in value:
        for found in _URL_USERINFO.finditer(value):
            secret = found.group(1)
            if not _not_a_literal(secret):
                return "URL with a password"
        if "?" in value:
            for found in _QUERY_PARAM.finditer(value):
                if found.group(1).lower() == "sig" and "sv=" in value:
                    return "Azure SAS token"
                cls = classify_key(found.group(1))
                if cls is not None and cls.strong and _counts(cls, found.group(2)):
                    return f"{cls.label} in a URL query"
    if "=" in value and ";" in value:
        for found in _CONN_PASSWORD.finditer(value):
            if not _not_a_literal(found.group(1).strip()):
                return "connection string with a password"
    if _AUTH_SCHEME.match(value):
        return "Authorization header value"
    return None


def _key_kind(key: str, value: str) -> str | None:
    cls = classify_key(key) if key else None
    if cls is None or not _counts(cls, value):
        return None
    aws_secret = cls.label in ("secret", "secret key", "access key") and "aws" in key.lower()
    if aws_secret and _AWS_SECRET.match(value) and not _HEX.match(value):
        return "AWS secret access key"
    if not cls.strong:
        return f"high-entropy value under an {cls.label}-like key"
    return f"{cls.label.replace(' ', '-')}-like key"


# --- lines of multi-line values -------------------------------------------------------------------

_KEY_HINTS = ("_key", "-key", ".key", "key_", "key-", "key.", "apikey", "accesskey", "accountkey")
_LINE_HINTS = (
    "pass", "pwd", "secret", "token", "auth", "cred", "bearer", "private", "://", "eyj", "akia",
    "asia", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "glpat-", "xox", "_live_", "aiza",
    "npm_", "sg.", *_KEY_HINTS,
)  # fmt: skip
"""Lower-case substrings without which a line can hold no credential kposture recognises."""


def _has_hint(lowered: str) -> bool:
    return any(hint in lowered for hint in _LINE_HINTS)


def _candidate_lines(text: str) -> list[int]:
    """Start offsets of the lines that contain a hint, in order; plain substring search is much
    faster than a case-insensitive regex alternation over large config files."""
    lowered = text.lower()
    starts: set[int] = set()
    for hint in _LINE_HINTS:
        position = lowered.find(hint)
        while position >= 0:
            starts.add(lowered.rfind("\n", 0, position) + 1)
            line_end = lowered.find("\n", position)
            if line_end < 0:
                break
            position = lowered.find(hint, line_end)
    return sorted(starts)


_LEADING_PAIR = re.compile(
    r"^\s*(?:-\s+)?(?:export\s+)?[\"']?([A-Za-z_][\w.\-]{0,127})[\"']?\s*[:=]\s*(.*?)\s*$"
)
_QUOTED_PAIR = re.compile(r'"([A-Za-z_][\w.\-]{0,127})"\s*:\s*"((?:[^"\\]|\\.)*)"')
_ATTRIBUTE_PAIR = re.compile(r"\b([A-Za-z_][\w.\-]{0,127})\s*=\s*\"([^\"]*)\"")
_FLAG_PAIR = re.compile(r"(?:^|\s)-{1,2}D?([A-Za-z][\w.\-]{0,127})=(\S+)")
_SAFE_NAME = re.compile(r"^[A-Za-z_][\w.\-]{0,63}$")
_COMMENTS = ("#", "//", ";")


def _clean(value: str) -> str:
    value = value.strip().rstrip(",;").strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    hash_at = value.find(" #")
    return value[:hash_at].rstrip() if hash_at > 0 else value


def _safe_inner_key(key: str) -> str:
    """The inner key if it is name-like and cannot be a piece of the credential itself."""
    if not _SAFE_NAME.match(key) or looks_random(key) or format_kind(key) is not None:
        return ""
    return key


def _line_pairs(line: str) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    if '":' in line or '" :' in line:
        pairs.extend(_QUOTED_PAIR.findall(line))
    if '="' in line or '= "' in line:
        pairs.extend(_ATTRIBUTE_PAIR.findall(line))
    if "-" in line and "=" in line:
        pairs.extend(_FLAG_PAIR.findall(line))
    if not pairs:
        found = _LEADING_PAIR.match(line)
        if found is not None:
            pairs.append((found.group(1), _clean(found.group(2))))
    return pairs


def _scan_line(key: str, line: str, number: int) -> CredentialMatch | None:
    stripped = line.strip()
    if not stripped:
        return None
    kind = format_kind(stripped)
    if kind is not None:
        pairs = _line_pairs(stripped)
        inner = _safe_inner_key(pairs[0][0]) if pairs else ""
        return CredentialMatch(kind, key, fingerprint(stripped), number, inner)
    if stripped.startswith(_COMMENTS):
        return None
    for inner_key, inner_value in _line_pairs(stripped):
        kind = _key_kind(inner_key, inner_value)
        if kind is not None:
            safe = _safe_inner_key(inner_key)
            return CredentialMatch(kind, key, fingerprint(inner_value), number, safe)
    return None


def _pem_matches(key: str, text: str) -> tuple[list[CredentialMatch], set[int]]:
    """Private key blocks in a multi-line value, each reported at its BEGIN line; also returns every
    line inside a block, so base64 body lines are not scanned on their own."""
    matches: list[CredentialMatch] = []
    lines: set[int] = set()
    if "private key" not in text.lower():
        return matches, lines
    kind = "GCP service-account key" if _GCP_ACCOUNT.search(text) else "private key (PEM)"
    for found in _PEM.finditer(text):
        first = text.count("\n", 0, found.start()) + 1
        if first in lines:
            continue
        end = _PEM_END.search(text, found.end())
        stop = end.end() if end is not None else len(text)
        lines.update(range(first, first + text.count("\n", found.start(), stop) + 1))
        matches.append(CredentialMatch(kind, key, fingerprint(text), first))
    return matches, lines


def _scan_text(key: str, text: str) -> tuple[CredentialMatch, ...]:
    matches, seen = _pem_matches(key, text)
    number, counted_to = 1, 0
    for start in _candidate_lines(text):
        number += text.count("\n", counted_to, start)
        counted_to = start
        if number in seen:
            continue
        end = text.find("\n", start)
        match = _scan_line(key, text[start : end if end >= 0 else len(text)], number)
        if match is not None:
            seen.add(number)
            matches.append(match)
    matches.sort(key=lambda match: match.line)
    return tuple(matches)


# --- entry points ---------------------------------------------------------------------------------


def _as_text(value: object) -> str | None:
    if isinstance(value, str):
        return value[:MAX_SCANNED_CHARS]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def find_credentials(key: str, value: object) -> tuple[CredentialMatch, ...]:
    """Credentials in ``value`` stored under ``key`` (an env var name, a ConfigMap key).

    A one-line value is judged as a whole (its format, then its key name, then ``k=v`` pairs and
    flags inside it); a multi-line value is scanned for private-key blocks and line by line, each
    match naming its line. Non-string values other than numbers are never credentials.
    """
    text = _as_text(value)
    if text is None:
        return ()
    try:
        stripped = text.strip()
        if not stripped:
            return ()
        if "\n" in stripped:
            return _scan_text(key, text)
        kind = format_kind(stripped) or _key_kind(key, stripped)
        if kind is not None:
            return (CredentialMatch(kind, key, fingerprint(stripped)),)
        if ("=" in stripped or ":" in stripped) and _has_hint(stripped.lower()):
            match = _scan_line(key, stripped, 1)
            if match is not None and match.inner_key:
                return (CredentialMatch(match.kind, key, match.fingerprint, 0, match.inner_key),)
        return ()
    except Exception:  # never let a message, traceback or repr carry the value
        raise CredentialScanError(f"credential detection failed on key {key!r}") from None


_BINARY_KEYSTORE = re.compile(r"\.(?:p12|pfx|jks|keystore|bcfks)$", re.IGNORECASE)


def find_credentials_in_base64(key: str, data: object) -> tuple[CredentialMatch, ...]:
    """Credentials in a base64 value (ConfigMap ``binaryData``): binary keystores by name, and the
    decoded text scanned like any other value. Undecodable data is no finding."""
    if not isinstance(data, str) or not data.strip():
        return ()
    encoded = "".join(data.split())[: MAX_DECODED_BYTES // 3 * 4]
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return ()
    if _BINARY_KEYSTORE.search(key):
        return (CredentialMatch("binary keystore", key, fingerprint(raw)),)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return ()
    return find_credentials(key, text)
