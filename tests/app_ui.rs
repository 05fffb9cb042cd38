//! The whole app under egui_kittest: starts on a demo workspace written into a temp data dir, clicks
//! through every panel and checks what each shows; bad input keeps it running; a 10 s job leaves the
//! UI responsive.

use std::path::Path;
use std::time::{Duration, Instant};

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use meshlake::engine::jobs::JobSpec;
use meshlake::ui::commands::Command;
use meshlake::ui::model::{JobState, NoticeLevel, Requested};
use meshlake::ui::{AppOptions, MeshlakeApp};

mod common;

use common::ui::{options, step_until};

fn harness(options: AppOptions) -> Harness<'static, MeshlakeApp> {
    Harness::builder()
        .with_size(egui::vec2(1500.0, 950.0))
        .with_max_steps(10_000)
        .build_eframe(move |cc| MeshlakeApp::new(cc, options).expect("app starts"))
}

fn demo_loaded(app: &MeshlakeApp) -> bool {
    let catalogs_ready = !app.model.catalogs.is_empty()
        && app.model.catalogs.iter().all(|c| matches!(c.tree, Requested::Ready(_)));
    let tables_ready = app.model.tables.len() == 2
        && app.model.tables.iter().all(|t| matches!(t.overview, Requested::Ready(_) | Requested::Failed(_)));
    catalogs_ready && tables_ready
}

fn click_label_containing(harness: &mut Harness<'_, MeshlakeApp>, text: &str) {
    let node = harness
        .query_all_by_label_contains(text)
        .next()
        .unwrap_or_else(|| panic!("no widget whose label contains {text:?}"));
    node.click();
    harness.step();
    harness.step();
}

fn has_label_containing(harness: &Harness<'_, MeshlakeApp>, text: &str) -> bool {
    harness.query_all_by_label_contains(text).next().is_some()
}

