//! The command line: `--version`, `demo --dir DIR --json` (exactly one JSON object on stdout), and clear
//! errors with a non-zero exit code for bad input.

use std::process::Command;

fn meshlake() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_meshlake"));
    command.env("RUST_LOG", "warn");
    command
}

#[test]
fn version_prints_the_package_version() {
    let out = meshlake().arg("--version").output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), format!("meshlake {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn demo_json_prints_exactly_one_object_with_the_paths_it_wrote() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    let out = meshlake().args(["demo", "--dir"]).arg(&dir).arg("--json").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stderr: {stderr}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.trim().lines().count(), 1, "one line of JSON: {stdout}");
    let value: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let keys: Vec<&str> = value.as_object().unwrap().keys().map(String::as_str).collect();
    for key in ["dir", "stac_catalog", "delta_tables", "iceberg_catalog", "iceberg_tables"] {
        assert!(keys.contains(&key), "missing {key} in {value}");
    }
    let catalog = std::path::Path::new(value["stac_catalog"].as_str().unwrap());
    assert!(catalog.is_file());
    let delta = std::path::Path::new(value["delta_tables"][0].as_str().unwrap());
    assert!(delta.join("_delta_log").is_dir());
    assert!(std::path::Path::new(value["iceberg_catalog"].as_str().unwrap()).is_file());
    assert!(value["iceberg_tables"][0].as_str().unwrap().starts_with("iceberg+sqlite://"));
    // Every item has B04/B08 COGs and a thumbnail next to it.
    let items: Vec<_> = walk(&dir.join("stac")).into_iter().filter(|p| p.ends_with("B04.tif")).collect();
    assert!(items.len() >= 4, "scenes: {items:?}");
    for b04 in items {
        assert!(b04.with_file_name("B08.tif").is_file());
        assert!(b04.with_file_name("thumbnail.png").is_file());
    }

    // `scan` finds what the demo wrote.
    let out = meshlake().arg("scan").arg(&dir).arg("--json").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let scanned: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(scanned["stac_catalogs"].as_array().unwrap().len(), 1);
    assert_eq!(scanned["tables"].as_array().unwrap().len(), 2, "{scanned}");

    // Running it again replaces the earlier demo.
    let again = meshlake().args(["demo", "--dir"]).arg(&dir).arg("--json").output().unwrap();
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn demo_refuses_a_folder_with_other_content_and_leaves_it_alone() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("thesis.txt"), "precious").unwrap();
    let out = meshlake().args(["demo", "--dir"]).arg(tmp.path()).arg("--json").output().unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "no JSON on failure");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not empty") && stderr.contains("choose an empty"), "{stderr}");
    assert_eq!(std::fs::read_to_string(tmp.path().join("thesis.txt")).unwrap(), "precious");
}

#[test]
fn scan_of_missing_path_and_corrupt_file_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let out = meshlake().arg("scan").arg(tmp.path().join("missing")).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("does not exist"), "{stderr}");

    let corrupt = tmp.path().join("catalog.json");
    std::fs::write(&corrupt, "{\"type\": \"Catalog\", ").unwrap();
    let out = meshlake().arg("scan").arg(&corrupt).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid JSON"));

    let not_table = tmp.path().join("photos");
    std::fs::create_dir(&not_table).unwrap();
    std::fs::write(not_table.join("a.jpg"), b"\xff\xd8").unwrap();
    let out = meshlake().arg("scan").arg(&not_table).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("holds nothing meshlake can open"));
}
