//! Spatial jobs over a table version: validation (every geometry checked, counts exact, first
//! problems kept) and spatial queries with pruning (files by bbox, row groups by the statistics of a
//! bbox covering column or Parquet geospatial statistics, exact predicates on what is left).
//!
//! Both stream the live data files of the version (`inspect::table_files`) in record batches of
//! [`BATCH_ROWS`] through the parquet async reader, one file at a time; each batch's geometries are
//! decoded and checked in parallel on the job's worker pool. Memory stays bounded by a batch (plus
//! the capped problem/match lists). Delta and Iceberg tables (Iceberg delete files are not applied:
//! the report warns).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, AsArray, BooleanArray, RecordBatch};
use arrow::datatypes::DataType;
use futures::TryStreamExt;
use geo::Geometry;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions, RowSelection, RowSelector};
use parquet::arrow::{ParquetRecordBatchStreamBuilder, ProjectionMask};
use parquet::basic::LogicalType;
use parquet::file::metadata::{PageIndexPolicy, ParquetMetaData, RowGroupMetaData};
use parquet::file::statistics::Statistics;
use serde::Serialize;
use serde_json::Value;

use crate::engine::geo::geoparquet::{DEFAULT_CRS, GEO_METADATA_KEY, geometry_columns_in_footer};
use crate::engine::geo::predicate::{BoxVerdict, SpatialPredicate, bboxes_intersect};
use crate::engine::geo::validate::{Expectations, ProblemKind, check_value};
use crate::engine::geo::wkb_read::decode_wkb;
use crate::engine::jobs::{JobContext, JobError};
use crate::engine::lake::inspect::{FileKind, TableFile, VersionSelector, table_files};
use crate::engine::lake::schema_diff::SchemaDiff;
use crate::engine::lake::{LakeError, TableRef};
use crate::engine::storage::{self, ParquetObjectReader};

/// Rows per record batch.
pub const BATCH_ROWS: usize = 8192;
/// At most this many problems are listed (counts stay exact).
pub const MAX_PROBLEMS: usize = 200;
/// At most this many matches are kept with their geometry (for the results list and the map layer).
pub const MAX_MATCHES_KEPT: usize = 5000;

/// Column names taken as the geometry when a file has no `geo` metadata and none is given.
const GEOMETRY_NAMES: [&str; 4] = ["geometry", "geom", "wkb_geometry", "the_geom"];

/// One listed problem.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Problem {
    pub file: String,
    /// Row number inside the file (0-based).
    pub row: u64,
    pub kind: ProblemKind,
    pub detail: String,
    /// The feature's bbox when it could be decoded (to zoom to it).
    pub bbox: Option<[f64; 4]>,
}

/// `meshlake table validate`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ValidationReport {
    pub geometry_column: String,
    pub rows: u64,
    pub null_geometry: u64,
    pub invalid_wkb: u64,
    pub invalid_geometry: u64,
    pub non_simple: u64,
    pub wrong_type: u64,
    pub out_of_crs_area: u64,
    pub srid_mismatch: u64,
    /// Rows with at least one problem.
    pub rows_with_problems: u64,
    /// The declared CRS of the geometry column (`None`: unknown / not declared).
    pub crs: Option<String>,
    pub geometry_types: Vec<String>,
    pub crs_problems: Vec<String>,
    /// Violations of the `--contract` (one entry per file, column and kind, with exact row counts;
    /// capped at [`MAX_PROBLEMS`]); empty without a contract.
    pub contract_problems: Vec<crate::engine::lake::contract::ContractProblem>,
    /// Total violations of the contract: schema-level problems (one per file and column) plus rows
    /// with a null in a non-nullable column.
    pub contract_violations: u64,
    /// The contract file the data was checked against.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contract: Option<String>,
    /// Schema changes from the `against` version to this one, when asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema_drift: Option<SchemaDiff>,
    pub files: u64,
    pub problems: Vec<Problem>,
    /// Whether more problems were found than listed.
    pub problems_truncated: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl ValidationReport {
    /// The problem counts, named for people, in the order reports list them.
    pub fn named_counts(&self) -> [(&'static str, u64); 7] {
        [
            ("null geometry", self.null_geometry),
            ("invalid WKB", self.invalid_wkb),
            ("wrong type", self.wrong_type),
            ("invalid geometry", self.invalid_geometry),
            ("not simple", self.non_simple),
            ("outside CRS area", self.out_of_crs_area),
            ("SRID mismatch", self.srid_mismatch),
        ]
    }
}

/// One matching row.
#[derive(Clone, Debug, Serialize)]
pub struct QueryMatch {
    pub file: String,
    pub row: u64,
    pub bbox: [f64; 4],
    #[serde(skip)]
    pub geometry: Geometry<f64>,
}

/// `meshlake table query`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct QueryReport {
    pub rows_matched: u64,
    pub files_total: u64,
    /// Files not pruned by their bbox (their footers and some row groups were read).
    pub files_scanned: u64,
    /// Row groups in the scanned files.
    pub row_groups_total: u64,
    /// Row groups not pruned by statistics (their geometry column was read).
    pub row_groups_scanned: u64,
    /// Sum of the sizes of all data files.
    pub bytes_total: u64,
    /// Compressed bytes read of the columns scanned: whole column chunks, or only the pages a row
    /// selection touches when the file has a page index.
    pub bytes_scanned: u64,
    /// Data pages of the geometry column in the scanned row groups, in files with a page index (offset
    /// index); 0 when no scanned file has one.
    pub pages_total: u64,
    /// Those of them read: pages holding a row whose covering bbox can match (page statistics of the
    /// covering columns, then the covering values of each row).
    pub pages_scanned: u64,
    /// Rows in the scanned row groups.
    pub rows_read: u64,
    /// Geometries decoded and tested exactly (rows whose bbox covering values cannot match are skipped).
    pub rows_decoded: u64,
    /// Files without any bbox (never pruned).
    pub files_without_bbox: u64,
    /// Distinct partitions of the data files (0: the table is not partitioned).
    pub partitions_total: u64,
    /// Partitions with at least one file not pruned by its bbox (or its partition's geohash / quadkey cell).
    pub partitions_scanned: u64,
    /// The geometry column's CRS as the first scanned file declares it (`None`: not declared); the
    /// query geometry and the matches' bboxes are in it.
    pub crs: Option<String>,
    /// Set when the job refused to run a full scan (no bbox information; `allow_full_scan` false).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused_full_scan: Option<String>,
    /// Where matching rows were written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub out: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// The first [`MAX_MATCHES_KEPT`] matches.
    #[serde(skip)]
    pub matches: Vec<QueryMatch>,
}

/// What to assume for files that do not declare it in GeoParquet `geo` metadata.
#[derive(Clone, Debug, Default)]
pub struct Declared {
    /// Allowed geometry types (empty: any).
    pub geometry_types: Vec<String>,
    /// The CRS (e.g. `OGC:CRS84`, `EPSG:28992`).
    pub crs: Option<String>,
    /// A schema contract every data file is checked against (`validate_and_cast` on each batch).
    pub contract: Option<(String, Arc<crate::engine::lake::contract::Contract>)>,
}

/// What a query job is asked.
#[derive(Clone, Debug)]
pub struct QueryRequest {
    pub predicate: SpatialPredicate,
    pub geometry: Option<String>,
    pub out: Option<PathBuf>,
    /// Run even when no file has a bbox (every geometry is read).
    pub allow_full_scan: bool,
    /// Keep the first [`MAX_MATCHES_KEPT`] matches with their geometries (the GUI's result table and map
    /// layer). When false (the CLI: counts and pruning figures), a row whose bbox covering value lies in
    /// the query geometry's interior counts as a match without its WKB being read or decoded
    /// ([`SpatialPredicate::judge_box`]).
    pub keep_matches: bool,
}

/// The geometry column of one file and what its `geo` metadata declares.
#[derive(Clone, Debug, Default)]
struct GeoColumn {
    name: String,
    /// The file declares the column's CRS (GeoParquet `geo` metadata, Parquet's native GEOMETRY type,
    /// or one value in every row of its `crs` column).
    declares_crs: bool,
    /// Why the file's `crs` column gave no CRS, when it has one.
    crs_note: Option<String>,
    crs: Option<String>,
    geometry_types: Vec<String>,
    /// Leaf paths of the bbox covering (`xmin`, `ymin`, `xmax`, `ymax`).
    covering: Option<[Vec<String>; 4]>,
    geo_json: Option<String>,
}

