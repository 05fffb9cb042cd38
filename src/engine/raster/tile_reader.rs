//! Direct tile access to one level of a GeoTIFF: the tile (or strip) table is read once, each tile is
//! fetched with one positioned read ([`RangeSource`]: `pread` or an http range request), inflated with
//! libdeflate (as GDAL does) into a reusable buffer, its predictor undone, and its samples converted
//! straight into the caller's `f32` window — nodata → NaN, scale and offset applied. A [`TileReader`]
//! is shared by every worker thread; each thread brings its own [`TileScratch`].
//!
//! Handles uncompressed and deflate tiles with no, horizontal or floating-point predictor, in either
//! byte order, for 8/16/32-bit integer and 32/64-bit float samples; [`TileLayout::fast_path_error`]
//! says why a file needs the TIFF decoder instead (LZW, zstd, several bands, …).

use std::path::Path;
use std::sync::Arc;

use super::RasterError;
use super::source::RangeSource;

/// A sample type the tile reader converts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SampleType {
    U8,
    I8,
    U16,
    I16,
    U32,
    I32,
    F32,
    F64,
}

impl SampleType {
    /// From TIFF SampleFormat and BitsPerSample.
    pub fn from_tiff(sample_format: u16, bits: u16) -> Option<Self> {
        Some(match (sample_format, bits) {
            (1, 8) => Self::U8,
            (2, 8) => Self::I8,
            (1, 16) => Self::U16,
            (2, 16) => Self::I16,
            (1, 32) => Self::U32,
            (2, 32) => Self::I32,
            (3, 32) => Self::F32,
            (3, 64) => Self::F64,
            _ => return None,
        })
    }

    pub fn bytes(self) -> usize {
        match self {
            Self::U8 | Self::I8 => 1,
            Self::U16 | Self::I16 => 2,
            Self::U32 | Self::I32 | Self::F32 => 4,
            Self::F64 => 8,
        }
    }

    fn is_float(self) -> bool {
        matches!(self, Self::F32 | Self::F64)
    }
}

/// Where one level's tiles are and how they are encoded.
#[derive(Clone, Debug)]
pub struct TileLayout {
    pub width: u32,
    pub height: u32,
    /// Tile size (for strips: the image width × rows per strip).
    pub tile_width: u32,
    pub tile_height: u32,
    pub offsets: Vec<u64>,
    pub byte_counts: Vec<u64>,
    /// TIFF compression code (1 none, 8/32946 deflate, …).
    pub compression: u16,
    /// TIFF predictor (1 none, 2 horizontal, 3 floating point).
    pub predictor: u16,
    /// None when the sample format is not one [`SampleType`] knows.
    pub sample_type: Option<SampleType>,
    pub samples_per_pixel: u16,
    pub little_endian: bool,
    /// Pixel value of sparse tiles (byte count 0): GDAL's nodata, else 0.
    pub sparse_fill: f64,
}

impl TileLayout {
    /// Why [`TileReader`] cannot decode this level (None: it can).
    pub fn fast_path_error(&self) -> Option<String> {
        if self.samples_per_pixel != 1 {
            return Some(format!("{} samples per pixel", self.samples_per_pixel));
        }
        let Some(sample) = self.sample_type else { return Some("an unsupported sample format".into()) };
        if !matches!(self.compression, 1 | 8 | 32946) {
            return Some(format!("compression {}", self.compression));
        }
        match (self.predictor, sample.is_float()) {
            (1, _) | (2, false) | (3, true) => None,
            (p, _) => Some(format!("predictor {p} with {sample:?} samples")),
        }
    }

    fn tiles_across(&self) -> u32 {
        self.width.div_ceil(self.tile_width)
    }
}

/// How raw samples become values: `raw == nodata` → NaN, else `raw * scale + offset` (computed in f64
/// and rounded to f32, like the reference computation).
#[derive(Clone, Copy, Debug)]
pub struct ValueMap {
    pub nodata: Option<f64>,
    pub scale: f64,
    pub offset: f64,
}

