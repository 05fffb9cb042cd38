//! NDVI data products: red/NIR bands of STAC items → NDVI (time, y, x) float32 → a Zarr store with CF
//! metadata, published atomically, optionally with a versioned STAC item in a product catalog.
//!
//! [`items`] picks the items and their bands; [`plan_grid`] chooses the output grid (default: the first
//! item's CRS and resolution over the union of the items); [`compute`] reads only the COG tiles each output
//! chunk needs, chunk by chunk on the worker pool, and writes each chunk as it is done ([`zarr_out`]);
//! [`publish`] writes the product's STAC item.

pub mod items;
pub mod publish;
pub mod tiles;
pub mod zarr_out;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use rayon::prelude::*;
use serde::Serialize;

use crate::engine::crs::{CrsError, CrsTransform};
use crate::engine::jobs::{JobContext, JobError};
use crate::engine::raster::cog::CogReader;
use crate::engine::raster::{GeoGrid, RasterError};
pub use items::{BandSource, ItemFilter, NdviSource, StacItemRef};

/// Default output chunk side (pixels).
pub const DEFAULT_CHUNK: u32 = 1024;
/// Allowed chunk sides unless forced (the seed's pre-publish checklist).
pub const CHUNK_RANGE: std::ops::RangeInclusive<u32> = 256..=1024;
/// Bins of [`NdviProduct::histogram`] over [-1, 1].
pub const HISTOGRAM_BINS: usize = 40;

