//! COGs over http(s): a [`RangeSource`] that fetches byte ranges with `Range` requests (reqwest, the
//! project's HTTP client). Opening fetches the first 16 KiB — a COG's directories — and learns the size
//! from `Content-Range`; tiles are then fetched one range each. Transient failures (connection errors,
//! timeouts, 429, 5xx) are retried with backoff; a 404 or another client error fails at once, naming
//! the URL.
//!
//! Requests run on a small runtime of their own, so a read blocks only its calling thread, whichever
//! thread that is (the worker pool, a tokio worker, a test).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::RasterError;
use super::source::RangeSource;

/// Bytes fetched when opening (as GDAL: 16 KiB hold the directories of most COGs; a larger header is
/// read on in blocks that double).
pub const HEAD_BYTES: u64 = 16 * 1024;
/// Attempts per request (the first one included).
pub const ATTEMPTS: u32 = 4;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("meshlake-http")
            .enable_all()
            .build()
            .expect("the HTTP runtime starts")
    })
}

fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .user_agent(concat!("meshlake/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default()
    })
}

/// What one range request returned.
struct Fetched {
    /// 206 (a range) or 200 (the whole file: the server ignored `Range`).
    partial: bool,
    /// The total size from `Content-Range` (or the body length of a 200).
    total: Option<u64>,
    body: Vec<u8>,
}

#[derive(Debug)]
enum Failure {
    /// Worth another try.
    Transient(String),
    Fatal(String),
}

async fn fetch_once(url: &str, start: u64, end_inclusive: u64) -> Result<Fetched, Failure> {
    let response = client()
        .get(url)
        .header(reqwest::header::RANGE, format!("bytes={start}-{end_inclusive}"))
        .send()
        .await
        .map_err(|e| Failure::Transient(format!("request failed: {e}")))?;
    let status = response.status();
    if status == reqwest::StatusCode::RANGE_NOT_SATISFIABLE {
        return Err(Failure::Fatal(format!("HTTP 416: bytes {start}-{end_inclusive} lie beyond the end of the file (truncated?)")));
    }
    if status.as_u16() == 429 || status.is_server_error() {
        return Err(Failure::Transient(format!("HTTP {status}")));
    }
    if !status.is_success() {
        return Err(Failure::Fatal(format!("HTTP {status}")));
    }
    let partial = status == reqwest::StatusCode::PARTIAL_CONTENT;
    let total = if partial {
        response
            .headers()
            .get(reqwest::header::CONTENT_RANGE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit('/').next())
            .and_then(|v| v.trim().parse().ok())
    } else {
        None
    };
    let body = response.bytes().await.map_err(|e| Failure::Transient(format!("reading the body failed: {e}")))?.to_vec();
    let total = if partial { total } else { Some(body.len() as u64) };
    Ok(Fetched { partial, total, body })
}

/// Fetch `start..=end` with retries; runs on the HTTP runtime and blocks the calling thread.
fn fetch(url: &str, start: u64, end_inclusive: u64) -> Result<Fetched, String> {
    let url_owned = url.to_owned();
    let task = async move {
        let mut delay = Duration::from_millis(200);
        let mut last = String::new();
        for attempt in 1..=ATTEMPTS {
            match fetch_once(&url_owned, start, end_inclusive).await {
                Ok(f) => return Ok(f),
                Err(Failure::Fatal(msg)) => return Err(msg),
                Err(Failure::Transient(msg)) => {
                    last = msg;
                    if attempt < ATTEMPTS {
                        tokio::time::sleep(delay).await;
                        delay *= 2;
                    }
                }
            }
        }
        Err(format!("{last} (after {ATTEMPTS} attempts)"))
    };
    let (tx, rx) = std::sync::mpsc::channel();
    runtime().spawn(async move {
        let _ = tx.send(task.await);
    });
    rx.recv().map_err(|_| "the HTTP runtime stopped".to_owned())?
}

/// An http(s) COG read with range requests.
#[derive(Debug)]
pub struct HttpSource {
    url: String,
    label: PathBuf,
    len: u64,
    /// The first bytes of the file (or all of it when the server ignores `Range`).
    head: Vec<u8>,
    fetched: AtomicU64,
}

impl HttpSource {
    /// Fetch the head of `url` and learn its size.
    pub fn open(url: &str) -> Result<Self, RasterError> {
        let label = PathBuf::from(url);
        let fail = |detail: String| RasterError::Http { url: url.to_owned(), detail };
        let first = fetch(url, 0, HEAD_BYTES - 1).map_err(&fail)?;
        let len = if first.partial {
            first.total.ok_or_else(|| fail("the server's 206 response has no Content-Range size".into()))?
        } else {
            tracing::warn!(%url, "the server ignored the Range header; the whole file was downloaded");
            first.body.len() as u64
        };
        let fetched = AtomicU64::new(first.body.len() as u64);
        Ok(Self { url: url.to_owned(), label, len, head: first.body, fetched })
    }

    /// Bytes fetched over the network so far (head included).
    pub fn fetched(&self) -> u64 {
        self.fetched.load(Ordering::Relaxed)
    }
}

impl RangeSource for HttpSource {
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        let end = offset + buf.len() as u64;
        if end > self.len {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("bytes {offset}..{end} lie beyond the end of {} ({} bytes)", self.url, self.len),
            ));
        }
        if buf.is_empty() {
            return Ok(());
        }
        if end <= self.head.len() as u64 {
            buf.copy_from_slice(&self.head[offset as usize..end as usize]);
            return Ok(());
        }
        let got = fetch(&self.url, offset, end - 1).map_err(std::io::Error::other)?;
        let body = if got.partial {
            got.body
        } else {
            // A server that ignores Range sends everything: take our part.
            got.body.get(offset as usize..end as usize).map(<[u8]>::to_vec).unwrap_or_default()
        };
        if body.len() != buf.len() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("asked {} for bytes {offset}..{end}, got {} bytes", self.url, body.len()),
            ));
        }
        self.fetched.fetch_add(body.len() as u64, Ordering::Relaxed);
        buf.copy_from_slice(&body);
        Ok(())
    }

    fn len(&self) -> u64 {
        self.len
    }

    fn label(&self) -> &Path {
        &self.label
    }

    fn bytes_read(&self) -> u64 {
        self.fetched()
    }

    fn block_size(&self) -> usize {
        HEAD_BYTES as usize
    }
}
