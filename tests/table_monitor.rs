//! `meshlake table monitor`: each look at a table's current version is recorded in its monitor log
//! under the data folder; an unchanged table adds nothing, a changed one adds an observation, and
//! `--fail-on-alert` fails when a partition holds more small files than allowed.

mod common;

use serde_json::Value;

fn meshlake(data_dir: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let cache = data_dir.join("cache");
    common::run_meshlake(args, &[("MESHLAKE_DATA_DIR", data_dir), ("MESHLAKE_CACHE_DIR", &cache)])
}

fn json(data_dir: &std::path::Path, args: &[&str]) -> Value {
    let (ok, stdout, stderr) = meshlake(data_dir, args);
    assert!(ok, "meshlake {args:?} failed: {stderr}");
    serde_json::from_str(stdout.trim()).unwrap()
}

#[test]
fn monitor_records_changes_and_alerts_over_the_threshold() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let demo = json(&data, &["demo", "--dir", tmp.path().join("demo").to_str().unwrap(), "--json"]);
    let table = demo["delta_tables"][0].as_str().unwrap().to_owned();
    let iceberg = demo["iceberg_tables"][0].as_str().unwrap().to_owned();

    let first = json(&data, &["table", "monitor", &table, "--json"]);
    assert_eq!(first["observations"].as_array().unwrap().len(), 1, "{first}");
    assert_eq!(first["alerts"].as_array().unwrap().len(), 0);
    let observation = &first["observations"][0];
    let files = observation["files"].as_u64().unwrap();
    assert!(files > 1, "{observation}");
    assert_eq!(observation["small_files"].as_u64().unwrap(), files, "the demo's files are all small");
    assert!(observation["versions"].as_u64().unwrap() >= 1);
    let log = std::path::PathBuf::from(first["log"].as_str().unwrap());
    assert!(log.starts_with(data.join("monitor")), "{}", log.display());

    // Nothing changed: nothing added.
    let again = json(&data, &["table", "monitor", &table, "--json"]);
    assert_eq!(again["observations"].as_array().unwrap().len(), 1, "{again}");

    // A stricter policy raises an alert; --fail-on-alert turns it into a failure after printing the series.
    let limit = (observation["max_small_files_per_partition"].as_u64().unwrap() - 1).to_string();
    let strict = json(&data, &["table", "monitor", &table, "--max-small-files", &limit, "--json"]);
    let alert = strict["alerts"][0].as_str().unwrap();
    assert!(alert.contains("compact"), "{alert}");
    let (ok, stdout, stderr) = meshlake(&data, &["table", "monitor", &table, "--max-small-files", &limit, "--fail-on-alert", "--json"]);
    assert!(!ok, "an alert fails the command");
    assert!(stdout.contains("\"alerts\""), "the series is still printed: {stdout}");
    let error: Value = serde_json::from_str(stderr.trim().lines().last().unwrap()).unwrap();
    assert!(error["error"].as_str().unwrap().contains("health alert"), "{stderr}");

    // A compaction changes the figures: the next look adds an observation with fewer small files.
    let compacted = json(&data, &["table", "compact", &table, "--json"]);
    assert!(compacted["files_after"].as_u64().unwrap() < files, "{compacted}");
    let after = json(&data, &["table", "monitor", &table, "--json"]);
    let observations = after["observations"].as_array().unwrap();
    assert_eq!(observations.len(), 2, "{after}");
    assert_eq!(observations[1]["files"], compacted["files_after"]);
    assert!(observations[1]["small_files"].as_u64().unwrap() < observations[0]["small_files"].as_u64().unwrap());
    assert_eq!(observations[1]["versions"].as_u64().unwrap(), observations[0]["versions"].as_u64().unwrap() + 1);

    // Iceberg tables are monitored into their own log.
    let iceberg_series = json(&data, &["table", "monitor", &iceberg, "--json"]);
    assert_eq!(iceberg_series["observations"].as_array().unwrap().len(), 1);
    assert_ne!(iceberg_series["log"], first["log"]);
}
