"""What a live source observes of the cluster as a whole: the ``ClusterFacts`` object.

Owns the probes behind ``docs/cluster-posture.md`` ("The ClusterFacts object"): the server version
(``GET /version`` with the scan's credentials), anonymous access (an unauthenticated ``GET
/version`` and ``GET /api`` against the same server, read-only, no credentials and no client
certificate: the HTTP status of each, ``None`` when no answer came), the API endpoint (the host of
the server URL, what it resolves to, and whether any of those addresses is publicly routable) and,
when permitted, kubelet configurations read through ``/api/v1/nodes/<node>/proxy/configz`` for a
few listed nodes. Every probe is bounded in time and never raises: what could not be observed is
left out of the object (the rules then say "not observable") and explained in a note.

Traffic: the probes only talk to the configured API server (through the connection's transports);
the endpoint lookup is name resolution only (``getaddrinfo``), run in a daemon thread so a hung
resolver costs at most ``RESOLVE_TIMEOUT`` seconds. The object holds no credentials: a kubelet's
``staticPodURLHeader`` (which may carry them) is dropped. What the listing covered (``listing``:
the namespaces and the kinds that could not be listed) is added by ``cluster.load_cluster``, which
knows it; ``listing_block`` shapes it.
"""

from __future__ import annotations

import ipaddress
import json
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from kposture.sources.cluster_config import Connection, Resolver, Transport, TransportError

FACTS_API_VERSION = "kposture.io/v1"
FACTS_KIND = "ClusterFacts"
FACTS_NAME = "cluster"
"""Always ``cluster``: findings on the object keep their fingerprints across scans."""

RESOLVE_TIMEOUT = 3.0
"""Seconds the endpoint's name resolution may take before the endpoint is left unclassified."""

MAX_KUBELETS = 5
"""Nodes whose kubelet configuration is read through the API server's node proxy."""

KUBELET_DROPPED = ("staticPodURLHeader",)
"""Kubelet configuration fields never copied into ClusterFacts (HTTP headers may hold tokens)."""

_NOT_PUBLIC_V4 = (
    ipaddress.ip_network("100.64.0.0/10"),  # carrier-grade NAT (RFC 6598)
    ipaddress.ip_network("192.0.0.0/24"),  # IETF protocol assignments
    ipaddress.ip_network("198.18.0.0/15"),  # benchmarking
)


