//! Naming tables: a Delta table root, or a table in a SQLite Iceberg SQL catalog.

use std::fmt;
use std::path::{Path, PathBuf};

use super::LakeError;

/// The scheme prefix of Iceberg SQLite catalog references.
pub const ICEBERG_SQLITE_SCHEME: &str = "iceberg+sqlite://";

/// Where a table lives.
///
/// String form (what [`TableRef::parse`] reads and `Display` prints):
/// - Delta: the table root as a local path (`/data/parcels`; `file:///data/parcels` is accepted too),
/// - Iceberg: `iceberg+sqlite:///ABSOLUTE/PATH/catalog.db#namespace.table` (catalog name `default`,
///   the namespace may itself contain dots: the table name is after the last dot).
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum TableRef {
    /// A Delta table: the folder that holds `_delta_log/`.
    Delta {
        /// Absolute local path of the table root.
        location: String,
    },
    /// A table in a SQLite Iceberg SQL catalog (pyiceberg `SqlCatalog` layout, catalog `default`).
    IcebergSql {
        /// The SQLite catalog file.
        catalog_db: PathBuf,
        /// Namespace, dot-separated for nested namespaces.
        namespace: String,
        /// Table name.
        table: String,
    },
}

impl TableRef {
    /// Parse a reference typed by a user or stored in a workspace, checking that it exists and
    /// looks like a table.
    pub fn parse(reference: &str) -> Result<Self, LakeError> {
        let trimmed = reference.trim();
        let bad = |reason: &str| LakeError::BadReference {
            reference: reference.to_string(),
            reason: reason.to_string(),
        };
        if trimmed.is_empty() {
            return Err(bad(
                "it is empty; give a Delta table folder or iceberg+sqlite:///path/catalog.db#namespace.table",
            ));
        }
        if let Some(rest) = trimmed.strip_prefix(ICEBERG_SQLITE_SCHEME) {
            let Some((path_part, qualified_name)) = rest.rsplit_once('#') else {
                return Err(bad(
                    "missing #namespace.table after the catalog path, e.g. iceberg+sqlite:///data/catalog.db#demo.parcels",
                ));
            };
            let catalog_db = PathBuf::from(path_part);
            if !catalog_db.is_absolute() {
                return Err(bad(
                    "the catalog path must be absolute: iceberg+sqlite:///ABSOLUTE/PATH/catalog.db#namespace.table",
                ));
            }
            let Some((namespace, table)) = qualified_name.rsplit_once('.') else {
                return Err(bad(
                    "the part after # must be namespace.table, e.g. #demo.parcels",
                ));
            };
            if namespace.is_empty() || table.is_empty() {
                return Err(bad(
                    "the part after # must be namespace.table with both parts non-empty",
                ));
            }
            if !catalog_db.exists() {
                return Err(LakeError::MissingPath { path: catalog_db });
            }
            if catalog_db.is_dir() {
                return Err(bad(
                    "the catalog path is a folder; it must be the SQLite catalog file (e.g. catalog.db)",
                ));
            }
            return Ok(Self::IcebergSql {
                catalog_db,
                namespace: namespace.to_string(),
                table: table.to_string(),
            });
        }
        let path = if trimmed.starts_with("file://") {
            let url =
                url::Url::parse(trimmed).map_err(|e| bad(&format!("not a valid file URL: {e}")))?;
            url.to_file_path()
                .map_err(|()| bad("not a local file URL (file:///ABSOLUTE/PATH)"))?
        } else if trimmed.contains("://") {
            return Err(bad(
                "only local tables are supported: give a folder path, a file:// URL or iceberg+sqlite:///path/catalog.db#namespace.table",
            ));
        } else {
            PathBuf::from(trimmed)
        };
        Self::delta_root(&path).map(|location| Self::Delta { location })
    }

