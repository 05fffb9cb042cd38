//! `meshlake table info|history|files|head` on the demo's Delta and Iceberg tables, with time travel,
//! and clear errors for bad input.

mod common;

use serde_json::Value;

fn meshlake(args: &[&str]) -> (bool, String, String) {
    common::run_meshlake(args, &[])
}

fn json(args: &[&str]) -> Value {
    let (ok, stdout, stderr) = meshlake(args);
    assert!(ok, "meshlake {args:?} failed: {stderr}");
    assert_eq!(stdout.trim().lines().count(), 1, "one JSON object: {stdout}");
    serde_json::from_str(&stdout).unwrap()
}

fn demo() -> (tempfile::TempDir, Value) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    let summary = json(&["demo", "--dir", dir.to_str().unwrap(), "--json"]);
    (tmp, summary)
}

fn check_table(table: &str, format: &str) {
    let info = json(&["table", "info", table, "--json"]);
    assert_eq!(info["format"], format);
    let rows = info["num_rows"].as_u64().unwrap();
    let files = info["num_files"].as_u64().unwrap();
    assert!(rows > 100 && files > 1, "{info}");
    assert!(info["total_bytes"].as_u64().unwrap() > 0);
    let names: Vec<&str> = info["schema"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["parcel_id", "geometry", "crs", "updated_at"]);
    assert_eq!(info["geometry_columns"][0]["name"], "geometry");
    assert_eq!(info["small_files"].as_u64().unwrap(), files, "demo files are all small");
    for key in ["location", "version", "timestamp", "partition_columns", "max_small_files_per_partition"] {
        assert!(info.get(key).is_some(), "{key} missing in {info}");
    }

    let history = json(&["table", "history", table, "--json"]);
    let versions = history["versions"].as_array().unwrap();
    assert!(versions.len() >= 3);
    // RFC 3339 with as many fraction digits as needed ("…:29Z" before "…:29.021Z"): compared as instants.
    let timestamps: Vec<chrono::DateTime<chrono::FixedOffset>> =
        versions.iter().map(|v| chrono::DateTime::parse_from_rfc3339(v["timestamp"].as_str().unwrap()).unwrap()).collect();
    assert!(timestamps.windows(2).all(|w| w[0] <= w[1]), "oldest first: {timestamps:?}");
    assert_eq!(versions.last().unwrap()["version"], info["version"]);
    for key in ["parent", "operation", "files_added", "files_removed", "rows_added", "rows_removed"] {
        assert!(versions[0].get(key).is_some(), "{key} missing in {}", versions[0]);
    }

    let listed = json(&["table", "files", table, "--json"]);
    let data_files = listed["files"].as_array().unwrap().iter().filter(|f| f["kind"] == "data").count();
    assert_eq!(data_files as u64, files);

    let page = json(&["table", "head", table, "--limit", "5", "--columns", "parcel_id,geometry", "--json"]);
    assert_eq!(page["columns"], serde_json::json!(["parcel_id", "geometry"]));
    let rows_shown = page["rows"].as_array().unwrap();
    assert_eq!(rows_shown.len(), 5);
    assert!(rows_shown[0][1].as_str().unwrap().starts_with("POLYGON"), "{}", rows_shown[0][1]);

    // Time travel: the second version/snapshot has fewer rows than the latest.
    let second = versions[1]["version"].as_i64().unwrap().to_string();
    let flag = if format == "delta" { "--version" } else { "--snapshot" };
    let earlier = json(&["table", "info", table, flag, &second, "--json"]);
    assert_eq!(earlier["version"], versions[1]["version"]);
    assert!(earlier["num_rows"].as_u64().unwrap() < rows, "{earlier}");
    let wrong_flag = if format == "delta" { "--snapshot" } else { "--version" };
    let (ok, _, stderr) = meshlake(&["table", "info", table, wrong_flag, &second, "--json"]);
    assert!(!ok && !stderr.is_empty(), "{wrong_flag} on a {format} table must be refused");
}

#[test]
fn table_commands_on_the_demo_delta_table() {
    let (_tmp, summary) = demo();
    check_table(summary["delta_tables"][0].as_str().unwrap(), "delta");
}

#[test]
fn table_commands_on_the_demo_iceberg_table() {
    let (_tmp, summary) = demo();
    check_table(summary["iceberg_tables"][0].as_str().unwrap(), "iceberg");
}

#[test]
fn bad_table_references_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let (ok, stdout, stderr) = meshlake(&["table", "info", tmp.path().join("nope").to_str().unwrap(), "--json"]);
    assert!(!ok && stdout.is_empty());
    assert!(stderr.contains("does not exist"), "{stderr}");
    let (ok, _, stderr) = meshlake(&["table", "history", tmp.path().to_str().unwrap()]);
    assert!(!ok);
    assert!(stderr.contains("not a Delta table") || stderr.contains("_delta_log"), "{stderr}");
    let (ok, _, stderr) = meshlake(&["table", "info", "/x", "--as-of", "yesterday"]);
    assert!(!ok && stderr.contains("RFC 3339"), "{stderr}");
}
