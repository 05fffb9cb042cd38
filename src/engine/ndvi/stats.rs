//! Statistics of one time slice of a Zarr float array (an NDVI product or any `(time, y, x)` / `(y, x)`
//! float32 array with a CF grid mapping) under a lon/lat bbox: the bbox is clipped to the array's lon/lat
//! bounds, reprojected into the array's CRS (densified edges) and turned into a pixel window; only the
//! chunks under that window are read, in parallel on the worker pool, and their values inside the window
//! are counted into [`HISTOGRAM_BINS`] bins over [-1, 1] with the NDVI job's [`HistogramCounter`].
//!
//! The map tiles' chunk cache (`engine::ndvi::tiles`) is private to each tile-render thread and holds a
//! handful of chunks, so it is not shared here: every chunk of the window is decoded once per request.

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;

use super::zarr_out::ProductReader;
use super::{HISTOGRAM_BINS, HistogramCounter, NdviError};
use crate::engine::crs::CrsTransform;
use crate::engine::jobs::CancelToken;
use crate::engine::raster::GeoGrid;

/// Points per bbox edge when a bbox is reprojected.
const EDGE_STEPS: usize = 32;

/// Which area of which array to count.
#[derive(Clone, Debug, PartialEq)]
pub struct AreaStatsRequest {
    /// The Zarr store's root folder.
    pub zarr: PathBuf,
    /// The array (`ndvi` for products).
    pub variable: String,
    /// Time index (ignored for a 2-D array).
    pub time: usize,
    /// `[west, south, east, north]` in degrees; None: the whole array.
    pub bbox: Option<[f64; 4]>,
}

/// A rectangle of pixels: columns `col0..col0 + cols`, rows `row0..row0 + rows`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct PixelWindow {
    pub col0: u32,
    pub row0: u32,
    pub cols: u32,
    pub rows: u32,
}

/// What [`area_stats`] counted. `window` is None (and every count 0) when the bbox misses the array.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AreaStats {
    pub zarr: PathBuf,
    pub variable: String,
    pub time_index: usize,
    /// The time slice as RFC 3339, when the store has a `time` coordinate.
    pub time: Option<String>,
    /// The requested lon/lat bbox (None: the whole array).
    pub bbox: Option<[f64; 4]>,
    pub crs: String,
    /// The array's lon/lat bounds.
    pub array_bbox: [f64; 4],
    /// The pixels counted.
    pub window: Option<PixelWindow>,
    /// Valid values per bin; bin `i` spans `bin_edges[i]..bin_edges[i + 1]` (values outside [-1, 1] go to the end bins).
    pub bins: Vec<u64>,
    pub bin_edges: Vec<f64>,
    pub valid: u64,
    pub nan: u64,
    pub min: Option<f32>,
    pub max: Option<f32>,
    pub mean: Option<f64>,
    pub chunks_read: u64,
}

impl AreaStats {
    /// Whether the bbox overlaps the array at all.
    pub fn overlaps(&self) -> bool {
        self.window.is_some()
    }
}

/// The counts of one chunk's part of the window.
struct ChunkCounts {
    histogram: [u64; HISTOGRAM_BINS],
    valid: u64,
    total: u64,
    min: f32,
    max: f32,
    sum: f64,
}

impl ChunkCounts {
    fn empty() -> Self {
        Self { histogram: [0; HISTOGRAM_BINS], valid: 0, total: 0, min: f32::INFINITY, max: f32::NEG_INFINITY, sum: 0.0 }
    }

    fn merge(mut self, other: Self) -> Self {
        for (a, b) in self.histogram.iter_mut().zip(other.histogram) {
            *a += b;
        }
        self.valid += other.valid;
        self.total += other.total;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.sum += other.sum;
        self
    }
}

/// The array's lon/lat bounds ([`super::lonlat_bbox`]) clamped to the Web Mercator latitudes, like the map tiles.
pub fn lonlat_bounds(grid: &GeoGrid) -> Result<[f64; 4], NdviError> {
    let [w, s, e, n] = super::lonlat_bbox(grid)?;
    Ok([w.max(-180.0), s.max(-85.06), e.min(180.0), n.min(85.06)])
}

/// The arrays (folders with `zarr.json` or `.zarray`) at the top of the store at `zarr`, sorted.
pub(crate) fn store_arrays(zarr: &Path) -> Result<Vec<String>, NdviError> {
    let mut arrays: Vec<String> = std::fs::read_dir(zarr)
        .map_err(|source| NdviError::Io { path: zarr.to_path_buf(), source })?
        .filter_map(Result::ok)
        .filter(|entry| entry.path().join("zarr.json").is_file() || entry.path().join(".zarray").is_file())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    arrays.sort();
    Ok(arrays)
}

