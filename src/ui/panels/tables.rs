//! The Tables panel: opened Delta and Iceberg tables with their overview (format, rows, files,
//! versions), and the selected table in tabs: Overview, History (with time travel), Files and Data.

use egui::{RichText, Ui};
use egui_extras::{Column, TableBuilder};

use crate::engine::lake::inspect::{FileKind, HistoryEntry, TableFiles, TableHistory, TableInfo, TablePage, VersionSelector};
use crate::engine::lake::{TableFormat, TableOverview};
use crate::ui::commands::Command;
use crate::engine::lake::file_health::FilesHealth;
use crate::engine::lake::monitor::HealthSeries;
use crate::engine::lake::inspect::SmallFilePolicy;
use crate::engine::lake::schema_diff::SchemaDiff;
use crate::ui::model::{
    AppModel, Requested, TABLE_PAGE_ROWS, TableEntry, TableTab, file_footprints_layer_id, page_rows_layer_id,
};

/// View state of the Tables panel (owned by the app, changed only by the panel).
#[derive(Clone, Debug, Default)]
pub struct TablesView {
    pub tab: TableTab,
    /// The "as of" time being typed, and why it does not parse.
    pub as_of_text: String,
    pub as_of_error: Option<String>,
    /// The Spatial tab's query form.
    pub spatial: crate::ui::panels::spatial::SpatialForm,
    /// The Maintain tab's form.
    pub maintain: crate::ui::panels::maintain::MaintainForm,
}

/// A time typed by a user: RFC 3339, or `YYYY-MM-DD[ HH:MM[:SS]]` in UTC.
pub fn parse_as_of(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    let text = text.trim();
    if let Ok(time) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(time.with_timezone(&chrono::Utc));
    }
    for format in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M"] {
        if let Ok(time) = chrono::NaiveDateTime::parse_from_str(text, format) {
            return Ok(time.and_utc());
        }
    }
    if let Ok(date) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        if let Some(time) = date.and_hms_opt(23, 59, 59) {
            return Ok(time.and_utc());
        }
    }
    Err(format!("{text:?} is not a time: use 2025-06-01 12:00 (UTC) or RFC 3339"))
}

const ROW_HEIGHT: f32 = 22.0;

/// Human-readable byte size.
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

/// The short name of a table reference: the folder name, or `namespace.table`.
pub fn table_display_name(reference: &str) -> String {
    if let Some((_, name)) = reference.rsplit_once('#') {
        return name.to_owned();
    }
    std::path::Path::new(reference.trim_end_matches('/'))
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| reference.to_owned())
}

pub fn tables_ui(ui: &mut Ui, model: &AppModel, view: &mut TablesView, commands: &mut Vec<Command>) {
    ui.horizontal(|ui| {
        if ui.button("Open…").on_hover_text("Open a Delta table root or an Iceberg catalog folder (Ctrl+O)").clicked() {
            commands.push(Command::PickFolder);
        }
        ui.label(format!("{} table(s)", model.tables.len()));
    });
    ui.separator();
    if model.tables.is_empty() {
        ui.label("No table open. Open a Delta table folder, an Iceberg catalog (.db) or a folder holding them, or type an Iceberg REST catalog (iceberg+http://HOST:PORT/PREFIX) in the path field.");
        return;
    }
    let list_height = (ui.available_height() * 0.35).clamp(90.0, 260.0);
    ui.push_id("tables_list", |ui| {
        ui.set_max_height(list_height);
        table_list_ui(ui, model, commands);
    });
    ui.separator();
    let Some((index, entry)) = model.selected_table.and_then(|i| model.tables.get(i).map(|t| (i, t))) else {
        ui.label("Select a table to see its overview.");
        return;
    };
    table_details_ui(ui, index, entry, &model.shown_table_layers, view, commands);
}

/// Whether a table is an Iceberg table (its history rows are snapshots, not versions).
pub fn is_iceberg(entry: &TableEntry) -> bool {
    match entry.overview.value() {
        Some(overview) => matches!(overview.format, TableFormat::Iceberg),
        None => entry.reference.starts_with("iceberg+") || entry.reference.ends_with(".metadata.json"),
    }
}

/// The selector that time-travels to a history row.
pub fn history_selector(iceberg: bool, version: i64) -> VersionSelector {
    if iceberg { VersionSelector::Snapshot(version) } else { VersionSelector::Version(version) }
}

/// The label of a history row's version cell.
pub fn history_version_label(version: i64) -> String {
    format!("v{version}")
}

/// "at version N" / "at snapshot ID" / "latest".
pub fn selector_text(at: &VersionSelector) -> String {
    match at {
        VersionSelector::Latest => "latest".to_owned(),
        VersionSelector::Version(v) => format!("at version {v}"),
        VersionSelector::Snapshot(id) => format!("at snapshot {id}"),
        VersionSelector::AsOf(t) => format!("as of {}", t.format("%Y-%m-%d %H:%M:%S")),
    }
}

/// Cumulative (files, rows) after each history entry, oldest first.
pub fn cumulative_counts(history: &TableHistory) -> Vec<(u64, u64)> {
    let (mut files, mut rows) = (0u64, 0u64);
    history
        .versions
        .iter()
        .map(|v| {
            files = (files + v.files_added).saturating_sub(v.files_removed);
            rows = (rows + v.rows_added.unwrap_or(0)).saturating_sub(v.rows_removed.unwrap_or(0));
            (files, rows)
        })
        .collect()
}

