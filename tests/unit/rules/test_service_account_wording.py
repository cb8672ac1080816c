"""default-service-account says "explicitly" only about a manifest: the API server fills
serviceAccountName in on every pod it admits, so live and admitted objects get neutral wording."""

from __future__ import annotations

import dataclasses

from kposture.model import SourceLocation
from support import objects_from_text, violations

POD = """\
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop}
spec:
  serviceAccountName: default
  containers: [{name: app, image: web:1}]
"""
EXPLICIT = "the pod explicitly runs as the default ServiceAccount"
NEUTRAL = "the pod runs as the default ServiceAccount (serviceAccountName: default)"


def test_a_manifest_naming_default_is_explicit() -> None:
    (found,) = violations("default-service-account", objects_from_text(POD))
    assert found.message.startswith(EXPLICIT)


def test_objects_from_the_api_server_are_worded_neutrally() -> None:
    (obj,) = objects_from_text(POD)
    for origin in ("cluster", "admission"):
        served = dataclasses.replace(obj, location=SourceLocation("x", 0, 0, origin))
        (found,) = violations("default-service-account", [served])
        assert found.message == NEUTRAL
    dumped = POD.replace("namespace: shop}", "namespace: shop, uid: 1f0e}")
    (found,) = violations("default-service-account", objects_from_text(dumped))
    assert found.message == NEUTRAL