fn lake_err(table: &TableRef, reason: String) -> LakeError {
    LakeError::BadReference { reference: table.to_string(), reason }
}

/// Find the geometry column in a file's metadata: the one its GeoParquet `geo` metadata names, else
/// a column of Parquet's native GEOMETRY type ([`geometry_columns_in_footer`]), else a binary column
/// by name.
fn geo_column(metadata: &ParquetMetaData, arrow: &arrow::datatypes::Schema, wanted: Option<&str>, file: &str) -> Result<GeoColumn, String> {
    let geo_json = raw_geo_json(metadata);
    // Broken `geo` metadata is reported by validation; here the column is then found by name.
    let columns = geometry_columns_in_footer(metadata, file).unwrap_or_default();
    let chosen = match wanted {
        Some(name) => columns.iter().find(|c| c.name == name),
        None => columns.iter().find(|c| c.primary).or(columns.first()),
    };
    if let Some(c) = chosen {
        let covering = geo_json.as_deref().and_then(|json| serde_json::from_str::<Value>(json).ok()).and_then(|v| {
            let bbox = v.get("columns")?.get(&c.name)?.get("covering")?.get("bbox")?.clone();
            let path = |k: &str| -> Option<Vec<String>> {
                Some(bbox.get(k)?.as_array()?.iter().filter_map(|p| p.as_str().map(str::to_owned)).collect())
            };
            Some([path("xmin")?, path("ymin")?, path("xmax")?, path("ymax")?])
        });
        return Ok(GeoColumn {
            name: c.name.clone(),
            declares_crs: true,
            crs_note: None,
            crs: c.crs.clone(),
            geometry_types: c.geometry_types.clone(),
            covering,
            geo_json,
        });
    }
    let name = match wanted {
        Some(name) => arrow.field_with_name(name).ok().map(|f| f.name().clone()),
        None => GEOMETRY_NAMES
            .iter()
            .find_map(|n| arrow.fields().iter().find(|f| f.name().eq_ignore_ascii_case(n)).map(|f| f.name().clone())),
    };
    let descr = metadata.file_metadata().schema_descr();
    let geography = (0..descr.num_columns()).map(|i| descr.column(i)).find(|c| {
        c.path().parts().len() == 1
            && matches!(c.logical_type_ref(), Some(LogicalType::Geography(_)))
            && wanted.is_none_or(|w| w == c.name())
    });
    if let Some(geography) = geography
        && name.as_deref().is_none_or(|n| n == geography.name())
    {
        return Err(format!(
            "{file}: column {} is a Parquet GEOGRAPHY (edges on the sphere); meshlake's predicates and checks are planar, so it is not read as geometry (write it as GEOMETRY, or as WKB with GeoParquet `geo` metadata)",
            geography.name()
        ));
    }
    let Some(name) = name else {
        let names: Vec<&str> = arrow.fields().iter().map(|f| f.name().as_str()).collect();
        return Err(format!(
            "{file} has no geometry column{}; columns: {} (pass --geometry COL)",
            wanted.map(|w| format!(" named {w:?}")).unwrap_or_default(),
            names.join(", ")
        ));
    };
    // Without metadata: the GeoParquet 1.1 convention of a `bbox` struct column.
    let covering = arrow.field_with_name("bbox").ok().filter(|f| matches!(f.data_type(), DataType::Struct(_))).map(|_| {
        ["xmin", "ymin", "xmax", "ymax"].map(|k| vec!["bbox".to_owned(), k.to_owned()])
    });
    Ok(GeoColumn { name, declares_crs: false, crs_note: None, crs: None, geometry_types: vec![], covering, geo_json: None })
}

/// The bbox of a file's partition when a partition column holds a cell: a column whose name contains
/// `geohash` (a geohash string) or `quadkey` (a Bing Maps quadkey of Web Mercator tiles), in lon/lat.
/// Several such columns: their intersection.
fn partition_bbox(partition: &std::collections::BTreeMap<String, Option<String>>) -> Option<[f64; 4]> {
    let mut found: Option<[f64; 4]> = None;
    for (column, value) in partition {
        let Some(value) = value else { continue };
        let name = column.to_ascii_lowercase();
        let cell = if name.contains("geohash") {
            geohash_bbox(value)
        } else if name.contains("quadkey") {
            quadkey_bbox(value)
        } else {
            None
        };
        if let Some(c) = cell {
            found = Some(match found {
                None => c,
                Some(f) => [f[0].max(c[0]), f[1].max(c[1]), f[2].min(c[2]), f[3].min(c[3])],
            });
        }
    }
    found
}

/// A geohash cell `[west, south, east, north]`; `None` for an empty or non-geohash string.
pub(crate) fn geohash_bbox(hash: &str) -> Option<[f64; 4]> {
    const ALPHABET: &[u8] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    if hash.is_empty() || hash.len() > 24 {
        return None;
    }
    let (mut lon, mut lat) = ((-180.0f64, 180.0f64), (-90.0f64, 90.0f64));
    let mut even = true;
    for c in hash.bytes() {
        let bits = ALPHABET.iter().position(|a| *a == c.to_ascii_lowercase())?;
        for shift in (0..5).rev() {
            let bit = (bits >> shift) & 1 == 1;
            let range = if even { &mut lon } else { &mut lat };
            let mid = (range.0 + range.1) / 2.0;
            if bit {
                range.0 = mid;
            } else {
                range.1 = mid;
            }
            even = !even;
        }
    }
    Some([lon.0, lat.0, lon.1, lat.1])
}

/// A Web Mercator quadkey tile `[west, south, east, north]` in lon/lat.
pub(crate) fn quadkey_bbox(key: &str) -> Option<[f64; 4]> {
    if key.is_empty() || key.len() > 30 {
        return None;
    }
    let (mut x, mut y) = (0u64, 0u64);
    for c in key.bytes() {
        let digit = u64::from(c.checked_sub(b'0').filter(|d| *d < 4)?);
        x = (x << 1) | (digit & 1);
        y = (y << 1) | (digit >> 1);
    }
    let n = (1u64 << key.len()) as f64;
    let lon = |x: f64| x / n * 360.0 - 180.0;
    let lat = |y: f64| (std::f64::consts::PI * (1.0 - 2.0 * y / n)).sinh().atan().to_degrees();
    Some([lon(x as f64), lat(y as f64 + 1.0), lon(x as f64 + 1.0), lat(y as f64)])
}

/// The raw GeoParquet `geo` JSON of a file's footer (whether or not it parses).
fn raw_geo_json(metadata: &ParquetMetaData) -> Option<String> {
    metadata.file_metadata().key_value_metadata()?.iter().find(|e| e.key == GEO_METADATA_KEY)?.value.clone()
}

/// The contract of a table version: the Arrow schema and `geo` metadata of its first live data file,
/// nullability as the table's own schema declares it.
pub async fn contract_of(table: &TableRef, at: &VersionSelector) -> Result<crate::engine::lake::contract::Contract, JobError> {
    let mut warnings = Vec::new();
    let files = data_files(table_files(table, at).await?.files, &mut warnings);
    let Some(file) = files.first() else {
        return Err(JobError::Invalid(format!("{table} has no data file at this version: no schema to take a contract from")));
    };
    let located = storage::locate(&file.path)?;
    let mut handle = ParquetObjectReader::new(located.store.clone(), located.path.clone());
    let metadata = ArrowReaderMetadata::load_async(&mut handle, ArrowReaderOptions::new())
        .await
        .map_err(|source| LakeError::ParquetRead { table: table.to_string(), file: PathBuf::from(&file.path), source })?;
    let info = crate::engine::lake::inspect::table_info(table, at, &crate::engine::lake::inspect::SmallFilePolicy::default()).await?;
    let fields: Vec<arrow::datatypes::Field> = metadata
        .schema()
        .fields()
        .iter()
        .map(|f| {
            let nullable = info.schema.iter().find(|s| s.name == *f.name()).map_or(f.is_nullable(), |s| s.nullable);
            f.as_ref().clone().with_nullable(nullable)
        })
        .collect();
    let schema = arrow::datatypes::Schema::new(fields);
    Ok(crate::engine::lake::contract::Contract::from_schema(&schema, raw_geo_json(metadata.metadata()).as_deref()))
}

