//! (Scaffold: filled in by the bitmaps family.)

use crate::table::CommandTable;

pub fn register(_t: &mut CommandTable) {}
