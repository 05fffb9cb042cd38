//! NDVI products: real Sentinel-2 19UDP B04/B08 wrapped in STAC items → Zarr checked with numpy/rasterio
//! and xarray + rioxarray; band resolution errors; nodata → NaN; warping another CRS; cancel and kill leave
//! nothing visible; versioned publishing.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use meshlake::engine::jobs::{JobError, JobResult, JobRuntime, JobSpec, error_chain};
use meshlake::engine::ndvi::{ItemFilter, NdviProduct, NdviRequest, NdviSource};
use meshlake::engine::raster::GeoGrid;
use meshlake::engine::raster::cog::{CogWriteOptions, write_cog_u16};
use serde_json::json;

fn s2_dir() -> Option<PathBuf> {
    Some(common::fixtures()?.join("rasters/rio-tiler-legacy-sentinel2-19UDP"))
}

/// A STAC item JSON file with the given assets.
fn write_item(dir: &Path, id: &str, datetime: &str, assets: serde_json::Value) -> PathBuf {
    let item = json!({
        "type": "Feature", "stac_version": "1.0.0", "id": id, "collection": "s2-test",
        "geometry": null, "bbox": [-70.5, 48.0, -69.0, 49.0],
        "properties": {"datetime": datetime, "eo:cloud_cover": 12.5},
        "links": [], "assets": assets
    });
    let path = dir.join(format!("{id}.json"));
    std::fs::write(&path, serde_json::to_vec_pretty(&item).unwrap()).unwrap();
    path
}

fn request(paths: Vec<PathBuf>, out: PathBuf) -> NdviRequest {
    NdviRequest {
        source: NdviSource::Paths(paths),
        filter: ItemFilter::default(),
        red: None,
        nir: None,
        crs_epsg: None,
        resolution: None,
        chunk: 1024,
        force_chunk: false,
        out,
        publish: None,
    }
}

fn run(request: NdviRequest) -> Result<NdviProduct, JobError> {
    let (runtime, mut events) = JobRuntime::start(2, Arc::new(|| {})).unwrap();
    match runtime.run_to_end(&mut events, JobSpec::Ndvi(Box::new(request)), |_, _, _| {})? {
        JobResult::Ndvi(product) => Ok(*product),
        other => panic!("unexpected result {other:?}"),
    }
}

