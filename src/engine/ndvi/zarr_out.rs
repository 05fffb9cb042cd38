//! The NDVI product as a Zarr v3 store (zarrs): `ndvi` (time, y, x) float32, NaN fill, blosc-lz4 with byte shuffle; coordinate
//! arrays `time` (CF seconds since epoch), `y`, `x` (pixel centres); a CF grid mapping variable
//! `spatial_ref` (`crs_wkt`, `spatial_ref`, `GeoTransform`) named by `ndvi`'s `grid_mapping`; consolidated
//! metadata in the root `zarr.json` (zarr-python 3's inline form) so `xarray.open_zarr` opens it at once.
//!
//! Everything is written into a hidden sibling folder; [`ProductWriter::finish`] runs the pre-publish
//! checklist and renames it into place. Dropping an unfinished writer deletes the temporary folder.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Map, Value, json};
use zarrs::array::codec::{BloscCodec, BloscCodecConfiguration};
use zarrs::array::{Array, ArrayBuilder, data_type};
use zarrs::filesystem::FilesystemStore;
use zarrs::storage::store::MemoryStore;
use zarrs::storage::{ListableStorageTraits, ReadableStorageTraits};
use zarrs::group::GroupBuilder;

use super::{CHUNK_RANGE, NdviError, Slice};
use crate::engine::raster::GeoGrid;

/// Required attributes of the `ndvi` array (checked before publishing).
pub const REQUIRED_ATTRS: [&str; 7] =
    ["title", "description", "units", "valid_range", "processing_level", "source_items", "grid_mapping"];

/// OGC WKT 1 of the CRSs products are written in (UTM WGS 84 north/south, WGS 84, Web Mercator).
pub fn crs_wkt(epsg: u32) -> Option<String> {
    let geogcs = r#"GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563,AUTHORITY["EPSG","7030"]],AUTHORITY["EPSG","6326"]],PRIMEM["Greenwich",0,AUTHORITY["EPSG","8901"]],UNIT["degree",0.0174532925199433,AUTHORITY["EPSG","9122"]],AUTHORITY["EPSG","4326"]]"#;
    let utm = |zone: u32, south: bool| {
        format!(
            r#"PROJCS["WGS 84 / UTM zone {zone}{ns}",{geogcs},PROJECTION["Transverse_Mercator"],PARAMETER["latitude_of_origin",0],PARAMETER["central_meridian",{cm}],PARAMETER["scale_factor",0.9996],PARAMETER["false_easting",500000],PARAMETER["false_northing",{fn_}],UNIT["metre",1,AUTHORITY["EPSG","9001"]],AXIS["Easting",EAST],AXIS["Northing",NORTH],AUTHORITY["EPSG","{epsg}"]]"#,
            ns = if south { "S" } else { "N" },
            cm = i64::from(zone) * 6 - 183,
            fn_ = if south { 10_000_000 } else { 0 },
        )
    };
    match epsg {
        4326 => Some(geogcs.to_owned()),
        3857 => Some(format!(
            r#"PROJCS["WGS 84 / Pseudo-Mercator",{geogcs},PROJECTION["Mercator_1SP"],PARAMETER["central_meridian",0],PARAMETER["scale_factor",1],PARAMETER["false_easting",0],PARAMETER["false_northing",0],UNIT["metre",1,AUTHORITY["EPSG","9001"]],AXIS["Easting",EAST],AXIS["Northing",NORTH],EXTENSION["PROJ4","+proj=merc +a=6378137 +b=6378137 +lat_ts=0 +lon_0=0 +x_0=0 +y_0=0 +k=1 +units=m +nadgrids=@null +wktext +no_defs"],AUTHORITY["EPSG","3857"]]"#
        )),
        32601..=32660 => Some(utm(epsg - 32600, false)),
        32701..=32760 => Some(utm(epsg - 32700, true)),
        _ => None,
    }
}

