//! The Spatial tab under egui_kittest on the demo Delta table: validation finds the three planted
//! defects and draws them as a layer; a bbox query returns matches, pruning figures and a layer.

mod common;

use common::ui::{click, open_tab, options, step_until};

use std::time::Duration;

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use meshlake::engine::geo::predicate::SpatialPredicate;
use meshlake::ui::commands::Command;
use meshlake::ui::model::Requested;
use meshlake::ui::MeshlakeApp;

#[test]
fn spatial_tab_validates_and_queries_the_demo_table() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = options(tmp.path());
    let mut harness = Harness::builder()
        .with_size(egui::vec2(1500.0, 1200.0))
        .with_max_steps(10_000)
        .build_eframe(move |cc| MeshlakeApp::new(cc, opts).expect("app starts"));
    step_until(&mut harness, Duration::from_secs(180), "the demo tables", |app| {
        app.model.tables.len() == 2 && app.model.tables.iter().all(|t| matches!(t.overview, Requested::Ready(_)))
    });
    click(&mut harness, "Tables");
    click(&mut harness, "parcels_delta");
    let index = harness.state().model.tables.iter().position(|t| t.reference.contains("parcels_delta")).unwrap();
    open_tab(&mut harness, "Spatial");

    click(&mut harness, "Validate");
    step_until(&mut harness, Duration::from_secs(60), "the validation", |app| {
        matches!(app.model.tables[index].spatial.validation, Requested::Ready(_) | Requested::Failed(_))
    });
    let report = match &harness.state().model.tables[index].spatial.validation {
        Requested::Ready(report) => report.clone(),
        other => panic!("validation: {other:?}"),
    };
    assert_eq!(report.rows, 480);
    assert_eq!(report.invalid_geometry, 3, "the three planted defects: {:?}", report.problems);
    assert_eq!((report.null_geometry, report.invalid_wkb, report.wrong_type), (0, 0, 0));
    let reference = harness.state().model.tables[index].reference.clone();
    assert!(harness.state().model.shown_table_layers.contains(&format!("{reference}#invalid")));
    assert!(harness.query_all_by_label_contains("InvalidGeometry").next().is_some(), "problem list shown");
    // A click on a problem zooms the map there (the command is handled without error).
    click(&mut harness, "InvalidGeometry");

    // Validation against a contract file (the tab's Contract field + Choose…): its problems are listed.
    assert!(harness.query_all_by_label_contains("Choose").next().is_some(), "a way to choose a contract file");
    let contract = tmp.path().join("contract.json");
    std::fs::write(&contract, r#"{"fields":[{"name":"parcel_id","type":"int64","nullable":false},{"name":"owner","type":"string"}],"allow_extra_columns":true}"#).unwrap();
    harness.state_mut().queue_command(Command::ValidateTable { table: index, contract: Some(contract.clone()) });
    step_until(&mut harness, Duration::from_secs(60), "the validation with a contract", |app| {
        matches!(&app.model.tables[index].spatial.validation, Requested::Ready(r) if r.contract.is_some())
            || matches!(app.model.tables[index].spatial.validation, Requested::Failed(_))
    });
    let Requested::Ready(checked) = &harness.state().model.tables[index].spatial.validation else { panic!("validation with a contract failed") };
    assert_eq!(checked.contract.as_deref(), Some(contract.to_str().unwrap()));
    assert!(checked.contract_problems.iter().all(|p| p.column == "owner" || p.column == "parcel_id"), "{:?}", checked.contract_problems);
    assert!(checked.contract_problems.iter().any(|p| p.column == "owner"), "owner is missing: {:?}", checked.contract_problems);
    assert!(harness.query_all_by_label_contains("column owner").next().is_some(), "contract problems listed");

    let predicate = SpatialPredicate::from_bbox([4.5, 52.15, 4.6, 52.2]).unwrap();
    harness.state_mut().queue_command(Command::QueryTable { table: index, predicate, allow_full_scan: false });
    step_until(&mut harness, Duration::from_secs(60), "the query", |app| {
        matches!(app.model.tables[index].spatial.query, Requested::Ready(_) | Requested::Failed(_))
    });
    let Requested::Ready(query) = &harness.state().model.tables[index].spatial.query else { panic!("query failed") };
    assert!(query.rows_matched > 0);
    assert_eq!(query.matches.len() as u64, query.rows_matched);
    assert!(query.files_scanned < query.files_total, "pruned: {query:?}");
    assert!(harness.state().model.shown_table_layers.contains(&format!("{reference}#query")));
    assert!(harness.query_all_by_label_contains("rows matched").next().is_some());
    assert!(harness.query_all_by_label_contains(&format!("files scanned {} of {}", query.files_scanned, query.files_total)).next().is_some());
}