/// A WKB value of a binary array.
pub(crate) fn wkb_at(array: &dyn Array, row: usize) -> Option<&[u8]> {
    if array.is_null(row) {
        return None;
    }
    match array.data_type() {
        DataType::Binary => Some(array.as_binary::<i32>().value(row)),
        DataType::LargeBinary => Some(array.as_binary::<i64>().value(row)),
        DataType::BinaryView => Some(array.as_binary_view().value(row)),
        _ => None,
    }
}

fn is_binary(data_type: &DataType) -> bool {
    matches!(data_type, DataType::Binary | DataType::LargeBinary | DataType::BinaryView)
}

fn stat_f64(stats: Option<&Statistics>, min: bool) -> Option<f64> {
    match stats? {
        Statistics::Double(s) => if min { s.min_opt() } else { s.max_opt() }.copied(),
        Statistics::Float(s) => if min { s.min_opt() } else { s.max_opt() }.map(|v| f64::from(*v)),
        _ => None,
    }
}

/// A row group's bbox from its covering columns' statistics, else the geometry column's geospatial statistics.
fn row_group_bbox(rg: &RowGroupMetaData, covering: Option<&[usize; 4]>, geometry_leaf: Option<usize>) -> Option<[f64; 4]> {
    if let Some(leaves) = covering {
        let v = [
            stat_f64(rg.column(leaves[0]).statistics(), true),
            stat_f64(rg.column(leaves[1]).statistics(), true),
            stat_f64(rg.column(leaves[2]).statistics(), false),
            stat_f64(rg.column(leaves[3]).statistics(), false),
        ];
        if let [Some(a), Some(b), Some(c), Some(d)] = v {
            return Some([a, b, c, d]);
        }
    }
    let bbox = rg.column(geometry_leaf?).geo_statistics()?.bounding_box()?;
    Some([bbox.get_xmin(), bbox.get_ymin(), bbox.get_xmax(), bbox.get_ymax()])
}

/// The bbox covering values of a batch as f64 arrays (`xmin`, `ymin`, `xmax`, `ymax`), found by their
/// paths (a top-level column or a field of a struct column); `None` when any is missing.
fn covering_values(batch: &RecordBatch, paths: &[Vec<String>; 4]) -> Option<[arrow::array::Float64Array; 4]> {
    let one = |path: &Vec<String>| -> Option<arrow::array::Float64Array> {
        let mut array: arrow::array::ArrayRef = batch.column_by_name(path.first()?)?.clone();
        for name in &path[1..] {
            array = array.as_struct_opt()?.column_by_name(name)?.clone();
        }
        let cast = arrow::compute::cast(&array, &DataType::Float64).ok()?;
        Some(cast.as_primitive::<arrow::datatypes::Float64Type>().clone())
    };
    Some([one(&paths[0])?, one(&paths[1])?, one(&paths[2])?, one(&paths[3])?])
}

/// An opened data file: its stream builder and geometry column.
struct Opened {
    builder: ParquetRecordBatchStreamBuilder<ParquetObjectReader>,
    geo: GeoColumn,
    /// Root (top-level) index of the geometry column.
    geometry_root: usize,
    geometry_leaf: Option<usize>,
    covering_leaves: Option<[usize; 4]>,
}

/// `page_index`: also read the file's page index (column index + offset index) when it has one, so that
/// a row selection reads only the pages it touches.
async fn open(table: &TableRef, file: &TableFile, wanted: Option<&str>, page_index: bool) -> Result<Opened, LakeError> {
    let shown = PathBuf::from(&file.path);
    let read_error = |source| LakeError::ParquetRead { table: table.to_string(), file: shown.clone(), source };
    let located = storage::locate(&file.path)?;
    let mut handle = ParquetObjectReader::new(located.store.clone(), located.path.clone()).with_size(file.bytes);
    let policy = if page_index { PageIndexPolicy::Optional } else { PageIndexPolicy::Skip };
    let options = ArrowReaderOptions::new().with_page_index_policy(policy);
    let metadata = ArrowReaderMetadata::load_async(&mut handle, options).await.map_err(read_error)?;
    let builder = ParquetRecordBatchStreamBuilder::new_with_metadata(handle, metadata);
    let mut geo = geo_column(builder.metadata(), builder.schema(), wanted, &file.path).map_err(|r| lake_err(table, r))?;
    if !geo.declares_crs {
        match crs_column_value(builder.metadata()) {
            CrsColumn::Absent => {}
            CrsColumn::One(crs) => {
                geo.crs = Some(crs);
                geo.declares_crs = true;
            }
            CrsColumn::Unclear(why) => geo.crs_note = Some(why),
        }
    }
    let geometry_root = builder.schema().index_of(&geo.name).map_err(|e| lake_err(table, e.to_string()))?;
    let field = builder.schema().field(geometry_root);
    if !is_binary(field.data_type()) {
        return Err(lake_err(
            table,
            format!("{}: column {} is {}, not WKB binary (GeoArrow encodings are not read yet)", file.path, geo.name, field.data_type()),
        ));
    }
    let descr = builder.parquet_schema();
    let leaf_of = |path: &[String]| (0..descr.num_columns()).find(|&i| descr.column(i).path().parts() == path);
    let geometry_leaf = leaf_of(std::slice::from_ref(&geo.name));
    let covering_leaves = geo.covering.as_ref().and_then(|c| {
        let [a, b, c2, d] = c;
        Some([leaf_of(a)?, leaf_of(b)?, leaf_of(c2)?, leaf_of(d)?])
    });
    Ok(Opened { builder, geo, geometry_root, geometry_leaf, covering_leaves })
}

/// What a file's `crs` column (a CRS string per row, for files without GeoParquet metadata) says.
#[derive(Debug, PartialEq)]
enum CrsColumn {
    /// No top-level string column named `crs`.
    Absent,
    /// Every row has this CRS (its statistics: minimum = maximum in every row group, no nulls).
    One(String),
    /// Why no single CRS can be taken from it.
    Unclear(String),
}

/// The CRS of a file's rows from the statistics of its `crs` column (the seed's tables carry one).
fn crs_column_value(metadata: &ParquetMetaData) -> CrsColumn {
    let descr = metadata.file_metadata().schema_descr();
    let Some(leaf) = (0..descr.num_columns()).find(|&i| {
        let column = descr.column(i);
        column.path().parts().len() == 1
            && column.name().eq_ignore_ascii_case("crs")
            && column.physical_type() == parquet::basic::Type::BYTE_ARRAY
    }) else {
        return CrsColumn::Absent;
    };
    let no_statistics = || CrsColumn::Unclear("the `crs` column has no statistics, so its CRS is not taken".to_string());
    let mut values = std::collections::BTreeSet::new();
    for group in metadata.row_groups().iter().filter(|g| g.num_rows() > 0) {
        let Some(Statistics::ByteArray(stats)) = group.column(leaf).statistics() else {
            return no_statistics();
        };
        if stats.null_count_opt().is_none_or(|nulls| nulls > 0) {
            return CrsColumn::Unclear("the `crs` column has null (or uncounted) values".to_string());
        }
        for value in [stats.min_opt(), stats.max_opt()] {
            let Some(text) = value.and_then(|v| v.as_utf8().ok()) else {
                return no_statistics();
            };
            values.insert(text.trim().to_string());
        }
    }
    let mut values = values.into_iter();
    match (values.next(), values.next()) {
        (Some(one), None) if !one.is_empty() => CrsColumn::One(one),
        (Some(first), Some(other)) => CrsColumn::Unclear(format!(
            "the `crs` column holds more than one CRS ({first}, {other}, …): per-row CRSs are not applied (pass --crs)"
        )),
        _ => CrsColumn::Absent,
    }
}

fn lon_lat_crs(crs: Option<&str>) -> bool {
    match crs {
        None => false,
        Some(c) => {
            let c = c.to_ascii_uppercase();
            c.contains("CRS84") || c.contains("CRS:84") || matches!(crate::engine::crs::epsg_code(&c), Some(4326 | 4258 | 4269 | 4979))
        }
    }
}

/// The data files of a version; a warning when Iceberg delete files are left unapplied, so
/// deleted rows are read with the rest (Delta deletion vectors are applied: [`deleted_rows_of`]).
fn data_files(files: Vec<TableFile>, warnings: &mut Vec<String>) -> Vec<TableFile> {
    let deletes = files.iter().filter(|f| f.kind != FileKind::Data).count();
    if deletes > 0 {
        warnings.push(format!("{deletes} delete file(s) / deletion vector(s) are not applied: deleted rows are included"));
    }
    files.into_iter().filter(|f| f.kind == FileKind::Data).collect()
}

