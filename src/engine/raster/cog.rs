//! Cloud-Optimized GeoTIFF (COG): a hand-rolled writer for single-band `uint16` rasters and a
//! reader (on top of the `tiff` crate's decoder) for whole levels and windows.
//!
//! Files written here follow GDAL's COG layout: a classic little-endian TIFF whose image file
//! directories (full resolution first, then each overview) all sit at the start of the file,
//! followed by the tile data with the smallest overview's tiles first and the full resolution's
//! tiles last. Tiles are deflate-compressed, optionally with the horizontal differencing
//! predictor, and the full-resolution directory carries the GeoTIFF georeferencing and GDAL's
//! nodata tag. Overviews halve each side (rounding up) and average 2×2 blocks while ignoring
//! nodata pixels.
//!
//! The reader accepts COGs from GDAL as well (deflate, LZW or no compression, with or without
//! predictor), and plain tiled or stripped GeoTIFFs, as long as they are single-band `uint16`.

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::sync::Arc;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use tiff::TiffError;
use tiff::decoder::{Decoder, DecodingResult};
use tiff::tags::Tag;

use super::source::{RangeSource, SourceCursor, open_source};
use super::tile_reader::{SampleType, TileLayout, TileReader, TileScratch};
use super::{GeoGrid, RasterError};

/// The TIFF decoder over a file or URL.
type SourceDecoder = Decoder<SourceCursor>;

/// How [`write_cog_u16`] lays out and compresses the file.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CogWriteOptions {
    /// Tile width and height in pixels; must be a positive multiple of 16 (TIFF requirement).
    pub tile_size: u32,
    /// Overview levels (each halving the previous one) are added while the last level's larger
    /// side is bigger than this many pixels.
    pub overview_min_size: u32,
    /// zlib compression level, 0 (store) to 9 (smallest).
    pub deflate_level: u32,
    /// Apply the horizontal differencing predictor (TIFF Predictor=2) before compressing.
    pub predictor: bool,
}

impl Default for CogWriteOptions {
    fn default() -> Self {
        Self {
            tile_size: 256,
            overview_min_size: 256,
            deflate_level: 6,
            predictor: true,
        }
    }
}

/// What [`write_cog_u16`] wrote.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CogSummary {
    /// Full-resolution width in pixels.
    pub width: u32,
    /// Full-resolution height in pixels.
    pub height: u32,
    /// Tile width and height in pixels.
    pub tile_size: u32,
    /// `(width, height)` of each overview, largest first.
    pub overview_sizes: Vec<(u32, u32)>,
    /// Size of the finished file in bytes.
    pub bytes: u64,
}

/// What a GeoTIFF holds, as read by [`read_cog_info`] / [`CogReader::info`].
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CogInfo {
    /// Where the full-resolution image sits in its CRS.
    pub grid: GeoGrid,
    /// True when the image is stored in tiles, false when in strips.
    pub tiled: bool,
    /// Tile width in pixels (for strips: the image width).
    pub tile_width: u32,
    /// Tile height in pixels (for strips: rows per strip).
    pub tile_height: u32,
    /// `(width, height)` of each internal overview, in file order (largest first for COGs).
    pub overview_sizes: Vec<(u32, u32)>,
    /// The GDAL nodata value, when the file declares one (may be NaN for float files).
    pub nodata: Option<f64>,
    /// Compression of the full-resolution image: "none", "deflate", "lzw", "jpeg", "zstd", …
    pub compression: String,
    /// TIFF predictor: 1 none, 2 horizontal differencing, 3 floating point.
    pub predictor: u16,
    /// Sample type: "uint16", "uint8", "int16", "float32", …
    pub data_type: String,
    /// Number of bands (samples per pixel).
    pub band_count: u32,
}

impl CogInfo {
    /// Number of readable levels: the full resolution plus the overviews.
    pub fn level_count(&self) -> usize {
        1 + self.overview_sizes.len()
    }

