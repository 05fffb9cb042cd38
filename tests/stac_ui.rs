//! The Catalog panel's STAC search against a real STAC API (`rustac serve` on 127.0.0.1 with
//! generated items): connect, search, results streaming into the table and onto the map, a row
//! selected by clicking it, details shown, and a long search cancelled with the panel's button.

mod common;

use common::servers::rustac_serve;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use meshlake::engine::settings::AppPaths;
use meshlake::engine::stac::search::SearchParams;
use meshlake::ui::commands::Command;
use meshlake::ui::model::{JobState, Pane};
use meshlake::ui::panels::stac_search::STAC_RESULTS_LAYER_ID;
use meshlake::ui::{AppOptions, MeshlakeApp};
use serde_json::{Value, json};

fn write_items(dir: &Path, n: usize) -> PathBuf {
    let features: Vec<Value> = (0..n)
        .map(|i| {
            let (x, y) = (5.0 + (i % 50) as f64 * 0.2, 45.0 + (i / 50) as f64 * 0.2);
            json!({
                "type": "Feature", "stac_version": "1.0.0", "id": format!("scene-{i:04}"), "collection": "scenes",
                "geometry": {"type": "Polygon", "coordinates": [[[x, y], [x + 0.1, y], [x + 0.1, y + 0.1], [x, y + 0.1], [x, y]]]},
                "bbox": [x, y, x + 0.1, y + 0.1],
                "properties": {"datetime": "2024-05-01T10:00:00Z", "eo:cloud_cover": (i % 100) as f64, "platform": "sentinel-2a", "proj:epsg": 32632},
                "assets": {"B04": {"href": format!("https://example.com/{i}/B04.tif"), "type": "image/tiff; application=geotiff; profile=cloud-optimized", "roles": ["data"]}},
                "links": []
            })
        })
        .collect();
    let path = dir.join("items.json");
    std::fs::write(&path, json!({"type": "FeatureCollection", "features": features}).to_string()).unwrap();
    path
}

fn options(data_dir: &Path, open: &Path) -> AppOptions {
    AppOptions {
        paths: Ok(AppPaths { data_dir: data_dir.to_path_buf(), cache_dir: data_dir.join("cache") }),
        open_path: Some(open.to_path_buf()),
        log: meshlake::engine::logbuf::init_logging(false, meshlake::ui::LOG_DIRECTIVES),
        cpu_threads: 2,
        restore_state: false,
    }
}

