#!/usr/bin/env python3
"""Benchmark: Iceberg compaction throughput of `meshlake table compact` (read + rewrite + replace commit).

Usage (from the repo root, after `cargo build --release`):

    ~/.cache/meshlake/venv/bin/python benches/iceberg_rewrite.py [--meshlake target/release/meshlake]
        [--batches 60] [--rows 20000] [--spatial]

pyiceberg writes a table into a fresh SqlCatalog (SQLite) under a temporary folder: --batches appends of
--rows rows each (id, region partition, value, WKB point geometry), i.e. 2 x --batches small data files.
meshlake then compacts it once (target 128 MiB, or 8 MiB with --spatial so the sort is also measured),
whole process, wall clock. The report's bytes read + written over that time is the throughput; the time also
holds the row counts before and after (the job reads every data file's first column twice to verify rows).
pyiceberg reads the compacted table back and its row count is checked.

Prints one JSON line with the figures.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import shapely
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.transforms import IdentityTransform
from pyiceberg.types import BinaryType, DoubleType, LongType, NestedField, StringType


def make_table(folder: Path, batches: int, rows: int) -> int:
    import random

    catalog = SqlCatalog("default", uri=f"sqlite:///{folder}/catalog.db", warehouse=f"file://{folder}")
    catalog.create_namespace("ns")
    schema = Schema(
        NestedField(1, "id", LongType(), required=False),
        NestedField(2, "region", StringType(), required=False),
        NestedField(3, "value", DoubleType(), required=False),
        NestedField(4, "geometry", BinaryType(), required=False),
    )
    spec = PartitionSpec(PartitionField(source_id=2, field_id=1000, transform=IdentityTransform(), name="region"))
    table = catalog.create_table("ns.t", schema=schema, partition_spec=spec)
    random.seed(7)
    n = 0
    for _ in range(batches):
        ids = list(range(n, n + rows))
        n += rows
        xs = [random.uniform(-180, 180) for _ in ids]
        ys = [random.uniform(-90, 90) for _ in ids]
        table.append(
            pa.table(
                {
                    "id": pa.array(ids, pa.int64()),
                    "region": pa.array(["east" if x > 0 else "west" for x in xs]),
                    "value": pa.array(xs, pa.float64()),
                    "geometry": pa.array(list(shapely.to_wkb(shapely.points(xs, ys))), pa.binary()),
                }
            )
        )
    return n


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--meshlake", default="target/release/meshlake")
    parser.add_argument("--batches", type=int, default=60)
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--spatial", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rows = make_table(folder, args.batches, args.rows)
        table = f"iceberg+sqlite://{folder}/catalog.db#ns.t"
        command = [args.meshlake, "table", "compact", table, "--json"]
        command += ["--spatial", "--target-size", str(8 * 1024 * 1024)] if args.spatial else []
        started = time.perf_counter()
        out = subprocess.run(command, capture_output=True, text=True, env={"RUST_LOG": "error", "MESHLAKE_CACHE_DIR": str(folder / "cache"), "MESHLAKE_DATA_DIR": str(folder / "data"), "PATH": "/usr/bin:/bin"})
        seconds = time.perf_counter() - started
        if out.returncode != 0:
            print(out.stderr, file=sys.stderr)
            return 1
        report = json.loads(out.stdout)
        moved = report["bytes_read"] + report["bytes_written"]
        catalog = SqlCatalog("default", uri=f"sqlite:///{folder}/catalog.db", warehouse=f"file://{folder}")
        read_back = catalog.load_table("ns.t").scan().to_arrow().num_rows
        result = {
            "binary": args.meshlake,
            "order": report["order"],
            "rows": rows,
            "files_before": report["files_before"],
            "files_after": report["files_after"],
            "bytes_read": report["bytes_read"],
            "bytes_written": report["bytes_written"],
            "seconds": round(seconds, 3),
            "mb_per_s_read_plus_written": round(moved / 1e6 / seconds, 1),
            "rows_verified": report["rows_verified"],
            "pyiceberg_rows_after": read_back,
        }
        print(json.dumps(result))
        return 0 if read_back == rows and report["rows_verified"] else 1


if __name__ == "__main__":
    sys.exit(main())
