//! stac-geoparquet sources: real Earth Search and Planetary Computer items (fixtures) written to a
//! `.parquet` file by the Python `rustac` package, then searched with `meshlake stac search FILE.parquet`
//! and compared with the same search over the same items as a static item collection JSON; the items
//! read back compared with what `rustac` itself reads; the file opened in the Catalog panel.

mod common;

use std::path::{Path, PathBuf};

use meshlake::engine::stac::geoparquet::{is_stac_geoparquet, read_items};
use serde_json::{Value, json};

/// The fixture items (10 Earth Search `sentinel-2-c1-l2a`, 2 Planetary Computer `sentinel-2-l2a`) as an
/// item collection JSON and, written by `rustac`, as stac-geoparquet.
fn write_sources(python: &Path, fixtures: &Path, dir: &Path) -> (PathBuf, PathBuf) {
    let mut features = Vec::new();
    for file in ["rustac/crates/server/data/sentinel-2/item-collection.json", "rustac/crates/core/data/two-sentinel-2-items.json"] {
        let value: Value = serde_json::from_slice(&std::fs::read(fixtures.join(file)).unwrap()).unwrap();
        features.extend(value["features"].as_array().unwrap().iter().cloned());
    }
    assert_eq!(features.len(), 12);
    let json_path = dir.join("items.json");
    std::fs::write(&json_path, json!({"type": "FeatureCollection", "features": features}).to_string()).unwrap();
    let parquet = dir.join("items.parquet");
    common::run_python(
        python,
        "import json, sys, rustac\nitems = json.load(open(sys.argv[1]))['features']\nrustac.write_sync(sys.argv[2], items)",
        &[json_path.to_str().unwrap(), parquet.to_str().unwrap()],
    );
    (json_path, parquet)
}

fn search(source: &Path, args: &[&str]) -> Value {
    let mut all = vec!["stac", "search", source.to_str().unwrap()];
    all.extend_from_slice(args);
    all.push("--json");
    let (ok, stdout, stderr) = common::run_meshlake(&all, &[]);
    assert!(ok, "{args:?}: {stderr}");
    serde_json::from_str(stdout.trim()).unwrap()
}

fn instant(text: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&chrono::Utc)
}

#[test]
fn geoparquet_search_matches_the_static_search_over_the_same_items() {
    let Some(fixtures) = common::fixtures() else { return };
    let Some(python) = common::python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (json_path, parquet) = write_sources(&python, &fixtures, dir.path());
    assert!(is_stac_geoparquet(&parquet).unwrap());

    let filter = r#"{"op": "and", "args": [{"op": "<", "args": [{"property": "eo:cloud_cover"}, 50]}, {"op": "=", "args": [{"property": "platform"}, "sentinel-2b"]}]}"#;
    let searches: Vec<(&str, Vec<&str>)> = vec![
        ("everything", vec![]),
        ("bbox", vec!["--bbox", "-106.0,39.5,-105.5,40.0"]),
        ("datetime", vec!["--datetime", "2024-04-10T00:00:00Z/2024-04-20T00:00:00Z"]),
        ("query", vec!["--query", "eo:cloud_cover<20"]),
        ("filter", vec!["--filter", filter]),
        ("collections", vec!["--collections", "sentinel-2-l2a"]),
        ("sortby", vec!["--sortby=-properties.eo:cloud_cover"]),
        ("max items", vec!["--sortby=properties.datetime", "--max-items", "5"]),
    ];
    let mut distinct = std::collections::HashSet::new();
    for (what, args) in &searches {
        let from_parquet = search(&parquet, args);
        let from_json = search(&json_path, args);
        let ids = |v: &Value| v["items"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap().to_owned()).collect::<Vec<_>>();
        assert_eq!(ids(&from_parquet), ids(&from_json), "{what}");
        assert_eq!(from_parquet["matched"], from_json["matched"], "{what}");
        for (a, b) in from_parquet["items"].as_array().unwrap().iter().zip(from_json["items"].as_array().unwrap()) {
            assert_eq!(a["collection"], b["collection"]);
            assert_eq!(a["cloud_cover"], b["cloud_cover"]);
            assert_eq!(a["bbox"], b["bbox"]);
            assert_eq!(instant(a["datetime"].as_str().unwrap()), instant(b["datetime"].as_str().unwrap()));
        }
        distinct.insert(ids(&from_parquet));
    }
    // The searches select different items (none is vacuous).
    assert!(distinct.len() >= 6, "{distinct:?}");
    let expected_query: Vec<&str> =
        vec!["S2A_T13TDE_20240412T175055_L2A", "S2B_T13TDE_20240407T174209_L2A", "S2A_T13TDE_20240405T175934_L2A", "S2A_T13TDE_20240402T174230_L2A"];
    let query = search(&parquet, &["--query", "eo:cloud_cover<20"]);
    let mut got: Vec<&str> = query["items"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap()).collect();
    got.sort();
    let mut want = expected_query.clone();
    want.sort();
    assert_eq!(got, want);
    assert_eq!(query["query"], "local");
}

