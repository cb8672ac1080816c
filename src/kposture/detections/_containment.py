"""Containment steps the detection families name in their alerts, as commands that work for the
case at hand: take a right away from the requester, isolate a pod, stop a workload's pods while
keeping the object for forensics."""

from __future__ import annotations

from kposture.detections._events import scoped
from kposture.model.audit import AuditEvent


def revoke_step(event: AuditEvent, what: str) -> str:
    """A containment step taking ``what`` away from the requester."""
    user = event.impersonated_user or event.user
    account = user.service_account
    if account is not None:
        return (
            f"Remove {what} from ServiceAccount {account[0]}/{account[1]} "
            f"(kubectl auth can-i --list --as {user.username}) and rotate its tokens if it was "
            "not expected to act."
        )
    return (
        f"Confirm with {user.username or 'the requester'} that this was intended; if not, remove "
        f"{what} from them and revoke their credentials."
    )


def isolate_step(namespace: str, name: str) -> str:
    return (
        f"Isolate pod {scoped(namespace, name)} with a deny-all NetworkPolicy: "
        f"kposture respond isolate {name} -n {namespace or 'default'} --cluster prints the "
        "kubectl label command to run first and the policy to apply, and names other policies "
        "that would still let traffic in; keep the pod for forensics, then delete it."
    )


_SCALABLE = {
    "Deployment": "deployment",
    "StatefulSet": "statefulset",
    "ReplicaSet": "replicaset",
    "ReplicationController": "replicationcontroller",
}


def stop_step(kind: str, namespace: str, name: str) -> str:
    """How to stop a workload's pods while keeping the object for forensics, as a command."""
    namespace = namespace or "default"
    name = name or "NAME"
    where = f"{kind} {namespace}/{name}"
    if kind in _SCALABLE:
        step = (
            f"Scale {where} to zero (kubectl scale {_SCALABLE[kind]} {name} -n {namespace} "
            "--replicas=0)"
        )
        if kind == "ReplicaSet":
            step += ", or its Deployment if one owns it (the Deployment would scale it back)"
        return step + "."
    if kind == "DaemonSet":
        return (
            f"A DaemonSet cannot be scaled: move {where} off every node with a node selector no "
            f"node has (kubectl patch daemonset {name} -n {namespace} -p "
            """'{"spec":{"template":{"spec":{"nodeSelector":{"kposture.io/stopped":"true"}}}}}'), """
            "or delete it."
        )
    if kind == "CronJob":
        return (
            f"Suspend {where} so it starts no more Jobs (kubectl patch cronjob {name} -n "
            f"""{namespace} -p '{{"spec":{{"suspend":true}}}}'), then delete the Jobs it already """
            f"started (kubectl get jobs -n {namespace}; their owner is CronJob {name})."
        )
    if kind == "Job":
        return (
            f"Suspend {where} (kubectl patch job {name} -n {namespace} -p "
            """'{"spec":{"suspend":true}}', Kubernetes 1.21 and later) or delete it with its """
            f"pods (kubectl delete job {name} -n {namespace})."
        )
    if kind == "PodTemplate":
        return f"Delete {where} (kubectl delete podtemplate {name} -n {namespace})."
    if kind == "Pod":
        return isolate_step(namespace, name)
    return f"Stop {where} (or delete it)."
