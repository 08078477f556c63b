"""``switchover records``: approved records after review: delivery and erasure."""

from __future__ import annotations

import click


@click.group()
def records() -> None:
    """Approved records: where they are delivered, and erasing one person's data."""
