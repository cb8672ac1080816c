"""kposture respond isolate through the CLI: the quarantine label by default, the pod's own labels on
request, the other NetworkPolicies that defeat a deny-all, and the namespace found or assumed."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

from audit_samples import audit_event
from detection_samples import fired
from kposture.cli import app

PODS = """\
apiVersion: v1
kind: Pod
metadata: {name: web-1, namespace: shop, labels: {app: web, pod-template-hash: abc}}
spec: {containers: [{name: c, image: nginx}]}
---
apiVersion: v1
kind: Pod
metadata: {name: web-2, namespace: shop, labels: {app: web, pod-template-hash: abc}}
spec: {containers: [{name: c, image: nginx}]}
---
apiVersion: v1
kind: Pod
metadata: {name: bare, namespace: shop}
spec: {containers: [{name: c, image: nginx}]}
"""

POLICIES = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-web, namespace: shop}
spec:
  podSelector:
    matchLabels: {app: web}
    matchExpressions: [{key: tier, operator: DoesNotExist}]
  ingress: [{from: [{podSelector: {matchLabels: {app: front}}}]}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny, namespace: shop}
spec: {podSelector: {}, policyTypes: [Ingress, Egress]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: dns-out, namespace: shop}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress: [{ports: [{port: 53, protocol: UDP}]}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db-in, namespace: shop}
spec: {podSelector: {matchLabels: {app: db}}, ingress: [{}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: elsewhere, namespace: other}
spec: {podSelector: {}, ingress: [{}]}
"""


def _files(tmp_path: Path, *texts: str) -> list[str]:
    paths = []
    for index, text in enumerate(texts):
        path = tmp_path / f"input-{index}.yaml"
        path.write_text(text)
        paths.append(str(path))
    return paths


def _comments(stdout: str) -> str:
    return "\n".join(line for line in stdout.splitlines() if line.startswith("#"))


def test_isolates_one_pod_by_the_quarantine_label_and_says_to_label_it_first(
    tmp_path: Path,
) -> None:
    result = CliRunner().invoke(
        app, ["respond", "isolate", "web-1", "-n", "shop", *_files(tmp_path, PODS)]
    )
    assert result.exit_code == 0, result.output
    policy = yaml.safe_load(result.stdout)
    assert policy["spec"] == {
        "podSelector": {"matchLabels": {"kposture.io/quarantine": "web-1"}},
        "policyTypes": ["Ingress", "Egress"],
        "ingress": [],
        "egress": [],
    }
    assert policy["metadata"]["name"] == "kposture-isolate-web-1"
    command = "kubectl label pod web-1 -n shop kposture.io/quarantine=web-1 --overwrite"
    assert command in result.stderr and command in _comments(result.stdout)
    assert "also isolates" not in result.stderr  # web-2 shares the labels, not the quarantine one
    assert "namespace" not in result.stderr.splitlines()[0]  # -n was given: no hint


def test_pod_labels_on_request_name_the_replicas_isolated_with_it(tmp_path: Path) -> None:
    runner = CliRunner()
    pods = _files(tmp_path, PODS)
    result = runner.invoke(
        app, ["respond", "isolate", "web-1", "-n", "shop", "--pod-labels", *pods]
    )
    assert result.exit_code == 0, result.output
    assert yaml.safe_load(result.stdout)["spec"]["podSelector"] == {
        "matchLabels": {"app": "web", "pod-template-hash": "abc"}
    }
    assert "also isolates 1 other pod with the same labels: web-2" in result.stderr
    assert "kubectl label" not in result.stderr
    given = runner.invoke(app, ["respond", "isolate", "web-1", "-n", "shop", "-l", "app=web"])
    assert given.exit_code == 0, given.output
    assert yaml.safe_load(given.stdout)["spec"]["podSelector"] == {"matchLabels": {"app": "web"}}
    assert "every pod with these labels is isolated too" in given.stderr
    bare = runner.invoke(app, ["respond", "isolate", "bare", "-n", "shop", "--pod-labels", *pods])
    assert bare.exit_code == 2 and "isolate it by the quarantine label" in bare.stderr
    quarantined = runner.invoke(app, ["respond", "isolate", "bare", "-n", "shop", *pods])
    assert quarantined.exit_code == 0, quarantined.output  # no labels needed for that
    assert runner.invoke(app, ["respond", "isolate", "web-1", "--pod-labels"]).exit_code == 2
    bad = runner.invoke(app, ["respond", "isolate", "web-1", "-l", "app"])
    assert bad.exit_code == 2 and "KEY=VALUE" in bad.stderr