/// Blosc (lz4, byte shuffle of the float32 values): a few times faster than zstd at a similar size.
fn compressor() -> Result<Arc<BloscCodec>, String> {
    let config: BloscCodecConfiguration = serde_json::from_value(
        json!({"cname": "lz4", "clevel": 5, "shuffle": "shuffle", "typesize": 4, "blocksize": 0}),
    )
    .map_err(|e| e.to_string())?;
    BloscCodec::new_with_configuration(&config).map(Arc::new).map_err(|e| e.to_string())
}

/// The bytes of `f32` values (little-endian on the platforms meshlake builds for).
fn f32_bytes(data: &[f32]) -> &[u8] {
    #[cfg(target_endian = "big")]
    compile_error!("the NDVI writer assumes a little-endian platform");
    bytemuck::cast_slice(data)
}

/// Writes one product into a temporary sibling folder.
pub struct ProductWriter {
    tmp: PathBuf,
    target: PathBuf,
    ndvi: Array<MemoryStore>,
    grid: GeoGrid,
    chunk: u32,
    times: usize,
    published: bool,
}

fn zarr_err(path: &Path) -> impl Fn(String) -> NdviError {
    let path = path.to_path_buf();
    move |detail| NdviError::Zarr { path: path.clone(), detail }
}

impl ProductWriter {
    /// Create the store's hierarchy (group, coordinates, grid mapping, empty `ndvi`) in a temporary folder.
    pub fn create(target: &Path, grid: &GeoGrid, slices: &[Slice], chunk: u32) -> Result<Self, NdviError> {
        let parent = target.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent).map_err(|source| NdviError::Io { path: parent.to_path_buf(), source })?;
        let name = target.file_name().and_then(|n| n.to_str()).unwrap_or("product.zarr");
        let tmp = parent.join(format!(".{name}.partial-{}", std::process::id()));
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(|source| NdviError::Io { path: tmp.clone(), source })?;
        }
        let err = zarr_err(&tmp);
        // The hierarchy is built in memory and written out at the end in one go (zarrs' FilesystemStore
        // would fsync every file); from the writer on, a failure drops it, which removes the folder.
        let store = Arc::new(MemoryStore::new());
        let wkt = crs_wkt(grid.epsg).unwrap_or_default();
        let ids: Vec<&str> = slices.iter().map(|s| s.item.id.as_str()).collect();
        let (first, last) = (
            slices.first().map(|s| s.item.datetime.to_rfc3339()).unwrap_or_default(),
            slices.last().map(|s| s.item.datetime.to_rfc3339()).unwrap_or_default(),
        );
        let attrs = |v: Value| match v {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        let mut root_attrs = attrs(json!({
            "title": "NDVI",
            "Conventions": "CF-1.8",
            "source": "meshlake ndvi",
            "history": format!("{} meshlake {}: NDVI from {} STAC item(s)", chrono::Utc::now().to_rfc3339(), env!("CARGO_PKG_VERSION"), ids.len()),
        }));
        root_attrs.insert("source_items".into(), json!(ids));
        let group = GroupBuilder::new().attributes(root_attrs).build(store.clone(), "/").map_err(|e| err(e.to_string()))?;
        group.store_metadata().map_err(|e| err(e.to_string()))?;

        let (t, h, w) = (slices.len() as u64, u64::from(grid.height), u64::from(grid.width));
        let c = u64::from(chunk);
        let ndvi = ArrayBuilder::new(vec![t, h, w], vec![1, c, c], data_type::float32(), f32::NAN)
            .bytes_to_bytes_codecs(vec![compressor().map_err(&err)?])
            .dimension_names(Some(["time", "y", "x"]))
            .attributes(attrs(json!({
                "title": "Normalized Difference Vegetation Index",
                "description": format!("(NIR - Red) / (NIR + Red) from the red and near-infrared bands of {} STAC item(s), {first} to {last}; NaN where either band is nodata or their sum is 0", ids.len()),
                "long_name": "NDVI",
                "standard_name": "normalized_difference_vegetation_index",
                "units": "1",
                "valid_range": [-1.0, 1.0],
                "processing_level": "L3",
                "source_items": ids,
                "grid_mapping": "spatial_ref",
                "coordinates": "spatial_ref",
            })))
            .build(store.clone(), "/ndvi")
            .map_err(|e| err(e.to_string()))?;
        ndvi.store_metadata().map_err(|e| err(e.to_string()))?;
        let writer = Self { tmp: tmp.clone(), target: target.to_path_buf(), ndvi, grid: grid.clone(), chunk, times: slices.len(), published: false };

        let times: Vec<i64> = slices.iter().map(|s| s.item.datetime.timestamp()).collect();
        let time = ArrayBuilder::new(vec![t], vec![t.max(1)], data_type::int64(), 0i64)
            .dimension_names(Some(["time"]))
            .attributes(attrs(json!({"standard_name": "time", "long_name": "acquisition time", "units": "seconds since 1970-01-01T00:00:00", "calendar": "proleptic_gregorian", "axis": "T"})))
            .build(store.clone(), "/time")
            .map_err(|e| err(e.to_string()))?;
        time.store_metadata().map_err(|e| err(e.to_string()))?;
        if t > 0 {
            time.store_chunk(&[0], times).map_err(|e| err(e.to_string()))?;
        }
        let projected = grid.epsg != 4326;
        let axis = |name: &str, n: u64, values: Vec<f64>, std_name: &str, long: &str| -> Result<(), NdviError> {
            let units = if projected { "m" } else if name == "x" { "degrees_east" } else { "degrees_north" };
            let array = ArrayBuilder::new(vec![n], vec![n], data_type::float64(), f64::NAN)
                .dimension_names(Some([name]))
                .attributes(attrs(json!({"standard_name": std_name, "long_name": long, "units": units, "axis": name.to_uppercase()})))
                .build(store.clone(), &format!("/{name}"))
                .map_err(|e| err(e.to_string()))?;
            array.store_metadata().map_err(|e| err(e.to_string()))?;
            array.store_chunk(&[0], values).map_err(|e| err(e.to_string()))
        };
        let xs = (0..grid.width).map(|i| grid.origin_x + (f64::from(i) + 0.5) * grid.pixel_size_x).collect();
        let ys = (0..grid.height).map(|i| grid.origin_y - (f64::from(i) + 0.5) * grid.pixel_size_y).collect();
        let (xn, yn) = if projected {
            ("projection_x_coordinate", "projection_y_coordinate")
        } else {
            ("longitude", "latitude")
        };
        axis("x", w, xs, xn, "x coordinate of pixel centre")?;
        axis("y", h, ys, yn, "y coordinate of pixel centre")?;
        let geo_transform = format!("{} {} 0 {} 0 {}", grid.origin_x, grid.pixel_size_x, grid.origin_y, -grid.pixel_size_y);
        let spatial_ref = ArrayBuilder::new(Vec::<u64>::new(), Vec::<u64>::new(), data_type::int64(), 0i64)
            .dimension_names(None::<Vec<&str>>)
            .attributes(attrs(json!({
                "crs_wkt": wkt,
                "spatial_ref": wkt,
                "GeoTransform": geo_transform,
                "epsg": grid.epsg,
                "grid_mapping_name": if grid.epsg == 4326 { "latitude_longitude" } else if grid.epsg == 3857 { "mercator" } else { "transverse_mercator" },
            })))
            .build(store.clone(), "/spatial_ref")
            .map_err(|e| err(e.to_string()))?;
        spatial_ref.store_metadata().map_err(|e| err(e.to_string()))?;
        spatial_ref.store_chunk(&[], vec![0i64]).map_err(|e| err(e.to_string()))?;
        std::fs::create_dir_all(&tmp).map_err(|source| NdviError::Io { path: tmp.clone(), source })?;
        for key in store.list().map_err(|e| err(e.to_string()))? {
            let bytes = store.get(&key).map_err(|e| err(e.to_string()))?.unwrap_or_default();
            let path = tmp.join(key.as_str());
            let io = |source| NdviError::Io { path: path.clone(), source };
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(io)?;
            }
            std::fs::write(&path, &bytes).map_err(io)?;
        }
        Ok(writer)
    }

    /// Write one `ndvi` chunk (full chunk shape, NaN padded). Safe to call from many threads.
    ///
    /// Encoded with the array's own codec chain (zarrs), written as a plain file under the chunk's key,
    /// without zarrs' `FilesystemStore`, which `fsync`s every chunk: the store lives in a temporary
    /// folder that is renamed into place when complete, so a crash leaves no product either way. A chunk
    /// that is all NaN (the fill value) is not written, as zarrs would not.
    pub fn write_chunk(&self, t: u64, chunk_row: u64, chunk_col: u64, data: &[f32]) -> Result<(), NdviError> {
        use zarrs::array::ArrayToBytesCodecTraits;
        use zarrs::array::{ArrayBytes, CodecOptions};
        if data.iter().all(|v| v.is_nan()) {
            return Ok(());
        }
        let err = zarr_err(&self.tmp);
        let indices = [t, chunk_row, chunk_col];
        let shape = self.ndvi.chunk_shape(&indices).map_err(|e| err(e.to_string()))?;
        let bytes: &[u8] = f32_bytes(data);
        // One thread per chunk: the chunks are already encoded in parallel on the worker pool, and blosc's
        // own threads (started per call for chunks over 4 MB) would only compete with them.
        let options = CodecOptions::default().with_concurrent_target(1);
        let encoded = self
            .ndvi
            .codecs()
            .encode(ArrayBytes::new_flen(bytes), &shape, self.ndvi.data_type(), self.ndvi.fill_value(), &options)
            .map_err(|e| err(e.to_string()))?;
        let path = self.tmp.join(self.ndvi.chunk_key(&indices).as_str());
        let io = |source| NdviError::Io { path: path.clone(), source };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        std::fs::write(&path, &*encoded).map_err(io)
    }

    /// The pre-publish checklist: CRS, metadata completeness, chunk bounds, shape. Returns what passed.
    fn checklist(&self) -> Result<Vec<String>, NdviError> {
        let mut failed = Vec::new();
        let mut passed = Vec::new();
        let wkt = crs_wkt(self.grid.epsg);
        match &wkt {
            Some(w) if w.contains(&format!("AUTHORITY[\"EPSG\",\"{}\"]]", self.grid.epsg)) => {
                passed.push(format!("CRS: EPSG:{} as CF grid mapping spatial_ref", self.grid.epsg))
            }
            _ => failed.push(format!(
                "CRS: EPSG:{} has no WKT in meshlake's table (UTM WGS 84, EPSG:4326, EPSG:3857); choose one with --crs",
                self.grid.epsg
            )),
        }
        let attrs = self.ndvi.attributes();
        let missing: Vec<&str> = REQUIRED_ATTRS
            .iter()
            .copied()
            .filter(|k| attrs.get(*k).is_none_or(|v| v.is_null() || v.as_str() == Some("") || v.as_array().is_some_and(Vec::is_empty)))
            .collect();
        if missing.is_empty() {
            passed.push(format!("metadata: {}", REQUIRED_ATTRS.join(", ")));
        } else {
            failed.push(format!("metadata: missing or empty attribute(s) {}", missing.join(", ")));
        }
        if CHUNK_RANGE.contains(&self.chunk) {
            passed.push(format!("chunks: (1, {0}, {0}) within {1}..={2}", self.chunk, CHUNK_RANGE.start(), CHUNK_RANGE.end()));
        } else {
            passed.push(format!("chunks: (1, {0}, {0}) outside {1}..={2}, forced", self.chunk, CHUNK_RANGE.start(), CHUNK_RANGE.end()));
        }
        let shape = self.ndvi.shape().to_vec();
        let expected = vec![self.times as u64, u64::from(self.grid.height), u64::from(self.grid.width)];
        if shape == expected && self.times > 0 {
            passed.push(format!("shape: {shape:?} (time, y, x)"));
        } else {
            failed.push(format!("shape: {shape:?}, expected {expected:?} with at least one time slice"));
        }
        if failed.is_empty() { Ok(passed) } else { Err(NdviError::Checklist(failed)) }
    }

    /// Run the checklist, consolidate the metadata, and move the store into place.
    pub fn finish(mut self) -> Result<Vec<String>, NdviError> {
        let passed = self.checklist()?;
        consolidate(&self.tmp)?;
        if self.target.exists() {
            return Err(NdviError::OutputExists { path: self.target.clone() });
        }
        std::fs::rename(&self.tmp, &self.target).map_err(|source| NdviError::Io { path: self.target.clone(), source })?;
        self.published = true;
        Ok(passed)
    }
}

