//! The Tables panel: opened Delta and Iceberg tables with their overview (format, rows, files,
//! versions), and the selected table's location, schema, geometry columns and history.

use egui::{RichText, Ui};
use egui_extras::{Column, TableBuilder};

use crate::engine::lake::TableOverview;
use crate::ui::commands::Command;
use crate::ui::model::{AppModel, Requested, TableEntry};

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

pub fn tables_ui(ui: &mut Ui, model: &AppModel, commands: &mut Vec<Command>) {
    ui.horizontal(|ui| {
        if ui.button("Open…").on_hover_text("Open a Delta table root or an Iceberg catalog folder (Ctrl+O)").clicked() {
            commands.push(Command::PickFolder);
        }
        ui.label(format!("{} table(s)", model.tables.len()));
    });
    ui.separator();
    if model.tables.is_empty() {
        ui.label("No table open. Open a Delta table folder, an Iceberg catalog (.db) or a folder holding them.");
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
    egui::ScrollArea::vertical().id_salt("table_details").auto_shrink([false, false]).show(ui, |ui| {
        table_details_ui(ui, index, entry, commands);
    });
}

fn table_list_ui(ui: &mut Ui, model: &AppModel, commands: &mut Vec<Command>) {
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

fn table_details_ui(ui: &mut Ui, index: usize, entry: &TableEntry, commands: &mut Vec<Command>) {
    ui.horizontal(|ui| {
        ui.heading(table_display_name(&entry.reference));
        if ui.add_enabled(!entry.overview.is_pending(), egui::Button::new("Reload")).clicked() {
            commands.push(Command::ReloadTable(index));
        }
        if ui.button("Close").clicked() {
            commands.push(Command::CloseTable(index));
        }
    });
    ui.label(RichText::new(&entry.reference).monospace().small());
    match &entry.overview {
        Requested::Failed(error) => {
            ui.add(egui::Label::new(RichText::new(error).color(ui.visuals().error_fg_color)).wrap().selectable(true));
        }
        other => match other.value() {
            Some(overview) => overview_ui(ui, overview, commands),
            None => {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label("reading the table's log and metadata…");
                });
            }
        },
    }
}

fn overview_ui(ui: &mut Ui, overview: &TableOverview, commands: &mut Vec<Command>) {
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
}