/// A cell value as compact text: strings unquoted, null empty, everything else as JSON.
pub fn cell_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn file_kind_text(kind: FileKind) -> &'static str {
    match kind {
        FileKind::Data => "data",
        FileKind::PositionDeletes => "position deletes",
        FileKind::EqualityDeletes => "equality deletes",
        FileKind::DeletionVector => "deletion vector",
    }
}

fn format_time(time: Option<chrono::DateTime<chrono::Utc>>) -> String {
    time.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string()).unwrap_or_default()
}

fn error_ui(ui: &mut Ui, error: &str) {
    ui.add(egui::Label::new(RichText::new(error).color(ui.visuals().error_fg_color)).wrap().selectable(true));
}

/// Show a requested value: the value (also while it refreshes), a spinner, or the error.
fn requested_ui<T>(ui: &mut Ui, value: &Requested<T>, what: &str, show: impl FnOnce(&mut Ui, &T)) {
    match value {
        Requested::Failed(error) => error_ui(ui, error),
        other => match other.value() {
            Some(v) => show(ui, v),
            None => {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label(format!("reading {what}…"));
                });
            }
        },
    }
}

fn table_list_ui(ui: &mut Ui, model: &AppModel, commands: &mut Vec<Command>) {
    // Plain (non-selectable) labels so a click anywhere in a row selects it.
    ui.style_mut().interaction.selectable_labels = false;
    TableBuilder::new(ui)
        .striped(true)
        .sense(egui::Sense::click())
        .column(Column::remainder().at_least(140.0).clip(true))
        .column(Column::auto().at_least(60.0))
        .column(Column::auto().at_least(60.0))
        .column(Column::auto().at_least(50.0))
        .column(Column::auto().at_least(60.0))
        .column(Column::auto().at_least(70.0))
        .header(20.0, |mut header| {
            for title in ["Table", "Format", "Rows", "Files", "Versions", "Size"] {
                header.col(|ui| {
                    ui.strong(title);
                });
            }
        })
        .body(|body| {
            body.rows(22.0, model.tables.len(), |mut row| {
                let index = row.index();
                let entry = &model.tables[index];
                row.set_selected(model.selected_table == Some(index));
                let overview = entry.overview.value();
                row.col(|ui| {
                    if entry.overview.is_pending() {
                        ui.spinner();
                    } else if matches!(entry.overview, Requested::Failed(_)) {
                        ui.colored_label(ui.visuals().error_fg_color, "⚠");
                    }
                    ui.label(table_display_name(&entry.reference)).on_hover_text(&entry.reference);
                });
                row.col(|ui| {
                    ui.label(overview.map(|o| format!("{:?}", o.format)).unwrap_or_default());
                });
                row.col(|ui| {
                    ui.label(overview.and_then(|o| o.rows).map(|r| r.to_string()).unwrap_or_default());
                });
                row.col(|ui| {
                    ui.label(overview.map(|o| o.files.to_string()).unwrap_or_default());
                });
                row.col(|ui| {
                    ui.label(overview.map(|o| o.versions.to_string()).unwrap_or_default());
                });
                row.col(|ui| {
                    ui.label(overview.map(|o| format_bytes(o.bytes)).unwrap_or_default());
                });
                if row.response().clicked() {
                    commands.push(Command::SelectTable(index));
                }
            });
        });
}

