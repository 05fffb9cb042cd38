//! Checks on one geometry value: decoding (via the bounds-checked [`super::wkb_read`]), the declared
//! GeoParquet `geometry_types`, OGC validity (`geo`'s `Validation`), simplicity, and the CRS's area
//! (lon/lat range for geographic CRSs). The table-level job lives in `lake::spatial`.

use geo::line_intersection::{LineIntersection, line_intersection};
use geo::{BoundingRect, Geometry, Line, LineString, Validation};
use serde::Serialize;

use super::wkb_read::{DecodedWkb, decode_wkb};

/// What is wrong with one value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    NullGeometry,
    InvalidWkb,
    WrongType,
    InvalidGeometry,
    NonSimple,
    OutOfCrsArea,
    SridMismatch,
}

/// One finding about a value, with a human detail.
#[derive(Clone, Debug, PartialEq)]
pub struct Finding {
    pub kind: ProblemKind,
    pub detail: String,
}

/// What the geometry column declares.
#[derive(Clone, Debug, Default)]
pub struct Expectations {
    /// Allowed types (`Polygon`, `MultiPolygon Z`…); empty = any.
    pub geometry_types: Vec<String>,
    /// Coordinates must lie in lon/lat range (geographic CRS).
    pub lon_lat: bool,
    /// The EPSG code of the declared CRS, to compare with EWKB SRIDs.
    pub epsg: Option<u32>,
}

/// The findings for one value and its bbox when it could be decoded (empty: the value is fine).
pub fn check_value(wkb: Option<&[u8]>, expect: &Expectations) -> (Vec<Finding>, Option<[f64; 4]>) {
    let Some(wkb) = wkb else {
        return (vec![Finding { kind: ProblemKind::NullGeometry, detail: "null geometry".into() }], None);
    };
    let decoded = match decode_wkb(wkb) {
        Ok(decoded) => decoded,
        Err(e) => return (vec![Finding { kind: ProblemKind::InvalidWkb, detail: format!("{e} ({} bytes)", wkb.len()) }], None),
    };
    let bbox = decoded.geometry.bounding_rect().map(|r| [r.min().x, r.min().y, r.max().x, r.max().y]);
    (check_decoded(&decoded, expect), bbox)
}

/// The findings for a decoded value.
pub fn check_decoded(decoded: &DecodedWkb, expect: &Expectations) -> Vec<Finding> {
    let mut findings = Vec::new();
    if !expect.geometry_types.is_empty() && !expect.geometry_types.iter().any(|t| t.eq_ignore_ascii_case(&decoded.type_name)) {
        findings.push(Finding {
            kind: ProblemKind::WrongType,
            detail: format!("{} where the column declares {}", decoded.type_name, expect.geometry_types.join(", ")),
        });
    }
    // geo's relate graph has a debug assertion that fires on some invalid rings it classifies as valid
    // (found by the fuzz target, tests/fuzz/corpus/geo_readers/regression_relate_conflict.wkb); a
    // failing check is reported as a finding, never a panic.
    let validity = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        decoded.geometry.validation_errors().iter().map(ToString::to_string).collect::<Vec<String>>()
    }));
    let mut reasons: Vec<String> = validity.unwrap_or_else(|_| {
        vec!["the OGC validity check failed on this geometry's topology (conflicting ring positions)".to_string()]
    });
    if decoded.unclosed_rings > 0 {
        reasons.push(format!("{} ring(s) not closed or shorter than 4 positions", decoded.unclosed_rings));
    }
    if !reasons.is_empty() {
        findings.push(Finding { kind: ProblemKind::InvalidGeometry, detail: reasons.join("; ") });
    }
    if let Some(detail) = non_simple(&decoded.geometry) {
        findings.push(Finding { kind: ProblemKind::NonSimple, detail });
    }
    if expect.lon_lat
        && let Some(rect) = decoded.geometry.bounding_rect()
        && (rect.min().x < -180.0 || rect.max().x > 180.0 || rect.min().y < -90.0 || rect.max().y > 90.0)
    {
        findings.push(Finding {
            kind: ProblemKind::OutOfCrsArea,
            detail: format!(
                "bbox [{}, {}, {}, {}] outside lon/lat range [-180, -90, 180, 90]",
                rect.min().x,
                rect.min().y,
                rect.max().x,
                rect.max().y
            ),
        });
    }
    if let (Some(srid), Some(epsg)) = (decoded.srid, expect.epsg)
        && srid != epsg
        && srid != 0
    {
        findings.push(Finding { kind: ProblemKind::SridMismatch, detail: format!("EWKB SRID {srid}, column CRS EPSG:{epsg}") });
    }
    findings
}

