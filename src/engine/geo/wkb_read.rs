//! A bounds-checked WKB reader for untrusted bytes: ISO WKB (2D, Z, M, ZM type codes) and EWKB
//! (PostGIS high-bit Z/M/SRID flags), each nested geometry with its own byte order.
//!
//! Every count is checked against the bytes that are left before anything is allocated, nesting is
//! limited, and non-finite coordinates are reported — garbage never panics or allocates wildly
//! (geozero's reader trusts counts, so the validators and queries use this one).

use geo::{Coord, Geometry, GeometryCollection, LineString, MultiLineString, MultiPoint, MultiPolygon, Point, Polygon};

/// Nested collections deeper than this are refused.
const MAX_DEPTH: usize = 32;

/// Why bytes are not a readable WKB geometry.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum WkbReadError {
    #[error("truncated: {needed} more bytes needed at offset {offset}")]
    Truncated { offset: usize, needed: usize },
    #[error("byte order flag {0} at offset {1} is neither 0 (big endian) nor 1 (little endian)")]
    ByteOrder(u8, usize),
    #[error("unknown geometry type code {0}")]
    UnknownType(u32),
    #[error("{0} coordinate at offset {1}")]
    NonFinite(&'static str, usize),
    #[error("collections nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("{0} trailing bytes after the geometry")]
    Trailing(usize),
    #[error("a {0} may not contain a {1}")]
    WrongMember(&'static str, &'static str),
}

/// A decoded WKB geometry.
#[derive(Clone, Debug, PartialEq)]
pub struct DecodedWkb {
    /// The geometry (2D; Z/M values are read and dropped). An empty point becomes an empty `MultiPoint`.
    pub geometry: Geometry<f64>,
    /// The type the header names, as GeoParquet spells it (`Polygon`, `Point Z`, …).
    pub type_name: String,
    /// The EWKB SRID, when the bytes carry one.
    pub srid: Option<u32>,
    /// Whether the geometry is empty.
    pub empty: bool,
    /// Polygon rings that are not closed or have fewer than 4 positions (geo closes them on reading).
    pub unclosed_rings: usize,
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    unclosed_rings: usize,
}

