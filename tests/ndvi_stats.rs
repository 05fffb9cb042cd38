//! NDVI area statistics (`engine::ndvi::stats`, `JobSpec::NdviStats`, `meshlake ndvi stats`): on a product
//! made from the real Sentinel-2 19UDP B04/B08 fixtures, the histogram, valid/NaN counts, min, max and mean of
//! a lon/lat sub-window equal numpy's on the same pixels read with xarray, and the window equals the one pyproj
//! gives for the bbox; the CLI prints the same; bad input (not a Zarr store, no such array, an integer array, a
//! time index out of range, a bbox outside the array) is a clear error or "no overlap". A 2-D float array
//! written by xarray + rioxarray is read the same way.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use meshlake::engine::jobs::{JobResult, JobRuntime, JobSpec, error_chain};
use meshlake::engine::ndvi::stats::{AreaStats, AreaStatsRequest, PixelWindow};
use meshlake::engine::ndvi::{HISTOGRAM_BINS, ItemFilter, NdviProduct, NdviRequest, NdviSource};
use serde_json::json;

fn s2_dir() -> Option<PathBuf> {
    Some(common::fixtures()?.join("rasters/rio-tiler-legacy-sentinel2-19UDP"))
}

/// Two items over the same B04/B08 (the second with scale/offset), as a 2 x 122 x 122 product in 64² chunks.
fn s2_product(dir: &Path, s2: &Path) -> NdviProduct {
    let (b04, b08) = (s2.join("B04.tif"), s2.join("B08.tif"));
    let item = |id: &str, datetime: &str, assets: serde_json::Value| {
        let item = json!({
            "type": "Feature", "stac_version": "1.0.0", "id": id, "collection": "s2-test",
            "geometry": null, "bbox": [-70.5, 48.0, -69.0, 49.0],
            "properties": {"datetime": datetime}, "links": [], "assets": assets
        });
        let path = dir.join(format!("{id}.json"));
        std::fs::write(&path, serde_json::to_vec_pretty(&item).unwrap()).unwrap();
        path
    };
    let early = item("S2A_19UDP_20170729", "2017-07-29T15:30:00Z", json!({"B04": {"href": b04}, "B08": {"href": b08}}));
    let late = item(
        "S2B_19UDP_20170829",
        "2017-08-29T15:30:00Z",
        json!({"B04": {"href": b04, "raster:bands": [{"nodata": 0, "scale": 0.0001, "offset": -0.01}]},
               "B08": {"href": b08, "raster:bands": [{"nodata": 0, "scale": 0.0001, "offset": -0.01}]}}),
    );
    let request = NdviRequest {
        source: NdviSource::Paths(vec![early, late]),
        filter: ItemFilter::default(),
        red: None,
        nir: None,
        crs_epsg: None,
        resolution: None,
        chunk: 64,
        force_chunk: true,
        out: dir.join("s2.zarr"),
        publish: None,
    };
    match run(JobSpec::Ndvi(Box::new(request))).unwrap() {
        JobResult::Ndvi(product) => *product,
        other => panic!("unexpected result {other:?}"),
    }
}

fn run(spec: JobSpec) -> Result<JobResult, String> {
    let (runtime, mut events) = JobRuntime::start(2, Arc::new(|| {})).unwrap();
    runtime.run_to_end(&mut events, spec, |_, _, _| {}).map_err(|e| error_chain(&e))
}

fn stats(zarr: &Path, variable: &str, time: usize, bbox: Option<[f64; 4]>) -> Result<AreaStats, String> {
    let request = AreaStatsRequest { zarr: zarr.to_path_buf(), variable: variable.to_owned(), time, bbox };
    match run(JobSpec::NdviStats(request))? {
        JobResult::NdviStats(stats) => Ok(*stats),
        other => panic!("unexpected result {other:?}"),
    }
}

