//! The demo Delta and Iceberg tables are readable by the Python peers (delta-rs' Python bindings,
//! pyarrow, shapely, pyiceberg), and `table_overview` agrees with a real delta-rs fixture's log.
mod common;

use std::collections::BTreeSet;
use std::time::Instant;

use meshlake::engine::lake::{
    TableFormat, TableRef, demo_parcels, table_overview, write_demo_delta_table,
    write_demo_iceberg_table,
};
use serde_json::Value;

const PARCELS: usize = 120;
const SEED: u64 = 7;

/// Ids of the parcels whose geometry is deliberately invalid.
fn planted_invalid_ids() -> BTreeSet<String> {
    demo_parcels(PARCELS, SEED)
        .into_iter()
        .filter(|p| p.planted_defect.is_some())
        .map(|p| p.parcel_id)
        .collect()
}

fn string_set(value: &Value) -> BTreeSet<String> {
    value
        .as_array()
        .expect("array")
        .iter()
        .map(|v| v.as_str().expect("string").to_string())
        .collect()
}

/// Shared Python: GeoParquet checks of a list of local Parquet files and shapely validity of a column.
const PY_HELPERS: &str = r#"
import json, sys
import pyarrow.parquet as pq
import shapely

def local(path):
    return path[len("file://"):] if path.startswith("file://") else path

def geo_of(paths):
    metas = []
    for path in paths:
        kv = pq.read_metadata(local(path)).metadata or {}
        metas.append(json.loads(kv[b"geo"]) if b"geo" in kv else None)
    return metas

def invalid_ids(table):
    geoms = shapely.from_wkb(table.column("geometry").to_pylist())
    ids = table.column("parcel_id").to_pylist()
    return sorted(i for i, g in zip(ids, geoms) if not shapely.is_valid(g))
"#;

#[tokio::test(flavor = "multi_thread")]
async fn delta_demo_table_reads_in_python() {
    let Some(python) = common::python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("parcels_delta");
    let parcels = demo_parcels(PARCELS, SEED);
    let started = Instant::now();
    let demo = write_demo_delta_table(&root, &parcels, 12).await.unwrap();
    eprintln!(
        "wrote Delta demo table ({PARCELS} parcels, 12 commits) in {:?}",
        started.elapsed()
    );
    assert_eq!((demo.rows, demo.versions), (PARCELS as u64, 12));

    let code = format!(
        "{PY_HELPERS}\n{}",
        r#"
import deltalake
dt = deltalake.DeltaTable(sys.argv[1])
table = dt.to_pyarrow_table()
files = dt.file_uris()
metas = geo_of(files)
print(json.dumps({
    "rows": table.num_rows,
    "version": dt.version(),
    "files": len(files),
    "all_files_have_geo": all(m is not None for m in metas),
    "primary_column": metas[0]["primary_column"],
    "encoding": metas[0]["columns"]["geometry"]["encoding"],
    "geometry_types": metas[0]["columns"]["geometry"]["geometry_types"],
    "updated_at_type": str(table.schema.field("updated_at").type),
    "invalid": invalid_ids(table),
}))
"#
    );
    let out = common::run_python(&python, &code, &[root.to_str().unwrap()]);
    let report: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(report["rows"], PARCELS as u64, "{report}");
    assert_eq!(report["version"], 11, "{report}");
    assert_eq!(report["files"], demo.files, "{report}");
    assert_eq!(report["all_files_have_geo"], true, "{report}");
    assert_eq!(report["primary_column"], "geometry", "{report}");
    assert_eq!(report["encoding"], "WKB", "{report}");
    assert_eq!(
        report["geometry_types"],
        serde_json::json!(["Polygon"]),
        "{report}"
    );
    assert_eq!(
        report["updated_at_type"], "timestamp[us, tz=UTC]",
        "{report}"
    );
    assert_eq!(
        string_set(&report["invalid"]),
        planted_invalid_ids(),
        "{report}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn iceberg_demo_table_reads_in_pyiceberg() {
    let Some(python) = common::python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let catalog_db = dir.path().join("catalog.db");
    let warehouse = dir.path().join("warehouse");
    let parcels = demo_parcels(PARCELS, SEED);
    let started = Instant::now();
    let demo = write_demo_iceberg_table(&catalog_db, &warehouse, "demo", "parcels", &parcels, 6)
        .await
        .unwrap();
    eprintln!(
        "wrote Iceberg demo table ({PARCELS} parcels, 6 snapshots) in {:?}",
        started.elapsed()
    );
    assert_eq!((demo.rows, demo.versions), (PARCELS as u64, 6));

    let code = format!(
        "{PY_HELPERS}\n{}",
        r#"
from pyiceberg.catalog.sql import SqlCatalog
catalog = SqlCatalog("default", uri="sqlite:///" + sys.argv[1], warehouse="file://" + sys.argv[2])
table = catalog.load_table("demo.parcels")
arrow = table.scan().to_arrow()
files = [task.file.file_path for task in table.scan().plan_files()]
metas = geo_of(files)
print(json.dumps({
    "tables": [".".join(t) for t in catalog.list_tables("demo")],
    "rows": arrow.num_rows,
    "snapshots": len(table.snapshots()),
    "format_version": table.format_version,
    "files": len(files),
    "all_files_have_geo": all(m is not None for m in metas),
    "primary_column": metas[0]["primary_column"],
    "invalid": invalid_ids(arrow),
}))
"#
    );
    let out = common::run_python(
        &python,
        &code,
        &[catalog_db.to_str().unwrap(), warehouse.to_str().unwrap()],
    );
    let report: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        report["tables"],
        serde_json::json!(["demo.parcels"]),
        "{report}"
    );
    assert_eq!(report["rows"], PARCELS as u64, "{report}");
    assert_eq!(report["snapshots"], 6, "{report}");
    assert_eq!(report["format_version"], 2, "{report}");
    assert_eq!(report["files"], demo.files, "{report}");
    assert_eq!(report["all_files_have_geo"], true, "{report}");
    assert_eq!(report["primary_column"], "geometry", "{report}");
    assert_eq!(
        string_set(&report["invalid"]),
        planted_invalid_ids(),
        "{report}"
    );
}

