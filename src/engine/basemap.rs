//! The shipped vector basemap: Natural Earth land and country borders, so that the map shows
//! the world even without internet access (when HTTP tiles cannot load).
//!
//! The data comes from the npm package `world-atlas` 2.0.2 (ISC; the geometry is Natural Earth,
//! public domain; see `assets/licenses/world-atlas.txt`). It is TopoJSON, embedded in the binary
//! and decoded here, once, on first use. TopoJSON stores shared borders once as *arcs*:
//! delta-encoded, quantized coordinates that a `transform` maps back to degrees; polygons refer
//! to arcs by index (a negative index `!i` means arc `i` reversed).

use std::collections::HashMap;
use std::sync::OnceLock;

use ::geo::{Contains, Coord, LineString, MultiPolygon, Point, Polygon, Rect};
use serde::Deserialize;

/// The 1:50m TopoJSON (countries and merged land), embedded.
const COUNTRIES_50M: &[u8] = include_bytes!("../../assets/basemap/countries-50m.json");
/// The 1:110m TopoJSON (countries and merged land), embedded; for low zoom levels.
const COUNTRIES_110M: &[u8] = include_bytes!("../../assets/basemap/countries-110m.json");

/// Attribution to show wherever the shipped basemap is drawn.
pub const BASEMAP_ATTRIBUTION: &str = "Natural Earth (public domain), via world-atlas";

/// Licence and attribution text of the shipped basemap data.
pub const BASEMAP_LICENSE: &str = include_str!("../../assets/licenses/world-atlas.txt");

/// Why the shipped basemap could not be decoded.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BasemapError {
    /// The embedded file is not valid TopoJSON.
    #[error("the shipped basemap is not valid TopoJSON: {0}")]
    Json(String),
    /// The TopoJSON lacks an object the basemap needs.
    #[error("the shipped basemap has no `{0}` object")]
    MissingObject(&'static str),
    /// A geometry refers to an arc that does not exist.
    #[error("the shipped basemap refers to arc {0}, which does not exist")]
    BadArc(i64),
}

/// Level of detail of the shipped basemap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BasemapScale {
    /// Natural Earth 1:50m, ~80k vertices; good up to zoom ~8.
    Medium50m,
    /// Natural Earth 1:110m, ~8k vertices; good for the whole world.
    Small110m,
}

/// One country of the basemap.
#[derive(Debug, Clone)]
pub struct Country {
    /// Country name, e.g. `"Netherlands"`.
    pub name: String,
    /// ISO 3166-1 numeric code, e.g. `"528"`, when Natural Earth has one.
    pub id: Option<String>,
    /// Outline in lon/lat degrees.
    pub geometry: MultiPolygon<f64>,
}

/// The decoded basemap, all in lon/lat degrees (WGS 84).
#[derive(Debug, Clone)]
pub struct Basemap {
    /// Which Natural Earth scale this is.
    pub scale: BasemapScale,
    /// Land polygons (countries merged), for filling.
    pub land: Vec<Polygon<f64>>,
    /// Countries with their names.
    pub countries: Vec<Country>,
    /// Borders between two countries (arcs shared by two different countries).
    pub borders: Vec<LineString<f64>>,
    /// Coastlines (arcs used by a single country), without the artificial edges at the
    /// antimeridian and the south pole.
    pub coastlines: Vec<LineString<f64>>,
}

impl Basemap {
    /// Whether the lon/lat point lies on land.
    pub fn is_land(&self, lon: f64, lat: f64) -> bool {
        let point = Point::new(lon, lat);
        self.land.iter().any(|polygon| polygon.contains(&point))
    }

    /// The country containing the lon/lat point, if any.
    pub fn country_at(&self, lon: f64, lat: f64) -> Option<&Country> {
        let point = Point::new(lon, lat);
        self.countries
            .iter()
            .find(|country| country.geometry.contains(&point))
    }

