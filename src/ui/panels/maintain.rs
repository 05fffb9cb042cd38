//! The Tables panel's Maintain tab: plan and run a compaction (target size; no order, Z-order on
//! columns, or spatial order), with a confirmation before anything is written; the file bboxes before
//! and after side by side; snapshot expiry and vacuum with their own dry runs and confirmations; a
//! Delta checkpoint.

use egui::{RichText, Ui};
use egui_plot::{Plot, PlotPoints, Polygon};

use crate::engine::lake::inspect::{FileKind, TableFiles};
use crate::engine::lake::maintain::{
    CompactionOrder, CompactionReport, CompactionRequest, DEFAULT_MAX_SORT_MEMORY_BYTES, DEFAULT_VACUUM_RETENTION_HOURS,
    CheckpointReport, ExpireReport, ExpireRequest, VacuumReport, VacuumRequest, describe_duration, parse_duration,
};
use crate::ui::commands::{Command, MaintenanceAction};
use crate::ui::model::{Requested, TableEntry};
use crate::ui::panels::tables::format_bytes;

/// How the rewritten rows are ordered, as the form offers it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OrderChoice {
    #[default]
    None,
    ZOrder,
    Spatial,
}

/// What is typed in the Maintain tab.
#[derive(Clone, Debug)]
pub struct MaintainForm {
    pub target_mib: String,
    pub order: OrderChoice,
    /// Comma-separated Z-order columns.
    pub zorder_columns: String,
    /// The geometry column for the spatial order (`None`: the primary column).
    pub geometry: Option<String>,
    pub vacuum_retention: String,
    pub allow_short_retention: bool,
    pub expire_older_than: String,
    pub keep_last: u32,
    /// An action waiting for the user's confirmation.
    pub confirm: Option<MaintenanceAction>,
    pub error: Option<String>,
}

impl Default for MaintainForm {
    fn default() -> Self {
        Self {
            target_mib: "128".into(),
            order: OrderChoice::None,
            zorder_columns: String::new(),
            geometry: None,
            vacuum_retention: describe_duration(chrono::Duration::hours(DEFAULT_VACUUM_RETENTION_HOURS)).replace(' ', ""),
            allow_short_retention: false,
            expire_older_than: "7d".into(),
            keep_last: 1,
            confirm: None,
            error: None,
        }
    }
}

impl MaintainForm {
    /// The compaction request the form describes.
    pub fn compaction_request(&self, dry_run: bool) -> Result<CompactionRequest, String> {
        let mib: f64 = self.target_mib.trim().parse().map_err(|_| format!("target size {:?} is not a number of MiB", self.target_mib))?;
        if !(mib.is_finite() && mib >= 1.0) {
            return Err("the target size must be at least 1 MiB".into());
        }
        let order = match self.order {
            OrderChoice::None => CompactionOrder::None,
            OrderChoice::ZOrder => {
                let columns: Vec<String> =
                    self.zorder_columns.split(',').map(str::trim).filter(|c| !c.is_empty()).map(str::to_owned).collect();
                if columns.is_empty() {
                    return Err("Z-order needs at least one column (comma separated)".into());
                }
                CompactionOrder::ZOrder { columns }
            }
            OrderChoice::Spatial => CompactionOrder::Spatial { geometry: self.geometry.clone() },
        };
        Ok(CompactionRequest {
            target_file_bytes: (mib * 1024.0 * 1024.0) as u64,
            order,
            dry_run,
            max_sort_memory_bytes: DEFAULT_MAX_SORT_MEMORY_BYTES,
        })
    }

    pub fn vacuum_request(&self, dry_run: bool) -> Result<VacuumRequest, String> {
        let retention = parse_duration(&self.vacuum_retention).map_err(|e| format!("retention: {e}"))?;
        Ok(VacuumRequest { retention, allow_short_retention: self.allow_short_retention, dry_run })
    }

    pub fn expire_request(&self, dry_run: bool) -> Result<ExpireRequest, String> {
        let older_than = parse_duration(&self.expire_older_than).map_err(|e| format!("older than: {e}"))?;
        Ok(ExpireRequest { older_than, keep_last: self.keep_last, dry_run })
    }
}