def test_other_policies_that_allow_traffic_are_named_with_how_to_disarm_them(
    tmp_path: Path,
) -> None:
    result = CliRunner().invoke(
        app, ["respond", "isolate", "web-1", "-n", "shop", *_files(tmp_path, PODS, POLICIES)]
    )
    assert result.exit_code == 0, result.output
    warning = next(line for line in result.stderr.splitlines() if "add up" in line)
    assert "2 other policies in shop also select web-1" in warning
    assert "allow-web (ingress), dns-out (egress)" in warning
    for quiet in ("default-deny", "db-in", "elsewhere"):  # allow nothing, or select other pods
        assert quiet not in result.stderr
    patch = (
        "kubectl patch networkpolicy allow-web -n shop --type=json -p "
        """'[{"op":"add","path":"/spec/podSelector/matchExpressions","value":"""
        """[{"key":"tier","operator":"DoesNotExist"},"""
        """{"key":"kposture.io/quarantine","operator":"DoesNotExist"}]}]'"""
    )
    assert patch in result.stderr and patch in _comments(result.stdout)
    assert "allow-web (ingress)" in _comments(result.stdout)
    assert yaml.safe_load(result.stdout)["kind"] == "NetworkPolicy"  # comments do not break it


def test_without_input_the_policies_are_not_checked_and_it_says_so() -> None:
    result = CliRunner().invoke(app, ["respond", "isolate", "web-1"])
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[0] == "namespace default: assumed (no -n given)"
    assert "other NetworkPolicies were not checked" in result.stderr
    assert "kubectl get networkpolicy -n default" in _comments(result.stdout)
    assert yaml.safe_load(result.stdout)["metadata"]["namespace"] == "default"


def test_without_n_the_namespace_is_found_in_the_input(tmp_path: Path) -> None:
    runner = CliRunner()
    pods = _files(tmp_path, PODS)
    found = runner.invoke(app, ["respond", "isolate", "web-2", *pods])
    assert found.exit_code == 0, found.output
    assert "namespace shop: where the input has pod web-2 (no -n given)" in found.stderr
    assert yaml.safe_load(found.stdout)["metadata"]["namespace"] == "shop"
    twice = tmp_path / "twice.yaml"
    twice.write_text(PODS + "---\n" + PODS.replace("namespace: shop", "namespace: staging"))
    ambiguous = runner.invoke(app, ["respond", "isolate", "web-1", str(twice)])
    assert ambiguous.exit_code == 2
    assert "in several namespaces (shop, staging): give -n NAMESPACE" in ambiguous.stderr
    missing = runner.invoke(app, ["respond", "isolate", "nope", *pods])
    assert missing.exit_code == 2 and "pod nope not found in any namespace" in missing.stderr
    elsewhere = runner.invoke(app, ["respond", "isolate", "web-1", "-n", "staging", *pods])
    assert elsewhere.exit_code == 2 and "not found in namespace staging" in elsewhere.stderr


HOST_PODS = """\
apiVersion: v1
kind: Pod
metadata: {name: agent, namespace: shop}
spec: {hostNetwork: true, containers: [{name: c, image: x}]}
---
apiVersion: v1
kind: Pod
metadata: {name: root, namespace: shop}
spec: {hostPID: true, containers: [{name: c, image: x, securityContext: {privileged: true}}]}
"""


def test_a_pod_network_isolation_cannot_contain_is_warned_about(tmp_path: Path) -> None:
    runner = CliRunner()
    pods = _files(tmp_path, PODS, HOST_PODS)
    for name, reason in (
        ("agent", "uses the node's network (hostNetwork: NetworkPolicies do not apply)"),
        ("root", "runs privileged (c: root on the node) and shares the node's PID namespace"),
    ):
        result = runner.invoke(app, ["respond", "isolate", name, "-n", "shop", *pods])
        assert result.exit_code == 0, result.output
        warning = f"network isolation will not contain pod shop/{name}: it {reason}"
        assert f"warning: {warning}" in result.stderr and warning in _comments(result.stdout)
        for step in (f"kubectl get pod {name} -n shop -o wide", "kubectl cordon", "forensics"):
            assert step in result.stderr and step in _comments(result.stdout)
    plain = runner.invoke(app, ["respond", "isolate", "web-1", "-n", "shop", *pods])
    assert "will not contain" not in plain.stderr + plain.stdout
    unchecked = runner.invoke(app, ["respond", "isolate", "web-1"])
    assert "the pod's spec was not checked" in unchecked.stderr


def _order(text: str, *steps: str) -> list[int]:
    return [" ".join(text.split()).index(step) for step in steps]


