"""The cluster source over an in-memory API server: discovery, pages, 410, 403, lost servers,
Secrets stripped, locations, and snapshots."""

from __future__ import annotations

import io
import json
import ssl
from typing import Any

import pytest

from fake_kube_api import FakeApi
from kposture.sources.cluster import load_cluster
from kposture.sources.cluster_config import ClusterConfigError, connect
from kposture.sources.cluster_kinds import CATALOGUE, ServedKind
from kposture.sources.cluster_listing import ClusterUnreachable, parse_page
from kposture.sources.manifests import load_manifests
from kposture.sources.snapshots import SNAPSHOT_ANNOTATION, snapshot_info, write_snapshot

SECRET_VALUE = "c3VwZXItc2VjcmV0LXZhbHVl"  # base64 of a value that must never leave listing


def pod(name: str, namespace: str = "shop", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}"},
        "spec": {"containers": [{"name": "app", "image": "nginx:1.25"}], **spec},
    }


def secret(name: str) -> dict[str, Any]:
    applied = json.dumps({"kind": "Secret", "data": {"password": SECRET_VALUE}})
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": name,
            "namespace": "shop",
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": applied},
            "managedFields": [
                {"manager": "kubectl", "operation": "Apply", "fieldsV1": {"f:data": {}}}
            ],
        },
        "data": {"password": SECRET_VALUE},
        "stringData": {"token": "plain-secret-token"},
    }


def test_lists_every_page_and_types_items() -> None:
    api = FakeApi().add(*(pod(f"p{i}") for i in range(7)))
    read = load_cluster(connection=api.connection("dev"), namespaces=None, workers=2)
    pods = [o for o in read.loaded.objects if o.ref.kind == "Pod"]
    assert [p.ref.name for p in pods] == [f"p{i}" for i in range(7)]
    assert pods[0].raw["apiVersion"] == "v1" and pods[0].raw["kind"] == "Pod"
    assert read.loaded.inputs == ("cluster:dev",)
    assert pods[0].location is not None
    assert (pods[0].location.file, pods[0].location.line) == ("cluster:dev", 0)
    assert pods[0].locate(("spec", "containers", 0)) == ("cluster:dev", 0, 0)
    assert read.loaded.errors == ()


def test_small_pages_follow_continue_tokens() -> None:
    api = FakeApi().add(*(pod(f"p{i}") for i in range(5)))
    served = ServedKind(next(s for s in CATALOGUE if s.kind == "Pod"), "v1")
    from kposture.sources.cluster_listing import list_kind

    listing = list_kind(api, served, None, page_size=2)
    assert len(listing.items) == 5
    continues = [dict(q).get("continue") for p, q in api.requests if p == "/api/v1/pods"]
    assert continues == [None, "2", "4"]


def test_expired_continue_token_relists_the_kind() -> None:
    api = FakeApi(gone_once={"pods"}).add(*(pod(f"p{i}") for i in range(5)))
    served = ServedKind(next(s for s in CATALOGUE if s.kind == "Pod"), "v1")
    from kposture.sources.cluster_listing import list_kind

    listing = list_kind(api, served, None, page_size=2)
    assert [i["metadata"]["name"] for i in listing.items] == [f"p{i}" for i in range(5)]
    assert listing.relists == 1 and not listing.problem


def test_forbidden_kind_is_a_warning_naming_lost_coverage() -> None:
    api = FakeApi(statuses={"secrets": 403}).add(pod("web"), secret("db"))
    read = load_cluster(connection=api.connection(), workers=3)
    assert [o.ref.kind for o in read.loaded.objects] == ["Pod"]
    [error] = read.loaded.errors
    assert error.level == "warning"
    assert error.message == (
        "cannot list secrets: forbidden; rules about Secrets did not run on the cluster"
    )
    assert error.file == "cluster:fake"


def test_server_error_on_one_kind_is_an_error_for_that_kind_only() -> None:
    api = FakeApi(statuses={"deployments": 500}).add(pod("web"))
    read = load_cluster(connection=api.connection())
    [error] = read.loaded.errors
    assert error.level == "error"
    assert error.message.startswith("cannot list deployments: HTTP 500")
    assert "workload rules did not see Deployments" in error.message
    assert [o.ref.name for o in read.loaded.objects] == ["web"]


def test_lost_server_mid_scan_is_an_error_per_kind() -> None:
    api = FakeApi(fail_after=12).add(pod("web"))
    read = load_cluster(connection=api.connection(), workers=1)
    lost = [e for e in read.loaded.errors if "connection lost" in e.message]
    assert lost and all(e.level == "error" for e in lost)


def test_unreachable_server_fails_before_listing() -> None:
    api = FakeApi(fail_after=0)
    with pytest.raises(ClusterUnreachable, match="cannot reach the API server"):
        load_cluster(connection=api.connection())