/// A table's maintenance results, as the Maintain tab shows them.
#[derive(Debug, Default)]
pub struct MaintenanceResults {
    /// The last dry run of a compaction.
    pub plan: Requested<Box<CompactionReport>>,
    /// The last compaction that ran.
    pub compaction: Requested<Box<CompactionReport>>,
    pub expire: Requested<Box<ExpireReport>>,
    pub vacuum: Requested<Box<VacuumReport>>,
    pub checkpoint: Requested<Box<CheckpointReport>>,
    /// The live files before and after the last compaction (for the side-by-side bbox view).
    pub before_after: Option<BeforeAfter>,
}

/// The files of the version a compaction started from and of the version it committed.
#[derive(Debug)]
pub struct BeforeAfter {
    pub before_version: i64,
    pub after_version: i64,
    pub before: Requested<TableFiles>,
    pub after: Requested<TableFiles>,
    /// [`mean_bbox_share`] of the before and after files, computed when they arrive.
    pub shares: [Option<f64>; 2],
}

/// How spread out a version's data files are: the mean area of the files' bboxes as a share of the
/// extent of all of them (1.0: every file covers everything; small: files cover compact areas).
pub fn mean_bbox_share(files: &TableFiles) -> Option<f64> {
    let boxes: Vec<[f64; 4]> =
        files.files.iter().filter(|f| f.kind == FileKind::Data).filter_map(|f| f.bbox).filter(|b| b.iter().all(|v| v.is_finite())).collect();
    let extent = boxes.iter().copied().reduce(|a, b| [a[0].min(b[0]), a[1].min(b[1]), a[2].max(b[2]), a[3].max(b[3])])?;
    let area = |b: &[f64; 4]| (b[2] - b[0]).max(0.0) * (b[3] - b[1]).max(0.0);
    let total = area(&extent);
    if total <= 0.0 {
        return None;
    }
    Some(boxes.iter().map(area).sum::<f64>() / boxes.len() as f64 / total)
}

fn error_text(ui: &mut Ui, text: &str) {
    ui.colored_label(ui.visuals().error_fg_color, text);
}

