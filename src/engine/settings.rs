//! Where meshlake keeps its data (the demo workspace) and cache (map tiles), and checks they are writable.

use std::path::{Path, PathBuf};

/// Problems with the data or cache folders.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("no home folder found to put meshlake's data in; set MESHLAKE_DATA_DIR to a writable folder")]
    NoHome,
    #[error(
        "the data folder {path} is not writable ({source}); set MESHLAKE_DATA_DIR to a writable folder, or fix its permissions"
    )]
    NotWritable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The folders meshlake uses on this machine.
#[derive(Clone, Debug)]
pub struct AppPaths {
    /// Persistent data: the demo workspace lives in `data_dir/demo`.
    pub data_dir: PathBuf,
    /// Disposable cache: HTTP map tiles.
    pub cache_dir: PathBuf,
}

impl AppPaths {
    /// `MESHLAKE_DATA_DIR` / `MESHLAKE_CACHE_DIR` when set, else the platform's user folders
    /// (`~/.local/share/meshlake`, `~/.cache/meshlake` on Linux).
    pub fn from_env() -> Result<Self, SettingsError> {
        let dirs = directories::ProjectDirs::from("org", "meshlake", "meshlake");
        let data_dir = match std::env::var_os("MESHLAKE_DATA_DIR") {
            Some(dir) => PathBuf::from(dir),
            None => dirs.as_ref().ok_or(SettingsError::NoHome)?.data_dir().to_path_buf(),
        };
        let cache_dir = match std::env::var_os("MESHLAKE_CACHE_DIR") {
            Some(dir) => PathBuf::from(dir),
            None => match dirs.as_ref() {
                Some(d) => d.cache_dir().to_path_buf(),
                None => data_dir.join("cache"),
            },
        };
        Ok(Self { data_dir, cache_dir })
    }

    /// Where the demo workspace is written on first start.
    pub fn demo_dir(&self) -> PathBuf {
        self.data_dir.join("demo")
    }

    /// Where HTTP map tiles are cached.
    pub fn tile_cache_dir(&self) -> PathBuf {
        self.cache_dir.join("tiles")
    }
}

/// Create `dir` if needed and prove it is writable by writing and removing a probe file.
pub fn ensure_writable_dir(dir: &Path) -> Result<(), SettingsError> {
    let not_writable = |source| SettingsError::NotWritable { path: dir.to_path_buf(), source };
    std::fs::create_dir_all(dir).map_err(not_writable)?;
    let probe = dir.join(format!(".meshlake-write-probe-{}", std::process::id()));
    std::fs::write(&probe, b"probe").map_err(not_writable)?;
    std::fs::remove_file(&probe).map_err(not_writable)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writable_dir_is_created_and_an_unwritable_one_is_explained() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        ensure_writable_dir(&dir).unwrap();
        assert!(dir.is_dir());
        // A path below a regular file can never be created, even as root.
        let file = tmp.path().join("file");
        std::fs::write(&file, b"x").unwrap();
        let err = ensure_writable_dir(&file.join("data")).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("not writable") && text.contains("MESHLAKE_DATA_DIR"), "{text}");
    }
}
