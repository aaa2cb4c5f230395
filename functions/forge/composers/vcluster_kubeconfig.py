"""Read a vCluster's exported kubeconfig: bounded in size, fast, and only what Argo CD needs.

The Secret's value is input like any other: a Secret may hold up to 1 MiB, and
pure-Python YAML took 14 s on one of 981 KB while the server stalled. vCluster's own
kubeconfig is about 6 KB, so anything over ``MAX_BYTES`` is refused by its size,
before decoding; the rest is parsed by libyaml (the C loader, when PyYAML has it) and
only the current context's CA and client certificate are read. Every scalar is read as
a string (PyYAML's base loader: no implicit typing, tags ignored): a kubeconfig's fields
are strings, and YAML 1.1's typed scalars are a cost of their own (a sexagesimal
number is quadratic big-integer arithmetic, or an OverflowError). Whatever the text
(nesting, aliases, binary), the outcome is a kubeconfig or none, never an exception.

The document must be a tree of at most ``MAX_NODES`` nodes: YAML aliases turn 1.3 KB
into a graph of 2**29 paths, and comparing two such names took minutes while the call
held the interpreter lock (issue 21). client-go writes no aliases, so any alias (merge
keys included) makes the text no kubeconfig; this is checked on the composed node
graph (an alias is a node reached twice), in one linear walk, before anything is
constructed or compared. Names are compared only as strings.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from forge.composers.access import ClientCertificate

MAX_BYTES = 64 * 1024
# vCluster's kubeconfig has about 30 nodes; a few contexts more stay far below this.
MAX_NODES = 2000


@dataclass(frozen=True)
class Kubeconfig:
    """What Argo CD needs from the exported kubeconfig (secret material: never logged)."""

    ca_data: str
    certificate: ClientCertificate


@dataclass(frozen=True)
class Reading:
    """A kubeconfig if the value holds a complete one; its size if it was too large."""

    kubeconfig: Kubeconfig | None = None
    too_large_bytes: int | None = None


def read(encoded: str) -> Reading:
    """The kubeconfig in a Secret's base64 value."""
    size = len(encoded) * 3 // 4  # decoded size, known without decoding
    if size > MAX_BYTES:
        return Reading(too_large_bytes=size)
    try:
        text = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return Reading()
    return Reading(kubeconfig=_parse(_load(text)))


def _load(text: bytes) -> Any:
    """The YAML document if it is a small tree, else None (however it fails)."""
    import yaml  # noqa: PLC0415 - lazily: only vCluster kubeconfigs need it (cold start)

    loader = getattr(yaml, "CBaseLoader", yaml.BaseLoader)(text)
    try:
        node = loader.get_single_node()
        if node is None or not _small_tree(node, yaml.Node, yaml.CollectionNode):
            return None
        return loader.construct_document(node)
    except (yaml.YAMLError, ValueError, RecursionError, MemoryError):
        return None
    finally:
        loader.dispose()


def _small_tree(root: Any, node_type: type, collection: type) -> bool:
    """Whether no node is reached twice (an alias), and there are at most MAX_NODES."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen or len(seen) >= MAX_NODES:
            return False
        seen.add(id(node))
        if isinstance(node, collection):
            for item in node.value:  # mapping: (key, value) pairs; sequence: nodes
                stack.extend(item if isinstance(item, tuple) else (item,))
        elif not isinstance(node, node_type):
            return False
    return True


def _named(entries: Any, name: Any, inner: str) -> Mapping[str, Any]:
    """The ``inner`` block of the kubeconfig list entry called ``name`` (else the first).

    Only strings are compared: a structure could be a graph far larger than its text.
    """
    if not isinstance(entries, list):
        return {}
    chosen = None
    if isinstance(name, str):
        chosen = next(
            (
                e
                for e in entries
                if isinstance(e, Mapping) and isinstance(e.get("name"), str) and e["name"] == name
            ),
            None,
        )
    if chosen is None and entries and isinstance(entries[0], Mapping):
        chosen = entries[0]
    block = chosen.get(inner) if chosen else None
    return block if isinstance(block, Mapping) else {}


def _parse(config: Any) -> Kubeconfig | None:
    """The current context's cluster CA and user certificate, base64 as in the kubeconfig."""
    if not isinstance(config, Mapping):
        return None
    current = config.get("current-context")
    if current is not None and not isinstance(current, str):
        return None
    context = _named(config.get("contexts"), current, "context")
    cluster = _named(config.get("clusters"), context.get("cluster"), "cluster")
    user = _named(config.get("users"), context.get("user"), "user")
    ca = cluster.get("certificate-authority-data")
    cert = user.get("client-certificate-data")
    key = user.get("client-key-data")
    if not all(isinstance(v, str) and v for v in (ca, cert, key)):
        return None
    return Kubeconfig(ca_data=ca, certificate=ClientCertificate(cert_data=cert, key_data=key))