#[test]
fn s2_ndvi_equals_numpy_and_xarray_rioxarray_read_epsg_32619() {
    let (Some(s2), Some(python)) = (s2_dir(), common::python()) else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (b04, b08) = (s2.join("B04.tif"), s2.join("B08.tif"));
    // The later item uses raster:bands nodata/scale/offset and eo:bands common names instead of B04/B08 keys.
    let late = write_item(
        tmp.path(),
        "S2B_19UDP_20170829",
        "2017-08-29T15:30:00Z",
        json!({
            "red_band": {"href": b04, "eo:bands": [{"name": "B04", "common_name": "red"}],
                         "raster:bands": [{"nodata": 0, "scale": 0.0001, "offset": -0.01}]},
            "nir_band": {"href": b08, "eo:bands": [{"name": "B08", "common_name": "nir"}],
                         "raster:bands": [{"nodata": 0, "scale": 0.0001, "offset": -0.01}]},
            "thumbnail": {"href": "./t.png"}
        }),
    );
    let early = write_item(
        tmp.path(),
        "S2A_19UDP_20170729",
        "2017-07-29T15:30:00Z",
        json!({"B04": {"href": b04}, "B08": {"href": b08}}),
    );
    let out = tmp.path().join("s2.zarr");
    let mut req = request(vec![late, early], out.clone());
    req.chunk = 64; // 122x122 pixels → 2x2 chunks per slice
    req.force_chunk = true;
    let product = run(req).unwrap();
    assert_eq!(product.shape, [2, 122, 122]);
    assert_eq!(product.chunks, [1, 64, 64]);
    assert_eq!(product.crs, "EPSG:32619");
    assert_eq!(product.items_used, ["S2A_19UDP_20170729", "S2B_19UDP_20170829"], "sorted by datetime");
    assert!(product.warped_items.is_empty());
    assert!(product.valid_fraction > 0.5 && product.valid_fraction < 1.0, "{}", product.valid_fraction);

    let code = r#"
import sys, json, numpy as np, rasterio, xarray as xr, rioxarray
out, b04, b08 = sys.argv[1:4]
red = rasterio.open(b04).read(1).astype("float64"); nir = rasterio.open(b08).read(1).astype("float64")
def ndvi(n, r):
    s = n + r
    with np.errstate(invalid="ignore", divide="ignore"):
        v = np.where(s == 0, np.nan, (n - r) / s)
    return v.astype("float32")
nodata = (red == 0) | (nir == 0)
expected = [ndvi(nir, red), np.where(nodata, np.nan, ndvi(nir * 0.0001 - 0.01, red * 0.0001 - 0.01)).astype("float32")]
ds = xr.open_zarr(out)
v = ds["ndvi"]
res = {"dims": list(v.dims), "shape": list(v.shape), "dtype": str(v.dtype), "epsg": v.rio.crs.to_epsg(),
       "transform": list(v.rio.transform())[:6], "attrs": sorted(v.attrs), "units": v.attrs["units"],
       "valid_range": v.attrs["valid_range"], "source_items": v.attrs["source_items"],
       "times": [str(t)[:19] for t in ds["time"].values], "x0": float(ds.x[0]), "y0": float(ds.y[0])}
for t in range(2):
    got = v.isel(time=t).values
    assert np.array_equal(np.isnan(got), np.isnan(expected[t])), "NaN masks differ"
    res[f"maxdiff{t}"] = float(np.nanmax(np.abs(got - expected[t])))
    res[f"nan{t}"] = int(np.isnan(got).sum())
print(json.dumps(res))
"#;
    let text = common::run_python(&python, code, &[out.to_str().unwrap(), b04.to_str().unwrap(), b08.to_str().unwrap()]);
    let r: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
    println!("{r}");
    assert_eq!(r["dims"], json!(["time", "y", "x"]));
    assert_eq!(r["shape"], json!([2, 122, 122]));
    assert_eq!(r["dtype"], "float32");
    assert_eq!(r["epsg"], 32619);
    assert_eq!(r["transform"], json!([900.0, 0.0, 399960.0, 0.0, -900.0, 5400000.0]));
    assert_eq!(r["units"], "1");
    assert_eq!(r["valid_range"], json!([-1.0, 1.0]));
    assert_eq!(r["source_items"], json!(["S2A_19UDP_20170729", "S2B_19UDP_20170829"]));
    assert_eq!(r["times"], json!(["2017-07-29T15:30:00", "2017-08-29T15:30:00"]));
    assert_eq!((r["x0"].as_f64(), r["y0"].as_f64()), (Some(399960.0 + 450.0), Some(5400000.0 - 450.0)));
    for attr in ["title", "description", "processing_level", "grid_mapping"] {
        assert!(r["attrs"].as_array().unwrap().iter().any(|a| a == attr), "missing {attr}");
    }
    for t in 0..2 {
        let diff = r[format!("maxdiff{t}")].as_f64().unwrap();
        assert!(diff <= 1e-6, "slice {t}: max |meshlake - numpy| = {diff}");
        assert!(r[format!("nan{t}")].as_u64().unwrap() > 0, "the zero corner is NaN");
    }
}

#[test]
fn missing_bands_error_lists_the_assets_and_no_items_names_the_parameters() {
    let Some(s2) = s2_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let item = write_item(
        tmp.path(),
        "only-visible",
        "2017-07-29T15:30:00Z",
        json!({"B02": {"href": s2.join("B02.tif")}, "B03": {"href": s2.join("B03.tif")}, "B04": {"href": s2.join("B04.tif")}}),
    );
    let out = tmp.path().join("x.zarr");
    let err = error_chain(&run(request(vec![item.clone()], out.clone())).unwrap_err());
    assert!(err.contains("item only-visible has no nir band"), "{err}");
    assert!(err.contains("B08, nir"), "{err}");
    assert!(err.contains("assets are: B02, B03, B04"), "{err}");
    let mut req = request(vec![item.clone()], out.clone());
    req.nir = Some("B8A".into());
    let err = error_chain(&run(req).unwrap_err());
    assert!(err.contains("the asset \"B8A\"") && err.contains("B02, B03, B04"), "{err}");

    let mut req = request(vec![item], out.clone());
    req.filter.cloud_lt = Some(5.0);
    req.filter.datetime = Some(meshlake::engine::ndvi::items::parse_datetime_range("2017-07-01/2017-07-31").unwrap());
    let err = error_chain(&run(req).unwrap_err());
    assert!(err.contains("no imagery found matching domain parameters"), "{err}");
    assert!(err.contains("cloud_cover<5") && err.contains("datetime=2017-07-01"), "{err}");
    assert!(!out.exists());
}

