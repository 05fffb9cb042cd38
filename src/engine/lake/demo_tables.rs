//! The demo farmland parcels near Leiden, NL, and the Delta and Iceberg tables written from them.
//!
//! Everything is deterministic from a seed and written offline in well under a second or two, so
//! the demo workspace can be generated on first start. A few parcels carry a [`PlantedDefect`]:
//! their WKB is well-formed (every reader parses it) but the polygon is invalid under OGC rules,
//! so the validators have something to find.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, BinaryArray, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::{DateTime, Duration, TimeZone, Utc};
use deltalake::DeltaTable;
use deltalake::protocol::SaveMode;
use iceberg::spec::{DataFileFormat, NestedField, PrimitiveType, Schema as IcebergSchema, Type};
use iceberg::transaction::{ApplyTransactionAction, Transaction};
use iceberg::writer::base_writer::data_file_writer::DataFileWriterBuilder;
use iceberg::writer::file_writer::ParquetWriterBuilder;
use iceberg::writer::file_writer::location_generator::{
    DefaultFileNameGenerator, DefaultLocationGenerator,
};
use iceberg::writer::file_writer::rolling_writer::RollingFileWriterBuilder;
use iceberg::writer::{IcebergWriter, IcebergWriterBuilder};
use iceberg::{Catalog, NamespaceIdent, TableCreation, TableIdent};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use serde::Serialize;

use super::LakeError;
use super::iceberg_sql::open_sql_catalog;
use super::table_ref::TableRef;
use crate::engine::geo::geoparquet::{GEO_METADATA_KEY, wkb_column_geo_metadata};
use crate::engine::geo::wkb::{Position, polygon_rings_to_wkb, union_bbox, wkb_bbox};

/// The demo area near Leiden, NL: `[min lon, min lat, max lon, max lat]` (EPSG:4326 / CRS84).
pub const DEMO_BBOX: [f64; 4] = [4.48, 52.15, 4.75, 52.30];
/// The CRS stored in the `crs` column of the demo tables.
pub const DEMO_CRS: &str = "EPSG:4326";
/// Name of the geometry column (and GeoParquet primary column).
pub const GEOMETRY_COLUMN: &str = "geometry";

/// A deliberately planted geometry problem (the WKB stays well-formed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum PlantedDefect {
    /// The exterior ring crosses itself (a figure-eight "bow tie").
    BowTie,
    /// The exterior ring runs out to a point and straight back (a zero-width spike).
    Spike,
    /// The polygon has a hole that lies outside its exterior ring.
    HoleOutsideShell,
}

/// One farmland parcel, following the seed schema of the demo tables.
#[derive(Debug, Clone, PartialEq)]
pub struct Parcel {
    /// E.g. `NL-LEI-000123`.
    pub parcel_id: String,
    /// ISO WKB polygon in lon/lat.
    pub geometry: Vec<u8>,
    /// Always [`DEMO_CRS`].
    pub crs: String,
    /// When the parcel was last edited.
    pub updated_at: DateTime<Utc>,
    /// `Some` for the parcels whose geometry is deliberately invalid.
    pub planted_defect: Option<PlantedDefect>,
}

/// What a demo-table writer produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DemoTable {
    /// Table name (`parcels` for Delta, `namespace.table` for Iceberg).
    pub name: String,
    /// The [`TableRef`] string to open it with.
    pub reference: String,
    /// Table root (Delta) or table location inside the warehouse (Iceberg).
    pub location: String,
    /// Rows in the current version.
    pub rows: u64,
    /// Data files in the current version.
    pub files: u64,
    /// Delta commits / Iceberg snapshots.
    pub versions: u64,
}

/// SplitMix64: a tiny, well-known deterministic generator (no dependency, same on every platform).
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Where the planted defects go: up to three parcels spread over the grid.
fn defect_for_index(index: usize, count: usize) -> Option<PlantedDefect> {
    let defects = [
        PlantedDefect::BowTie,
        PlantedDefect::Spike,
        PlantedDefect::HoleOutsideShell,
    ];
    (0..defects.len().min(count))
        .find(|&k| (k * count + count / 2) / 3 == index)
        .map(|k| defects[k])
}

