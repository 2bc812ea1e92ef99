//! RESTORE on arbitrary bytes: footer checks and decoding must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = storage::rdb::restore(data) {
        assert!(v.element_count() >= 1);
    }
});
