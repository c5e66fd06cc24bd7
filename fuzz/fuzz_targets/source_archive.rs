#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| recipe::fuzzing::source_archive(data));