#[derive(Clone, Copy)]
struct Header {
    little: bool,
    kind: u32,
    dims: usize,
    z: bool,
    m: bool,
    srid: Option<u32>,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], WkbReadError> {
        let end = self.pos.checked_add(n).filter(|end| *end <= self.bytes.len());
        match end {
            Some(end) => {
                let slice = &self.bytes[self.pos..end];
                self.pos = end;
                Ok(slice)
            }
            None => Err(WkbReadError::Truncated { offset: self.pos, needed: n - (self.bytes.len() - self.pos).min(n) }),
        }
    }
    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }
    fn u32(&mut self, little: bool) -> Result<u32, WkbReadError> {
        let b = self.take(4)?;
        let a = [b[0], b[1], b[2], b[3]];
        Ok(if little { u32::from_le_bytes(a) } else { u32::from_be_bytes(a) })
    }
    fn f64(&mut self, little: bool) -> Result<f64, WkbReadError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(if little { f64::from_le_bytes(a) } else { f64::from_be_bytes(a) })
    }
    /// A count of items that each take at least `min_bytes`, checked against what is left.
    fn count(&mut self, little: bool, min_bytes: usize) -> Result<usize, WkbReadError> {
        let offset = self.pos;
        let n = self.u32(little)? as usize;
        let needed = n.saturating_mul(min_bytes.max(1));
        if needed > self.remaining() {
            return Err(WkbReadError::Truncated { offset, needed: needed - self.remaining() });
        }
        Ok(n)
    }
    fn header(&mut self) -> Result<Header, WkbReadError> {
        let offset = self.pos;
        let order = self.take(1)?[0];
        let little = match order {
            0 => false,
            1 => true,
            other => return Err(WkbReadError::ByteOrder(other, offset)),
        };
        let raw = self.u32(little)?;
        let (mut z, mut m) = (raw & 0x8000_0000 != 0, raw & 0x4000_0000 != 0);
        let srid = if raw & 0x2000_0000 != 0 { Some(self.u32(little)?) } else { None };
        let base = raw & 0x0FFF_FFFF;
        match base / 1000 {
            0 => {}
            1 => z = true,
            2 => m = true,
            3 => (z, m) = (true, true),
            _ => return Err(WkbReadError::UnknownType(raw)),
        }
        let kind = base % 1000;
        if !(1..=7).contains(&kind) {
            return Err(WkbReadError::UnknownType(raw));
        }
        Ok(Header { little, kind, dims: 2 + z as usize + m as usize, z, m, srid })
    }
    fn coord(&mut self, h: &Header) -> Result<Option<Coord<f64>>, WkbReadError> {
        let offset = self.pos;
        let x = self.f64(h.little)?;
        let y = self.f64(h.little)?;
        for _ in 2..h.dims {
            self.f64(h.little)?;
        }
        if x.is_nan() && y.is_nan() {
            return Ok(None);
        }
        if !x.is_finite() || !y.is_finite() {
            let what = if x.is_nan() || y.is_nan() { "NaN" } else { "infinite" };
            return Err(WkbReadError::NonFinite(what, offset));
        }
        Ok(Some(Coord { x, y }))
    }
    fn coords(&mut self, h: &Header) -> Result<Vec<Coord<f64>>, WkbReadError> {
        let n = self.count(h.little, 8 * h.dims)?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let offset = self.pos;
            match self.coord(h)? {
                Some(c) => out.push(c),
                None => return Err(WkbReadError::NonFinite("NaN", offset)),
            }
        }
        Ok(out)
    }
    fn polygon(&mut self, h: &Header) -> Result<Polygon<f64>, WkbReadError> {
        let rings = self.count(h.little, 4)?;
        let mut all = Vec::with_capacity(rings);
        for _ in 0..rings {
            // geo closes open rings; keep them as written so validation sees unclosed rings.
            let ring = self.coords(h)?;
            if ring.first() != ring.last() || (!ring.is_empty() && ring.len() < 4) {
                self.unclosed_rings += 1;
            }
            all.push(ring);
        }
        let mut iter = all.into_iter();
        let exterior = LineString::new(iter.next().unwrap_or_default());
        Ok(Polygon::new(exterior, iter.map(LineString::new).collect()))
    }
    fn members(&mut self, h: &Header, depth: usize, parent: &'static str, want: u32) -> Result<Vec<Geometry<f64>>, WkbReadError> {
        let n = self.count(h.little, 5)?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let (g, kind) = self.geometry(depth + 1)?;
            if want != 0 && kind != want {
                return Err(WkbReadError::WrongMember(parent, type_base_name(kind)));
            }
            out.push(g);
        }
        Ok(out)
    }
    fn geometry(&mut self, depth: usize) -> Result<(Geometry<f64>, u32), WkbReadError> {
        if depth > MAX_DEPTH {
            return Err(WkbReadError::TooDeep);
        }
        let h = self.header()?;
        let g = match h.kind {
            1 => match self.coord(&h)? {
                Some(c) => Geometry::Point(Point(c)),
                None => Geometry::MultiPoint(MultiPoint::new(vec![])),
            },
            2 => Geometry::LineString(LineString::new(self.coords(&h)?)),
            3 => Geometry::Polygon(self.polygon(&h)?),
            4 => Geometry::MultiPoint(MultiPoint::new(
                self.members(&h, depth, "MultiPoint", 1)?
                    .into_iter()
                    .filter_map(|g| if let Geometry::Point(p) = g { Some(p) } else { None })
                    .collect(),
            )),
            5 => Geometry::MultiLineString(MultiLineString::new(
                self.members(&h, depth, "MultiLineString", 2)?
                    .into_iter()
                    .filter_map(|g| if let Geometry::LineString(l) = g { Some(l) } else { None })
                    .collect(),
            )),
            6 => Geometry::MultiPolygon(MultiPolygon::new(
                self.members(&h, depth, "MultiPolygon", 3)?
                    .into_iter()
                    .filter_map(|g| if let Geometry::Polygon(p) = g { Some(p) } else { None })
                    .collect(),
            )),
            _ => Geometry::GeometryCollection(GeometryCollection::new_from(self.members(&h, depth, "GeometryCollection", 0)?)),
        };
        Ok((g, h.kind))
    }
}

fn type_base_name(kind: u32) -> &'static str {
    match kind {
        1 => "Point",
        2 => "LineString",
        3 => "Polygon",
        4 => "MultiPoint",
        5 => "MultiLineString",
        6 => "MultiPolygon",
        _ => "GeometryCollection",
    }
}

fn is_empty(g: &Geometry<f64>) -> bool {
    match g {
        Geometry::Point(_) | Geometry::Line(_) | Geometry::Rect(_) | Geometry::Triangle(_) => false,
        Geometry::LineString(l) => l.0.is_empty(),
        Geometry::Polygon(p) => p.exterior().0.is_empty(),
        Geometry::MultiPoint(m) => m.0.is_empty(),
        Geometry::MultiLineString(m) => m.0.iter().all(|l| l.0.is_empty()),
        Geometry::MultiPolygon(m) => m.0.iter().all(|p| p.exterior().0.is_empty()),
        Geometry::GeometryCollection(c) => c.0.iter().all(is_empty),
    }
}