/// numpy over the same pixels (xarray reads the store), and the window pyproj gives for the bbox.
const NUMPY: &str = r#"
import sys, json, numpy as np, xarray as xr
from pyproj import CRS, Transformer
zarr, variable, t, col0, row0, cols, rows, w, s, e, n = sys.argv[1:12]
t, col0, row0, cols, rows = int(t), int(col0), int(row0), int(cols), int(rows)
ds = xr.open_zarr(zarr)
v = ds[variable].isel(y=slice(row0, row0 + rows), x=slice(col0, col0 + cols))
v = (v.isel(time=t) if "time" in v.dims else v).values
assert v.dtype == np.float32
ok = ~np.isnan(v)
vals = v[ok]
# meshlake's bin arithmetic, in float32: floor((v + 1) / 2 * 40) clamped into 0..39
bins = np.minimum(np.floor(np.clip((vals + np.float32(1)) * np.float32(0.5), 0, 1) * np.float32(40)), 39).astype(np.int64)
res = {"valid": int(ok.sum()), "nan": int((~ok).sum()), "bins": np.bincount(bins, minlength=40).tolist(),
       "np_histogram": np.histogram(vals, bins=40, range=(-1, 1))[0].tolist(),
       "min": float(vals.min()), "max": float(vals.max()), "mean": float(vals.astype(np.float64).mean())}
# the window of the bbox, independently: pyproj bounds in the product's CRS → pixels
gt = [float(x) for x in ds["spatial_ref"].attrs["GeoTransform"].split()]
x0, y0, x1, y1 = Transformer.from_crs(4326, CRS.from_wkt(ds["spatial_ref"].attrs["crs_wkt"]).to_epsg(), always_xy=True).transform_bounds(
    float(w), float(s), float(e), float(n), densify_pts=32)
c0, c1 = int(np.floor((x0 - gt[0]) / gt[1])), int(np.ceil((x1 - gt[0]) / gt[1]))
r0, r1 = int(np.floor((gt[3] - y1) / -gt[5])), int(np.ceil((gt[3] - y0) / -gt[5]))
res["window"] = [max(c0, 0), max(r0, 0), min(c1, ds.sizes["x"]), min(r1, ds.sizes["y"])]
print(json.dumps(res))
"#;

/// The numpy/pyproj figures ([`NUMPY`]) of `window` of `variable`'s slice `time`, and the window pyproj finds for `bbox`.
fn numpy_stats(python: &Path, zarr: &Path, variable: &str, time: usize, window: &PixelWindow, bbox: [f64; 4]) -> serde_json::Value {
    let args: Vec<String> = [zarr.display().to_string(), variable.to_owned(), time.to_string()]
        .into_iter()
        .chain([window.col0, window.row0, window.cols, window.rows].map(|v| v.to_string()))
        .chain(bbox.map(|v| v.to_string()))
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    serde_json::from_str(common::run_python(python, NUMPY, &args).trim()).unwrap()
}

