//! STAC validation: an item, collection or catalog JSON checked against the core JSON schema of its
//! `stac_version` and the extension schemas it lists in `stac_extensions`.
//!
//! The core schemas of STAC 1.0.0 and 1.1.0 (and the GeoJSON schemas they use) ship with meshlake
//! (`assets/stac-schemas`, from the pystac wheels), so those versions validate offline. Any other schema
//! (extensions, other core versions, what those schemas `$ref`) is fetched over HTTP with the STAC client
//! (User-Agent, retries, size cap) and kept in `<cache>/stac-schemas`. A schema that cannot be had is a
//! problem of the document ("… could not be fetched: …"), never a silent pass.
//!
//! `MESHLAKE_STAC_SCHEMA_MAP="PREFIX=TARGET;…"` maps schema URLs starting with `PREFIX` to a local folder
//! or another base URL (`TARGET` + the rest of the URL): an offline mirror, and how the tests serve
//! extension schemas.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::{Method, Url};
use serde::Serialize;
use serde_json::Value;

use super::api::{ApiOptions, PageRequest, RetryPolicy, StacApiClient, StacApiError};
use crate::engine::jobs::CancelToken;

/// Schemas fetched for one document at most (a guard against `$ref` chains that never end).
const MAX_SCHEMAS: usize = 200;
/// A schema larger than this is refused.
const MAX_SCHEMA_BYTES: u64 = 8 * 1024 * 1024;

/// Problems that stop a validation before any schema is applied.
#[derive(Debug, thiserror::Error)]
pub enum StacValidateError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{href} is not JSON ({reason}); validate a STAC item, collection or catalog JSON file")]
    NotJson { href: String, reason: String },
    #[error(transparent)]
    Api(#[from] StacApiError),
}

/// One reason a document does not validate.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ValidationProblem {
    /// JSON pointer into the document (`""` for the document itself).
    pub path: String,
    pub message: String,
    /// The schema that raised it (absent for problems found before any schema applies).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
}

/// The verdict on one STAC document.
#[derive(Clone, Debug, Serialize)]
pub struct StacValidation {
    pub href: String,
    pub valid: bool,
    pub stac_version: Option<String>,
    /// `item`, `collection` or `catalog`.
    pub kind: Option<String>,
    /// The schemas the document was checked against (core first, then its extensions).
    pub schemas: Vec<String>,
    pub problems: Vec<ValidationProblem>,
}

