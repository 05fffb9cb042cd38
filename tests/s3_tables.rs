//! Tables in S3-compatible object storage: a real S3 server (moto, started here on a free port and
//! killed on drop) holds a Delta table written by the Python `deltalake` package and an Iceberg
//! table written by pyiceberg; `meshlake table info/history/files/head s3://…` must give the same
//! figures and rows as the same tables read from the local disk. Wrong credentials, a missing
//! bucket and an unreachable endpoint give clear errors naming the URL, and nothing is written.

mod common;

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A moto S3 server on 127.0.0.1 (killed on drop).
struct Moto {
    child: Child,
    port: u16,
}

impl Moto {
    fn start(python: &Path) -> Self {
        let port = free_port();
        let child = Command::new(python)
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto.server (pip install 'moto[server]')");
        let moto = Self { child, port };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto did not start on port {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        moto
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Writes the tables locally with the Python peers, uploads them to a bucket, creates an IAM user
/// whose key can read it, then switches moto's authentication on. Prints the key as JSON.
const SETUP: &str = r#"
import json, os, sys, urllib.request
import boto3, pyarrow as pa
from deltalake import DeltaTable, write_deltalake
from pyiceberg.catalog.sql import SqlCatalog

endpoint, work = sys.argv[1], sys.argv[2]
delta = os.path.join(work, "delta", "parcels")
batch = lambda start, n: pa.table({
    "id": pa.array(range(start, start + n), pa.int64()),
    "name": pa.array([f"parcel {i}" for i in range(start, start + n)]),
    "area": pa.array([i * 1.5 for i in range(start, start + n)], pa.float64()),
})
write_deltalake(delta, batch(0, 10))
write_deltalake(delta, batch(10, 5), mode="append")
write_deltalake(delta, batch(15, 5), mode="append")
DeltaTable(delta).delete("id < 3")
partitioned = os.path.join(work, "delta", "fields")
for start in (0, 50, 90):
    part = batch(start, 6).append_column("kind", pa.array(["north field", "south%east", "west"] * 2))
    write_deltalake(partitioned, part, mode="append", partition_by=["kind"])

warehouse = os.path.join(work, "iceberg")
os.makedirs(warehouse, exist_ok=True)
catalog = SqlCatalog("default", uri=f"sqlite:///{warehouse}/catalog.db", warehouse=f"file://{warehouse}")
catalog.create_namespace("demo")
things = catalog.create_table("demo.things", schema=batch(0, 1).schema)
for start in (0, 100, 200):
    things.append(batch(start, 7))
iceberg = things.metadata_location.removeprefix("file://").rsplit("/metadata/", 1)[0]

s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                  aws_access_key_id="setup", aws_secret_access_key="setup")
s3.create_bucket(Bucket="lake")
for local, prefix in ((delta, "tables/parcels"), (partitioned, "tables/fields"), (iceberg, "tables/things")):
    for folder, _, names in os.walk(local):
        for name in names:
            path = os.path.join(folder, name)
            s3.upload_file(path, "lake", prefix + "/" + os.path.relpath(path, local))

iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1",
                   aws_access_key_id="setup", aws_secret_access_key="setup")
iam.create_user(UserName="reader")
iam.put_user_policy(UserName="reader", PolicyName="all", PolicyDocument=json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
key = iam.create_access_key(UserName="reader")["AccessKey"]
urllib.request.urlopen(urllib.request.Request(endpoint + "/moto-api/reset-auth", data=b"0", method="POST",
                                              headers={"Content-Type": "text/plain"}))
print(json.dumps({"key": key["AccessKeyId"], "secret": key["SecretAccessKey"], "delta": delta,
                  "partitioned": partitioned, "iceberg": iceberg}))
"#;

/// Lists every object in the bucket as `key size` lines.
const LIST: &str = r#"
import sys, boto3
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1",
                  aws_access_key_id=sys.argv[2], aws_secret_access_key=sys.argv[3])
for page in s3.get_paginator("list_objects_v2").paginate(Bucket="lake"):
    for item in page.get("Contents", []):
        print(item["Key"], item["Size"], item["ETag"])
"#;

struct Setup {
    moto: Moto,
    python: PathBuf,
    key: String,
    secret: String,
    delta: String,
    partitioned: String,
    iceberg: String,
    _work: tempfile::TempDir,
}

fn setup() -> Option<Setup> {
    let python = common::python()?;
    let has_moto = Command::new(&python)
        .args(["-c", "import moto.server, boto3"])
        .status()
        .is_ok_and(|s| s.success());
    if !has_moto {
        common::skip_or_fail("moto[server] in MESHLAKE_PYTHON (scripts/requirements-test.txt)");
        return None;
    }
    let moto = Moto::start(&python);
    let work = tempfile::tempdir().unwrap();
    let out = common::run_python(
        &python,
        SETUP,
        &[&moto.endpoint(), work.path().to_str().unwrap()],
    );
    let keys: Value = serde_json::from_str(out.trim().lines().last().unwrap()).unwrap();
    Some(Setup {
        key: keys["key"].as_str().unwrap().to_string(),
        secret: keys["secret"].as_str().unwrap().to_string(),
        delta: keys["delta"].as_str().unwrap().to_string(),
        partitioned: keys["partitioned"].as_str().unwrap().to_string(),
        iceberg: keys["iceberg"].as_str().unwrap().to_string(),
        moto,
        python,
        _work: work,
    })
}

impl Setup {
    /// `meshlake ARGS` with the AWS variables pointing at moto (`overrides` replace some).
    fn meshlake(&self, args: &[&str], overrides: &[(&str, &str)]) -> (bool, String, String) {
        let endpoint = self.moto.endpoint();
        let mut env: Vec<(&str, &str)> = vec![
            ("AWS_ACCESS_KEY_ID", &self.key),
            ("AWS_SECRET_ACCESS_KEY", &self.secret),
            ("AWS_ENDPOINT_URL", &endpoint),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ALLOW_HTTP", "true"),
        ];
        for (name, value) in overrides {
            env.retain(|(n, _)| n != name);
            env.push((name, value));
        }
        let mut command = Command::new(env!("CARGO_BIN_EXE_meshlake"));
        for (name, _) in std::env::vars() {
            if name.starts_with("AWS_") {
                command.env_remove(name);
            }
        }
        let data = self._work.path().join("meshlake-data");
        let out = command
            .args(args)
            .envs(env)
            .env("RUST_LOG", "error")
            .env("MESHLAKE_DATA_DIR", &data)
            .env("MESHLAKE_CACHE_DIR", &data)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        let (ok, stdout, stderr) = self.meshlake(&all, &[]);
        assert!(ok, "meshlake {all:?} failed: {stderr}");
        serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
    }

