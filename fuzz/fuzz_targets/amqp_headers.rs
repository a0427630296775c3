//! Fuzz target `amqp_headers`: the body is `triage_fuzz::amqp_headers` (fuzz/src/lib.rs, shared with the stable smoke).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| triage_fuzz::amqp_headers(data));