/// Round to 1e-7 degrees (about 1 cm), like typical cadastral data.
fn round_degrees(value: f64) -> f64 {
    (value * 1e7).round() / 1e7
}

/// The rings of one parcel inside its grid cell `[x0, y0, x1, y1]`.
fn parcel_rings(
    rng: &mut SplitMix64,
    cell: [f64; 4],
    defect: Option<PlantedDefect>,
) -> Vec<Vec<Position>> {
    let [x0, y0, x1, y1] = cell;
    let (cell_width, cell_height) = (x1 - x0, y1 - y0);
    let mut inset = || 0.08 + 0.14 * rng.unit();
    let south_west = (x0 + cell_width * inset(), y0 + cell_height * inset());
    let south_east = (x1 - cell_width * inset(), y0 + cell_height * inset());
    let north_east = (x1 - cell_width * inset(), y1 - cell_height * inset());
    let north_west = (x0 + cell_width * inset(), y1 - cell_height * inset());
    let pentagon = rng.unit() < 0.4;
    let bump = rng.unit();
    let round = |(x, y): Position| (round_degrees(x), round_degrees(y));
    let ring = |positions: &[Position]| positions.iter().copied().map(round).collect::<Vec<_>>();
    match defect {
        None if pentagon => {
            let north_tip = (
                (north_west.0 + north_east.0) / 2.0,
                north_west.1.max(north_east.1) + cell_height * 0.05 * bump,
            );
            vec![ring(&[
                south_west, south_east, north_east, north_tip, north_west, south_west,
            ])]
        }
        None => vec![ring(&[
            south_west, south_east, north_east, north_west, south_west,
        ])],
        Some(PlantedDefect::BowTie) => {
            vec![ring(&[
                south_west, north_east, south_east, north_west, south_west,
            ])]
        }
        Some(PlantedDefect::Spike) => {
            let east_middle = (
                (south_east.0 + north_east.0) / 2.0,
                (south_east.1 + north_east.1) / 2.0,
            );
            let spike_tip = (east_middle.0 + cell_width * 0.06, east_middle.1);
            vec![ring(&[
                south_west,
                south_east,
                east_middle,
                spike_tip,
                east_middle,
                north_east,
                north_west,
                south_west,
            ])]
        }
        Some(PlantedDefect::HoleOutsideShell) => {
            let (hole_x0, hole_x1) = (x1 - cell_width * 0.06, x1 - cell_width * 0.02);
            let middle_y = (y0 + y1) / 2.0;
            let (hole_y0, hole_y1) = (middle_y - cell_height * 0.02, middle_y + cell_height * 0.02);
            vec![
                ring(&[south_west, south_east, north_east, north_west, south_west]),
                ring(&[
                    (hole_x0, hole_y0),
                    (hole_x0, hole_y1),
                    (hole_x1, hole_y1),
                    (hole_x1, hole_y0),
                    (hole_x0, hole_y0),
                ]),
            ]
        }
    }
}

/// `count` farmland-like parcels on a jittered grid over [`DEMO_BBOX`], deterministic from `seed`.
///
/// Parcels are irregular quadrilaterals and pentagons (counter-clockwise, non-overlapping, one per
/// grid cell). Up to three of them carry a [`PlantedDefect`] (bow tie, spike, hole outside the
/// shell) at fixed positions spread over the list. `updated_at` falls in spring 2025.
pub fn demo_parcels(count: usize, seed: u64) -> Vec<Parcel> {
    let mut rng = SplitMix64(seed ^ 0x4D45_5348_4C41_4B45);
    let [min_lon, min_lat, max_lon, max_lat] = DEMO_BBOX;
    // Keep cells roughly square on the ground: at 52.2° N a degree of longitude is ~0.61 of one of latitude.
    let ground_aspect = (max_lon - min_lon) * 52.225_f64.to_radians().cos() / (max_lat - min_lat);
    let columns = ((count as f64 * ground_aspect).sqrt().ceil() as usize).max(1);
    let rows = count.div_ceil(columns).max(1);
    let cell_width = (max_lon - min_lon) / columns as f64;
    let cell_height = (max_lat - min_lat) / rows as f64;
    let first_update = Utc
        .with_ymd_and_hms(2025, 3, 1, 8, 0, 0)
        .single()
        .unwrap_or_default();
    (0..count)
        .filter_map(|index| {
            let (column, row) = (index % columns, index / columns);
            let x0 = min_lon + column as f64 * cell_width;
            let y0 = min_lat + row as f64 * cell_height;
            let defect = defect_for_index(index, count);
            let rings = parcel_rings(
                &mut rng,
                [x0, y0, x0 + cell_width, y0 + cell_height],
                defect,
            );
            let updated_at =
                first_update + Duration::seconds((rng.unit() * 90.0 * 86_400.0) as i64);
            let parcel_id = format!("NL-LEI-{:06}", index + 1);
            match polygon_rings_to_wkb(&rings, &parcel_id) {
                Ok(geometry) => Some(Parcel {
                    parcel_id,
                    geometry,
                    crs: DEMO_CRS.to_string(),
                    updated_at,
                    planted_defect: defect,
                }),
                Err(error) => {
                    tracing::error!(%error, "skipping demo parcel");
                    None
                }
            }
        })
        .collect()
}

