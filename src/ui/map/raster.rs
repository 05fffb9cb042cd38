//! Raster image overlays (e.g. a COG or NDVI preview) given as RGBA pixels plus a lon/lat bbox.
//!
//! Drawn by a walkers plugin as a textured mesh, not as a `walkers::Tiles` source (COG previews
//! are tiles: see [`super::raster_tiles`]). The image is assumed to be on a regular lon/lat grid
//! (EPSG:4326, north up); the mesh has one strip per few rows of the image so that the
//! latitude stretch of Web Mercator is followed.

use egui::epaint::Vertex;
use egui::{Color32, ColorImage, Mesh, Response, Shape, TextureHandle, TextureOptions, Ui, pos2};
use walkers::{MapMemory, Plugin, Projector};

use super::projection::{BBox, WorldToScreen, lon_lat_to_world, valid_lon_lat_bbox};

/// Number of horizontal strips the image is cut into at most.
const MAX_STRIPS: usize = 64;

/// An image drawn on the map over a lon/lat bbox.
pub struct RasterOverlay {
    /// Stable id (visibility/opacity are kept per id).
    pub id: String,
    /// Name shown in the layers list.
    pub name: String,
    /// `[min_lon, min_lat, max_lon, max_lat]` of the image's outer edges.
    pub bounds: [f64; 4],
    /// Pixels waiting to be uploaded as a texture (done on the next frame).
    pending: Option<ColorImage>,
    texture: Option<TextureHandle>,
}

impl std::fmt::Debug for RasterOverlay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RasterOverlay")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("bounds", &self.bounds)
            .field("uploaded", &self.texture.is_some())
            .finish()
    }
}

impl RasterOverlay {
    /// From straight (not premultiplied) RGBA pixels and the lon/lat bounds of the image.
    pub fn from_rgba(
        id: impl Into<String>,
        name: impl Into<String>,
        image: &image::RgbaImage,
        bounds: [f64; 4],
    ) -> Self {
        let size = [image.width() as usize, image.height() as usize];
        Self::from_color_image(
            id,
            name,
            ColorImage::from_rgba_unmultiplied(size, image.as_raw()),
            bounds,
        )
    }

    /// From an egui image and the lon/lat bounds of the image.
    pub fn from_color_image(
        id: impl Into<String>,
        name: impl Into<String>,
        image: ColorImage,
        bounds: [f64; 4],
    ) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            bounds,
            pending: Some(image),
            texture: None,
        }
    }

    /// Upload the pixels as a texture if not done yet.
    pub(crate) fn upload(&mut self, ctx: &egui::Context) {
        if let Some(image) = self.pending.take() {
            self.texture = Some(ctx.load_texture(
                format!("meshlake-map-raster-{}", self.id),
                image,
                TextureOptions::LINEAR,
            ));
        }
    }

    /// Whether the texture exists (after the first frame).
    pub fn is_uploaded(&self) -> bool {
        self.texture.is_some()
    }

    /// Image size in pixels.
    pub fn size(&self) -> Option<[usize; 2]> {
        match (&self.pending, &self.texture) {
            (Some(image), _) => Some(image.size),
            (None, Some(texture)) => Some(texture.size()),
            _ => None,
        }
    }

    /// The textured mesh on screen, or `None` when it is out of view or not uploaded.
    pub(crate) fn mesh(&self, t: &WorldToScreen, opacity: f32) -> Option<Mesh> {
        let texture = self.texture.as_ref()?;
        if !valid_lon_lat_bbox(self.bounds) {
            return None;
        }
        let [min_lon, min_lat, max_lon, max_lat] = self.bounds;
        let world = BBox::of_points([
            lon_lat_to_world(min_lon, min_lat),
            lon_lat_to_world(max_lon, max_lat),
        ]);
        if !world.intersects(&t.visible_world(0.0)) {
            return None;
        }
        let rows = texture.size()[1].max(1);
        let strips = rows.clamp(1, MAX_STRIPS);
        let color = Color32::WHITE.gamma_multiply(opacity.clamp(0.0, 1.0));
        let mut mesh = Mesh::with_texture(texture.id());
        for i in 0..=strips {
            let v = i as f32 / strips as f32;
            let lat = max_lat - (max_lat - min_lat) * v as f64;
            for (lon, u) in [(min_lon, 0.0), (max_lon, 1.0)] {
                mesh.vertices.push(Vertex {
                    pos: t.lon_lat_to_screen(lon, lat),
                    uv: pos2(u, v),
                    color,
                });
            }
            if i > 0 {
                let a = (2 * (i - 1)) as u32;
                mesh.indices.extend([a, a + 1, a + 2, a + 1, a + 3, a + 2]);
            }
        }
        Some(mesh)
    }
}

/// Walkers plugin drawing the raster overlays.
pub struct RasterOverlaysPlugin<'a> {
    /// The overlays with their opacity; invisible ones are left out by the caller.
    pub overlays: Vec<(&'a RasterOverlay, f32)>,
}

impl Plugin for RasterOverlaysPlugin<'_> {
    fn run(
        self: Box<Self>,
        ui: &mut Ui,
        _response: &Response,
        projector: &Projector,
        _map_memory: &MapMemory,
    ) {
        let t = WorldToScreen::from_projector(projector);
        let painter = ui.painter().with_clip_rect(projector.clip_rect());
        // Each mesh on its own: meshes with different textures cannot share a `Shape::Vec`.
        for (overlay, opacity) in self.overlays {
            if let Some(mesh) = overlay.mesh(&t, opacity) {
                painter.add(Shape::mesh(mesh));
            }
        }
    }
}
