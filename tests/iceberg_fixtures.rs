//! Iceberg tables written by other engines (the fixtures' `iceberg/` folder) and by pyiceberg:
//! every table opens with the expected rows (deletes applied) or fails with a specific error,
//! and snapshots/rows agree with pyiceberg's.
mod common;

use std::path::{Path, PathBuf};

use meshlake::engine::lake::TableRef;
use meshlake::engine::lake::iceberg::count_rows;
use meshlake::engine::lake::inspect::{
    FileKind, PageRequest, SmallFilePolicy, VersionSelector, table_files, table_head,
    table_history, table_info,
};

/// Folders under `dir` that hold `metadata/*.metadata.json`, sorted.
fn iceberg_table_folders(dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    let has_metadata = std::fs::read_dir(dir.join("metadata")).is_ok_and(|entries| {
        entries
            .filter_map(Result::ok)
            .any(|e| e.file_name().to_string_lossy().ends_with(".metadata.json"))
    });
    if has_metadata {
        found.push(dir.to_path_buf());
        return;
    }
    for path in paths.into_iter().filter(|p| p.is_dir()) {
        iceberg_table_folders(&path, found);
    }
}

/// The base folder the fixture's relative paths start from (`iceberg/<source>/`).
fn fixture_base(fixtures: &Path, table: &Path) -> PathBuf {
    let relative = table.strip_prefix(fixtures.join("iceberg")).expect("under iceberg/");
    let source = relative.components().next().expect("a source folder");
    fixtures.join("iceberg").join(source)
}

