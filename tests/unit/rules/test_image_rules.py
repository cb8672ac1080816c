"""Image rules: every container list, digest precedence, and the registry allowlist setting."""

from __future__ import annotations

from kposture.model import K8sObject, RunPolicy, format_path
from support import RULES_BY_ID, objects_from_text, violations

DIGEST = "sha256:" + "cd" * 32
POD = """\
apiVersion: v1
kind: Pod
metadata: {{name: web, namespace: shop}}
spec:
  initContainers: [{{name: init, image: "{init}"}}]
  containers: [{{name: app, image: "{app}"}}]
  ephemeralContainers: [{{name: debug, image: "{debug}"}}]
"""


def _objects(app: str, init: str = "busybox:1.36", debug: str = "busybox:1.36") -> list[K8sObject]:
    return objects_from_text(POD.format(app=app, init=init, debug=debug))


def test_mutable_tag_paths_and_messages() -> None:
    found = violations("image-tag-mutable", _objects("nginx", debug="busybox:latest"))
    assert [format_path(v.path) for v in found] == [
        "spec.containers[0].image",
        "spec.ephemeralContainers[0].image",
    ]
    assert "no tag" in found[0].message and "latest tag" in found[1].message
    assert ("image", "nginx") in found[0].evidence


def test_digest_is_not_mutable_but_tag_is_unpinned() -> None:
    assert not violations("image-tag-mutable", _objects(f"nginx:latest@{DIGEST}"))
    unpinned = violations("image-not-pinned", _objects(f"nginx@{DIGEST}"))
    assert [format_path(v.path) for v in unpinned] == [
        "spec.initContainers[0].image",
        "spec.ephemeralContainers[0].image",
    ]


def test_untrusted_registry_is_off_without_allowlist() -> None:
    configured = RULES_BY_ID["untrusted-registry"].configured(RunPolicy())
    assert configured.check is None
    assert "registries.allowed" in configured.off_reason


def test_untrusted_registry_allowlist() -> None:
    policy = RunPolicy(allowed_registries=("ghcr.io/org", "docker.io/library"))
    objects = _objects("ghcr.io/organisation/app:1", init="ghcr.io/org/init:1")
    found = violations("untrusted-registry", objects, policy)
    assert [format_path(v.path) for v in found] == ["spec.containers[0].image"]
    assert "ghcr.io/organisation/app" in found[0].message
