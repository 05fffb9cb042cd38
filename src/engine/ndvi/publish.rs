//! Publishing a product into a local STAC product catalog: `catalog.json` and an `ndvi` collection on the
//! first publish, then one item per product version (`<base>-v<N>`, never overwriting an earlier one),
//! each with lon/lat geometry, a datetime range, `proj:` fields, a `zarr` asset and `derived_from` links.
//! Every JSON file is written to a temporary file and renamed into place.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::{NdviError, NdviProduct, StacItemRef};
use crate::engine::crs::CrsTransform;

/// The collection products are published into.
pub const COLLECTION_ID: &str = "ndvi";

fn write_atomic(path: &Path, value: &Value) -> Result<(), NdviError> {
    let io = |source| NdviError::Io { path: path.to_path_buf(), source };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    let tmp = path.with_extension(format!("json.partial-{}", std::process::id()));
    let text = serde_json::to_vec_pretty(value).map_err(|e| NdviError::Invalid(e.to_string()))?;
    std::fs::write(&tmp, text).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

fn read_json(path: &Path) -> Result<Value, NdviError> {
    let bytes = std::fs::read(path).map_err(|source| NdviError::Io { path: path.to_path_buf(), source })?;
    serde_json::from_slice(&bytes).map_err(|e| NdviError::Invalid(format!("{}: {e}", path.display())))
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// A path from `from_dir` to `to` (both absolute), `./`-relative when `to` is inside `from_dir`'s parent
/// chain, else absolute.
fn href_from(from_dir: &Path, to: &Path) -> String {
    let (from, to) = (absolute(from_dir), absolute(to));
    let from_parts: Vec<_> = from.components().collect();
    let to_parts: Vec<_> = to.components().collect();
    let common = from_parts.iter().zip(&to_parts).take_while(|(a, b)| a == b).count();
    if common <= 1 {
        return to.display().to_string();
    }
    let mut rel = PathBuf::new();
    for _ in common..from_parts.len() {
        rel.push("..");
    }
    for part in &to_parts[common..] {
        rel.push(part);
    }
    let text = rel.display().to_string();
    if text.starts_with("..") { text } else { format!("./{text}") }
}

/// The root `catalog.json` of the product catalog in `catalog_dir` (absolute, as [`publish_item`] writes it).
pub fn catalog_path(catalog_dir: &Path) -> PathBuf {
    absolute(catalog_dir).join("catalog.json")
}

/// Publish `product` into `catalog_dir`; returns the new item's path.
pub fn publish_item(catalog_dir: &Path, product: &NdviProduct, sources: &[StacItemRef]) -> Result<PathBuf, NdviError> {
    let catalog_path = catalog_path(catalog_dir);
    let catalog_dir = absolute(catalog_dir);
    let collection_dir = catalog_dir.join(COLLECTION_ID);
    let collection_path = collection_dir.join("collection.json");
    if !catalog_path.exists() {
        write_atomic(
            &catalog_path,
            &json!({
                "type": "Catalog", "stac_version": "1.0.0", "id": "meshlake-products",
                "title": "meshlake data products", "description": "Data products published by meshlake",
                "links": [
                    {"rel": "root", "href": "./catalog.json", "type": "application/json"},
                    {"rel": "child", "href": format!("./{COLLECTION_ID}/collection.json"), "type": "application/json", "title": "NDVI"}
                ]
            }),
        )?;
    }
    let start = sources.first().map(|s| s.datetime.to_rfc3339()).unwrap_or_default();
    let end = sources.last().map(|s| s.datetime.to_rfc3339()).unwrap_or_default();
    let bbox = product.bbox;
    let mut collection = if collection_path.exists() {
        read_json(&collection_path)?
    } else {
        json!({
            "type": "Collection", "stac_version": "1.0.0", "id": COLLECTION_ID,
            "title": "NDVI", "description": "NDVI (time, y, x) Zarr products computed by meshlake from Sentinel-2-like red/NIR bands",
            "license": "proprietary",
            "stac_extensions": ["https://stac-extensions.github.io/version/v1.2.0/schema.json"],
            "extent": {"spatial": {"bbox": [bbox]}, "temporal": {"interval": [[start, end]]}},
            "links": [
                {"rel": "root", "href": "../catalog.json", "type": "application/json"},
                {"rel": "parent", "href": "../catalog.json", "type": "application/json"}
            ]
        })
    };

    let day = |s: &StacItemRef| s.datetime.format("%Y%m%d").to_string();
    let base = match (sources.first(), sources.last()) {
        (Some(a), Some(b)) => format!("ndvi-{}-{}", day(a), day(b)),
        _ => "ndvi".to_owned(),
    };
    // The next version: one past the highest existing `<base>-vN` folder (never reuse one).
    let mut version = 1;
    if let Ok(entries) = std::fs::read_dir(&collection_dir) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            if let Some(n) = name.strip_prefix(&format!("{base}-v")).and_then(|n| n.parse::<u32>().ok()) {
                version = version.max(n + 1);
            }
        }
    }
    let id = format!("{base}-v{version}");
    let item_dir = collection_dir.join(&id);
    let item_path = item_dir.join(format!("{id}.json"));
    std::fs::create_dir_all(&item_dir).map_err(|source| NdviError::Io { path: item_dir.clone(), source })?;

    let grid = &product.grid;
    let ring: Vec<[f64; 2]> = if grid.epsg == 4326 {
        let b = grid.bounds();
        vec![[b[0], b[1]], [b[2], b[1]], [b[2], b[3]], [b[0], b[3]], [b[0], b[1]]]
    } else {
        CrsTransform::new(grid.epsg, 4326)?.rectangle_ring(grid.bounds(), 8)?.into_iter().map(|(x, y)| [x, y]).collect()
    };
    let mut links = vec![
        json!({"rel": "root", "href": "../../catalog.json", "type": "application/json"}),
        json!({"rel": "parent", "href": "../collection.json", "type": "application/json"}),
        json!({"rel": "collection", "href": "../collection.json", "type": "application/json"}),
    ];
    if version > 1 {
        links.push(json!({"rel": "predecessor-version", "href": format!("../{base}-v{}/{base}-v{}.json", version - 1, version - 1), "type": "application/geo+json"}));
    }
    for source in sources {
        let href = if source.href.contains("://") { source.href.clone() } else { href_from(&item_dir, Path::new(&source.href)) };
        links.push(json!({"rel": "derived_from", "href": href, "type": "application/geo+json", "title": source.id}));
    }
    let item = json!({
        "type": "Feature", "stac_version": "1.0.0", "id": id, "collection": COLLECTION_ID,
        "stac_extensions": [
            "https://stac-extensions.github.io/projection/v1.1.0/schema.json",
            "https://stac-extensions.github.io/version/v1.2.0/schema.json"
        ],
        "geometry": {"type": "Polygon", "coordinates": [ring]},
        "bbox": bbox,
        "properties": {
            "datetime": null, "start_datetime": start, "end_datetime": end,
            "created": chrono::Utc::now().to_rfc3339(),
            "version": version.to_string(),
            "processing:level": "L3",
            "proj:epsg": grid.epsg,
            "proj:shape": [grid.height, grid.width],
            "proj:transform": [grid.pixel_size_x, 0.0, grid.origin_x, 0.0, -grid.pixel_size_y, grid.origin_y],
            "proj:bbox": grid.bounds(),
            "ndvi:valid_fraction": product.valid_fraction,
            "ndvi:source_items": product.items_used,
        },
        "assets": {
            "zarr": {
                "href": href_from(&item_dir, &product.zarr), "type": "application/vnd+zarr", "roles": ["data"],
                "title": "NDVI (time, y, x) Zarr v3 store", "xarray:open_kwargs": {"consolidated": true},
                "variable": product.variable, "shape": product.shape, "chunks": product.chunks
            }
        },
        "links": links,
    });
    write_atomic(&item_path, &item)?;

    // Collection: link the new item, widen the extent.
    if let Value::Object(c) = &mut collection {
        if let Some(Value::Array(links)) = c.get_mut("links") {
            links.push(json!({"rel": "item", "href": format!("./{id}/{id}.json"), "type": "application/geo+json"}));
        }
        let widened = c
            .get("extent")
            .and_then(|e| e.pointer("/spatial/bbox/0"))
            .and_then(Value::as_array)
            .map(|b| b.iter().filter_map(Value::as_f64).collect::<Vec<_>>())
            .filter(|b| b.len() == 4)
            .map(|b| [b[0].min(bbox[0]), b[1].min(bbox[1]), b[2].max(bbox[2]), b[3].max(bbox[3])])
            .unwrap_or(bbox);
        let interval = c.get("extent").and_then(|e| e.pointer("/temporal/interval/0")).cloned();
        let old = |i: usize| interval.as_ref().and_then(|v| v.get(i)).and_then(Value::as_str).map(str::to_owned);
        let lo = old(0).map_or(start.clone(), |o| if o < start { o } else { start.clone() });
        let hi = old(1).map_or(end.clone(), |o| if o > end { o } else { end.clone() });
        c.insert("extent".into(), json!({"spatial": {"bbox": [widened]}, "temporal": {"interval": [[lo, hi]]}}));
    }
    write_atomic(&collection_path, &collection)?;
    Ok(item_path)
}
