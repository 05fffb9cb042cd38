"""NDVI benchmark: meshlake vs the seed's Python pipeline (pystac + stackstac + xarray + zarr).

2 dates x B04/B08 at SIZE^2 uint16 deflate COGs (tiled 512, EPSG:32631, 10 m), wrapped in STAC items.
Each side runs as its own process under /usr/bin/time -v (wall time, peak RSS).

    python benches/ndvi_bench.py --meshlake target/release/meshlake [--size 4096] [--dir /tmp/ndvi-bench] [--runs 5]

The two sides run alternately --runs times (the input files are in the page cache after the first write;
before each run `sync` flushes the earlier runs' products, neither side syncs its own); the figures are
medians, with each run's wall time, the fastest-run ratio and the load average of the machine next to them.

Needs stackstac (and dask) in the peer venv: `pip install stackstac` then, since stackstac 0.5.1 pins pandas<3,
put back the venv's pandas (`pip install pandas==3.1.1`); it runs fine on pandas 3 for this pipeline.
"""
import argparse, json, os, re, shutil, subprocess, sys, textwrap, time

import numpy as np
import rasterio
from rasterio.transform import from_origin

p = argparse.ArgumentParser()
p.add_argument("--meshlake", required=True)
p.add_argument("--size", type=int, default=4096)
p.add_argument("--dir", default="/tmp/ndvi-bench")
p.add_argument("--runs", type=int, default=5)
a = p.parse_args()
size, d = a.size, a.dir
os.makedirs(d, exist_ok=True)