impl Drop for ProductWriter {
    fn drop(&mut self) {
        if !self.published {
            if let Err(err) = std::fs::remove_dir_all(&self.tmp).or_else(|e| if e.kind() == std::io::ErrorKind::NotFound { Ok(()) } else { Err(e) }) {
                tracing::warn!(path = %self.tmp.display(), %err, "could not remove the unfinished NDVI product");
            }
        }
    }
}

/// Put every array's metadata into the root `zarr.json` as zarr-python 3's inline consolidated metadata.
fn consolidate(root: &Path) -> Result<(), NdviError> {
    let read = |path: &Path| -> Result<Value, NdviError> {
        let bytes = std::fs::read(path).map_err(|source| NdviError::Io { path: path.to_path_buf(), source })?;
        serde_json::from_slice(&bytes).map_err(|e| zarr_err(path)(e.to_string()))
    };
    let root_file = root.join("zarr.json");
    let mut root_meta = read(&root_file)?;
    let mut members = Map::new();
    for name in ["ndvi", "time", "y", "x", "spatial_ref"] {
        members.insert(name.into(), read(&root.join(name).join("zarr.json"))?);
    }
    if let Value::Object(map) = &mut root_meta {
        map.insert("consolidated_metadata".into(), json!({"kind": "inline", "must_understand": false, "metadata": members}));
    }
    let text = serde_json::to_vec_pretty(&root_meta).map_err(|e| zarr_err(&root_file)(e.to_string()))?;
    std::fs::write(&root_file, text).map_err(|source| NdviError::Io { path: root_file, source })
}

