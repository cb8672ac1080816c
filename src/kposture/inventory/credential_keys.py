"""Credential key names: whether a key (an env var name, a ConfigMap key, a config-file key) names a
credential, and how strongly.

Credential words are matched as whole words of snake, kebab, camel and dotted names, with the usual
false friends (``token_ttl``, ``password_min_length``, ``secret_name``, ``*_FILE``, ``*_PATH``) ruled
out. ``credentials`` combines this with the value checks; nothing here ever sees a value.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

_SEPARATORS = re.compile(r"[^A-Za-z0-9]+")
_CAMEL_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")


def _word_set(words: str) -> frozenset[str]:
    return frozenset(words.split())


_NOT_SECRET_LAST = _word_set(
    "file files path paths dir directory folder url uri urls endpoint endpoints host hostname "
    "port name names ref refs reference id ids ttl expiry expires expiration expire timeout "
    "length len size min max count enabled enable disabled disable required require policy "
    "policies type types mode header headers field param params location version versions "
    "rotation interval period age duration lifetime regex pattern format prefix suffix algorithm "
    "alg method methods provider providers issuer audience scope scopes store mount volume env "
    "var key_id username user usernames namespace namespaces kind label labels annotation "
    "selector class strategy backend backends manager engine plugin config configs configuration "
    "template templates hint hints length strength complexity reset rules rule level levels "
    "limit limits retries attempts owner owners generator source sources server servers "
    "address addr cache ttls bucket table column topic queue arn schema "
    "validation validator verify check checks lookup mapping map mappings annotations keyref "
    "secretref"
)
_NOT_SECRET_FIRST = _word_set(
    "existing use create enable enabled disable is has no skip allow require show hide mount "
    "num max min generate rotate"
)
_PUBLIC = frozenset({"public", "pub"})
_KEY_NAMING = frozenset({"password", "passwd", "token", "user", "username", "cert", "ca", "tls"})
_PASSWORD_WORDS = frozenset({"password", "passwd", "pwd", "passphrase", "pswd", "passcode"})
_SECRET_WORDS = frozenset({"secret", "secrets"})
_TOKEN_WORDS = frozenset({"token", "bearer"})
_CREDENTIAL_WORDS = frozenset({"credential", "credentials", "creds", "cred"})
_KEY_QUALIFIERS = {
    "api": "API key",
    "access": "access key",
    "secret": "secret key",
    "private": "private key",
    "account": "account key",
    "storage": "storage key",
    "master": "master key",
    "signing": "signing key",
    "encryption": "encryption key",
    "shared": "shared key",
    "client": "client key",
    "service": "service key",
    "app": "app key",
    "admin": "admin key",
    "root": "root key",
    "ssh": "SSH key",
    "hmac": "HMAC key",
    "jwt": "JWT key",
    "session": "session key",
    "subscription": "subscription key",
    "sas": "SAS key",
    "auth": "auth key",
    "deploy": "deploy key",
    "webhook": "webhook key",
}
_KEY_TAILS = frozenset({"content", "data", "material", "value", "pem", "secret"})
_CLOUD_PREFIXES = frozenset({"aws", "azure", "gcp", "google", "oci", "alibaba", "aliyun", "ibm"})
_SUFFIX_WORDS = (
    ("password", "password"),
    ("passwd", "password"),
    ("passphrase", "password"),
    ("apikey", "API key"),
    ("secretkey", "secret key"),
    ("accesskey", "access key"),
    ("privatekey", "private key"),
    ("secret", "secret"),
    ("token", "token"),
)


@dataclass(frozen=True, slots=True)
class KeyClass:
    """What a key name says: the credential it names (``label``) and whether any literal counts
    (``strong``) or only a random-looking one (weak words such as ``auth``)."""

    label: str
    strong: bool


def key_words(key: str) -> tuple[str, ...]:
    """Lower-case words of a snake, kebab, dotted, spaced or camelCase name."""
    return tuple(
        word.lower()
        for part in _SEPARATORS.split(key)
        if part
        for word in _CAMEL_WORDS.findall(part)
    )


@functools.lru_cache(maxsize=8192)
def classify_key(key: str) -> KeyClass | None:
    """The credential a key name announces, or None for ordinary and false-friend names."""
    words = key_words(key)
    if not words or words[-1] in _NOT_SECRET_LAST or words[0] in _NOT_SECRET_FIRST:
        return None
    if _PUBLIC.intersection(words) and "private" not in words:
        return None
    if len(words) > 1 and words[-1] == "key" and words[-2] in _KEY_NAMING:
        return None  # ``passwordKey: db-password`` names a key inside a Secret
    last = len(words) - 1
    weak: KeyClass | None = None
    for index, word in enumerate(words):
        following = words[index + 1] if index < last else ""
        if word in _PASSWORD_WORDS or (word == "pass" and index == last):
            return KeyClass("password", True)
        if following == "key" and word in _KEY_QUALIFIERS:
            return KeyClass(_KEY_QUALIFIERS[word], True)
        if word == "apikey" or (word == "key" and following in _KEY_TAILS):
            return KeyClass("API key" if word == "apikey" else "private key", True)
        if word in _SECRET_WORDS:
            return KeyClass("secret", True)
        if word in _TOKEN_WORDS:
            return KeyClass("token", True)
        if word in _CREDENTIAL_WORDS:
            return KeyClass("credential", True)
        for suffix, label in _SUFFIX_WORDS:
            if word.endswith(suffix) and len(word) > len(suffix):
                return KeyClass(label, True)
        if word in {"auth", "authorization", "pass"} and weak is None:
            weak = KeyClass("auth", False)
    if words[0] in _CLOUD_PREFIXES and words[-1] == "key" and len(words) > 1:
        return KeyClass("cloud key", True)
    return weak
