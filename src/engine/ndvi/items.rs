//! NDVI inputs: STAC items (files, a static catalog, or item JSON values from a search), the filters a
//! search would apply, and red/NIR band resolution with the band's nodata, scale and offset.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::NdviError;
use crate::engine::stac::resolve_href;

/// Where the items come from. Search results (STAC API) plug in as [`NdviSource::ItemValues`].
#[derive(Clone, Debug)]
pub enum NdviSource {
    /// Item JSON files, or catalog/collection JSON files whose items are all candidates.
    Paths(Vec<PathBuf>),
    /// Item JSON values (e.g. the features of a search response), each with the file or URL its
    /// relative hrefs resolve against.
    ItemValues(Vec<(Value, String)>),
}

/// The filters a search applies (all optional). `max_items` applies after sorting by datetime.
#[derive(Clone, Debug, Default)]
pub struct ItemFilter {
    pub ids: Vec<String>,
    pub collections: Vec<String>,
    /// lon/lat `[min_lon, min_lat, max_lon, max_lat]`.
    pub bbox: Option<[f64; 4]>,
    /// Inclusive range; either side open.
    pub datetime: Option<(Option<DateTime<Utc>>, Option<DateTime<Utc>>)>,
    /// Keep items whose `eo:cloud_cover` is below this percentage (items without it are kept).
    pub cloud_lt: Option<f64>,
    pub max_items: Option<usize>,
}

impl ItemFilter {
    /// The parameters, for the "no imagery found" error.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if !self.ids.is_empty() {
            parts.push(format!("ids={}", self.ids.join(",")));
        }
        if !self.collections.is_empty() {
            parts.push(format!("collections={}", self.collections.join(",")));
        }
        if let Some(b) = self.bbox {
            parts.push(format!("bbox={},{},{},{}", b[0], b[1], b[2], b[3]));
        }
        if let Some((a, b)) = &self.datetime {
            let side = |d: &Option<DateTime<Utc>>| d.map(|d| d.to_rfc3339()).unwrap_or_else(|| "..".into());
            parts.push(format!("datetime={}/{}", side(a), side(b)));
        }
        if let Some(c) = self.cloud_lt {
            parts.push(format!("cloud_cover<{c}"));
        }
        if let Some(m) = self.max_items {
            parts.push(format!("max_items={m}"));
        }
        if parts.is_empty() { "(no filters)".into() } else { parts.join(" ") }
    }

    fn accepts(&self, item: &StacItemRef) -> bool {
        if !self.ids.is_empty() && !self.ids.iter().any(|id| *id == item.id) {
            return false;
        }
        if !self.collections.is_empty()
            && !item.collection.as_ref().is_some_and(|c| self.collections.iter().any(|x| x == c))
        {
            return false;
        }
        if let (Some(f), Some(b)) = (self.bbox, item.bbox) {
            if b[0] > f[2] || b[2] < f[0] || b[1] > f[3] || b[3] < f[1] {
                return false;
            }
        }
        if let Some((start, end)) = &self.datetime {
            if start.is_some_and(|s| item.datetime < s) || end.is_some_and(|e| item.datetime > e) {
                return false;
            }
        }
        if let (Some(limit), Some(cc)) = (self.cloud_lt, item.cloud_cover) {
            if cc >= limit {
                return false;
            }
        }
        true
    }
}

/// Parse `A/B`, `A/..`, `../B` or a single instant (RFC 3339 or a date `YYYY-MM-DD`).
pub fn parse_datetime_range(text: &str) -> Result<(Option<DateTime<Utc>>, Option<DateTime<Utc>>), NdviError> {
    let one = |s: &str, end: bool| -> Result<Option<DateTime<Utc>>, NdviError> {
        let s = s.trim();
        if s.is_empty() || s == ".." {
            return Ok(None);
        }
        if let Ok(t) = DateTime::parse_from_rfc3339(s) {
            return Ok(Some(t.with_timezone(&Utc)));
        }
        let date = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| {
            NdviError::Invalid(format!("{s:?} is neither an RFC 3339 time nor a date like 2025-06-01"))
        })?;
        let time = if end { date.and_hms_opt(23, 59, 59) } else { date.and_hms_opt(0, 0, 0) };
        Ok(time.map(|t| t.and_utc()))
    };
    match text.split_once('/') {
        Some((a, b)) => Ok((one(a, false)?, one(b, true)?)),
        None => Ok((one(text, false)?, one(text, true)?)),
    }
}

