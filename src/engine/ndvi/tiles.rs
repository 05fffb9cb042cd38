//! Web Mercator tiles of an NDVI (or any float) Zarr array, coloured with a red-yellow-green diverging
//! colormap over [-1, 1] (NaN transparent); decoded chunks are kept in a small LRU so a tile reads only
//! the chunks under it, and memory stays bounded by [`CHUNK_CACHE`] chunks.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;

use super::zarr_out::ProductReader;
use crate::engine::crs::CrsTransform;
use crate::engine::raster::preview::{PREVIEW_TILE_SIZE, RgbaTile, tile_lonlat_bounds, tile_x_to_lon, tile_y_to_lat};
use crate::engine::raster::{GeoGrid, RasterError};

/// Decoded chunks kept per renderer.
pub const CHUNK_CACHE: usize = 6;

/// matplotlib's RdYlGn, 11 stops from -1 to 1.
const RDYLGN: [[u8; 3]; 11] = [
    [165, 0, 38], [215, 48, 39], [244, 109, 67], [253, 174, 97], [254, 224, 139], [255, 255, 191],
    [217, 239, 139], [166, 217, 106], [102, 189, 99], [26, 152, 80], [0, 104, 55],
];

/// The colour of an NDVI value (clamped to [-1, 1]); None for NaN.
pub fn ndvi_colour(value: f32) -> Option<[u8; 3]> {
    if value.is_nan() {
        return None;
    }
    let t = ((f64::from(value) + 1.0) / 2.0).clamp(0.0, 1.0) * 10.0;
    let i = (t.floor() as usize).min(9);
    let f = t - i as f64;
    let (a, b) = (RDYLGN[i], RDYLGN[i + 1]);
    let mix = |k: usize| (f64::from(a[k]) + (f64::from(b[k]) - f64::from(a[k])) * f).round() as u8;
    Some([mix(0), mix(1), mix(2)])
}

/// Renders tiles of one time slice of a Zarr array.
pub struct ZarrTileRenderer {
    reader: ProductReader,
    time: usize,
    chunk: (u64, u64),
    to_source: CrsTransform,
    lonlat_bounds: [f64; 4],
    cache: VecDeque<((u64, u64), Arc<Vec<f32>>)>,
}

fn raster_err(path: &Path) -> impl Fn(super::NdviError) -> RasterError {
    let path = path.to_path_buf();
    move |e| RasterError::Unsupported { path: path.clone(), detail: e.to_string() }
}

impl ZarrTileRenderer {
    pub fn open(path: &Path, variable: &str, time: usize) -> Result<Self, RasterError> {
        let reader = ProductReader::open(path, variable).map_err(raster_err(path))?;
        let chunk = reader.chunk_yx().map_err(raster_err(path))?;
        let grid = reader.grid.clone();
        let [w, s, e, n] = if grid.epsg == 4326 { grid.bounds() } else { CrsTransform::new(grid.epsg, 4326)?.bbox(grid.bounds(), 32)? };
        let lonlat_bounds = [w.max(-180.0), s.max(-85.05), e.min(180.0), n.min(85.05)];
        let time = time.min(reader.time_count().saturating_sub(1));
        Ok(Self { to_source: CrsTransform::new(4326, grid.epsg)?, reader, time, chunk, lonlat_bounds, cache: VecDeque::new() })
    }

    pub fn grid(&self) -> &GeoGrid {
        &self.reader.grid
    }

    pub fn lonlat_bounds(&self) -> [f64; 4] {
        self.lonlat_bounds
    }

    fn chunk(&mut self, cy: u64, cx: u64) -> Result<Arc<Vec<f32>>, RasterError> {
        if let Some(pos) = self.cache.iter().position(|(k, _)| *k == (cy, cx)) {
            let entry = self.cache.remove(pos).ok_or_else(|| RasterError::InvalidInput("cache".into()))?;
            let data = entry.1.clone();
            self.cache.push_front(entry);
            return Ok(data);
        }
        let data = Arc::new(self.reader.read_chunk(self.time, cy, cx).map_err(raster_err(Path::new("ndvi")))?);
        self.cache.push_front(((cy, cx), data.clone()));
        self.cache.truncate(CHUNK_CACHE);
        Ok(data)
    }

