//! (Scaffold: filled in by the zsets family.)

use crate::table::CommandTable;

pub fn register(_t: &mut CommandTable) {}
