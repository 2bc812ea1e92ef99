//! RESTORE on arbitrary bodies sealed with a valid footer, so every input
//! reaches the decoder (as a client that computes the CRC can make happen).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let payload = storage::rdb::seal(data.to_vec());
    if let Ok(v) = storage::rdb::restore(&payload) {
        assert!(v.element_count() >= 1);
        assert!(storage::rdb::decode::value(data).is_ok());
    }
});
