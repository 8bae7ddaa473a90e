//! Private keys: parsing every format kubeadm and openssl write, generation, and
//! serialisation in kubeadm's formats.
//!
//! Key material never appears in `Debug` output or error messages.

use std::fmt;

use rand_core::CryptoRng;
use thiserror::Error;

use crate::x509::encoding::{self, EncodingError};

/// The key algorithms kcerts generates (kubeadm's `encryptionAlgorithm` values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize)]
pub enum KeyAlgorithm {
    /// RSA with a 2048-bit modulus: kubeadm's default.
    #[default]
    Rsa2048,
    /// RSA with a 3072-bit modulus.
    Rsa3072,
    /// RSA with a 4096-bit modulus.
    Rsa4096,
    /// ECDSA on NIST P-256 (kubeadm 1.31+).
    EcdsaP256,
    /// ECDSA on NIST P-384 (kubeadm 1.34+).
    EcdsaP384,
}

impl KeyAlgorithm {
    /// All algorithms, in the order of kubeadm's documentation.
    pub const ALL: [KeyAlgorithm; 5] = [
        KeyAlgorithm::Rsa2048,
        KeyAlgorithm::Rsa3072,
        KeyAlgorithm::Rsa4096,
        KeyAlgorithm::EcdsaP256,
        KeyAlgorithm::EcdsaP384,
    ];

    /// kubeadm's spelling: `RSA-2048`, `ECDSA-P256`...
    pub fn name(self) -> &'static str {
        match self {
            KeyAlgorithm::Rsa2048 => "RSA-2048",
            KeyAlgorithm::Rsa3072 => "RSA-3072",
            KeyAlgorithm::Rsa4096 => "RSA-4096",
            KeyAlgorithm::EcdsaP256 => "ECDSA-P256",
            KeyAlgorithm::EcdsaP384 => "ECDSA-P384",
        }
    }

    /// The algorithm of a public key described as [`PrivateKey::describe`] and
    /// `Certificate::public_key` do (`RSA 2048`, `ECDSA P-256`), when kcerts
    /// can generate keys of it: what a renewal keeps by default.
    pub fn of_public_key(description: &str) -> Option<Self> {
        let name = match description {
            "ECDSA P-256" => "ECDSA-P256",
            "ECDSA P-384" => "ECDSA-P384",
            rsa => &rsa.replacen("RSA ", "RSA-", 1),
        };
        Self::from_name(name)
    }

    /// Parses kubeadm's spelling, case-insensitively.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(name))
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A private key of a kind kcerts can sign with.
#[derive(Clone)]
pub enum PrivateKey {
    /// An RSA key.
    Rsa(Box<rsa::PrivateKey>),
    /// An ECDSA key on P-256.
    P256(p256::SecretKey),
    /// An ECDSA key on P-384.
    P384(p384::SecretKey),
    /// An Ed25519 key.
    Ed25519(Box<ed25519_dalek::SigningKey>),
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivateKey({})", self.describe())
    }
}

/// Why bytes are not a usable private key. Never contains key material.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KeyError {
    /// The bytes are not PEM or DER.
    #[error(transparent)]
    Encoding(#[from] EncodingError),
    /// The file holds no private key block.
    #[error("no private key found (PEM labels present: {0})")]
    NoKey(String),
    /// The key is encrypted with a passphrase.
    #[error("the private key is encrypted; decrypt it first (openssl pkey -in FILE -out PLAIN)")]
    Encrypted,
    /// The key type is not supported (DSA, P-521, X25519...).
    #[error("unsupported private key type: {0}")]
    Unsupported(String),
    /// The key block could not be decoded.
    #[error("malformed {format} private key")]
    Malformed {
        /// Which encoding was tried (PKCS#1, SEC1, PKCS#8).
        format: &'static str,
    },
    /// Generating a key failed.
    #[error("key generation failed: {0}")]
    Generation(String),
}

