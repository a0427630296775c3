//! Fuzz target `connector_api`: the body is `triage_fuzz::connector_api` (fuzz/src/lib.rs, shared with the stable smoke).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| triage_fuzz::connector_api(data));
