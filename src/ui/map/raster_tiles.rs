//! Raster tile layers: COG previews rendered into Web Mercator tiles on background threads and
//! drawn by walkers as a [`walkers::Tiles`] source ([`CogTiles`]).
//!
//! [`Tiles::at`] runs on the UI thread and never waits: a cached tile is returned at once; a
//! missing one is queued for the layer's render threads (deduplicated, bounded, stale requests
//! dropped) while the nearest cached ancestor tile stands in for it. Finished tiles come back
//! over a channel, wake the UI with `request_repaint`, and are uploaded as textures on the next
//! frame. The texture cache is bounded (least recently used tiles go first).

use std::collections::{HashMap, VecDeque};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use egui::{ColorImage, Context, Rect, TextureHandle, TextureOptions, pos2};
use walkers::sources::Attribution;
use walkers::{Stats, Tile, TileId, TilePiece, Tiles};

use crate::engine::jobs::error_chain;
use crate::engine::raster::preview::{
    PREVIEW_TILE_SIZE, PreviewRenderer, PreviewSource, RgbaTile, tile_lonlat_bounds,
};

/// Textures kept per layer; the least recently drawn go first beyond this.
pub const TEXTURE_CACHE_TILES: usize = 256;
/// Render requests waiting per layer at most.
const QUEUE_CAPACITY: usize = 64;
/// Render threads per layer (each keeps its own open COGs).
const RENDER_THREADS: usize = 2;
/// How many zoom levels up a cached ancestor is looked for while a tile renders.
const ANCESTOR_LEVELS: u8 = 8;
/// Finished tiles uploaded as textures per frame at most (the rest wait a frame).
const UPLOADS_PER_FRAME: usize = 32;

/// Requests shared between the UI thread and the render threads.
#[derive(Default)]
struct RenderQueue {
    /// Tiles to render, oldest first.
    pending: VecDeque<TileId>,
    /// Set when the layer is dropped: the threads end.
    closed: bool,
}

/// The queue plus the condition variable the render threads sleep on.
#[derive(Default)]
struct SharedQueue {
    queue: Mutex<RenderQueue>,
    wakeup: Condvar,
}