fn table_details_ui(
    ui: &mut Ui,
    index: usize,
    entry: &TableEntry,
    shown_layers: &[String],
    view: &mut TablesView,
    commands: &mut Vec<Command>,
) {
    ui.horizontal(|ui| {
        ui.heading(table_display_name(&entry.reference));
        ui.label(RichText::new(selector_text(&entry.selected_version)).strong());
        if ui
            .add_enabled(entry.selected_version != VersionSelector::Latest, egui::Button::new("Latest"))
            .on_hover_text("Back to the current version")
            .clicked()
        {
            commands.push(Command::SelectTableVersion { table: index, at: VersionSelector::Latest });
        }
        let busy = [entry.info.is_pending(), entry.files.is_pending(), entry.page.is_pending(), entry.history.is_pending()];
        if busy.iter().any(|b| *b) {
            ui.spinner();
        }
        if ui.add_enabled(!entry.overview.is_pending(), egui::Button::new("Reload")).clicked() {
            commands.push(Command::ReloadTable(index));
        }
        if ui.button("Close").clicked() {
            commands.push(Command::CloseTable(index));
        }
    });
    ui.label(RichText::new(&entry.reference).monospace().small());
    ui.horizontal(|ui| {
        ui.label("As of").on_hover_text("The version that was current at this time (UTC): 2025-06-01 12:00, or RFC 3339");
        let field = ui.add(egui::TextEdit::singleline(&mut view.as_of_text).hint_text("YYYY-MM-DD HH:MM").desired_width(150.0));
        let submitted = field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
        if ui.button("Go").clicked() || submitted {
            match parse_as_of(&view.as_of_text) {
                Ok(time) => {
                    view.as_of_error = None;
                    commands.push(Command::SelectTableVersion { table: index, at: VersionSelector::AsOf(time) });
                }
                Err(error) => view.as_of_error = Some(error),
            }
        }
        if let Some(error) = &view.as_of_error {
            ui.colored_label(ui.visuals().error_fg_color, error);
        }
    });
    ui.horizontal(|ui| {
        for (i, tab) in TableTab::ALL.into_iter().enumerate() {
            if i > 0 {
                ui.label("|");
            }
            ui.selectable_value(&mut view.tab, tab, tab.title());
        }
    });
    ui.separator();
    if entry.needs_load(view.tab) {
        commands.push(Command::LoadTableTab { table: index, tab: view.tab });
    }
    match view.tab {
        TableTab::Overview => {
            egui::ScrollArea::vertical().id_salt("table_details").auto_shrink([false, false]).show(ui, |ui| {
                if entry.selected_version == VersionSelector::Latest {
                    latest_overview_ui(ui, entry, commands);
                } else {
                    requested_ui(ui, &entry.info, "the table at this version", |ui, info| info_ui(ui, info, commands));
                }
            });
        }
        TableTab::Schema => {
            egui::ScrollArea::vertical().id_salt("table_schema_tab").auto_shrink([false, false]).show(ui, |ui| {
                schema_tab_ui(ui, index, entry, commands);
            });
        }
        TableTab::History => {
            let iceberg = is_iceberg(entry);
            requested_ui(ui, &entry.history, "the history", |ui, history| {
                history_ui(ui, index, iceberg, &entry.selected_version, history, commands)
            });
        }
        TableTab::Files => {
            requested_ui(ui, &entry.files, "the live files", |ui, files| {
                files_ui(ui, index, entry, files, shown_layers, commands)
            });
        }
        TableTab::Data => data_ui(ui, index, entry, shown_layers, commands),
        TableTab::Spatial => crate::ui::panels::spatial::spatial_tab_ui(ui, index, entry, &mut view.spatial, commands),
        TableTab::Maintain => crate::ui::panels::maintain::maintain_tab_ui(ui, index, entry, &mut view.maintain, commands),
    }
}

fn latest_overview_ui(ui: &mut Ui, entry: &TableEntry, commands: &mut Vec<Command>) {
    match &entry.overview {
        Requested::Failed(error) => {
            ui.add(egui::Label::new(RichText::new(error).color(ui.visuals().error_fg_color)).wrap().selectable(true));
        }
        other => match other.value() {
            Some(overview) => overview_ui(ui, overview, &entry.health, commands),
            None => {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label("reading the table's log and metadata…");
                });
            }
        },
    }
}

fn overview_ui(ui: &mut Ui, overview: &TableOverview, health: &Requested<Box<HealthSeries>>, commands: &mut Vec<Command>) {
    egui::Grid::new("table_overview").num_columns(2).striped(true).show(ui, |ui| {
        let mut row = |key: &str, value: String| {
            ui.label(RichText::new(key).strong());
            ui.add(egui::Label::new(value).wrap().selectable(true));
            ui.end_row();
        };
        row("Format", format!("{:?} ({})", overview.format, overview.format_version));
        row("Location", overview.location.clone());
        row("Current version", overview.current_version.clone());
        row("Versions", overview.versions.to_string());
        row("Rows", overview.rows.map(|r| r.to_string()).unwrap_or_else(|| "unknown (no statistics)".to_owned()));
        row("Data files", overview.files.to_string());
        row("Size", format_bytes(overview.bytes));
        row(
            "Partition columns",
            if overview.partition_columns.is_empty() { "none".to_owned() } else { overview.partition_columns.join(", ") },
        );
    });
    health_ui(ui, overview, health);
    egui::CollapsingHeader::new(format!("Geometry columns ({})", overview.geometry_columns.len())).default_open(true).show(
        ui,
        |ui| {
            if overview.geometry_columns.is_empty() {
                ui.label("No GeoParquet geometry metadata found.");
            }
            for geometry in &overview.geometry_columns {
                ui.horizontal_wrapped(|ui| {
                    ui.label(RichText::new(&geometry.name).strong());
                    ui.label(format!(
                        "{} · CRS {} · types {}",
                        geometry.encoding,
                        geometry.crs.as_deref().unwrap_or("OGC:CRS84 (default)"),
                        if geometry.geometry_types.is_empty() { "any".to_owned() } else { geometry.geometry_types.join(", ") }
                    ));
                    if let Some(bbox) = geometry.bbox {
                        if ui.small_button("Zoom map").on_hover_text(format!("{bbox:?}")).clicked() {
                            commands.push(Command::ZoomToBbox(bbox));
                        }
                    }
                });
            }
        },
    );
    egui::CollapsingHeader::new(format!("Schema ({} columns)", overview.columns.len())).default_open(true).show(ui, |ui| {
        egui::Grid::new("table_schema").num_columns(3).striped(true).show(ui, |ui| {
            for column in &overview.columns {
                ui.label(RichText::new(&column.name).monospace());
                ui.label(&column.data_type);
                ui.label(if column.nullable { "nullable" } else { "not null" });
                ui.end_row();
            }
        });
    });
    egui::CollapsingHeader::new(format!("History ({} versions)", overview.history.len())).default_open(false).show(
        ui,
        |ui| {
            egui::Grid::new("table_history").num_columns(3).striped(true).show(ui, |ui| {
                for version in &overview.history {
                    ui.label(RichText::new(&version.version).monospace());
                    let time = chrono::DateTime::from_timestamp_millis(version.timestamp_ms)
                        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                        .unwrap_or_default();
                    ui.label(time);
                    ui.label(&version.operation);
                    ui.end_row();
                }
            });
        },
    );
}