#[test]
fn a_sub_window_of_a_sentinel2_product_gives_numpys_histogram_min_max_mean() {
    let (Some(s2), Some(python)) = (s2_dir(), common::python()) else { return };
    let tmp = tempfile::tempdir().unwrap();
    let product = s2_product(tmp.path(), &s2);
    assert_eq!(product.shape, [2, 122, 122]);
    // A lon/lat box over the middle of the product: it crosses the 64-pixel chunk borders both ways.
    let [w, s, e, n] = product.bbox;
    let bbox = [w + 0.3 * (e - w), s + 0.25 * (n - s), e - 0.35 * (e - w), n - 0.3 * (n - s)];
    for time in 0..2 {
        let got = stats(&product.zarr, "ndvi", time, Some(bbox)).unwrap();
        let win = got.window.expect("the bbox is inside the product");
        println!("time {time}: window {win:?}, {} valid, {} NaN, chunks {}", got.valid, got.nan, got.chunks_read);
        assert!(win.cols > 10 && win.cols < 100 && win.rows > 10 && win.rows < 100, "{win:?}");
        assert!(win.col0 < 64 && win.col0 + win.cols > 64 && win.row0 < 64 && win.row0 + win.rows > 64, "{win:?}");
        assert_eq!(got.chunks_read, 4, "only the 2 x 2 chunks under the window");
        assert_eq!(got.valid + got.nan, u64::from(win.cols) * u64::from(win.rows));
        assert_eq!(got.bins.len(), HISTOGRAM_BINS);
        assert_eq!(got.bin_edges.len(), HISTOGRAM_BINS + 1);
        assert_eq!((got.bin_edges[0], got.bin_edges[20], got.bin_edges[40]), (-1.0, 0.0, 1.0));
        assert_eq!(got.time.as_deref(), Some(["2017-07-29T15:30:00+00:00", "2017-08-29T15:30:00+00:00"][time]));
        assert_eq!(got.crs, "EPSG:32619");

        let numpy = numpy_stats(&python, &product.zarr, "ndvi", time, &win, bbox);
        println!("numpy: {numpy}");
        assert_eq!(numpy["window"], json!([win.col0, win.row0, win.col0 + win.cols, win.row0 + win.rows]), "pyproj's window");
        assert_eq!(numpy["valid"], got.valid);
        assert_eq!(numpy["nan"], got.nan);
        assert_eq!(numpy["bins"], json!(got.bins));
        assert_eq!(numpy["np_histogram"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).sum::<u64>(), got.valid);
        assert_eq!(numpy["min"].as_f64(), got.min.map(f64::from));
        assert_eq!(numpy["max"].as_f64(), got.max.map(f64::from));
        let (mean, expected) = (got.mean.unwrap(), numpy["mean"].as_f64().unwrap());
        assert!((mean - expected).abs() < 1e-9, "mean {mean} vs numpy {expected}");
    }

    // The whole array: every pixel, every chunk; over both slices the valid fraction the NDVI job reported.
    let whole = stats(&product.zarr, "ndvi", 0, None).unwrap();
    let whole_late = stats(&product.zarr, "ndvi", 1, None).unwrap();
    assert_eq!(whole.valid + whole.nan, 122 * 122);
    assert_eq!(whole.chunks_read, 4);
    let fraction = (whole.valid + whole_late.valid) as f64 / (2.0 * 122.0 * 122.0);
    assert!((fraction - product.valid_fraction).abs() < 1e-9, "{fraction} vs {}", product.valid_fraction);
    let numpy: serde_json::Value = serde_json::from_str(
        common::run_python(&python, NUMPY, &[product.zarr.to_str().unwrap(), "ndvi", "0", "0", "0", "122", "122", "-180", "-85", "180", "85"]).trim(),
    )
    .unwrap();
    assert_eq!(numpy["bins"], json!(whole.bins));

    // A bbox beside the product: no overlap, nothing counted, no chunk read.
    let away = stats(&product.zarr, "ndvi", 0, Some([w - 2.0, s, w - 1.0, n])).unwrap();
    assert!(away.window.is_none() && away.valid == 0 && away.nan == 0 && away.chunks_read == 0, "{away:?}");
    assert!(away.min.is_none() && away.mean.is_none());
}

