//! Bad input: broken copies of real tables (the demo tables `meshlake demo` writes, delta-rs fixture
//! tables) and broken Iceberg SQLite catalogs. Each must give a non-zero exit and one JSON error
//! object (`--json`: on stderr, stdout stays empty) that names the offending file and says what to do, and must leave the table folder exactly
//! as it was (paths, sizes, modification times). The GUI shows the error naming the file and keeps
//! working: another table still opens afterwards.

mod common;

use common::ui::step_until;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use serde_json::Value;

fn meshlake(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_meshlake")).args(args).env("RUST_LOG", "off").output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn json_ok(args: &[&str]) -> Value {
    let (ok, stdout, stderr) = meshlake(args);
    assert!(ok, "meshlake {args:?} failed: {stderr}");
    serde_json::from_str(stdout.trim()).unwrap()
}

/// Run a `--json` command that must fail: non-zero exit, nothing on stdout (it only ever holds a
/// result), and the error as one JSON object `{"error": …}` on the last line of stderr (log lines,
/// if any, come before it). Returns the message.
fn json_error(args: &[&str]) -> String {
    let mut args = args.to_vec();
    args.push("--json");
    let (ok, stdout, stderr) = meshlake(&args);
    assert!(!ok, "meshlake {args:?} should fail; stdout: {stdout}");
    assert!(stdout.trim().is_empty(), "no result on stdout for {args:?}: {stdout:?}");
    let objects: Vec<Value> = stderr.lines().filter_map(|line| serde_json::from_str::<Value>(line).ok()).filter(Value::is_object).collect();
    assert_eq!(objects.len(), 1, "exactly one JSON object on stderr for {args:?}: {stderr}");
    let last = stderr.trim_end().lines().last().unwrap_or_default();
    let value: Value = serde_json::from_str(last).unwrap_or_else(|e| panic!("the last stderr line is not JSON ({e}): {stderr}"));
    value["error"].as_str().unwrap_or_else(|| panic!("no \"error\" string in {value}")).to_owned()
}

/// Every file and folder under `root` with its size and modification time.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, (u64, SystemTime)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                stack.push(path.clone());
            }
            out.insert(path, (meta.len(), meta.modified().unwrap()));
        }
    }
    out
}

fn assert_unchanged(root: &Path, before: &BTreeMap<PathBuf, (u64, SystemTime)>) {
    let after = snapshot(root);
    let added: Vec<_> = after.keys().filter(|p| !before.contains_key(*p)).collect();
    let removed: Vec<_> = before.keys().filter(|p| !after.contains_key(*p)).collect();
    let changed: Vec<_> = after.iter().filter(|(p, v)| before.get(*p).is_some_and(|b| b != *v)).map(|(p, _)| p).collect();
    assert!(added.is_empty() && removed.is_empty() && changed.is_empty(), "nothing may be written: added {added:?}, removed {removed:?}, changed {changed:?}");
}

/// A demo workspace (Delta + Iceberg parcel tables) written by the CLI into `dir`.
struct Demo {
    delta: String,
    iceberg: String,
    iceberg_root: PathBuf,
    dir: PathBuf,
}

fn demo(dir: &Path) -> Demo {
    let summary = json_ok(&["demo", "--dir", dir.to_str().unwrap(), "--json"]);
    Demo {
        delta: summary["delta_tables"][0].as_str().unwrap().to_owned(),
        iceberg: summary["iceberg_tables"][0].as_str().unwrap().to_owned(),
        iceberg_root: dir.join("iceberg"),
        dir: dir.to_path_buf(),
    }
}

/// The first live data file of a table, as `meshlake table files` lists it.
fn first_data_file(table: &str) -> PathBuf {
    let listed = json_ok(&["table", "files", table, "--json"]);
    let file = listed["files"].as_array().unwrap().iter().find(|f| f["kind"] == "data").expect("a data file");
    PathBuf::from(file["path"].as_str().unwrap())
}

/// Overwrite the Parquet footer (its last 64 bytes: footer length and `PAR1` magic) with garbage.
fn corrupt_footer(file: &Path) {
    use std::io::{Seek, SeekFrom, Write};
    let len = std::fs::metadata(file).unwrap().len();
    let mut handle = std::fs::OpenOptions::new().write(true).open(file).unwrap();
    handle.seek(SeekFrom::Start(len - 64)).unwrap();
    handle.write_all(&[0xde; 64]).unwrap();
}


fn assert_names(message: &str, file: &Path, advice: &str) {
    assert!(message.contains(&file.display().to_string()), "the error names {}: {message}", file.display());
    assert!(message.contains(advice), "the error says what to do ({advice:?}): {message}");
}