macro_rules! bundled {
    ($($url:literal => $file:literal),* $(,)?) => {
        &[$(($url, include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/stac-schemas/", $file)))),*]
    };
}

/// The schemas shipped with meshlake, by the URL they are published at.
const BUNDLED: &[(&str, &str)] = bundled! {
    "https://geojson.org/schema/Feature.json" => "geojson/Feature.json",
    "https://geojson.org/schema/Geometry.json" => "geojson/Geometry.json",
    "https://schemas.stacspec.org/v1.0.0/item-spec/json-schema/item.json" => "v1.0.0/item.json",
    "https://schemas.stacspec.org/v1.0.0/item-spec/json-schema/basics.json" => "v1.0.0/basics.json",
    "https://schemas.stacspec.org/v1.0.0/item-spec/json-schema/datetime.json" => "v1.0.0/datetime.json",
    "https://schemas.stacspec.org/v1.0.0/item-spec/json-schema/instrument.json" => "v1.0.0/instrument.json",
    "https://schemas.stacspec.org/v1.0.0/item-spec/json-schema/licensing.json" => "v1.0.0/licensing.json",
    "https://schemas.stacspec.org/v1.0.0/item-spec/json-schema/provider.json" => "v1.0.0/provider.json",
    "https://schemas.stacspec.org/v1.0.0/catalog-spec/json-schema/catalog.json" => "v1.0.0/catalog.json",
    "https://schemas.stacspec.org/v1.0.0/collection-spec/json-schema/collection.json" => "v1.0.0/collection.json",
    "https://schemas.stacspec.org/v1.1.0/item-spec/json-schema/item.json" => "v1.1.0/item.json",
    "https://schemas.stacspec.org/v1.1.0/item-spec/json-schema/bands.json" => "v1.1.0/bands.json",
    "https://schemas.stacspec.org/v1.1.0/item-spec/json-schema/basics.json" => "v1.1.0/basics.json",
    "https://schemas.stacspec.org/v1.1.0/item-spec/json-schema/common.json" => "v1.1.0/common.json",
    "https://schemas.stacspec.org/v1.1.0/item-spec/json-schema/data-values.json" => "v1.1.0/data-values.json",
    "https://schemas.stacspec.org/v1.1.0/item-spec/json-schema/datetime.json" => "v1.1.0/datetime.json",
    "https://schemas.stacspec.org/v1.1.0/item-spec/json-schema/instrument.json" => "v1.1.0/instrument.json",
    "https://schemas.stacspec.org/v1.1.0/item-spec/json-schema/licensing.json" => "v1.1.0/licensing.json",
    "https://schemas.stacspec.org/v1.1.0/item-spec/json-schema/provider.json" => "v1.1.0/provider.json",
    "https://schemas.stacspec.org/v1.1.0/catalog-spec/json-schema/catalog.json" => "v1.1.0/catalog.json",
    "https://schemas.stacspec.org/v1.1.0/collection-spec/json-schema/collection.json" => "v1.1.0/collection.json",
};

/// The URLs of the shipped schemas.
pub fn bundled_schema_urls() -> impl Iterator<Item = &'static str> {
    BUNDLED.iter().map(|(url, _)| *url)
}

/// The URL of the core schema of a STAC `kind` (`item`, `collection`, `catalog`) at `version`.
pub fn core_schema_url(version: &str, kind: &str) -> String {
    format!("https://schemas.stacspec.org/v{version}/{kind}-spec/json-schema/{kind}.json")
}

/// A URL without its fragment (`…/item.json#` and `…/item.json` name one document).
fn document_url(url: &str) -> String {
    url.split('#').next().unwrap_or(url).to_owned()
}

/// Where schemas come from: shipped, the `MESHLAKE_STAC_SCHEMA_MAP` mapping, the cache, then HTTP.
pub struct SchemaSource {
    mappings: Vec<(String, String)>,
    cache_dir: Option<PathBuf>,
    client: Option<StacApiClient>,
}

impl SchemaSource {
    /// From the environment: the mapping variable and `<cache>/stac-schemas`.
    pub fn from_env() -> Self {
        let mappings = std::env::var("MESHLAKE_STAC_SCHEMA_MAP")
            .map(|text| parse_mappings(&text))
            .unwrap_or_default();
        let cache_dir = crate::engine::settings::AppPaths::from_env().ok().map(|p| p.cache_dir.join("stac-schemas"));
        Self { mappings, cache_dir, client: None }
    }

    /// Offline: shipped schemas and the given mappings only (no cache, no HTTP).
    pub fn offline(mappings: Vec<(String, String)>) -> Self {
        Self { mappings, cache_dir: None, client: None }
    }

    fn client(&mut self, url: &Url) -> Result<&StacApiClient, StacApiError> {
        if self.client.is_none() {
            let options = ApiOptions {
                retry: RetryPolicy { max_attempts: 2, base_delay: Duration::from_millis(300), max_delay: Duration::from_secs(5) },
                connect_timeout: Duration::from_secs(5),
                request_timeout: Duration::from_secs(20),
                max_response_bytes: MAX_SCHEMA_BYTES,
            };
            self.client = Some(StacApiClient::without_landing(url.clone(), options)?);
        }
        self.client.as_ref().ok_or_else(|| StacApiError::BadUrl { url: url.to_string(), reason: "no HTTP client".into() })
    }

    fn cache_file(&self, url: &str) -> Option<PathBuf> {
        let name: String = url
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_' { c } else { '_' })
            .collect();
        self.cache_dir.as_ref().map(|dir| dir.join(name))
    }

    /// One schema document, parsed.
    async fn fetch(&mut self, url: &str, cancel: &CancelToken) -> Result<Value, String> {
        if let Some((_, text)) = BUNDLED.iter().find(|(u, _)| *u == url) {
            return serde_json::from_str(text).map_err(|e| format!("shipped schema is not JSON: {e}"));
        }
        let mut target = url.to_owned();
        if let Some((prefix, to)) = self.mappings.iter().find(|(prefix, _)| url.starts_with(prefix.as_str())) {
            let rest = &url[prefix.len()..];
            if to.starts_with("http://") || to.starts_with("https://") {
                target = format!("{to}{rest}");
            } else {
                let path = Path::new(to).join(rest);
                let bytes = std::fs::read(&path).map_err(|e| format!("{} (mapped to {}): {e}", url, path.display()))?;
                return serde_json::from_slice(&bytes).map_err(|e| format!("{} is not JSON: {e}", path.display()));
            }
        }
        let cache_file = if target == url { self.cache_file(url) } else { None };
        if let Some(file) = &cache_file
            && let Ok(bytes) = std::fs::read(file)
            && let Ok(value) = serde_json::from_slice::<Value>(&bytes)
        {
            return Ok(value);
        }
        let parsed = Url::parse(&target).map_err(|e| format!("not a URL: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(format!("{target} is not an http(s) URL"));
        }
        let request = PageRequest { method: Method::GET, url: parsed.clone(), body: None, headers: Vec::new() };
        let bytes = self.client(&parsed).map_err(|e| e.to_string())?.send(&request, cancel).await.map_err(|e| e.to_string())?;
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| format!("the answer is not JSON: {e}"))?;
        if let Some(file) = cache_file {
            write_cache(&file, &bytes);
        }
        Ok(value)
    }
}

/// `PREFIX=TARGET;PREFIX=TARGET` pairs.
pub fn parse_mappings(text: &str) -> Vec<(String, String)> {
    text.split(';')
        .filter_map(|pair| {
            let (prefix, target) = pair.split_once('=')?;
            let (prefix, target) = (prefix.trim(), target.trim());
            (!prefix.is_empty() && !target.is_empty()).then(|| (prefix.to_owned(), target.to_owned()))
        })
        .collect()
}

/// Keep a fetched schema (written to a temporary file, then renamed); a cache that cannot be written is skipped.
fn write_cache(file: &Path, bytes: &[u8]) {
    let Some(dir) = file.parent() else { return };
    if std::fs::create_dir_all(dir).is_err() {
        return;
    }
    let temp = file.with_extension(format!("tmp{}", std::process::id()));
    if std::fs::write(&temp, bytes).is_err() || std::fs::rename(&temp, file).is_err() {
        let _ = std::fs::remove_file(&temp);
    }
}

/// The JSON Schema meta-schemas (`http://json-schema.org/draft-07/schema`, …) the validator knows itself.
fn is_meta_schema(url: &str) -> bool {
    let rest = url.trim_start_matches("http://").trim_start_matches("https://");
    rest.starts_with("json-schema.org/")
}

/// Every `$ref` in a schema, resolved against `base` (fragments dropped; local `#…` refs skipped).
fn remote_refs(schema: &Value, base: &Url) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![schema];
    while let Some(value) = stack.pop() {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(reference)) = map.get("$ref")
                    && !reference.starts_with('#')
                    && let Ok(url) = base.join(reference)
                {
                    out.push(document_url(url.as_str()));
                }
                stack.extend(map.values());
            }
            Value::Array(values) => stack.extend(values),
            _ => {}
        }
    }
    out
}

