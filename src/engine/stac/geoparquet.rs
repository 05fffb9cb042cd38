//! stac-geoparquet sources: a `.parquet` file of STAC items (as `rustac` / `stac-geoparquet` write them:
//! one row per item, core fields as columns, item properties as top-level columns, `geometry` as WKB,
//! `bbox` as a `{xmin, ymin, xmax, ymax}` struct) read back into STAC item JSON, so the catalog tree and the
//! local search treat it like a static catalog.

use std::path::Path;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{
    DataType, Float16Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, TimeUnit,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType, UInt8Type,
    UInt16Type, UInt32Type, UInt64Type,
};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::{Map, Value};

use super::StacError;

/// The top-level columns that are item fields; every other column is an item property.
const ITEM_FIELDS: &[&str] = &["type", "stac_version", "stac_extensions", "id", "geometry", "bbox", "links", "assets", "collection"];

/// Whether `path` names a Parquet file (by its extension).
pub fn is_parquet_path(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| e.eq_ignore_ascii_case("parquet") || e.eq_ignore_ascii_case("geoparquet"))
}

/// Whether a Parquet file holds STAC items: the `stac-geoparquet` metadata key, or the `id`,
/// `stac_version` and `assets` columns.
pub fn is_stac_geoparquet(path: &Path) -> Result<bool, StacError> {
    let file = std::fs::File::open(path).map_err(|source| StacError::Io { path: path.to_path_buf(), source })?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| bad(path, e))?;
    let keyed = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .is_some_and(|kv| kv.iter().any(|k| k.key == "stac-geoparquet"));
    let schema = builder.schema();
    let columns = ["id", "stac_version", "assets"].iter().all(|c| schema.field_with_name(c).is_ok());
    Ok(keyed || columns)
}

fn bad(path: &Path, reason: impl std::fmt::Display) -> StacError {
    StacError::Geoparquet { path: path.to_path_buf(), reason: reason.to_string() }
}

/// Every item of a stac-geoparquet file, as STAC item JSON (at most `max_items`).
pub fn read_items(path: &Path, max_items: usize) -> Result<Vec<Value>, StacError> {
    let file = std::fs::File::open(path).map_err(|source| StacError::Io { path: path.to_path_buf(), source })?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| bad(path, e))?.build().map_err(|e| bad(path, e))?;
    let mut items = Vec::new();
    for batch in reader {
        let batch = unpack_dictionaries(batch.map_err(|e| bad(path, e))?).map_err(|e| bad(path, e))?;
        for row in 0..batch.num_rows() {
            if items.len() >= max_items {
                return Err(StacError::TooLarge { path: path.to_path_buf() });
            }
            items.push(item_from_row(&batch, row).map_err(|reason| bad(path, format!("row {}: {reason}", items.len())))?);
        }
    }
    Ok(items)
}

/// Dictionary-encoded top-level columns (`type`, `collection`, … as rustac writes them) decoded once per batch.
fn unpack_dictionaries(batch: RecordBatch) -> Result<RecordBatch, arrow::error::ArrowError> {
    if !batch.schema().fields().iter().any(|f| matches!(f.data_type(), DataType::Dictionary(_, _))) {
        return Ok(batch);
    }
    let mut fields = Vec::new();
    let mut columns = Vec::new();
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        match field.data_type() {
            DataType::Dictionary(_, value_type) => {
                columns.push(arrow::compute::cast(column, value_type)?);
                fields.push(field.as_ref().clone().with_data_type(value_type.as_ref().clone()));
            }
            _ => {
                columns.push(column.clone());
                fields.push(field.as_ref().clone());
            }
        }
    }
    RecordBatch::try_new(std::sync::Arc::new(arrow::datatypes::Schema::new(fields)), columns)
}

/// One row as a STAC item.
fn item_from_row(batch: &RecordBatch, row: usize) -> Result<Value, String> {
    let mut item = Map::new();
    let mut properties = Map::new();
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        let name = field.name().as_str();
        let value = match name {
            "geometry" => geometry_value(column, row)?,
            "bbox" => bbox_value(column, row)?,
            _ => cell(column, row)?,
        };
        if value.is_null() && name != "geometry" {
            continue;
        }
        if ITEM_FIELDS.contains(&name) {
            item.insert(name.to_owned(), value);
        } else {
            properties.insert(name.to_owned(), value);
        }
    }
    item.entry("type").or_insert_with(|| Value::String("Feature".into()));
    item.entry("geometry").or_insert(Value::Null);
    item.entry("links").or_insert_with(|| Value::Array(Vec::new()));
    item.entry("assets").or_insert_with(|| Value::Object(Map::new()));
    properties.entry("datetime").or_insert(Value::Null);
    item.insert("properties".into(), Value::Object(properties));
    Ok(Value::Object(item))
}

/// WKB (binary column) → GeoJSON geometry.
fn geometry_value(column: &ArrayRef, row: usize) -> Result<Value, String> {
    if column.is_null(row) {
        return Ok(Value::Null);
    }
    let bytes: &[u8] = match column.data_type() {
        DataType::Binary => column.as_binary::<i32>().value(row),
        DataType::LargeBinary => column.as_binary::<i64>().value(row),
        DataType::BinaryView => column.as_binary_view().value(row),
        other => return Err(format!("the geometry column is {other}, not WKB")),
    };
    let geometry = crate::engine::geo::wkb::wkb_to_geometry(bytes, "geometry").map_err(|e| e.to_string())?;
    serde_json::to_value(geojson::Geometry::new(geojson::GeometryValue::from(&geometry))).map_err(|e| e.to_string())
}