/// The rows of a data file its Delta deletion vector deletes (`None`: no deletion vector).
async fn deleted_rows_of(table: &TableRef, file: &TableFile) -> Result<Option<roaring::RoaringTreemap>, LakeError> {
    match (&file.deletion_vector, table) {
        (None, _) => Ok(None),
        (Some(dv), TableRef::Delta { location }) => crate::engine::lake::delta::deleted_rows(location, file, dv).await.map(Some),
        (Some(_), _) => Err(lake_err(table, format!("{}: a deletion vector outside a Delta table", file.path))),
    }
}

/// The rows of `selection` that are not deleted: both selections cover the same rows.
fn without_deleted(selection: Option<RowSelection>, live: Option<RowSelection>) -> Option<RowSelection> {
    match (selection, live) {
        (Some(selection), Some(live)) => Some(selection.intersection(&live)),
        (selection, live) => selection.or(live),
    }
}

/// Validate the geometry column of a table version.
pub async fn validate(
    table: &TableRef,
    at: &VersionSelector,
    geometry: Option<&str>,
    declared: &Declared,
    against: Option<&VersionSelector>,
    ctx: &JobContext,
) -> Result<ValidationReport, JobError> {
    let mut report = ValidationReport::default();
    let files = data_files(table_files(table, at).await?.files, &mut report.warnings);
    report.files = files.len() as u64;
    let total = files.len() as u64;
    let mut first_crs: Option<(Option<String>, bool)> = None;
    let mut tally = crate::engine::lake::contract::ProblemTally::default();
    report.contract = declared.contract.as_ref().map(|(name, _)| name.clone());
    for (index, file) in files.iter().enumerate() {
        ctx.cancel.check()?;
        ctx.progress.report(index as u64, total, format!("validating {}", file.path));
        let opened = open(table, file, geometry, false).await?;
        let mut geo = opened.geo.clone();
        if geo.geometry_types.is_empty() {
            geo.geometry_types = declared.geometry_types.clone();
        }
        let assumed_crs = !geo.declares_crs && declared.crs.is_some();
        if assumed_crs {
            geo.crs = declared.crs.clone();
        }
        report.geometry_column = geo.name.clone();
        if report.geometry_types.is_empty() {
            report.geometry_types = geo.geometry_types.clone();
        }
        match &first_crs {
            None => {
                first_crs = Some((geo.crs.clone(), geo.declares_crs));
                report.crs = geo.crs.clone();
                if assumed_crs {
                    report.crs_problems.push(format!("{}: no GeoParquet `geo` metadata, CRS {} assumed", file.path, geo.crs.as_deref().unwrap_or("")));
                } else if !geo.declares_crs {
                    let note = geo.crs_note.as_deref().map(|note| format!(" ({note})")).unwrap_or_default();
                    report.crs_problems.push(format!("{}: no GeoParquet `geo` metadata, the CRS is not declared{note}", file.path));
                } else if geo.crs.is_none() {
                    report.crs_problems.push(format!("{}: the CRS of {} is null (unknown)", file.path, geo.name));
                }
            }
            Some((crs, _)) if *crs != geo.crs && report.crs_problems.len() < MAX_PROBLEMS => {
                report.crs_problems.push(format!(
                    "{}: CRS {} differs from the first file's {}",
                    file.path,
                    geo.crs.as_deref().unwrap_or("null"),
                    crs.as_deref().unwrap_or("null")
                ));
            }
            Some(_) => {}
        }
        let expect = Arc::new(Expectations {
            geometry_types: geo.geometry_types.clone(),
            lon_lat: lon_lat_crs(geo.crs.as_deref()),
            epsg: geo.crs.as_deref().and_then(crate::engine::crs::epsg_code).map(|c| if geo.crs.as_deref() == Some(DEFAULT_CRS) { 4326 } else { c }),
        });
        // The contract: schema and `geo` metadata once per file, then the values of the columns it
        // declares non-nullable (read with the geometry) batch by batch through `validate_and_cast`.
        let mut roots = vec![opened.geometry_root];
        let value_contract = declared.contract.as_ref().map(|(_, contract)| {
            let schema = opened.builder.schema().clone();
            let geo_json = raw_geo_json(opened.builder.metadata());
            tally.add(&file.path, 0, contract.check_schema(&schema, geo_json.as_deref()));
            let fields: Vec<_> = contract
                .fields
                .iter()
                .filter(|f| !f.nullable)
                .filter(|f| {
                    let Ok(i) = schema.index_of(&f.name) else { return false };
                    let ok = crate::engine::lake::contract::parse_type(&f.data_type)
                        .is_ok_and(|t| crate::engine::lake::contract::cast_plan(schema.field(i).data_type(), &t).is_ok());
                    if ok && !roots.contains(&i) {
                        roots.push(i);
                    }
                    ok
                })
                .cloned()
                .collect();
            crate::engine::lake::contract::Contract { fields, geo: None, allow_extra_columns: true }
        });
        let geometry_name = geo.name.clone();
        let mask = ProjectionMask::roots(opened.builder.parquet_schema(), roots);
        let read_error = |source| LakeError::ParquetRead { table: table.to_string(), file: PathBuf::from(&file.path), source };
        // Rows a deletion vector deletes are not validated; `live_rows` maps the rows read to the file's.
        let deleted = deleted_rows_of(table, file).await?;
        let file_rows = opened.builder.metadata().file_metadata().num_rows().max(0) as u64;
        let live = deleted.as_ref().map(|deleted| crate::engine::lake::deletion_vectors::live_row_selection(file_rows, deleted));
        let live_rows = live.as_ref().map(selected_rows);
        let file_row = |read: u64| live_rows.as_ref().and_then(|rows| rows.get(read as usize).copied()).unwrap_or(read);
        let mut builder = opened.builder.with_projection(mask).with_batch_size(BATCH_ROWS);
        if let Some(live) = live {
            builder = builder.with_row_selection(live);
        }
        let mut stream = builder.build().map_err(read_error)?;
        let mut row_base = 0u64;
        while let Some(batch) = stream.try_next().await.map_err(read_error)? {
            ctx.cancel.check()?;
            let n = batch.num_rows();
            if let Some(contract) = value_contract.as_ref().filter(|c| !c.fields.is_empty())
                && let Err(mut problems) = crate::engine::lake::contract::validate_and_cast(&batch, contract)
            {
                for problem in &mut problems {
                    problem.first_row = problem.first_row.map(|row| file_row(row_base + row));
                }
                tally.add(&file.path, 0, problems);
            }
            let expect = expect.clone();
            let Some(column) = batch.column_by_name(&geometry_name).cloned() else { break };
            let findings = ctx
                .cpu(move || {
                    use rayon::prelude::*;
                    (0..n)
                        .into_par_iter()
                        .filter_map(|row| {
                            let (found, bbox) = check_value(wkb_at(column.as_ref(), row), &expect);
                            (!found.is_empty()).then_some((row, found, bbox))
                        })
                        .collect::<Vec<_>>()
                })
                .await?;
            report.rows += n as u64;
            for (row, found, bbox) in findings {
                report.rows_with_problems += 1;
                for finding in found {
                    let counter = match finding.kind {
                        ProblemKind::NullGeometry => &mut report.null_geometry,
                        ProblemKind::InvalidWkb => &mut report.invalid_wkb,
                        ProblemKind::WrongType => &mut report.wrong_type,
                        ProblemKind::InvalidGeometry => &mut report.invalid_geometry,
                        ProblemKind::NonSimple => &mut report.non_simple,
                        ProblemKind::OutOfCrsArea => &mut report.out_of_crs_area,
                        ProblemKind::SridMismatch => &mut report.srid_mismatch,
                    };
                    *counter += 1;
                    if report.problems.len() < MAX_PROBLEMS {
                        report.problems.push(Problem {
                            file: file.path.clone(),
                            row: file_row(row_base + row as u64),
                            kind: finding.kind,
                            detail: finding.detail,
                            bbox,
                        });
                    } else {
                        report.problems_truncated = true;
                    }
                }
            }
            row_base += n as u64;
        }
    }
    report.contract_violations = tally.total;
    let (contract_problems, _) = tally.into_list(MAX_PROBLEMS);
    report.contract_problems = contract_problems;
    if report.out_of_crs_area > 0 {
        report.crs_problems.push(format!("{} geometries lie outside the CRS's area (lon/lat range)", report.out_of_crs_area));
    }
    if let Some(against) = against {
        let policy = crate::engine::lake::inspect::SmallFilePolicy::default();
        let (old, new) = tokio::try_join!(
            crate::engine::lake::inspect::table_info(table, against, &policy),
            crate::engine::lake::inspect::table_info(table, at, &policy)
        )?;
        report.schema_drift = Some(crate::engine::lake::schema_diff::diff_schemas(&old, &new));
    }
    ctx.progress.report(total, total, "validated");
    Ok(report)
}

