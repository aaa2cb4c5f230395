"""An EKS upgrade through Crossplane's engine: the control plane, then the add-ons, then the
node groups, each only once the one before runs the new version (issue 19 item 9).

The stages of ``examples/cluster-aws-upgrade`` (a cluster Ready at 1.34, asked for 1.35)
are rendered by the real engine (``test_examples`` holds each golden equal to its render
and admits every object); here their goldens are read for the order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from forge import versions
from forge_dev.paths import stages_dir
from tests.conformance.conftest import ROOT

EXAMPLE = ROOT / "examples" / "cluster-aws-upgrade"


def versions_in(path: Path) -> dict[str, Any]:
    """The control plane's, each add-on's and each node group's version in a stage file."""
    found: dict[str, Any] = {"addons": {}, "nodes": set()}
    for doc in yaml.safe_load_all(path.read_text()):
        params = ((doc or {}).get("spec") or {}).get("forProvider") or {}
        kind = (doc or {}).get("kind")
        if kind == "Cluster" and doc["apiVersion"].startswith("eks."):
            found["cluster"] = params["version"]
        elif kind == "Addon":
            found["addons"][params["addonName"]] = params["addonVersion"]
        elif kind == "NodeGroup":
            found["nodes"].add(params["version"])
    return found


def condition(path: Path, kind: str) -> tuple[str, str]:
    xr = next(yaml.safe_load_all(path.read_text()))
    found = next(c for c in xr["status"]["conditions"] if c["type"] == kind)
    return found["status"], found["reason"]


def test_the_stages_render_control_plane_then_addons_then_node_groups():
    stages = sorted(p for p in stages_dir(EXAMPLE).iterdir() if p.is_dir())
    assert [s.name for s in stages] == [
        "01-upgrade-requested",
        "02-control-plane-upgraded",
        "03-addons-upgraded",
        "04-upgraded",
    ]
    before, after = versions.EKS_ADDONS["1.34"], versions.EKS_ADDONS["1.35"]
    asked = [versions_in(s / "expected.yaml") for s in stages]
    running = [versions_in(s / "observed.yaml") for s in stages]

    # 1: everything runs 1.34; only the control plane is asked for 1.35.
    assert running[0] == {"cluster": "1.34", "addons": before, "nodes": {"1.34"}}
    assert asked[0] == {"cluster": "1.35", "addons": before, "nodes": {"1.34"}}
    assert condition(stages[0] / "expected.yaml", "ClusterReady") == ("True", "Upgrading")
    # 2: the control plane runs 1.35; the add-ons are asked to move, the nodes wait.
    assert running[1]["cluster"] == "1.35" and running[1]["addons"] == before
    assert asked[1] == {"cluster": "1.35", "addons": after, "nodes": {"1.34"}}
    assert condition(stages[1] / "expected.yaml", "NodeGroupsReady") == (
        "False",
        "WaitingForAddons",
    )
    # 3: the add-ons run their 1.35 versions; now the node groups move.
    assert running[2]["addons"] == after and running[2]["nodes"] == {"1.34"}
    assert asked[2] == {"cluster": "1.35", "addons": after, "nodes": {"1.35"}}
    # 4: all of it runs 1.35, and stays there.
    assert running[3] == asked[3] == {"cluster": "1.35", "addons": after, "nodes": {"1.35"}}
    assert condition(stages[3] / "expected.yaml", "Ready") == ("True", "Available")
