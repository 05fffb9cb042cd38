//! The GeoParquet `geo` key-value metadata (GeoParquet 1.1): building it for the files we write and
//! summarising it for the files we read.
//!
//! CRS rule (GeoParquet 1.1, `crs` field): when the key is absent the CRS is `OGC:CRS84`
//! (longitude/latitude, WGS 84); an explicit `null` means "unknown". Our lon/lat data is written
//! without a `crs` key, which is the spec's way of saying CRS84 — EPSG:4326 proper has
//! latitude/longitude axis order, so its PROJJSON would describe the coordinates wrongly.

use serde::Serialize;
use serde_json::{Value, json};

use super::GeoError;

/// The Parquet key-value metadata key that holds the GeoParquet JSON.
pub const GEO_METADATA_KEY: &str = "geo";
/// The GeoParquet version we write.
pub const GEOPARQUET_VERSION: &str = "1.1.0";
/// What an absent `crs` means per the GeoParquet spec.
pub const DEFAULT_CRS: &str = "OGC:CRS84";

/// One geometry column as described by a file's GeoParquet metadata.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GeometryColumnSummary {
    /// Column name.
    pub name: String,
    /// `WKB` or a GeoArrow encoding name (`point`, `polygon`, …).
    pub encoding: String,
    /// `OGC:CRS84` when the metadata has no `crs` key, `AUTHORITY:CODE` or the PROJJSON `name`
    /// when it has one, `None` when it is explicitly `null` (unknown CRS).
    pub crs: Option<String>,
    /// Geometry types present, e.g. `["Polygon"]`; empty means "any".
    pub geometry_types: Vec<String>,
    /// `[xmin, ymin, xmax, ymax]` when the metadata has a 2D bbox.
    pub bbox: Option<[f64; 4]>,
    /// Whether this is the `primary_column`.
    pub primary: bool,
}

/// Build the GeoParquet 1.1 `geo` JSON for a single WKB geometry column in lon/lat (CRS84).
pub fn wkb_column_geo_metadata(
    column: &str,
    geometry_types: &[&str],
    bbox: Option<[f64; 4]>,
) -> String {
    let mut column_meta = json!({
        "encoding": "WKB",
        "geometry_types": geometry_types,
    });
    if let (Some(bbox), Some(object)) = (bbox, column_meta.as_object_mut()) {
        object.insert("bbox".to_string(), json!(bbox));
    }
    json!({
        "version": GEOPARQUET_VERSION,
        "primary_column": column,
        "columns": { column: column_meta },
    })
    .to_string()
}