/// The schemas `root` needs (itself and all it refers to, transitively), or why one could not be had.
async fn gather(root: &str, source: &mut SchemaSource, store: &mut HashMap<String, Value>, cancel: &CancelToken) -> Result<(), String> {
    let mut queue = VecDeque::from([document_url(root)]);
    while let Some(url) = queue.pop_front() {
        if store.contains_key(&url) || is_meta_schema(&url) {
            continue;
        }
        if store.len() >= MAX_SCHEMAS {
            return Err(format!("more than {MAX_SCHEMAS} schemas are referenced"));
        }
        let schema = source.fetch(&url, cancel).await.map_err(|e| if url == document_url(root) { e } else { format!("{url}: {e}") })?;
        // Refs resolve against the schema's own `$id` when it has one (a few published ones are misspelt,
        // so the URL it was fetched from is the fallback).
        let base = schema
            .get("$id")
            .and_then(Value::as_str)
            .and_then(|id| Url::parse(id).ok())
            .or_else(|| Url::parse(&url).ok());
        if let Some(base) = base {
            for reference in remote_refs(&schema, &base) {
                if !store.contains_key(&reference) && !queue.contains(&reference) {
                    queue.push_back(reference);
                }
            }
        }
        store.insert(url, schema);
    }
    Ok(())
}

/// Serves gathered schemas to the validator (everything was fetched beforehand; nothing is fetched here).
struct StoreRetriever(HashMap<String, Value>);

impl jsonschema::Retrieve for StoreRetriever {
    fn retrieve(&self, uri: &jsonschema::Uri<String>) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        let url = document_url(uri.as_str());
        self.0.get(&url).cloned().ok_or_else(|| format!("schema {url} was not fetched").into())
    }
}

