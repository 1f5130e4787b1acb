//! One module per subcommand.

pub mod convert;
pub mod eval;
pub mod stats;
mod table;
