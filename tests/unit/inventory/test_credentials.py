"""The credential detector: key-name heuristics and false friends, the placeholder policy, known
token formats, multi-line values, binaryData, and that no value ever leaves it.

Token-shaped test values are assembled from parts at run time (or are vendors' documented example
values), so this file trips no secret scanner.
"""

from __future__ import annotations

import base64
import hashlib
import json

import pytest

from kposture.inventory.credential_keys import classify_key, key_words
from kposture.inventory.credentials import (
    CredentialMatch,
    CredentialScanError,
    find_credentials,
    find_credentials_in_base64,
    fingerprint,
    format_kind,
    looks_random,
)

DASHES = "-" * 5
PEM = f"{DASHES}BEGIN RSA PRIVATE KEY{DASHES}\nEXAMPLEONLYNOTAKEY\n{DASHES}END RSA PRIVATE KEY{DASHES}\n"
AWS_EXAMPLE_ID = "AKIAIOSFODNN7EXAMPLE"  # AWS's documented example key id
AWS_EXAMPLE_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"  # AWS's documented example


def _b64url(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


JWT = ".".join((_b64url({"alg": "HS256", "typ": "JWT"}), _b64url({"sub": "demo"}), "c2lnbmF0dXJl"))
TOKENS = {
    "GitHub token": "gh" + "p_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8",
    "GitLab token": "gl" + "pat-" + "Ab3dEf6hIj9kLm2nOp5q",
    "Slack token or webhook": "xo" + "xb-" + "1234567890-0987654321-AbCdEfGhIjKl",
    "Stripe live key": "sk" + "_live_" + "4eC39HqLyjWDarjtT1zdp7dc",
    "AWS access key id": AWS_EXAMPLE_ID,
    "JWT": JWT,
}


def kinds(key: str, value: object) -> list[str]:
    return [match.kind for match in find_credentials(key, value)]


# --- key names ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "words"),
    [
        ("DB_PASSWORD", ("db", "password")),
        ("db-password", ("db", "password")),
        ("dbPassword", ("db", "password")),
        ("spring.datasource.password", ("spring", "datasource", "password")),
        ("APIKey", ("api", "key")),
        ("OAuth2Token", ("o", "auth", "2", "token")),
    ],
)
def test_key_words_split_every_naming_style(key: str, words: tuple[str, ...]) -> None:
    assert key_words(key) == words


@pytest.mark.parametrize(
    "key",
    [
        "password",
        "DB_PASSWORD",
        "dbPassword",
        "MYSQL_ROOT_PASSWORD",
        "mysqlrootpassword",
        "smtp_pass",
        "client_secret",
        "clientSecret",
        "JWT_SECRET",
        "SECRET_KEY",
        "SECRET_KEY_BASE",
        "GITHUB_TOKEN",
        "access-token",
        "api_key",
        "apiKey",
        "x-api-key",
        "AWS_SECRET_ACCESS_KEY",
        "AZURE_BATCH_KEY",
        "OCI_CLI_KEY_CONTENT",
        "private_key",
        "credentials",
        "spring.datasource.password",
    ],
)
def test_credential_keys_are_recognised(key: str) -> None:
    found = classify_key(key)
    assert found is not None and found.strong


@pytest.mark.parametrize(
    "key",
    [
        "token_ttl",
        "TOKEN_EXPIRY",
        "password_min_length",
        "PASSWORD_POLICY",
        "secret_name",
        "secretName",
        "SECRET_REF",
        "PASSWORD_FILE",
        "PRIVATE_KEY_PATH",
        "TOKEN_URL",
        "token_endpoint",
        "AUTH_ENABLED",
        "auth_type",
        "AWS_ACCESS_KEY_ID",
        "SSH_PUBLIC_KEY",
        "existingSecret",
        "passwordKey",
        "cache_key",
        "partition_key",
        "NEXTAUTH_URL",
        "tokenizer",
        "LOG_LEVEL",
        "bypass",
    ],
)
def test_false_friends_are_not_credential_keys(key: str) -> None:
    assert classify_key(key) is None


def test_auth_is_a_weak_word_that_needs_a_random_value() -> None:
    assert classify_key("REDIS_AUTH") is not None
    assert kinds("REDIS_AUTH", "aZ3kq9Lm2Xp8Rt5Vw1Yb") == [
        "high-entropy value under an auth-like key"
    ]
    assert kinds("REDIS_AUTH", "enabled") == []
    assert kinds("AUTH", "oidc") == []