def test_a_host_pod_is_cordoned_and_inspected_before_it_is_stopped(tmp_path: Path) -> None:
    runner = CliRunner()
    pods = _files(tmp_path, HOST_PODS.replace("{hostPID", "{nodeName: node-1, hostPID"))
    root = runner.invoke(app, ["respond", "isolate", "root", "-n", "shop", *pods])
    assert root.exit_code == 0, root.output
    steps = (
        "kubectl cordon node-1",
        "inspect the pod while it runs",
        "kubectl delete pod root -n shop",
        "the policy below still cuts the pod's own network traffic",
        "Label the pod first",
    )
    for text in (root.stderr, _comments(root.stdout)):
        found = _order(text, *steps)
        assert found == sorted(found), text
    assert "kind: NetworkPolicy" in root.stdout
    agent = runner.invoke(app, ["respond", "isolate", "agent", "-n", "shop", *pods])
    assert agent.exit_code == 0, agent.output
    found = _order(
        agent.stderr, "kubectl cordon", "inspect the pod while it runs", "kubectl delete"
    )
    assert found == sorted(found)
    assert "No NetworkPolicy is printed" in agent.stderr
    assert "Label the pod" not in agent.stderr + agent.stdout
    assert "kind: NetworkPolicy" not in agent.stdout and agent.stdout.startswith("# ")
    unchecked = runner.invoke(app, ["respond", "isolate", "web-1"])
    found = _order(
        unchecked.stderr, "cordon its node", "inspect the pod", "then delete it or scale"
    )
    assert found == sorted(found)


def test_the_pod_alert_orders_a_host_pods_containment_as_respond_isolate() -> None:
    uri = "/api/v1/namespaces/shop/pods/web-1/exec?command=sh"
    event = audit_event(verb="create", subresource="exec", namespace="shop", name="web-1", uri=uri)
    (alert,) = fired(event)
    found = _order(
        alert.containment, "cordon its node", "inspect the pod", "then delete it or scale"
    )
    assert found == sorted(found)
    assert "instead" not in alert.containment


def test_one_other_policy_is_named_in_the_singular(tmp_path: Path) -> None:
    allow_web = POLICIES.split("---\n", maxsplit=1)[0]
    result = CliRunner().invoke(
        app, ["respond", "isolate", "web-1", "-n", "shop", *_files(tmp_path, PODS, allow_web)]
    )
    assert result.exit_code == 0, result.output
    assert "1 other policy in shop also selects web-1 and allows traffic" in result.stderr


def test_the_pod_alert_and_respond_isolate_give_the_same_label_command() -> None:
    uri = "/api/v1/namespaces/shop/pods/web-1/exec?command=sh"
    event = audit_event(verb="create", subresource="exec", namespace="shop", name="web-1", uri=uri)
    (alert,) = fired(event)
    result = CliRunner().invoke(app, ["respond", "isolate", "web-1", "-n", "shop"])
    command = next(
        line.split("Label the pod first: ", 1)[1]
        for line in result.stderr.splitlines()
        if "Label the pod first" in line
    )
    assert command.startswith("kubectl label pod web-1 -n shop")
    assert command in alert.containment


def _owned_pod(name: str, kind: str) -> str:
    owner = (
        f"ownerReferences: [{{apiVersion: apps/v1, kind: {kind}, name: {name}-owner, uid: u1, "
        "controller: true}], "
        if kind
        else ""
    )
    return (
        "apiVersion: v1\nkind: Pod\n"
        f"metadata: {{name: {name}, namespace: shop, {owner}labels: {{app: {name}}}}}\n"
        "spec: {containers: [{name: c, image: nginx}]}\n"
    )


def test_what_detaching_the_pod_does_is_worded_by_its_controller(tmp_path: Path) -> None:
    said = {
        "": "It is a bare pod, which nothing replaces",
        "ReplicaSet": "have its ReplicaSet start a replacement",
        "StatefulSet": "the StatefulSet starts the replacement only once this pod is deleted",
        "DaemonSet": "have its DaemonSet start a replacement on the same node",
        "Job": "have its Job start another pod that runs the task again",
    }
    for kind, words in said.items():
        pod = f"p-{kind.lower() or 'bare'}"
        result = CliRunner().invoke(
            app, ["respond", "isolate", pod, "-n", "shop", *_files(tmp_path, _owned_pod(pod, kind))]
        )
        assert result.exit_code == 0, result.output
        assert words in " ".join(result.stderr.split()), (kind, result.stderr)
        replicasets = "ReplicaSet" in result.stderr or "ReplicaSet" in _comments(result.stdout)
        assert replicasets == (kind == "ReplicaSet")
    unread = CliRunner().invoke(app, ["respond", "isolate", "web-1", "-n", "shop"])
    assert "have its controller, if it has one, start a replacement" in unread.stderr
