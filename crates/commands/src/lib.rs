//! Command table and handlers (in progress).
