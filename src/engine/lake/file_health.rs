//! File-size health of a table version: a size histogram (powers of two) and small-file counts per
//! partition against a [`SmallFilePolicy`] — the steward's view of what compaction would fix.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::engine::lake::inspect::{FileKind, SmallFilePolicy, TableFiles};

/// One bar of the size histogram: data files with `min_bytes <= size < max_bytes`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SizeBucket {
    pub min_bytes: u64,
    pub max_bytes: u64,
    pub files: u64,
    /// Whether files of this bucket count as small under the policy (the whole bucket is below it).
    pub small: bool,
}

/// Small-file figures of one partition (`""` for an unpartitioned table).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PartitionHealth {
    /// `col=value/col2=value` (empty for an unpartitioned table).
    pub partition: String,
    pub files: u64,
    pub small_files: u64,
    pub bytes: u64,
    /// More small files than `max_small_files_per_partition`.
    pub alert: bool,
}

/// The histogram and per-partition figures of a table version's data files.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FilesHealth {
    pub policy: SmallFilePolicy,
    pub data_files: u64,
    pub small_files: u64,
    pub delete_files: u64,
    /// Ascending, contiguous from the smallest to the largest file's bucket.
    pub size_histogram: Vec<SizeBucket>,
    /// Most small files first.
    pub partitions: Vec<PartitionHealth>,
}

impl FilesHealth {
    /// Partitions over the alert threshold.
    pub fn alerts(&self) -> impl Iterator<Item = &PartitionHealth> {
        self.partitions.iter().filter(|p| p.alert)
    }
}

/// `col=value/col2=value` for a file's partition values (`null` for a null value).
pub fn partition_label(partition: &BTreeMap<String, Option<String>>) -> String {
    partition
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_deref().unwrap_or("null")))
        .collect::<Vec<_>>()
        .join("/")
}

/// The power-of-two bucket a size falls in: `[2^k, 2^(k+1))`, with 0 in bucket 0.
fn bucket_of(bytes: u64) -> u32 {
    if bytes == 0 { 0 } else { 63 - bytes.leading_zeros() }
}

/// Compute the health figures of `files` under `policy`.
pub fn files_health(files: &TableFiles, policy: &SmallFilePolicy) -> FilesHealth {
    let data: Vec<_> = files.files.iter().filter(|f| f.kind == FileKind::Data).collect();
    let mut partitions: BTreeMap<String, PartitionHealth> = BTreeMap::new();
    let mut counts: BTreeMap<u32, u64> = BTreeMap::new();
    let mut small_files = 0;
    for file in &data {
        let small = file.bytes < policy.small_file_bytes;
        small_files += u64::from(small);
        *counts.entry(bucket_of(file.bytes)).or_default() += 1;
        let label = partition_label(&file.partition);
        let entry = partitions.entry(label.clone()).or_insert_with(|| PartitionHealth {
            partition: label,
            files: 0,
            small_files: 0,
            bytes: 0,
            alert: false,
        });
        entry.files += 1;
        entry.small_files += u64::from(small);
        entry.bytes += file.bytes;
    }
    let size_histogram = match (counts.keys().next(), counts.keys().next_back()) {
        (Some(&low), Some(&high)) => (low..=high)
            .map(|k| {
                let min_bytes = if k == 0 { 0 } else { 1u64 << k };
                let max_bytes = 1u64.checked_shl(k + 1).unwrap_or(u64::MAX);
                SizeBucket {
                    min_bytes,
                    max_bytes,
                    files: counts.get(&k).copied().unwrap_or(0),
                    small: max_bytes <= policy.small_file_bytes,
                }
            })
            .collect(),
        _ => Vec::new(),
    };
    let mut partitions: Vec<PartitionHealth> = partitions
        .into_values()
        .map(|mut p| {
            p.alert = p.small_files > policy.max_small_files_per_partition;
            p
        })
        .collect();
    partitions.sort_by(|a, b| b.small_files.cmp(&a.small_files).then_with(|| a.partition.cmp(&b.partition)));
    FilesHealth {
        policy: *policy,
        data_files: data.len() as u64,
        small_files,
        delete_files: (files.files.len() - data.len()) as u64,
        size_histogram,
        partitions,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::lake::inspect::TableFile;

    fn file(bytes: u64, partition: Option<&str>, kind: FileKind) -> TableFile {
        TableFile {
            path: format!("f{bytes}.parquet"),
            partition: partition.map(|p| [("crop".to_owned(), Some(p.to_owned()))].into_iter().collect()).unwrap_or_default(),
            bytes,
            rows: None,
            bbox: None,
            kind,
            deletion_vector: None,
        }
    }

    #[test]
    fn histogram_and_partitions_follow_the_policy() {
        let files = TableFiles {
            files: vec![
                file(1000, Some("wheat"), FileKind::Data),
                file(1500, Some("wheat"), FileKind::Data),
                file(3000, Some("wheat"), FileKind::Data),
                file(70_000, Some("maize"), FileKind::Data),
                file(900, Some("maize"), FileKind::PositionDeletes),
            ],
        };
        let policy = SmallFilePolicy { target_file_bytes: 8192, small_file_bytes: 2048, max_small_files_per_partition: 1 };
        let health = files_health(&files, &policy);
        assert_eq!((health.data_files, health.small_files, health.delete_files), (4, 2, 1));
        // 1000 → [512,1024); 1500 → [1024,2048); 3000 → [2048,4096); 70000 → [65536,131072).
        assert_eq!(health.size_histogram.first().map(|b| (b.min_bytes, b.files, b.small)), Some((512, 1, true)));
        assert_eq!(health.size_histogram.len(), 16 - 9 + 1);
        assert_eq!(health.size_histogram.iter().map(|b| b.files).sum::<u64>(), 4);
        assert!(health.size_histogram[1].small && !health.size_histogram[2].small);
        assert_eq!(health.partitions[0].partition, "crop=wheat");
        assert_eq!((health.partitions[0].files, health.partitions[0].small_files), (3, 2));
        assert!(health.partitions[0].alert);
        assert!(!health.partitions[1].alert);
        assert_eq!(health.alerts().count(), 1);
    }

    #[test]
    fn empty_and_unpartitioned_tables() {
        let health = files_health(&TableFiles { files: vec![] }, &SmallFilePolicy::default());
        assert!(health.size_histogram.is_empty() && health.partitions.is_empty());
        let health = files_health(&TableFiles { files: vec![file(0, None, FileKind::Data)] }, &SmallFilePolicy::default());
        assert_eq!(health.size_histogram[0].min_bytes, 0);
        assert_eq!(health.partitions[0].partition, "");
    }
}
