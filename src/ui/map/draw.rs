//! The drawing tool: a rectangle by dragging, a polygon by clicking vertices (double-click or
//! Enter finishes, Escape cancels). Runs as a walkers plugin so that it sees the map's
//! response and projector.

use egui::{Color32, CursorIcon, Key, PointerButton, Pos2, Response, Shape, Stroke, Ui};
use geo::{Coord, Geometry, LineString, Polygon};
use serde::{Deserialize, Serialize};
use walkers::{MapMemory, Plugin, Projector};

use super::projection::WorldToScreen;
use super::vector::{GeometryStyle, geometry_shapes, paint};

/// What a primary drag or click on the map does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum DrawTool {
    /// Drag pans, click selects features.
    #[default]
    Pan,
    /// Drag draws a rectangle.
    Rectangle,
    /// Clicks add polygon vertices; double-click or Enter finishes, Escape cancels.
    Polygon,
}

impl DrawTool {
    /// Label of the toolbar button.
    pub fn label(self) -> &'static str {
        match self {
            DrawTool::Pan => "Pan",
            DrawTool::Rectangle => "Rectangle",
            DrawTool::Polygon => "Polygon",
        }
    }
}

/// A drawing that is not finished yet, in lon/lat.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DrawingInProgress {
    /// Corner where the rectangle drag started.
    pub rect_start: Option<(f64, f64)>,
    /// Opposite corner, following the pointer.
    pub rect_end: Option<(f64, f64)>,
    /// Polygon vertices so far.
    pub polygon: Vec<(f64, f64)>,
}

impl DrawingInProgress {
    /// Whether anything is being drawn.
    pub fn is_active(&self) -> bool {
        self.rect_start.is_some() || !self.polygon.is_empty()
    }

    /// Drop what is being drawn.
    pub fn cancel(&mut self) {
        *self = Self::default();
    }
}

/// Closed polygon from lon/lat vertices.
pub fn polygon_from_vertices(vertices: &[(f64, f64)]) -> Option<Geometry<f64>> {
    if vertices.len() < 3 {
        return None;
    }
    let mut coords: Vec<Coord<f64>> = vertices.iter().map(|&(x, y)| Coord { x, y }).collect();
    coords.push(coords[0]);
    Some(Polygon::new(LineString::from(coords), Vec::new()).into())
}

/// Axis-aligned rectangle polygon between two lon/lat corners (counter-clockwise).
pub fn rectangle_polygon(a: (f64, f64), b: (f64, f64)) -> Geometry<f64> {
    let (x0, x1) = (a.0.min(b.0), a.0.max(b.0));
    let (y0, y1) = (a.1.min(b.1), a.1.max(b.1));
    Polygon::new(
        LineString::from(vec![(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]),
        Vec::new(),
    )
    .into()
}

/// Style of drawn geometry.
fn drawn_style(accent: Color32) -> GeometryStyle {
    GeometryStyle {
        stroke: Stroke::new(2.0, accent),
        fill: accent.gamma_multiply(0.18),
        point_radius: 4.0,
    }
}

/// Walkers plugin for the drawing tool; also shows the finished drawing.
pub struct DrawingPlugin<'a> {
    /// Active tool.
    pub tool: DrawTool,
    /// Unfinished drawing, kept across frames.
    pub progress: &'a mut DrawingInProgress,
    /// The finished drawing currently shown.
    pub drawn: Option<&'a Geometry<f64>>,
    /// Set when a drawing is finished this frame.
    pub finished: &'a mut Option<Geometry<f64>>,
    /// Color to draw with.
    pub accent: Color32,
}

