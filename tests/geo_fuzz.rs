//! The fuzz target of the WKB / `geo` metadata readers (`meshlake::engine::geo::fuzz::geo_readers`, also
//! run by the cargo-fuzz crate in tests/fuzz), deterministically: the seed corpus plus a few thousand
//! pseudo-random mutations — truncations, flipped byte-order flags, NaN coordinates, huge counts,
//! random byte changes, lying `geo` metadata. No input may panic, and every malformed input must be
//! counted as an error. `MESHLAKE_FUZZ_ROUNDS=N` runs N random mutations instead of 3,000.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use meshlake::engine::geo::fuzz::{FuzzVerdict, geo_readers};

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { (self.next() % n as u64) as usize }
    }
}

fn corpus() -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz/corpus/geo_readers");
    let mut seeds: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            (path.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&path).unwrap())
        })
        .collect();
    seeds.sort();
    seeds
}

fn run(data: &[u8], panics: &mut Vec<String>, what: &str) -> Option<FuzzVerdict> {
    match catch_unwind(AssertUnwindSafe(|| geo_readers(data))) {
        Ok(verdict) => {
            assert_eq!(verdict.wkb_ok, !verdict.invalid_wkb, "{what}: the reader and the validator disagree");
            Some(verdict)
        }
        Err(_) => {
            panics.push(format!("{what}: {}", data.iter().take(4096).map(|b| format!("{b:02x}")).collect::<String>()));
            None
        }
    }
}

/// A little-endian polygon: one ring of `n` points (closed), coordinates from `first`.
fn polygon_le(points: &[(f64, f64)]) -> Vec<u8> {
    let mut out = vec![1u8];
    out.extend(3u32.to_le_bytes());
    out.extend(1u32.to_le_bytes());
    out.extend((points.len() as u32).to_le_bytes());
    for (x, y) in points {
        out.extend(x.to_le_bytes());
        out.extend(y.to_le_bytes());
    }
    out
}

