//! Item thumbnails: an asset with role `thumbnail` (PNG or JPEG) fetched in a background job through
//! the STAC HTTP client (User-Agent, retries with backoff, a size cap) and cached on disk under
//! `<cache>/stac-thumbnails/<hash of the URL>`, so a second view reads the cache and makes no request.
//! Local files are read directly, but only for a local source: a remote catalog may not point at
//! local files. The image is decoded and scaled down to at most [`MAX_THUMBNAIL_SIDE`] pixels a side.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use reqwest::{Method, Url};
use serde::Serialize;

use super::api::{ApiOptions, PageRequest, StacApiClient, StacApiError};
use crate::engine::jobs::CancelToken;

/// A thumbnail larger than this (bytes) is refused.
pub const MAX_THUMBNAIL_BYTES: u64 = 16 * 1024 * 1024;
/// Decoded thumbnails are scaled down to at most this many pixels a side.
pub const MAX_THUMBNAIL_SIDE: u32 = 512;
/// The folder under the cache dir.
pub const THUMBNAIL_CACHE_FOLDER: &str = "stac-thumbnails";

/// A decoded thumbnail.
#[derive(Clone, Debug, Serialize)]
pub struct Thumbnail {
    pub href: String,
    pub width: u32,
    pub height: u32,
    /// Read from the disk cache (no request made).
    pub from_cache: bool,
    /// The cache file (remote thumbnails with a cache dir).
    pub cache_file: Option<PathBuf>,
    /// Bytes of the encoded image.
    pub bytes: u64,
    /// RGBA pixels, `width * height * 4`.
    #[serde(skip)]
    pub rgba: Vec<u8>,
}

/// Why a thumbnail could not be shown.
#[derive(Debug, thiserror::Error)]
pub enum ThumbnailError {
    #[error("thumbnail {href}: {source}")]
    Fetch {
        href: String,
        #[source]
        source: StacApiError,
    },
    #[error("thumbnail {href}: a remote catalog may not point at a local file")]
    LocalHref { href: String },
    #[error("thumbnail {href}: cannot read the file: {source}")]
    Read {
        href: String,
        #[source]
        source: std::io::Error,
    },
    #[error("thumbnail {href}: the file is larger than {MAX_THUMBNAIL_BYTES} bytes")]
    TooLarge { href: String },
    #[error("thumbnail {href}: not a PNG or JPEG image meshlake can decode ({reason})")]
    Decode { href: String, reason: String },
    #[error("cancelled")]
    Cancelled,
}

/// The cache file of a thumbnail URL: two SipHash digests of the URL (with different prefixes), hex.
pub fn cache_file(cache_dir: &Path, url: &str) -> PathBuf {
    let digest = |salt: u8| {
        let mut hasher = std::hash::DefaultHasher::new();
        salt.hash(&mut hasher);
        url.hash(&mut hasher);
        hasher.finish()
    };
    cache_dir.join(THUMBNAIL_CACHE_FOLDER).join(format!("{:016x}{:016x}", digest(1), digest(2)))
}

