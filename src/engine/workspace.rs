//! What an opened folder or file holds: STAC catalogs, Delta tables, Iceberg SQL catalogs and their tables;
//! or what an Iceberg REST catalog reference (`iceberg+http(s)://…`) names: the catalog's tables, or one table.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::engine::jobs::CancelToken;
use crate::engine::lake::LakeError;
use crate::engine::lake::iceberg_rest::RestCatalogClient;
use crate::engine::lake::table_ref::{ICEBERG_REST_PREFIX, RestReference, parse_rest_reference};

/// How deep below an opened folder we look for catalogs and tables.
pub const MAX_SCAN_DEPTH: usize = 4;

/// Problems opening a path.
#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    #[error("{path} does not exist; check the path (or drop an existing folder or file onto the window)")]
    NotFound { path: PathBuf },
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path} holds nothing meshlake can open: expected a STAC catalog.json / collection.json / item JSON, a Delta \
         table root (a folder with _delta_log/), an Iceberg table folder (with metadata/*.metadata.json), an Iceberg \
         SQLite catalog (.db), or a folder containing these"
    )]
    NothingRecognised { path: PathBuf },
    #[error("{path} is not a STAC document: {detail}")]
    NotStac { path: PathBuf, detail: String },
    #[error("{path} looks like a SQLite file but is not an Iceberg SQL catalog: {detail}")]
    NotIcebergCatalog { path: PathBuf, detail: String },
    /// An Iceberg REST catalog reference that could not be browsed (bad form, unreachable, not found).
    #[error(transparent)]
    Lake(#[from] LakeError),
    #[error("cancelled")]
    Cancelled,
}

/// What was found under an opened path.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Workspace {
    pub root: PathBuf,
    /// STAC root documents (catalog/collection/item JSON files that no other found catalog links to).
    pub stac_catalogs: Vec<PathBuf>,
    /// Table references (`TableRef` strings): Delta table roots, `iceberg+sqlite://…#ns.table` and
    /// `iceberg+http(s)://…#ns.table`.
    pub tables: Vec<String>,
    /// SQLite Iceberg catalogs.
    pub iceberg_catalogs: Vec<PathBuf>,
    /// Iceberg REST catalogs (`iceberg+http(s)://HOST:PORT/PREFIX`).
    pub rest_catalogs: Vec<String>,
    /// A Zarr store (the opened folder itself: an NDVI product or another float array), shown on the map.
    pub zarr_stores: Vec<PathBuf>,
    /// Files that looked relevant but could not be used, with why.
    pub problems: Vec<String>,
}

impl Workspace {
    pub fn is_empty(&self) -> bool {
        self.stac_catalogs.is_empty()
            && self.tables.is_empty()
            && self.iceberg_catalogs.is_empty()
            && self.rest_catalogs.is_empty()
            && self.zarr_stores.is_empty()
    }

    /// Look at `path` (a file or a folder) and find what it holds.
    pub async fn scan(path: &Path) -> Result<Self, WorkspaceError> {
        Self::scan_cancellable(path, &CancelToken::default()).await
    }

    /// [`Workspace::scan`], stopping early when `cancel` is set. `path` may also be an Iceberg REST
    /// catalog reference (`iceberg+http://HOST:PORT/PREFIX`, optionally `#namespace.table`).
    pub async fn scan_cancellable(path: &Path, cancel: &CancelToken) -> Result<Self, WorkspaceError> {
        if let Some(text) = path.to_str()
            && let Some(parsed) = parse_rest_reference(text)
        {
            return Self::scan_rest_catalog(path, parsed?, cancel).await;
        }
        if !path.exists() {
            return Err(WorkspaceError::NotFound { path: path.to_path_buf() });
        }
        let root = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let mut found = Workspace { root: root.clone(), ..Default::default() };
        // A Zarr store is one data product: not walked into (its chunk files are many and hold nothing else).
        if crate::engine::ndvi::is_zarr_store(&root) {
            found.zarr_stores.push(root);
            return Ok(found);
        }
        if root.is_file() {
            match classify_file(&root)? {
                Some(FileKind::Stac) => found.stac_catalogs.push(root.clone()),
                Some(FileKind::Sqlite) => found.iceberg_catalogs.push(root.clone()),
                None => return Err(WorkspaceError::NothingRecognised { path: root }),
            }
        } else {
            let walk_root = root.clone();
            let walked = tokio::task::spawn_blocking(move || {
                let mut found = Workspace { root: walk_root.clone(), ..Default::default() };
                walk(&walk_root, 0, &mut found).map(|()| found)
            })
            .await
            .map_err(|e| WorkspaceError::Io { path: root.clone(), source: std::io::Error::other(e.to_string()) })??;
            found = walked;
        }
        // Iceberg table folders that a found SQL catalog already lists are shown once, through it.
        let mut catalogued_roots = Vec::new();
        for catalog_db in &found.iceberg_catalogs {
            if let Ok(roots) = crate::engine::lake::iceberg::sql_catalog_table_roots(
                catalog_db,
                crate::engine::lake::ICEBERG_CATALOG_NAME,
            )
            .await
            {
                catalogued_roots.extend(roots);
            }
        }
        found.tables.retain(|table| {
            std::fs::canonicalize(table).map_or(true, |root| !catalogued_roots.contains(&root))
        });
        for catalog_db in found.iceberg_catalogs.clone() {
            match crate::engine::lake::list_sql_catalog_tables(&catalog_db).await {
                Ok(tables) => found.tables.extend(
                    tables.into_iter().map(|(ns, table)| format!("iceberg+sqlite://{}#{ns}.{table}", catalog_db.display())),
                ),
                Err(err) => {
                    found.problems.push(format!("{}: {}", catalog_db.display(), crate::engine::jobs::error_chain(&err)))
                }
            }
        }
        if found.is_empty() {
            if let Some(problem) = found.problems.first() {
                return Err(WorkspaceError::NotIcebergCatalog { path: root, detail: problem.clone() });
            }
            return Err(WorkspaceError::NothingRecognised { path: root });
        }
        Ok(found)
    }
}

impl Workspace {
    /// The tables of a REST catalog (every namespace, nested ones too), or the one table the
    /// reference names (checked to load, so a wrong name fails here with the tables there are).
    async fn scan_rest_catalog(
        reference: &Path,
        (base_url, qualified): RestReference,
        cancel: &CancelToken,
    ) -> Result<Self, WorkspaceError> {
        let client = RestCatalogClient::connect(&base_url).await?;
        let catalog = format!("{ICEBERG_REST_PREFIX}{base_url}");
        let tables = match qualified {
            Some((namespace, table)) => {
                client.load_table(&namespace, &table).await?;
                vec![(namespace, table)]
            }
            None => client.list_catalog_tables(cancel).await?,
        };
        if cancel.is_cancelled() {
            return Err(WorkspaceError::Cancelled);
        }
        Ok(Workspace {
            root: reference.to_path_buf(),
            tables: tables.into_iter().map(|(ns, table)| format!("{catalog}#{ns}.{table}")).collect(),
            rest_catalogs: vec![catalog],
            ..Default::default()
        })
    }
}

enum FileKind {
    Stac,
    Sqlite,
}

fn classify_file(path: &Path) -> Result<Option<FileKind>, WorkspaceError> {
    let io = |source| WorkspaceError::Io { path: path.to_path_buf(), source };
    let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    if extension == "json" {
        let bytes = std::fs::read(path).map_err(io)?;
        let value: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| WorkspaceError::NotStac { path: path.to_path_buf(), detail: format!("invalid JSON: {e}") })?;
        let kind = value.get("type").and_then(|t| t.as_str()).unwrap_or("");
        let is_stac = value.get("stac_version").is_some() && matches!(kind, "Catalog" | "Collection" | "Feature");
        return if is_stac {
            Ok(Some(FileKind::Stac))
        } else {
            Err(WorkspaceError::NotStac {
                path: path.to_path_buf(),
                detail: "no stac_version with type Catalog, Collection or Feature".to_owned(),
            })
        };
    }
    if crate::engine::stac::geoparquet::is_parquet_path(path) {
        let stac = crate::engine::stac::geoparquet::is_stac_geoparquet(path)
            .map_err(|e| WorkspaceError::NotStac { path: path.to_path_buf(), detail: e.to_string() })?;
        return Ok(stac.then_some(FileKind::Stac));
    }
    let mut header = [0u8; 16];
    let read = std::fs::File::open(path).and_then(|mut f| std::io::Read::read(&mut f, &mut header)).map_err(io)?;
    if read == 16 && &header == b"SQLite format 3\0" {
        return Ok(Some(FileKind::Sqlite));
    }
    Ok(None)
}

/// An Iceberg table folder: one whose `metadata/` holds at least one `*.metadata.json`.
fn is_iceberg_table_root(dir: &Path) -> bool {
    std::fs::read_dir(dir.join("metadata")).is_ok_and(|entries| {
        entries
            .filter_map(Result::ok)
            .any(|entry| entry.file_name().to_string_lossy().ends_with(".metadata.json"))
    })
}

fn walk(dir: &Path, depth: usize, found: &mut Workspace) -> Result<(), WorkspaceError> {
    if dir.join("_delta_log").is_dir() || is_iceberg_table_root(dir) {
        found.tables.push(dir.display().to_string());
        return Ok(());
    }
    for root_name in ["catalog.json", "collection.json"] {
        let candidate = dir.join(root_name);
        if candidate.is_file() {
            match classify_file(&candidate) {
                Ok(Some(FileKind::Stac)) => {
                    found.stac_catalogs.push(candidate);
                    // Its children are reached through its links, not by scanning further.
                    return Ok(());
                }
                Ok(_) => {}
                Err(err) => found.problems.push(err.to_string()),
            }
        }
    }
    if depth >= MAX_SCAN_DEPTH {
        return Ok(());
    }
    let entries = std::fs::read_dir(dir).map_err(|source| WorkspaceError::Io { path: dir.to_path_buf(), source })?;
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        let hidden = path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.'));
        if hidden {
            continue;
        }
        if path.is_dir() {
            walk(&path, depth + 1, found)?;
        } else if matches!(path.extension().and_then(|e| e.to_str()), Some("db" | "sqlite" | "sqlite3")) {
            match classify_file(&path) {
                Ok(Some(FileKind::Sqlite)) => found.iceberg_catalogs.push(path),
                Ok(_) => {}
                Err(err) => found.problems.push(err.to_string()),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
    }

    #[test]
    fn missing_path_and_unrelated_folder_are_clear_errors() {
        let tmp = tempfile::tempdir().unwrap();
        let missing = tmp.path().join("nope");
        let err = block_on(Workspace::scan(&missing)).unwrap_err();
        assert!(matches!(err, WorkspaceError::NotFound { .. }), "{err}");
        std::fs::write(tmp.path().join("notes.txt"), "hello").unwrap();
        let err = block_on(Workspace::scan(tmp.path())).unwrap_err();
        assert!(err.to_string().contains("holds nothing meshlake can open"), "{err}");
    }

    #[test]
    fn corrupt_json_file_is_reported_as_not_stac() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("catalog.json");
        std::fs::write(&file, "{ this is not json").unwrap();
        let err = block_on(Workspace::scan(&file)).unwrap_err();
        assert!(err.to_string().contains("invalid JSON"), "{err}");
    }

    #[test]
    fn finds_catalog_and_delta_table_folders() {
        let tmp = tempfile::tempdir().unwrap();
        let stac_dir = tmp.path().join("stac");
        std::fs::create_dir_all(&stac_dir).unwrap();
        std::fs::write(
            stac_dir.join("catalog.json"),
            r#"{"type":"Catalog","stac_version":"1.1.0","id":"c","description":"d","links":[]}"#,
        )
        .unwrap();
        std::fs::create_dir_all(tmp.path().join("tables/parcels/_delta_log")).unwrap();
        std::fs::create_dir_all(tmp.path().join("tables/fields/metadata")).unwrap();
        std::fs::write(tmp.path().join("tables/fields/metadata/v1.metadata.json"), "{}").unwrap();
        std::fs::create_dir_all(tmp.path().join("tables/empty/metadata")).unwrap();
        let found = block_on(Workspace::scan(tmp.path())).unwrap();
        assert_eq!(found.stac_catalogs, vec![stac_dir.join("catalog.json")]);
        assert_eq!(found.tables.len(), 2, "{:?}", found.tables);
        assert!(found.tables[0].ends_with("tables/fields"));
        assert!(found.tables[1].ends_with("tables/parcels"));
    }
}
