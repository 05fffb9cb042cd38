//! `meshlake table diff` on tables whose schema the real peers evolved: the Python `deltalake`
//! package (merge-append a column, overwrite with a retyped column and partitioning) and pyiceberg
//! (add, retype and drop columns between snapshots).

mod common;

use std::process::Command;

use serde_json::Value;

fn diff(args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_meshlake")).args(args).env("RUST_LOG", "error").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "meshlake {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_str(stdout.trim()).unwrap()
}

fn names(fields: &Value) -> Vec<String> {
    fields.as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn schema_diffs_match_what_the_peers_changed() {
    let Some(python) = common::python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/write_evolving_tables.py");
    let written: Value = serde_json::from_str(
        common::run_python(&python, &std::fs::read_to_string(script).unwrap(), &[tmp.path().to_str().unwrap()]).trim(),
    )
    .unwrap();
    assert_eq!(written["delta"]["versions"], 2);

    let delta = tmp.path().join("evolving_delta");
    let delta = delta.to_str().unwrap();
    let v0_v1 = diff(&["table", "diff", delta, "--from", "0", "--to", "1", "--json"]);
    assert_eq!(names(&v0_v1["added"]), ["area"]);
    assert!(v0_v1["removed"].as_array().unwrap().is_empty());
    assert_eq!(v0_v1["added"][0]["type"], "double");

    let v1_latest = diff(&["table", "diff", delta, "--from", "1", "--json"]);
    assert_eq!((v1_latest["from_version"].as_i64(), v1_latest["to_version"].as_i64()), (Some(1), Some(2)));
    assert_eq!(names(&v1_latest["added"]), ["crop"]);
    assert_eq!(names(&v1_latest["removed"]), ["name"]);
    assert_eq!(v1_latest["retyped"], serde_json::json!([{"name": "id", "from": "integer", "to": "long"}]));
    assert_eq!(v1_latest["partition_columns_to"], serde_json::json!(["crop"]));

    let same = diff(&["table", "diff", delta, "--from", "2", "--to", "latest", "--json"]);
    for key in ["added", "removed", "retyped", "nullability", "geometry"] {
        assert!(same[key].as_array().unwrap().is_empty(), "{key}: {same}");
    }

    let iceberg = format!("iceberg+sqlite://{}#evo.parcels", tmp.path().join("catalog.db").display());
    let s1 = written["iceberg"]["s1"].as_i64().unwrap().to_string();
    let snapshots = diff(&["table", "diff", &iceberg, "--from", &s1, "--json"]);
    assert_eq!(snapshots["to_version"].as_i64(), written["iceberg"]["s2"].as_i64());
    assert_eq!(names(&snapshots["added"]), ["area"]);
    assert_eq!(names(&snapshots["removed"]), ["name"]);
    assert_eq!(snapshots["retyped"], serde_json::json!([{"name": "id", "from": "int", "to": "long"}]));

    // A version that does not exist is a clear error, not an empty diff.
    let out = Command::new(env!("CARGO_BIN_EXE_meshlake"))
        .args(["table", "diff", delta, "--from", "9", "--json"])
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains('9'), "{}", String::from_utf8_lossy(&out.stderr));
}
