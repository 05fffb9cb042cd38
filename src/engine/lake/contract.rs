//! Schema contracts (the seed's `spatial_schema`): the columns a table's data must have — names,
//! Arrow types, nullability — and the GeoParquet `geo` metadata of its geometry columns.
//!
//! A contract is read from a JSON or TOML file ([`Contract::load`]) or taken from a table version
//! ([`contract_of`], `meshlake table contract`). [`validate_and_cast`] checks a record batch against it
//! and returns the batch in the contract's shape, or every problem with the column and the reason:
//!
//! - casts are only made between encodings of the same logical type (`utf8` / `large_utf8` /
//!   `utf8_view`, the binary variants, dictionary-encoded values, list variants, struct fields the same
//!   way) — nothing changes a value;
//! - any other type difference is reported: a narrower declared type would truncate (`int64` data for an
//!   `int32` column), a wider one would be an implicit promotion (`int32` data for `int64`);
//! - a column the contract declares non-nullable must hold no null (counted, first row given);
//! - missing columns are reported, so are columns the contract does not name (unless
//!   `allow_extra_columns`).
//!
//! File format (JSON; TOML has the same keys):
//!
//! ```json
//! {"fields": [{"name": "id", "type": "int64", "nullable": false},
//!             {"name": "geometry", "type": "binary", "nullable": true}],
//!  "geo": {"version": "1.1.0", "primary_column": "geometry",
//!          "columns": {"geometry": {"encoding": "WKB", "geometry_types": ["Polygon"]}}},
//!  "allow_extra_columns": false}
//! ```
//!
//! Type names: `bool`, `int8`…`int64`, `uint8`…`uint64`, `float16/32/64` (`float`, `double`), `utf8`
//! (`string`), `large_utf8`, `utf8_view`, `binary`, `large_binary`, `binary_view`, `date32`, `date64`,
//! `timestamp[us]`, `timestamp[us, UTC]` (units `s`, `ms`, `us`, `ns`), or anything Arrow's own
//! `DataType` display form parses (`Struct("xmin": Float64, …)`, `List(Int64)`, `Decimal128(10, 2)` …).

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use arrow::array::{Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Fields, Schema, TimeUnit};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::engine::geo::geoparquet::summarize_geo_metadata;

/// One column of a contract.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ContractField {
    pub name: String,
    /// A type name (see the module documentation).
    #[serde(rename = "type")]
    pub data_type: String,
    #[serde(default = "nullable_default")]
    pub nullable: bool,
}

fn nullable_default() -> bool {
    true
}

/// A schema contract.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Contract {
    pub fields: Vec<ContractField>,
    /// GeoParquet `geo` metadata the files must declare (its per-file `bbox` is not compared).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geo: Option<Value>,
    /// Whether columns the contract does not name are allowed (default: each is a problem).
    #[serde(default)]
    pub allow_extra_columns: bool,
}

/// What is wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ContractProblemKind {
    /// A contract column is not in the data.
    Missing,
    /// A data column the contract does not name.
    Extra,
    /// The data type differs and no lossless cast exists.
    Type,
    /// Nulls in a column the contract declares non-nullable.
    Nullability,
    /// The GeoParquet `geo` metadata differs from the contract's.
    Geo,
}

/// One contract violation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ContractProblem {
    /// The data file (empty when checking a batch on its own).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub file: String,
    pub column: String,
    pub kind: ContractProblemKind,
    pub detail: String,
    /// Rows that violate it (nullability); 0 for schema-level problems.
    pub rows: u64,
    /// The first violating row (0-based, in the batch or file).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_row: Option<u64>,
}

/// Why a contract cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ContractError {
    #[error("reading contract {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("contract {path} is not valid {format}: {detail}")]
    Parse { path: String, format: &'static str, detail: String },
    #[error("contract {context}: column {column:?} has type {data_type:?}, which is not a known type name ({detail})")]
    UnknownType { context: String, column: String, data_type: String, detail: String },
    #[error("contract {context}: column {0:?} is declared twice", context = .1)]
    Duplicate(String, String),
    #[error("contract {context}: `geo` metadata is not usable: {detail}")]
    Geo { context: String, detail: String },
}

