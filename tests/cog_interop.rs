//! Cloud-Optimized GeoTIFF interop: our reader on real COGs (Sentinel-2 and a GDAL COG with
//! overviews from the fixtures), our writer checked by GDAL through rasterio and rio-cogeo, and
//! GDAL-written COGs (deflate/LZW, predictor 2) read back by us.
mod common;

use std::path::{Path, PathBuf};

use meshlake::engine::raster::GeoGrid;
use meshlake::engine::raster::cog::{
    CogReader, CogWriteOptions, read_cog_info, read_level_u16, read_window_u16, write_cog_u16,
};

fn rasters() -> Option<PathBuf> {
    Some(common::fixtures()?.join("rasters"))
}

fn sum(pixels: &[u16]) -> u64 {
    pixels.iter().map(|&v| u64::from(v)).sum()
}

/// Sentinel-2 L1C band 4 (red) of tile 19UDP, a 122×122 uint16 tiled GeoTIFF at 900 m.
/// Expected numbers come from rasterio on the same file.
#[test]
fn sentinel2_fixture_reads_info_and_window() {
    let Some(rasters) = rasters() else { return };
    let path = rasters.join("rio-tiler-legacy-sentinel2-19UDP/B04.tif");

    let info = read_cog_info(&path).unwrap();
    assert!(
        (32601..=32660).contains(&info.grid.epsg),
        "UTM north expected: {info:?}"
    );
    assert_eq!(info.grid.epsg, 32619);
    assert_eq!(
        info.grid,
        GeoGrid {
            epsg: 32619,
            origin_x: 399_960.0,
            origin_y: 5_400_000.0,
            pixel_size_x: 900.0,
            pixel_size_y: 900.0,
            width: 122,
            height: 122,
        }
    );
    assert_eq!(info.data_type, "uint16");
    assert_eq!(info.band_count, 1);
    assert!(info.tiled);
    assert_eq!((info.tile_width, info.tile_height), (256, 256));
    // This small fixture has no overviews and no nodata tag.
    assert!(info.overview_sizes.is_empty());
    assert_eq!(info.nodata, None);

    let window = read_window_u16(&path, 0, 30, 40, 60, 40).unwrap();
    assert_eq!(window.len(), 60 * 40);
    assert_eq!(sum(&window), 4_736_781);
    let mean = sum(&window) as f64 / window.len() as f64;
    assert!(
        (500.0..5000.0).contains(&mean),
        "top-of-atmosphere reflectance ×10000, got mean {mean}"
    );
    assert!(window.iter().all(|&v| v <= 20_000));

    let (w, h, full) = read_level_u16(&path, 0).unwrap();
    assert_eq!((w, h), (122, 122));
    assert_eq!(sum(&full), 15_332_314);
    assert_eq!(full[60 * 122 + 60], 3666);
    assert_eq!(full[10 * 122 + 100], 6173);

    let nir = rasters.join("rio-tiler-legacy-sentinel2-19UDP/B08.tif");
    let (_, _, nir_full) = read_level_u16(&nir, 0).unwrap();
    assert_eq!(sum(&nir_full), 25_091_747);
}

/// A GDAL COG (uint16, deflate, 256 tiles, 4 overviews) from rio-tiler's fixtures.
#[test]
fn gdal_deflate_cog_fixture_reads_overviews_and_windows() {
    let Some(rasters) = rasters() else { return };
    let path = rasters.join("rio-tiler/cog.tif");
    let mut reader = CogReader::open(&path).unwrap();
    let info = reader.info().clone();
    assert_eq!(info.grid.epsg, 32621);
    assert_eq!((info.grid.width, info.grid.height), (2658, 2667));
    assert_eq!(info.compression, "deflate");
    assert_eq!(info.data_type, "uint16");
    assert_eq!(info.overview_sizes.len(), 4);
    assert_eq!(info.overview_sizes[0], (1329, 1334));
    assert_eq!(info.overview_sizes[3], (167, 167));

    let window = reader.read_window_u16(0, 1200, 1000, 150, 100).unwrap();
    assert_eq!(sum(&window), 45_833_600);
    assert_eq!(window.iter().min(), Some(&2800));
    assert_eq!(window.iter().max(), Some(&6896));

    let (_, _, level1) = reader.read_level_u16(1).unwrap();
    assert_eq!(sum(&level1), 3_735_554_288);
    let (w4, h4, level4) = reader.read_level_u16(4).unwrap();
    assert_eq!((w4, h4), (167, 167));
    assert_eq!(sum(&level4), 58_815_656);
}

