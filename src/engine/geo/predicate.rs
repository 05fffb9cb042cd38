//! Spatial predicates of the query job: a feature against a query geometry (WKT or bbox), with the
//! bbox that any match must touch (for pruning files and row groups).

use geo::{BoundingRect, Contains, Distance, Euclidean, Geometry, Intersects, Line, LinesIter, Rect, Within};
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
    /// The boundary segments of a (multi)polygon query geometry (rings and holes), for
    /// [`Self::box_surely_matches`]; empty for other geometries.
    area_edges: Vec<Line<f64>>,
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
        let area_edges = match &geometry {
            Geometry::Polygon(p) => p.lines_iter().collect(),
            Geometry::MultiPolygon(m) => m.lines_iter().collect(),
            Geometry::Rect(r) => r.lines_iter().collect(),
            _ => Vec::new(),
        };
        Ok(Self { op, geometry, search_bbox, area_edges })
    }

    /// Whether every feature lying inside `bbox` (a bbox covering value, which holds the feature's
    /// geometry) surely matches, without looking at the geometry: for intersects, within and bbox
    /// queries with an areal query geometry, when the box lies in the query geometry's interior — its
    /// corners inside and no boundary segment (outer ring or hole) touching it. A non-empty feature in
    /// that box intersects the query geometry and lies within it. Conservative: false whenever unsure
    /// (NaN, empty or inverted boxes, other predicates).
    pub fn box_surely_matches(&self, bbox: &[f64; 4]) -> bool {
        if !matches!(self.op, PredicateOp::Intersects | PredicateOp::Within | PredicateOp::Bbox) || self.area_edges.is_empty() {
            return false;
        }
        let [x0, y0, x1, y1] = *bbox;
        // NaN fails every comparison: such boxes are never trusted.
        if !(x0 <= x1 && y0 <= y1) || !(self.search_bbox[0] < x0 && x1 < self.search_bbox[2] && self.search_bbox[1] < y0 && y1 < self.search_bbox[3]) {
            return false;
        }
        let rect = Rect::new((x0, y0), (x1, y1));
        if self.area_edges.iter().any(|edge| rect.intersects(edge)) {
            return false;
        }
        // No boundary meets the box, so the box is wholly inside or wholly outside: one corner tells.
        self.geometry.contains(&geo::Point::new(x0, y0))
    }

    /// Whether a row's bbox can hold a match at all.
    pub fn may_match(&self, bbox: &[f64; 4]) -> bool {
        bboxes_intersect(bbox, &self.search_bbox)
    }

    /// Whether a feature lying inside `bbox` (a bbox covering value, which holds the feature's geometry)
    /// can match: the box meets the search bbox and, except for `dwithin`, the box as a rectangle meets
    /// the query geometry — a feature inside a box disjoint from the query geometry neither intersects,
    /// contains nor lies within it. Exact pruning: no feature that matches is left out.
    pub fn box_may_match(&self, bbox: &[f64; 4]) -> bool {
        if !self.may_match(bbox) {
            return false;
        }
        match self.op {
            // For `bbox` the query geometry is the search bbox itself.
            PredicateOp::DWithin(_) | PredicateOp::Bbox => true,
            PredicateOp::Intersects | PredicateOp::Contains | PredicateOp::Within => {
                Rect::new((bbox[0], bbox[1]), (bbox[2], bbox[3])).intersects(&self.geometry)
            }
        }
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
        let diamond = SpatialPredicate::from_wkt(PredicateOp::Intersects, "POLYGON((0 -1, 1 0, 0 1, -1 0, 0 -1))").unwrap();
        assert!(diamond.may_match(&[0.6, 0.6, 0.9, 0.9]));
        assert!(!diamond.box_may_match(&[0.6, 0.6, 0.9, 0.9]));
        assert!(diamond.box_may_match(&[0.5, 0.5, 0.9, 0.9]), "touching the edge counts");
        assert!(!diamond.box_may_match(&[2.0, 2.0, 3.0, 3.0]));
        // Boxes inside the diamond's interior surely match; touching or crossing its edge, not.
        assert!(diamond.box_surely_matches(&[-0.1, -0.1, 0.1, 0.1]));
        assert!(diamond.box_surely_matches(&[0.1, 0.1, 0.4, 0.4]));
        assert!(!diamond.box_surely_matches(&[0.5, 0.5, 0.9, 0.9]), "touches the edge");
        assert!(!diamond.box_surely_matches(&[0.3, 0.3, 0.7, 0.7]), "crosses the edge");
        assert!(!diamond.box_surely_matches(&[f64::NAN, -0.1, 0.1, 0.1]));
        assert!(!diamond.box_surely_matches(&[0.1, 0.1, -0.1, -0.1]), "inverted");
        let contains = SpatialPredicate::new(PredicateOp::Contains, diamond.geometry.clone()).unwrap();
        assert!(!contains.box_surely_matches(&[-0.1, -0.1, 0.1, 0.1]), "contains needs the geometry");
        // A hole: a box inside the hole, or one around it, is not surely a match.
        let holed = SpatialPredicate::from_wkt(PredicateOp::Intersects, "POLYGON((0 0,10 0,10 10,0 10,0 0),(4 4,6 4,6 6,4 6,4 4))").unwrap();
        assert!(holed.box_surely_matches(&[1.0, 1.0, 2.0, 2.0]));
        assert!(!holed.box_surely_matches(&[4.5, 4.5, 5.5, 5.5]), "inside the hole");
        assert!(!holed.box_surely_matches(&[3.0, 3.0, 7.0, 7.0]), "around the hole");
        // A point query has no interior.
        let point = SpatialPredicate::from_wkt(PredicateOp::Intersects, "POINT(1 1)").unwrap();
        assert!(!point.box_surely_matches(&[0.9, 0.9, 1.1, 1.1]));
        let near_diamond = SpatialPredicate::from_wkt(PredicateOp::DWithin(0.5), "POLYGON((0 -1, 1 0, 0 1, -1 0, 0 -1))").unwrap();
        assert!(near_diamond.box_may_match(&[0.6, 0.6, 0.9, 0.9]));
    }
}