/// Summarise the geometry columns of a GeoParquet `geo` JSON. `context` (e.g. the file path) is
/// used in error messages.
pub fn summarize_geo_metadata(
    geo_json: &str,
    context: &str,
) -> Result<Vec<GeometryColumnSummary>, GeoError> {
    let value: Value = serde_json::from_str(geo_json).map_err(|source| GeoError::GeoMetadata {
        context: context.to_string(),
        source,
    })?;
    let primary_column = value
        .get("primary_column")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let Some(columns) = value.get("columns").and_then(Value::as_object) else {
        return Err(GeoError::GeoMetadata {
            context: context.to_string(),
            source: <serde_json::Error as serde::de::Error>::custom("missing `columns` object"),
        });
    };
    let mut summaries: Vec<GeometryColumnSummary> = columns
        .iter()
        .map(|(name, column)| GeometryColumnSummary {
            name: name.clone(),
            encoding: column
                .get("encoding")
                .and_then(Value::as_str)
                .unwrap_or("WKB")
                .to_string(),
            crs: describe_crs(column.get("crs")),
            geometry_types: column
                .get("geometry_types")
                .and_then(Value::as_array)
                .map(|types| {
                    types
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
            bbox: column
                .get("bbox")
                .and_then(Value::as_array)
                .and_then(|b| bbox_2d(b)),
            primary: name == primary_column,
        })
        .collect();
    summaries.sort_by_key(|summary| !summary.primary);
    Ok(summaries)
}

/// The 2D bbox of the primary geometry column in a parquet file's GeoParquet `geo` metadata (only
/// the footer is read); `None` when the file has no such metadata or cannot be read.
pub fn footer_bbox(path: &std::path::Path) -> Option<[f64; 4]> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let file = std::fs::File::open(path).ok()?;
    let reader = SerializedFileReader::new(file).ok()?;
    let metadata = reader.metadata().file_metadata().key_value_metadata()?;
    let geo = metadata.iter().find(|kv| kv.key == GEO_METADATA_KEY)?.value.as_deref()?;
    let columns = summarize_geo_metadata(geo, &path.display().to_string()).ok()?;
    columns.into_iter().find(|c| c.primary).and_then(|c| c.bbox)
}

/// The geometry columns a Parquet footer describes: those of its GeoParquet `geo` metadata, else its
/// top-level columns of Parquet's native `GEOMETRY` logical type (WKB, CRS from the type, the first
/// one primary). `context` names the file in errors.
pub fn geometry_columns_in_footer(
    metadata: &parquet::file::metadata::ParquetMetaData,
    context: &str,
) -> Result<Vec<GeometryColumnSummary>, GeoError> {
    let file_value = |key: &str| {
        metadata
            .file_metadata()
            .key_value_metadata()?
            .iter()
            .find(|entry| entry.key == key)
            .and_then(|entry| entry.value.clone())
    };
    if let Some(json) = file_value(GEO_METADATA_KEY) {
        return summarize_geo_metadata(&json, context);
    }
    let descr = metadata.file_metadata().schema_descr();
    let natives = (0..descr.num_columns())
        .map(|i| descr.column(i))
        .filter(|column| column.path().parts().len() == 1)
        .filter_map(|column| match column.logical_type_ref() {
            Some(parquet::basic::LogicalType::Geometry(geometry)) => Some((column.name().to_string(), geometry.crs.clone())),
            _ => None,
        });
    Ok(natives
        .enumerate()
        .map(|(index, (name, crs))| GeometryColumnSummary {
            name,
            encoding: "WKB".to_string(),
            crs: native_geometry_crs(crs.as_deref(), file_value),
            geometry_types: Vec::new(),
            bbox: None,
            primary: index == 0,
        })
        .collect())
}

/// The CRS of a column of Parquet's native `GEOMETRY` logical type (GeoParquet 2.0), described like
/// a `geo` metadata CRS: unset means `OGC:CRS84`; `srid:N` is taken as `EPSG:N`; `projjson:KEY`
/// names a file metadata entry holding PROJJSON (looked up with `file_value`); a PROJJSON object
/// inline; any other text (`EPSG:4326`, `OGC:CRS84`) as it is.
pub fn native_geometry_crs(crs: Option<&str>, file_value: impl Fn(&str) -> Option<String>) -> Option<String> {
    let crs = crs.map(str::trim).filter(|c| !c.is_empty());
    let Some(crs) = crs else {
        return Some(DEFAULT_CRS.to_string());
    };
    if let Some(code) = crs.strip_prefix("srid:") {
        return Some(format!("EPSG:{code}"));
    }
    if let Some(key) = crs.strip_prefix("projjson:") {
        return match file_value(key).and_then(|text| serde_json::from_str::<Value>(&text).ok()) {
            Some(projjson) => describe_crs(Some(&projjson)),
            None => Some(crs.to_string()),
        };
    }
    match serde_json::from_str::<Value>(crs) {
        Ok(projjson @ Value::Object(_)) => describe_crs(Some(&projjson)),
        _ => Some(crs.to_string()),
    }
}

/// A short description of a GeoParquet `crs` value (see [`GeometryColumnSummary::crs`]).
fn describe_crs(crs: Option<&Value>) -> Option<String> {
    match crs {
        None => Some(DEFAULT_CRS.to_string()),
        Some(Value::Null) => None,
        Some(Value::String(text)) => Some(text.clone()),
        Some(projjson) => {
            let id = projjson.get("id");
            let authority = id
                .and_then(|id| id.get("authority"))
                .and_then(Value::as_str);
            let code = id.and_then(|id| id.get("code")).map(|code| match code {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            });
            match (authority, code) {
                (Some(authority), Some(code)) => Some(format!("{authority}:{code}")),
                _ => projjson
                    .get("name")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .or_else(|| Some("PROJJSON (no id)".to_string())),
            }
        }
    }
}

/// `[xmin, ymin, xmax, ymax]` from a 4- or 6-number GeoParquet bbox.
fn bbox_2d(values: &[Value]) -> Option<[f64; 4]> {
    let numbers: Vec<f64> = values.iter().filter_map(Value::as_f64).collect();
    match numbers.as_slice() {
        [xmin, ymin, xmax, ymax] => Some([*xmin, *ymin, *xmax, *ymax]),
        [xmin, ymin, _zmin, xmax, ymax, _zmax] => Some([*xmin, *ymin, *xmax, *ymax]),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_metadata_summarises_back() {
        let json =
            wkb_column_geo_metadata("geometry", &["Polygon"], Some([4.48, 52.15, 4.75, 52.3]));
        let value: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["version"], "1.1.0");
        assert_eq!(value["primary_column"], "geometry");
        assert!(value["columns"]["geometry"].get("crs").is_none());
        let summary = summarize_geo_metadata(&json, "test").unwrap();
        assert_eq!(summary.len(), 1);
        assert_eq!(summary[0].crs.as_deref(), Some("OGC:CRS84"));
        assert_eq!(summary[0].geometry_types, vec!["Polygon"]);
        assert_eq!(summary[0].bbox, Some([4.48, 52.15, 4.75, 52.3]));
        assert!(summary[0].primary);
    }

    #[test]
    fn projjson_and_null_crs() {
        let json = r#"{"version":"1.0.0","primary_column":"g","columns":{
            "g":{"encoding":"WKB","geometry_types":[],"crs":{"name":"WGS 84","id":{"authority":"EPSG","code":4326}}},
            "h":{"encoding":"WKB","geometry_types":[],"crs":null}}}"#;
        let summary = summarize_geo_metadata(json, "test").unwrap();
        assert_eq!(summary[0].crs.as_deref(), Some("EPSG:4326"));
        assert_eq!(summary[1].crs, None);
    }

    #[test]
    fn native_geometry_crs_forms() {
        let none = |_: &str| None;
        assert_eq!(native_geometry_crs(None, none).as_deref(), Some("OGC:CRS84"));
        assert_eq!(native_geometry_crs(Some("srid:3857"), none).as_deref(), Some("EPSG:3857"));
        assert_eq!(native_geometry_crs(Some("EPSG:32633"), none).as_deref(), Some("EPSG:32633"));
        let projjson = r#"{"name":"WGS 84 / UTM 33N","id":{"authority":"EPSG","code":32633}}"#;
        assert_eq!(native_geometry_crs(Some(projjson), none).as_deref(), Some("EPSG:32633"));
        let lookup = |key: &str| (key == "crs_a").then(|| projjson.to_string());
        assert_eq!(native_geometry_crs(Some("projjson:crs_a"), lookup).as_deref(), Some("EPSG:32633"));
        assert_eq!(native_geometry_crs(Some("projjson:missing"), lookup).as_deref(), Some("projjson:missing"));
    }

    #[test]
    fn broken_json_names_the_file() {
        let err = summarize_geo_metadata("{", "part-0.parquet").unwrap_err();
        assert!(err.to_string().contains("part-0.parquet"), "{err}");
    }
}
