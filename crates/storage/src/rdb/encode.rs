//! Tessera's values in RDB encoding (the body of a DUMP payload).

use crate::Value;

/// Appends the type byte and the RDB encoding of `v` to `out`.
pub fn value(_v: &Value, _out: &mut Vec<u8>) {
    unimplemented!("rdb::encode::value")
}