/// One red or NIR band of an item: the COG and how to turn its numbers into reflectance.
#[derive(Clone, Debug, serde::Serialize)]
pub struct BandSource {
    pub asset_key: String,
    pub path: PathBuf,
    pub nodata: Option<f64>,
    pub scale: f64,
    pub offset: f64,
}

/// A STAC item reduced to what NDVI needs.
#[derive(Clone, Debug)]
pub struct StacItemRef {
    pub id: String,
    pub collection: Option<String>,
    pub datetime: DateTime<Utc>,
    pub bbox: Option<[f64; 4]>,
    pub cloud_cover: Option<f64>,
    /// The item's file (or URL), for `derived_from` links.
    pub href: String,
    value: Value,
}

impl StacItemRef {
    pub fn from_value(value: Value, href: String) -> Result<Self, NdviError> {
        let bad = |what: &str| NdviError::Invalid(format!("{href}: {what}"));
        if value.get("type").and_then(Value::as_str) != Some("Feature") {
            return Err(bad("not a STAC item (type is not \"Feature\")"));
        }
        let id = value.get("id").and_then(Value::as_str).ok_or_else(|| bad("the item has no id"))?.to_owned();
        let props = value.get("properties").cloned().unwrap_or(Value::Null);
        let when = props
            .get("datetime")
            .and_then(Value::as_str)
            .or_else(|| props.get("start_datetime").and_then(Value::as_str))
            .ok_or_else(|| bad("the item has neither datetime nor start_datetime"))?;
        let datetime = DateTime::parse_from_rfc3339(when)
            .map_err(|e| bad(&format!("datetime {when:?} is not RFC 3339 ({e})")))?
            .with_timezone(&Utc);
        let bbox = value.get("bbox").and_then(Value::as_array).and_then(|b| {
            let n: Vec<f64> = b.iter().filter_map(Value::as_f64).collect();
            match n.len() {
                4 => Some([n[0], n[1], n[2], n[3]]),
                6 => Some([n[0], n[1], n[3], n[4]]),
                _ => None,
            }
        });
        Ok(Self {
            id,
            collection: value.get("collection").and_then(Value::as_str).map(str::to_owned),
            datetime,
            bbox,
            cloud_cover: props.get("eo:cloud_cover").and_then(Value::as_f64),
            href,
            value,
        })
    }

    fn asset_keys(&self) -> Vec<String> {
        self.value
            .get("assets")
            .and_then(Value::as_object)
            .map(|a| a.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Resolve the red or NIR band: the asset named by the user, else the keys `default_keys`
    /// (case-insensitive), else the asset whose `eo:bands` / `bands` common name is `common_name`.
    pub fn band(&self, user_key: Option<&str>, default_keys: &[&str], common_name: &str) -> Result<BandSource, NdviError> {
        let assets = self.value.get("assets").and_then(Value::as_object);
        let find_key = |key: &str| assets.and_then(|a| a.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)));
        let found = match user_key {
            Some(key) => find_key(key),
            None => default_keys.iter().find_map(|k| find_key(k)).or_else(|| {
                assets.and_then(|a| a.iter().find(|(_, asset)| common_names(asset).iter().any(|c| c == common_name)))
            }),
        };
        let Some((key, asset)) = found else {
            let tried = match user_key {
                Some(key) => format!("the asset {key:?}"),
                None => format!("the assets {} or a band with common name {common_name:?}", default_keys.join(", ")),
            };
            return Err(NdviError::MissingBand {
                item: self.id.clone(),
                band: common_name.to_owned(),
                tried,
                available: self.asset_keys().join(", "),
            });
        };
        let href = asset.get("href").and_then(Value::as_str).unwrap_or_default();
        let resolved = if self.href.contains("://") && !href.contains("://") && !href.starts_with('/') {
            format!("{}/{}", self.href.rsplit_once('/').map(|(d, _)| d).unwrap_or(""), href)
        } else {
            resolve_href(Path::new(&self.href), href)
        };
        let resolved = resolved.strip_prefix("file://").map(str::to_owned).unwrap_or(resolved);
        if resolved.contains("://") && !crate::engine::raster::source::is_http(&resolved) {
            return Err(NdviError::Remote { item: self.id.clone(), href: resolved });
        }
        let (nodata, scale, offset) = band_numbers(asset);
        Ok(BandSource { asset_key: key.clone(), path: PathBuf::from(resolved), nodata, scale, offset })
    }
}

