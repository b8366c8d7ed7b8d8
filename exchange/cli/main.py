"""The ``brandex`` command: a thin click layer over the node's RPCs and the core."""

from __future__ import annotations

import sys

import click

from exchange.cli.agreements import agreement_group
from exchange.cli.audit import audit_group
from exchange.cli.cases import case_group
from exchange.cli.certs import certs_group
from exchange.cli.common import quiet_broken_pipe
from exchange.cli.federation import federation_group
from exchange.cli.imports import export_cmd, import_cmd
from exchange.cli.issue import issue
from exchange.cli.keys import keys_group
from exchange.cli.lang import LANG_OPTION_HELP, add_lang_option, lang_callback
from exchange.cli.log import log_group
from exchange.cli.node import node_group
from exchange.cli.registry import check, search, show
from exchange.cli.status_cmd import status_group
from exchange.cli.watch import watch
from exchange.cli.web import web_group

__all__ = ["cli", "main"]


class _Brandex(click.Group):
    """The top group: a closed pipe (``brandex search x | head -1``) ends every command quietly."""

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        """Every command takes ``--lang`` too (the same choice as ``brandex --lang``)."""
        add_lang_option(cmd)
        super().add_command(cmd, name)

    def invoke(self, ctx: click.Context):
        try:
            try:
                return super().invoke(ctx)
            finally:
                sys.stdout.flush()  # fails here, not at exit, if the reader is gone
        except BrokenPipeError:
            quiet_broken_pipe()


@click.group(cls=_Brandex, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="brandex")
@click.option(
    "--lang",
    type=click.Choice(["zh", "en"], case_sensitive=False),
    default=None,
    expose_value=False,
    is_eager=True,
    callback=lang_callback,
    help=LANG_OPTION_HELP + " Every command also takes --lang.",
)
def cli() -> None:
    """brandex: a federated, verifiable registry of famous-brand recognitions.

    Output is in Chinese with --lang zh (or BRANDEX_LANG=zh, or a zh_* locale);
    JSON and CSV keys and values stay English identifiers in every language.

    Example: brandex node status --config nodes/zhejiang.toml
    """


for command in (certs_group, node_group, log_group, issue, audit_group):
    cli.add_command(command)
for command in (import_cmd, export_cmd, status_group, case_group, agreement_group):
    cli.add_command(command)
for command in (search, show, check, keys_group, federation_group, watch):
    cli.add_command(command)
cli.add_command(web_group)


def main() -> None:
    cli(prog_name="brandex")


if __name__ == "__main__":
    main()
