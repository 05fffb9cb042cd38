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

/// Click the first widget whose label contains `text`, then let the UI handle it.
pub fn click(harness: &mut Harness<'_, MeshlakeApp>, text: &str) {
    use egui_kittest::kittest::Queryable;
    harness.query_all_by_label_contains(text).next().unwrap_or_else(|| panic!("no widget labelled {text:?}")).click();
    harness.step();
    harness.step();
}

/// Select the table tab (a toggle) named `name`.
pub fn open_tab(harness: &mut Harness<'_, MeshlakeApp>, name: &str) {
    use egui_kittest::kittest::{NodeT, Queryable};
    let tab = harness.query_all_by_label(name).find(|n| n.accesskit_node().toggled().is_some()).unwrap_or_else(|| panic!("{name} tab"));
    tab.click();
    harness.step();
    harness.step();
}
