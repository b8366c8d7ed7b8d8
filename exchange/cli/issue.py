"""``brandex issue``: sign one recognition into the node's own log."""

from __future__ import annotations

import click

from exchange.cli.common import client_options, connect, emit_one, handle_errors, output_option
from exchange.cli.lang import region_text, tr
from exchange.cli.options import DATE, REGION, enum_names, sent
from exchange.core.vocabulary import Kind, Sector

__all__ = ["issue"]

_KINDS = enum_names(Kind)
_SECTORS = enum_names(Sector)


@click.command("issue")
@click.option("--record-id", required=True, help="Issuer-scoped, stable record id.")
@click.option("--kind", required=True, type=click.Choice(_KINDS, case_sensitive=False))
@click.option("--sector", required=True, type=click.Choice(_SECTORS, case_sensitive=False))
@click.option("--brand", "brand_name", required=True, help="Brand name (Chinese).")
@click.option("--latin", "brand_name_latin", default="", help="Latin brand name.")
@click.option("--product", default="")
@click.option("--nice", "nice_classes", multiple=True, type=int, help="Nice class (repeat).")
@click.option("--industry", "industry_code", default="", help="GB/T 4754 code, e.g. C38.")
@click.option("--enterprise", "enterprise_name", required=True)
@click.option("--uscc", "enterprise_uscc", required=True, help="Unified social credit code.")
@click.option(
    "--enterprise-region", type=REGION, required=True, help="Enterprise region (code or name)."
)
@click.option("--certificate", "certificate_no", required=True, help="Certificate number.")
@click.option("--announcement", "announcement_no", required=True)
@click.option("--recognised-on", type=DATE, required=True, help="Date of the decision.")
@click.option("--valid-from", type=DATE, required=True, help="Start of validity.")
@click.option("--valid-until", type=DATE, default=None, help="Omit for kinds without expiry.")
@client_options
@output_option
@handle_errors
def issue(config_path, node_addr, cert, key, fmt, **fields) -> None:
    """Issue one recognition (operator certificate of the node's own region).

    Example: brandex issue --config nodes/zhejiang.toml --record-id zj-2026-0001
    --kind PROVINCIAL_FAMOUS_BRAND_PRODUCT --sector INDUSTRIAL --brand 西湖
    --product 龙井茶 --enterprise 杭州西湖茶业有限公司 --uscc 91330100MA2XXXXXXX
    --enterprise-region 330106 --certificate ZJMP-2026-0001 --announcement 浙质发〔2026〕1号
    --recognised-on 2026-01-15 --valid-from 2026-01-15 --valid-until 2028-12-31 --format json
    """
    fields["kind"] = fields["kind"].upper()
    fields["sector"] = fields["sector"].upper()
    fields["valid_until"] = fields["valid_until"] or ""
    fields["nice_classes"] = list(fields["nice_classes"])
    client = connect(config_path, node_addr, cert, key)
    with sent(refused=False):
        resp = client.issue(fields)
    word = "already issued" if resp.duplicate else "issued"
    row = {"result": word, "origin": resp.origin, "index": resp.index}
    if fmt == "table":
        click.echo(
            tr(
                "{result}: {case} (entry {origin} #{index})",
                result=tr(word),
                case=f"{region_text(client.config.region)}/{fields['record_id']}",
                origin=resp.origin,
                index=resp.index,
            )
        )
    else:
        emit_one(row, list(row), fmt)
