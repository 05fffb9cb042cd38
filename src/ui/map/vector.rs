//! Vector layers (footprints, file bboxes, query results) as a walkers plugin: painting,
//! viewport culling and hit testing (hover tooltip, click).

use std::collections::BTreeMap;

use egui::epaint::{Vertex, WHITE_UV};
use egui::{Color32, Mesh, Painter, Pos2, Response, Shape, Stroke, Ui};
use geo::{BoundingRect, Contains, Coord, Geometry, LineString, Point, Polygon, TriangulateEarcut};
use walkers::{MapMemory, Plugin, Projector};

use super::projection::{BBox, WorldToScreen, lon_lat_to_world};
use super::{LayerSettings, MapLayer};

/// Hit distance in points for points and lines.
const HIT_RADIUS: f32 = 6.0;

/// How to paint one geometry.
#[derive(Debug, Clone, Copy)]
pub struct GeometryStyle {
    /// Outline / line / point color.
    pub stroke: Stroke,
    /// Polygon fill (usually translucent).
    pub fill: Color32,
    /// Radius of points.
    pub point_radius: f32,
}

/// Outline colour of selected features (contrasts with the orange/blue layer colours).
pub const SELECTED_STROKE: Color32 = Color32::from_rgb(40, 220, 255);

impl GeometryStyle {
    /// Style for a layer color at an opacity, highlighted when selected.
    pub fn for_layer(color: Color32, opacity: f32, selected: bool) -> Self {
        let opacity = opacity.clamp(0.0, 1.0);
        // Footprints of several dates stack on one tile: keep fills light, and mark the selected
        // feature with a contrasting outline so it stands out of the stack.
        let (width, fill_alpha) = if selected { (3.0, 0.08) } else { (1.5, 0.12) };
        let stroke_color = if selected { SELECTED_STROKE } else { color };
        Self {
            stroke: Stroke::new(width, stroke_color.gamma_multiply(opacity)),
            fill: color.gamma_multiply(fill_alpha * opacity),
            point_radius: if selected { 6.0 } else { 4.0 },
        }
    }
}

/// Lon/lat bbox of a geometry in world coordinates.
pub fn world_bbox(geometry: &Geometry<f64>) -> Option<BBox> {
    let rect = geometry.bounding_rect()?;
    // y flips (north is smaller), so include both corners.
    Some(BBox::of_points([
        lon_lat_to_world(rect.min().x, rect.min().y),
        lon_lat_to_world(rect.max().x, rect.max().y),
    ]))
}

/// Lon/lat bbox `[min_lon, min_lat, max_lon, max_lat]` of all features of a layer.
pub fn layer_bbox(layer: &MapLayer) -> Option<[f64; 4]> {
    let mut bbox = BBox::EMPTY;
    for feature in &layer.features {
        if let Some(rect) = feature.geometry.bounding_rect() {
            bbox.include([rect.min().x, rect.min().y]);
            bbox.include([rect.max().x, rect.max().y]);
        }
    }
    (!bbox.is_empty()).then_some([bbox.min_x, bbox.min_y, bbox.max_x, bbox.max_y])
}

fn screen_ring(t: &WorldToScreen, ring: &LineString<f64>) -> Vec<Pos2> {
    let mut points: Vec<Pos2> = ring
        .0
        .iter()
        .map(|c| t.lon_lat_to_screen(c.x, c.y))
        .collect();
    // Closed rings repeat the first point; egui closes paths itself.
    if points.len() > 1 && points.first() == points.last() {
        points.pop();
    }
    points
}

fn is_convex(points: &[Pos2]) -> bool {
    let n = points.len();
    if n < 3 {
        return false;
    }
    let mut sign = 0.0f32;
    for i in 0..n {
        let a = points[i];
        let b = points[(i + 1) % n];
        let c = points[(i + 2) % n];
        let cross = (b - a).x * (c - b).y - (b - a).y * (c - b).x;
        if cross.abs() > f32::EPSILON {
            if sign == 0.0 {
                sign = cross.signum();
            } else if cross.signum() != sign {
                return false;
            }
        }
    }
    true
}

