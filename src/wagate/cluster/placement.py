"""Placement: how many instances this node should hold, and which ones to take or give back.

Pure functions over a snapshot (who holds what, which nodes are live), so that they are tested
without Redis. Every node runs the same rule on its own view:
- the fair share is ceil(instances to hold / live nodes);
- a node below its share takes free instances, in an order of its own (a hash of node and
  instance), so that nodes starting together do not all race for the same ones;
- a node above its share gives back the excess while another live node is below it.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field


def fair_share(instances: int, nodes: int) -> int:
    if instances <= 0:
        return 0
    return math.ceil(instances / max(1, nodes))


def _preference(node: str, instance_id: int) -> bytes:
    return hashlib.blake2b(f"{node}:{instance_id}".encode(), digest_size=8).digest()


@dataclass(frozen=True, slots=True)
class Plan:
    share: int
    # Free instances to try, best first; take at most `room` of them.
    candidates: list[int] = field(default_factory=list)
    room: int = 0
    # Instances of this node to hand over to a node with room.
    release: list[int] = field(default_factory=list)


def plan(
    me: str,
    wanted: Collection[int],
    holders: Mapping[int, str],
    live_nodes: Collection[str],
    releasable: Collection[int] = (),
) -> Plan:
    """What `me` should do now.

    `wanted`: instances that should be held by someone (desired connected); `holders`: the
    current lease holder of each held instance; `live_nodes`: nodes that take instances, `me`
    included when it is one of them; `releasable`: instances of `me` that may be moved now
    (not in the middle of pairing, not just taken).
    """
    wanted_set = set(wanted)
    live = set(live_nodes)
    if me not in live:
        return Plan(share=0)
    share = fair_share(len(wanted_set), len(live))
    counts = Counter(node for iid, node in holders.items() if iid in wanted_set and node in live)
    mine = sorted(iid for iid, node in holders.items() if node == me and iid in wanted_set)
    held = len(mine)
    if held < share:
        free = [iid for iid in wanted_set if iid not in holders]
        free.sort(key=lambda iid: _preference(me, iid))
        return Plan(share=share, candidates=free, room=share - held)
    if held > share:
        room_elsewhere = sum(max(0, share - counts[n]) for n in live if n != me)
        excess = min(held - share, room_elsewhere)
        may_move = set(releasable)
        movable = [iid for iid in mine if iid in may_move]
        movable.sort(key=lambda iid: _preference(me, iid), reverse=True)
        return Plan(share=share, release=movable[:excess])
    return Plan(share=share)
