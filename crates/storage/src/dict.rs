//! The hash table of one database. (Helper: implement.)
