"""Images and supply chain: mutable tags, unpinned images and images from outside the registry
allowlist (OWASP Kubernetes Top 10 K02, CIS Kubernetes Benchmark 5.5.1).

Owns the three image rules; every finding points at one container's ``image`` field. References are
parsed by ``inventory.images`` (Docker's rules: implicit ``docker.io/library``, registry hosts,
tags, digests). ``untrusted-registry`` is configured from the run policy's registry allowlist and
is off, with a notice, until one is set.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial

from kposture.inventory import (
    WORKLOAD_KINDS,
    ContainerRef,
    ImageRef,
    Inventory,
    containers,
    parse_image,
    registry_allowed,
)
from kposture.model import (
    Domain,
    K8sObject,
    Reference,
    RunPolicy,
    Severity,
    Stage,
    Violation,
)
from kposture.rules._references import CIS, K02, MITRE, NSA
from kposture.rules._templates import rule_meta
from kposture.rules.base import Check, Configured, Rule

IMPLANT_IMAGE = Reference(MITRE, "T1525")
"""MITRE ATT&CK: implant internal image."""
SECURE_IMAGES = Reference(NSA, "Kubernetes Pod security", "Building secure container images")
NO_ALLOWLIST = "no registry allowlist configured (registries.allowed in the policy file)"


def _images(obj: K8sObject) -> Iterator[tuple[ContainerRef, ImageRef]]:
    for ref in containers(obj):
        raw = ref.container.get("image")
        image = parse_image(raw) if isinstance(raw, str) else None
        if image is not None:
            yield ref, image


def _image_check(
    is_bad: Callable[[ImageRef], bool], describe: Callable[[str, ImageRef], str]
) -> Check:
    """A check reporting each container whose parsed image ``is_bad``, on its ``image`` field."""

    def check(obj: K8sObject, _inventory: Inventory) -> Iterator[Violation]:
        for ref, image in _images(obj):
            if is_bad(image):
                yield Violation(
                    describe(ref.name, image),
                    (*ref.path, "image"),
                    (("container", ref.name), ("image", image.raw)),
                )

    return check


def _describe_mutable(name: str, image: ImageRef) -> str:
    if image.tag:
        return f"container {name!r} uses {image.raw!r}: the latest tag moves with every push"
    return f"container {name!r} uses {image.raw!r} with no tag, which means :latest"


_tag_mutable = _image_check(lambda image: image.is_mutable, _describe_mutable)

_not_pinned = _image_check(
    lambda image: not image.is_pinned,
    lambda name, image: f"container {name!r} uses {image.raw!r} without an @sha256: digest",
)


def _configure_registries(policy: RunPolicy) -> Configured:
    allowlist = tuple(entry for entry in policy.allowed_registries if entry.strip())
    if not allowlist:
        return Configured(None, NO_ALLOWLIST)
    shown = ", ".join(allowlist)
    return Configured(
        _image_check(
            lambda image: not registry_allowed(image, allowlist),
            lambda name, image: (
                f"container {name!r} pulls {image.name} ({image.raw!r}), outside the registry "
                f"allowlist ({shown})"
            ),
        )
    )


def _unconfigured(_obj: K8sObject, _inventory: Inventory) -> Iterator[Violation]:
    """The plain check of untrusted-registry: without an allowlist there is nothing to judge."""
    return iter(())


_meta = partial(rule_meta, kinds=WORKLOAD_KINDS, domain=Domain.SUPPLY_CHAIN)


RULES: tuple[Rule, ...] = (
    Rule(
        _meta(
            "untrusted-registry",
            "Image from a registry outside the allowlist",
            Severity.HIGH,
            Stage.RUN,
            remediation=(
                "Mirror the image into an allowed registry, or add its registry to "
                "registries.allowed in the policy file."
            ),
            description=(
                "An image from an arbitrary registry bypasses the scanning, signing and access "
                "control of the registries you trust, and a typo-squatted or hijacked public "
                "image runs with the pod's identity. Allowlist entries are hosts or host/path "
                "prefixes matched on the normalised reference with path boundaries (ghcr.io/org "
                "allows ghcr.io/org/app, not ghcr.io/organisation/app; nginx is "
                "docker.io/library/nginx). The rule is off until registries.allowed is set."
            ),
            references=(Reference(CIS, "5.5.1"), K02, IMPLANT_IMAGE, SECURE_IMAGES),
            fix_snippet=(
                "# .kposture.yaml\nregistries:\n  allowed:\n    - registry.example.com\n"
                "    - ghcr.io/example-org\n"
            ),
        ),
        _unconfigured,
        _configure_registries,
    ),
    Rule(
        _meta(
            "image-tag-mutable",
            "Image without a tag or with the latest tag",
            Severity.MEDIUM,
            Stage.CRAWL,
            remediation="Use an immutable version tag, or better a digest, for every image.",
            description=(
                "With no tag or :latest, each node pulls whatever the tag points to when the pod "
                "starts, so replicas can run different code and anyone who can push to the "
                "repository changes what runs in the cluster without a manifest change. An image "
                "pinned by @sha256: digest passes whatever its tag. Init and ephemeral "
                "containers count."
            ),
            references=(K02, IMPLANT_IMAGE, SECURE_IMAGES),
            fix_snippet="image: registry.example.com/web:1.4.2\n",
        ),
        _tag_mutable,
    ),
    Rule(
        _meta(
            "image-not-pinned",
            "Image not pinned by digest",
            Severity.LOW,
            Stage.WALK,
            remediation="Pin every image by digest (image: name@sha256:<digest>).",
            description=(
                "Any tag, versioned or not, can be moved to other content by whoever controls "
                "the repository, so a compromised registry account implants code without a "
                "manifest change. Only a @sha256: digest names exactly the image that was "
                "reviewed and scanned."
            ),
            references=(K02, IMPLANT_IMAGE, SECURE_IMAGES),
            fix_snippet=(
                "image: registry.example.com/web:1.4.2@sha256:"
                "4c3a0e1b2f1e0d5c9b8a7f6e5d4c3b2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c\n"
            ),
        ),
        _not_pinned,
    ),
)