impl SharedQueue {
    /// The queue, even if a render thread panicked while holding it.
    fn lock(&self) -> MutexGuard<'_, RenderQueue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What a render thread reports.
enum WorkerMessage {
    /// The COGs opened; the raster's lon/lat bounds.
    Opened {
        /// `[west, south, east, north]` degrees.
        lonlat_bounds: [f64; 4],
    },
    /// The COGs could not be opened; nothing will render.
    OpenFailed(String),
    /// One tile finished: its pixels, None outside the raster, or why it failed.
    Rendered {
        /// Which tile.
        tile: TileId,
        /// The outcome.
        result: Result<Option<RgbaTile>, String>,
    },
}

/// One entry of the texture cache.
struct CachedTile {
    /// None: the tile is empty (outside the raster, or its render failed).
    texture: Option<TextureHandle>,
    /// Value of [`CogTiles::use_counter`] when last drawn.
    last_used: u64,
}

/// A COG preview as a walkers tile source; see the module docs.
pub struct CogTiles {
    layer_id: String,
    source: PreviewSource,
    ctx: Context,
    shared: Arc<SharedQueue>,
    results: Receiver<WorkerMessage>,
    cache: HashMap<TileId, CachedTile>,
    /// Requested and not yet back, with the pass in which each was last asked for.
    in_flight: HashMap<TileId, u64>,
    use_counter: u64,
    /// The egui pass the last `at` call belonged to.
    current_pass: u64,
    lonlat_bounds: Option<[f64; 4]>,
    /// The first error rendering this layer (logged once).
    error: Option<String>,
    /// Whether the COGs failed to open (nothing is queued then).
    open_failed: bool,
    /// Tiles rendered with content so far.
    rendered: usize,
}

impl std::fmt::Debug for CogTiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CogTiles")
            .field("layer_id", &self.layer_id)
            .field("source", &self.source)
            .field("cached", &self.cache.len())
            .field("in_flight", &self.in_flight.len())
            .field("rendered", &self.rendered)
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl CogTiles {
    /// A tile source for `source`, with its render threads started (they open the COGs right
    /// away and report the raster's bounds).
    pub fn new(ctx: &Context, layer_id: impl Into<String>, source: PreviewSource) -> Self {
        let layer_id = layer_id.into();
        let shared = Arc::new(SharedQueue::default());
        let (sender, results) = channel();
        let mut tiles = Self {
            layer_id,
            source,
            ctx: ctx.clone(),
            shared,
            results,
            cache: HashMap::new(),
            in_flight: HashMap::new(),
            use_counter: 0,
            current_pass: u64::MAX,
            lonlat_bounds: None,
            error: None,
            open_failed: false,
            rendered: 0,
        };
        for index in 0..RENDER_THREADS {
            let worker = RenderWorker {
                shared: Arc::clone(&tiles.shared),
                source: tiles.source.clone(),
                sender: sender.clone(),
                ctx: ctx.clone(),
            };
            let spawned = std::thread::Builder::new()
                .name(format!("meshlake-raster-tiles-{index}"))
                .spawn(move || worker.run());
            if let Err(err) = spawned {
                tiles.report_error(format!("could not start a render thread: {err}"));
            }
        }
        tiles
    }

    /// The map layer this source draws.
    pub fn layer_id(&self) -> &str {
        &self.layer_id
    }

    /// What is rendered.
    pub fn source(&self) -> &PreviewSource {
        &self.source
    }

    /// The raster's lon/lat bounds, once the render threads opened it.
    pub fn lonlat_bounds(&self) -> Option<[f64; 4]> {
        self.lonlat_bounds
    }

    /// The first error opening or rendering the layer.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// Tiles rendered with content (and uploaded) so far.
    pub fn rendered_tiles(&self) -> usize {
        self.rendered
    }

    /// Tiles in the texture cache (including empty ones).
    pub fn cached_tiles(&self) -> usize {
        self.cache.len()
    }

    /// Tiles requested and not yet rendered.
    pub fn pending_tiles(&self) -> usize {
        self.in_flight.len()
    }

    /// Take in what the render threads finished; returns whether anything arrived.
    ///
    /// Called at the start of each frame's first [`Tiles::at`]; tests and the layers list may
    /// call it too.
    pub fn receive_rendered(&mut self) -> bool {
        let mut received = false;
        for _ in 0..UPLOADS_PER_FRAME {
            let Ok(message) = self.results.try_recv() else {
                return received;
            };
            received = true;
            match message {
                WorkerMessage::Opened { lonlat_bounds } => self.lonlat_bounds = Some(lonlat_bounds),
                WorkerMessage::OpenFailed(error) => {
                    self.open_failed = true;
                    self.in_flight.clear();
                    self.shared.lock().pending.clear();
                    self.report_error(error);
                }
                WorkerMessage::Rendered { tile, result } => {
                    self.in_flight.remove(&tile);
                    let texture = match result {
                        Ok(Some(rgba)) => {
                            self.rendered += 1;
                            Some(self.upload(tile, &rgba))
                        }
                        Ok(None) => None,
                        Err(error) => {
                            self.report_error(error);
                            None
                        }
                    };
                    self.use_counter += 1;
                    self.cache.insert(
                        tile,
                        CachedTile {
                            texture,
                            last_used: self.use_counter,
                        },
                    );
                    self.evict();
                }
            }
        }
        // More are waiting: take them next frame.
        self.ctx.request_repaint();
        received
    }

    /// Remember an error, logged once per layer.
    fn report_error(&mut self, error: String) {
        if self.error.is_none() {
            tracing::warn!(layer = %self.layer_id, "raster layer: {error}");
            self.error = Some(error);
        }
    }

    /// Upload a rendered tile as a texture.
    fn upload(&self, tile: TileId, rgba: &RgbaTile) -> TextureHandle {
        let image = ColorImage::from_rgba_unmultiplied(
            [rgba.width as usize, rgba.height as usize],
            &rgba.pixels,
        );
        let name = format!("{}/{}/{}/{}", self.layer_id, tile.zoom, tile.x, tile.y);
        self.ctx.load_texture(name, image, TextureOptions::LINEAR)
    }

    /// Drop the least recently drawn textures beyond [`TEXTURE_CACHE_TILES`].
    fn evict(&mut self) {
        if self.cache.len() <= TEXTURE_CACHE_TILES {
            return;
        }
        let mut by_age: Vec<(u64, TileId)> = self
            .cache
            .iter()
            .map(|(id, t)| (t.last_used, *id))
            .collect();
        by_age.sort_unstable_by_key(|(last_used, _)| *last_used);
        let keep = TEXTURE_CACHE_TILES * 7 / 8;
        let excess = self.cache.len().saturating_sub(keep);
        for (_, id) in by_age.into_iter().take(excess) {
            self.cache.remove(&id);
        }
    }

    /// Once per frame: take in finished tiles and forget queued requests that the last frame no
    /// longer asked for.
    fn begin_pass_if_new(&mut self) {
        let pass = self.ctx.cumulative_pass_nr();
        if pass == self.current_pass {
            return;
        }
        self.current_pass = pass;
        self.receive_rendered();
        self.drop_stale_requests(pass.saturating_sub(1));
    }

    /// Remove queued (not yet started) requests last wanted before pass `oldest_wanted`.
    fn drop_stale_requests(&mut self, oldest_wanted: u64) {
        let in_flight = &mut self.in_flight;
        self.shared.lock().pending.retain(|tile| {
            let wanted = in_flight
                .get(tile)
                .is_some_and(|&pass| pass >= oldest_wanted);
            if !wanted {
                in_flight.remove(tile);
            }
            wanted
        });
    }

    /// Queue `tile` for rendering unless it is already on its way.
    fn request(&mut self, tile: TileId) {
        if let Some(pass) = self.in_flight.get_mut(&tile) {
            *pass = self.current_pass;
            return;
        }
        if self.shared.lock().pending.len() >= QUEUE_CAPACITY {
            // Make room by dropping what the current frame did not ask for.
            self.drop_stale_requests(self.current_pass);
        }
        let queued = {
            let mut queue = self.shared.lock();
            if queue.pending.len() < QUEUE_CAPACITY {
                queue.pending.push_back(tile);
                true
            } else {
                // Still full of wanted tiles: ask again next frame.
                false
            }
        };
        if queued {
            self.in_flight.insert(tile, self.current_pass);
            self.shared.wakeup.notify_one();
        }
    }

    /// The nearest cached ancestor of `tile`, cut down to the part that covers `tile`.
    fn ancestor_piece(&mut self, tile: TileId) -> Option<TilePiece> {
        for levels_up in 1..=ANCESTOR_LEVELS.min(tile.zoom) {
            let ancestor = TileId {
                x: tile.x >> levels_up,
                y: tile.y >> levels_up,
                zoom: tile.zoom - levels_up,
            };
            let Some(entry) = self.cache.get_mut(&ancestor) else {
                continue;
            };
            let Some(texture) = &entry.texture else {
                return None;
            };
            entry.last_used = self.use_counter;
            let divisions = (1u32 << levels_up) as f32;
            let offset_x = (tile.x - (ancestor.x << levels_up)) as f32;
            let offset_y = (tile.y - (ancestor.y << levels_up)) as f32;
            let uv = Rect::from_min_max(
                pos2(offset_x / divisions, offset_y / divisions),
                pos2((offset_x + 1.0) / divisions, (offset_y + 1.0) / divisions),
            );
            return Some(TilePiece::new(Tile::Raster(texture.clone()), uv));
        }
        None
    }

    /// Whether `tile` can hold any of the raster (unknown bounds: maybe).
    fn may_cover(&self, tile: TileId) -> bool {
        let Some([bw, bs, be, bn]) = self.lonlat_bounds else {
            return true;
        };
        let [w, s, e, n] = tile_lonlat_bounds(tile.zoom, tile.x, tile.y);
        w < be && e > bw && s < bn && n > bs
    }
}

impl Tiles for CogTiles {
    fn at(&mut self, tile_id: TileId) -> Option<TilePiece> {
        self.begin_pass_if_new();
        self.use_counter += 1;
        if let Some(entry) = self.cache.get_mut(&tile_id) {
            entry.last_used = self.use_counter;
            let texture = entry.texture.as_ref()?;
            let full = Rect::from_min_max(pos2(0.0, 0.0), pos2(1.0, 1.0));
            return Some(TilePiece::new(Tile::Raster(texture.clone()), full));
        }
        if self.open_failed || !self.may_cover(tile_id) {
            return None;
        }
        self.request(tile_id);
        self.ancestor_piece(tile_id)
    }

