//! X.509 and its encodings: PEM/DER blocks, certificates and their extensions,
//! private keys, CSR parsing, signature checks and hex text.
//!
//! The bottom layer: it knows nothing about kubeadm and uses no other layer.

pub mod certificate;
pub mod chain;
pub mod csr;
pub(crate) mod der_write;
pub mod encoding;
pub mod extensions;
pub mod hex;
pub mod keys;
pub mod pem_stream;
pub mod signature_check;
pub mod strength;