impl ValueMap {
    pub fn identity(nodata: Option<f64>) -> Self {
        Self { nodata, scale: 1.0, offset: 0.0 }
    }

    fn is_identity(&self) -> bool {
        self.scale == 1.0 && self.offset == 0.0
    }

    #[inline]
    fn apply(&self, raw: f64) -> f32 {
        if self.nodata == Some(raw) { f32::NAN } else { (raw * self.scale + self.offset) as f32 }
    }
}

/// Per-thread buffers and the inflater.
pub struct TileScratch {
    compressed: Vec<u8>,
    decoded: Vec<u8>,
    inflater: libdeflater::Decompressor,
}

impl Default for TileScratch {
    fn default() -> Self {
        Self { compressed: Vec::new(), decoded: Vec::new(), inflater: libdeflater::Decompressor::new() }
    }
}

impl std::fmt::Debug for TileScratch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TileScratch").field("capacity", &self.decoded.capacity()).finish()
    }
}

/// One level of a GeoTIFF, read tile by tile from any number of threads.
#[derive(Clone, Debug)]
pub struct TileReader {
    pub source: Arc<dyn RangeSource>,
    pub layout: Arc<TileLayout>,
}

impl TileReader {
    pub fn new(source: Arc<dyn RangeSource>, layout: TileLayout) -> Result<Self, RasterError> {
        if let Some(why) = layout.fast_path_error() {
            return Err(RasterError::Unsupported { path: source.label().to_path_buf(), detail: format!("the tile reader does not handle {why}") });
        }
        Ok(Self { source, layout: Arc::new(layout) })
    }

    fn path(&self) -> &Path {
        self.source.label()
    }

    fn tiff_err(&self, detail: String) -> RasterError {
        RasterError::Tiff { path: self.path().to_path_buf(), detail }
    }

    /// Decode tile `index` into `scratch.decoded` as little-endian samples, rows of `tile_width`;
    /// returns the number of rows decoded, or None for a sparse tile.
    fn decode_tile(&self, index: usize, data_rows: usize, scratch: &mut TileScratch) -> Result<Option<usize>, RasterError> {
        let l = &*self.layout;
        let sample = l.sample_type.ok_or_else(|| self.tiff_err("unsupported sample type".into()))?;
        let (Some(&offset), Some(&count)) = (l.offsets.get(index), l.byte_counts.get(index)) else {
            return Err(self.tiff_err(format!("tile {index} is missing from the tile table ({} entries)", l.offsets.len())));
        };
        if count == 0 {
            return Ok(None);
        }
        let row_bytes = l.tile_width as usize * sample.bytes();
        let full = row_bytes * l.tile_height as usize;
        let needed = row_bytes * data_rows;
        let end = offset.checked_add(count).filter(|&e| e <= self.source.len()).ok_or_else(|| {
            self.tiff_err(format!(
                "tile {index} (bytes {offset}..{}) lies beyond the end of the file ({} bytes): the file is truncated",
                offset.saturating_add(count),
                self.source.len()
            ))
        })?;
        debug_assert!(end <= self.source.len());
        let io = |source| super::source::read_error(self.path(), source);
        let TileScratch { compressed, decoded, inflater } = scratch;
        compressed.resize(count as usize, 0);
        self.source.read_exact_at(offset, compressed).map_err(io)?;
        let rows = if l.compression == 1 {
            if compressed.len() < needed {
                return Err(self.tiff_err(format!("tile {index} holds {} bytes, expected {needed}", compressed.len())));
            }
            std::mem::swap(compressed, decoded);
            decoded.len() / row_bytes
        } else {
            decoded.resize(full, 0);
            let n = inflater
                .zlib_decompress(compressed, decoded)
                .or_else(|_| inflater.deflate_decompress(compressed, decoded))
                .map_err(|e| self.tiff_err(format!("tile {index}: deflate data is corrupt or truncated ({e})")))?;
            if n < needed {
                return Err(self.tiff_err(format!("tile {index} inflated to {n} bytes, expected {needed}")));
            }
            n / row_bytes
        };
        let rows = rows.min(l.tile_height as usize);
        let data = &mut decoded[..rows * row_bytes];
        let b = sample.bytes();
        if l.predictor == 3 {
            compressed.resize(row_bytes, 0);
            undo_float_predictor(data, row_bytes, b, compressed);
        } else {
            if !l.little_endian && b > 1 {
                for s in data.chunks_exact_mut(b) {
                    s.reverse();
                }
            }
            if l.predictor == 2 {
                undo_horizontal_predictor(data, row_bytes, b);
            }
        }
        Ok(Some(rows))
    }

