//! `meshlake stac queryables`: read from a STAC API that declares them (the recorded Planetary Computer
//! queryables, served by tests/peers/stac_test_server.py), derived from the items where there is no
//! queryables document (`rustac serve` loaded with real Earth Search items; a static catalog; a
//! stac-geoparquet file). Each answer is compared with what the Python STAC tools say
//! (tests/peers/stac_queryables.py: pystac-client, pystac, rustac).

mod common;

use common::servers::{Server, rustac_serve, stac_test_server};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

fn setup() -> Option<(PathBuf, PathBuf)> {
    Some((common::fixtures()?, common::python()?))
}

fn queryables_server(python: &Path, fixtures: &Path) -> Server {
    let mut server = stac_test_server(python, &[Path::new("queryables"), Path::new("0"), &fixtures.join("pystac-client/responses")]);
    server.url.push('/');
    server
}

fn meshlake(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_meshlake")).args(["stac", "queryables"]).args(args).output().unwrap()
}

fn meshlake_json(args: &[&str]) -> Value {
    let out = meshlake(&[args, &["--json"]].concat());
    assert!(out.status.success(), "meshlake failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("one JSON object")
}

fn peer(python: &Path, args: &[&str]) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/stac_queryables.py");
    let out = Command::new(python).arg(script).args(args).output().unwrap();
    assert!(out.status.success(), "peer failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// name → {type, title, enum, minimum, maximum} of meshlake's JSON (numbers as f64 for comparison).
fn by_name(queryables: &Value) -> BTreeMap<String, Value> {
    let normal = |v: &Value| match v {
        Value::Number(n) => serde_json::json!(n.as_f64().unwrap()),
        other => other.clone(),
    };
    let entry = |q: &Value| {
        serde_json::json!({"type": q["type"], "title": q["title"], "enum": q["enum"],
                           "minimum": normal(&q["minimum"]), "maximum": normal(&q["maximum"])})
    };
    match queryables {
        Value::Array(list) => list.iter().map(|q| (q["name"].as_str().unwrap().to_owned(), entry(q))).collect(),
        Value::Object(map) => map.iter().map(|(name, q)| (name.clone(), entry(q))).collect(),
        _ => panic!("unexpected queryables {queryables}"),
    }
}

#[test]
fn declared_queryables_equal_pystac_client() {
    let Some((fixtures, python)) = setup() else { return };
    let server = queryables_server(&python, &fixtures);
    let root = meshlake_json(&[&server.url]);
    assert_eq!(root["derived"], false);
    assert_eq!(root["url"], format!("{}queryables", server.url));
    let expected = peer(&python, &["api", &server.url]);
    assert_eq!(expected["derived"], false);
    assert_eq!(by_name(&root["queryables"]), by_name(&expected["queryables"]));
    let names: Vec<&str> = root["queryables"].as_array().unwrap().iter().map(|q| q["name"].as_str().unwrap()).collect();
    assert!(names.windows(2).all(|w| w[0] < w[1]), "sorted by name: {names:?}");
    let find = |name: &str| root["queryables"].as_array().unwrap().iter().find(|q| q["name"] == name).unwrap().clone();
    assert_eq!(find("instrument")["enum"], serde_json::json!(["etm+", "oli", "tirs", "tm"]));
    assert_eq!(find("geometry")["type"], "geometry");
    assert_eq!(find("proj:epsg")["type"], "integer", "[integer, null] is an integer that may be null");

    let collection = meshlake_json(&[&server.url, "--collection", "landsat-c2-l2"]);
    assert_eq!(collection["collection"], "landsat-c2-l2");
    assert_eq!(collection["url"], format!("{}collections/landsat-c2-l2/queryables", server.url));
    let expected = peer(&python, &["api", &server.url, "landsat-c2-l2"]);
    assert_eq!(by_name(&collection["queryables"]), by_name(&expected["queryables"]));

    let missing = meshlake(&[&server.url, "--collection", "nope", "--json"]);
    assert!(!missing.status.success());
    let error = String::from_utf8_lossy(&missing.stdout).to_string() + &String::from_utf8_lossy(&missing.stderr);
    assert!(error.contains("404") && error.contains("No collection at /collections/nope"), "{error}");
}

#[test]
fn an_api_without_queryables_gets_them_derived_from_its_items() {
    let Some((fixtures, python)) = setup() else { return };
    let data = fixtures.join("rustac/crates/server/data/sentinel-2");
    let server = rustac_serve(&python, &[data.join("collection.json"), data.join("item-collection.json")]);
    // rustac serve declares no filter conformance and no queryables link; its /queryables is an empty schema.
    let plain = common::run_python(
        &python,
        "import json, sys, urllib.request\nprint(json.dumps(json.load(urllib.request.urlopen(sys.argv[1] + '/queryables'))))",
        &[&server.url],
    );
    let plain: Value = serde_json::from_str(plain.trim()).unwrap();
    assert_eq!(plain["properties"], serde_json::json!({}), "{plain}");

    let root = meshlake_json(&[&server.url]);
    assert_eq!(root["derived"], true);
    assert_eq!(root["items_scanned"], 10);
    let expected = peer(&python, &["api", &server.url]);
    assert_eq!(expected["derived"], true, "pystac-client also finds no FILTER conformance");
    assert_eq!(by_name(&root["queryables"]), by_name(&expected["queryables"]));
    let cloud = root["queryables"].as_array().unwrap().iter().find(|q| q["name"] == "eo:cloud_cover").unwrap();
    assert_eq!(cloud["type"], "number");

    // The collection (copied from Earth Search) still links Earth Search's queryables; when that document
    // cannot be read, the queryables are derived from the collection's items and the note says why.
    let collection = meshlake_json(&[&server.url, "--collection", "sentinel-2-c1-l2a"]);
    if collection["derived"] == false {
        // This machine reached Earth Search: its queryables document was read.
        assert!(collection["url"].as_str().unwrap().starts_with("https://earth-search.aws.element84.com/"), "{collection}");
        return;
    }
    let note = collection["note"].as_str().expect("a note saying why the linked queryables were not used");
    assert!(note.contains("earth-search.aws.element84.com") && note.contains("derived from the items"), "{note}");
    let expected = peer(&python, &["api", &server.url, "sentinel-2-c1-l2a"]);
    assert_eq!(by_name(&collection["queryables"]), by_name(&expected["queryables"]));
}

#[test]
fn static_catalogs_and_geoparquet_derive_queryables_from_their_items() {
    let Some((fixtures, python)) = setup() else { return };
    let catalog = fixtures.join("stac-spec/examples/catalog.json");
    let catalog = catalog.to_str().unwrap();
    let ours = meshlake_json(&[catalog]);
    assert_eq!((ours["derived"].clone(), ours["items_scanned"].clone()), (Value::Bool(true), serde_json::json!(2)));
    let expected = peer(&python, &["catalog", catalog]);
    assert_eq!(by_name(&ours["queryables"]), by_name(&expected["queryables"]));

    let parquet = fixtures.join("rustac/crates/duckdb/data/100-sentinel-2-items.parquet");
    let parquet = parquet.to_str().unwrap();
    let ours = meshlake_json(&[parquet]);
    assert_eq!((ours["derived"].clone(), ours["items_scanned"].clone()), (Value::Bool(true), serde_json::json!(100)));
    let expected = peer(&python, &["parquet", parquet]);
    let names = |v: &Value| by_name(v).into_keys().collect::<Vec<_>>();
    assert_eq!(names(&ours["queryables"]), names(&expected["queryables"]));

    let text = meshlake(&[catalog]);
    assert!(text.status.success());
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("derived from the properties of 2 items") && text.contains("view:sun_elevation"), "{text}");
}

/// In the STAC search panel: the queryables are listed with their type and allowed values; picking
/// one composes a `query` condition or a CQL2 `filter` condition into the form.
#[test]
fn the_search_panel_lists_queryables_and_composes_conditions() {
    use egui_kittest::Harness;
    use egui_kittest::kittest::Queryable as _;
    use meshlake::ui::MeshlakeApp;
    use meshlake::ui::commands::Command as UiCommand;
    use meshlake::ui::model::Pane;

    let Some((fixtures, python)) = setup() else { return };
    let server = queryables_server(&python, &fixtures);
    let tmp = tempfile::tempdir().unwrap();
    let mut harness = Harness::builder()
        .with_size(egui::vec2(1400.0, 1000.0))
        .with_max_steps(10_000)
        .build_eframe(|cc| MeshlakeApp::new(cc, common::ui::options(tmp.path())).expect("app starts"));
    harness.state_mut().queue_command(UiCommand::FocusPane(Pane::Catalog));
    harness.step();
    harness.get_by_label("STAC search").click();
    harness.step();
    harness.state_mut().queue_command(UiCommand::StacQueryables { source: server.url.clone(), collection: Some("landsat-c2-l2".into()) });
    common::ui::step_until(&mut harness, Duration::from_secs(60), "the queryables", |app| {
        !app.model.stac.queryables_loading && app.model.stac.queryables.is_some()
    });
    let count = match &harness.state().model.stac.queryables {
        Some(Ok(result)) => result.queryables.len(),
        other => panic!("queryables failed: {other:?}"),
    };
    harness.get_by_label(&format!("Queryables ({count})"));
    harness.get_by_label(&format!("from {}collections/landsat-c2-l2/queryables", server.url));
    harness.get_by_label("Cloud Cover Land 0..100");
    harness.get_by_label("Instrument [etm+, oli, tirs, tm]");

    // instrument = oli as a query condition (the value chosen from the enum).
    harness.get_by_label("instrument").click();
    harness.step();
    harness.step();
    assert!(harness.query_by_label("Add condition").is_some(), "the composer row shows");
    harness.get_by_value("choose…").click();
    harness.step();
    harness.step();
    harness.get_by_label("oli").click();
    harness.step();
    harness.step();
    harness.get_by_label("Add condition").click();
    harness.step();
    harness.step();
    assert!(harness.query_all_by_value("instrument=oli").next().is_some(), "the Query field holds the condition");

    // instrument = 'tm' as a CQL2 filter condition.
    harness.get_by_value("choose…").click();
    harness.step();
    harness.step();
    harness.get_by_label("tm").click();
    harness.step();
    harness.step();
    harness.get_by_label("filter").click();
    harness.step();
    harness.step();
    harness.get_by_label("Add condition").click();
    harness.step();
    harness.step();
    assert!(harness.query_all_by_value("instrument = 'tm'").next().is_some(), "the CQL2 filter field holds the condition");
    assert!(harness.query_all_by_value("instrument=oli").next().is_some(), "the query is kept");
}