/// Run a spatial query over a table version.
pub async fn query(table: &TableRef, at: &VersionSelector, request: &QueryRequest, ctx: &JobContext) -> Result<QueryReport, JobError> {
    let mut report = QueryReport::default();
    let mut files = data_files(table_files(table, at).await?.files, &mut report.warnings);
    // Partition values that are cells (geohash, quadkey) give a file without statistics its bbox.
    for file in &mut files {
        if file.bbox.is_none() {
            file.bbox = partition_bbox(&file.partition);
        }
    }
    report.files_total = files.len() as u64;
    report.bytes_total = files.iter().map(|f| f.bytes).sum();
    let partitions = |files: &mut dyn Iterator<Item = &TableFile>| {
        files.filter(|f| !f.partition.is_empty()).map(|f| &f.partition).collect::<std::collections::BTreeSet<_>>().len() as u64
    };
    report.partitions_total = partitions(&mut files.iter());
    report.partitions_scanned = partitions(
        &mut files.iter().filter(|f| f.bbox.as_ref().is_none_or(|b| bboxes_intersect(b, &request.predicate.search_bbox))),
    );
    report.files_without_bbox = files.iter().filter(|f| f.bbox.is_none()).count() as u64;
    if !files.is_empty() && report.files_without_bbox == report.files_total {
        let message = format!(
            "no file of {table} has a bbox (no statistics of a bbox covering column, no GeoParquet bbox): the query reads every geometry of all {} files ({} bytes)",
            files.len(),
            report.bytes_total
        );
        if !request.allow_full_scan {
            report.refused_full_scan = Some(message);
            return Ok(report);
        }
        report.warnings.push(message);
    }
    let predicate = Arc::new(request.predicate.clone());
    let mut writer = match &request.out {
        Some(out) => Some(Export::new(out)),
        None => None,
    };
    let total = files.len() as u64;
    if writer.is_none() {
        return query_concurrently(table, &files, request, predicate, report, ctx).await;
    }
    for (index, file) in files.iter().enumerate() {
        ctx.cancel.check()?;
        ctx.progress.report(index as u64, total, format!("querying {}", file.path));
        if let Some(bbox) = &file.bbox
            && !bboxes_intersect(bbox, &predicate.search_bbox)
        {
            continue;
        }
        report.files_scanned += 1;
        let opened = open(table, file, request.geometry.as_deref(), false).await?;
        let deleted = deleted_rows_of(table, file).await?;
        let located = storage::locate(&file.path)?;
        if report.files_scanned == 1 {
            report.crs = opened.geo.crs.clone();
        }
        let metadata = opened.builder.metadata().clone();
        let descr = opened.builder.parquet_schema();
        let mut selected = Vec::new();
        for (i, rg) in metadata.row_groups().iter().enumerate() {
            report.row_groups_total += 1;
            match row_group_bbox(rg, opened.covering_leaves.as_ref(), opened.geometry_leaf) {
                Some(bbox) if !bboxes_intersect(&bbox, &predicate.search_bbox) => {}
                _ => selected.push(i),
            }
        }
        if selected.is_empty() {
            continue;
        }
        report.row_groups_scanned += selected.len() as u64;
        let mask = if writer.is_some() {
            ProjectionMask::all()
        } else {
            let mut wanted: Vec<usize> =
                (0..descr.num_columns()).filter(|&leaf| descr.get_column_root_idx(leaf) == opened.geometry_root).collect();
            wanted.extend(opened.covering_leaves.iter().flatten().copied());
            ProjectionMask::leaves(descr, wanted)
        };
        let covering_paths = opened.geo.covering.clone().filter(|_| opened.covering_leaves.is_some());
        let leaves: Vec<usize> = (0..descr.num_columns())
            .filter(|&leaf| {
                writer.is_some()
                    || descr.get_column_root_idx(leaf) == opened.geometry_root
                    || opened.covering_leaves.is_some_and(|c| c.contains(&leaf))
            })
            .collect();
        for &i in &selected {
            let rg = metadata.row_group(i);
            report.bytes_scanned += leaves.iter().map(|&l| rg.column(l).compressed_size().max(0) as u64).sum::<u64>();
        }
        let row_offsets = row_group_offsets(&metadata);
        let geometry_name = opened.geo.name.clone();
        if let Some(export) = writer.as_mut() {
            export.geo_json = export.geo_json.take().or(opened.geo.geo_json.clone());
            export.geometry = geometry_name.clone();
        }
        let read_error = |source| LakeError::ParquetRead { table: table.to_string(), file: PathBuf::from(&file.path), source };
        // One row group at a time so that row numbers stay known.
        for &group in &selected {
            let builder = ParquetRecordBatchStreamBuilder::new_with_metadata(
                ParquetObjectReader::new(located.store.clone(), located.path.clone()),
                ArrowReaderMetadata::try_new(metadata.clone(), ArrowReaderOptions::new()).map_err(read_error)?,
            );
            let first_row = row_offsets.get(group).copied().unwrap_or(0);
            // Rows a deletion vector deletes are not read; `live_rows` maps the rows read back to the group's.
            let live = deleted.as_ref().map(|deleted| {
                let rows = metadata.row_group(group).num_rows().max(0) as u64;
                crate::engine::lake::deletion_vectors::live_rows_in(first_row, rows, deleted)
            });
            let live_rows = live.as_ref().map(selected_rows);
            let mut builder = builder.with_projection(mask.clone()).with_row_groups(vec![group]).with_batch_size(BATCH_ROWS);
            if let Some(live) = live {
                builder = builder.with_row_selection(live);
            }
            let mut stream = builder.build().map_err(read_error)?;
            let mut position = 0usize;
            while let Some(batch) = stream.try_next().await.map_err(read_error)? {
                ctx.cancel.check()?;
                let n = batch.num_rows();
                report.rows_read += n as u64;
                let covering = covering_paths.as_ref().and_then(|paths| covering_values(&batch, paths));
                let predicate = predicate.clone();
                let column_name = geometry_name.clone();
                let keep_geometry = report.matches.len() < MAX_MATCHES_KEPT;
                let (hits, batch, decoded) = ctx
                    .cpu(move || {
                        use rayon::prelude::*;
                        let decoded_rows = std::sync::atomic::AtomicU64::new(0);
                        let hits: Vec<(usize, [f64; 4], Option<Geometry<f64>>)> = match batch.column_by_name(&column_name) {
                            None => vec![],
                            Some(column) => (0..n)
                                .into_par_iter()
                                .filter_map(|row| {
                                    if let Some([x0, y0, x1, y1]) = &covering
                                        && x0.is_valid(row)
                                        && y0.is_valid(row)
                                        && x1.is_valid(row)
                                        && y1.is_valid(row)
                                        && predicate.judge_box(&[x0.value(row), y0.value(row), x1.value(row), y1.value(row)]) == BoxVerdict::NoMatch
                                    {
                                        return None;
                                    }
                                    decoded_rows.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                    let decoded = decode_wkb(wkb_at(column.as_ref(), row)?).ok()?;
                                    let rect = geo::BoundingRect::bounding_rect(&decoded.geometry)?;
                                    let bbox = [rect.min().x, rect.min().y, rect.max().x, rect.max().y];
                                    if !predicate.may_match(&bbox) || !predicate.matches(&decoded.geometry) {
                                        return None;
                                    }
                                    Some((row, bbox, keep_geometry.then_some(decoded.geometry)))
                                })
                                .collect(),
                        };
                        (hits, batch, decoded_rows.load(std::sync::atomic::Ordering::Relaxed))
                    })
                    .await?;
                report.rows_decoded += decoded;
                report.rows_matched += hits.len() as u64;
                if let Some(export) = writer.as_mut()
                    && !hits.is_empty()
                {
                    let mut keep = vec![false; n];
                    for (row, _, _) in &hits {
                        keep[*row] = true;
                    }
                    let filtered = arrow::compute::filter_record_batch(&batch, &BooleanArray::from(keep))
                        .map_err(|e| lake_err(table, format!("filtering matches of {}: {e}", file.path)))?;
                    export.write(&filtered).map_err(|e| lake_err(table, e))?;
                }
                for (row, bbox, geometry) in hits {
                    if report.matches.len() >= MAX_MATCHES_KEPT {
                        break;
                    }
                    if let Some(geometry) = geometry {
                        let read = position + row;
                        let in_group = live_rows.as_ref().and_then(|rows| rows.get(read).copied()).unwrap_or(read as u64);
                        report.matches.push(QueryMatch { file: file.path.clone(), row: first_row + in_group, bbox, geometry });
                    }
                }
                position += n;
            }
        }
    }
    if let Some(export) = writer {
        report.out = Some(export.finish().map_err(|e| lake_err(table, e))?);
    }
    ctx.progress.report(total, total, "queried");
    Ok(report)
}

