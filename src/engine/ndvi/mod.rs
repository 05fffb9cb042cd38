//! NDVI data products: red/NIR bands of STAC items → NDVI (time, y, x) float32 → a Zarr store with CF
//! metadata, published atomically, optionally with a versioned STAC item in a product catalog.
//!
//! [`items`] picks the items and their bands; [`plan_grid`] chooses the output grid (default: the first
//! item's CRS and resolution over the union of the items); [`compute`] reads only the COG tiles each output
//! chunk needs, chunk by chunk on the worker pool, and writes each chunk as it is done ([`zarr_out`]);
//! [`publish`] writes the product's STAC item.

pub mod items;
pub mod publish;
pub mod stats;
pub mod tiles;
pub mod zarr_out;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use rayon::prelude::*;
use serde::Serialize;

use crate::engine::crs::{CrsError, CrsTransform};
use crate::engine::jobs::{JobContext, JobError};
use crate::engine::raster::cog::CogReader;
use crate::engine::raster::tile_reader::{TileReader, TileScratch, ValueMap};
use crate::engine::raster::{GeoGrid, RasterError};
pub use items::{BandSource, ItemFilter, NdviSource, StacItemRef};

/// Default output chunk side (pixels).
pub const DEFAULT_CHUNK: u32 = 1024;
/// Allowed chunk sides unless forced (the seed's pre-publish checklist).
pub const CHUNK_RANGE: std::ops::RangeInclusive<u32> = 256..=1024;
/// Bins of the NDVI histograms over [-1, 1] ([`stats`]: a lon/lat area of a product).
pub const HISTOGRAM_BINS: usize = 40;

/// What went wrong making an NDVI product.
#[derive(Debug, thiserror::Error)]
pub enum NdviError {
    #[error("no imagery found matching domain parameters: {params}")]
    NoImagery { params: String },
    #[error("item {item} has no {band} band: tried {tried}; the item's assets are: {available}")]
    MissingBand { item: String, band: String, tried: String, available: String },
    #[error("item {item}: asset {href} is remote; only local files (and file:// hrefs) and http(s) URLs are read")]
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
    /// The bands' full-resolution tile readers (None: decoded through the TIFF decoder instead).
    pub red_tiles: Option<TileReader>,
    pub nir_tiles: Option<TileReader>,
}

