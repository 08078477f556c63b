"""``switchover audit``: the audit trail proves itself."""

from __future__ import annotations

import click


@click.group()
def audit() -> None:
    """The audit trail: check its hash chain and write out its head."""