/// Candidate rows of a batch up to which [`scan_group`] tests them on the current task, not the worker pool.
const TEST_INLINE_ROWS: usize = 512;

/// Files opened and row groups scanned at once by [`query_concurrently`].
const FILES_AT_ONCE: usize = 8;
const GROUPS_AT_ONCE: usize = 4;

/// What one row group gave.
#[derive(Default)]
struct GroupOutcome {
    rows_read: u64,
    bytes_scanned: u64,
    pages_total: u64,
    pages_scanned: u64,
    rows_decoded: u64,
    /// Row inside the group, bbox, geometry (when kept).
    hits: Vec<(u64, [f64; 4], Option<Geometry<f64>>)>,
}

/// What one file gave.
#[derive(Default)]
struct FileOutcome {
    scanned: bool,
    crs: Option<String>,
    row_groups_total: u64,
    row_groups_scanned: u64,
    /// Per scanned group: its first row in the file and what it gave.
    groups: Vec<(u64, GroupOutcome)>,
}

/// The query without export: footers of the files that survive bbox pruning are read concurrently,
/// row groups pruned by statistics, and the surviving row groups scanned concurrently. Within a row
/// group the bbox covering columns are read first; the geometry column is then decoded only for the
/// rows whose covering bbox can match (a Parquet row selection), and tested exactly in parallel.
/// Results are merged in file and row order, so the output equals the sequential scan's.
async fn query_concurrently(
    table: &TableRef,
    files: &[TableFile],
    request: &QueryRequest,
    predicate: Arc<SpatialPredicate>,
    mut report: QueryReport,
    ctx: &JobContext,
) -> Result<QueryReport, JobError> {
    use futures::StreamExt;
    let total = files.len() as u64;
    let done = std::sync::atomic::AtomicU64::new(0);
    let candidates: Vec<&TableFile> =
        files.iter().filter(|f| f.bbox.as_ref().is_none_or(|b| bboxes_intersect(b, &predicate.search_bbox))).collect();
    let outcomes: Vec<Result<FileOutcome, JobError>> = futures::stream::iter(0..candidates.len())
        .map(|i| {
            let file = candidates[i];
            let predicate = predicate.clone();
            let done = &done;
            async move {
                let outcome = scan_file(table, file, request.geometry.as_deref(), request.keep_matches, predicate, ctx).await;
                let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                ctx.progress.report(n, total, format!("queried {}", file.path));
                outcome
            }
        })
        .buffered(FILES_AT_ONCE)
        .collect()
        .await;
    for (file, outcome) in files.iter().filter(|f| f.bbox.as_ref().is_none_or(|b| bboxes_intersect(b, &predicate.search_bbox))).zip(outcomes) {
        let outcome = outcome?;
        report.files_scanned += u64::from(outcome.scanned);
        if report.files_scanned == 1 && outcome.scanned && report.crs.is_none() {
            report.crs = outcome.crs.clone();
        }
        report.row_groups_total += outcome.row_groups_total;
        report.row_groups_scanned += outcome.row_groups_scanned;
        for (first_row, group) in outcome.groups {
            report.rows_read += group.rows_read;
            report.bytes_scanned += group.bytes_scanned;
            report.pages_total += group.pages_total;
            report.pages_scanned += group.pages_scanned;
            report.rows_decoded += group.rows_decoded;
            report.rows_matched += group.hits.len() as u64;
            for (row, bbox, geometry) in group.hits {
                if report.matches.len() >= MAX_MATCHES_KEPT {
                    break;
                }
                if let Some(geometry) = geometry {
                    report.matches.push(QueryMatch { file: file.path.clone(), row: first_row + row, bbox, geometry });
                }
            }
        }
    }
    ctx.progress.report(total, total, "queried");
    Ok(report)
}

async fn scan_file(
    table: &TableRef,
    file: &TableFile,
    wanted: Option<&str>,
    keep_matches: bool,
    predicate: Arc<SpatialPredicate>,
    ctx: &JobContext,
) -> Result<FileOutcome, JobError> {
    use futures::StreamExt;
    ctx.cancel.check()?;
    let opened = open(table, file, wanted, true).await?;
    let deleted = deleted_rows_of(table, file).await?;
    let mut outcome = FileOutcome { scanned: true, crs: opened.geo.crs.clone(), ..Default::default() };
    let metadata = opened.builder.metadata().clone();
    let descr = opened.builder.parquet_schema();
    let row_offsets = row_group_offsets(&metadata);
    // Row groups pruned by their statistics, then pages by the covering columns' page statistics,
    // then the rows a deletion vector deletes.
    let mut selected = Vec::new();
    for (i, rg) in metadata.row_groups().iter().enumerate() {
        outcome.row_groups_total += 1;
        match row_group_bbox(rg, opened.covering_leaves.as_ref(), opened.geometry_leaf) {
            Some(bbox) if !bboxes_intersect(&bbox, &predicate.search_bbox) => {}
            _ => {
                let live = deleted.as_ref().map(|deleted| {
                    crate::engine::lake::deletion_vectors::live_rows_in(
                        row_offsets.get(i).copied().unwrap_or(0),
                        rg.num_rows().max(0) as u64,
                        deleted,
                    )
                });
                let pages = opened
                    .covering_leaves
                    .as_ref()
                    .and_then(|leaves| covering_page_selection(&metadata, i, leaves, &predicate.search_bbox));
                let pages = without_deleted(pages, live);
                if pages.as_ref().is_none_or(RowSelection::selects_any) {
                    selected.push((i, pages));
                }
            }
        }
    }
    outcome.row_groups_scanned = selected.len() as u64;
    if selected.is_empty() {
        return Ok(outcome);
    }
    let geometry_leaves: Vec<usize> =
        (0..descr.num_columns()).filter(|&leaf| descr.get_column_root_idx(leaf) == opened.geometry_root).collect();
    let covering_leaves: Vec<usize> = opened.covering_leaves.iter().flatten().copied().collect();
    let leaves = Arc::new((geometry_leaves.clone(), covering_leaves.clone()));
    let geometry_mask = ProjectionMask::leaves(descr, geometry_leaves);
    let covering = opened
        .geo
        .covering
        .clone()
        .filter(|_| opened.covering_leaves.is_some())
        .map(|paths| (ProjectionMask::leaves(descr, covering_leaves.clone()), paths));
    let reader_metadata = ArrowReaderMetadata::try_new(metadata.clone(), ArrowReaderOptions::new())
        .map_err(|source| LakeError::ParquetRead { table: table.to_string(), file: PathBuf::from(&file.path), source })?;
    let groups: Vec<Result<(u64, GroupOutcome), JobError>> = futures::stream::iter(selected)
        .map(|(group, pages)| {
            let leaves = leaves.clone();
            let predicate = predicate.clone();
            let reader_metadata = reader_metadata.clone();
            let geometry_mask = geometry_mask.clone();
            let covering = covering.clone();
            let first_row = row_offsets.get(group).copied().unwrap_or(0);
            async move {
                let columns = GroupColumns { geometry_mask, covering, leaves, pages, trust_inside: !keep_matches };
                let scanned = scan_group(table, file, reader_metadata, group, columns, predicate, ctx).await?;
                Ok((first_row, scanned))
            }
        })
        .buffered(GROUPS_AT_ONCE)
        .collect()
        .await;
    outcome.groups = groups.into_iter().collect::<Result<_, _>>()?;
    Ok(outcome)
}