    /// Decode tile (`tile_col`, `tile_row`) into `scratch` for [`Self::convert_run`]; false for a sparse
    /// tile (no data: every pixel is the fill value).
    pub fn load_tile(&self, tile_col: u32, tile_row: u32, scratch: &mut TileScratch) -> Result<bool, RasterError> {
        let l = &*self.layout;
        if tile_col >= l.tiles_across() || tile_row >= l.height.div_ceil(l.tile_height) {
            return Err(RasterError::InvalidInput(format!("tile ({tile_col}, {tile_row}) is outside {}", self.path().display())));
        }
        let index = (tile_row * l.tiles_across() + tile_col) as usize;
        let data_rows = l.tile_height.min(l.height - tile_row * l.tile_height) as usize;
        Ok(self.decode_tile(index, data_rows, scratch)?.is_some())
    }

    /// Convert `dst.len()` samples of the tile last loaded into `scratch` ([`Self::load_tile`] returned
    /// `loaded`), starting at row `y` and column `x` inside the tile.
    pub fn convert_run(&self, scratch: &TileScratch, loaded: bool, y: u32, x: u32, map: &ValueMap, dst: &mut [f32]) {
        let l = &*self.layout;
        let Some(sample) = l.sample_type else { return };
        if !loaded {
            dst.fill(map.apply(l.sparse_fill));
            return;
        }
        let start = (y as usize * l.tile_width as usize + x as usize) * sample.bytes();
        convert(sample, &scratch.decoded[start..start + dst.len() * sample.bytes()], dst, map);
    }

    /// An error naming the window when it reaches outside the level.
    fn check_window(&self, (col_off, row_off, width, height): (u32, u32, u32, u32)) -> Result<(), RasterError> {
        let l = &*self.layout;
        if u64::from(col_off) + u64::from(width) > u64::from(l.width) || u64::from(row_off) + u64::from(height) > u64::from(l.height) {
            return Err(RasterError::InvalidInput(format!(
                "window {width}x{height} at column {col_off}, row {row_off} is outside {} ({}x{} pixels)",
                self.path().display(),
                l.width,
                l.height
            )));
        }
        Ok(())
    }