#[test]
fn whole_app_on_the_demo_workspace() {
    let tmp = tempfile::tempdir().unwrap();
    let mut harness = harness(options(tmp.path()));
    step_until(&mut harness, Duration::from_secs(180), "the demo workspace to be written and opened", demo_loaded);

    // --- Catalog: the tree, an item's properties, its footprint on the map.
    let tree = harness.state().model.catalogs[0].tree.value().unwrap().clone();
    let items: Vec<_> = tree.items().map(|(i, n)| (i, n.id.clone())).collect();
    assert!(items.len() >= 4, "items: {items:?}");
    assert!(has_label_containing(&harness, "meshlake demo catalog"));
    let (item_index, item_id) = items[0].clone();
    click_label_containing(&mut harness, &item_id);
    assert_eq!(harness.state().model.selected_node, Some((0, item_index)));
    assert!(has_label_containing(&harness, "eo:cloud_cover"), "item properties shown");
    assert!(has_label_containing(&harness, "proj:epsg"));
    assert!(has_label_containing(&harness, "B04.tif"), "assets shown");
    // The footprints layer has one feature per item, the selected one marked.
    let layer = harness.state().map_layers().iter().find(|l| l.id == meshlake::ui::app::FOOTPRINTS_LAYER_ID).unwrap();
    assert_eq!(layer.features.len(), items.len());
    assert_eq!(layer.features.iter().filter(|f| f.selected).count(), 1);
    let bbox = tree.nodes[item_index].bbox.unwrap();
    click_label_containing(&mut harness, "Zoom map to footprint");
    let [lon, lat] = harness.state().map.center();
    assert!(bbox[0] <= lon && lon <= bbox[2] && bbox[1] <= lat && lat <= bbox[3], "map centred on {lon},{lat}");

    // --- Map: the layers list names the footprints layer; the cursor position is shown.
    assert!(has_label_containing(&harness, "STAC item footprints"));

    // --- Catalog to Map: the item's false-colour preview as a raster tile layer, rendered in the background.
    click_label_containing(&mut harness, "Show false-colour preview on map");
    let preview_id = format!("preview:{item_id}");
    assert_eq!(harness.state().map.raster_tile_layer_ids(), [preview_id.clone()]);
    let preview = harness.state().map.raster_tile_layer(&preview_id).unwrap().clone();
    assert_eq!(preview.name, format!("{item_id} (B08/B04/B04)"));
    assert!(matches!(&preview.source, meshlake::ui::map::PreviewSource::FalseColor { nir, red }
        if nir.ends_with("B08.tif") && red.ends_with("B04.tif")));
    let [lon, lat] = harness.state().map.center();
    assert!(bbox[0] <= lon && lon <= bbox[2] && bbox[1] <= lat && lat <= bbox[3], "map on the item: {lon},{lat}");
    step_until(&mut harness, Duration::from_secs(10), "a preview tile to render", |app| {
        app.map.rendered_raster_tiles(&preview_id) > 0
    });
    assert!(harness.state().map.raster_tiles(&preview_id).and_then(|t| t.error()).is_none());
    assert!(has_label_containing(&harness, &format!("{item_id} (B08/B04/B04)")), "listed in the map's layers");
    assert!(has_label_containing(&harness, "Remove preview"), "the catalog panel knows it is shown");

    // --- Tables: both demo tables with their overview.
    click_label_containing(&mut harness, "Tables");
    assert!(has_label_containing(&harness, "parcels_delta"));
    assert!(has_label_containing(&harness, "demo.parcels"));
    for entry in &harness.state().model.tables {
        match &entry.overview {
            Requested::Ready(overview) => {
                assert!(overview.rows.unwrap_or(0) > 100, "{}: rows {:?}", entry.reference, overview.rows);
                assert!(overview.files > 1 && overview.versions > 1, "{}: {overview:?}", entry.reference);
                assert!(!overview.geometry_columns.is_empty() || entry.reference.contains("iceberg"));
            }
            other => panic!("{}: overview {other:?}", entry.reference),
        }
    }
    assert!(has_label_containing(&harness, "Data files"));
    click_label_containing(&mut harness, "demo.parcels");
    assert!(has_label_containing(&harness, "Iceberg"));

    // --- Jobs: the demo job and the loads, finished, with elapsed times.
    click_label_containing(&mut harness, "Jobs");
    assert!(has_label_containing(&harness, "Write demo workspace"));
    assert!(has_label_containing(&harness, "finished"));
    // Health jobs start when a table is shown and may still be running; they finish on their own.
    step_until(&mut harness, Duration::from_secs(60), "every job to finish", |app| {
        app.model.jobs.iter().all(|j| !matches!(j.state, JobState::Running { .. }))
    });
    assert!(harness.state().model.jobs.iter().all(|j| j.state == JobState::Finished), "{:#?}", harness.state().model.jobs);

    // --- Log: tracing output of those jobs.
    click_label_containing(&mut harness, "Log");
    assert!(has_label_containing(&harness, "started: Write demo workspace"));

    // --- Bad input: a missing path, a corrupt catalog, a folder that is neither; the app keeps running.
    let missing = tmp.path().join("no-such-folder");
    harness.state_mut().queue_command(Command::OpenPath(missing));
    let corrupt = tmp.path().join("broken");
    std::fs::create_dir_all(&corrupt).unwrap();
    std::fs::write(corrupt.join("catalog.json"), "{\"type\": \"Catalog\", \"stac_version\": ").unwrap();
    harness.state_mut().queue_command(Command::OpenPath(corrupt.join("catalog.json")));
    let photos = tmp.path().join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    std::fs::write(photos.join("cat.jpg"), b"\xff\xd8\xff").unwrap();
    harness.state_mut().queue_command(Command::OpenPath(photos));
    step_until(&mut harness, Duration::from_secs(30), "three error notices", |app| {
        app.model.notices.iter().filter(|n| n.level == NoticeLevel::Error).count() >= 3
    });
    let errors: Vec<String> =
        harness.state().model.notices.iter().filter(|n| n.level == NoticeLevel::Error).map(|n| n.text.clone()).collect();
    assert!(errors.iter().any(|e| e.contains("does not exist")), "{errors:?}");
    assert!(errors.iter().any(|e| e.contains("invalid JSON")), "{errors:?}");
    assert!(errors.iter().any(|e| e.contains("holds nothing meshlake can open")), "{errors:?}");
    assert!(has_label_containing(&harness, "does not exist"), "the error is shown in the notice bar");
    // Earlier content is untouched.
    assert!(demo_loaded(harness.state()));
}