/// Why a geometry is not simple (OGC: no self-intersection except at ring/line ends), `None` when it is.
/// Points are simple unless a multipoint repeats a point; polygons are checked ring by ring.
pub fn non_simple(geometry: &Geometry<f64>) -> Option<String> {
    match geometry {
        Geometry::LineString(l) => line_self_intersection(l),
        Geometry::MultiLineString(m) => m.0.iter().find_map(line_self_intersection),
        Geometry::Polygon(p) => std::iter::once(p.exterior()).chain(p.interiors()).find_map(line_self_intersection),
        Geometry::MultiPolygon(m) => m
            .0
            .iter()
            .find_map(|p| std::iter::once(p.exterior()).chain(p.interiors()).find_map(line_self_intersection)),
        Geometry::MultiPoint(m) => {
            let mut seen: Vec<(u64, u64)> = m.0.iter().map(|p| (p.x().to_bits(), p.y().to_bits())).collect();
            seen.sort_unstable();
            let before = seen.len();
            seen.dedup();
            (seen.len() != before).then(|| "repeated point in a multipoint".to_string())
        }
        Geometry::GeometryCollection(c) => c.0.iter().find_map(non_simple),
        _ => None,
    }
}

/// The first self-intersection of a line or ring (a sweep over segments sorted by x), `None` when simple.
fn line_self_intersection(line: &LineString<f64>) -> Option<String> {
    let segments: Vec<Line<f64>> = line.lines().filter(|s| s.start != s.end).collect();
    let n = segments.len();
    if n < 2 {
        return None;
    }
    let closed = line.is_closed();
    // Sort segment indices by min x; a pair can only meet when their x ranges overlap.
    let mut order: Vec<usize> = (0..n).collect();
    let min_x = |s: &Line<f64>| s.start.x.min(s.end.x);
    let max_x = |s: &Line<f64>| s.start.x.max(s.end.x);
    order.sort_by(|a, b| min_x(&segments[*a]).total_cmp(&min_x(&segments[*b])));
    for (k, &i) in order.iter().enumerate() {
        let a = &segments[i];
        for &j in &order[k + 1..] {
            let b = &segments[j];
            if min_x(b) > max_x(a) {
                break;
            }
            let (lo, hi) = (i.min(j), i.max(j));
            let adjacent = hi - lo == 1 || (closed && lo == 0 && hi == n - 1);
            match line_intersection(*a, *b) {
                None => {}
                Some(LineIntersection::Collinear { intersection }) if intersection.start != intersection.end => {
                    return Some(format!("segments {lo} and {hi} overlap near ({}, {})", intersection.start.x, intersection.start.y));
                }
                Some(LineIntersection::SinglePoint { intersection, .. }) => {
                    if adjacent {
                        continue;
                    }
                    return Some(format!("self-intersection at ({}, {})", intersection.x, intersection.y));
                }
                Some(LineIntersection::Collinear { intersection }) => {
                    if adjacent {
                        continue;
                    }
                    return Some(format!("self-intersection at ({}, {})", intersection.start.x, intersection.start.y));
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::geo::wkb::polygon_rings_to_wkb;

    fn poly(ring: &[(f64, f64)]) -> Vec<u8> {
        polygon_rings_to_wkb(&[ring.to_vec()], "t").unwrap()
    }

    #[test]
    fn findings_for_planted_kinds() {
        let expect = Expectations { geometry_types: vec!["Polygon".into()], lon_lat: true, epsg: Some(4326) };
        let square = poly(&[(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0), (0.0, 0.0)]);
        assert!(check_value(Some(&square), &expect).0.is_empty());
        let bow = poly(&[(0.0, 0.0), (1.0, 1.0), (1.0, 0.0), (0.0, 1.0), (0.0, 0.0)]);
        let kinds: Vec<_> = check_value(Some(&bow), &expect).0.iter().map(|f| f.kind).collect();
        assert_eq!(kinds, vec![ProblemKind::InvalidGeometry, ProblemKind::NonSimple]);
        let far = poly(&[(200.0, 0.0), (201.0, 0.0), (201.0, 1.0), (200.0, 0.0)]);
        let kinds: Vec<_> = check_value(Some(&far), &expect).0.iter().map(|f| f.kind).collect();
        assert_eq!(kinds, vec![ProblemKind::OutOfCrsArea]);
        let mut point = vec![1u8];
        point.extend(1u32.to_le_bytes());
        point.extend(1.0f64.to_le_bytes());
        point.extend(2.0f64.to_le_bytes());
        let kinds: Vec<_> = check_value(Some(&point), &expect).0.iter().map(|f| f.kind).collect();
        assert_eq!(kinds, vec![ProblemKind::WrongType]);
        assert_eq!(check_value(None, &expect).0[0].kind, ProblemKind::NullGeometry);
        assert_eq!(check_value(Some(&[1, 2, 3]), &expect).0[0].kind, ProblemKind::InvalidWkb);
    }

    #[test]
    fn simple_lines_and_spikes() {
        let l = |c: &[(f64, f64)]| Geometry::LineString(LineString::from(c.to_vec()));
        assert!(non_simple(&l(&[(0.0, 0.0), (1.0, 0.0), (1.0, 1.0)])).is_none());
        assert!(non_simple(&l(&[(0.0, 0.0), (2.0, 0.0), (1.0, 1.0), (1.0, -1.0)])).is_some());
        // Out to a tip and straight back: adjacent segments overlapping.
        assert!(non_simple(&l(&[(0.0, 0.0), (2.0, 0.0), (1.0, 0.0)])).is_some());
        // A closed ring is simple.
        assert!(non_simple(&l(&[(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 0.0)])).is_none());
    }
}
