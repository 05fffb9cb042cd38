#!/usr/bin/env python3
"""Benchmark: compaction of a Delta table of 2,000 small files, `meshlake table compact` vs the Python
`deltalake` package's `DeltaTable.optimize.compact()`.

Usage (from the repo root, after `cargo build --release`):

    ~/.cache/meshlake/venv/bin/python benches/delta_compact.py [--meshlake PATH] [--reps 3]

The source table is generated once into ~/.cache/meshlake/bench/delta_compact/source (or
$MESHLAKE_BENCH_DIR/delta_compact/source) by the `deltalake` package: 200 appends × 10 partitions = 2,000
files of 500 rows (id, part, value, WKB point geometry, bbox struct). For every repetition the source is
copied twice (fresh copies, warm page cache) and each copy is compacted by one contender, both as whole
processes (start-up included) with the same target size (100 MiB):

- meshlake: `meshlake table compact COPY --target-size 104857600 --json`
- deltalake: `python -c "DeltaTable(COPY).optimize.compact(target_size=104857600)"` (imports included) and,
  separately, the in-process time of the `optimize.compact()` call alone.

Wall time and peak RSS (os.wait4 of each child) are reported, medians over --reps. Each result is checked:
one file per partition afterwards and the same row count as before. Prints a table and a JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET = 104_857_600
APPENDS, PARTITIONS, ROWS = 200, 10, 500


def bench_dir() -> Path:
    base = os.environ.get("MESHLAKE_BENCH_DIR")
    return (Path(base) if base else Path.home() / ".cache/meshlake/bench") / "delta_compact"


def generate(source: Path) -> None:
    import random

    import deltalake
    import pyarrow as pa
    import shapely

    done = source / ".complete"
    if done.exists():
        return
    if source.exists():
        shutil.rmtree(source)
    rng = random.Random(42)
    bbox_type = pa.struct([(k, pa.float64()) for k in ("xmin", "ymin", "xmax", "ymax")])
    next_id = 0
    started = time.time()
    for a in range(APPENDS):
        ids, parts, values, geoms, boxes = [], [], [], [], []
        for p in range(PARTITIONS):
            for _ in range(ROWS):
                x, y = rng.uniform(0, 1000), rng.uniform(0, 1000)
                ids.append(next_id)
                parts.append(f"p{p}")
                values.append(rng.random())
                geoms.append(shapely.to_wkb(shapely.Point(x, y)))
                boxes.append({"xmin": x, "ymin": y, "xmax": x, "ymax": y})
                next_id += 1
        table = pa.table(
            {"id": ids, "part": parts, "value": values, "geometry": geoms, "bbox": pa.array(boxes, bbox_type)}
        )
        deltalake.write_deltalake(str(source), table, mode="append", partition_by=["part"])
    done.write_text(f"{APPENDS * PARTITIONS} files written in {time.time() - started:.1f} s\n")


def run_child(args: list[str]) -> tuple[float, int, str]:
    """Wall seconds, peak RSS (bytes) and stdout of a child process."""
    started = time.perf_counter()
    child = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = child.stdout.read() if child.stdout else b""
    err = child.stderr.read() if child.stderr else b""
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        sys.exit(f"{args[0]} failed ({child.returncode}):\n{err.decode(errors='replace')}")
    return wall, usage.ru_maxrss * 1024, out.decode()


PY_COMPACT = """
import sys, time, deltalake
t = deltalake.DeltaTable(sys.argv[1])
started = time.perf_counter()
metrics = t.optimize.compact(target_size=int(sys.argv[2]))
print(time.perf_counter() - started, metrics["numFilesAdded"], metrics["numFilesRemoved"])
import os; sys.stdout.flush(); os._exit(0)
"""

PY_CHECK = """
import sys, deltalake
t = deltalake.DeltaTable(sys.argv[1])
print(len(t.file_uris()), t.to_pyarrow_dataset().count_rows())
import os; sys.stdout.flush(); os._exit(0)
"""


def check(python: str, table: Path, expected_rows: int, who: str) -> None:
    files, rows = map(int, subprocess.check_output([python, "-c", PY_CHECK, str(table)]).split())
    if files != PARTITIONS or rows != expected_rows:
        sys.exit(f"{who}: {files} files / {rows} rows after compaction, expected {PARTITIONS} / {expected_rows}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--meshlake", default=str(Path(os.environ.get("CARGO_TARGET_DIR", str(Path.home() / ".cache/meshlake/target"))) / "release/meshlake"))
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    if not Path(args.meshlake).exists():
        sys.exit(f"{args.meshlake} does not exist; run cargo build --release or pass --meshlake")
    python = sys.executable
    source = bench_dir() / "source"
    generate(source)
    expected_rows = APPENDS * PARTITIONS * ROWS

    figures: dict[str, list[float]] = {k: [] for k in ("meshlake_s", "meshlake_rss", "deltalake_s", "deltalake_rss", "deltalake_call_s")}
    for rep in range(args.reps):
        with tempfile.TemporaryDirectory(prefix="delta_compact_") as tmp:
            ours, theirs = Path(tmp) / "meshlake", Path(tmp) / "deltalake"
            shutil.copytree(source, ours)
            shutil.copytree(source, theirs)
            # Alternate who goes first so neither always gets the warmer cache.
            order = ["meshlake", "deltalake"] if rep % 2 == 0 else ["deltalake", "meshlake"]
            for who in order:
                if who == "meshlake":
                    wall, rss, out = run_child(
                        [args.meshlake, "table", "compact", str(ours), "--target-size", str(TARGET), "--json"]
                    )
                    report = json.loads(out)
                    if not report.get("rows_verified"):
                        sys.exit(f"meshlake did not verify the rows: {report}")
                    figures["meshlake_s"].append(wall)
                    figures["meshlake_rss"].append(rss)
                    check(python, ours, expected_rows, "meshlake")
                else:
                    wall, rss, out = run_child([python, "-c", PY_COMPACT, str(theirs), str(TARGET)])
                    figures["deltalake_s"].append(wall)
                    figures["deltalake_rss"].append(rss)
                    figures["deltalake_call_s"].append(float(out.split()[0]))
                    check(python, theirs, expected_rows, "deltalake")

    median = {k: statistics.median(v) for k, v in figures.items()}
    ratio = median["meshlake_s"] / median["deltalake_s"]
    print(f"compaction of {APPENDS * PARTITIONS} files ({expected_rows} rows) into {PARTITIONS}, median of {args.reps}")
    print(f"{'contender':<34}{'wall s':>10}{'peak RSS MiB':>15}")
    print(f"{'meshlake table compact (process)':<34}{median['meshlake_s']:>10.2f}{median['meshlake_rss'] / 2**20:>15.1f}")
    print(f"{'deltalake optimize (process)':<34}{median['deltalake_s']:>10.2f}{median['deltalake_rss'] / 2**20:>15.1f}")
    print(f"{'deltalake optimize (call only)':<34}{median['deltalake_call_s']:>10.2f}{'':>15}")
    print(f"meshlake / deltalake (processes): {ratio:.2f}x (target <= 1.1x)")
    print(json.dumps({"median": median, "ratio": ratio, "runs": figures}))


if __name__ == "__main__":
    main()