#[test]
fn a_ten_second_job_leaves_the_window_responsive_and_can_be_cancelled() {
    let tmp = tempfile::tempdir().unwrap();
    let mut harness = harness(options(tmp.path()));
    step_until(&mut harness, Duration::from_secs(180), "the demo", demo_loaded);
    let handle = harness.state_mut().submit_job(JobSpec::Wait { secs: 10.0 });
    click_label_containing(&mut harness, "Jobs");
    // 30 frames while the job sleeps: each frame must be quick (no waiting on the job).
    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    for _ in 0..30 {
        let frame = Instant::now();
        harness.step();
        slowest = slowest.max(frame.elapsed());
    }
    assert!(started.elapsed() < Duration::from_secs(5), "30 frames took {:?}", started.elapsed());
    assert!(slowest < Duration::from_millis(500), "slowest frame {slowest:?}");
    let job = harness.state().model.jobs.iter().find(|j| j.id == handle.id).unwrap().clone();
    assert!(job.is_running(), "still running: {:?}", job.state);
    assert!(has_label_containing(&harness, "Wait 10 s"));
    // Cancel from the Jobs panel.
    click_label_containing(&mut harness, "Cancel");
    step_until(&mut harness, Duration::from_secs(3), "the job to be cancelled", |app| {
        app.model.jobs.iter().any(|j| j.id == handle.id && j.state == JobState::Cancelled)
    });
    assert!(has_label_containing(&harness, "cancelled"));
}

#[test]
fn an_unwritable_data_dir_is_reported_and_the_app_keeps_running() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("not-a-folder");
    std::fs::write(&file, b"x").unwrap();
    let mut harness = harness(options(&file.join("data")));
    step_until(&mut harness, Duration::from_secs(30), "the demo job to report the data dir", |app| {
        app.model.data_dir_problem.is_some()
    });
    let app = harness.state();
    assert!(app.model.data_dir_problem.as_deref().unwrap_or("").contains("not writable"), "{:?}", app.model.data_dir_problem);
    assert!(has_label_containing(&harness, "MESHLAKE_DATA_DIR"), "the notice tells what to do");
    // Every panel still draws.
    for pane in ["Tables", "Jobs", "Log", "Catalog"] {
        click_label_containing(&mut harness, pane);
    }
    assert!(has_label_containing(&harness, "No STAC catalog open"));
}

/// A folder dropped onto the window, as the windowing integration would hand it to egui.
#[derive(Debug)]
struct DroppedFolder(std::path::PathBuf);

impl egui::DroppedFile for DroppedFolder {
    fn path(&self) -> &Path {
        &self.0
    }
    fn bytes(&self) -> Result<Vec<u8>, String> {
        Err("a folder has no bytes".to_owned())
    }
}

#[test]
fn dropping_a_table_folder_and_a_catalog_opens_them() {
    let tmp = tempfile::tempdir().unwrap();
    // Write a demo elsewhere with the CLI's code path, then start the app on an empty folder of its own.
    let demo = tmp.path().join("elsewhere");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_meshlake"))
        .args(["demo", "--dir"])
        .arg(&demo)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut opts = options(&tmp.path().join("data"));
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(empty.join("nothing-here")).unwrap();
    opts.open_path = Some(demo.join("tables"));
    let mut harness = harness(opts);
    step_until(&mut harness, Duration::from_secs(60), "the tables folder to open", |app| {
        app.model.tables.len() == 1 && matches!(app.model.tables[0].overview, Requested::Ready(_))
    });
    assert!(harness.state().model.catalogs.is_empty(), "only what was asked for is opened");
    let handle: egui::DroppedFileHandle = std::sync::Arc::new(DroppedFolder(demo.join("stac")));
    harness.input_mut().dropped_files.push(handle);
    step_until(&mut harness, Duration::from_secs(60), "the dropped catalog to load", |app| {
        app.model.catalogs.len() == 1 && matches!(app.model.catalogs[0].tree, Requested::Ready(_))
    });
    assert!(harness.state().persisted.recent_sources.iter().any(|p| p.ends_with("stac")), "remembered as recent");
}

/// eframe's storage kept in memory, as the native integration keeps it in a file.
#[derive(Default)]
struct MemoryStorage(std::collections::HashMap<String, String>);

impl eframe::Storage for MemoryStorage {
    fn get_string(&self, key: &str) -> Option<String> {
        self.0.get(key).cloned()
    }
    fn set_string(&mut self, key: &str, value: String) {
        self.0.insert(key.to_owned(), value);
    }
    fn remove_string(&mut self, key: &str) {
        self.0.remove(key);
    }
    fn flush(&mut self) {}
}

