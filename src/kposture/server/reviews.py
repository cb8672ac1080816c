"""AdmissionReview on the wire: parsing a posted review (``admission.k8s.io/v1`` or ``v1beta1``) into a
typed ``AdmissionRequest``, and building the response review the API server expects.

Owns what a well-formed review is. Anything else — not JSON, nested too deep, the wrong apiVersion or
kind, a request without a uid, an object that is not a mapping — is a ``ReviewError`` carrying the
HTTP status to answer with (400, also for a body over the limit; 415 for a body that is not JSON)
and a message naming the problem; the message never quotes the body, which may hold Secret values.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kposture.sources.json_errors import json_error_text

API_VERSIONS = ("admission.k8s.io/v1", "admission.k8s.io/v1beta1")
KIND = "AdmissionReview"
OPERATIONS = ("CREATE", "UPDATE", "DELETE", "CONNECT")
MAX_WARNING_LENGTH = 120
"""kubectl prints each warning on one line; the API server truncates long ones anyway."""


class ReviewError(ValueError):
    """A posted body that is not a usable AdmissionReview; ``status`` is the HTTP code to answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class AdmissionRequest:
    """The parts of an AdmissionReview request the webhook uses."""

    api_version: str
    """The review's own apiVersion; the response uses the same one."""
    uid: str
    group: str
    version: str
    kind: str
    resource: str
    sub_resource: str
    operation: str
    namespace: str
    name: str
    user: str
    groups: tuple[str, ...]
    object: Mapping[str, Any] | None
    old_object: Mapping[str, Any] | None
    dry_run: bool

    @property
    def api_group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


def _field(data: Mapping[str, Any], key: str, kind: type, what: str, required: bool = False) -> Any:
    value = data.get(key)
    if value is None:
        if required:
            raise ReviewError(f"{what} is missing")
        return kind()
    if not isinstance(value, kind):
        raise ReviewError(f"{what} must be a {_type_name(kind)}, not a {_type_name(type(value))}")
    return value


def _type_name(kind: type) -> str:
    return {dict: "mapping", list: "list", str: "string", bool: "boolean"}.get(kind, kind.__name__)


def _object(data: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ReviewError(f"request.{key} must be a mapping, not a {_type_name(type(value))}")
    return value


def decode_body(body: bytes) -> Any:
    """The JSON value of ``body``; a ``ReviewError`` when it is not JSON."""
    if not body.strip():
        raise ReviewError("the body is empty; expected an AdmissionReview")
    try:
        return json.loads(body)
    except UnicodeDecodeError:
        raise ReviewError("the body is not UTF-8 JSON") from None
    except json.JSONDecodeError as exc:
        raise ReviewError(
            "the body is not JSON: " + json_error_text(exc, f"line {exc.lineno} column {exc.colno}")
        ) from None
    except RecursionError:
        raise ReviewError("the body is nested too deeply to be an AdmissionReview") from None


def parse_review(body: bytes) -> AdmissionRequest:
    """Parse a posted AdmissionReview; raise ``ReviewError`` naming what is wrong with it."""
    data = decode_body(body)
    if not isinstance(data, dict):
        raise ReviewError(f"an AdmissionReview must be a JSON object, not a {_json_name(data)}")
    api_version = data.get("apiVersion")
    if api_version not in API_VERSIONS:
        raise ReviewError(
            f"apiVersion must be one of {', '.join(API_VERSIONS)}, not {_short(api_version)}"
        )
    if data.get("kind") != KIND:
        raise ReviewError(f"kind must be {KIND}, not {_short(data.get('kind'))}")
    request = _field(data, "request", dict, "request", required=True)
    uid = _field(request, "uid", str, "request.uid", required=True)
    if not uid:
        raise ReviewError("request.uid is empty")
    gvk = _field(request, "kind", dict, "request.kind", required=True)
    kind = _field(gvk, "kind", str, "request.kind.kind", required=True)
    operation = _field(request, "operation", str, "request.operation", required=True)
    if operation not in OPERATIONS:
        raise ReviewError(f"request.operation must be one of {', '.join(OPERATIONS)}")
    resource = _field(request, "resource", dict, "request.resource")
    user_info = _field(request, "userInfo", dict, "request.userInfo")
    groups = _field(user_info, "groups", list, "request.userInfo.groups")
    if not all(isinstance(group, str) for group in groups):
        raise ReviewError("request.userInfo.groups must be a list of strings")
    return AdmissionRequest(
        api_version=api_version,
        uid=uid,
        group=_field(gvk, "group", str, "request.kind.group"),
        version=_field(gvk, "version", str, "request.kind.version"),
        kind=kind,
        resource=_field(resource, "resource", str, "request.resource.resource"),
        sub_resource=_field(request, "subResource", str, "request.subResource"),
        operation=operation,
        namespace=_field(request, "namespace", str, "request.namespace"),
        name=_field(request, "name", str, "request.name"),
        user=_field(user_info, "username", str, "request.userInfo.username"),
        groups=tuple(groups),
        object=_object(request, "object"),
        old_object=_object(request, "oldObject"),
        dry_run=_field(request, "dryRun", bool, "request.dryRun"),
    )


def _json_name(value: object) -> str:
    if isinstance(value, list):
        return "list"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null"
    return "number" if not isinstance(value, bool) else "boolean"


def _short(value: object) -> str:
    """What a wrong header field was, without quoting it (the body may hold secrets)."""
    if value is None:
        return "missing"
    return "another value" if isinstance(value, str) else f"a {_json_name(value)}"


def truncate(text: str, limit: int = MAX_WARNING_LENGTH) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def review_response(
    request: AdmissionRequest,
    *,
    allowed: bool,
    message: str = "",
    code: int = 0,
    warnings: tuple[str, ...] = (),
) -> dict[str, Any]:
    """The AdmissionReview answering ``request``, in the request's apiVersion."""
    response: dict[str, Any] = {"uid": request.uid, "allowed": allowed}
    if message or code:
        status: dict[str, Any] = {"code": code or (200 if allowed else 403)}
        if message:
            status["message"] = message
        if not allowed:
            status["reason"] = "Forbidden" if status["code"] == 403 else "InternalError"
        response["status"] = status
    if warnings:
        response["warnings"] = list(warnings)
    return {"apiVersion": request.api_version, "kind": KIND, "response": response}
