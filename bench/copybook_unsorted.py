"""A copybook file not in key order, read by key: records/s and peak memory against the
same records in key order.

Generates the cp037 fixed-length customer file of ``copybook_throughput.py`` twice per
size: once in CUST-ID order and once with its records in a random order (seed 12), and
reads each by CUST-ID through ``CopybookSource.read`` (row dicts, as a migration gets
them) in a child process: the sorted file streams after a first pass over the key, the
shuffled one is sorted on disk. Prints records/s, peak RSS (the child's VmHWM) and the
temporary disk the sort used, as a markdown table. The issue's bar: 5 million records in
under 300 MB.

    .venv/bin/python bench/copybook_unsorted.py [RECORDS ...]   # default 1000000 5000000
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from copybook_throughput import COPYBOOK, RECLEN, _peak_rss_kib, generate

SEED = 12


def measure(copybook: Path, data: Path, key: str) -> dict[str, float]:
    """Runs in the child: read everything by ``key``; rows, seconds, peak RSS, spill size.

    The sort's runs are anonymous files, so their size is watched through /proc/self/fd.
    """
    from legacy_connectors.base import ReadStats
    from legacy_connectors.copybook import open_copybook_source

    source = open_copybook_source(copybook=copybook, data=data)
    stats = ReadStats()
    peak_spill = [0]
    done = threading.Event()

    def watch() -> None:
        fds = Path("/proc/self/fd")
        while not done.wait(0.2):
            spilled = 0
            for fd in list(fds.iterdir()) if fds.exists() else []:
                try:
                    # The sort's runs are anonymous (O_TMPFILE): "/tmp/#123 (deleted)".
                    link = str(fd.readlink())
                    if link.startswith(tempfile.gettempdir()) and link.endswith("(deleted)"):
                        spilled += fd.stat().st_size
                except OSError:
                    pass
            peak_spill[0] = max(peak_spill[0], spilled)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    rows = 0
    previous = -1
    in_order = True
    started = time.perf_counter()
    for batch in source.read("CUSTOMER", [key], stats=stats):
        rows += len(batch)
        in_order = in_order and previous < batch[0][key]
        previous = batch[-1][key]
    seconds = time.perf_counter() - started
    done.set()
    watcher.join()
    return {
        "rows": rows,
        "seconds": seconds,
        "peak_mib": _peak_rss_kib() / 1024,
        "spill_mib": peak_spill[0] / 2**20,
        "in_order": in_order,
        "skipped": len(stats.skipped),
    }


def _child(copybook: Path, data: Path, key: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(copybook), str(data), key],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, float] = json.loads(out.stdout)
    return result


def main(sizes: list[int]) -> None:
    lines = []
    with tempfile.TemporaryDirectory(prefix="copybook-unsorted-") as tmp:
        copybook = Path(tmp) / "customer.cpy"
        copybook.write_text(COPYBOOK)
        for records in sizes:
            sorted_file = Path(tmp) / f"sorted-{records}.dat"
            shuffled_file = Path(tmp) / f"shuffled-{records}.dat"
            generate(sorted_file, records)
            generate(shuffled_file, records, order=np.random.default_rng(SEED).permutation(records))
            runs = [
                ("in key order, by `_record`", sorted_file, "_record"),
                ("in key order, by CUST-ID", sorted_file, "CUST-ID"),
                ("shuffled, by CUST-ID", shuffled_file, "CUST-ID"),
            ]
            rates = {}
            for label, data, key in runs:
                r = _child(copybook, data, key)
                assert r["rows"] == records, r
                assert r["in_order"], r
                assert not r["skipped"], r
                rates[label] = r["rows"] / r["seconds"]
                lines.append(
                    f"| {records:,} | {label} | {r['seconds']:.1f} | {rates[label]:,.0f} "
                    f"| {r['peak_mib']:.0f} | {r['spill_mib']:.0f} |"
                )
            ratio = rates["shuffled, by CUST-ID"] / rates["in key order, by CUST-ID"]
            lines.append(f"| {records:,} | shuffled / in key order | | {ratio:.2f} | | |")
            sorted_file.unlink()
            shuffled_file.unlink()
    print(f"Fixed-length cp037, {RECLEN}-byte records, read by key (CUST-ID, 4-byte binary)\n")
    print("| records | file | seconds | records/s | peak RSS MiB | sort's temporary MiB |")
    print("|---:|---|---:|---:|---:|---:|")
    print("\n".join(lines))
    print(f"\nPython {sys.version.split()[0]}, shuffled with numpy seed {SEED}")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        print(json.dumps(measure(Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4])))
    else:
        main([int(a) for a in sys.argv[1:]] or [1_000_000, 5_000_000])
