//! Helpers for the egui_kittest GUI tests: app options on a temp data dir, and stepping the UI until a
//! condition holds.

use std::path::Path;
use std::time::{Duration, Instant};

use egui_kittest::Harness;
use meshlake::engine::settings::AppPaths;
use meshlake::ui::{AppOptions, MeshlakeApp};

/// The app on `data_dir` (demo written there), nothing restored, two CPU workers.
pub fn options(data_dir: &Path) -> AppOptions {
    AppOptions {
        paths: Ok(AppPaths { data_dir: data_dir.to_path_buf(), cache_dir: data_dir.join("cache") }),
        open_path: None,
        log: meshlake::engine::logbuf::init_logging(false, meshlake::ui::LOG_DIRECTIVES),
        cpu_threads: 2,
        restore_state: false,
    }
}

/// Step the UI (as the real event loop would) until `done` holds, failing after `timeout`.
pub fn step_until(harness: &mut Harness<'_, MeshlakeApp>, timeout: Duration, what: &str, done: impl Fn(&MeshlakeApp) -> bool) {
    let started = Instant::now();
    while !done(harness.state()) {
        assert!(started.elapsed() < timeout, "timed out waiting for {what}; jobs: {:#?}", harness.state().model.jobs);
        harness.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    harness.step();
    harness.step();
}
