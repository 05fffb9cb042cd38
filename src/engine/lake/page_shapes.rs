//! A page of a table's geometries in lon/lat, for drawing the rows of the Data tab on the map:
//! the page is read with complete WKT for the geometry column only, parsed, and reprojected from
//! the column's CRS when it is not lon/lat.

use geo::Geometry;
use serde::Serialize;
use wkt::TryFromWkt;

use crate::engine::crs::{CrsError, to_lon_lat};
use crate::engine::lake::inspect::{PageRequest, TableFiles, VersionSelector, table_head};
use crate::engine::lake::{LakeError, TableRef};

/// The geometries of a page of rows, in lon/lat degrees.
#[derive(Clone, Debug, Serialize)]
pub struct PageShapes {
    pub column: String,
    /// Row number (from the start of the table) and geometry of each row that has one.
    #[serde(skip)]
    pub shapes: Vec<(u64, Geometry<f64>)>,
    /// Rows left out and why (null geometry, unparsable, outside the CRS's domain).
    pub skipped: Vec<String>,
}

/// Read rows `offset..offset+limit` of `column` at `at` and turn them into lon/lat geometries.
/// `crs` is the column's CRS as the table names it (`None`: unknown; drawn as lon/lat).
pub async fn table_page_shapes(
    table: &TableRef,
    at: &VersionSelector,
    offset: u64,
    limit: u64,
    column: &str,
    crs: Option<&str>,
) -> Result<PageShapes, LakeError> {
    let request = PageRequest { offset, limit, columns: vec![column.to_owned()], full_geometry: true };
    let page = table_head(table, at, &request).await?;
    let transform = to_lon_lat(crs).map_err(|e| LakeError::BadReference {
        reference: table.to_string(),
        reason: format!("the CRS of {column} cannot be drawn on the map: {e}"),
    })?;
    let mut shapes = Vec::with_capacity(page.rows.len());
    let mut skipped = Vec::new();
    for (i, row) in page.rows.iter().enumerate() {
        let number = offset + i as u64;
        let Some(text) = row.first().and_then(|v| v.as_str()) else {
            skipped.push(format!("row {}: no geometry", number + 1));
            continue;
        };
        let geometry = match Geometry::<f64>::try_from_wkt_str(text) {
            Ok(geometry) => geometry,
            Err(e) => {
                skipped.push(format!("row {}: {e}", number + 1));
                continue;
            }
        };
        let geometry = match transform.as_ref().map(|t| t.geometry(&geometry)) {
            None => geometry,
            Some(Ok(geometry)) => geometry,
            Some(Err(e)) => {
                skipped.push(format!("row {}: {e}", number + 1));
                continue;
            }
        };
        shapes.push((number, geometry));
    }
    Ok(PageShapes { column: column.to_owned(), shapes, skipped })
}

/// Each live file's bbox (in the table's `crs`) as a lon/lat polygon, densified when reprojected:
/// `(index into files, outline)`; files without a bbox, or whose bbox does not transform, are left out.
pub fn file_footprints(files: &TableFiles, crs: Option<&str>) -> Result<Vec<(usize, Geometry<f64>)>, CrsError> {
    let transform = to_lon_lat(crs)?;
    Ok(files
        .files
        .iter()
        .enumerate()
        .filter_map(|(index, file)| {
            let [minx, miny, maxx, maxy] = file.bbox?;
            let ring = match &transform {
                None => vec![(minx, miny), (maxx, miny), (maxx, maxy), (minx, maxy), (minx, miny)],
                Some(transform) => transform.rectangle_ring([minx, miny, maxx, maxy], 8).ok()?,
            };
            Some((index, Geometry::Polygon(geo::Polygon::new(geo::LineString::from(ring), Vec::new()))))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn demo_delta_page_becomes_lon_lat_polygons() {
        let dir = tempfile::tempdir().unwrap();
        let parcels = crate::engine::lake::demo_parcels(30, 7);
        let demo = crate::engine::lake::write_demo_delta_table(&dir.path().join("parcels"), &parcels, 3).await.unwrap();
        let table = TableRef::parse(&demo.reference).unwrap();
        let page = table_page_shapes(&table, &VersionSelector::Latest, 10, 20, "geometry", Some("OGC:CRS84")).await.unwrap();
        assert_eq!(page.shapes.len(), 20, "{:?}", page.skipped);
        assert_eq!(page.shapes[0].0, 10);
        let bbox = crate::engine::lake::DEMO_BBOX;
        for (_, shape) in &page.shapes {
            let rect = geo::BoundingRect::bounding_rect(shape).unwrap();
            assert!(rect.min().x >= bbox[0] && rect.max().y <= bbox[3], "{rect:?}");
        }
        let err = table_page_shapes(&table, &VersionSelector::Latest, 0, 5, "nope", None).await.unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
        // File footprints: one polygon per file with a bbox; in UTM 31N they come out as lon/lat near Leiden.
        let files = crate::engine::lake::inspect::table_files(&table, &VersionSelector::Latest).await.unwrap();
        let lonlat = file_footprints(&files, Some("OGC:CRS84")).unwrap();
        assert_eq!(lonlat.len(), files.files.len());
        let mut utm = files.clone();
        for file in &mut utm.files {
            file.bbox = Some([600_000.0, 5_780_000.0, 601_000.0, 5_781_000.0]);
        }
        for (_, outline) in file_footprints(&utm, Some("EPSG:32631")).unwrap() {
            let rect = geo::BoundingRect::bounding_rect(&outline).unwrap();
            assert!((4.4..4.5).contains(&rect.min().x) && (52.1..52.2).contains(&rect.min().y), "{rect:?}");
        }
        assert!(err.to_string().contains("nope"), "{err}");
    }
}
