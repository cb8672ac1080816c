"""The ClusterFacts probes over fakes: public/private classification of addresses, the bounded
endpoint lookup, the anonymous probe, kubelet configurations through the node proxy, and the object
``load_cluster`` adds (and snapshots keep), judged by the rules that read it."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from fake_kube_api import FakeApi
from kposture.sources.cluster import load_cluster
from kposture.sources.cluster_config import Connection, Response, TransportError
from kposture.sources.cluster_facts import (
    EndpointLookup,
    is_public,
    kubelet_configs,
    probe_anonymous,
)
from kposture.sources.manifests import load_manifests
from kposture.sources.snapshots import write_snapshot
from support import violations

# --- is_public ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.10.0.3",
        "10.0.0.5",
        "172.16.0.1",
        "172.31.255.254",
        "192.168.1.10",
        "169.254.169.254",  # link-local (cloud metadata)
        "100.64.0.1",  # carrier-grade NAT 100.64/10
        "100.127.255.254",
        "0.0.0.0",
        "224.0.0.1",
        "255.255.255.255",
        "::1",
        "fd12:3456::1",  # unique local fc00::/7
        "fc00::1",
        "fe80::1",
        "fe80::1%eth0",
        "::ffff:10.0.0.1",  # IPv4-mapped private
        "::ffff:127.0.0.1",
        "::",
        "not-an-address",
        "",
    ],
)
def test_not_public(address: str) -> None:
    assert not is_public(address)


@pytest.mark.parametrize(
    "address",
    ["8.8.8.8", "34.102.136.180", "100.128.0.1", "172.32.0.1", "2606:4700::1111", "::ffff:1.1.1.1"],
)
def test_public(address: str) -> None:
    assert is_public(address)


# --- EndpointLookup -------------------------------------------------------------------------------


@dataclass
class FakeResolver:
    answers: dict[str, list[str]] = field(default_factory=dict)
    calls: list[tuple[str, int]] = field(default_factory=list)

    def __call__(self, host: str, port: int) -> Sequence[str]:
        self.calls.append((host, port))
        if host not in self.answers:
            raise OSError(f"[Errno -2] Name or service not known: {host}")
        return self.answers[host]


def test_ip_literal_is_not_resolved() -> None:
    resolver = FakeResolver()
    endpoint, problem = EndpointLookup("https://127.0.0.1:6443", resolver).result()
    assert endpoint == {"host": "127.0.0.1", "address": "127.0.0.1", "public": False}
    assert problem == "" and resolver.calls == []


def test_ipv6_literal_url() -> None:
    endpoint, _ = EndpointLookup("https://[2606:4700::1111]:443", None).result()
    assert endpoint == {"host": "2606:4700::1111", "address": "2606:4700::1111", "public": True}


def test_host_name_is_resolved_with_the_url_port_or_443() -> None:
    resolver = FakeResolver({"api.example.com": ["10.0.0.5"], "k8s.example.com": ["10.0.0.6"]})
    endpoint, problem = EndpointLookup("https://api.example.com:6443", resolver).result()
    assert endpoint == {"host": "api.example.com", "address": "10.0.0.5", "public": False}
    assert problem == ""
    EndpointLookup("https://k8s.example.com", resolver).result()
    assert resolver.calls == [("api.example.com", 6443), ("k8s.example.com", 443)]


def test_any_public_address_makes_the_endpoint_public() -> None:
    resolver = FakeResolver({"api.example.com": ["10.0.0.5", "34.102.136.180"]})
    endpoint, _ = EndpointLookup("https://api.example.com", resolver).result()
    assert endpoint == {
        "host": "api.example.com",
        "address": "10.0.0.5",
        "addresses": ["10.0.0.5", "34.102.136.180"],
        "public": True,
    }


def test_resolution_failure_leaves_the_endpoint_unclassified() -> None:
    endpoint, problem = EndpointLookup("https://nowhere.invalid", FakeResolver()).result()
    assert endpoint == {"host": "nowhere.invalid"}
    assert problem.startswith("cannot resolve nowhere.invalid: ")


def test_a_hung_resolver_costs_at_most_the_timeout() -> None:
    release = threading.Event()

    def hang(host: str, port: int) -> Sequence[str]:
        release.wait(10)
        return ["8.8.8.8"]

    try:
        lookup = EndpointLookup("https://slow.example.com", hang, timeout=0.05)
        endpoint, problem = lookup.result()
    finally:
        release.set()
    assert endpoint == {"host": "slow.example.com"}
    assert "took longer than 0.05 s" in problem


def test_no_resolver_means_not_classified() -> None:
    endpoint, problem = EndpointLookup("https://api.example.com", None).result()
    assert endpoint == {"host": "api.example.com"}
    assert "not available" in problem


# --- the anonymous probe --------------------------------------------------------------------------


@dataclass
class AnonymousApi:
    """The anonymous transport: a status per path, or a lost connection for ``refused`` paths."""

    statuses: dict[str, int] = field(default_factory=lambda: {"/version": 401, "/api": 401})
    refused: set[str] = field(default_factory=set)
    requests: list[tuple[str, tuple[tuple[str, str], ...]]] = field(default_factory=list)

    def get(self, path: str, query: Sequence[tuple[str, str]] = ()) -> Response:
        self.requests.append((path, tuple(query)))
        if path in self.refused:
            raise TransportError("timed out")
        return Response(self.statuses.get(path, 404), b'{"kind":"Status"}')


def test_probe_records_each_status_once() -> None:
    anonymous = AnonymousApi({"/version": 200, "/api": 403})
    statuses, notes = probe_anonymous(anonymous)
    assert statuses == {"version": 200, "api": 403} and notes == []
    assert anonymous.requests == [("/version", ()), ("/api", ())]


def test_probe_without_an_answer_records_null_and_a_note() -> None:
    statuses, notes = probe_anonymous(AnonymousApi(refused={"/api"}))
    assert statuses == {"version": 401, "api": None}
    assert notes == [
        "the unauthenticated GET /api got no answer (timed out); anonymous access is not judged "
        "from it"
    ]


def test_no_anonymous_transport_is_not_probed() -> None:
    statuses, notes = probe_anonymous(None)
    assert statuses is None and "not probed" in notes[0]


# --- kubelet configurations -----------------------------------------------------------------------


@dataclass
class NodeProxyApi(FakeApi):
    """FakeApi plus ``/version`` and the node proxy's ``/configz``: a status or config per node."""

    configz: dict[str, int | dict[str, Any]] = field(default_factory=dict)

    def get(self, path: str, query: Sequence[tuple[str, str]] = ()) -> Response:
        if path == "/version":
            self.requests.append((path, tuple(query)))
            return Response(200, b'{"gitVersion": "v1.30.2", "platform": "linux/amd64"}')
        if path.endswith("/proxy/configz"):
            self.requests.append((path, tuple(query)))
            node = path.split("/")[4]
            answer = self.configz.get(node, 503)
            if isinstance(answer, int):
                return Response(answer, b'{"kind":"Status"}')
            return Response(200, json.dumps({"kubeletconfig": answer}).encode())
        return super().get(path, query)