/// LZW-compressed GDAL COG with overviews and nodata 0.
#[test]
fn gdal_lzw_cog_fixture_reads() {
    let Some(rasters) = rasters() else { return };
    let path = rasters.join("rio-tiler/blue.tif");
    let info = read_cog_info(&path).unwrap();
    assert_eq!(info.compression, "lzw");
    assert_eq!(info.nodata, Some(0.0));
    assert_eq!(info.overview_sizes.len(), 2);
    let (w, h, full) = read_level_u16(&path, 0).unwrap();
    assert_eq!(full.len(), (w * h) as usize);
    assert!(full.iter().any(|&v| v > 0));
}

/// Non-uint16 and multi-band files give a clear `Unsupported` error, not garbage.
#[test]
fn other_sample_types_are_reported_as_unsupported() {
    let Some(rasters) = rasters() else { return };
    let float_cog = rasters.join("rio-tiler/cog_gradient.tif");
    let info = read_cog_info(&float_cog).unwrap();
    assert_eq!(info.data_type, "float32");
    let err = read_level_u16(&float_cog, 0).unwrap_err();
    assert!(err.to_string().contains("float32"), "{err}");

    let rgb = rasters.join("rio-tiler/cog_uint8_rgba.tif");
    let err = read_window_u16(&rgb, 0, 0, 0, 4, 4).unwrap_err();
    assert!(err.to_string().contains("4 band"), "{err}");
}

/// The 600×450 test image written by our writer: a gradient with a nodata band and hole.
fn test_image(width: u32, height: u32) -> Vec<u16> {
    let mut pixels = Vec::with_capacity((width * height) as usize);
    for y in 0..height {
        for x in 0..width {
            let hole = x < 25 || ((200..260).contains(&x) && (100..171).contains(&y));
            pixels.push(if hole {
                0
            } else {
                ((x * 11 + y * 5) % 10_000 + 1) as u16
            });
        }
    }
    pixels
}

const CHECK_OUR_COG_PY: &str = r#"
import json, sys
import numpy as np
import rasterio
from rio_cogeo.cogeo import cog_validate

path = sys.argv[1]
valid, errors, warnings = cog_validate(path, quiet=True)
with rasterio.open(path) as src:
    a = src.read(1)
    out = {
        "valid": valid, "errors": errors, "warnings": warnings,
        "epsg": src.crs.to_epsg(),
        "transform": list(src.transform)[:6],
        "nodata": src.nodata,
        "overviews": src.overviews(1),
        "dtype": src.dtypes[0],
        "count": src.count,
        "compression": src.profile.get("compress"),
        "predictor": src.profile.get("predictor"),
        "block": list(src.block_shapes[0]),
        "sum": int(a.sum(dtype="uint64")),
        "pixels": [int(a[0, 0]), int(a[0, 30]), int(a[449, 599]), int(a[123, 456])],
        "ovr_sums": [],
    }
for level in range(len(out["overviews"])):
    with rasterio.open(path, OVERVIEW_LEVEL=level) as ovr:
        out["ovr_sums"].append(int(ovr.read(1).sum(dtype="uint64")))
print(json.dumps(out))
"#;

/// Our writer's output is a valid COG for GDAL, with the georeferencing, nodata and pixels we wrote.
#[test]
fn our_cog_is_valid_for_gdal_and_rio_cogeo() {
    let Some(python) = common::python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("B04.tif");
    let (width, height) = (600, 450);
    let grid = GeoGrid {
        epsg: 32631,
        origin_x: 600_000.0,
        origin_y: 5_800_020.0,
        pixel_size_x: 10.0,
        pixel_size_y: 10.0,
        width,
        height,
    };
    let pixels = test_image(width, height);
    let options = CogWriteOptions {
        tile_size: 128,
        overview_min_size: 128,
        ..CogWriteOptions::default()
    };
    let summary = write_cog_u16(&path, &grid, &pixels, Some(0), &options).unwrap();
    assert_eq!(
        summary.overview_sizes,
        vec![(300, 225), (150, 113), (75, 57)]
    );

    let stdout = common::run_python(&python, CHECK_OUR_COG_PY, &[path.to_str().unwrap()]);
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(report["valid"], true, "cog_validate: {report}");
    assert_eq!(
        report["errors"].as_array().map(Vec::len),
        Some(0),
        "{report}"
    );
    assert_eq!(report["epsg"], 32631);
    assert_eq!(
        report["transform"],
        serde_json::json!([10.0, 0.0, 600000.0, 0.0, -10.0, 5800020.0])
    );
    assert_eq!(report["nodata"], 0.0);
    assert_eq!(report["overviews"], serde_json::json!([2, 4, 8]));
    assert_eq!(report["dtype"], "uint16");
    assert_eq!(report["count"], 1);
    assert_eq!(report["compression"], "deflate");
    assert_eq!(report["block"], serde_json::json!([128, 128]));
    assert_eq!(report["sum"], sum(&pixels));
    let at = |row: usize, col: usize| u64::from(pixels[row * width as usize + col]);
    assert_eq!(
        report["pixels"],
        serde_json::json!([at(0, 0), at(0, 30), at(449, 599), at(123, 456)])
    );

    // GDAL decodes our overviews to the same pixels we do.
    let mut reader = CogReader::open(&path).unwrap();
    for level in 1..=3 {
        let (_, _, ours) = reader.read_level_u16(level).unwrap();
        assert_eq!(
            report["ovr_sums"][level - 1],
            sum(&ours),
            "overview {level}: {report}"
        );
    }
}