/// An NDVI (or any float32 (time, y, x) / (y, x)) array in a Zarr store, read back for the map.
pub struct ProductReader {
    array: Array<FilesystemStore>,
    pub grid: GeoGrid,
    pub times: Vec<i64>,
    pub shape: Vec<u64>,
}

impl ProductReader {
    /// Open `path` (the store root) and its variable (default `ndvi`), with the grid from `spatial_ref`.
    pub fn open(path: &Path, variable: &str) -> Result<Self, NdviError> {
        let err = zarr_err(path);
        let store = Arc::new(FilesystemStore::new(path).map_err(|e| err(e.to_string()))?);
        let array = Array::open(store.clone(), &format!("/{variable}")).map_err(|e| err(e.to_string()))?;
        let shape = array.shape().to_vec();
        if shape.len() != 3 && shape.len() != 2 {
            return Err(err(format!("{variable} has {} dimensions; expected (time, y, x) or (y, x)", shape.len())));
        }
        let mapping = array.attributes().get("grid_mapping").and_then(Value::as_str).unwrap_or("spatial_ref").to_owned();
        let sref = Array::open(store.clone(), &format!("/{mapping}")).map_err(|e| err(e.to_string()))?;
        let attrs = sref.attributes();
        let epsg = attrs
            .get("epsg")
            .and_then(Value::as_u64)
            .or_else(|| {
                let wkt = attrs.get("crs_wkt").or_else(|| attrs.get("spatial_ref")).and_then(Value::as_str)?;
                let tail = wkt.rsplit("AUTHORITY[\"EPSG\",\"").next()?;
                tail.split('"').next()?.parse().ok()
            })
            .ok_or_else(|| err(format!("{mapping} names no EPSG code")))? as u32;
        let gt: Vec<f64> = attrs
            .get("GeoTransform")
            .and_then(Value::as_str)
            .map(|s| s.split_whitespace().filter_map(|v| v.parse().ok()).collect())
            .unwrap_or_default();
        if gt.len() != 6 {
            return Err(err(format!("{mapping} has no GeoTransform")));
        }
        let n = shape.len();
        let grid = GeoGrid {
            epsg,
            origin_x: gt[0],
            origin_y: gt[3],
            pixel_size_x: gt[1],
            pixel_size_y: -gt[5],
            width: shape[n - 1] as u32,
            height: shape[n - 2] as u32,
        };
        let times = if n == 3 {
            Array::open(store, "/time")
                .ok()
                .and_then(|a| a.retrieve_array_subset::<Vec<i64>>(&a.subset_all()).ok())
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        Ok(Self { array, grid, times, shape })
    }

    /// Whether the array holds float32 values (what the map and the statistics read).
    pub fn is_float32(&self) -> bool {
        *self.array.data_type() == data_type::float32()
    }

    /// The array's data type as Zarr v3 names it (e.g. `int16`).
    pub fn data_type_name(&self) -> String {
        // zarrs prints "v3 name / v2 name" when the two differ.
        let text = self.array.data_type().to_string();
        text.split(" / ").next().unwrap_or(&text).to_owned()
    }

    /// Number of time slices (1 for a 2-D array).
    pub fn time_count(&self) -> usize {
        if self.shape.len() == 3 { self.shape[0] as usize } else { 1 }
    }

    /// A window of one time slice, row by row.
    pub fn read_window(&self, t: usize, col0: u32, row0: u32, cols: u32, rows: u32) -> Result<Vec<f32>, NdviError> {
        let (start, size): (Vec<u64>, Vec<u64>) = if self.shape.len() == 3 {
            (vec![t as u64, u64::from(row0), u64::from(col0)], vec![1, u64::from(rows), u64::from(cols)])
        } else {
            (vec![u64::from(row0), u64::from(col0)], vec![u64::from(rows), u64::from(cols)])
        };
        let subset = zarrs::array::ArraySubset::new_with_start_shape(start, size)
            .map_err(|e| zarr_err(Path::new("subset"))(e.to_string()))?;
        self.array.retrieve_array_subset::<Vec<f32>>(&subset).map_err(|e| zarr_err(Path::new("ndvi"))(e.to_string()))
    }
}

impl ProductReader {
    /// The chunk side of the last two dimensions.
    pub fn chunk_yx(&self) -> Result<(u64, u64), NdviError> {
        let zeros = vec![0; self.shape.len()];
        let shape = self.array.chunk_shape(&zeros).map_err(|e| zarr_err(Path::new("ndvi"))(e.to_string()))?;
        let n = shape.len();
        Ok((shape[n - 2].get(), shape[n - 1].get()))
    }

    /// One whole decoded chunk of time slice `t` (chunk row `cy`, column `cx`), row by row.
    pub fn read_chunk(&self, t: usize, cy: u64, cx: u64) -> Result<Vec<f32>, NdviError> {
        let indices: Vec<u64> = if self.shape.len() == 3 { vec![t as u64, cy, cx] } else { vec![cy, cx] };
        self.array.retrieve_chunk::<Vec<f32>>(&indices).map_err(|e| zarr_err(Path::new("ndvi"))(e.to_string()))
    }
}
