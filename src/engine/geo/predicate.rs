//! Spatial predicates of the query job: a feature against a query geometry (WKT or bbox), with the
//! bbox that any match must touch (for pruning files and row groups).

use geo::{BoundingRect, Contains, Distance, Euclidean, Geometry, Intersects, Rect, Within};
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
        Ok(Self { op: PredicateOp::Bbox, geometry: Geometry::Polygon(rect.to_polygon()), search_bbox: bbox })
    }

    pub fn new(op: PredicateOp, geometry: Geometry<f64>) -> Result<Self, PredicateError> {
        let rect = geometry.bounding_rect().ok_or(PredicateError::Empty)?;
        let grow = match op {
            PredicateOp::DWithin(d) if !d.is_finite() || d < 0.0 => return Err(PredicateError::Distance(d)),
            PredicateOp::DWithin(d) => d,
            _ => 0.0,
        };
        let search_bbox = [rect.min().x - grow, rect.min().y - grow, rect.max().x + grow, rect.max().y + grow];
        Ok(Self { op, geometry, search_bbox })
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
        let near_diamond = SpatialPredicate::from_wkt(PredicateOp::DWithin(0.5), "POLYGON((0 -1, 1 0, 0 1, -1 0, 0 -1))").unwrap();
        assert!(near_diamond.box_may_match(&[0.6, 0.6, 0.9, 0.9]));
    }
}
