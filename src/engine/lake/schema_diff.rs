//! The difference between a table's schema at two versions: columns added, removed, retyped or
//! changed in nullability, partition columns changed, and GeoParquet `geo` metadata changes
//! (encoding, CRS, geometry types) of geometry columns — what `meshlake table diff` prints and the
//! Schema tab shows.

use serde::Serialize;

use crate::engine::lake::GeometryColumnSummary;
use crate::engine::lake::inspect::{SchemaField, TableInfo};

/// A column whose type changed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RetypedColumn {
    pub name: String,
    pub from: String,
    pub to: String,
}

/// A column whose nullability changed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NullabilityChange {
    pub name: String,
    pub from_nullable: bool,
    pub to_nullable: bool,
}

/// One changed property of a geometry column's `geo` metadata.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GeometryChange {
    pub column: String,
    /// `encoding`, `crs`, `geometry_types`, `added` (now a geometry column) or `removed` (no longer one).
    pub property: &'static str,
    pub from: Option<String>,
    pub to: Option<String>,
}

/// `meshlake table diff`: from one version's schema to another's.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SchemaDiff {
    /// Delta version / Iceberg snapshot id of both sides (`None`: a table without snapshots).
    pub from_version: Option<i64>,
    pub to_version: Option<i64>,
    pub added: Vec<SchemaField>,
    pub removed: Vec<SchemaField>,
    pub retyped: Vec<RetypedColumn>,
    pub nullability: Vec<NullabilityChange>,
    pub partition_columns_from: Vec<String>,
    pub partition_columns_to: Vec<String>,
    pub geometry: Vec<GeometryChange>,
}

impl SchemaDiff {
    /// Whether both versions have the same schema, partitioning and geometry metadata.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.removed.is_empty()
            && self.retyped.is_empty()
            && self.nullability.is_empty()
            && self.partition_columns_from == self.partition_columns_to
            && self.geometry.is_empty()
    }

    /// Number of changes (a partitioning change counts once).
    pub fn change_count(&self) -> usize {
        self.added.len()
            + self.removed.len()
            + self.retyped.len()
            + self.nullability.len()
            + usize::from(self.partition_columns_from != self.partition_columns_to)
            + self.geometry.len()
    }
}

/// The changes from `from` to `to` (columns matched by name, in `to`'s order for additions).
pub fn diff_schemas(from: &TableInfo, to: &TableInfo) -> SchemaDiff {
    let find = |fields: &[SchemaField], name: &str| fields.iter().find(|f| f.name == name).cloned();
    let mut diff = SchemaDiff {
        from_version: from.version,
        to_version: to.version,
        partition_columns_from: from.partition_columns.clone(),
        partition_columns_to: to.partition_columns.clone(),
        ..SchemaDiff::default()
    };
    for field in &to.schema {
        match find(&from.schema, &field.name) {
            None => diff.added.push(field.clone()),
            Some(old) => {
                if old.data_type != field.data_type {
                    diff.retyped.push(RetypedColumn {
                        name: field.name.clone(),
                        from: old.data_type.clone(),
                        to: field.data_type.clone(),
                    });
                }
                if old.nullable != field.nullable {
                    diff.nullability.push(NullabilityChange {
                        name: field.name.clone(),
                        from_nullable: old.nullable,
                        to_nullable: field.nullable,
                    });
                }
            }
        }
    }
    diff.removed = from.schema.iter().filter(|f| find(&to.schema, &f.name).is_none()).cloned().collect();
    diff.geometry = diff_geometry_columns(&from.geometry_columns, &to.geometry_columns);
    diff
}

fn types_text(types: &[String]) -> String {
    if types.is_empty() { "any".to_owned() } else { types.join(", ") }
}

fn crs_text(crs: &Option<String>) -> String {
    crs.clone().unwrap_or_else(|| "unknown (null)".to_owned())
}

