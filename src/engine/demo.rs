//! The demo workspace: generated offline, in seconds, by the project's own code.
//!
//! Layout under the chosen folder:
//!
//! ```text
//! meshlake-demo.json                 manifest (written last: its presence means the demo is complete)
//! stac/catalog.json                  self-contained static STAC catalog
//! stac/sentinel-2-demo/collection.json
//! stac/sentinel-2-demo/<item>/<item>.json, B04.tif, B08.tif, thumbnail.png
//! tables/parcels_delta/              Delta table of parcels, many small commits
//! iceberg/catalog.db                 SQLite SQL catalog (pyiceberg's schema), namespace `demo`
//! iceberg/warehouse/                 Iceberg table `demo.parcels`, several snapshots
//! ```
//!
//! The scenes are synthetic Sentinel-2-like L2A bands over farmland near Leiden (UTM 31N): fields whose
//! vegetation changes between dates, a river, a town, clouds (from which `eo:cloud_cover` is computed) and
//! a no-data orbit edge. They are labelled synthetic in their properties.

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::engine::crs::{CrsError, CrsTransform};
use crate::engine::jobs::{JobContext, JobError};
use crate::engine::lake::demo_tables::{demo_parcels, write_demo_delta_table, write_demo_iceberg_table};
use crate::engine::raster::cog::{CogWriteOptions, write_cog_u16};
use crate::engine::raster::{GeoGrid, RasterError};

/// File name of the manifest written when the demo is complete.
pub const DEMO_MANIFEST: &str = "meshlake-demo.json";
/// Marker present while a demo is being written (a later start cleans it up and writes again).
const PARTIAL_MARKER: &str = ".meshlake-demo-partial";
/// The sub-folders the generator owns (removed when an incomplete or old demo is rewritten).
const OWNED_ENTRIES: [&str; 4] = ["stac", "tables", "iceberg", DEMO_MANIFEST];

/// UTM zone 31N: the demo scenes' CRS.
pub const DEMO_EPSG: u32 = 32631;
/// Reflectance no-data value of the bands.
pub const NODATA: u16 = 0;

/// Problems writing the demo.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("cannot write the demo workspace at {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not empty and is not a meshlake demo workspace; choose an empty or new folder")]
    FolderInUse { path: PathBuf },
    #[error("demo raster {path}: {source}")]
    Raster {
        path: PathBuf,
        #[source]
        source: RasterError,
    },
    #[error("demo footprint: {0}")]
    Crs(#[from] CrsError),
    #[error("demo table {name}: {detail}")]
    Table { name: String, detail: String },
    #[error("cannot encode {path}: {detail}")]
    Encode { path: PathBuf, detail: String },
}

/// What the demo generator wrote (also the manifest's content and the CLI's JSON output).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DemoSummary {
    pub dir: PathBuf,
    pub stac_catalog: PathBuf,
    pub delta_tables: Vec<String>,
    pub iceberg_catalog: PathBuf,
    pub iceberg_tables: Vec<String>,
}