/// Paint a polygon: translucent fill (triangulated unless convex) and outline.
fn paint_polygon(
    shapes: &mut Vec<Shape>,
    t: &WorldToScreen,
    polygon: &Polygon<f64>,
    style: &GeometryStyle,
) {
    let exterior = screen_ring(t, polygon.exterior());
    if exterior.len() < 2 {
        return;
    }
    if style.fill != Color32::TRANSPARENT && exterior.len() >= 3 {
        if polygon.interiors().is_empty() && is_convex(&exterior) {
            shapes.push(Shape::convex_polygon(
                exterior.clone(),
                style.fill,
                Stroke::NONE,
            ));
        } else {
            let to_line = |points: &[Pos2]| -> LineString<f64> {
                points
                    .iter()
                    .map(|p| Coord {
                        x: p.x as f64,
                        y: p.y as f64,
                    })
                    .collect()
            };
            let screen_polygon = Polygon::new(
                to_line(&exterior),
                polygon
                    .interiors()
                    .iter()
                    .map(|ring| to_line(&screen_ring(t, ring)))
                    .collect(),
            );
            let raw = screen_polygon.earcut_triangles_raw();
            let mut mesh = Mesh::default();
            mesh.vertices.extend(raw.vertices.iter().map(|v| Vertex {
                pos: Pos2::new(v[0] as f32, v[1] as f32),
                uv: WHITE_UV,
                color: style.fill,
            }));
            mesh.indices
                .extend(raw.triangle_indices.iter().map(|&i| i as u32));
            shapes.push(Shape::mesh(mesh));
        }
    }
    shapes.push(Shape::closed_line(exterior, style.stroke));
    for ring in polygon.interiors() {
        shapes.push(Shape::closed_line(screen_ring(t, ring), style.stroke));
    }
}

/// Shapes for a lon/lat geometry.
pub fn geometry_shapes(
    shapes: &mut Vec<Shape>,
    t: &WorldToScreen,
    geometry: &Geometry<f64>,
    style: &GeometryStyle,
) {
    match geometry {
        Geometry::Point(p) => shapes.push(Shape::circle_filled(
            t.lon_lat_to_screen(p.x(), p.y()),
            style.point_radius,
            style.stroke.color,
        )),
        Geometry::MultiPoint(points) => {
            for p in points {
                geometry_shapes(shapes, t, &Geometry::Point(*p), style);
            }
        }
        Geometry::Line(line) => shapes.push(Shape::line_segment(
            [
                t.lon_lat_to_screen(line.start.x, line.start.y),
                t.lon_lat_to_screen(line.end.x, line.end.y),
            ],
            style.stroke,
        )),
        Geometry::LineString(line) => shapes.push(Shape::line(
            line.0
                .iter()
                .map(|c| t.lon_lat_to_screen(c.x, c.y))
                .collect(),
            style.stroke,
        )),
        Geometry::MultiLineString(lines) => {
            for line in lines {
                shapes.push(Shape::line(
                    line.0
                        .iter()
                        .map(|c| t.lon_lat_to_screen(c.x, c.y))
                        .collect(),
                    style.stroke,
                ));
            }
        }
        Geometry::Polygon(polygon) => paint_polygon(shapes, t, polygon, style),
        Geometry::MultiPolygon(polygons) => {
            for polygon in polygons {
                paint_polygon(shapes, t, polygon, style);
            }
        }
        Geometry::Rect(rect) => paint_polygon(shapes, t, &rect.to_polygon(), style),
        Geometry::Triangle(triangle) => paint_polygon(shapes, t, &triangle.to_polygon(), style),
        Geometry::GeometryCollection(collection) => {
            for geometry in collection {
                geometry_shapes(shapes, t, geometry, style);
            }
        }
    }
}

fn distance_to_segment(p: Pos2, a: Pos2, b: Pos2) -> f32 {
    let ab = b - a;
    let len2 = ab.length_sq();
    if len2 <= f32::EPSILON {
        return p.distance(a);
    }
    let s = ((p - a).dot(ab) / len2).clamp(0.0, 1.0);
    p.distance(a + ab * s)
}

fn near_line(t: &WorldToScreen, line: &LineString<f64>, pointer: Pos2) -> bool {
    let points: Vec<Pos2> = line
        .0
        .iter()
        .map(|c| t.lon_lat_to_screen(c.x, c.y))
        .collect();
    points
        .windows(2)
        .any(|w| distance_to_segment(pointer, w[0], w[1]) <= HIT_RADIUS)
}