    fn bucket_listing(&self) -> String {
        common::run_python(
            &self.python,
            LIST,
            &[&self.moto.endpoint(), &self.key, &self.secret],
        )
    }
}

/// The parts of `table info` that must not depend on where the table is read from.
fn info_figures(info: &Value) -> Value {
    let mut figures = serde_json::Map::new();
    for key in [
        "format",
        "version",
        "timestamp",
        "num_rows",
        "num_files",
        "total_bytes",
        "schema",
        "partition_columns",
        "small_files",
        "max_small_files_per_partition",
    ] {
        figures.insert(key.to_string(), info[key].clone());
    }
    Value::Object(figures)
}

/// `table files` as (file name, bytes, rows), sorted.
fn file_figures(files: &Value) -> Vec<(String, u64, Option<u64>)> {
    let mut figures: Vec<_> = files["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let path = f["path"].as_str().unwrap();
            (
                path.rsplit('/').next().unwrap().to_string(),
                f["bytes"].as_u64().unwrap(),
                f["rows"].as_u64(),
            )
        })
        .collect();
    figures.sort();
    figures
}

fn assert_same_table(setup: &Setup, local: &str, remote: &str, versions: &[&[&str]]) {
    let info_local = setup.json(&["table", "info", local]);
    let info_remote = setup.json(&["table", "info", remote]);
    assert_eq!(
        info_figures(&info_remote),
        info_figures(&info_local),
        "{remote}"
    );
    assert!(
        info_remote["location"]
            .as_str()
            .unwrap()
            .starts_with("s3://lake/tables/"),
        "{info_remote}"
    );
    assert!(info_local["num_rows"].as_u64().unwrap() > 0);

    let history_local = setup.json(&["table", "history", local]);
    let history_remote = setup.json(&["table", "history", remote]);
    assert_eq!(history_remote, history_local, "{remote}");
    assert!(
        history_local["versions"].as_array().unwrap().len() >= 3,
        "{history_local}"
    );

    let files_local = setup.json(&["table", "files", local]);
    let files_remote = setup.json(&["table", "files", remote]);
    assert_eq!(file_figures(&files_remote), file_figures(&files_local));
    assert!(
        files_remote["files"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["path"].as_str().unwrap().starts_with("s3://lake/tables/")),
        "{files_remote}"
    );

    for at in versions {
        let mut local_args = vec!["table", "head", local, "--limit", "100"];
        local_args.extend_from_slice(at);
        let mut remote_args = vec!["table", "head", remote, "--limit", "100"];
        remote_args.extend_from_slice(at);
        let rows_local = setup.json(&local_args);
        let rows_remote = setup.json(&remote_args);
        assert_eq!(rows_remote, rows_local, "head {at:?}");
        assert!(
            !rows_local["rows"].as_array().unwrap().is_empty(),
            "{rows_local}"
        );
        let page = setup.json(&[
            "table",
            "head",
            remote,
            "--offset",
            "3",
            "--limit",
            "4",
            "--columns",
            "name,id",
        ]);
        assert_eq!(page["columns"], serde_json::json!(["name", "id"]));
        assert_eq!(page["rows"].as_array().unwrap().len(), 4, "{page}");
    }
}