/// Row count pyiceberg's StaticTable scan gives (run from the fixture base, where the relative
/// paths resolve), or its error message.
fn pyiceberg_rows(python: &Path, base: &Path, metadata_file: &Path) -> Result<u64, String> {
    let code = r#"
import os, sys
os.chdir(sys.argv[1])
from pyiceberg.table import StaticTable
try:
    t = StaticTable.from_metadata(os.path.relpath(sys.argv[2], sys.argv[1]))
    print("rows", t.scan().to_arrow().num_rows if t.current_snapshot() else 0)
except ValueError as e:
    if "equality deletes" not in str(e):
        raise
    # pyiceberg plans no equality deletes: apply them with pyarrow from pyiceberg's manifest
    # entries (a delete applies to data files of the same partition with a lower sequence number).
    import pyarrow.parquet as pq
    from pyiceberg.manifest import DataFileContent
    schema, data, deletes = t.schema(), [], []
    for manifest in t.current_snapshot().manifests(t.io):
        for entry in manifest.fetch_manifest_entry(t.io, discard_deleted=True):
            kind = data if entry.data_file.content == DataFileContent.DATA else deletes
            kind.append((entry.sequence_number, entry.data_file))
    total = 0
    for seq, data_file in data:
        rows = pq.read_table(data_file.file_path)
        for delete_seq, delete in deletes:
            if delete.content != DataFileContent.EQUALITY_DELETES:
                raise
            if delete_seq <= seq or (len(delete.partition) and delete.partition != data_file.partition):
                continue
            names = [schema.find_field(i).name for i in delete.equality_ids]
            rows = rows.join(pq.read_table(delete.file_path).select(names), keys=names, join_type="left anti")
        total += rows.num_rows
    print("rows", total)
except Exception as e:
    print("error", type(e).__name__, str(e).splitlines()[0] if str(e) else "")
"#;
    let out = common::run_python(
        python,
        code,
        &[&base.display().to_string(), &metadata_file.display().to_string()],
    );
    let out = out.trim();
    match out.strip_prefix("rows ") {
        Some(rows) => rows.parse().map_err(|e| format!("{out}: {e}")),
        None => Err(out.to_string()),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_fixture_iceberg_table_opens_with_expected_rows() {
    let Some(fixtures) = common::fixtures() else {
        return;
    };
    let python = common::python();
    let mut tables = Vec::new();
    iceberg_table_folders(&fixtures.join("iceberg"), &mut tables);
    assert!(tables.len() >= 8, "expected the fixture tables, found {tables:?}");
    let policy = SmallFilePolicy::default();
    let mut checked_against_peer = 0;
    let mut checked_against_expected = 0;
    for folder in &tables {
        let name = folder.strip_prefix(&fixtures).unwrap_or(folder).display().to_string();
        let table = TableRef::parse(&folder.display().to_string())
            .unwrap_or_else(|e| panic!("{name}: cannot name the table: {e}"));
        let TableRef::IcebergFile { metadata_location } = &table else {
            panic!("{name}: parsed as {table:?}");
        };
        let info = match table_info(&table, &VersionSelector::Latest, &policy).await {
            Ok(info) => info,
            Err(err) => {
                println!("{name}: info error: {err}");
                let text = err.to_string();
                assert!(text.contains(&table.to_string()) || text.contains(&name), "{name}: unspecific error {text}");
                continue;
            }
        };
        assert!(info.remapped_from.is_some(), "{name}: fixture paths are relative and must be remapped");
        let history = table_history(&table).await.expect("history");
        let files = table_files(&table, &VersionSelector::Latest).await.expect("files");
        let data_files = files.files.iter().filter(|f| f.kind == FileKind::Data).count() as u64;
        assert_eq!(data_files, info.num_files, "{name}");
        assert!(files.files.iter().all(|f| Path::new(&f.path).is_file()), "{name}: {files:?}");
        let deletes: Vec<FileKind> = files.files.iter().map(|f| f.kind).filter(|k| *k != FileKind::Data).collect();
        let rows = match count_rows(&table, &VersionSelector::Latest).await {
            Ok(rows) => rows,
            Err(err) => {
                println!(
                    "{name}: {} snapshots, {} data files, {} delete files; reading rows fails: {err}",
                    history.versions.len(),
                    info.num_files,
                    deletes.len()
                );
                let text = err.to_string();
                assert!(text.contains(&table.to_string()), "{name}: unspecific error {text}");
                continue;
            }
        };
        match table_head(&table, &VersionSelector::Latest, &PageRequest { offset: 0, limit: u64::MAX, columns: vec![], ..Default::default() })
            .await
        {
            Ok(page) => assert_eq!(page.rows.len() as u64, rows, "{name}: head and count disagree"),
            Err(err) => {
                // iceberg-rust cannot read some column types; the error must say which table.
                println!("{name}: head of all columns fails: {err}");
                assert!(err.to_string().contains(&table.to_string()), "{name}: unspecific error {err}");
            }
        }
        println!(
            "{name}: {} snapshots, {} data files, {} position + {} equality delete files, {rows} rows (records in data files: {:?})",
            history.versions.len(),
            info.num_files,
            deletes.iter().filter(|k| **k == FileKind::PositionDeletes).count(),
            deletes.iter().filter(|k| **k == FileKind::EqualityDeletes).count(),
            info.num_rows,
        );
        if deletes.is_empty() {
            assert_eq!(info.num_rows, Some(rows), "{name}");
        }
        if deletes.contains(&FileKind::EqualityDeletes) {
            let records: u64 = files.files.iter().filter(|f| f.kind == FileKind::Data).filter_map(|f| f.rows).sum();
            assert!(rows < records, "{name}: equality deletes removed nothing ({rows} of {records})");
        }
        // The expected result Spark committed with the table.
        let expected_count = folder.parent().map(|p| p.join("expected_results/last/count.csv"));
        if let Some(expected) = expected_count.filter(|p| p.is_file()) {
            let text = std::fs::read_to_string(&expected).expect("read count.csv");
            let count: u64 = text.lines().filter_map(|l| l.trim().parse().ok()).next().expect("a count");
            assert_eq!(rows, count, "{name}: Spark's expected count");
            checked_against_expected += 1;
        }
        if let Some(python) = &python {
            match pyiceberg_rows(python, &fixture_base(&fixtures, folder), Path::new(metadata_location)) {
                Ok(peer_rows) => {
                    assert_eq!(rows, peer_rows, "{name}: pyiceberg counts {peer_rows}");
                    checked_against_peer += 1;
                }
                Err(peer_error) => println!("  pyiceberg cannot read {name}: {peer_error}"),
            }
        }
    }
    assert_eq!(checked_against_expected, 1, "the Spark table with expected results");
    if python.is_some() {
        assert!(checked_against_peer >= 7, "only {checked_against_peer} tables checked against pyiceberg");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn fixture_sql_catalog_with_another_catalog_name() {
    let Some(fixtures) = common::fixtures() else {
        return;
    };
    let catalog = fixtures.join("iceberg/duckdb-iceberg/data/persistent/column_mapping/catalog.sqlite");
    let without_name = TableRef::parse(&format!("iceberg+sqlite://{}#default.my_table", catalog.display())).unwrap();
    let err = table_info(&without_name, &VersionSelector::Latest, &SmallFilePolicy::default()).await.unwrap_err();
    assert!(err.to_string().contains("?catalog=my_catalog"), "{err}");
    let named = TableRef::parse(&format!("iceberg+sqlite://{}#default.my_table?catalog=my_catalog", catalog.display())).unwrap();
    assert_eq!(TableRef::parse(&named.to_string()).unwrap(), named);
    let info = table_info(&named, &VersionSelector::Latest, &SmallFilePolicy::default()).await.unwrap();
    let folder = TableRef::parse(&catalog.parent().unwrap().join("warehouse/default.db/my_table").display().to_string()).unwrap();
    let from_folder = table_info(&folder, &VersionSelector::Latest, &SmallFilePolicy::default()).await.unwrap();
    assert_eq!(info.version, from_folder.version);
    assert_eq!(info.num_rows, from_folder.num_rows);
    assert_eq!(count_rows(&named, &VersionSelector::Latest).await.unwrap(), count_rows(&folder, &VersionSelector::Latest).await.unwrap());
}

#[tokio::test(flavor = "multi_thread")]
async fn pyiceberg_snapshots_and_rows_match() {
    let Some(python) = common::python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let catalog_db = dir.path().join("catalog.db");
    let warehouse = dir.path().join("warehouse");
    std::fs::create_dir_all(&warehouse).unwrap();
    let code = r#"
import sys, json
import pyarrow as pa
from pyiceberg.catalog.sql import SqlCatalog
catalog = SqlCatalog("default", uri="sqlite:///" + sys.argv[1], warehouse="file://" + sys.argv[2])
catalog.create_namespace("farm")
schema = pa.schema([pa.field("id", pa.int64(), nullable=False), pa.field("name", pa.string())])
table = catalog.create_table("farm.fields", schema=schema)
start = 0
for size in (3, 5, 7):
    table.append(pa.table({"id": pa.array(range(start, start + size), pa.int64()), "name": [f"f{i}" for i in range(start, start + size)]}, schema=schema))
    start += size
table = catalog.load_table("farm.fields")
out = []
for entry in table.history():
    ids = sorted(table.scan(snapshot_id=entry.snapshot_id).to_arrow().column("id").to_pylist())
    out.append({"snapshot": entry.snapshot_id, "ids": ids})
print(json.dumps(out))
"#;
    let out = common::run_python(
        &python,
        code,
        &[&catalog_db.display().to_string(), &warehouse.display().to_string()],
    );
    let peer: Vec<serde_json::Value> = serde_json::from_str(out.trim()).expect("pyiceberg JSON");
    assert_eq!(peer.len(), 3);
    let table = TableRef::parse(&format!("iceberg+sqlite://{}#farm.fields", catalog_db.display())).unwrap();
    let history = table_history(&table).await.unwrap();
    let ours: Vec<i64> = history.versions.iter().map(|v| v.version).collect();
    let theirs: Vec<i64> = peer.iter().map(|p| p["snapshot"].as_i64().unwrap()).collect();
    assert_eq!(ours, theirs);
    for (entry, snapshot) in peer.iter().zip(&history.versions) {
        let page = table_head(
            &table,
            &VersionSelector::Snapshot(snapshot.version),
            &PageRequest { offset: 0, limit: 1000, columns: vec!["id".into()], ..Default::default() },
        )
        .await
        .unwrap();
        let mut ids: Vec<i64> = page.rows.iter().map(|r| r[0].as_i64().unwrap()).collect();
        ids.sort();
        let expected: Vec<i64> = entry["ids"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
        assert_eq!(ids, expected, "snapshot {}", snapshot.version);
        assert_eq!(snapshot.operation, "append");
        assert_eq!(snapshot.rows_added, Some(page.rows.len() as u64 - history.versions.iter().take_while(|v| v.version != snapshot.version).map(|v| v.rows_added.unwrap_or(0)).sum::<u64>()));
    }
}
