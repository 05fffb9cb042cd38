//! The Log panel: `tracing` output captured by `engine::logbuf`, filterable, virtualized.

use egui::{Color32, RichText, Ui};
use tracing::Level;

use crate::engine::logbuf::LogBuffer;

/// The Log panel's own view state (filters), kept by the app.
#[derive(Clone, Debug)]
pub struct LogView {
    pub min_level: Level,
    pub filter: String,
}

impl Default for LogView {
    fn default() -> Self {
        Self { min_level: Level::INFO, filter: String::new() }
    }
}

fn level_color(level: Level, ui: &Ui) -> Color32 {
    match level {
        Level::ERROR => ui.visuals().error_fg_color,
        Level::WARN => ui.visuals().warn_fg_color,
        Level::INFO => ui.visuals().text_color(),
        _ => ui.visuals().weak_text_color(),
    }
}

pub fn log_ui(ui: &mut Ui, log: &LogBuffer, view: &mut LogView) {
    let lines = log.snapshot();
    ui.horizontal(|ui| {
        egui::ComboBox::from_id_salt("log_level")
            .selected_text(format!("{} and above", view.min_level))
            .show_ui(ui, |ui| {
                for level in [Level::ERROR, Level::WARN, Level::INFO, Level::DEBUG, Level::TRACE] {
                    ui.selectable_value(&mut view.min_level, level, level.to_string());
                }
            });
        ui.add(egui::TextEdit::singleline(&mut view.filter).hint_text("filter").desired_width(200.0));
        if ui.button("Copy").on_hover_text("Copy the shown lines to the clipboard").clicked() {
            let text: String = lines
                .iter()
                .filter(|l| l.level <= view.min_level && l.message.contains(view.filter.as_str()))
                .map(|l| format!("{} {:5} {} {}\n", l.time.format("%H:%M:%S%.3f"), l.level, l.target, l.message))
                .collect();
            ui.ctx().copy_text(text);
        }
        if ui.button("Clear").clicked() {
            log.clear();
        }
    });
    ui.separator();
    let filter = view.filter.to_lowercase();
    // `Level` orders ERROR < WARN < INFO < DEBUG < TRACE (more verbose is greater).
    let shown: Vec<_> = lines
        .iter()
        .filter(|l| l.level <= view.min_level)
        .filter(|l| filter.is_empty() || l.message.to_lowercase().contains(&filter) || l.target.contains(&filter))
        .collect();
    if shown.is_empty() {
        ui.label("No log lines match.");
        return;
    }
    let row_height = ui.text_style_height(&egui::TextStyle::Monospace);
    egui::ScrollArea::both().stick_to_bottom(true).auto_shrink([false, false]).show_rows(
        ui,
        row_height,
        shown.len(),
        |ui, range| {
            for line in &shown[range] {
                let text = format!(
                    "{} {:5} {}: {}",
                    line.time.format("%H:%M:%S%.3f"),
                    line.level,
                    line.target,
                    line.message
                );
                // One line per row (no wrapping) keeps the virtualized rows exact; scroll sideways for more.
                ui.add(egui::Label::new(RichText::new(text).monospace().color(level_color(line.level, ui))).extend());
            }
        },
    );
}
