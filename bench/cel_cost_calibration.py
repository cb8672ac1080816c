"""Calibrate the custom-rule cost budget: for a set of expressions whose work grows with the
object (plain and nested comprehensions, string and list functions, the extension functions cel
calls back into Python for), measure the wall time of one evaluation against the cost bound
``cel_bounds.estimate`` gives, and print the slowest time per estimated step. The budget
(``cel_rules.COST_BUDGET``) is the wall-time goal divided by that figure.

Run: ``.venv/bin/python bench/cel_cost_calibration.py``
"""

from __future__ import annotations

import time
from typing import Any

from kposture.policy.cel_bounds import estimate
from kposture.policy.cel_programs import compile_expression, new_context
from kposture.policy.cel_rules import COST_BUDGET

EXPRESSIONS = (
    "object.items.all(x, x >= 0)",
    "object.items.all(x, object.items.all(y, x >= 0))",
    "object.items.all(x, object.items.all(y, object.items.all(z, true)))",
    "object.items.map(x, x + 1).size() >= 0",
    "object.items.exists(x, x in object.items && x < 0)",
    "object.items.all(x, object.items == object.items)",
    "object.names.all(x, x.lowerAscii() != '')",
    "object.names.all(x, x.matches('^n[0-9]+$'))",
    "object.names.all(x, x.split('').size() > 0)",
    "object.names.all(x, x.replace('n', 'nn') != '')",
    "object.names.all(x, [x].flatten().size() == 1)",
    "object.items.all(x, object.items.sort().size() > 0)",
    "object.items.all(x, object.items.distinct().size() > 0)",
    "object.items.all(x, sets.contains(object.items, [x]))",
    "object.items.map(a, object.items.map(b, a + b)).flatten().size() > 0",
    "object.items.all(x, object.items.slice(0, 1).size() == 1)",
    "object.names.join(',').size() > 0",
    "object.data.map(a, object.data.map(b, a + b)).flatten().all(x, "
    "object.data.map(a, object.data.map(b, a + b)).flatten().exists(y, x == y + 'nope') || true)",
    "object.containers.all(c, c.ports.all(p, p.containerPort > 0 && has(p.name)))",
    "object.items.all(x, math.greatest(object.items) >= x)",
    "object.names.all(x, base64.encode(bytes(x)) != b'')",
)


def _object(n: int, source: str) -> dict[str, Any]:
    """Only the fields ``source`` reads: cel converts every bound value at each evaluation."""
    fields = {
        "items": list(range(n)),
        "names": [f"n{i}" for i in range(n)],
        "data": {f"key{i:04d}": f"v{i}" for i in range(n)},
        "containers": [
            {"name": f"c{i}", "ports": [{"containerPort": p + 1, "name": "x"} for p in range(8)]}
            for i in range(n)
        ]
        if "containers" in source
        else [],
    }
    return {key: value for key, value in fields.items() if f"object.{key}" in source}


def measure(source: str, budget: int) -> tuple[int, int, float]:
    """(size, estimated steps, seconds) at the largest object whose estimate fits ``budget``."""
    expression = compile_expression(source, want_bool=True, variables=())
    n, best = 1, (0, 0, 0.0)
    while n < 100_000:
        obj = _object(n, source)
        steps = estimate(expression.tree, {"object": obj})
        if steps > budget:
            break
        context = new_context({"object": obj})
        start = time.perf_counter()
        expression.program.execute(context)
        best = (n, steps, time.perf_counter() - start)
        n = max(n + 1, int(n * 1.5))
    return best


def main() -> None:
    worst = 0.0
    print(f"budget {COST_BUDGET:,} steps")
    print(f"{'size':>6} {'estimate':>12} {'ms':>8} {'ns/step':>8}  expression")
    for source in EXPRESSIONS:
        n, steps, seconds = measure(source, COST_BUDGET)
        per_step = seconds / steps if steps else 0.0
        worst = max(worst, per_step)
        print(f"{n:>6} {steps:>12,} {seconds * 1e3:>8.1f} {per_step * 1e9:>8.1f}  {source[:70]}")
    print(f"slowest: {worst * 1e9:.1f} ns per estimated step")
    print(f"the budget of {COST_BUDGET:,} steps takes at most {COST_BUDGET * worst * 1e3:.0f} ms")


if __name__ == "__main__":
    main()