#[test]
fn a_2d_float_array_written_by_rioxarray_is_counted_like_numpy() {
    let Some(python) = common::python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let zarr = tmp.path().join("evi.zarr");
    // A (y, x) float32 array that is not an NDVI product: another name, values beyond [-1, 1], NaN rows,
    // written by xarray + rioxarray (CF grid mapping with a GDAL WKT and GeoTransform), 64² chunks.
    let write = r#"
import sys, numpy as np, xarray as xr, rioxarray
from affine import Affine
h, w = 150, 200
data = np.linspace(-1.5, 1.5, h * w, dtype="float32").reshape(h, w)
data[:10, :] = np.nan
xs = 600000.0 + (np.arange(w) + 0.5) * 30; ys = 5800000.0 - (np.arange(h) + 0.5) * 30
da = xr.DataArray(data, dims=("y", "x"), coords={"y": ys, "x": xs}, name="evi")
da = da.rio.write_crs(32631).rio.write_transform(Affine(30.0, 0, 600000.0, 0, -30.0, 5800000.0))
ds = da.to_dataset()
ds["evi"].encoding["chunks"] = (64, 64)
ds.to_zarr(sys.argv[1], zarr_format=3, consolidated=True)
print("ok")
"#;
    assert_eq!(common::run_python(&python, write, &[zarr.to_str().unwrap()]).trim(), "ok");
    let whole = stats(&zarr, "evi", 0, None).unwrap();
    assert_eq!((whole.valid, whole.nan, whole.chunks_read), (140 * 200, 10 * 200, 12));
    // The first ten rows (the lowest values) are NaN: the minimum is the first value of row 10.
    let first_valid = -1.5 + 3.0 * 2000.0 / 29999.0;
    assert!((f64::from(whole.min.unwrap()) - first_valid).abs() < 1e-6, "{:?}", whole.min);
    assert_eq!(whole.max, Some(1.5));
    assert_eq!(whole.time, None);
    // The map preview opens this store by its only data array (`x`, `y`, `spatial_ref` are coordinates).
    assert_eq!(meshlake::engine::ndvi::preview_variable(&zarr).unwrap(), "evi");
    let described = meshlake::engine::ndvi::describe_product(&zarr, "evi").unwrap();
    assert_eq!((described.shape, described.chunks, described.crs.as_str()), ([1, 150, 200], [1, 64, 64], "EPSG:32631"));
    assert!(described.times.is_empty());
    let db = described.bbox;
    assert!(whole.array_bbox.iter().zip(db).all(|(a, b)| (a - b).abs() < 1e-4), "{db:?} vs {:?}", whole.array_bbox);
    let [w, s, e, n] = whole.array_bbox;
    let bbox = [w + 0.2 * (e - w), s + 0.1 * (n - s), w + 0.55 * (e - w), n - 0.05 * (n - s)];
    let got = stats(&zarr, "evi", 0, Some(bbox)).unwrap();
    let win = got.window.unwrap();
    assert!(win.cols < 200 && win.rows < 150 && got.nan > 0 && got.valid > 0, "{got:?}");
    let numpy = numpy_stats(&python, &zarr, "evi", 0, &win, bbox);
    assert_eq!(numpy["window"], json!([win.col0, win.row0, win.col0 + win.cols, win.row0 + win.rows]), "pyproj's window");
    assert_eq!((numpy["valid"].as_u64(), numpy["nan"].as_u64()), (Some(got.valid), Some(got.nan)));
    assert_eq!(numpy["bins"], json!(got.bins), "values beyond [-1, 1] in the end bins");
    assert_eq!((numpy["min"].as_f64(), numpy["max"].as_f64()), (got.min.map(f64::from), got.max.map(f64::from)));
    assert!((numpy["mean"].as_f64().unwrap() - got.mean.unwrap()).abs() < 1e-9);
    // A 2-D array has one time slice.
    let error = stats(&zarr, "evi", 1, None).unwrap_err();
    assert!(error.contains("time index 1 is out of range") && error.contains("1 time slice(s)"), "{error}");
}

fn meshlake() -> Command {
    Command::new(env!("CARGO_BIN_EXE_meshlake"))
}

