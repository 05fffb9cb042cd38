#!/usr/bin/env python3
"""Benchmark: open + history of a long Delta table and a long Iceberg table, meshlake vs the Python peers.

Usage (from the repo root, after `cargo build --release`):

    ~/.cache/meshlake/venv/bin/python benches/lake_history.py [--meshlake target/release/meshlake] [--reps 7]

The two tables are generated once into ~/.cache/meshlake/bench/ (or $MESHLAKE_BENCH_DIR) and reused:

- delta-5000: 5,000 commits written by the `deltalake` package (one small append each), table property
  delta.checkpointInterval=100; a checkpoint every 100 versions is verified (and written with
  create_checkpoint() where the writer did not).
- iceberg-1000: 1,000 snapshots (one small append each) written by pyiceberg into a SqlCatalog (SQLite).

What is measured, per table, median of --reps repetitions after one warm-up (warm OS page cache for everyone):

- meshlake in-process: `meshlake bench open TABLE --reps N` times the Tables panel's open (engine::lake::table_overview:
  overview + whole history; for Iceberg from the snapshot summary and one manifest) inside one warm process, against
  the peers in a warm interpreter.
- meshlake: two whole processes, `meshlake table info TABLE --json` and `meshlake table history TABLE --json`
  (info reads every live file, to count small files per partition; what the Overview's health figures need), wall clock,
  including process start-up and JSON printing. For Iceberg twice: with a warm manifest cache (the summaries
  of the manifests cached under MESHLAKE_CACHE_DIR by the warm-up run, i.e. re-opening a table) and with a
  cold one (an empty MESHLAKE_CACHE_DIR for every run, i.e. the first open: every manifest decoded).
- deltalake (in-process, interpreter and imports already warm): `DeltaTable(path)` (loads the latest version
  from the last checkpoint + later commits), `.history()` (every commit), and the info equivalent:
  `.version()`, `.schema()`, `.metadata()`, `.protocol()`, file count/bytes/rows from `get_add_actions()`.
- pyiceberg (in-process, warm): `SqlCatalog(...)` + `load_table()` (reads the current metadata.json),
  `.history()` and `.snapshots()` (what metadata.json holds), and the info equivalent: the current snapshot's
  summary (rows, files, bytes) and the schema. This reads no manifest, while `meshlake table info` reads every
  manifest of the current snapshot (1,000 here) to count files, bytes and small files per partition; so a second
  pyiceberg row does the same work as meshlake: the above plus `scan().plan_files()` (every live data file).
- Both peers once more as whole processes (`python -c`, interpreter start-up and imports included), which is how
  meshlake is measured.

Prints a table and a JSON line with the figures; exits non-zero when a check on the generated tables fails.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

DELTA_COMMITS = 5000
CHECKPOINT_INTERVAL = 100
ICEBERG_SNAPSHOTS = 1000


def bench_dir() -> Path:
    return Path(os.environ.get("MESHLAKE_BENCH_DIR", Path.home() / ".cache/meshlake/bench"))


def small_batch(i: int):
    import pyarrow as pa

    return pa.table(
        {
            "id": pa.array([i * 10 + k for k in range(10)], pa.int64()),
            "name": pa.array([f"row {i}-{k}" for k in range(10)], pa.string()),
            "value": pa.array([float(i) + k / 10 for k in range(10)], pa.float64()),
        }
    )


def make_delta(path: Path) -> None:
    from deltalake import DeltaTable, write_deltalake

    done = path / "_meshlake_bench_complete"
    if done.exists():
        return
    if path.exists():
        shutil.rmtree(path)
    print(f"writing {DELTA_COMMITS} Delta commits into {path} (once) …", file=sys.stderr, flush=True)
    write_deltalake(
        str(path),
        small_batch(0),
        configuration={"delta.checkpointInterval": str(CHECKPOINT_INTERVAL)},
    )
    table = DeltaTable(str(path))
    for i in range(1, DELTA_COMMITS):
        write_deltalake(table, small_batch(i), mode="append")
        version = table.version()
        if version % CHECKPOINT_INTERVAL == 0 and not checkpoint_exists(path, version):
            table.create_checkpoint()
        if i % 500 == 0:
            print(f"  {i}/{DELTA_COMMITS}", file=sys.stderr, flush=True)
    done.write_text("ok\n")


def checkpoint_exists(path: Path, version: int) -> bool:
    return any((path / "_delta_log").glob(f"{version:020d}.checkpoint*.parquet"))


def check_delta(path: Path) -> list[str]:
    problems = []
    log = path / "_delta_log"
    commits = sorted(log.glob("*.json"))
    if len(commits) != DELTA_COMMITS:
        problems.append(f"Delta: {len(commits)} commit files, expected {DELTA_COMMITS}")
    missing = [v for v in range(CHECKPOINT_INTERVAL, DELTA_COMMITS, CHECKPOINT_INTERVAL) if not checkpoint_exists(path, v)]
    if missing:
        problems.append(f"Delta: no checkpoint at versions {missing[:5]}…")
    return problems


def iceberg_catalog(root: Path):
    from pyiceberg.catalog.sql import SqlCatalog

    return SqlCatalog(
        "default",
        uri=f"sqlite:///{root / 'catalog.db'}",
        warehouse=f"file://{root / 'warehouse'}",
    )


def make_iceberg(root: Path) -> None:
    done = root / "_meshlake_bench_complete"
    if done.exists():
        return
    print(f"writing {ICEBERG_SNAPSHOTS} Iceberg snapshots into {root} (once) …", file=sys.stderr, flush=True)
    try:
        # An interrupted earlier run: carry on where it stopped (each append is one commit).
        table = iceberg_catalog(root).load_table("bench.history")
        start = len(table.snapshots())
    except Exception:  # noqa: BLE001 - no usable earlier run: start afresh
        if root.exists():
            shutil.rmtree(root)
        (root / "warehouse").mkdir(parents=True)
        catalog = iceberg_catalog(root)
        catalog.create_namespace("bench")
        table = catalog.create_table("bench.history", schema=small_batch(0).schema)
        start = 0
    for i in range(start, ICEBERG_SNAPSHOTS):
        table.append(small_batch(i))
        if (i + 1) % 100 == 0:
            print(f"  {i + 1}/{ICEBERG_SNAPSHOTS}", file=sys.stderr, flush=True)
    done.write_text("ok\n")


def check_iceberg(root: Path) -> list[str]:
    table = iceberg_catalog(root).load_table("bench.history")
    n = len(table.snapshots())
    return [] if n == ICEBERG_SNAPSHOTS else [f"Iceberg: {n} snapshots, expected {ICEBERG_SNAPSHOTS}"]


def cpu_now() -> float:
    """CPU seconds (user + system) of this process, all its threads, and its waited-for children."""
    import resource

    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def timed(fn, reps: int) -> tuple[float, float, object]:
    """Median wall time and median CPU time (a steadier figure when other work shares the cores) of
    `reps` runs after one warm-up, and the last result."""
    result = fn()  # warm-up
    times, cpu = [], []
    for _ in range(reps):
        start, start_cpu = time.perf_counter(), cpu_now()
        result = fn()
        times.append(time.perf_counter() - start)
        cpu.append(cpu_now() - start_cpu)
    return statistics.median(times), statistics.median(cpu), result


def meshlake_open(binary: str, table: str, cold_cache: bool = False):
    """meshlake's two processes. With `cold_cache`, every run gets an empty cache folder
    (MESHLAKE_CACHE_DIR), so Iceberg manifests are all decoded again (the first open of a table)."""
    import tempfile

    def run():
        env = dict(os.environ)
        cache = tempfile.mkdtemp(prefix="meshlake-bench-cache-") if cold_cache else None
        if cache:
            env["MESHLAKE_CACHE_DIR"] = cache
        try:
            info = subprocess.run([binary, "table", "info", table, "--json"], capture_output=True, text=True, env=env)
            hist = subprocess.run([binary, "table", "history", table, "--json"], capture_output=True, text=True, env=env)
        finally:
            if cache:
                shutil.rmtree(cache, ignore_errors=True)
        for proc in (info, hist):
            if proc.returncode != 0:
                raise SystemExit(f"meshlake failed on {table}: {proc.stderr}")
        return json.loads(info.stdout), json.loads(hist.stdout)

    return run


def meshlake_in_process(binary: str, table: str, reps: int, cold_cache: bool = False) -> dict:
    """`meshlake bench open TABLE`: the Tables panel's open (overview + history) timed inside one warm
    process, like the peers in a warm interpreter (one first open, then `reps` timed ones)."""
    import tempfile

    env = dict(os.environ)
    cache = tempfile.mkdtemp(prefix="meshlake-bench-cache-") if cold_cache else None
    if cache:
        env["MESHLAKE_CACHE_DIR"] = cache
    try:
        proc = subprocess.run([binary, "bench", "open", table, "--reps", str(reps), "--json"], capture_output=True, text=True, env=env)
    finally:
        if cache:
            shutil.rmtree(cache, ignore_errors=True)
    if proc.returncode != 0:
        raise SystemExit(f"meshlake bench open failed on {table}: {proc.stderr}")
    return json.loads(proc.stdout)


def deltalake_open(path: Path):
    from deltalake import DeltaTable

    def run():
        table = DeltaTable(str(path))
        history = table.history()
        adds = table.get_add_actions(flatten=True)
        info = {
            "version": table.version(),
            "schema": table.schema().to_json(),
            "metadata": table.metadata().configuration,
            "protocol": table.protocol().min_reader_version,
            "num_files": adds.num_rows,
            "total_bytes": sum(adds.column("size_bytes").to_pylist()),
            "num_rows": sum(adds.column("num_records").to_pylist()),
        }
        return info, history

    return run


def pyiceberg_open(root: Path):
    def run():
        table = iceberg_catalog(root).load_table("bench.history")
        history = table.history()
        snapshots = table.snapshots()
        current = table.current_snapshot()
        summary = current.summary if current else None
        info = {
            "snapshot": current.snapshot_id if current else None,
            "rows": summary.get("total-records") if summary else None,
            "files": summary.get("total-data-files") if summary else None,
            "bytes": summary.get("total-files-size") if summary else None,
            "schema": str(table.schema()),
        }
        return info, history, snapshots

    return run


def pyiceberg_open_all_files(root: Path):
    """pyiceberg computing what `meshlake table info` computes: every live data file (all manifests
    read) for the file count, bytes, rows and small files per partition."""
    base = pyiceberg_open(root)

    def run():
        info, history, snapshots = base()
        table = iceberg_catalog(root).load_table("bench.history")
        tasks = list(table.scan().plan_files())
        small = 128 * 1024 * 1024 // 4
        info.update(
            num_files=len(tasks),
            total_bytes=sum(t.file.file_size_in_bytes for t in tasks),
            num_rows=sum(t.file.record_count for t in tasks),
            small_files=sum(1 for t in tasks if t.file.file_size_in_bytes < small),
        )
        return info, history, snapshots

    return run


def whole_process(code: str, arg: Path):
    """The same peer work in a fresh interpreter (start-up and imports included), like meshlake's processes."""
    script = f"import sys; sys.path.insert(0, {str(Path(__file__).resolve().parent)!r}); import lake_history as lh; from pathlib import Path; {code}"

    def run():
        proc = subprocess.run([sys.executable, "-c", script, str(arg)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"peer process failed: {proc.stderr}")
        return proc.stdout

    return run


def main() -> int:
    parser = argparse.ArgumentParser()
    repo = Path(__file__).resolve().parent.parent
    target = os.environ.get("CARGO_TARGET_DIR", str(Path.home() / ".cache/meshlake/target"))
    parser.add_argument("--meshlake", default=str(Path(target) / "release/meshlake"))
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--generate-only", action="store_true")
    args = parser.parse_args()

    root = bench_dir()
    root.mkdir(parents=True, exist_ok=True)
    delta = root / f"delta-{DELTA_COMMITS}"
    iceberg = root / f"iceberg-{ICEBERG_SNAPSHOTS}"
    make_delta(delta)
    make_iceberg(iceberg)
    problems = check_delta(delta) + check_iceberg(iceberg)
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    if args.generate_only:
        return 0
    if not Path(args.meshlake).exists():
        print(f"{args.meshlake} not found: cargo build --release first (or pass --meshlake)", file=sys.stderr)
        return 1

    iceberg_ref = f"iceberg+sqlite://{iceberg / 'catalog.db'}#bench.history"
    import deltalake
    import pyiceberg

    rows = []
    # Like for like, in-process: meshlake's open (overview + history) in one warm process against the
    # peers in a warm interpreter.
    bench = meshlake_in_process(args.meshlake, str(delta), args.reps)
    assert bench["versions"] == DELTA_COMMITS, bench
    peer, peer_cpu, _ = timed(deltalake_open(delta), args.reps)
    rows.append(("Delta 5,000 commits, in-process", f"deltalake {deltalake.__version__}, in-process", bench["median_ms"] / 1000, peer, bench["cpu_median_ms"] / 1000, peer_cpu))
    bench = meshlake_in_process(args.meshlake, iceberg_ref, args.reps, cold_cache=True)
    assert bench["versions"] == ICEBERG_SNAPSHOTS and bench["files"] == ICEBERG_SNAPSHOTS, bench
    peer, peer_cpu, _ = timed(pyiceberg_open(iceberg), args.reps)
    rows.append(("Iceberg 1,000 snapshots, in-process", f"pyiceberg {pyiceberg.__version__}, in-process, summary", bench["median_ms"] / 1000, peer, bench["cpu_median_ms"] / 1000, peer_cpu))

    # meshlake as two whole processes (`table info` reads every live file, `table history`).
    ours, ours_cpu, result = timed(meshlake_open(args.meshlake, str(delta)), args.reps)
    info, hist = result
    assert len(hist["versions"]) == DELTA_COMMITS, len(hist["versions"])
    assert info["version"] == DELTA_COMMITS - 1, info["version"]
    peer, peer_cpu, result = timed(deltalake_open(delta), args.reps)
    pinfo, phist = result
    assert len(phist) == DELTA_COMMITS and pinfo["num_rows"] == info["num_rows"], (len(phist), pinfo, info["num_rows"])
    rows.append(("Delta 5,000 commits", f"deltalake {deltalake.__version__}, in-process", ours, peer, ours_cpu, peer_cpu))
    peer, peer_cpu, result = timed(whole_process("lh.deltalake_open(Path(sys.argv[1]))()", delta), args.reps)
    rows.append(("Delta 5,000 commits", f"deltalake {deltalake.__version__}, own process", ours, peer, ours_cpu, peer_cpu))

    # Warm: the manifest cache filled by an earlier open (the warm-up run); cold: an empty cache every run.
    ours, ours_cpu, result = timed(meshlake_open(args.meshlake, iceberg_ref), args.reps)
    info, hist = result
    assert len(hist["versions"]) == ICEBERG_SNAPSHOTS, len(hist["versions"])
    cold, cold_cpu, result = timed(meshlake_open(args.meshlake, iceberg_ref, cold_cache=True), args.reps)
    assert result[0] == info, (result[0], info)
    peer, peer_cpu, result = timed(pyiceberg_open(iceberg), args.reps)
    pinfo, _phist, psnaps = result
    assert len(psnaps) == ICEBERG_SNAPSHOTS and int(pinfo["rows"]) == info["num_rows"], (pinfo, info["num_rows"])
    name = f"pyiceberg {pyiceberg.__version__}, in-process, summary"
    rows.append(("Iceberg 1,000 snapshots (warm cache)", name, ours, peer, ours_cpu, peer_cpu))
    rows.append(("Iceberg 1,000 snapshots (cold cache)", name, cold, peer, cold_cpu, peer_cpu))
    peer, peer_cpu, result = timed(pyiceberg_open_all_files(iceberg), args.reps)
    pinfo = result[0]
    assert pinfo["num_files"] == info["num_files"] and pinfo["small_files"] == info["small_files"], (pinfo, info)
    name = f"pyiceberg {pyiceberg.__version__}, in-process, all files"
    rows.append(("Iceberg 1,000 snapshots (warm cache)", name, ours, peer, ours_cpu, peer_cpu))
    rows.append(("Iceberg 1,000 snapshots (cold cache)", name, cold, peer, cold_cpu, peer_cpu))
    peer, peer_cpu, result = timed(whole_process("lh.pyiceberg_open(Path(sys.argv[1]))()", iceberg), args.reps)
    name = f"pyiceberg {pyiceberg.__version__}, own process, summary"
    rows.append(("Iceberg 1,000 snapshots (warm cache)", name, ours, peer, ours_cpu, peer_cpu))
    rows.append(("Iceberg 1,000 snapshots (cold cache)", name, cold, peer, cold_cpu, peer_cpu))

    print("| table | peer | meshlake wall | peer wall | ratio | meshlake CPU | peer CPU | ratio |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, peer_name, ours, theirs, ours_cpu, theirs_cpu in rows:
        print(
            f"| {name} | {peer_name} | {ours * 1000:.0f} ms | {theirs * 1000:.0f} ms | {ours / theirs:.2f} "
            f"| {ours_cpu * 1000:.0f} ms | {theirs_cpu * 1000:.0f} ms | {ours_cpu / theirs_cpu:.2f} |"
        )
    print(json.dumps([
        {"table": n, "peer": p, "meshlake_s": o, "peer_s": t, "meshlake_cpu_s": oc, "peer_cpu_s": tc}
        for n, p, o, t, oc, tc in rows
    ]))
    like_for_like = [r for r in rows if "in-process" in r[0] or "own process" in r[1]]
    return 0 if all(ours <= 0.5 * theirs for _, _, ours, theirs, _, _ in like_for_like) else 2


if __name__ == "__main__":
    sys.exit(main())