/// Split `items` into `parts` contiguous, nearly equal, non-empty slices.
fn split_evenly<T>(items: &[T], parts: usize) -> Vec<&[T]> {
    let parts = parts.clamp(1, items.len().max(1));
    (0..parts)
        .map(|k| &items[k * items.len() / parts..(k + 1) * items.len() / parts])
        .filter(|chunk| !chunk.is_empty())
        .collect()
}

/// The bbox over all parcels' geometries, or `None` when there are none.
fn parcels_bbox(parcels: &[Parcel]) -> Result<Option<[f64; 4]>, LakeError> {
    let mut bbox = None;
    for parcel in parcels {
        if let Some(parcel_bbox) = wkb_bbox(&parcel.geometry, &parcel.parcel_id)? {
            bbox = Some(union_bbox(bbox, parcel_bbox));
        }
    }
    Ok(bbox)
}

/// The GeoParquet `geo` JSON for a file holding `parcels`.
fn parcels_geo_metadata(parcels: &[Parcel]) -> Result<String, LakeError> {
    Ok(wkb_column_geo_metadata(
        GEOMETRY_COLUMN,
        &["Polygon"],
        parcels_bbox(parcels)?,
    ))
}

/// The Arrow (59) schema of the Delta demo table.
pub fn delta_parcels_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("parcel_id", DataType::Utf8, false),
        Field::new(GEOMETRY_COLUMN, DataType::Binary, false),
        Field::new("crs", DataType::Utf8, true),
        Field::new(
            "updated_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        ),
    ]))
}

/// The parcels as one Arrow (59) batch for the Delta table.
fn delta_parcels_batch(parcels: &[Parcel], table: &str) -> Result<RecordBatch, LakeError> {
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            parcels.iter().map(|p| p.parcel_id.as_str()),
        )),
        Arc::new(BinaryArray::from_iter_values(
            parcels.iter().map(|p| p.geometry.as_slice()),
        )),
        Arc::new(StringArray::from_iter_values(
            parcels.iter().map(|p| p.crs.as_str()),
        )),
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(
                parcels.iter().map(|p| p.updated_at.timestamp_micros()),
            )
            .with_timezone("UTC"),
        ),
    ];
    RecordBatch::try_new(delta_parcels_schema(), columns).map_err(|source| LakeError::Arrow {
        table: table.to_string(),
        source,
    })
}

