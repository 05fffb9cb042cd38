//! Where a raster's bytes come from: a local file (positioned reads, so any number of threads read one
//! open file at once) or an http(s) URL (range requests, see [`super::http`]), behind [`RangeSource`];
//! and [`SourceCursor`], the `Read + Seek` view the TIFF decoder parses directories through, which
//! reads ahead in blocks so that a COG's header costs one or two reads.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Random access to the bytes of one file or URL.
pub trait RangeSource: Send + Sync + std::fmt::Debug {
    /// Fill `buf` with the bytes at `offset..offset + buf.len()`; an `UnexpectedEof` error when the
    /// source ends before.
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()>;
    /// Total size in bytes.
    fn len(&self) -> u64;
    /// Whether the source is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The path or URL, for messages.
    fn label(&self) -> &Path;
    /// Bytes read so far (for tests and statistics).
    fn bytes_read(&self) -> u64 {
        0
    }
    /// Read-ahead block size for directory parsing.
    fn block_size(&self) -> usize {
        64 * 1024
    }
}

/// Whether an href is an http(s) URL.
pub fn is_http(href: &str) -> bool {
    let lower = href.get(..8).unwrap_or(href).to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// A failed read of `label` as a [`super::RasterError`]: `Http` for URLs, `Io` for files.
pub fn read_error(label: &Path, source: std::io::Error) -> super::RasterError {
    match label.to_str() {
        Some(url) if is_http(url) => super::RasterError::Http { url: url.to_owned(), detail: source.to_string() },
        _ => super::RasterError::Io { path: label.to_path_buf(), source },
    }
}

/// Open a path or an http(s) URL (given as a path whose text is the URL).
pub fn open_source(path: &Path) -> Result<Arc<dyn RangeSource>, super::RasterError> {
    match path.to_str() {
        Some(text) if is_http(text) => Ok(Arc::new(super::http::HttpSource::open(text)?)),
        _ => Ok(Arc::new(LocalFile::open(path)?)),
    }
}

/// A local file read with positioned reads (`pread`).
#[derive(Debug)]
pub struct LocalFile {
    file: File,
    path: PathBuf,
    len: u64,
    read: std::sync::atomic::AtomicU64,
}

impl LocalFile {
    pub fn open(path: &Path) -> Result<Self, super::RasterError> {
        let io = |source| super::RasterError::Io { path: path.to_path_buf(), source };
        let file = File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        Ok(Self { file, path: path.to_path_buf(), len, read: Default::default() })
    }
}

impl RangeSource for LocalFile {
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        self.read.fetch_add(buf.len() as u64, std::sync::atomic::Ordering::Relaxed);
        #[cfg(unix)]
        {
            std::os::unix::fs::FileExt::read_exact_at(&self.file, buf, offset)
        }
        #[cfg(windows)]
        {
            let (mut done, mut offset) = (0, offset);
            while done < buf.len() {
                let n = std::os::windows::fs::FileExt::seek_read(&self.file, &mut buf[done..], offset)?;
                if n == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                done += n;
                offset += n as u64;
            }
            Ok(())
        }
    }

    fn len(&self) -> u64 {
        self.len
    }

    fn label(&self) -> &Path {
        &self.path
    }

    fn bytes_read(&self) -> u64 {
        self.read.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// `Read + Seek` over a [`RangeSource`] with one read-ahead block; sequential misses double the
/// block (up to 4 MiB) so that a long sequential read over http does not turn into many requests.
#[derive(Debug)]
pub struct SourceCursor {
    source: Arc<dyn RangeSource>,
    pos: u64,
    block_start: u64,
    block: Vec<u8>,
    block_size: usize,
}

const MAX_BLOCK: usize = 4 * 1024 * 1024;

impl SourceCursor {
    pub fn new(source: Arc<dyn RangeSource>) -> Self {
        let block_size = source.block_size();
        Self { source, pos: 0, block_start: 0, block: Vec::new(), block_size }
    }
}

impl Read for SourceCursor {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let len = self.source.len();
        if buf.is_empty() || self.pos >= len {
            return Ok(0);
        }
        let block_end = self.block_start + self.block.len() as u64;
        if !(self.pos >= self.block_start && self.pos < block_end) {
            if self.pos == block_end && !self.block.is_empty() {
                self.block_size = (self.block_size * 2).min(MAX_BLOCK);
            } else {
                self.block_size = self.source.block_size();
            }
            let want = self.block_size.max(buf.len()) as u64;
            let n = want.min(len - self.pos) as usize;
            self.block.resize(n, 0);
            self.source.read_exact_at(self.pos, &mut self.block)?;
            self.block_start = self.pos;
        }
        let start = (self.pos - self.block_start) as usize;
        let n = buf.len().min(self.block.len() - start);
        buf[..n].copy_from_slice(&self.block[start..start + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for SourceCursor {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let target = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.source.len().checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = target.ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "seek before the start"))?;
        Ok(self.pos)
    }
}
