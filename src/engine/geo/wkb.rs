//! ISO WKB encoding and decoding of polygons (via `geozero`).
//!
//! [`polygon_rings_to_wkb`] writes rings exactly as given (it neither closes nor re-orients them),
//! so callers can produce deliberately invalid — but well-formed — geometries for validation demos.

use geo::{BoundingRect, Geometry, Validation};
use geozero::GeomProcessor;
use geozero::ToGeo;
use geozero::wkb::{Wkb, WkbDialect, WkbWriter};

use super::GeoError;

/// A lon/lat (x/y) position.
pub type Position = (f64, f64);

/// Encode a polygon given as rings (first the exterior, then the holes) as little-endian ISO WKB.
///
/// The rings are written verbatim: the caller is responsible for closing them (first position
/// repeated at the end). `what` names the geometry in error messages.
pub fn polygon_rings_to_wkb(rings: &[Vec<Position>], what: &str) -> Result<Vec<u8>, GeoError> {
    let encode_error = |source| GeoError::WkbEncode {
        what: what.to_string(),
        source,
    };
    let mut bytes = Vec::with_capacity(9 + rings.iter().map(|r| 4 + r.len() * 16).sum::<usize>());
    {
        let mut writer = WkbWriter::new(&mut bytes, WkbDialect::Wkb);
        writer
            .polygon_begin(true, rings.len(), 0)
            .map_err(encode_error)?;
        for (ring_index, ring) in rings.iter().enumerate() {
            writer
                .linestring_begin(false, ring.len(), ring_index)
                .map_err(encode_error)?;
            for (position_index, &(x, y)) in ring.iter().enumerate() {
                writer.xy(x, y, position_index).map_err(encode_error)?;
            }
            writer
                .linestring_end(false, ring_index)
                .map_err(encode_error)?;
        }
        writer.polygon_end(true, 0).map_err(encode_error)?;
    }
    Ok(bytes)
}

/// Decode WKB (ISO or extended) into a `geo` geometry. `what` names the geometry in error messages.
pub fn wkb_to_geometry(wkb: &[u8], what: &str) -> Result<Geometry<f64>, GeoError> {
    Wkb(wkb).to_geo().map_err(|source| GeoError::WkbDecode {
        what: what.to_string(),
        source,
    })
}

/// The reasons a WKB geometry is invalid under OGC simple-feature rules (empty when it is valid).
pub fn validation_problems(wkb: &[u8], what: &str) -> Result<Vec<String>, GeoError> {
    let geometry = wkb_to_geometry(wkb, what)?;
    Ok(geometry
        .validation_errors()
        .iter()
        .map(ToString::to_string)
        .collect())
}

/// The bounding box `[xmin, ymin, xmax, ymax]` of a WKB geometry, or `None` when it is empty.
pub fn wkb_bbox(wkb: &[u8], what: &str) -> Result<Option<[f64; 4]>, GeoError> {
    let geometry = wkb_to_geometry(wkb, what)?;
    Ok(geometry
        .bounding_rect()
        .map(|rect| [rect.min().x, rect.min().y, rect.max().x, rect.max().y]))
}

/// Grow `bbox` (or start it) so that it also covers `other`.
pub fn union_bbox(bbox: Option<[f64; 4]>, other: [f64; 4]) -> [f64; 4] {
    match bbox {
        None => other,
        Some(b) => [
            b[0].min(other[0]),
            b[1].min(other[1]),
            b[2].max(other[2]),
            b[3].max(other[3]),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn square_round_trips_and_is_valid() {
        let ring = vec![(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0), (0.0, 0.0)];
        let wkb = polygon_rings_to_wkb(&[ring], "square").unwrap();
        // byte order + type + ring count + point count + 5 points
        assert_eq!(wkb.len(), 1 + 4 + 4 + 4 + 5 * 16);
        assert_eq!(&wkb[..5], &[1, 3, 0, 0, 0]);
        assert!(validation_problems(&wkb, "square").unwrap().is_empty());
        assert_eq!(
            wkb_bbox(&wkb, "square").unwrap(),
            Some([0.0, 0.0, 1.0, 1.0])
        );
    }

    #[test]
    fn bow_tie_is_invalid() {
        let ring = vec![(0.0, 0.0), (1.0, 1.0), (1.0, 0.0), (0.0, 1.0), (0.0, 0.0)];
        let wkb = polygon_rings_to_wkb(&[ring], "bow-tie").unwrap();
        assert!(!validation_problems(&wkb, "bow-tie").unwrap().is_empty());
    }

    #[test]
    fn garbage_is_a_decode_error_naming_the_geometry() {
        let err = wkb_to_geometry(&[1, 2, 3], "row 7").unwrap_err();
        assert!(err.to_string().contains("row 7"), "{err}");
    }
}
