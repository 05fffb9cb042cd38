//! STAC item search parameters and their local evaluation.
//!
//! [`SearchParams`] is what a search asks for (the STAC API item-search parameters plus `max_items`).
//! The same parameters are sent to an API (see [`super::api`]) or evaluated here over items held
//! locally: a static catalog, an item collection file, or the pages of an API that does not declare
//! the `query` or `filter` conformance class (the result says where each part was applied).
//! `query` is the query extension (`{"eo:cloud_cover": {"lt": 20}}`), typed on the command line as
//! `eo:cloud_cover<20`; `filter` is CQL2 JSON, evaluated locally with the `cql2` crate.

use std::cmp::Ordering;

use geo::{BoundingRect, Intersects};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::AssetSummary;

/// Problems with the search parameters themselves.
#[derive(Debug, thiserror::Error)]
pub enum SearchParamError {
    #[error("query {text:?}: {reason} (write it like eo:cloud_cover<20, several joined with commas)")]
    Query { text: String, reason: String },
    #[error("filter is not valid CQL2 JSON (nor CQL2 text): {0}")]
    Filter(String),
    #[error("datetime {text:?} is not an RFC 3339 instant or interval (like 2023-01-01T00:00:00Z/2023-12-31T23:59:59Z or 2023-01-01/..): {reason}")]
    Datetime { text: String, reason: String },
    #[error("intersects is not a GeoJSON geometry: {0}")]
    Intersects(String),
    #[error("bbox must be MINX,MINY,MAXX,MAXY (4 numbers): {0}")]
    Bbox(String),
}

/// An item search: the STAC API item-search parameters plus an overall cap on returned items.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SearchParams {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub collections: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ids: Vec<String>,
    /// lon/lat `[minx, miny, maxx, maxy]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bbox: Option<[f64; 4]>,
    /// A GeoJSON geometry in lon/lat.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intersects: Option<Value>,
    /// An RFC 3339 instant or interval (`A/B`, `../B`, `A/..`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datetime: Option<String>,
    /// The query extension object: `{"eo:cloud_cover": {"lt": 20}}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<Map<String, Value>>,
    /// A CQL2 JSON expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<Value>,
    /// Sort fields, `-` first for descending: `-properties.datetime`, `id`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sortby: Vec<String>,
    /// Items per page asked of the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
    /// Items returned overall at most.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_items: Option<u64>,
}

/// Where a part of the search was evaluated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Applied {
    /// Sent to the server, which declares the conformance class.
    Server,
    /// Evaluated by meshlake over the returned items.
    Local,
}

impl Applied {
    pub fn as_str(self) -> &'static str {
        match self {
            Applied::Server => "server",
            Applied::Local => "local",
        }
    }
}

/// One item of a search result: what the table shows, the footprint and what the detail view needs.
#[derive(Clone, Debug, Serialize)]
pub struct StacItemSummary {
    pub id: String,
    pub collection: Option<String>,
    pub datetime: Option<String>,
    pub cloud_cover: Option<f64>,
    pub bbox: Option<[f64; 4]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// All properties (for the detail view).
    #[serde(skip)]
    pub properties: Map<String, Value>,
    #[serde(skip)]
    pub assets: Vec<AssetSummary>,
    /// The item's `self` link, when it has one.
    #[serde(skip)]
    pub self_href: Option<String>,
    #[serde(skip)]
    pub footprint: Option<geo::Geometry<f64>>,
}

