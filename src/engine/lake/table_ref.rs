//! Naming tables: a Delta table root, an Iceberg table folder or metadata file, a table in a
//! SQLite Iceberg SQL catalog, or a table in an Iceberg REST catalog.

use std::fmt;
use std::path::{Path, PathBuf};

use super::LakeError;

/// The scheme prefix of Iceberg SQLite catalog references.
pub const ICEBERG_SQLITE_SCHEME: &str = "iceberg+sqlite://";

/// The scheme prefix of Iceberg REST catalog references (`iceberg+http://…`, `iceberg+https://…`).
pub const ICEBERG_REST_PREFIX: &str = "iceberg+";

/// Where a table lives.
///
/// String form (what [`TableRef::parse`] reads and `Display` prints):
/// - Delta: the table root as a local path (`/data/parcels`; `file:///data/parcels` is accepted too),
/// - Iceberg in a SQL catalog: `iceberg+sqlite:///ABSOLUTE/PATH/catalog.db#namespace.table` (catalog
///   name `default`; another name is given as `…#namespace.table?catalog=NAME`; the namespace may
///   itself contain dots: the table name is after the last dot),
/// - Iceberg in a REST catalog: `iceberg+http://HOST:PORT/PREFIX#namespace.table` (or
///   `iceberg+https://…`); `PREFIX` is the optional base path before the spec's `/v1`; nested
///   namespaces are dot-separated as for SQL catalogs,
/// - Iceberg without a catalog: a table folder (one with `metadata/*.metadata.json`; the latest
///   metadata is found through `metadata/version-hint.text` or the highest version number) or a
///   `*.metadata.json` file; printed as the absolute path of the metadata file.
/// - In object storage: `s3://bucket/prefix/table` (a Delta or Iceberg table folder, told apart
///   when it is opened: [`TableRef::resolve`]) or `s3://bucket/…/metadata/vN.metadata.json`.
///   Parsing these does no I/O.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum TableRef {
    /// A Delta table: the folder that holds `_delta_log/`.
    Delta {
        /// Absolute local path of the table root.
        location: String,
    },
    /// A table in a SQLite Iceberg SQL catalog (pyiceberg `SqlCatalog` layout).
    IcebergSql {
        /// The SQLite catalog file.
        catalog_db: PathBuf,
        /// The catalog name the table is registered under (`default` unless told otherwise).
        #[serde(default = "default_catalog_name")]
        catalog: String,
        /// Namespace, dot-separated for nested namespaces.
        namespace: String,
        /// Table name.
        table: String,
    },
    /// A table in an Iceberg REST catalog.
    IcebergRest {
        /// The catalog's base URL (`http(s)://host:port[/prefix]`, no trailing `/`, without `/v1`).
        base_url: String,
        /// Namespace, dot-separated for nested namespaces.
        namespace: String,
        /// Table name.
        table: String,
    },
    /// An Iceberg table opened without a catalog, through one of its metadata files.
    IcebergFile {
        /// Absolute local path or `s3://` URL of the `*.metadata.json` file.
        metadata_location: String,
    },
    /// A table folder in object storage (`s3://bucket/prefix/table`), Delta or Iceberg: which one
    /// is found out when it is opened ([`TableRef::resolve`]).
    Folder {
        /// The folder URL, without a trailing `/`.
        location: String,
    },
}

/// The catalog name used when a reference does not name one.
fn default_catalog_name() -> String {
    super::ICEBERG_CATALOG_NAME.to_string()
}

