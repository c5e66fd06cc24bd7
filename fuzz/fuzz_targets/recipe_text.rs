#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| recipe::fuzzing::recipe_text(data));
