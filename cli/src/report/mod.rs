//! What the user sees besides a command's own output: stdout that survives a
//! closed pipe, colours, exit codes, and errors with a hint. Imports no other
//! layer of the CLI.

pub mod color;
pub mod exit;
pub mod hint;
pub mod out;

pub use hint::Hinted;
