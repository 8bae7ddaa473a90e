//! Adapts [`PrivateKey`] to rcgen's `SigningKey`, so rcgen builds certificates and
//! CSRs signed with RustCrypto keys (rcgen's own backends need ring or aws-lc).

use rcgen::{PublicKeyData, SignatureAlgorithm, SigningKey};

use crate::x509::keys::PrivateKey;

/// A private key with its public key bits cached, as rcgen's traits want.
pub(crate) struct RcgenKey<'a> {
    key: &'a PrivateKey,
    public: Vec<u8>,
}

impl<'a> RcgenKey<'a> {
    pub(crate) fn new(key: &'a PrivateKey) -> Self {
        Self {
            key,
            public: key.public_key_bits(),
        }
    }
}

impl PublicKeyData for RcgenKey<'_> {
    fn der_bytes(&self) -> &[u8] {
        &self.public
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        // Go's x509 (and so kubeadm) signs with SHA-256 for RSA and P-256, SHA-384 for P-384.
        match self.key {
            PrivateKey::Rsa(_) => &rcgen::PKCS_RSA_SHA256,
            PrivateKey::P256(_) => &rcgen::PKCS_ECDSA_P256_SHA256,
            PrivateKey::P384(_) => &rcgen::PKCS_ECDSA_P384_SHA384,
            PrivateKey::Ed25519(_) => &rcgen::PKCS_ED25519,
        }
    }
}

impl SigningKey for RcgenKey<'_> {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        use p256::ecdsa::signature::Signer;
        match self.key {
            PrivateKey::Rsa(k) => k
                .pkcs1v15_sign::<sha2::Sha256>(msg)
                .map_err(|_| rcgen::Error::RemoteKeyError),
            PrivateKey::P256(k) => {
                let sk = p256::ecdsa::SigningKey::from(k);
                let sig: p256::ecdsa::DerSignature = sk.sign(msg);
                Ok(sig.as_bytes().to_vec())
            }
            PrivateKey::P384(k) => {
                let sk = p384::ecdsa::SigningKey::from(k);
                let sig: p384::ecdsa::DerSignature = sk.sign(msg);
                Ok(sig.as_bytes().to_vec())
            }
            PrivateKey::Ed25519(k) => Ok(k.sign(msg).to_bytes().to_vec()),
        }
    }
}