def test_rejected_credentials_fail_the_scan() -> None:
    api = FakeApi()
    api.served = {"v1": []}
    original = api.get

    def unauthorized(path: str, query: Any = ()) -> Any:
        from kposture.sources.cluster_config import Response

        return Response(401, b'{"kind":"Status"}') if path == "/api/v1" else original(path, query)

    api.get = unauthorized  # type: ignore[method-assign]
    with pytest.raises(ClusterUnreachable, match="rejected the credentials"):
        load_cluster(connection=api.connection())


def test_discovery_picks_the_served_cronjob_version() -> None:
    cronjob = {
        "apiVersion": "batch/v1beta1",
        "kind": "CronJob",
        "metadata": {"name": "backup", "namespace": "ops"},
        "spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": []}}}}},
    }
    read = load_cluster(connection=FakeApi().add(cronjob).connection())
    [obj] = read.loaded.objects
    assert obj.ref.api_version == "batch/v1beta1"
    listed = {k.kind: k.api_version for k in read.kinds}
    assert listed["CronJob"] == "batch/v1beta1"
    assert "PeerAuthentication" not in listed  # no CRD, no listing, no warning
    assert read.loaded.errors == ()


def test_custom_resources_are_listed_when_served() -> None:
    api = FakeApi()
    api.served["security.istio.io/v1beta1"] = ["peerauthentications"]
    api.objects["peerauthentications"] = [
        {"metadata": {"name": "default", "namespace": "istio-system"}, "spec": {}}
    ]
    read = load_cluster(connection=api.connection())
    [obj] = read.loaded.objects
    assert obj.ref.api_version == "security.istio.io/v1beta1"
    assert obj.ref.kind == "PeerAuthentication"


def test_namespaces_restrict_namespaced_kinds() -> None:
    namespaces = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}}
        for n in ("shop", "ops", "kube-system")
    ]
    api = FakeApi().add(pod("a", "shop"), pod("b", "ops"), pod("c", "kube-system"), *namespaces)
    read = load_cluster(connection=api.connection(), namespaces=["shop", "ops"])
    names = sorted(o.ref.display() for o in read.loaded.objects)
    assert names == ["Namespace/ops", "Namespace/shop", "Pod/ops/b", "Pod/shop/a"]
    paths = {p for p, _ in api.requests}
    assert "/api/v1/namespaces/shop/pods" in paths and "/api/v1/pods" not in paths


def test_secret_values_are_stripped_on_parsing() -> None:
    body = json.dumps({"items": [{k: v for k, v in secret("db").items() if k != "kind"}]})
    served = ServedKind(next(s for s in CATALOGUE if s.kind == "Secret"), "v1")
    [item], token = parse_page(body.encode(), served)
    assert token == ""
    assert item["kind"] == "Secret" and item["type"] == "Opaque"
    assert "data" not in item and "stringData" not in item
    assert item["metadata"]["annotations"] == {}
    assert SECRET_VALUE not in json.dumps(item)


def test_secret_values_never_reach_objects_or_snapshots() -> None:
    api = FakeApi().add(secret("db"), pod("web"))
    read = load_cluster(connection=api.connection())
    [obj] = [o for o in read.loaded.objects if o.ref.kind == "Secret"]
    assert obj.raw["type"] == "Opaque"
    out = io.StringIO()
    write_snapshot(read, out, "2026-01-01T00:00:00Z", "0.test")
    text = out.getvalue()
    assert SECRET_VALUE not in text and "plain-secret-token" not in text
    assert SECRET_VALUE not in repr(read)


def test_managed_fields_keep_manager_and_time_only() -> None:
    read = load_cluster(connection=FakeApi().add(secret("db")).connection())
    [obj] = read.loaded.objects
    assert obj.raw["metadata"]["managedFields"] == [{"manager": "kubectl", "operation": "Apply"}]


def test_snapshot_round_trips_through_the_manifest_loader(tmp_path: Any) -> None:
    api = FakeApi(statuses={"roles": 403}).add(pod("web"), pod("api"), secret("db"))
    read = load_cluster(connection=api.connection("prod"))
    path = tmp_path / "snap.json"
    with path.open("w") as out:
        assert write_snapshot(read, out, "2026-01-01T00:00:00Z", "0.test") == 3
    document = json.loads(path.read_text())
    assert document["kind"] == "List" and document["apiVersion"] == "v1"
    info = snapshot_info(document)
    assert info is not None and SNAPSHOT_ANNOTATION in document["metadata"]["annotations"]
    assert info["context"] == "prod" and info["taken_at"] == "2026-01-01T00:00:00Z"
    roles = next(k for k in info["kinds"] if k["kind"] == "Role")
    assert roles["level"] == "warning" and "forbidden" in roles["error"]
    loaded = load_manifests([str(path)])
    # The listing problem the cluster read had is reported again, at its level.
    assert [(e.file, e.message, e.level) for e in loaded.errors] == [
        (str(path), e.message, e.level) for e in read.loaded.errors
    ]
    assert loaded.errors[0].message.startswith("cannot list roles: forbidden")
    assert [o.ref.display() for o in loaded.objects] == [
        o.ref.display() for o in read.loaded.objects
    ]
    # One object per line: findings point at the object's own line.
    assert [o.location.line for o in loaded.objects if o.location] == [3, 4, 5]


