//! Checking that a certificate or CSR was signed by a given public key.
//!
//! x509-parser's `verify` feature needs ring (and clang on wasm32), so the checks
//! here use the pure-Rust RustCrypto crates that the core already depends on for
//! signing. Supported: RSA PKCS#1 v1.5 with SHA-1/256/384/512, ECDSA P-256 and
//! P-384 with SHA-256/384/512, Ed25519 — everything kubeadm and openssl issue.

use sha2::Digest;
use thiserror::Error;

/// Object identifiers used when checking signatures and describing keys.
pub mod oid {
    /// rsaEncryption
    pub const RSA: &str = "1.2.840.113549.1.1.1";
    /// id-ecPublicKey
    pub const EC: &str = "1.2.840.10045.2.1";
    /// Ed25519 (key and signature algorithm)
    pub const ED25519: &str = "1.3.101.112";
    /// prime256v1 / secp256r1
    pub const P256: &str = "1.2.840.10045.3.1.7";
    /// secp384r1
    pub const P384: &str = "1.3.132.0.34";
    /// sha1WithRSAEncryption
    pub const RSA_SHA1: &str = "1.2.840.113549.1.1.5";
    /// sha256WithRSAEncryption
    pub const RSA_SHA256: &str = "1.2.840.113549.1.1.11";
    /// sha384WithRSAEncryption
    pub const RSA_SHA384: &str = "1.2.840.113549.1.1.12";
    /// sha512WithRSAEncryption
    pub const RSA_SHA512: &str = "1.2.840.113549.1.1.13";
    /// ecdsa-with-SHA256
    pub const ECDSA_SHA256: &str = "1.2.840.10045.4.3.2";
    /// ecdsa-with-SHA384
    pub const ECDSA_SHA384: &str = "1.2.840.10045.4.3.3";
    /// ecdsa-with-SHA512
    pub const ECDSA_SHA512: &str = "1.2.840.10045.4.3.4";
}

/// Why a signature could not be checked or did not match.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SignatureError {
    /// The signature algorithm is not one kcerts checks.
    #[error("unsupported signature algorithm {0}")]
    UnsupportedAlgorithm(String),
    /// The issuer's public key is of a kind kcerts does not handle.
    #[error("unsupported issuer public key ({0})")]
    UnsupportedKey(String),
    /// The signature algorithm does not fit the issuer's key type.
    #[error("signature algorithm {algorithm} does not fit the issuer's {key} key")]
    AlgorithmKeyMismatch {
        /// Signature algorithm OID.
        algorithm: String,
        /// Key kind of the issuer.
        key: &'static str,
    },
    /// The public key bytes are malformed.
    #[error("the issuer's public key is malformed")]
    BadKey,
    /// The signature does not verify.
    #[error("the signature does not verify with the issuer's public key")]
    Invalid,
}

/// The named-curve OID of an EC key's algorithm identifier, if it has one.
pub fn named_curve(algorithm: &x509_parser::x509::AlgorithmIdentifier<'_>) -> Option<String> {
    algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.as_oid().ok())
        .map(|o| o.to_id_string())
}

/// A public key as found in a SubjectPublicKeyInfo: algorithm OIDs and key bits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKeyRef<'a> {
    /// The key algorithm OID (`oid::RSA`, `oid::EC`, `oid::ED25519`).
    pub algorithm: &'a str,
    /// The named curve OID for EC keys.
    pub curve: Option<&'a str>,
    /// The contents of the subjectPublicKey BIT STRING.
    pub bits: &'a [u8],
}

#[derive(Clone, Copy)]
enum Hash {
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    fn digest(self, msg: &[u8]) -> Vec<u8> {
        match self {
            Hash::Sha256 => sha2::Sha256::digest(msg).to_vec(),
            Hash::Sha384 => sha2::Sha384::digest(msg).to_vec(),
            Hash::Sha512 => sha2::Sha512::digest(msg).to_vec(),
        }
    }
}

/// Checks `signature` over `message` made with `algorithm` (an OID string) by the key
/// of a parsed SubjectPublicKeyInfo (a CA certificate's, a CSR's own).
pub fn verify_with_spki(
    message: &[u8],
    algorithm: &str,
    signature: &[u8],
    spki: &x509_parser::x509::SubjectPublicKeyInfo<'_>,
) -> Result<(), SignatureError> {
    let key_alg = spki.algorithm.algorithm.to_id_string();
    let curve = named_curve(&spki.algorithm);
    let key = PublicKeyRef {
        algorithm: &key_alg,
        curve: curve.as_deref(),
        bits: &spki.subject_public_key.data,
    };
    verify(message, algorithm, signature, &key)
}

