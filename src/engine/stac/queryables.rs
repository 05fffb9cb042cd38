//! Queryables: the properties a search can put conditions on (`query` / CQL2 `filter`).
//!
//! A STAC API that declares them (a link with rel [`QUERYABLES_REL`] on its landing page / collection,
//! or the filter conformance class, which requires `/queryables`) is asked for its JSON Schema, and
//! the schema's properties become [`Queryable`]s (name, title, type, enum, minimum, maximum). A static
//! catalog, an item collection file or a stac-geoparquet file has no such document: its queryables are
//! derived from the properties actually present in its items (name and the JSON type observed), and
//! the result says so (`derived: true`). An API that declares none is treated the same way over a
//! sample of its items.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

/// The link relation of a queryables document (OGC API - Features part 3).
pub const QUERYABLES_REL: &str = "http://www.opengis.net/def/rel/ogc/1.0/queryables";

/// Items looked at, at most, to derive the queryables of an API that declares none.
pub const DERIVE_SAMPLE_ITEMS: u64 = 500;

/// One property a search can filter on.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Queryable {
    pub name: String,
    pub title: Option<String>,
    /// JSON Schema type (`string`, `number`, `integer`, `boolean`, `array`, `object`; several joined
    /// with `|`; `null` left out), `geometry` for a GeoJSON geometry, or None when the schema says no type.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// The values allowed, when the schema lists them.
    #[serde(rename = "enum")]
    pub allowed: Option<Vec<Value>>,
    pub minimum: Option<f64>,
    pub maximum: Option<f64>,
    /// `date-time`, `date`, … when the schema gives a string format.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
}

/// The queryables of a source.
#[derive(Clone, Debug, Serialize)]
pub struct QueryablesResult {
    pub source: String,
    pub collection: Option<String>,
    /// True when read off the items (no queryables document): name and observed type only.
    pub derived: bool,
    /// The queryables document read (API only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Items looked at (derived only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub items_scanned: Option<u64>,
    /// Why a declared queryables document was not used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub queryables: Vec<Queryable>,
}

/// Why a queryables document could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{url}: not a queryables JSON Schema ({reason})")]
pub struct QueryablesSchemaError {
    pub url: String,
    pub reason: String,
}

/// The type(s) a schema (or sub-schema) names: `type` (string or list), else those of `anyOf`/`oneOf`;
/// a `$ref` to a GeoJSON schema is `geometry`.
fn schema_types(schema: &Value) -> Vec<String> {
    let mut types: Vec<String> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.clone()],
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        _ => Vec::new(),
    };
    if types.is_empty() {
        for key in ["anyOf", "oneOf"] {
            for sub in schema.get(key).and_then(Value::as_array).into_iter().flatten() {
                for t in schema_types(sub) {
                    if !types.contains(&t) {
                        types.push(t);
                    }
                }
            }
        }
    }
    if types.is_empty()
        && let Some(reference) = schema.get("$ref").and_then(Value::as_str)
    {
        let lower = reference.to_ascii_lowercase();
        if lower.contains("geojson") || lower.contains("geometry") {
            types.push("geometry".to_owned());
        }
    }
    types.retain(|t| t != "null");
    types
}

/// The queryables of a JSON Schema document (its `properties`), sorted by name.
pub fn parse_queryables(url: &str, schema: &Value) -> Result<Vec<Queryable>, QueryablesSchemaError> {
    let error = |reason: &str| QueryablesSchemaError { url: url.to_owned(), reason: reason.to_owned() };
    let Some(object) = schema.as_object() else { return Err(error("the document is not a JSON object")) };
    let Some(properties) = object.get("properties") else { return Err(error("it has no `properties`")) };
    let Some(properties) = properties.as_object() else { return Err(error("`properties` is not an object")) };
    let mut out: Vec<Queryable> = properties
        .iter()
        .map(|(name, property)| {
            let text = |key: &str| property.get(key).and_then(Value::as_str).map(str::to_owned);
            let types = schema_types(property);
            Queryable {
                name: name.clone(),
                title: text("title"),
                kind: (!types.is_empty()).then(|| types.join("|")),
                allowed: property.get("enum").and_then(Value::as_array).cloned(),
                minimum: property.get("minimum").and_then(Value::as_f64),
                maximum: property.get("maximum").and_then(Value::as_f64),
                format: text("format"),
            }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// The JSON type of a value (`integer` for whole numbers).
fn json_type(value: &Value) -> Option<&'static str> {
    Some(match value {
        Value::Null => return None,
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    })
}

/// Queryables derived from the properties of `items` (each an item's `properties` object): every
/// property name seen, with the JSON type(s) observed (`integer` and `number` together are `number`;
/// a property only ever `null` has no type), sorted by name.
pub fn derive_queryables<'a>(items: impl IntoIterator<Item = &'a Map<String, Value>>) -> Vec<Queryable> {
    let mut seen: BTreeMap<String, Vec<&'static str>> = BTreeMap::new();
    for properties in items {
        for (name, value) in properties {
            let types = seen.entry(name.clone()).or_default();
            if let Some(t) = json_type(value)
                && !types.contains(&t)
            {
                types.push(t);
            }
        }
    }
    seen.into_iter()
        .map(|(name, mut types)| {
            if types.contains(&"number") {
                types.retain(|t| *t != "integer");
            }
            types.sort_unstable();
            Queryable {
                name,
                title: None,
                kind: (!types.is_empty()).then(|| types.join("|")),
                allowed: None,
                minimum: None,
                maximum: None,
                format: None,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn schema_properties_become_queryables() {
        let schema = json!({"type": "object", "properties": {
            "eo:cloud_cover": {"type": "number", "title": "Cloud cover", "minimum": 0, "maximum": 100},
            "platform": {"type": "string", "enum": ["a", "b"]},
            "proj:epsg": {"type": ["integer", "null"]},
            "geometry": {"$ref": "https://geojson.org/schema/Feature.json"},
            "datetime": {"type": "string", "format": "date-time"},
            "id": {"$ref": "https://schemas.stacspec.org/item.json#/id"}
        }});
        let q = parse_queryables("u", &schema).unwrap();
        let names: Vec<&str> = q.iter().map(|q| q.name.as_str()).collect();
        assert_eq!(names, ["datetime", "eo:cloud_cover", "geometry", "id", "platform", "proj:epsg"]);
        assert_eq!((q[1].minimum, q[1].maximum, q[1].title.as_deref()), (Some(0.0), Some(100.0), Some("Cloud cover")));
        assert_eq!(q[2].kind.as_deref(), Some("geometry"));
        assert_eq!(q[3].kind, None);
        assert_eq!(q[4].allowed, Some(vec![json!("a"), json!("b")]));
        assert_eq!(q[5].kind.as_deref(), Some("integer"));
        assert_eq!(q[0].format.as_deref(), Some("date-time"));
        assert!(parse_queryables("u", &json!({"type": "object"})).is_err());
    }

    #[test]
    fn derived_queryables_carry_the_observed_types() {
        let a = json!({"eo:cloud_cover": 3, "platform": "x", "flag": null});
        let b = json!({"eo:cloud_cover": 2.5, "tags": ["t"]});
        let items = [a.as_object().unwrap().clone(), b.as_object().unwrap().clone()];
        let q = derive_queryables(items.iter());
        let pairs: Vec<(&str, Option<&str>)> = q.iter().map(|q| (q.name.as_str(), q.kind.as_deref())).collect();
        assert_eq!(pairs, [("eo:cloud_cover", Some("number")), ("flag", None), ("platform", Some("string")), ("tags", Some("array"))]);
    }
}