/// Write the parcels as a Delta table at `root` in `commits` append commits (one small file each,
/// so there is history and something to compact). Every Parquet file carries GeoParquet 1.1 `geo`
/// metadata with that file's bbox. `root` must not hold a table yet (or the parcels are appended).
pub async fn write_demo_delta_table(
    root: &Path,
    parcels: &[Parcel],
    commits: usize,
) -> Result<DemoTable, LakeError> {
    let table_name = "parcels";
    if parcels.is_empty() || commits == 0 {
        return Err(LakeError::InvalidDemoRequest {
            table: root.display().to_string(),
            reason: format!(
                "need at least one parcel and one commit (got {} parcels, {commits} commits)",
                parcels.len()
            ),
        });
    }
    std::fs::create_dir_all(root).map_err(|e| LakeError::io("create folder", root, e))?;
    let root = std::fs::canonicalize(root).map_err(|e| LakeError::io("resolve", root, e))?;
    let location = root.display().to_string();
    let table_url = url::Url::from_directory_path(&root).map_err(|()| LakeError::BadReference {
        reference: location.clone(),
        reason: "cannot turn the folder into a file URL".to_string(),
    })?;
    let mut table = DeltaTable::try_from_url(table_url)
        .await
        .map_err(|e| LakeError::delta(&location, "open", e))?;
    for chunk in split_evenly(parcels, commits) {
        let writer_properties = WriterProperties::builder()
            .set_key_value_metadata(Some(vec![KeyValue::new(
                GEO_METADATA_KEY.to_string(),
                Some(parcels_geo_metadata(chunk)?),
            )]))
            .build();
        table = table
            .write(vec![delta_parcels_batch(chunk, &location)?])
            .with_save_mode(SaveMode::Append)
            .with_writer_properties(writer_properties)
            .with_table_name(table_name)
            .with_description(
                "MeshLake demo: farmland parcels near Leiden, NL. geometry is ISO WKB in lon/lat \
                 (GeoParquet 1.1 `geo` metadata in every data file)",
            )
            .await
            .map_err(|e| LakeError::delta(&location, "append demo parcels", e))?;
    }
    let snapshot = table
        .snapshot()
        .map_err(|e| LakeError::delta(&location, "read the new snapshot", e))?;
    Ok(DemoTable {
        name: table_name.to_string(),
        reference: TableRef::Delta {
            location: location.clone(),
        }
        .to_string(),
        rows: parcels.len() as u64,
        files: snapshot.log_data().num_files() as u64,
        versions: snapshot.version() + 1,
        location,
    })
}

/// The Iceberg schema of the demo table (field ids 1–4).
fn iceberg_parcels_schema() -> Result<IcebergSchema, iceberg::Error> {
    IcebergSchema::builder()
        .with_schema_id(0)
        .with_fields(vec![
            NestedField::required(1, "parcel_id", Type::Primitive(PrimitiveType::String)).into(),
            NestedField::required(2, GEOMETRY_COLUMN, Type::Primitive(PrimitiveType::Binary))
                .into(),
            NestedField::optional(3, "crs", Type::Primitive(PrimitiveType::String)).into(),
            NestedField::optional(4, "updated_at", Type::Primitive(PrimitiveType::Timestamptz))
                .into(),
        ])
        .build()
}

/// The parcels as one Arrow (58) batch matching the Iceberg table's Arrow schema (with field ids).
fn iceberg_parcels_batch(
    parcels: &[Parcel],
    arrow_schema: &Arc<arrow_schema_58::Schema>,
    table: &str,
) -> Result<arrow_array_58::RecordBatch, LakeError> {
    use arrow_array_58::{
        ArrayRef, BinaryArray, LargeBinaryArray, StringArray, TimestampMicrosecondArray,
    };
    let timezone = arrow_schema
        .field_with_name("updated_at")
        .ok()
        .and_then(|field| match field.data_type() {
            arrow_schema_58::DataType::Timestamp(_, timezone) => timezone.clone(),
            _ => None,
        });
    // iceberg-rust maps Iceberg `binary` to Arrow LargeBinary; follow whatever the schema says.
    let geometry_is_large_binary = arrow_schema
        .field_with_name(GEOMETRY_COLUMN)
        .is_ok_and(|field| matches!(field.data_type(), arrow_schema_58::DataType::LargeBinary));
    let geometries = parcels.iter().map(|p| p.geometry.as_slice());
    let geometry_column: ArrayRef = if geometry_is_large_binary {
        Arc::new(LargeBinaryArray::from_iter_values(geometries))
    } else {
        Arc::new(BinaryArray::from_iter_values(geometries))
    };
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            parcels.iter().map(|p| p.parcel_id.as_str()),
        )),
        geometry_column,
        Arc::new(StringArray::from_iter_values(
            parcels.iter().map(|p| p.crs.as_str()),
        )),
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(
                parcels.iter().map(|p| p.updated_at.timestamp_micros()),
            )
            .with_timezone_opt(timezone),
        ),
    ];
    arrow_array_58::RecordBatch::try_new(arrow_schema.clone(), columns).map_err(|source| {
        LakeError::ArrowIceberg {
            table: table.to_string(),
            source,
        }
    })
}