/// Suffix of Iceberg table metadata files.
const METADATA_SUFFIX: &str = ".metadata.json";

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
        if let Some(parsed) = parse_rest_reference(trimmed) {
            let (base_url, qualified) = parsed?;
            let Some((namespace, table)) = qualified else {
                return Err(bad(&format!(
                    "this names the REST catalog itself; name a table in it: {ICEBERG_REST_PREFIX}{base_url}#namespace.table (or open the catalog to list its tables)"
                )));
            };
            return Ok(Self::IcebergRest { base_url, namespace, table });
        }
        if let Some(rest) = trimmed.strip_prefix(ICEBERG_SQLITE_SCHEME) {
            let Some((path_part, name_and_query)) = rest.rsplit_once('#') else {
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
            let (qualified_name, catalog) = match name_and_query.split_once('?') {
                None => (name_and_query, default_catalog_name()),
                Some((name, query)) => match query.strip_prefix("catalog=") {
                    Some(catalog) if !catalog.is_empty() && !catalog.contains('&') => {
                        (name, catalog.to_string())
                    }
                    _ => {
                        return Err(bad(
                            "the only option after ? is catalog=NAME, e.g. #demo.parcels?catalog=my_catalog",
                        ));
                    }
                },
            };
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
                catalog,
                namespace: namespace.to_string(),
                table: table.to_string(),
            });
        }
        if crate::engine::storage::is_object_store_url(trimmed) {
            let url =
                url::Url::parse(trimmed).map_err(|e| bad(&format!("not a valid URL: {e}")))?;
            if url.host_str().is_none_or(str::is_empty) {
                return Err(bad("the URL names no bucket: s3://BUCKET/path/to/table"));
            }
            let location = trimmed.trim_end_matches('/').to_string();
            if location.ends_with(METADATA_SUFFIX) {
                return Ok(Self::IcebergFile {
                    metadata_location: location,
                });
            }
            return Ok(Self::Folder { location });
        }
        let path = if trimmed.starts_with("file://") {
            let url =
                url::Url::parse(trimmed).map_err(|e| bad(&format!("not a valid file URL: {e}")))?;
            url.to_file_path()
                .map_err(|()| bad("not a local file URL (file:///ABSOLUTE/PATH)"))?
        } else if trimmed.contains("://") {
            return Err(bad(
                "give a folder path, a file:// or s3:// URL, iceberg+sqlite:///path/catalog.db#namespace.table or iceberg+http://HOST:PORT/PREFIX#namespace.table",
            ));
        } else {
            PathBuf::from(trimmed)
        };
        if let Some(metadata_location) = Self::iceberg_metadata_file(&path)? {
            return Ok(Self::IcebergFile { metadata_location });
        }
        Self::delta_root(&path).map(|location| Self::Delta { location })
    }

    /// When `path` is an Iceberg `*.metadata.json` file or an Iceberg table folder (and not a Delta
    /// table), the absolute path of the metadata file to open.
    fn iceberg_metadata_file(path: &Path) -> Result<Option<String>, LakeError> {
        let is_metadata_file = path.is_file()
            && path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(METADATA_SUFFIX));
        let file = if is_metadata_file {
            path.to_path_buf()
        } else if path.is_dir()
            && !path.join("_delta_log").is_dir()
            && path.join("metadata").is_dir()
        {
            latest_metadata_file(path)?
        } else {
            return Ok(None);
        };
        let absolute =
            std::fs::canonicalize(&file).map_err(|e| LakeError::io("resolve", &file, e))?;
        Ok(Some(absolute.display().to_string()))
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

    /// The same table with an object-storage [`TableRef::Folder`] resolved to a Delta table (it
    /// has `_delta_log/`) or an Iceberg metadata file (it has `metadata/`); other references as
    /// they are.
    pub async fn resolve(&self) -> Result<Self, LakeError> {
        let Self::Folder { location } = self else {
            return Ok(self.clone());
        };
        let root = crate::engine::storage::locate(location)?;
        let (objects, folders) = root.list_dir(&root.path).await?;
        let has = |name: &str| folders.iter().any(|f| f.filename() == Some(name));
        if has("_delta_log") {
            return Ok(Self::Delta {
                location: location.clone(),
            });
        }
        if has("metadata") {
            let metadata_dir = root.child("metadata");
            let (files, _) = root.list_dir(&metadata_dir).await?;
            let names: Vec<String> = files
                .iter()
                .filter_map(|f| f.location.filename().map(str::to_string))
                .collect();
            let hint = if names.iter().any(|n| n == VERSION_HINT) {
                let bytes = root.read(&metadata_dir.clone().join(VERSION_HINT)).await?;
                Some(String::from_utf8_lossy(&bytes).into_owned())
            } else {
                None
            };
            let chosen = choose_metadata_file(&names, hint.as_deref()).ok_or_else(|| {
                LakeError::NotAnIcebergTable {
                    path: PathBuf::from(location),
                    reason: format!("{location}/metadata holds no *{METADATA_SUFFIX} file"),
                }
            })?;
            return Ok(Self::IcebergFile {
                metadata_location: root.show(&metadata_dir.join(chosen.as_str())),
            });
        }
        let reason = if objects.is_empty() && folders.is_empty() {
            "nothing is stored under it: check the bucket and the path".to_string()
        } else {
            "it holds neither _delta_log/ (a Delta table) nor metadata/ (an Iceberg table)"
                .to_string()
        };
        Err(LakeError::BadReference {
            reference: location.clone(),
            reason,
        })
    }

    /// A short human name: the folder name for Delta, `namespace.table` for Iceberg.
    pub fn short_name(&self) -> String {
        match self {
            Self::Folder { location } => location
                .rsplit('/')
                .next()
                .filter(|name| !name.is_empty())
                .map(str::to_string)
                .unwrap_or_else(|| location.clone()),
            Self::Delta { location } => Path::new(location)
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_else(|| location.clone()),
            Self::IcebergSql {
                namespace, table, ..
            }
            | Self::IcebergRest {
                namespace, table, ..
            } => format!("{namespace}.{table}"),
            Self::IcebergFile { metadata_location } => {
                let file = Path::new(metadata_location);
                let folder = file.parent().filter(|p| p.ends_with("metadata"));
                folder
                    .and_then(Path::parent)
                    .and_then(Path::file_name)
                    .or_else(|| file.file_name())
                    .map(|name| name.to_string_lossy().into_owned())
                    .unwrap_or_else(|| metadata_location.clone())
            }
        }
    }
}

