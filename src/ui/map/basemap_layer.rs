//! The shipped vector basemap (Natural Earth land, coastlines, borders) as a walkers plugin that
//! paints *below* the HTTP tiles.
//!
//! Walkers draws its tile layers before any plugin, so a plugin cannot paint under them on its
//! own. Instead the panel reserves a shape slot (`Painter::add(Shape::Noop)`) before the map
//! widget paints its tiles, and [`BasemapPlugin`] later fills that slot; egui paints shapes in
//! slot order, so the basemap ends up underneath tiles that did load (offline, none do, and the
//! basemap is all one sees).
//!
//! Speed: the geometry is projected to normalized Web Mercator and triangulated once, on a
//! background thread, in three levels of detail (1:110m below zoom 3, 1:50m simplified to
//! ~0.4 px up to zoom 5, full 1:50m above). Fills are cut into a 32×32 grid of chunks and lines
//! into pieces of at most 128 points, each with a bbox, so a frame only transforms what is in
//! view: one affine transform per vertex into a single mesh.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use egui::epaint::{Vertex, WHITE_UV};
use egui::{Color32, Mesh, Response, Shape, Stroke, Ui, layers::ShapeIdx};
use geo::{LineString, Polygon, Simplify, TriangulateEarcut};
use walkers::{MapMemory, Plugin, Projector};

use super::projection::{BBox, WorldToScreen, lon_lat_to_world};
use crate::engine::basemap::{Basemap, BasemapScale, shipped_basemap_at};

/// Grid cells per side used to chunk the land fill.
const GRID: f64 = 32.0;
/// Maximum points per line piece.
const PIECE_POINTS: usize = 128;

/// Colors of the basemap, for the light or the dark theme.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BasemapColors {
    /// Water, painted over the whole map first.
    pub sea: Color32,
    /// Land fill.
    pub land: Color32,
    /// Coastline stroke.
    pub coast: Color32,
    /// Country border stroke.
    pub border: Color32,
}

impl BasemapColors {
    /// Colors fitting the current egui theme.
    pub fn for_dark_mode(dark_mode: bool) -> Self {
        if dark_mode {
            Self {
                sea: Color32::from_rgb(0x1a, 0x22, 0x2c),
                land: Color32::from_rgb(0x30, 0x34, 0x38),
                coast: Color32::from_rgb(0x55, 0x60, 0x6a),
                border: Color32::from_rgb(0x6a, 0x70, 0x78),
            }
        } else {
            Self {
                sea: Color32::from_rgb(0xcd, 0xdf, 0xec),
                land: Color32::from_rgb(0xf3, 0xf0, 0xe8),
                coast: Color32::from_rgb(0x8f, 0xa8, 0xbc),
                border: Color32::from_rgb(0xa8, 0x9c, 0x90),
            }
        }
    }
}

/// A triangulated piece of land in world coordinates.
struct FillChunk {
    bbox: BBox,
    vertices: Vec<[f64; 2]>,
    indices: Vec<u32>,
}

/// A piece of a polyline in world coordinates.
struct LinePiece {
    bbox: BBox,
    points: Vec<[f64; 2]>,
}

/// One level of detail.
struct Level {
    /// Used from this zoom level up (until the next level's).
    min_zoom: f64,
    fills: Vec<FillChunk>,
    coastlines: Vec<LinePiece>,
    borders: Vec<LinePiece>,
}

/// The basemap prepared for drawing: projected, simplified, triangulated and chunked.
pub struct BasemapGeometry {
    levels: Vec<Level>,
}

/// How much was painted in one frame (for tests and the frame-time notes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PaintStats {
    /// Fill chunks that passed the viewport cull.
    pub chunks: usize,
    /// Vertices put into the fill mesh.
    pub vertices: usize,
    /// Line pieces that passed the viewport cull.
    pub lines: usize,
}