impl PrivateKey {
    /// Parses the first private key in PEM (PKCS#1, SEC1 or PKCS#8) or DER bytes.
    pub fn parse(bytes: &[u8]) -> Result<Self, KeyError> {
        let blocks = encoding::blocks(bytes)?;
        let labels: Vec<&str> = blocks.iter().map(|b| b.label.as_str()).collect();
        for block in &blocks {
            match block.label.as_str() {
                "RSA PRIVATE KEY" => return parse_pkcs1(&block.der),
                "EC PRIVATE KEY" => return parse_sec1(&block.der),
                "PRIVATE KEY" => return parse_pkcs8(&block.der),
                "ENCRYPTED PRIVATE KEY" => return Err(KeyError::Encrypted),
                "DSA PRIVATE KEY" => return Err(KeyError::Unsupported("DSA".into())),
                "OPENSSH PRIVATE KEY" => {
                    return Err(KeyError::Unsupported("OpenSSH format".into()));
                }
                "" => return parse_der(&block.der),
                _ => {}
            }
        }
        if blocks
            .iter()
            .any(|b| pem_headers_say_encrypted(bytes, &b.label))
        {
            return Err(KeyError::Encrypted);
        }
        Err(KeyError::NoKey(labels.join(", ")))
    }

    /// The public key bits of the first private key in `bytes`, without building
    /// the full key: for RSA only the modulus and exponent are read (checking a
    /// CA key against its certificate need not pay for RSA key validation).
    pub fn public_key_bits_of(bytes: &[u8]) -> Result<Vec<u8>, KeyError> {
        let blocks = encoding::blocks(bytes)?;
        let rsa_bits = |pkcs1: &[u8]| -> Option<Vec<u8>> {
            use rsa::pkcs1::der::Encode;
            let k = rsa::pkcs1::RsaPrivateKeyRef::try_from(pkcs1).ok()?;
            rsa::pkcs1::RsaPublicKeyRef {
                modulus: k.modulus,
                public_exponent: k.public_exponent,
            }
            .to_der()
            .ok()
        };
        if let Some(block) = blocks.first() {
            match block.label.as_str() {
                "RSA PRIVATE KEY" => {
                    return rsa_bits(&block.der).ok_or(KeyError::Malformed {
                        format: "PKCS#1 RSA",
                    });
                }
                "PRIVATE KEY" | "" => {
                    if let Ok(info) = rsa::pkcs8::PrivateKeyInfoRef::try_from(block.der.as_slice())
                        && info.algorithm.oid == rsa::pkcs1::ALGORITHM_OID
                        && let Some(bits) = rsa_bits(info.private_key.as_bytes())
                    {
                        return Ok(bits);
                    }
                }
                _ => {}
            }
        }
        Self::parse(bytes).map(|k| k.public_key_bits())
    }

    /// Generates a new key of `algorithm` from `rng`.
    pub fn generate<R: CryptoRng + ?Sized>(
        algorithm: KeyAlgorithm,
        rng: &mut R,
    ) -> Result<Self, KeyError> {
        let rsa = |bits, rng: &mut R| {
            rsa::PrivateKey::new(rng, bits)
                .map(|k| PrivateKey::Rsa(Box::new(k)))
                .map_err(|e| KeyError::Generation(e.to_string()))
        };
        match algorithm {
            KeyAlgorithm::Rsa2048 => rsa(2048, rng),
            KeyAlgorithm::Rsa3072 => rsa(3072, rng),
            KeyAlgorithm::Rsa4096 => rsa(4096, rng),
            KeyAlgorithm::EcdsaP256 => {
                let sk = <p256::ecdsa::SigningKey as rsa::Generate>::generate_from_rng(rng);
                Ok(PrivateKey::P256(p256::SecretKey::from(
                    sk.as_nonzero_scalar(),
                )))
            }
            KeyAlgorithm::EcdsaP384 => {
                let sk = <p384::ecdsa::SigningKey as rsa::Generate>::generate_from_rng(rng);
                Ok(PrivateKey::P384(p384::SecretKey::from(
                    sk.as_nonzero_scalar(),
                )))
            }
        }
    }