/// The validator's message, without a copy of a large offending value (an `anyOf`/`oneOf` failure of a
/// whole item would otherwise repeat the item): such a value is named by its JSON type instead.
fn short_message(err: &jsonschema::ValidationError<'_>) -> String {
    let message = err.to_string();
    let shown = err.instance.to_string();
    if shown.len() <= 80 || !message.starts_with(&shown) {
        return message;
    }
    let kind = match err.instance.as_ref() {
        Value::Object(_) => "the object",
        Value::Array(_) => "the array",
        Value::String(_) => "the string",
        _ => "the value",
    };
    format!("{kind}{}", &message[shown.len()..])
}

/// Apply one schema (`url`, already in `store`) to the document.
fn apply(url: &str, document: &Value, store: &HashMap<String, Value>) -> Vec<ValidationProblem> {
    let Some(schema) = store.get(&document_url(url)) else {
        return vec![ValidationProblem { path: String::new(), message: format!("schema {url} was not fetched"), schema: Some(url.to_owned()) }];
    };
    let mut options = jsonschema::options().should_validate_formats(true).with_retriever(StoreRetriever(store.clone()));
    for (other, value) in store {
        if let Ok(resource) = jsonschema::Resource::from_contents(value.clone()) {
            options = options.with_resource(other.clone(), resource);
        }
    }
    let validator = match options.build(schema) {
        Ok(validator) => validator,
        Err(err) => {
            return vec![ValidationProblem {
                path: String::new(),
                message: format!("schema {url} cannot be used: {err}"),
                schema: Some(url.to_owned()),
            }];
        }
    };
    let mut problems: Vec<ValidationProblem> = validator
        .iter_errors(document)
        .map(|err| ValidationProblem { path: err.instance_path.to_string(), message: short_message(&err), schema: Some(url.to_owned()) })
        .collect();
    problems.sort_by(|a, b| a.path.cmp(&b.path).then_with(|| a.message.cmp(&b.message)));
    problems.dedup();
    problems
}

