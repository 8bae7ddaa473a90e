//! End-to-end tests of kcerts: the core and the `kcerts` binary, cross-checked
//! with openssl and kubectl. One test binary (ripgrep's layout); one module per area.
#![allow(clippy::disallowed_methods, clippy::unwrap_used)] // tests read files and fail loudly

mod csr_only;
mod errors;
mod interop;
mod renew_openssl;
mod snapshots;
