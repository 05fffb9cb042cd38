//! Iceberg REST catalogs against a real REST catalog server (`tests/peers/iceberg_rest_server.py`,
//! pyiceberg's `SqlCatalog` behind the spec's routes) on 127.0.0.1: pyiceberg's own `RestCatalog`
//! reads the tables through it, and meshlake (`iceberg+http://127.0.0.1:PORT#ns.table`) shows the
//! same snapshots, row counts and rows; catalogs browse (nested namespaces, paged listings); a
//! missing table lists what is there; an unreachable catalog fails fast and clearly; a catalog's
//! tables are read at most ten at a time and the job can be cancelled.

mod common;

use std::collections::HashSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::rest_catalog::{RestCatalogServer, write_tables};
use meshlake::engine::jobs::{JobEvent, JobResult, JobRuntime, JobSpec};
use meshlake::engine::lake::TableRef;
use serde_json::{Value, json};

fn meshlake_in(dir: &Path, args: &[&str]) -> (bool, String, String) {
    meshlake_with_token(dir, args, None)
}

fn meshlake_with_token(dir: &Path, args: &[&str], token: Option<&str>) -> (bool, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_meshlake"));
    command
        .args(args)
        .current_dir(dir)
        .env("RUST_LOG", "debug")
        .env("MESHLAKE_DATA_DIR", dir.join("data"))
        .env("MESHLAKE_CACHE_DIR", dir.join("cache"))
        .env_remove("MESHLAKE_ICEBERG_TOKEN");
    if let Some(token) = token {
        command.env("MESHLAKE_ICEBERG_TOKEN", token);
    }
    let out = command.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json_of(args: &[&str]) -> Value {
    let tmp = tempfile::tempdir().unwrap();
    let (ok, stdout, stderr) = meshlake_in(tmp.path(), args);
    assert!(ok, "meshlake {args:?} failed: {stderr}");
    assert_eq!(
        stdout.trim().lines().count(),
        1,
        "one JSON object: {stdout}"
    );
    serde_json::from_str(&stdout).unwrap()
}

/// A catalog with pyiceberg's tables, served over REST with `server_args`.
fn catalog(
    many: usize,
    server_args: &[&str],
) -> Option<(tempfile::TempDir, PathBuf, RestCatalogServer)> {
    let python = common::python()?;
    let tmp = tempfile::tempdir().unwrap();
    write_tables(&python, tmp.path(), many);
    let server = RestCatalogServer::start(&python, tmp.path(), server_args);
    Some((tmp, python, server))
}

/// What pyiceberg sees of a table through its own REST client (and, to be sure the server is
/// faithful, the same snapshot ids through the SQLite catalog directly).
const PYICEBERG_VIEW: &str = r#"
import sys, json
from pyiceberg.catalog.rest import RestCatalog
from pyiceberg.catalog.sql import SqlCatalog
uri, base, name = sys.argv[1], sys.argv[2], sys.argv[3]
rest = RestCatalog("rest", uri=uri)
t = rest.load_table(name)
direct = SqlCatalog("default", uri=f"sqlite:///{base}/catalog.db", warehouse=f"file://{base}/warehouse").load_table(name)
assert [s.snapshot_id for s in t.metadata.snapshots] == [s.snapshot_id for s in direct.metadata.snapshots]
snapshots = []
for s in sorted(t.metadata.snapshots, key=lambda s: (s.timestamp_ms, s.sequence_number)):
    snapshots.append({
        "id": s.snapshot_id,
        "parent": s.parent_snapshot_id,
        "operation": s.summary.operation.value,
        "rows": t.scan(snapshot_id=s.snapshot_id).to_arrow().num_rows,
    })
current = t.scan().to_arrow()
rows = sorted([[r["id"], r["name"]] for r in current.to_pylist()])
files = len(list(t.scan().plan_files()))
print(json.dumps({"snapshots": snapshots, "rows": rows, "files": files,
                  "namespaces": sorted(".".join(n) for n in rest.list_namespaces())}))
"#;

fn pyiceberg_view(python: &Path, base: &Path, server: &RestCatalogServer, name: &str) -> Value {
    let out = common::run_python(
        python,
        PYICEBERG_VIEW,
        &[&server.url, base.to_str().unwrap(), name],
    );
    serde_json::from_str(out.trim()).unwrap()
}

fn sorted_rows(page: &Value) -> Vec<Value> {
    let mut rows: Vec<Value> = page["rows"].as_array().unwrap().clone();
    rows.sort_by_key(|r| r[0].as_i64());
    rows
}

#[test]
fn snapshots_rows_and_files_match_pyiceberg_through_the_rest_catalog() {
    // The config's `prefix` puts every route under /v1/cat/…: the client must honour it.
    let Some((tmp, python, server)) = catalog(0, &["--prefix", "cat"]) else {
        return;
    };
    let expected = pyiceberg_view(&python, tmp.path(), &server, "demo.parcels");
    let table = server.table("demo.parcels");
    assert!(table.starts_with("iceberg+http://127.0.0.1:"), "{table}");

    let history = json_of(&["table", "history", &table, "--json"]);
    let versions = history["versions"].as_array().unwrap();
    let snapshots = expected["snapshots"].as_array().unwrap();
    assert_eq!(
        snapshots.len(),
        4,
        "pyiceberg wrote 4 snapshots: {expected}"
    );
    assert_eq!(versions.len(), snapshots.len(), "{history}");
    for (ours, theirs) in versions.iter().zip(snapshots) {
        assert_eq!(ours["version"], theirs["id"], "{ours} vs {theirs}");
        assert_eq!(ours["parent"], theirs["parent"], "{ours} vs {theirs}");
        assert_eq!(ours["operation"], theirs["operation"], "{ours} vs {theirs}");
        let info = json_of(&[
            "table",
            "info",
            &table,
            "--snapshot",
            &theirs["id"].to_string(),
            "--json",
        ]);
        assert_eq!(info["format"], "iceberg");
        assert_eq!(info["version"], theirs["id"]);
        assert_eq!(
            info["num_rows"], theirs["rows"],
            "rows at snapshot {}",
            theirs["id"]
        );
    }
    let operations: Vec<&str> = snapshots
        .iter()
        .map(|s| s["operation"].as_str().unwrap())
        .collect();
    assert!(
        operations.contains(&"append") && operations.len() == 4,
        "{operations:?}"
    );

    let info = json_of(&["table", "info", &table, "--json"]);
    assert_eq!(
        info["num_rows"],
        json!(expected["rows"].as_array().unwrap().len())
    );
    assert_eq!(info["num_files"], expected["files"]);
    assert!(
        info["location"].as_str().unwrap().contains("parcels"),
        "{info}"
    );
    let names: Vec<&str> = info["schema"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["id", "name"]);

    let files = json_of(&["table", "files", &table, "--json"]);
    let data_files = files["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "data")
        .count();
    assert_eq!(json!(data_files), expected["files"]);

    let page = json_of(&["table", "head", &table, "--limit", "100", "--json"]);
    assert_eq!(page["columns"], json!(["id", "name"]));
    assert_eq!(
        sorted_rows(&page),
        expected["rows"].as_array().unwrap().clone()
    );
    assert_eq!(
        expected["rows"],
        json!([[1, "n1"], [3, "n3"], [4, "n4"], [5, "n5"], [6, "n6"]])
    );

    // Time travel through the catalog: the first snapshot has the first three rows.
    let first = snapshots[0]["id"].to_string();
    let page = json_of(&["table", "head", &table, "--snapshot", &first, "--json"]);
    assert_eq!(
        sorted_rows(&page),
        vec![json!([1, "n1"]), json!([2, "n2"]), json!([3, "n3"])]
    );
}

#[test]
fn a_catalog_with_a_base_path_browses_nested_namespaces_over_pages() {
    // Served under /api/catalog/v1/…; listings come two per page.
    let Some((tmp, python, server)) =
        catalog(0, &["--base-path", "/api/catalog", "--page-size", "2"])
    else {
        return;
    };
    let catalog_ref = server.reference();
    assert!(catalog_ref.ends_with("/api/catalog"), "{catalog_ref}");

    let scan = json_of(&["scan", &catalog_ref, "--json"]);
    let tables: Vec<&str> = scan["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    // Sorted by namespace, then table (as SQLite catalogs list them).
    let expected: Vec<String> = [
        "demo.empty",
        "demo.events",
        "demo.parcels",
        "demo.farm.fields",
        "other.x",
    ]
    .iter()
    .map(|name| server.table(name))
    .collect();
    assert_eq!(tables, expected, "{scan}");
    assert_eq!(scan["rest_catalogs"], json!([catalog_ref]));

    // The nested table reads like any other; pyiceberg agrees.
    let nested = server.table("demo.farm.fields");
    let theirs = pyiceberg_view(&python, tmp.path(), &server, "demo.farm.fields");
    assert_eq!(theirs["namespaces"], json!(["demo", "other"]));
    let history = json_of(&["table", "history", &nested, "--json"]);
    let ids: Vec<&Value> = history["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| &v["version"])
        .collect();
    let their_ids: Vec<&Value> = theirs["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["id"])
        .collect();
    assert_eq!(ids, their_ids);
    let page = json_of(&["table", "head", &nested, "--json"]);
    assert_eq!(
        sorted_rows(&page),
        theirs["rows"].as_array().unwrap().clone()
    );

    // One table named: the scan checks it and lists just it.
    let one = json_of(&["scan", &nested, "--json"]);
    assert_eq!(one["tables"], json!([nested]));

    // An empty table has no snapshot but opens.
    let info = json_of(&["table", "info", &server.table("demo.empty"), "--json"]);
    assert_eq!(info["num_files"], 0);
}

#[test]
fn a_missing_table_or_namespace_lists_what_the_catalog_has() {
    let Some((tmp, _python, server)) = catalog(0, &[]) else {
        return;
    };
    let (ok, stdout, stderr) = meshlake_in(
        tmp.path(),
        &["table", "info", &server.table("demo.nope"), "--json"],
    );
    assert!(!ok && stdout.is_empty(), "{stdout}");
    assert!(stderr.contains("has no table demo.nope"), "{stderr}");
    assert!(
        stderr.contains("tables in namespace demo: demo.empty, demo.events, demo.parcels"),
        "{stderr}"
    );
    assert!(
        stderr.contains("NoSuchTableException"),
        "the server's error is surfaced: {stderr}"
    );

    let (ok, _, stderr) = meshlake_in(
        tmp.path(),
        &["table", "history", &server.table("nowhere.t"), "--json"],
    );
    assert!(!ok);
    assert!(
        stderr.contains(
            "the catalog has no namespace nowhere; its namespaces: demo, demo.farm, other"
        ),
        "{stderr}"
    );

    let (ok, _, stderr) = meshlake_in(tmp.path(), &["scan", &server.table("demo.nope"), "--json"]);
    assert!(!ok && stderr.contains("demo.parcels"), "{stderr}");
}

#[test]
fn an_unreachable_catalog_fails_fast_and_clearly_and_writes_nothing() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let tmp = tempfile::tempdir().unwrap();
    for args in [
        vec![
            "table".to_string(),
            "info".into(),
            format!("iceberg+http://127.0.0.1:{port}#demo.parcels"),
            "--json".into(),
        ],
        vec![
            "scan".to_string(),
            format!("iceberg+http://127.0.0.1:{port}/api"),
            "--json".into(),
        ],
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let started = Instant::now();
        let (ok, stdout, stderr) = meshlake_in(tmp.path(), &args);
        let took = started.elapsed();
        assert!(!ok, "{args:?} must fail");
        assert!(stdout.is_empty(), "nothing on stdout: {stdout}");
        assert!(stderr.contains("is unreachable"), "{stderr}");
        assert!(
            stderr.contains(&format!("127.0.0.1:{port}")),
            "names the URL: {stderr}"
        );
        assert!(
            stderr.contains("check that the catalog server is running"),
            "says what to check: {stderr}"
        );
        assert!(took < Duration::from_secs(10), "failed fast: {took:?}");
    }
    let left: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(left.is_empty(), "nothing written: {left:?}");
}

/// `GET /_test/stats` of the test server, with a plain socket.
fn server_stats(server: &RestCatalogServer) -> Value {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", server.port())).unwrap();
    write!(
        stream,
        "GET /_test/stats HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let body = answer.split("\r\n\r\n").nth(1).unwrap();
    serde_json::from_str(body).unwrap()
}

#[test]
fn a_catalogs_tables_are_read_at_most_ten_at_a_time_and_can_be_cancelled() {
    // 20 tables in namespace `many` (25 in all); every load-table answer takes 0.3 s.
    let Some((_tmp, _python, server)) = catalog(20, &["--load-delay", "0.3"]) else {
        return;
    };
    let (runtime, mut events) = JobRuntime::start(2, Arc::new(|| {})).unwrap();
    let JobResult::Workspace(workspace) = runtime
        .run_to_end(
            &mut events,
            JobSpec::ScanWorkspace {
                path: PathBuf::from(server.reference()),
            },
            |_, _, _| {},
        )
        .unwrap()
    else {
        panic!("a workspace")
    };
    assert_eq!(workspace.tables.len(), 25, "{:?}", workspace.tables);
    let tables: Vec<TableRef> = workspace
        .tables
        .iter()
        .map(|t| TableRef::parse(t).unwrap())
        .collect();

    let handle = runtime.submit(JobSpec::TableOverviews {
        tables: tables.clone(),
    });
    let mut arrived = HashSet::new();
    let outcome = loop {
        let event = events.blocking_recv().unwrap();
        match event {
            JobEvent::Partial { result, .. } => match *result {
                JobResult::TableOverviewOf {
                    reference,
                    overview,
                    ..
                } => {
                    let overview = overview.unwrap_or_else(|e| panic!("{reference}: {e}"));
                    assert_eq!(overview.reference, reference);
                    assert!(arrived.insert(reference), "each table once");
                }
                other => panic!("unexpected partial {other:?}"),
            },
            JobEvent::Finished { id, result } if id == handle.id => break *result,
            JobEvent::Failed { id, error } if id == handle.id => panic!("{error}"),
            _ => {}
        }
    };
    assert!(
        matches!(
            outcome,
            JobResult::TableOverviews {
                read: 25,
                failed: 0
            }
        ),
        "{outcome:?}"
    );
    assert_eq!(
        arrived,
        workspace.tables.iter().cloned().collect::<HashSet<_>>()
    );
    let stats = server_stats(&server);
    let max = stats["max_concurrent_loads"].as_u64().unwrap();
    assert!((2..=10).contains(&max), "concurrent but bounded: {stats}");

    // Cancelled after the first table arrives: no further table is started, the job ends Cancelled.
    let before = stats["loads"].as_u64().unwrap();
    let handle = runtime.submit(JobSpec::TableOverviews { tables });
    let mut partials = 0;
    loop {
        let event = events.blocking_recv().unwrap();
        match event {
            JobEvent::Partial { .. } => {
                partials += 1;
                handle.cancel.cancel();
            }
            JobEvent::Cancelled { id } if id == handle.id => break,
            JobEvent::Finished { id, .. } if id == handle.id => {
                panic!("finished despite the cancel")
            }
            _ => {}
        }
    }
    assert!(partials < 25, "stopped early: {partials} tables read");
    let loads = server_stats(&server)["loads"].as_u64().unwrap() - before;
    assert!(loads < 2 * 25, "fewer loads than a full run: {loads}");
}

#[test]
fn a_bearer_token_is_sent_never_logged_and_a_busy_catalog_is_retried() {
    let token = "s3cr3t-t0ken-for-tests";
    let Some((tmp, _python, server)) =
        catalog(0, &["--require-token", token, "--unavailable-first", "2"])
    else {
        return;
    };
    let table = server.table("demo.parcels");
    let (ok, stdout, stderr) = meshlake_with_token(
        tmp.path(),
        &["table", "history", &table, "--json"],
        Some(token),
    );
    assert!(ok, "two 503s are retried, the token is accepted: {stderr}");
    let history: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(history["versions"].as_array().unwrap().len(), 4);
    assert!(
        !stderr.contains(token) && !stdout.contains(token),
        "the token is never logged (debug log): {stderr}"
    );
    assert!(
        stderr.contains("503"),
        "the retries are logged at debug level: {stderr}"
    );

    let (ok, _, stderr) = meshlake_in(tmp.path(), &["table", "info", &table, "--json"]);
    assert!(!ok);
    assert!(
        stderr.contains("HTTP 401 (NotAuthorizedException 401): Not authorized"),
        "{stderr}"
    );
    assert!(stderr.contains("set MESHLAKE_ICEBERG_TOKEN"), "{stderr}");
    let (ok, _, stderr) = meshlake_with_token(
        tmp.path(),
        &["table", "info", &table, "--json"],
        Some("wrong"),
    );
    assert!(
        !ok && stderr.contains("refused the bearer token in MESHLAKE_ICEBERG_TOKEN"),
        "{stderr}"
    );
}