/// The Maintain tab of table `index`.
pub fn maintain_tab_ui(ui: &mut Ui, index: usize, entry: &TableEntry, form: &mut MaintainForm, commands: &mut Vec<Command>) {
    let results = &entry.maintenance;
    let busy = results.compaction.is_pending() || results.expire.is_pending() || results.vacuum.is_pending() || results.checkpoint.is_pending();
    egui::ScrollArea::vertical().id_salt("table_maintain_tab").auto_shrink([false, false]).show(ui, |ui| {
        ui.heading("Compaction");
        ui.label("Rewrite small files into files of the target size. The old files stay referenced by the earlier versions (time travel keeps working) until a vacuum / snapshot expiry removes them.");
        compaction_form_ui(ui, entry, form);
        ui.horizontal(|ui| {
            if ui.add_enabled(!entry.maintenance.plan.is_pending(), egui::Button::new("Plan (dry run)")).clicked() {
                match form.compaction_request(true) {
                    Ok(request) => {
                        form.error = None;
                        commands.push(Command::MaintainTable { table: index, action: MaintenanceAction::Compact(request) });
                    }
                    Err(error) => form.error = Some(error),
                }
            }
            if ui.add_enabled(!busy, egui::Button::new("Compact…")).on_hover_text("Asks for confirmation first").clicked() {
                match form.compaction_request(false) {
                    Ok(request) => {
                        form.error = None;
                        form.confirm = Some(MaintenanceAction::Compact(request));
                    }
                    Err(error) => form.error = Some(error),
                }
            }
            if busy {
                ui.spinner();
                ui.label("running — progress and Cancel in the Jobs panel");
            }
        });
        if let Some(error) = &form.error {
            error_text(ui, error);
        }
        match &entry.maintenance.plan {
            Requested::NotRequested => {}
            Requested::Pending { .. } => {
                ui.spinner();
            }
            Requested::Failed(error) => error_text(ui, error),
            Requested::Ready(plan) => {
                ui.label(RichText::new("Plan").strong());
                compaction_report_ui(ui, "plan", plan);
            }
        }
        match &entry.maintenance.compaction {
            Requested::NotRequested | Requested::Pending { .. } => {}
            Requested::Failed(error) => {
                ui.label(RichText::new("Last compaction failed").strong());
                error_text(ui, error);
            }
            Requested::Ready(report) => {
                let version = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_else(|| "none".to_owned());
                ui.label(RichText::new(format!(
                    "Last compaction: version {} to {}, {} to {} files, {} rows{}",
                    version(report.version_before),
                    version(report.version_after),
                    report.files_before,
                    report.files_after,
                    report.rows_after,
                    if report.rows_verified { " (verified)" } else { "" }
                )).strong());
                if let Some(before_after) = &entry.maintenance.before_after {
                    before_after_ui(ui, before_after);
                }
                egui::CollapsingHeader::new("Details").id_salt("last_compaction_details").show(ui, |ui| {
                    compaction_report_ui(ui, "done", report);
                });
            }
        }

        ui.separator();
        ui.heading("Snapshot expiry");
        ui.label("Forget versions older than a duration (always keeping the newest ones); files only they referenced are deleted.");
        ui.horizontal(|ui| {
            ui.label("older than");
            ui.add(egui::TextEdit::singleline(&mut form.expire_older_than).desired_width(60.0)).on_hover_text("e.g. 7d, 24h, 90m");
            ui.label("keep last");
            ui.add(egui::DragValue::new(&mut form.keep_last).range(1..=10_000));
            if ui.add_enabled(!busy, egui::Button::new("Dry run")).clicked() {
                push_or_error(form, form.expire_request(true).map(MaintenanceAction::Expire), index, commands, false);
            }
            if ui.add_enabled(!busy, egui::Button::new("Expire…")).clicked() {
                push_or_error(form, form.expire_request(false).map(MaintenanceAction::Expire), index, commands, true);
            }
        });
        match &entry.maintenance.expire {
            Requested::NotRequested => {}
            Requested::Pending { .. } => {
                ui.spinner();
            }
            Requested::Failed(error) => error_text(ui, error),
            Requested::Ready(report) => expire_report_ui(ui, report),
        }

        ui.separator();
        ui.heading("Vacuum");
        ui.label("Delete data files the table no longer references (Delta: removed longer ago than the retention; Iceberg: orphan files older than it).");
        ui.horizontal(|ui| {
            ui.label("retention");
            ui.add(egui::TextEdit::singleline(&mut form.vacuum_retention).desired_width(60.0)).on_hover_text("e.g. 7d (default), 168h");
            ui.checkbox(&mut form.allow_short_retention, "allow less than 7 days")
                .on_hover_text("Files a running reader or a time-travel query still needs could be deleted");
            if ui.add_enabled(!busy, egui::Button::new("Dry run")).clicked() {
                push_or_error(form, form.vacuum_request(true).map(MaintenanceAction::Vacuum), index, commands, false);
            }
            if ui.add_enabled(!busy, egui::Button::new("Vacuum…")).clicked() {
                push_or_error(form, form.vacuum_request(false).map(MaintenanceAction::Vacuum), index, commands, true);
            }
        });
        match &entry.maintenance.vacuum {
            Requested::NotRequested => {}
            Requested::Pending { .. } => {
                ui.spinner();
            }
            Requested::Failed(error) => error_text(ui, error),
            Requested::Ready(report) => vacuum_report_ui(ui, report),
        }

        if !crate::ui::panels::tables::is_iceberg(entry) {
            ui.separator();
            ui.heading("Checkpoint");
            ui.label("Write a checkpoint at the latest version: readers start there instead of replaying every commit since the last checkpoint. Nothing is removed.");
            if ui.add_enabled(!busy, egui::Button::new("Write checkpoint")).clicked() {
                commands.push(Command::MaintainTable { table: index, action: MaintenanceAction::Checkpoint });
            }
            match &entry.maintenance.checkpoint {
                Requested::NotRequested => {}
                Requested::Pending { .. } => {
                    ui.spinner();
                }
                Requested::Failed(error) => error_text(ui, error),
                Requested::Ready(report) => checkpoint_report_ui(ui, report),
            }
        }
    });
    confirm_window(ui, index, entry, form, commands);
}

/// Send a dry run at once; keep a real run for the confirmation window.
fn push_or_error(form: &mut MaintainForm, action: Result<MaintenanceAction, String>, index: usize, commands: &mut Vec<Command>, confirm: bool) {
    match action {
        Ok(action) => {
            form.error = None;
            if confirm {
                form.confirm = Some(action);
            } else {
                commands.push(Command::MaintainTable { table: index, action });
            }
        }
        Err(error) => form.error = Some(error),
    }
}