    /// Bounding box of everything in the basemap.
    pub fn bounds(&self) -> Option<Rect<f64>> {
        use ::geo::BoundingRect;
        let mut all: Option<Rect<f64>> = None;
        for polygon in &self.land {
            if let Some(rect) = polygon.bounding_rect() {
                all = Some(match all {
                    None => rect,
                    Some(acc) => union(acc, rect),
                });
            }
        }
        all
    }
}

fn union(a: Rect<f64>, b: Rect<f64>) -> Rect<f64> {
    Rect::new(
        Coord {
            x: a.min().x.min(b.min().x),
            y: a.min().y.min(b.min().y),
        },
        Coord {
            x: a.max().x.max(b.max().x),
            y: a.max().y.max(b.max().y),
        },
    )
}

/// The shipped 1:50m basemap, decoded on first use and cached for the life of the process.
pub fn shipped_basemap() -> Result<&'static Basemap, BasemapError> {
    shipped_basemap_at(BasemapScale::Medium50m)
}

/// The shipped basemap at the given scale, decoded on first use and cached.
///
/// Decoding takes some tens of milliseconds (more in debug builds); call it off the UI thread
/// the first time.
pub fn shipped_basemap_at(scale: BasemapScale) -> Result<&'static Basemap, BasemapError> {
    static MEDIUM: OnceLock<Result<Basemap, BasemapError>> = OnceLock::new();
    static SMALL: OnceLock<Result<Basemap, BasemapError>> = OnceLock::new();
    let (cell, bytes) = match scale {
        BasemapScale::Medium50m => (&MEDIUM, COUNTRIES_50M),
        BasemapScale::Small110m => (&SMALL, COUNTRIES_110M),
    };
    cell.get_or_init(|| decode_world_atlas(bytes, scale))
        .as_ref()
        .map_err(Clone::clone)
}

// ---------------------------------------------------------------------------------------------
// TopoJSON

#[derive(Deserialize)]
struct Topology {
    #[serde(default)]
    transform: Option<Transform>,
    objects: HashMap<String, TopoGeometry>,
    arcs: Vec<Vec<Vec<f64>>>,
}

#[derive(Deserialize, Clone, Copy)]
struct Transform {
    scale: [f64; 2],
    translate: [f64; 2],
}

#[derive(Deserialize)]
#[serde(tag = "type")]
enum TopoGeometry {
    GeometryCollection {
        geometries: Vec<TopoGeometry>,
    },
    Polygon {
        arcs: Vec<Vec<i64>>,
        #[serde(default)]
        id: Option<serde_json::Value>,
        #[serde(default)]
        properties: Option<serde_json::Map<String, serde_json::Value>>,
    },
    MultiPolygon {
        arcs: Vec<Vec<Vec<i64>>>,
        #[serde(default)]
        id: Option<serde_json::Value>,
        #[serde(default)]
        properties: Option<serde_json::Map<String, serde_json::Value>>,
    },
    #[serde(other)]
    Other,
}