fn diff_geometry_columns(from: &[GeometryColumnSummary], to: &[GeometryColumnSummary]) -> Vec<GeometryChange> {
    let mut changes = Vec::new();
    for new in to {
        let Some(old) = from.iter().find(|g| g.name == new.name) else {
            changes.push(GeometryChange {
                column: new.name.clone(),
                property: "added",
                from: None,
                to: Some(format!("{} · CRS {}", new.encoding, crs_text(&new.crs))),
            });
            continue;
        };
        if old.encoding != new.encoding {
            changes.push(GeometryChange {
                column: new.name.clone(),
                property: "encoding",
                from: Some(old.encoding.clone()),
                to: Some(new.encoding.clone()),
            });
        }
        if old.crs != new.crs {
            changes.push(GeometryChange {
                column: new.name.clone(),
                property: "crs",
                from: Some(crs_text(&old.crs)),
                to: Some(crs_text(&new.crs)),
            });
        }
        let (mut old_types, mut new_types) = (old.geometry_types.clone(), new.geometry_types.clone());
        old_types.sort();
        new_types.sort();
        if old_types != new_types {
            changes.push(GeometryChange {
                column: new.name.clone(),
                property: "geometry_types",
                from: Some(types_text(&old_types)),
                to: Some(types_text(&new_types)),
            });
        }
    }
    for old in from.iter().filter(|g| !to.iter().any(|n| n.name == g.name)) {
        changes.push(GeometryChange {
            column: old.name.clone(),
            property: "removed",
            from: Some(format!("{} · CRS {}", old.encoding, crs_text(&old.crs))),
            to: None,
        });
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(name: &str, data_type: &str, nullable: bool) -> SchemaField {
        SchemaField { name: name.to_owned(), data_type: data_type.to_owned(), nullable }
    }

    fn geometry(name: &str, crs: Option<&str>, types: &[&str]) -> GeometryColumnSummary {
        GeometryColumnSummary {
            name: name.to_owned(),
            encoding: "WKB".to_owned(),
            crs: crs.map(str::to_owned),
            geometry_types: types.iter().map(|t| (*t).to_owned()).collect(),
            bbox: None,
            primary: true,
        }
    }

    fn info(version: i64, schema: Vec<SchemaField>, partitions: &[&str], geo: Vec<GeometryColumnSummary>) -> TableInfo {
        TableInfo {
            format: "delta",
            format_version: "reader 1 / writer 2".to_owned(),
            location: "/t".to_owned(),
            version: Some(version),
            timestamp: None,
            num_rows: None,
            num_files: 0,
            total_bytes: 0,
            schema,
            partition_columns: partitions.iter().map(|p| (*p).to_owned()).collect(),
            geometry_columns: geo,
            small_files: 0,
            max_small_files_per_partition: 0,
            remapped_from: None,
            warnings: Vec::new(),
        }
    }

    #[test]
    fn same_schema_has_no_changes() {
        let a = info(1, vec![field("id", "long", false)], &[], vec![geometry("geometry", Some("OGC:CRS84"), &["Polygon"])]);
        let b = info(2, vec![field("id", "long", false)], &[], vec![geometry("geometry", Some("OGC:CRS84"), &["Polygon"])]);
        let diff = diff_schemas(&a, &b);
        assert!(diff.is_empty(), "{diff:?}");
        assert_eq!(diff.change_count(), 0);
        assert_eq!((diff.from_version, diff.to_version), (Some(1), Some(2)));
    }

    #[test]
    fn added_removed_retyped_nullability_partitioning_and_geo_changes_are_found() {
        let a = info(
            0,
            vec![field("id", "integer", false), field("name", "string", true), field("area", "double", true)],
            &[],
            vec![geometry("geometry", Some("OGC:CRS84"), &["Polygon"])],
        );
        let b = info(
            5,
            vec![field("id", "long", true), field("area", "double", true), field("crop", "string", true)],
            &["crop"],
            vec![geometry("geometry", Some("EPSG:28992"), &["MultiPolygon", "Polygon"])],
        );
        let diff = diff_schemas(&a, &b);
        assert_eq!(diff.added, vec![field("crop", "string", true)]);
        assert_eq!(diff.removed, vec![field("name", "string", true)]);
        assert_eq!(diff.retyped, vec![RetypedColumn { name: "id".into(), from: "integer".into(), to: "long".into() }]);
        assert_eq!(diff.nullability, vec![NullabilityChange { name: "id".into(), from_nullable: false, to_nullable: true }]);
        assert_eq!(diff.partition_columns_to, vec!["crop".to_owned()]);
        let properties: Vec<&str> = diff.geometry.iter().map(|g| g.property).collect();
        assert_eq!(properties, vec!["crs", "geometry_types"]);
        assert_eq!(diff.geometry[0].to.as_deref(), Some("EPSG:28992"));
        assert_eq!(diff.change_count(), 7);
        // And back: what was added is removed.
        let back = diff_schemas(&b, &a);
        assert_eq!(back.removed, vec![field("crop", "string", true)]);
        assert_eq!(back.added, vec![field("name", "string", true)]);
    }

    #[test]
    fn geometry_columns_appearing_and_disappearing_are_reported() {
        let a = info(0, vec![field("geom", "binary", true)], &[], vec![]);
        let b = info(1, vec![field("geom", "binary", true)], &[], vec![geometry("geom", None, &[])]);
        let diff = diff_schemas(&a, &b);
        assert_eq!(diff.geometry.len(), 1);
        assert_eq!(diff.geometry[0].property, "added");
        assert_eq!(diff.geometry[0].to.as_deref(), Some("WKB · CRS unknown (null)"));
        assert_eq!(diff_schemas(&b, &a).geometry[0].property, "removed");
    }
}
