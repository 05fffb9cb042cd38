//! Spatial predicates of the query job: a feature against a query geometry (WKT or bbox), with the
//! bbox that any match must touch (for pruning files and row groups).

use geo::kernels::{Kernel, Orientation, RobustKernel};
use geo::{BoundingRect, Contains, Coord, Distance, Euclidean, Geometry, Intersects, Line, LineString, Polygon, Rect, Within};
use serde::Serialize;
use wkt::TryFromWkt;

/// Which relation a row's geometry must have with the query geometry.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "op", content = "distance")]
pub enum PredicateOp {
    /// The row's geometry intersects the query geometry.
    Intersects,
    /// The row's geometry contains the query geometry.
    Contains,
    /// The row's geometry lies within the query geometry.
    Within,
    /// The row's geometry is at most this far (planar, in CRS units) from the query geometry.
    DWithin(f64),
    /// The row's geometry intersects the rectangle.
    Bbox,
}

/// A predicate with its query geometry.
#[derive(Clone, Debug, PartialEq)]
pub struct SpatialPredicate {
    pub op: PredicateOp,
    pub geometry: Geometry<f64>,
    /// `[xmin, ymin, xmax, ymax]` a matching row's bbox must intersect.
    pub search_bbox: [f64; 4],
    /// The polygons of an areal query geometry (polygon, multipolygon, rect) as boundary segments,
    /// for [`Self::judge_box`]; empty for other geometries.
    areas: Vec<AreaEdges>,
}

/// One polygon's boundary as segments: its exterior ring and its holes.
#[derive(Clone, Debug, PartialEq)]
struct AreaEdges {
    exterior: Vec<Line<f64>>,
    holes: Vec<Vec<Line<f64>>>,
}

impl AreaEdges {
    fn of(polygon: &Polygon<f64>) -> Self {
        let ring = |ring: &LineString<f64>| ring.lines().collect::<Vec<_>>();
        Self { exterior: ring(polygon.exterior()), holes: polygon.interiors().iter().map(ring).collect() }
    }

    fn edges(&self) -> impl Iterator<Item = &Line<f64>> {
        self.exterior.iter().chain(self.holes.iter().flatten())
    }

    /// Whether the polygon holds `point`, which lies on none of its edges.
    fn holds(&self, point: Coord<f64>) -> bool {
        winds_around(&self.exterior, point) && !self.holes.iter().any(|hole| winds_around(hole, point))
    }
}

/// Whether a closed ring winds around `point` (non-zero winding number; geo's rule), for a point on
/// none of its segments. Exact: robust orientation tests.
fn winds_around(ring: &[Line<f64>], point: Coord<f64>) -> bool {
    let mut winding = 0i64;
    for edge in ring {
        if edge.start.y <= point.y {
            if edge.end.y > point.y && RobustKernel::orient2d(edge.start, edge.end, point) == Orientation::CounterClockwise {
                winding += 1;
            }
        } else if edge.end.y <= point.y && RobustKernel::orient2d(edge.start, edge.end, point) == Orientation::Clockwise {
            winding -= 1;
        }
    }
    winding != 0
}

/// Whether a segment meets a closed box (`x0 <= x1`, `y0 <= y1`). Exact separating-axis test:
/// they meet unless their bboxes are apart or all four corners lie strictly on one side of the
/// segment's line.
fn segment_meets_box(edge: &Line<f64>, [x0, y0, x1, y1]: [f64; 4]) -> bool {
    if edge.start.x.max(edge.end.x) < x0 || edge.start.x.min(edge.end.x) > x1 || edge.start.y.max(edge.end.y) < y0 || edge.start.y.min(edge.end.y) > y1 {
        return false;
    }
    let side = |x: f64, y: f64| RobustKernel::orient2d(edge.start, edge.end, Coord { x, y });
    let first = side(x0, y0);
    first == Orientation::Collinear || [side(x1, y0), side(x1, y1), side(x0, y1)].iter().any(|&other| other != first)
}

/// What a row's bbox covering value (a box holding the row's geometry) tells about the row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BoxVerdict {
    /// No feature inside the box can match.
    NoMatch,
    /// Every non-empty feature inside the box matches, whatever its shape.
    Match,
    /// Only the geometry can tell.
    Unsure,
}

/// Why a predicate cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum PredicateError {
    #[error("query geometry is not valid WKT: {0}")]
    Wkt(String),
    #[error("query geometry is empty")]
    Empty,
    #[error("bbox must be MINX,MINY,MAXX,MAXY with min <= max: {0}")]
    Bbox(String),
    #[error("distance must be a finite number >= 0, got {0}")]
    Distance(f64),
}

