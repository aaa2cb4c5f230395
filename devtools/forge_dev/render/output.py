"""Write a render as the YAML stream ``crossplane render`` prints.

Crossplane encodes each object to JSON and then to YAML with go-yaml, so keys
come out sorted, strings that would read as another type (``"True"``, ``""``,
timestamps, numbers) are double quoted, and multi-line strings use ``|``.
Every document is preceded by ``---``.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

import yaml

from forge_dev.render.model import RenderResult


class KubeDumper(yaml.SafeDumper):
    """A safe dumper whose string quoting follows go-yaml's."""


def _represent_str(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style: str | None = None
    if "\n" in text:
        style = "|"
    elif (
        text == ""
        or dumper.resolve(yaml.ScalarNode, text, (True, False)) != "tag:yaml.org,2002:str"
    ):
        style = '"'
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


KubeDumper.add_representer(str, _represent_str)


def dump(obj: Mapping[str, Any]) -> str:
    """One YAML document, keys sorted, no document markers."""
    return yaml.dump(
        obj, Dumper=KubeDumper, sort_keys=True, allow_unicode=True, default_flow_style=False
    )


def dump_stream(objs: Iterable[Mapping[str, Any]]) -> str:
    """Documents each preceded by ``---``, like crossplane render's output."""
    return "".join(f"---\n{dump(obj)}" for obj in objs)


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """Maps merge key by key, anything else is replaced (mergo.Merge WithOverride)."""
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def full_composite(result: RenderResult) -> dict[str, Any]:
    """The XR as ``-x`` prints it: the rendered XR merged over the input XR."""
    return _merge(copy.deepcopy(result.observed_composite), result.composite)


def documents(
    result: RenderResult, *, include_full_xr: bool = False, include_results: bool = False
) -> list[dict[str, Any]]:
    """The objects of the stream in crossplane render's order."""
    docs = [full_composite(result) if include_full_xr else result.composite]
    docs.extend(result.resources)
    if include_results:
        docs.extend(r.manifest() for r in result.results)
    return docs


def to_yaml_stream(
    result: RenderResult, include_full_xr: bool = False, include_results: bool = False
) -> str:
    """The whole rendered output as crossplane render would print it."""
    return dump_stream(
        documents(result, include_full_xr=include_full_xr, include_results=include_results)
    )