impl fmt::Display for TableRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Delta { location } | Self::Folder { location } => write!(f, "{location}"),
            Self::IcebergSql {
                catalog_db,
                catalog,
                namespace,
                table,
            } => {
                write!(
                    f,
                    "{ICEBERG_SQLITE_SCHEME}{}#{namespace}.{table}",
                    catalog_db.display()
                )?;
                if catalog != super::ICEBERG_CATALOG_NAME {
                    write!(f, "?catalog={catalog}")?;
                }
                Ok(())
            }
            Self::IcebergRest {
                base_url,
                namespace,
                table,
            } => write!(f, "{ICEBERG_REST_PREFIX}{base_url}#{namespace}.{table}"),
            Self::IcebergFile { metadata_location } => write!(f, "{metadata_location}"),
        }
    }
}

/// A REST catalog base URL with the namespace and table it names (when it names one).
pub type RestReference = (String, Option<(String, String)>);

/// When `reference` is an Iceberg REST reference (`iceberg+http(s)://…`), its base URL (normalized:
/// no trailing `/`, no query) and, when it has `#namespace.table`, the namespace and the table.
/// `None` when it is not a REST reference at all.
pub fn parse_rest_reference(reference: &str) -> Option<Result<RestReference, LakeError>> {
    let trimmed = reference.trim();
    let url_part = trimmed.strip_prefix(ICEBERG_REST_PREFIX)?;
    if !(url_part.starts_with("http://") || url_part.starts_with("https://")) {
        return None;
    }
    let bad = |reason: String| LakeError::BadReference {
        reference: reference.to_string(),
        reason,
    };
    let (url_text, fragment) = match url_part.split_once('#') {
        Some((url, fragment)) => (url, Some(fragment)),
        None => (url_part, None),
    };
    let parsed = match url::Url::parse(url_text) {
        Ok(url) => url,
        Err(e) => return Some(Err(bad(format!("not a valid catalog URL: {e}")))),
    };
    if parsed.host_str().is_none_or(str::is_empty) {
        return Some(Err(bad(
            "the catalog URL has no host: iceberg+http://HOST:PORT/PREFIX#namespace.table".to_string(),
        )));
    }
    if parsed.query().is_some() {
        return Some(Err(bad(
            "a REST catalog reference takes no ?query: iceberg+http://HOST:PORT/PREFIX#namespace.table".to_string(),
        )));
    }
    let mut base_url = parsed.to_string();
    while base_url.ends_with('/') {
        base_url.pop();
    }
    if base_url.ends_with("/v1") {
        return Some(Err(bad(format!(
            "leave out the trailing /v1 (it is added for every request): {ICEBERG_REST_PREFIX}{}",
            base_url.trim_end_matches("/v1")
        ))));
    }
    let qualified = match fragment {
        None | Some("") => None,
        Some(name) => match name.rsplit_once('.') {
            Some((namespace, table)) if !namespace.is_empty() && !table.is_empty() => {
                Some((namespace.to_string(), table.to_string()))
            }
            _ => {
                return Some(Err(bad(
                    "the part after # must be namespace.table with both parts non-empty, e.g. #demo.parcels".to_string(),
                )));
            }
        },
    };
    Some(Ok((base_url, qualified)))
}