#[test]
fn theme_layout_map_view_and_sources_persist_between_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let mut storage = MemoryStorage::default();
    let extra = tmp.path().join("extra");
    std::fs::create_dir_all(extra.join("t/_delta_log")).unwrap();
    {
        let mut harness = harness(options(tmp.path()));
        step_until(&mut harness, Duration::from_secs(180), "the demo", demo_loaded);
        harness.state_mut().queue_command(Command::SetTheme(meshlake::ui::model::ThemeChoice::Dark));
        harness.state_mut().queue_command(Command::OpenPath(extra.clone()));
        harness.state_mut().map.set_view([4.6, 52.2], 9.0);
        step_until(&mut harness, Duration::from_secs(30), "the extra folder to be scanned", |app| app.model.tables.len() == 3);
        eframe::App::save(harness.state_mut(), &mut storage);
    }
    let mut restored = options(tmp.path());
    restored.restore_state = true;
    let storage_ref: &'static MemoryStorage = Box::leak(Box::new(storage));
    let mut harness = Harness::builder().with_size(egui::vec2(1500.0, 950.0)).build_eframe(move |cc| {
        cc.storage = Some(storage_ref);
        MeshlakeApp::new(cc, restored).expect("app starts")
    });
    harness.step();
    let app = harness.state();
    assert_eq!(app.persisted.theme, meshlake::ui::model::ThemeChoice::Dark);
    assert_eq!(app.map.center(), [4.6, 52.2]);
    assert_eq!(app.map.zoom(), 9.0);
    assert!(app.persisted.recent_sources.contains(&extra), "{:?}", app.persisted.recent_sources);
    // The extra source is reopened on start, next to the demo.
    step_until(&mut harness, Duration::from_secs(60), "the sources to reopen", |app| {
        app.model.tables.iter().any(|t| t.reference.ends_with("extra/t")) && demo_loaded_with(app, 3)
    });
    assert_eq!(harness.ctx.theme(), egui::Theme::Dark);
}

fn demo_loaded_with(app: &MeshlakeApp, tables: usize) -> bool {
    !app.model.catalogs.is_empty()
        && app.model.catalogs.iter().all(|c| matches!(c.tree, Requested::Ready(_)))
        && app.model.tables.len() == tables
}

/// Click a tab of the selected table (a selectable label, not e.g. the table list's "Files" header).
fn click_tab(harness: &mut Harness<'_, MeshlakeApp>, text: &str) {
    use egui_kittest::kittest::NodeT;
    let node = harness
        .query_all_by_label(text)
        .find(|n| n.accesskit_node().toggled().is_some())
        .unwrap_or_else(|| panic!("no tab labelled {text:?}"));
    node.click();
    harness.step();
    harness.step();
}

fn click_exact_label(harness: &mut Harness<'_, MeshlakeApp>, text: &str) {
    let node = harness
        .query_all_by_label(text)
        .next()
        .unwrap_or_else(|| panic!("no widget labelled {text:?}"));
    node.click();
    harness.step();
    harness.step();
}

