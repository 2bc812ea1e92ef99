//! (Scaffold: filled in by the sets family.)

use crate::table::CommandTable;

pub fn register(_t: &mut CommandTable) {}