fn compaction_form_ui(ui: &mut Ui, entry: &TableEntry, form: &mut MaintainForm) {
    let overview = entry.overview.value();
    ui.horizontal(|ui| {
        ui.label("target file size (MiB)");
        ui.add(egui::TextEdit::singleline(&mut form.target_mib).desired_width(60.0));
    });
    ui.horizontal_wrapped(|ui| {
        ui.label("order");
        ui.radio_value(&mut form.order, OrderChoice::None, "none (bin-packing)");
        ui.radio_value(&mut form.order, OrderChoice::ZOrder, "Z-order");
        let geometry_columns: Vec<String> =
            overview.map(|o| o.geometry_columns.iter().map(|g| g.name.clone()).collect()).unwrap_or_default();
        let spatial = ui.radio_value(&mut form.order, OrderChoice::Spatial, "spatial (Hilbert)");
        if geometry_columns.is_empty() {
            spatial.on_hover_text("Needs a WKB geometry column (GeoParquet metadata or a column named geometry)");
        }
    });
    match form.order {
        OrderChoice::None => {}
        OrderChoice::ZOrder => {
            ui.horizontal(|ui| {
                ui.label("columns");
                ui.add(egui::TextEdit::singleline(&mut form.zorder_columns).hint_text("x, y").desired_width(200.0));
                if let Some(overview) = overview {
                    egui::ComboBox::from_id_salt("zorder_add_column").selected_text("add column").show_ui(ui, |ui| {
                        for column in &overview.columns {
                            if ui.selectable_label(false, &column.name).clicked() {
                                if !form.zorder_columns.trim().is_empty() {
                                    form.zorder_columns.push_str(", ");
                                }
                                form.zorder_columns.push_str(&column.name);
                            }
                        }
                    });
                }
            });
        }
        OrderChoice::Spatial => {
            let names: Vec<String> = overview.map(|o| o.geometry_columns.iter().map(|g| g.name.clone()).collect()).unwrap_or_default();
            ui.horizontal(|ui| {
                ui.label("geometry column");
                let selected = form.geometry.clone().unwrap_or_else(|| "primary".to_owned());
                egui::ComboBox::from_id_salt("spatial_geometry_column").selected_text(selected).show_ui(ui, |ui| {
                    ui.selectable_value(&mut form.geometry, None, "primary");
                    for name in names {
                        ui.selectable_value(&mut form.geometry, Some(name.clone()), name);
                    }
                });
            });
        }
    }
}

fn compaction_report_ui(ui: &mut Ui, id: &str, report: &CompactionReport) {
    let version = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_else(|| "—".to_owned());
    egui::Grid::new(("compaction_report", id)).num_columns(2).striped(true).show(ui, |ui| {
        let mut row = |key: &str, value: String| {
            ui.label(RichText::new(key).strong());
            ui.label(value);
            ui.end_row();
        };
        row("Order", report.order.clone());
        row("Target size", format_bytes(report.target_file_bytes));
        row("Version", format!("{} to {}", version(report.version_before), version(report.version_after)));
        row("Files", format!("{} to {}", report.files_before, report.files_after));
        row(
            "Rows",
            format!("{} to {}{}", report.rows_before, report.rows_after, if report.rows_verified { " (verified)" } else { "" }),
        );
        row("Size", format!("{} to {}", format_bytes(report.bytes_before), format_bytes(report.bytes_after)));
        row("Read / written", format!("{} / {}", format_bytes(report.bytes_read), format_bytes(report.bytes_written)));
        if report.commit_retries > 0 {
            row("Commit retries", format!("{} (concurrent commits)", report.commit_retries));
        }
    });
    for note in &report.notes {
        ui.label(format!("• {note}"));
    }
    if report.partitions.is_empty() {
        return;
    }
    egui::CollapsingHeader::new(format!("Partitions ({})", report.partitions.len())).id_salt(("partitions", id)).show(ui, |ui| {
        let row_height = ui.text_style_height(&egui::TextStyle::Body) + 4.0;
        egui::Grid::new(("partition_head", id)).num_columns(5).min_col_width(90.0).show(ui, |ui| {
            for head in ["partition", "rewritten", "rows", "written", "kept"] {
                ui.label(RichText::new(head).strong());
            }
        });
        egui::ScrollArea::vertical().id_salt(("partition_rows", id)).max_height(220.0).show_rows(
            ui,
            row_height,
            report.partitions.len(),
            |ui, rows| {
                egui::Grid::new(("partition_grid", id)).num_columns(5).min_col_width(90.0).striped(true).show(ui, |ui| {
                    for partition in &report.partitions[rows] {
                        let name: Vec<String> = partition
                            .partition
                            .iter()
                            .map(|(k, v)| format!("{k}={}", v.as_deref().unwrap_or("null")))
                            .collect();
                        ui.label(if name.is_empty() { "(all)".to_owned() } else { name.join("/") });
                        ui.label(format!("{} ({})", partition.files_rewritten, format_bytes(partition.bytes_rewritten)));
                        ui.label(partition.rows_rewritten.to_string());
                        ui.label(partition.files_written.to_string());
                        ui.label(partition.files_kept.to_string());
                        ui.end_row();
                    }
                });
            },
        );
    });
}