    /// The tiles under a non-empty window inside the level, each with the part of it the window covers.
    fn tile_spans(&self, (col_off, row_off, width, height): (u32, u32, u32, u32)) -> impl Iterator<Item = TileSpan> + '_ {
        let l = &*self.layout;
        let (tw, th) = (l.tile_width, l.tile_height);
        ((row_off / th)..=((row_off + height - 1) / th)).flat_map(move |tile_row| {
            ((col_off / tw)..=((col_off + width - 1) / tw)).map(move |tile_col| {
                let (tx, ty) = (tile_col * tw, tile_row * th);
                let data_rows = th.min(l.height - ty) as usize;
                TileSpan {
                    index: (tile_row * l.tiles_across() + tile_col) as usize,
                    data_rows,
                    tx,
                    ty,
                    x0: col_off.max(tx),
                    x1: (col_off + width).min(tx + tw).min(l.width),
                    y0: row_off.max(ty),
                    y1: (row_off + height).min(ty + data_rows as u32),
                }
            })
        })
    }

    /// Read the window `width`×`height` at (`col_off`, `row_off`) of the level into `out` (row `r`,
    /// column `c` at `out[r * stride + c]`), mapping samples with `map`. Reads only the tiles under it.
    #[allow(clippy::too_many_arguments)]
    pub fn read_window_f32(
        &self,
        (col_off, row_off, width, height): (u32, u32, u32, u32),
        map: &ValueMap,
        out: &mut [f32],
        stride: usize,
        scratch: &mut TileScratch,
    ) -> Result<(), RasterError> {
        let l = &*self.layout;
        if width == 0 || height == 0 {
            return Ok(());
        }
        self.check_window((col_off, row_off, width, height))?;
        if out.len() < (height as usize - 1) * stride + width as usize || stride < width as usize {
            return Err(RasterError::InvalidInput("window buffer too small".into()));
        }
        let sample = l.sample_type.ok_or_else(|| self.tiff_err("unsupported sample type".into()))?;
        let tw = l.tile_width;
        for TileSpan { index, data_rows, tx, ty, x0, x1, y0, y1 } in self.tile_spans((col_off, row_off, width, height)) {
            let run = (x1 - x0) as usize;
            let decoded = self.decode_tile(index, data_rows, scratch)?;
            for y in y0..y1 {
                let dst = (y - row_off) as usize * stride + (x0 - col_off) as usize;
                let dst = &mut out[dst..dst + run];
                match decoded {
                    None => dst.fill(map.apply(l.sparse_fill)),
                    Some(_) => {
                        let start = ((y - ty) as usize * tw as usize + (x0 - tx) as usize) * sample.bytes();
                        let src = &scratch.decoded[start..start + run * sample.bytes()];
                        convert(sample, src, dst, map);
                    }
                }
            }
        }
        Ok(())
    }

    /// Like [`Self::read_window_f32`] for `uint16` levels, raw values (the map preview's reader).
    pub fn read_window_u16(
        &self,
        (col_off, row_off, width, height): (u32, u32, u32, u32),
        scratch: &mut TileScratch,
    ) -> Result<Vec<u16>, RasterError> {
        let l = &*self.layout;
        if l.sample_type != Some(SampleType::U16) {
            return Err(RasterError::Unsupported { path: self.path().to_path_buf(), detail: "not a uint16 raster".into() });
        }
        if width == 0 || height == 0 {
            return Err(RasterError::InvalidInput(format!("window {width}x{height} of {} is empty", self.path().display())));
        }
        self.check_window((col_off, row_off, width, height))?;
        let mut out = vec![0u16; width as usize * height as usize];
        let tw = l.tile_width;
        let fill = l.sparse_fill.clamp(0.0, 65535.0) as u16;
        for TileSpan { index, data_rows, tx, ty, x0, x1, y0, y1 } in self.tile_spans((col_off, row_off, width, height)) {
            let run = (x1 - x0) as usize;
            let decoded = self.decode_tile(index, data_rows, scratch)?;
            for y in y0..y1 {
                let dst = (y - row_off) as usize * width as usize + (x0 - col_off) as usize;
                let dst = &mut out[dst..dst + run];
                match decoded {
                    None => dst.fill(fill),
                    Some(_) => {
                        let start = ((y - ty) as usize * tw as usize + (x0 - tx) as usize) * 2;
                        for (d, s) in dst.iter_mut().zip(scratch.decoded[start..start + run * 2].chunks_exact(2)) {
                            *d = u16::from_le_bytes([s[0], s[1]]);
                        }
                    }
                }
            }
        }
        Ok(out)
    }
}

/// One tile under a window: its index and rows of data, its origin (`tx`, `ty`) in the level, and the
/// level columns `x0..x1` and rows `y0..y1` the window covers in it.
struct TileSpan {
    index: usize,
    data_rows: usize,
    tx: u32,
    ty: u32,
    x0: u32,
    x1: u32,
    y0: u32,
    y1: u32,
}