const WRITE_GDAL_COGS_PY: &str = r#"
import json, sys
import numpy as np
import rasterio
import rasterio.shutil
from rasterio.transform import from_origin

folder = sys.argv[1]
height, width = 700, 900
y, x = np.mgrid[0:height, 0:width]
a = ((x * 7 + y * 3) % 6000 + 1).astype("uint16")
a[:, :40] = 0
profile = dict(driver="GTiff", width=width, height=height, count=1, dtype="uint16",
               crs="EPSG:32633", transform=from_origin(500000.0, 4600000.0, 20.0, 20.0), nodata=0)
with rasterio.open(folder + "/plain.tif", "w", **profile) as dst:
    dst.write(a, 1)
out = {}
for name, compress in (("deflate", "DEFLATE"), ("lzw", "LZW")):
    path = folder + "/gdal_" + name + ".tif"
    rasterio.shutil.copy(folder + "/plain.tif", path, driver="COG", COMPRESS=compress, PREDICTOR="2",
                         BLOCKSIZE="256", OVERVIEWS="AUTO", RESAMPLING="AVERAGE")
    with rasterio.open(path) as src:
        ovr = []
        for level in range(len(src.overviews(1))):
            with rasterio.open(path, OVERVIEW_LEVEL=level) as o:
                ovr.append([o.width, o.height, int(o.read(1).sum(dtype="uint64"))])
        out[name] = {"path": path, "overviews": ovr, "predictor": src.profile.get("predictor")}
print(json.dumps(out))
"#;

/// GDAL-written COGs (deflate and LZW, predictor 2, ghost header, block leaders) read back by us.
#[test]
fn gdal_written_cogs_read_back_exactly() {
    let Some(python) = common::python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let stdout = common::run_python(&python, WRITE_GDAL_COGS_PY, &[dir.path().to_str().unwrap()]);
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    let (width, height) = (900u32, 700u32);
    let expected: Vec<u16> = (0..height)
        .flat_map(|y| {
            (0..width).map(move |x| {
                if x < 40 {
                    0
                } else {
                    ((x * 7 + y * 3) % 6000 + 1) as u16
                }
            })
        })
        .collect();
    for name in ["deflate", "lzw"] {
        let entry = &report[name];
        let path = Path::new(entry["path"].as_str().unwrap());
        let mut reader = CogReader::open(path).unwrap();
        let info = reader.info().clone();
        assert_eq!(info.compression, name);
        assert_eq!(info.predictor, 2);
        assert_eq!(info.nodata, Some(0.0));
        assert_eq!(info.grid.epsg, 32633);
        assert_eq!(
            (info.grid.origin_x, info.grid.origin_y),
            (500_000.0, 4_600_000.0)
        );
        assert_eq!(
            (info.grid.pixel_size_x, info.grid.pixel_size_y),
            (20.0, 20.0)
        );
        let (_, _, full) = reader.read_level_u16(0).unwrap();
        assert!(full == expected, "{name}: full resolution differs");
        let window = reader.read_window_u16(0, 250, 240, 300, 50).unwrap();
        assert_eq!(window[0], expected[240 * 900 + 250]);
        let overviews = entry["overviews"].as_array().unwrap();
        assert_eq!(
            info.overview_sizes.len(),
            overviews.len(),
            "{name}: {report}"
        );
        for (index, overview) in overviews.iter().enumerate() {
            let (w, h, pixels) = reader.read_level_u16(index + 1).unwrap();
            assert_eq!(
                serde_json::json!([w, h, sum(&pixels)]),
                *overview,
                "{name} overview {index}"
            );
        }
    }
}