/// The data files' bboxes of both versions next to each other.
fn before_after_ui(ui: &mut Ui, before_after: &BeforeAfter) {
    ui.label("File bboxes before and after");
    ui.columns(2, |columns| {
        let sides = [
            ("before", before_after.before_version, &before_after.before, before_after.shares[0]),
            ("after", before_after.after_version, &before_after.after, before_after.shares[1]),
        ];
        for (ui, (side, version, files, share)) in columns.iter_mut().zip(sides) {
            match files {
                Requested::Ready(files) => {
                    let share = share.map(|s| format!("{:.1} %", s * 100.0)).unwrap_or_else(|| "no bboxes".to_owned());
                    let data = files.files.iter().filter(|f| f.kind == FileKind::Data).count();
                    ui.label(RichText::new(format!("{side}, version {version}: {data} files, mean bbox {share}")).small())
                        .on_hover_text("The mean area of the files' bboxes as a share of the extent of all of them: smaller means each file covers a more compact area, so spatial queries skip more files");
                    Plot::new(("file_bboxes", side)).height(180.0).data_aspect(1.0).allow_scroll(false).show(ui, |plot| {
                        for bbox in files.files.iter().filter(|f| f.kind == FileKind::Data).filter_map(|f| f.bbox) {
                            let ring = vec![[bbox[0], bbox[1]], [bbox[2], bbox[1]], [bbox[2], bbox[3]], [bbox[0], bbox[3]]];
                            plot.polygon(Polygon::new(side, PlotPoints::from(ring)).fill_color(egui::Color32::from_rgba_unmultiplied(70, 130, 200, 25)));
                        }
                    });
                }
                Requested::Failed(error) => error_text(ui, error),
                Requested::Pending { .. } | Requested::NotRequested => {
                    ui.spinner();
                }
            }
        }
    });
}

fn expire_report_ui(ui: &mut Ui, report: &ExpireReport) {
    let what = if report.dry_run { "Would expire" } else { "Expired" };
    ui.label(format!(
        "{what} {} of {} snapshots ({} remain); {} files ({}) {}",
        report.expired.len(),
        report.snapshots_before,
        report.snapshots_after,
        report.files_deleted,
        format_bytes(report.bytes_deleted),
        if report.dry_run { "would be deleted" } else { "deleted" }
    ));
    for note in &report.notes {
        ui.label(format!("• {note}"));
    }
}

fn checkpoint_report_ui(ui: &mut Ui, report: &CheckpointReport) {
    let what = if report.already_existed { "already had a checkpoint" } else { "checkpoint written" };
    ui.label(format!("Version {}: {what}, {} in {} file(s)", report.version, format_bytes(report.bytes), report.files.len()));
    ui.label(format!(
        "Commits a reader of the latest version replays: {} before, {} now",
        report.commits_to_replay_before, report.commits_to_replay_after
    ));
}

fn vacuum_report_ui(ui: &mut Ui, report: &VacuumReport) {
    let what = if report.dry_run { "Would delete" } else { "Deleted" };
    ui.label(format!("{what} {} files ({})", report.files_deleted, format_bytes(report.bytes_deleted)));
    for note in &report.notes {
        ui.label(format!("• {note}"));
    }
    if !report.files.is_empty() {
        egui::CollapsingHeader::new("Files").id_salt("vacuum_files").show(ui, |ui| {
            let row_height = ui.text_style_height(&egui::TextStyle::Small) + 2.0;
            egui::ScrollArea::vertical().id_salt("vacuum_file_rows").max_height(200.0).show_rows(ui, row_height, report.files.len(), |ui, rows| {
                for file in &report.files[rows] {
                    ui.label(RichText::new(file).small().monospace());
                }
            });
        });
    }
}