# --- the placeholder and reference policy -------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["abc123", "hunter2", "xxx", "xxxxx", "***", "changeme", "changeit", "admin", "123456"]
)
def test_literals_masks_and_default_passwords_count(value: str) -> None:
    assert kinds("DB_PASSWORD", value) == ["password-like key"]


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        "$(DB_PASSWORD)",
        "${DB_PASSWORD}",
        "{{ .Values.db.password }}",
        "%(password)s",
        "<password>",
        "<set-at-deploy-time>",
        "REPLACE_ME",
        "TODO",
        "your-password-here",
        "/run/secrets/db-password",
        "./secrets/pw",
        "vault:secret/data/db#password",
        "ref+awssecrets://db/password",
        "ENC[AES256_GCM,data:abc,type:str]",
        "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db",
        "true",
        "false",
        "null",
        "https://vault.example.com/v1/secret",
    ],
)
def test_references_paths_and_markup_placeholders_do_not_count(value: str) -> None:
    assert kinds("DB_PASSWORD", value) == []


def test_secret_object_names_under_secret_keys_do_not_count() -> None:
    assert kinds("TLS_SECRET", "ingress-tls") == []
    assert kinds("JWT_SECRET", "s3cr3t") == ["secret-like key"]


def test_numbers_count_only_as_passwords() -> None:
    assert kinds("DB_PASSWORD", 123456) == ["password-like key"]
    assert kinds("MAX_TOKENS", "4096") == []
    assert kinds("API_TOKEN", 4096) == []
    assert kinds("DB_PASSWORD", True) == []
    assert kinds("DB_PASSWORD", None) == []


# --- known formats --------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "value"), sorted(TOKENS.items()))
def test_token_formats_are_found_whatever_the_key(kind: str, value: str) -> None:
    assert kinds("SOMETHING", value) == [kind]
    assert kinds("SOMETHING", f"prefix {value} suffix") == [kind]


def test_pem_private_keys_and_service_account_json() -> None:
    assert kinds("blob", PEM) == ["private key (PEM)"]
    polaris_style = "---BEGIN OPENSSH PRIVATE KEY---\nxxxxx\n---END  OPENSSH PRIVATE KEY---\n"
    assert kinds("the_good_stuff", polaris_style) == ["private key (PEM)"]
    account = json.dumps({"type": "service_account", "private_key_id": "1", "private_key": PEM})
    assert kinds("sa.json", account) == ["GCP service-account key"]
    certificate = f"{DASHES}BEGIN CERTIFICATE{DASHES}\nMIIB\n{DASHES}END CERTIFICATE{DASHES}\n"
    assert kinds("tls.crt", certificate) == []


def test_aws_secret_key_by_key_name_and_shape() -> None:
    assert kinds("AWS_SECRET_ACCESS_KEY", AWS_EXAMPLE_SECRET) == ["AWS secret access key"]
    assert kinds("GIT_COMMIT", "0123456789abcdef0123456789abcdef01234567") == []


def test_jwt_needs_a_json_header_with_alg() -> None:
    fake = "eyJ" + "notjson" + ".eyJ" + "alsonotjson" + ".sig"
    assert format_kind(fake) is None
    assert format_kind(JWT) == "JWT"


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("postgres://app:s3cr3t@db:5432/orders", "URL with a password"),
        ("redis://:s3cr3t@cache:6379/0", "URL with a password"),
        ("https://api.example.com/hook?access_token=abc123def", "token in a URL query"),
        ("Server=db;Database=app;User Id=sa;Password=s3cr3t;", "connection string with a password"),
        (
            "DefaultEndpointsProtocol=https;AccountName=demo;AccountKey="
            + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo="
            + ";EndpointSuffix=core.windows.net",
            "Azure connection string key",
        ),
        ("Bearer " + "abcDEF123456ghiJKL", "Authorization header value"),
    ],
)
def test_credentials_inside_urls_and_connection_strings(value: str, kind: str) -> None:
    assert kinds("ANY_SETTING", value) == [kind]


