"""Regenerate every fixture: each example's stages, then their golden renders (`make fixtures`).

An example's stages are named by the directories it has (``testdata/examples/<example>/
stages/NN-name/``); the first stage's ``required.yaml`` (the environment) is the input
kept as written. The observed and required files of every stage are written again by
the provider player (``forge_dev.simulate.stages``; the vCluster example's by
``forge_dev.simulate.vcluster_stages``), then Crossplane's engine renders each stage into
its ``expected.yaml``. The stages of ``BY_HAND`` are inputs written by hand. Review the
diff and commit it.
"""

from __future__ import annotations

import sys

from forge_dev.paths import EXAMPLES, stages_dir
from forge_dev.render import examples as goldens
from forge_dev.simulate import stages, upgrade_stages, vcluster_stages

# Examples whose stages are moments of a run, not one stage per round from nothing.
BY_MOMENT = {
    "cluster-vcluster": vcluster_stages.write_example_stages,
    "cluster-aws-upgrade": upgrade_stages.write_example_stages,
}
# Examples whose stages are written by hand: chosen moments (a steady state, two
# alternative fifth stages) with comments on their inputs. Only their goldens are rendered.
BY_HAND = frozenset(
    {
        "infrastructure/istio",
        "infrastructure/istio-vcluster",
        "infrastructure/from-environment/istio",
    }
)


def main() -> int:
    """Write every example's stages, then its goldens; the exit code of the golden pass."""
    for xr in sorted(EXAMPLES.glob("**/xr.yaml")):
        example = xr.parent
        names = [d.name.split("-", 1)[1] for d in sorted(stages_dir(example).glob("[0-9]*-*"))]
        if not names or str(example.relative_to(EXAMPLES)) in BY_HAND:
            continue
        write = BY_MOMENT.get(example.name, stages.write_stages)
        write(example, names)
        print(f"{example.relative_to(EXAMPLES.parent)}: {len(names)} stages written")
    return goldens.main(["--update"])


if __name__ == "__main__":
    sys.exit(main())
