"""Escalation paths: how an identity that does not hold a goal itself gets there, hop by hop.

Goals: full access (cluster-admin or equal, the ``system:masters`` group, or cluster-admin bound
to itself through bind or escalate), changing admission webhooks, and reading every Secret of the
cluster. For each goal a
breadth-first search runs backwards from its holders over the can-become graph of
``rbac_moves``, so every identity learns its shortest route in one pass per goal (linear in the
size of the graph, not in identities × graph).

A path is reported from an identity that does not hold the goal itself and whose first hop is its
own permission: a path that starts by group membership is the group's path, reported once for the
group (``system:authenticated`` included — then it concerns every user). Full access implies the
other goals, so an identity that reaches it gets that one path only. Kubernetes' own identities
(control-plane users and groups, ServiceAccounts of the system namespaces) have paths by design;
they are computed but flagged ``default``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

from kposture.inventory.objects import Inventory
from kposture.inventory.rbac_capabilities import (
    FULL_ACCESS,
    MODIFY_WEBHOOKS,
    READ_SECRETS,
    Capability,
    Holding,
    holders,
)
from kposture.inventory.rbac_graph import Principal
from kposture.inventory.rbac_moves import (
    MASTERS,
    SELF_BOUND_ADMIN,
    SYSTEM_MASTERS,
    Move,
    MoveGraph,
    Node,
    identity,
)
from kposture.inventory.rbac_moves import move_graph as _move_graph

GOALS: tuple[Capability, ...] = (FULL_ACCESS, MODIFY_WEBHOOKS, READ_SECRETS)
_MEMO = "rbac_paths.paths"


@dataclass(frozen=True, slots=True)
class GoalHold:
    """How a node holds a goal: a holding (None for ``system:masters``) and what it means."""

    holding: Holding | None
    text: str


@dataclass(frozen=True, slots=True)
class EscalationPath:
    """``start`` reaches ``goal`` by ``moves`` (the first its own permission); the last node holds
    the goal as ``held`` says."""

    start: Node
    goal: Capability
    moves: tuple[Move, ...]
    held: GoalHold

    @property
    def default(self) -> bool:
        return self.start.is_kubernetes_own

    @property
    def first(self) -> Move:
        return self.moves[0]

    @property
    def end(self) -> Node:
        return self.moves[-1].target

    def hops(self) -> Iterator[str]:
        """One line per hop: the action, the node reached, and what allows it."""
        for move in self.moves:
            if move.action == "includes":
                if move.target.is_identity:
                    yield f"→ {move.target.display()}"
                continue
            text = move.action
            if move.target.is_identity:
                text += f" {move.target.display()}"
            if move.holding is not None:
                text += f" [{via(move.holding)}]"
            if move.evidence:
                text += " [" + ", ".join(ref.display() for ref in move.evidence[:3]) + "]"
            yield text
        yield self.held.text

    def describe(self) -> str:
        return f"{self.start.display()} can reach {self.goal.title}: " + "; ".join(self.hops())


def via(holding: Holding) -> str:
    binding = holding.binding.ref
    where = f"{binding.namespace}/" if binding.namespace else ""
    return f"{binding.kind} {where}{binding.name} → {holding.role.display()}: {holding.describe()}"


def _goal_holds(inventory: Inventory, goal: Capability) -> dict[Node, GoalHold]:
    holds: dict[Node, GoalHold] = {
        MASTERS: GoalHold(
            None, "system:masters bypasses RBAC: the API server allows it everything"
        ),
        SELF_BOUND_ADMIN: GoalHold(None, "cluster-admin allows every verb on every resource"),
    }
    for holding in holders(inventory, goal):
        if holding.scope != "cluster" or holding.names_only:
            continue
        node = identity(holding.subject)
        holds.setdefault(node, GoalHold(holding, f"holds {goal.title} [{via(holding)}]"))
    return holds


def _routes(graph: MoveGraph, goal_nodes: set[Node]) -> dict[Node, Move]:
    """For every node that reaches a goal node, its first move on a shortest route."""
    seen = set(goal_nodes)
    first: dict[Node, Move] = {}
    queue = deque(sorted(goal_nodes))
    while queue:
        node = queue.popleft()
        for move in graph.into.get(node, ()):
            if move.source not in seen:
                seen.add(move.source)
                first[move.source] = move
                queue.append(move.source)
    return first


def _follow(start: Node, first: dict[Node, Move], holds: dict[Node, GoalHold]) -> list[Move]:
    moves: list[Move] = []
    node = start
    while node not in holds:
        move = first[node]
        moves.append(move)
        node = move.target
    return moves


def escalation_paths(inventory: Inventory) -> tuple[EscalationPath, ...]:
    """Every escalation path of the inventory, defaults included (see ``EscalationPath.default``),
    ordered by goal and start."""
    cached: tuple[EscalationPath, ...] | None = inventory.derived.get(_MEMO)
    if cached is not None:
        return cached
    graph = _move_graph(inventory)
    reached_full: set[Node] = set()
    found: list[EscalationPath] = []
    for goal in GOALS:
        holds = _goal_holds(inventory, goal)
        first = _routes(graph, set(holds))
        for start in sorted(graph.identities):
            if start in holds or start not in first or start in reached_full:
                continue
            moves = _follow(start, first, holds)
            if moves[0].membership:
                continue
            found.append(EscalationPath(start, goal, tuple(moves), holds[moves[-1].target]))
            if goal is FULL_ACCESS:
                reached_full.add(start)
    result = tuple(found)
    inventory.derived[_MEMO] = result
    return result


def paths_from(inventory: Inventory, start: Node) -> tuple[EscalationPath, ...]:
    return tuple(p for p in escalation_paths(inventory) if p.start == start)


def held_goals(inventory: Inventory, principal: Principal) -> dict[str, GoalHold]:
    """Goal id -> how ``principal`` already holds it (its own bindings or its groups', cluster-wide
    and not limited by resourceNames; ``system:masters`` holds everything). Full access implies
    every other goal, and is given for them too."""
    found: dict[str, GoalHold] = {}
    if SYSTEM_MASTERS in principal.groups:
        masters = GoalHold(
            None, "system:masters bypasses RBAC: the API server allows it everything"
        )
        return {goal.id: masters for goal in GOALS}
    for goal in GOALS:
        for holding in holders(inventory, goal):
            if holding.scope != "cluster" or holding.names_only:
                continue
            if holding.subject.name and principal.matches(holding.subject):
                found[goal.id] = GoalHold(holding, f"{goal.title} [{via(holding)}]")
                break
    full = found.get(FULL_ACCESS.id)
    if full is not None:
        return dict.fromkeys((goal.id for goal in GOALS), full)
    return found
