//! The Maintain tab under egui_kittest on the demo tables: a dry-run plan, a spatial compaction
//! after confirmation (the table is read again at the new version, the before/after file bboxes
//! are shown), the health section in the Overview, and a refused short vacuum retention.

mod common;

use common::ui::{click, open_tab, options, step_until};

use std::time::Duration;

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use meshlake::ui::model::Requested;
use meshlake::ui::MeshlakeApp;

fn compact_in_the_gui(harness: &mut Harness<'_, MeshlakeApp>, table: &str) {
    click(harness, "Tables");
    click(harness, table);
    let index = harness.state().model.tables.iter().position(|t| t.reference.contains(table)).unwrap();
    // The Overview records the table's health and shows it.
    step_until(harness, Duration::from_secs(60), "the health series", |app| {
        matches!(app.model.tables[index].health, Requested::Ready(_) | Requested::Failed(_))
    });
    let Requested::Ready(health) = &harness.state().model.tables[index].health else { panic!("health failed") };
    assert_eq!(health.observations.len(), 1);
    let files_before = health.observations[0].files;
    assert!(harness.query_all_by_label_contains("healthy").next().is_some(), "health badge shown");

    open_tab(harness, "Maintain");
    click(harness, "Plan (dry run)");
    step_until(harness, Duration::from_secs(120), "the plan", |app| {
        matches!(app.model.tables[index].maintenance.plan, Requested::Ready(_) | Requested::Failed(_))
    });
    let plan = match &harness.state().model.tables[index].maintenance.plan {
        Requested::Ready(plan) => plan.clone(),
        other => panic!("plan: {other:?}"),
    };
    assert!(plan.dry_run && plan.version_after.is_none());
    assert_eq!(plan.files_before, files_before);
    assert!(plan.files_after < plan.files_before, "{plan:?}");
    assert!(harness.query_all_by_label_contains(&format!("{} to {}", plan.files_before, plan.files_after)).next().is_some());
    let version_before = harness.state().model.tables[index].overview.value().unwrap().current_version.clone();

    click(harness, "spatial (Hilbert)");
    click(harness, "Compact…");
    assert!(harness.query_all_by_label_contains("Compact table?").next().is_some(), "asks first");
    click(harness, "Confirm");
    step_until(harness, Duration::from_secs(180), "the compaction", |app| {
        matches!(app.model.tables[index].maintenance.compaction, Requested::Ready(_) | Requested::Failed(_))
    });
    let report = match &harness.state().model.tables[index].maintenance.compaction {
        Requested::Ready(report) => report.clone(),
        other => panic!("compaction: {other:?}"),
    };
    assert_eq!(report.rows_after, report.rows_before);
    assert!(report.rows_verified);
    assert_eq!(report.files_after, plan.files_after, "the run does what the plan said");
    assert!(report.order.contains("spatial"), "{}", report.order);
    assert!(matches!(harness.state().model.tables[index].maintenance.plan, Requested::NotRequested), "the old version's plan is gone");
    // The table is read again: the Overview shows the new version and fewer files.
    step_until(harness, Duration::from_secs(120), "the reloaded overview", |app| {
        app.model.tables[index].overview.value().is_some_and(|o| o.current_version != version_before)
    });
    assert_eq!(harness.state().model.tables[index].overview.value().unwrap().files, report.files_after);
    // Before and after, side by side.
    step_until(harness, Duration::from_secs(60), "the before/after files", |app| {
        app.model.tables[index].maintenance.before_after.as_ref().is_some_and(|v| {
            matches!(v.before, Requested::Ready(_) | Requested::Failed(_)) && matches!(v.after, Requested::Ready(_) | Requested::Failed(_))
        })
    });
    let view = harness.state().model.tables[index].maintenance.before_after.as_ref().unwrap();
    let (Requested::Ready(before), Requested::Ready(after)) = (&view.before, &view.after) else { panic!("before/after: {view:?}") };
    assert_eq!(before.files.len() as u64, files_before);
    assert_eq!(after.files.len() as u64, report.files_after);
    assert!(harness.query_all_by_label_contains("File bboxes before and after").next().is_some());

    // A vacuum shorter than 7 days is refused unless allowed.
    let retention = harness.query_all_by_label_contains("retention").next().is_some();
    assert!(retention);
    harness.state_mut().queue_command(meshlake::ui::commands::Command::MaintainTable {
        table: index,
        action: meshlake::ui::commands::MaintenanceAction::Vacuum(meshlake::engine::lake::maintain::VacuumRequest {
            retention: chrono::Duration::hours(1),
            allow_short_retention: false,
            dry_run: true,
        }),
    });
    step_until(harness, Duration::from_secs(60), "the refused vacuum", |app| {
        matches!(app.model.tables[index].maintenance.vacuum, Requested::Ready(_) | Requested::Failed(_))
    });
    let Requested::Failed(error) = &harness.state().model.tables[index].maintenance.vacuum else { panic!("short retention accepted") };
    assert!(error.contains("allow less than 7 days"), "{error}");

    // Delta: a checkpoint at the latest version from its button; Iceberg has no such button.
    let checkpoint_button = harness.query_all_by_label_contains("Write checkpoint").next().is_some();
    if table.contains("delta") {
        assert!(checkpoint_button, "the Checkpoint section of a Delta table");
        let version = harness.state().model.tables[index].overview.value().unwrap().current_version.clone();
        click(harness, "Write checkpoint");
        step_until(harness, Duration::from_secs(60), "the checkpoint", |app| {
            matches!(app.model.tables[index].maintenance.checkpoint, Requested::Ready(_) | Requested::Failed(_))
        });
        let Requested::Ready(report) = &harness.state().model.tables[index].maintenance.checkpoint else {
            panic!("checkpoint: {:?}", harness.state().model.tables[index].maintenance.checkpoint)
        };
        assert_eq!(report.version.to_string(), version, "{report:?}");
        assert!(!report.already_existed && report.commits_to_replay_after == 0 && report.bytes > 0, "{report:?}");
        let reference = harness.state().model.tables[index].reference.clone();
        let written = std::path::Path::new(&reference).join("_delta_log").join(format!("{:020}.checkpoint.parquet", report.version));
        assert!(written.is_file(), "{written:?}");
        assert!(harness.query_all_by_label_contains("checkpoint written").next().is_some());
    } else {
        assert!(!checkpoint_button, "Iceberg tables have no checkpoints");
    }
    open_tab(harness, "Overview");
}

#[test]
fn maintain_tab_plans_and_compacts_the_demo_tables() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = options(tmp.path());
    let mut harness = Harness::builder()
        .with_size(egui::vec2(1500.0, 1600.0))
        .with_max_steps(10_000)
        .build_eframe(move |cc| MeshlakeApp::new(cc, opts).expect("app starts"));
    step_until(&mut harness, Duration::from_secs(180), "the demo tables", |app| {
        app.model.tables.len() == 2 && app.model.tables.iter().all(|t| matches!(t.overview, Requested::Ready(_)))
    });
    compact_in_the_gui(&mut harness, "parcels_delta");
    compact_in_the_gui(&mut harness, "demo.parcels");
}