KUBELET = {
    "authentication": {"anonymous": {"enabled": True}},
    "authorization": {"mode": "AlwaysAllow"},
    "readOnlyPort": 10255,
    "staticPodURLHeader": {"Authorization": ["Bearer do-not-copy"]},
}


def test_kubelet_configs_drop_headers_and_stop_at_the_limit() -> None:
    api = NodeProxyApi(configz={"n1": KUBELET, "n2": {"readOnlyPort": 0}})
    entries, notes = kubelet_configs(api, ["n1", "n2", "n3"], limit=2)
    assert entries == [
        {"node": "n1", "config": {k: v for k, v in KUBELET.items() if k != "staticPodURLHeader"}},
        {"node": "n2", "config": {"readOnlyPort": 0}},
    ]
    assert notes == ["kubelet configuration read from 2 of 3 nodes"]
    assert [p for p, _ in api.requests] == [
        "/api/v1/nodes/n1/proxy/configz",
        "/api/v1/nodes/n2/proxy/configz",
    ]


def test_forbidden_node_proxy_is_one_note() -> None:
    entries, notes = kubelet_configs(NodeProxyApi(configz={"n1": 403, "n2": 403}), ["n1", "n2"])
    assert entries == []
    assert notes == [
        "kubelet configuration not read: nodes/proxy is forbidden to these credentials"
    ]


def test_unreachable_kubelet_is_a_note_per_node() -> None:
    entries, notes = kubelet_configs(NodeProxyApi(configz={"n1": KUBELET}), ["n1", "n2"])
    assert [e["node"] for e in entries] == ["n1"]
    assert notes == ["kubelet configuration of node n2 not read: HTTP 503"]


def test_no_nodes_asks_nothing() -> None:
    api = NodeProxyApi()
    assert kubelet_configs(api, []) == (
        [],
        ["no Node objects listed: kubelet configuration not read"],
    )
    assert api.requests == []


# --- the object load_cluster adds -----------------------------------------------------------------


def node(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}}


def probing(api: FakeApi, anonymous: AnonymousApi, resolver: FakeResolver) -> Connection:
    return Connection(api, "prod", "https://api.example.com:6443", anonymous, resolver)


