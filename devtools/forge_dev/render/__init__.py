"""forge-render: render an XR locally, the way ``crossplane composition render`` does.

Client side only: the function server (forge.main) never imports this package.
"""

from forge_dev.render.api import render
from forge_dev.render.errors import FatalResultError, RenderError
from forge_dev.render.model import RenderResult, Result
from forge_dev.render.output import to_yaml_stream
from forge_dev.render.runtime import FunctionServers

__all__ = [
    "FatalResultError",
    "FunctionServers",
    "RenderError",
    "RenderResult",
    "Result",
    "render",
    "to_yaml_stream",
]
