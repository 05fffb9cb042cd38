//! The Tables panel's Spatial tab: validate the selected table version (problem list, click to zoom)
//! and run a spatial query (predicate + WKT or bbox) with its pruning figures and matches.

use egui::Ui;

use crate::engine::crs::to_lon_lat;
use crate::engine::geo::predicate::{PredicateOp, SpatialPredicate};
use crate::engine::lake::spatial::{QueryReport, ValidationReport};
use crate::ui::commands::Command;
use crate::ui::model::{Requested, TableEntry};

/// A bbox in the table's CRS as a lon/lat bbox to zoom to.
fn zoom_bbox(crs: Option<&str>, bbox: [f64; 4]) -> Option<[f64; 4]> {
    match to_lon_lat(crs) {
        Ok(None) => Some(bbox),
        Ok(Some(transform)) => transform.bbox(bbox, 4).ok(),
        Err(_) => None,
    }
}

/// Rows shown in the problem and match lists.
const LIST_ROWS: usize = 200;

/// What is being typed in the query form.
#[derive(Clone, Debug)]
pub struct SpatialForm {
    pub op: usize,
    pub wkt: String,
    pub distance: String,
    pub error: Option<String>,
    /// A schema contract file (JSON/TOML) the validation checks the data against; empty: none.
    pub contract: String,
}

impl Default for SpatialForm {
    fn default() -> Self {
        Self { op: 4, wkt: String::new(), distance: "0.01".into(), error: None, contract: String::new() }
    }
}

const OPS: [&str; 5] = ["intersects", "contains", "within", "dwithin", "bbox"];

/// The spatial results of a table: the last validation and the last query.
#[derive(Debug)]
pub struct SpatialResults {
    pub validation: Requested<Box<ValidationReport>>,
    pub query: Requested<Box<QueryReport>>,
    /// The predicate of the last query (to run it again without the full-scan guard).
    pub last_predicate: Option<SpatialPredicate>,
}

fn build(form: &SpatialForm) -> Result<SpatialPredicate, String> {
    let text = form.wkt.trim();
    let result = match form.op {
        0 => SpatialPredicate::from_wkt(PredicateOp::Intersects, text),
        1 => SpatialPredicate::from_wkt(PredicateOp::Contains, text),
        2 => SpatialPredicate::from_wkt(PredicateOp::Within, text),
        3 => {
            let d: f64 = form.distance.trim().parse().map_err(|e| format!("distance: {e}"))?;
            SpatialPredicate::from_wkt(PredicateOp::DWithin(d), text)
        }
        _ => {
            let numbers: Result<Vec<f64>, _> = text.split(',').map(|v| v.trim().parse::<f64>()).collect();
            let numbers = numbers.map_err(|e| format!("bbox MINX,MINY,MAXX,MAXY: {e}"))?;
            let bbox: [f64; 4] = numbers.as_slice().try_into().map_err(|_| "bbox needs 4 numbers: MINX,MINY,MAXX,MAXY".to_string())?;
            SpatialPredicate::from_bbox(bbox)
        }
    };
    result.map_err(|e| e.to_string())
}

/// The Spatial tab of table `index`.
pub fn spatial_tab_ui(ui: &mut Ui, index: usize, entry: &TableEntry, form: &mut SpatialForm, commands: &mut Vec<Command>) {
    egui::ScrollArea::vertical().id_salt("table_spatial_tab").auto_shrink([false, false]).show(ui, |ui| {
        ui.heading("Validation");
        ui.horizontal(|ui| {
            ui.label("Contract");
            ui.add(
                egui::TextEdit::singleline(&mut form.contract)
                    .hint_text("optional: contract.json / .toml (meshlake table contract)")
                    .desired_width(280.0),
            );
            if ui.button("Choose…").on_hover_text("pick a JSON or TOML schema contract file").clicked() {
                commands.push(Command::PickContractFile);
            }
        });
        if ui.button("Validate").clicked() {
            let contract = Some(form.contract.trim()).filter(|c| !c.is_empty()).map(std::path::PathBuf::from);
            commands.push(Command::ValidateTable { table: index, contract });
        }
        match &entry.spatial.validation {
            Requested::NotRequested => {}
            Requested::Pending { .. } => {
                ui.spinner();
            }
            Requested::Failed(error) => {
                ui.colored_label(ui.visuals().error_fg_color, error);
            }
            Requested::Ready(report) => validation_ui(ui, report, commands),
        }
        ui.separator();
        ui.heading("Query");
        ui.horizontal(|ui| {
            egui::ComboBox::from_id_salt("spatial_op").selected_text(OPS[form.op.min(4)]).show_ui(ui, |ui| {
                for (i, op) in OPS.iter().enumerate() {
                    ui.selectable_value(&mut form.op, i, *op);
                }
            });
            if form.op == 3 {
                ui.label("distance");
                ui.add(egui::TextEdit::singleline(&mut form.distance).desired_width(60.0));
            }
        });
        let hint = if form.op == 4 { "MINX,MINY,MAXX,MAXY" } else { "WKT, e.g. POLYGON((...))" };
        ui.add(egui::TextEdit::singleline(&mut form.wkt).hint_text(hint).desired_width(f32::INFINITY));
        if ui.button("Run query").clicked() {
            match build(form) {
                Ok(predicate) => {
                    form.error = None;
                    commands.push(Command::QueryTable { table: index, predicate, allow_full_scan: false });
                }
                Err(error) => form.error = Some(error),
            }
        }
        if let Some(error) = &form.error {
            ui.colored_label(ui.visuals().error_fg_color, error);
        }
        match &entry.spatial.query {
            Requested::NotRequested => {}
            Requested::Pending { .. } => {
                ui.spinner();
            }
            Requested::Failed(error) => {
                ui.colored_label(ui.visuals().error_fg_color, error);
            }
            Requested::Ready(report) => {
                if let Some(refused) = &report.refused_full_scan {
                    ui.colored_label(ui.visuals().warn_fg_color, refused);
                    if let Some(predicate) = &entry.spatial.last_predicate
                        && ui.button("Run the full scan anyway").clicked()
                    {
                        commands.push(Command::QueryTable { table: index, predicate: predicate.clone(), allow_full_scan: true });
                    }
                } else {
                    query_ui(ui, report, commands);
                }
            }
        }
    });
}

