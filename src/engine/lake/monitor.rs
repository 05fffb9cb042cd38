//! Table health over time: each look at a table's current version (GUI Overview, `meshlake table
//! monitor` from cron) records its file, small-file and version counts in a small per-table log under
//! the data folder (`monitor/<table hash>.json`, rewritten atomically, the last
//! [`MAX_OBSERVATIONS`] kept), so the Overview can chart growth and alert when a threshold is crossed.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::engine::lake::inspect::{SmallFilePolicy, VersionSelector, table_history, table_info};
use crate::engine::lake::{LakeError, TableRef};

/// Observations kept per table.
pub const MAX_OBSERVATIONS: usize = 2_000;

/// One look at a table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HealthObservation {
    pub observed_at: DateTime<Utc>,
    /// The current Delta version / Iceberg snapshot id.
    pub version: Option<i64>,
    /// Commits / snapshots the table keeps (its history length).
    pub versions: u64,
    pub files: u64,
    pub bytes: u64,
    pub small_files: u64,
    pub max_small_files_per_partition: u64,
}

/// A table's observations (oldest first) and what crosses the thresholds now.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HealthSeries {
    pub table: String,
    pub policy: SmallFilePolicy,
    pub observations: Vec<HealthObservation>,
    /// Thresholds the latest observation crosses, in words (empty: healthy).
    pub alerts: Vec<String>,
    /// Where the observations are kept.
    pub log: PathBuf,
}

/// Why the monitor log could not be kept.
fn log_error(path: &Path, action: &'static str, source: std::io::Error) -> LakeError {
    LakeError::Io { path: path.to_path_buf(), action, source }
}

/// The log file of a table under `dir`.
pub fn log_path(dir: &Path, table: &TableRef) -> PathBuf {
    let text = table.to_string();
    // A hash that stays the same across Rust releases (std's DefaultHasher does not promise that).
    let hash = crc32fast::hash(text.as_bytes());
    let last = text.rsplit(['/', '#']).find(|part| !part.is_empty()).unwrap_or("table");
    let name: String = last.chars().take(40).map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' { c } else { '_' }).collect();
    dir.join(format!("{name}-{hash:08x}.json"))
}

/// The alerts an observation raises under a policy.
pub fn alerts(observation: &HealthObservation, policy: &SmallFilePolicy) -> Vec<String> {
    let mut alerts = Vec::new();
    if observation.max_small_files_per_partition > policy.max_small_files_per_partition {
        alerts.push(format!(
            "{} small files (< {} bytes) in one partition, more than the {} allowed: compact the table",
            observation.max_small_files_per_partition, policy.small_file_bytes, policy.max_small_files_per_partition
        ));
    }
    alerts
}

/// Read a table's log (empty when there is none yet).
pub fn read_log(path: &Path) -> Result<Vec<HealthObservation>, LakeError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| LakeError::BadReference {
            reference: path.display().to_string(),
            reason: format!("the monitor log is not readable ({e}); delete it to start a new one"),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(log_error(path, "reading the monitor log", e)),
    }
}

/// Add an observation (unless it repeats the last one's figures) and write the log atomically.
pub fn record(path: &Path, mut observations: Vec<HealthObservation>, observation: HealthObservation) -> Result<Vec<HealthObservation>, LakeError> {
    let same_figures = |last: &HealthObservation| {
        last.version == observation.version
            && last.files == observation.files
            && last.small_files == observation.small_files
            && last.max_small_files_per_partition == observation.max_small_files_per_partition
            && last.versions == observation.versions
    };
    if observations.last().is_some_and(same_figures) {
        return Ok(observations);
    }
    observations.push(observation);
    if observations.len() > MAX_OBSERVATIONS {
        observations.drain(..observations.len() - MAX_OBSERVATIONS);
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| log_error(dir, "creating the monitor folder", e))?;
    let bytes = serde_json::to_vec(&observations).map_err(|e| log_error(path, "encoding the monitor log", std::io::Error::other(e)))?;
    let temporary = path.with_extension("json.tmp");
    std::fs::write(&temporary, bytes).map_err(|e| log_error(&temporary, "writing the monitor log", e))?;
    std::fs::rename(&temporary, path).map_err(|e| log_error(path, "replacing the monitor log", e))?;
    Ok(observations)
}

/// Look at a table's current version, record it in `log_dir` and return the whole series.
pub async fn observe(table: &TableRef, policy: &SmallFilePolicy, log_dir: &Path) -> Result<HealthSeries, LakeError> {
    let table = table.resolve().await?;
    let (info, history) = tokio::try_join!(table_info(&table, &VersionSelector::Latest, policy), table_history(&table))?;
    let observation = HealthObservation {
        observed_at: Utc::now(),
        version: info.version,
        versions: history.versions.len() as u64,
        files: info.num_files,
        bytes: info.total_bytes,
        small_files: info.small_files,
        max_small_files_per_partition: info.max_small_files_per_partition,
    };
    let alerts = alerts(&observation, policy);
    let log = log_path(log_dir, &table);
    let observations = read_log(&log)?;
    let observations = record(&log, observations, observation)?;
    Ok(HealthSeries { table: table.to_string(), policy: *policy, observations, alerts, log })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn observation(version: i64, max_small: u64) -> HealthObservation {
        HealthObservation {
            observed_at: Utc::now(),
            version: Some(version),
            versions: version as u64 + 1,
            files: 10,
            bytes: 100,
            small_files: max_small,
            max_small_files_per_partition: max_small,
        }
    }

    #[test]
    fn the_log_keeps_changes_only_and_survives_a_reread() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("monitor").join("t.json");
        let log = record(&path, read_log(&path).unwrap(), observation(1, 5)).unwrap();
        let log = record(&path, log, observation(1, 5)).unwrap();
        assert_eq!(log.len(), 1, "an unchanged table adds nothing");
        record(&path, log, observation(2, 7)).unwrap();
        let reread = read_log(&path).unwrap();
        assert_eq!(reread.iter().map(|o| o.version).collect::<Vec<_>>(), vec![Some(1), Some(2)]);
        std::fs::write(&path, b"{broken").unwrap();
        assert!(read_log(&path).unwrap_err().to_string().contains("delete it"));
    }

    #[test]
    fn alerts_follow_the_policy() {
        let policy = SmallFilePolicy { max_small_files_per_partition: 5, ..Default::default() };
        assert!(alerts(&observation(1, 5), &policy).is_empty());
        let raised = alerts(&observation(1, 6), &policy);
        assert_eq!(raised.len(), 1);
        assert!(raised[0].contains("compact"), "{}", raised[0]);
    }
}