def test_load_cluster_adds_cluster_facts() -> None:
    api = NodeProxyApi(configz={"n1": KUBELET}).add(node("n1"))
    anonymous = AnonymousApi({"/version": 200, "/api": 403})
    resolver = FakeResolver({"api.example.com": ["34.102.136.180"]})
    read = load_cluster(connection=probing(api, anonymous, resolver), workers=2)
    facts = read.loaded.objects[-1]
    assert (facts.ref.api_version, facts.ref.kind, facts.ref.name) == (
        "kposture.io/v1",
        "ClusterFacts",
        "cluster",
    )
    assert facts.location is not None
    assert (facts.location.file, facts.location.line, facts.location.origin) == (
        "cluster:prod",
        0,
        "cluster",
    )
    assert facts.raw == {
        "apiVersion": "kposture.io/v1",
        "kind": "ClusterFacts",
        "metadata": {"name": "cluster"},
        "context": "prod",
        "serverVersion": "v1.30.2",
        "anonymousAccess": {"version": 200, "api": 403},
        "endpoint": {"host": "api.example.com", "address": "34.102.136.180", "public": True},
        "kubelets": [
            {
                "node": "n1",
                "config": {k: v for k, v in KUBELET.items() if k != "staticPodURLHeader"},
            }
        ],
        "listing": {"namespaces": None, "unlisted": []},
    }
    # The anonymous transport was asked exactly the two read-only probes, nothing else.
    assert anonymous.requests == [("/version", ()), ("/api", ())]
    assert read.loaded.errors == ()

    objects = list(read.loaded.objects)
    assert {v.path for v in violations("api-server-public-endpoint", objects)} == {
        ("endpoint", "public")
    }
    anonymous_found = violations("api-server-anonymous-auth", objects)
    assert sorted(v.path for v in anonymous_found) == [
        ("anonymousAccess", "api"),
        ("anonymousAccess", "version"),
    ]
    kubelet_found = violations("kubelet-read-only-port", objects)
    assert [v.path for v in kubelet_found] == [("kubelets", 0, "config", "readOnlyPort")]


def test_unobserved_facts_are_left_out_with_notes() -> None:
    api = FakeApi()  # answers /version with a List: no gitVersion
    anonymous = AnonymousApi(refused={"/version", "/api"})
    read = load_cluster(connection=probing(api, anonymous, FakeResolver()))
    facts = read.loaded.objects[-1].raw
    assert facts["anonymousAccess"] == {"version": None, "api": None}
    assert facts["endpoint"] == {"host": "api.example.com"}
    assert "serverVersion" not in facts and "kubelets" not in facts
    notes = "\n".join(read.loaded.notes)
    assert "cluster:prod: server version unknown" in notes
    assert "cluster:prod: the unauthenticated GET /version got no answer" in notes
    assert "cluster:prod: API endpoint not classified as public or private" in notes
    assert "cluster:prod: no Node objects listed" in notes
    assert violations("api-server-public-endpoint", list(read.loaded.objects)) == []


def test_connections_without_probes_add_no_facts_unless_asked() -> None:
    api = FakeApi()
    assert [o.ref.kind for o in load_cluster(connection=api.connection()).loaded.objects] == []
    forced = load_cluster(connection=api.connection("dev"), facts=True)
    [facts] = forced.loaded.objects
    assert "anonymousAccess" not in facts.raw  # no anonymous transport: not probed
    assert facts.raw["endpoint"] == {"host": "fake.example"}  # no resolver: not classified
    off = load_cluster(connection=probing(FakeApi(), AnonymousApi(), FakeResolver()), facts=False)
    assert off.loaded.objects == ()


def test_snapshot_keeps_the_facts_and_scans_them_offline(tmp_path: Any) -> None:
    resolver = FakeResolver({"api.example.com": ["10.1.2.3"]})
    read = load_cluster(connection=probing(FakeApi(), AnonymousApi(), resolver))
    out = io.StringIO()
    assert write_snapshot(read, out, "2026-01-01T00:00:00Z", "0.test") == 1
    path = tmp_path / "snap.json"
    path.write_text(out.getvalue())
    [facts] = load_manifests([str(path)]).objects
    assert facts.ref.kind == "ClusterFacts"
    assert facts.raw["anonymousAccess"] == {"version": 401, "api": 401}
    assert facts.raw["endpoint"]["public"] is False
    assert facts.raw["listing"] == {"namespaces": None, "unlisted": []}


def test_listing_names_namespaces_and_the_kinds_that_could_not_be_listed(tmp_path: Any) -> None:
    api = FakeApi(statuses={"daemonsets": 403, "secrets": 403, "nodes": 500})
    del api.served["batch/v1beta1"]  # no version of CronJob is served
    read = load_cluster(
        connection=probing(api, AnonymousApi(), FakeResolver()), namespaces=["shop", "web"]
    )
    facts = read.loaded.objects[-1]
    assert facts.raw["listing"] == {
        "namespaces": ["shop", "web"],
        "unlisted": ["CronJob", "DaemonSet", "Secret", "Node"],
    }
    # Snapshots keep it: it is part of the object.
    out = io.StringIO()
    write_snapshot(read, out, "2026-01-01T00:00:00Z", "0.test")
    path = tmp_path / "snap.json"
    path.write_text(out.getvalue())
    [offline] = load_manifests([str(path)]).objects
    assert offline.raw["listing"] == facts.raw["listing"]