/// Growth and small files over time: commits from the history, small files from the monitor log;
/// a badge for each threshold the current version crosses.
fn health_ui(ui: &mut Ui, overview: &TableOverview, health: &Requested<Box<HealthSeries>>) {
    egui::CollapsingHeader::new("Health over time").default_open(true).show(ui, |ui| {
        let series = match health {
            Requested::Failed(error) => {
                ui.colored_label(ui.visuals().error_fg_color, error);
                None
            }
            other => other.value(),
        };
        if let Some(series) = series {
            if series.alerts.is_empty() {
                ui.label(RichText::new("✔ healthy").color(egui::Color32::from_rgb(60, 150, 60))).on_hover_text(format!(
                    "No partition holds more than {} small files",
                    series.policy.max_small_files_per_partition
                ));
            }
            for alert in &series.alerts {
                ui.label(RichText::new(format!("⚠ {alert}")).color(ui.visuals().warn_fg_color).strong());
            }
        } else if health.is_pending() {
            ui.spinner();
        }
        let now = chrono::Utc::now();
        let observations = series.map(|s| s.observations.as_slice()).unwrap_or_default();
        let times: Vec<chrono::DateTime<chrono::Utc>> =
            overview.history.iter().filter_map(|v| chrono::DateTime::from_timestamp_millis(v.timestamp_ms)).collect();
        // Hours for a young table, days otherwise.
        let oldest = times.iter().chain(observations.iter().map(|o| &o.observed_at)).min().copied().unwrap_or(now);
        let (unit_secs, unit) = if (now - oldest).num_hours() < 48 { (3600.0, "hours ago") } else { (86_400.0, "days ago") };
        let age = |t: chrono::DateTime<chrono::Utc>| -((now - t).num_seconds() as f64) / unit_secs;
        // Cumulative commits over time: the n-th commit (by time) at its age.
        let mut ages: Vec<f64> = times.into_iter().map(age).collect();
        ages.sort_by(f64::total_cmp);
        let commits: Vec<[f64; 2]> = ages.iter().enumerate().map(|(i, x)| [*x, (i + 1) as f64]).collect();
        let small: Vec<[f64; 2]> = observations.iter().map(|o| [age(o.observed_at), o.small_files as f64]).collect();
        let max_small: Vec<[f64; 2]> = observations.iter().map(|o| [age(o.observed_at), o.max_small_files_per_partition as f64]).collect();
        let highest = max_small.iter().map(|p| p[1]).fold(0.0, f64::max);
        // The threshold line only when the figures come near it (else it flattens them to zero).
        let threshold = series.map(|s| s.policy.max_small_files_per_partition as f64).filter(|t| highest * 4.0 >= *t);
        ui.columns(2, |columns| {
            egui_plot::Plot::new("health_commits")
                .height(130.0)
                .legend(egui_plot::Legend::default().position(egui_plot::Corner::LeftTop))
                .allow_scroll(false)
                .x_axis_label(unit)
                .show(&mut columns[0], |plot| {
                    plot.points(egui_plot::Points::new("commits / snapshots", commits.clone()).radius(2.0));
                    plot.line(egui_plot::Line::new("commits / snapshots", commits));
                });
            egui_plot::Plot::new("health_small_files")
                .height(130.0)
                .legend(egui_plot::Legend::default().position(egui_plot::Corner::LeftTop))
                .allow_scroll(false)
                .x_axis_label(format!("{unit} (when observed)"))
                .show(&mut columns[1], |plot| {
                    plot.points(egui_plot::Points::new("small files", small.clone()).radius(3.0));
                    plot.line(egui_plot::Line::new("small files", small));
                    plot.points(egui_plot::Points::new("most in one partition", max_small.clone()).radius(3.0));
                    plot.line(egui_plot::Line::new("most in one partition", max_small));
                    if let Some(threshold) = threshold {
                        plot.hline(egui_plot::HLine::new("alert threshold", threshold));
                    }
                });
        });
        if let Some(series) = series {
            ui.label(
                RichText::new(format!(
                    "{} observation(s) recorded each time the table is looked at (also by `meshlake table monitor` from cron)",
                    series.observations.len()
                ))
                .small(),
            );
        }
    });
}

