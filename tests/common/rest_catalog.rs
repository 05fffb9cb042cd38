//! An Iceberg REST catalog for tests: pyiceberg writes tables into a SQLite catalog, and
//! `tests/peers/iceberg_rest_server.py` (stdlib HTTP server over pyiceberg's `SqlCatalog`) serves
//! it on 127.0.0.1 at a free port. The server process is killed when the guard is dropped.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// pyiceberg writes, into `catalog.db` + `warehouse/` under argv[1]:
/// - `demo.parcels`: append (3 rows), append (2 rows), delete `id = 2`, append (1 row),
/// - `demo.events` and `demo.empty` (one append / none), `other.x` (one append),
/// - `demo.farm.fields` in the nested namespace `demo.farm` (two appends),
/// - with argv[2] = N > 0, also N small tables `many.t00`… (one append each).
pub const WRITE_TABLES: &str = r#"
import sys, os
import pyarrow as pa
from pyiceberg.catalog.sql import SqlCatalog
base = sys.argv[1]
many = int(sys.argv[2]) if len(sys.argv) > 2 else 0
os.makedirs(os.path.join(base, "warehouse"), exist_ok=True)
c = SqlCatalog("default", uri=f"sqlite:///{base}/catalog.db", warehouse=f"file://{base}/warehouse")
schema = pa.schema([pa.field("id", pa.int64(), nullable=False), pa.field("name", pa.string())])
def rows(ids):
    return pa.table({"id": ids, "name": [f"n{i}" for i in ids]}, schema=schema)
c.create_namespace("demo")
c.create_namespace(("demo", "farm"))
c.create_namespace("other")
t = c.create_table("demo.parcels", schema=schema)
t.append(rows([1, 2, 3]))
t.append(rows([4, 5]))
t.delete("id = 2")
t.append(rows([6]))
c.create_table("demo.events", schema=schema).append(rows([10]))
c.create_table("demo.empty", schema=schema)
c.create_table("other.x", schema=schema).append(rows([20, 21]))
f = c.create_table(("demo", "farm", "fields"), schema=schema)
f.append(rows([100, 101]))
f.append(rows([102]))
if many:
    c.create_namespace("many")
    for i in range(many):
        c.create_table(("many", f"t{i:02d}"), schema=schema).append(rows([i]))
print("ok")
"#;

/// Write the tables of [`WRITE_TABLES`] under `base` (with `many` extra tables).
pub fn write_tables(python: &Path, base: &Path, many: usize) {
    let out = super::run_python(
        python,
        WRITE_TABLES,
        &[base.to_str().unwrap(), &many.to_string()],
    );
    assert_eq!(out.trim(), "ok", "{out}");
}

/// A running REST catalog server; killed on drop.
pub struct RestCatalogServer {
    child: Child,
    /// `http://127.0.0.1:PORT[/base-path]`.
    pub url: String,
}

impl RestCatalogServer {
    /// Start the server over `base/catalog.db` with extra arguments (`--prefix`, `--base-path`, …).
    pub fn start(python: &Path, base: &Path, extra_args: &[&str]) -> Self {
        let script =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/peers/iceberg_rest_server.py");
        let mut child = Command::new(python)
            .arg(script)
            .arg("--catalog-db")
            .arg(base.join("catalog.db"))
            .arg("--warehouse")
            .arg(base.join("warehouse"))
            .args(extra_args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the REST catalog server");
        let stdout = child.stdout.take().expect("server stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = match rx.recv_timeout(Duration::from_secs(90)) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                panic!("the REST catalog server did not start within 90 s");
            }
        };
        let Some(url) = line.trim().strip_prefix("LISTENING ") else {
            let _ = child.kill();
            panic!("the REST catalog server said {line:?} instead of LISTENING <url>");
        };
        Self {
            url: url.to_string(),
            child,
        }
    }

    /// The catalog as a meshlake reference: `iceberg+http://127.0.0.1:PORT[/base-path]`.
    pub fn reference(&self) -> String {
        format!("iceberg+{}", self.url)
    }

    /// A table in it: `iceberg+http://…#namespace.table`.
    pub fn table(&self, qualified: &str) -> String {
        format!("{}#{qualified}", self.reference())
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        let after_host = self.url.trim_start_matches("http://127.0.0.1:");
        after_host.split('/').next().unwrap().parse().unwrap()
    }
}

impl Drop for RestCatalogServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
