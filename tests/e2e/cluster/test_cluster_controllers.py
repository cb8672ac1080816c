"""Pods that the DaemonSet and StatefulSet controllers create on the real cluster are reported once,
on their owner. The test cluster has no kubelet: a ``Node`` object is created so the DaemonSet
controller has a node to make a pod for (the pod stays Pending); both are deleted afterwards."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from e2e.cluster.harness import KubeCluster
from e2e.cluster.test_cluster_scan import kposture, report

pytestmark = pytest.mark.e2e

NAMESPACE = "kposture-controllers"
NODE = "kposture-test-node"

MANIFESTS = f"""\
apiVersion: apps/v1
kind: DaemonSet
metadata: {{name: logs, namespace: {NAMESPACE}}}
spec:
  selector: {{matchLabels: {{app: logs}}}}
  template:
    metadata: {{labels: {{app: logs}}}}
    spec:
      hostNetwork: true
      tolerations: [{{operator: Exists}}]
      affinity:
        nodeAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            nodeSelectorTerms:
            - matchExpressions: [{{key: kubernetes.io/os, operator: In, values: [linux]}}]
      containers:
      - name: agent
        image: fluent/fluent-bit:2.2
        securityContext: {{privileged: true}}
        volumeMounts: [{{name: varlog, mountPath: /var/log}}]
      volumes: [{{name: varlog, hostPath: {{path: /var/log}}}}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {{name: db, namespace: {NAMESPACE}}}
spec:
  serviceName: db
  replicas: 1
  selector: {{matchLabels: {{app: db}}}}
  template:
    metadata: {{labels: {{app: db}}}}
    spec:
      containers:
      - name: db
        image: postgres:16
        securityContext: {{privileged: true}}
        volumeMounts: [{{name: data, mountPath: /var/lib/postgresql/data}}]
  volumeClaimTemplates:
  - metadata: {{name: data}}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {{requests: {{storage: 1Gi}}}}
"""


@pytest.fixture(scope="module")
def controller_pods(kube_cluster: KubeCluster) -> Iterator[list[dict[str, Any]]]:
    if not kube_cluster.controller_manager:
        pytest.skip("no kube-controller-manager: no DaemonSet or StatefulSet pods are created")
    node = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": NODE, "labels": {"kubernetes.io/os": "linux"}},
    }
    kube_cluster.kubectl("create", "-f", "-", input=json.dumps(node))
    try:
        kube_cluster.apply(MANIFESTS)
        deadline = time.monotonic() + 60
        pods: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            listed = kube_cluster.kubectl("get", "pods", "-n", NAMESPACE, "-o", "json").stdout
            pods = json.loads(listed)["items"]
            owners = {ref["kind"] for p in pods for ref in p["metadata"].get("ownerReferences", [])}
            if owners >= {"DaemonSet", "StatefulSet"}:
                break
            time.sleep(1)
        yield pods
    finally:
        kube_cluster.kubectl("delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=false")
        kube_cluster.kubectl("delete", "node", NODE, "--ignore-not-found", "--wait=false")


def test_daemon_set_and_stateful_set_pods_are_reported_on_their_owner(
    kube_cluster: KubeCluster, controller_pods: list[dict[str, Any]]
) -> None:
    owners = {ref["kind"] for pod in controller_pods for ref in pod["metadata"]["ownerReferences"]}
    assert owners >= {"DaemonSet", "StatefulSet"}, controller_pods
    live = report(
        kposture(
            "scan",
            "--cluster",
            "--kubeconfig",
            str(kube_cluster.kubeconfig),
            "-n",
            NAMESPACE,
            "-o",
            "json",
        )
    )
    privileged = sorted(
        (f["resource"]["kind"], f["resource"]["name"])
        for f in live["findings"]
        if f["rule_id"] == "privileged-container"
    )
    assert privileged == [("DaemonSet", "logs"), ("StatefulSet", "db")]
