//! (Scaffold: filled in by the lists family.)

use crate::table::CommandTable;

pub fn register(_t: &mut CommandTable) {}