impl SpatialPredicate {
    /// From WKT text.
    pub fn from_wkt(op: PredicateOp, wkt: &str) -> Result<Self, PredicateError> {
        let geometry = Geometry::<f64>::try_from_wkt_str(wkt).map_err(|e| PredicateError::Wkt(e.to_string()))?;
        Self::new(op, geometry)
    }

    /// A bbox query.
    pub fn from_bbox(bbox: [f64; 4]) -> Result<Self, PredicateError> {
        if bbox.iter().any(|v| !v.is_finite()) || bbox[0] > bbox[2] || bbox[1] > bbox[3] {
            return Err(PredicateError::Bbox(format!("{bbox:?}")));
        }
        let rect = Rect::new((bbox[0], bbox[1]), (bbox[2], bbox[3]));
        Self::new(PredicateOp::Bbox, Geometry::Polygon(rect.to_polygon()))
    }

    pub fn new(op: PredicateOp, geometry: Geometry<f64>) -> Result<Self, PredicateError> {
        let rect = geometry.bounding_rect().ok_or(PredicateError::Empty)?;
        let grow = match op {
            PredicateOp::DWithin(d) if !d.is_finite() || d < 0.0 => return Err(PredicateError::Distance(d)),
            PredicateOp::DWithin(d) => d,
            _ => 0.0,
        };
        let search_bbox = [rect.min().x - grow, rect.min().y - grow, rect.max().x + grow, rect.max().y + grow];
        let areas = match &geometry {
            Geometry::Polygon(p) => vec![AreaEdges::of(p)],
            Geometry::MultiPolygon(m) => m.iter().map(AreaEdges::of).collect(),
            Geometry::Rect(r) => vec![AreaEdges::of(&r.to_polygon())],
            _ => Vec::new(),
        };
        Ok(Self { op, geometry, search_bbox, areas })
    }

    /// What a row's covering box (`[xmin, ymin, xmax, ymax]`, holding the row's geometry) tells,
    /// without looking at the geometry; exact, never a wrong verdict:
    /// - [`BoxVerdict::NoMatch`] when the box misses the search bbox, or (except for `dwithin`) the
    ///   box as a rectangle misses the query geometry: a feature inside it neither intersects,
    ///   contains nor lies within the query geometry.
    /// - [`BoxVerdict::Match`] for intersects, within and bbox queries with an areal query geometry
    ///   when the box lies in its interior (no boundary segment, outer ring or hole, meets the box,
    ///   and a corner is inside): a non-empty feature there intersects the query geometry and lies
    ///   within it.
    /// - [`BoxVerdict::Unsure`] otherwise, and for NaN or inverted boxes that still meet the search bbox.
    pub fn judge_box(&self, bbox: &[f64; 4]) -> BoxVerdict {
        if !self.may_match(bbox) {
            return BoxVerdict::NoMatch;
        }
        let [x0, y0, x1, y1] = *bbox;
        if matches!(self.op, PredicateOp::DWithin(_)) || !(x0 <= x1 && y0 <= y1) {
            return BoxVerdict::Unsure;
        }
        if self.areas.is_empty() {
            // A point or line query geometry: the rectangle against it (geo).
            return match Rect::new((x0, y0), (x1, y1)).intersects(&self.geometry) {
                true => BoxVerdict::Unsure,
                false => BoxVerdict::NoMatch,
            };
        }
        if self.areas.iter().flat_map(AreaEdges::edges).any(|edge| segment_meets_box(edge, *bbox)) {
            return BoxVerdict::Unsure;
        }
        // No boundary meets the box: it lies wholly inside or wholly outside (a polygon wholly
        // inside the box would have its edges in it), and one corner tells which.
        let inside = self.areas.iter().any(|area| area.holds(Coord { x: x0, y: y0 }));
        match (inside, self.op) {
            (false, _) => BoxVerdict::NoMatch,
            (true, PredicateOp::Intersects | PredicateOp::Within | PredicateOp::Bbox) => BoxVerdict::Match,
            (true, _) => BoxVerdict::Unsure,
        }
    }

    /// Whether a row's bbox can hold a match at all.
    pub fn may_match(&self, bbox: &[f64; 4]) -> bool {
        bboxes_intersect(bbox, &self.search_bbox)
    }

    /// The exact predicate.
    pub fn matches(&self, feature: &Geometry<f64>) -> bool {
        match self.op {
            PredicateOp::Intersects | PredicateOp::Bbox => feature.intersects(&self.geometry),
            PredicateOp::Contains => feature.contains(&self.geometry),
            PredicateOp::Within => feature.is_within(&self.geometry),
            PredicateOp::DWithin(d) => Euclidean.distance(feature, &self.geometry) <= d,
        }
    }
}