fn constant_cog(path: &Path, grid: &GeoGrid, value: u16, nodata: Option<u16>) {
    let data = vec![value; grid.width as usize * grid.height as usize];
    write_cog_u16(path, grid, &data, nodata, &CogWriteOptions::default()).unwrap();
}

#[test]
fn all_nodata_is_nan_and_another_crs_is_warped_onto_the_first_grid() {
    let tmp = tempfile::tempdir().unwrap();
    let utm = GeoGrid { epsg: 32631, origin_x: 600_000.0, origin_y: 5_800_000.0, pixel_size_x: 20.0, pixel_size_y: 20.0, width: 300, height: 300 };
    // The same area in lon/lat, a little larger, with constant red 1000 / nir 3000 → NDVI 0.5.
    let geo = GeoGrid { epsg: 4326, origin_x: 4.40, origin_y: 52.36, pixel_size_x: 0.0005, pixel_size_y: 0.0003, width: 400, height: 300 };
    let p = |n: &str| tmp.path().join(n);
    constant_cog(&p("nd_red.tif"), &utm, 0, Some(0));
    constant_cog(&p("nd_nir.tif"), &utm, 0, Some(0));
    constant_cog(&p("g_red.tif"), &geo, 1000, None);
    constant_cog(&p("g_nir.tif"), &geo, 3000, None);
    let cloudy = write_item(tmp.path(), "all-nodata", "2025-06-01T10:00:00Z", json!({"B04": {"href": p("nd_red.tif")}, "B08": {"href": p("nd_nir.tif")}}));
    let lonlat = write_item(tmp.path(), "lonlat", "2025-06-02T10:00:00Z", json!({"red": {"href": p("g_red.tif")}, "nir": {"href": p("g_nir.tif")}}));

    let out = p("mixed.zarr");
    let product = run(request(vec![cloudy.clone()], p("nodata.zarr"))).unwrap();
    assert_eq!(product.valid_fraction, 0.0);
    let reader = meshlake::engine::ndvi::zarr_out::ProductReader::open(&product.zarr, "ndvi").unwrap();
    assert!(reader.read_window(0, 0, 0, 300, 300).unwrap().iter().all(|v| v.is_nan()));

    let product = run(request(vec![lonlat, cloudy], out.clone())).unwrap();
    assert_eq!(product.crs, "EPSG:32631", "the first item (by datetime) sets the grid");
    assert_eq!(product.warped_items, ["lonlat"]);
    let reader = meshlake::engine::ndvi::zarr_out::ProductReader::open(&out, "ndvi").unwrap();
    let g = &reader.grid;
    assert_eq!((g.pixel_size_x, g.epsg), (20.0, 32631));
    let slice = reader.read_window(1, 0, 0, g.width, g.height).unwrap();
    let valid: Vec<f32> = slice.iter().copied().filter(|v| !v.is_nan()).collect();
    assert!(!valid.is_empty());
    assert!(valid.iter().all(|v| (v - 0.5).abs() < 1e-6));
    // Pixel centres inside the lon/lat raster are covered, those outside are NaN.
    let t = meshlake::engine::crs::CrsTransform::new(32631, 4326).unwrap();
    for (i, v) in slice.iter().enumerate().step_by(97) {
        let (col, row) = ((i as u32 % g.width) as f64 + 0.5, (i as u32 / g.width) as f64 + 0.5);
        let (x, y) = g.pixel_to_crs(col, row);
        let (lon, lat) = t.point(x, y).unwrap();
        let inside = lon > 4.40 && lon < 4.60 && lat < 52.36 && lat > 52.27;
        let edge = (lon - 4.40).abs() < 1e-3 || (lon - 4.60).abs() < 1e-3 || (lat - 52.36).abs() < 1e-3 || (lat - 52.27).abs() < 1e-3;
        if !edge {
            assert_eq!(!v.is_nan(), inside, "pixel {i} at {lon},{lat}");
        }
    }
}

