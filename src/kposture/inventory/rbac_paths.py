"""Escalation paths: how an identity that does not hold a goal itself gets there, hop by hop.

Goals: full access (cluster-admin or equal, the ``system:masters`` group, or cluster-admin bound
to itself through bind or escalate), changing admission webhooks, and reading every Secret of the
cluster. For each goal a
breadth-first search runs backwards from its holders over the can-become graph of
``rbac_moves``, so every identity learns its shortest route in one pass per goal (linear in the
size of the graph, not in identities × graph).

A path is reported from an identity that does not hold the goal itself and starts with its own
permission: the shortest route whose first hop is not group membership. A route through a group is
the group's path, reported once for the group (``system:authenticated`` included — then it concerns
every user); it does not hide a member's own path, which starts at a binding of the member's and
is reported beside it, even when longer. Full access implies the
other goals, so an identity that reaches it gets that one path only. Kubernetes' own identities
(control-plane users and groups, ServiceAccounts of the system namespaces) have paths by design;
they are computed but flagged ``default``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

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
_BY_BINDING_MEMO = "rbac_paths.reported_by_first_binding"


@dataclass(frozen=True, slots=True)
class GoalHold:
    """How a node holds a goal: a holding (None for ``system:masters``) and what it means."""

    holding: Holding | None
    text: str


HEAD_HOPS = 4
TAIL_HOPS = 2
"""A path longer than ``HEAD_HOPS + TAIL_HOPS`` hops is rendered as its first and last hops with
"… N more hops …" between: a chain of N namespaces would otherwise render N²/2 hops."""


@dataclass(frozen=True, slots=True)
class EscalationPath:
    """``start`` reaches ``goal`` by a shortest route whose first move is its own permission; the
    last node holds the goal as ``held`` says.

    The route is not copied per path: ``moves`` follows the goal's shared route map (``route``,
    each node's next move), so all paths take memory linear in the graph. ``hop_count`` (moves
    that are not stand-in expansion) and ``move_count`` are known without walking; ``tail`` holds
    the last ``TAIL_HOPS`` hops, so a capped rendering costs the same for a path of any length."""

    start: Node
    goal: Capability
    first: Move
    held: GoalHold
    hop_count: int
    move_count: int
    tail: tuple[Move, ...]
    route: Mapping[Node, Move] = field(compare=False, repr=False)
    stops: Mapping[Node, GoalHold] = field(compare=False, repr=False)

    @property
    def default(self) -> bool:
        return self.start.is_kubernetes_own

    @property
    def moves(self) -> tuple[Move, ...]:
        """Every move of the route, in order (walks the route: linear in its length)."""
        found = [self.first]
        node = self.first.target
        while node not in self.stops:
            move = self.route[node]
            found.append(move)
            node = move.target
        return tuple(found)

    @property
    def end(self) -> Node:
        return self.tail[-1].target if self.tail else self.first.target

    @property
    def capped(self) -> bool:
        return self.hop_count > HEAD_HOPS + TAIL_HOPS

    def shown_moves(self, full: bool = False) -> tuple[tuple[Move, ...], int, tuple[Move, ...]]:
        """(head moves, hops left out, tail moves): every move in the head when ``full`` or the
        path is short; else the moves of the first ``HEAD_HOPS`` hops and of the last
        ``TAIL_HOPS``."""
        if full or not self.capped:
            return self.moves, 0, ()
        head = [self.first]
        hops = 1
        node = self.first.target
        while True:
            move = self.route[node]
            if _is_hop(move):
                if hops == HEAD_HOPS:
                    break
                hops += 1
            head.append(move)
            node = move.target
        return tuple(head), self.hop_count - HEAD_HOPS - TAIL_HOPS, self.tail

    def hops(self, full: bool = False) -> Iterator[str]:
        """One line per hop: the action, the node reached, and what allows it; a long path
        capped (``shown_moves``) unless ``full``."""
        head, omitted, tail = self.shown_moves(full)
        yield from _hop_lines(head)
        if omitted:
            yield f"… {omitted} more hop{'s' if omitted != 1 else ''} …"
            yield from _hop_lines(tail)
        yield self.held.text

    def describe(self, full: bool = False) -> str:
        return f"{self.start.display()} can reach {self.goal.title}: " + "; ".join(self.hops(full))


def _is_hop(move: Move) -> bool:
    return move.action != "includes" and not move.membership


def _hop_lines(moves: Iterable[Move]) -> Iterator[str]:
    for move in moves:
        if move.action == "includes":
            if move.target.is_identity:
                yield f"→ {move.target.display()}"
            continue
        text = move.action
        if move.target.is_identity:
            text += f" {move.target.display()}"
        if move.holding is not None:
            text += f" [{via(move.holding)}]"
        for requirement in move.needs:
            text += f" [and {requirement.describe()}]"
        if move.evidence:
            text += " [" + ", ".join(ref.display() for ref in move.evidence[:3]) + "]"
        yield text


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


def _routes(
    graph: MoveGraph, goal_nodes: set[Node]
) -> tuple[dict[Node, Move], list[Node], dict[Node, Move]]:
    """For every node that reaches a goal node, its first move on a shortest route; the nodes in
    the order found (goal-ward first); and for every identity that reaches one by a move of its
    own (not membership), the first move of its shortest such route. The last is what a path
    starts with: an identity whose shortest route goes through one of its groups still has its
    own path, which the group's does not show (the group's binding is not the member's)."""
    seen = set(goal_nodes)
    first: dict[Node, Move] = {}
    own: dict[Node, Move] = {}
    order: list[Node] = []
    queue = deque(sorted(goal_nodes))
    while queue:  # nodes leave the queue nearest first, so the first move seen is on a shortest
        node = queue.popleft()
        for move in graph.into.get(node, ()):
            source = move.source
            if not move.membership and source not in own and source.is_identity:
                own[source] = move
            if source not in seen:
                seen.add(source)
                first[source] = move
                order.append(source)
                queue.append(source)
    return first, order, own


