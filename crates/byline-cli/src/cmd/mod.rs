//! One module per subcommand.

pub mod bench;
pub mod convert;
pub mod eval;
pub mod export;
pub mod stats;
mod table;
pub mod tag;
pub mod train;