/// Checks `signature` over `message` made with `algorithm` (an OID string) by `key`.
pub fn verify(
    message: &[u8],
    algorithm: &str,
    signature: &[u8],
    key: &PublicKeyRef<'_>,
) -> Result<(), SignatureError> {
    let mismatch = |kind| SignatureError::AlgorithmKeyMismatch {
        algorithm: algorithm.to_string(),
        key: kind,
    };
    match algorithm {
        oid::RSA_SHA1 | oid::RSA_SHA256 | oid::RSA_SHA384 | oid::RSA_SHA512 => {
            if key.algorithm != oid::RSA {
                return Err(mismatch(key_kind(key)));
            }
            verify_rsa(message, algorithm, signature, key.bits)
        }
        oid::ECDSA_SHA256 | oid::ECDSA_SHA384 | oid::ECDSA_SHA512 => {
            if key.algorithm != oid::EC {
                return Err(mismatch(key_kind(key)));
            }
            let hash = match algorithm {
                oid::ECDSA_SHA256 => Hash::Sha256,
                oid::ECDSA_SHA384 => Hash::Sha384,
                _ => Hash::Sha512,
            };
            verify_ecdsa(&hash.digest(message), signature, key)
        }
        oid::ED25519 => {
            if key.algorithm != oid::ED25519 {
                return Err(mismatch(key_kind(key)));
            }
            let bytes: &[u8; 32] = key.bits.try_into().map_err(|_| SignatureError::BadKey)?;
            let vk = ed25519_dalek::VerifyingKey::from_bytes(bytes)
                .map_err(|_| SignatureError::BadKey)?;
            let sig = ed25519_dalek::Signature::from_slice(signature)
                .map_err(|_| SignatureError::Invalid)?;
            vk.verify_strict(message, &sig)
                .map_err(|_| SignatureError::Invalid)
        }
        other => Err(SignatureError::UnsupportedAlgorithm(other.to_string())),
    }
}

fn key_kind(key: &PublicKeyRef<'_>) -> &'static str {
    match key.algorithm {
        oid::RSA => "RSA",
        oid::EC => "ECDSA",
        oid::ED25519 => "Ed25519",
        _ => "unknown",
    }
}

fn verify_rsa(
    message: &[u8],
    algorithm: &str,
    signature: &[u8],
    bits: &[u8],
) -> Result<(), SignatureError> {
    use rsa::pkcs1::DecodeRsaPublicKey;
    let key = rsa::PublicKey::from_pkcs1_der(bits).map_err(|_| SignatureError::BadKey)?;
    let result = match algorithm {
        oid::RSA_SHA1 => key.pkcs1v15_verify::<sha1::Sha1>(message, signature),
        oid::RSA_SHA256 => key.pkcs1v15_verify::<sha2::Sha256>(message, signature),
        oid::RSA_SHA384 => key.pkcs1v15_verify::<sha2::Sha384>(message, signature),
        _ => key.pkcs1v15_verify::<sha2::Sha512>(message, signature),
    };
    result.map_err(|_| SignatureError::Invalid)
}

fn verify_ecdsa(
    prehash: &[u8],
    signature: &[u8],
    key: &PublicKeyRef<'_>,
) -> Result<(), SignatureError> {
    use p256::ecdsa::signature::hazmat::PrehashVerifier;
    match key.curve {
        Some(oid::P256) => {
            let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(key.bits)
                .map_err(|_| SignatureError::BadKey)?;
            let sig =
                p256::ecdsa::Signature::from_der(signature).map_err(|_| SignatureError::Invalid)?;
            vk.verify_prehash(prehash, &sig)
                .map_err(|_| SignatureError::Invalid)
        }
        Some(oid::P384) => {
            let vk = p384::ecdsa::VerifyingKey::from_sec1_bytes(key.bits)
                .map_err(|_| SignatureError::BadKey)?;
            let sig =
                p384::ecdsa::Signature::from_der(signature).map_err(|_| SignatureError::Invalid)?;
            vk.verify_prehash(prehash, &sig)
                .map_err(|_| SignatureError::Invalid)
        }
        other => Err(SignatureError::UnsupportedKey(format!(
            "EC curve {}",
            other.unwrap_or("without a named curve")
        ))),
    }
}

/// The name of a signature algorithm OID (`ecdsa-with-SHA256`), or the OID.
pub fn signature_algorithm_name(id: &str) -> &str {
    match id {
        oid::RSA_SHA1 => "sha1WithRSAEncryption",
        oid::RSA_SHA256 => "sha256WithRSAEncryption",
        oid::RSA_SHA384 => "sha384WithRSAEncryption",
        oid::RSA_SHA512 => "sha512WithRSAEncryption",
        "1.2.840.113549.1.1.10" => "RSASSA-PSS",
        oid::ECDSA_SHA256 => "ecdsa-with-SHA256",
        oid::ECDSA_SHA384 => "ecdsa-with-SHA384",
        oid::ECDSA_SHA512 => "ecdsa-with-SHA512",
        oid::ED25519 => "Ed25519",
        other => other,
    }
}
