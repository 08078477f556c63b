"""Throughput and memory: the copybook source streaming a fixed-length EBCDIC file.

Generates cp037 files of 1,000,000 and 5,000,000 records (binary, packed-decimal, zoned
and text fields) in a temporary folder, reads each through ``CopybookSource.read`` (row
dicts, as migration gets them) in a child process, and prints records/s and the child's
peak RSS as a markdown table. The issue's bar: 200,000 records/s, and flat memory.

    .venv/bin/python bench/copybook_throughput.py [RECORDS ...]   # default 1000000 5000000
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

COPYBOOK = """\
       01  CUSTOMER.
           05  CUST-ID         PIC 9(9) COMP.
           05  SURNAME         PIC X(20).
           05  FORENAME        PIC X(15).
           05  POSTCODE        PIC X(8).
           05  BIRTH-DATE      PIC 9(8).
           05  BALANCE         PIC S9(9)V99 COMP-3.
           05  CREDIT-LIMIT    PIC S9(7)V99 COMP-3.
           05  VISITS          PIC S9(4) COMP.
           05  STATUS          PIC X.
"""
RECLEN = 4 + 20 + 15 + 8 + 8 + 6 + 5 + 2 + 1
SURNAMES = ["OKAFOR", "SMITH", "NGUYEN", "O'BRIEN", "KOWALSKA", "PATEL", "MACLEOD", "EVANS"]
FORENAMES = ["ADA", "JOHN", "MAI", "SIOBHAN", "AGNIESZKA", "RAVI", "ISLA", "GARETH"]


def _text_column(values: list[str], width: int, index: np.ndarray) -> np.ndarray:
    pool = np.array([list(v.ljust(width).encode("cp037")) for v in values], dtype=np.uint8)
    return pool[index % len(values)]


def _packed(values: np.ndarray, digits: int, size: int) -> np.ndarray:
    """Vectorised COMP-3: ``digits`` digits and a sign nibble in ``size`` bytes."""
    negative = values < 0
    magnitude = np.abs(values)
    nibbles = np.zeros((len(values), 2 * size), dtype=np.uint8)
    for position in range(2 * size - 2, 2 * size - 2 - digits, -1):
        nibbles[:, position] = magnitude % 10
        magnitude //= 10
    nibbles[:, -1] = np.where(negative, 0xD, 0xC)
    return (nibbles[:, 0::2] << 4) | nibbles[:, 1::2]


def generate(
    path: Path, records: int, chunk: int = 500_000, order: np.ndarray | None = None
) -> None:
    """A cp037 fixed-length file of ``records`` varied records, written in chunks; record
    ``k`` is the ``order[k]``-th customer (default: the k-th, so in CUST-ID order)."""
    with path.open("wb") as fh:
        for start in range(0, records, chunk):
            n = min(chunk, records - start)
            i = (
                np.arange(start, start + n, dtype=np.int64)
                if order is None
                else order[start : start + n].astype(np.int64)
            )
            columns = [
                (i + 1).astype(">u4").view(np.uint8).reshape(n, 4),
                _text_column(SURNAMES, 20, i),
                _text_column(FORENAMES, 15, i // 3),
                _text_column(["SW1A 1AA", "EH1 1YZ", "CF10 1EP", "BT1 5GS"], 8, i // 7),
                np.frombuffer(
                    "".join(
                        f"{19400101 + (k % 60) * 10000 + (k % 12) * 100 + k % 28:08d}"
                        for k in range(97)
                    ).encode("cp037"),
                    dtype=np.uint8,
                ).reshape(97, 8)[i % 97],
                _packed((i * 7919) % 10**11 - 5 * 10**10, 11, 6),
                _packed((i * 104729) % 10**9, 9, 5),
                (i % 19999 - 9999).astype(">i2").view(np.uint8).reshape(n, 2),
                _text_column(["A", "C", "X"], 1, i),
            ]
            fh.write(np.hstack(columns).tobytes())


def _peak_rss_kib() -> int:
    """This process's peak RSS. VmHWM, not ru_maxrss: Linux carries ru_maxrss across
    exec, so the child would report the parent's peak (the file generation)."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def measure(copybook: Path, data: Path) -> dict[str, float]:
    """Runs in the child: read everything, return rows, seconds and peak RSS."""
    from legacy_connectors.base import RECORD_NUMBER, ReadStats
    from legacy_connectors.copybook import open_copybook_source

    source = open_copybook_source(copybook=copybook, data=data)
    stats = ReadStats()
    rows = 0
    started = time.perf_counter()
    for batch in source.read("CUSTOMER", [RECORD_NUMBER], stats=stats):
        rows += len(batch)
    seconds = time.perf_counter() - started
    peak_kib = _peak_rss_kib()
    return {
        "rows": rows,
        "seconds": seconds,
        "peak_mib": peak_kib / 1024,
        "skipped": len(stats.skipped),
    }


def main(sizes: list[int]) -> None:
    results = []
    with tempfile.TemporaryDirectory(prefix="copybook-bench-") as tmp:
        copybook = Path(tmp) / "customer.cpy"
        copybook.write_text(COPYBOOK)
        for records in sizes:
            data = Path(tmp) / f"customer-{records}.dat"
            generate(data, records)
            out = subprocess.run(
                [sys.executable, __file__, "--child", str(copybook), str(data)],
                check=True,
                capture_output=True,
                text=True,
            )
            result = json.loads(out.stdout)
            assert result["rows"] == records, result
            assert result["skipped"] == 0, result
            results.append((records, data.stat().st_size, result))
            data.unlink()
    print(f"Fixed-length cp037, {RECLEN}-byte records (binary, 2 packed decimals, zoned, text)\n")
    print("| records | file MB | seconds | records/s | peak RSS MiB |")
    print("|---:|---:|---:|---:|---:|")
    for records, size, r in results:
        rate = r["rows"] / r["seconds"]
        print(
            f"| {records:,} | {size / 1e6:.0f} | {r['seconds']:.2f} | {rate:,.0f} "
            f"| {r['peak_mib']:.0f} |"
        )


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        print(json.dumps(measure(Path(sys.argv[2]), Path(sys.argv[3]))))
    else:
        main([int(a) for a in sys.argv[1:]] or [1_000_000, 5_000_000])
