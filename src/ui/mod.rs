//! The GUI (egui/eframe): app state and commands, panels, the map.

pub mod app;
pub mod commands;
pub mod map;
pub mod model;
pub mod panels;

use std::path::PathBuf;

use anyhow::Context as _;

pub use app::{AppOptions, MeshlakeApp};

/// Log directives the GUI adds to the engine's default filter: walkers warns for every map tile it
/// cannot fetch, which offline is every tile (the map shows the shipped basemap instead).
pub const LOG_DIRECTIVES: &str = "walkers::io::fetch=error";

/// The window icon, shipped in `assets/`.
pub const ICON_PNG: &[u8] = include_bytes!("../../assets/icon-256.png");

/// Open the main window; `path` (if any) is opened instead of the demo workspace.
pub fn run_native(path: Option<PathBuf>) -> anyhow::Result<()> {
    let log = crate::engine::logbuf::init_logging(false, LOG_DIRECTIVES);
    let mut viewport = egui::ViewportBuilder::default()
        .with_title("meshlake")
        .with_app_id("meshlake")
        .with_inner_size([1500.0, 920.0])
        .with_min_inner_size([720.0, 480.0])
        .with_drag_and_drop(true);
    match eframe::icon_data::from_png_bytes(ICON_PNG) {
        Ok(icon) => viewport = viewport.with_icon(icon),
        Err(err) => tracing::warn!("window icon not loaded: {err}"),
    }
    let options = AppOptions { open_path: path, ..AppOptions::from_env(log) };
    // Window, layout, theme, map view and sources live next to the data, so MESHLAKE_DATA_DIR keeps
    // separate setups (and tests) apart.
    let persistence_path = options.paths.as_ref().ok().map(|paths| paths.data_dir.join("app-state.ron"));
    let native_options = eframe::NativeOptions { viewport, persist_window: true, persistence_path, ..Default::default() };
    eframe::run_native("meshlake", native_options, Box::new(move |cc| Ok(Box::new(MeshlakeApp::new(cc, options)?))))
        .map_err(|err| anyhow::anyhow!("{err}"))
        .context("the meshlake window could not be opened (is a display available? set DISPLAY or WAYLAND_DISPLAY)")
}