fn common_names(asset: &Value) -> Vec<String> {
    let mut names = Vec::new();
    for list in ["eo:bands", "bands"] {
        for band in asset.get(list).and_then(Value::as_array).into_iter().flatten() {
            for field in ["common_name", "eo:common_name"] {
                if let Some(n) = band.get(field).and_then(Value::as_str) {
                    names.push(n.to_owned());
                }
            }
        }
    }
    names
}

/// `(nodata, scale, offset)` from `raster:bands[0]` (raster extension 1.x), `bands[0]` with
/// `nodata`/`raster:scale`/`raster:offset` (STAC 1.1), or the asset's own fields.
fn band_numbers(asset: &Value) -> (Option<f64>, f64, f64) {
    let first = |list: &str| asset.get(list).and_then(Value::as_array).and_then(|b| b.first()).cloned();
    let candidates = [first("raster:bands"), first("bands"), Some(asset.clone())];
    let mut nodata = None;
    let mut scale = None;
    let mut offset = None;
    for band in candidates.iter().flatten() {
        let num = |names: &[&str]| names.iter().find_map(|n| band.get(*n).and_then(Value::as_f64));
        nodata = nodata.or_else(|| num(&["nodata", "raster:nodata"]));
        scale = scale.or_else(|| num(&["scale", "raster:scale"]));
        offset = offset.or_else(|| num(&["offset", "raster:offset"]));
    }
    (nodata, scale.unwrap_or(1.0), offset.unwrap_or(0.0))
}

