//! SQLite Iceberg SQL catalogs: the layout pyiceberg's `SqlCatalog` and iceberg-rust's
//! `iceberg-catalog-sql` share (tables `iceberg_tables` and `iceberg_namespace_properties`),
//! always under the catalog name [`ICEBERG_CATALOG_NAME`].

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use iceberg::CatalogBuilder;
use iceberg::io::LocalFsStorageFactory;
use iceberg_catalog_sql::{
    SQL_CATALOG_PROP_BIND_STYLE, SQL_CATALOG_PROP_URI, SQL_CATALOG_PROP_WAREHOUSE, SqlBindStyle,
    SqlCatalog, SqlCatalogBuilder,
};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

use super::LakeError;

/// The catalog name every MeshLake SQL catalog uses (pyiceberg: `SqlCatalog("default", …)`).
pub const ICEBERG_CATALOG_NAME: &str = "default";

/// Open (and with `create`, create if missing) the SQLite catalog at `catalog_db`.
///
/// `warehouse` is where new tables go; when `None` the catalog's folder is used. Opening runs
/// `CREATE TABLE IF NOT EXISTS` for the two catalog tables, like pyiceberg does.
pub(crate) async fn open_sql_catalog(
    catalog_db: &Path,
    warehouse: Option<&Path>,
    create: bool,
) -> Result<SqlCatalog, LakeError> {
    if !create && !catalog_db.is_file() {
        return Err(LakeError::MissingPath {
            path: catalog_db.to_path_buf(),
        });
    }
    let warehouse_dir = warehouse
        .map(Path::to_path_buf)
        .or_else(|| catalog_db.parent().map(Path::to_path_buf))
        .unwrap_or_default();
    let uri = format!(
        "sqlite://{}{}",
        catalog_db.display(),
        if create { "?mode=rwc" } else { "" }
    );
    let props = HashMap::from([
        (SQL_CATALOG_PROP_URI.to_string(), uri),
        (
            SQL_CATALOG_PROP_WAREHOUSE.to_string(),
            format!("file://{}", warehouse_dir.display()),
        ),
        (
            SQL_CATALOG_PROP_BIND_STYLE.to_string(),
            SqlBindStyle::QMark.to_string(),
        ),
    ]);
    SqlCatalogBuilder::default()
        .with_storage_factory(Arc::new(LocalFsStorageFactory))
        .load(ICEBERG_CATALOG_NAME, props)
        .await
        .map_err(|source| {
            LakeError::iceberg(
                format!("catalog {}", catalog_db.display()),
                "open the SQL catalog",
                source,
            )
        })
}

/// The `(namespace, table)` pairs of catalog [`ICEBERG_CATALOG_NAME`] in a SQLite catalog, sorted by
/// name. Opens the file read-only.
pub async fn list_sql_catalog_tables(catalog_db: &Path) -> Result<Vec<(String, String)>, LakeError> {
    Ok(catalog_table_rows(catalog_db)
        .await?
        .into_iter()
        .filter(|row| row.catalog == ICEBERG_CATALOG_NAME)
        .map(|row| (row.namespace, row.table))
        .collect())
}

/// One row of a SQL catalog's `iceberg_tables`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CatalogTableRow {
    pub catalog: String,
    pub namespace: String,
    pub table: String,
    pub metadata_location: Option<String>,
}

/// Every table of every catalog name in a SQLite catalog, sorted. Opens the file read-only.
pub(crate) async fn catalog_table_rows(catalog_db: &Path) -> Result<Vec<CatalogTableRow>, LakeError> {
    if !catalog_db.is_file() {
        return Err(LakeError::MissingPath { path: catalog_db.to_path_buf() });
    }
    let sql_error = |action: &'static str| {
        let catalog_db = catalog_db.to_path_buf();
        move |source| LakeError::SqlCatalog { catalog_db, action, source }
    };
    let options = SqliteConnectOptions::new().filename(catalog_db).read_only(true);
    let pool = SqlitePoolOptions::new().max_connections(1).connect_with(options).await.map_err(sql_error("open"))?;
    let rows: Result<Vec<(String, String, String, Option<String>)>, sqlx::Error> = sqlx::query_as(
        "SELECT catalog_name, table_namespace, table_name, metadata_location FROM iceberg_tables \
         ORDER BY catalog_name, table_namespace, table_name",
    )
    .fetch_all(&pool)
    .await;
    pool.close().await;
    Ok(rows
        .map_err(sql_error("list tables"))?
        .into_iter()
        .map(|(catalog, namespace, table, metadata_location)| CatalogTableRow { catalog, namespace, table, metadata_location })
        .collect())
}
