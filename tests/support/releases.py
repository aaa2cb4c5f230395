"""What the first render of an infrastructure API gives: its one Helm Release, or a refusal."""

from __future__ import annotations

from typing import Any

from forge_dev.simulate.requests import Rendered


def only_release(out: Rendered, key: str) -> dict[str, Any]:
    """The render composed exactly one resource, ``key``, with no fatal result: that Release."""
    assert not out.fatal
    assert sorted(out.resources) == [key]
    return out.resources[key]


def assert_chart(
    release: dict[str, Any], chart: str, repository: str, version: str, namespace: str
) -> None:
    """The Release installs ``chart`` at ``version`` from ``repository`` into ``namespace``."""
    provider = release["spec"]["forProvider"]
    assert provider["chart"] == {"name": chart, "repository": repository, "version": version}
    assert provider["namespace"] == namespace


def assert_refused(out: Rendered, message: str) -> None:
    """One fatal result, containing ``message`` (the field and the reason); nothing composed."""
    assert len(out.fatal) == 1, out.fatal
    assert message in out.fatal[0]
    assert out.resources == {}
