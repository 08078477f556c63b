"""Field accuracy of ``forms extract`` on random form designs it was never tuned on.

Like ``bench/field_accuracy.py``, but each design is a new form
(``switchover.specimens.random_design``) with its own template: fields, labels and
layout drawn from the seed. Reported figures come from design seeds 100000 and up,
which nobody looks at while tuning; tune on seeds 1-999 with ``--tuning``, which
lists the misses by field kind and layout feature (never the values).

    .venv/bin/python bench/random_designs.py [DESIGN_SEED_START] [COUNT] [COPIES]
        [--variants digital,scan,photo] [--tuning]
    # defaults: 100000 30 6, all three variants
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from domain.forms import FormExtraction
from ocr import extract_files
from switchover.specimens import DesignSpecimen, FieldScore, write_design_specimens

HELD_OUT = 100_000  # design seeds from here on are for reported figures only
BUCKETS = ((0.0, 0.5), (0.5, 0.8), (0.8, 0.9), (0.9, 0.95), (0.95, 1.01))


@dataclass(frozen=True)
class Miss:
    """A field extracted wrong: where and how, never what it says."""

    variant: str
    design_seed: int
    copy: int
    field: str
    kind: str
    style: str
    features: tuple[str, ...]
    flagged: bool
    confidence: float
    problem: str


@dataclass
class Tally:
    """Scores per variant, confidence calibration and misses over the whole run."""

    scores: dict[str, FieldScore]
    forms: Counter[str] = field(default_factory=Counter)
    approved: Counter[str] = field(default_factory=Counter)
    failed: int = 0
    calibration: list[tuple[float, bool]] = field(default_factory=list)
    misses: list[Miss] = field(default_factory=list)
    by_style: dict[str, list[bool]] = field(default_factory=lambda: defaultdict(list))


def main() -> None:
    args = _arguments()
    if args.tuning and args.start + args.count > HELD_OUT:
        sys.exit(f"--tuning is for design seeds below {HELD_OUT}; those are held out for figures")
    jobs = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        seeds = range(args.start, args.start + args.count)
        written = write_design_specimens(Path(folder), seeds, args.copies, args.variants)
        generated = time.perf_counter() - started
        tally = Tally(scores={v: FieldScore() for v in args.variants})
        for seed in seeds:
            _extract_design(
                [w for w in written if w.design.seed == seed], args.variants, tally, jobs
            )
        extracted = time.perf_counter() - started - generated
    print(
        f"Field accuracy on random designs {seeds.start}-{seeds.stop - 1} ({args.count} designs "
        f"x {args.copies} copies), generated in {generated:.0f} s, extracted in {extracted:.0f} s "
        f"with {jobs} processes"
    )
    _print_accuracy(tally, args.variants)
    _print_calibration(tally)
    if args.tuning:
        _print_misses(tally)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("start", nargs="?", type=int, default=HELD_OUT, help="first design seed")
    parser.add_argument("count", nargs="?", type=int, default=30, help="how many designs")
    parser.add_argument("copies", nargs="?", type=int, default=6, help="filled copies per design")
    parser.add_argument(
        "--variants",
        default="digital,scan,photo",
        type=lambda text: tuple(text.split(",")),
        help="comma-separated",
    )
    parser.add_argument(
        "--tuning",
        action="store_true",
        help="list misses by field kind and layout feature (seeds below 100000)",
    )
    return parser.parse_args()


def _extract_design(
    copies: list[DesignSpecimen], variants: tuple[str, ...], tally: Tally, jobs: int
) -> None:
    """One pool for every copy and variant of a design: they share its template."""
    template = copies[0].design.template
    work = [(copy, variant) for copy in copies for variant in variants]
    results = extract_files(
        [c.files[v] for c, v in work],
        {template.form_type: template},
        form_type=template.form_type,
        jobs=jobs,
    )
    for (copy, variant), result in zip(work, results, strict=True):
        tally.forms[variant] += 1
        if not isinstance(result, FormExtraction):
            # A file that fails outright counts as every field wrong and unflagged.
            tally.scores[variant].add(copy.truth, {}, set(), f"{variant} {type(result).__name__}")
            tally.failed += 1
            continue
        _score(copy, variant, result, tally)


def _score(copy: DesignSpecimen, variant: str, result: FormExtraction, tally: Tally) -> None:
    values = {name: f.value for name, f in result.fields.items()}
    flagged = {r.field for r in result.reasons}
    tally.scores[variant].add(copy.truth, values, flagged, result.file)
    tally.approved[variant] += not result.needs_review
    layouts = copy.design.layouts
    for name, expected in copy.truth.items():
        extracted = result.fields.get(name)
        confidence = extracted.confidence if extracted else 0.0
        right = values.get(name) == expected
        tally.calibration.append((confidence, right))
        item = layouts[name]
        for feature in item.features:
            tally.by_style[feature].append(right)
        if not right:
            problem = (extracted.error if extracted else None) or (
                "missing" if not extracted else ""
            )
            tally.misses.append(
                Miss(
                    variant,
                    copy.design.seed,
                    copy.copy,
                    name,
                    item.kind,
                    str(item.style),
                    tuple(sorted(item.features)),
                    name in flagged,
                    confidence,
                    problem,
                )
            )


def _print_accuracy(tally: Tally, variants: tuple[str, ...]) -> None:
    print("| input | fields | exactly right | wrong, not flagged | approved without review |")
    print("|---|---|---|---|---|")
    total = FieldScore()
    for variant in variants:
        score = tally.scores[variant]
        total.fields += score.fields
        total.right += score.right
        total.wrong_unflagged += score.wrong_unflagged
        forms = tally.forms[variant] or 1
        print(
            f"| {variant} | {score.fields} | {100 * score.exact_rate:.1f}% | "
            f"{100 * score.wrong_unflagged_rate:.2f}% | "
            f"{100 * tally.approved[variant] / forms:.0f}% |"
        )
    forms = sum(tally.forms.values()) or 1
    print(
        f"| all | {total.fields} | {100 * total.exact_rate:.1f}% | "
        f"{100 * total.wrong_unflagged_rate:.2f}% | "
        f"{100 * sum(tally.approved.values()) / forms:.0f}% |"
    )
    if tally.failed:
        print(f"  files that failed: {tally.failed}")


def _print_calibration(tally: Tally, min_confidence: float = 0.80) -> None:
    """Whether a confidence means what it says: the share right in each bucket."""
    print("\n| confidence | fields | share right |")
    print("|---|---|---|")
    for low, high in BUCKETS:
        inside = [right for confidence, right in tally.calibration if low <= confidence < high]
        share = f"{100 * sum(inside) / len(inside):.1f}%" if inside else "-"
        print(f"| {low:.2f}-{min(high, 1.0):.2f} | {len(inside)} | {share} |")
    trusted = [right for confidence, right in tally.calibration if confidence >= min_confidence]
    if trusted:
        print(
            f"\nShare right among fields at or above min_confidence {min_confidence:.2f}: "
            f"{100 * sum(trusted) / len(trusted):.1f}% of {len(trusted)}"
        )


def _print_misses(tally: Tally) -> None:
    """For tuning: exact rate by layout feature, then every miss (no values)."""
    print("\n| layout feature | fields | exactly right |")
    print("|---|---|---|")
    for feature, rights in sorted(tally.by_style.items(), key=lambda kv: sum(kv[1]) / len(kv[1])):
        print(f"| {feature} | {len(rights)} | {100 * sum(rights) / len(rights):.1f}% |")
    print(
        "\nMisses (variant, design, copy, field, kind, style, features, flag, confidence, problem):"
    )
    for m in tally.misses:
        flag = "flagged" if m.flagged else "UNFLAGGED"
        print(
            f"  {m.variant} design {m.design_seed} copy {m.copy} {m.field} kind={m.kind} "
            f"style={m.style} features={','.join(m.features)} {flag} "
            f"conf={m.confidence:.2f} {m.problem}"
        )


if __name__ == "__main__":
    main()
