//! The Jobs panel: every job with its progress bar, elapsed time, cancel button and, when it failed,
//! its error in full.

use egui::{RichText, Ui};

use crate::ui::commands::Command;
use crate::ui::model::{AppModel, JobRow, JobState};

pub fn jobs_ui(ui: &mut Ui, model: &AppModel, commands: &mut Vec<Command>) {
    ui.horizontal(|ui| {
        let running = model.running_jobs();
        ui.label(format!("{running} running, {} total", model.jobs.len()));
        if ui.add_enabled(model.jobs.len() > running, egui::Button::new("Clear finished")).clicked() {
            commands.push(Command::ClearFinishedJobs);
        }
    });
    ui.separator();
    if model.jobs.is_empty() {
        ui.label("No jobs yet. Opening catalogs and tables, and writing the demo, run here as background jobs.");
        return;
    }
    egui::ScrollArea::vertical().auto_shrink([false, false]).show(ui, |ui| {
        // Newest first.
        for job in model.jobs.iter().rev() {
            job_row_ui(ui, job, commands);
        }
    });
}

fn format_elapsed(job: &JobRow) -> String {
    let secs = job.elapsed().as_secs_f64();
    if secs < 60.0 { format!("{secs:.1} s") } else { format!("{}m {:02}s", (secs / 60.0) as u64, secs as u64 % 60) }
}

fn job_row_ui(ui: &mut Ui, job: &JobRow, commands: &mut Vec<Command>) {
    egui::Frame::group(ui.style()).show(ui, |ui| {
        ui.set_width(ui.available_width());
        ui.horizontal(|ui| {
            ui.label(RichText::new(format!("{} {}", job.id, job.title)).strong());
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                if job.is_running() && ui.button("Cancel").on_hover_text("Stop this job after its current chunk").clicked() {
                    commands.push(Command::CancelJob(job.id));
                }
                ui.label(format_elapsed(job));
            });
        });
        match &job.state {
            JobState::Running { done, total, message } => {
                let fraction = if *total == 0 { 0.0 } else { *done as f32 / *total as f32 };
                let text = if *total == 0 { message.clone() } else { format!("{done}/{total} {message}") };
                let cancelling = job.cancel.is_cancelled();
                let text = if cancelling { format!("cancelling… {text}") } else { text };
                ui.add(egui::ProgressBar::new(fraction).text(text).animate(*total == 0));
            }
            JobState::Finished => {
                ui.label(RichText::new("✔ finished").color(egui::Color32::from_rgb(60, 160, 80)));
            }
            JobState::Cancelled => {
                ui.label(RichText::new("⏹ cancelled").color(ui.visuals().warn_fg_color));
            }
            JobState::Failed(error) => {
                ui.label(RichText::new("✖ failed").color(ui.visuals().error_fg_color));
                ui.add(egui::Label::new(RichText::new(error).color(ui.visuals().error_fg_color)).wrap().selectable(true));
            }
        }
    });
}
