//! Well-Known Text for geometries (formatted here; no extra dependency needed).

use geo::{Coord, Geometry, LineString, Polygon};

fn number(out: &mut String, v: f64) {
    // Six decimals is ~0.1 m; trim trailing zeros.
    let mut s = format!("{v:.6}");
    if s.contains('.') {
        while s.ends_with('0') {
            s.pop();
        }
        if s.ends_with('.') {
            s.pop();
        }
    }
    if s == "-0" {
        s = "0".into();
    }
    out.push_str(&s);
}

fn coord(out: &mut String, c: &Coord<f64>) {
    number(out, c.x);
    out.push(' ');
    number(out, c.y);
}

fn coords<'a>(out: &mut String, cs: impl IntoIterator<Item = &'a Coord<f64>>) {
    out.push('(');
    for (i, c) in cs.into_iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        coord(out, c);
    }
    out.push(')');
}

fn polygon_body(out: &mut String, p: &Polygon<f64>) {
    out.push('(');
    coords(out, &p.exterior().0);
    for ring in p.interiors() {
        out.push_str(", ");
        coords(out, &ring.0);
    }
    out.push(')');
}

fn line_body(out: &mut String, l: &LineString<f64>) {
    coords(out, &l.0);
}

/// The geometry as WKT, e.g. `POLYGON((4 52, 5 52, 5 53, 4 53, 4 52))`.
pub fn to_wkt(geometry: &Geometry<f64>) -> String {
    let mut out = String::new();
    write_wkt(&mut out, geometry);
    out
}

fn write_wkt(out: &mut String, geometry: &Geometry<f64>) {
    match geometry {
        Geometry::Point(p) => {
            out.push_str("POINT(");
            coord(out, &p.0);
            out.push(')');
        }
        Geometry::Line(l) => {
            out.push_str("LINESTRING");
            coords(out, [&l.start, &l.end]);
        }
        Geometry::LineString(l) => {
            out.push_str("LINESTRING");
            line_body(out, l);
        }
        Geometry::Polygon(p) => {
            out.push_str("POLYGON");
            polygon_body(out, p);
        }
        Geometry::MultiPoint(mp) => {
            out.push_str("MULTIPOINT");
            coords(out, mp.0.iter().map(|p| &p.0));
        }
        Geometry::MultiLineString(ml) => {
            out.push_str("MULTILINESTRING(");
            for (i, l) in ml.0.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                line_body(out, l);
            }
            out.push(')');
        }
        Geometry::MultiPolygon(mp) => {
            out.push_str("MULTIPOLYGON(");
            for (i, p) in mp.0.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                polygon_body(out, p);
            }
            out.push(')');
        }
        Geometry::GeometryCollection(gc) => {
            out.push_str("GEOMETRYCOLLECTION(");
            for (i, g) in gc.0.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_wkt(out, g);
            }
            out.push(')');
        }
        Geometry::Rect(r) => write_wkt(out, &Geometry::Polygon(r.to_polygon())),
        Geometry::Triangle(t) => write_wkt(out, &Geometry::Polygon(t.to_polygon())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{line_string, point, polygon};

    #[test]
    fn formats_wkt() {
        assert_eq!(to_wkt(&point!(x: 4.9, y: 52.37).into()), "POINT(4.9 52.37)");
        assert_eq!(
            to_wkt(&line_string![(x: 0.0, y: -0.0), (x: 1.5, y: 2.25)].into()),
            "LINESTRING(0 0, 1.5 2.25)"
        );
        let p =
            polygon![(x: 4.0, y: 52.0), (x: 5.0, y: 52.0), (x: 5.0, y: 53.0), (x: 4.0, y: 52.0)];
        assert_eq!(
            to_wkt(&p.clone().into()),
            "POLYGON((4 52, 5 52, 5 53, 4 52))"
        );
        assert_eq!(
            to_wkt(&geo::MultiPolygon::new(vec![p]).into()),
            "MULTIPOLYGON(((4 52, 5 52, 5 53, 4 52)))"
        );
        assert_eq!(
            to_wkt(&point!(x: 1.0 / 3.0, y: 0.0).into()),
            "POINT(0.333333 0)"
        );
    }
}
