//! Delta deletion vectors (protocol "Deletion Vector Format"): the descriptor in an `add` action
//! names a RoaringBitmapArray — inline (`i`, Z85 in the log), in a file beside the data named by a
//! UUID (`u`), or at an absolute path (`p`) — that lists the row indexes of the data file that are
//! deleted. Read here through the table's object store, checksum verified.

use roaring::RoaringTreemap;

/// The magic number of the portable RoaringBitmapArray serialization.
const PORTABLE_MAGIC: u32 = 1_681_511_377;

/// What a deletion vector descriptor says, format-neutral.
#[derive(Clone, Debug, PartialEq)]
pub struct DeletionVector {
    /// `u`, `i` or `p`.
    pub storage_type: char,
    pub path_or_inline_dv: String,
    pub offset: Option<i32>,
    pub size_in_bytes: i32,
    pub cardinality: i64,
}

/// Where a deletion vector lives.
#[derive(Clone, Debug, PartialEq)]
pub enum DeletionVectorLocation {
    /// The bitmap bytes themselves (inline in the log).
    Inline(Vec<u8>),
    /// A file relative to the table root.
    Relative(String),
    /// An absolute path or URL.
    Absolute(String),
}

impl DeletionVector {
    /// How many rows it deletes (its cardinality).
    pub fn deleted_rows(&self) -> u64 {
        self.cardinality.max(0) as u64
    }

    /// Where the bitmap is stored.
    pub fn location(&self) -> Result<DeletionVectorLocation, String> {
        match self.storage_type {
            'i' => z85::decode(&self.path_or_inline_dv)
                .map(DeletionVectorLocation::Inline)
                .map_err(|e| format!("the inline deletion vector is not valid Z85: {e:?}")),
            'u' => {
                let text = &self.path_or_inline_dv;
                let split = text
                    .len()
                    .checked_sub(20)
                    .ok_or_else(|| format!("{text:?} is too short for a Z85-encoded UUID"))?;
                let (prefix, encoded) = text.split_at(split);
                let bytes = z85::decode(encoded).map_err(|e| format!("{encoded:?} is not a Z85 UUID: {e:?}"))?;
                let uuid: [u8; 16] = bytes.try_into().map_err(|_| format!("{encoded:?} does not decode to 16 bytes"))?;
                let hex: String = uuid.iter().map(|b| format!("{b:02x}")).collect();
                let uuid = format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32]);
                let name = format!("deletion_vector_{uuid}.bin");
                Ok(DeletionVectorLocation::Relative(if prefix.is_empty() { name } else { format!("{prefix}/{name}") }))
            }
            'p' => Ok(DeletionVectorLocation::Absolute(self.path_or_inline_dv.clone())),
            other => Err(format!("unknown deletion vector storage type {other:?} (expected u, i or p)")),
        }
    }

    /// The deleted row indexes, from the bytes of the file the vector is stored in (ignored for inline ones).
    pub fn decode(&self, file_bytes: Option<&[u8]>) -> Result<RoaringTreemap, String> {
        let bitmap = match (self.location()?, file_bytes) {
            (DeletionVectorLocation::Inline(bytes), _) => {
                let magic = read_u32_le(&bytes, 0)?;
                if magic != PORTABLE_MAGIC {
                    return Err(format!("unexpected magic {magic} in the inline deletion vector"));
                }
                RoaringTreemap::deserialize_from(&bytes[4..]).map_err(|e| e.to_string())?
            }
            (_, None) => return Err("the deletion vector file was not read".to_owned()),
            (_, Some(bytes)) => {
                if bytes.first() != Some(&1) {
                    return Err(format!("unsupported deletion vector file version {:?}", bytes.first()));
                }
                let start = usize::try_from(self.offset.unwrap_or(1)).map_err(|_| "negative offset".to_owned())?;
                let size = usize::try_from(self.size_in_bytes).map_err(|_| "negative size".to_owned())?;
                let stored_size = read_u32_be(bytes, start)? as usize;
                if stored_size != size {
                    return Err(format!("size {stored_size} in the file, {size} in the log"));
                }
                let magic = read_u32_le(bytes, start + 4)?;
                if magic != PORTABLE_MAGIC {
                    return Err(format!("unexpected magic {magic}"));
                }
                let crc_start = start + 4 + size;
                let stored_crc = read_u32_be(bytes, crc_start)?;
                let crc = crc32fast::hash(&bytes[start + 4..crc_start]);
                if crc != stored_crc {
                    return Err(format!("checksum mismatch (file says {stored_crc:#x}, data gives {crc:#x})"));
                }
                RoaringTreemap::deserialize_from(&bytes[start + 8..crc_start]).map_err(|e| e.to_string())?
            }
        };
        if i64::try_from(bitmap.len()).ok() != Some(self.cardinality) {
            return Err(format!("{} rows in the vector, {} in the log", bitmap.len(), self.cardinality));
        }
        Ok(bitmap)
    }
}