/// What [`scan_group`] reads of a row group.
struct GroupColumns {
    geometry_mask: ProjectionMask,
    /// The bbox covering columns and their paths in a batch.
    covering: Option<(ProjectionMask, [Vec<String>; 4])>,
    /// Leaf columns of the geometry and of the covering (for the bytes and pages read).
    leaves: Arc<(Vec<usize>, Vec<usize>)>,
    /// The rows to read: those whose covering pages can match ([`covering_page_selection`]) and
    /// that no deletion vector deletes; `None`: every row.
    pages: Option<RowSelection>,
    /// Rows whose covering bbox lies inside the query geometry are matches without decoding (no geometry kept).
    trust_inside: bool,
}

async fn scan_group(
    table: &TableRef,
    file: &TableFile,
    metadata: ArrowReaderMetadata,
    group: usize,
    columns: GroupColumns,
    predicate: Arc<SpatialPredicate>,
    ctx: &JobContext,
) -> Result<GroupOutcome, JobError> {
    let GroupColumns { geometry_mask, covering, leaves, pages, trust_inside } = columns;
    ctx.cancel.check()?;
    let read_error = |source| LakeError::ParquetRead { table: table.to_string(), file: PathBuf::from(&file.path), source };
    let group_rows = metadata.metadata().row_group(group).num_rows().max(0) as usize;
    let reader = || -> Result<ParquetRecordBatchStreamBuilder<ParquetObjectReader>, LakeError> {
        let located = storage::locate(&file.path)?;
        Ok(ParquetRecordBatchStreamBuilder::new_with_metadata(ParquetObjectReader::new(located.store, located.path), metadata.clone())
            .with_row_groups(vec![group]))
    };
    let mut outcome = GroupOutcome { rows_read: group_rows as u64, ..Default::default() };
    let geometry_pages = |selection: Option<&RowSelection>| -> (u64, u64) {
        let Some(index) = metadata.metadata().offset_index().and_then(|o| o.get(group)) else { return (0, 0) };
        leaves.0.iter().filter_map(|&leaf| index.get(leaf)).map(|i| i.page_locations()).fold((0, 0), |(total, read), pages| {
            (total + pages.len() as u64, read + selection.map_or(pages.len(), |s| s.scan_ranges(pages).len()) as u64)
        })
    };
    // Pages of a group left out by the covering values are counted in the total, none read.
    outcome.pages_total = geometry_pages(None).0;
    // 1. The covering bboxes (of the rows on pages that can match): which rows can match at all.
    let mut candidates: Option<Vec<u64>> = None;
    let mut selection = None;
    if let Some((mask, paths)) = covering {
        outcome.bytes_scanned += bytes_read(metadata.metadata(), group, &leaves.1, pages.as_ref());
        let mut builder = reader()?.with_projection(mask).with_batch_size(group_rows.max(1));
        if let Some(pages) = &pages {
            builder = builder.with_row_selection(pages.clone());
        }
        let mut stream = builder.build().map_err(read_error)?;
        let mut keep: Vec<bool> = Vec::with_capacity(group_rows);
        // Covering bboxes of the rows that surely match (by position among the rows read), when trusted.
        let mut sure: Vec<(usize, [f64; 4])> = Vec::new();
        while let Some(batch) = stream.try_next().await.map_err(read_error)? {
            let n = batch.num_rows();
            let base = keep.len();
            match covering_values(&batch, &paths) {
                Some([x0, y0, x1, y1]) => keep.extend((0..n).map(|row| {
                    if !(x0.is_valid(row) && y0.is_valid(row) && x1.is_valid(row) && y1.is_valid(row)) {
                        return true;
                    }
                    let bbox = [x0.value(row), y0.value(row), x1.value(row), y1.value(row)];
                    match predicate.judge_box(&bbox) {
                        BoxVerdict::NoMatch => false,
                        BoxVerdict::Match if trust_inside => {
                            sure.push((base + row, bbox));
                            false
                        }
                        BoxVerdict::Match | BoxVerdict::Unsure => true,
                    }
                })),
                None => keep.extend(std::iter::repeat_n(true, n)),
            }
        }
        if !sure.is_empty() {
            // Positions among the rows read → rows of the group.
            let read_rows = match &pages {
                Some(pages) => selected_rows(pages),
                None => (0..group_rows as u64).collect(),
            };
            outcome.hits.extend(sure.iter().filter_map(|&(at, bbox)| Some((*read_rows.get(at)?, bbox, None))));
        }
        let kept = RowSelection::from_filters(&[BooleanArray::from(keep)]);
        let kept = match &pages {
            Some(pages) => pages.and_then(&kept),
            None => kept,
        };
        let rows = selected_rows(&kept);
        if rows.is_empty() {
            outcome.hits.sort_by_key(|hit| hit.0);
            return Ok(outcome);
        }
        if rows.len() < group_rows {
            selection = Some(kept);
            candidates = Some(rows);
        }
    } else if let Some(pages) = pages {
        // No covering columns: the rows left by the deletion vector, geometry decoded for each.
        let rows = selected_rows(&pages);
        if rows.is_empty() {
            return Ok(outcome);
        }
        selection = Some(pages);
        candidates = Some(rows);
    }
    outcome.bytes_scanned += bytes_read(metadata.metadata(), group, &leaves.0, selection.as_ref());
    outcome.pages_scanned = geometry_pages(selection.as_ref()).1;
    // 2. The geometries of the candidate rows, tested exactly in parallel.
    let mut builder = reader()?.with_projection(geometry_mask).with_batch_size(BATCH_ROWS);
    if let Some(selection) = selection {
        builder = builder.with_row_selection(selection);
    }
    let mut stream = builder.build().map_err(read_error)?;
    let candidates = candidates.map(Arc::new);
    let mut position = 0usize;
    while let Some(batch) = stream.try_next().await.map_err(read_error)? {
        ctx.cancel.check()?;
        let n = batch.num_rows();
        let predicate = predicate.clone();
        let candidates = candidates.clone();
        let start = position;
        position += n;
        let column = batch.column(0).clone();
        let test_row = move |i: usize| {
            let row = match &candidates {
                Some(rows) => rows[start + i],
                None => (start + i) as u64,
            };
            let decoded = decode_wkb(wkb_at(column.as_ref(), i)?).ok()?;
            let rect = geo::BoundingRect::bounding_rect(&decoded.geometry)?;
            let bbox = [rect.min().x, rect.min().y, rect.max().x, rect.max().y];
            if !predicate.may_match(&bbox) || !predicate.matches(&decoded.geometry) {
                return None;
            }
            Some((row, bbox, (!trust_inside).then_some(decoded.geometry)))
        };
        // A few hundred geometries are tested here: handing them to the worker pool and back costs more.
        let hits: Vec<_> = if n <= TEST_INLINE_ROWS {
            (0..n).filter_map(test_row).collect()
        } else {
            ctx.cpu(move || {
                use rayon::prelude::*;
                (0..n).into_par_iter().filter_map(test_row).collect()
            })
            .await?
        };
        outcome.rows_decoded += n as u64;
        outcome.hits.extend(hits);
        // Geometries beyond what the report keeps are dropped early (memory).
        for hit in outcome.hits.iter_mut().skip(MAX_MATCHES_KEPT) {
            hit.2 = None;
        }
    }
    // Rows that surely match came first; merged in row order with the decoded ones.
    outcome.hits.sort_by_key(|hit| hit.0);
    Ok(outcome)
}

