//! The command-line flags several commands share: clap argument groups, value
//! parsers and the one [`OutputFormat`]. Flags are data; what they make a node
//! do lives in `node/` (which adds methods to some of these types). Uses
//! `fsio/` (a node's directories) only.

pub mod config;
pub mod dirs;
pub mod endpoints;
pub mod listen;
pub mod order;
pub mod output;
pub mod restart;
pub mod thresholds;
pub mod value;
pub mod verify;
pub mod waits;

pub use dirs::DirArgs;
pub use output::OutputFormat;