    /// The contents of the subjectPublicKey BIT STRING for this key's public half:
    /// PKCS#1 RSAPublicKey for RSA, the uncompressed point for ECDSA, 32 bytes for Ed25519.
    pub fn public_key_bits(&self) -> Vec<u8> {
        match self {
            PrivateKey::Rsa(k) => {
                use rsa::pkcs1::EncodeRsaPublicKey;
                k.to_public_key()
                    .to_pkcs1_der()
                    .map(|d| d.as_bytes().to_vec())
                    // Encoding a valid in-memory RSA public key cannot fail.
                    .unwrap_or_default()
            }
            PrivateKey::P256(k) => k.public_key().to_sec1_bytes().to_vec(),
            PrivateKey::P384(k) => k.public_key().to_sec1_bytes().to_vec(),
            PrivateKey::Ed25519(k) => k.verifying_key().to_bytes().to_vec(),
        }
    }

    /// The algorithm kcerts would generate a key like this one with, when it is
    /// one kubeadm writes (not Ed25519 or other RSA sizes).
    pub fn algorithm(&self) -> Option<KeyAlgorithm> {
        match self.describe().as_str() {
            "RSA 2048" => Some(KeyAlgorithm::Rsa2048),
            "RSA 3072" => Some(KeyAlgorithm::Rsa3072),
            "RSA 4096" => Some(KeyAlgorithm::Rsa4096),
            "ECDSA P-256" => Some(KeyAlgorithm::EcdsaP256),
            "ECDSA P-384" => Some(KeyAlgorithm::EcdsaP384),
            _ => None,
        }
    }

    /// A short description: `RSA 2048`, `ECDSA P-256`, `Ed25519`.
    pub fn describe(&self) -> String {
        match self {
            PrivateKey::Rsa(k) => {
                use rsa::traits::PublicKeyParts;
                format!("RSA {}", k.size() * 8)
            }
            PrivateKey::P256(_) => "ECDSA P-256".into(),
            PrivateKey::P384(_) => "ECDSA P-384".into(),
            PrivateKey::Ed25519(_) => "Ed25519".into(),
        }
    }

    /// Serialises the key as kubeadm writes it: `RSA PRIVATE KEY` (PKCS#1) or
    /// `EC PRIVATE KEY` (SEC1); Ed25519 as PKCS#8 `PRIVATE KEY`.
    pub fn to_pem(&self) -> String {
        let (label, der) = match self {
            PrivateKey::Rsa(k) => {
                use rsa::pkcs1::EncodeRsaPrivateKey;
                (
                    "RSA PRIVATE KEY",
                    k.to_pkcs1_der().map(|d| d.as_bytes().to_vec()).ok(),
                )
            }
            PrivateKey::P256(k) => ("EC PRIVATE KEY", k.to_sec1_der().map(|d| d.to_vec()).ok()),
            PrivateKey::P384(k) => ("EC PRIVATE KEY", k.to_sec1_der().map(|d| d.to_vec()).ok()),
            PrivateKey::Ed25519(k) => {
                use ed25519_dalek::pkcs8::EncodePrivateKey;
                (
                    "PRIVATE KEY",
                    k.to_pkcs8_der().map(|d| d.as_bytes().to_vec()).ok(),
                )
            }
        };
        // Encoding a valid in-memory key cannot fail; an empty block would be
        // rejected by every reader rather than silently accepted.
        encoding::to_pem(label, &der.unwrap_or_default())
    }
}

/// The subjectPublicKey bits of a DER SubjectPublicKeyInfo (a `PUBLIC KEY`
/// block), to compare with [`PrivateKey::public_key_bits`]; `None` when it does not parse.
pub fn spki_bits(der: &[u8]) -> Option<Vec<u8>> {
    use x509_parser::prelude::FromDer;
    x509_parser::x509::SubjectPublicKeyInfo::from_der(der)
        .ok()
        .map(|(_, spki)| spki.subject_public_key.data.to_vec())
}