    /// `(width, height)` of a level (0 = full resolution), or None when there is no such level.
    pub fn level_size(&self, level: usize) -> Option<(u32, u32)> {
        if level == 0 {
            Some((self.grid.width, self.grid.height))
        } else {
            self.overview_sizes.get(level - 1).copied()
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------

/// TIFF tag numbers the writer emits.
mod tag_id {
    pub const NEW_SUBFILE_TYPE: u16 = 254;
    pub const IMAGE_WIDTH: u16 = 256;
    pub const IMAGE_LENGTH: u16 = 257;
    pub const BITS_PER_SAMPLE: u16 = 258;
    pub const COMPRESSION: u16 = 259;
    pub const PHOTOMETRIC_INTERPRETATION: u16 = 262;
    pub const SAMPLES_PER_PIXEL: u16 = 277;
    pub const PLANAR_CONFIGURATION: u16 = 284;
    pub const PREDICTOR: u16 = 317;
    pub const TILE_WIDTH: u16 = 322;
    pub const TILE_LENGTH: u16 = 323;
    pub const TILE_OFFSETS: u16 = 324;
    pub const TILE_BYTE_COUNTS: u16 = 325;
    pub const SAMPLE_FORMAT: u16 = 339;
    pub const MODEL_PIXEL_SCALE: u16 = 33550;
    pub const MODEL_TIEPOINT: u16 = 33922;
    pub const GEO_KEY_DIRECTORY: u16 = 34735;
    pub const GDAL_NODATA: u16 = 42113;
}

/// GeoTIFF key ids.
mod geo_key {
    pub const MODEL_TYPE: u16 = 1024;
    pub const RASTER_TYPE: u16 = 1025;
    pub const GEOGRAPHIC_TYPE: u16 = 2048;
    pub const PROJECTED_CS_TYPE: u16 = 3072;
    pub const MODEL_TYPE_PROJECTED: u16 = 1;
    pub const MODEL_TYPE_GEOGRAPHIC: u16 = 2;
    pub const RASTER_PIXEL_IS_AREA: u16 = 1;
    pub const RASTER_PIXEL_IS_POINT: u16 = 2;
    pub const USER_DEFINED: u16 = 32767;
}

/// Values of one TIFF directory entry, typed as they are stored.
#[derive(Clone, Debug)]
enum TagValues {
    Short(Vec<u16>),
    Long(Vec<u32>),
    Double(Vec<f64>),
    Ascii(String),
}

impl TagValues {
    /// TIFF field type code.
    fn type_code(&self) -> u16 {
        match self {
            TagValues::Ascii(_) => 2,
            TagValues::Short(_) => 3,
            TagValues::Long(_) => 4,
            TagValues::Double(_) => 12,
        }
    }

    /// Number of values (for ASCII: bytes including the terminating NUL).
    fn count(&self) -> usize {
        match self {
            TagValues::Short(v) => v.len(),
            TagValues::Long(v) => v.len(),
            TagValues::Double(v) => v.len(),
            TagValues::Ascii(s) => s.len() + 1,
        }
    }

    /// The values as little-endian bytes.
    fn to_le_bytes(&self) -> Vec<u8> {
        match self {
            TagValues::Short(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            TagValues::Long(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            TagValues::Double(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            TagValues::Ascii(s) => {
                let mut bytes = s.as_bytes().to_vec();
                bytes.push(0);
                bytes
            }
        }
    }
}

/// One directory entry to write.
#[derive(Clone, Debug)]
struct IfdEntry {
    tag: u16,
    values: TagValues,
}

/// Bytes a directory takes in the file: the entry table, the next-IFD pointer, and the values
/// that do not fit in an entry's 4-byte slot (each padded to an even length).
fn encoded_ifd_len(entries: &[IfdEntry]) -> u64 {
    let table = 2 + 12 * entries.len() as u64 + 4;
    let out_of_line: u64 = entries
        .iter()
        .map(|entry| entry.values.to_le_bytes().len() as u64)
        .filter(|&len| len > 4)
        .map(|len| len + len % 2)
        .sum();
    table + out_of_line
}

/// Encode a directory that will be written at `ifd_offset`, pointing to `next_ifd_offset`
/// (0 for the last one). `entries` must be sorted by tag.
fn encode_ifd(
    entries: &[IfdEntry],
    ifd_offset: u32,
    next_ifd_offset: u32,
) -> Result<Vec<u8>, RasterError> {
    let entry_count = u16::try_from(entries.len()).map_err(|_| {
        RasterError::InvalidInput(format!(
            "{} TIFF tags in one directory is too many",
            entries.len()
        ))
    })?;
    let table_len = 2 + 12 * entries.len() + 4;
    let mut table = Vec::with_capacity(table_len);
    let mut out_of_line: Vec<u8> = Vec::new();
    table.extend_from_slice(&entry_count.to_le_bytes());
    for entry in entries {
        let count = u32::try_from(entry.values.count()).map_err(|_| {
            RasterError::InvalidInput(format!("TIFF tag {} has too many values", entry.tag))
        })?;
        table.extend_from_slice(&entry.tag.to_le_bytes());
        table.extend_from_slice(&entry.values.type_code().to_le_bytes());
        table.extend_from_slice(&count.to_le_bytes());
        let mut bytes = entry.values.to_le_bytes();
        if bytes.len() <= 4 {
            bytes.resize(4, 0);
            table.extend_from_slice(&bytes);
        } else {
            let value_offset = u64::from(ifd_offset) + table_len as u64 + out_of_line.len() as u64;
            let value_offset = u32::try_from(value_offset).map_err(|_| {
                RasterError::InvalidInput("TIFF directory values lie beyond 4 GiB".to_string())
            })?;
            table.extend_from_slice(&value_offset.to_le_bytes());
            out_of_line.extend_from_slice(&bytes);
            if out_of_line.len() % 2 == 1 {
                out_of_line.push(0);
            }
        }
    }
    table.extend_from_slice(&next_ifd_offset.to_le_bytes());
    table.extend_from_slice(&out_of_line);
    Ok(table)
}

/// One resolution level to write: full resolution or an overview.
struct LevelPixels<'a> {
    width: u32,
    height: u32,
    pixels: std::borrow::Cow<'a, [u16]>,
}

impl LevelPixels<'_> {
    fn tiles_across(&self, tile_size: u32) -> u32 {
        self.width.div_ceil(tile_size)
    }

    fn tiles_down(&self, tile_size: u32) -> u32 {
        self.height.div_ceil(tile_size)
    }

    fn tile_count(&self, tile_size: u32) -> usize {
        self.tiles_across(tile_size) as usize * self.tiles_down(tile_size) as usize
    }
}

/// The mean of the valid values, never equal to `nodata` (a valid mean that happens to equal the
/// nodata value is nudged by one so that it does not turn into a hole).
fn mean_avoiding_nodata(sum: u32, valid_count: u32, nodata: Option<u16>) -> u16 {
    let mean = u16::try_from((sum + valid_count / 2) / valid_count).unwrap_or(u16::MAX);
    match nodata {
        Some(nd) if mean == nd => {
            if nd < u16::MAX {
                nd + 1
            } else {
                nd - 1
            }
        }
        _ => mean,
    }
}

/// Halve a level (sizes round up) by averaging each 2×2 block, ignoring nodata pixels and
/// pixels outside the image; a block without valid pixels becomes nodata.
fn downsample_ignoring_nodata(
    width: u32,
    height: u32,
    pixels: &[u16],
    nodata: Option<u16>,
) -> (u32, u32, Vec<u16>) {
    let half_width = width.div_ceil(2);
    let half_height = height.div_ceil(2);
    let (w, h) = (width as usize, height as usize);
    let mut out = vec![0u16; half_width as usize * half_height as usize];
    out.par_chunks_mut(half_width as usize)
        .enumerate()
        .for_each(|(out_row, out_line)| {
            for (out_col, out_value) in out_line.iter_mut().enumerate() {
                let mut sum = 0u32;
                let mut valid_count = 0u32;
                for y in (2 * out_row)..(2 * out_row + 2).min(h) {
                    for x in (2 * out_col)..(2 * out_col + 2).min(w) {
                        let value = pixels[y * w + x];
                        if Some(value) != nodata {
                            sum += u32::from(value);
                            valid_count += 1;
                        }
                    }
                }
                *out_value = if valid_count == 0 {
                    nodata.unwrap_or(0)
                } else {
                    mean_avoiding_nodata(sum, valid_count, nodata)
                };
            }
        });
    (half_width, half_height, out)
}

/// Cut tile `(tile_col, tile_row)` out of a level, padding beyond the image with `fill`, apply
/// the predictor if asked, and deflate it.
fn encode_tile(
    level: &LevelPixels<'_>,
    tile_col: u32,
    tile_row: u32,
    options: &CogWriteOptions,
    fill: u16,
) -> std::io::Result<Vec<u8>> {
    let tile = options.tile_size as usize;
    let (w, h) = (level.width as usize, level.height as usize);
    let x0 = tile_col as usize * tile;
    let y0 = tile_row as usize * tile;
    let mut samples = vec![fill; tile * tile];
    let copy_width = tile.min(w - x0);
    for row in 0..tile.min(h - y0) {
        let src = (y0 + row) * w + x0;
        samples[row * tile..row * tile + copy_width]
            .copy_from_slice(&level.pixels[src..src + copy_width]);
    }
    if options.predictor {
        for line in samples.chunks_mut(tile) {
            for i in (1..line.len()).rev() {
                line[i] = line[i].wrapping_sub(line[i - 1]);
            }
        }
    }
    let raw: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
    let mut encoder = flate2::write::ZlibEncoder::new(
        Vec::with_capacity(raw.len() / 2),
        flate2::Compression::new(options.deflate_level),
    );
    encoder.write_all(&raw)?;
    encoder.finish()
}

/// Whether an EPSG code names a geographic (longitude/latitude) CRS rather than a projected
/// one. EPSG reserves 4000–4999 for geographic 2D CRSs (4326 WGS 84, 4258 ETRS89, 4269 NAD83, …).
fn is_geographic_epsg(epsg: u32) -> bool {
    (4000..5000).contains(&epsg)
}

/// The GeoKeyDirectory values for a grid: model type, PixelIsArea, and the EPSG code.
fn geo_key_directory(epsg: u16, geographic: bool) -> Vec<u16> {
    let (model_type, crs_key) = if geographic {
        (geo_key::MODEL_TYPE_GEOGRAPHIC, geo_key::GEOGRAPHIC_TYPE)
    } else {
        (geo_key::MODEL_TYPE_PROJECTED, geo_key::PROJECTED_CS_TYPE)
    };
    let keys = [
        (geo_key::MODEL_TYPE, model_type),
        (geo_key::RASTER_TYPE, geo_key::RASTER_PIXEL_IS_AREA),
        (crs_key, epsg),
    ];
    // Header: version 1, revision 1.0, number of keys; then (key, location 0 = inline, count 1, value).
    let mut directory = vec![1, 1, 0, keys.len() as u16];
    for (key, value) in keys {
        directory.extend_from_slice(&[key, 0, 1, value]);
    }
    directory
}

/// The directory entries of one level, sorted by tag. Level 0 gets the georeferencing.
fn level_ifd_entries(
    level_index: usize,
    level: &LevelPixels<'_>,
    grid: &GeoGrid,
    nodata: Option<u16>,
    options: &CogWriteOptions,
    tile_offsets: Vec<u32>,
    tile_byte_counts: Vec<u32>,
) -> Vec<IfdEntry> {
    let short = |tag, value: u16| IfdEntry {
        tag,
        values: TagValues::Short(vec![value]),
    };
    let long = |tag, value: u32| IfdEntry {
        tag,
        values: TagValues::Long(vec![value]),
    };
    let mut entries = Vec::with_capacity(18);
    if level_index > 0 {
        // Reduced-resolution version of the first image.
        entries.push(long(tag_id::NEW_SUBFILE_TYPE, 1));
    }
    entries.push(long(tag_id::IMAGE_WIDTH, level.width));
    entries.push(long(tag_id::IMAGE_LENGTH, level.height));
    entries.push(short(tag_id::BITS_PER_SAMPLE, 16));
    entries.push(short(tag_id::COMPRESSION, 8));
    entries.push(short(tag_id::PHOTOMETRIC_INTERPRETATION, 1));
    entries.push(short(tag_id::SAMPLES_PER_PIXEL, 1));
    entries.push(short(tag_id::PLANAR_CONFIGURATION, 1));
    if options.predictor {
        entries.push(short(tag_id::PREDICTOR, 2));
    }
    entries.push(long(tag_id::TILE_WIDTH, options.tile_size));
    entries.push(long(tag_id::TILE_LENGTH, options.tile_size));
    entries.push(IfdEntry {
        tag: tag_id::TILE_OFFSETS,
        values: TagValues::Long(tile_offsets),
    });
    entries.push(IfdEntry {
        tag: tag_id::TILE_BYTE_COUNTS,
        values: TagValues::Long(tile_byte_counts),
    });
    entries.push(short(tag_id::SAMPLE_FORMAT, 1));
    if level_index == 0 {
        entries.push(IfdEntry {
            tag: tag_id::MODEL_PIXEL_SCALE,
            values: TagValues::Double(vec![grid.pixel_size_x, grid.pixel_size_y, 0.0]),
        });
        entries.push(IfdEntry {
            tag: tag_id::MODEL_TIEPOINT,
            values: TagValues::Double(vec![0.0, 0.0, 0.0, grid.origin_x, grid.origin_y, 0.0]),
        });
        // `GeoGrid::validate` has checked the code fits in 16 bits.
        let epsg = u16::try_from(grid.epsg).unwrap_or(geo_key::USER_DEFINED);
        entries.push(IfdEntry {
            tag: tag_id::GEO_KEY_DIRECTORY,
            values: TagValues::Short(geo_key_directory(epsg, is_geographic_epsg(grid.epsg))),
        });
    }
    if let Some(nd) = nodata {
        entries.push(IfdEntry {
            tag: tag_id::GDAL_NODATA,
            values: TagValues::Ascii(nd.to_string()),
        });
    }
    entries
}

/// Check the writer's arguments before touching the disk.
fn validate_write_input(
    grid: &GeoGrid,
    data: &[u16],
    options: &CogWriteOptions,
) -> Result<(), RasterError> {
    grid.validate()?;
    let expected = u64::from(grid.width) * u64::from(grid.height);
    if data.len() as u64 != expected {
        return Err(RasterError::InvalidInput(format!(
            "the grid is {}x{} = {expected} pixels but {} values were given; pass one value per pixel, row by row",
            grid.width,
            grid.height,
            data.len()
        )));
    }
    if options.tile_size == 0 || !options.tile_size.is_multiple_of(16) {
        return Err(RasterError::InvalidInput(format!(
            "tile size {} is not a positive multiple of 16 (TIFF requires it); use 256 or 512",
            options.tile_size
        )));
    }
    if options.tile_size > 4096 {
        return Err(RasterError::InvalidInput(format!(
            "tile size {} is larger than 4096 pixels; use 256 or 512",
            options.tile_size
        )));
    }
    if options.overview_min_size == 0 {
        return Err(RasterError::InvalidInput(
            "overview_min_size must be at least 1 pixel (it is usually the tile size)".to_string(),
        ));
    }
    if options.deflate_level > 9 {
        return Err(RasterError::InvalidInput(format!(
            "deflate level {} is outside 0..=9",
            options.deflate_level
        )));
    }
    Ok(())
}

/// The temporary file a COG is written to before being renamed into place: `name.partial` next
/// to `path`.
pub fn partial_path(path: &Path) -> Result<PathBuf, RasterError> {
    let Some(file_name) = path.file_name() else {
        return Err(RasterError::InvalidInput(format!(
            "{} does not name a file to write the COG to",
            path.display()
        )));
    };
    let mut partial_name = file_name.to_os_string();
    partial_name.push(".partial");
    Ok(path.with_file_name(partial_name))
}

/// Write a single-band `uint16` Cloud-Optimized GeoTIFF.
///
/// `data` holds `grid.width * grid.height` values row by row from the top-left. When `nodata` is
/// set it is written as GDAL's nodata tag, overviews ignore those pixels, and partial edge tiles
/// are padded with it (else with 0). The file is written to [`partial_path`] and renamed to
/// `path` only when complete, so a crash never leaves a half-written `path`.
pub fn write_cog_u16(
    path: &Path,
    grid: &GeoGrid,
    data: &[u16],
    nodata: Option<u16>,
    options: &CogWriteOptions,
) -> Result<CogSummary, RasterError> {
    validate_write_input(grid, data, options)?;

    let mut levels = vec![LevelPixels {
        width: grid.width,
        height: grid.height,
        pixels: std::borrow::Cow::Borrowed(data),
    }];
    while let Some(last) = levels
        .last()
        .filter(|last| last.width.max(last.height) > options.overview_min_size)
    {
        let (width, height, pixels) =
            downsample_ignoring_nodata(last.width, last.height, &last.pixels, nodata);
        levels.push(LevelPixels {
            width,
            height,
            pixels: std::borrow::Cow::Owned(pixels),
        });
    }

    let partial = partial_path(path)?;
    let written = write_levels(&partial, path, grid, &levels, nodata, options);
    let bytes = match written {
        Ok(bytes) => bytes,
        Err(err) => {
            // Best effort: the error we report is the one that stopped the write.
            let _ = std::fs::remove_file(&partial);
            return Err(err);
        }
    };
    if let Err(source) = std::fs::rename(&partial, path) {
        let _ = std::fs::remove_file(&partial);
        return Err(RasterError::Io {
            path: path.to_path_buf(),
            source,
        });
    }

    let summary = CogSummary {
        width: grid.width,
        height: grid.height,
        tile_size: options.tile_size,
        overview_sizes: levels.iter().skip(1).map(|l| (l.width, l.height)).collect(),
        bytes,
    };
    tracing::debug!(path = %path.display(), ?summary, "wrote COG");
    Ok(summary)
}

/// Write all levels to `partial` (directories first, then tiles smallest level first); returns
/// the file size. `final_path` is only used in error messages.
fn write_levels(
    partial: &Path,
    final_path: &Path,
    grid: &GeoGrid,
    levels: &[LevelPixels<'_>],
    nodata: Option<u16>,
    options: &CogWriteOptions,
) -> Result<u64, RasterError> {
    const HEADER_LEN: u64 = 8;
    let io_error = |source| RasterError::Io {
        path: partial.to_path_buf(),
        source,
    };
    let too_large = || {
        RasterError::Unsupported {
        path: final_path.to_path_buf(),
        detail: "the COG would be larger than 4 GiB, which classic TIFF cannot address and this writer does \
                 not write BigTIFF; split the raster into smaller pieces or raise the deflate level"
            .to_string(),
    }
    };

    // The directories' sizes depend only on the tile counts, so their place is known up front.
    let mut ifd_offsets = Vec::with_capacity(levels.len());
    let mut next_offset = HEADER_LEN;
    for (index, level) in levels.iter().enumerate() {
        let tiles = level.tile_count(options.tile_size);
        let entries = level_ifd_entries(
            index,
            level,
            grid,
            nodata,
            options,
            vec![0; tiles],
            vec![0; tiles],
        );
        ifd_offsets.push(next_offset);
        next_offset += encoded_ifd_len(&entries);
    }
    let data_start = next_offset;
    let ifd_offsets: Vec<u32> = ifd_offsets
        .into_iter()
        .map(|offset| u32::try_from(offset).map_err(|_| too_large()))
        .collect::<Result<_, _>>()?;

    let file = File::create(partial).map_err(io_error)?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    out.seek(SeekFrom::Start(data_start)).map_err(io_error)?;

    // Tile data: smallest overview first, full resolution last; row-major within a level.
    let mut position = data_start;
    let mut tile_offsets: Vec<Vec<u32>> = vec![Vec::new(); levels.len()];
    let mut tile_byte_counts: Vec<Vec<u32>> = vec![Vec::new(); levels.len()];
    for (index, level) in levels.iter().enumerate().rev() {
        let across = level.tiles_across(options.tile_size);
        let fill = nodata.unwrap_or(0);
        let encoded: Vec<Vec<u8>> = (0..level.tile_count(options.tile_size))
            .into_par_iter()
            .map(|tile_index| {
                let tile_index = tile_index as u32;
                encode_tile(
                    level,
                    tile_index % across,
                    tile_index / across,
                    options,
                    fill,
                )
            })
            .collect::<std::io::Result<_>>()
            .map_err(io_error)?;
        for tile in encoded {
            let offset = u32::try_from(position).map_err(|_| too_large())?;
            let byte_count = u32::try_from(tile.len()).map_err(|_| too_large())?;
            position += tile.len() as u64;
            if position > u64::from(u32::MAX) {
                return Err(too_large());
            }
            out.write_all(&tile).map_err(io_error)?;
            tile_offsets[index].push(offset);
            tile_byte_counts[index].push(byte_count);
        }
    }

    // Header and directories, now that the tile offsets are known.
    out.seek(SeekFrom::Start(0)).map_err(io_error)?;
    let mut header = Vec::with_capacity(HEADER_LEN as usize);
    header.extend_from_slice(b"II");
    header.extend_from_slice(&42u16.to_le_bytes());
    header.extend_from_slice(&(HEADER_LEN as u32).to_le_bytes());
    out.write_all(&header).map_err(io_error)?;
    let mut written_ifd_end = HEADER_LEN;
    for (index, level) in levels.iter().enumerate() {
        let entries = level_ifd_entries(
            index,
            level,
            grid,
            nodata,
            options,
            std::mem::take(&mut tile_offsets[index]),
            std::mem::take(&mut tile_byte_counts[index]),
        );
        let next_ifd = ifd_offsets.get(index + 1).copied().unwrap_or(0);
        let encoded = encode_ifd(&entries, ifd_offsets[index], next_ifd)?;
        out.write_all(&encoded).map_err(io_error)?;
        written_ifd_end += encoded.len() as u64;
    }
    if written_ifd_end != data_start {
        return Err(RasterError::InvalidInput(format!(
            "internal error while writing {}: directories took {written_ifd_end} bytes, {data_start} were reserved",
            final_path.display()
        )));
    }
    let file = out.into_inner().map_err(|err| io_error(err.into_error()))?;
    file.sync_all().map_err(io_error)?;
    Ok(position)
}

// ---------------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------------

/// Turn a decoder error into a [`RasterError`] that names the file.
fn tiff_error(path: &Path, err: TiffError) -> RasterError {
    match err {
        TiffError::IoError(source) => super::source::read_error(path, source),
        TiffError::UnsupportedError(unsupported) => RasterError::Unsupported {
            path: path.to_path_buf(),
            detail: format!(
                "the TIFF decoder does not support this file ({unsupported}); convert it with \
                 `gdal_translate -of COG -co COMPRESS=DEFLATE`"
            ),
        },
        other => RasterError::Tiff {
            path: path.to_path_buf(),
            detail: other.to_string(),
        },
    }
}

/// Name of a TIFF compression code.
fn compression_name(code: u16) -> String {
    match code {
        1 => "none".to_string(),
        5 => "lzw".to_string(),
        6 | 7 => "jpeg".to_string(),
        8 | 32946 => "deflate".to_string(),
        32773 => "packbits".to_string(),
        34887 => "lerc".to_string(),
        34925 => "lzma".to_string(),
        50000 => "zstd".to_string(),
        50001 => "webp".to_string(),
        other => format!("tiff-compression-{other}"),
    }
}

/// Name of a sample type from SampleFormat and BitsPerSample.
fn data_type_name(sample_format: u16, bits_per_sample: u16) -> String {
    match (sample_format, bits_per_sample) {
        (1, 8) => "uint8".to_string(),
        (1, 16) => "uint16".to_string(),
        (1, 32) => "uint32".to_string(),
        (1, 64) => "uint64".to_string(),
        (2, 8) => "int8".to_string(),
        (2, 16) => "int16".to_string(),
        (2, 32) => "int32".to_string(),
        (2, 64) => "int64".to_string(),
        (3, 16) => "float16".to_string(),
        (3, 32) => "float32".to_string(),
        (3, 64) => "float64".to_string(),
        (1, bits) => format!("uint{bits}"),
        (format, bits) => format!("sampleformat{format}-{bits}bit"),
    }
}

/// Where one level's chunks (tiles or strips) are, as the decoder sees it.
#[derive(Clone, Debug)]
struct LevelLayout {
    /// Index of the level's directory in the file's IFD chain.
    ifd_index: usize,
    width: u32,
    height: u32,
    chunk_width: u32,
    chunk_height: u32,
}

/// An open GeoTIFF, for repeated reads of levels and windows without re-parsing the directories.
pub struct CogReader {
    path: PathBuf,
    source: Arc<dyn RangeSource>,
    decoder: SourceDecoder,
    info: CogInfo,
    levels: Vec<LevelLayout>,
    /// Per level: the direct tile reader, when the level's encoding allows it.
    tile_readers: Vec<Option<TileReader>>,
    scratch: TileScratch,
}

impl std::fmt::Debug for CogReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CogReader")
            .field("path", &self.path)
            .field("info", &self.info)
            .finish()
    }
}

impl CogReader {
    /// Open a GeoTIFF (a local path, or an http(s) URL read with range requests) and read its
    /// directories: size, tiling, georeferencing, overviews.
    pub fn open(path: &Path) -> Result<Self, RasterError> {
        Self::open_source(open_source(path)?)
    }

    /// Open a GeoTIFF from any [`RangeSource`].
    pub fn open_source(source: Arc<dyn RangeSource>) -> Result<Self, RasterError> {
        let path = &source.label().to_path_buf();
        let mut decoder = Decoder::new(SourceCursor::new(source.clone())).map_err(|e| tiff_error(path, e))?;
        let tiff = |e| tiff_error(path, e);

        let main = current_level_layout(&mut decoder, 0).map_err(tiff)?;
        let tiled = decoder.find_tag(Tag::TileWidth).map_err(tiff)?.is_some();
        let band_count: u32 = decoder
            .find_tag_unsigned(Tag::SamplesPerPixel)
            .map_err(tiff)?
            .unwrap_or(1);
        let bits_per_sample = decoder
            .find_tag_unsigned_vec::<u16>(Tag::BitsPerSample)
            .map_err(tiff)?
            .and_then(|bits| bits.first().copied())
            .unwrap_or(1);
        let sample_format = decoder
            .find_tag_unsigned_vec::<u16>(Tag::SampleFormat)
            .map_err(tiff)?
            .and_then(|formats| formats.first().copied())
            .unwrap_or(1);
        let compression: u16 = decoder
            .find_tag_unsigned(Tag::Compression)
            .map_err(tiff)?
            .unwrap_or(1);
        let predictor: u16 = decoder
            .find_tag_unsigned(Tag::Predictor)
            .map_err(tiff)?
            .unwrap_or(1);
        let nodata = match decoder.find_tag(Tag::GdalNodata).map_err(tiff)? {
            Some(value) => parse_gdal_nodata(value),
            None => None,
        };
        let grid = read_geo_grid(&mut decoder, path, main.width, main.height)?;

        let mut levels = vec![main];
        let mut ifd_index = 0;
        while decoder.more_images() {
            ifd_index += 1;
            if let Err(err) = decoder.next_image() {
                // E.g. an exotic mask directory; the other levels are still usable.
                tracing::debug!(path = %path.display(), ifd_index, %err, "skipping an unreadable TIFF directory");
                continue;
            }
            let subfile_type: u32 = decoder
                .find_tag_unsigned(Tag::NewSubfileType)
                .map_err(tiff)?
                .unwrap_or(0);
            let is_reduced_resolution = subfile_type & 1 != 0;
            let is_mask = subfile_type & 4 != 0;
            if is_reduced_resolution && !is_mask {
                levels.push(current_level_layout(&mut decoder, ifd_index).map_err(tiff)?);
            }
        }

        let info = CogInfo {
            grid,
            tiled,
            tile_width: levels[0].chunk_width,
            tile_height: levels[0].chunk_height,
            overview_sizes: levels.iter().skip(1).map(|l| (l.width, l.height)).collect(),
            nodata,
            compression: compression_name(compression),
            predictor,
            data_type: data_type_name(sample_format, bits_per_sample),
            band_count,
        };
        let mut reader = Self {
            path: path.to_path_buf(),
            source,
            decoder,
            info,
            levels,
            tile_readers: Vec::new(),
            scratch: TileScratch::default(),
        };
        for level in 0..reader.levels.len() {
            let layout = reader.tile_layout(level)?;
            let fast = layout.fast_path_error().is_none().then(|| TileReader::new(reader.source.clone(), layout).ok()).flatten();
            reader.tile_readers.push(fast);
        }
        Ok(reader)
    }

    /// The tile table and encoding of a level.
    pub fn tile_layout(&mut self, level: usize) -> Result<TileLayout, RasterError> {
        let layout = self.level_layout(level)?;
        let path = self.path.clone();
        let tiff = |e| tiff_error(&path, e);
        self.decoder.seek_to_image(layout.ifd_index).map_err(tiff)?;
        let (offsets_tag, counts_tag) = if self.info.tiled {
            (Tag::TileOffsets, Tag::TileByteCounts)
        } else {
            (Tag::StripOffsets, Tag::StripByteCounts)
        };
        let offsets: Vec<u64> = self.decoder.find_tag_unsigned_vec(offsets_tag).map_err(tiff)?.unwrap_or_default();
        let byte_counts: Vec<u64> = self.decoder.find_tag_unsigned_vec(counts_tag).map_err(tiff)?.unwrap_or_default();
        let first = |v: Option<Vec<u16>>| v.and_then(|v| v.first().copied());
        let bits = first(self.decoder.find_tag_unsigned_vec::<u16>(Tag::BitsPerSample).map_err(tiff)?).unwrap_or(1);
        let format = first(self.decoder.find_tag_unsigned_vec::<u16>(Tag::SampleFormat).map_err(tiff)?).unwrap_or(1);
        let samples_per_pixel: u16 = self.decoder.find_tag_unsigned(Tag::SamplesPerPixel).map_err(tiff)?.unwrap_or(1);
        let compression: u16 = self.decoder.find_tag_unsigned(Tag::Compression).map_err(tiff)?.unwrap_or(1);
        let predictor: u16 = self.decoder.find_tag_unsigned(Tag::Predictor).map_err(tiff)?.unwrap_or(1);
        let little_endian = matches!(self.decoder.byte_order(), tiff::tags::ByteOrder::LittleEndian);
        Ok(TileLayout {
            width: layout.width,
            height: layout.height,
            tile_width: layout.chunk_width,
            // A strip may claim more rows than the image has (RowsPerStrip 2^32 - 1 = one strip).
            tile_height: if self.info.tiled { layout.chunk_height } else { layout.chunk_height.min(layout.height.max(1)) },
            offsets,
            byte_counts,
            compression,
            predictor,
            sample_type: SampleType::from_tiff(format, bits),
            samples_per_pixel,
            little_endian,
            sparse_fill: self.info.nodata.filter(|v| v.is_finite()).unwrap_or(0.0),
        })
    }

    /// The direct tile reader of a level (libdeflate, positioned reads, any thread), or why there is none.
    pub fn tile_reader(&mut self, level: usize) -> Result<TileReader, RasterError> {
        if let Some(Some(reader)) = self.tile_readers.get(level) {
            return Ok(reader.clone());
        }
        let layout = self.tile_layout(level)?;
        TileReader::new(self.source.clone(), layout)
    }

    /// The byte source (file or URL) the reader reads.
    pub fn source(&self) -> &Arc<dyn RangeSource> {
        &self.source
    }

    /// What the file holds.
    pub fn info(&self) -> &CogInfo {
        &self.info
    }

    /// The file this reader reads.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Decode a whole level (0 = full resolution, 1.. = overviews): `(width, height, pixels)`
    /// with pixels row by row.
    pub fn read_level_u16(&mut self, level: usize) -> Result<(u32, u32, Vec<u16>), RasterError> {
        let layout = self.level_layout(level)?;
        let pixels = self.read_window_u16(level, 0, 0, layout.width, layout.height)?;
        Ok((layout.width, layout.height, pixels))
    }

    /// Decode a `width`×`height` window of a level whose top-left pixel is `(col_off, row_off)`;
    /// only the tiles (or strips) that intersect the window are read. Pixels come row by row.
    pub fn read_window_u16(
        &mut self,
        level: usize,
        col_off: u32,
        row_off: u32,
        width: u32,
        height: u32,
    ) -> Result<Vec<u16>, RasterError> {
        self.check_uint16_single_band()?;
        if let Some(Some(fast)) = self.tile_readers.get(level) {
            return fast.read_window_u16((col_off, row_off, width, height), &mut self.scratch);
        }
        let layout = self.level_layout(level)?;
        let fits = |offset: u32, size: u32, full: u32| {
            u64::from(offset) + u64::from(size) <= u64::from(full)
        };
        if width == 0
            || height == 0
            || !fits(col_off, width, layout.width)
            || !fits(row_off, height, layout.height)
        {
            return Err(RasterError::InvalidInput(format!(
                "window {width}x{height} at column {col_off}, row {row_off} is empty or outside level {level} \
                 of {} ({}x{} pixels)",
                self.path.display(),
                layout.width,
                layout.height
            )));
        }
        let path = self.path.clone();
        let tiff = |e| tiff_error(&path, e);
        self.decoder.seek_to_image(layout.ifd_index).map_err(tiff)?;
        let byte_counts_tag = if self.info.tiled {
            Tag::TileByteCounts
        } else {
            Tag::StripByteCounts
        };
        let chunk_byte_counts: Vec<u64> = self
            .decoder
            .find_tag_unsigned_vec(byte_counts_tag)
            .map_err(tiff)?
            .unwrap_or_default();
        let sparse_fill = self
            .info
            .nodata
            .filter(|nd| nd.fract() == 0.0 && (0.0..=f64::from(u16::MAX)).contains(nd))
            .map(|nd| nd as u16)
            .unwrap_or(0);

        let (chunk_w, chunk_h) = (layout.chunk_width, layout.chunk_height);
        let chunks_across = layout.width.div_ceil(chunk_w);
        let mut window = vec![0u16; width as usize * height as usize];
        for chunk_row in (row_off / chunk_h)..=((row_off + height - 1) / chunk_h) {
            for chunk_col in (col_off / chunk_w)..=((col_off + width - 1) / chunk_w) {
                let chunk_index = chunk_row * chunks_across + chunk_col;
                let (chunk_x, chunk_y) = (chunk_col * chunk_w, chunk_row * chunk_h);
                // Size of the chunk's pixels inside the image (edge chunks are cut).
                let data_w = chunk_w.min(layout.width - chunk_x) as usize;
                let data_h = chunk_h.min(layout.height - chunk_y) as usize;
                let is_sparse = chunk_byte_counts.get(chunk_index as usize) == Some(&0);
                let chunk_pixels = if is_sparse {
                    vec![sparse_fill; data_w * data_h]
                } else {
                    match self.decoder.read_chunk(chunk_index).map_err(tiff)? {
                        DecodingResult::U16(pixels) => pixels,
                        _ => return Err(self.unsupported_type()),
                    }
                };
                if chunk_pixels.len() < data_w * data_h {
                    return Err(RasterError::Tiff {
                        path: self.path.clone(),
                        detail: format!(
                            "chunk {chunk_index} of level {level} decoded to {} values, expected {}",
                            chunk_pixels.len(),
                            data_w * data_h
                        ),
                    });
                }
                let x_start = col_off.max(chunk_x);
                let x_end = (col_off + width).min(chunk_x + data_w as u32);
                let y_start = row_off.max(chunk_y);
                let y_end = (row_off + height).min(chunk_y + data_h as u32);
                let run = (x_end - x_start) as usize;
                for y in y_start..y_end {
                    let src = (y - chunk_y) as usize * data_w + (x_start - chunk_x) as usize;
                    let dst =
                        (y - row_off) as usize * width as usize + (x_start - col_off) as usize;
                    window[dst..dst + run].copy_from_slice(&chunk_pixels[src..src + run]);
                }
            }
        }
        Ok(window)
    }

    fn level_layout(&self, level: usize) -> Result<LevelLayout, RasterError> {
        self.levels.get(level).cloned().ok_or_else(|| {
            RasterError::InvalidInput(format!(
                "level {level} does not exist in {}: it has the full resolution (level 0) and {} overview(s)",
                self.path.display(),
                self.levels.len() - 1
            ))
        })
    }

    fn unsupported_type(&self) -> RasterError {
        RasterError::Unsupported {
            path: self.path.clone(),
            detail: format!(
                "only single-band uint16 rasters can be read as uint16, this one has {} band(s) of {}; \
                 convert it with `gdal_translate -ot UInt16 -b 1`",
                self.info.band_count, self.info.data_type
            ),
        }
    }

    fn check_uint16_single_band(&self) -> Result<(), RasterError> {
        if self.info.band_count == 1 && self.info.data_type == "uint16" {
            Ok(())
        } else {
            Err(self.unsupported_type())
        }
    }
}

/// Size and chunking of the decoder's current image.
fn current_level_layout(
    decoder: &mut SourceDecoder,
    ifd_index: usize,
) -> Result<LevelLayout, TiffError> {
    let (width, height) = decoder.dimensions()?;
    let (chunk_width, chunk_height) = decoder.chunk_dimensions();
    Ok(LevelLayout {
        ifd_index,
        width,
        height,
        chunk_width: chunk_width.max(1),
        chunk_height: chunk_height.max(1),
    })
}

/// GDAL writes nodata as ASCII ("0", "-9999", "nan"); None when it does not parse.
fn parse_gdal_nodata(value: tiff::decoder::ifd::Value) -> Option<f64> {
    let text = value.into_string().ok()?;
    let text = text.trim_matches(|c: char| c == '\0' || c.is_whitespace());
    match text.to_ascii_lowercase().as_str() {
        "nan" => Some(f64::NAN),
        lowered => lowered.parse().ok(),
    }
}

/// The GeoGrid from the GeoTIFF tags of the decoder's current image.
fn read_geo_grid(
    decoder: &mut SourceDecoder,
    path: &Path,
    width: u32,
    height: u32,
) -> Result<GeoGrid, RasterError> {
    let tiff = |e| tiff_error(path, e);
    let not_georeferenced = || RasterError::NotGeoreferenced {
        path: path.to_path_buf(),
    };
    let Some(keys) = decoder.find_tag(Tag::GeoKeyDirectoryTag).map_err(tiff)? else {
        return Err(not_georeferenced());
    };
    let keys = keys.into_u16_vec().map_err(tiff)?;
    let key_count = keys.get(3).copied().unwrap_or(0) as usize;
    let mut model_type = None;
    let mut raster_type = geo_key::RASTER_PIXEL_IS_AREA;
    let mut projected_epsg = None;
    let mut geographic_epsg = None;
    for entry in keys
        .get(4..)
        .unwrap_or_default()
        .chunks_exact(4)
        .take(key_count)
    {
        let (key, location, value) = (entry[0], entry[1], entry[3]);
        if location != 0 {
            continue; // Stored in another tag (doubles or ASCII); none of the keys we need.
        }
        match key {
            geo_key::MODEL_TYPE => model_type = Some(value),
            geo_key::RASTER_TYPE => raster_type = value,
            geo_key::PROJECTED_CS_TYPE => projected_epsg = Some(value),
            geo_key::GEOGRAPHIC_TYPE => geographic_epsg = Some(value),
            _ => {}
        }
    }
    let epsg = match model_type {
        Some(geo_key::MODEL_TYPE_GEOGRAPHIC) => geographic_epsg,
        _ => projected_epsg.or(geographic_epsg),
    };
    let epsg = match epsg {
        Some(code) if code != 0 && code != geo_key::USER_DEFINED => u32::from(code),
        Some(_) => {
            return Err(RasterError::Unsupported {
                path: path.to_path_buf(),
                detail: "the CRS is user-defined (no EPSG code in the GeoKeyDirectory); reproject it with \
                         `gdalwarp -t_srs EPSG:xxxx`"
                    .to_string(),
            });
        }
        None => return Err(not_georeferenced()),
    };

    let scale = decoder.find_tag(Tag::ModelPixelScaleTag).map_err(tiff)?;
    let tiepoint = decoder.find_tag(Tag::ModelTiepointTag).map_err(tiff)?;
    let (mut origin_x, mut origin_y, pixel_size_x, pixel_size_y) = match (scale, tiepoint) {
        (Some(scale), Some(tiepoint)) => {
            let scale = scale.into_f64_vec().map_err(tiff)?;
            let tiepoint = tiepoint.into_f64_vec().map_err(tiff)?;
            let (Some(&sx), Some(&sy), Some(tie)) =
                (scale.first(), scale.get(1), tiepoint.get(..6))
            else {
                return Err(not_georeferenced());
            };
            (tie[3] - tie[0] * sx, tie[4] + tie[1] * sy, sx, sy)
        }
        _ => {
            let Some(matrix) = decoder
                .find_tag(Tag::ModelTransformationTag)
                .map_err(tiff)?
            else {
                return Err(not_georeferenced());
            };
            let matrix = matrix.into_f64_vec().map_err(tiff)?;
            let Some(m) = matrix.get(..16) else {
                return Err(not_georeferenced());
            };
            if m[1] != 0.0 || m[4] != 0.0 {
                return Err(RasterError::Unsupported {
                    path: path.to_path_buf(),
                    detail: "the raster is rotated or sheared (ModelTransformationTag); only north-up grids are \
                             supported, warp it with `gdalwarp`"
                        .to_string(),
                });
            }
            (m[3], m[7], m[0], -m[5])
        }
    };
    if !(pixel_size_x > 0.0 && pixel_size_y > 0.0) {
        return Err(RasterError::Unsupported {
            path: path.to_path_buf(),
            detail: format!(
                "pixel size ({pixel_size_x}, {pixel_size_y}) is not north-up with positive sizes; warp it with `gdalwarp`"
            ),
        });
    }
    if raster_type == geo_key::RASTER_PIXEL_IS_POINT {
        // The tie point is a pixel center; move it to the corner like GDAL does.
        origin_x -= pixel_size_x / 2.0;
        origin_y += pixel_size_y / 2.0;
    }
    Ok(GeoGrid {
        epsg,
        origin_x,
        origin_y,
        pixel_size_x,
        pixel_size_y,
        width,
        height,
    })
}

/// Read a GeoTIFF's size, georeferencing, tiling, overviews, nodata and sample type.
pub fn read_cog_info(path: &Path) -> Result<CogInfo, RasterError> {
    Ok(CogReader::open(path)?.info)
}

/// Decode a whole level (0 = full resolution, 1.. = overviews) of a single-band `uint16`
/// GeoTIFF: `(width, height, pixels)`, pixels row by row.
pub fn read_level_u16(path: &Path, level: usize) -> Result<(u32, u32, Vec<u16>), RasterError> {
    CogReader::open(path)?.read_level_u16(level)
}

/// Decode a `width`×`height` window at `(col_off, row_off)` of a level of a single-band `uint16`
/// GeoTIFF, reading only the tiles that intersect it. Pixels come row by row.
pub fn read_window_u16(
    path: &Path,
    level: usize,
    col_off: u32,
    row_off: u32,
    width: u32,
    height: u32,
) -> Result<Vec<u16>, RasterError> {
    CogReader::open(path)?.read_window_u16(level, col_off, row_off, width, height)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NODATA: u16 = 0;

    fn utm_grid(width: u32, height: u32) -> GeoGrid {
        GeoGrid {
            epsg: 32631,
            origin_x: 600_000.0,
            origin_y: 5_800_020.0,
            pixel_size_x: 10.0,
            pixel_size_y: 10.0,
            width,
            height,
        }
    }

    /// A 700×500-like test image: a gradient with nodata in a left band, a square hole, and a
    /// scattered pattern that leaves some 2×2 blocks partly nodata.
    fn synthetic_image(width: u32, height: u32) -> Vec<u16> {
        let mut pixels = Vec::with_capacity((width * height) as usize);
        for y in 0..height {
            for x in 0..width {
                let is_nodata = x < 37
                    || ((300..361).contains(&x) && (201..260).contains(&y))
                    || ((500..600).contains(&x) && y < 100 && (x + 2 * y) % 3 == 0);
                let value = if is_nodata {
                    NODATA
                } else {
                    ((x * 7 + y * 13) % 9000 + 1) as u16
                };
                pixels.push(value);
            }
        }
        pixels
    }

    /// Independent reference for the overview rule: rounded mean of the valid pixels of each
    /// 2×2 block, nodata when none is valid.
    fn expected_overview(width: u32, height: u32, pixels: &[u16], nodata: Option<u16>) -> Vec<u16> {
        let (w2, h2) = (width.div_ceil(2), height.div_ceil(2));
        let mut out = Vec::new();
        for r in 0..h2 {
            for c in 0..w2 {
                let mut valid = Vec::new();
                for (x, y) in [
                    (2 * c, 2 * r),
                    (2 * c + 1, 2 * r),
                    (2 * c, 2 * r + 1),
                    (2 * c + 1, 2 * r + 1),
                ] {
                    if x < width && y < height {
                        let v = pixels[(y * width + x) as usize];
                        if Some(v) != nodata {
                            valid.push(u32::from(v));
                        }
                    }
                }
                if valid.is_empty() {
                    out.push(nodata.unwrap_or(0));
                } else {
                    let n = valid.len() as f64;
                    let mean = (valid.iter().sum::<u32>() as f64 / n + 0.5).floor() as u16;
                    out.push(if Some(mean) == nodata { mean + 1 } else { mean });
                }
            }
        }
        out
    }

    #[test]
    fn cog_roundtrip_info_levels_windows_and_overviews() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b04.tif");
        let (width, height) = (700, 500);
        let grid = utm_grid(width, height);
        let pixels = synthetic_image(width, height);

        let summary = write_cog_u16(
            &path,
            &grid,
            &pixels,
            Some(NODATA),
            &CogWriteOptions::default(),
        )
        .unwrap();
        assert_eq!(summary.overview_sizes, vec![(350, 250), (175, 125)]);
        assert_eq!(
            (summary.width, summary.height, summary.tile_size),
            (700, 500, 256)
        );
        assert_eq!(summary.bytes, std::fs::metadata(&path).unwrap().len());
        assert!(
            !partial_path(&path).unwrap().exists(),
            "no .partial file may remain"
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);

        let info = read_cog_info(&path).unwrap();
        assert_eq!(info.grid, grid);
        assert!(info.tiled);
        assert_eq!((info.tile_width, info.tile_height), (256, 256));
        assert_eq!(info.overview_sizes, summary.overview_sizes);
        assert_eq!(info.nodata, Some(0.0));
        assert_eq!(info.compression, "deflate");
        assert_eq!(info.predictor, 2);
        assert_eq!(info.data_type, "uint16");
        assert_eq!(info.band_count, 1);
        assert_eq!(info.level_count(), 3);

        let mut reader = CogReader::open(&path).unwrap();
        let (w0, h0, full) = reader.read_level_u16(0).unwrap();
        assert_eq!((w0, h0), (700, 500));
        assert!(full == pixels, "full resolution must round-trip exactly");

        let (w1, h1, level1) = reader.read_level_u16(1).unwrap();
        assert_eq!((w1, h1), (350, 250));
        assert_eq!(level1, expected_overview(700, 500, &pixels, Some(NODATA)));
        let (w2, h2, level2) = reader.read_level_u16(2).unwrap();
        assert_eq!((w2, h2), (175, 125));
        assert_eq!(level2, expected_overview(350, 250, &level1, Some(NODATA)));
        // One explicit partly-nodata block, checked against the rule by hand.
        let (c, r) = (250u32, 0u32); // covers x 500..502, y 0..2
        let quad: Vec<u16> = [(500u32, 0u32), (501, 0), (500, 1), (501, 1)]
            .iter()
            .map(|&(x, y)| pixels[(y * 700 + x) as usize])
            .collect();
        let valid: Vec<u32> = quad
            .iter()
            .filter(|&&v| v != NODATA)
            .map(|&v| u32::from(v))
            .collect();
        assert!(
            valid.len() < 4 && !valid.is_empty(),
            "test block must be partly nodata: {quad:?}"
        );
        let mean = ((valid.iter().sum::<u32>() * 2 + valid.len() as u32) / (2 * valid.len() as u32))
            as u16;
        assert_eq!(level1[(r * 350 + c) as usize], mean);
        // Fully nodata block stays nodata.
        assert_eq!(level1[10], NODATA);

        // Windows equal slices of the full read, across tile borders and at the edges.
        for &(level, col, row, ww, wh) in &[
            (0usize, 250u32, 240u32, 30u32, 40u32),
            (0, 0, 0, 700, 500),
            (0, 690, 490, 10, 10),
            (0, 511, 255, 2, 2),
            (1, 100, 100, 250, 150),
            (2, 0, 0, 175, 125),
        ] {
            let (lw, _, level_pixels) = reader.read_level_u16(level).unwrap();
            let window = reader.read_window_u16(level, col, row, ww, wh).unwrap();
            let mut expected = Vec::new();
            for y in row..row + wh {
                let start = (y * lw + col) as usize;
                expected.extend_from_slice(&level_pixels[start..start + ww as usize]);
            }
            assert!(window == expected, "window {level} {col} {row} {ww} {wh}");
        }
        let free = read_window_u16(&path, 0, 100, 100, 5, 5).unwrap();
        assert_eq!(free[0], pixels[100 * 700 + 100]);

        // Out-of-range reads are errors, not panics.
        assert!(matches!(
            reader.read_window_u16(0, 690, 0, 11, 1),
            Err(RasterError::InvalidInput(_))
        ));
        assert!(matches!(
            reader.read_window_u16(0, 0, 0, 0, 1),
            Err(RasterError::InvalidInput(_))
        ));
        assert!(matches!(
            reader.read_level_u16(3),
            Err(RasterError::InvalidInput(_))
        ));
    }

    #[test]
    fn cog_layout_has_directories_first_and_smallest_overview_tiles_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("layout.tif");
        let grid = utm_grid(700, 500);
        write_cog_u16(
            &path,
            &grid,
            &synthetic_image(700, 500),
            Some(NODATA),
            &CogWriteOptions::default(),
        )
        .unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let u16_at = |o: usize| u16::from_le_bytes([bytes[o], bytes[o + 1]]);
        let u32_at =
            |o: usize| u32::from_le_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]);
        assert_eq!(&bytes[0..4], b"II\x2a\x00");
        assert_eq!(u32_at(4), 8);
        // Walk the IFD chain, collecting (ifd offset, first tile offset, NewSubfileType).
        let mut ifds = Vec::new();
        let mut ifd = 8usize;
        while ifd != 0 {
            let count = u16_at(ifd) as usize;
            let mut first_tile = None;
            let mut subfile = 0;
            for i in 0..count {
                let entry = ifd + 2 + 12 * i;
                let (tag, n) = (u16_at(entry), u32_at(entry + 4));
                if tag == 324 {
                    first_tile = Some(if n == 1 {
                        u32_at(entry + 8)
                    } else {
                        u32_at(u32_at(entry + 8) as usize)
                    });
                }
                if tag == 254 {
                    subfile = u32_at(entry + 8);
                }
            }
            ifds.push((ifd, first_tile.unwrap(), subfile));
            ifd = u32_at(ifd + 2 + 12 * count) as usize;
        }
        assert_eq!(ifds.len(), 3);
        assert_eq!(ifds.iter().map(|i| i.2).collect::<Vec<_>>(), vec![0, 1, 1]);
        let last_ifd = ifds[2].0;
        assert!(ifds[0].0 < ifds[1].0 && ifds[1].0 < last_ifd);
        // Smallest overview's tiles first, full resolution last, all after the directories.
        assert!(last_ifd < ifds[2].1 as usize);
        assert!(ifds[2].1 < ifds[1].1 && ifds[1].1 < ifds[0].1);
    }

    #[test]
    fn cog_without_nodata_or_predictor_and_small_tiles_roundtrips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plain.tif");
        let mut grid = utm_grid(130, 70);
        grid.epsg = 4326;
        grid.origin_x = 2.0;
        grid.origin_y = 49.0;
        grid.pixel_size_x = 0.001;
        grid.pixel_size_y = 0.001;
        let pixels: Vec<u16> = (0..130 * 70).map(|i| (i * 37 % 65536) as u16).collect();
        let options = CogWriteOptions {
            tile_size: 32,
            overview_min_size: 32,
            deflate_level: 1,
            predictor: false,
        };
        let summary = write_cog_u16(&path, &grid, &pixels, None, &options).unwrap();
        assert_eq!(summary.overview_sizes, vec![(65, 35), (33, 18), (17, 9)]);
        let info = read_cog_info(&path).unwrap();
        assert_eq!(info.grid, grid);
        assert_eq!(info.nodata, None);
        assert_eq!(info.predictor, 1);
        let (_, _, full) = read_level_u16(&path, 0).unwrap();
        assert!(full == pixels);
        let (_, _, level1) = read_level_u16(&path, 1).unwrap();
        assert_eq!(level1, expected_overview(130, 70, &pixels, None));
    }

    #[test]
    fn cog_writer_rejects_invalid_input_and_leaves_no_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.tif");
        let grid = utm_grid(40, 30);
        let too_short = vec![1u16; 40 * 30 - 1];
        let err =
            write_cog_u16(&path, &grid, &too_short, None, &CogWriteOptions::default()).unwrap_err();
        assert!(matches!(err, RasterError::InvalidInput(_)), "{err}");
        assert!(err.to_string().contains("1199"), "{err}");

        let pixels = vec![1u16; 40 * 30];
        let options = CogWriteOptions {
            tile_size: 100,
            ..CogWriteOptions::default()
        };
        let err = write_cog_u16(&path, &grid, &pixels, None, &options).unwrap_err();
        assert!(matches!(err, RasterError::InvalidInput(_)), "{err}");
        assert!(err.to_string().contains("multiple of 16"), "{err}");

        let mut bad_grid = grid.clone();
        bad_grid.pixel_size_y = -10.0;
        let err = write_cog_u16(&path, &bad_grid, &pixels, None, &CogWriteOptions::default())
            .unwrap_err();
        assert!(matches!(err, RasterError::InvalidInput(_)), "{err}");

        // A folder that does not exist: an I/O error naming the partial file, nothing left behind.
        let missing = dir.path().join("missing").join("x.tif");
        let err =
            write_cog_u16(&missing, &grid, &pixels, None, &CogWriteOptions::default()).unwrap_err();
        assert!(matches!(err, RasterError::Io { .. }), "{err}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn cog_reader_reports_missing_and_non_tiff_files() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.tif");
        assert!(matches!(
            read_cog_info(&missing),
            Err(RasterError::Io { .. })
        ));
        let text = dir.path().join("text.tif");
        std::fs::write(&text, b"this is not a tiff").unwrap();
        let err = read_cog_info(&text).unwrap_err();
        assert!(matches!(err, RasterError::Tiff { .. }), "{err}");
        assert!(err.to_string().contains("text.tif"), "{err}");
    }

    #[test]
    fn cog_overview_mean_never_turns_valid_pixels_into_nodata() {
        // 99 and 101 average to 100, which is the nodata value.
        let (_, _, out) = downsample_ignoring_nodata(2, 1, &[99, 101], Some(100));
        assert_eq!(out, vec![101]);
        let (_, _, out) = downsample_ignoring_nodata(2, 2, &[100, 100, 100, 100], Some(100));
        assert_eq!(out, vec![100]);
    }
}