#[test]
fn seeds_and_mutations_never_panic_and_errors_are_counted() {
    let seeds = corpus();
    assert!(seeds.len() >= 10, "seed corpus missing: {seeds:?}");
    let wkb_seeds: Vec<&(String, Vec<u8>)> = seeds.iter().filter(|(name, _)| name.ends_with(".wkb")).collect();
    let mut panics = Vec::new();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let (mut cases, mut wkb_errors, mut expected_errors) = (0u64, 0u64, 0u64);

    // The seeds themselves: every valid WKB seed decodes, the valid metadata seeds summarise.
    for (name, data) in &seeds {
        let verdict = run(data, &mut panics, name).unwrap();
        cases += 1;
        if name.ends_with(".wkb") && name != "point_empty.wkb" {
            assert!(verdict.wkb_ok, "seed {name} does not decode");
        }
        if name.starts_with("geo_1") || name.starts_with("geo_proj") {
            assert!(verdict.geo_ok, "seed {name} is not read as geo metadata");
        }
    }

    // Targeted mutations of the WKB seeds, each of which must be an error.
    for (name, data) in &wkb_seeds {
        // Every strict prefix (truncation).
        for len in 0..data.len() {
            cases += 1;
            expected_errors += 1;
            if let Some(v) = run(&data[..len], &mut panics, &format!("{name} cut at {len}")) {
                assert!(!v.wkb_ok, "{name} cut to {len} bytes was accepted");
                wkb_errors += 1;
            }
        }
        // A byte-order flag that is neither 0 nor 1.
        for flag in [2u8, 0x7f, 0xff] {
            let mut bad = data.to_vec();
            bad[0] = flag;
            cases += 1;
            expected_errors += 1;
            if let Some(v) = run(&bad, &mut panics, &format!("{name} flag {flag}")) {
                assert!(!v.wkb_ok);
                wkb_errors += 1;
            }
        }
        // Swapped byte order (0 <-> 1): the counts read the other way round are huge or wrong.
        let mut swapped = data.to_vec();
        swapped[0] ^= 1;
        cases += 1;
        if let Some(v) = run(&swapped, &mut panics, &format!("{name} swapped order")) {
            wkb_errors += u64::from(!v.wkb_ok);
        }
    }

    // NaN / infinite coordinates and huge counts in a polygon whose layout is known.
    let square = polygon_le(&[(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0), (0.0, 0.0)]);
    assert!(run(&square, &mut panics, "square").unwrap().wkb_ok);
    for coordinate in 0..10 {
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let mut nan = square.clone();
            let at = 13 + 8 * coordinate;
            nan[at..at + 8].copy_from_slice(&bad.to_le_bytes());
            cases += 1;
            expected_errors += 1;
            if let Some(v) = run(&nan, &mut panics, &format!("square {bad} at {coordinate}")) {
                assert!(!v.wkb_ok, "{bad} coordinate {coordinate} was accepted");
                wkb_errors += 1;
            }
        }
    }
    for (offset, count) in [(5usize, u32::MAX), (5, 0x7FFF_FFFF), (9, u32::MAX), (9, 0x1000_0000), (9, 6)] {
        let mut huge = square.clone();
        huge[offset..offset + 4].copy_from_slice(&count.to_le_bytes());
        cases += 1;
        expected_errors += 1;
        if let Some(v) = run(&huge, &mut panics, &format!("count {count} at {offset}")) {
            assert!(!v.wkb_ok, "count {count} at {offset} was accepted");
            wkb_errors += 1;
        }
    }
    // Deeply nested collections.
    let mut deep = Vec::new();
    for _ in 0..1000 {
        deep.extend([1u8, 7, 0, 0, 0, 1, 0, 0, 0]);
    }
    cases += 1;
    expected_errors += 1;
    if let Some(v) = run(&deep, &mut panics, "deep collections") {
        assert!(!v.wkb_ok);
        wkb_errors += 1;
    }

    // Random mutations of every seed: byte changes, inserted/removed runs, splices.
    // MESHLAKE_FUZZ_ROUNDS runs a longer campaign of the same mutations (e.g. 2000000).
    let rounds: usize = std::env::var("MESHLAKE_FUZZ_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(3000);
    for round in 0..rounds {
        let (name, data) = &seeds[rng.below(seeds.len())];
        let mut bytes = data.clone();
        for _ in 0..1 + rng.below(4) {
            match rng.below(6) {
                0 if !bytes.is_empty() => {
                    let i = rng.below(bytes.len());
                    bytes[i] = rng.next() as u8;
                }
                1 if !bytes.is_empty() => {
                    let i = rng.below(bytes.len());
                    bytes[i] ^= 1 << rng.below(8);
                }
                2 => bytes.truncate(rng.below(bytes.len() + 1)),
                3 => {
                    let i = rng.below(bytes.len() + 1);
                    let n = rng.below(16);
                    let junk: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                    bytes.splice(i..i, junk);
                }
                4 if bytes.len() >= 4 => {
                    let i = rng.below(bytes.len() - 3);
                    bytes[i..i + 4].copy_from_slice(&[0xff, 0xff, 0xff, 0x7f]);
                }
                _ => {
                    let (_, other) = &seeds[rng.below(seeds.len())];
                    let cut = rng.below(other.len() + 1);
                    bytes.extend_from_slice(&other[..cut]);
                }
            }
        }
        cases += 1;
        if let Some(v) = run(&bytes, &mut panics, &format!("round {round} of {name}")) {
            wkb_errors += u64::from(!v.wkb_ok);
        }
    }

    // `geo` metadata that lies about the column, or is not what it claims.
    let lying = [
        r#"{"version":"1.1.0","primary_column":"geometry","columns":{"geometry":{"encoding":"WKB","geometry_types":["Point"]}}}"#,
        r#"{"version":"1.1.0","primary_column":"geometry","columns":{"geometry":{"encoding":"point","geometry_types":["Polygon"],"crs":null}}}"#,
        r#"{"version":"1.1.0","primary_column":"geometry","columns":{"geometry":{"encoding":42,"geometry_types":"Polygon","bbox":["a"],"crs":5}}}"#,
        r#"{"version":"1.1.0","primary_column":"other","columns":{"other":{"encoding":"WKB"}}}"#,
        r#"{"version":"1.1.0","primary_column":"geometry","columns":[]}"#,
        r#"{"columns":{"geometry":{"encoding":"WKB","geometry_types":[],"crs":{"id":{"authority":"EPSG","code":{"x":1}}}}}}"#,
        r#"[1,2,3]"#,
        "",
    ];
    for (i, text) in lying.iter().enumerate() {
        cases += 1;
        if let Some(v) = run(text.as_bytes(), &mut panics, &format!("lying geo {i}")) {
            assert!(!v.geo_ok || v.geo_problems > 0, "lying geo metadata {i} passed the contract comparison: {text}");
        }
    }
    let nested = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    cases += 1;
    assert!(!run(nested.as_bytes(), &mut panics, "nested JSON").unwrap().geo_ok);

    assert!(panics.is_empty(), "{} of {cases} inputs panicked:\n{}", panics.len(), panics.join("\n"));
    assert!(cases > 3000, "{cases}");
    assert!(wkb_errors >= expected_errors, "{wkb_errors} WKB errors counted, {expected_errors} expected at least");
    eprintln!("{cases} inputs, {wkb_errors} WKB errors counted, no panic");
}
