//! Map previews of Cloud-Optimized GeoTIFFs: render Web Mercator (EPSG:3857) tiles of
//! 256×256 RGBA pixels from one COG (a grey ramp) or a NIR/red pair (false colour).
//!
//! Each output pixel centre is taken from the tile's Web Mercator position to lon/lat, then
//! inverse-projected into the raster's CRS and sampled (nearest neighbour) from the overview
//! level whose resolution best matches the tile's. Only the window of that level which the tile
//! covers is decoded. Pixels outside the raster and nodata pixels are transparent.

use std::f64::consts::PI;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::cog::CogReader;
use super::{GeoGrid, RasterError};
use crate::engine::crs::CrsTransform;

/// Width and height of a rendered tile in pixels.
pub const PREVIEW_TILE_SIZE: u32 = 256;

/// Reflectance digital number shown at full brightness in false-colour previews (like the demo
/// thumbnails: `sqrt(clamp(v / 4500)) * 255`).
pub const FALSE_COLOR_WHITE_POINT: f64 = 4500.0;

/// Web Mercator's latitude limit (the square world map), in degrees.
const MAX_MERCATOR_LAT: f64 = 85.051_128_779_806_59;

/// Points per side when the raster's outline is taken to lon/lat for its bounds.
const OUTLINE_STEPS: usize = 32;

/// Which COG(s) a preview is drawn from and how values become colours.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum PreviewSource {
    /// Red = NIR, green = red, blue = red, each stretched with
    /// `sqrt(clamp(v / 4500)) * 255`; the two files must share one grid.
    FalseColor {
        /// The near-infrared band (e.g. Sentinel-2 B08).
        nir: PathBuf,
        /// The red band (e.g. Sentinel-2 B04).
        red: PathBuf,
    },
    /// One band as a grey ramp from `min` (black) to `max` (white).
    SingleBand {
        /// The COG.
        path: PathBuf,
        /// Value drawn black (and below).
        min: f64,
        /// Value drawn white (and above).
        max: f64,
    },
    /// A float array of a Zarr store (e.g. an NDVI product), red-yellow-green over [-1, 1]
    /// ([`crate::engine::ndvi::tiles`]).
    Zarr {
        /// The store's root folder.
        path: PathBuf,
        /// The array (`ndvi`).
        variable: String,
        /// Index into the time dimension.
        time: usize,
    },
}

impl PreviewSource {
    /// The files the preview reads.
    pub fn paths(&self) -> Vec<&Path> {
        match self {
            Self::FalseColor { nir, red } => vec![nir.as_path(), red.as_path()],
            Self::SingleBand { path, .. } | Self::Zarr { path, .. } => vec![path.as_path()],
        }
    }
}

