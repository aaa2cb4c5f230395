"""No input can make one call slow for the others: tenant and Secret data is parsed bounded.

A 1.3 KB vCluster kubeconfig with two YAML alias chains 29 deep (``current-context: *y29``,
``contexts[0].name: *x29``) made the name comparison exponential while the call held the
interpreter lock (issue 21, item 1): 9.3 s for that call, 8.3 s for a 3 ms call beside it.
A kubeconfig is now a tree: anchors and aliases are refused before anything compares or
walks it, and only strings are compared as names. No timing is asserted: each refusal is
checked by its outcome, which was different before the fix.
"""

from __future__ import annotations

import base64

import pytest
import yaml

from forge.composers import vcluster_kubeconfig as kubeconfig

CA = base64.b64encode(b"CA").decode()
CERT = base64.b64encode(b"CERT").decode()
KEY = base64.b64encode(b"KEY").decode()
TAIL = [
    "contexts:",
    "- name: NAME",
    "  context: {cluster: c, user: u}",
    "clusters:",
    "- name: c",
    f"  cluster: {{certificate-authority-data: {CA}}}",
    "users:",
    "- name: u",
    f"  user: {{client-certificate-data: {CERT}, client-key-data: {KEY}}}",
]


def encoded(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def chain(prefix: str, depth: int) -> list[str]:
    """``depth`` anchors, each a list of two aliases of the one before: 2**depth leaves."""
    lines = [f"- &{prefix}0 [leaf]"]
    lines += [f"- &{prefix}{i} [*{prefix}{i - 1},*{prefix}{i - 1}]" for i in range(1, depth + 1)]
    return lines


def alias_bomb(depth: int) -> str:
    """The attack's kubeconfig: complete, but its names are two distinct alias chains."""
    lines = ["preferences:", *chain("x", depth), *chain("y", depth)]
    lines.append(f"current-context: *y{depth}")
    lines += [line.replace("NAME", f"*x{depth}") for line in TAIL]
    return "\n".join(lines) + "\n"


def plain(current: str = "dev", name: str = "dev") -> str:
    lines = [f"current-context: {current}", *(t.replace("NAME", name) for t in TAIL)]
    return "\n".join(lines) + "\n"


def test_a_plain_kubeconfig_is_read():
    reading = kubeconfig.read(encoded(plain()))
    assert reading.kubeconfig is not None
    assert reading.kubeconfig.ca_data == CA
    assert reading.kubeconfig.certificate.key_data == KEY


@pytest.mark.parametrize("depth", [3, 29])
def test_the_alias_bomb_is_refused(depth):
    """Depth 29 is the attack (1.3 KB); before the fix depth 3 came back as a kubeconfig
    (and 29 did too, after minutes)."""
    text = alias_bomb(depth)
    assert len(text) < 1400
    assert kubeconfig.read(encoded(text)) == kubeconfig.Reading()


@pytest.mark.parametrize(
    "text",
    [
        # One alias, nothing recursive: still not what vCluster (client-go) writes.
        plain()
        .replace("current-context: dev", "current-context: &n dev")
        .replace("- name: dev", "- name: *n"),
        # A merge key pulls a mapping in by alias.
        "base: &b {certificate-authority-data: "
        + CA
        + "}\n"
        + plain().replace(f"cluster: {{certificate-authority-data: {CA}}}", "cluster: {<<: *b}"),
    ],
    ids=["alias", "merge-key"],
)
def test_aliases_are_refused(text):
    yaml.safe_load(text)  # valid YAML, a complete kubeconfig once aliases are expanded
    assert kubeconfig.read(encoded(text)) == kubeconfig.Reading()


@pytest.mark.parametrize(
    ("current", "name"),
    [("[a, b]", "[a, b]"), ("{a: b}", "{a: b}")],
    ids=["list", "mapping"],
)
def test_names_are_strings_or_the_kubeconfig_is_refused(current, name):
    """Names are compared only as strings: a structure is never compared (it can be
    exponential), and a kubeconfig whose current context is not a string is none."""
    assert kubeconfig.read(encoded(plain(current, name))) == kubeconfig.Reading()


@pytest.mark.parametrize(
    "scalar",
    [
        "1" + ":59" * 20_000 + ".5",  # YAML 1.1 sexagesimal float: OverflowError
        "1" + ":1" * 30_000,  # sexagesimal int: quadratic big-int arithmetic
        "!!binary " + "A" * 40_000,
        "!!python/name:os.system ''",
    ],
    ids=["sexagesimal-float", "sexagesimal-int", "binary", "python-tag"],
)
def test_scalars_are_read_as_strings(scalar):
    """A kubeconfig's fields are strings: no scalar is typed (YAML 1.1 numbers, tags), so
    none can raise or cost more than its length, wherever it is."""
    text = plain() + f"preferences:\n  x: {scalar}\n"
    assert len(text) < kubeconfig.MAX_BYTES
    reading = kubeconfig.read(encoded(text))
    assert reading.kubeconfig is not None


def test_unquoted_numbers_are_names_too():
    """``current-context: 7`` names the context ``7``, as every scalar is a string."""
    reading = kubeconfig.read(encoded(plain("7", "7")))
    assert reading.kubeconfig is not None


def test_an_entry_with_a_structured_name_is_skipped():
    text = plain().replace("contexts:\n", "contexts:\n- name: [dev]\n  context: {cluster: x}\n")
    reading = kubeconfig.read(encoded(text))
    assert reading.kubeconfig is not None
    assert reading.kubeconfig.ca_data == CA


def test_too_many_nodes_are_refused_before_construction():
    """A flat list of 30,000 tiny items is 60 KB, under the size limit, and not a
    kubeconfig: refused by its node count, not built."""
    text = plain() + "extra: [" + ",".join("1" for _ in range(30_000)) + "]\n"
    assert len(text) < kubeconfig.MAX_BYTES
    assert kubeconfig.read(encoded(text)) == kubeconfig.Reading()