/// TIFF predictor 2: each sample (little-endian, `bytes` wide) was stored as the difference to the
/// previous one in its row.
fn undo_horizontal_predictor(data: &mut [u8], row_bytes: usize, bytes: usize) {
    for row in data.chunks_exact_mut(row_bytes) {
        match bytes {
            1 => {
                for i in 1..row.len() {
                    row[i] = row[i].wrapping_add(row[i - 1]);
                }
            }
            2 => {
                let mut prev = 0u16;
                for s in row.chunks_exact_mut(2) {
                    prev = prev.wrapping_add(u16::from_le_bytes([s[0], s[1]]));
                    s.copy_from_slice(&prev.to_le_bytes());
                }
            }
            4 => {
                let mut prev = 0u32;
                for s in row.chunks_exact_mut(4) {
                    prev = prev.wrapping_add(u32::from_le_bytes([s[0], s[1], s[2], s[3]]));
                    s.copy_from_slice(&prev.to_le_bytes());
                }
            }
            _ => {
                let mut prev = 0u64;
                for s in row.chunks_exact_mut(8) {
                    let mut v = [0u8; 8];
                    v.copy_from_slice(s);
                    prev = prev.wrapping_add(u64::from_le_bytes(v));
                    s.copy_from_slice(&prev.to_le_bytes());
                }
            }
        }
    }
}

/// TIFF predictor 3 (floating point): each row's bytes were split into planes (most significant byte
/// of every sample first) and byte-differenced. Produces little-endian samples whatever the file's
/// byte order (the planes are in significance order).
fn undo_float_predictor(data: &mut [u8], row_bytes: usize, bytes: usize, tmp: &mut [u8]) {
    let samples = row_bytes / bytes;
    for row in data.chunks_exact_mut(row_bytes) {
        for i in 1..row.len() {
            row[i] = row[i].wrapping_add(row[i - 1]);
        }
        tmp[..row_bytes].copy_from_slice(row);
        for s in 0..samples {
            for b in 0..bytes {
                // Plane b holds significance (bytes - 1 - b) counted from the least significant byte.
                row[s * bytes + (bytes - 1 - b)] = tmp[b * samples + s];
            }
        }
    }
}

/// Convert little-endian samples to values.
fn convert(sample: SampleType, src: &[u8], dst: &mut [f32], map: &ValueMap) {
    macro_rules! run {
        ($t:ty, $n:expr) => {{
            // On little-endian machines an aligned buffer is read as a slice of the type (vectorises).
            let (head, body, _) = bytemuck::pod_align_to::<u8, $t>(src);
            if cfg!(target_endian = "little") && head.is_empty() {
                convert_values::<$t>(&body[..dst.len().min(body.len())], dst, map);
            } else {
                let values: Vec<$t> = src.chunks_exact($n).map(|s| <$t>::from_le_bytes(s.try_into().unwrap_or([0; $n]))).collect();
                convert_values::<$t>(&values, dst, map);
            }
        }};
    }
    match sample {
        SampleType::U8 => run!(u8, 1),
        SampleType::I8 => run!(i8, 1),
        SampleType::U16 => run!(u16, 2),
        SampleType::I16 => run!(i16, 2),
        SampleType::U32 => run!(u32, 4),
        SampleType::I32 => run!(i32, 4),
        SampleType::F32 => run!(f32, 4),
        SampleType::F64 => run!(f64, 8),
    }
}

/// A sample type as the converter sees it.
trait Sample: Copy + PartialEq {
    fn to_f64(self) -> f64;
    fn to_f32(self) -> f32;
    /// The nodata value as this type, when it is exactly one (None: no sample can equal it).
    fn exact(nodata: f64) -> Option<Self>;
}

macro_rules! int_sample {
    ($($t:ty),*) => {$(
        impl Sample for $t {
            #[inline]
            fn to_f64(self) -> f64 { f64::from(self) }
            #[inline]
            fn to_f32(self) -> f32 { self as f32 }
            fn exact(nodata: f64) -> Option<Self> {
                let v = nodata as $t;
                (f64::from(v) == nodata).then_some(v)
            }
        }
    )*};
}
int_sample!(u8, i8, u16, i16, u32, i32);

impl Sample for f32 {
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    fn to_f32(self) -> f32 {
        self
    }
    fn exact(nodata: f64) -> Option<Self> {
        let v = nodata as f32;
        (f64::from(v) == nodata).then_some(v)
    }
}