/// Whether the pointer (screen point, and its lon/lat) touches the geometry.
pub fn hit_test(
    t: &WorldToScreen,
    geometry: &Geometry<f64>,
    pointer: Pos2,
    pointer_lon_lat: Point<f64>,
) -> bool {
    match geometry {
        Geometry::Point(p) => t.lon_lat_to_screen(p.x(), p.y()).distance(pointer) <= HIT_RADIUS,
        Geometry::MultiPoint(points) => points
            .iter()
            .any(|p| t.lon_lat_to_screen(p.x(), p.y()).distance(pointer) <= HIT_RADIUS),
        Geometry::Line(line) => {
            distance_to_segment(
                pointer,
                t.lon_lat_to_screen(line.start.x, line.start.y),
                t.lon_lat_to_screen(line.end.x, line.end.y),
            ) <= HIT_RADIUS
        }
        Geometry::LineString(line) => near_line(t, line, pointer),
        Geometry::MultiLineString(lines) => lines.iter().any(|l| near_line(t, l, pointer)),
        Geometry::Polygon(polygon) => {
            polygon.contains(&pointer_lon_lat) || near_line(t, polygon.exterior(), pointer)
        }
        Geometry::MultiPolygon(polygons) => polygons
            .iter()
            .any(|p| p.contains(&pointer_lon_lat) || near_line(t, p.exterior(), pointer)),
        Geometry::Rect(rect) => rect.to_polygon().contains(&pointer_lon_lat),
        Geometry::Triangle(triangle) => triangle.to_polygon().contains(&pointer_lon_lat),
        Geometry::GeometryCollection(collection) => collection
            .iter()
            .any(|g| hit_test(t, g, pointer, pointer_lon_lat)),
    }
}

/// What the vector layers reported this frame.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VectorOutput {
    /// Topmost feature under the pointer: (index into the layers slice, feature index).
    pub hovered: Option<(usize, usize)>,
    /// Feature clicked this frame: (layer id, feature index).
    pub clicked: Option<(String, usize)>,
}

/// Walkers plugin drawing the app's vector layers.
pub struct VectorLayersPlugin<'a> {
    /// The layers, bottom first.
    pub layers: &'a [MapLayer],
    /// Visibility/opacity per layer id (missing means visible, opaque).
    pub settings: &'a BTreeMap<String, LayerSettings>,
    /// Whether clicks select features (false while a drawing tool is active).
    pub interactive: bool,
    /// Where to report hover and clicks.
    pub output: &'a mut VectorOutput,
}

impl Plugin for VectorLayersPlugin<'_> {
    fn run(
        self: Box<Self>,
        ui: &mut Ui,
        response: &Response,
        projector: &Projector,
        _map_memory: &MapMemory,
    ) {
        let t = WorldToScreen::from_projector(projector);
        let visible = t.visible_world(16.0);
        let pointer = response.hover_pos();
        let pointer_lon_lat = pointer.map(|p| {
            let (lon, lat) = t.screen_to_lon_lat(p);
            Point::new(lon, lat)
        });

        let mut shapes = Vec::new();
        let mut hovered = None;
        for (layer_index, layer) in self.layers.iter().enumerate() {
            let settings = self.settings.get(&layer.id).copied().unwrap_or_default();
            if !settings.visible {
                continue;
            }
            // Selected features last, so their outline is drawn on top of overlapping ones.
            let draw_order = layer
                .features
                .iter()
                .enumerate()
                .filter(|(_, f)| !f.selected)
                .chain(layer.features.iter().enumerate().filter(|(_, f)| f.selected));
            for (feature_index, feature) in draw_order {
                let Some(bbox) = world_bbox(&feature.geometry) else {
                    continue;
                };
                if !bbox.intersects(&visible) {
                    continue;
                }
                let style =
                    GeometryStyle::for_layer(layer.color, settings.opacity, feature.selected);
                geometry_shapes(&mut shapes, &t, &feature.geometry, &style);
                if let (Some(p), Some(ll)) = (pointer, pointer_lon_lat)
                    && bbox
                        .expanded(HIT_RADIUS as f64 / t.points_per_world())
                        .contains(t.to_world(p))
                    && hit_test(&t, &feature.geometry, p, ll)
                {
                    hovered = Some((layer_index, feature_index));
                }
            }
        }
        paint(ui.painter(), projector, shapes);

        if let Some((layer_index, feature_index)) = hovered
            && let Some(layer) = self.layers.get(layer_index)
            && let Some(feature) = layer.features.get(feature_index)
        {
            if !feature.label.is_empty() {
                response
                    .clone()
                    .on_hover_text_at_pointer(format!("{}: {}", layer.name, feature.label));
            }
            if self.interactive && response.clicked() {
                self.output.clicked = Some((layer.id.clone(), feature_index));
            }
        }
        self.output.hovered = hovered;
    }
}