/// The version number in a metadata file name: `v12.metadata.json` → 12,
/// `00012-<uuid>.metadata.json` → 12.
fn metadata_version(file_name: &str) -> Option<u64> {
    let stem = file_name.strip_suffix(METADATA_SUFFIX)?;
    if let Some(number) = stem.strip_prefix('v') {
        return number.parse().ok();
    }
    let (number, _) = stem.split_once('-')?;
    number.parse().ok()
}

/// The file that names the current metadata version.
const VERSION_HINT: &str = "version-hint.text";

/// Of the file names in a `metadata/` folder, the current metadata file: the one the
/// `version-hint.text` content names (`N` for `vN.metadata.json`/`0000N-….metadata.json`, or a
/// file stem), else the one with the highest version number.
fn choose_metadata_file(names: &[String], hint: Option<&str>) -> Option<String> {
    let candidates: Vec<(u64, &String)> = names
        .iter()
        .filter(|name| name.ends_with(METADATA_SUFFIX))
        .map(|name| (metadata_version(name).unwrap_or(0), name))
        .collect();
    if let Some(hint) = hint {
        let hint = hint.trim();
        let hinted_version = hint.parse::<u64>().ok();
        let hinted = candidates.iter().find(|(version, name)| {
            name.strip_suffix(METADATA_SUFFIX) == Some(hint)
                || *name == &format!("v{hint}{METADATA_SUFFIX}")
                || (hinted_version == Some(*version) && !name.starts_with('v'))
        });
        if let Some((_, name)) = hinted {
            return Some((*name).clone());
        }
    }
    candidates.into_iter().max().map(|(_, name)| name.clone())
}