def is_public(address: str) -> bool:
    """Whether ``address`` is publicly routable: not loopback, private (RFC 1918), link-local,
    carrier-grade NAT (100.64/10), unique-local IPv6 (fc00::/7), unspecified, multicast or
    reserved. An IPv4-mapped IPv6 address is judged as its IPv4 address; a scope suffix
    (``fe80::1%eth0``) is ignored. Not an IP address: False."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if isinstance(ip, ipaddress.IPv4Address) and any(ip in net for net in _NOT_PUBLIC_V4):
        return False
    return (
        ip.is_global
        and not ip.is_private
        and not ip.is_loopback
        and not ip.is_link_local
        and not ip.is_multicast
        and not ip.is_reserved
        and not ip.is_unspecified
    )


@dataclass(frozen=True, slots=True)
class Facts:
    """The ClusterFacts object (a plain dict, as a listed object is) and notes on what was not
    observed and why."""

    raw: dict[str, Any]
    notes: tuple[str, ...]


class EndpointLookup:
    """Resolves the API server's host in a daemon thread, started before listing so the lookup
    overlaps it; ``result`` waits at most until ``RESOLVE_TIMEOUT`` after the start."""

    def __init__(
        self, server: str, resolve: Resolver | None, timeout: float = RESOLVE_TIMEOUT
    ) -> None:
        parts = urlsplit(server)
        self.host = parts.hostname or ""
        try:
            port = parts.port
        except ValueError:
            port = None
        self.port = port or (80 if parts.scheme == "http" else 443)
        self._timeout = timeout
        self._deadline = time.monotonic() + timeout
        self._done = threading.Event()
        self._addresses: list[str] = []
        self._problem = ""
        if not self.host:
            self._problem = f"the server URL {server!r} names no host"
            self._done.set()
        elif _is_ip(self.host):
            self._addresses = [self.host]  # an IP literal: nothing to resolve
            self._done.set()
        elif resolve is None:
            self._problem = "name resolution is not available for this connection"
            self._done.set()
        else:
            thread = threading.Thread(
                target=self._run, args=(resolve,), name="kposture-resolve", daemon=True
            )
            thread.start()

    def _run(self, resolve: Resolver) -> None:
        try:
            self._addresses = [str(a) for a in resolve(self.host, self.port)]
            if not self._addresses:
                self._problem = f"{self.host} resolved to no address"
        except (OSError, ValueError) as exc:  # gaierror; a name IDNA cannot encode
            self._problem = f"cannot resolve {self.host}: {exc}"
        finally:
            self._done.set()

    def result(self) -> tuple[dict[str, Any], str]:
        """The ``endpoint`` field, and a problem ("" when the endpoint was classified)."""
        if not self._done.wait(max(0.0, self._deadline - time.monotonic())):
            return {"host": self.host}, (
                f"resolving {self.host} took longer than {self._timeout:g} s; "
                "the endpoint is not classified"
            )
        if self._problem or not self._addresses:
            fields: dict[str, Any] = {"host": self.host} if self.host else {}
            return fields, self._problem or f"{self.host} resolved to no address"
        addresses = list(self._addresses)
        endpoint: dict[str, Any] = {"host": self.host, "address": addresses[0]}
        if len(addresses) > 1:
            endpoint["addresses"] = addresses
        endpoint["public"] = any(is_public(a) for a in addresses)
        return endpoint, ""


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


def server_version(transport: Transport) -> tuple[str | None, str]:
    """``gitVersion`` from an authenticated ``GET /version``, or None and why."""
    try:
        response = transport.get("/version")
    except TransportError as exc:
        return None, f"GET /version got no answer ({exc})"
    if response.status != 200:
        return None, f"GET /version answered HTTP {response.status}"
    try:
        data = json.loads(response.body)
    except ValueError:
        data = None
    version = data.get("gitVersion") if isinstance(data, dict) else None
    if not isinstance(version, str) or not version:
        return None, "GET /version returned no gitVersion"
    return version, ""


PROBES = (("version", "/version"), ("api", "/api"))
"""The ``anonymousAccess`` keys and the paths an unauthenticated GET asks for."""


def probe_anonymous(transport: Transport | None) -> tuple[dict[str, int | None] | None, list[str]]:
    """The HTTP status of an unauthenticated ``GET /version`` and ``GET /api`` (None for a probe
    that got no answer: refused, reset, timed out, redirected); None overall when the connection
    cannot probe. Each GET is sent once: a read-only request, never retried."""
    if transport is None:
        return None, ["anonymous access not probed: the connection has no anonymous transport"]
    statuses: dict[str, int | None] = {}
    notes: list[str] = []
    for key, path in PROBES:
        try:
            statuses[key] = transport.get(path).status
        except TransportError as exc:
            statuses[key] = None
            notes.append(
                f"the unauthenticated GET {path} got no answer ({exc}); "
                "anonymous access is not judged from it"
            )
    return statuses, notes


def kubelet_configs(
    transport: Transport, nodes: Sequence[str], limit: int = MAX_KUBELETS, workers: int = 4
) -> tuple[list[dict[str, Any]], list[str]]:
    """``{node, config}`` for up to ``limit`` nodes, from the API server's node proxy
    (``/api/v1/nodes/<node>/proxy/configz``, needs ``nodes/proxy`` get). A 403 means the
    credentials may not use the proxy: reported once. No nodes: nothing asked."""
    chosen = list(dict.fromkeys(nodes))[:limit]
    notes: list[str] = []
    if not chosen:
        return [], ["no Node objects listed: kubelet configuration not read"]
    if len(nodes) > len(chosen):
        notes.append(f"kubelet configuration read from {len(chosen)} of {len(nodes)} nodes")

    def fetch(node: str) -> tuple[str, dict[str, Any] | None, str]:
        path = f"/api/v1/nodes/{quote(node, safe='')}/proxy/configz"
        try:
            response = transport.get(path)
        except TransportError as exc:
            return node, None, f"no answer ({exc})"
        if response.status == 403:
            return node, None, "forbidden"
        if response.status != 200:
            return node, None, f"HTTP {response.status}"
        return node, *_kubelet_config(response.body)

    entries: list[dict[str, Any]] = []
    forbidden = False
    with ThreadPoolExecutor(max_workers=min(workers, len(chosen))) as pool:
        for node, config, problem in pool.map(fetch, chosen):
            if config is not None:
                entries.append({"node": node, "config": config})
            elif problem == "forbidden":
                forbidden = True
            else:
                notes.append(f"kubelet configuration of node {node} not read: {problem}")
    if forbidden:
        notes.append(
            "kubelet configuration not read: nodes/proxy is forbidden to these credentials"
        )
    return entries, notes


def _kubelet_config(body: bytes) -> tuple[dict[str, Any] | None, str]:
    try:
        data = json.loads(body)
    except ValueError:
        return None, "the answer is not JSON"
    config = data.get("kubeletconfig") if isinstance(data, dict) else None
    if not isinstance(config, dict):
        return None, "the answer holds no kubeletconfig"
    return {k: v for k, v in config.items() if k not in KUBELET_DROPPED}, ""


def listing_block(namespaces: Sequence[str] | None, unlisted: Sequence[str]) -> dict[str, Any]:
    """The ``listing`` field: the namespaces the scan was limited to (None: every namespace) and
    the kinds (as in the objects' ``kind``) it could not list, each once, in the order given."""
    return {
        "namespaces": list(namespaces) if namespaces is not None else None,
        "unlisted": list(dict.fromkeys(unlisted)),
    }


def gather_facts(
    connection: Connection, lookup: EndpointLookup, nodes: Sequence[str], workers: int = 4
) -> Facts:
    """Run the probes (the endpoint lookup was started earlier) and build the ClusterFacts object;
    fields that could not be observed are absent and explained in ``notes``."""
    name = f"cluster:{connection.context}"
    notes: list[str] = []
    raw: dict[str, Any] = {
        "apiVersion": FACTS_API_VERSION,
        "kind": FACTS_KIND,
        "metadata": {"name": FACTS_NAME},
        "context": connection.context,
    }
    version, problem = server_version(connection.transport)
    if version is not None:
        raw["serverVersion"] = version
    else:
        notes.append(f"{name}: server version unknown: {problem}")
    statuses, probe_notes = probe_anonymous(connection.anonymous)
    if statuses is not None:
        raw["anonymousAccess"] = statuses
    notes.extend(f"{name}: {note}" for note in probe_notes)
    endpoint, problem = lookup.result()
    if endpoint:
        raw["endpoint"] = endpoint
    if problem:
        notes.append(f"{name}: API endpoint not classified as public or private: {problem}")
    kubelets, kubelet_notes = kubelet_configs(connection.transport, nodes, workers=workers)
    if kubelets:
        raw["kubelets"] = kubelets
    notes.extend(f"{name}: {note}" for note in kubelet_notes)
    return Facts(raw, tuple(notes))
