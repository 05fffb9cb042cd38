#!/usr/bin/env python3
"""Benchmark: a 1 %-selective intersects query over 1,000,000 WKB polygons in GeoParquet files,
`meshlake table query` vs SedonaDB (PyPI `sedonadb`) vs GeoPandas, on the same files.

Usage (from the repo root, after `cargo build --release`):

    ~/.cache/meshlake/venv/bin/python benches/spatial_query.py [--meshlake PATH] [--reps 5]

Needs `sedonadb`, `geopandas`, `shapely`, `pyarrow` and `deltalake` in the venv
(`~/.cache/meshlake/venv/bin/pip install sedonadb geopandas`).

The data is generated once into ~/.cache/meshlake/bench/spatial_query/table-paged (or
$MESHLAKE_BENCH_DIR/spatial_query/table-paged): 1,000,000 irregular pentagons (radius 0.004–0.012°) with centres
uniform in lon 0..20, lat 40..60, sorted by a Z-order key of their centre (as spatially sorted GeoParquet
usually is), written by pyarrow as 10 GeoParquet 1.1 files of 100,000 rows in row groups of 10,000 rows, each
with a `bbox` covering struct column and `geo` metadata naming it (`covering.bbox`), and — as pyarrow writes
when asked (`write_page_index=True`, `max_rows_per_page=1000`, `use_dictionary=False`) — a Parquet page index
(column index + offset index) over plain-encoded data pages of at most 1,000 rows. (Every value is unique; with
pyarrow's default dictionary encoding the first ~8,000 geometries of a row group land in one 0.9 MB dictionary
page that any read of the column must fetch, so pages could not be skipped.) `--no-page-index` writes the same rows into .../table with
pyarrow's defaults instead (no page index, ~1 MB pages: the layout of earlier runs). `meshlake table query`
takes a table, so the folder is made a Delta table in place with `deltalake.convert_to_deltalake` (it only adds
`_delta_log/`; the Parquet files are the very same bytes SedonaDB and GeoPandas read).

The query geometry is a diamond (a square turned 45°) of area 4 deg² = 1 % of the extent, so about 1 % of the
rows intersect it. Contenders, all on a warm page cache, medians over --reps:

- meshlake: `meshlake table query TABLE --intersects WKT --json`, the whole process (start-up, Delta log,
  footers, pruning, decoding, exact predicate); and `meshlake (job)`, the query job alone as the process logs it
  (`finished: … secs=`: Delta log, file list, footers, pruning, decoding, exact predicate — what the
  in-process figures of the Python contenders cover, without process start-up).
- SedonaDB: in one Python process after `import sedonadb`: `connect()`, `read_parquet(files)` and
  `sql("SELECT id … WHERE ST_Intersects(geometry, ST_GeomFromWKT(…))").count()` (its own GeoParquet pruning included).
- GeoPandas: in one Python process after the imports: `read_parquet(files)` (every row) then
  `intersects(query).sum()`; and separately `read_parquet(files, bbox=…)` (pyarrow filters on the covering
  column) then `intersects`.

The matched row counts must be equal across contenders. Prints a table and a JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROWS, FILES, ROW_GROUP = 1_000_000, 10, 10_000
PAGE_ROWS = 1_000  # data pages of at most this many rows, with a page index (unless --no-page-index)
HALF = 2**0.5  # half-diagonal of the diamond: area 2 * HALF**2 = 4 = 1 % of 20 x 20
CX, CY = 10.3, 50.2
QUERY = (
    f"POLYGON(({CX} {CY - HALF}, {CX + HALF} {CY}, {CX} {CY + HALF}, {CX - HALF} {CY}, {CX} {CY - HALF}))"
)
QUERY_BBOX = (CX - HALF, CY - HALF, CX + HALF, CY + HALF)


def bench_dir() -> Path:
    base = os.environ.get("MESHLAKE_BENCH_DIR")
    return (Path(base) if base else Path.home() / ".cache/meshlake/bench") / "spatial_query"


def data_files(table: Path) -> list[str]:
    return sorted(str(p) for p in table.glob("*.parquet"))


def generate(table: Path, page_index: bool) -> None:
    import shutil

    import deltalake
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    import shapely

    done = table / ".complete"
    if done.exists():
        return
    if table.exists():
        shutil.rmtree(table)
    table.mkdir(parents=True)
    started = time.time()
    rng = np.random.default_rng(42)
    cx = rng.uniform(0.0, 20.0, ROWS)
    cy = rng.uniform(40.0, 60.0, ROWS)
    # Z-order (Morton) key of the centre on a 65536 x 65536 grid.
    def spread(v):
        v = v.astype(np.uint64)
        v = (v | (v << np.uint64(8))) & np.uint64(0x00FF00FF)
        v = (v | (v << np.uint64(4))) & np.uint64(0x0F0F0F0F)
        v = (v | (v << np.uint64(2))) & np.uint64(0x33333333)
        v = (v | (v << np.uint64(1))) & np.uint64(0x55555555)
        return v
    gx = np.minimum(cx / 20.0 * 65536, 65535)
    gy = np.minimum((cy - 40.0) / 20.0 * 65536, 65535)
    order = np.argsort(spread(gx) | (spread(gy) << np.uint64(1)), kind="stable")
    cx, cy = cx[order], cy[order]
    # Irregular pentagons: 5 angles spread around the circle, radius 0.004..0.012.
    base = np.linspace(0, 2 * np.pi, 5, endpoint=False)
    angles = base[None, :] + rng.uniform(0, 0.8, (ROWS, 5)) + rng.uniform(0, 2 * np.pi, (ROWS, 1))
    radii = rng.uniform(0.004, 0.012, (ROWS, 5))
    ring = np.empty((ROWS, 6, 2))
    ring[:, :5, 0] = cx[:, None] + radii * np.cos(angles)
    ring[:, :5, 1] = cy[:, None] + radii * np.sin(angles)
    ring[:, 5] = ring[:, 0]
    polygons = shapely.polygons(ring)
    wkb = shapely.to_wkb(polygons, output_dimension=2)
    bounds = shapely.bounds(polygons)
    per_file = ROWS // FILES
    bbox_type = pa.struct([(k, pa.float64()) for k in ("xmin", "ymin", "xmax", "ymax")])
    for f in range(FILES):
        lo, hi = f * per_file, (f + 1) * per_file
        b = bounds[lo:hi]
        file_bbox = [float(b[:, 0].min()), float(b[:, 1].min()), float(b[:, 2].max()), float(b[:, 3].max())]
        geo = {
            "version": "1.1.0",
            "primary_column": "geometry",
            "columns": {
                "geometry": {
                    "encoding": "WKB",
                    "geometry_types": ["Polygon"],
                    "bbox": file_bbox,
                    "covering": {
                        "bbox": {k: ["bbox", k] for k in ("xmin", "ymin", "xmax", "ymax")}
                    },
                }
            },
        }
        bbox = pa.StructArray.from_arrays(
            [pa.array(b[:, i]) for i in range(4)], fields=list(bbox_type)
        )
        t = pa.table(
            {
                "id": pa.array(np.arange(lo, hi, dtype=np.int64)),
                "value": pa.array(rng.random(hi - lo)),
                "geometry": pa.array(list(wkb[lo:hi]), pa.binary()),
                "bbox": bbox,
            }
        )
        t = t.replace_schema_metadata({"geo": json.dumps(geo)})
        paging = {"write_page_index": True, "max_rows_per_page": PAGE_ROWS, "use_dictionary": False} if page_index else {}
        pq.write_table(t, table / f"part-{f:05d}.parquet", row_group_size=ROW_GROUP, compression="snappy", **paging)
    deltalake.convert_to_deltalake(str(table))
    done.write_text(f"{ROWS} polygons in {FILES} files written in {time.time() - started:.1f} s\n")


def run_child(args: list[str]) -> tuple[float, int, str, str]:
    """Wall seconds, peak RSS (bytes), stdout and stderr of a child process."""
    started = time.perf_counter()
    child = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = child.stdout.read() if child.stdout else b""
    err = child.stderr.read() if child.stderr else b""
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.exit(f"{args[0]} failed ({code}):\n{err.decode(errors='replace')}")
    return wall, usage.ru_maxrss * 1024, out.decode(), err.decode(errors="replace")


PY_SEDONA = """
import json, sys, time
import sedonadb
files, wkt = json.loads(sys.argv[1]), sys.argv[2]
started = time.perf_counter()
sd = sedonadb.connect()
sd.read_parquet(files).to_view("polygons")
rows = sd.sql(f"SELECT id FROM polygons WHERE ST_Intersects(geometry, ST_SetSRID(ST_GeomFromWKT('{wkt}'), 4326))").count()
print(time.perf_counter() - started, rows)
"""

PY_GEOPANDAS = """
import json, sys, time
import geopandas, shapely
files, wkt, bbox = json.loads(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
query = shapely.from_wkt(wkt)
started = time.perf_counter()
if bbox:
    frame = geopandas.pd.concat([geopandas.read_parquet(f, columns=["geometry"], bbox=tuple(bbox)) for f in files])
else:
    frame = geopandas.pd.concat([geopandas.read_parquet(f, columns=["geometry"]) for f in files])
rows = int(frame.geometry.intersects(query).sum())
print(time.perf_counter() - started, rows)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    target = Path(os.environ.get("CARGO_TARGET_DIR", str(Path.home() / ".cache/meshlake/target")))
    parser.add_argument("--meshlake", default=str(target / "release/meshlake"))
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--no-page-index", action="store_true",
                        help="the files without a page index and with pyarrow's default pages (into table/, not table-paged/)")
    parser.add_argument("--skip-geopandas", action="store_true", help="leave out the (slow) full GeoPandas read")
    args = parser.parse_args()
    if not Path(args.meshlake).exists():
        sys.exit(f"{args.meshlake} does not exist; run cargo build --release or pass --meshlake")
    python = sys.executable
    table = bench_dir() / ("table" if args.no_page_index else "table-paged")
    generate(table, not args.no_page_index)
    files = json.dumps(data_files(table))

    contenders = ["meshlake", "sedonadb", "geopandas_bbox"] + ([] if args.skip_geopandas else ["geopandas"])
    job_times: list[float] = []
    times: dict[str, list[float]] = {k: [] for k in contenders}
    rss: dict[str, list[int]] = {k: [] for k in contenders}
    matched: dict[str, set[int]] = {k: set() for k in contenders}
    pruning = {}
    for rep in range(args.reps):
        order = contenders if rep % 2 == 0 else list(reversed(contenders))
        for who in order:
            if who == "meshlake":
                wall, peak, out, err = run_child([args.meshlake, "table", "query", str(table), "--intersects", QUERY, "--json"])
                report = json.loads(out)
                job = re.search(r"finished: Spatial query .* secs=([0-9.]+)", err)
                if not job:
                    sys.exit(f"no job time in meshlake's log:\n{err}")
                job_times.append(float(job.group(1)))
                rows = int(report["rows_matched"])
                pruning = {k: report.get(k) for k in ("files_total", "files_scanned", "row_groups_total",
                                                      "row_groups_scanned", "bytes_total", "bytes_scanned", "pages_total", "pages_scanned",
                                                      "rows_read", "rows_decoded")}
            elif who == "sedonadb":
                wall, peak, out, _ = run_child([python, "-c", PY_SEDONA, files, QUERY])
                wall, rows = float(out.split()[0]), int(out.split()[1])
            else:
                bbox = json.dumps(list(QUERY_BBOX) if who == "geopandas_bbox" else None)
                wall, peak, out, _ = run_child([python, "-c", PY_GEOPANDAS, files, QUERY, bbox])
                wall, rows = float(out.split()[0]), int(out.split()[1])
            times[who].append(wall)
            rss[who].append(peak)
            matched[who].add(rows)
    counts = {who: sorted(m) for who, m in matched.items()}
    if len({tuple(c) for c in counts.values()}) != 1 or len(next(iter(counts.values()))) != 1:
        sys.exit(f"matched row counts differ: {counts}")
    rows = next(iter(matched["meshlake"]))
    med = {who: statistics.median(t) for who, t in times.items()}
    med["meshlake (job)"] = statistics.median(job_times)
    print(f"{ROWS:,} polygons in {FILES} GeoParquet files; intersects query matching {rows:,} rows "
          f"({100 * rows / ROWS:.2f} %); medians of {args.reps}")
    print(f"{'contender':<16} {'seconds':>8} {'peak RSS MiB':>13} {'x meshlake (job)':>18}")
    for who in ["meshlake (job)"] + contenders:
        peak = statistics.median(rss[who if who in rss else "meshlake"]) / 2**20
        print(f"{who:<16} {med[who]:>8.3f} {peak:>13.0f} {med[who] / med['meshlake (job)']:>17.1f}x")
    print("meshlake pruning:", pruning)
    print(json.dumps({"rows": ROWS, "rows_matched": rows, "median_s": med,
                      "peak_rss": {w: statistics.median(r) for w, r in rss.items()}, "pruning": pruning}))


if __name__ == "__main__":
    main()