#[test]
fn s3_tables_read_like_local_ones_and_errors_are_clear() {
    let Some(setup) = setup() else { return };
    let before = setup.bucket_listing();
    assert!(
        before.contains("tables/parcels/_delta_log/00000000000000000003.json"),
        "{before}"
    );

    // Delta written by the Python deltalake package, 4 versions (3 writes and a delete).
    assert_same_table(
        &setup,
        &setup.delta,
        "s3://lake/tables/parcels",
        &[&[], &["--version", "0"], &["--version", "2"]],
    );
    let history = setup.json(&["table", "history", "s3://lake/tables/parcels/"]);
    let versions = history["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 4, "{history}");
    assert_eq!(
        versions[3]["rows_removed"].as_u64().unwrap_or(0) > 0
            || versions[3]["files_removed"].as_u64().unwrap() > 0,
        true
    );
    let info = setup.json(&[
        "table",
        "info",
        "s3://lake/tables/parcels",
        "--version",
        "1",
    ]);
    assert_eq!(info["num_rows"], 15, "{info}");

    // Partitioned by a column whose values need escaping in paths (space, %).
    assert_same_table(
        &setup,
        &setup.partitioned,
        "s3://lake/tables/fields",
        &[&[], &["--version", "1"]],
    );
    let info = setup.json(&["table", "info", "s3://lake/tables/fields"]);
    assert_eq!(
        (info["num_rows"].as_u64(), info["partition_columns"].clone()),
        (Some(18), serde_json::json!(["kind"]))
    );
    let kinds = setup.json(&[
        "table",
        "head",
        "s3://lake/tables/fields",
        "--columns",
        "kind",
        "--limit",
        "100",
    ]);
    let kinds: std::collections::BTreeSet<String> = kinds["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[0].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        ["north field", "south%east", "west"]
    );

    // Iceberg written by pyiceberg (3 snapshots), copied into the bucket: as a table folder and
    // as its metadata file.
    let iceberg_history = setup.json(&["table", "history", &setup.iceberg]);
    let first_snapshot = iceberg_history["versions"][0]["version"].to_string();
    assert_same_table(
        &setup,
        &setup.iceberg,
        "s3://lake/tables/things",
        &[&[], &["--snapshot", &first_snapshot]],
    );
    let metadata_file = before
        .lines()
        .filter_map(|line| line.split(' ').next())
        .filter(|key| key.starts_with("tables/things/metadata/") && key.ends_with(".metadata.json"))
        .max()
        .unwrap()
        .to_string();
    let by_file = setup.json(&["table", "info", &format!("s3://lake/{metadata_file}")]);
    let by_folder = setup.json(&["table", "info", "s3://lake/tables/things"]);
    assert_eq!(info_figures(&by_file), info_figures(&by_folder));
    assert_eq!(by_folder["num_rows"], 21, "{by_folder}");

    // Wrong credentials.
    let (ok, stdout, stderr) = setup.meshlake(
        &["table", "info", "s3://lake/tables/parcels", "--json"],
        &[
            ("AWS_ACCESS_KEY_ID", "AKIAWRONGWRONGWRONG1"),
            ("AWS_SECRET_ACCESS_KEY", "nope"),
        ],
    );
    assert!(!ok && stdout.trim().is_empty(), "{stdout}");
    assert!(stderr.contains("s3://lake/tables/parcels"), "{stderr}");
    assert!(stderr.contains("check the credentials"), "{stderr}");
    assert!(!stderr.contains(&setup.secret), "secret leaked: {stderr}");
    eprintln!("wrong credentials → {}", stderr.trim());

    // A missing bucket.
    let (ok, _, stderr) = setup.meshlake(
        &[
            "table",
            "history",
            "s3://no-such-bucket/tables/parcels",
            "--json",
        ],
        &[],
    );
    assert!(!ok);
    assert!(
        stderr.contains("s3://no-such-bucket/tables/parcels"),
        "{stderr}"
    );
    assert!(stderr.contains("bucket does not exist"), "{stderr}");
    eprintln!("missing bucket → {}", stderr.trim());

    // A path with nothing under it.
    let (ok, _, stderr) = setup.meshlake(
        &["table", "info", "s3://lake/tables/nothing", "--json"],
        &[],
    );
    assert!(!ok);
    assert!(
        stderr.contains("s3://lake/tables/nothing")
            && stderr.contains("check the bucket and the path"),
        "{stderr}"
    );

    // An unreachable endpoint: fails within seconds, naming the URL and the endpoint setting.
    let closed = format!("http://127.0.0.1:{}", free_port());
    let started = Instant::now();
    let (ok, _, stderr) = setup.meshlake(
        &["table", "head", "s3://lake/tables/parcels", "--json"],
        &[("AWS_ENDPOINT_URL", &closed)],
    );
    assert!(!ok);
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
    assert!(stderr.contains("s3://lake/tables/parcels"), "{stderr}");
    assert!(stderr.contains("endpoint cannot be reached"), "{stderr}");
    eprintln!(
        "unreachable endpoint ({:?}) → {}",
        started.elapsed(),
        stderr.trim()
    );

    // The GUI: credentials and endpoint from the settings dialog (the moto endpoint and key are
    // not in this process's environment), tables opened from the path field's s3:// URLs.
    gui_opens_s3_tables(&setup);

    // Reading wrote nothing.
    assert_eq!(setup.bucket_listing(), before);
}

/// eframe's storage kept in memory, as the native integration keeps it in a file.
#[derive(Default)]
struct MemoryStorage(std::collections::HashMap<String, String>);

impl eframe::Storage for MemoryStorage {
    fn get_string(&self, key: &str) -> Option<String> {
        self.0.get(key).cloned()
    }
    fn set_string(&mut self, key: &str, value: String) {
        self.0.insert(key.to_owned(), value);
    }
    fn remove_string(&mut self, key: &str) {
        self.0.remove(key);
    }
    fn flush(&mut self) {}
}

fn gui_opens_s3_tables(setup: &Setup) {
    use eframe::App;
    use meshlake::engine::storage::{S3Settings, Secret};
    use meshlake::ui::commands::Command;
    use meshlake::ui::model::Requested;
    use meshlake::ui::{AppOptions, MeshlakeApp};

    // Settings override whatever AWS_* variables this process has (the endpoint and keys are only
    // given to the child processes above).
    let data = setup._work.path().join("gui-data");
    let empty = setup._work.path().join("gui-empty");
    std::fs::create_dir_all(&empty).unwrap();
    let options = AppOptions {
        paths: Ok(meshlake::engine::settings::AppPaths {
            data_dir: data.clone(),
            cache_dir: data.join("cache"),
        }),
        open_path: Some(empty),
        log: meshlake::engine::logbuf::init_logging(false, meshlake::ui::LOG_DIRECTIVES),
        cpu_threads: 2,
        restore_state: false,
    };
    let mut harness = egui_kittest::Harness::builder()
        .with_size(egui::vec2(1400.0, 900.0))
        .with_max_steps(10_000)
        .build_eframe(move |cc| MeshlakeApp::new(cc, options).expect("app starts"));
    harness
        .state_mut()
        .queue_command(Command::SetS3Settings(S3Settings {
            endpoint: setup.moto.endpoint(),
            region: "us-east-1".into(),
            access_key_id: setup.key.clone(),
            secret_access_key: Secret::new(setup.secret.clone()),
            allow_http: true,
        }));
    harness
        .state_mut()
        .queue_command(Command::OpenPath(PathBuf::from("s3://lake/tables/parcels")));
    harness
        .state_mut()
        .queue_command(Command::OpenPath(PathBuf::from("s3://lake/tables/things/")));
    let started = Instant::now();
    loop {
        let tables = &harness.state().model.tables;
        let done = tables.len() == 2
            && tables
                .iter()
                .all(|t| matches!(t.overview, Requested::Ready(_) | Requested::Failed(_)));
        if done {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "tables did not load: {:#?}",
            harness.state().model.jobs
        );
        harness.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    harness.step();
    let tables = &harness.state().model.tables;
    let rows: Vec<Option<u64>> = tables
        .iter()
        .map(|t| match &t.overview {
            Requested::Ready(overview) => overview.rows,
            other => panic!("{}: {other:?}", t.reference),
        })
        .collect();
    assert_eq!(rows, vec![Some(17), Some(21)]);
    assert_eq!(tables[1].reference, "s3://lake/tables/things");

    let mut storage = MemoryStorage::default();
    harness.state_mut().save(&mut storage);
    let saved: String = storage.0.values().cloned().collect();
    assert!(saved.contains(&setup.key), "the key id is kept: {saved}");
    assert!(
        !saved.contains(&setup.secret),
        "the secret must not be persisted"
    );
    let debug = format!("{:?}", harness.state().persisted);
    assert!(!debug.contains(&setup.secret), "{debug}");
}
