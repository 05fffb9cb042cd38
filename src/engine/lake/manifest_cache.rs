//! On-disk cache of what each Iceberg manifest says about its live files.
//!
//! Opening a table with many snapshots means decoding as many Avro manifests (1,000 for a table
//! appended to 1,000 times) just to count files, bytes and small files. Manifests are immutable
//! once written, so the summary of each one (its live files' paths, sizes, record counts,
//! partitions, kinds and bounding boxes) is kept under the cache folder
//! (`MESHLAKE_CACHE_DIR`, default `~/.cache/meshlake`, in `iceberg-manifests/`), one JSON file
//! per table, and re-opening a table decodes only manifests it has not seen.
//!
//! - An entry's key is the manifest's path, its length from the manifest list, and a fingerprint
//!   of how it was summarised (partition spec and type, bounding-box columns). For a local
//!   manifest the file's size and modification time are checked too (one `stat`), so a missing,
//!   truncated or rewritten manifest is read again (and its error reported) rather than trusted.
//! - Writes are atomic (a temporary file renamed over the old one); concurrent writers only lose
//!   each other's additions. A cache file that cannot be read or parsed is ignored and rewritten.
//! - Bounded: at most [`MAX_FILES_PER_TABLE`] live files per table file (entries not used by the
//!   current open are dropped first) and at most [`MAX_TABLES`] table files (oldest removed).
//! - Any cache failure only costs time: the manifests are then decoded as without a cache.
//!
//! Set `MESHLAKE_MANIFEST_CACHE=off` to bypass it (benchmarks of a cold open).

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};

use crate::engine::settings::AppPaths;

/// Bumped whenever the stored layout or the meaning of a summary changes.
const FORMAT: u32 = 1;
/// Most live files kept for one table.
pub const MAX_FILES_PER_TABLE: usize = 1_000_000;
/// Most tables kept.
pub const MAX_TABLES: usize = 256;