#[test]
fn delta_data_file_missing() {
    let tmp = tempfile::tempdir().unwrap();
    let demo = demo(&tmp.path().join("demo"));
    let gone = first_data_file(&demo.delta);
    std::fs::remove_file(&gone).unwrap();
    let before = snapshot(&demo.dir);

    let message = json_error(&["table", "head", &demo.delta, "--limit", "100000"]);
    assert_names(&message, &gone, "restore the table's data files");
    assert!(message.contains("is missing"), "{message}");

    // The log itself is fine: info still opens the table and warns, naming the file.
    let info = json_ok(&["table", "info", &demo.delta, "--json"]);
    let warnings = info["warnings"].to_string();
    assert!(warnings.contains(&gone.display().to_string()) && warnings.contains("missing"), "{warnings}");
    assert_unchanged(&demo.dir, &before);
}

#[test]
fn delta_checkpoint_truncated() {
    let Some(fixtures) = common::fixtures() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let table = tmp.path().join("simple_table_with_checkpoint");
    common::copy_dir(&fixtures.join("delta-rs/tables/simple_table_with_checkpoint"), &table);
    let checkpoint = table.join("_delta_log/00000000000000000010.checkpoint.parquet");
    let len = std::fs::metadata(&checkpoint).unwrap().len();
    let file = std::fs::OpenOptions::new().write(true).open(&checkpoint).unwrap();
    file.set_len(len / 2).unwrap();
    drop(file);
    let before = snapshot(tmp.path());

    let location = table.to_str().unwrap();
    for command in ["info", "files", "head"] {
        let message = json_error(&["table", command, location]);
        assert_names(&message, &checkpoint, "delete this checkpoint and _delta_log/_last_checkpoint");
        assert!(message.contains("not a readable Parquet file"), "{message}");
    }
    // History reads the JSON commits only and still works.
    let history = json_ok(&["table", "history", location, "--json"]);
    assert_eq!(history["versions"].as_array().unwrap().len(), 11);
    // An older version before the checkpoint is still readable from the JSON commits.
    let old = json_ok(&["table", "info", location, "--version", "5", "--json"]);
    assert_eq!(old["version"], 5);
    assert_unchanged(tmp.path(), &before);
}

#[test]
fn delta_parquet_footer_corrupt() {
    let tmp = tempfile::tempdir().unwrap();
    let demo = demo(&tmp.path().join("demo"));
    let broken = first_data_file(&demo.delta);
    corrupt_footer(&broken);
    let before = snapshot(&demo.dir);

    let message = json_error(&["table", "head", &demo.delta, "--limit", "100000"]);
    assert_names(&message, &broken, "Corrupt footer");
    assert_unchanged(&demo.dir, &before);
}

#[test]
fn iceberg_parquet_footer_corrupt() {
    let tmp = tempfile::tempdir().unwrap();
    let demo = demo(&tmp.path().join("demo"));
    let broken = first_data_file(&demo.iceberg);
    corrupt_footer(&broken);
    let before = snapshot(&demo.dir);

    let message = json_error(&["table", "head", &demo.iceberg, "--limit", "100000"]);
    assert_names(&message, &broken, "restore it from a backup");
    assert!(message.contains("Corrupt footer"), "{message}");
    assert_unchanged(&demo.dir, &before);
}

#[test]
fn iceberg_manifest_missing() {
    let tmp = tempfile::tempdir().unwrap();
    let demo = demo(&tmp.path().join("demo"));
    let metadata_dir = demo.iceberg_root.join("warehouse/demo/parcels/metadata");
    let mut manifests = Vec::new();
    for entry in std::fs::read_dir(&metadata_dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        // Manifests (`…-m0.avro`), not manifest lists (`snap-….avro`).
        if name.ends_with(".avro") && !name.starts_with("snap-") {
            std::fs::remove_file(&path).unwrap();
            manifests.push(path);
        }
    }
    assert!(!manifests.is_empty(), "the demo table has manifests in {}", metadata_dir.display());
    let before = snapshot(&demo.dir);

    for command in ["info", "files", "head"] {
        let message = json_error(&["table", command, &demo.iceberg]);
        assert!(manifests.iter().any(|m| message.contains(&m.display().to_string())), "names a missing manifest: {message}");
        assert!(message.contains("(a manifest) is missing") && message.contains("restore it"), "{message}");
    }
    // The snapshots are in the metadata JSON: history still works.
    assert!(!json_ok(&["table", "history", &demo.iceberg, "--json"])["versions"].as_array().unwrap().is_empty());
    assert_unchanged(&demo.dir, &before);
}

