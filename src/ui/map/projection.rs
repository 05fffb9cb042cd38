//! Web Mercator helpers shared by the map's layers: a "world" space normalized to `[0, 1]²`
//! (x east from the antimeridian, y south from ~85.05°N), the per-frame affine transform from
//! world space to screen points, viewport culling and fitting a bbox into the viewport.
//!
//! Everything stays in `f64` until the final screen point, so that high zoom levels (where the
//! world is ~10⁸ px wide) do not jitter.

use egui::{Pos2, Rect, Vec2, pos2};
use walkers::{Projector, lon_lat};

/// Latitude where Web Mercator's square world ends (`atan(sinh(π))`).
pub const MAX_LATITUDE: f64 = 85.051_128_779_806_59;

/// Size in points of the whole world at zoom 0 (one 256 px tile).
pub const TILE_SIZE: f64 = 256.0;

/// Highest zoom the map allows when fitting a bbox (OSM tiles stop at 19).
pub const MAX_FIT_ZOOM: f64 = 19.0;

/// Lon/lat (degrees) to normalized world coordinates `[0, 1]²`; latitude is clamped to the
/// Mercator limit.
pub fn lon_lat_to_world(lon: f64, lat: f64) -> [f64; 2] {
    let lat = lat.clamp(-MAX_LATITUDE, MAX_LATITUDE).to_radians();
    let x = (lon + 180.0) / 360.0;
    let y = (1.0 - lat.tan().asinh() / std::f64::consts::PI) / 2.0;
    [x, y]
}

/// Normalized world coordinates back to lon/lat degrees.
pub fn world_to_lon_lat(world: [f64; 2]) -> (f64, f64) {
    let lon = world[0] * 360.0 - 180.0;
    let lat = ((1.0 - 2.0 * world[1]) * std::f64::consts::PI)
        .sinh()
        .atan()
        .to_degrees();
    (lon, lat)
}

/// An axis-aligned box in world (or lon/lat) coordinates: `[min_x, min_y, max_x, max_y]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BBox {
    /// Smallest x.
    pub min_x: f64,
    /// Smallest y.
    pub min_y: f64,
    /// Largest x.
    pub max_x: f64,
    /// Largest y.
    pub max_y: f64,
}

impl BBox {
    /// A box that contains nothing; extend it with [`BBox::include`].
    pub const EMPTY: BBox = BBox {
        min_x: f64::INFINITY,
        min_y: f64::INFINITY,
        max_x: f64::NEG_INFINITY,
        max_y: f64::NEG_INFINITY,
    };

    /// Grow to contain the point.
    pub fn include(&mut self, p: [f64; 2]) {
        self.min_x = self.min_x.min(p[0]);
        self.min_y = self.min_y.min(p[1]);
        self.max_x = self.max_x.max(p[0]);
        self.max_y = self.max_y.max(p[1]);
    }

    /// Grow to contain another box.
    pub fn union(&mut self, other: &BBox) {
        self.min_x = self.min_x.min(other.min_x);
        self.min_y = self.min_y.min(other.min_y);
        self.max_x = self.max_x.max(other.max_x);
        self.max_y = self.max_y.max(other.max_y);
    }

    /// The smallest box containing all points.
    pub fn of_points(points: impl IntoIterator<Item = [f64; 2]>) -> BBox {
        let mut bbox = BBox::EMPTY;
        for p in points {
            bbox.include(p);
        }
        bbox
    }

    /// Whether nothing was ever included.
    pub fn is_empty(&self) -> bool {
        self.min_x > self.max_x || self.min_y > self.max_y
    }

    /// Whether the two boxes overlap (touching counts).
    pub fn intersects(&self, other: &BBox) -> bool {
        !self.is_empty()
            && !other.is_empty()
            && self.min_x <= other.max_x
            && other.min_x <= self.max_x
            && self.min_y <= other.max_y
            && other.min_y <= self.max_y
    }

    /// Whether the point lies inside (edges included).
    pub fn contains(&self, p: [f64; 2]) -> bool {
        p[0] >= self.min_x && p[0] <= self.max_x && p[1] >= self.min_y && p[1] <= self.max_y
    }

    /// Width along x.
    pub fn width(&self) -> f64 {
        self.max_x - self.min_x
    }

    /// Height along y.
    pub fn height(&self) -> f64 {
        self.max_y - self.min_y
    }

    /// The box grown by `margin` on every side.
    pub fn expanded(&self, margin: f64) -> BBox {
        BBox {
            min_x: self.min_x - margin,
            min_y: self.min_y - margin,
            max_x: self.max_x + margin,
            max_y: self.max_y + margin,
        }
    }
}