/// Decode a TopoJSON `Topology` from `world-atlas` (objects `land` and `countries`).
fn decode_world_atlas(bytes: &[u8], scale: BasemapScale) -> Result<Basemap, BasemapError> {
    let topology: Topology =
        serde_json::from_slice(bytes).map_err(|e| BasemapError::Json(e.to_string()))?;
    let arcs = decode_arcs(&topology.arcs, topology.transform);

    let land_object = topology
        .objects
        .get("land")
        .ok_or(BasemapError::MissingObject("land"))?;
    let mut land = Vec::new();
    for_each_polygon(land_object, &mut |rings| {
        land.push(polygon_from_rings(&arcs, rings)?);
        Ok(())
    })?;

    let countries_object = topology
        .objects
        .get("countries")
        .ok_or(BasemapError::MissingObject("countries"))?;
    let country_geometries: &[TopoGeometry] = match countries_object {
        TopoGeometry::GeometryCollection { geometries } => geometries,
        other => std::slice::from_ref(other),
    };
    let mut countries: Vec<Country> = Vec::new();
    // How many distinct countries use each arc: 1 means coastline, 2 means border.
    let mut arc_users: Vec<u32> = vec![0; arcs.len()];
    for geometry in country_geometries {
        let (polygons, id, properties): (Vec<&[Vec<i64>]>, _, _) = match geometry {
            TopoGeometry::Polygon {
                arcs,
                id,
                properties,
            } => (vec![arcs.as_slice()], id, properties),
            TopoGeometry::MultiPolygon {
                arcs,
                id,
                properties,
            } => (arcs.iter().map(Vec::as_slice).collect(), id, properties),
            _ => continue,
        };
        let mut used: Vec<usize> = polygons.iter().flat_map(|rings| arcs_of(rings)).collect();
        used.sort_unstable();
        used.dedup();
        for arc in used {
            if let Some(count) = arc_users.get_mut(arc) {
                *count += 1;
            }
        }
        let geometry = polygons
            .iter()
            .map(|rings| polygon_from_rings(&arcs, rings))
            .collect::<Result<Vec<_>, _>>()?;
        let name = properties
            .as_ref()
            .and_then(|p| p.get("name"))
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string();
        let id = id.as_ref().and_then(|v| match v {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            _ => None,
        });
        countries.push(Country {
            name,
            id,
            geometry: MultiPolygon::new(geometry),
        });
    }

    let mut borders = Vec::new();
    let mut coastlines = Vec::new();
    for (arc, users) in arcs.iter().zip(&arc_users) {
        if arc.len() < 2 {
            continue;
        }
        match users {
            0 => {}
            1 => {
                if !is_artificial_edge(arc) {
                    coastlines.push(LineString::from(arc.clone()));
                }
            }
            _ => borders.push(LineString::from(arc.clone())),
        }
    }

    Ok(Basemap {
        scale,
        land,
        countries,
        borders,
        coastlines,
    })
}

fn arcs_of(rings: &[Vec<i64>]) -> impl Iterator<Item = usize> + '_ {
    rings.iter().flatten().map(|&i| arc_index(i))
}

/// Index into the arcs array of a (possibly reversed, `!i`) arc reference.
fn arc_index(reference: i64) -> usize {
    if reference < 0 {
        (!reference) as usize
    } else {
        reference as usize
    }
}

/// Call `f` for each polygon (its rings of arc references) in `object`.
fn for_each_polygon<'a>(
    object: &'a TopoGeometry,
    f: &mut dyn FnMut(&'a [Vec<i64>]) -> Result<(), BasemapError>,
) -> Result<(), BasemapError> {
    match object {
        TopoGeometry::GeometryCollection { geometries } => {
            for geometry in geometries {
                for_each_polygon(geometry, f)?;
            }
        }
        TopoGeometry::Polygon { arcs, .. } => f(arcs)?,
        TopoGeometry::MultiPolygon { arcs, .. } => {
            for polygon in arcs {
                f(polygon)?;
            }
        }
        TopoGeometry::Other => {}
    }
    Ok(())
}

/// Undo delta encoding and quantization: absolute lon/lat coordinates per arc.
fn decode_arcs(arcs: &[Vec<Vec<f64>>], transform: Option<Transform>) -> Vec<Vec<Coord<f64>>> {
    arcs.iter()
        .map(|arc| {
            let mut x = 0.0;
            let mut y = 0.0;
            arc.iter()
                .filter(|position| position.len() >= 2)
                .map(|position| match transform {
                    Some(t) => {
                        x += position[0];
                        y += position[1];
                        Coord {
                            x: x * t.scale[0] + t.translate[0],
                            y: y * t.scale[1] + t.translate[1],
                        }
                    }
                    None => Coord {
                        x: position[0],
                        y: position[1],
                    },
                })
                .collect()
        })
        .collect()
}