items = []
rng = np.random.default_rng(7)
for k, date in enumerate(["2025-06-01T10:30:00Z", "2025-07-01T10:30:00Z"]):
    iid = f"bench-{k}"
    assets = {}
    for band, base in [("B04", 900), ("B08", 3000)]:
        path = os.path.join(d, f"{iid}_{band}.tif")
        if not os.path.exists(path):
            yy, xx = np.mgrid[0:size, 0:size]
            field = (np.sin(xx / 97.0 + k) + np.cos(yy / 131.0)) * 400
            data = (base + field + rng.integers(0, 200, (size, size))).clip(1, 65535).astype("uint16")
            data[: size // 16, : size // 16] = 0  # a nodata corner
            with rasterio.open(path, "w", driver="GTiff", width=size, height=size, count=1, dtype="uint16",
                               crs="EPSG:32631", transform=from_origin(600000, 5800000, 10, 10), nodata=0,
                               tiled=True, blockxsize=512, blockysize=512, compress="deflate") as dst:
                dst.write(data, 1)
                dst.build_overviews([2, 4, 8])
        assets[band] = {"href": path, "type": "image/tiff; application=geotiff; profile=cloud-optimized",
                        "roles": ["data"], "raster:bands": [{"nodata": 0}]}
    item = {"type": "Feature", "stac_version": "1.0.0", "id": iid, "geometry": None,
            "bbox": [4.4, 52.2, 5.1, 52.4],
            "stac_extensions": ["https://stac-extensions.github.io/projection/v1.1.0/schema.json"],
            "properties": {"datetime": date, "proj:epsg": 32631, "proj:shape": [size, size],
                           "proj:transform": [10, 0, 600000, 0, -10, 5800000]},
            "links": [], "assets": assets}
    ipath = os.path.join(d, f"{iid}.json")
    json.dump(item, open(ipath, "w"))
    items.append(ipath)

def timed(cmd):
    # Wall time from a monotonic clock around the whole process (/usr/bin/time's own figure has 10 ms steps);
    # peak RSS and CPU time from /usr/bin/time -v.
    # Earlier runs' products are flushed first, so that their writeback does not compete with this run.
    os.sync()
    start = time.perf_counter()
    r = subprocess.run(["/usr/bin/time", "-v"] + cmd, capture_output=True, text=True)
    secs = time.perf_counter() - start
    if r.returncode != 0:
        sys.exit(f"{cmd[0]} failed:\n{r.stdout}\n{r.stderr}")
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", r.stderr).group(1)) / 1024
    cpu = sum(float(re.search(rf"{k} time \(seconds\): (\S+)", r.stderr).group(1)) for k in ("User", "System"))
    return secs, rss, cpu


seed = textwrap.dedent("""
    import sys, json, pystac, stackstac, numpy as np, xarray as xr
    size = int(sys.argv[2])
    # Parsed with pystac, handed to stackstac as the original dicts: pystac 1.15 migrates proj:epsg to
    # proj:code, which stackstac 0.5 does not know (it then drops every asset: empty time/band).
    raw = [json.load(open(p)) for p in sys.argv[3:]]
    [pystac.Item.from_dict(dict(r)) for r in raw]
    items = raw
    stack = stackstac.stack(items, assets=["B04", "B08"], epsg=32631, resolution=10, chunksize=1024,
                            bounds=(600000, 5800000 - 10 * size, 600000 + 10 * size, 5800000),
                            dtype="float32", fill_value=np.float32("nan"), rescale=False)
    red, nir = stack.sel(band="B04"), stack.sel(band="B08")
    ndvi = ((nir - red) / (nir + red)).astype("float32").rename("ndvi")
    ds = ndvi.to_dataset().drop_vars([c for c in ndvi.coords if c not in ("time", "x", "y")])
    ds.attrs = {}
    ds["ndvi"].attrs = {"units": "1"}
    ds["ndvi"].encoding = {"chunks": (1, 1024, 1024)}
    ds.to_zarr(sys.argv[1], mode="w", consolidated=True)
""")
load_before = os.getloadavg()[0]
mesh_runs, py_runs = [], []
for _ in range(a.runs):
    for out in ["meshlake.zarr", "python.zarr"]:
        shutil.rmtree(os.path.join(d, out), ignore_errors=True)
    mesh_runs.append(timed([a.meshlake, "ndvi", *items, "--out", os.path.join(d, "meshlake.zarr"), "--json"]))
    py_runs.append(timed([sys.executable, "-c", seed, os.path.join(d, "python.zarr"), str(size), *items]))
load_after = os.getloadavg()[0]
median = lambda xs: sorted(xs)[len(xs) // 2]
m_secs, m_rss, m_cpu = (median([r[i] for r in mesh_runs]) for i in range(3))
p_secs, p_rss, p_cpu = (median([r[i] for r in py_runs]) for i in range(3))

import xarray as xr
mine = xr.open_zarr(os.path.join(d, "meshlake.zarr"))["ndvi"].values
theirs = xr.open_zarr(os.path.join(d, "python.zarr"))["ndvi"].values
same = mine.shape == theirs.shape and np.allclose(mine, theirs, equal_nan=True, atol=1e-6)
identical = mine.shape == theirs.shape and np.array_equal(mine, theirs, equal_nan=True)
print(json.dumps({"size": size, "runs": a.runs, "load_average": [round(load_before, 1), round(load_after, 1)],
                  "meshlake_secs_each": [round(r[0], 3) for r in mesh_runs], "python_secs_each": [round(r[0], 2) for r in py_runs],
                  "fastest_speedup": round(min(r[0] for r in py_runs) / min(r[0] for r in mesh_runs), 1),
                  "meshlake_secs": round(m_secs, 3), "meshlake_peak_mib": round(m_rss),
                  "python_secs": round(p_secs, 2), "python_peak_mib": round(p_rss),
                  "meshlake_cpu_secs": round(m_cpu, 2), "python_cpu_secs": round(p_cpu, 2),
                  "speedup": round(p_secs / m_secs, 1), "cpu_ratio": round(p_cpu / m_cpu, 1), "memory_ratio": round(m_rss / p_rss, 2),
                  "outputs_equal": bool(same), "outputs_identical": bool(identical), "shape": list(mine.shape)}))