fn is_http(href: &str) -> bool {
    let lower = href.trim().to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// Decode PNG/JPEG bytes into RGBA, scaled down to [`MAX_THUMBNAIL_SIDE`].
pub fn decode(href: &str, bytes: &[u8]) -> Result<(u32, u32, Vec<u8>), ThumbnailError> {
    let image = image::load_from_memory(bytes).map_err(|e| ThumbnailError::Decode { href: href.to_owned(), reason: e.to_string() })?;
    let image = if image.width() > MAX_THUMBNAIL_SIDE || image.height() > MAX_THUMBNAIL_SIDE {
        image.thumbnail(MAX_THUMBNAIL_SIDE, MAX_THUMBNAIL_SIDE)
    } else {
        image
    };
    let rgba = image.to_rgba8();
    Ok((rgba.width(), rgba.height(), rgba.into_raw()))
}

/// Write `bytes` to `path` atomically (a temporary file in the same folder, then a rename).
fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.{nanos}.tmp", std::process::id()));
    let written = std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// The encoded bytes of a thumbnail: from the cache, over HTTP (then cached), or from a local file
/// (only when `remote_source` is false). Returns the bytes, whether they came from the cache, and
/// the cache file.
pub async fn fetch_bytes(
    href: &str,
    remote_source: bool,
    cache_dir: Option<&Path>,
    options: ApiOptions,
    cancel: &CancelToken,
) -> Result<(Vec<u8>, bool, Option<PathBuf>), ThumbnailError> {
    let href = href.trim();
    if !is_http(href) {
        if remote_source || href.contains("://") && !href.starts_with("file://") {
            return Err(ThumbnailError::LocalHref { href: href.to_owned() });
        }
        let path = PathBuf::from(href.strip_prefix("file://").unwrap_or(href));
        let read = |source| ThumbnailError::Read { href: href.to_owned(), source };
        if std::fs::metadata(&path).map_err(read)?.len() > MAX_THUMBNAIL_BYTES {
            return Err(ThumbnailError::TooLarge { href: href.to_owned() });
        }
        return Ok((std::fs::read(&path).map_err(read)?, false, None));
    }
    let fetch = |source| ThumbnailError::Fetch { href: href.to_owned(), source };
    let url = Url::parse(href).map_err(|e| fetch(StacApiError::BadUrl { url: href.to_owned(), reason: e.to_string() }))?;
    let cached = cache_dir.map(|dir| cache_file(dir, url.as_str()));
    if let Some(file) = &cached
        && let Ok(bytes) = std::fs::read(file)
    {
        return Ok((bytes, true, cached));
    }
    let options = ApiOptions { max_response_bytes: options.max_response_bytes.min(MAX_THUMBNAIL_BYTES), ..options };
    let client = StacApiClient::without_landing(url.clone(), options).map_err(fetch)?;
    let request = PageRequest {
        method: Method::GET,
        url,
        body: None,
        headers: vec![("Accept".to_owned(), "image/png, image/jpeg;q=0.9, image/*;q=0.5".to_owned())],
    };
    let bytes = client.send(&request, cancel).await.map_err(|e| match e {
        StacApiError::Cancelled => ThumbnailError::Cancelled,
        other => fetch(other),
    })?;
    if let Some(file) = &cached
        && let Err(err) = write_atomic(file, &bytes)
    {
        tracing::warn!(file = %file.display(), "thumbnail not cached: {err}");
    }
    Ok((bytes, false, cached))
}

/// [`decode`] on a blocking thread (a large JPEG takes a while); the bytes come back with the result.
async fn decode_blocking(href: &str, bytes: Vec<u8>) -> (u64, Result<(u32, u32, Vec<u8>), ThumbnailError>) {
    let owned = href.to_owned();
    let len = bytes.len() as u64;
    match tokio::task::spawn_blocking(move || decode(&owned, &bytes)).await {
        Ok(result) => (len, result),
        Err(err) => (len, Err(ThumbnailError::Decode { href: href.to_owned(), reason: format!("the decoder stopped: {err}") })),
    }
}

/// Fetch (or read from the cache) and decode a thumbnail. A cached file that no longer decodes is
/// removed and fetched again.
pub async fn load_thumbnail(
    href: &str,
    remote_source: bool,
    cache_dir: Option<&Path>,
    options: ApiOptions,
    cancel: &CancelToken,
) -> Result<Thumbnail, ThumbnailError> {
    let (bytes, from_cache, cache_file) = fetch_bytes(href, remote_source, cache_dir, options.clone(), cancel).await?;
    let (bytes, decoded) = decode_blocking(href, bytes).await;
    let (bytes, from_cache, decoded) = match decoded {
        Ok(decoded) => (bytes, from_cache, decoded),
        Err(_) if from_cache => {
            if let Some(file) = &cache_file {
                let _ = std::fs::remove_file(file);
            }
            let (bytes, from_cache, _) = fetch_bytes(href, remote_source, cache_dir, options, cancel).await?;
            let (bytes, decoded) = decode_blocking(href, bytes).await;
            (bytes, from_cache, decoded?)
        }
        Err(err) => {
            // Not an image: do not keep it.
            if let Some(file) = &cache_file {
                let _ = std::fs::remove_file(file);
            }
            return Err(err);
        }
    };
    let (width, height, rgba) = decoded;
    Ok(Thumbnail { href: href.to_owned(), width, height, from_cache, cache_file, bytes, rgba })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_files_are_keyed_by_url() {
        let dir = Path::new("/c");
        let a = cache_file(dir, "https://x.org/a.png");
        assert_eq!(a, cache_file(dir, "https://x.org/a.png"));
        assert_ne!(a, cache_file(dir, "https://x.org/b.png"));
        assert!(a.starts_with("/c/stac-thumbnails"));
        assert_eq!(a.file_name().unwrap().len(), 32);
    }

    #[test]
    fn png_and_jpeg_decode_and_large_images_are_scaled_down() {
        let image = image::RgbImage::from_fn(1024, 256, |x, y| image::Rgb([(x % 256) as u8, y as u8, 7]));
        for format in [image::ImageFormat::Png, image::ImageFormat::Jpeg] {
            let mut bytes = std::io::Cursor::new(Vec::new());
            image.write_to(&mut bytes, format).unwrap();
            let (w, h, rgba) = decode("t", bytes.get_ref()).unwrap();
            assert_eq!((w, h, rgba.len()), (512, 128, 512 * 128 * 4), "{format:?}");
        }
        assert!(matches!(decode("t", b"<html>404</html>"), Err(ThumbnailError::Decode { .. })));
    }

    #[tokio::test]
    async fn a_remote_source_may_not_name_a_local_thumbnail() {
        let cancel = CancelToken::default();
        for href in ["/etc/passwd", "file:///etc/passwd", "s3://bucket/t.png"] {
            let err = load_thumbnail(href, true, None, ApiOptions::default(), &cancel).await.unwrap_err();
            assert!(matches!(err, ThumbnailError::LocalHref { .. }), "{href}: {err}");
        }
        let err = load_thumbnail("/no/such/thumb.png", false, None, ApiOptions::default(), &cancel).await.unwrap_err();
        assert!(err.to_string().contains("/no/such/thumb.png"), "{err}");
    }
}
