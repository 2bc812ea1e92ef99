//! RDB-encoded values (the body of a RESTORE payload) back to Tessera's.

use super::RestoreError;
use crate::Value;

/// Parses the type byte and value in `body`; all of `body` must be used.
pub fn value(_body: &[u8]) -> Result<Value, RestoreError> {
    Err(RestoreError::BadFormat)
}