impl DemoSummary {
    /// Read the manifest of a complete demo workspace, if `dir` holds one.
    pub fn read_manifest(dir: &Path) -> Option<Self> {
        let bytes = std::fs::read(dir.join(DEMO_MANIFEST)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

/// Sizes of the generated data. `Default` is what the app and `meshlake demo` write.
#[derive(Clone, Debug)]
pub struct DemoOptions {
    /// Width and height of each band in pixels (20 m pixels).
    pub scene_size_px: u32,
    pub parcels: usize,
    pub delta_commits: usize,
    pub iceberg_snapshots: usize,
}

impl Default for DemoOptions {
    fn default() -> Self {
        Self { scene_size_px: 1024, parcels: 480, delta_commits: 12, iceberg_snapshots: 4 }
    }
}

/// One synthetic scene.
#[derive(Clone, Debug)]
struct SceneSpec {
    id: String,
    tile: &'static str,
    origin_x: f64,
    origin_y: f64,
    datetime: &'static str,
    /// 0 = bare fields, 1 = full canopy.
    season_growth: f64,
    cloud_seed: u64,
    /// Clouds' share of the sky, roughly.
    cloudiness: f64,
    orbit_edge: bool,
}

fn scene_specs() -> Vec<SceneSpec> {
    let dates = [
        ("2025-05-04T10:56:21Z", 0.35, 0.30, 11_u64),
        ("2025-06-13T10:56:19Z", 0.8, 0.22, 23),
        ("2025-07-18T10:46:21Z", 0.95, 0.55, 37),
    ];
    let tiles = [("31UET", 586_000.0, 5_800_000.0, false), ("31UFT", 600_000.0, 5_790_000.0, true)];
    let mut specs = Vec::new();
    for (datetime, growth, cloudiness, seed) in dates {
        for (tile, origin_x, origin_y, orbit_edge) in tiles {
            // The eastern tile has no third acquisition: a realistic gap in coverage.
            if tile == "31UFT" && datetime.starts_with("2025-07") {
                continue;
            }
            let day = datetime[..10].replace('-', "");
            specs.push(SceneSpec {
                id: format!("S2-DEMO_{tile}_{day}_L2A"),
                tile,
                origin_x,
                origin_y,
                datetime,
                season_growth: growth,
                cloud_seed: seed + origin_x as u64,
                cloudiness,
                orbit_edge,
            });
        }
    }
    specs
}

/// A deterministic hash to [0, 1).
fn hash01(a: i64, b: i64, seed: u64) -> f64 {
    let mut h = (a as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ (b as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F)
        ^ seed.wrapping_mul(0x1656_67B1_9E37_79F9);
    h ^= h >> 33;
    h = h.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    h ^= h >> 33;
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// Smooth value noise in [0, 1) at scale `cell_m`.
fn value_noise(x: f64, y: f64, cell_m: f64, seed: u64) -> f64 {
    let (gx, gy) = (x / cell_m, y / cell_m);
    let (ix, iy) = (gx.floor() as i64, gy.floor() as i64);
    let (fx, fy) = (gx - ix as f64, gy - iy as f64);
    let smooth = |t: f64| t * t * (3.0 - 2.0 * t);
    let (sx, sy) = (smooth(fx), smooth(fy));
    let v00 = hash01(ix, iy, seed);
    let v10 = hash01(ix + 1, iy, seed);
    let v01 = hash01(ix, iy + 1, seed);
    let v11 = hash01(ix + 1, iy + 1, seed);
    let top = v00 + (v10 - v00) * sx;
    let bottom = v01 + (v11 - v01) * sx;
    top + (bottom - top) * sy
}

/// Red (B04) and NIR (B08) reflectance digital numbers (scale 0.0001) at a UTM point for one scene.
fn reflectance_at(x: f64, y: f64, scene: &SceneSpec) -> (u16, u16, bool) {
    let noise = (hash01(x as i64, y as i64, 7) - 0.5) * 80.0;
    // Clouds first: they hide whatever is below.
    let cloud = value_noise(x, y, 4000.0, scene.cloud_seed) * 0.6 + value_noise(x, y, 1200.0, scene.cloud_seed + 1) * 0.4;
    if cloud > 1.0 - scene.cloudiness {
        let brightness = 6500.0 + (cloud - (1.0 - scene.cloudiness)) * 6000.0 + noise;
        return (brightness as u16, (brightness * 1.02) as u16, true);
    }
    // A river meandering west-east.
    let river_y = 5_786_000.0 + 1800.0 * (x / 3100.0).sin() + 600.0 * (x / 1300.0).cos();
    if (y - river_y).abs() < 90.0 + 40.0 * (x / 2000.0).sin().abs() {
        return ((320.0 + noise * 0.5) as u16, (180.0 + noise * 0.3) as u16, false);
    }
    // A town (Leiden-ish position) with streets.
    let (town_x, town_y) = (602_500.0, 5_779_800.0);
    let town_dist = ((x - town_x).powi(2) + (y - town_y).powi(2)).sqrt();
    if town_dist < 2600.0 + 600.0 * value_noise(x, y, 900.0, 5) {
        let roof = hash01((x / 60.0) as i64, (y / 60.0) as i64, 3);
        return ((1100.0 + roof * 900.0 + noise) as u16, (1700.0 + roof * 900.0 + noise) as u16, false);
    }
    // Fields: blocks of ~420 x 260 m, each with its own crop and sowing date.
    let (bx, by) = ((x / 420.0).floor() as i64, (y / 260.0).floor() as i64);
    let crop = hash01(bx, by, 11);
    let sowing = hash01(bx, by, 13);
    let margin = (x.rem_euclid(420.0) < 12.0) || (y.rem_euclid(260.0) < 12.0);
    let growth = ((scene.season_growth - sowing * 0.5) / 0.6).clamp(0.0, 1.0);
    let max_ndvi = if crop < 0.15 { 0.35 } else if crop < 0.4 { 0.92 } else { 0.82 };
    let ndvi = if margin { 0.55 } else { 0.12 + (max_ndvi - 0.12) * growth };
    let nir = 2200.0 + 1800.0 * ndvi + noise + 300.0 * value_noise(x, y, 700.0, 17);
    let red = nir * (1.0 - ndvi) / (1.0 + ndvi);
    (red.clamp(1.0, 10_000.0) as u16, nir.clamp(1.0, 10_000.0) as u16, false)
}

/// Both bands of one scene, plus its cloud cover in percent of valid pixels.
struct SceneBands {
    red: Vec<u16>,
    nir: Vec<u16>,
    cloud_cover_pct: f64,
}

fn render_scene(scene: &SceneSpec, grid: &GeoGrid) -> SceneBands {
    let (w, h) = (grid.width as usize, grid.height as usize);
    let rows: Vec<(Vec<u16>, Vec<u16>, u64, u64)> = (0..h)
        .into_par_iter()
        .map(|row| {
            let mut red = Vec::with_capacity(w);
            let mut nir = Vec::with_capacity(w);
            let (mut cloudy, mut valid) = (0u64, 0u64);
            for col in 0..w {
                // The orbit's edge crosses the tile diagonally: no data west of it.
                if scene.orbit_edge && (col as f64) < 180.0 + row as f64 * 0.25 - w as f64 * 0.05 {
                    red.push(NODATA);
                    nir.push(NODATA);
                    continue;
                }
                let x = grid.origin_x + (col as f64 + 0.5) * grid.pixel_size_x;
                let y = grid.origin_y - (row as f64 + 0.5) * grid.pixel_size_y;
                let (r, n, is_cloud) = reflectance_at(x, y, scene);
                red.push(r.max(1));
                nir.push(n.max(1));
                valid += 1;
                cloudy += u64::from(is_cloud);
            }
            (red, nir, cloudy, valid)
        })
        .collect();
    let mut bands = SceneBands { red: Vec::with_capacity(w * h), nir: Vec::with_capacity(w * h), cloud_cover_pct: 0.0 };
    let (mut cloudy, mut valid) = (0u64, 0u64);
    for (red, nir, c, v) in rows {
        bands.red.extend(red);
        bands.nir.extend(nir);
        cloudy += c;
        valid += v;
    }
    bands.cloud_cover_pct = if valid == 0 { 0.0 } else { (cloudy as f64 * 1000.0 / valid as f64).round() / 10.0 };
    bands
}

/// A false-colour (B08, B04, B04) PNG thumbnail of `size` pixels, nodata transparent.
fn write_thumbnail(path: &Path, bands: &SceneBands, grid: &GeoGrid, size: u32) -> Result<(), DemoError> {
    let (w, h) = (grid.width as usize, grid.height as usize);
    let step = (w.max(h) as f64 / size as f64).max(1.0);
    let (tw, th) = ((w as f64 / step) as u32, (h as f64 / step) as u32);
    let stretch = |v: u16| ((f64::from(v) / 4500.0).clamp(0.0, 1.0).sqrt() * 255.0) as u8;
    let image = image::RgbaImage::from_fn(tw, th, |tx, ty| {
        let col = ((f64::from(tx) + 0.5) * step) as usize;
        let row = ((f64::from(ty) + 0.5) * step) as usize;
        let i = row.min(h - 1) * w + col.min(w - 1);
        let (r, n) = (bands.red[i], bands.nir[i]);
        if r == NODATA && n == NODATA {
            image::Rgba([0, 0, 0, 0])
        } else {
            image::Rgba([stretch(n), stretch(r), stretch(r), 255])
        }
    });
    let partial = path.with_extension("png.partial");
    image
        .save_with_format(&partial, image::ImageFormat::Png)
        .map_err(|e| DemoError::Encode { path: path.to_path_buf(), detail: e.to_string() })?;
    std::fs::rename(&partial, path).map_err(|source| DemoError::Io { path: path.to_path_buf(), source })
}

fn write_json(path: &Path, value: &Value) -> Result<(), DemoError> {
    let io = |source| DemoError::Io { path: path.to_path_buf(), source };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| DemoError::Encode { path: path.to_path_buf(), detail: e.to_string() })?;
    let partial = path.with_extension("json.partial");
    std::fs::write(&partial, text).map_err(io)?;
    std::fs::rename(&partial, path).map_err(io)
}

/// The item JSON of one scene.
fn item_json(scene: &SceneSpec, grid: &GeoGrid, cloud_cover_pct: f64, ring: &[(f64, f64)], bbox: [f64; 4]) -> Value {
    let band_asset = |band: &str, common: &str, wavelength: f64, title: &str| {
        json!({
            "href": format!("./{band}.tif"),
            "type": "image/tiff; application=geotiff; profile=cloud-optimized",
            "title": title,
            "roles": ["data", "reflectance"],
            "eo:bands": [{"name": band, "common_name": common, "center_wavelength": wavelength}],
            "raster:bands": [{
                "nodata": NODATA, "data_type": "uint16", "scale": 0.0001, "offset": 0.0,
                "spatial_resolution": grid.pixel_size_x, "unit": "1"
            }],
            "proj:shape": [grid.height, grid.width],
        })
    };
    let [minx, miny, maxx, maxy] = grid.bounds();
    json!({
        "type": "Feature",
        "stac_version": "1.1.0",
        "stac_extensions": [
            "https://stac-extensions.github.io/eo/v1.1.0/schema.json",
            "https://stac-extensions.github.io/projection/v1.1.0/schema.json",
            "https://stac-extensions.github.io/raster/v1.1.0/schema.json"
        ],
        "id": scene.id,
        "collection": "sentinel-2-demo",
        "geometry": {"type": "Polygon", "coordinates": [ring.iter().map(|(x, y)| [*x, *y]).collect::<Vec<_>>()]},
        "bbox": bbox,
        "properties": {
            "title": format!("Sentinel-2-like L2A {} {}", scene.tile, &scene.datetime[..10]),
            "description": "Synthetic Sentinel-2-like scene generated by meshlake's demo (not real imagery).",
            "datetime": scene.datetime,
            "platform": "sentinel-2-demo",
            "constellation": "sentinel-2",
            "instruments": ["msi"],
            "gsd": grid.pixel_size_x,
            "eo:cloud_cover": cloud_cover_pct,
            "proj:epsg": grid.epsg,
            "proj:shape": [grid.height, grid.width],
            "proj:bbox": [minx, miny, maxx, maxy],
            "proj:transform": [grid.pixel_size_x, 0.0, grid.origin_x, 0.0, -grid.pixel_size_y, grid.origin_y],
            "s2:mgrs_tile": scene.tile,
            "meshlake:synthetic": true
        },
        "links": [
            {"rel": "root", "href": "../../catalog.json", "type": "application/json"},
            {"rel": "parent", "href": "../collection.json", "type": "application/json"},
            {"rel": "collection", "href": "../collection.json", "type": "application/json"}
        ],
        "assets": {
            "B04": band_asset("B04", "red", 0.665, "Red (B04), 20 m"),
            "B08": band_asset("B08", "nir", 0.842, "NIR (B08), 20 m"),
            "thumbnail": {
                "href": "./thumbnail.png",
                "type": "image/png",
                "title": "False-colour thumbnail (B08, B04, B04)",
                "roles": ["thumbnail"]
            }
        }
    })
}

/// Prepare `dir`: create it, or clean an old/incomplete demo; refuse a folder with other content.
fn prepare_folder(dir: &Path) -> Result<(), DemoError> {
    let io = |source| DemoError::Io { path: dir.to_path_buf(), source };
    if dir.exists() {
        let entries: Vec<_> = std::fs::read_dir(dir).map_err(io)?.filter_map(Result::ok).collect();
        let ours = dir.join(DEMO_MANIFEST).is_file() || dir.join(PARTIAL_MARKER).is_file();
        if !entries.is_empty() && !ours {
            return Err(DemoError::FolderInUse { path: dir.to_path_buf() });
        }
        for name in OWNED_ENTRIES {
            let path = dir.join(name);
            if path.is_dir() {
                std::fs::remove_dir_all(&path).map_err(|source| DemoError::Io { path: path.clone(), source })?;
            } else if path.exists() {
                std::fs::remove_file(&path).map_err(|source| DemoError::Io { path: path.clone(), source })?;
            }
        }
    }
    std::fs::create_dir_all(dir).map_err(io)?;
    std::fs::write(dir.join(PARTIAL_MARKER), b"meshlake demo being written").map_err(io)
}

/// The demo workspace in `dir`: with `reuse_existing`, a complete earlier demo there (its manifest);
/// otherwise, or when there is none, a freshly written one. The folder above `dir` must be writable.
pub async fn ensure_demo(dir: &Path, reuse_existing: bool, ctx: &JobContext) -> Result<DemoSummary, JobError> {
    if reuse_existing && let Some(summary) = DemoSummary::read_manifest(dir) {
        return Ok(summary);
    }
    if let Some(parent) = dir.parent() {
        crate::engine::settings::ensure_writable_dir(parent)?;
    }
    write_demo(dir, ctx).await
}

/// Write the demo workspace into `dir` with the default sizes.
pub async fn write_demo(dir: &Path, ctx: &JobContext) -> Result<DemoSummary, JobError> {
    write_demo_with(dir, &DemoOptions::default(), ctx).await
}

/// Write the demo workspace into `dir`. The manifest is written last; an interrupted run leaves a
/// marker so that the next run cleans up and starts again.
pub async fn write_demo_with(dir: &Path, options: &DemoOptions, ctx: &JobContext) -> Result<DemoSummary, JobError> {
    let dir = std::path::absolute(dir).map_err(|source| DemoError::Io { path: dir.to_path_buf(), source })?;
    prepare_folder(&dir)?;
    let scenes = scene_specs();
    let total_steps = scenes.len() as u64 + 3;
    let stac_dir = dir.join("stac");
    let collection_dir = stac_dir.join("sentinel-2-demo");
    let to_lonlat = CrsTransform::new(DEMO_EPSG, 4326).map_err(DemoError::from)?;
    let mut item_links = Vec::new();
    let mut collection_bbox = [f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY];
    let mut cog_options = CogWriteOptions::default();
    cog_options.tile_size = 256;

    for (index, scene) in scenes.iter().enumerate() {
        ctx.cancel.check()?;
        ctx.progress.report(index as u64, total_steps, format!("scene {}", scene.id));
        let grid = GeoGrid {
            epsg: DEMO_EPSG,
            origin_x: scene.origin_x,
            origin_y: scene.origin_y,
            pixel_size_x: 20.0,
            pixel_size_y: 20.0,
            width: options.scene_size_px,
            height: options.scene_size_px,
        };
        let item_dir = collection_dir.join(&scene.id);
        std::fs::create_dir_all(&item_dir).map_err(|source| DemoError::Io { path: item_dir.clone(), source })?;
        let (scene_for_cpu, grid_for_cpu, dir_for_cpu, options_for_cpu) =
            (scene.clone(), grid.clone(), item_dir.clone(), cog_options.clone());
        let cloud_cover_pct = ctx
            .cpu(move || -> Result<f64, DemoError> {
                let bands = render_scene(&scene_for_cpu, &grid_for_cpu);
                for (name, data) in [("B04", &bands.red), ("B08", &bands.nir)] {
                    let path = dir_for_cpu.join(format!("{name}.tif"));
                    write_cog_u16(&path, &grid_for_cpu, data, Some(NODATA), &options_for_cpu)
                        .map_err(|source| DemoError::Raster { path: path.clone(), source })?;
                }
                write_thumbnail(&dir_for_cpu.join("thumbnail.png"), &bands, &grid_for_cpu, 256)?;
                Ok(bands.cloud_cover_pct)
            })
            .await??;
        let ring = to_lonlat.rectangle_ring(grid.bounds(), 4).map_err(DemoError::from)?;
        let bbox = to_lonlat.bbox(grid.bounds(), 8).map_err(DemoError::from)?;
        collection_bbox = [
            collection_bbox[0].min(bbox[0]),
            collection_bbox[1].min(bbox[1]),
            collection_bbox[2].max(bbox[2]),
            collection_bbox[3].max(bbox[3]),
        ];
        let item_path = item_dir.join(format!("{}.json", scene.id));
        write_json(&item_path, &item_json(scene, &grid, cloud_cover_pct, &ring, bbox))?;
        item_links.push(json!({
            "rel": "item", "href": format!("./{}/{}.json", scene.id, scene.id), "type": "application/geo+json"
        }));
    }

    let mut datetimes: Vec<&str> = scenes.iter().map(|s| s.datetime).collect();
    datetimes.sort();
    let mut collection_links = vec![
        json!({"rel": "root", "href": "../catalog.json", "type": "application/json"}),
        json!({"rel": "parent", "href": "../catalog.json", "type": "application/json"}),
    ];
    collection_links.extend(item_links);
    let collection = json!({
        "type": "Collection",
        "stac_version": "1.1.0",
        "stac_extensions": [
            "https://stac-extensions.github.io/eo/v1.1.0/schema.json",
            "https://stac-extensions.github.io/projection/v1.1.0/schema.json",
            "https://stac-extensions.github.io/raster/v1.1.0/schema.json"
        ],
        "id": "sentinel-2-demo",
        "title": "Sentinel-2-like L2A demo scenes",
        "description": "Synthetic Sentinel-2-like Level-2A red (B04) and near-infrared (B08) bands as Cloud-Optimized \
            GeoTIFFs over farmland near Leiden, NL, at three dates; generated offline by meshlake.",
        "license": "CC0-1.0",
        "keywords": ["sentinel-2", "demo", "ndvi"],
        "providers": [{"name": "meshlake demo generator", "roles": ["producer", "processor", "host"]}],
        "extent": {
            "spatial": {"bbox": [collection_bbox]},
            "temporal": {"interval": [[datetimes.first(), datetimes.last()]]}
        },
        "summaries": {
            "platform": ["sentinel-2-demo"],
            "proj:epsg": [DEMO_EPSG],
            "gsd": [20.0],
            "eo:bands": [
                {"name": "B04", "common_name": "red", "center_wavelength": 0.665},
                {"name": "B08", "common_name": "nir", "center_wavelength": 0.842}
            ]
        },
        "item_assets": {
            "B04": {"type": "image/tiff; application=geotiff; profile=cloud-optimized", "roles": ["data"], "title": "Red (B04)"},
            "B08": {"type": "image/tiff; application=geotiff; profile=cloud-optimized", "roles": ["data"], "title": "NIR (B08)"},
            "thumbnail": {"type": "image/png", "roles": ["thumbnail"]}
        },
        "links": collection_links
    });
    write_json(&collection_dir.join("collection.json"), &collection)?;
    let catalog = json!({
        "type": "Catalog",
        "stac_version": "1.1.0",
        "id": "meshlake-demo",
        "title": "meshlake demo catalog",
        "description": "A self-contained static STAC catalog written by meshlake's demo generator.",
        "links": [
            {"rel": "root", "href": "./catalog.json", "type": "application/json"},
            {"rel": "child", "href": "./sentinel-2-demo/collection.json", "type": "application/json", "title": "Sentinel-2-like L2A demo scenes"}
        ]
    });
    let stac_catalog = stac_dir.join("catalog.json");
    write_json(&stac_catalog, &catalog)?;

    ctx.cancel.check()?;
    ctx.progress.report(scenes.len() as u64, total_steps, "Delta table of parcels");
    let parcels = demo_parcels(options.parcels, 42);
    let delta_root = dir.join("tables").join("parcels_delta");
    let delta = write_demo_delta_table(&delta_root, &parcels, options.delta_commits)
        .await
        .map_err(|e| DemoError::Table { name: "parcels_delta".into(), detail: crate::engine::jobs::error_chain(&e) })?;
    ctx.cancel.check()?;
    ctx.progress.report(scenes.len() as u64 + 1, total_steps, "Iceberg table of parcels");
    let iceberg_dir = dir.join("iceberg");
    let warehouse = iceberg_dir.join("warehouse");
    std::fs::create_dir_all(&warehouse).map_err(|source| DemoError::Io { path: warehouse.clone(), source })?;
    let catalog_db = iceberg_dir.join("catalog.db");
    write_demo_iceberg_table(&catalog_db, &warehouse, "demo", "parcels", &parcels, options.iceberg_snapshots)
        .await
        .map_err(|e| DemoError::Table { name: "demo.parcels".into(), detail: crate::engine::jobs::error_chain(&e) })?;
    tracing::info!(rows = delta.rows, "demo tables written");

    let summary = DemoSummary {
        dir: dir.clone(),
        stac_catalog,
        delta_tables: vec![delta_root.display().to_string()],
        iceberg_catalog: catalog_db.clone(),
        iceberg_tables: vec![format!("iceberg+sqlite://{}#demo.parcels", catalog_db.display())],
    };
    let manifest = serde_json::to_value(&summary)
        .map_err(|e| DemoError::Encode { path: dir.join(DEMO_MANIFEST), detail: e.to_string() })?;
    write_json(&dir.join(DEMO_MANIFEST), &manifest)?;
    std::fs::remove_file(dir.join(PARTIAL_MARKER))
        .map_err(|source| DemoError::Io { path: dir.join(PARTIAL_MARKER), source })?;
    ctx.progress.report(total_steps, total_steps, "demo written");
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenes_cover_two_tiles_at_two_or_more_dates() {
        let specs = scene_specs();
        let dates: std::collections::BTreeSet<_> = specs.iter().map(|s| &s.datetime[..10]).collect();
        let tiles: std::collections::BTreeSet<_> = specs.iter().map(|s| s.tile).collect();
        assert!(dates.len() >= 2 && tiles.len() == 2 && specs.len() >= 4);
    }

    #[test]
    fn rendered_scene_has_vegetation_water_clouds_and_nodata() {
        let specs = scene_specs();
        let scene = specs.iter().find(|s| s.orbit_edge && s.season_growth > 0.7).unwrap();
        let grid = GeoGrid {
            epsg: DEMO_EPSG,
            origin_x: scene.origin_x,
            origin_y: scene.origin_y,
            pixel_size_x: 80.0,
            pixel_size_y: 80.0,
            width: 256,
            height: 256,
        };
        let bands = render_scene(scene, &grid);
        let ndvi: Vec<f64> = bands
            .red
            .iter()
            .zip(&bands.nir)
            .filter(|(r, n)| **r != NODATA || **n != NODATA)
            .map(|(r, n)| (f64::from(*n) - f64::from(*r)) / (f64::from(*n) + f64::from(*r)))
            .collect();
        let nodata = bands.red.iter().filter(|v| **v == NODATA).count();
        assert!(nodata > 1000, "orbit edge nodata pixels: {nodata}");
        assert!(ndvi.iter().any(|v| *v > 0.6), "dense vegetation present");
        assert!(ndvi.iter().any(|v| *v < 0.0), "water present");
        assert!(bands.cloud_cover_pct >= 0.0 && bands.cloud_cover_pct <= 100.0);
    }

    #[test]
    fn folder_with_foreign_content_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("thesis.docx"), b"precious").unwrap();
        let err = prepare_folder(tmp.path()).unwrap_err();
        assert!(matches!(err, DemoError::FolderInUse { .. }));
        assert!(tmp.path().join("thesis.docx").exists());
    }
}