#[test]
fn ndvi_stats_cli_prints_the_engines_statistics_and_bad_input_is_a_clear_error() {
    let Some(s2) = s2_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let product = s2_product(tmp.path(), &s2);
    let zarr = product.zarr.display().to_string();
    let [w, s, e, n] = product.bbox;
    let bbox = [w + 0.1 * (e - w), s + 0.1 * (n - s), w + 0.5 * (e - w), s + 0.6 * (n - s)];
    let bbox_arg = bbox.map(|v| v.to_string()).join(",");

    let out = meshlake().args(["ndvi", "stats", &zarr, "--bbox", &bbox_arg, "--time", "1", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let engine = serde_json::to_value(stats(&product.zarr, "ndvi", 1, Some(bbox)).unwrap()).unwrap();
    for key in ["bins", "bin_edges", "valid", "nan", "min", "max", "mean", "chunks_read", "window", "time", "crs"] {
        assert_eq!(printed[key], engine[key], "{key}");
    }
    assert!(printed["valid"].as_u64().unwrap() > 0);

    // `scan` (what the GUI's Open runs first) takes the store as one Zarr product, without walking its chunks.
    let out = meshlake().args(["scan", &zarr, "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let scanned: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(scanned["zarr_stores"], json!([std::path::absolute(&product.zarr).unwrap()]), "{scanned}");
    assert_eq!(scanned["stac_catalogs"], json!([]), "{scanned}");

    // Without --bbox: the whole array (time 0 by default); as text too.
    let out = meshlake().args(["ndvi", "stats", &zarr, "--json"]).output().unwrap();
    let whole: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(whole["window"], json!({"col0": 0, "row0": 0, "cols": 122, "rows": 122}));
    assert_eq!(whole["time_index"], 0);
    assert_eq!(whole["chunks_read"], 4);
    let out = meshlake().args(["ndvi", "stats", &zarr]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains(&format!("valid: {}", whole["valid"])), "{text}");

    // Bad input: the JSON error on stderr says what is wrong and where; stdout stays empty.
    let fail = |args: &[&str]| {
        let out = meshlake().args(["ndvi", "stats"]).args(args).arg("--json").output().unwrap();
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(out.stdout.is_empty(), "{args:?}: {}", String::from_utf8_lossy(&out.stdout));
        let stderr = String::from_utf8_lossy(&out.stderr);
        let line = stderr.lines().last().unwrap_or_default().to_owned();
        let error: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("{args:?}: {stderr}"));
        error["error"].as_str().unwrap().to_owned()
    };
    let outside = format!("{},{},{},{}", w - 3.0, s, w - 2.0, n);
    let error = fail(&[&zarr, "--bbox", &outside]);
    assert!(error.contains("no overlap") && error.contains("s2.zarr") && error.contains("lon/lat bounds"), "{error}");
    let item = tmp.path().join("S2A_19UDP_20170729.json");
    let error = fail(&[item.to_str().unwrap()]);
    assert!(error.contains("is not a Zarr store") && error.contains("S2A_19UDP_20170729.json"), "{error}");
    let error = fail(&[tmp.path().to_str().unwrap()]);
    assert!(error.contains("not a Zarr store"), "{error}");
    let error = fail(&[&zarr, "--variable", "evi"]);
    assert!(error.contains("no array \"evi\"") && error.contains("its arrays are: ndvi, spatial_ref, time, x, y"), "{error}");
    let error = fail(&[&zarr, "--time", "2"]);
    assert!(error.contains("time index 2 is out of range") && error.contains("0 to 1"), "{error}");
    let error = fail(&[&zarr, "--bbox", "1,2,3"]);
    assert!(error.contains("--bbox") && error.contains("W,S,E,N"), "{error}");

    // An integer array with the same grid: refused by name, before any chunk is read.
    let ints = tmp.path().join("ints.zarr");
    common::copy_dir(&product.zarr, &ints);
    let meta_path = ints.join("ndvi/zarr.json");
    let mut meta: serde_json::Value = serde_json::from_slice(&std::fs::read(&meta_path).unwrap()).unwrap();
    meta["data_type"] = json!("int16");
    meta["fill_value"] = json!(0);
    std::fs::write(&meta_path, serde_json::to_vec(&meta).unwrap()).unwrap();
    let error = fail(&[ints.to_str().unwrap()]);
    assert!(error.contains("ints.zarr/ndvi holds int16 values") && error.contains("float32"), "{error}");
}