/// Stitch a ring from arc references: consecutive arcs share their joint point, so it is
/// dropped from all but the first.
fn ring_from_arcs(
    arcs: &[Vec<Coord<f64>>],
    references: &[i64],
) -> Result<LineString<f64>, BasemapError> {
    let mut coords: Vec<Coord<f64>> = Vec::new();
    for &reference in references {
        let arc = arcs
            .get(arc_index(reference))
            .ok_or(BasemapError::BadArc(reference))?;
        let skip = usize::from(!coords.is_empty());
        if reference < 0 {
            coords.extend(arc.iter().rev().skip(skip));
        } else {
            coords.extend(arc.iter().skip(skip));
        }
    }
    Ok(LineString::from(coords))
}

fn polygon_from_rings(
    arcs: &[Vec<Coord<f64>>],
    rings: &[Vec<i64>],
) -> Result<Polygon<f64>, BasemapError> {
    let mut rings = rings.iter().map(|ring| ring_from_arcs(arcs, ring));
    let exterior = match rings.next() {
        Some(ring) => ring?,
        None => LineString::new(Vec::new()),
    };
    let interiors = rings.collect::<Result<Vec<_>, _>>()?;
    Ok(Polygon::new(exterior, interiors))
}

/// Natural Earth cuts polygons at the antimeridian and closes Antarctica along the south pole;
/// those edges are not coastline.
fn is_artificial_edge(arc: &[Coord<f64>]) -> bool {
    arc.iter().all(|c| c.x.abs() >= 179.999) || arc.iter().all(|c| c.y <= -89.9)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_50m_basemap() {
        let basemap = shipped_basemap().unwrap();
        assert_eq!(basemap.scale, BasemapScale::Medium50m);
        assert!(
            basemap.countries.len() > 100,
            "{} countries",
            basemap.countries.len()
        );
        assert!(
            basemap.land.len() > 100,
            "{} land polygons",
            basemap.land.len()
        );
        assert!(!basemap.borders.is_empty());
        assert!(!basemap.coastlines.is_empty());
        let bounds = basemap.bounds().unwrap();
        assert!(bounds.min().x >= -180.0 && bounds.max().x <= 180.0);
        assert!(bounds.min().y >= -90.0 && bounds.max().y <= 90.0);
    }

    #[test]
    fn amsterdam_is_land_and_the_north_sea_is_not() {
        let basemap = shipped_basemap().unwrap();
        assert!(basemap.is_land(4.9, 52.37));
        assert!(!basemap.is_land(3.0, 54.0));
        let country = basemap.country_at(4.9, 52.37).unwrap();
        assert_eq!(country.name, "Netherlands");
        assert_eq!(country.id.as_deref(), Some("528"));
        assert!(basemap.country_at(3.0, 54.0).is_none());
    }

    #[test]
    fn decodes_the_110m_basemap() {
        let basemap = shipped_basemap_at(BasemapScale::Small110m).unwrap();
        assert!(basemap.countries.len() > 100);
        assert!(basemap.is_land(10.0, 50.0));
        assert!(!basemap.is_land(-30.0, 30.0));
    }

    #[test]
    fn arcs_are_delta_decoded_and_stitched() {
        let transform = Some(Transform {
            scale: [0.5, 2.0],
            translate: [10.0, 20.0],
        });
        let arcs = decode_arcs(
            &[
                vec![vec![0.0, 0.0], vec![2.0, 0.0], vec![0.0, 1.0]],
                vec![vec![2.0, 1.0], vec![-2.0, 0.0], vec![0.0, -1.0]],
            ],
            transform,
        );
        assert_eq!(arcs[0][2], Coord { x: 11.0, y: 22.0 });
        let ring = ring_from_arcs(&arcs, &[0, 1]).unwrap();
        assert_eq!(ring.0.len(), 5);
        assert_eq!(ring.0.first(), ring.0.last());
        let reversed = ring_from_arcs(&arcs, &[!1]).unwrap();
        assert_eq!(reversed.0[0], Coord { x: 10.0, y: 20.0 });
        assert!(matches!(
            ring_from_arcs(&arcs, &[7]),
            Err(BasemapError::BadArc(7))
        ));
    }
}