/// Write the parcels as an Iceberg (format v2) table `namespace.table` registered in the SQLite
/// SQL catalog `catalog_db` (catalog name `default`, created if missing), with its files under
/// `warehouse`, in `snapshots` `fast_append` snapshots of one Parquet file each. Each file carries
/// GeoParquet 1.1 `geo` metadata. An existing table of that name is dropped from the catalog first.
pub async fn write_demo_iceberg_table(
    catalog_db: &Path,
    warehouse: &Path,
    namespace: &str,
    table: &str,
    parcels: &[Parcel],
    snapshots: usize,
) -> Result<DemoTable, LakeError> {
    let qualified_name = format!("{namespace}.{table}");
    if parcels.is_empty() || snapshots == 0 || namespace.is_empty() || table.is_empty() {
        return Err(LakeError::InvalidDemoRequest {
            table: qualified_name,
            reason: format!(
                "need a namespace, a table name, at least one parcel and one snapshot (got {} parcels, {snapshots} snapshots)",
                parcels.len()
            ),
        });
    }
    let catalog_dir = catalog_db
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(catalog_dir)
        .map_err(|e| LakeError::io("create folder", catalog_dir, e))?;
    std::fs::create_dir_all(warehouse).map_err(|e| LakeError::io("create folder", warehouse, e))?;
    let catalog_dir =
        std::fs::canonicalize(catalog_dir).map_err(|e| LakeError::io("resolve", catalog_dir, e))?;
    let catalog_db: PathBuf =
        catalog_dir.join(catalog_db.file_name().unwrap_or("catalog.db".as_ref()));
    let warehouse =
        std::fs::canonicalize(warehouse).map_err(|e| LakeError::io("resolve", warehouse, e))?;
    let context = format!("{}#{qualified_name}", catalog_db.display());
    let iceberg_error = |action: &'static str| {
        let context = context.clone();
        move |source| LakeError::iceberg(context, action, source)
    };

    let catalog = open_sql_catalog(&catalog_db, Some(&warehouse), true).await?;
    let namespace_ident = NamespaceIdent::from_strs(namespace.split('.'))
        .map_err(iceberg_error("name the namespace"))?;
    if !catalog
        .namespace_exists(&namespace_ident)
        .await
        .map_err(iceberg_error("look up the namespace"))?
    {
        catalog
            .create_namespace(
                &namespace_ident,
                HashMap::from([("comment".to_string(), "MeshLake demo tables".to_string())]),
            )
            .await
            .map_err(iceberg_error("create the namespace"))?;
    }
    let table_ident = TableIdent::new(namespace_ident.clone(), table.to_string());
    if catalog
        .table_exists(&table_ident)
        .await
        .map_err(iceberg_error("look up the table"))?
    {
        catalog
            .drop_table(&table_ident)
            .await
            .map_err(iceberg_error("drop the previous demo table"))?;
    }
    let creation = TableCreation::builder()
        .name(table.to_string())
        .schema(iceberg_parcels_schema().map_err(iceberg_error("build the schema"))?)
        .properties([
            ("write.format.default".to_string(), "parquet".to_string()),
            (
                "meshlake.geometry-columns".to_string(),
                GEOMETRY_COLUMN.to_string(),
            ),
            ("meshlake.geometry-encoding".to_string(), "WKB".to_string()),
        ])
        .build();
    let mut iceberg_table = catalog
        .create_table(&namespace_ident, creation)
        .await
        .map_err(iceberg_error("create the table"))?;
    let arrow_schema = Arc::new(
        iceberg::arrow::schema_to_arrow_schema(iceberg_table.metadata().current_schema())
            .map_err(iceberg_error("convert the schema to Arrow"))?,
    );
    let table_uuid = iceberg_table.metadata().uuid().to_string();
    let mut files = 0u64;
    for (snapshot_index, chunk) in split_evenly(parcels, snapshots).into_iter().enumerate() {
        let writer_properties = parquet_58::file::properties::WriterProperties::builder()
            .set_key_value_metadata(Some(vec![parquet_58::file::metadata::KeyValue::new(
                GEO_METADATA_KEY.to_string(),
                Some(parcels_geo_metadata(chunk)?),
            )]))
            .build();
        let parquet_writer_builder = ParquetWriterBuilder::new(
            writer_properties,
            iceberg_table.metadata().current_schema().clone(),
        );
        let location_generator = DefaultLocationGenerator::new(iceberg_table.metadata())
            .map_err(iceberg_error("plan data file locations"))?;
        let file_name_generator = DefaultFileNameGenerator::new(
            format!("snapshot-{snapshot_index:03}"),
            Some(table_uuid.clone()),
            DataFileFormat::Parquet,
        );
        let rolling_writer_builder = RollingFileWriterBuilder::new_with_default_file_size(
            parquet_writer_builder,
            iceberg_table.file_io().clone(),
            location_generator,
            file_name_generator,
        );
        let mut data_file_writer = DataFileWriterBuilder::new(rolling_writer_builder)
            .build(None)
            .await
            .map_err(iceberg_error("start a data file"))?;
        data_file_writer
            .write(iceberg_parcels_batch(chunk, &arrow_schema, &context)?)
            .await
            .map_err(iceberg_error("write parcels"))?;
        let data_files = data_file_writer
            .close()
            .await
            .map_err(iceberg_error("finish a data file"))?;
        files += data_files.len() as u64;
        let transaction = Transaction::new(&iceberg_table);
        let transaction = transaction
            .fast_append()
            .add_data_files(data_files)
            .apply(transaction)
            .map_err(iceberg_error("prepare the append"))?;
        iceberg_table = transaction
            .commit(&catalog)
            .await
            .map_err(iceberg_error("commit the append"))?;
    }
    let reference = TableRef::IcebergSql {
        catalog_db: catalog_db.clone(),
        catalog: super::ICEBERG_CATALOG_NAME.to_string(),
        namespace: namespace.to_string(),
        table: table.to_string(),
    };
    Ok(DemoTable {
        name: qualified_name,
        reference: reference.to_string(),
        location: iceberg_table.metadata().location().to_string(),
        rows: parcels.len() as u64,
        files,
        versions: iceberg_table.metadata().snapshots().len() as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::geo::wkb::validation_problems;

    #[test]
    fn parcels_are_deterministic_and_inside_the_demo_area() {
        let first = demo_parcels(120, 7);
        assert_eq!(first, demo_parcels(120, 7));
        assert_ne!(first, demo_parcels(120, 8));
        assert_eq!(first.len(), 120);
        assert_eq!(first[2].parcel_id, "NL-LEI-000003");
        let bbox = parcels_bbox(&first).unwrap().unwrap();
        assert!(
            bbox[0] >= DEMO_BBOX[0] && bbox[1] >= DEMO_BBOX[1],
            "{bbox:?}"
        );
        assert!(
            bbox[2] <= DEMO_BBOX[2] && bbox[3] <= DEMO_BBOX[3],
            "{bbox:?}"
        );
        let mut ids: Vec<&str> = first.iter().map(|p| p.parcel_id.as_str()).collect();
        ids.dedup();
        assert_eq!(ids.len(), 120);
    }

    #[test]
    fn exactly_the_planted_defects_are_invalid() {
        for count in [1, 2, 3, 10, 120] {
            let parcels = demo_parcels(count, 42);
            let planted: Vec<PlantedDefect> =
                parcels.iter().filter_map(|p| p.planted_defect).collect();
            assert_eq!(planted.len(), count.min(3), "count {count}");
            for parcel in &parcels {
                let problems = validation_problems(&parcel.geometry, &parcel.parcel_id).unwrap();
                assert_eq!(
                    !problems.is_empty(),
                    parcel.planted_defect.is_some(),
                    "{} ({:?}): {problems:?}",
                    parcel.parcel_id,
                    parcel.planted_defect
                );
            }
        }
    }

    #[test]
    fn split_evenly_covers_everything() {
        let items: Vec<u32> = (0..10).collect();
        let chunks = split_evenly(&items, 4);
        assert_eq!(chunks.len(), 4);
        assert_eq!(chunks.concat(), items);
        assert_eq!(split_evenly(&items, 50).len(), 10);
    }
}