/// The rows of a row group whose pages of the bbox covering columns can hold a bbox meeting `search`,
/// from the page index (column index: page min/max; offset index: each page's first row); `None` when
/// the file has no page index for them. A row can match only if its `xmin` ≤ search `xmax`, `ymin` ≤
/// search `ymax`, `xmax` ≥ search `xmin` and `ymax` ≥ search `ymin`, so a page of the `xmin` column is
/// kept when its minimum ≤ search `xmax` (and so on), and a row when its pages in all four columns are
/// kept. Pages without statistics, with nulls (a row with a null covering value is tested on its
/// geometry) or null counts unknown are kept.
fn covering_page_selection(metadata: &ParquetMetaData, group: usize, leaves: &[usize; 4], search: &[f64; 4]) -> Option<RowSelection> {
    use parquet::file::page_index::column_index::ColumnIndexMetaData;
    let column_index = metadata.column_index()?.get(group)?;
    let offset_index = metadata.offset_index()?.get(group)?;
    let rows = usize::try_from(metadata.row_group(group).num_rows()).ok()?;
    let mut selection: Option<RowSelection> = None;
    for (k, &leaf) in leaves.iter().enumerate() {
        let pages = offset_index.get(leaf)?.page_locations();
        let bound = |min: Option<f64>, max: Option<f64>| match k {
            0 => min.is_none_or(|v| v <= search[2]),
            1 => min.is_none_or(|v| v <= search[3]),
            2 => max.is_none_or(|v| v >= search[0]),
            _ => max.is_none_or(|v| v >= search[1]),
        };
        let keep = |p: usize| -> bool {
            match column_index.get(leaf) {
                Some(ColumnIndexMetaData::DOUBLE(index)) if p < index.num_pages() as usize => {
                    index.is_null_page(p)
                        || index.null_count(p).is_none_or(|n| n != 0)
                        || bound(index.min_value(p).copied(), index.max_value(p).copied())
                }
                Some(ColumnIndexMetaData::FLOAT(index)) if p < index.num_pages() as usize => {
                    index.is_null_page(p)
                        || index.null_count(p).is_none_or(|n| n != 0)
                        || bound(index.min_value(p).map(|v| f64::from(*v)), index.max_value(p).map(|v| f64::from(*v)))
                }
                _ => true,
            }
        };
        let mut ranges = Vec::new();
        for (p, page) in pages.iter().enumerate() {
            let start = usize::try_from(page.first_row_index).ok()?;
            let end = match pages.get(p + 1) {
                Some(next) => usize::try_from(next.first_row_index).ok()?,
                None => rows,
            };
            if start < end && end <= rows && keep(p) {
                ranges.push(start..end);
            }
        }
        let this = RowSelection::from_consecutive_ranges(ranges.into_iter(), rows);
        selection = Some(match selection {
            None => this,
            Some(before) => before.intersection(&this),
        });
    }
    selection
}

/// The row numbers a selection selects.
fn selected_rows(selection: &RowSelection) -> Vec<u64> {
    let mut rows = Vec::new();
    let mut position = 0u64;
    for RowSelector { row_count, skip } in selection.iter().copied() {
        let next = position + row_count as u64;
        if !skip {
            rows.extend(position..next);
        }
        position = next;
    }
    rows
}

/// Compressed bytes that reading `leaves` of row group `group` fetches: with a selection and an offset
/// index, the pages the selection touches (and a dictionary page before them); else the whole chunks.
fn bytes_read(metadata: &ParquetMetaData, group: usize, leaves: &[usize], selection: Option<&RowSelection>) -> u64 {
    let rg = metadata.row_group(group);
    let offset_index = metadata.offset_index().and_then(|o| o.get(group));
    leaves
        .iter()
        .map(|&leaf| {
            let chunk = rg.column(leaf);
            match (selection, offset_index.and_then(|o| o.get(leaf))) {
                (Some(selection), Some(index)) => {
                    let pages = index.page_locations();
                    let (start, _) = chunk.byte_range();
                    let dictionary = pages.first().map_or(0, |first| u64::try_from(first.offset).unwrap_or(0).saturating_sub(start));
                    dictionary + selection.scan_ranges(pages).iter().map(|r| r.end - r.start).sum::<u64>()
                }
                _ => chunk.compressed_size().max(0) as u64,
            }
        })
        .sum()
}

/// Matching rows written to a GeoParquet file: a temporary file beside the target, renamed into place at the end.
struct Export {
    target: PathBuf,
    partial: PathBuf,
    writer: Option<parquet::arrow::ArrowWriter<std::fs::File>>,
    schema: Option<arrow::datatypes::SchemaRef>,
    geo_json: Option<String>,
    geometry: String,
}

impl Export {
    fn new(target: &Path) -> Self {
        let mut partial = target.as_os_str().to_owned();
        partial.push(format!(".partial-{}", std::process::id()));
        Self { target: target.to_path_buf(), partial: PathBuf::from(partial), writer: None, schema: None, geo_json: None, geometry: String::new() }
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<(), String> {
        if self.writer.is_none() {
            // The `geo` metadata goes into the Arrow schema (readers like pyarrow take the embedded schema's
            // metadata); its bbox is left out because it is only known at the end.
            let mut metadata = batch.schema().metadata().clone();
            metadata.insert(GEO_METADATA_KEY.to_string(), self.geo_metadata());
            let schema = Arc::new(batch.schema().as_ref().clone().with_metadata(metadata));
            let file = std::fs::File::create(&self.partial).map_err(|e| format!("creating {}: {e}", self.partial.display()))?;
            let props = parquet::file::properties::WriterProperties::builder()
                .set_compression(parquet::basic::Compression::ZSTD(Default::default()))
                .build();
            let writer = parquet::arrow::ArrowWriter::try_new(file, schema.clone(), Some(props))
                .map_err(|e| format!("writing {}: {e}", self.partial.display()))?;
            self.writer = Some(writer);
            self.schema = Some(schema);
        }
        if let (Some(writer), Some(schema)) = (self.writer.as_mut(), &self.schema) {
            if schema.fields() != batch.schema().fields() {
                return Err(format!(
                    "the matching files have different schemas; export needs one schema ({} vs {})",
                    schema,
                    batch.schema()
                ));
            }
            let batch = batch.clone().with_schema(schema.clone()).map_err(|e| e.to_string())?;
            writer.write(&batch).map_err(|e| format!("writing {}: {e}", self.partial.display()))?;
        }
        Ok(())
    }

    fn geo_metadata(&self) -> String {
        let parsed = self.geo_json.as_deref().and_then(|j| serde_json::from_str::<Value>(j).ok());
        match parsed {
            Some(mut value) => {
                if let Some(column) = value.get_mut("columns").and_then(|c| c.get_mut(&self.geometry)).and_then(Value::as_object_mut) {
                    column.remove("bbox");
                }
                value.to_string()
            }
            None => crate::engine::geo::geoparquet::wkb_column_geo_metadata(&self.geometry, &[], None),
        }
    }

    fn finish(mut self) -> Result<String, String> {
        let Some(writer) = self.writer.take() else {
            return Err("no rows matched: nothing exported".to_string());
        };
        writer.close().map_err(|e| format!("finishing {}: {e}", self.partial.display()))?;
        std::fs::rename(&self.partial, &self.target)
            .map_err(|e| format!("moving {} to {}: {e}", self.partial.display(), self.target.display()))?;
        Ok(self.target.display().to_string())
    }
}

impl Drop for Export {
    fn drop(&mut self) {
        if self.writer.is_some() {
            let _ = std::fs::remove_file(&self.partial);
        }
    }
}


/// The file row index each row group starts at.
fn row_group_offsets(metadata: &ParquetMetaData) -> Vec<u64> {
    metadata
        .row_groups()
        .iter()
        .scan(0u64, |acc, rg| {
            let start = *acc;
            *acc += rg.num_rows().max(0) as u64;
            Some(start)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_cells_give_bboxes() {
        // "u17" is the geohash cell over Leiden / Amsterdam.
        let [w, s, e, n] = geohash_bbox("u17").unwrap();
        assert!((w - 4.21875).abs() < 1e-9 && (e - 5.625).abs() < 1e-9, "{w} {e}");
        assert!((s - 52.03125).abs() < 1e-9 && (n - 53.4375).abs() < 1e-9, "{s} {n}");
        assert!(geohash_bbox("u1a").is_none(), "a is not in the geohash alphabet");
        // Quadkey "1": the north-east quarter of the world.
        let [w, s, e, n] = quadkey_bbox("1").unwrap();
        assert_eq!((w, s, e), (0.0, 0.0, 180.0));
        assert!((n - 85.0511).abs() < 1e-3, "{n}");
        assert!(quadkey_bbox("14").is_none());
        let mut partition = std::collections::BTreeMap::new();
        partition.insert("region".to_string(), Some("north".to_string()));
        assert_eq!(partition_bbox(&partition), None);
        partition.insert("cell_geohash".to_string(), Some("u17".to_string()));
        assert_eq!(partition_bbox(&partition), geohash_bbox("u17"));
    }
}