/// Paint shapes clipped to the map.
pub fn paint(painter: &Painter, projector: &Projector, shapes: Vec<Shape>) {
    painter.with_clip_rect(projector.clip_rect()).extend(shapes);
}

#[cfg(test)]
mod tests {
    use super::*;
    use egui::{Rect, Vec2, pos2};
    use geo::{Rect as GeoRect, coord, line_string, point, polygon};

    fn transform() -> WorldToScreen {
        WorldToScreen::new(
            Rect::from_min_size(Pos2::ZERO, Vec2::new(800.0, 600.0)),
            5.0,
            52.0,
            7.0,
        )
    }

    #[test]
    fn hit_testing() {
        let t = transform();
        let square: Geometry<f64> = polygon![
            (x: 4.0, y: 51.5), (x: 6.0, y: 51.5), (x: 6.0, y: 52.5), (x: 4.0, y: 52.5), (x: 4.0, y: 51.5)
        ]
        .into();
        let center = t.lon_lat_to_screen(5.0, 52.0);
        assert!(hit_test(&t, &square, center, point!(x: 5.0, y: 52.0)));
        let outside = t.lon_lat_to_screen(7.0, 52.0);
        assert!(!hit_test(&t, &square, outside, point!(x: 7.0, y: 52.0)));

        let line: Geometry<f64> = line_string![(x: 4.0, y: 52.0), (x: 6.0, y: 52.0)].into();
        let near = t.lon_lat_to_screen(5.0, 52.0) + Vec2::new(0.0, 3.0);
        let (lon, lat) = t.screen_to_lon_lat(near);
        assert!(hit_test(&t, &line, near, point!(x: lon, y: lat)));
        let far = near + Vec2::new(0.0, 20.0);
        let (lon, lat) = t.screen_to_lon_lat(far);
        assert!(!hit_test(&t, &line, far, point!(x: lon, y: lat)));

        let pt: Geometry<f64> = point!(x: 5.0, y: 52.0).into();
        assert!(hit_test(
            &t,
            &pt,
            center + Vec2::new(4.0, 0.0),
            point!(x: 5.0, y: 52.0)
        ));
    }

    #[test]
    fn convexity_and_fills() {
        assert!(is_convex(&[
            pos2(0.0, 0.0),
            pos2(1.0, 0.0),
            pos2(1.0, 1.0),
            pos2(0.0, 1.0)
        ]));
        assert!(!is_convex(&[
            pos2(0.0, 0.0),
            pos2(2.0, 0.0),
            pos2(1.0, 0.5),
            pos2(2.0, 2.0),
            pos2(0.0, 2.0)
        ]));
        let t = transform();
        let style = GeometryStyle::for_layer(Color32::RED, 1.0, false);
        let concave: Geometry<f64> = polygon![
            (x: 4.0, y: 51.0), (x: 6.0, y: 51.0), (x: 5.0, y: 51.5), (x: 6.0, y: 53.0), (x: 4.0, y: 53.0)
        ]
        .into();
        let mut shapes = Vec::new();
        geometry_shapes(&mut shapes, &t, &concave, &style);
        assert!(
            matches!(shapes[0], Shape::Mesh(_)),
            "concave fill is triangulated"
        );
        let rect: Geometry<f64> =
            GeoRect::new(coord! {x: 4.0, y: 51.0}, coord! {x: 6.0, y: 53.0}).into();
        shapes.clear();
        geometry_shapes(&mut shapes, &t, &rect, &style);
        assert!(matches!(shapes[0], Shape::Path(_)), "convex fill is a path");
    }

    #[test]
    fn bboxes() {
        let layer = MapLayer {
            id: "a".into(),
            name: "A".into(),
            color: Color32::RED,
            features: vec![
                super::super::MapFeature::new("p", point!(x: 1.0, y: 2.0).into()),
                super::super::MapFeature::new("q", point!(x: -3.0, y: 5.0).into()),
            ],
        };
        assert_eq!(layer_bbox(&layer), Some([-3.0, 2.0, 1.0, 5.0]));
        let empty = MapLayer {
            features: vec![],
            ..layer
        };
        assert_eq!(layer_bbox(&empty), None);
        let wb = world_bbox(&point!(x: 0.0, y: 0.0).into()).unwrap();
        assert_eq!(wb.min_x, 0.5);
    }
}