/// One rendered tile: straight (not premultiplied) RGBA, row by row from the top-left.
#[derive(Clone, Debug, PartialEq)]
pub struct RgbaTile {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width * height * 4` bytes.
    pub pixels: Vec<u8>,
}

impl RgbaTile {
    /// The RGBA value of pixel `(col, row)`, or None outside the tile.
    pub fn pixel(&self, col: u32, row: u32) -> Option<[u8; 4]> {
        if col >= self.width || row >= self.height {
            return None;
        }
        let start = (row as usize * self.width as usize + col as usize) * 4;
        let bytes = self.pixels.get(start..start + 4)?;
        Some([bytes[0], bytes[1], bytes[2], bytes[3]])
    }

    /// Number of pixels that are not fully transparent.
    pub fn opaque_pixel_count(&self) -> usize {
        self.pixels.chunks_exact(4).filter(|p| p[3] != 0).count()
    }
}

/// Longitude of the western edge of tile column `x` (may be fractional) at zoom `z`.
pub fn tile_x_to_lon(x: f64, z: u8) -> f64 {
    x / f64::from(1u32 << z.min(31)) * 360.0 - 180.0
}

/// Latitude of the northern edge of tile row `y` (may be fractional) at zoom `z`.
pub fn tile_y_to_lat(y: f64, z: u8) -> f64 {
    let n = f64::from(1u32 << z.min(31));
    (PI * (1.0 - 2.0 * y / n)).sinh().atan().to_degrees()
}

/// The lon/lat rectangle `[west, south, east, north]` of tile `(z, x, y)`.
pub fn tile_lonlat_bounds(z: u8, x: u32, y: u32) -> [f64; 4] {
    let (x, y) = (f64::from(x), f64::from(y));
    [
        tile_x_to_lon(x, z),
        tile_y_to_lat(y + 1.0, z),
        tile_x_to_lon(x + 1.0, z),
        tile_y_to_lat(y, z),
    ]
}

/// One open band: its reader and the value that means "no data".
struct BandReader {
    reader: CogReader,
    nodata: Option<u16>,
}

/// How source values become RGBA.
#[derive(Clone, Copy, Debug)]
enum Colouring {
    /// Bands: NIR, red.
    FalseColor,
    /// Band: the one; the ramp's ends.
    Grey { min: f64, max: f64 },
}

/// Renders Web Mercator tiles of a [`PreviewSource`], keeping its COGs open between tiles.
pub struct PreviewRenderer {
    source: PreviewSource,
    bands: Vec<BandReader>,
    colouring: Colouring,
    grid: GeoGrid,
    /// `(width, height)` of each level, full resolution first.
    level_sizes: Vec<(u32, u32)>,
    /// Lon/lat (degrees) to the raster's CRS.
    to_source: CrsTransform,
    lonlat_bounds: [f64; 4],
    /// Set for [`PreviewSource::Zarr`]: tiles come from it instead of COG bands.
    zarr: Option<crate::engine::ndvi::tiles::ZarrTileRenderer>,
}

impl std::fmt::Debug for PreviewRenderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreviewRenderer")
            .field("source", &self.source)
            .field("grid", &self.grid)
            .field("lonlat_bounds", &self.lonlat_bounds)
            .finish_non_exhaustive()
    }
}

/// A COG's nodata value as a `u16`, when it has one that fits.
fn nodata_u16(reader: &CogReader) -> Option<u16> {
    reader
        .info()
        .nodata
        .filter(|v| v.fract() == 0.0 && (0.0..=f64::from(u16::MAX)).contains(v))
        .map(|v| v as u16)
}

impl PreviewRenderer {
    /// Open the source's COGs and work out the raster's lon/lat bounds.
    pub fn open(source: PreviewSource) -> Result<Self, RasterError> {
        if let PreviewSource::Zarr { path, variable, time } = &source {
            let zarr = crate::engine::ndvi::tiles::ZarrTileRenderer::open(path, variable, *time)?;
            let grid = zarr.grid().clone();
            return Ok(Self {
                source: source.clone(),
                bands: Vec::new(),
                colouring: Colouring::FalseColor,
                level_sizes: vec![(grid.width, grid.height)],
                to_source: CrsTransform::new(4326, grid.epsg)?,
                lonlat_bounds: zarr.lonlat_bounds(),
                grid,
                zarr: Some(zarr),
            });
        }
        let colouring = match &source {
            PreviewSource::FalseColor { .. } | PreviewSource::Zarr { .. } => Colouring::FalseColor,
            PreviewSource::SingleBand { min, max, .. } => {
                if !(min.is_finite() && max.is_finite() && max > min) {
                    return Err(RasterError::InvalidInput(format!(
                        "the grey ramp needs finite min < max, got min={min} max={max}"
                    )));
                }
                Colouring::Grey {
                    min: *min,
                    max: *max,
                }
            }
        };
        let mut bands = Vec::new();
        for path in source.paths() {
            let reader = CogReader::open(path)?;
            let nodata = nodata_u16(&reader);
            bands.push(BandReader { reader, nodata });
        }
        let Some(first) = bands.first() else {
            return Err(RasterError::InvalidInput(
                "a preview needs at least one COG".to_owned(),
            ));
        };
        let info = first.reader.info();
        let grid = info.grid.clone();
        let level_sizes: Vec<(u32, u32)> = (0..info.level_count())
            .filter_map(|level| info.level_size(level))
            .collect();
        for band in &bands[1..] {
            let other = band.reader.info();
            if other.grid != grid || other.overview_sizes != info.overview_sizes {
                return Err(RasterError::InvalidInput(format!(
                    "{} and {} do not share one grid and overview layout; a false-colour preview needs bands on the same grid",
                    first.reader.path().display(),
                    band.reader.path().display()
                )));
            }
        }
        let to_lonlat = CrsTransform::new(grid.epsg, 4326)?;
        let [west, south, east, north] = to_lonlat.bbox(grid.bounds(), OUTLINE_STEPS)?;
        let lonlat_bounds = [
            west.max(-180.0),
            south.max(-MAX_MERCATOR_LAT),
            east.min(180.0),
            north.min(MAX_MERCATOR_LAT),
        ];
        let to_source = CrsTransform::new(4326, grid.epsg)?;
        Ok(Self {
            source,
            bands,
            colouring,
            grid,
            level_sizes,
            to_source,
            lonlat_bounds,
            zarr: None,
        })
    }

    /// What this renderer draws.
    pub fn source(&self) -> &PreviewSource {
        &self.source
    }

    /// The raster's grid (full resolution).
    pub fn grid(&self) -> &GeoGrid {
        &self.grid
    }

    /// `[west, south, east, north]` in degrees: the raster's outline taken to lon/lat (clamped to
    /// Web Mercator's latitudes).
    pub fn lonlat_bounds(&self) -> [f64; 4] {
        self.lonlat_bounds
    }

    /// Whether tile `(z, x, y)` overlaps the raster's lon/lat bounds.
    pub fn intersects_tile(&self, z: u8, x: u32, y: u32) -> bool {
        let [w, s, e, n] = tile_lonlat_bounds(z, x, y);
        let [bw, bs, be, bn] = self.lonlat_bounds;
        w < be && e > bw && s < bn && n > bs
    }

    /// Render tile `(z, x, y)` as 256×256 RGBA; None when it does not overlap the raster.
    pub fn render_tile(&mut self, z: u8, x: u32, y: u32) -> Result<Option<RgbaTile>, RasterError> {
        if z > 30 || x >= (1u32 << z) || y >= (1u32 << z) {
            return Err(RasterError::InvalidInput(format!(
                "tile {z}/{x}/{y} is not in the Web Mercator tile grid"
            )));
        }
        if let Some(zarr) = &mut self.zarr {
            return zarr.render_tile(z, x, y);
        }
        if !self.intersects_tile(z, x, y) {
            return Ok(None);
        }
        let size = PREVIEW_TILE_SIZE as usize;
        let [tile_w, tile_s, tile_e, tile_n] = tile_lonlat_bounds(z, x, y);
        let lon_of = |col: usize| tile_x_to_lon(f64::from(x) + (col as f64 + 0.5) / size as f64, z);
        let lat_of = |row: usize| tile_y_to_lat(f64::from(y) + (row as f64 + 0.5) / size as f64, z);

        // Only the tile's pixels inside the raster's lon/lat bounds need projecting.
        let [bw, bs, be, bn] = self.lonlat_bounds;
        // Columns: longitude is linear across the tile (one pixel of slack on each side).
        let (col_first, col_last) = {
            let t0 = ((bw - tile_w) / (tile_e - tile_w)).clamp(0.0, 1.0);
            let t1 = ((be - tile_w) / (tile_e - tile_w)).clamp(0.0, 1.0);
            let first = ((t0 * size as f64).floor() as usize).saturating_sub(1);
            let last = ((t1 * size as f64).ceil() as usize + 1).min(size);
            (first, last)
        };
        let (row_first, row_last) = {
            // Rows: latitude is not linear in the tile's rows, so scan them (one pixel of slack).
            let rows: Vec<usize> = (0..size)
                .filter(|&row| {
                    let lat = lat_of(row);
                    lat >= bs - (tile_n - tile_s) / size as f64
                        && lat <= bn + (tile_n - tile_s) / size as f64
                })
                .collect();
            match (rows.first(), rows.last()) {
                (Some(&first), Some(&last)) => (first, last + 1),
                _ => return Ok(None),
            }
        };
        if col_first >= col_last || row_first >= row_last {
            return Ok(None);
        }

        let level = self.level_for_tile(z, x, y);
        let (level_w, level_h) = self
            .level_sizes
            .get(level)
            .copied()
            .unwrap_or((self.grid.width, self.grid.height));
        let bounds = self.grid.bounds();
        let level_px_x = (bounds[2] - bounds[0]) / f64::from(level_w);
        let level_px_y = (bounds[3] - bounds[1]) / f64::from(level_h);

        // Source pixel (at `level`) under each output pixel, or None outside the raster.
        let lons: Vec<f64> = (0..size).map(lon_of).collect();
        let mut source_pixels: Vec<Option<(u32, u32)>> = vec![None; size * size];
        let (mut min_c, mut min_r, mut max_c, mut max_r) = (u32::MAX, u32::MAX, 0u32, 0u32);
        for row in row_first..row_last {
            let lat = lat_of(row);
            for col in col_first..col_last {
                let Ok((sx, sy)) = self.to_source.point(lons[col], lat) else {
                    continue;
                };
                let fc = (sx - self.grid.origin_x) / level_px_x;
                let fr = (self.grid.origin_y - sy) / level_px_y;
                if !(fc.is_finite() && fr.is_finite())
                    || fc < 0.0
                    || fr < 0.0
                    || fc >= f64::from(level_w)
                    || fr >= f64::from(level_h)
                {
                    continue;
                }
                let (c, r) = (fc as u32, fr as u32);
                min_c = min_c.min(c);
                min_r = min_r.min(r);
                max_c = max_c.max(c);
                max_r = max_r.max(r);
                source_pixels[row * size + col] = Some((c, r));
            }
        }
        let mut pixels = vec![0u8; size * size * 4];
        if min_c > max_c || min_r > max_r {
            // Inside the bounds' rectangle but outside the raster itself (a rotated outline).
            return Ok(Some(RgbaTile {
                width: PREVIEW_TILE_SIZE,
                height: PREVIEW_TILE_SIZE,
                pixels,
            }));
        }
        let (window_w, window_h) = (max_c - min_c + 1, max_r - min_r + 1);
        let mut windows = Vec::with_capacity(self.bands.len());
        for band in &mut self.bands {
            let values = band
                .reader
                .read_window_u16(level, min_c, min_r, window_w, window_h)?;
            windows.push((values, band.nodata));
        }
        let sample = |band: usize, c: u32, r: u32| -> Option<u16> {
            let (values, nodata) = windows.get(band)?;
            let index = (r - min_r) as usize * window_w as usize + (c - min_c) as usize;
            let value = *values.get(index)?;
            (Some(value) != *nodata).then_some(value)
        };
        for (index, source) in source_pixels.iter().enumerate() {
            let Some((c, r)) = *source else { continue };
            let rgba = match self.colouring {
                Colouring::FalseColor => match (sample(0, c, r), sample(1, c, r)) {
                    (Some(nir), Some(red)) => {
                        let (n, r) = (false_color_stretch(nir), false_color_stretch(red));
                        [n, r, r, 255]
                    }
                    _ => continue,
                },
                Colouring::Grey { min, max } => match sample(0, c, r) {
                    Some(value) => {
                        let grey = grey_ramp(value, min, max);
                        [grey, grey, grey, 255]
                    }
                    None => continue,
                },
            };
            pixels[index * 4..index * 4 + 4].copy_from_slice(&rgba);
        }
        Ok(Some(RgbaTile {
            width: PREVIEW_TILE_SIZE,
            height: PREVIEW_TILE_SIZE,
            pixels,
        }))
    }

    /// The level (0 = full resolution) whose pixel size best matches the tile's: the coarsest
    /// level that is not coarser than one output pixel.
    fn level_for_tile(&self, z: u8, x: u32, y: u32) -> usize {
        let target = self.tile_pixel_size_in_source(z, x, y);
        let bounds = self.grid.bounds();
        let Some(target) = target.filter(|t| t.is_finite() && *t > 0.0) else {
            return 0;
        };
        let mut best = 0;
        for (level, &(w, h)) in self.level_sizes.iter().enumerate() {
            let px = ((bounds[2] - bounds[0]) / f64::from(w))
                .max((bounds[3] - bounds[1]) / f64::from(h));
            // A little slack so that a level just above the target is still taken.
            if px <= target * 1.1 {
                best = level;
            }
        }
        best
    }

    /// Size of one output pixel of the tile in source CRS units, measured at the tile's centre
    /// (clamped into the raster's bounds).
    fn tile_pixel_size_in_source(&self, z: u8, x: u32, y: u32) -> Option<f64> {
        let [w, s, e, n] = tile_lonlat_bounds(z, x, y);
        let [bw, bs, be, bn] = self.lonlat_bounds;
        let lon = ((w + e) / 2.0).clamp(bw, be);
        let lat = ((s + n) / 2.0).clamp(bs, bn);
        let dlon = (e - w) / f64::from(PREVIEW_TILE_SIZE);
        let dlat = (n - s) / f64::from(PREVIEW_TILE_SIZE);
        let (x0, y0) = self.to_source.point(lon, lat).ok()?;
        let (x1, y1) = self.to_source.point(lon + dlon, lat).ok()?;
        let (x2, y2) = self.to_source.point(lon, lat + dlat).ok()?;
        let along_x = (x1 - x0).hypot(y1 - y0);
        let along_y = (x2 - x0).hypot(y2 - y0);
        Some(along_x.min(along_y))
    }
}

/// The false-colour stretch of the demo thumbnails: `sqrt(clamp(v / 4500)) * 255`.
pub fn false_color_stretch(value: u16) -> u8 {
    ((f64::from(value) / FALSE_COLOR_WHITE_POINT)
        .clamp(0.0, 1.0)
        .sqrt()
        * 255.0) as u8
}

/// A grey level from `min` (0) to `max` (255).
pub fn grey_ramp(value: u16, min: f64, max: f64) -> u8 {
    ((f64::from(value) - min) / (max - min))
        .clamp(0.0, 1.0)
        .mul_add(255.0, 0.5) as u8
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::raster::cog::{CogWriteOptions, write_cog_u16};

    /// A 600×600 grid of 20 m pixels in UTM 31N around lon 4.5, lat 52.2 (12 km across).
    fn grid() -> GeoGrid {
        GeoGrid {
            epsg: 32631,
            origin_x: 600_000.0,
            origin_y: 5_790_000.0,
            pixel_size_x: 20.0,
            pixel_size_y: 20.0,
            width: 600,
            height: 600,
        }
    }

    /// Uniform `value`, except a nodata square in the top-left 100×100 pixels.
    fn band(value: u16) -> Vec<u16> {
        let g = grid();
        let mut data = vec![value; (g.width * g.height) as usize];
        for row in 0..100 {
            for col in 0..100 {
                data[(row * g.width + col) as usize] = 0;
            }
        }
        data
    }

    fn write(dir: &Path, name: &str, value: u16) -> PathBuf {
        let path = dir.join(name);
        let options = CogWriteOptions {
            tile_size: 128,
            overview_min_size: 64,
            ..CogWriteOptions::default()
        };
        write_cog_u16(&path, &grid(), &band(value), Some(0), &options).unwrap();
        path
    }

    /// Tile column/row (fractional) of a lon/lat at zoom `z`.
    fn tile_xy(lon: f64, lat: f64, z: u8) -> (f64, f64) {
        let n = f64::from(1u32 << z);
        let x = (lon + 180.0) / 360.0 * n;
        let lat = lat.to_radians();
        let y = (1.0 - (lat.tan() + 1.0 / lat.cos()).ln() / PI) / 2.0 * n;
        (x, y)
    }

    fn false_color(dir: &Path) -> PreviewSource {
        PreviewSource::FalseColor {
            nir: write(dir, "B08.tif", 3000),
            red: write(dir, "B04.tif", 500),
        }
    }

    #[test]
    fn raster_preview_tile_math_round_trips() {
        for (lon, lat) in [(4.5, 52.2), (-120.0, -33.0), (0.0, 0.0)] {
            let (x, y) = tile_xy(lon, lat, 10);
            assert!((tile_x_to_lon(x, 10) - lon).abs() < 1e-9);
            assert!((tile_y_to_lat(y, 10) - lat).abs() < 1e-9);
        }
        let [w, s, e, n] = tile_lonlat_bounds(0, 0, 0);
        assert_eq!((w, e), (-180.0, 180.0));
        assert!((n - MAX_MERCATOR_LAT).abs() < 1e-9 && (s + MAX_MERCATOR_LAT).abs() < 1e-9);
    }

    #[test]
    fn raster_preview_false_colour_tile_is_coloured_inside_and_transparent_outside() {
        let dir = tempfile::tempdir().unwrap();
        let mut renderer = PreviewRenderer::open(false_color(dir.path())).unwrap();
        let [w, s, e, n] = renderer.lonlat_bounds();
        assert!(
            w > 4.3 && e < 4.7 && s > 52.1 && n < 52.3,
            "{:?}",
            renderer.lonlat_bounds()
        );

        // At zoom 10 a tile is ~24 km wide: the 12 km raster covers part of it.
        let z = 10;
        let centre_grid = grid().pixel_to_crs(300.0, 300.0);
        let (lon, lat) = CrsTransform::new(32631, 4326)
            .unwrap()
            .point(centre_grid.0, centre_grid.1)
            .unwrap();
        let (fx, fy) = tile_xy(lon, lat, z);
        let (x, y) = (fx as u32, fy as u32);
        let tile = renderer
            .render_tile(z, x, y)
            .unwrap()
            .expect("the tile overlaps the raster");
        assert_eq!(
            (tile.width, tile.height, tile.pixels.len()),
            (256, 256, 256 * 256 * 4)
        );

        // The pixel at the raster's centre: NIR 3000, red 500.
        let col = ((fx - f64::from(x)) * 256.0) as u32;
        let row = ((fy - f64::from(y)) * 256.0) as u32;
        let expected = [
            false_color_stretch(3000),
            false_color_stretch(500),
            false_color_stretch(500),
            255,
        ];
        assert_eq!(expected, [208, 85, 85, 255]);
        assert_eq!(tile.pixel(col, row), Some(expected));

        // Some pixels are transparent (outside), some coloured (inside), nothing else.
        let opaque = tile.opaque_pixel_count();
        assert!(
            opaque > 1000 && opaque < 256 * 256,
            "{opaque} opaque pixels"
        );
        for pixel in tile.pixels.chunks_exact(4) {
            assert!(pixel == expected || pixel == [0, 0, 0, 0], "{pixel:?}");
        }
        // A corner of the tile far from the raster is transparent.
        let outside = if col < 128 { 255 } else { 0 };
        assert_eq!(tile.pixel(outside, row), Some([0, 0, 0, 0]));
    }

    #[test]
    fn raster_preview_nodata_is_transparent() {
        let dir = tempfile::tempdir().unwrap();
        let mut renderer = PreviewRenderer::open(false_color(dir.path())).unwrap();
        let to_lonlat = CrsTransform::new(32631, 4326).unwrap();
        // Zoom 14 (~6 m per pixel here): the nodata square is 2 km wide.
        let z = 14;
        let (nx, ny) = grid().pixel_to_crs(50.0, 50.0);
        let (lon, lat) = to_lonlat.point(nx, ny).unwrap();
        let (fx, fy) = tile_xy(lon, lat, z);
        let tile = renderer
            .render_tile(z, fx as u32, fy as u32)
            .unwrap()
            .unwrap();
        let (col, row) = (((fx.fract()) * 256.0) as u32, ((fy.fract()) * 256.0) as u32);
        assert_eq!(
            tile.pixel(col, row),
            Some([0, 0, 0, 0]),
            "nodata is transparent"
        );
        // Valid data in the same raster, away from the square.
        let (vx, vy) = grid().pixel_to_crs(300.0, 300.0);
        let (lon, lat) = to_lonlat.point(vx, vy).unwrap();
        let (fx, fy) = tile_xy(lon, lat, z);
        let tile = renderer
            .render_tile(z, fx as u32, fy as u32)
            .unwrap()
            .unwrap();
        let (col, row) = (((fx.fract()) * 256.0) as u32, ((fy.fract()) * 256.0) as u32);
        assert_eq!(tile.pixel(col, row).map(|p| p[3]), Some(255));
    }

    #[test]
    fn raster_preview_far_away_tile_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let mut renderer = PreviewRenderer::open(false_color(dir.path())).unwrap();
        let (fx, fy) = tile_xy(-74.0, 40.7, 10);
        assert_eq!(
            renderer.render_tile(10, fx as u32, fy as u32).unwrap(),
            None
        );
        assert!(
            renderer.render_tile(3, 100, 0).is_err(),
            "outside the tile grid"
        );
        // The whole world at zoom 0 contains the raster (smaller than one pixel there).
        assert!(renderer.render_tile(0, 0, 0).unwrap().is_some());
    }

    #[test]
    fn raster_preview_single_band_grey_ramp_uses_overviews() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "band.tif", 1500);
        let mut renderer = PreviewRenderer::open(PreviewSource::SingleBand {
            path,
            min: 1000.0,
            max: 2000.0,
        })
        .unwrap();
        // At zoom 8 one output pixel is ~380 m: the coarsest overview (75 px of 160 m) is used.
        assert!(renderer.level_for_tile(8, 131, 84) > 0);
        assert_eq!(renderer.level_for_tile(16, 33_587, 21_600), 0);
        let (lon, lat) = (4.5, 52.2);
        let (fx, fy) = tile_xy(lon, lat, 12);
        let tile = renderer
            .render_tile(12, fx as u32, fy as u32)
            .unwrap()
            .unwrap();
        let grey = grey_ramp(1500, 1000.0, 2000.0);
        assert_eq!(grey, 128);
        assert!(
            tile.pixels
                .chunks_exact(4)
                .any(|p| p == [grey, grey, grey, 255])
        );
        assert!(
            PreviewRenderer::open(PreviewSource::SingleBand {
                path: dir.path().join("band.tif"),
                min: 5.0,
                max: 5.0,
            })
            .is_err()
        );
    }
}