fn step_until(harness: &mut Harness<'_, MeshlakeApp>, what: &str, done: impl Fn(&MeshlakeApp) -> bool) {
    let started = Instant::now();
    while !done(harness.state()) {
        assert!(started.elapsed() < Duration::from_secs(120), "timed out waiting for {what}; jobs: {:#?}", harness.state().model.jobs);
        harness.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    harness.step();
    harness.step();
}

#[test]
fn stac_api_search_streams_into_the_table_and_the_map_and_can_be_cancelled() {
    let Some(python) = common::python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let items = write_items(tmp.path(), 2000);
    let server = rustac_serve(&python, &[items.clone()]);
    let url = server.url.clone();
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let mut harness = Harness::builder()
        .with_size(egui::vec2(1400.0, 900.0))
        .with_max_steps(10_000)
        .build_eframe(|cc| MeshlakeApp::new(cc, options(&tmp.path().join("data"), &empty)).expect("app starts"));
    harness.state_mut().queue_command(Command::FocusPane(Pane::Catalog));
    harness.step();
    harness.get_by_label("STAC search").click();
    harness.step();

    // Connect: the landing page and collections show.
    harness.state_mut().queue_command(Command::StacConnect(url.clone()));
    step_until(&mut harness, "the API to connect", |app| app.model.stac.api.is_some());
    assert!(matches!(&harness.state().model.stac.api, Some(Ok(info)) if info.collections.iter().any(|c| c.id == "scenes")));
    assert_eq!(harness.state().persisted.recent_stac_sources, [url.clone()], "remembered");
    harness.get_by_label("scenes").click();
    harness.step();

    // A bounded search with a cloud cover query (applied locally: rustac does not declare it).
    let params = SearchParams {
        collections: vec!["scenes".into()],
        query: Some(meshlake::engine::stac::search::parse_query("eo:cloud_cover<=9").unwrap()),
        max_items: Some(150),
        limit: Some(50),
        ..Default::default()
    };
    harness.state_mut().queue_command(Command::StacSearch { source: url.clone(), params });
    step_until(&mut harness, "the search to finish", |app| !app.model.stac.running && app.model.stac.summary.is_some());
    let stac = &harness.state().model.stac;
    assert_eq!(stac.items.len(), 150);
    assert!(stac.items.iter().all(|i| i.cloud_cover.unwrap() <= 9.0));
    harness.get_by_label_contains("query applied local");
    let layer = harness.state().map_layers().iter().find(|l| l.id == STAC_RESULTS_LAYER_ID).expect("results on the map");
    assert_eq!(layer.features.len(), 150);

    // Click a row: it is selected, its footprint is highlighted and its details show.
    let id = harness.state().model.stac.items[3].id.clone();
    harness.get_by_label(&id).click();
    harness.step();
    harness.step();
    assert_eq!(harness.state().model.stac.selected, Some(3));
    let layer = harness.state().map_layers().iter().find(|l| l.id == STAC_RESULTS_LAYER_ID).unwrap();
    assert_eq!(layer.features.iter().filter(|f| f.selected).count(), 1);
    assert!(layer.features[3].selected);
    harness.get_by_label("proj: (1)");
    harness.get_by_label("eo:cloud_cover");
    harness.get_by_label("platform");
    harness.get_by_label("Assets (1)");

    // Hovering a footprint on the map highlights its row (the model's hovered result); leaving clears it.
    let bbox = harness.state().model.stac.items[7].bbox.unwrap();
    harness.state_mut().queue_command(Command::ZoomToBbox(bbox));
    harness.step();
    harness.step();
    let centre = ((bbox[0] + bbox[2]) / 2.0, (bbox[1] + bbox[3]) / 2.0);
    let p = harness.state().map.screen_pos_of(centre.0, centre.1).expect("the map is shown");
    harness.hover_at(p);
    harness.step();
    harness.step();
    assert_eq!(harness.state().model.stac.hovered, Some(7));
    let rect = harness.state().map.map_rect().unwrap();
    harness.hover_at(rect.left_top() + egui::vec2(2.0, 2.0));
    harness.step();
    harness.step();
    assert_eq!(harness.state().model.stac.hovered, None);

    // A long search (2000 items, 10 a page) streams pages in; Cancel stops it.
    let params = SearchParams { limit: Some(10), max_items: Some(100_000), ..Default::default() };
    harness.state_mut().queue_command(Command::StacSearch { source: url.clone(), params });
    step_until(&mut harness, "the first pages", |app| app.model.stac.items.len() >= 20);
    assert!(harness.state().model.stac.running, "still paging");
    harness.get_by_label("Cancel search").click();
    step_until(&mut harness, "the search to stop", |app| !app.model.stac.running);
    let stac = &harness.state().model.stac;
    assert!(stac.items.len() < 2000, "cancelled before the end: {}", stac.items.len());
    let job = harness.state().model.jobs.iter().rev().find(|j| j.title.starts_with("STAC search")).unwrap();
    assert!(matches!(job.state, JobState::Cancelled), "{:?}", job.state);
}

#[test]
fn validate_in_the_catalog_panel_lists_the_problems_and_the_app_keeps_running() {
    let Some(fixtures) = common::fixtures() else { return };
    let tmp = tempfile::tempdir().unwrap();
    // A real 1.1.0 item (valid), and a copy whose datetime is null without start/end and whose
    // created time is not RFC 3339 (both still load as STAC).
    let folder = tmp.path().join("items");
    std::fs::create_dir_all(&folder).unwrap();
    let good: Value = serde_json::from_slice(&std::fs::read(fixtures.join("rustac/spec-examples/v1.1.0/core-item.json")).unwrap()).unwrap();
    let mut broken = good.clone();
    broken["id"] = json!("broken-item");
    broken["properties"]["created"] = json!("last tuesday");
    std::fs::write(folder.join("good-item.json"), good.to_string()).unwrap();
    std::fs::write(folder.join("broken-item.json"), broken.to_string()).unwrap();
    let catalog = json!({
        "type": "Catalog", "stac_version": "1.1.0", "id": "validate-test", "description": "two items to validate",
        "links": [{"rel": "item", "href": "./good-item.json"}, {"rel": "item", "href": "./broken-item.json"}]
    });
    std::fs::write(folder.join("catalog.json"), catalog.to_string()).unwrap();
    let mut harness = Harness::builder()
        .with_size(egui::vec2(1400.0, 900.0))
        .with_max_steps(10_000)
        .build_eframe(|cc| MeshlakeApp::new(cc, options(&tmp.path().join("data"), &folder)).expect("app starts"));
    harness.state_mut().queue_command(Command::FocusPane(Pane::Catalog));
    step_until(&mut harness, "the catalog to load", |app| app.model.catalogs.first().is_some_and(|c| c.tree.value().is_some()));
    // The opened folder is remembered and offered again by the panel's Recent sources menu.
    assert_eq!(harness.state().model.recent_sources.first(), Some(&folder));
    harness.get_by_label("Recent sources").click();
    harness.step();
    harness.step();
    harness.get_by_label(&folder.display().to_string());
    harness.key_press(egui::Key::Escape);
    harness.step();
    let index_of = |app: &MeshlakeApp, id: &str| app.model.catalogs[0].tree.value().unwrap().nodes.iter().position(|n| n.id == id).unwrap();

    let broken_index = index_of(harness.state(), "broken-item");
    harness.state_mut().queue_command(Command::SelectCatalogNode { catalog: 0, node: broken_index });
    harness.step();
    harness.step();
    harness.get_by_label("Validate").click();
    step_until(&mut harness, "the validation", |app| {
        app.model.stac_validation.as_ref().is_some_and(|(_, r)| !r.is_pending())
    });
    let (_, result) = harness.state().model.stac_validation.as_ref().unwrap();
    let report = result.value().expect("a report");
    assert!(!report.valid);
    assert!(report.problems.iter().any(|p| p.path == "/properties/created"), "{:#?}", report.problems);
    harness.get_by_label_contains("invalid: ");
    let rows = harness.query_all_by_label("/properties/created").count();
    assert_eq!(rows, report.problems.iter().filter(|p| p.path == "/properties/created").count());
    assert!(harness.query_all_by_label_contains("is not a \"date-time\"").count() >= 1);

    // The valid item: its own verdict, and the broken one's problems are gone from the panel.
    let good_index = index_of(harness.state(), "20201211_223832_CS2");
    harness.state_mut().queue_command(Command::SelectCatalogNode { catalog: 0, node: good_index });
    harness.step();
    harness.step();
    assert!(harness.query_by_label("/properties/created").is_none());
    harness.get_by_label("Validate").click();
    step_until(&mut harness, "the second validation", |app| {
        app.model.stac_validation.as_ref().is_some_and(|(_, r)| matches!(r, meshlake::ui::model::Requested::Ready(v) if v.valid))
    });
    harness.get_by_label_contains("valid (1 schema(s))");
}