/// The DER SubjectPublicKeyInfo of a key's public half.
pub fn spki_der(key: &PrivateKey) -> Vec<u8> {
    use p256::pkcs8::EncodePublicKey;
    let der = match key {
        PrivateKey::Rsa(k) => rsa::pkcs8::EncodePublicKey::to_public_key_der(&k.to_public_key())
            .map(|d| d.as_bytes().to_vec())
            .ok(),
        PrivateKey::P256(k) => k
            .public_key()
            .to_public_key_der()
            .map(|d| d.as_bytes().to_vec())
            .ok(),
        PrivateKey::P384(k) => k
            .public_key()
            .to_public_key_der()
            .map(|d| d.as_bytes().to_vec())
            .ok(),
        PrivateKey::Ed25519(k) => {
            ed25519_dalek::pkcs8::EncodePublicKey::to_public_key_der(&k.verifying_key())
                .map(|d| d.as_bytes().to_vec())
                .ok()
        }
    };
    // Encoding a valid in-memory public key cannot fail.
    der.unwrap_or_default()
}

fn pem_headers_say_encrypted(bytes: &[u8], _label: &str) -> bool {
    bytes.windows(17).any(|w| w == b"Proc-Type: 4,ENCR")
}

fn parse_pkcs1(der: &[u8]) -> Result<PrivateKey, KeyError> {
    use rsa::pkcs1::DecodeRsaPrivateKey;
    rsa::PrivateKey::from_pkcs1_der(der)
        .map(|k| PrivateKey::Rsa(Box::new(k)))
        .map_err(|_| KeyError::Malformed {
            format: "PKCS#1 RSA",
        })
}

fn parse_sec1(der: &[u8]) -> Result<PrivateKey, KeyError> {
    if let Ok(k) = p256::SecretKey::from_sec1_der(der) {
        return Ok(PrivateKey::P256(k));
    }
    if let Ok(k) = p384::SecretKey::from_sec1_der(der) {
        return Ok(PrivateKey::P384(k));
    }
    Err(KeyError::Malformed {
        format: "SEC1 EC (only P-256 and P-384 are supported)",
    })
}

fn parse_pkcs8(der: &[u8]) -> Result<PrivateKey, KeyError> {
    use p256::pkcs8::DecodePrivateKey;
    if let Ok(k) = <rsa::PrivateKey as rsa::pkcs8::DecodePrivateKey>::from_pkcs8_der(der) {
        return Ok(PrivateKey::Rsa(Box::new(k)));
    }
    if let Ok(k) = p256::SecretKey::from_pkcs8_der(der) {
        return Ok(PrivateKey::P256(k));
    }
    if let Ok(k) = p384::SecretKey::from_pkcs8_der(der) {
        return Ok(PrivateKey::P384(k));
    }
    if let Ok(k) =
        <ed25519_dalek::SigningKey as ed25519_dalek::pkcs8::DecodePrivateKey>::from_pkcs8_der(der)
    {
        return Ok(PrivateKey::Ed25519(Box::new(k)));
    }
    Err(KeyError::Malformed {
        format: "PKCS#8 (supported: RSA, ECDSA P-256/P-384, Ed25519)",
    })
}

