//! Rasters: Cloud-Optimized GeoTIFF writing and reading.
//!
//! [`GeoGrid`] describes where a north-up raster sits in its CRS; [`cog`] writes and reads
//! single-band Cloud-Optimized GeoTIFFs on that grid; [`preview`] renders Web Mercator map tiles
//! from them.

pub mod cog;
pub mod http;
pub mod source;
pub mod tile_reader;
pub mod preview;

use std::path::PathBuf;

/// What went wrong while writing or reading a raster file.
#[derive(Debug, thiserror::Error)]
pub enum RasterError {
    /// The file system refused a read, write, or rename.
    #[error(
        "could not read or write the raster file {path} ({source}); check that the folder exists and is writable"
    )]
    Io {
        /// The file that was being read or written.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a TIFF, or its TIFF structure is broken.
    #[error(
        "{path} is not a readable TIFF: {detail}; re-create it (for example with `gdal_translate -of COG`)"
    )]
    Tiff {
        /// The file that failed to decode.
        path: PathBuf,
        /// What the TIFF decoder reported.
        detail: String,
    },
    /// The TIFF has no usable GeoTIFF tags (pixel scale, tie point, and an EPSG code).
    #[error(
        "{path} has no usable GeoTIFF georeferencing (ModelPixelScale, ModelTiepoint, and an EPSG code in the GeoKeyDirectory); assign a CRS with `gdal_edit.py -a_srs EPSG:xxxx`"
    )]
    NotGeoreferenced {
        /// The file without georeferencing.
        path: PathBuf,
    },
    /// The file is a valid TIFF, but uses something this reader or writer does not handle.
    #[error("{path}: {detail}")]
    Unsupported {
        /// The file in question.
        path: PathBuf,
        /// What is unsupported and what to do instead.
        detail: String,
    },
    /// An http(s) read failed (after retries for transient errors).
    #[error("could not fetch {url}: {detail}")]
    Http {
        /// The URL.
        url: String,
        /// The status or transport error.
        detail: String,
    },
    /// The caller passed arguments that cannot work (sizes that do not match, bad options).
    #[error("invalid raster input: {0}")]
    InvalidInput(String),
    /// The raster's CRS cannot be taken to or from lon/lat.
    #[error("cannot reproject the raster: {0}")]
    Crs(#[from] crate::engine::crs::CrsError),
}

/// A north-up pixel grid in a CRS identified by its EPSG code.
///
/// Pixel `(col, row)` covers the CRS rectangle from
/// `(origin_x + col * pixel_size_x, origin_y - row * pixel_size_y)` to
/// `(origin_x + (col + 1) * pixel_size_x, origin_y - (row + 1) * pixel_size_y)`.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GeoGrid {
    /// EPSG code of the CRS (e.g. 32631 for UTM zone 31N, 4326 for WGS 84 longitude/latitude).
    pub epsg: u32,
    /// CRS x of the top-left corner of the top-left pixel.
    pub origin_x: f64,
    /// CRS y of the top-left corner of the top-left pixel.
    pub origin_y: f64,
    /// Pixel width in CRS units (positive).
    pub pixel_size_x: f64,
    /// Pixel height in CRS units (positive; rows go down, i.e. towards smaller y).
    pub pixel_size_y: f64,
    /// Number of columns.
    pub width: u32,
    /// Number of rows.
    pub height: u32,
}

impl GeoGrid {
    /// The CRS rectangle covered by the grid, as `[min_x, min_y, max_x, max_y]`.
    pub fn bounds(&self) -> [f64; 4] {
        let max_x = self.origin_x + f64::from(self.width) * self.pixel_size_x;
        let min_y = self.origin_y - f64::from(self.height) * self.pixel_size_y;
        [self.origin_x, min_y, max_x, self.origin_y]
    }

    /// CRS coordinates of the pixel-space point `(col, row)`.
    ///
    /// Integer values give pixel corners; add 0.5 to both for a pixel's center.
    pub fn pixel_to_crs(&self, col: f64, row: f64) -> (f64, f64) {
        (
            self.origin_x + col * self.pixel_size_x,
            self.origin_y - row * self.pixel_size_y,
        )
    }

    /// Check that the grid can describe a raster: non-empty, with positive finite pixel sizes,
    /// finite origin, and an EPSG code.
    pub fn validate(&self) -> Result<(), RasterError> {
        if self.width == 0 || self.height == 0 {
            return Err(RasterError::InvalidInput(format!(
                "the grid is {}x{} pixels; both sides must be at least 1",
                self.width, self.height
            )));
        }
        let positive = |v: f64| v.is_finite() && v > 0.0;
        if !positive(self.pixel_size_x) || !positive(self.pixel_size_y) {
            return Err(RasterError::InvalidInput(format!(
                "pixel sizes must be positive and finite, got x={} y={} (y is positive even though rows go down)",
                self.pixel_size_x, self.pixel_size_y
            )));
        }
        if !self.origin_x.is_finite() || !self.origin_y.is_finite() {
            return Err(RasterError::InvalidInput(format!(
                "the grid origin ({}, {}) is not finite",
                self.origin_x, self.origin_y
            )));
        }
        if self.epsg == 0 || self.epsg > u32::from(u16::MAX) {
            return Err(RasterError::InvalidInput(format!(
                "EPSG code {} cannot be stored in a GeoTIFF key (must be 1..=65535)",
                self.epsg
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid() -> GeoGrid {
        GeoGrid {
            epsg: 32631,
            origin_x: 600_000.0,
            origin_y: 5_700_000.0,
            pixel_size_x: 10.0,
            pixel_size_y: 20.0,
            width: 100,
            height: 50,
        }
    }

    #[test]
    fn raster_grid_bounds_and_pixel_positions() {
        let g = grid();
        assert_eq!(g.bounds(), [600_000.0, 5_699_000.0, 601_000.0, 5_700_000.0]);
        assert_eq!(g.pixel_to_crs(0.0, 0.0), (600_000.0, 5_700_000.0));
        assert_eq!(g.pixel_to_crs(0.5, 0.5), (600_005.0, 5_699_990.0));
        assert_eq!(g.pixel_to_crs(100.0, 50.0), (601_000.0, 5_699_000.0));
        assert!(g.validate().is_ok());
    }

    #[test]
    fn raster_grid_rejects_bad_sizes() {
        let mut g = grid();
        g.pixel_size_y = -20.0;
        assert!(matches!(g.validate(), Err(RasterError::InvalidInput(_))));
        let mut g = grid();
        g.width = 0;
        assert!(matches!(g.validate(), Err(RasterError::InvalidInput(_))));
    }
}
