//! Issuing: new keys, certificates and CSRs. The rcgen adapter over RustCrypto
//! keys, leaf and CA issuing, building CSRs, signing a CSR for a kubeadm role, the
//! CA side of the certificates API, PKI generation.
//!
//! Uses `x509` and `kubeadm`.

pub mod api_signer;
pub mod csr_builder;
pub(crate) mod go_layout;
pub mod key_choice;
pub mod kubelet;
pub mod kubelet_selfsigned;
pub mod leaf;
pub mod leaf_spec;
pub mod pki;
pub(crate) mod rcgen_key;
pub mod sign_csr;
