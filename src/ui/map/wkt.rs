//! Well-Known Text of drawn geometries, through the georust `wkt` crate, with coordinates rounded to
//! 1e-6 degrees (about 0.1 m) so the text stays readable in the status line.

use geo::{Geometry, MapCoords};
use wkt::ToWkt;

/// Round to 6 decimals; `-0` becomes `0`.
fn round6(v: f64) -> f64 {
    let rounded = (v * 1e6).round() / 1e6;
    if rounded == 0.0 { 0.0 } else { rounded }
}

/// The WKT of a lon/lat geometry (`Rect` and `Triangle` are written as polygons).
pub fn to_wkt(geometry: &Geometry<f64>) -> String {
    let geometry = match geometry {
        Geometry::Rect(r) => Geometry::Polygon(r.to_polygon()),
        Geometry::Triangle(t) => Geometry::Polygon(t.to_polygon()),
        other => other.clone(),
    };
    geometry.map_coords(|c| geo::Coord { x: round6(c.x), y: round6(c.y) }).wkt_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{line_string, point, polygon};

    #[test]
    fn formats_wkt() {
        assert_eq!(to_wkt(&point!(x: 4.9, y: 52.37).into()), "POINT(4.9 52.37)");
        assert_eq!(to_wkt(&line_string![(x: 0.0, y: -0.0), (x: 1.5, y: 2.25)].into()), "LINESTRING(0 0,1.5 2.25)");
        let p = polygon![(x: 4.0, y: 52.0), (x: 5.0, y: 52.0), (x: 5.0, y: 53.0), (x: 4.0, y: 52.0)];
        assert_eq!(to_wkt(&p.clone().into()), "POLYGON((4 52,5 52,5 53,4 52))");
        assert_eq!(to_wkt(&geo::MultiPolygon::new(vec![p]).into()), "MULTIPOLYGON(((4 52,5 52,5 53,4 52)))");
        assert_eq!(to_wkt(&point!(x: 1.0 / 3.0, y: 0.0).into()), "POINT(0.333333 0)");
        let parsed: Geometry<f64> = wkt::TryFromWkt::try_from_wkt_str(&to_wkt(&point!(x: 4.5, y: 52.1).into())).unwrap();
        assert_eq!(parsed, point!(x: 4.5, y: 52.1).into());
    }
}
