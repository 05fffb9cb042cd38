//! The live files of a short Delta log without a checkpoint, replayed from its JSON commits.
//!
//! A query or validation of a Delta table starts from its live files. delta-rs builds them with a
//! whole kernel snapshot (Arrow schemas, log replay through Arrow JSON decoding, parsed statistics),
//! which costs milliseconds even for one commit. When every commit from version 0 up to the
//! requested one is a JSON file (no checkpoint to start from) and there are at most
//! [`SHORT_LOG_COMMITS`] of them, [`replay`] reads the same actions directly: `add` and `remove`
//! keyed by path and deletion vector (the protocol's file identity), newest action wins. Anything
//! it does not understand (a line that is not an action object, a missing `metaData` or
//! `protocol`) makes it decline, and the caller takes delta-rs's snapshot, which then gives its own
//! verdict. Tests compare both on every Delta table among the fixtures.

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;

use super::deletion_vectors::DeletionVector;

/// Longest log [`replay`] takes on; longer ones (and any with a checkpoint) go through delta-rs.
pub const SHORT_LOG_COMMITS: usize = 100;

/// An `add` action as live files need it.
#[derive(Clone, Debug, PartialEq)]
pub struct AddedFile {
    /// The path as the log names it, percent-decoded (as delta-rs gives it).
    pub path: String,
    /// Partition values keyed by the column's name in the log (the physical name under column mapping).
    pub partition: HashMap<String, Option<String>>,
    pub size: i64,
    /// `numRecords` of the statistics.
    pub num_records: Option<u64>,
    /// The statistics JSON as the log holds it.
    pub stats: Option<String>,
    pub deletion_vector: Option<DeletionVector>,
}

/// What a replay gives.
#[derive(Debug, Default)]
pub struct ReplayedLog {
    /// Live files, in no particular order.
    pub files: Vec<AddedFile>,
    /// Physical → logical column names of the newest schema (column mapping); empty without it.
    pub logical_names: HashMap<String, String>,
}

#[derive(Deserialize)]
struct Line {
    add: Option<AddAction>,
    remove: Option<RemoveAction>,
    #[serde(rename = "metaData")]
    meta_data: Option<MetadataAction>,
    protocol: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
struct AddAction {
    path: String,
    #[serde(rename = "partitionValues", default)]
    partition_values: HashMap<String, Option<String>>,
    size: i64,
    stats: Option<String>,
    #[serde(rename = "deletionVector")]
    deletion_vector: Option<DeletionVectorAction>,
}

#[derive(Deserialize)]
struct RemoveAction {
    path: String,
    #[serde(rename = "deletionVector")]
    deletion_vector: Option<DeletionVectorAction>,
}

#[derive(Deserialize)]
struct DeletionVectorAction {
    #[serde(rename = "storageType")]
    storage_type: String,
    #[serde(rename = "pathOrInlineDv")]
    path_or_inline_dv: String,
    offset: Option<i32>,
    #[serde(rename = "sizeInBytes")]
    size_in_bytes: i32,
    cardinality: i64,
}

#[derive(Deserialize)]
struct MetadataAction {
    #[serde(rename = "schemaString")]
    schema_string: String,
}

#[derive(Deserialize)]
struct SchemaJson {
    #[serde(default)]
    fields: Vec<FieldJson>,
}

#[derive(Deserialize)]
struct FieldJson {
    name: String,
    #[serde(default)]
    metadata: HashMap<String, serde_json::Value>,
}

#[derive(Deserialize)]
struct StatsJson {
    #[serde(rename = "numRecords")]
    num_records: Option<u64>,
}

impl DeletionVectorAction {
    /// The protocol's unique id of a deletion vector: storage type, path or inline bytes, offset.
    fn unique_id(&self) -> String {
        match self.offset {
            Some(offset) => format!("{}{}@{offset}", self.storage_type, self.path_or_inline_dv),
            None => format!("{}{}", self.storage_type, self.path_or_inline_dv),
        }
    }