fn parse_der(der: &[u8]) -> Result<PrivateKey, KeyError> {
    parse_pkcs8(der)
        .or_else(|_| parse_pkcs1(der))
        .or_else(|_| parse_sec1(der))
        .map_err(|_| KeyError::Malformed {
            format: "DER (tried PKCS#8, PKCS#1 and SEC1)",
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_generated_keys_through_pem() {
        let mut rng = crate::seeded_rng(1);
        for alg in [
            KeyAlgorithm::EcdsaP256,
            KeyAlgorithm::EcdsaP384,
            KeyAlgorithm::Rsa2048,
        ] {
            let key = PrivateKey::generate(alg, &mut rng).unwrap();
            let pem = key.to_pem();
            let label = if alg.name().starts_with("RSA") {
                "RSA PRIVATE KEY"
            } else {
                "EC PRIVATE KEY"
            };
            assert!(
                pem.starts_with(&format!("-----BEGIN {label}-----\n")),
                "{pem}"
            );
            let back = PrivateKey::parse(pem.as_bytes()).unwrap();
            assert_eq!(back.public_key_bits(), key.public_key_bits());
        }
    }

    #[test]
    fn cheap_public_bits_equal_the_full_parse() {
        let mut rng = crate::seeded_rng(9);
        let key = PrivateKey::generate(KeyAlgorithm::Rsa2048, &mut rng).unwrap();
        let pkcs1 = key.to_pem();
        assert_eq!(
            PrivateKey::public_key_bits_of(pkcs1.as_bytes()).unwrap(),
            key.public_key_bits()
        );
        let PrivateKey::Rsa(rsa_key) = &key else {
            unreachable!()
        };
        let pkcs8 = rsa::pkcs8::EncodePrivateKey::to_pkcs8_der(rsa_key.as_ref()).unwrap();
        let pkcs8_pem = encoding::to_pem("PRIVATE KEY", pkcs8.as_bytes());
        assert_eq!(
            PrivateKey::public_key_bits_of(pkcs8_pem.as_bytes()).unwrap(),
            key.public_key_bits()
        );
        let ec = PrivateKey::generate(KeyAlgorithm::EcdsaP256, &mut rng).unwrap();
        assert_eq!(
            PrivateKey::public_key_bits_of(ec.to_pem().as_bytes()).unwrap(),
            ec.public_key_bits()
        );
        assert!(
            PrivateKey::public_key_bits_of(
                b"-----BEGIN RSA PRIVATE KEY-----\nMAA=\n-----END RSA PRIVATE KEY-----\n"
            )
            .is_err()
        );
    }

    #[test]
    fn debug_and_errors_never_show_key_material() {
        let mut rng = crate::seeded_rng(2);
        let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256, &mut rng).unwrap();
        assert_eq!(format!("{key:?}"), "PrivateKey(ECDSA P-256)");
        let mut pem = key.to_pem();
        pem = pem.replace("EC PRIVATE KEY", "RSA PRIVATE KEY");
        let err = PrivateKey::parse(pem.as_bytes()).unwrap_err().to_string();
        assert_eq!(err, "malformed PKCS#1 RSA private key");
    }

    #[test]
    fn names_encrypted_and_unsupported_keys() {
        let enc = encoding::to_pem("ENCRYPTED PRIVATE KEY", &[0x30, 0]);
        assert_eq!(
            PrivateKey::parse(enc.as_bytes()).unwrap_err(),
            KeyError::Encrypted
        );
        let dsa = encoding::to_pem("DSA PRIVATE KEY", &[0x30, 0]);
        assert_eq!(
            PrivateKey::parse(dsa.as_bytes()).unwrap_err(),
            KeyError::Unsupported("DSA".into())
        );
        let cert = encoding::to_pem("CERTIFICATE", &[0x30, 0]);
        assert_eq!(
            PrivateKey::parse(cert.as_bytes()).unwrap_err(),
            KeyError::NoKey("CERTIFICATE".into())
        );
    }

    #[test]
    fn algorithm_names_parse_case_insensitively() {
        assert_eq!(
            KeyAlgorithm::from_name("ecdsa-p256"),
            Some(KeyAlgorithm::EcdsaP256)
        );
        assert_eq!(
            KeyAlgorithm::from_name("RSA-4096"),
            Some(KeyAlgorithm::Rsa4096)
        );
        assert_eq!(KeyAlgorithm::from_name("RSA-1024"), None);
    }

    #[test]
    fn a_public_key_description_gives_the_algorithm_to_keep() {
        let mut rng = crate::seeded_rng(3);
        for alg in [
            KeyAlgorithm::Rsa2048,
            KeyAlgorithm::EcdsaP256,
            KeyAlgorithm::EcdsaP384,
        ] {
            let key = PrivateKey::generate(alg, &mut rng).unwrap();
            assert_eq!(KeyAlgorithm::of_public_key(&key.describe()), Some(alg));
        }
        assert_eq!(
            KeyAlgorithm::of_public_key("RSA 4096"),
            Some(KeyAlgorithm::Rsa4096)
        );
        for other in ["RSA 1024", "Ed25519", "ECDSA P-521", "unknown (1.2.3)", ""] {
            assert_eq!(KeyAlgorithm::of_public_key(other), None, "{other}");
        }
    }
}
