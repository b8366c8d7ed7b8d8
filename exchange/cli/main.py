"""The ``brandex`` command: a thin click layer over the node's RPCs and the core."""

from __future__ import annotations

import click

from exchange.cli.agreements import agreement_group
from exchange.cli.audit import audit_group
from exchange.cli.cases import case_group
from exchange.cli.certs import certs_group
from exchange.cli.imports import export_cmd, import_cmd
from exchange.cli.issue import issue
from exchange.cli.keys import keys_group
from exchange.cli.log import log_group
from exchange.cli.node import node_group
from exchange.cli.registry import check, search, show
from exchange.cli.status_cmd import status_group

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="brandex")
def cli() -> None:
    """brandex: a federated, verifiable registry of famous-brand recognitions.

    Example: brandex node status --config nodes/zhejiang.toml
    """


for command in (certs_group, node_group, log_group, issue, audit_group):
    cli.add_command(command)
for command in (import_cmd, export_cmd, status_group, case_group, agreement_group):
    cli.add_command(command)
for command in (search, show, check, keys_group):
    cli.add_command(command)


def main() -> None:
    cli(prog_name="brandex")


if __name__ == "__main__":
    main()
