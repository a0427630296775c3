//! Fuzz target `runbook`: the body is `triage_fuzz::runbook` (fuzz/src/lib.rs, shared with the stable smoke).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| triage_fuzz::runbook(data));