def test_missing_kubeconfig_and_context_are_config_errors(tmp_path: Any) -> None:
    with pytest.raises(ClusterConfigError, match="does not exist"):
        connect(str(tmp_path / "nope"))
    config = tmp_path / "config"
    config.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: a\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: a, context: {cluster: c, user: u}}]\n"
    )
    with pytest.raises(ClusterConfigError, match=r"context 'b' not found .*contexts: a"):
        connect(str(config), "b")
    connection = connect(str(config))
    assert connection.context == "a" and connection.server == "https://127.0.0.1:1"


def test_snapshot_without_an_errors_list_reports_its_kinds_problems() -> None:
    from kposture.sources.snapshot_header import recorded_problems

    info = {
        "kinds": [
            {"kind": "Pod", "count": 3},
            {
                "kind": "Secret",
                "count": 0,
                "error": "cannot list secrets: forbidden",
                "level": "warning",
            },
            {"kind": "Job", "count": 0, "error": "cannot list jobs: HTTP 500", "level": "odd"},
        ]
    }
    assert recorded_problems(info) == [
        ("cannot list secrets: forbidden", "warning"),
        ("cannot list jobs: HTTP 500", "error"),
    ]
    assert recorded_problems({"errors": "not a list", "kinds": None}) == []


PASSWD = "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (PASSWD, "is not a kubeconfig file: it holds text, not a mapping"),
        ("- a\n- b\n", "is not a kubeconfig file: it holds a YAML list"),
        ("a: [1\n", "is not a kubeconfig file: invalid YAML: while parsing a flow sequence"),
        ("apiVersion: v1\nkind: Pod\n", "is not a kubeconfig file: it holds a Pod"),
    ],
)
def test_a_file_that_is_no_kubeconfig_says_so(tmp_path: Any, text: str, message: str) -> None:
    path = tmp_path / "passwd"
    path.write_text(text)
    with pytest.raises(ClusterConfigError) as raised:
        connect(str(path))
    assert str(raised.value).startswith(f"{path} {message}")
    assert "item assignment" not in str(raised.value)


def test_connection_failures_keep_the_whole_reason() -> None:
    import urllib3

    from kposture.sources.cluster_config import _describe

    ssl_reason = (
        "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get local issuer "
        "certificate (_ssl.c:1006)"
    )
    pool = urllib3.HTTPSConnectionPool("127.0.0.1", 6443)
    ssl_error = urllib3.exceptions.MaxRetryError(
        pool, "/api/v1", urllib3.exceptions.SSLError(ssl.SSLCertVerificationError(1, ssl_reason))
    )
    assert _describe(ssl_error) == ssl_reason
    dns = urllib3.exceptions.NameResolutionError(
        "nosuchhost.invalid",
        pool._new_conn(),
        OSError(-2, "Name or service not known"),  # type: ignore[arg-type]
    )
    assert _describe(urllib3.exceptions.MaxRetryError(pool, "/api/v1", dns)) == (
        "Failed to resolve 'nosuchhost.invalid' ([Errno -2] Name or service not known)"
    )
    timeout = urllib3.exceptions.ReadTimeoutError(
        pool, "/api/v1", "Read timed out. (read timeout=2.0)"
    )
    assert _describe(timeout) == "Read timed out. (read timeout=2.0)"


def test_unreachable_server_names_its_url() -> None:
    api = FakeApi(fail_after=0)
    with pytest.raises(ClusterUnreachable) as raised:
        load_cluster(connection=api.connection())
    assert str(raised.value) == (
        "cannot reach the API server https://fake.example:6443: connection refused"
    )


def namespace(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def test_a_requested_namespace_without_a_namespace_object_is_a_warning() -> None:
    api = FakeApi().add(namespace("shop"), pod("web"))
    read = load_cluster(connection=api.connection(), namespaces=["shop", "nosuchns"])
    assert [(e.level, e.message) for e in read.loaded.errors] == [
        (
            "warning",
            "namespace nosuchns does not exist or cannot be read: no Namespace object of that "
            "name was listed; nothing was scanned in it",
        )
    ]
    # Namespaces could not be listed: nothing can be told, so no warning about them.
    denied = FakeApi(statuses={"namespaces": 403}).add(pod("web"))
    read = load_cluster(connection=denied.connection(), namespaces=["nosuchns"])
    assert [e.message.split(":")[0] for e in read.loaded.errors] == ["cannot list namespaces"]