impl StacItemSummary {
    /// Summarize one item's JSON. `resolve` turns an asset href into the one to open (or None to
    /// refuse it, e.g. a local file named by a remote catalog).
    pub fn from_value(item: &Value, resolve: &dyn Fn(&str) -> Option<String>) -> Self {
        let properties = item.get("properties").and_then(Value::as_object).cloned().unwrap_or_default();
        let text = |key: &str| properties.get(key).and_then(Value::as_str).map(str::to_owned);
        let footprint = item
            .get("geometry")
            .filter(|g| !g.is_null())
            .and_then(|g| serde_json::from_value::<geojson::Geometry>(g.clone()).ok())
            .and_then(|g| geo::Geometry::<f64>::try_from(g).ok());
        let bbox = item.get("bbox").and_then(bbox_of_value).or_else(|| {
            footprint.as_ref().and_then(|g| g.bounding_rect()).map(|r| [r.min().x, r.min().y, r.max().x, r.max().y])
        });
        let mut assets = Vec::new();
        if let Some(map) = item.get("assets").and_then(Value::as_object) {
            for (key, asset) in map {
                let Some(href) = asset.get("href").and_then(Value::as_str) else { continue };
                let Some(resolved) = resolve(href) else {
                    tracing::warn!(asset = %key, href, "asset href refused: a remote catalog may not name local files");
                    continue;
                };
                let strings = |field: &str| -> Vec<String> {
                    asset
                        .get(field)
                        .and_then(Value::as_array)
                        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                        .unwrap_or_default()
                };
                let mut common_names = Vec::new();
                for bands in ["eo:bands", "bands"] {
                    for band in asset.get(bands).and_then(Value::as_array).into_iter().flatten() {
                        for field in ["common_name", "eo:common_name"] {
                            if let Some(name) = band.get(field).and_then(Value::as_str)
                                && !common_names.iter().any(|n| n == name)
                            {
                                common_names.push(name.to_owned());
                            }
                        }
                    }
                }
                assets.push(AssetSummary {
                    key: key.clone(),
                    href: href.to_owned(),
                    resolved,
                    media_type: asset.get("type").and_then(Value::as_str).map(str::to_owned),
                    title: asset.get("title").and_then(Value::as_str).map(str::to_owned),
                    roles: strings("roles"),
                    common_names,
                });
            }
        }
        let self_href = item
            .get("links")
            .and_then(Value::as_array)
            .and_then(|links| links.iter().find(|l| l.get("rel").and_then(Value::as_str) == Some("self")))
            .and_then(|l| l.get("href"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        StacItemSummary {
            id: item.get("id").and_then(Value::as_str).unwrap_or_default().to_owned(),
            collection: item.get("collection").and_then(Value::as_str).map(str::to_owned),
            datetime: text("datetime").or_else(|| text("start_datetime")),
            cloud_cover: properties.get("eo:cloud_cover").and_then(Value::as_f64),
            bbox,
            platform: text("platform"),
            properties,
            assets,
            self_href,
            footprint,
        }
    }
}

fn bbox_of_value(value: &Value) -> Option<[f64; 4]> {
    let numbers: Vec<f64> = value.as_array()?.iter().filter_map(Value::as_f64).collect();
    match numbers.as_slice() {
        [a, b, c, d] => Some([*a, *b, *c, *d]),
        [a, b, _, d, e, _] => Some([*a, *b, *d, *e]),
        _ => None,
    }
}

/// Complete a datetime typed by a person: date-only ends become whole days (`2024-01-01/2024-01-31` →
/// `2024-01-01T00:00:00Z/2024-01-31T23:59:59Z`, `2024-05-01` → that day), `..` and RFC 3339 stay.
pub fn normalize_datetime(text: &str) -> Result<String, SearchParamError> {
    let error = |reason: String| SearchParamError::Datetime { text: text.to_owned(), reason };
    let end_of = |part: &str, start: bool| -> Result<String, SearchParamError> {
        let part = part.trim();
        if part.is_empty() || part == ".." {
            return Ok("..".to_owned());
        }
        if chrono::DateTime::parse_from_rfc3339(part).is_ok() {
            return Ok(part.to_owned());
        }
        let date = chrono::NaiveDate::parse_from_str(part, "%Y-%m-%d").map_err(|e| error(format!("{part:?}: {e}")))?;
        Ok(if start { format!("{date}T00:00:00Z") } else { format!("{date}T23:59:59Z") })
    };
    let text = text.trim();
    match text.split_once('/') {
        Some((a, b)) => Ok(format!("{}/{}", end_of(a, true)?, end_of(b, false)?)),
        None if chrono::DateTime::parse_from_rfc3339(text).is_ok() => Ok(text.to_owned()),
        None => Ok(format!("{}/{}", end_of(text, true)?, end_of(text, false)?)),
    }
}

/// Parse `MINX,MINY,MAXX,MAXY`.
pub fn parse_bbox(text: &str) -> Result<[f64; 4], SearchParamError> {
    let numbers: Result<Vec<f64>, _> = text.split(',').map(|p| p.trim().parse::<f64>()).collect();
    match numbers.map_err(|e| SearchParamError::Bbox(format!("{text:?}: {e}")))?.as_slice() {
        [a, b, c, d] => Ok([*a, *b, *c, *d]),
        other => Err(SearchParamError::Bbox(format!("{text:?} has {} numbers", other.len()))),
    }
}

/// Parse `eo:cloud_cover<20, platform=sentinel-2a` into the query extension's object
/// (`{"eo:cloud_cover": {"lt": 20}, "platform": {"eq": "sentinel-2a"}}`). A JSON object is taken as it is.
pub fn parse_query(text: &str) -> Result<Map<String, Value>, SearchParamError> {
    let error = |reason: &str| SearchParamError::Query { text: text.to_owned(), reason: reason.to_owned() };
    let trimmed = text.trim();
    if trimmed.starts_with('{') {
        return match serde_json::from_str::<Value>(trimmed) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) => Err(error("a JSON query must be an object")),
            Err(e) => Err(error(&format!("not valid JSON: {e}"))),
        };
    }
    let mut out = Map::new();
    let clauses = trimmed.split(',').flat_map(|c| c.split(" and ")).flat_map(|c| c.split(" AND "));
    for clause in clauses.map(str::trim).filter(|c| !c.is_empty()) {
        // Two-character operators first, so `<=` is not read as `<`.
        let operators = [("<=", "lte"), (">=", "gte"), ("!=", "neq"), ("<", "lt"), (">", "gt"), ("=", "eq")];
        let Some((at, symbol, op)) =
            operators.iter().filter_map(|(s, op)| clause.find(s).map(|at| (at, *s, *op))).min_by_key(|(at, _, _)| *at)
        else {
            return Err(error(&format!("{clause:?} has no operator (< <= > >= = !=)")));
        };
        let property = clause[..at].trim();
        let raw = clause[at + symbol.len()..].trim();
        if property.is_empty() || raw.is_empty() {
            return Err(error(&format!("{clause:?} needs a property and a value")));
        }
        let value = if let Ok(number) = raw.parse::<f64>() {
            serde_json::Number::from_f64(number).map(Value::Number).ok_or_else(|| error("not a finite number"))?
        } else if raw == "true" || raw == "false" {
            Value::Bool(raw == "true")
        } else {
            Value::String(raw.trim_matches(|c| c == '"' || c == '\'').to_owned())
        };
        let entry = out.entry(property.to_owned()).or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(ops) = entry {
            ops.insert(op.to_owned(), value);
        }
    }
    if out.is_empty() {
        return Err(error("no clause"));
    }
    Ok(out)
}