impl BasemapGeometry {
    /// Build from the shipped Natural Earth data. CPU heavy (tens to hundreds of ms): run it off
    /// the UI thread.
    pub fn build() -> Result<Self, String> {
        let small = shipped_basemap_at(BasemapScale::Small110m).map_err(|e| e.to_string())?;
        let medium = shipped_basemap_at(BasemapScale::Medium50m).map_err(|e| e.to_string())?;
        Ok(Self {
            levels: vec![
                build_level(small, 0.0, None),
                build_level(medium, 3.0, Some(0.4 / (256.0 * 16.0))),
                build_level(medium, 5.0, None),
            ],
        })
    }

    fn level_for(&self, zoom: f64) -> Option<&Level> {
        self.levels
            .iter()
            .rev()
            .find(|level| zoom >= level.min_zoom)
    }

    /// Shapes drawing the basemap in the map's rect, culled to the viewport.
    pub fn shapes(&self, t: &WorldToScreen, colors: BasemapColors) -> (Vec<Shape>, PaintStats) {
        let mut stats = PaintStats::default();
        let mut shapes = vec![Shape::rect_filled(t.clip_rect, 0.0, colors.sea)];
        let Some(level) = self.level_for(t.zoom()) else {
            return (shapes, stats);
        };
        let visible = t.visible_world(4.0);

        let mut mesh = Mesh::default();
        for chunk in level.fills.iter().filter(|c| c.bbox.intersects(&visible)) {
            stats.chunks += 1;
            let base = mesh.vertices.len() as u32;
            mesh.vertices.extend(chunk.vertices.iter().map(|&w| Vertex {
                pos: t.to_screen(w),
                uv: WHITE_UV,
                color: colors.land,
            }));
            mesh.indices.extend(chunk.indices.iter().map(|i| base + i));
        }
        stats.vertices = mesh.vertices.len();
        shapes.push(Shape::mesh(mesh));

        let zoom = t.zoom();
        let coast = Stroke::new(if zoom < 4.0 { 0.6 } else { 1.0 }, colors.coast);
        let border = Stroke::new(if zoom < 4.0 { 0.5 } else { 0.8 }, colors.border);
        for (pieces, stroke) in [(&level.coastlines, coast), (&level.borders, border)] {
            for piece in pieces.iter().filter(|p| p.bbox.intersects(&visible)) {
                stats.lines += 1;
                let points = piece.points.iter().map(|&w| t.to_screen(w)).collect();
                shapes.push(Shape::line(points, stroke));
            }
        }
        (shapes, stats)
    }
}

fn to_world_line(line: &LineString<f64>) -> LineString<f64> {
    line.0
        .iter()
        .map(|c| {
            let [x, y] = lon_lat_to_world(c.x, c.y);
            geo::Coord { x, y }
        })
        .collect()
}

fn to_world_polygon(polygon: &Polygon<f64>) -> Polygon<f64> {
    Polygon::new(
        to_world_line(polygon.exterior()),
        polygon.interiors().iter().map(to_world_line).collect(),
    )
}