def _suffixes(
    first: dict[Node, Move], order: list[Node]
) -> tuple[dict[Node, tuple[int, int]], dict[Node, tuple[Move, ...]]]:
    """Per node: (hops, moves) to the goal, and the moves of its route's last ``TAIL_HOPS`` hops
    (a suffix starting at a hop), each from its next node's, so linear in the graph."""
    counts: dict[Node, tuple[int, int]] = {}
    tails: dict[Node, tuple[Move, ...]] = {}
    for node in order:  # a node's next node was found before it
        counts[node], tails[node] = _suffix(first[node], counts, tails)
    return counts, tails


def _suffix(
    move: Move, counts: Mapping[Node, tuple[int, int]], tails: Mapping[Node, tuple[Move, ...]]
) -> tuple[tuple[int, int], tuple[Move, ...]]:
    """(hops, moves) to the goal of a route starting with ``move``, and its last ``TAIL_HOPS``
    hops, from those of ``move``'s target."""
    hops, moves = counts.get(move.target, (0, 0))
    tail = (move, *tails.get(move.target, ()))
    if sum(_is_hop(m) for m in tail) > TAIL_HOPS:
        tail = tail[1:]
        while tail and not _is_hop(tail[0]):
            tail = tail[1:]
    return (hops + _is_hop(move), moves + 1), tail


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
        first, order, own = _routes(graph, set(holds))
        counts, tails = _suffixes(first, order)
        for start in sorted(graph.identities):
            move = own.get(start)
            if move is None or start in holds or start in reached_full:
                continue
            if move is first[start]:
                (hop_count, move_count), tail = counts[start], tails[start]
            else:  # its shortest route is through a group: its own route, a move longer or more
                (hop_count, move_count), tail = _suffix(move, counts, tails)
            end = tail[-1].target if tail else move.target
            path = EscalationPath(
                start, goal, move, holds[end], hop_count, move_count, tail, first, holds
            )
            found.append(path)
            if goal is FULL_ACCESS:
                reached_full.add(start)
    result = tuple(found)
    inventory.derived[_MEMO] = result
    return result


def reported_paths_by_binding(inventory: Inventory) -> Mapping[int, tuple[EscalationPath, ...]]:
    """The paths that are not Kubernetes' own, by the ``id`` of the binding granting their first
    hop (paths whose first hop has no holding left out), in ``escalation_paths`` order; built once
    per inventory, so judging each binding is a lookup instead of a pass over every path."""
    cached: Mapping[int, tuple[EscalationPath, ...]] | None = inventory.derived.get(
        _BY_BINDING_MEMO
    )
    if cached is not None:
        return cached
    grouped: dict[int, list[EscalationPath]] = {}
    for path in escalation_paths(inventory):
        holding = path.first.holding
        if holding is not None and not path.default:
            grouped.setdefault(id(holding.binding), []).append(path)
    result = {key: tuple(paths) for key, paths in grouped.items()}
    inventory.derived[_BY_BINDING_MEMO] = result
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