/// Opens `name` in the Tables panel, time-travels to its second-newest version from the History tab and
/// checks the Overview, Files and Data tabs at that version.
fn time_travel_one_table(harness: &mut Harness<'_, MeshlakeApp>, name: &str, iceberg: bool) {
    use meshlake::engine::lake::inspect::{FileKind, VersionSelector};
    click_label_containing(harness, name);
    let index = harness.state().model.tables.iter().position(|t| t.reference.contains(name)).unwrap();
    assert_eq!(harness.state().model.selected_table, Some(index));
    let latest_rows = harness.state().model.tables[index].overview.value().unwrap().rows.unwrap();

    click_tab(harness, "History");
    step_until(harness, Duration::from_secs(60), "the history", |app| {
        matches!(app.model.tables[index].history, Requested::Ready(_) | Requested::Failed(_))
    });
    let history = match &harness.state().model.tables[index].history {
        Requested::Ready(history) => history.clone(),
        other => panic!("{name}: history {other:?}"),
    };
    assert!(history.versions.len() >= 3, "{name}: {history:?}");
    let old = history.versions[history.versions.len() - 2].version;
    click_exact_label(harness, &format!("v{old}"));
    let expected = if iceberg { VersionSelector::Snapshot(old) } else { VersionSelector::Version(old) };
    assert_eq!(harness.state().model.tables[index].selected_version, expected);
    step_until(harness, Duration::from_secs(60), "info, files and rows at the old version", |app| {
        let t = &app.model.tables[index];
        [t.info.is_pending(), t.files.is_pending(), t.page.is_pending()].iter().all(|p| !p)
    });
    let header = if iceberg { format!("at snapshot {old}") } else { format!("at version {old}") };
    assert!(has_label_containing(harness, &header), "header shows {header:?}");

    // Overview: the figures of that version.
    click_tab(harness, "Overview");
    let entry = &harness.state().model.tables[index];
    let info = match &entry.info {
        Requested::Ready(info) => info.clone(),
        other => panic!("{name}: info {other:?}"),
    };
    assert_eq!(info.version, Some(old));
    let old_rows = info.num_rows.unwrap();
    assert!(old_rows < latest_rows, "{name}: {old_rows} rows at {old}, {latest_rows} latest");
    assert!(has_label_containing(harness, "Data files"));
    assert!(has_label_containing(harness, "Small files"));

    // Files: one row per live data file.
    click_tab(harness, "Files");
    let files = match &harness.state().model.tables[index].files {
        Requested::Ready(files) => files.clone(),
        other => panic!("{name}: files {other:?}"),
    };
    let data_files = files.files.iter().filter(|f| f.kind == FileKind::Data).count() as u64;
    assert_eq!(data_files, info.num_files, "{name}");
    assert!(has_label_containing(harness, &format!("{} files", files.files.len())));
    for file in &files.files {
        let file_name = file.path.rsplit('/').next().unwrap();
        assert!(has_label_containing(harness, file_name), "{name}: file {file_name} listed");
    }

    // Data: a page of 50 rows with WKT geometries.
    click_tab(harness, "Data");
    let page = match &harness.state().model.tables[index].page {
        Requested::Ready(page) => page.clone(),
        other => panic!("{name}: page {other:?}"),
    };
    assert_eq!(page.rows.len(), 50, "{name}");
    assert!(
        page.rows.iter().flatten().any(|v| v.as_str().is_some_and(|s| s.starts_with("POLYGON"))),
        "{name}: {:?}",
        page.rows.first()
    );
    assert!(has_label_containing(harness, "POLYGON"), "{name}: geometry cells shown");
    assert!(has_label_containing(harness, "rows 1–50"));
    click_exact_label(harness, "Next");
    assert_eq!(harness.state().model.tables[index].page_offset, 50);
    step_until(harness, Duration::from_secs(60), "the next page", |app| !app.model.tables[index].page.is_pending());
    assert!(has_label_containing(harness, "rows 51–"), "{name}: second page shown");

    // Back to the latest version.
    click_exact_label(harness, "Latest");
    assert_eq!(harness.state().model.tables[index].selected_version, VersionSelector::Latest);
    step_until(harness, Duration::from_secs(60), "the latest rows", |app| !app.model.tables[index].page.is_pending());
}

/// The app (1500×1500) on a demo workspace in `data_dir`, loaded, with the Tables panel shown.
fn tall_harness_on_the_demo_tables(data_dir: &Path) -> Harness<'static, MeshlakeApp> {
    let opts = options(data_dir);
    let mut harness = Harness::builder()
        .with_size(egui::vec2(1500.0, 1500.0))
        .with_max_steps(10_000)
        .build_eframe(move |cc| MeshlakeApp::new(cc, opts).expect("app starts"));
    step_until(&mut harness, Duration::from_secs(180), "the demo workspace to be written and opened", demo_loaded);
    click_label_containing(&mut harness, "Tables");
    harness
}

#[test]
fn tables_panel_time_travel_files_and_data() {
    let tmp = tempfile::tempdir().unwrap();
    let mut harness = tall_harness_on_the_demo_tables(tmp.path());
    time_travel_one_table(&mut harness, "parcels_delta", false);
    time_travel_one_table(&mut harness, "demo.parcels", true);
}

