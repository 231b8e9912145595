#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pixveil_fuzz::cifar(data));