/// Affine transform from world coordinates to screen points for one frame:
/// `screen = clip_center + (world - center_world) * world_size`.
#[derive(Debug, Clone, Copy)]
pub struct WorldToScreen {
    /// Map center in world coordinates.
    pub center_world: [f64; 2],
    /// Screen point of the map center.
    pub screen_center: Pos2,
    /// Size of the whole world in points at the current zoom (`256 · 2^zoom`).
    pub world_size: f64,
    /// The map's rect on screen.
    pub clip_rect: Rect,
}

impl WorldToScreen {
    /// For a map showing `center` (lon/lat) at `zoom` in `clip_rect`.
    pub fn new(clip_rect: Rect, center_lon: f64, center_lat: f64, zoom: f64) -> Self {
        Self {
            center_world: lon_lat_to_world(center_lon, center_lat),
            screen_center: clip_rect.center(),
            world_size: TILE_SIZE * 2f64.powf(zoom),
            clip_rect,
        }
    }

    /// Matching walkers' projector for the current frame.
    pub fn from_projector(projector: &Projector) -> Self {
        let clip_rect = projector.clip_rect();
        let center = projector.unproject(clip_rect.center().to_vec2());
        Self::new(clip_rect, center.x(), center.y(), projector.zoom())
    }

    /// Current zoom level.
    pub fn zoom(&self) -> f64 {
        (self.world_size / TILE_SIZE).log2()
    }

    /// World coordinates to a screen point.
    #[inline]
    pub fn to_screen(&self, world: [f64; 2]) -> Pos2 {
        pos2(
            (self.screen_center.x as f64 + (world[0] - self.center_world[0]) * self.world_size)
                as f32,
            (self.screen_center.y as f64 + (world[1] - self.center_world[1]) * self.world_size)
                as f32,
        )
    }

    /// Lon/lat to a screen point.
    #[inline]
    pub fn lon_lat_to_screen(&self, lon: f64, lat: f64) -> Pos2 {
        self.to_screen(lon_lat_to_world(lon, lat))
    }

    /// Screen point to world coordinates.
    pub fn to_world(&self, screen: Pos2) -> [f64; 2] {
        [
            self.center_world[0]
                + (screen.x as f64 - self.screen_center.x as f64) / self.world_size,
            self.center_world[1]
                + (screen.y as f64 - self.screen_center.y as f64) / self.world_size,
        ]
    }

    /// Screen point to lon/lat degrees.
    pub fn screen_to_lon_lat(&self, screen: Pos2) -> (f64, f64) {
        world_to_lon_lat(self.to_world(screen))
    }

    /// The visible part of the world (in world coordinates), grown by `margin_points`.
    pub fn visible_world(&self, margin_points: f32) -> BBox {
        let rect = self.clip_rect.expand(margin_points);
        let a = self.to_world(rect.min);
        let b = self.to_world(rect.max);
        BBox {
            min_x: a[0].min(b[0]),
            min_y: a[1].min(b[1]),
            max_x: a[0].max(b[0]),
            max_y: a[1].max(b[1]),
        }
    }

    /// One world unit in points: world distances times this are screen distances.
    pub fn points_per_world(&self) -> f64 {
        self.world_size
    }
}

/// Center (lon, lat) and zoom that fit the lon/lat bbox `[min_lon, min_lat, max_lon, max_lat]`
/// into a viewport of `viewport` points, leaving `padding` points around it.
pub fn fit_bbox(bbox: [f64; 4], viewport: Vec2, padding: f32) -> ((f64, f64), f64) {
    let [min_lon, min_lat, max_lon, max_lat] = bbox;
    let a = lon_lat_to_world(min_lon, max_lat);
    let b = lon_lat_to_world(max_lon, min_lat);
    let center_world = [(a[0] + b[0]) / 2.0, (a[1] + b[1]) / 2.0];
    let width = ((viewport.x - 2.0 * padding).max(16.0)) as f64;
    let height = ((viewport.y - 2.0 * padding).max(16.0)) as f64;
    let dx = (b[0] - a[0]).abs();
    let dy = (b[1] - a[1]).abs();
    // World size (points) needed so that the bbox fits: world_size * dx <= width.
    let needed = match (dx > 0.0, dy > 0.0) {
        (true, true) => (width / dx).min(height / dy),
        (true, false) => width / dx,
        (false, true) => height / dy,
        (false, false) => f64::INFINITY,
    };
    let zoom = if needed.is_finite() {
        (needed / TILE_SIZE).log2().clamp(0.0, MAX_FIT_ZOOM)
    } else {
        // A single point: zoom in close, but not absurdly.
        16.0
    };
    (world_to_lon_lat(center_world), zoom)
}

/// Whether the lon/lat bbox `[min_lon, min_lat, max_lon, max_lat]` is well formed.
pub fn valid_lon_lat_bbox(bbox: [f64; 4]) -> bool {
    bbox.iter().all(|v| v.is_finite()) && bbox[0] <= bbox[2] && bbox[1] <= bbox[3]
}