/// `simple_table` from delta-rs: 5 JSON commits (WRITE, MERGE, WRITE, UPDATE, DELETE), no stats,
/// protocol r1/w2, one `long` column `id`; replaying its log leaves 5 files of 1811 bytes in total.
#[tokio::test(flavor = "multi_thread")]
async fn overview_of_delta_rs_simple_table_matches_its_log() {
    let Some(fixtures) = common::fixtures() else {
        return;
    };
    let root = fixtures.join("delta-rs/tables/simple_table");
    let table = TableRef::parse(root.to_str().unwrap()).unwrap();
    let overview = table_overview(&table).await.unwrap();
    assert_eq!(overview.format, TableFormat::Delta);
    assert_eq!(overview.format_version, "reader 1 / writer 2");
    assert_eq!(overview.current_version, "4");
    assert_eq!(overview.versions, 5);
    assert_eq!(overview.files, 5);
    assert_eq!(overview.bytes, 1811);
    assert_eq!(overview.rows, None, "the log has no stats");
    assert!(overview.partition_columns.is_empty());
    let columns: Vec<_> = overview
        .columns
        .iter()
        .map(|c| (c.name.as_str(), c.data_type.as_str(), c.nullable))
        .collect();
    assert_eq!(columns, vec![("id", "long", true)]);
    assert!(overview.geometry_columns.is_empty());
    let history: Vec<_> = overview
        .history
        .iter()
        .map(|v| {
            (
                v.version.as_str(),
                v.operation.as_str(),
                v.timestamp_ms,
                v.files_added,
                v.files_removed,
            )
        })
        .collect();
    assert_eq!(
        history,
        vec![
            ("4", "DELETE", 1587968626537, 1, 2),
            ("3", "UPDATE", 1587968614187, 2, 2),
            ("2", "WRITE", 1587968604143, 6, 22),
            ("1", "MERGE", 1587968596254, 21, 5),
            ("0", "WRITE", 1587968586154, 6, 0),
        ]
    );
}