/// The Overview figures of a table at a selected version.
fn info_ui(ui: &mut Ui, info: &TableInfo, commands: &mut Vec<Command>) {
    egui::Grid::new("table_info").num_columns(2).striped(true).show(ui, |ui| {
        let mut row = |key: &str, value: String| {
            ui.label(RichText::new(key).strong());
            ui.add(egui::Label::new(value).wrap().selectable(true));
            ui.end_row();
        };
        row("Format", info.format.to_owned());
        row("Location", info.location.clone());
        row("Version", info.version.map(|v| v.to_string()).unwrap_or_else(|| "none (no snapshots)".to_owned()));
        row("Committed", format_time(info.timestamp));
        row("Rows", info.num_rows.map(|r| r.to_string()).unwrap_or_else(|| "unknown (no statistics)".to_owned()));
        row("Data files", info.num_files.to_string());
        row("Size", format_bytes(info.total_bytes));
        row("Small files", format!("{} (at most {} in one partition)", info.small_files, info.max_small_files_per_partition));
        row(
            "Partition columns",
            if info.partition_columns.is_empty() { "none".to_owned() } else { info.partition_columns.join(", ") },
        );
        if let Some(remapped) = &info.remapped_from {
            row("Remapped from", remapped.clone());
        }
    });
    for warning in &info.warnings {
        ui.colored_label(ui.visuals().warn_fg_color, format!("⚠ {warning}"));
    }
    for geometry in &info.geometry_columns {
        ui.horizontal_wrapped(|ui| {
            ui.label(RichText::new(&geometry.name).strong());
            ui.label(format!("{} · CRS {}", geometry.encoding, geometry.crs.as_deref().unwrap_or("OGC:CRS84 (default)")));
            if let Some(bbox) = geometry.bbox {
                if ui.small_button("Zoom map").on_hover_text(format!("{bbox:?}")).clicked() {
                    commands.push(Command::ZoomToBbox(bbox));
                }
            }
        });
    }
    egui::CollapsingHeader::new(format!("Schema ({} columns)", info.schema.len())).default_open(true).show(ui, |ui| {
        egui::Grid::new("table_info_schema").num_columns(3).striped(true).show(ui, |ui| {
            for field in &info.schema {
                ui.label(RichText::new(&field.name).monospace());
                ui.label(&field.data_type);
                ui.label(if field.nullable { "nullable" } else { "not null" });
                ui.end_row();
            }
        });
    });
}

fn history_ui(
    ui: &mut Ui,
    index: usize,
    iceberg: bool,
    selected: &VersionSelector,
    history: &TableHistory,
    commands: &mut Vec<Command>,
) {
    let counts = cumulative_counts(history);
    let files: Vec<[f64; 2]> = counts.iter().enumerate().map(|(i, (f, _))| [i as f64, *f as f64]).collect();
    let rows: Vec<[f64; 2]> = counts.iter().enumerate().map(|(i, (_, r))| [i as f64, *r as f64]).collect();
    // Files and rows differ by orders of magnitude: one plot each, side by side, each with its own scale.
    let x_label = if iceberg { "snapshot #" } else { "commit #" };
    ui.columns(2, |columns| {
        for (column, (name, points)) in columns.iter_mut().zip([("files", files), ("rows", rows)]) {
            egui_plot::Plot::new(format!("history_plot_{name}_{index}"))
                .height(110.0)
                .legend(egui_plot::Legend::default())
                .allow_scroll(false)
                .x_axis_label(x_label)
                .show(column, |plot| plot.line(egui_plot::Line::new(name, points)));
        }
    });
    ui.label(format!("{} {} — click one to time-travel", history.versions.len(), if iceberg { "snapshots" } else { "versions" }));
    let newest_first: Vec<&HistoryEntry> = history.versions.iter().rev().collect();
    ui.push_id(("history_table", index), |ui| {
        ui.style_mut().interaction.selectable_labels = false;
        TableBuilder::new(ui)
            .striped(true)
            .sense(egui::Sense::click())
            .column(Column::auto().at_least(50.0))
            .column(Column::auto().at_least(50.0))
            .column(Column::auto().at_least(130.0))
            .column(Column::auto().at_least(80.0).clip(true))
            .columns(Column::auto().at_least(45.0), 4)
            .header(20.0, |mut header| {
                for title in [if iceberg { "Snapshot" } else { "Version" }, "Parent", "Timestamp", "Operation", "+files", "−files", "+rows", "−rows"] {
                    header.col(|ui| {
                        ui.strong(title);
                    });
                }
            })
            .body(|body| {
                body.rows(ROW_HEIGHT, newest_first.len(), |mut row| {
                    let version = newest_first[row.index()];
                    let at = history_selector(iceberg, version.version);
                    let is_selected = *selected == at;
                    row.set_selected(is_selected);
                    let mut clicked = false;
                    row.col(|ui| {
                        clicked |= ui.selectable_label(is_selected, history_version_label(version.version)).clicked();
                    });
                    row.col(|ui| {
                        ui.label(version.parent.map(|p| p.to_string()).unwrap_or_default());
                    });
                    row.col(|ui| {
                        ui.label(format_time(version.timestamp));
                    });
                    row.col(|ui| {
                        ui.label(&version.operation);
                    });
                    for value in [Some(version.files_added), Some(version.files_removed), version.rows_added, version.rows_removed] {
                        row.col(|ui| {
                            ui.label(value.map(|v| v.to_string()).unwrap_or_default());
                        });
                    }
                    if (clicked || row.response().clicked()) && !is_selected {
                        commands.push(Command::SelectTableVersion { table: index, at });
                    }
                });
            });
    });
}