#[test]
fn iceberg_metadata_json_is_not_json() {
    let tmp = tempfile::tempdir().unwrap();
    let demo = demo(&tmp.path().join("demo"));
    let table_dir = demo.iceberg_root.join("warehouse/demo/parcels");
    let info = json_ok(&["table", "info", table_dir.to_str().unwrap(), "--json"]);
    assert!(info["version"].is_i64());
    // The latest metadata file (the catalog points at it, and so does the folder's newest version).
    let mut metadata: Vec<PathBuf> = std::fs::read_dir(table_dir.join("metadata"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_str().unwrap().ends_with(".metadata.json"))
        .collect();
    metadata.sort();
    let latest = metadata.last().unwrap().clone();
    std::fs::write(&latest, b"{\"format-version\": 2, \"table-uuid\": \"trunc").unwrap();
    let before = snapshot(&demo.dir);

    for table in [demo.iceberg.as_str(), table_dir.to_str().unwrap(), latest.to_str().unwrap()] {
        for command in ["info", "history"] {
            let message = json_error(&["table", command, table]);
            assert_names(&message, &latest, "cannot be parsed");
        }
    }
    assert_unchanged(&demo.dir, &before);
}

#[test]
fn iceberg_catalog_unreachable() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();

    // No such file: named, and not created.
    let nowhere = root.join("nowhere/catalog.db");
    let message = json_error(&["table", "info", &format!("iceberg+sqlite://{}#demo.parcels", nowhere.display())]);
    assert_names(&message, &nowhere, "does not exist");
    assert!(!nowhere.exists() && !root.join("nowhere").exists(), "no catalog is created");

    // Not a SQLite database.
    let text = root.join("notes.db");
    std::fs::write(&text, "this is not a database\n".repeat(100)).unwrap();
    // A SQLite database (an empty file is one) without pyiceberg's tables.
    let empty = root.join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    let before = snapshot(root);
    let message = json_error(&["table", "info", &format!("iceberg+sqlite://{}#demo.parcels", text.display())]);
    assert_names(&message, &text, "is it an Iceberg SQL catalog");
    assert!(message.contains("not a database"), "{message}");
    let message = json_error(&["table", "history", &format!("iceberg+sqlite://{}#demo.parcels", empty.display())]);
    assert_names(&message, &empty, "is it an Iceberg SQL catalog");
    assert!(message.contains("iceberg_tables"), "{message}");
    assert_unchanged(root, &before);
}

// ---- GUI ----------------------------------------------------------------------------------------

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use meshlake::engine::settings::AppPaths;
use meshlake::ui::model::Requested;
use meshlake::ui::{AppOptions, MeshlakeApp};

#[derive(Debug)]
struct Dropped(PathBuf);

impl egui::DroppedFile for Dropped {
    fn path(&self) -> &Path {
        &self.0
    }
    fn bytes(&self) -> Result<Vec<u8>, String> {
        Err("opened by path".to_owned())
    }
}

#[test]
fn gui_shows_a_broken_table_naming_the_file_and_keeps_working() {
    let tmp = tempfile::tempdir().unwrap();
    let broken = demo(&tmp.path().join("broken"));
    let good = demo(&tmp.path().join("good"));
    let metadata_dir = broken.iceberg_root.join("warehouse/demo/parcels/metadata");
    let mut removed = Vec::new();
    for entry in std::fs::read_dir(&metadata_dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        if name.ends_with(".avro") && !name.starts_with("snap-") {
            std::fs::remove_file(&path).unwrap();
            removed.push(path);
        }
    }
    let before = snapshot(&broken.dir);

    let data_dir = tmp.path().join("data");
    let options = AppOptions {
        paths: Ok(AppPaths { data_dir: data_dir.clone(), cache_dir: data_dir.join("cache") }),
        open_path: Some(broken.iceberg_root.join("catalog.db")),
        log: meshlake::engine::logbuf::init_logging(false, meshlake::ui::LOG_DIRECTIVES),
        cpu_threads: 2,
        restore_state: false,
    };
    let mut harness = Harness::builder()
        .with_size(egui::vec2(1500.0, 950.0))
        .with_max_steps(10_000)
        .build_eframe(move |cc| MeshlakeApp::new(cc, options).expect("app starts"));
    step_until(&mut harness, Duration::from_secs(60), "the broken table to fail", |app| {
        app.model.tables.len() == 1 && matches!(app.model.tables[0].overview, Requested::Failed(_))
    });
    let Requested::Failed(error) = &harness.state().model.tables[0].overview else { unreachable!() };
    assert!(removed.iter().any(|m| error.contains(&m.display().to_string())), "the table's error names the manifest: {error}");
    // The notice on screen names the file too.
    let named = removed
        .iter()
        .any(|m| harness.query_all_by_label_contains(m.file_name().unwrap().to_str().unwrap()).next().is_some());
    assert!(named, "an on-screen notice names the missing manifest");

    // The app keeps running: another table opens afterwards.
    let handle: egui::DroppedFileHandle = std::sync::Arc::new(Dropped(PathBuf::from(&good.delta)));
    harness.input_mut().dropped_files.push(handle);
    step_until(&mut harness, Duration::from_secs(60), "the good table to open", |app| {
        app.model.tables.iter().any(|t| t.reference.contains("good") && matches!(t.overview, Requested::Ready(_)))
    });
    assert!(harness.query_all_by_label_contains("parcels_delta").next().is_some(), "the good table is listed");
    assert_unchanged(&broken.dir, &before);
}