/// Whether two `[xmin, ymin, xmax, ymax]` boxes share at least a point.
pub fn bboxes_intersect(a: &[f64; 4], b: &[f64; 4]) -> bool {
    a[0] <= b[2] && b[0] <= a[2] && a[1] <= b[3] && b[1] <= a[3]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predicates_on_a_square() {
        let square = Geometry::<f64>::try_from_wkt_str("POLYGON((0 0,2 0,2 2,0 2,0 0))").unwrap();
        let inner = SpatialPredicate::from_wkt(PredicateOp::Contains, "POINT(1 1)").unwrap();
        assert!(inner.matches(&square));
        let outer = SpatialPredicate::from_wkt(PredicateOp::Within, "POLYGON((-1 -1,3 -1,3 3,-1 3,-1 -1))").unwrap();
        assert!(outer.matches(&square));
        let near = SpatialPredicate::from_wkt(PredicateOp::DWithin(1.5), "POINT(3 1)").unwrap();
        assert!(near.matches(&square));
        assert_eq!(near.search_bbox, [1.5, -0.5, 4.5, 2.5]);
        let far = SpatialPredicate::from_wkt(PredicateOp::DWithin(0.5), "POINT(3 1)").unwrap();
        assert!(!far.matches(&square));
        assert!(SpatialPredicate::from_bbox([1.9, 1.9, 5.0, 5.0]).unwrap().matches(&square));
        assert!(SpatialPredicate::from_bbox([5.0, 5.0, 1.0, 1.0]).is_err());
        assert!(SpatialPredicate::from_wkt(PredicateOp::Intersects, "POLYGON((").is_err());
        // A box inside the diamond's bbox but outside the diamond: no feature in it can intersect it.
        use BoxVerdict::{Match, NoMatch, Unsure};
        let diamond = SpatialPredicate::from_wkt(PredicateOp::Intersects, "POLYGON((0 -1, 1 0, 0 1, -1 0, 0 -1))").unwrap();
        assert!(diamond.may_match(&[0.6, 0.6, 0.9, 0.9]));
        assert_eq!(diamond.judge_box(&[0.6, 0.6, 0.9, 0.9]), NoMatch);
        assert_eq!(diamond.judge_box(&[0.5, 0.5, 0.9, 0.9]), Unsure, "touching the edge counts");
        assert_eq!(diamond.judge_box(&[2.0, 2.0, 3.0, 3.0]), NoMatch);
        // Boxes inside the diamond's interior surely match; touching or crossing its edge, not.
        assert_eq!(diamond.judge_box(&[-0.1, -0.1, 0.1, 0.1]), Match);
        assert_eq!(diamond.judge_box(&[0.1, 0.1, 0.4, 0.4]), Match);
        assert_eq!(diamond.judge_box(&[0.3, 0.3, 0.7, 0.7]), Unsure, "crosses the edge");
        assert_eq!(diamond.judge_box(&[0.0, 1.0, 0.0, 1.0]), Unsure, "a point box on a vertex");
        assert_eq!(diamond.judge_box(&[f64::NAN, -0.1, 0.1, 0.1]), NoMatch, "NaN misses the search bbox");
        assert_eq!(diamond.judge_box(&[0.1, 0.1, -0.1, -0.1]), Unsure, "inverted");
        let contains = SpatialPredicate::new(PredicateOp::Contains, diamond.geometry.clone()).unwrap();
        assert_eq!(contains.judge_box(&[-0.1, -0.1, 0.1, 0.1]), Unsure, "contains needs the geometry");
        assert_eq!(contains.judge_box(&[0.6, 0.6, 0.9, 0.9]), NoMatch);
        let within = SpatialPredicate::new(PredicateOp::Within, diamond.geometry.clone()).unwrap();
        assert_eq!(within.judge_box(&[-0.1, -0.1, 0.1, 0.1]), Match);
        // A hole: a box inside the hole, or one around it, is not surely a match.
        let holed = SpatialPredicate::from_wkt(PredicateOp::Intersects, "POLYGON((0 0,10 0,10 10,0 10,0 0),(4 4,6 4,6 6,4 6,4 4))").unwrap();
        assert_eq!(holed.judge_box(&[1.0, 1.0, 2.0, 2.0]), Match);
        assert_eq!(holed.judge_box(&[4.5, 4.5, 5.5, 5.5]), NoMatch, "inside the hole");
        assert_eq!(holed.judge_box(&[3.0, 3.0, 7.0, 7.0]), Unsure, "around the hole");
        // Two squares, one inside the other's hole; a box in the gap between them is outside.
        let nested = SpatialPredicate::from_wkt(
            PredicateOp::Intersects,
            "MULTIPOLYGON(((0 0,10 0,10 10,0 10,0 0),(2 2,8 2,8 8,2 8,2 2)),((4 4,6 4,6 6,4 6,4 4)))",
        )
        .unwrap();
        assert_eq!(nested.judge_box(&[4.5, 4.5, 5.5, 5.5]), Match);
        assert_eq!(nested.judge_box(&[2.5, 2.5, 3.5, 3.5]), NoMatch);
        assert_eq!(nested.judge_box(&[0.5, 0.5, 1.5, 1.5]), Match);
        // A box around the whole query geometry meets its edges.
        assert_eq!(diamond.judge_box(&[-2.0, -2.0, 2.0, 2.0]), Unsure);
        // A point query has no interior: boxes around it are unsure, others miss it.
        let point = SpatialPredicate::from_wkt(PredicateOp::Intersects, "POINT(1 1)").unwrap();
        assert_eq!(point.judge_box(&[0.9, 0.9, 1.1, 1.1]), Unsure);
        let line = SpatialPredicate::from_wkt(PredicateOp::Intersects, "LINESTRING(0 0, 2 2)").unwrap();
        assert_eq!(line.judge_box(&[1.5, 0.0, 2.0, 0.4]), NoMatch);
        let near_diamond = SpatialPredicate::from_wkt(PredicateOp::DWithin(0.5), "POLYGON((0 -1, 1 0, 0 1, -1 0, 0 -1))").unwrap();
        assert_eq!(near_diamond.judge_box(&[0.6, 0.6, 0.9, 0.9]), Unsure);
        let bbox = SpatialPredicate::from_bbox([0.0, 0.0, 1.0, 1.0]).unwrap();
        assert_eq!(bbox.judge_box(&[0.2, 0.2, 0.3, 0.3]), Match);
        assert_eq!(bbox.judge_box(&[0.5, 0.5, 1.5, 1.5]), Unsure);
    }

    /// Verdicts on a grid of boxes of several sizes against geo's own relations: `NoMatch` exactly
    /// when the rectangle misses the query geometry, `Match` exactly when it lies in its interior.
    #[test]
    fn box_verdicts_agree_with_geo() {
        use geo::LinesIter;
        let queries = [
            "POLYGON((0 -1, 1 0, 0 1, -1 0, 0 -1))",
            "POLYGON((-1 -1,1 -1,1 1,-1 1,-1 -1),(-0.375 -0.375,0.375 -0.375,0.375 0.375,-0.375 0.375,-0.375 -0.375))",
            "MULTIPOLYGON(((-1 -1,0 -1,0 0,-1 0,-1 -1)),((0.25 0.25,1 0.375,0.5 1,0.25 0.25)))",
        ];
        let mut counts = [0usize; 3];
        for wkt in queries {
            let predicate = SpatialPredicate::from_wkt(PredicateOp::Intersects, wkt).unwrap();
            let boundary: Vec<Line<f64>> = match &predicate.geometry {
                Geometry::Polygon(p) => p.lines_iter().collect(),
                Geometry::MultiPolygon(m) => m.lines_iter().collect(),
                other => panic!("not areal: {other:?}"),
            };
            // Binary fractions: corners exactly on edges and vertices happen, and geo's own
            // (not everywhere robust) rectangle tests are exact on them.
            for size in [0.0, 0.0625, 0.125, 0.5] {
                for i in 0..=24 {
                    for j in 0..=24 {
                        let (x, y) = (-1.5 + 0.125 * i as f64, -1.5 + 0.125 * j as f64);
                        let rect = Rect::new((x, y), (x + size, y + size));
                        let verdict = predicate.judge_box(&[x, y, x + size, y + size]);
                        let meets = rect.intersects(&predicate.geometry);
                        let interior = meets
                            && !boundary.iter().any(|edge| rect.intersects(edge))
                            && predicate.geometry.contains(&geo::Point::new(x, y));
                        let expected = match (meets, interior) {
                            (false, _) => BoxVerdict::NoMatch,
                            (true, true) => BoxVerdict::Match,
                            (true, false) => BoxVerdict::Unsure,
                        };
                        assert_eq!(verdict, expected, "{wkt}: box at ({x}, {y}) of size {size}");
                        counts[expected as usize] += 1;
                    }
                }
            }
        }
        assert!(counts.iter().all(|&n| n > 100), "every verdict is exercised: {counts:?}");
    }
}