fn files_ui(
    ui: &mut Ui,
    index: usize,
    entry: &TableEntry,
    files: &TableFiles,
    shown_layers: &[String],
    commands: &mut Vec<Command>,
) {
    let total: u64 = files.files.iter().map(|f| f.bytes).sum();
    let with_bbox = files.files.iter().filter(|f| f.bbox.is_some()).count();
    ui.horizontal_wrapped(|ui| {
        ui.label(format!("{} files · {} · {with_bbox} with a bbox", files.files.len(), format_bytes(total)));
        if ui
            .add_enabled(with_bbox > 0, egui::Button::new("Show file footprints on map"))
            .on_hover_text("Draw each file's bbox on the map: how well the files cluster in space")
            .on_disabled_hover_text("No file has bbox statistics or a GeoParquet bbox")
            .clicked()
        {
            commands.push(Command::ShowFileFootprints(index));
        }
        let layer_id = file_footprints_layer_id(&entry.reference);
        if shown_layers.contains(&layer_id) && ui.button("Remove footprints").clicked() {
            commands.push(Command::RemoveTableLayer(layer_id));
        }
    });
    if let Some(health) = &entry.files_health {
        egui::CollapsingHeader::new(format!(
            "File sizes: {} of {} data files small, {} partition(s) over the alert threshold",
            health.small_files,
            health.data_files,
            health.alerts().count()
        ))
        .id_salt(("file_health", index))
        .default_open(true)
        .show(ui, |ui| files_health_ui(ui, index, health, commands));
    }
    ui.push_id("files_table", |ui| {
        TableBuilder::new(ui)
            .striped(true)
            .column(Column::remainder().at_least(160.0).clip(true))
            .column(Column::auto().at_least(60.0))
            .column(Column::auto().at_least(80.0).clip(true))
            .column(Column::auto().at_least(70.0))
            .column(Column::auto().at_least(50.0))
            .header(20.0, |mut header| {
                for title in ["File", "Kind", "Partition", "Size", "Rows"] {
                    header.col(|ui| {
                        ui.strong(title);
                    });
                }
            })
            .body(|body| {
                body.rows(ROW_HEIGHT, files.files.len(), |mut row| {
                    let file = &files.files[row.index()];
                    row.col(|ui| {
                        let name = file.path.rsplit(['/', '\\']).next().unwrap_or(&file.path);
                        ui.add(egui::Label::new(name).truncate()).on_hover_text(&file.path);
                    });
                    row.col(|ui| {
                        ui.label(file_kind_text(file.kind));
                    });
                    row.col(|ui| {
                        let partition: Vec<String> = file
                            .partition
                            .iter()
                            .map(|(k, v)| format!("{k}={}", v.as_deref().unwrap_or("null")))
                            .collect();
                        ui.label(partition.join(", "));
                    });
                    row.col(|ui| {
                        ui.label(format_bytes(file.bytes));
                    });
                    row.col(|ui| {
                        // Live rows; a deletion vector's rows are named beside them.
                        let rows = file.rows.map(|r| r.to_string()).unwrap_or_default();
                        match file.deleted_rows() {
                            Some(deleted) => ui.label(format!("{rows} ({deleted} deleted)")),
                            None => ui.label(rows),
                        };
                    });
                });
            });
    });
}

