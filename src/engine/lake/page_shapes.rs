//! A page of a table's geometries in lon/lat, for drawing the rows of the Data tab on the map:
//! the page is read with complete WKT for the geometry column only, parsed, and reprojected from
//! the column's CRS when it is not lon/lat.

use geo::{Geometry, MapCoords};
use serde::Serialize;
use wkt::TryFromWkt;

use crate::engine::crs::{CrsTransform, epsg_code};
use crate::engine::lake::inspect::{PageRequest, VersionSelector, table_head};
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
    let code = crs.and_then(epsg_code).unwrap_or(4326);
    let transform = if code == 4326 {
        None
    } else {
        Some(CrsTransform::new(code, 4326).map_err(|e| LakeError::BadReference {
            reference: table.to_string(),
            reason: format!("the CRS of {column} cannot be drawn on the map: {e}"),
        })?)
    };
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
        let geometry = match &transform {
            None => geometry,
            Some(transform) => match geometry.try_map_coords(|c| {
                transform.point(c.x, c.y).map(|(x, y)| geo::coord! { x: x, y: y })
            }) {
                Ok(geometry) => geometry,
                Err(e) => {
                    skipped.push(format!("row {}: {e}", number + 1));
                    continue;
                }
            },
        };
        shapes.push((number, geometry));
    }
    Ok(PageShapes { column: column.to_owned(), shapes, skipped })
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
    }
}