/// Parse a CQL2 filter: JSON as it is, or CQL2 text converted to JSON.
pub fn parse_filter(text: &str) -> Result<Value, SearchParamError> {
    let expr: cql2::Expr = if text.trim_start().starts_with('{') {
        cql2::parse_json(text).map_err(|e| SearchParamError::Filter(e.to_string()))?
    } else {
        cql2::parse_text(text).map_err(|e| SearchParamError::Filter(e.to_string()))?
    };
    expr.to_value().map_err(|e| SearchParamError::Filter(e.to_string()))
}

/// The parts of a search evaluated over items held in memory.
pub struct LocalMatcher {
    collections: Vec<String>,
    ids: Vec<String>,
    bbox: Option<geo::Rect<f64>>,
    intersects: Option<geo::Geometry<f64>>,
    datetime: Option<(Option<chrono::DateTime<chrono::Utc>>, Option<chrono::DateTime<chrono::Utc>>)>,
    query: Option<Map<String, Value>>,
    filter: Option<cql2::Expr>,
}

impl LocalMatcher {
    /// A matcher for everything in `params` (a static source: nothing was sent anywhere).
    pub fn all(params: &SearchParams) -> Result<Self, SearchParamError> {
        let mut matcher = Self::only(params, true, true)?;
        matcher.collections = params.collections.clone();
        matcher.ids = params.ids.clone();
        matcher.bbox = params.bbox.map(|[a, b, c, d]| geo::Rect::new((a, b), (c, d)));
        matcher.intersects = match &params.intersects {
            Some(value) => Some(
                serde_json::from_value::<geojson::Geometry>(value.clone())
                    .map_err(|e| SearchParamError::Intersects(e.to_string()))
                    .and_then(|g| geo::Geometry::try_from(g).map_err(|e| SearchParamError::Intersects(e.to_string())))?,
            ),
            None => None,
        };
        matcher.datetime = match &params.datetime {
            Some(text) => Some(
                stac::datetime::parse(&normalize_datetime(text)?)
                    .map_err(|e| SearchParamError::Datetime { text: text.clone(), reason: e.to_string() })?,
            ),
            None => None,
        };
        Ok(matcher)
    }

    /// A matcher for only the `query` and/or `filter` parts (the rest was applied by a server).
    pub fn only(params: &SearchParams, query: bool, filter: bool) -> Result<Self, SearchParamError> {
        let filter = match (&params.filter, filter) {
            (Some(value), true) => Some(
                serde_json::from_value::<cql2::Expr>(value.clone()).map_err(|e| SearchParamError::Filter(e.to_string()))?,
            ),
            _ => None,
        };
        Ok(Self {
            collections: Vec::new(),
            ids: Vec::new(),
            bbox: None,
            intersects: None,
            datetime: None,
            query: if query { params.query.clone() } else { None },
            filter,
        })
    }