#[test]
fn items_read_from_geoparquet_match_what_rustac_reads() {
    let Some(fixtures) = common::fixtures() else { return };
    let Some(python) = common::python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (json_path, parquet) = write_sources(&python, &fixtures, dir.path());
    let sources: Value = serde_json::from_slice(&std::fs::read(json_path).unwrap()).unwrap();
    let sources = sources["features"].as_array().unwrap();
    let ours = read_items(&parquet, 1000).unwrap();
    let out = common::run_python(
        &python,
        "import json, sys, rustac\nprint(json.dumps(rustac.read_sync(sys.argv[1])['features']))",
        &[parquet.to_str().unwrap()],
    );
    let theirs: Vec<Value> = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(ours.len(), theirs.len());
    for (a, b) in ours.iter().zip(&theirs) {
        let id = a["id"].as_str().unwrap();
        assert_eq!(a["id"], b["id"]);
        assert_eq!(a["collection"], b["collection"], "{id}");
        assert_eq!(a["bbox"], b["bbox"], "{id}");
        assert_eq!(a["geometry"]["type"], b["geometry"]["type"], "{id}");
        assert_eq!(a["geometry"]["coordinates"], b["geometry"]["coordinates"], "{id}");
        assert_eq!(a["stac_extensions"], b["stac_extensions"], "{id}");
        // rustac fills the columns an item lacks with nulls; meshlake leaves them out, as the source item did.
        let keys = |v: &Value, field: &str| {
            v[field].as_object().unwrap().iter().filter(|(_, v)| !v.is_null()).map(|(k, _)| k.clone()).collect::<std::collections::BTreeSet<_>>()
        };
        assert_eq!(keys(a, "properties"), keys(b, "properties"), "{id}");
        assert_eq!(keys(a, "assets"), keys(b, "assets"), "{id}");
        let source = sources.iter().find(|s| s["id"] == a["id"]).unwrap();
        assert_eq!(keys(a, "properties"), keys(source, "properties"), "{id}: as in the source item");
        for (key, value) in a["properties"].as_object().unwrap() {
            let other = &b["properties"][key];
            match (value.as_str(), other.as_str()) {
                (Some(x), Some(y)) if key.contains("datetime") || key == "created" || key == "updated" => {
                    assert_eq!(instant(x), instant(y), "{id} {key}")
                }
                _ => assert_eq!(value, other, "{id} {key}"),
            }
        }
        assert_eq!(a["assets"], b["assets"], "{id}");
        assert_eq!(a["links"], b["links"], "{id}");
    }
    // Each item still is a STAC item the `stac` crate reads.
    for item in ours {
        serde_json::from_value::<stac::Item>(item).unwrap();
    }
}

