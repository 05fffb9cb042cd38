//! HTTP raster tiles from a configurable URL template, cached on disk.

use std::path::PathBuf;

use walkers::sources::{Attribution, TileSource};
use walkers::{HeaderValue, HttpOptions, HttpTiles, TileId};

/// OpenStreetMap's standard tiles; please respect
/// <https://operations.osmfoundation.org/policies/tiles/>.
pub const OSM_TILE_URL: &str = "https://tile.openstreetmap.org/{z}/{x}/{y}.png";

/// Attribution OpenStreetMap requires.
pub const OSM_ATTRIBUTION: &str = "\u{a9} OpenStreetMap contributors";

/// A tile server given by a URL template with `{z}`, `{x}`, `{y}` (and optionally `{s}`,
/// replaced by `a`, and `{-y}` for TMS servers).
#[derive(Debug, Clone)]
pub struct UrlTemplateSource {
    /// The template.
    pub template: String,
}

impl UrlTemplateSource {
    /// The URL of one tile.
    pub fn url(&self, zoom: u8, x: u32, y: u32) -> String {
        let tms_y = (1u64 << zoom).saturating_sub(1).saturating_sub(y as u64);
        self.template
            .replace("{z}", &zoom.to_string())
            .replace("{x}", &x.to_string())
            .replace("{-y}", &tms_y.to_string())
            .replace("{y}", &y.to_string())
            .replace("{s}", "a")
    }
}

impl TileSource for UrlTemplateSource {
    fn tile_url(&self, tile_id: TileId) -> String {
        self.url(tile_id.zoom, tile_id.x, tile_id.y)
    }

    fn attribution(&self) -> Attribution {
        // The panel paints its own (configurable) attribution.
        Attribution {
            text: "",
            url: "",
            logo_light: None,
            logo_dark: None,
        }
    }
}

/// Where downloaded tiles are cached: `<user cache dir>/meshlake/tiles`.
pub fn tile_cache_dir() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "meshlake").map(|dirs| dirs.cache_dir().join("tiles"))
}

/// Start an HTTP tile source for the template, caching in `cache`. Downloads (and the disk cache) run on walkers'
/// own IO thread; nothing here blocks.
pub fn http_tiles(template: &str, cache: Option<PathBuf>, ctx: &egui::Context) -> HttpTiles {
    let options = HttpOptions {
        cache,
        user_agent: Some(HeaderValue::from_static(concat!(
            "meshlake/",
            env!("CARGO_PKG_VERSION")
        ))),
        ..HttpOptions::default()
    };
    HttpTiles::with_options(
        UrlTemplateSource {
            template: template.to_string(),
        },
        options,
        ctx.clone(),
    )
}

/// Whether the template can produce tile URLs.
pub fn is_valid_template(template: &str) -> bool {
    let t = template.trim();
    (t.starts_with("http://") || t.starts_with("https://"))
        && t.contains("{z}")
        && t.contains("{x}")
        && (t.contains("{y}") || t.contains("{-y}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates() {
        let osm = UrlTemplateSource {
            template: OSM_TILE_URL.into(),
        };
        assert_eq!(osm.url(3, 4, 5), "https://tile.openstreetmap.org/3/4/5.png");
        let tms = UrlTemplateSource {
            template: "https://{s}.example/{z}/{x}/{-y}.png".into(),
        };
        assert_eq!(tms.url(2, 1, 0), "https://a.example/2/1/3.png");
        assert!(is_valid_template(OSM_TILE_URL));
        assert!(!is_valid_template("https://example.com/tile.png"));
        assert!(!is_valid_template("file:///{z}/{x}/{y}"));
        assert!(tile_cache_dir().is_none_or(|dir| dir.ends_with("tiles")));
    }
}