fn read_u32_be(bytes: &[u8], at: usize) -> Result<u32, String> {
    let slice = bytes.get(at..at + 4).ok_or_else(|| format!("truncated at byte {at} of {}", bytes.len()))?;
    Ok(u32::from_be_bytes([slice[0], slice[1], slice[2], slice[3]]))
}

fn read_u32_le(bytes: &[u8], at: usize) -> Result<u32, String> {
    let slice = bytes.get(at..at + 4).ok_or_else(|| format!("truncated at byte {at} of {}", bytes.len()))?;
    Ok(u32::from_le_bytes([slice[0], slice[1], slice[2], slice[3]]))
}

/// The row selection that keeps every row of a `rows`-row file except the deleted ones.
pub fn live_row_selection(rows: u64, deleted: &RoaringTreemap) -> parquet::arrow::arrow_reader::RowSelection {
    live_rows_in(0, rows, deleted)
}

/// The row selection over the `rows` rows of a file from row `first` on (a row group) that keeps
/// every row except the deleted ones (`deleted` holds row indexes of the whole file).
pub fn live_rows_in(first: u64, rows: u64, deleted: &RoaringTreemap) -> parquet::arrow::arrow_reader::RowSelection {
    use parquet::arrow::arrow_reader::RowSelector;
    let end = first.saturating_add(rows);
    let mut selectors = Vec::new();
    let mut next = first;
    for index in deleted.iter().skip_while(|i| *i < first).take_while(|i| *i < end) {
        if index > next {
            selectors.push(RowSelector::select((index - next) as usize));
        }
        selectors.push(RowSelector::skip(1));
        next = index + 1;
    }
    if next < end {
        selectors.push(RowSelector::select((end - next) as usize));
    }
    selectors.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_paths_and_inline_vectors_decode() {
        // The delta-rs fixture `table-with-dv-small`: storageType u, pathOrInlineDv "vBn[lx{q8@P<9BNH/isA".
        let dv = DeletionVector {
            storage_type: 'u',
            path_or_inline_dv: "vBn[lx{q8@P<9BNH/isA".to_owned(),
            offset: Some(1),
            size_in_bytes: 36,
            cardinality: 2,
        };
        assert_eq!(
            dv.location().unwrap(),
            DeletionVectorLocation::Relative("deletion_vector_61d16c75-6994-46b7-a15b-8b538852e50e.bin".to_owned())
        );
        let mut bitmap = RoaringTreemap::new();
        bitmap.insert(3);
        bitmap.insert(7);
        let mut bytes = PORTABLE_MAGIC.to_le_bytes().to_vec();
        bitmap.serialize_into(&mut bytes).unwrap();
        let inline = DeletionVector {
            storage_type: 'i',
            path_or_inline_dv: z85::encode(&bytes),
            offset: None,
            size_in_bytes: bytes.len() as i32,
            cardinality: 2,
        };
        assert_eq!(inline.decode(None).unwrap(), bitmap);
        let wrong = DeletionVector { cardinality: 3, ..inline };
        assert!(wrong.decode(None).unwrap_err().contains("3 in the log"));
    }

    #[test]
    fn selections_skip_exactly_the_deleted_rows() {
        let deleted: RoaringTreemap = [0u64, 3, 4, 9].into_iter().collect();
        let selection = live_row_selection(10, &deleted);
        assert_eq!(selection.row_count(), 6);
        assert_eq!(selection.skipped_row_count(), 4);
        assert_eq!(live_row_selection(3, &RoaringTreemap::new()).row_count(), 3);
        // Rows 3..8 of the file (a row group): 3 and 4 deleted, 5..8 kept.
        let group = live_rows_in(3, 5, &deleted);
        assert_eq!((group.row_count(), group.skipped_row_count()), (3, 2));
        let kept: Vec<bool> = group.iter().flat_map(|s| std::iter::repeat_n(!s.skip, s.row_count)).collect();
        assert_eq!(kept, vec![false, false, true, true, true]);
    }
}