#[test]
fn a_parquet_file_that_is_not_stac_is_not_taken_for_a_catalog() {
    let Some(python) = common::python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain.parquet");
    common::run_python(
        &python,
        "import sys, pyarrow as pa, pyarrow.parquet as pq\npq.write_table(pa.table({'a': [1, 2]}), sys.argv[1])",
        &[plain.to_str().unwrap()],
    );
    assert!(!is_stac_geoparquet(&plain).unwrap());
    let (ok, _, stderr) = common::run_meshlake(&["scan", plain.to_str().unwrap()], &[]);
    assert!(!ok, "{stderr}");
    assert!(stderr.contains("holds nothing meshlake can open"), "{stderr}");
}

#[test]
fn a_geoparquet_file_opens_in_the_catalog_panel_with_its_items_browsable() {
    use egui_kittest::Harness;
    use egui_kittest::kittest::Queryable;
    use meshlake::ui::MeshlakeApp;
    use meshlake::ui::commands::Command;
    use meshlake::ui::model::Pane;

    let Some(fixtures) = common::fixtures() else { return };
    let Some(python) = common::python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (_, parquet) = write_sources(&python, &fixtures, dir.path());
    let mut options = common::ui::options(&dir.path().join("data"));
    options.open_path = Some(parquet.clone());
    let mut harness = Harness::builder()
        .with_size(egui::vec2(1400.0, 900.0))
        .with_max_steps(10_000)
        .build_eframe(|cc| MeshlakeApp::new(cc, options).expect("app starts"));
    harness.state_mut().queue_command(Command::FocusPane(Pane::Catalog));
    common::ui::step_until(&mut harness, std::time::Duration::from_secs(60), "the geoparquet file to load", |app| {
        app.model.catalogs.first().is_some_and(|c| c.tree.value().is_some())
    });
    let tree = harness.state().model.catalogs[0].tree.value().unwrap();
    assert_eq!(tree.nodes.len(), 13, "{:?}", tree.problems);
    assert!(tree.problems.is_empty(), "{:?}", tree.problems);
    let root_bbox = tree.nodes[0].bbox.expect("the union of the items' bboxes");
    assert!(root_bbox[0] < -106.0 && root_bbox[2] > -104.9, "{root_bbox:?}");
    let index = tree.nodes.iter().position(|n| n.id == "S2A_T13TDE_20240412T175055_L2A").unwrap();
    assert!(tree.nodes[index].footprint.is_some());
    assert_eq!(tree.nodes[index].properties["eo:cloud_cover"], json!(0.044906));
    harness.get_by_label_contains("items.parquet (12 children)");
    harness.state_mut().queue_command(Command::SelectCatalogNode { catalog: 0, node: index });
    harness.step();
    harness.step();
    harness.get_by_label("eo:cloud_cover");
    harness.get_by_label_contains("Assets (");

    // Hovering the footprints on the map marks the node under the pointer; leaving clears it.
    let bbox = harness.state().model.catalogs[0].tree.value().unwrap().nodes[index].bbox.unwrap();
    harness.state_mut().queue_command(Command::ZoomToBbox(bbox));
    harness.step();
    harness.step();
    let (lon, lat) = ((bbox[0] + bbox[2]) / 2.0, (bbox[1] + bbox[3]) / 2.0);
    let p = harness.state().map.screen_pos_of(lon, lat).expect("the map is shown");
    harness.hover_at(p);
    harness.step();
    harness.step();
    let (catalog, node) = harness.state().model.hovered_node.expect("a footprint under the pointer");
    let hovered = &harness.state().model.catalogs[catalog].tree.value().unwrap().nodes[node];
    let b = hovered.bbox.unwrap();
    assert!(b[0] <= lon && lon <= b[2] && b[1] <= lat && lat <= b[3], "{} {b:?}", hovered.id);
    let far = harness.state().map.screen_pos_of(bbox[2] + 5.0, bbox[3] + 5.0);
    let rect = harness.state().map.map_rect().unwrap();
    harness.hover_at(far.filter(|p| rect.contains(*p)).unwrap_or(rect.left_top() + egui::vec2(2.0, 2.0)));
    harness.step();
    harness.step();
    assert_eq!(harness.state().model.hovered_node, None);
}
