//! libFuzzer target: every WKB / `geo` metadata / contract reader over arbitrary bytes (no panic, no
//! unbounded allocation). See `meshlake::engine::geo::fuzz`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let verdict = meshlake::engine::geo::fuzz::geo_readers(data);
    assert_eq!(verdict.wkb_ok, !verdict.invalid_wkb);
});
