//! Which algorithm a renewed certificate's new key uses: the certificate's own
//! (the default, so renewal never switches a node between RSA and ECDSA), or
//! one chosen by the cluster configuration or the command line.

use thiserror::Error;

use crate::x509::certificate::Certificate;
use crate::x509::keys::KeyAlgorithm;

/// Where the new key's algorithm comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyChoice {
    /// The same type and size as the key of the certificate being renewed.
    #[default]
    Keep,
    /// This algorithm, whatever the old key was (`encryptionAlgorithm` in the
    /// ClusterConfiguration, or `--key-algorithm`).
    Use(KeyAlgorithm),
}

/// Why the old certificate's key type cannot be kept.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error(
    "its key is {found}, which kubeadm never writes; choose the new key's algorithm with \
     --key-algorithm (RSA-2048, RSA-3072, RSA-4096, ECDSA-P256 or ECDSA-P384)"
)]
pub struct UnkeepableKey {
    /// The old key as described by the certificate (`Ed25519`, `RSA 1024`...).
    pub found: String,
}

impl KeyChoice {
    /// `--key-algorithm` when given, else the configuration's `encryptionAlgorithm`
    /// when it names one, else keep each key's algorithm.
    pub fn resolve(flag: Option<KeyAlgorithm>, configured: Option<KeyAlgorithm>) -> Self {
        flag.or(configured).map_or(KeyChoice::Keep, KeyChoice::Use)
    }

    /// The algorithm for the key that replaces `old`'s.
    pub fn for_certificate(self, old: &Certificate) -> Result<KeyAlgorithm, UnkeepableKey> {
        match self {
            KeyChoice::Use(a) => Ok(a),
            KeyChoice::Keep => current_algorithm(old),
        }
    }

    /// `keep` or the algorithm's kubeadm name, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            KeyChoice::Keep => "keep",
            KeyChoice::Use(a) => a.name(),
        }
    }
}

/// The algorithm of `cert`'s public key, if it is one kubeadm can write
/// (kubeadm's `EncryptionAlgorithmType`: RSA-2048/3072/4096, ECDSA-P256/P384).
pub fn current_algorithm(cert: &Certificate) -> Result<KeyAlgorithm, UnkeepableKey> {
    // `public_key` is written by one function (`certificate::describe_spki`).
    KeyAlgorithm::of_public_key(&cert.public_key).ok_or_else(|| UnkeepableKey {
        found: cert.public_key.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::issue::leaf::{self, LeafSpec, RenewOptions};
    use crate::test_support::NOW;

    #[test]
    fn keeps_each_kubeadm_algorithm_and_refuses_ed25519_naming_the_flag() {
        let now = NOW; // 2026-03-01
        let mut rng = crate::seeded_rng(11);
        let ca = leaf::issue_ca("kubernetes", KeyAlgorithm::EcdsaP256, now, &mut rng).unwrap();
        let spec = LeafSpec {
            common_name: "kube-apiserver".into(),
            extended_key_usage: vec![crate::x509::certificate::ExtendedKeyUsage::ServerAuth],
            ..Default::default()
        };
        // RSA-4096 is left out only to keep the test fast; it maps the same way.
        for alg in [
            KeyAlgorithm::Rsa2048,
            KeyAlgorithm::EcdsaP256,
            KeyAlgorithm::EcdsaP384,
        ] {
            let opts = RenewOptions {
                key_algorithm: alg,
                ..Default::default()
            };
            let leaf = leaf::issue(&spec, &ca, &opts, now, &mut rng).unwrap();
            assert_eq!(KeyChoice::Keep.for_certificate(&leaf.cert), Ok(alg));
            assert_eq!(
                KeyChoice::Use(KeyAlgorithm::Rsa3072).for_certificate(&leaf.cert),
                Ok(KeyAlgorithm::Rsa3072)
            );
        }
        let mut ed = leaf::issue(
            &spec,
            &ca,
            &RenewOptions {
                key_algorithm: KeyAlgorithm::EcdsaP256,
                ..Default::default()
            },
            now,
            &mut rng,
        )
        .unwrap()
        .cert;
        assert_eq!(
            KeyChoice::resolve(None, Some(KeyAlgorithm::EcdsaP384)),
            KeyChoice::Use(KeyAlgorithm::EcdsaP384)
        );
        assert_eq!(
            KeyChoice::resolve(Some(KeyAlgorithm::Rsa2048), Some(KeyAlgorithm::EcdsaP384)),
            KeyChoice::Use(KeyAlgorithm::Rsa2048)
        );
        assert_eq!(KeyChoice::resolve(None, None), KeyChoice::Keep);
        ed.public_key = "Ed25519".into();
        let err = KeyChoice::Keep.for_certificate(&ed).unwrap_err();
        assert_eq!(err.found, "Ed25519");
        assert!(err.to_string().contains("--key-algorithm"), "{err}");
        assert_eq!(
            KeyChoice::Use(KeyAlgorithm::EcdsaP256).for_certificate(&ed),
            Ok(KeyAlgorithm::EcdsaP256)
        );
    }
}
