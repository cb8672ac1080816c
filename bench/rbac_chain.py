"""A long escalation chain: does rendering escalation paths stay linear?

Generates NAMESPACES namespaces ``chain-0`` .. ``chain-N-1``, each with a ServiceAccount ``sa``, a
Role ``deployer`` granting ``create pods`` and a RoleBinding handing it to the ServiceAccount of the
*previous* namespace; the last ServiceAccount is bound to cluster-admin, and ``chain-i``'s
ServiceAccount has a Deployment running as it (5 objects per namespace: 7,500 for 1,500). Every
ServiceAccount of the chain reaches cluster-admin, ``chain-0``'s through N hops, so listing every
path hop by hop is quadratic (N²/2 hops) while computing them is one backward search per goal.

Then times, each in a fresh process, ``kposture scan`` (JSON to a file) and ``kposture rbac paths``
(table, JSON, JSON ``--full``) on it, with the output size and the process's peak RSS. Prints a
markdown table for docs/performance.md. Usage: ``python bench/rbac_chain.py [--namespaces N]
[--timeout S] [--keep DIR] [--kposture PATH]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RBAC = "rbac.authorization.k8s.io/v1"


def chain(namespaces: int) -> list[dict[str, Any]]:
    """The objects of the chain, in namespace order."""
    docs: list[dict[str, Any]] = []
    for i in range(namespaces):
        ns = f"chain-{i}"
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {"name": "sa", "namespace": ns},
            }
        )
        docs.append(
            {
                "apiVersion": RBAC,
                "kind": "Role",
                "metadata": {"name": "deployer", "namespace": ns},
                "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["create"]}],
            }
        )
        previous = f"chain-{i - 1}" if i else f"chain-{namespaces - 1}"
        docs.append(
            {
                "apiVersion": RBAC,
                "kind": "RoleBinding",
                "metadata": {"name": "deployer", "namespace": ns},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "Role",
                    "name": "deployer",
                },
                "subjects": [{"kind": "ServiceAccount", "name": "sa", "namespace": previous}],
            }
        )
        docs.append(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "app", "namespace": ns},
                "spec": {
                    "selector": {"matchLabels": {"app": "app"}},
                    "template": {
                        "metadata": {"labels": {"app": "app"}},
                        "spec": {
                            "serviceAccountName": "sa",
                            "automountServiceAccountToken": False,
                            "containers": [{"name": "app", "image": "registry.example/app:1.0"}],
                        },
                    },
                },
            }
        )
        if i == namespaces - 1:
            docs.append(
                {
                    "apiVersion": RBAC,
                    "kind": "ClusterRoleBinding",
                    "metadata": {"name": "chain-end-admin"},
                    "roleRef": {
                        "apiGroup": "rbac.authorization.k8s.io",
                        "kind": "ClusterRole",
                        "name": "cluster-admin",
                    },
                    "subjects": [{"kind": "ServiceAccount", "name": "sa", "namespace": ns}],
                }
            )
        docs.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    # The first RoleBinding names the last ServiceAccount: make chain-0 the head instead.
    docs[2]["subjects"] = [{"kind": "User", "name": "chain-head"}]
    return docs


def write(directory: Path, namespaces: int) -> Path:
    path = directory / "chain.json"
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": chain(namespaces)}))
    return path


def run(command: list[str], output: Path, timeout: float) -> dict[str, Any]:
    """Wall time, exit code, output size and peak RSS (MB) of one command in a fresh process
    (``os.wait4`` gives that child's own resource usage)."""
    start = time.perf_counter()
    with output.open("wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.DEVNULL)
        code: int | str = ""
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                code = os.waitstatus_to_exitcode(status)
                break
            if time.perf_counter() - start > timeout:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                code = f"killed after {timeout:.0f} s"
                break
            time.sleep(0.05)
        proc.returncode = 0  # reaped by wait4
    return {
        "seconds": time.perf_counter() - start,
        "code": code,
        "bytes": output.stat().st_size,
        "rss_mb": usage.ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--namespaces", type=int, default=1500)
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--keep", type=Path, help="Write the manifest and outputs here.")
    parser.add_argument(
        "--kposture",
        default=str(Path(sys.executable).with_name("kposture")),
        help="The CLI to run.",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = args.keep or Path(tmp)
        directory.mkdir(parents=True, exist_ok=True)
        manifest = write(directory, args.namespaces)
        objects = len(json.loads(manifest.read_text())["items"])
        cli = args.kposture
        cases = [
            ("scan -o json", [cli, "scan", str(manifest), "-o", "json"], "scan.json"),
            ("rbac paths (table)", [cli, "rbac", "paths", str(manifest)], "paths.txt"),
            (
                "rbac paths -o json",
                [cli, "rbac", "paths", str(manifest), "-o", "json"],
                "paths.json",
            ),
            (
                "rbac paths -o json --full",
                [cli, "rbac", "paths", str(manifest), "-o", "json", "--full"],
                "paths-full.json",
            ),
        ]
        print(f"{args.namespaces} namespaces, {objects} objects ({platform_line()})\n")
        print("| command | time | output | peak RSS | exit |")
        print("|---|---:|---:|---:|---|")
        for name, command, out in cases:
            result = run(command, directory / out, args.timeout)
            print(
                f"| `{name}` | {result['seconds']:.1f} s | {result['bytes'] / 1e6:.1f} MB | "
                f"{result['rss_mb']:.0f} MB | {result['code']} |"
            )


def platform_line() -> str:
    return f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}"


if __name__ == "__main__":
    main()