impl Contract {
    /// Read a contract from a `.json` or `.toml` file (TOML when the name ends in `.toml`, else JSON).
    pub fn load(path: &Path) -> Result<Self, ContractError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ContractError::Read { path: shown.clone(), source })?;
        let toml = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("toml"));
        Self::parse(&text, toml, &shown)
    }

    /// Parse contract text (`toml`: TOML, else JSON); `context` names it in errors.
    pub fn parse(text: &str, toml: bool, context: &str) -> Result<Self, ContractError> {
        let contract: Contract = if toml {
            ::toml::from_str(text).map_err(|e| ContractError::Parse { path: context.into(), format: "TOML", detail: e.to_string() })?
        } else {
            serde_json::from_str(text).map_err(|e| ContractError::Parse { path: context.into(), format: "JSON", detail: e.to_string() })?
        };
        contract.check(context)?;
        Ok(contract)
    }

    /// Every type parses, no column twice, the `geo` metadata is GeoParquet-shaped.
    pub fn check(&self, context: &str) -> Result<(), ContractError> {
        let mut seen = std::collections::HashSet::new();
        for field in &self.fields {
            if !seen.insert(field.name.as_str()) {
                return Err(ContractError::Duplicate(field.name.clone(), context.into()));
            }
            parse_type(&field.data_type).map_err(|detail| ContractError::UnknownType {
                context: context.into(),
                column: field.name.clone(),
                data_type: field.data_type.clone(),
                detail,
            })?;
        }
        if let Some(geo) = &self.geo {
            summarize_geo_metadata(&geo.to_string(), context)
                .map_err(|e| ContractError::Geo { context: context.into(), detail: e.to_string() })?;
        }
        Ok(())
    }

    /// The contract of an Arrow schema (types in the names [`type_name`] writes) and `geo` JSON (its
    /// per-column `bbox` left out: it describes one file, not the table).
    pub fn from_schema(schema: &Schema, geo_json: Option<&str>) -> Self {
        let fields = schema
            .fields()
            .iter()
            .map(|f| ContractField { name: f.name().clone(), data_type: type_name(f.data_type()), nullable: f.is_nullable() })
            .collect();
        let geo = geo_json.and_then(|j| serde_json::from_str::<Value>(j).ok()).map(|mut value| {
            if let Some(columns) = value.get_mut("columns").and_then(Value::as_object_mut) {
                for column in columns.values_mut() {
                    if let Some(column) = column.as_object_mut() {
                        column.remove("bbox");
                    }
                }
            }
            value
        });
        Self { fields, geo, allow_extra_columns: false }
    }

    /// The contract as an Arrow schema (fails only for a contract that did not pass [`Contract::check`]).
    pub fn arrow_schema(&self) -> Result<Schema, String> {
        let fields: Result<Vec<Field>, String> = self
            .fields
            .iter()
            .map(|f| Ok(Field::new(&f.name, parse_type(&f.data_type)?, f.nullable)))
            .collect();
        Ok(Schema::new(fields?))
    }

    /// Problems of a schema (and the file's `geo` JSON) before any row is read: missing, extra and
    /// mistyped columns, `geo` metadata differences.
    pub fn check_schema(&self, schema: &Schema, geo_json: Option<&str>) -> Vec<ContractProblem> {
        let mut problems = Vec::new();
        for field in &self.fields {
            let Ok(wanted) = parse_type(&field.data_type) else { continue };
            match schema.field_with_name(&field.name) {
                Err(_) => problems.push(problem(&field.name, ContractProblemKind::Missing, "not in the data".into())),
                Ok(actual) => {
                    if let Err(detail) = cast_plan(actual.data_type(), &wanted) {
                        problems.push(problem(&field.name, ContractProblemKind::Type, detail));
                    }
                }
            }
        }
        if !self.allow_extra_columns {
            for field in schema.fields() {
                if !self.fields.iter().any(|f| &f.name == field.name()) {
                    problems.push(problem(
                        field.name(),
                        ContractProblemKind::Extra,
                        format!("{} column not named in the contract", type_name(field.data_type())),
                    ));
                }
            }
        }
        if let Some(geo) = &self.geo {
            problems.extend(check_geo(geo, geo_json));
        }
        problems
    }
}

fn problem(column: &str, kind: ContractProblemKind, detail: String) -> ContractProblem {
    ContractProblem { file: String::new(), column: column.to_string(), kind, detail, rows: 0, first_row: None }
}