/// Validate one parsed STAC document (`href` names it in the report).
pub async fn validate_value(href: &str, document: &Value, source: &mut SchemaSource, cancel: &CancelToken) -> Result<StacValidation, StacApiError> {
    let mut report = StacValidation {
        href: href.to_owned(),
        valid: false,
        stac_version: None,
        kind: None,
        schemas: Vec::new(),
        problems: Vec::new(),
    };
    let problem = |path: &str, message: String| ValidationProblem { path: path.to_owned(), message, schema: None };
    let Some(object) = document.as_object() else {
        report.problems.push(problem("", "a STAC document is a JSON object".into()));
        return Ok(report);
    };
    let kind = match object.get("type").and_then(Value::as_str) {
        Some("Feature") => Some("item"),
        Some("Collection") => Some("collection"),
        Some("Catalog") => Some("catalog"),
        Some(other) => {
            report.problems.push(problem("/type", format!("\"{other}\" is not a STAC type (Feature, Collection or Catalog)")));
            None
        }
        None => {
            report.problems.push(problem("/type", "missing: a STAC document has \"type\" Feature, Collection or Catalog".into()));
            None
        }
    };
    report.kind = kind.map(str::to_owned);
    let version = match object.get("stac_version") {
        Some(Value::String(v)) => Some(v.clone()),
        Some(other) => {
            report.problems.push(problem("/stac_version", format!("{other} is not a string")));
            None
        }
        None => {
            report.problems.push(problem("/stac_version", "missing: the STAC version decides which schemas apply".into()));
            None
        }
    };
    report.stac_version = version.clone();
    let mut targets: Vec<(String, &'static str)> = Vec::new();
    if let (Some(kind), Some(version)) = (kind, &version) {
        targets.push((core_schema_url(version, kind), "core"));
    }
    match object.get("stac_extensions") {
        None => {}
        Some(Value::Array(extensions)) => {
            for (i, extension) in extensions.iter().enumerate() {
                match extension.as_str() {
                    Some(url) if url.starts_with("http://") || url.starts_with("https://") => targets.push((url.to_owned(), "extension")),
                    _ => report.problems.push(problem(
                        &format!("/stac_extensions/{i}"),
                        format!("{extension} is not an extension schema URL (STAC 1.0 lists extensions by the URL of their schema)"),
                    )),
                }
            }
        }
        Some(other) => report.problems.push(problem("/stac_extensions", format!("{other} is not an array of schema URLs"))),
    }
    let mut store: HashMap<String, Value> = HashMap::new();
    for (url, role) in targets {
        if cancel.is_cancelled() {
            return Err(StacApiError::Cancelled);
        }
        report.schemas.push(url.clone());
        if let Err(reason) = gather(&url, source, &mut store, cancel).await {
            report.problems.push(ValidationProblem {
                path: if role == "core" { String::new() } else { "/stac_extensions".to_owned() },
                message: format!("{role} schema {url} could not be fetched: {reason}"),
                schema: Some(url.clone()),
            });
            continue;
        }
        report.problems.extend(apply(&url, document, &store));
    }
    report.valid = report.problems.is_empty();
    Ok(report)
}

/// Validate the STAC document at `href` (a local path, `file://` URL or http(s) URL).
pub async fn validate_href(href: &str, source: &mut SchemaSource, cancel: &CancelToken) -> Result<StacValidation, StacValidateError> {
    let bytes = if href.starts_with("http://") || href.starts_with("https://") {
        let url = Url::parse(href).map_err(|e| StacApiError::BadUrl { url: href.to_owned(), reason: e.to_string() })?;
        let client = StacApiClient::without_landing(url.clone(), ApiOptions::default())?;
        client.send(&PageRequest { method: Method::GET, url, body: None, headers: Vec::new() }, cancel).await?
    } else {
        let path = PathBuf::from(href.strip_prefix("file://").unwrap_or(href));
        let path = if path.is_dir() { path.join("catalog.json") } else { path };
        std::fs::read(&path).map_err(|source| StacValidateError::Io { path, source })?
    };
    let document: Value =
        serde_json::from_slice(&bytes).map_err(|e| StacValidateError::NotJson { href: href.to_owned(), reason: e.to_string() })?;
    Ok(validate_value(href, &document, source, cancel).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread().enable_all().build().map(|rt| rt.block_on(future)).unwrap()
    }

    fn item_1_1() -> Value {
        serde_json::json!({
            "type": "Feature", "stac_version": "1.1.0", "id": "a", "bbox": [0.0, 0.0, 1.0, 1.0],
            "geometry": {"type": "Point", "coordinates": [0.5, 0.5]},
            "properties": {"datetime": "2020-01-01T00:00:00Z"}, "links": [], "assets": {}
        })
    }

    #[test]
    fn bundled_schemas_parse_and_a_minimal_item_is_valid_offline() {
        for (url, text) in BUNDLED {
            assert!(serde_json::from_str::<Value>(text).is_ok(), "{url}");
        }
        let mut source = SchemaSource::offline(Vec::new());
        let report = block_on(validate_value("mem", &item_1_1(), &mut source, &CancelToken::default())).unwrap();
        assert!(report.valid, "{:?}", report.problems);
    }

    #[test]
    fn missing_id_and_string_bbox_are_reported_with_their_paths() {
        let mut item = item_1_1();
        item.as_object_mut().unwrap().remove("id");
        item["bbox"] = Value::String("0,0,1,1".into());
        let mut source = SchemaSource::offline(Vec::new());
        let report = block_on(validate_value("mem", &item, &mut source, &CancelToken::default())).unwrap();
        assert!(!report.valid);
        assert!(report.problems.iter().any(|p| p.path.is_empty() && p.message.contains("\"id\"")), "{:?}", report.problems);
        assert!(report.problems.iter().any(|p| p.path == "/bbox"), "{:?}", report.problems);
    }

    #[test]
    fn an_unfetchable_extension_schema_is_a_problem_not_a_pass() {
        let mut item = item_1_1();
        item["stac_extensions"] = serde_json::json!(["https://example.invalid/ext/v1.0.0/schema.json"]);
        let dir = tempfile::tempdir().unwrap();
        let mappings = vec![("https://example.invalid/".to_owned(), dir.path().display().to_string())];
        let mut source = SchemaSource::offline(mappings);
        let report = block_on(validate_value("mem", &item, &mut source, &CancelToken::default())).unwrap();
        assert!(!report.valid);
        assert!(report.problems[0].message.starts_with("extension schema https://example.invalid/ext/v1.0.0/schema.json could not be fetched"));
    }

    #[test]
    fn mappings_parse() {
        assert_eq!(parse_mappings("a=b; c = d;bad"), vec![("a".into(), "b".into()), ("c".into(), "d".into())]);
    }
}