    fn attribution(&self) -> Attribution {
        Attribution {
            text: "",
            url: "",
            logo_light: None,
            logo_dark: None,
        }
    }

    fn tile_size(&self) -> u32 {
        PREVIEW_TILE_SIZE
    }

    fn stats(&self) -> Stats {
        Stats {
            in_progress: self.in_flight.len(),
        }
    }
}

impl Drop for CogTiles {
    fn drop(&mut self) {
        // The render threads finish their current tile and end; nobody waits for them.
        let mut queue = self.shared.lock();
        queue.closed = true;
        queue.pending.clear();
        drop(queue);
        self.shared.wakeup.notify_all();
    }
}

/// One render thread's state.
struct RenderWorker {
    shared: Arc<SharedQueue>,
    source: PreviewSource,
    sender: Sender<WorkerMessage>,
    ctx: Context,
}

impl RenderWorker {
    /// Open the COGs, report the bounds, then render queued tiles until the layer is dropped.
    fn run(self) {
        let mut renderer = match PreviewRenderer::open(self.source.clone()) {
            Ok(renderer) => {
                let lonlat_bounds = renderer.lonlat_bounds();
                let _ = self.sender.send(WorkerMessage::Opened { lonlat_bounds });
                renderer
            }
            Err(err) => {
                let _ = self
                    .sender
                    .send(WorkerMessage::OpenFailed(error_chain(&err)));
                self.ctx.request_repaint();
                return;
            }
        };
        self.ctx.request_repaint();
        while let Some(tile) = self.next_tile() {
            let result = renderer
                .render_tile(tile.zoom, tile.x, tile.y)
                .map_err(|err| error_chain(&err));
            if self
                .sender
                .send(WorkerMessage::Rendered { tile, result })
                .is_err()
            {
                return;
            }
            self.ctx.request_repaint();
        }
    }