/// Walkers position from lon/lat.
pub fn position(lon: f64, lat: f64) -> walkers::Position {
    lon_lat(lon, lat)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, eps: f64) -> bool {
        (a - b).abs() < eps
    }

    #[test]
    fn world_round_trip() {
        for (lon, lat) in [(0.0, 0.0), (4.9, 52.37), (-170.0, -60.0), (179.9, 84.0)] {
            let w = lon_lat_to_world(lon, lat);
            assert!((0.0..=1.0).contains(&w[0]) && (0.0..=1.0).contains(&w[1]));
            let (lon2, lat2) = world_to_lon_lat(w);
            assert!(close(lon, lon2, 1e-9) && close(lat, lat2, 1e-9));
        }
        let corner = lon_lat_to_world(-180.0, MAX_LATITUDE);
        assert!(close(corner[0], 0.0, 1e-12) && close(corner[1], 0.0, 1e-12));
        let pole = lon_lat_to_world(0.0, -90.0);
        assert!(close(pole[1], 1.0, 1e-12), "clamped to the Mercator edge");
    }

    #[test]
    fn screen_transform_matches_walkers() {
        let rect = Rect::from_min_size(pos2(10.0, 20.0), Vec2::new(800.0, 600.0));
        let mut memory = walkers::MapMemory::default();
        memory.set_zoom(7.5).unwrap();
        memory.center_at(lon_lat(4.9, 52.37));
        let projector = Projector::new(
            rect,
            &walkers::MercatorProjection,
            &memory,
            lon_lat(0.0, 0.0),
        );
        let t = WorldToScreen::from_projector(&projector);
        assert!(close(t.zoom(), 7.5, 1e-9));
        for (lon, lat) in [(4.9, 52.37), (6.0, 53.0), (3.0, 51.0)] {
            let ours = t.lon_lat_to_screen(lon, lat);
            let theirs = projector.project(lon_lat(lon, lat)).to_pos2();
            assert!(ours.distance(theirs) < 0.05, "{ours:?} vs {theirs:?}");
            let (lon2, lat2) = t.screen_to_lon_lat(ours);
            assert!(close(lon, lon2, 1e-4) && close(lat, lat2, 1e-4));
        }
    }

    #[test]
    fn culling_by_visible_world() {
        let rect = Rect::from_min_size(Pos2::ZERO, Vec2::new(512.0, 512.0));
        let t = WorldToScreen::new(rect, 0.0, 0.0, 1.0);
        // At zoom 1 the world is 512 points wide: all of it is visible.
        let visible = t.visible_world(0.0);
        assert!(close(visible.min_x, 0.0, 1e-9) && close(visible.max_x, 1.0, 1e-9));
        let t = WorldToScreen::new(rect, 4.9, 52.37, 8.0);
        let visible = t.visible_world(0.0);
        let amsterdam = BBox::of_points([lon_lat_to_world(4.8, 52.3), lon_lat_to_world(5.0, 52.4)]);
        let sydney = BBox::of_points([
            lon_lat_to_world(151.0, -34.0),
            lon_lat_to_world(151.3, -33.8),
        ]);
        assert!(visible.intersects(&amsterdam));
        assert!(!visible.intersects(&sydney));
        assert!(!BBox::EMPTY.intersects(&visible));
    }

    #[test]
    fn fitting_a_bbox() {
        let viewport = Vec2::new(800.0, 600.0);
        let bbox = [4.0, 52.0, 6.0, 53.0];
        let ((lon, lat), zoom) = fit_bbox(bbox, viewport, 0.0);
        assert!(close(lon, 5.0, 1e-9));
        assert!(lat > 52.0 && lat < 53.0);
        // The bbox must fit, and one zoom level more must not.
        let rect = Rect::from_min_size(Pos2::ZERO, viewport);
        let t = WorldToScreen::new(rect, lon, lat, zoom);
        let a = t.lon_lat_to_screen(4.0, 53.0);
        let b = t.lon_lat_to_screen(6.0, 52.0);
        assert!(rect.expand(0.5).contains(a) && rect.expand(0.5).contains(b));
        let tighter = WorldToScreen::new(rect, lon, lat, zoom + 1.0);
        let a = tighter.lon_lat_to_screen(4.0, 53.0);
        assert!(!rect.contains(a));
        // Degenerate bboxes still give something sensible.
        let ((lon, _), zoom) = fit_bbox([4.9, 52.37, 4.9, 52.37], viewport, 20.0);
        assert!(close(lon, 4.9, 1e-9) && zoom == 16.0);
        let (_, zoom) = fit_bbox([-180.0, -85.0, 180.0, 85.0], viewport, 0.0);
        assert!(zoom >= 0.0 && zoom < 2.0);
    }
}
