"""The node's description (wagate.node): every piece is part of what the app's state is checked
against, and a module's description is made of pieces only, so that check covers it too."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from typing import Generic, Protocol

from wagate import node
from wagate.cluster.service import HasCluster

SRC = Path(node.__file__).parent


def pieces() -> set[type]:
    return {
        value
        for name, value in vars(node).items()
        if name.startswith("Has") and inspect.isclass(value)
    } | {HasCluster}


def checked_pieces() -> set[type]:
    """What wagate.state checks the app's state against: Node, and the runtime's own piece."""
    return {base for base in node.Node.__bases__ if base is not Protocol} | {HasCluster}


def descriptions() -> list[type]:
    """Every protocol in the package built on a piece: the modules' descriptions."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        text = path.read_text()
        if "wagate.node import" not in text and "HasCluster" not in text:
            continue
        module = importlib.import_module(
            "wagate." + ".".join(path.relative_to(SRC).with_suffix("").parts)
        )
        for value in vars(module).values():
            if (
                inspect.isclass(value)
                and value.__module__ == module.__name__
                and getattr(value, "_is_protocol", False)
                and value not in pieces()
            ):
                found.append(value)
    return found


def test_node_is_every_piece() -> None:
    assert pieces() == checked_pieces()


def test_the_modules_describe_what_they_use() -> None:
    found = {cls.__qualname__ for cls in descriptions()}
    # A few, to know the search finds them at all.
    assert {"AuthNode", "InstancesNode", "SenderNode", "ForwardingNode"} <= found


def test_a_description_is_made_of_pieces_only() -> None:
    allowed = pieces()
    found = descriptions()
    for cls in found:
        if cls is node.Node or cls is node.MessagingView:
            continue
        own = {name for name, value in vars(cls).items() if isinstance(value, property)}
        own |= set(inspect.get_annotations(cls))
        assert not own, f"{cls.__qualname__} declares {own}: make each a piece of wagate.node"
        bases = set(inspect.getmro(cls)[1:]) - {Protocol, Generic, object, *found}
        assert bases <= allowed, f"{cls.__qualname__} is built on {bases - allowed}"
