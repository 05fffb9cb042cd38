//! Coordinate reference systems: EPSG codes to lon/lat and back, through proj4rs and its EPSG database.

use proj4rs::Proj;
use proj4rs::transform::{Transform, TransformClosure, transform};

/// A failed coordinate transformation.
#[derive(Debug, thiserror::Error)]
pub enum CrsError {
    #[error("EPSG:{code} is not in the bundled EPSG database (or is not supported by proj4rs): {detail}")]
    UnknownEpsg { code: u32, detail: String },
    #[error("could not transform ({x}, {y}) from EPSG:{from} to EPSG:{to}: {detail}")]
    Transform { x: f64, y: f64, from: u32, to: u32, detail: String },
}

struct XyPoint {
    x: f64,
    y: f64,
}

impl Transform for XyPoint {
    fn transform_coordinates<F: TransformClosure>(&mut self, f: &mut F) -> proj4rs::errors::Result<()> {
        f(self.x, self.y, 0.0).map(|(x, y, _)| {
            self.x = x;
            self.y = y;
        })
    }
}

/// The EPSG code of a CRS as tables name it: `EPSG:n` (any case), `OGC:CRS84` / `CRS84` (lon/lat,
/// treated as EPSG:4326 with lon/lat order); `None` for anything else (PROJJSON names, unknown).
pub fn epsg_code(crs: &str) -> Option<u32> {
    let text = crs.trim();
    let upper = text.to_ascii_uppercase();
    if matches!(upper.as_str(), "OGC:CRS84" | "CRS84" | "OGC:CRS:84" | "WGS 84" | "WGS84") {
        return Some(4326);
    }
    upper
        .strip_prefix("EPSG:")
        .or_else(|| upper.strip_prefix("EPSG::"))
        .and_then(|code| code.trim_start_matches(':').parse().ok())
}

/// The transform from a CRS as tables name it to lon/lat; `None` when it is lon/lat already or names
/// no EPSG code (then coordinates are drawn as they are).
pub fn to_lon_lat(crs: Option<&str>) -> Result<Option<CrsTransform>, CrsError> {
    match crs.and_then(epsg_code) {
        None | Some(4326) => Ok(None),
        Some(code) => CrsTransform::new(code, 4326).map(Some),
    }
}

fn projection(code: u32) -> Result<Proj, CrsError> {
    let short = u16::try_from(code)
        .map_err(|_| CrsError::UnknownEpsg { code, detail: "code out of range".to_owned() })?;
    Proj::from_epsg_code(short).map_err(|e| CrsError::UnknownEpsg { code, detail: e.to_string() })
}

/// Transforms points between two EPSG codes. Geographic CRSs take and give degrees (lon, lat).
pub struct CrsTransform {
    from_code: u32,
    to_code: u32,
    from: Proj,
    to: Proj,
}

impl CrsTransform {
    pub fn new(from_code: u32, to_code: u32) -> Result<Self, CrsError> {
        Ok(Self { from_code, to_code, from: projection(from_code)?, to: projection(to_code)? })
    }

    /// Transform one point.
    pub fn point(&self, x: f64, y: f64) -> Result<(f64, f64), CrsError> {
        let mut point = if self.from.is_latlong() {
            XyPoint { x: x.to_radians(), y: y.to_radians() }
        } else {
            XyPoint { x, y }
        };
        transform(&self.from, &self.to, &mut point).map_err(|e| CrsError::Transform {
            x,
            y,
            from: self.from_code,
            to: self.to_code,
            detail: e.to_string(),
        })?;
        if self.to.is_latlong() {
            Ok((point.x.to_degrees(), point.y.to_degrees()))
        } else {
            Ok((point.x, point.y))
        }
    }

    /// Transform every coordinate of a geometry.
    pub fn geometry(&self, geometry: &geo::Geometry<f64>) -> Result<geo::Geometry<f64>, CrsError> {
        use geo::MapCoords;
        geometry.try_map_coords(|c| self.point(c.x, c.y).map(|(x, y)| geo::coord! { x: x, y: y }))
    }

    /// Transform the outline of a rectangle (densified, `steps` points per side) and return its bbox.
    pub fn bbox(&self, bbox: [f64; 4], steps: usize) -> Result<[f64; 4], CrsError> {
        let ring = self.rectangle_ring(bbox, steps)?;
        let mut out = [f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY];
        for (x, y) in ring {
            out = [out[0].min(x), out[1].min(y), out[2].max(x), out[3].max(y)];
        }
        Ok(out)
    }

    /// The rectangle's outline (closed ring, densified) in the target CRS.
    pub fn rectangle_ring(&self, [minx, miny, maxx, maxy]: [f64; 4], steps: usize) -> Result<Vec<(f64, f64)>, CrsError> {
        let steps = steps.max(1);
        let mut ring = Vec::with_capacity(4 * steps + 1);
        let lerp = |a: f64, b: f64, t: usize| a + (b - a) * t as f64 / steps as f64;
        for t in 0..steps {
            ring.push(self.point(lerp(minx, maxx, t), maxy)?);
        }
        for t in 0..steps {
            ring.push(self.point(maxx, lerp(maxy, miny, t))?);
        }
        for t in 0..steps {
            ring.push(self.point(lerp(maxx, minx, t), miny)?);
        }
        for t in 0..steps {
            ring.push(self.point(minx, lerp(miny, maxy, t))?);
        }
        if let Some(first) = ring.first().copied() {
            ring.push(first);
        }
        Ok(ring)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utm_31n_round_trips_through_lon_lat() {
        let to_lonlat = CrsTransform::new(32631, 4326).unwrap();
        // A point near Leiden: x=600000 is 100 km east of the zone's central meridian (3°E).
        let (lon, lat) = to_lonlat.point(600_000.0, 5_780_000.0).unwrap();
        assert!((4.4..4.5).contains(&lon) && (52.1..52.2).contains(&lat), "{lon} {lat}");
        let back = CrsTransform::new(4326, 32631).unwrap();
        let (x, y) = back.point(lon, lat).unwrap();
        assert!((x - 600_000.0).abs() < 0.01 && (y - 5_780_000.0).abs() < 0.01, "{x} {y}");
    }

    #[test]
    fn crs_names_give_epsg_codes() {
        assert_eq!(epsg_code("OGC:CRS84"), Some(4326));
        assert_eq!(epsg_code("EPSG:28992"), Some(28992));
        assert_eq!(epsg_code("epsg:32631"), Some(32631));
        assert_eq!(epsg_code("PROJJSON (no id)"), None);
    }

    #[test]
    fn unknown_code_is_a_clear_error() {
        let err = CrsTransform::new(999_999, 4326).err().unwrap();
        assert!(err.to_string().contains("EPSG:999999"));
    }
}