/// The pixels of `grid` under the lon/lat `bbox` (clipped to `array_bbox` first); None when they miss.
pub fn pixel_window(grid: &GeoGrid, array_bbox: [f64; 4], bbox: [f64; 4]) -> Result<Option<PixelWindow>, NdviError> {
    let [w, s, e, n] = [bbox[0].max(array_bbox[0]), bbox[1].max(array_bbox[1]), bbox[2].min(array_bbox[2]), bbox[3].min(array_bbox[3])];
    if !(w < e && s < n) {
        return Ok(None);
    }
    let [x0, y0, x1, y1] = if grid.epsg == 4326 { [w, s, e, n] } else { CrsTransform::new(4326, grid.epsg)?.bbox([w, s, e, n], EDGE_STEPS)? };
    let clamp = |v: f64, limit: u32| v.clamp(0.0, f64::from(limit)) as u32;
    // Pixels the bbox reaches into; an edge on a pixel border (within a millionth of a pixel, which the
    // division can miss by a rounding error) does not take in the pixel beyond it.
    let (first, end) = (|v: f64| (v + 1e-6).floor(), |v: f64| (v - 1e-6).ceil());
    let col0 = clamp(first((x0 - grid.origin_x) / grid.pixel_size_x), grid.width);
    let col1 = clamp(end((x1 - grid.origin_x) / grid.pixel_size_x), grid.width);
    let row0 = clamp(first((grid.origin_y - y1) / grid.pixel_size_y), grid.height);
    let row1 = clamp(end((grid.origin_y - y0) / grid.pixel_size_y), grid.height);
    Ok((col1 > col0 && row1 > row0).then_some(PixelWindow { col0, row0, cols: col1 - col0, rows: row1 - row0 }))
}

/// Open `variable` of the store at `zarr`, with errors that say what the path is not.
pub(crate) fn open_array(zarr: &Path, variable: &str) -> Result<ProductReader, NdviError> {
    if !zarr.is_dir() {
        return Err(NdviError::Invalid(format!(
            "{} is not a Zarr store: {}; pass the store's folder (e.g. products/ndvi.zarr)",
            zarr.display(),
            if zarr.exists() { "it is a file, not a folder" } else { "no such folder" }
        )));
    }
    let array_dir = zarr.join(variable);
    if !array_dir.join("zarr.json").is_file() && !array_dir.join(".zarray").is_file() {
        let arrays = store_arrays(zarr)?;
        let what = if zarr.join("zarr.json").is_file() || zarr.join(".zgroup").is_file() {
            format!("its arrays are: {}", if arrays.is_empty() { "none".to_owned() } else { arrays.join(", ") })
        } else {
            "it has no zarr.json (or .zgroup), so it is not a Zarr store; pass the store's folder (e.g. products/ndvi.zarr)".to_owned()
        };
        return Err(NdviError::Invalid(format!("{} has no array {variable:?}; {what}", zarr.display())));
    }
    let reader = ProductReader::open(zarr, variable)?;
    if !reader.is_float32() {
        return Err(NdviError::Invalid(format!(
            "{}/{variable} holds {} values; statistics are read from float32 arrays (NaN = no data)",
            zarr.display(),
            reader.data_type_name()
        )));
    }
    Ok(reader)
}