    /// The value at a lon/lat point (NaN outside or nodata).
    pub fn value_at(&mut self, lon: f64, lat: f64) -> Result<f32, RasterError> {
        let g = self.reader.grid.clone();
        let (x, y) = self.to_source.point(lon, lat)?;
        let (c, r) = ((x - g.origin_x) / g.pixel_size_x, (g.origin_y - y) / g.pixel_size_y);
        if !(c >= 0.0 && r >= 0.0 && c < f64::from(g.width) && r < f64::from(g.height)) {
            return Ok(f32::NAN);
        }
        let (c, r) = (c as u64, r as u64);
        let (ch, cw) = self.chunk;
        let data = self.chunk(r / ch, c / cw)?;
        Ok(data.get(((r % ch) * cw + c % cw) as usize).copied().unwrap_or(f32::NAN))
    }

    /// Tile `(z, x, y)` as RGBA; None when it misses the array.
    pub fn render_tile(&mut self, z: u8, x: u32, y: u32) -> Result<Option<RgbaTile>, RasterError> {
        let [tw, ts, te, tn] = tile_lonlat_bounds(z, x, y);
        let [bw, bs, be, bn] = self.lonlat_bounds;
        if !(tw < be && te > bw && ts < bn && tn > bs) {
            return Ok(None);
        }
        let size = PREVIEW_TILE_SIZE as usize;
        let mut pixels = vec![0u8; size * size * 4];
        for row in 0..size {
            let lat = tile_y_to_lat(f64::from(y) + (row as f64 + 0.5) / size as f64, z);
            if lat < bs || lat > bn {
                continue;
            }
            for col in 0..size {
                let lon = tile_x_to_lon(f64::from(x) + (col as f64 + 0.5) / size as f64, z);
                if lon < bw || lon > be {
                    continue;
                }
                if let Some([r, g, b]) = ndvi_colour(self.value_at(lon, lat)?) {
                    pixels[(row * size + col) * 4..(row * size + col) * 4 + 4].copy_from_slice(&[r, g, b, 255]);
                }
            }
        }
        Ok(Some(RgbaTile { width: PREVIEW_TILE_SIZE, height: PREVIEW_TILE_SIZE, pixels }))
    }
}

/// The values of every time slice at one lon/lat point (pixel inspect).
#[derive(Clone, Debug, serde::Serialize)]
pub struct NdviPixel {
    pub zarr: std::path::PathBuf,
    pub lon: f64,
    pub lat: f64,
    /// The point in the product's CRS.
    pub x: f64,
    pub y: f64,
    /// `(time as RFC 3339, value)`; None where the value is NaN or the point is outside.
    pub values: Vec<(String, Option<f32>)>,
}

/// Read the product's values at `lon`, `lat` (one chunk per time slice).
pub fn inspect(zarr: &Path, variable: &str, lon: f64, lat: f64) -> Result<NdviPixel, RasterError> {
    let first = ZarrTileRenderer::open(zarr, variable, 0)?;
    let (x, y) = first.to_source.point(lon, lat)?;
    let times = first.reader.times.clone();
    let count = first.reader.time_count();
    let mut values = Vec::with_capacity(count);
    for t in 0..count {
        let mut renderer = ZarrTileRenderer::open(zarr, variable, t)?;
        let v = renderer.value_at(lon, lat)?;
        let when = times
            .get(t)
            .and_then(|s| chrono::DateTime::from_timestamp(*s, 0))
            .map(|d| d.to_rfc3339())
            .unwrap_or_else(|| t.to_string());
        values.push((when, (!v.is_nan()).then_some(v)));
    }
    Ok(NdviPixel { zarr: zarr.to_path_buf(), lon, lat, x, y, values })
}
