"""Longer fuzz runs than CI's: per target, how many inputs ran, how they came out, the
distinct errors of ours, and every escape (anything that is not one of our errors, or
one that does not name its file) with the first input that showed it.

    .venv/bin/python bench/fuzz.py --examples 20000            # every target, random seed
    .venv/bin/python bench/fuzz.py --target documents --examples 2000 --seed 7
    .venv/bin/python bench/fuzz.py --examples 500 --markdown   # a table for RESULTS.md

The targets and their inputs are the CI tests' (``tests/fuzz``); here they run without
``derandomize``, so each run explores new inputs. Exit 1 when any escape was found.
"""

from __future__ import annotations

import argparse
import json
import pickle
import random
import re
import sys
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' fuzz targets

from hypothesis import HealthCheck, Phase, given, seed, settings

from tests.fuzz.targets import TARGETS, Outcome, Target, check


@dataclass
class Tally:
    target: str
    examples: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    messages: set[str] = field(default_factory=set)
    escapes: dict[str, tuple[Outcome, str]] = field(default_factory=dict)
    seconds: float = 0.0


def run(target: Target, examples: int, run_seed: int, save: Path | None = None) -> Tally:
    tally = Tally(target.name)

    @seed(run_seed)
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(target.inputs())
    def fuzz(args: tuple[Any, ...]) -> None:
        result = check(target, *args)
        tally.examples += 1
        tally.kinds[result.kind] += 1
        if result.kind == "error":
            tally.errors[result.label] += 1
            tally.messages.add(_shape(result.detail))
        elif result.kind == "escape" and result.label not in tally.escapes:
            if save is not None:
                save.mkdir(parents=True, exist_ok=True)
                name = f"{target.name}-{len(tally.escapes) + 1}.pickle"
                (save / name).write_bytes(pickle.dumps(args))
            shown = repr(args)
            tally.escapes[result.label] = (
                result,
                shown[:600] + ("..." if len(shown) > 600 else ""),
            )

    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fuzz()
    tally.seconds = time.perf_counter() - started
    return tally


def _shape(message: str) -> str:
    """An error message with its file, numbers and quoted text taken out: two messages of
    one shape are one kind of error."""
    message = re.sub(r"/tmp/\S+?(?=[,:\s])", "FILE", message)
    message = re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", message)
    return re.sub(r"\d+", "#", message)[:160]


def markdown(tallies: list[Tally], examples: int, run_seed: int) -> str:
    lines = [
        f"Per target: {examples} examples asked (seed {run_seed}); a target whose inputs "
        "Hypothesis finds few distinct ones of may run fewer.",
        "",
        "| target | examples | read | our errors | error types | distinct errors | escapes "
        "| inputs/s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for t in tallies:
        rate = t.examples / t.seconds if t.seconds else 0
        lines.append(
            f"| {t.target} | {t.examples} | {t.kinds['ok']} | {t.kinds['error']} | "
            f"{len(t.errors)} | {len(t.messages)} | {len(t.escapes)} | {rate:.1f} |"
        )
    for t in tallies:
        for label, (_result, _shown) in t.escapes.items():
            lines.append(f"\n- {t.target}: escape {label}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", action="append", choices=sorted(TARGETS),
                        help="a target (repeatable); every target when left out")  # fmt: skip
    parser.add_argument("--examples", type=int, default=2000, help="inputs per target")
    parser.add_argument("--seed", type=int, default=None, help="default: a random seed")
    parser.add_argument("--markdown", action="store_true", help="print a table for RESULTS.md")
    parser.add_argument("--save", type=Path, help="keep each escape's input here (pickle)")
    parser.add_argument("--json", action="store_true", help="print the tallies as JSON")
    args = parser.parse_args()
    run_seed = args.seed if args.seed is not None else random.randrange(2**32)
    names = args.target or list(TARGETS)
    tallies = []
    for name in names:
        tally = run(TARGETS[name], args.examples, run_seed, args.save)
        tallies.append(tally)
        print(
            f"{name}: {tally.examples} examples in {tally.seconds:.0f} s: "
            f"{tally.kinds['ok']} read, {tally.kinds['error']} our errors "
            f"({len(tally.errors)} types, {len(tally.messages)} distinct), "
            f"{len(tally.escapes)} escapes",
            file=sys.stderr,
        )
        for label, (result, shown) in tally.escapes.items():
            print(f"  ESCAPE {label}: {result.detail}\n    input: {shown}", file=sys.stderr)
    if args.json:
        print(json.dumps([
            {"target": t.target, "examples": t.examples, "outcomes": dict(t.kinds),
             "errors": dict(t.errors), "distinct_errors": len(t.messages),
             "escapes": {k: v[0].detail for k, v in t.escapes.items()},
             "seconds": round(t.seconds, 1), "seed": run_seed}
            for t in tallies
        ], indent=2))  # fmt: skip
    if args.markdown:
        print(markdown(tallies, args.examples, run_seed))
    return 1 if any(t.escapes for t in tallies) else 0


if __name__ == "__main__":
    sys.exit(main())