/// The policy controls, the size histogram and the per-partition small-file table.
fn files_health_ui(ui: &mut Ui, index: usize, health: &FilesHealth, commands: &mut Vec<Command>) {
    let mut policy: SmallFilePolicy = health.policy;
    ui.horizontal_wrapped(|ui| {
        let mut small_mib = policy.small_file_bytes as f64 / (1024.0 * 1024.0);
        ui.label("Small below");
        let small = ui.add(egui::DragValue::new(&mut small_mib).range(0.0..=65_536.0).speed(0.5).suffix(" MiB").max_decimals(3));
        ui.label("alert above");
        let mut max = policy.max_small_files_per_partition;
        let alert = ui.add(egui::DragValue::new(&mut max).range(0..=u64::MAX).speed(10.0).suffix(" small files / partition"));
        if (small.changed() || alert.changed()) && !small.dragged() && !alert.dragged() || small.drag_stopped() || alert.drag_stopped() {
            policy.small_file_bytes = (small_mib * 1024.0 * 1024.0).round() as u64;
            policy.max_small_files_per_partition = max;
            if policy != health.policy {
                commands.push(Command::SetSmallFilePolicy(policy));
            }
        }
    });
    if !health.size_histogram.is_empty() {
        let small_color = egui::Color32::from_rgb(230, 120, 20);
        let large_color = egui::Color32::from_rgb(60, 130, 200);
        let bars: Vec<egui_plot::Bar> = health
            .size_histogram
            .iter()
            .enumerate()
            .map(|(i, bucket)| {
                egui_plot::Bar::new(i as f64, bucket.files as f64)
                    .width(0.9)
                    .name(format!("{} – {}", format_bytes(bucket.min_bytes), format_bytes(bucket.max_bytes)))
                    .fill(if bucket.small { small_color } else { large_color })
            })
            .collect();
        let labels: Vec<String> = health.size_histogram.iter().map(|b| format_bytes(b.min_bytes)).collect();
        egui_plot::Plot::new(("file_size_histogram", index))
            .height(120.0)
            .include_x(-1.0)
            .include_x(health.size_histogram.len() as f64)
            .allow_scroll(false)
            .allow_drag(false)
            .allow_zoom(false)
            .y_axis_label("files")
            .x_axis_formatter(move |mark, _| {
                let i = mark.value.round();
                if (mark.value - i).abs() < 1e-6 && i >= 0.0 {
                    labels.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .show(ui, |plot| plot.bar_chart(egui_plot::BarChart::new("file sizes", bars)));
    }
    ui.label(RichText::new("Small files per partition").strong());
    ui.push_id(("partition_health", index), |ui| {
        TableBuilder::new(ui)
            .striped(true)
            .max_scroll_height(160.0)
            .column(Column::remainder().at_least(120.0).clip(true))
            .columns(Column::auto().at_least(55.0), 4)
            .header(20.0, |mut header| {
                for title in ["Partition", "Files", "Small", "Size", "Health"] {
                    header.col(|ui| {
                        ui.strong(title);
                    });
                }
            })
            .body(|body| {
                body.rows(ROW_HEIGHT, health.partitions.len(), |mut row| {
                    let partition = &health.partitions[row.index()];
                    row.col(|ui| {
                        let name = if partition.partition.is_empty() { "(unpartitioned)" } else { &partition.partition };
                        ui.add(egui::Label::new(name).truncate());
                    });
                    row.col(|ui| {
                        ui.label(partition.files.to_string());
                    });
                    row.col(|ui| {
                        ui.label(partition.small_files.to_string());
                    });
                    row.col(|ui| {
                        ui.label(format_bytes(partition.bytes));
                    });
                    row.col(|ui| {
                        if partition.alert {
                            ui.colored_label(ui.visuals().error_fg_color, "⚠ compact");
                        } else {
                            ui.label("ok");
                        }
                    });
                });
            });
    });
}

/// The Schema tab: the schema at the selected version and its diff with another version.
fn schema_tab_ui(ui: &mut Ui, index: usize, entry: &TableEntry, commands: &mut Vec<Command>) {
    let iceberg = is_iceberg(entry);
    ui.horizontal_wrapped(|ui| {
        ui.label("Compare with");
        let compared = entry.schema_diff.as_ref().map(|(with, _)| with.clone());
        let selected_text = compared.as_ref().map(selector_text).unwrap_or_else(|| "no other version".to_owned());
        egui::ComboBox::from_id_salt(("schema_compare", index)).selected_text(selected_text).width(220.0).show_ui(ui, |ui| {
            if ui.selectable_label(compared.is_none(), "no other version").clicked() {
                commands.push(Command::CompareTableSchema { table: index, with: None });
            }
            if let Some(history) = entry.history.value() {
                for version in history.versions.iter().rev() {
                    let at = history_selector(iceberg, version.version);
                    let text = format!("{} · {} · {}", history_version_label(version.version), format_time(version.timestamp), version.operation);
                    if ui.selectable_label(compared.as_ref() == Some(&at), text).clicked() {
                        commands.push(Command::CompareTableSchema { table: index, with: Some(at) });
                    }
                }
            }
        });
        if entry.history.is_pending() {
            ui.spinner();
        }
    });
    if let Some((with, diff)) = &entry.schema_diff {
        ui.group(|ui| {
            ui.label(RichText::new(format!("Changes from {} to {}", selector_text(with), selector_text(&entry.selected_version))).strong());
            requested_ui(ui, diff, "both schemas", schema_diff_ui);
        });
    }
    requested_ui(ui, &entry.info, "the schema at this version", |ui, info| {
        ui.label(format!("{} columns {}", info.schema.len(), selector_text(&entry.selected_version)));
        egui::Grid::new(("schema_tab_grid", index)).num_columns(3).striped(true).show(ui, |ui| {
            for field in &info.schema {
                ui.label(RichText::new(&field.name).monospace());
                ui.label(&field.data_type);
                ui.label(if field.nullable { "nullable" } else { "not null" });
                ui.end_row();
            }
        });
        if !info.partition_columns.is_empty() {
            ui.label(format!("Partitioned by {}", info.partition_columns.join(", ")));
        }
        for geometry in &info.geometry_columns {
            ui.label(format!(
                "{}: {} · CRS {} · types {}",
                geometry.name,
                geometry.encoding,
                geometry.crs.as_deref().unwrap_or("unknown (null)"),
                if geometry.geometry_types.is_empty() { "any".to_owned() } else { geometry.geometry_types.join(", ") }
            ));
        }
    });
}

fn schema_diff_ui(ui: &mut Ui, diff: &SchemaDiff) {
    if diff.is_empty() {
        ui.label("No schema changes: same columns, types, partitioning and geometry metadata.");
        return;
    }
    let added = egui::Color32::from_rgb(40, 150, 60);
    let removed = ui.visuals().error_fg_color;
    let changed = ui.visuals().warn_fg_color;
    for field in &diff.added {
        ui.colored_label(added, format!("+ {} {}{}", field.name, field.data_type, if field.nullable { "" } else { " not null" }));
    }
    for field in &diff.removed {
        ui.colored_label(removed, format!("− {} {}", field.name, field.data_type));
    }
    for column in &diff.retyped {
        ui.colored_label(changed, format!("~ {}: {} to {}", column.name, column.from, column.to));
    }
    for change in &diff.nullability {
        let text = |nullable: bool| if nullable { "nullable" } else { "not null" };
        ui.colored_label(changed, format!("~ {}: {} to {}", change.name, text(change.from_nullable), text(change.to_nullable)));
    }
    if diff.partition_columns_from != diff.partition_columns_to {
        ui.colored_label(
            changed,
            format!("~ partitioning: [{}] to [{}]", diff.partition_columns_from.join(", "), diff.partition_columns_to.join(", ")),
        );
    }
    for change in &diff.geometry {
        let side = |value: &Option<String>| value.clone().unwrap_or_else(|| "—".to_owned());
        ui.colored_label(changed, format!("~ geo {} {}: {} to {}", change.column, change.property, side(&change.from), side(&change.to)));
    }
}

fn data_ui(ui: &mut Ui, index: usize, entry: &TableEntry, shown_layers: &[String], commands: &mut Vec<Command>) {
    let offset = entry.page_offset;
    let shown = entry.page.value().map(|p| p.rows.len() as u64).unwrap_or(0);
    ui.horizontal(|ui| {
        if ui.add_enabled(offset > 0, egui::Button::new("Previous")).clicked() {
            commands.push(Command::SetTablePageOffset { table: index, offset: offset.saturating_sub(TABLE_PAGE_ROWS) });
        }
        let full_page = shown >= TABLE_PAGE_ROWS && !entry.page.is_pending();
        if ui.add_enabled(full_page, egui::Button::new("Next")).clicked() {
            commands.push(Command::SetTablePageOffset { table: index, offset: offset + TABLE_PAGE_ROWS });
        }
        if shown > 0 {
            ui.label(format!("rows {}–{}", offset + 1, offset + shown));
        } else if !entry.page.is_pending() {
            ui.label(format!("no rows from {}", offset + 1));
        }
        if entry.page.is_pending() {
            ui.spinner();
        }
        let has_geometry = entry.overview.value().is_some_and(|o| !o.geometry_columns.is_empty());
        if ui
            .add_enabled(has_geometry && shown > 0, egui::Button::new("Show on map"))
            .on_hover_text("Draw the geometries of the rows of this page on the map")
            .on_disabled_hover_text("The table has no GeoParquet geometry column, or the page has no rows")
            .clicked()
        {
            commands.push(Command::ShowPageOnMap(index));
        }
        let layer_id = page_rows_layer_id(&entry.reference);
        if shown_layers.contains(&layer_id) && ui.button("Remove from map").clicked() {
            commands.push(Command::RemoveTableLayer(layer_id));
        }
    });
    requested_ui(ui, &entry.page, "rows", |ui, page| page_ui(ui, page));
}

fn page_ui(ui: &mut Ui, page: &TablePage) {
    if page.columns.is_empty() {
        ui.label("no columns");
        return;
    }
    egui::ScrollArea::horizontal().id_salt("page_scroll").show(ui, |ui| {
        ui.push_id("page_table", |ui| {
            TableBuilder::new(ui)
                .striped(true)
                .columns(Column::initial(120.0).at_least(40.0).clip(true).resizable(true), page.columns.len())
                .header(20.0, |mut header| {
                    for name in &page.columns {
                        header.col(|ui| {
                            ui.strong(name);
                        });
                    }
                })
                .body(|body| {
                    body.rows(ROW_HEIGHT, page.rows.len(), |mut row| {
                        let values = &page.rows[row.index()];
                        for column in 0..page.columns.len() {
                            row.col(|ui| {
                                let text = values.get(column).map(cell_text).unwrap_or_default();
                                ui.add(egui::Label::new(text).truncate());
                            });
                        }
                    });
                });
        });
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_sizes_read_well() {
        assert_eq!(table_display_name("/data/tables/parcels_delta/"), "parcels_delta");
        assert_eq!(table_display_name("iceberg+sqlite:///d/catalog.db#demo.parcels"), "demo.parcels");
        assert_eq!(format_bytes(512), "512 B");
        assert_eq!(format_bytes(1536), "1.5 KiB");
    }

    #[test]
    fn history_counts_accumulate_and_cells_read_compactly() {
        let entry = |files_added, files_removed, rows_added, rows_removed| HistoryEntry {
            version: 0,
            parent: None,
            timestamp: None,
            operation: "WRITE".to_owned(),
            files_added,
            files_removed,
            rows_added,
            rows_removed,
        };
        let history = TableHistory { versions: vec![entry(2, 0, Some(20), None), entry(1, 2, Some(5), Some(20)), entry(1, 0, None, None)] };
        assert_eq!(cumulative_counts(&history), vec![(2, 20), (1, 5), (2, 5)]);
        assert_eq!(cell_text(&serde_json::json!("POLYGON((0 0))")), "POLYGON((0 0))");
        assert_eq!(cell_text(&serde_json::json!(3)), "3");
        assert_eq!(cell_text(&serde_json::Value::Null), "");
        assert_eq!(selector_text(&VersionSelector::Version(3)), "at version 3");
        assert_eq!(selector_text(&VersionSelector::Snapshot(42)), "at snapshot 42");
        assert_eq!(history_selector(true, 7), VersionSelector::Snapshot(7));
    }
}