impl Sample for f64 {
    fn to_f64(self) -> f64 {
        self
    }
    fn to_f32(self) -> f32 {
        self as f32
    }
    fn exact(nodata: f64) -> Option<Self> {
        Some(nodata)
    }
}

/// `dst[i] = map(src[i])`. Without scale/offset an integer or f32 sample converts exactly as
/// `(raw as f64 * 1 + 0) as f32` would, so the fast loops give the same values.
fn convert_values<T: Sample>(src: &[T], dst: &mut [f32], map: &ValueMap) {
    let direct = map.is_identity() && std::mem::size_of::<T>() <= 4;
    match (direct, map.nodata) {
        (true, None) => {
            for (d, &r) in dst.iter_mut().zip(src) {
                *d = r.to_f32();
            }
        }
        (true, Some(nd)) if nd.is_nan() => {
            // A NaN nodata matches nothing, and NaN samples stay NaN.
            for (d, &r) in dst.iter_mut().zip(src) {
                *d = r.to_f32();
            }
        }
        (true, Some(nd)) => match T::exact(nd) {
            Some(nd) => {
                for (d, &r) in dst.iter_mut().zip(src) {
                    *d = if r == nd { f32::NAN } else { r.to_f32() };
                }
            }
            None => {
                for (d, &r) in dst.iter_mut().zip(src) {
                    *d = r.to_f32();
                }
            }
        },
        _ => {
            for (d, &r) in dst.iter_mut().zip(src) {
                *d = map.apply(r.to_f64());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predictors_are_undone() {
        // Horizontal, u16: 1, 2, 3, 4 stored as 1, 1, 1, 1.
        let mut data: Vec<u8> = [1u16, 1, 1, 1].iter().flat_map(|v| v.to_le_bytes()).collect();
        undo_horizontal_predictor(&mut data, 8, 2);
        let values: Vec<u16> = data.chunks_exact(2).map(|s| u16::from_le_bytes([s[0], s[1]])).collect();
        assert_eq!(values, [1, 2, 3, 4]);
        // Floating point: two f32 samples, planes MSB first, byte-differenced.
        let samples = [1.5f32, -2.25f32];
        let mut planes = Vec::new();
        for b in 0..4 {
            for s in &samples {
                planes.push(s.to_be_bytes()[b]);
            }
        }
        let mut diffed = planes.clone();
        for i in (1..diffed.len()).rev() {
            diffed[i] = diffed[i].wrapping_sub(diffed[i - 1]);
        }
        let mut tmp = vec![0u8; 8];
        undo_float_predictor(&mut diffed, 8, 4, &mut tmp);
        let back: Vec<f32> = diffed.chunks_exact(4).map(|s| f32::from_le_bytes([s[0], s[1], s[2], s[3]])).collect();
        assert_eq!(back, samples);
    }

    #[test]
    fn conversion_maps_nodata_scale_and_offset() {
        let src: Vec<u8> = [0u16, 10, 65535].iter().flat_map(|v| v.to_le_bytes()).collect();
        let mut out = [0f32; 3];
        convert(SampleType::U16, &src, &mut out, &ValueMap::identity(Some(0.0)));
        assert!(out[0].is_nan() && out[1] == 10.0 && out[2] == 65535.0);
        convert(SampleType::U16, &src, &mut out, &ValueMap { nodata: Some(0.0), scale: 0.0001, offset: -0.01 });
        assert!(out[0].is_nan() && out[1] == (10.0f64 * 0.0001 - 0.01) as f32);
        let src: Vec<u8> = [-5i16, 7].iter().flat_map(|v| v.to_le_bytes()).collect();
        let mut out = [0f32; 2];
        convert(SampleType::I16, &src, &mut out, &ValueMap::identity(Some(-5.0)));
        assert!(out[0].is_nan() && out[1] == 7.0);
        // A nodata that no uint8 can hold matches nothing.
        let mut out = [0f32; 2];
        convert(SampleType::U8, &[3, 255], &mut out, &ValueMap::identity(Some(-9999.0)));
        assert_eq!(out, [3.0, 255.0]);
    }
}
