//! The app on an Iceberg REST catalog (a real server: `tests/peers/iceberg_rest_server.py` over
//! pyiceberg's SQLite catalog): a table reference opens, then the catalog reference (as the path
//! field sends it) lists every table of the catalog, nested namespaces included, in the Tables panel,
//! read in one bounded job.

mod common;

use common::ui::step_until;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::rest_catalog::{RestCatalogServer, write_tables};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use meshlake::engine::settings::AppPaths;
use meshlake::ui::commands::Command;
use meshlake::ui::model::{JobState, Pane, Requested};
use meshlake::ui::{AppOptions, MeshlakeApp};

fn options(data_dir: &Path, open: String) -> AppOptions {
    AppOptions {
        paths: Ok(AppPaths {
            data_dir: data_dir.to_path_buf(),
            cache_dir: data_dir.join("cache"),
        }),
        open_path: Some(PathBuf::from(open)),
        log: meshlake::engine::logbuf::init_logging(false, meshlake::ui::LOG_DIRECTIVES),
        cpu_threads: 2,
        restore_state: false,
    }
}

fn all_read(app: &MeshlakeApp, tables: usize) -> bool {
    app.model.tables.len() == tables
        && app
            .model
            .tables
            .iter()
            .all(|t| matches!(t.overview, Requested::Ready(_) | Requested::Failed(_)))
}

#[test]
fn a_rest_catalog_lists_its_tables_in_the_tables_panel() {
    let Some(python) = common::python() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let warehouse = tmp.path().join("lake");
    std::fs::create_dir_all(&warehouse).unwrap();
    write_tables(&python, &warehouse, 0);
    let server = RestCatalogServer::start(&python, &warehouse, &["--prefix", "cat"]);

    let nested = server.table("demo.farm.fields");
    let mut harness = Harness::builder()
        .with_size(egui::vec2(1400.0, 900.0))
        .with_max_steps(10_000)
        .build_eframe(|cc| {
            MeshlakeApp::new(cc, options(&tmp.path().join("data"), nested.clone()))
                .expect("app starts")
        });
    step_until(
        &mut harness,
        Duration::from_secs(60),
        "the nested table to open",
        |app| all_read(app, 1),
    );
    assert_eq!(harness.state().model.tables[0].reference, nested);
    let overview = harness.state().model.tables[0]
        .overview
        .value()
        .expect("overview")
        .clone();
    assert_eq!(
        (overview.rows, overview.versions),
        (Some(3), 2),
        "{overview:?}"
    );

    // The catalog itself, as the path field (or `meshlake PATH`) sends it.
    harness
        .state_mut()
        .queue_command(Command::OpenPath(PathBuf::from(server.reference())));
    harness
        .state_mut()
        .queue_command(Command::FocusPane(Pane::Tables));
    step_until(
        &mut harness,
        Duration::from_secs(90),
        "the catalog's tables",
        |app| all_read(app, 5),
    );

    let app = harness.state();
    let failed: Vec<_> = app
        .model
        .tables
        .iter()
        .filter(|t| matches!(t.overview, Requested::Failed(_)))
        .collect();
    assert!(failed.is_empty(), "every table reads: {failed:#?}");
    let parcels = app
        .model
        .tables
        .iter()
        .find(|t| t.reference == server.table("demo.parcels"))
        .expect("demo.parcels listed");
    let overview = parcels.overview.value().unwrap();
    assert_eq!(
        (overview.rows, overview.versions),
        (Some(5), 4),
        "{overview:?}"
    );
    // The four new tables were read in one job, not one job each.
    let batch: Vec<_> = app
        .model
        .jobs
        .iter()
        .filter(|j| j.title == "Read 4 tables")
        .collect();
    assert_eq!(batch.len(), 1, "{:#?}", app.model.jobs);
    assert!(
        matches!(batch[0].state, JobState::Finished),
        "{:?}",
        batch[0].state
    );

    // What the Tables panel shows.
    for _ in 0..3 {
        harness.step();
    }
    for label in [
        "5 table(s)",
        "demo.parcels",
        "demo.events",
        "demo.empty",
        "demo.farm.fields",
        "other.x",
    ] {
        assert!(
            harness.query_all_by_label(label).next().is_some(),
            "the Tables panel shows {label:?}"
        );
    }
}