/// Count the values of one time slice under the request's bbox, reading only the chunks under it
/// (in parallel on the current rayon pool; the cancel token is checked before each chunk).
pub fn area_stats(request: &AreaStatsRequest, cancel: &CancelToken) -> Result<AreaStats, NdviError> {
    let reader = open_array(&request.zarr, &request.variable)?;
    let count = reader.time_count();
    if request.time >= count {
        return Err(NdviError::Invalid(format!(
            "time index {} is out of range: {}/{} has {count} time slice(s), 0 to {}",
            request.time,
            request.zarr.display(),
            request.variable,
            count.saturating_sub(1)
        )));
    }
    let grid = reader.grid.clone();
    let array_bbox = lonlat_bounds(&grid)?;
    let window = match request.bbox {
        Some(bbox) => {
            if !(bbox.iter().all(|v| v.is_finite()) && bbox[0] <= bbox[2] && bbox[1] <= bbox[3]) {
                return Err(NdviError::Invalid(format!(
                    "bbox {bbox:?} is not W,S,E,N in degrees with W <= E and S <= N"
                )));
            }
            pixel_window(&grid, array_bbox, bbox)?
        }
        None => (grid.width > 0 && grid.height > 0).then_some(PixelWindow { col0: 0, row0: 0, cols: grid.width, rows: grid.height }),
    };
    let time = reader.times.get(request.time).and_then(|s| chrono::DateTime::from_timestamp(*s, 0)).map(|d| d.to_rfc3339());
    // (2i - n) / n: one rounding, so the edges print as -0.45, not -0.44999999999999996.
    let bin_edges = (0..=HISTOGRAM_BINS).map(|i| ((2 * i) as f64 - HISTOGRAM_BINS as f64) / HISTOGRAM_BINS as f64).collect();
    let mut stats = AreaStats {
        zarr: request.zarr.clone(),
        variable: request.variable.clone(),
        time_index: request.time,
        time,
        bbox: request.bbox,
        crs: format!("EPSG:{}", grid.epsg),
        array_bbox,
        window,
        bins: vec![0; HISTOGRAM_BINS],
        bin_edges,
        valid: 0,
        nan: 0,
        min: None,
        max: None,
        mean: None,
        chunks_read: 0,
    };
    let Some(win) = window else { return Ok(stats) };
    let (chunk_h, chunk_w) = reader.chunk_yx()?;
    let (col1, row1) = (u64::from(win.col0 + win.cols), u64::from(win.row0 + win.rows));
    let (col0, row0) = (u64::from(win.col0), u64::from(win.row0));
    let chunks: Vec<(u64, u64)> =
        (row0 / chunk_h..=(row1 - 1) / chunk_h).flat_map(|cy| (col0 / chunk_w..=(col1 - 1) / chunk_w).map(move |cx| (cy, cx))).collect();
    let counts = chunks
        .par_iter()
        .map(|&(cy, cx)| -> Result<ChunkCounts, NdviError> {
            if cancel.is_cancelled() {
                return Err(NdviError::Cancelled);
            }
            let data = reader.read_chunk(request.time, cy, cx)?;
            let mut counts = ChunkCounts::empty();
            let mut counter = HistogramCounter::default();
            let (c0, c1) = (col0.max(cx * chunk_w), col1.min((cx + 1) * chunk_w));
            for row in row0.max(cy * chunk_h)..row1.min((cy + 1) * chunk_h) {
                let start = ((row - cy * chunk_h) * chunk_w + (c0 - cx * chunk_w)) as usize;
                let Some(values) = data.get(start..start + (c1 - c0) as usize) else {
                    return Err(NdviError::Invalid(format!(
                        "{}/{}: chunk ({cy}, {cx}) holds {} values, fewer than its {chunk_h}x{chunk_w} shape",
                        request.zarr.display(),
                        request.variable,
                        data.len()
                    )));
                };
                counter.add(values);
                counts.total += values.len() as u64;
                for &v in values.iter().filter(|v| !v.is_nan()) {
                    counts.min = counts.min.min(v);
                    counts.max = counts.max.max(v);
                    counts.sum += f64::from(v);
                }
            }
            counts.valid = counter.finish(&mut counts.histogram);
            Ok(counts)
        })
        .try_reduce(ChunkCounts::empty, |a, b| Ok(a.merge(b)))?;
    stats.bins = counts.histogram.to_vec();
    stats.valid = counts.valid;
    stats.nan = counts.total - counts.valid;
    stats.chunks_read = chunks.len() as u64;
    if counts.valid > 0 {
        stats.min = Some(counts.min);
        stats.max = Some(counts.max);
        stats.mean = Some(counts.sum / counts.valid as f64);
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 100 x 50 grid of 0.01° pixels from 10°E, 50°N.
    fn lonlat_grid() -> GeoGrid {
        GeoGrid { epsg: 4326, origin_x: 10.0, origin_y: 50.0, pixel_size_x: 0.01, pixel_size_y: 0.01, width: 100, height: 50 }
    }

    #[test]
    fn a_bbox_is_clipped_to_the_array_and_one_beside_it_has_no_window() {
        let grid = lonlat_grid();
        let bounds = lonlat_bounds(&grid).unwrap();
        assert_eq!(bounds, [10.0, 49.5, 11.0, 50.0]);
        // Inside: the pixels touched, edges rounded outwards.
        let inside = pixel_window(&grid, bounds, [10.105, 49.7, 10.2, 49.805]).unwrap();
        assert_eq!(inside, Some(PixelWindow { col0: 10, row0: 19, cols: 10, rows: 11 }));
        // Half outside (west and north): clipped to the array.
        let half = pixel_window(&grid, bounds, [9.0, 49.9, 10.5, 51.0]).unwrap();
        assert_eq!(half, Some(PixelWindow { col0: 0, row0: 0, cols: 50, rows: 10 }));
        // Beside it, and touching only its edge: nothing.
        assert_eq!(pixel_window(&grid, bounds, [11.5, 49.6, 12.0, 49.9]).unwrap(), None);
        assert_eq!(pixel_window(&grid, bounds, [11.0, 49.6, 12.0, 49.9]).unwrap(), None);
    }
}
