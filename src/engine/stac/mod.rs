//! STAC: static catalogs (catalog / collection / item JSON on disk, relative links resolved), STAC API
//! search ([`api`]), search parameters evaluated locally ([`search`]) and the search jobs ([`job`]).

pub mod api;
pub mod geoparquet;
pub mod job;
pub mod queryables;
pub mod search;
pub mod thumbnail;
pub mod validate;

use std::collections::{HashSet, VecDeque};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Map, Value};

use crate::engine::jobs::{JobContext, JobError};

/// At most this many nodes are loaded from one static catalog (a guard against runaway link graphs).
pub const MAX_CATALOG_NODES: usize = 50_000;

/// Problems loading STAC JSON.
#[derive(Debug, thiserror::Error)]
pub enum StacError {
    #[error("cannot read STAC file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not valid STAC JSON ({source}); open a catalog.json, collection.json or item JSON file")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{path} is a STAC {kind}, which a static catalog cannot start from; open a catalog, collection or item")]
    UnsupportedRoot { path: PathBuf, kind: String },
    #[error("{path}: catalog has more than {MAX_CATALOG_NODES} nodes; open a sub-catalog instead")]
    TooLarge { path: PathBuf },
    #[error("{path} is not a readable stac-geoparquet file: {reason}")]
    Geoparquet { path: PathBuf, reason: String },
    #[error(transparent)]
    Api(#[from] api::StacApiError),
    #[error(transparent)]
    Params(#[from] search::SearchParamError),
}

/// What a node of the tree is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeKind {
    Catalog,
    Collection,
    Item,
}

/// One asset of an item (or collection).
#[derive(Clone, Debug, Serialize)]
pub struct AssetSummary {
    pub key: String,
    /// As written in the JSON.
    pub href: String,
    /// Resolved against the JSON file's folder when relative and local.
    pub resolved: String,
    pub media_type: Option<String>,
    pub title: Option<String>,
    pub roles: Vec<String>,
    /// Band common names (`red`, `nir`, …) from the asset's `eo:bands` (STAC 1.0) or `bands`
    /// with `eo:common_name` (STAC 1.1).
    pub common_names: Vec<String>,
}

impl AssetSummary {
    /// Whether the key (case-insensitive) is one of `keys` or a band's common name is `common_name`.
    fn is_band(&self, keys: &[&str], common_name: &str) -> bool {
        keys.iter().any(|k| self.key.eq_ignore_ascii_case(k)) || self.common_names.iter().any(|c| c == common_name)
    }

    /// Whether `resolved` is a file on this machine (not a URL).
    pub fn is_local(&self) -> bool {
        !self.resolved.contains("://")
    }
}

/// One catalog, collection or item.
#[derive(Clone, Debug, Serialize)]
pub struct CatalogNode {
    pub id: String,
    pub kind: NodeKind,
    pub title: Option<String>,
    pub description: Option<String>,
    /// The JSON file this node was read from.
    pub path: PathBuf,
    pub parent: Option<usize>,
    pub children: Vec<usize>,
    /// Items: their properties (datetime, eo:cloud_cover, proj:epsg, …). Collections: license, extent, summaries.
    pub properties: Map<String, Value>,
    /// lon/lat bbox (items: `bbox`; collections: the first spatial extent).
    pub bbox: Option<[f64; 4]>,
    /// Item footprint in lon/lat.
    #[serde(skip)]
    pub footprint: Option<geo::Geometry<f64>>,
    pub assets: Vec<AssetSummary>,
}

impl CatalogNode {
    /// The item's `datetime` (or `start_datetime`) property, when present.
    pub fn datetime(&self) -> Option<&str> {
        self.properties
            .get("datetime")
            .and_then(Value::as_str)
            .or_else(|| self.properties.get("start_datetime").and_then(Value::as_str))
    }

    /// A short label: title, else id.
    pub fn label(&self) -> &str {
        self.title.as_deref().unwrap_or(&self.id)
    }

