"""A small set of specimens with every variant, written once for the whole module."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.form_template import FormTemplate, load_templates
from switchover.specimens import VARIANTS, Specimen, write_specimens


@pytest.fixture(scope="session")
def templates() -> dict[str, FormTemplate]:
    return load_templates()


@pytest.fixture(scope="session")
def specimen_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("specimens")


@pytest.fixture(scope="session")
def specimens(specimen_dir: Path) -> list[Specimen]:
    # One of each bundled form, every variant: the slow part of this suite, done once.
    return write_specimens(specimen_dir, count=2, seed=11, variants=VARIANTS)