/// `{xmin, ymin, [zmin,] xmax, ymax [, zmax]}` struct (or a list) → the item's `bbox` array.
fn bbox_value(column: &ArrayRef, row: usize) -> Result<Value, String> {
    let value = cell(column, row)?;
    let Value::Object(map) = value else { return Ok(value) };
    let names: &[&str] = if map.contains_key("zmin") { &["xmin", "ymin", "zmin", "xmax", "ymax", "zmax"] } else { &["xmin", "ymin", "xmax", "ymax"] };
    let values: Option<Vec<Value>> = names.iter().map(|n| map.get(*n).cloned()).collect();
    values.map(Value::Array).ok_or_else(|| format!("bbox struct has fields {:?}", map.keys().collect::<Vec<_>>()))
}

fn number(value: f64) -> Value {
    serde_json::Number::from_f64(value).map(Value::Number).unwrap_or(Value::Null)
}

fn timestamp(seconds: i64, nanos: u32) -> Value {
    chrono::DateTime::from_timestamp(seconds, nanos)
        .map(|t| Value::String(t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)))
        .unwrap_or(Value::Null)
}

/// One Arrow cell as JSON (nulls inside structs are left out, as a STAC writer leaves absent fields out).
fn cell(column: &dyn Array, row: usize) -> Result<Value, String> {
    if column.is_null(row) {
        return Ok(Value::Null);
    }
    Ok(match column.data_type() {
        DataType::Null => Value::Null,
        DataType::Boolean => Value::Bool(column.as_boolean().value(row)),
        DataType::Int8 => column.as_primitive::<Int8Type>().value(row).into(),
        DataType::Int16 => column.as_primitive::<Int16Type>().value(row).into(),
        DataType::Int32 => column.as_primitive::<Int32Type>().value(row).into(),
        DataType::Int64 => column.as_primitive::<Int64Type>().value(row).into(),
        DataType::UInt8 => column.as_primitive::<UInt8Type>().value(row).into(),
        DataType::UInt16 => column.as_primitive::<UInt16Type>().value(row).into(),
        DataType::UInt32 => column.as_primitive::<UInt32Type>().value(row).into(),
        DataType::UInt64 => column.as_primitive::<UInt64Type>().value(row).into(),
        DataType::Float16 => number(f64::from(column.as_primitive::<Float16Type>().value(row))),
        DataType::Float32 => number(f64::from(column.as_primitive::<Float32Type>().value(row))),
        DataType::Float64 => number(column.as_primitive::<Float64Type>().value(row)),
        DataType::Utf8 => Value::String(column.as_string::<i32>().value(row).to_owned()),
        DataType::LargeUtf8 => Value::String(column.as_string::<i64>().value(row).to_owned()),
        DataType::Utf8View => Value::String(column.as_string_view().value(row).to_owned()),
        DataType::Timestamp(unit, _) => {
            let (seconds, nanos) = match unit {
                TimeUnit::Second => (column.as_primitive::<TimestampSecondType>().value(row), 0),
                TimeUnit::Millisecond => {
                    let v = column.as_primitive::<TimestampMillisecondType>().value(row);
                    (v.div_euclid(1000), (v.rem_euclid(1000) * 1_000_000) as u32)
                }
                TimeUnit::Microsecond => {
                    let v = column.as_primitive::<TimestampMicrosecondType>().value(row);
                    (v.div_euclid(1_000_000), (v.rem_euclid(1_000_000) * 1000) as u32)
                }
                TimeUnit::Nanosecond => {
                    let v = column.as_primitive::<TimestampNanosecondType>().value(row);
                    (v.div_euclid(1_000_000_000), v.rem_euclid(1_000_000_000) as u32)
                }
            };
            timestamp(seconds, nanos)
        }
        DataType::Dictionary(_, _) => {
            let dictionary = column.as_any_dictionary();
            let key = dictionary.normalized_keys().get(row).copied().ok_or("dictionary key out of range")?;
            cell(dictionary.values().as_ref(), key)?
        }
        DataType::List(_) => list(column.as_list::<i32>().value(row).as_ref())?,
        DataType::LargeList(_) => list(column.as_list::<i64>().value(row).as_ref())?,
        DataType::FixedSizeList(_, _) => list(column.as_fixed_size_list().value(row).as_ref())?,
        DataType::Struct(fields) => {
            let array = column.as_struct();
            let mut map = Map::new();
            for (field, child) in fields.iter().zip(array.columns()) {
                let value = cell(child.as_ref(), row)?;
                if !value.is_null() {
                    map.insert(field.name().clone(), value);
                }
            }
            Value::Object(map)
        }
        DataType::Map(_, _) => {
            let entries = column.as_map().value(row);
            let mut map = Map::new();
            for i in 0..entries.len() {
                let key = match cell(entries.column(0).as_ref(), i)? {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                map.insert(key, cell(entries.column(1).as_ref(), i)?);
            }
            Value::Object(map)
        }
        other => return Err(format!("column type {other} is not supported in stac-geoparquet")),
    })
}

fn list(values: &dyn Array) -> Result<Value, String> {
    (0..values.len()).map(|i| cell(values, i)).collect::<Result<Vec<_>, _>>().map(Value::Array)
}