/// Decode one WKB/EWKB value; never panics, whatever the bytes.
pub fn decode_wkb(bytes: &[u8]) -> Result<DecodedWkb, WkbReadError> {
    let mut reader = Reader { bytes, pos: 0, unclosed_rings: 0 };
    // Peek the outer header for the type name and SRID.
    let header = reader.header()?;
    reader.pos = 0;
    let (geometry, _) = reader.geometry(0)?;
    if reader.remaining() > 0 {
        return Err(WkbReadError::Trailing(reader.remaining()));
    }
    let suffix = match (header.z, header.m) {
        (true, true) => " ZM",
        (true, false) => " Z",
        (false, true) => " M",
        (false, false) => "",
    };
    let empty = is_empty(&geometry);
    Ok(DecodedWkb { geometry, type_name: format!("{}{suffix}", type_base_name(header.kind)), srid: header.srid, empty, unclosed_rings: reader.unclosed_rings })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::geo::wkb::polygon_rings_to_wkb;

    fn square() -> Vec<u8> {
        let ring = vec![(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0), (0.0, 0.0)];
        polygon_rings_to_wkb(&[ring], "square").unwrap()
    }

    #[test]
    fn iso_polygon_reads_like_geozero() {
        let wkb = square();
        let ours = decode_wkb(&wkb).unwrap();
        let theirs = crate::engine::geo::wkb::wkb_to_geometry(&wkb, "square").unwrap();
        assert_eq!(ours.geometry, theirs);
        assert_eq!(ours.type_name, "Polygon");
        assert_eq!(ours.srid, None);
    }

    #[test]
    fn ewkb_with_srid_and_z_big_endian() {
        // POINT Z (1 2 3) SRID=4326, big endian, EWKB flags Z|SRID.
        let mut b = vec![0u8];
        b.extend((1u32 | 0x8000_0000 | 0x2000_0000).to_be_bytes());
        b.extend(4326u32.to_be_bytes());
        for v in [1.0f64, 2.0, 3.0] {
            b.extend(v.to_be_bytes());
        }
        let d = decode_wkb(&b).unwrap();
        assert_eq!(d.geometry, Geometry::Point(Point::new(1.0, 2.0)));
        assert_eq!(d.srid, Some(4326));
        assert_eq!(d.type_name, "Point Z");
        // ISO Z code 1001 reads too.
        let mut iso = vec![1u8];
        iso.extend(1001u32.to_le_bytes());
        for v in [1.0f64, 2.0, 3.0] {
            iso.extend(v.to_le_bytes());
        }
        assert_eq!(decode_wkb(&iso).unwrap().type_name, "Point Z");
    }

    #[test]
    fn bad_bytes_are_errors_never_panics() {
        let wkb = square();
        for cut in 0..wkb.len() {
            assert!(decode_wkb(&wkb[..cut]).is_err(), "cut at {cut}");
        }
        let mut flag = wkb.clone();
        flag[0] = 7;
        assert!(matches!(decode_wkb(&flag), Err(WkbReadError::ByteOrder(7, 0))));
        // A ring count of u32::MAX must not allocate.
        let mut huge = vec![1u8];
        huge.extend(3u32.to_le_bytes());
        huge.extend(u32::MAX.to_le_bytes());
        assert!(matches!(decode_wkb(&huge), Err(WkbReadError::Truncated { .. })));
        let mut nan = wkb.clone();
        nan[13..21].copy_from_slice(&f64::NAN.to_le_bytes());
        assert!(matches!(decode_wkb(&nan), Err(WkbReadError::NonFinite("NaN", _))));
        let mut trailing = wkb.clone();
        trailing.push(0);
        assert!(matches!(decode_wkb(&trailing), Err(WkbReadError::Trailing(1))));
        // Deep nesting of collections is refused.
        let mut deep = Vec::new();
        for _ in 0..100 {
            deep.push(1u8);
            deep.extend(7u32.to_le_bytes());
            deep.extend(1u32.to_le_bytes());
        }
        assert!(decode_wkb(&deep).is_err());
        // Pseudo-random garbage.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for len in 0..2000usize {
            let mut bytes = Vec::with_capacity(len % 64);
            for _ in 0..len % 64 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                bytes.push(state as u8);
            }
            if len % 3 == 0 && !bytes.is_empty() {
                bytes[0] = 1;
            }
            let _ = decode_wkb(&bytes);
        }
    }

    #[test]
    fn empty_point_is_empty() {
        let mut b = vec![1u8];
        b.extend(1u32.to_le_bytes());
        b.extend(f64::NAN.to_le_bytes());
        b.extend(f64::NAN.to_le_bytes());
        let d = decode_wkb(&b).unwrap();
        assert!(d.empty);
        assert_eq!(d.type_name, "Point");
    }
}