    fn into_descriptor(self) -> Option<DeletionVector> {
        let storage_type = match self.storage_type.as_str() {
            "u" => 'u',
            "i" => 'i',
            "p" => 'p',
            _ => return None,
        };
        Some(DeletionVector {
            storage_type,
            path_or_inline_dv: self.path_or_inline_dv,
            offset: self.offset,
            size_in_bytes: self.size_in_bytes,
            cardinality: self.cardinality,
        })
    }
}

/// A file's identity in the log: its path and its deletion vector's unique id.
type FileKey = (String, Option<String>);

/// Replay `commits` (the texts of versions 0, 1, … in order). `None` when a line is not a JSON
/// action object this replay reads, or the log has no `metaData` or no `protocol`: the caller
/// then takes delta-rs's snapshot.
pub fn replay<'a>(commits: impl IntoIterator<Item = &'a str>) -> Option<ReplayedLog> {
    let mut live: BTreeMap<FileKey, AddAction> = BTreeMap::new();
    let mut schema_string = None;
    let mut has_protocol = false;
    for text in commits {
        for line in text.lines().filter(|line| !line.trim().is_empty()) {
            let line: Line = serde_json::from_str(line).ok()?;
            has_protocol |= line.protocol.is_some();
            if let Some(metadata) = line.meta_data {
                schema_string = Some(metadata.schema_string);
            }
            if let Some(remove) = line.remove {
                live.remove(&(remove.path, remove.deletion_vector.as_ref().map(DeletionVectorAction::unique_id)));
            }
            if let Some(add) = line.add {
                let key = (add.path.clone(), add.deletion_vector.as_ref().map(DeletionVectorAction::unique_id));
                live.insert(key, add);
            }
        }
    }
    let schema: SchemaJson = serde_json::from_str(&schema_string?).ok()?;
    if !has_protocol {
        return None;
    }
    let logical_names = schema
        .fields
        .into_iter()
        .filter_map(|field| match field.metadata.get(super::delta::PHYSICAL_NAME_KEY) {
            Some(serde_json::Value::String(physical)) => Some((physical.clone(), field.name)),
            _ => None,
        })
        .collect();
    let mut files = Vec::with_capacity(live.len());
    for add in live.into_values() {
        let deletion_vector = match add.deletion_vector {
            Some(dv) => Some(dv.into_descriptor()?),
            None => None,
        };
        let num_records = add
            .stats
            .as_deref()
            .and_then(|stats| serde_json::from_str::<StatsJson>(stats).ok())
            .and_then(|stats| stats.num_records);
        files.push(AddedFile {
            path: percent_encoding::percent_decode_str(&add.path).decode_utf8_lossy().into_owned(),
            partition: add.partition_values,
            size: add.size,
            num_records,
            stats: add.stats,
            deletion_vector,
        });
    }
    Some(ReplayedLog { files, logical_names })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROTOCOL: &str = r#"{"protocol":{"minReaderVersion":1,"minWriterVersion":2}}"#;
    const METADATA: &str = r#"{"metaData":{"id":"x","format":{"provider":"parquet","options":{}},"schemaString":"{\"type\":\"struct\",\"fields\":[{\"name\":\"a\",\"type\":\"long\",\"nullable\":true,\"metadata\":{}}]}","partitionColumns":[],"configuration":{}}}"#;

    fn add(path: &str, rows: u64) -> String {
        format!(
            r#"{{"add":{{"path":"{path}","partitionValues":{{}},"size":10,"modificationTime":1,"dataChange":true,"stats":"{{\"numRecords\":{rows}}}"}}}}"#
        )
    }

    #[test]
    fn newest_action_wins_and_paths_are_decoded() {
        let v0 = [PROTOCOL.to_string(), METADATA.to_string(), add("a%20b.parquet", 3), add("c.parquet", 4)].join("\n");
        let v1 = [r#"{"remove":{"path":"c.parquet","dataChange":true}}"#.to_string(), add("d.parquet", 5)].join("\n");
        let replayed = replay([v0.as_str(), v1.as_str()]).unwrap();
        let mut files: Vec<(String, Option<u64>)> = replayed.files.iter().map(|f| (f.path.clone(), f.num_records)).collect();
        files.sort();
        assert_eq!(files, vec![("a b.parquet".to_string(), Some(3)), ("d.parquet".to_string(), Some(5))]);
    }

    #[test]
    fn declines_what_it_does_not_read() {
        let no_metadata = [PROTOCOL.to_string(), add("a.parquet", 1)].join("\n");
        assert!(replay([no_metadata.as_str()]).is_none());
        let no_protocol = [METADATA.to_string(), add("a.parquet", 1)].join("\n");
        assert!(replay([no_protocol.as_str()]).is_none());
        let garbage = [PROTOCOL.to_string(), METADATA.to_string(), "{not json".to_string()].join("\n");
        assert!(replay([garbage.as_str()]).is_none());
    }
}