fn build_level(basemap: &Basemap, min_zoom: f64, epsilon: Option<f64>) -> Level {
    // Triangles bucketed by the grid cell of their centroid.
    #[derive(Default)]
    struct ChunkBuilder {
        bbox: Option<BBox>,
        vertices: Vec<[f64; 2]>,
        indices: Vec<u32>,
        remap: HashMap<(u32, u32), u32>,
    }
    let mut cells: HashMap<(i32, i32), ChunkBuilder> = HashMap::new();

    for (polygon_index, polygon) in basemap.land.iter().enumerate() {
        let mut world = to_world_polygon(polygon);
        if let Some(epsilon) = epsilon {
            world = world.simplify(epsilon);
        }
        if world.exterior().0.len() < 4 {
            continue;
        }
        let raw = world.earcut_triangles_raw();
        for triangle in raw.triangle_indices.chunks_exact(3) {
            let corners = [
                raw.vertices[triangle[0]],
                raw.vertices[triangle[1]],
                raw.vertices[triangle[2]],
            ];
            let cx = (corners[0][0] + corners[1][0] + corners[2][0]) / 3.0;
            let cy = (corners[0][1] + corners[1][1] + corners[2][1]) / 3.0;
            let cell = ((cx * GRID).floor() as i32, (cy * GRID).floor() as i32);
            let builder = cells.entry(cell).or_default();
            for (&local, corner) in triangle.iter().zip(corners) {
                let key = (polygon_index as u32, local as u32);
                let next = builder.vertices.len() as u32;
                let index = *builder.remap.entry(key).or_insert(next);
                if index == next {
                    builder.vertices.push(corner);
                }
                builder.indices.push(index);
                builder.bbox.get_or_insert(BBox::EMPTY).include(corner);
            }
        }
    }

    let fills = cells
        .into_values()
        .filter_map(|b| {
            Some(FillChunk {
                bbox: b.bbox?,
                vertices: b.vertices,
                indices: b.indices,
            })
        })
        .collect();

    let pieces = |lines: &[LineString<f64>]| -> Vec<LinePiece> {
        let mut out = Vec::new();
        for line in lines {
            let mut world = to_world_line(line);
            if let Some(epsilon) = epsilon {
                world = world.simplify(epsilon);
            }
            let points: Vec<[f64; 2]> = world.0.iter().map(|c| [c.x, c.y]).collect();
            if points.len() < 2 {
                continue;
            }
            // Pieces overlap by one point so that they join up.
            let mut start = 0;
            while start + 1 < points.len() {
                let end = (start + PIECE_POINTS).min(points.len());
                let piece: Vec<[f64; 2]> = points[start..end].to_vec();
                out.push(LinePiece {
                    bbox: BBox::of_points(piece.iter().copied()),
                    points: piece,
                });
                start = end - 1;
            }
        }
        out
    };

    Level {
        min_zoom,
        fills,
        coastlines: pieces(&basemap.coastlines),
        borders: pieces(&basemap.borders),
    }
}

static GEOMETRY: OnceLock<Result<BasemapGeometry, String>> = OnceLock::new();
static STARTED: AtomicBool = AtomicBool::new(false);