impl DrawingPlugin<'_> {
    fn handle_input(&mut self, ui: &Ui, response: &Response, t: &WorldToScreen) {
        let escape = ui.input(|i| i.key_pressed(Key::Escape));
        if escape && self.progress.is_active() {
            self.progress.cancel();
            return;
        }
        match self.tool {
            DrawTool::Pan => self.progress.cancel(),
            DrawTool::Rectangle => {
                if response.drag_started_by(PointerButton::Primary) {
                    let origin = ui
                        .input(|i| i.pointer.press_origin())
                        .or(response.interact_pointer_pos());
                    self.progress.rect_start = origin.map(|p| t.screen_to_lon_lat(p));
                    self.progress.rect_end = self.progress.rect_start;
                }
                if (response.dragged_by(PointerButton::Primary)
                    || response.drag_stopped_by(PointerButton::Primary))
                    && let Some(p) = response
                        .interact_pointer_pos()
                        .or(ui.input(|i| i.pointer.latest_pos()))
                {
                    self.progress.rect_end = Some(t.screen_to_lon_lat(p));
                }
                if response.drag_stopped_by(PointerButton::Primary) {
                    if let (Some(a), Some(b)) = (self.progress.rect_start, self.progress.rect_end) {
                        let sa = t.lon_lat_to_screen(a.0, a.1);
                        let sb = t.lon_lat_to_screen(b.0, b.1);
                        // Ignore accidental tiny drags.
                        if (sa.x - sb.x).abs() >= 3.0 && (sa.y - sb.y).abs() >= 3.0 {
                            *self.finished = Some(rectangle_polygon(a, b));
                        }
                    }
                    self.progress.cancel();
                }
            }
            DrawTool::Polygon => {
                if response.double_clicked_by(PointerButton::Primary) {
                    // The double-click's first click already added its vertex.
                    self.finish_polygon();
                } else if response.clicked_by(PointerButton::Primary)
                    && let Some(p) = response.interact_pointer_pos()
                {
                    self.progress.polygon.push(t.screen_to_lon_lat(p));
                }
                if !self.progress.polygon.is_empty() && ui.input(|i| i.key_pressed(Key::Enter)) {
                    self.finish_polygon();
                }
            }
        }
    }

    fn finish_polygon(&mut self) {
        let mut vertices = std::mem::take(&mut self.progress.polygon);
        // Clicks on the very same spot (the two halves of a double-click) add one vertex.
        vertices.dedup_by(|a, b| (a.0 - b.0).abs() < 1e-12 && (a.1 - b.1).abs() < 1e-12);
        if let Some(polygon) = polygon_from_vertices(&vertices) {
            *self.finished = Some(polygon);
        }
        self.progress.cancel();
    }

    fn preview_shapes(&self, t: &WorldToScreen, hover: Option<Pos2>) -> Vec<Shape> {
        let style = drawn_style(self.accent);
        let mut shapes = Vec::new();
        if let Some(drawn) = self.drawn {
            geometry_shapes(&mut shapes, t, drawn, &style);
        }
        if let (Some(a), Some(b)) = (self.progress.rect_start, self.progress.rect_end) {
            geometry_shapes(&mut shapes, t, &rectangle_polygon(a, b), &style);
        }
        if !self.progress.polygon.is_empty() {
            let mut points: Vec<Pos2> = self
                .progress
                .polygon
                .iter()
                .map(|&(lon, lat)| t.lon_lat_to_screen(lon, lat))
                .collect();
            for &p in &points {
                shapes.push(Shape::circle_filled(p, 3.5, self.accent));
            }
            if let Some(hover) = hover {
                points.push(hover);
            }
            shapes.push(Shape::line(points, style.stroke));
        }
        shapes
    }
}

impl Plugin for DrawingPlugin<'_> {
    fn run(
        mut self: Box<Self>,
        ui: &mut Ui,
        response: &Response,
        projector: &Projector,
        _map_memory: &MapMemory,
    ) {
        let t = WorldToScreen::from_projector(projector);
        self.handle_input(ui, response, &t);
        if self.tool != DrawTool::Pan && response.hovered() {
            ui.ctx().set_cursor_icon(CursorIcon::Crosshair);
        }
        let shapes = self.preview_shapes(&t, response.hover_pos());
        paint(ui.painter(), projector, shapes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::BoundingRect;

    #[test]
    fn rectangles_and_polygons() {
        let r = rectangle_polygon((5.0, 53.0), (4.0, 52.0));
        let bounds = r.bounding_rect().unwrap();
        assert_eq!((bounds.min().x, bounds.min().y), (4.0, 52.0));
        assert_eq!((bounds.max().x, bounds.max().y), (5.0, 53.0));
        assert!(polygon_from_vertices(&[(0.0, 0.0), (1.0, 1.0)]).is_none());
        let Some(Geometry::Polygon(p)) =
            polygon_from_vertices(&[(0.0, 0.0), (1.0, 0.0), (1.0, 1.0)])
        else {
            panic!("expected a polygon")
        };
        assert_eq!(p.exterior().0.len(), 4);
        assert!(p.exterior().is_closed());
    }
}