/// Compare a file's `geo` JSON with the contract's: per contract geometry column its presence,
/// encoding, CRS and geometry types (the file's declared types must be among the contract's), and the
/// primary column.
pub fn check_geo(contract: &Value, file_geo: Option<&str>) -> Vec<ContractProblem> {
    let Ok(wanted) = summarize_geo_metadata(&contract.to_string(), "contract") else { return vec![] };
    let Some(file_geo) = file_geo else {
        return wanted
            .iter()
            .map(|c| problem(&c.name, ContractProblemKind::Geo, "no GeoParquet `geo` metadata; the contract declares a geometry column".into()))
            .collect();
    };
    let actual = match summarize_geo_metadata(file_geo, "file") {
        Ok(actual) => actual,
        Err(e) => {
            let column = wanted.first().map(|c| c.name.clone()).unwrap_or_default();
            return vec![problem(&column, ContractProblemKind::Geo, format!("`geo` metadata unreadable: {e}"))];
        }
    };
    let mut problems = Vec::new();
    for want in &wanted {
        let Some(have) = actual.iter().find(|a| a.name == want.name) else {
            problems.push(problem(&want.name, ContractProblemKind::Geo, "not a geometry column in the `geo` metadata".into()));
            continue;
        };
        if !want.encoding.eq_ignore_ascii_case(&have.encoding) {
            problems.push(problem(&want.name, ContractProblemKind::Geo, format!("encoding {}, the contract says {}", have.encoding, want.encoding)));
        }
        if want.crs != have.crs {
            problems.push(problem(
                &want.name,
                ContractProblemKind::Geo,
                format!("CRS {}, the contract says {}", have.crs.as_deref().unwrap_or("null (unknown)"), want.crs.as_deref().unwrap_or("null (unknown)")),
            ));
        }
        if !want.geometry_types.is_empty() {
            if have.geometry_types.is_empty() {
                problems.push(problem(
                    &want.name,
                    ContractProblemKind::Geo,
                    format!("geometry_types [] (any), the contract allows only {}", want.geometry_types.join(", ")),
                ));
            } else {
                let extra: Vec<&str> =
                    have.geometry_types.iter().filter(|t| !want.geometry_types.contains(t)).map(String::as_str).collect();
                if !extra.is_empty() {
                    problems.push(problem(
                        &want.name,
                        ContractProblemKind::Geo,
                        format!("geometry_types include {}, the contract allows only {}", extra.join(", "), want.geometry_types.join(", ")),
                    ));
                }
            }
        }
        if want.primary && !have.primary {
            problems.push(problem(&want.name, ContractProblemKind::Geo, "not the primary_column, the contract's primary column".into()));
        }
    }
    problems
}