    /// The `(nir, red)` assets for a false-colour preview: keys `B08`/`B04`, else `nir`/`red`,
    /// else the assets whose `eo:bands` common names are `nir` and `red`.
    pub fn nir_red_assets(&self) -> Option<(&AssetSummary, &AssetSummary)> {
        let find = |keys: &[&str], common_name: &str| {
            keys.iter()
                .find_map(|key| self.assets.iter().find(|a| a.key.eq_ignore_ascii_case(key)))
                .or_else(|| self.assets.iter().find(|a| a.is_band(&[], common_name)))
        };
        Some((find(&["B08", "nir"], "nir")?, find(&["B04", "red"], "red")?))
    }
}

/// A loaded static catalog: nodes in breadth-first order, node 0 is the root.
#[derive(Clone, Debug, Serialize)]
pub struct CatalogTree {
    pub root_path: PathBuf,
    pub nodes: Vec<CatalogNode>,
    /// Links that could not be followed (missing or broken files); the rest of the tree still loads.
    pub problems: Vec<String>,
}

impl CatalogTree {
    pub fn items(&self) -> impl Iterator<Item = (usize, &CatalogNode)> {
        self.nodes.iter().enumerate().filter(|(_, n)| n.kind == NodeKind::Item)
    }

    pub fn count(&self, kind: NodeKind) -> usize {
        self.nodes.iter().filter(|n| n.kind == kind).count()
    }
}

/// Resolve an href relative to the folder of the JSON file it appears in. Absolute URLs stay as they are.
pub fn resolve_href(base_file: &Path, href: &str) -> String {
    if href.contains("://") {
        return href.to_owned();
    }
    let href_path = Path::new(href);
    if href_path.is_absolute() {
        return href.to_owned();
    }
    let base_dir = base_file.parent().unwrap_or(Path::new("."));
    normalize(&base_dir.join(href_path)).display().to_string()
}

/// Remove `.` and `..` components without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// Read and parse one STAC JSON file.
pub fn read_stac_value(path: &Path) -> Result<stac::Value, StacError> {
    let bytes = std::fs::read(path).map_err(|source| StacError::Io { path: path.to_path_buf(), source })?;
    serde_json::from_slice::<stac::Value>(&bytes).map_err(|source| StacError::Json { path: path.to_path_buf(), source })
}

fn bbox4(bbox: &stac::Bbox) -> [f64; 4] {
    match *bbox {
        stac::Bbox::TwoDimensional(b) => b,
        stac::Bbox::ThreeDimensional([minx, miny, _, maxx, maxy, _]) => [minx, miny, maxx, maxy],
    }
}

fn assets_of(base: &Path, assets: &indexmap::IndexMap<String, stac::Asset>) -> Vec<AssetSummary> {
    assets
        .iter()
        .map(|(key, asset)| AssetSummary {
            key: key.clone(),
            href: asset.href.to_string(),
            resolved: resolve_href(base, &asset.href),
            media_type: asset.r#type.clone(),
            title: asset.title.clone(),
            roles: asset.roles.clone(),
            common_names: band_common_names(asset),
        })
        .collect()
}

/// Common names of an asset's bands: `eo:bands[].common_name` (STAC 1.0) and
/// `bands[].eo:common_name` (STAC 1.1).
fn band_common_names(asset: &stac::Asset) -> Vec<String> {
    let mut names = Vec::new();
    let mut push_from = |band: &Value| {
        for field in ["common_name", "eo:common_name"] {
            if let Some(name) = band.get(field).and_then(Value::as_str) {
                if !names.iter().any(|n| n == name) {
                    names.push(name.to_owned());
                }
            }
        }
    };
    if let Some(Value::Array(bands)) = asset.additional_fields.get("eo:bands") {
        bands.iter().for_each(&mut push_from);
    }
    for band in &asset.bands {
        if let Ok(value) = serde_json::to_value(band) {
            push_from(&value);
        }
    }
    names
}

fn to_map<T: Serialize>(value: &T) -> Map<String, Value> {
    match serde_json::to_value(value) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

/// Convert a node's JSON into a [`CatalogNode`] plus the files its child/item links point at.
fn node_from_value(path: &Path, value: stac::Value) -> Result<(CatalogNode, Vec<String>), StacError> {
    let follow = |links: &[stac::Link]| -> Vec<String> {
        links
            .iter()
            .filter(|l| l.rel == "child" || l.rel == "item")
            .map(|l| resolve_href(path, &l.href))
            .collect()
    };
    let node = |id: String, kind| CatalogNode {
        id,
        kind,
        title: None,
        description: None,
        path: path.to_path_buf(),
        parent: None,
        children: Vec::new(),
        properties: Map::new(),
        bbox: None,
        footprint: None,
        assets: Vec::new(),
    };
    match value {
        stac::Value::Catalog(catalog) => {
            let mut n = node(catalog.id.clone(), NodeKind::Catalog);
            n.title = catalog.title.clone();
            n.description = Some(catalog.description.clone());
            Ok((n, follow(&catalog.links)))
        }
        stac::Value::Collection(collection) => {
            let mut n = node(collection.id.clone(), NodeKind::Collection);
            n.title = collection.title.clone();
            n.description = Some(collection.description.clone());
            n.bbox = collection.extent.spatial.bbox.first().map(bbox4);
            let mut props = Map::new();
            props.insert("license".into(), Value::String(collection.license.clone()));
            props.insert("extent".into(), serde_json::to_value(&collection.extent).unwrap_or(Value::Null));
            if let Some(summaries) = &collection.summaries {
                props.insert("summaries".into(), Value::Object(summaries.clone()));
            }
            n.properties = props;
            n.assets = assets_of(path, &collection.assets);
            Ok((n, follow(&collection.links)))
        }
        stac::Value::Item(item) => {
            let mut n = node(item.id.clone(), NodeKind::Item);
            n.properties = to_map(&item.properties);
            n.title = item.properties.title.clone();
            n.description = item.properties.description.clone();
            n.bbox = item.bbox.as_ref().map(bbox4);
            n.footprint = item.geometry.clone().and_then(|g| geo::Geometry::<f64>::try_from(g).ok());
            if n.bbox.is_none() {
                n.bbox = n.footprint.as_ref().and_then(|g| {
                    geo::BoundingRect::bounding_rect(g).map(|r| [r.min().x, r.min().y, r.max().x, r.max().y])
                });
            }
            n.assets = assets_of(path, &item.assets);
            Ok((n, Vec::new()))
        }
        stac::Value::ItemCollection(_) => {
            Err(StacError::UnsupportedRoot { path: path.to_path_buf(), kind: "ItemCollection".into() })
        }
    }
}

/// Load a static catalog breadth-first from `path`, following `child` and `item` links on disk.
/// A broken child link is recorded in `problems`; a broken root is an error.
pub async fn load_static_catalog(path: &Path, ctx: &JobContext) -> Result<CatalogTree, JobError> {
    if geoparquet::is_parquet_path(path) {
        return load_geoparquet(path, ctx).await;
    }
    let root_path = path.to_path_buf();
    let root_value = read_stac_value(path)?;
    let (root, links) = node_from_value(path, root_value)?;
    let mut tree = CatalogTree { root_path: root_path.clone(), nodes: vec![root], problems: Vec::new() };
    let mut seen: HashSet<PathBuf> = HashSet::from([normalize(path)]);
    let mut queue: VecDeque<(usize, String)> = links.into_iter().map(|l| (0, l)).collect();
    while let Some((parent, href)) = queue.pop_front() {
        ctx.cancel.check()?;
        if href.contains("://") {
            tree.problems.push(format!("{href}: remote links are not followed in a static catalog"));
            continue;
        }
        let child_path = PathBuf::from(&href);
        if !seen.insert(normalize(&child_path)) {
            continue;
        }
        if tree.nodes.len() >= MAX_CATALOG_NODES {
            return Err(StacError::TooLarge { path: root_path }.into());
        }
        let loaded = read_stac_value(&child_path).and_then(|value| node_from_value(&child_path, value));
        match loaded {
            Ok((mut node, links)) => {
                let index = tree.nodes.len();
                node.parent = Some(parent);
                tree.nodes[parent].children.push(index);
                tree.nodes.push(node);
                queue.extend(links.into_iter().map(|l| (index, l)));
            }
            Err(err) => {
                tracing::warn!("STAC link skipped: {err}");
                tree.problems.push(err.to_string());
            }
        }
        let done = tree.nodes.len() as u64;
        ctx.progress.report(done, done + queue.len() as u64, format!("{done} nodes"));
    }
    Ok(tree)
}

/// A stac-geoparquet file as a tree: a catalog node named after the file with every item under it.
async fn load_geoparquet(path: &Path, ctx: &JobContext) -> Result<CatalogTree, JobError> {
    let owned = path.to_path_buf();
    let items = ctx.cpu(move || geoparquet::read_items(&owned, MAX_CATALOG_NODES)).await??;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| path.display().to_string());
    let root = CatalogNode {
        id: name,
        kind: NodeKind::Catalog,
        title: None,
        description: Some(format!("stac-geoparquet file, {} items", items.len())),
        path: path.to_path_buf(),
        parent: None,
        children: Vec::new(),
        properties: Map::new(),
        bbox: None,
        footprint: None,
        assets: Vec::new(),
    };
    let mut tree = CatalogTree { root_path: path.to_path_buf(), nodes: vec![root], problems: Vec::new() };
    for (row, item) in items.into_iter().enumerate() {
        ctx.cancel.check()?;
        let loaded = serde_json::from_value::<stac::Item>(item)
            .map_err(|e| format!("{}: row {row} is not a STAC item: {e}", path.display()))
            .and_then(|item| node_from_value(path, stac::Value::Item(item)).map_err(|e| e.to_string()));
        match loaded {
            Ok((mut node, _)) => {
                let index = tree.nodes.len();
                node.parent = Some(0);
                tree.nodes[0].children.push(index);
                tree.nodes.push(node);
            }
            Err(problem) => tree.problems.push(problem),
        }
    }
    let bboxes = tree.nodes.iter().skip(1).filter_map(|n| n.bbox);
    tree.nodes[0].bbox = bboxes.reduce(|a, b| [a[0].min(b[0]), a[1].min(b[1]), a[2].max(b[2]), a[3].max(b[3])]);
    Ok(tree)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_hrefs_resolve_against_the_json_folder() {
        let base = Path::new("/data/cat/collection/collection.json");
        assert_eq!(resolve_href(base, "./item-1/item-1.json"), "/data/cat/collection/item-1/item-1.json");
        assert_eq!(resolve_href(base, "../catalog.json"), "/data/cat/catalog.json");
        assert_eq!(resolve_href(base, "https://x.org/a.tif"), "https://x.org/a.tif");
        assert_eq!(resolve_href(base, "/abs/b.tif"), "/abs/b.tif");
    }

    #[test]
    fn nir_and_red_assets_are_found_by_key_or_common_name() {
        let item: stac::Item = serde_json::from_value(serde_json::json!({
            "type": "Feature", "stac_version": "1.0.0", "id": "x", "geometry": null, "properties": {"datetime": null},
            "links": [],
            "assets": {
                "band_a": {"href": "./a.tif", "eo:bands": [{"name": "a", "common_name": "red"}]},
                "band_b": {"href": "./b.tif", "bands": [{"name": "b", "eo:common_name": "nir"}]},
                "thumbnail": {"href": "./t.png", "roles": ["thumbnail"]}
            }
        }))
        .unwrap();
        let (node, _) = node_from_value(Path::new("/data/x/x.json"), stac::Value::Item(item)).unwrap();
        assert_eq!(node.assets[0].common_names, ["red"]);
        assert_eq!(node.assets[1].common_names, ["nir"]);
        let (nir, red) = node.nir_red_assets().unwrap();
        assert_eq!((nir.key.as_str(), red.key.as_str()), ("band_b", "band_a"));
        assert!(nir.is_local() && red.resolved == "/data/x/a.tif");
    }
}