@pytest.mark.parametrize(
    "value",
    [
        "postgres://db:5432/orders",
        "postgres://app:${DB_PASSWORD}@db:5432/orders",
        "postgres://app@db:5432/orders",
        "https://example.com/search?q=token",
        "Server=db;Database=app;Trusted_Connection=True;",
        "user@example.com",
    ],
)
def test_urls_and_connection_strings_without_credentials(value: str) -> None:
    assert kinds("DATABASE_URL", value) == []


# --- ordinary configuration -----------------------------------------------------------------------

ORDINARY = {
    "PORT": "8080",
    "HOST": "0.0.0.0",
    "LOG_LEVEL": "debug",
    "FEATURE_X": "true",
    "REPLICAS": 3,
    "REQUEST_ID": "123e4567-e89b-12d3-a456-426614174000",
    "IMAGE": "registry.example.com/team/app@sha256:" + "ab" * 32,
    "UPSTREAM": "https://api.example.com:8443/v1",
    "DATA_DIR": "/var/lib/app",
    "JAVA_OPTS": "-Xmx1g -XX:+UseG1GC -Dfile.encoding=UTF-8",
    "TZ": "Europe/Paris",
    "CHECKSUM": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "nginx.conf": "server {\n  listen 80;\n  location / { proxy_pass http://backend:8080; }\n}\n",
    "prometheus.yml": (
        "global:\n  scrape_interval: 15s\nscrape_configs:\n- job_name: app\n"
        "  static_configs:\n  - targets: ['app:9090']\n  authorization:\n"
        "    credentials_file: /etc/prometheus/token\n"
    ),
    "settings.json": json.dumps(
        {"auth": {"provider": "oidc", "tokenTtl": 900}, "passwordPolicy": {"minLength": 12}},
        indent=2,
    ),
    "fluent-bit.conf": "[OUTPUT]\n    Name  es\n    Host  elasticsearch\n    Port  9200\n",
}


@pytest.mark.parametrize(("key", "value"), sorted(ORDINARY.items(), key=lambda item: item[0]))
def test_ordinary_configuration_is_not_a_credential(key: str, value: object) -> None:
    assert find_credentials(key, value) == ()


def test_entropy_gate() -> None:
    assert looks_random("aZ3kq9Lm2Xp8Rt5Vw1Yb")
    assert not looks_random("aaaaaaaaaaaaaaaaaaaa1")
    assert not looks_random("short1")
    assert not looks_random("this-is-a-sentence-of-words")


# --- multi-line values and binaryData -------------------------------------------------------------


def test_multi_line_values_name_the_line_and_the_inner_key() -> None:
    properties = "server.port=8080\nspring.datasource.password=s3cr3t\n"
    (match,) = find_credentials("application.properties", properties)
    assert (match.line, match.inner_key, match.kind) == (
        2,
        "spring.datasource.password",
        "password-like key",
    )
    yaml_file = "db:\n  host: postgres\n  password: 's3cr3t'  # prod\n"
    assert [(m.line, m.inner_key) for m in find_credentials("app.yaml", yaml_file)] == [
        (3, "password")
    ]
    json_file = json.dumps({"db": {"user": "app", "password": "s3cr3t"}}, indent=2)
    assert [m.inner_key for m in find_credentials("app.json", json_file)] == ["password"]
    dotenv = f"export API_TOKEN=abc123def\nAWS_ID={AWS_EXAMPLE_ID}\n# password=changeme\n"
    assert [(m.line, m.kind) for m in find_credentials(".env", dotenv)] == [
        (1, "token-like key"),
        (2, "AWS access key id"),
    ]


def test_pem_body_lines_are_not_scanned_on_their_own() -> None:
    body = "\n".join(["MIIEAKIA" + "Q" * 16 + "xyz"] * 3)
    text = f"{DASHES}BEGIN PRIVATE KEY{DASHES}\n{body}\n{DASHES}END PRIVATE KEY{DASHES}\nport: 1\n"
    assert [(m.line, m.kind) for m in find_credentials("key.pem", text)] == [
        (1, "private key (PEM)")
    ]


def test_flags_inside_a_one_line_value() -> None:
    (match,) = find_credentials("JAVA_OPTS", "-Xmx1g -Dspring.datasource.password=s3cr3t")
    assert match.inner_key == "spring.datasource.password"
    assert find_credentials("ARGS", "--log-level=debug --port=8080") == ()