/// Files tab health figures and file footprints, Data page rows on the map, Schema tab diff and
/// "as of" time travel, on the demo Delta table (and, with the peers, a table whose schema evolved).
#[test]
fn tables_panel_schema_health_footprints_and_rows_on_map() {
    use egui_kittest::kittest::NodeT;
    use meshlake::engine::lake::inspect::{FileKind, SmallFilePolicy, VersionSelector};
    let tmp = tempfile::tempdir().unwrap();
    let mut harness = tall_harness_on_the_demo_tables(tmp.path());
    click_label_containing(&mut harness, "parcels_delta");
    let index = harness.state().model.tables.iter().position(|t| t.reference.contains("parcels_delta")).unwrap();
    let reference = harness.state().model.tables[index].reference.clone();

    // Files: size histogram + small files per partition; every demo file is small (KiB-sized).
    click_tab(&mut harness, "Files");
    step_until(&mut harness, Duration::from_secs(60), "the files", |app| app.model.tables[index].files.value().is_some());
    let files = harness.state().model.tables[index].files.value().unwrap().clone();
    let data_files = files.files.iter().filter(|f| f.kind == FileKind::Data).count() as u64;
    let health = harness.state().model.tables[index].files_health.clone().expect("health computed");
    assert_eq!((health.data_files, health.small_files), (data_files, data_files));
    assert_eq!(health.size_histogram.iter().map(|b| b.files).sum::<u64>(), data_files);
    assert!(has_label_containing(&harness, &format!("{data_files} of {data_files} data files small")));
    assert!(has_label_containing(&harness, "(unpartitioned)"));
    // A stricter policy: files below 7,000 bytes are small, more than 2 per partition alerts.
    let policy = SmallFilePolicy { small_file_bytes: 7_000, max_small_files_per_partition: 2, ..SmallFilePolicy::default() };
    harness.state_mut().queue_command(Command::SetSmallFilePolicy(policy));
    harness.step();
    harness.step();
    let expected_small = files.files.iter().filter(|f| f.kind == FileKind::Data && f.bytes < 7_000).count() as u64;
    let health = harness.state().model.tables[index].files_health.clone().unwrap();
    assert_eq!(health.small_files, expected_small);
    assert_eq!(health.partitions[0].alert, expected_small > 2);
    assert_eq!(harness.state().persisted.small_file_bytes, Some(7_000));

    // File footprints: one rectangle per file, each file's GeoParquet bbox.
    assert!(files.files.iter().all(|f| f.bbox.is_some()), "demo files carry a GeoParquet bbox");
    click_label_containing(&mut harness, "Show file footprints on map");
    let layer_id = format!("files:{reference}");
    step_until(&mut harness, Duration::from_secs(60), "the footprints job", |app| app.map_layers().iter().any(|l| l.id == layer_id));
    let layer = harness.state().map_layers().iter().find(|l| l.id == layer_id).cloned().expect("footprints layer");
    assert_eq!(layer.features.len(), files.files.len());
    let bbox = meshlake::engine::lake::DEMO_BBOX;
    for feature in &layer.features {
        let rect = geo::BoundingRect::bounding_rect(&feature.geometry).unwrap();
        assert!(rect.min().x >= bbox[0] - 1e-6 && rect.max().x <= bbox[2] + 1e-6, "{rect:?}");
        assert!(rect.min().y >= bbox[1] - 1e-6 && rect.max().y <= bbox[3] + 1e-6, "{rect:?}");
    }
    click_label_containing(&mut harness, "Remove footprints");
    assert!(harness.state().map_layers().iter().all(|l| l.id != layer_id));

    // Data: the page's geometries drawn on the map.
    click_tab(&mut harness, "Data");
    step_until(&mut harness, Duration::from_secs(60), "the first page", |app| app.model.tables[index].page.value().is_some());
    click_exact_label(&mut harness, "Show on map");
    let rows_id = format!("rows:{reference}");
    step_until(&mut harness, Duration::from_secs(60), "the page's rows on the map", |app| {
        app.map_layers().iter().any(|l| l.id == rows_id)
    });
    let rows = harness.state().map_layers().iter().find(|l| l.id == rows_id).unwrap().clone();
    assert_eq!(rows.features.len(), 50);
    assert_eq!(rows.features[0].label, "row 1");

    // Schema: the schema at the version, compared with the first version (the demo's schema never changes).
    click_tab(&mut harness, "Schema");
    step_until(&mut harness, Duration::from_secs(60), "schema and history", |app| {
        let t = &app.model.tables[index];
        t.info.value().is_some() && t.history.value().is_some()
    });
    assert!(has_label_containing(&harness, "4 columns latest"));
    let combo = harness.query_all_by_role(egui::accesskit::Role::ComboBox).next().expect("the compare combo box");
    combo.click();
    harness.step();
    harness.step();
    harness.query_all_by_label_contains("v0 ·").next().expect("version 0 in the list").click_accesskit();
    harness.step();
    harness.step();
    step_until(&mut harness, Duration::from_secs(60), "the schema diff", |app| {
        app.model.tables[index].schema_diff.as_ref().is_some_and(|(_, d)| d.value().is_some())
    });
    assert!(has_label_containing(&harness, "No schema changes"));

    // As of: the time of version 3 selects version 3.
    let history = harness.state().model.tables[index].history.value().unwrap().clone();
    let v3 = history.versions.iter().find(|v| v.version == 3).unwrap().timestamp.unwrap();
    let field = harness
        .query_all_by_role(egui::accesskit::Role::TextInput)
        .find(|n| n.accesskit_node().placeholder() == Some("YYYY-MM-DD HH:MM"))
        .expect("the as-of field");
    field.focus();
    field.type_text(&v3.to_rfc3339());
    harness.step();
    click_exact_label(&mut harness, "Go");
    assert_eq!(harness.state().model.tables[index].selected_version, VersionSelector::AsOf(v3));
    step_until(&mut harness, Duration::from_secs(60), "the table as of that time", |app| {
        app.model.tables[index].info.value().is_some_and(|i| i.version == Some(3))
    });

    // With the peers: a Delta table whose schema the Python deltalake package evolved shows its changes.
    let Some(python) = common::python() else { return };
    let script = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/write_evolving_tables.py")).unwrap();
    common::run_python(&python, &script, &[tmp.path().to_str().unwrap()]);
    let evolving = tmp.path().join("evolving_delta");
    harness.state_mut().queue_command(Command::OpenPath(evolving.clone()));
    step_until(&mut harness, Duration::from_secs(60), "the evolving table", |app| {
        app.model.tables.iter().any(|t| t.reference.ends_with("evolving_delta") && t.overview.value().is_some())
    });
    let evolving_index = harness.state().model.tables.iter().position(|t| t.reference.ends_with("evolving_delta")).unwrap();
    harness.state_mut().queue_command(Command::SelectTable(evolving_index));
    harness.step();
    click_tab(&mut harness, "Schema");
    step_until(&mut harness, Duration::from_secs(60), "its schema and history", |app| {
        let t = &app.model.tables[evolving_index];
        t.info.value().is_some() && t.history.value().is_some()
    });
    let combo = harness.query_all_by_role(egui::accesskit::Role::ComboBox).next().expect("the compare combo box");
    combo.click();
    harness.step();
    harness.step();
    harness.query_all_by_label_contains("v0 ·").next().expect("version 0 in the list").click_accesskit();
    harness.step();
    step_until(&mut harness, Duration::from_secs(60), "the evolving table's diff", |app| {
        app.model.tables[evolving_index].schema_diff.as_ref().is_some_and(|(_, d)| d.value().is_some())
    });
    for change in ["+ area double", "+ crop string", "− name string", "~ id: integer to long", "~ partitioning: [] to [crop]"] {
        assert!(has_label_containing(&harness, change), "the Schema tab shows {change:?}");
    }
}

/// The STAC search tab starts on the demo catalog: a first search works offline, without typing a source.
#[test]
fn stac_search_tab_searches_the_demo_catalog_out_of_the_box() {
    let tmp = tempfile::tempdir().unwrap();
    let mut harness = harness(options(tmp.path()));
    step_until(&mut harness, Duration::from_secs(180), "the demo workspace to be written and opened", demo_loaded);
    click_exact_label(&mut harness, "STAC search");
    click_exact_label(&mut harness, "Search");
    step_until(&mut harness, Duration::from_secs(60), "the demo search", |app| !app.model.stac.running && !app.model.stac.items.is_empty());
    let stac = &harness.state().model.stac;
    assert!(stac.source.ends_with("stac/catalog.json"), "{}", stac.source);
    assert_eq!(stac.items.len(), 5, "{:?}", stac.error);
    assert!(has_label_containing(&harness, "5 items of 5 matched"));
}
