//! Spatial order for compaction: each row's geometry bbox centre, read once from its WKB, mapped to
//! a Hilbert-curve index over the extent of all centres; rows sorted by that index land in files
//! (and row groups) that cover small, compact areas, so bbox pruning skips most of them.

use arrow::array::Array;
use geo::BoundingRect;

use crate::engine::geo::wkb_read::decode_wkb;
use crate::engine::lake::spatial::wkb_at;

/// Bits per axis of the Hilbert grid (a 65,536 × 65,536 grid; keys fit in a `u32`).
pub const HILBERT_BITS: u32 = 16;

/// The bbox `[xmin, ymin, xmax, ymax]` of one WKB geometry (`None` for empty, unreadable or
/// non-finite geometries, which sort last).
pub fn wkb_bbox(bytes: &[u8]) -> Option<[f64; 4]> {
    let rect = decode_wkb(bytes).ok()?.geometry.bounding_rect()?;
    let bbox = [rect.min().x, rect.min().y, rect.max().x, rect.max().y];
    bbox.iter().all(|v| v.is_finite()).then_some(bbox)
}

/// Every row's WKB bbox (nulls: `None`); each geometry is decoded once.
pub fn row_bboxes(array: &dyn Array) -> Vec<Option<[f64; 4]>> {
    (0..array.len()).map(|row| wkb_at(array, row).and_then(wkb_bbox)).collect()
}

/// The centre of a bbox.
pub fn centre(bbox: [f64; 4]) -> (f64, f64) {
    ((bbox[0] + bbox[2]) / 2.0, (bbox[1] + bbox[3]) / 2.0)
}

/// The extent `[xmin, ymin, xmax, ymax]` of the centres that exist.
pub fn extent_of(centres: &[Option<(f64, f64)>]) -> Option<[f64; 4]> {
    centres.iter().flatten().fold(None, |extent, &(x, y)| {
        Some(match extent {
            None => [x, y, x, y],
            Some([x0, y0, x1, y1]) => [x0.min(x), y0.min(y), x1.max(x), y1.max(y)],
        })
    })
}

/// The Hilbert index of a point of `extent` on a 2^[`HILBERT_BITS`] grid; points outside are clamped.
pub fn hilbert_key(x: f64, y: f64, extent: [f64; 4]) -> u32 {
    let cells = (1u32 << HILBERT_BITS) as f64;
    let cell = |value: f64, min: f64, max: f64| -> u32 {
        let span = max - min;
        if span <= 0.0 || !span.is_finite() {
            return 0;
        }
        (((value - min) / span) * cells).clamp(0.0, cells - 1.0) as u32
    };
    hilbert_index(cell(x, extent[0], extent[2]), cell(y, extent[1], extent[3]))
}

/// The distance along the Hilbert curve of cell `(x, y)` (the classic xy → d conversion).
pub fn hilbert_index(mut x: u32, mut y: u32) -> u32 {
    let n: u32 = 1 << HILBERT_BITS;
    let mut d: u64 = 0;
    let mut s = n / 2;
    while s > 0 {
        let rx = u32::from(x & s > 0);
        let ry = u32::from(y & s > 0);
        d += u64::from(s) * u64::from(s) * u64::from((3 * rx) ^ ry);
        // Rotate the quadrant so the curve stays continuous.
        if ry == 0 {
            if rx == 1 {
                x = n - 1 - x;
                y = n - 1 - y;
            }
            std::mem::swap(&mut x, &mut y);
        }
        s /= 2;
    }
    d as u32
}

/// Sort keys for rows: the Hilbert index of each centre, `u64::MAX` (last) for rows without one.
pub fn keys(centres: &[Option<(f64, f64)>], extent: [f64; 4]) -> Vec<u64> {
    centres
        .iter()
        .map(|centre| centre.map_or(u64::MAX, |(x, y)| u64::from(hilbert_key(x, y, extent))))
        .collect()
}

/// Row positions in key order (stable: equal keys keep their input order).
pub fn order_by_keys(keys: &[u64]) -> Vec<u32> {
    let mut order: Vec<u32> = (0..keys.len() as u32).collect();
    order.sort_by_key(|&row| keys[row as usize]);
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::BinaryArray;

    #[test]
    fn hilbert_neighbours_are_adjacent_cells() {
        // Walking the curve, each step moves to a cell sharing an edge (checked on a 16×16 corner).
        let mut cells: Vec<(u32, u32, u32)> = Vec::new();
        for x in 0..16 {
            for y in 0..16 {
                cells.push((hilbert_index(x, y), x, y));
            }
        }
        cells.sort();
        // The 256 cells of the corner are the first 256 of the curve.
        assert_eq!(cells.last().map(|c| c.0), Some(255));
        for pair in cells.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            assert_eq!(b.0, a.0 + 1);
            assert_eq!(a.1.abs_diff(b.1) + a.2.abs_diff(b.2), 1, "{a:?} → {b:?}");
        }
    }

    #[test]
    fn centres_come_from_the_wkb_and_bad_values_sort_last() {
        let point = |x: f64, y: f64| {
            let mut wkb = vec![1u8, 1, 0, 0, 0];
            wkb.extend_from_slice(&x.to_le_bytes());
            wkb.extend_from_slice(&y.to_le_bytes());
            wkb
        };
        let values: Vec<Option<Vec<u8>>> = vec![Some(point(10.0, 10.0)), None, Some(vec![1, 2, 3]), Some(point(0.0, 0.0))];
        let array = BinaryArray::from_iter(values.iter().map(|v| v.as_deref()));
        let centres: Vec<Option<(f64, f64)>> = row_bboxes(&array).into_iter().map(|b| b.map(centre)).collect();
        assert_eq!(centres, vec![Some((10.0, 10.0)), None, None, Some((0.0, 0.0))]);
        let extent = extent_of(&centres).unwrap();
        assert_eq!(extent, [0.0, 0.0, 10.0, 10.0]);
        let keys = keys(&centres, extent);
        assert_eq!(order_by_keys(&keys), vec![3, 0, 1, 2]);
    }
}