/// The current metadata file of a local Iceberg table folder (see [`choose_metadata_file`]).
pub fn latest_metadata_file(table_root: &Path) -> Result<PathBuf, LakeError> {
    let metadata_dir = table_root.join("metadata");
    let mut names: Vec<String> = Vec::new();
    let entries =
        std::fs::read_dir(&metadata_dir).map_err(|e| LakeError::io("list", &metadata_dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| LakeError::io("list", &metadata_dir, e))?;
        names.push(entry.file_name().to_string_lossy().into_owned());
    }
    let hint = std::fs::read_to_string(metadata_dir.join(VERSION_HINT)).ok();
    choose_metadata_file(&names, hint.as_deref())
        .map(|name| metadata_dir.join(name))
        .ok_or_else(|| LakeError::NotAnIcebergTable {
            path: table_root.to_path_buf(),
            reason: format!(
                "{} holds no *{METADATA_SUFFIX} file",
                metadata_dir.display()
            ),
        })
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
                catalog: "default".into(),
                namespace: "demo.farm".into(),
                table: "parcels".into()
            }
        );
        assert_eq!(parsed.to_string(), text);
        assert_eq!(parsed.short_name(), "demo.farm.parcels");
        let named = format!("{text}?catalog=My_catalog");
        let parsed = TableRef::parse(&named).unwrap();
        assert!(
            matches!(&parsed, TableRef::IcebergSql { catalog, .. } if catalog == "My_catalog"),
            "{parsed:?}"
        );
        assert_eq!(parsed.to_string(), named);
        assert!(TableRef::parse(&format!("{text}?other=x")).is_err());
    }

    #[test]
    fn rest_reference_parses_and_round_trips() {
        for (text, base, namespace) in [
            ("iceberg+http://127.0.0.1:8181#demo.parcels", "http://127.0.0.1:8181", "demo"),
            ("iceberg+http://localhost:8181/api/catalog#a.b.c.t", "http://localhost:8181/api/catalog", "a.b.c"),
            ("iceberg+https://lake.example.org/ice#demo.t", "https://lake.example.org/ice", "demo"),
        ] {
            let parsed = TableRef::parse(text).unwrap();
            let table = if namespace == "demo" && text.contains("parcels") { "parcels" } else { "t" };
            assert_eq!(
                parsed,
                TableRef::IcebergRest {
                    base_url: base.to_string(),
                    namespace: namespace.to_string(),
                    table: table.to_string()
                }
            );
            assert_eq!(parsed.to_string(), text);
            assert_eq!(TableRef::parse(&parsed.to_string()).unwrap(), parsed);
            assert_eq!(parsed.short_name(), format!("{namespace}.{table}"));
        }
        // A trailing slash is normalized away.
        let parsed = TableRef::parse("iceberg+http://h:1/p/#ns.t").unwrap();
        assert_eq!(parsed.to_string(), "iceberg+http://h:1/p#ns.t");
    }

    #[test]
    fn rest_catalog_references_and_bad_forms() {
        assert_eq!(
            parse_rest_reference("iceberg+http://h:1/p").unwrap().unwrap(),
            ("http://h:1/p".to_string(), None)
        );
        assert!(parse_rest_reference("iceberg+sqlite:///x.db#a.b").is_none());
        assert!(parse_rest_reference("/data/t").is_none());
        let err = TableRef::parse("iceberg+http://h:1/p").unwrap_err();
        assert!(err.to_string().contains("names the REST catalog itself"), "{err}");
        for bad in [
            "iceberg+http://h:1#nodot",
            "iceberg+http://h:1#.t",
            "iceberg+http://h:1/v1#a.t",
            "iceberg+http://h:1?x=1#a.t",
            "iceberg+http://:1#a.t",
        ] {
            let err = TableRef::parse(bad).unwrap_err();
            assert!(matches!(err, LakeError::BadReference { .. }), "{bad}: {err:?}");
        }
    }

    #[test]
    fn iceberg_folder_and_metadata_file_parse() {
        let dir = tempfile::tempdir().unwrap();
        let metadata = dir.path().join("parcels/metadata");
        std::fs::create_dir_all(&metadata).unwrap();
        for name in ["v1.metadata.json", "v2.metadata.json", "v10.metadata.json"] {
            std::fs::write(metadata.join(name), b"{}").unwrap();
        }
        let root = dir.path().join("parcels");
        let parsed = TableRef::parse(&root.display().to_string()).unwrap();
        let TableRef::IcebergFile { metadata_location } = &parsed else {
            panic!("expected IcebergFile, got {parsed:?}")
        };
        assert!(
            metadata_location.ends_with("metadata/v10.metadata.json"),
            "{metadata_location}"
        );
        assert_eq!(parsed.short_name(), "parcels");
        assert_eq!(TableRef::parse(&parsed.to_string()).unwrap(), parsed);
        std::fs::write(metadata.join("version-hint.text"), b"2\n").unwrap();
        let hinted = TableRef::parse(&root.display().to_string()).unwrap();
        assert!(
            hinted.to_string().ends_with("metadata/v2.metadata.json"),
            "{hinted}"
        );
        let empty = dir.path().join("empty/metadata");
        std::fs::create_dir_all(&empty).unwrap();
        let err = TableRef::parse(&dir.path().join("empty").display().to_string()).unwrap_err();
        assert!(
            matches!(err, LakeError::NotAnIcebergTable { .. }),
            "{err:?}"
        );
    }

    #[test]
    fn object_store_references_parse_without_io() {
        let folder = TableRef::parse("s3://bucket/lake/parcels/").unwrap();
        assert_eq!(
            folder,
            TableRef::Folder {
                location: "s3://bucket/lake/parcels".into()
            }
        );
        assert_eq!(folder.to_string(), "s3://bucket/lake/parcels");
        assert_eq!(folder.short_name(), "parcels");
        assert_eq!(TableRef::parse(&folder.to_string()).unwrap(), folder);
        let file = TableRef::parse("s3://bucket/t/metadata/v3.metadata.json").unwrap();
        assert_eq!(
            file,
            TableRef::IcebergFile {
                metadata_location: "s3://bucket/t/metadata/v3.metadata.json".into()
            }
        );
        assert_eq!(file.short_name(), "t");
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
            "s3:///table".to_string(),
            "gs://bucket/table".to_string(),
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