    /// Check that `path` is a Delta table root and return its absolute path as a string.
    fn delta_root(path: &Path) -> Result<String, LakeError> {
        if !path.exists() {
            return Err(LakeError::MissingPath {
                path: path.to_path_buf(),
            });
        }
        if path.is_file() {
            let looks_like_catalog = matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("db" | "sqlite" | "sqlite3")
            );
            if looks_like_catalog {
                return Err(LakeError::BadReference {
                    reference: path.display().to_string(),
                    reason: format!(
                        "this looks like a SQLite catalog; name a table in it: {ICEBERG_SQLITE_SCHEME}{}#namespace.table",
                        path.display()
                    ),
                });
            }
            return Err(LakeError::NotADeltaTable {
                path: path.to_path_buf(),
            });
        }
        if !path.join("_delta_log").is_dir() {
            return Err(LakeError::NotADeltaTable {
                path: path.to_path_buf(),
            });
        }
        let absolute =
            std::fs::canonicalize(path).map_err(|e| LakeError::io("resolve", path, e))?;
        Ok(absolute.display().to_string())
    }

    /// A short human name: the folder name for Delta, `namespace.table` for Iceberg.
    pub fn short_name(&self) -> String {
        match self {
            Self::Delta { location } => Path::new(location)
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_else(|| location.clone()),
            Self::IcebergSql {
                namespace, table, ..
            } => format!("{namespace}.{table}"),
        }
    }
}

impl fmt::Display for TableRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Delta { location } => write!(f, "{location}"),
            Self::IcebergSql {
                catalog_db,
                namespace,
                table,
            } => {
                write!(
                    f,
                    "{ICEBERG_SQLITE_SCHEME}{}#{namespace}.{table}",
                    catalog_db.display()
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delta_root_parses_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("_delta_log")).unwrap();
        let parsed = TableRef::parse(&dir.path().display().to_string()).unwrap();
        let TableRef::Delta { location } = &parsed else {
            panic!("expected Delta, got {parsed:?}")
        };
        assert!(Path::new(location).is_absolute());
        assert_eq!(TableRef::parse(&parsed.to_string()).unwrap(), parsed);
        let from_url = TableRef::parse(&format!("file://{}", dir.path().display())).unwrap();
        assert_eq!(from_url, parsed);
    }

    #[test]
    fn folder_without_log_is_not_a_delta_table() {
        let dir = tempfile::tempdir().unwrap();
        let err = TableRef::parse(&dir.path().display().to_string()).unwrap_err();
        assert!(matches!(err, LakeError::NotADeltaTable { .. }), "{err:?}");
        assert!(err.to_string().contains("has no _delta_log folder: not a Delta table; open a table root or an Iceberg catalog"), "{err}");
    }

    #[test]
    fn missing_path_is_reported() {
        let err = TableRef::parse("/definitely/not/here/meshlake").unwrap_err();
        assert!(matches!(err, LakeError::MissingPath { .. }), "{err:?}");
    }

    #[test]
    fn iceberg_reference_parses_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("catalog.db");
        std::fs::write(&db, b"").unwrap();
        let text = format!("iceberg+sqlite://{}#demo.farm.parcels", db.display());
        let parsed = TableRef::parse(&text).unwrap();
        assert_eq!(
            parsed,
            TableRef::IcebergSql {
                catalog_db: db.clone(),
                namespace: "demo.farm".into(),
                table: "parcels".into()
            }
        );
        assert_eq!(parsed.to_string(), text);
        assert_eq!(parsed.short_name(), "demo.farm.parcels");
    }

    #[test]
    fn iceberg_reference_errors() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("catalog.db");
        std::fs::write(&db, b"").unwrap();
        for text in [
            format!("iceberg+sqlite://{}", db.display()),
            format!("iceberg+sqlite://{}#parcels", db.display()),
            "iceberg+sqlite://relative/catalog.db#a.b".to_string(),
            "s3://bucket/table".to_string(),
            String::new(),
        ] {
            let err = TableRef::parse(&text).unwrap_err();
            assert!(
                matches!(err, LakeError::BadReference { .. }),
                "{text}: {err:?}"
            );
        }
        let err = TableRef::parse(&format!(
            "iceberg+sqlite://{}/nope.db#a.b",
            dir.path().display()
        ))
        .unwrap_err();
        assert!(matches!(err, LakeError::MissingPath { .. }), "{err:?}");
        let err = TableRef::parse(&db.display().to_string()).unwrap_err();
        assert!(err.to_string().contains("iceberg+sqlite://"), "{err}");
    }
}