/// What went wrong making an NDVI product.
#[derive(Debug, thiserror::Error)]
pub enum NdviError {
    #[error("no imagery found matching domain parameters: {params}")]
    NoImagery { params: String },
    #[error("item {item} has no {band} band: tried {tried}; the item's assets are: {available}")]
    MissingBand { item: String, band: String, tried: String, available: String },
    #[error("item {item}: asset {href} is remote; only local files (and file:// hrefs) are read so far")]
    Remote { item: String, href: String },
    #[error("{0}")]
    Invalid(String),
    #[error("cannot read or write {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("item {item}, band {band}: {source}")]
    Band {
        item: String,
        band: String,
        #[source]
        source: RasterError,
    },
    #[error(transparent)]
    Crs(#[from] CrsError),
    #[error("Zarr store {path}: {detail}")]
    Zarr { path: PathBuf, detail: String },
    #[error("{path} already exists; choose another output path or remove it first")]
    OutputExists { path: PathBuf },
    #[error("pre-publish checklist failed, nothing was published: {}", .0.join("; "))]
    Checklist(Vec<String>),
    #[error("cancelled")]
    Cancelled,
}

/// An NDVI job: which items, which bands, which grid, where to write.
#[derive(Clone, Debug)]
pub struct NdviRequest {
    pub source: NdviSource,
    pub filter: ItemFilter,
    /// Asset keys chosen by the user (default: B04/red/common name "red", B08/nir/"nir").
    pub red: Option<String>,
    pub nir: Option<String>,
    /// Output CRS (default: the first item's).
    pub crs_epsg: Option<u32>,
    /// Output pixel size in CRS units (default: the first item's red band).
    pub resolution: Option<f64>,
    pub chunk: u32,
    /// Allow chunk sides outside [`CHUNK_RANGE`].
    pub force_chunk: bool,
    /// The product folder (`*.zarr`), created atomically; must not exist.
    pub out: PathBuf,
    /// A local product catalog to publish a STAC item into.
    pub publish: Option<PathBuf>,
}

/// One time slice: an item and its two bands.
#[derive(Clone, Debug)]
pub struct Slice {
    pub item: StacItemRef,
    pub red: BandSource,
    pub nir: BandSource,
    pub red_grid: GeoGrid,
    pub nir_grid: GeoGrid,
}

/// What a finished NDVI job made (the CLI prints it as JSON).
#[derive(Clone, Debug, Serialize)]
pub struct NdviProduct {
    pub zarr: PathBuf,
    pub variable: String,
    pub shape: [u64; 3],
    pub chunks: [u64; 3],
    pub crs: String,
    pub items_used: Vec<String>,
    pub valid_fraction: f64,
    pub stac_item: Option<PathBuf>,
    pub times: Vec<String>,
    pub grid: GeoGrid,
    /// lon/lat bbox of the product.
    pub bbox: [f64; 4],
    /// Items warped (other CRS or resolution) rather than stacked directly.
    pub warped_items: Vec<String>,
    pub checklist: Vec<String>,
    /// Valid values of all slices in [`HISTOGRAM_BINS`] equal bins over [-1, 1].
    pub histogram: Vec<u64>,
    pub chunks_written: u64,
    pub secs: f64,
}

fn band_error(item: &str, band: &str) -> impl Fn(RasterError) -> NdviError {
    let (item, band) = (item.to_owned(), band.to_owned());
    move |source| NdviError::Band { item: item.clone(), band: band.clone(), source }
}

/// Resolve bands and read their grids (COG headers only).
pub fn resolve_slices(items: Vec<StacItemRef>, red: Option<&str>, nir: Option<&str>) -> Result<Vec<Slice>, NdviError> {
    items
        .into_iter()
        .map(|item| {
            let red_band = item.band(red, &["B04", "red"], "red")?;
            let nir_band = item.band(nir, &["B08", "nir"], "nir")?;
            let open = |b: &BandSource, name: &str| -> Result<GeoGrid, NdviError> {
                let reader = CogReader::open(&b.path).map_err(band_error(&item.id, name))?;
                let info = reader.info();
                if info.band_count != 1 || info.data_type != "uint16" {
                    return Err(NdviError::Band {
                        item: item.id.clone(),
                        band: name.to_owned(),
                        source: RasterError::Unsupported {
                            path: b.path.clone(),
                            detail: format!(
                                "NDVI reads single-band uint16 COGs; this one has {} band(s) of {}",
                                info.band_count, info.data_type
                            ),
                        },
                    });
                }
                Ok(info.grid.clone())
            };
            let mut red_band = red_band;
            let mut nir_band = nir_band;
            let red_grid = open(&red_band, "red")?;
            let nir_grid = open(&nir_band, "nir")?;
            for band in [&mut red_band, &mut nir_band] {
                if band.nodata.is_none() {
                    band.nodata = CogReader::open(&band.path).ok().and_then(|r| r.info().nodata);
                }
            }
            Ok(Slice { item, red: red_band, nir: nir_band, red_grid, nir_grid })
        })
        .collect()
}

/// The output grid: `epsg` (default: the first item's), pixel size `resolution` (default: the first
/// item's red band), covering the union of all items, aligned to the first item's pixel grid when the
/// CRS and resolution are the first item's.
pub fn plan_grid(slices: &[Slice], epsg: Option<u32>, resolution: Option<f64>) -> Result<GeoGrid, NdviError> {
    let first = &slices.first().ok_or_else(|| NdviError::Invalid("no items to plan a grid for".into()))?.red_grid;
    let epsg = epsg.unwrap_or(first.epsg);
    let mut union = [f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY];
    for slice in slices {
        let b = slice.red_grid.bounds();
        let b = if slice.red_grid.epsg == epsg { b } else { CrsTransform::new(slice.red_grid.epsg, epsg)?.bbox(b, 16)? };
        union = [union[0].min(b[0]), union[1].min(b[1]), union[2].max(b[2]), union[3].max(b[3])];
    }
    let (px, py) = match resolution {
        Some(r) if r.is_finite() && r > 0.0 => (r, r),
        Some(r) => return Err(NdviError::Invalid(format!("resolution {r} must be a positive number"))),
        None if epsg == first.epsg => (first.pixel_size_x, first.pixel_size_y),
        None => {
            let b = CrsTransform::new(first.epsg, epsg)?.bbox(first.bounds(), 16)?;
            ((b[2] - b[0]) / f64::from(first.width), (b[3] - b[1]) / f64::from(first.height))
        }
    };
    // Anchor on the first item's corner when it shares the CRS, so stacked items need no resampling.
    let (anchor_x, anchor_y) = if epsg == first.epsg { (first.origin_x, first.origin_y) } else { (union[0], union[3]) };
    let col0 = ((union[0] - anchor_x) / px + 1e-9).floor();
    let col1 = ((union[2] - anchor_x) / px - 1e-9).ceil();
    let row0 = ((anchor_y - union[3]) / py + 1e-9).floor();
    let row1 = ((anchor_y - union[1]) / py - 1e-9).ceil();
    let width = (col1 - col0).max(1.0);
    let height = (row1 - row0).max(1.0);
    if width * height > 4.0e9 {
        return Err(NdviError::Invalid(format!(
            "the output grid would be {width}x{height} pixels; narrow the items (--bbox) or coarsen --resolution"
        )));
    }
    let grid = GeoGrid {
        epsg,
        origin_x: anchor_x + col0 * px,
        origin_y: anchor_y - row0 * py,
        pixel_size_x: px,
        pixel_size_y: py,
        width: width as u32,
        height: height as u32,
    };
    grid.validate().map_err(|e| NdviError::Invalid(e.to_string()))?;
    Ok(grid)
}

/// Whether a band grid stacks onto the output grid without resampling.
pub fn is_aligned(band: &GeoGrid, out: &GeoGrid) -> bool {
    let whole = |v: f64| (v - v.round()).abs() < 1e-6;
    band.epsg == out.epsg
        && (band.pixel_size_x - out.pixel_size_x).abs() < 1e-9 * out.pixel_size_x.max(1.0)
        && (band.pixel_size_y - out.pixel_size_y).abs() < 1e-9 * out.pixel_size_y.max(1.0)
        && whole((band.origin_x - out.origin_x) / out.pixel_size_x)
        && whole((band.origin_y - out.origin_y) / out.pixel_size_y)
}

/// A band's values on an output window (`cols`×`rows` at `col0`, `row0`): reflectance, NaN where
/// nodata or outside the band. Nearest neighbour; reads only the COG tiles under the window.
fn sample_band(
    band: &BandSource,
    band_grid: &GeoGrid,
    out: &GeoGrid,
    (col0, row0, cols, rows): (u32, u32, u32, u32),
    errors: &(String, &str),
) -> Result<Vec<f32>, NdviError> {
    let n = cols as usize * rows as usize;
    let mut values = vec![f32::NAN; n];
    let to_value = |dn: u16| -> f32 {
        if band.nodata == Some(f64::from(dn)) { f32::NAN } else { (f64::from(dn) * band.scale + band.offset) as f32 }
    };
    let open_window = |c_min: i64, r_min: i64, w: u32, h: u32| -> Result<Vec<u16>, NdviError> {
        let mut reader = CogReader::open(&band.path).map_err(band_error(&errors.0, errors.1))?;
        reader.read_window_u16(0, c_min as u32, r_min as u32, w, h).map_err(band_error(&errors.0, errors.1))
    };
    if band_grid.epsg == out.epsg {
        // Same CRS: the mapping is separable, one source column per output column and one row per row.
        let src_cols: Vec<i64> = (0..cols)
            .map(|c| {
                let x = out.origin_x + (f64::from(col0 + c) + 0.5) * out.pixel_size_x;
                let v = ((x - band_grid.origin_x) / band_grid.pixel_size_x).floor();
                if v >= 0.0 && v < f64::from(band_grid.width) { v as i64 } else { -1 }
            })
            .collect();
        let src_rows: Vec<i64> = (0..rows)
            .map(|r| {
                let y = out.origin_y - (f64::from(row0 + r) + 0.5) * out.pixel_size_y;
                let v = ((band_grid.origin_y - y) / band_grid.pixel_size_y).floor();
                if v >= 0.0 && v < f64::from(band_grid.height) { v as i64 } else { -1 }
            })
            .collect();
        let valid = |v: &&i64| **v >= 0;
        let (Some(c_min), Some(c_max)) = (src_cols.iter().filter(valid).min(), src_cols.iter().filter(valid).max()) else {
            return Ok(values);
        };
        let (Some(r_min), Some(r_max)) = (src_rows.iter().filter(valid).min(), src_rows.iter().filter(valid).max()) else {
            return Ok(values);
        };
        let w = (c_max - c_min + 1) as u32;
        let window = open_window(*c_min, *r_min, w, (r_max - r_min + 1) as u32)?;
        for (r, &sr) in src_rows.iter().enumerate() {
            if sr < 0 {
                continue;
            }
            let src_row = &window[(sr - r_min) as usize * w as usize..];
            let out_row = &mut values[r * cols as usize..(r + 1) * cols as usize];
            for (value, &sc) in out_row.iter_mut().zip(&src_cols) {
                if sc >= 0 {
                    *value = to_value(src_row[(sc - c_min) as usize]);
                }
            }
        }
        return Ok(values);
    }
    // Another CRS: project every output pixel centre into the band's CRS (-1 = outside).
    let transform = CrsTransform::new(out.epsg, band_grid.epsg)?;
    let mut src_index: Vec<(i32, i32)> = Vec::with_capacity(n);
    for row in 0..rows {
        for col in 0..cols {
            let (x, y) = out.pixel_to_crs(f64::from(col0 + col) + 0.5, f64::from(row0 + row) + 0.5);
            let index = transform.point(x, y).ok().and_then(|(sx, sy)| {
                let c = ((sx - band_grid.origin_x) / band_grid.pixel_size_x).floor();
                let r = ((band_grid.origin_y - sy) / band_grid.pixel_size_y).floor();
                (c >= 0.0 && r >= 0.0 && c < f64::from(band_grid.width) && r < f64::from(band_grid.height))
                    .then_some((c as i32, r as i32))
            });
            src_index.push(index.unwrap_or((-1, -1)));
        }
    }
    let (mut c_min, mut r_min, mut c_max, mut r_max) = (i32::MAX, i32::MAX, -1, -1);
    for &(c, r) in &src_index {
        if c >= 0 {
            c_min = c_min.min(c);
            c_max = c_max.max(c);
            r_min = r_min.min(r);
            r_max = r_max.max(r);
        }
    }
    if c_max < 0 {
        return Ok(values);
    }
    let w = (c_max - c_min + 1) as u32;
    let window = open_window(i64::from(c_min), i64::from(r_min), w, (r_max - r_min + 1) as u32)?;
    for (value, &(c, r)) in values.iter_mut().zip(&src_index) {
        if c >= 0 {
            *value = to_value(window[(r - r_min) as usize * w as usize + (c - c_min) as usize]);
        }
    }
    Ok(values)
}

/// The histogram bin of a value (clamped into [-1, 1]).
pub fn histogram_bin(value: f32) -> usize {
    let t = ((f64::from(value) + 1.0) / 2.0).clamp(0.0, 1.0);
    ((t * HISTOGRAM_BINS as f64) as usize).min(HISTOGRAM_BINS - 1)
}

/// NDVI of two reflectance values: NaN where either is NaN or the sum is 0.
pub fn ndvi(nir: f32, red: f32) -> f32 {
    let sum = nir + red;
    if nir.is_nan() || red.is_nan() || sum == 0.0 { f32::NAN } else { (nir - red) / sum }
}

/// One output chunk of one time slice, padded with NaN to the full chunk shape; and its valid pixel count.
pub fn compute_chunk(slice: &Slice, out: &GeoGrid, chunk: u32, chunk_row: u32, chunk_col: u32) -> Result<(Vec<f32>, u64), NdviError> {
    let (col0, row0) = (chunk_col * chunk, chunk_row * chunk);
    let cols = chunk.min(out.width - col0);
    let rows = chunk.min(out.height - row0);
    let window = (col0, row0, cols, rows);
    let red = sample_band(&slice.red, &slice.red_grid, out, window, &(slice.item.id.clone(), "red"))?;
    let nir = sample_band(&slice.nir, &slice.nir_grid, out, window, &(slice.item.id.clone(), "nir"))?;
    let mut data = vec![f32::NAN; chunk as usize * chunk as usize];
    let mut valid = 0;
    for r in 0..rows as usize {
        for c in 0..cols as usize {
            let i = r * cols as usize + c;
            let v = ndvi(nir[i], red[i]);
            if !v.is_nan() {
                valid += 1;
            }
            data[r * chunk as usize + c] = v;
        }
    }
    Ok((data, valid))
}

/// Run an NDVI job: select, plan, compute chunk by chunk in parallel into a temporary Zarr store,
/// check, move into place, and publish a STAC item when asked.
pub async fn run_ndvi(request: NdviRequest, ctx: &JobContext) -> Result<NdviProduct, JobError> {
    let started = std::time::Instant::now();
    if !CHUNK_RANGE.contains(&request.chunk) && !request.force_chunk {
        return Err(NdviError::Invalid(format!(
            "chunk size {} is outside {}..={} (the pre-publish checklist's bounds); pass --force-chunk to use it anyway",
            request.chunk,
            CHUNK_RANGE.start(),
            CHUNK_RANGE.end()
        ))
        .into());
    }
    if request.chunk == 0 {
        return Err(NdviError::Invalid("chunk size must be at least 1".into()).into());
    }
    if request.out.exists() {
        return Err(NdviError::OutputExists { path: request.out.clone() }.into());
    }
    let req = request.clone();
    let slices = ctx
        .cpu(move || -> Result<_, NdviError> {
            let items = items::select_items(&req.source, &req.filter)?;
            let slices = resolve_slices(items, req.red.as_deref(), req.nir.as_deref())?;
            let grid = plan_grid(&slices, req.crs_epsg, req.resolution)?;
            Ok((slices, grid))
        })
        .await?;
    let (slices, grid) = slices?;
    let store = zarr_out::ProductWriter::create(&request.out, &grid, &slices, request.chunk)?;

    let chunk = request.chunk;
    let (chunks_down, chunks_across) = (grid.height.div_ceil(chunk), grid.width.div_ceil(chunk));
    let tasks: Vec<(usize, u32, u32)> = (0..slices.len())
        .flat_map(|t| (0..chunks_down).flat_map(move |r| (0..chunks_across).map(move |c| (t, r, c))))
        .collect();
    let total = tasks.len() as u64;
    let done = AtomicU64::new(0);
    let valid = AtomicU64::new(0);
    let histogram: Vec<AtomicU64> = (0..HISTOGRAM_BINS).map(|_| AtomicU64::new(0)).collect();
    let histogram = std::sync::Arc::new(histogram);
    let histogram_c = histogram.clone();
    let cancel = ctx.cancel.clone();
    let progress = ctx.progress.clone();
    let pool_ctx = ctx.clone();
    let grid_c = grid.clone();
    let (store, slices, result) = ctx
        .cpu(move || {
            let result: Result<(), NdviError> = pool_ctx.cpu_pool().install(|| {
                tasks.par_iter().try_for_each(|&(t, r, c)| {
                    if cancel.is_cancelled() {
                        return Err(NdviError::Cancelled);
                    }
                    let (data, n_valid) = compute_chunk(&slices[t], &grid_c, chunk, r, c)?;
                    let mut bins = [0u64; HISTOGRAM_BINS];
                    for v in data.iter().filter(|v| !v.is_nan()) {
                        bins[histogram_bin(*v)] += 1;
                    }
                    for (bin, n) in histogram_c.iter().zip(bins) {
                        bin.fetch_add(n, Ordering::Relaxed);
                    }
                    store.write_chunk(t as u64, u64::from(r), u64::from(c), data)?;
                    valid.fetch_add(n_valid, Ordering::Relaxed);
                    let d = done.fetch_add(1, Ordering::Relaxed) + 1;
                    progress.report(d, total, format!("chunk {d}/{total}"));
                    Ok(())
                })
            });
            (store, slices, result.map(|()| valid.load(Ordering::Relaxed)))
        })
        .await?;
    // On any error the writer is dropped, which removes its temporary folder: nothing partial stays.
    let valid = result?;
    ctx.cancel.check()?;
    let pixels = u64::from(grid.width) * u64::from(grid.height) * slices.len() as u64;
    let checklist = store.finish()?;
    let bbox = lonlat_bbox(&grid)?;
    let warped_items = slices
        .iter()
        .filter(|s| !is_aligned(&s.red_grid, &grid) || !is_aligned(&s.nir_grid, &grid))
        .map(|s| s.item.id.clone())
        .collect();
    let mut product = NdviProduct {
        zarr: request.out.clone(),
        variable: "ndvi".into(),
        shape: [slices.len() as u64, u64::from(grid.height), u64::from(grid.width)],
        chunks: [1, u64::from(chunk), u64::from(chunk)],
        crs: format!("EPSG:{}", grid.epsg),
        items_used: slices.iter().map(|s| s.item.id.clone()).collect(),
        valid_fraction: if pixels == 0 { 0.0 } else { valid as f64 / pixels as f64 },
        stac_item: None,
        times: slices.iter().map(|s| s.item.datetime.to_rfc3339()).collect(),
        grid,
        bbox,
        warped_items,
        checklist,
        histogram: histogram.iter().map(|b| b.load(Ordering::Relaxed)).collect(),
        chunks_written: total,
        secs: 0.0,
    };
    if let Some(catalog) = &request.publish {
        let sources: Vec<StacItemRef> = slices.iter().map(|s| s.item.clone()).collect();
        product.stac_item = Some(publish::publish_item(catalog, &product, &sources)?);
    }
    product.secs = started.elapsed().as_secs_f64();
    Ok(product)
}

/// The grid's lon/lat bbox.
pub fn lonlat_bbox(grid: &GeoGrid) -> Result<[f64; 4], NdviError> {
    if grid.epsg == 4326 {
        return Ok(grid.bounds());
    }
    Ok(CrsTransform::new(grid.epsg, 4326)?.bbox(grid.bounds(), 16)?)
}

impl From<NdviError> for JobError {
    fn from(err: NdviError) -> Self {
        match err {
            NdviError::Cancelled => JobError::Cancelled,
            other => JobError::Ndvi(other),
        }
    }
}