def test_binary_data_is_decoded_and_keystores_are_named() -> None:
    encoded = base64.b64encode(b"password=s3cr3t\n").decode()
    assert [m.kind for m in find_credentials_in_base64("legacy.env", encoded)] == [
        "password-like key"
    ]
    keystore = base64.b64encode(bytes(range(256))).decode()
    assert [m.kind for m in find_credentials_in_base64("server.p12", keystore)] == [
        "binary keystore"
    ]
    assert find_credentials_in_base64("logo.png", keystore) == ()
    assert find_credentials_in_base64("broken", "not base64 !!") == ()
    assert find_credentials_in_base64("empty", "") == ()


# --- the value never leaves -----------------------------------------------------------------------

SENTINEL = "Zq7SENTINELvalue9x"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("DB_PASSWORD", SENTINEL),
        ("DATABASE_URL", f"postgres://app:{SENTINEL}@db/x"),
        ("app.properties", f"a=1\npassword={SENTINEL}\n"),
        ("JAVA_OPTS", f"-Dpassword={SENTINEL}"),
        ("config.json", json.dumps({"token": SENTINEL}, indent=1)),
    ],
)
def test_matches_carry_no_part_of_the_value(key: str, value: str) -> None:
    matches = find_credentials(key, value)
    assert matches
    for match in matches:
        text = repr(match) + str(match)
        assert SENTINEL not in text and SENTINEL[:6] not in text
        assert match.fingerprint == fingerprint(SENTINEL) or match.fingerprint.startswith("scrypt:")


def test_fingerprint_is_redacted_and_stable() -> None:
    first = fingerprint(SENTINEL)
    assert first == fingerprint(SENTINEL) and first != fingerprint(SENTINEL + "x")
    assert first.startswith("scrypt:") and len(first) == len("scrypt:") + 12
    assert fingerprint(SENTINEL.encode()) == first
    (match,) = find_credentials("DB_PASSWORD", SENTINEL)
    assert match == CredentialMatch("password-like key", "DB_PASSWORD", first)


def test_fingerprint_is_pinned_across_runs_and_versions() -> None:
    # Finding fingerprints, SARIF partialFingerprints and baselines depend on these exact values:
    # changing the KDF, its parameters or salt is a breaking change of every report.
    assert fingerprint("changeme") == "scrypt:34864f3856bf" == "scrypt:" + _pinned("changeme")
    assert fingerprint("changeme") != fingerprint("changeme ")


def _pinned(value: str) -> str:
    digest = hashlib.sha256(b"kposture.credential/v1\x00" + value.encode()).digest()
    salt = b"kposture.credential.fingerprint/v2"
    return hashlib.scrypt(digest, salt=salt, n=2**12, r=8, p=1, dklen=6).hex()


def test_fingerprint_is_not_a_plain_hash_and_is_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    from kposture.inventory import credentials

    value = "changeme-cache-probe"
    plain = hashlib.sha256(b"kposture.credential/v1\x00" + value.encode()).hexdigest()
    assert plain[:12] not in fingerprint(value)
    first = fingerprint(value)

    def refuse(*_args: object, **_kwargs: object) -> bytes:
        raise AssertionError("a cached value was stretched again")

    monkeypatch.setattr(credentials.hashlib, "scrypt", refuse)
    assert fingerprint(value) == first  # served from the LRU, no second KDF call


def test_inner_keys_that_could_be_part_of_a_credential_are_not_named() -> None:
    line = f"{AWS_EXAMPLE_ID}={SENTINEL}"
    (match,) = find_credentials("notes.txt", f"first line\n{line}\n")
    assert match.inner_key == "" and match.line == 2


def test_errors_never_carry_the_value(monkeypatch: pytest.MonkeyPatch) -> None:
    from kposture.inventory import credentials

    def explode(value: str) -> str | None:
        raise ValueError(f"bad value {value}")

    monkeypatch.setattr(credentials, "format_kind", explode)
    with pytest.raises(CredentialScanError) as raised:
        find_credentials("DB_PASSWORD", SENTINEL)
    assert SENTINEL not in repr(raised.value) and SENTINEL not in str(raised.value)
    assert raised.value.__cause__ is None and raised.value.__suppress_context__