    /// Whether this matcher checks anything at all.
    pub fn is_empty(&self) -> bool {
        self.collections.is_empty()
            && self.ids.is_empty()
            && self.bbox.is_none()
            && self.intersects.is_none()
            && self.datetime.is_none()
            && self.query.is_none()
            && self.filter.is_none()
    }

    /// Whether an item's JSON (and its summary) passes every check.
    pub fn matches(&self, item: &Value, summary: &StacItemSummary) -> bool {
        if !self.collections.is_empty() && !summary.collection.as_ref().is_some_and(|c| self.collections.contains(c)) {
            return false;
        }
        if !self.ids.is_empty() && !self.ids.contains(&summary.id) {
            return false;
        }
        if let Some(rect) = &self.bbox {
            let hit = match (&summary.footprint, summary.bbox) {
                (Some(footprint), _) => footprint.intersects(rect),
                (None, Some([a, b, c, d])) => geo::Rect::new((a, b), (c, d)).intersects(rect),
                (None, None) => false,
            };
            if !hit {
                return false;
            }
        }
        if let Some(geometry) = &self.intersects
            && !summary.footprint.as_ref().is_some_and(|f| f.intersects(geometry))
        {
            return false;
        }
        if let Some((start, end)) = &self.datetime
            && !datetime_matches(&summary.properties, *start, *end)
        {
            return false;
        }
        if let Some(query) = &self.query
            && !query_matches(query, item)
        {
            return false;
        }
        if let Some(filter) = &self.filter {
            // An expression that cannot be decided for this item is not a match.
            return filter.clone().matches(Some(item)).unwrap_or(false);
        }
        true
    }
}

fn parse_time(value: Option<&Value>) -> Option<chrono::DateTime<chrono::Utc>> {
    value
        .and_then(Value::as_str)
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&chrono::Utc))
}

fn datetime_matches(
    properties: &Map<String, Value>,
    start: Option<chrono::DateTime<chrono::Utc>>,
    end: Option<chrono::DateTime<chrono::Utc>>,
) -> bool {
    let instant = parse_time(properties.get("datetime"));
    let item_start = parse_time(properties.get("start_datetime")).or(instant);
    let item_end = parse_time(properties.get("end_datetime")).or(instant);
    if item_start.is_none() && item_end.is_none() {
        return false;
    }
    if let (Some(start), Some(item_end)) = (start, item_end)
        && item_end < start
    {
        return false;
    }
    if let (Some(end), Some(item_start)) = (end, item_start)
        && item_start > end
    {
        return false;
    }
    true
}

/// The value of a field named as in `query` or `sortby`: `properties.x`, `x` (a property), or a
/// top-level member (`id`, `collection`).
fn field<'a>(item: &'a Value, name: &str) -> Option<&'a Value> {
    let name = name.strip_prefix("properties.").unwrap_or(name);
    item.get("properties").and_then(|p| p.get(name)).or_else(|| item.get(name))
}