impl Slice {
    fn bands(&self) -> [(&BandSource, &GeoGrid, Option<&TileReader>, &'static str); 2] {
        [(&self.red, &self.red_grid, self.red_tiles.as_ref(), "red"), (&self.nir, &self.nir_grid, self.nir_tiles.as_ref(), "nir")]
    }
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
    pub chunks_written: u64,
    pub secs: f64,
}

fn band_error(item: &str, band: &str) -> impl Fn(RasterError) -> NdviError {
    let (item, band) = (item.to_owned(), band.to_owned());
    move |source| NdviError::Band { item: item.clone(), band: band.clone(), source }
}

/// Resolve bands, read their grids and tile tables (COG headers only, each file opened once).
pub fn resolve_slices(items: Vec<StacItemRef>, red: Option<&str>, nir: Option<&str>) -> Result<Vec<Slice>, NdviError> {
    items
        .into_iter()
        .map(|item| {
            let mut red_band = item.band(red, &["B04", "red"], "red")?;
            let mut nir_band = item.band(nir, &["B08", "nir"], "nir")?;
            let open = |b: &mut BandSource, name: &str| -> Result<(GeoGrid, Option<TileReader>), NdviError> {
                let mut reader = CogReader::open(&b.path).map_err(band_error(&item.id, name))?;
                let info = reader.info().clone();
                let unsupported = |detail: String| NdviError::Band {
                    item: item.id.clone(),
                    band: name.to_owned(),
                    source: RasterError::Unsupported { path: b.path.clone(), detail },
                };
                if info.band_count != 1 {
                    return Err(unsupported(format!("NDVI reads single-band COGs; this one has {} bands", info.band_count)));
                }
                let tiles = match reader.tile_reader(0) {
                    Ok(tiles) => Some(tiles),
                    // LZW, zstd, …: the TIFF decoder reads those, uint16 only.
                    Err(_) if info.data_type == "uint16" => None,
                    Err(why) => {
                        return Err(unsupported(format!(
                            "NDVI reads uint8/int8/uint16/int16/uint32/int32/float32/float64 COGs, uncompressed or deflate; this one is {} with {} compression ({why})",
                            info.data_type, info.compression
                        )));
                    }
                };
                if b.nodata.is_none() {
                    b.nodata = info.nodata;
                }
                Ok((info.grid, tiles))
            };
            let (red_grid, red_tiles) = open(&mut red_band, "red")?;
            let (nir_grid, nir_tiles) = open(&mut nir_band, "nir")?;
            Ok(Slice { item, red: red_band, nir: nir_band, red_grid, nir_grid, red_tiles, nir_tiles })
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

thread_local! {
    /// Each worker's buffers for the chunks of one NDVI job (allocated once per job and thread).
    static CHUNK_BUFFERS: std::cell::RefCell<ChunkBuffers> = std::cell::RefCell::default();
}

/// Per-thread buffers of [`compute_chunk_into`]: the chunk (red, then NDVI), NIR, a window for
/// resampled bands, and the tile decoder's scratch. Reused from chunk to chunk: no allocation per chunk.
#[derive(Debug, Default)]
pub struct ChunkBuffers {
    pub ndvi: Vec<f32>,
    nir: Vec<f32>,
    window: Vec<f32>,
    scratch: TileScratch,
    /// The fused path's second tile and its two value rows.
    scratch_nir: TileScratch,
    row_red: Vec<f32>,
    row_nir: Vec<f32>,
}

/// Read a band's values (reflectance, NaN for nodata) in the band's own pixel window into `out`
/// (row stride `stride`).
fn read_band_window(
    band: &BandSource,
    tiles: Option<&TileReader>,
    window: (u32, u32, u32, u32),
    out: &mut [f32],
    stride: usize,
    scratch: &mut TileScratch,
) -> Result<(), RasterError> {
    let map = ValueMap { nodata: band.nodata, scale: band.scale, offset: band.offset };
    if let Some(tiles) = tiles {
        return tiles.read_window_f32(window, &map, out, stride, scratch);
    }
    let (c, r, w, h) = window;
    let raw = CogReader::open(&band.path)?.read_window_u16(0, c, r, w, h)?;
    for (row, src) in raw.chunks_exact(w as usize).enumerate() {
        for (d, &v) in out[row * stride..row * stride + w as usize].iter_mut().zip(src) {
            *d = if map.nodata == Some(f64::from(v)) { f32::NAN } else { (f64::from(v) * map.scale + map.offset) as f32 };
        }
    }
    Ok(())
}

/// Fill `out` (a `chunk`-wide buffer of the output window `cols`×`rows` at `col0`, `row0`, already NaN)
/// with one band's values. A band on the output grid is read straight into place; another one
/// (another CRS or resolution) is sampled by nearest neighbour from the window of it under the chunk.
#[allow(clippy::too_many_arguments)]
fn fill_band(
    band: &BandSource,
    band_grid: &GeoGrid,
    tiles: Option<&TileReader>,
    out_grid: &GeoGrid,
    (col0, row0, cols, rows): (u32, u32, u32, u32),
    chunk: usize,
    out: &mut [f32],
    window_buf: &mut Vec<f32>,
    scratch: &mut TileScratch,
) -> Result<(), RasterError> {
    if is_aligned(band_grid, out_grid) {
        // The band's pixel (0, 0) is output pixel (dx, dy).
        let dx = ((band_grid.origin_x - out_grid.origin_x) / out_grid.pixel_size_x).round() as i64;
        let dy = ((out_grid.origin_y - band_grid.origin_y) / out_grid.pixel_size_y).round() as i64;
        let c0 = i64::from(col0).max(dx);
        let c1 = (i64::from(col0) + i64::from(cols)).min(dx + i64::from(band_grid.width));
        let r0 = i64::from(row0).max(dy);
        let r1 = (i64::from(row0) + i64::from(rows)).min(dy + i64::from(band_grid.height));
        if c0 >= c1 || r0 >= r1 {
            return Ok(());
        }
        let start = (r0 - i64::from(row0)) as usize * chunk + (c0 - i64::from(col0)) as usize;
        let window = ((c0 - dx) as u32, (r0 - dy) as u32, (c1 - c0) as u32, (r1 - r0) as u32);
        return read_band_window(band, tiles, window, &mut out[start..], chunk, scratch);
    }
    // Output pixel centre → band pixel (-1: outside), separable when the CRS is the same.
    let inside = |c: f64, r: f64| c >= 0.0 && r >= 0.0 && c < f64::from(band_grid.width) && r < f64::from(band_grid.height);
    let mut index: Vec<(i32, i32)> = Vec::with_capacity(cols as usize * rows as usize);
    if band_grid.epsg == out_grid.epsg {
        let src_cols: Vec<f64> = (0..cols)
            .map(|c| {
                let x = out_grid.origin_x + (f64::from(col0 + c) + 0.5) * out_grid.pixel_size_x;
                ((x - band_grid.origin_x) / band_grid.pixel_size_x).floor()
            })
            .collect();
        for r in 0..rows {
            let y = out_grid.origin_y - (f64::from(row0 + r) + 0.5) * out_grid.pixel_size_y;
            let sr = ((band_grid.origin_y - y) / band_grid.pixel_size_y).floor();
            index.extend(src_cols.iter().map(|&sc| if inside(sc, sr) { (sc as i32, sr as i32) } else { (-1, -1) }));
        }
    } else {
        let transform = CrsTransform::new(out_grid.epsg, band_grid.epsg).map_err(RasterError::Crs)?;
        for r in 0..rows {
            for c in 0..cols {
                let (x, y) = out_grid.pixel_to_crs(f64::from(col0 + c) + 0.5, f64::from(row0 + r) + 0.5);
                let i = transform.point(x, y).ok().and_then(|(sx, sy)| {
                    let c = ((sx - band_grid.origin_x) / band_grid.pixel_size_x).floor();
                    let r = ((band_grid.origin_y - sy) / band_grid.pixel_size_y).floor();
                    inside(c, r).then_some((c as i32, r as i32))
                });
                index.push(i.unwrap_or((-1, -1)));
            }
        }
    }
    let (mut c_min, mut r_min, mut c_max, mut r_max) = (i32::MAX, i32::MAX, -1, -1);
    for &(c, r) in &index {
        if c >= 0 {
            c_min = c_min.min(c);
            c_max = c_max.max(c);
            r_min = r_min.min(r);
            r_max = r_max.max(r);
        }
    }
    if c_max < 0 {
        return Ok(());
    }
    let (w, h) = ((c_max - c_min + 1) as usize, (r_max - r_min + 1) as usize);
    window_buf.clear();
    window_buf.resize(w * h, f32::NAN);
    read_band_window(band, tiles, (c_min as u32, r_min as u32, w as u32, h as u32), window_buf, w, scratch)?;
    for (i, &(c, r)) in index.iter().enumerate() {
        if c >= 0 {
            let (row, col) = (i / cols as usize, i % cols as usize);
            out[row * chunk + col] = window_buf[(r - r_min) as usize * w + (c - c_min) as usize];
        }
    }
    Ok(())
}

/// The histogram bin of a value (clamped into [-1, 1]).
pub fn histogram_bin(value: f32) -> usize {
    let t = ((value + 1.0) * 0.5).clamp(0.0, 1.0) * HISTOGRAM_BINS as f32;
    (t as usize).min(HISTOGRAM_BINS - 1)
}

/// NDVI of two reflectance values: NaN where either is NaN or the sum is 0.
#[inline]
pub fn ndvi(nir: f32, red: f32) -> f32 {
    ndvi_value(nir, red)
}

#[inline(always)]
fn ndvi_value(nir: f32, red: f32) -> f32 {
    let sum = nir + red;
    let v = (nir - red) / sum;
    // Branch-free (vectorises): a NaN input makes `v` NaN.
    if sum == 0.0 || v.is_nan() { f32::NAN } else { v }
}

/// Whether a band stacks onto the output grid and covers the whole `chunk`² chunk at `window`.
fn covers_chunk(band: &GeoGrid, out: &GeoGrid, (col0, row0, cols, rows): (u32, u32, u32, u32), chunk: u32) -> bool {
    if cols != chunk || rows != chunk || !is_aligned(band, out) {
        return false;
    }
    let dx = ((band.origin_x - out.origin_x) / out.pixel_size_x).round() as i64;
    let dy = ((out.origin_y - band.origin_y) / out.pixel_size_y).round() as i64;
    dx <= i64::from(col0)
        && dy <= i64::from(row0)
        && dx + i64::from(band.width) >= i64::from(col0 + cols)
        && dy + i64::from(band.height) >= i64::from(row0 + rows)
}

/// Add the valid (non-NaN) values to `histogram` ([`histogram_bin`]); returns how many there were.
pub fn histogram_add(values: &[f32], histogram: &mut [u64; HISTOGRAM_BINS]) -> u64 {
    let mut counter = HistogramCounter::default();
    counter.add(values);
    counter.finish(histogram)
}

/// Counts values into [`HISTOGRAM_BINS`] bins (plus one for NaN). Four interleaved partial histograms
/// keep consecutive increments of one bin independent.
pub struct HistogramCounter {
    parts: [[u64; HISTOGRAM_BINS + 1]; 4],
    /// The bins of one block of values (kept here: no 1 KiB zeroing per call).
    bins: [u8; 1024],
}

impl Default for HistogramCounter {
    fn default() -> Self {
        Self { parts: [[0; HISTOGRAM_BINS + 1]; 4], bins: [0; 1024] }
    }
}

impl HistogramCounter {
    pub fn add(&mut self, values: &[f32]) {
        let Self { parts, bins } = self;
        for block in values.chunks(bins.len()) {
            // Pass 1 (vectorised): the bin of every value, HISTOGRAM_BINS for NaN.
            simd::bins(block, bins);
            // Pass 2: count.
            let bins = &bins[..block.len()];
            let mut quads = bins.chunks_exact(4);
            for q in &mut quads {
                parts[0][usize::from(q[0])] += 1;
                parts[1][usize::from(q[1])] += 1;
                parts[2][usize::from(q[2])] += 1;
                parts[3][usize::from(q[3])] += 1;
            }
            for &b in quads.remainder() {
                parts[0][usize::from(b)] += 1;
            }
        }
    }

    /// Add the counts to `histogram`; returns the number of valid values.
    pub fn finish(self, histogram: &mut [u64; HISTOGRAM_BINS]) -> u64 {
        let mut valid = 0;
        for (i, total) in histogram.iter_mut().enumerate() {
            let n: u64 = self.parts.iter().map(|p| p[i]).sum();
            *total += n;
            valid += n;
        }
        valid
    }
}

/// The fused path of [`compute_chunk_into`]: both bands on the output grid, covering the whole chunk,
/// with one tile layout. Tile by tile, both bands' tiles are decoded and each row is converted into a
/// small row buffer and turned into NDVI (and counted) while it is in cache: the chunk buffer is written
/// once. None when the bands do not qualify.
fn fused_chunk(
    slice: &Slice,
    out: &GeoGrid,
    chunk: u32,
    window: (u32, u32, u32, u32),
    buffers: &mut ChunkBuffers,
) -> Option<Result<u64, NdviError>> {
    let (Some(red), Some(nir)) = (slice.red_tiles.as_ref(), slice.nir_tiles.as_ref()) else { return None };
    let (rl, nl) = (&*red.layout, &*nir.layout);
    let same_layout = (rl.width, rl.height, rl.tile_width, rl.tile_height) == (nl.width, nl.height, nl.tile_width, nl.tile_height)
        && slice.red_grid == slice.nir_grid;
    if !same_layout || !covers_chunk(&slice.red_grid, out, window, chunk) {
        return None;
    }
    let dx = ((slice.red_grid.origin_x - out.origin_x) / out.pixel_size_x).round() as i64;
    let dy = ((out.origin_y - slice.red_grid.origin_y) / out.pixel_size_y).round() as i64;
    // The chunk in band pixels.
    let (bc0, br0) = ((i64::from(window.0) - dx) as u32, (i64::from(window.1) - dy) as u32);
    let (tw, th) = (rl.tile_width, rl.tile_height);
    let red_map = ValueMap { nodata: slice.red.nodata, scale: slice.red.scale, offset: slice.red.offset };
    let nir_map = ValueMap { nodata: slice.nir.nodata, scale: slice.nir.scale, offset: slice.nir.offset };
    let n = chunk as usize * chunk as usize;
    let ChunkBuffers { ndvi, scratch, scratch_nir, row_red, row_nir, .. } = buffers;
    ndvi.resize(n, f32::NAN);
    row_red.resize(tw as usize, 0.0);
    row_nir.resize(tw as usize, 0.0);
    let mut run = || -> Result<u64, NdviError> {
        let mut valid = 0u64;
        for tile_row in br0 / th..=(br0 + chunk - 1) / th {
            for tile_col in bc0 / tw..=(bc0 + chunk - 1) / tw {
                let red_loaded = red.load_tile(tile_col, tile_row, scratch).map_err(band_error(&slice.item.id, "red"))?;
                let nir_loaded = nir.load_tile(tile_col, tile_row, scratch_nir).map_err(band_error(&slice.item.id, "nir"))?;
                let (tx, ty) = (tile_col * tw, tile_row * th);
                let x0 = bc0.max(tx);
                let x1 = (bc0 + chunk).min(tx + tw).min(rl.width);
                let y0 = br0.max(ty);
                let y1 = (br0 + chunk).min(ty + th).min(rl.height);
                let len = (x1 - x0) as usize;
                for y in y0..y1 {
                    let (r, nr) = (&mut row_red[..len], &mut row_nir[..len]);
                    red.convert_run(scratch, red_loaded, y - ty, x0 - tx, &red_map, r);
                    nir.convert_run(scratch_nir, nir_loaded, y - ty, x0 - tx, &nir_map, nr);
                    let start = (y - br0) as usize * chunk as usize + (x0 - bc0) as usize;
                    let dst = &mut ndvi[start..start + len];
                    valid += simd::ndvi_row(dst, nr, r);
                }
            }
        }
        Ok(valid)
    };
    Some(run())
}

/// The hot loops, compiled twice on x86-64: for the baseline (SSE2) and for AVX2, chosen at run time.
/// Only IEEE operations that give the same bits at any vector width (no FMA contraction in Rust).
mod simd {
    use super::{HISTOGRAM_BINS, ndvi_value};

    #[inline(always)]
    fn bins_generic(block: &[f32], bins: &mut [u8]) {
        for (b, &v) in bins.iter_mut().zip(block) {
            // The same arithmetic as `histogram_bin`.
            let t = ((v + 1.0) * 0.5).clamp(0.0, 1.0) * HISTOGRAM_BINS as f32;
            let t = if v.is_nan() { HISTOGRAM_BINS as f32 } else { t.min((HISTOGRAM_BINS - 1) as f32) };
            // t is finite and within 0..=HISTOGRAM_BINS: truncation = floor.
            *b = t as u8;
        }
    }

    /// Returns how many of the values written are not NaN (counted in the same pass).
    #[inline(always)]
    fn ndvi_generic(dst: &mut [f32], nir: &[f32], red: &[f32]) -> u64 {
        let mut nan = 0u64;
        for ((d, &r), &n) in dst.iter_mut().zip(red).zip(nir) {
            let v = ndvi_value(n, r);
            nan += u64::from(v.is_nan());
            *d = v;
        }
        (dst.len().min(red.len()).min(nir.len()) as u64).saturating_sub(nan)
    }

    #[inline(always)]
    fn ndvi_in_place_generic(red: &mut [f32], nir: &[f32]) -> u64 {
        let mut nan = 0u64;
        for (r, &n) in red.iter_mut().zip(nir) {
            let v = ndvi_value(n, *r);
            nan += u64::from(v.is_nan());
            *r = v;
        }
        (red.len().min(nir.len()) as u64).saturating_sub(nan)
    }

    #[cfg(target_arch = "x86_64")]
    mod avx2 {
        #[target_feature(enable = "avx2")]
        pub fn bins(block: &[f32], bins: &mut [u8]) {
            super::bins_generic(block, bins)
        }
        #[target_feature(enable = "avx2")]
        pub fn ndvi(dst: &mut [f32], nir: &[f32], red: &[f32]) -> u64 {
            super::ndvi_generic(dst, nir, red)
        }
        #[target_feature(enable = "avx2")]
        pub fn ndvi_in_place(red: &mut [f32], nir: &[f32]) -> u64 {
            super::ndvi_in_place_generic(red, nir)
        }
    }

    fn has_avx2() -> bool {
        #[cfg(target_arch = "x86_64")]
        return std::arch::is_x86_feature_detected!("avx2");
        #[cfg(not(target_arch = "x86_64"))]
        false
    }

    /// `bins[i]` = the histogram bin of `block[i]` (HISTOGRAM_BINS for NaN).
    pub fn bins(block: &[f32], bins: &mut [u8]) {
        #[cfg(target_arch = "x86_64")]
        if has_avx2() {
            // SAFETY: the CPU has AVX2.
            return unsafe { avx2::bins(block, bins) };
        }
        bins_generic(block, bins)
    }

    /// `dst[i] = ndvi(nir[i], red[i])`; returns how many are not NaN.
    pub fn ndvi_row(dst: &mut [f32], nir: &[f32], red: &[f32]) -> u64 {
        #[cfg(target_arch = "x86_64")]
        if has_avx2() {
            // SAFETY: the CPU has AVX2.
            return unsafe { avx2::ndvi(dst, nir, red) };
        }
        ndvi_generic(dst, nir, red)
    }

    /// `red[i] = ndvi(nir[i], red[i])`; returns how many are not NaN.
    pub fn ndvi_in_place(red: &mut [f32], nir: &[f32]) -> u64 {
        #[cfg(target_arch = "x86_64")]
        if has_avx2() {
            // SAFETY: the CPU has AVX2.
            return unsafe { avx2::ndvi_in_place(red, nir) };
        }
        ndvi_in_place_generic(red, nir)
    }
}

/// One output chunk of one time slice into `buffers.ndvi` (the full chunk shape, NaN padded); returns
/// its valid (non-NaN) pixel count.
pub fn compute_chunk_into(
    slice: &Slice,
    out: &GeoGrid,
    chunk: u32,
    (chunk_row, chunk_col): (u32, u32),
    buffers: &mut ChunkBuffers,
) -> Result<u64, NdviError> {
    let (col0, row0) = (chunk_col * chunk, chunk_row * chunk);
    let window = (col0, row0, chunk.min(out.width - col0), chunk.min(out.height - row0));
    let n = chunk as usize * chunk as usize;
    if let Some(valid) = fused_chunk(slice, out, chunk, window, buffers) {
        return valid;
    }
    let ChunkBuffers { ndvi: red, nir, window: window_buf, scratch, .. } = buffers;
    for (buf, (band, grid, tiles, name)) in [&mut *red, &mut *nir].into_iter().zip(slice.bands()) {
        // A band on the grid that covers the whole chunk overwrites every value: no NaN fill needed.
        if !covers_chunk(grid, out, window, chunk) || buf.len() != n {
            buf.clear();
            buf.resize(n, f32::NAN);
        }
        fill_band(band, grid, tiles, out, window, chunk as usize, buf, window_buf, scratch).map_err(band_error(&slice.item.id, name))?;
    }
    Ok(simd::ndvi_in_place(red, nir))
}

/// One output chunk of one time slice, padded with NaN to the full chunk shape; and its valid pixel count.
pub fn compute_chunk(slice: &Slice, out: &GeoGrid, chunk: u32, chunk_row: u32, chunk_col: u32) -> Result<(Vec<f32>, u64), NdviError> {
    let mut buffers = ChunkBuffers::default();
    let valid = compute_chunk_into(slice, out, chunk, (chunk_row, chunk_col), &mut buffers)?;
    Ok((buffers.ndvi, valid))
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
    tracing::debug!(secs = started.elapsed().as_secs_f64(), items = slices.len(), "NDVI: items, bands and grid resolved");
    let store = zarr_out::ProductWriter::create(&request.out, &grid, &slices, request.chunk)?;

    let chunk = request.chunk;
    let (chunks_down, chunks_across) = (grid.height.div_ceil(chunk), grid.width.div_ceil(chunk));
    let tasks: Vec<(usize, u32, u32)> = (0..slices.len())
        .flat_map(|t| (0..chunks_down).flat_map(move |r| (0..chunks_across).map(move |c| (t, r, c))))
        .collect();
    let total = tasks.len() as u64;
    let done = AtomicU64::new(0);
    let valid = AtomicU64::new(0);
    let cancel = ctx.cancel.clone();
    let progress = ctx.progress.clone();
    let pool_ctx = ctx.clone();
    let grid_c = grid.clone();
    let (store, slices, result) = ctx
        .cpu(move || {
            let result: Result<(), NdviError> = pool_ctx.cpu_pool().install(|| {
                // One task per (time, chunk row, chunk column), each reading only the tiles under it;
                // each worker reuses its buffers from chunk to chunk.
                tasks.par_iter().try_for_each(|&(t, r, c)| {
                    if cancel.is_cancelled() {
                        return Err(NdviError::Cancelled);
                    }
                    CHUNK_BUFFERS.with_borrow_mut(|buffers| {
                        let n_valid = compute_chunk_into(&slices[t], &grid_c, chunk, (r, c), buffers)?;
                        store.write_chunk(t as u64, u64::from(r), u64::from(c), &buffers.ndvi)?;
                        valid.fetch_add(n_valid, Ordering::Relaxed);
                        Ok::<(), NdviError>(())
                    })?;
                    let d = done.fetch_add(1, Ordering::Relaxed) + 1;
                    progress.report(d, total, format!("chunk {d}/{total}"));
                    Ok(())
                })
            });
            // Give the workers' buffers back (the GUI's pool lives on).
            pool_ctx.cpu_pool().broadcast(|_| CHUNK_BUFFERS.with_borrow_mut(|b| *b = ChunkBuffers::default()));
            (store, slices, result.map(|()| valid.load(Ordering::Relaxed)))
        })
        .await?;
    // On any error the writer is dropped, which removes its temporary folder: nothing partial stays.
    let valid = result?;
    ctx.cancel.check()?;
    let pixels = u64::from(grid.width) * u64::from(grid.height) * slices.len() as u64;
    tracing::debug!(secs = started.elapsed().as_secs_f64(), chunks = total, "NDVI: chunks computed and written");
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

/// Whether `path` is a Zarr store (v3 `zarr.json` or v2 `.zgroup` / `.zarray` in the folder).
pub fn is_zarr_store(path: &std::path::Path) -> bool {
    path.is_dir() && ["zarr.json", ".zgroup", ".zarray"].iter().any(|f| path.join(f).is_file())
}

/// Arrays of a store that are coordinates or the grid mapping, not data.
const COORDINATE_ARRAYS: [&str; 6] = ["time", "x", "y", "lat", "lon", "spatial_ref"];

/// The data array a preview of the store at `zarr` shows: `ndvi` when there is one, else the store's only
/// array that is not a coordinate; an error naming the arrays otherwise.
pub fn preview_variable(zarr: &std::path::Path) -> Result<String, NdviError> {
    if zarr.join("ndvi").is_dir() {
        return Ok("ndvi".to_owned());
    }
    let mut arrays = stats::store_arrays(zarr)?;
    arrays.retain(|name| !COORDINATE_ARRAYS.contains(&name.as_str()));
    match arrays.as_slice() {
        [only] => Ok(only.clone()),
        [] => Err(NdviError::Invalid(format!("{} holds no data array to show (only coordinates, or nothing)", zarr.display()))),
        many => Err(NdviError::Invalid(format!(
            "{} holds several data arrays ({}); the map shows `ndvi` or a store's only array — read one with `meshlake ndvi stats {} --variable NAME`",
            zarr.display(),
            many.join(", "),
            zarr.display()
        ))),
    }
}

/// A product already on disk, or any float32 `(time, y, x)` / `(y, x)` Zarr array with a CF grid mapping,
/// described for the map preview (shape, chunks, CRS, grid, lon/lat bbox, times) from its metadata alone:
/// nothing is counted, so `valid_fraction` is 0 and `chunks_written` 0.
pub fn describe_product(zarr: &std::path::Path, variable: &str) -> Result<NdviProduct, NdviError> {
    let reader = stats::open_array(zarr, variable)?;
    let (chunk_y, chunk_x) = reader.chunk_yx()?;
    let n = reader.shape.len();
    let (height, width) = (reader.shape[n - 2], reader.shape[n - 1]);
    let times: Vec<String> = reader
        .times
        .iter()
        .map(|s| chrono::DateTime::from_timestamp(*s, 0).map(|d| d.to_rfc3339()).unwrap_or_else(|| s.to_string()))
        .collect();
    let grid = reader.grid.clone();
    Ok(NdviProduct {
        zarr: zarr.to_path_buf(),
        variable: variable.to_owned(),
        shape: [reader.time_count() as u64, height, width],
        chunks: [1, chunk_y, chunk_x],
        crs: format!("EPSG:{}", grid.epsg),
        items_used: Vec::new(),
        valid_fraction: 0.0,
        stac_item: None,
        times,
        bbox: lonlat_bbox(&grid)?,
        grid,
        warped_items: Vec::new(),
        checklist: Vec::new(),
        chunks_written: 0,
        secs: 0.0,
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_add_counts_like_histogram_bin_and_ndvi_is_nan_where_it_must() {
        let mut values: Vec<f32> = vec![-1.0, 1.0, 0.0, -0.95, 0.05, 0.999, -2.0, 3.0, f32::NAN, f32::EPSILON, -f32::EPSILON];
        values.extend((0..5000).map(|i| (i as f32 / 2500.0) - 1.0));
        let mut expected = [0u64; HISTOGRAM_BINS];
        for v in values.iter().filter(|v| !v.is_nan()) {
            expected[histogram_bin(*v)] += 1;
        }
        let mut got = [0u64; HISTOGRAM_BINS];
        assert_eq!(histogram_add(&values, &mut got), values.len() as u64 - 1);
        assert_eq!(got, expected);
        assert!(ndvi(0.0, 0.0).is_nan() && ndvi(f32::NAN, 1.0).is_nan() && ndvi(1.0, f32::NAN).is_nan());
        assert_eq!(ndvi(3.0, 1.0), 0.5);
        assert_eq!(ndvi(0.1, -0.1).to_bits(), f32::NAN.to_bits());
        // The vectorised rows give the scalar function's bits.
        let nir: Vec<f32> = (0..1000).map(|i| if i % 97 == 0 { f32::NAN } else { (i as f32 * 0.37).sin() * 3000.0 }).collect();
        let red: Vec<f32> = (0..1000).map(|i| if i % 13 == 0 { -nir[i] } else { (i as f32 * 0.11).cos() * 900.0 }).collect();
        let mut row = vec![0f32; 1000];
        let valid_row = simd::ndvi_row(&mut row, &nir, &red);
        let mut in_place = red.clone();
        let valid_in_place = simd::ndvi_in_place(&mut in_place, &nir);
        // The valid counts returned are the non-NaN values written (NaN NIR every 97th, zero sums every 13th).
        let expected_valid = (0..1000).filter(|&i| !ndvi(nir[i], red[i]).is_nan()).count() as u64;
        assert!(expected_valid < 1000 - 80, "the rows must hold NaN results: {expected_valid}");
        assert_eq!((valid_row, valid_in_place), (expected_valid, expected_valid));
        for i in 0..1000 {
            assert_eq!(row[i].to_bits(), ndvi(nir[i], red[i]).to_bits(), "{i}");
            assert_eq!(in_place[i].to_bits(), row[i].to_bits(), "{i}");
        }
    }
}
