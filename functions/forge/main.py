"""The function's command line: the SDK's standard flags and server."""

import click
from crossplane.function import cli as sdkcli

from forge.fn import FunctionRunner


@click.command()
@sdkcli.standard_options
def cli(**kwargs) -> None:
    """Serve the Catalyst Forge composition function over gRPC."""
    sdkcli.run(FunctionRunner(), **kwargs)


if __name__ == "__main__":
    cli()
