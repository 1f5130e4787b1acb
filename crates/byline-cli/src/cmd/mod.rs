//! One module per subcommand.

pub mod average;
pub mod bench;
mod bench_serve;
pub mod convert;
pub mod eval;
pub mod export;
pub mod serve;
pub mod stats;
mod table;
pub mod tag;
pub mod train;
pub mod train_linker;