#[test]
fn cancelled_job_leaves_no_product_and_chunk_bounds_are_enforced() {
    let Some(s2) = s2_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let item = write_item(tmp.path(), "a", "2017-07-29T15:30:00Z", json!({"B04": {"href": s2.join("B04.tif")}, "B08": {"href": s2.join("B08.tif")}}));
    let out = tmp.path().join("p.zarr");
    let mut req = request(vec![item.clone()], out.clone());
    req.chunk = 128;
    let err = error_chain(&run(req).unwrap_err());
    assert!(err.contains("chunk size 128 is outside 256..=1024"), "{err}");

    let (runtime, mut events) = JobRuntime::start(1, Arc::new(|| {})).unwrap();
    let mut req = request(vec![item], out.clone());
    req.chunk = 16;
    req.force_chunk = true;
    let handle = runtime.submit(JobSpec::Ndvi(Box::new(req)));
    handle.cancel.cancel();
    loop {
        match events.blocking_recv().unwrap() {
            meshlake::engine::jobs::JobEvent::Cancelled { .. } => break,
            meshlake::engine::jobs::JobEvent::Finished { .. } => panic!("finished despite cancel"),
            meshlake::engine::jobs::JobEvent::Failed { error, .. } => panic!("{error}"),
            _ => {}
        }
    }
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().flatten().map(|e| e.file_name()).collect();
    assert!(!out.exists());
    assert!(!left.iter().any(|n| n.to_string_lossy().contains("p.zarr")), "{left:?}");
}

#[test]
fn a_missing_asset_and_a_truncated_cog_are_clear_errors_and_leave_nothing() {
    let Some(s2) = s2_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("gone/B08.tif");
    let item = write_item(tmp.path(), "missing-nir", "2017-07-29T15:30:00Z", json!({"B04": {"href": s2.join("B04.tif")}, "B08": {"href": missing}}));
    let out = tmp.path().join("m.zarr");
    let err = error_chain(&run(request(vec![item], out.clone())).unwrap_err());
    assert!(err.contains("item missing-nir, band nir") && err.contains("gone/B08.tif"), "{err}");
    assert!(!out.exists());

    // A COG cut after its header: the directories read, the tiles do not.
    let bytes = std::fs::read(s2.join("B08.tif")).unwrap();
    let cut = tmp.path().join("cut_B08.tif");
    std::fs::write(&cut, &bytes[..bytes.len() / 3]).unwrap();
    let item = write_item(tmp.path(), "truncated", "2017-07-29T15:30:00Z", json!({"B04": {"href": s2.join("B04.tif")}, "B08": {"href": cut}}));
    let out = tmp.path().join("t.zarr");
    let err = error_chain(&run(request(vec![item], out.clone())).unwrap_err());
    assert!(err.contains("item truncated, band nir") && err.contains("cut_B08.tif"), "{err}");
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().flatten().map(|e| e.file_name().to_string_lossy().to_string()).collect();
    assert!(!left.iter().any(|n| n.contains("t.zarr")), "{left:?}");

    // Hrefs other than files and http(s) URLs are refused with the item and the href (http: tests/ndvi_http.rs).
    let item = write_item(tmp.path(), "remote", "2017-07-29T15:30:00Z", json!({"B04": {"href": "s3://example-invalid/B04.tif"}, "B08": {"href": s2.join("B08.tif")}}));
    let err = error_chain(&run(request(vec![item], tmp.path().join("r.zarr"))).unwrap_err());
    assert!(err.contains("item remote") && err.contains("s3://example-invalid/B04.tif"), "{err}");
}

#[test]
fn a_chosen_crs_and_resolution_warp_every_item_and_xarray_reads_that_crs() {
    let (Some(s2), Some(python)) = (s2_dir(), common::python()) else { return };
    let tmp = tempfile::tempdir().unwrap();
    let item = write_item(tmp.path(), "s2", "2017-07-29T15:30:00Z", json!({"B04": {"href": s2.join("B04.tif")}, "B08": {"href": s2.join("B08.tif")}}));
    let out = tmp.path().join("ll.zarr");
    let mut req = request(vec![item], out.clone());
    req.crs_epsg = Some(4326);
    req.resolution = Some(0.01);
    let product = run(req).unwrap();
    assert_eq!(product.crs, "EPSG:4326");
    assert_eq!(product.warped_items, ["s2"]);
    assert_eq!(product.grid.pixel_size_x, 0.01);
    assert!(product.valid_fraction > 0.3, "{}", product.valid_fraction);
    let code = "import sys, xarray as xr, rioxarray, numpy as np\nv = xr.open_zarr(sys.argv[1])['ndvi']\nprint(v.rio.crs.to_epsg(), float(v.x.min()) > -71, float(v.x.max()) < -67, bool(np.nanmax(v.values) <= 1))";
    let text = common::run_python(&python, code, &[out.to_str().unwrap()]);
    assert_eq!(text.trim(), "4326 True True True");
}