    /// Wait for the next request; None when the layer was dropped.
    fn next_tile(&self) -> Option<TileId> {
        let mut queue = self.shared.lock();
        loop {
            if queue.closed {
                return None;
            }
            if let Some(tile) = queue.pending.pop_front() {
                return Some(tile);
            }
            queue = self
                .shared
                .wakeup
                .wait(queue)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// Tile ids of a lon/lat point at `zoom` (for tests and callers that prefetch).
pub fn tile_containing(lon: f64, lat: f64, zoom: u8) -> TileId {
    let n = f64::from(1u32 << zoom.min(31));
    let x = ((lon + 180.0) / 360.0 * n).floor().clamp(0.0, n - 1.0);
    let lat = lat.to_radians();
    let y = ((1.0 - (lat.tan() + 1.0 / lat.cos()).ln() / std::f64::consts::PI) / 2.0 * n)
        .floor()
        .clamp(0.0, n - 1.0);
    TileId {
        x: x as u32,
        y: y as u32,
        zoom,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every id in `tiles` is distinct.
    fn distinct(tiles: &[TileId]) -> bool {
        tiles.iter().collect::<std::collections::HashSet<_>>().len() == tiles.len()
    }

    #[test]
    fn raster_tiles_missing_cogs_report_an_error_and_queue_nothing() {
        let ctx = Context::default();
        let source = PreviewSource::SingleBand {
            path: "/no/such/file.tif".into(),
            min: 0.0,
            max: 1.0,
        };
        let mut tiles = CogTiles::new(&ctx, "missing", source);
        let started = std::time::Instant::now();
        while tiles.error().is_none() {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(10),
                "no error reported"
            );
            tiles.receive_rendered();
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(
            tiles.error().unwrap_or("").contains("/no/such/file.tif"),
            "{:?}",
            tiles.error()
        );
        assert!(tiles.at(tile_containing(4.5, 52.2, 10)).is_none());
        assert_eq!(tiles.pending_tiles(), 0);
    }

    #[test]
    fn raster_tiles_requests_are_deduplicated_and_bounded() {
        let ctx = Context::default();
        // A missing file: the threads end after failing, so queued requests stay put.
        let source = PreviewSource::SingleBand {
            path: "/no/such/file.tif".into(),
            min: 0.0,
            max: 1.0,
        };
        let mut tiles = CogTiles::new(&ctx, "queue", source);
        let ids: Vec<TileId> = (0..100).map(|x| TileId { x, y: 0, zoom: 10 }).collect();
        assert!(distinct(&ids));
        tiles.current_pass = 5;
        for id in ids.iter().chain(ids.iter()) {
            tiles.request(*id);
        }
        assert!(tiles.pending_tiles() <= QUEUE_CAPACITY);
        assert!(tiles.shared.lock().pending.len() <= QUEUE_CAPACITY);
        // A later frame that wants none of them drops them to make room.
        tiles.current_pass = 9;
        tiles.request(TileId {
            x: 500,
            y: 1,
            zoom: 10,
        });
        assert!(tiles.in_flight.contains_key(&TileId {
            x: 500,
            y: 1,
            zoom: 10
        }));
        assert!(
            tiles.pending_tiles() <= 1 + RENDER_THREADS,
            "{}",
            tiles.pending_tiles()
        );
    }

    #[test]
    fn raster_tiles_tile_containing_matches_the_tile_bounds() {
        let tile = tile_containing(4.5, 52.2, 12);
        let [w, s, e, n] = tile_lonlat_bounds(tile.zoom, tile.x, tile.y);
        assert!(w <= 4.5 && 4.5 < e && s <= 52.2 && 52.2 < n);
    }
}