/// Read the candidate items from a source (catalogs are walked on disk), filter, sort by datetime,
/// apply `max_items`. No items left → the "no imagery found" error with the parameters.
pub fn select_items(source: &NdviSource, filter: &ItemFilter) -> Result<Vec<StacItemRef>, NdviError> {
    let mut items = Vec::new();
    match source {
        NdviSource::Paths(paths) => {
            for path in paths {
                collect_from_file(path, &mut items, 0)?;
            }
        }
        NdviSource::ItemValues(values) => {
            for (value, href) in values {
                items.push(StacItemRef::from_value(value.clone(), href.clone())?);
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    items.retain(|i| seen.insert(i.id.clone()) && filter.accepts(i));
    items.sort_by(|a, b| a.datetime.cmp(&b.datetime).then_with(|| a.id.cmp(&b.id)));
    if let Some(max) = filter.max_items {
        items.truncate(max);
    }
    if items.is_empty() {
        let sources = match source {
            NdviSource::Paths(p) => p.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "),
            NdviSource::ItemValues(v) => format!("{} item(s) given", v.len()),
        };
        return Err(NdviError::NoImagery { params: format!("source={sources} {}", filter.describe()) });
    }
    Ok(items)
}

fn collect_from_file(path: &Path, items: &mut Vec<StacItemRef>, depth: usize) -> Result<(), NdviError> {
    if depth > 16 {
        return Ok(());
    }
    let bytes = std::fs::read(path).map_err(|source| NdviError::Io { path: path.to_path_buf(), source })?;
    let value: Value = serde_json::from_slice(&bytes)
        .map_err(|e| NdviError::Invalid(format!("{} is not JSON: {e}", path.display())))?;
    match value.get("type").and_then(Value::as_str) {
        Some("Feature") => items.push(StacItemRef::from_value(value, path.display().to_string())?),
        Some("FeatureCollection") => {
            for feature in value.get("features").and_then(Value::as_array).into_iter().flatten() {
                items.push(StacItemRef::from_value(feature.clone(), path.display().to_string())?);
            }
        }
        Some("Catalog") | Some("Collection") => {
            for link in value.get("links").and_then(Value::as_array).into_iter().flatten() {
                let rel = link.get("rel").and_then(Value::as_str).unwrap_or("");
                if rel != "child" && rel != "item" {
                    continue;
                }
                let Some(href) = link.get("href").and_then(Value::as_str) else { continue };
                let target = resolve_href(path, href);
                if target.contains("://") {
                    continue;
                }
                collect_from_file(Path::new(&target), items, depth + 1)?;
            }
        }
        other => {
            return Err(NdviError::Invalid(format!(
                "{} is not a STAC item, catalog or collection (type {other:?})",
                path.display()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn item(id: &str, datetime: &str, cloud: f64, lon: f64) -> (Value, String) {
        let value = json!({
            "type": "Feature", "id": id, "collection": "c",
            "bbox": [lon, 50.0, lon + 1.0, 51.0],
            "properties": {"datetime": datetime, "eo:cloud_cover": cloud},
            "assets": {"B04": {"href": "./r.tif", "raster:bands": [{"nodata": 0, "scale": 0.0001, "offset": -0.1}]},
                       "nir": {"href": "s3://x-invalid/n.tif"}}
        });
        (value, format!("/data/{id}/{id}.json"))
    }

    #[test]
    fn search_shaped_values_are_filtered_sorted_and_capped() {
        let source = NdviSource::ItemValues(vec![
            item("late", "2025-07-01T00:00:00Z", 5.0, 4.0),
            item("cloudy", "2025-06-15T00:00:00Z", 80.0, 4.0),
            item("early", "2025-06-01T00:00:00Z", 10.0, 4.0),
            item("far", "2025-06-02T00:00:00Z", 1.0, 100.0),
            item("old", "2024-06-02T00:00:00Z", 1.0, 4.0),
        ]);
        let filter = ItemFilter {
            bbox: Some([3.5, 50.5, 4.5, 50.6]),
            datetime: Some(parse_datetime_range("2025-01-01/..").unwrap()),
            cloud_lt: Some(50.0),
            ..Default::default()
        };
        let ids: Vec<String> = select_items(&source, &filter).unwrap().into_iter().map(|i| i.id).collect();
        assert_eq!(ids, ["early", "late"]);
        let capped = ItemFilter { max_items: Some(1), ..filter.clone() };
        assert_eq!(select_items(&source, &capped).unwrap()[0].id, "early");
        let none = ItemFilter { ids: vec!["nope".into()], ..filter };
        let err = select_items(&source, &none).unwrap_err().to_string();
        assert!(err.starts_with("no imagery found matching domain parameters"), "{err}");
        assert!(err.contains("ids=nope") && err.contains("cloud_cover<50") && err.contains("bbox=3.5,50.5,4.5,50.6"), "{err}");
    }

    #[test]
    fn bands_resolve_with_raster_numbers_and_relative_hrefs() {
        let (value, href) = item("a", "2025-06-01T00:00:00Z", 1.0, 4.0);
        let item = StacItemRef::from_value(value, href).unwrap();
        let red = item.band(None, &["B04", "red"], "red").unwrap();
        assert_eq!(red.path, PathBuf::from("/data/a/r.tif"));
        assert_eq!((red.nodata, red.scale, red.offset), (Some(0.0), 0.0001, -0.1));
        let err = item.band(None, &["B08", "nir"], "nir").unwrap_err().to_string();
        assert!(err.contains("s3://x-invalid/n.tif"), "{err}");
        let err = item.band(Some("B8A"), &[], "nir").unwrap_err().to_string();
        assert!(err.contains("assets are: B04, nir"), "{err}");
        assert_eq!(parse_datetime_range("2025-06-01").unwrap().1.unwrap().to_rfc3339(), "2025-06-01T23:59:59+00:00");
        assert!(parse_datetime_range("June").is_err());
    }
}