#[test]
fn uint8_int16_float32_lzw_big_endian_and_striped_tiffs_written_by_rasterio_give_numpys_ndvi() {
    let Some(python) = common::python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_str().unwrap();
    // One item per kind of COG: uint8 and int16 (deflate, horizontal predictor; int16 big-endian),
    // float32 (deflate, floating-point predictor, NaN nodata), uint16 LZW (read by the TIFF decoder), uint16 in
    // deflate strips of 7 rows (not tiled).
    let write = r#"
import sys, numpy as np, rasterio
from rasterio.transform import from_origin
d = sys.argv[1]
rng = np.random.default_rng(3)
h, w = 300, 260
cases = [
    ("uint8", 0, dict(compress="deflate", predictor=2), rng.integers(1, 120, (h, w)), rng.integers(60, 256, (h, w))),
    ("int16", -9999, dict(compress="deflate", predictor=2, endianness="BIG"), rng.integers(-500, 3000, (h, w)), rng.integers(-200, 6000, (h, w))),
    ("float32", float("nan"), dict(compress="deflate", predictor=3), rng.random((h, w)) * 0.3, rng.random((h, w)) * 0.6 + 0.1),
    ("uint16", 0, dict(compress="lzw", predictor=2, endianness="BIG"), rng.integers(1, 3000, (h, w)), rng.integers(500, 9000, (h, w))),
    ("uint16strips", 0, dict(compress="deflate", tiled=False, blockysize=7), rng.integers(1, 3000, (h, w)), rng.integers(500, 9000, (h, w))),
]
for kind, nodata, opts, red, nir in cases:
    for band, v in (("red", red), ("nir", nir)):
        a = v.astype(kind.replace("strips", ""))
        a[:20, :30] = nodata
        if kind == "int16":
            a[40:50, 40:50] = 0  # red + nir == 0 -> NaN, not nodata
        layout = {} if "tiled" in opts else dict(tiled=True, blockxsize=128, blockysize=128)
        with rasterio.open(f"{d}/{kind}_{band}.tif", "w", driver="GTiff", width=w, height=h, count=1,
                           dtype=kind.replace("strips", ""), crs="EPSG:32631",
                           transform=from_origin(600000, 5800000, 10, 10), nodata=nodata, **layout, **opts) as dst:
            dst.write(a, 1)
print("ok")
"#;
    assert_eq!(common::run_python(&python, write, &[dir]).trim(), "ok");
    let kinds = ["uint8", "int16", "float32", "uint16", "uint16strips"];
    let items: Vec<PathBuf> = kinds
        .iter()
        .enumerate()
        .map(|(i, kind)| {
            let red = tmp.path().join(format!("{kind}_red.tif"));
            let nir = tmp.path().join(format!("{kind}_nir.tif"));
            write_item(tmp.path(), kind, &format!("2025-06-0{}T10:00:00Z", i + 1), json!({"B04": {"href": red}, "B08": {"href": nir}}))
        })
        .collect();
    let out = tmp.path().join("kinds.zarr");
    let mut req = request(items, out.clone());
    req.chunk = 256;
    let product = run(req).unwrap();
    assert_eq!(product.items_used, kinds);
    assert_eq!(product.shape, [5, 300, 260]);
    let check = r#"
import sys, json, numpy as np, rasterio, xarray as xr
out, d = sys.argv[1:3]
v = xr.open_zarr(out)["ndvi"]
res = {}
for t, kind in enumerate(["uint8", "int16", "float32", "uint16", "uint16strips"]):
    bands = []
    for band in ("red", "nir"):
        with rasterio.open(f"{d}/{kind}_{band}.tif") as src:
            a = src.read(1).astype("float32")
            nd = src.nodata
            if nd is not None and not np.isnan(nd):
                a[src.read(1) == nd] = np.nan
            bands.append(a)
    red, nir = bands
    s = nir + red
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = np.where(s == 0, np.float32("nan"), (nir - red) / s).astype("float32")
    got = v.isel(time=t).values
    res[kind] = [bool(np.array_equal(got, expected, equal_nan=True)), int(np.isnan(got).sum()), int(np.isnan(expected).sum())]
print(json.dumps(res))
"#;
    let text = common::run_python(&python, check, &[out.to_str().unwrap(), dir]);
    let r: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
    for kind in kinds {
        assert_eq!(r[kind][0], true, "{kind}: meshlake's NDVI differs from numpy's: {r}");
        assert!(r[kind][1].as_u64().unwrap() >= 600, "{kind}: the nodata corner is NaN: {r}");
    }
    assert!(r["int16"][1].as_u64().unwrap() >= 700, "int16: red + nir == 0 is NaN too: {r}");
}