/// Check a batch against a contract and return it in the contract's shape (its columns in its order,
/// lossless encoding casts made, non-nullable fields), or every problem found.
pub fn validate_and_cast(batch: &RecordBatch, contract: &Contract) -> Result<RecordBatch, Vec<ContractProblem>> {
    let mut problems = contract.check_schema(batch.schema().as_ref(), None);
    problems.retain(|p| p.kind != ContractProblemKind::Geo);
    let mut fields = Vec::with_capacity(contract.fields.len());
    let mut columns = Vec::with_capacity(contract.fields.len());
    for field in &contract.fields {
        let (Ok(wanted), Some(column)) = (parse_type(&field.data_type), batch.column_by_name(&field.name)) else { continue };
        let Ok(()) = cast_plan(column.data_type(), &wanted) else { continue };
        let cast = if column.data_type() == &wanted {
            column.clone()
        } else {
            match arrow::compute::cast(column, &wanted) {
                Ok(cast) => cast,
                Err(e) => {
                    problems.push(problem(
                        &field.name,
                        ContractProblemKind::Type,
                        format!("{} → {}: {e}", type_name(column.data_type()), field.data_type),
                    ));
                    continue;
                }
            }
        };
        if !field.nullable && cast.null_count() > 0 {
            let first = (0..cast.len()).find(|&i| cast.is_null(i)).map(|i| i as u64);
            problems.push(ContractProblem {
                rows: cast.null_count() as u64,
                first_row: first,
                ..problem(&field.name, ContractProblemKind::Nullability, format!("{} null value(s) in a non-nullable column", cast.null_count()))
            });
            continue;
        }
        fields.push(Field::new(&field.name, wanted, field.nullable));
        columns.push(cast);
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(|e| {
        vec![problem("", ContractProblemKind::Type, format!("building the cast batch: {e}"))]
    })
}

/// Whether `actual` data can be cast to `wanted` without changing any value: `Ok` when it is the same
/// type or another encoding of it, else why not.
pub fn cast_plan(actual: &DataType, wanted: &DataType) -> Result<(), String> {
    if actual == wanted || logical(actual) == logical(wanted) {
        return Ok(());
    }
    let (a, w) = (type_name(actual), type_name(wanted));
    let why = match (width(actual), width(wanted)) {
        (Some((fa, ba)), Some((fw, bw))) if fa == fw && ba < bw => "no implicit promotion".to_string(),
        (Some((fa, ba)), Some((fw, bw))) if fa == fw && ba > bw => "values could be truncated".to_string(),
        (Some(_), Some(_)) => "a numeric conversion can change values".to_string(),
        _ => match (actual, wanted) {
            (DataType::Timestamp(ua, za), DataType::Timestamp(uw, zw)) if ua != uw && za == zw => {
                "a different time unit (values would be rescaled or truncated)".to_string()
            }
            (DataType::Timestamp(..), DataType::Timestamp(..)) => "a different time zone".to_string(),
            _ => "no lossless cast".to_string(),
        },
    };
    Err(format!("{a}, the contract says {w}: {why}"))
}

/// Numeric family (0 signed int, 1 unsigned int, 2 float, 3 decimal) and width in bits.
fn width(t: &DataType) -> Option<(u8, u16)> {
    use DataType::*;
    Some(match t {
        Int8 => (0, 8),
        Int16 => (0, 16),
        Int32 => (0, 32),
        Int64 => (0, 64),
        UInt8 => (1, 8),
        UInt16 => (1, 16),
        UInt32 => (1, 32),
        UInt64 => (1, 64),
        Float16 => (2, 16),
        Float32 => (2, 32),
        Float64 => (2, 64),
        Decimal32(p, _) | Decimal64(p, _) | Decimal128(p, _) | Decimal256(p, _) => (3, u16::from(*p)),
        _ => return None,
    })
}

/// The logical type: string/binary/list encodings and dictionaries folded, nested nullability and
/// field metadata ignored (top-level nullability is checked on the values).
fn logical(t: &DataType) -> DataType {
    use DataType::*;
    let item = |f: &Field| Arc::new(Field::new("item", logical(f.data_type()), true));
    match t {
        LargeUtf8 | Utf8View => Utf8,
        LargeBinary | BinaryView => Binary,
        Dictionary(_, values) => logical(values),
        List(f) | LargeList(f) | ListView(f) | LargeListView(f) => List(item(f)),
        FixedSizeList(f, n) => FixedSizeList(item(f), *n),
        Struct(fields) => Struct(Fields::from(
            fields.iter().map(|f| Field::new(f.name(), logical(f.data_type()), true)).collect::<Vec<_>>(),
        )),
        other => other.clone(),
    }
}

/// The name a contract uses for a type (parsed back by [`parse_type`]).
pub fn type_name(t: &DataType) -> String {
    use DataType::*;
    let unit = |u: &TimeUnit| match u {
        TimeUnit::Second => "s",
        TimeUnit::Millisecond => "ms",
        TimeUnit::Microsecond => "us",
        TimeUnit::Nanosecond => "ns",
    };
    match t {
        Boolean => "bool".into(),
        Int8 => "int8".into(),
        Int16 => "int16".into(),
        Int32 => "int32".into(),
        Int64 => "int64".into(),
        UInt8 => "uint8".into(),
        UInt16 => "uint16".into(),
        UInt32 => "uint32".into(),
        UInt64 => "uint64".into(),
        Float16 => "float16".into(),
        Float32 => "float32".into(),
        Float64 => "float64".into(),
        Utf8 => "utf8".into(),
        LargeUtf8 => "large_utf8".into(),
        Utf8View => "utf8_view".into(),
        Binary => "binary".into(),
        LargeBinary => "large_binary".into(),
        BinaryView => "binary_view".into(),
        Date32 => "date32".into(),
        Date64 => "date64".into(),
        Timestamp(u, None) => format!("timestamp[{}]", unit(u)),
        Timestamp(u, Some(tz)) => format!("timestamp[{}, {tz}]", unit(u)),
        other => other.to_string(),
    }
}

/// Parse a contract type name.
pub fn parse_type(text: &str) -> Result<DataType, String> {
    use DataType::*;
    let t = text.trim();
    let simple = match t.to_ascii_lowercase().as_str() {
        "bool" | "boolean" => Some(Boolean),
        "int8" | "byte" | "tinyint" => Some(Int8),
        "int16" | "short" | "smallint" => Some(Int16),
        "int32" | "int" | "integer" => Some(Int32),
        "int64" | "long" | "bigint" => Some(Int64),
        "uint8" => Some(UInt8),
        "uint16" => Some(UInt16),
        "uint32" => Some(UInt32),
        "uint64" => Some(UInt64),
        "float16" | "halffloat" => Some(Float16),
        "float32" | "float" | "real" => Some(Float32),
        "float64" | "double" => Some(Float64),
        "utf8" | "string" | "str" => Some(Utf8),
        "large_utf8" | "large_string" => Some(LargeUtf8),
        "utf8_view" | "string_view" => Some(Utf8View),
        "binary" | "bytes" | "wkb" => Some(Binary),
        "large_binary" => Some(LargeBinary),
        "binary_view" => Some(BinaryView),
        "date32" | "date" => Some(Date32),
        "date64" => Some(Date64),
        _ => None,
    };
    if let Some(simple) = simple {
        return Ok(simple);
    }
    if let Some(inner) = t.strip_prefix("timestamp[").and_then(|r| r.strip_suffix(']')) {
        let mut parts = inner.splitn(2, ',');
        let unit = match parts.next().unwrap_or_default().trim() {
            "s" => TimeUnit::Second,
            "ms" => TimeUnit::Millisecond,
            "us" => TimeUnit::Microsecond,
            "ns" => TimeUnit::Nanosecond,
            other => return Err(format!("unknown time unit {other:?} (s, ms, us, ns)")),
        };
        let tz = parts.next().map(|z| Arc::from(z.trim()));
        return Ok(Timestamp(unit, tz));
    }
    DataType::from_str(t).map_err(|e| e.to_string())
}

/// Contract problems gathered over a whole table: one entry per (file, column, kind) with exact row
/// counts; the list is capped, the total count is not.
#[derive(Debug, Default)]
pub struct ProblemTally {
    entries: BTreeMap<(String, String, ContractProblemKind), ContractProblem>,
    order: Vec<(String, String, ContractProblemKind)>,
    /// Rows (nullability) and schema-level problems counted in total.
    pub total: u64,
}

impl ProblemTally {
    /// Add problems of `file`; `row_base` is added to first rows (batch → file row numbers).
    pub fn add(&mut self, file: &str, row_base: u64, problems: Vec<ContractProblem>) {
        for mut p in problems {
            let key = (file.to_string(), p.column.clone(), p.kind);
            self.total += p.rows.max(u64::from(!self.entries.contains_key(&key) && p.rows == 0));
            match self.entries.get_mut(&key) {
                Some(existing) => {
                    existing.rows += p.rows;
                    if existing.first_row.is_none() {
                        existing.first_row = p.first_row.map(|r| r + row_base);
                    }
                    if p.kind == ContractProblemKind::Nullability {
                        existing.detail = format!("{} null value(s) in a non-nullable column", existing.rows);
                    }
                }
                None => {
                    p.file = file.to_string();
                    p.first_row = p.first_row.map(|r| r + row_base);
                    self.order.push(key.clone());
                    self.entries.insert(key, p);
                }
            }
        }
    }

    /// The problems in the order first seen, at most `cap`.
    pub fn into_list(mut self, cap: usize) -> (Vec<ContractProblem>, bool) {
        let truncated = self.order.len() > cap;
        let list = self.order.iter().take(cap).filter_map(|k| self.entries.remove(k)).collect();
        (list, truncated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{BinaryArray, Int32Array, Int64Array, LargeStringArray, StringArray};

    fn contract() -> Contract {
        Contract::parse(
            r#"{"fields":[{"name":"id","type":"int64","nullable":false},{"name":"name","type":"string"},
                {"name":"geometry","type":"binary"}],
               "geo":{"version":"1.1.0","primary_column":"geometry","columns":{"geometry":{"encoding":"WKB","geometry_types":["Polygon"]}}}}"#,
            false,
            "test",
        )
        .unwrap()
    }

    fn batch(id: Arc<dyn Array>, name: Arc<dyn Array>) -> RecordBatch {
        let geometry = Arc::new(BinaryArray::from(vec![&b"\x01"[..], &b"\x01"[..]]));
        let schema = Schema::new(vec![
            Field::new("id", id.data_type().clone(), true),
            Field::new("name", name.data_type().clone(), true),
            Field::new("geometry", DataType::Binary, true),
        ]);
        RecordBatch::try_new(Arc::new(schema), vec![id, name, geometry]).unwrap()
    }

    #[test]
    fn encodings_cast_values_never_change() {
        let ok = batch(Arc::new(Int64Array::from(vec![1, 2])), Arc::new(LargeStringArray::from(vec!["a", "b"])));
        let cast = validate_and_cast(&ok, &contract()).unwrap();
        assert_eq!(cast.schema().field(1).data_type(), &DataType::Utf8);
        assert!(!cast.schema().field(0).is_nullable());

        let promoted = batch(Arc::new(Int32Array::from(vec![1, 2])), Arc::new(StringArray::from(vec!["a", "b"])));
        let problems = validate_and_cast(&promoted, &contract()).unwrap_err();
        assert_eq!(problems.len(), 1);
        assert_eq!((problems[0].column.as_str(), problems[0].kind), ("id", ContractProblemKind::Type));
        assert!(problems[0].detail.contains("no implicit promotion"), "{}", problems[0].detail);

        let nulls = batch(Arc::new(Int64Array::from(vec![Some(1), None])), Arc::new(StringArray::from(vec!["a", "b"])));
        let problems = validate_and_cast(&nulls, &contract()).unwrap_err();
        assert_eq!((problems[0].kind, problems[0].rows, problems[0].first_row), (ContractProblemKind::Nullability, 1, Some(1)));
    }

    #[test]
    fn narrowing_missing_and_extra_columns_are_named() {
        let mut c = contract();
        c.fields[0].data_type = "int32".into();
        c.fields.push(ContractField { name: "area".into(), data_type: "double".into(), nullable: true });
        c.fields.retain(|f| f.name != "name");
        let b = batch(Arc::new(Int64Array::from(vec![1, 2])), Arc::new(StringArray::from(vec!["a", "b"])));
        let problems = validate_and_cast(&b, &c).unwrap_err();
        let kinds: Vec<(&str, ContractProblemKind)> = problems.iter().map(|p| (p.column.as_str(), p.kind)).collect();
        assert!(kinds.contains(&("id", ContractProblemKind::Type)), "{kinds:?}");
        assert!(kinds.contains(&("area", ContractProblemKind::Missing)), "{kinds:?}");
        assert!(kinds.contains(&("name", ContractProblemKind::Extra)), "{kinds:?}");
        assert!(problems.iter().any(|p| p.detail.contains("truncated")));
    }

    #[test]
    fn geo_metadata_is_compared() {
        let c = contract();
        let lying = r#"{"version":"1.1.0","primary_column":"geometry","columns":{"geometry":{"encoding":"WKB","geometry_types":["Point"],"crs":null}}}"#;
        let problems = check_geo(c.geo.as_ref().unwrap(), Some(lying));
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(check_geo(c.geo.as_ref().unwrap(), None)[0].detail.contains("no GeoParquet"));
        let same = r#"{"version":"1.0.0","primary_column":"geometry","columns":{"geometry":{"encoding":"WKB","geometry_types":["Polygon"],"bbox":[0,0,1,1]}}}"#;
        assert!(check_geo(c.geo.as_ref().unwrap(), Some(same)).is_empty());
    }

    #[test]
    fn toml_and_type_names_round_trip() {
        let toml = r#"
            allow_extra_columns = true
            [[fields]]
            name = "t"
            type = "timestamp[us, UTC]"
            nullable = false
            [[fields]]
            name = "bbox"
            type = 'Struct("xmin": Float64, "ymin": Float64)'
            [geo]
            version = "1.1.0"
            primary_column = "geometry"
            [geo.columns.geometry]
            encoding = "WKB"
            geometry_types = []
        "#;
        let c = Contract::parse(toml, true, "t.toml").unwrap();
        assert!(c.allow_extra_columns);
        for f in &c.fields {
            let t = parse_type(&f.data_type).unwrap();
            assert_eq!(parse_type(&type_name(&t)).unwrap(), t);
        }
        assert!(Contract::parse(r#"{"fields":[{"name":"a","type":"nonsense"}]}"#, false, "x").is_err());
        assert!(Contract::parse(r#"{"fields":[{"name":"a","type":"int"},{"name":"a","type":"int"}]}"#, false, "x").is_err());
    }
}
