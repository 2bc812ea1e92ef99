//! A typed RESP2 value, for the client side (tests, MIGRATE's connection to a
//! target) and for replies built in pieces. (Helper: implement.)

/// One RESP2 value. Integers are `i64`; strings are binary-safe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Simple(Vec<u8>),
    Error(Vec<u8>),
    Integer(i64),
    Bulk(Vec<u8>),
    Null,
    Array(Vec<Frame>),
    NullArray,
}