/// Stable 64-bit FNV-1a (the std hasher's algorithm is not promised to stay the same).
pub struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 ^= u64::from(*byte);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// A stable hash of `value`, as 16 hex digits.
pub fn fingerprint(value: &impl Hash) -> String {
    let mut hasher = Fnv::default();
    value.hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

/// The key of one manifest's summary. `local` is the manifest's local path when it is a local file.
pub fn manifest_key(path: &str, length: i64, context: &str, local: Option<&Path>) -> Option<String> {
    let stamp = match local {
        Some(local) => {
            let meta = std::fs::metadata(local).ok()?;
            if i64::try_from(meta.len()).ok()? != length {
                return None;
            }
            let modified = meta.modified().ok()?.duration_since(UNIX_EPOCH).ok()?;
            format!("{}.{:09}", modified.as_secs(), modified.subsec_nanos())
        }
        None => "-".to_string(),
    };
    Some(format!("{path}\n{length}\n{stamp}\n{context}"))
}

#[derive(Serialize, Deserialize)]
struct Stored<T> {
    format: u32,
    manifests: HashMap<String, Vec<T>>,
}

/// The cached summaries of one table's manifests.
pub struct ManifestCache<T> {
    file: Option<PathBuf>,
    stored: HashMap<String, Vec<T>>,
    used: HashMap<String, Vec<T>>,
    changed: bool,
}

impl<T: Serialize + for<'de> Deserialize<'de> + Clone> ManifestCache<T> {
    /// The cache of the table at `location` (empty when there is none, it is unreadable, or
    /// caching is off).
    pub fn load(location: &str) -> Self {
        Self::load_in(cache_folder(), location)
    }

    /// The cache of the table at `location` kept in `folder` (none: caching off).
    pub fn load_in(folder: Option<PathBuf>, location: &str) -> Self {
        let file = folder.map(|dir| dir.join(format!("{}.json", fingerprint(&location))));
        let stored = file
            .as_deref()
            .and_then(|file| std::fs::read(file).ok())
            .and_then(|bytes| serde_json::from_slice::<Stored<T>>(&bytes).ok())
            .filter(|stored| stored.format == FORMAT)
            .map(|stored| stored.manifests)
            .unwrap_or_default();
        Self { file, stored, used: HashMap::new(), changed: false }
    }

    /// The summary stored under `key`, remembered as used.
    pub fn get(&mut self, key: &str) -> Option<Vec<T>> {
        let files = self.stored.remove(key)?;
        self.used.insert(key.to_string(), files.clone());
        Some(files)
    }

    /// Remember a freshly decoded summary.
    pub fn put(&mut self, key: String, files: Vec<T>) {
        self.used.insert(key, files);
        self.changed = true;
    }

    /// Write the cache back when something new was decoded (best effort, atomically).
    pub fn save(self) {
        let Some(file) = self.file else { return };
        if !self.changed {
            return;
        }
        let mut budget = MAX_FILES_PER_TABLE;
        let mut manifests = HashMap::new();
        for (key, files) in self.used.into_iter().chain(self.stored) {
            if files.len() > budget {
                continue;
            }
            budget -= files.len();
            manifests.insert(key, files);
        }
        let Ok(bytes) = serde_json::to_vec(&Stored { format: FORMAT, manifests }) else { return };
        let Some(dir) = file.parent() else { return };
        if std::fs::create_dir_all(dir).is_err() {
            return;
        }
        let temp = dir.join(format!(".{}.{}.tmp", std::process::id(), fingerprint(&file)));
        if std::fs::write(&temp, bytes).is_err() || std::fs::rename(&temp, &file).is_err() {
            let _ = std::fs::remove_file(&temp);
            return;
        }
        prune(dir);
    }
}

/// `<cache>/iceberg-manifests`, or `None` when caching is off or there is no cache folder.
fn cache_folder() -> Option<PathBuf> {
    if std::env::var("MESHLAKE_MANIFEST_CACHE").is_ok_and(|v| v.eq_ignore_ascii_case("off") || v == "0") {
        return None;
    }
    AppPaths::from_env().ok().map(|paths| paths.cache_dir.join("iceberg-manifests"))
}

/// Keep the newest [`MAX_TABLES`] table files.
fn prune(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut files: Vec<(std::time::SystemTime, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    if files.len() <= MAX_TABLES {
        return;
    }
    files.sort();
    let excess = files.len() - MAX_TABLES;
    for (_, path) in files.into_iter().take(excess) {
        let _ = std::fs::remove_file(path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_is_stable() {
        assert_eq!(fingerprint(&"abc"), fingerprint(&"abc"));
        assert_ne!(fingerprint(&"abc"), fingerprint(&"abd"));
    }

    #[test]
    fn round_trip_and_corrupt_file_is_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let folder = Some(dir.path().to_path_buf());
        let mut cache = ManifestCache::<String>::load_in(folder.clone(), "/t");
        assert!(cache.get("k").is_none());
        cache.put("k".into(), vec!["a".into(), "b".into()]);
        cache.save();
        let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().path()).collect();
        assert_eq!(files.len(), 1, "one file per table, no temporary left: {files:?}");
        let mut cache = ManifestCache::<String>::load_in(folder.clone(), "/t");
        assert_eq!(cache.get("k"), Some(vec!["a".to_string(), "b".to_string()]));
        assert!(ManifestCache::<String>::load_in(folder.clone(), "/other").get("k").is_none());

        std::fs::write(&files[0], b"{not json").unwrap();
        let mut cache = ManifestCache::<String>::load_in(folder.clone(), "/t");
        assert!(cache.get("k").is_none(), "a corrupt cache file is ignored");
        cache.put("k".into(), vec!["c".into()]);
        cache.save();
        assert_eq!(ManifestCache::<String>::load_in(folder, "/t").get("k"), Some(vec!["c".to_string()]));
    }

    #[test]
    fn local_key_follows_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.avro");
        std::fs::write(&path, b"12345").unwrap();
        assert!(manifest_key("m", 5, "c", Some(&path)).is_some());
        assert!(manifest_key("m", 6, "c", Some(&path)).is_none(), "wrong length");
        std::fs::remove_file(&path).unwrap();
        assert!(manifest_key("m", 5, "c", Some(&path)).is_none(), "missing file");
        assert!(manifest_key("s3://b/m", 5, "c", None).is_some());
    }
}