/// State of the shared basemap geometry.
pub enum BasemapStatus {
    /// Being built on a background thread.
    Loading,
    /// Ready to draw.
    Ready(&'static BasemapGeometry),
    /// Could not be built (broken embedded data).
    Failed(&'static str),
}

/// The basemap geometry, starting its background build on the first call (which then asks
/// `ctx` for a repaint when done).
pub fn basemap_status(ctx: &egui::Context) -> BasemapStatus {
    if let Some(result) = GEOMETRY.get() {
        return match result {
            Ok(geometry) => BasemapStatus::Ready(geometry),
            Err(error) => BasemapStatus::Failed(error),
        };
    }
    if !STARTED.swap(true, Ordering::SeqCst) {
        let repaint = ctx.clone();
        let spawned = std::thread::Builder::new()
            .name("meshlake-basemap".into())
            .spawn(move || {
                let _ = GEOMETRY.get_or_init(BasemapGeometry::build);
                repaint.request_repaint();
            });
        if spawned.is_err() {
            // No thread to be had: build it here rather than never.
            let _ = GEOMETRY.get_or_init(BasemapGeometry::build);
            return basemap_status(ctx);
        }
    }
    BasemapStatus::Loading
}

/// Build the basemap geometry now, on this thread, and return it. For tests and benchmarks;
/// the UI uses [`basemap_status`].
pub fn basemap_blocking() -> Result<&'static BasemapGeometry, &'static str> {
    STARTED.store(true, Ordering::SeqCst);
    match GEOMETRY.get_or_init(BasemapGeometry::build) {
        Ok(geometry) => Ok(geometry),
        Err(error) => Err(error),
    }
}

/// Walkers plugin filling the reserved shape slot with the basemap.
pub struct BasemapPlugin<'a> {
    /// Slot reserved before the map widget painted its tiles.
    pub slot: ShapeIdx,
    /// What to draw.
    pub geometry: &'static BasemapGeometry,
    /// Theme colors.
    pub colors: BasemapColors,
    /// Where to report what was painted.
    pub stats: &'a mut PaintStats,
}

impl Plugin for BasemapPlugin<'_> {
    fn run(
        self: Box<Self>,
        ui: &mut Ui,
        _response: &Response,
        projector: &Projector,
        _map_memory: &MapMemory,
    ) {
        let t = WorldToScreen::from_projector(projector);
        let (shapes, stats) = self.geometry.shapes(&t, self.colors);
        *self.stats = stats;
        ui.painter()
            .with_clip_rect(projector.clip_rect())
            .set(self.slot, Shape::Vec(shapes));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use egui::{Pos2, Rect, Vec2};

    #[test]
    fn culling_keeps_frames_small_when_zoomed_in() {
        let geometry = basemap_blocking().unwrap();
        let colors = BasemapColors::for_dark_mode(false);
        let rect = Rect::from_min_size(Pos2::ZERO, Vec2::new(1200.0, 800.0));

        let world = WorldToScreen::new(rect, 0.0, 20.0, 2.0);
        let (_, whole) = geometry.shapes(&world, colors);
        let netherlands = WorldToScreen::new(rect, 4.9, 52.37, 8.0);
        let (shapes, zoomed) = geometry.shapes(&netherlands, colors);
        assert!(whole.vertices > 1000, "{whole:?}");
        assert!(zoomed.vertices > 0, "{zoomed:?}");
        assert!(zoomed.chunks < 10, "{zoomed:?}");
        // Far fewer lines than the whole 1:50m data set.
        assert!(zoomed.lines < 200, "{zoomed:?}");
        assert!(shapes.len() > 2);

        // South Pacific at zoom 8: sea only.
        let pacific = WorldToScreen::new(rect, -130.0, -45.0, 8.0);
        let (_, empty) = geometry.shapes(&pacific, colors);
        assert_eq!(empty.vertices, 0);
    }

    #[test]
    fn levels_follow_zoom() {
        let geometry = basemap_blocking().unwrap();
        assert_eq!(geometry.level_for(0.0).map(|l| l.min_zoom), Some(0.0));
        assert_eq!(geometry.level_for(4.0).map(|l| l.min_zoom), Some(3.0));
        assert_eq!(geometry.level_for(12.0).map(|l| l.min_zoom), Some(5.0));
    }

    #[test]
    fn land_fill_covers_amsterdam() {
        // The triangle mesh, not just the polygons, must cover a point on land.
        let geometry = basemap_blocking().unwrap();
        let p = lon_lat_to_world(4.9, 52.37);
        let level = geometry.level_for(6.0).unwrap();
        let inside = level.fills.iter().any(|chunk| {
            chunk.indices.chunks_exact(3).any(|t| {
                let [a, b, c] = [
                    chunk.vertices[t[0] as usize],
                    chunk.vertices[t[1] as usize],
                    chunk.vertices[t[2] as usize],
                ];
                point_in_triangle(p, a, b, c)
            })
        });
        assert!(inside);
    }

    fn point_in_triangle(p: [f64; 2], a: [f64; 2], b: [f64; 2], c: [f64; 2]) -> bool {
        let sign = |p1: [f64; 2], p2: [f64; 2], p3: [f64; 2]| {
            (p1[0] - p3[0]) * (p2[1] - p3[1]) - (p2[0] - p3[0]) * (p1[1] - p3[1])
        };
        let d1 = sign(p, a, b);
        let d2 = sign(p, b, c);
        let d3 = sign(p, c, a);
        let neg = d1 < 0.0 || d2 < 0.0 || d3 < 0.0;
        let pos = d1 > 0.0 || d2 > 0.0 || d3 > 0.0;
        !(neg && pos)
    }
}