/// Ask before a compaction, expiry or vacuum writes anything.
fn confirm_window(ui: &mut Ui, index: usize, entry: &TableEntry, form: &mut MaintainForm, commands: &mut Vec<Command>) {
    let Some(action) = form.confirm.clone() else { return };
    let (title, text) = match &action {
        MaintenanceAction::Compact(request) => {
            let planned = entry.maintenance.plan.value().map(|plan| {
                let rewritten: u64 = plan.partitions.iter().map(|p| p.files_rewritten).sum();
                let written: u64 = plan.partitions.iter().map(|p| p.files_written).sum();
                format!("\n\nThe last plan rewrites {rewritten} files into {written} ({} to {} files).", plan.files_before, plan.files_after)
            });
            (
                "Compact table?",
                format!(
                    "Rewrite the small files of {} (order {}, target {}) and commit a new version. No row is changed; the old files stay until vacuum or expiry.{}",
                    crate::ui::panels::tables::table_display_name(&entry.reference),
                    request.order.describe(),
                    format_bytes(request.target_file_bytes),
                    planned.unwrap_or_default()
                ),
            )
        }
        MaintenanceAction::Expire(request) => (
            "Expire snapshots?",
            format!(
                "Forget versions older than {} (keeping the last {}) and delete the files only they reference. Time travel to them stops working.",
                describe_duration(request.older_than),
                request.keep_last
            ),
        ),
        MaintenanceAction::Vacuum(request) => (
            "Vacuum table?",
            format!(
                "Delete files the table no longer references that are older than {}. Time travel to versions that used them stops working.",
                describe_duration(request.retention)
            ),
        ),
        MaintenanceAction::Checkpoint => (
            "Write a checkpoint?",
            "Write a checkpoint at the latest version. Nothing is removed or changed.".to_owned(),
        ),
    };
    let mut open = true;
    let mut decided = false;
    egui::Window::new(title).collapsible(false).resizable(false).open(&mut open).anchor(egui::Align2::CENTER_CENTER, [0.0, 0.0]).show(
        ui.ctx(),
        |ui| {
            ui.set_max_width(420.0);
            ui.label(text);
            ui.horizontal(|ui| {
                if ui.button("Confirm").clicked() {
                    commands.push(Command::MaintainTable { table: index, action: action.clone() });
                    decided = true;
                }
                if ui.button("Cancel").clicked() {
                    decided = true;
                }
            });
        },
    );
    if decided || !open {
        form.confirm = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::lake::inspect::TableFile;

    fn file(bbox: [f64; 4]) -> TableFile {
        TableFile { path: String::new(), partition: Default::default(), bytes: 1, rows: Some(1), bbox: Some(bbox), kind: FileKind::Data, deletion_vector: None }
    }

    #[test]
    fn bbox_share_is_small_for_clustered_files() {
        let spread = TableFiles { files: vec![file([0.0, 0.0, 10.0, 10.0]), file([0.0, 0.0, 10.0, 10.0])] };
        assert_eq!(mean_bbox_share(&spread), Some(1.0));
        let clustered = TableFiles { files: vec![file([0.0, 0.0, 5.0, 5.0]), file([5.0, 5.0, 10.0, 10.0])] };
        assert_eq!(mean_bbox_share(&clustered), Some(0.25));
        assert_eq!(mean_bbox_share(&TableFiles { files: vec![] }), None);
    }

    #[test]
    fn the_form_builds_requests_and_refuses_bad_input() {
        let mut form = MaintainForm::default();
        let request = form.compaction_request(true).unwrap();
        assert_eq!(request.target_file_bytes, 128 * 1024 * 1024);
        assert!(request.dry_run);
        form.order = OrderChoice::ZOrder;
        assert!(form.compaction_request(false).unwrap_err().contains("at least one column"));
        form.zorder_columns = "x, y".into();
        assert_eq!(form.compaction_request(false).unwrap().order, CompactionOrder::ZOrder { columns: vec!["x".into(), "y".into()] });
        form.target_mib = "abc".into();
        assert!(form.compaction_request(false).is_err());
        assert_eq!(form.vacuum_request(true).unwrap().retention, chrono::Duration::days(7));
        form.expire_older_than = "7x".into();
        assert!(form.expire_request(true).is_err());
    }
}