fn compare_values(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

/// The query extension's operators over one item.
fn query_matches(query: &Map<String, Value>, item: &Value) -> bool {
    query.iter().all(|(name, ops)| {
        let Some(value) = field(item, name) else { return false };
        let Some(ops) = ops.as_object() else { return false };
        ops.iter().all(|(op, operand)| match op.as_str() {
            "eq" => compare_values(value, operand) == Some(Ordering::Equal) || value == operand,
            "neq" => compare_values(value, operand) != Some(Ordering::Equal) && value != operand,
            "lt" => compare_values(value, operand) == Some(Ordering::Less),
            "lte" => matches!(compare_values(value, operand), Some(Ordering::Less | Ordering::Equal)),
            "gt" => compare_values(value, operand) == Some(Ordering::Greater),
            "gte" => matches!(compare_values(value, operand), Some(Ordering::Greater | Ordering::Equal)),
            "in" => operand.as_array().is_some_and(|a| a.iter().any(|o| compare_values(value, o) == Some(Ordering::Equal))),
            "startsWith" => matches!((value, operand), (Value::String(v), Value::String(o)) if v.starts_with(o.as_str())),
            "endsWith" => matches!((value, operand), (Value::String(v), Value::String(o)) if v.ends_with(o.as_str())),
            "contains" => matches!((value, operand), (Value::String(v), Value::String(o)) if v.contains(o.as_str())),
            _ => false,
        })
    })
}

/// Sort summaries by `sortby` fields (`-` descending); missing values last.
pub fn sort_items(items: &mut [StacItemSummary], sortby: &[String]) {
    if sortby.is_empty() {
        return;
    }
    let keys: Vec<(bool, String)> = sortby
        .iter()
        .map(|s| {
            let s = s.trim();
            match s.strip_prefix('-') {
                Some(rest) => (true, rest.to_owned()),
                None => (false, s.trim_start_matches('+').to_owned()),
            }
        })
        .collect();
    let value_of = |item: &StacItemSummary, name: &str| -> Option<Value> {
        let name = name.strip_prefix("properties.").unwrap_or(name);
        match name {
            "id" => Some(Value::String(item.id.clone())),
            "collection" => item.collection.clone().map(Value::String),
            _ => item.properties.get(name).cloned(),
        }
    };
    items.sort_by(|a, b| {
        for (descending, name) in &keys {
            let ordering = match (value_of(a, name), value_of(b, name)) {
                (Some(x), Some(y)) => {
                    let o = compare_values(&x, &y).unwrap_or(Ordering::Equal);
                    if *descending { o.reverse() } else { o }
                }
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            };
            if ordering != Ordering::Equal {
                return ordering;
            }
        }
        Ordering::Equal
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn item() -> Value {
        json!({"type": "Feature", "id": "a", "collection": "s2",
            "geometry": {"type": "Point", "coordinates": [10.0, 50.0]}, "bbox": [10.0, 50.0, 10.0, 50.0],
            "properties": {"datetime": "2023-10-08T12:00:00Z", "eo:cloud_cover": 12.5, "platform": "sentinel-2a"},
            "assets": {}, "links": []})
    }

    fn check(params: SearchParams) -> bool {
        let value = item();
        let summary = StacItemSummary::from_value(&value, &|h| Some(h.to_owned()));
        LocalMatcher::all(&params).unwrap().matches(&value, &summary)
    }

    #[test]
    fn query_text_becomes_the_query_extension_object() {
        let query = parse_query("eo:cloud_cover<20, platform=sentinel-2a and eo:cloud_cover>=1").unwrap();
        assert_eq!(
            Value::Object(query),
            json!({"eo:cloud_cover": {"lt": 20.0, "gte": 1.0}, "platform": {"eq": "sentinel-2a"}})
        );
        assert!(parse_query("eo:cloud_cover").is_err());
        assert_eq!(Value::Object(parse_query("a<=3").unwrap()), json!({"a": {"lte": 3.0}}));
    }

    #[test]
    fn local_evaluation_covers_every_part() {
        assert!(check(SearchParams::default()));
        assert!(check(SearchParams { query: Some(parse_query("eo:cloud_cover<20").unwrap()), ..Default::default() }));
        assert!(!check(SearchParams { query: Some(parse_query("eo:cloud_cover<10").unwrap()), ..Default::default() }));
        assert!(!check(SearchParams { query: Some(parse_query("platform=landsat-8").unwrap()), ..Default::default() }));
        let filter = json!({"op": "<=", "args": [{"property": "eo:cloud_cover"}, 12.5]});
        assert!(check(SearchParams { filter: Some(filter), ..Default::default() }));
        let filter = parse_filter("eo:cloud_cover < 5").unwrap();
        assert!(!check(SearchParams { filter: Some(filter), ..Default::default() }));
        assert!(check(SearchParams { bbox: Some([9.0, 49.0, 11.0, 51.0]), ..Default::default() }));
        assert!(!check(SearchParams { bbox: Some([11.0, 49.0, 12.0, 51.0]), ..Default::default() }));
        assert!(check(SearchParams { datetime: Some("2023-10-08/2023-10-09".into()), ..Default::default() }));
        assert!(check(SearchParams { datetime: Some("2023-10-08".into()), ..Default::default() }));
        assert!(!check(SearchParams { datetime: Some("2023-10-07".into()), ..Default::default() }));
        assert_eq!(normalize_datetime("2024-01-01/..").unwrap(), "2024-01-01T00:00:00Z/..");
        assert!(normalize_datetime("yesterday").is_err());
        assert!(!check(SearchParams { datetime: Some("2023-10-09T00:00:00Z/..".into()), ..Default::default() }));
        assert!(!check(SearchParams { collections: vec!["l8".into()], ..Default::default() }));
        let polygon = json!({"type": "Polygon", "coordinates": [[[9.0, 49.0], [11.0, 49.0], [11.0, 51.0], [9.0, 49.0]]]});
        assert!(check(SearchParams { intersects: Some(polygon), ..Default::default() }));
    }
}
