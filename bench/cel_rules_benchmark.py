"""Custom (CEL) rule throughput: rules × objects evaluations per second with the activation shared
across rules (as ``policy.cel_rules`` does: one ``cel.Context`` per object) against one rebuilt
for every rule, through the real rule checks; and the time to refuse a hostile expression.

Run: .venv/bin/python bench/cel_rules_benchmark.py [--objects N]. Prints the ratio against the
rebuilt baseline measured in the same run; results are written down in docs/performance.md.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from kposture.inventory import Inventory
from kposture.model import K8sObject, ResourceRef
from kposture.policy.cel_rules import ACTIVATION_KEY
from kposture.policy.rule_files import load_rule_files
from kposture.rules.base import Rule

RULES = Path(__file__).parents[1] / "tests" / "unit" / "policy" / "custom_rules" / "rules"
EXTRA = """\
apiVersion: kposture.io/v1
kind: Rule
metadata:
  name: bench-{n}
spec:
  title: Benchmark rule {n}
  severity: low
  domain: workload-privileges
  stage: crawl
  description: A typical container check.
  remediation: Fix it.
  match:
    kinds: [{{apiGroups: ["apps"], kinds: [Deployment]}}]
  variables:
    - name: containers
      expression: "object.spec.template.spec.containers"
  validations:
    - expression: "variables.containers.all(c, !c.image.endsWith(':latest{n}'))"
      message: latest
    - expression: "object.spec.replicas <= {n} + 100"
      message: replicas
"""


def deployment(i: int) -> K8sObject:
    raw: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": f"web-{i}",
            "namespace": "shop",
            "labels": {"app": "web", "team": "a"},
        },
        "spec": {
            "replicas": 3,
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {
                            "name": f"c{j}",
                            "image": "registry.example.com/web:1.2.3",
                            "ports": [{"containerPort": 8080}],
                            "env": [{"name": "A", "value": "b"}] * 4,
                            "resources": {"limits": {"cpu": "1", "memory": "1Gi"}},
                        }
                        for j in range(2)
                    ]
                },
            },
        },
    }
    return K8sObject(ResourceRef("apps/v1", "Deployment", "shop", f"web-{i}"), raw)


def run(rules: list[Rule], objects: list[K8sObject], shared: bool) -> float:
    inventory = Inventory(objects)
    started = time.perf_counter()
    for obj in objects:
        for rule in rules:
            if not shared:
                obj.derived.pop(ACTIVATION_KEY, None)
            list(rule.check(obj, inventory))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--objects", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        measure(args.objects, Path(folder))


def measure(objects: int, tmp: Path) -> None:
    extra = tmp / "kposture-bench-rules.yaml"
    extra.write_text("---\n".join(EXTRA.format(n=n) for n in range(7)))
    loaded = load_rule_files([RULES, extra])
    assert not loaded.errors, loaded.errors
    rules = [r for r in loaded.rules if "Deployment" in r.meta.kinds]
    evaluations = len(rules) * objects
    rebuilt = run(rules, [deployment(i) for i in range(objects)], shared=False)
    shared = run(rules, [deployment(i) for i in range(objects)], shared=True)
    print(f"{len(rules)} rules x {objects} objects = {evaluations} rule evaluations")
    print(f"rebuilt per rule (baseline): {evaluations / rebuilt:10,.0f} rule evaluations/s")
    print(
        f"shared per object:           {evaluations / shared:10,.0f} rule evaluations/s "
        f"({rebuilt / shared:.1f}x)"
    )
    hostile = tmp / "kposture-bench-hostile.yaml"
    hostile.write_text(
        EXTRA.format(n=99).replace(
            "variables.containers.all(c, !c.image.endsWith(':latest99'))",
            "variables.containers.all(a, variables.containers.all(b, "
            "variables.containers.all(c, a.name != '')))",
        )
    )
    [rule] = load_rule_files([hostile]).rules
    big = deployment(0)
    big.raw["spec"]["template"]["spec"]["containers"] *= 1000  # type: ignore[index]
    started = time.perf_counter()
    try:
        list(rule.check(big, Inventory([big])))
    except Exception as exc:  # the refusal is the expected outcome
        print(
            f"hostile rule on 2,000 containers refused in "
            f"{(time.perf_counter() - started) * 1000:.1f} ms: {type(exc).__name__}"
        )


if __name__ == "__main__":
    main()