fn validation_ui(ui: &mut Ui, r: &ValidationReport, commands: &mut Vec<Command>) {
    ui.label(format!(
        "{} rows in {} files, column {}, CRS {}",
        r.rows,
        r.files,
        r.geometry_column,
        r.crs.as_deref().unwrap_or("unknown")
    ));
    egui::Grid::new("validation_counts").show(ui, |ui| {
        for (name, n) in r.named_counts() {
            ui.label(name);
            ui.label(n.to_string());
            ui.end_row();
        }
    });
    ui.label(format!("{} problem rows", r.rows_with_problems));
    for p in &r.crs_problems {
        ui.colored_label(ui.visuals().warn_fg_color, format!("CRS: {p}"));
    }
    if let Some(contract) = &r.contract {
        ui.label(format!("contract {contract}: {} violation(s)", r.contract_violations));
    }
    for p in r.contract_problems.iter().take(LIST_ROWS) {
        let name = p.file.rsplit(['/', '\\']).next().unwrap_or(&p.file);
        let at = p.first_row.map(|row| format!(", first row {row}")).unwrap_or_default();
        ui.colored_label(ui.visuals().warn_fg_color, format!("contract: {name} column {} {:?}: {}{at}", p.column, p.kind, p.detail));
    }
    for p in r.problems.iter().take(LIST_ROWS) {
        let name = p.file.rsplit(['/', '\\']).next().unwrap_or(&p.file);
        let text = format!("{name} row {}: {:?}: {}", p.row, p.kind, p.detail);
        match p.bbox {
            Some(bbox) => {
                if ui.link(text).on_hover_text("zoom the map to this feature").clicked()
                    && let Some(bbox) = zoom_bbox(r.crs.as_deref(), bbox)
                {
                    commands.push(Command::ZoomToBbox(bbox));
                }
            }
            None => {
                ui.label(text);
            }
        }
    }
}

fn query_ui(ui: &mut Ui, r: &QueryReport, commands: &mut Vec<Command>) {
    ui.label(format!("{} rows matched", r.rows_matched));
    ui.label(format!("files scanned {} of {}", r.files_scanned, r.files_total));
    ui.label(format!("row groups scanned {} of {}", r.row_groups_scanned, r.row_groups_total));
    ui.label(format!("bytes scanned {} of {}", r.bytes_scanned, r.bytes_total));
    if r.pages_total > 0 {
        ui.label(format!("geometry pages read {} of {}", r.pages_scanned, r.pages_total));
    }
    if r.partitions_total > 0 {
        ui.label(format!("partitions scanned {} of {}", r.partitions_scanned, r.partitions_total));
    }
    for w in &r.warnings {
        ui.colored_label(ui.visuals().warn_fg_color, w);
    }
    for m in r.matches.iter().take(LIST_ROWS) {
        let name = m.file.rsplit(['/', '\\']).next().unwrap_or(&m.file);
        if ui.link(format!("{name} row {}", m.row)).clicked()
            && let Some(bbox) = zoom_bbox(r.crs.as_deref(), m.bbox)
        {
            commands.push(Command::ZoomToBbox(bbox));
        }
    }
}

impl Default for SpatialResults {
    fn default() -> Self {
        Self { validation: Requested::NotRequested, query: Requested::NotRequested, last_predicate: None }
    }
}
