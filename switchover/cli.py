"""The ``switchover`` command (placeholder until the CLI lands)."""


def main() -> None:
    raise SystemExit("switchover: not built yet")
