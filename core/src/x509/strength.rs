//! Weak cryptography: a signature over SHA-1 or MD5 (or MD2), and an RSA key
//! under 2048 bits. The one rule `verify`, `inspect`, the page, `approve
//! kubelet-serving` and `sign` apply: the first three warn, the last two refuse.
//!
//! Go's crypto/x509 has refused SHA-1 signatures since Go 1.18 (the apiserver
//! and every client of it), and NIST retired RSA keys under 2048 bits in 2013.

use thiserror::Error;

/// The smallest RSA modulus kcerts accepts, in bits.
pub const MIN_RSA_BITS: u32 = 2048;

/// What is weak about a certificate or a request; the message is one line.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Weakness {
    /// Signed with a broken hash.
    #[error(
        "signed with {algorithm}: {hash} collisions can be forged and Go's TLS clients refuse it \
         (sign with SHA-256 or better)"
    )]
    Signature {
        /// Go's name of the algorithm (`SHA1-RSA`, `MD5-RSA`, `ECDSA-SHA1`).
        algorithm: &'static str,
        /// The hash (`SHA-1`, `MD5`, `MD2`).
        hash: &'static str,
    },
    /// An RSA key too small to resist factoring.
    #[error(
        "an RSA key of {bits} bits, under {MIN_RSA_BITS} (use RSA 2048 or more, or ECDSA P-256)"
    )]
    SmallRsaKey {
        /// The modulus size.
        bits: u32,
    },
}

/// The weak signature algorithm of this OID (`1.2.840.113549.1.1.5`), if it is one.
pub fn signature(oid: &str) -> Option<Weakness> {
    let (algorithm, hash) = match oid {
        "1.2.840.113549.1.1.5" | "1.3.14.3.2.29" => ("SHA1-RSA", "SHA-1"),
        "1.2.840.10045.4.1" => ("ECDSA-SHA1", "SHA-1"),
        "1.2.840.10040.4.3" => ("DSA-SHA1", "SHA-1"),
        "1.2.840.113549.1.1.4" => ("MD5-RSA", "MD5"),
        "1.2.840.113549.1.1.2" => ("MD2-RSA", "MD2"),
        _ => return None,
    };
    Some(Weakness::Signature { algorithm, hash })
}

/// The weakness of a public key described as `Certificate::public_key` does
/// (`RSA 1024`), if any.
pub fn public_key(description: &str) -> Option<Weakness> {
    let bits: u32 = description.strip_prefix("RSA ")?.parse().ok()?;
    (bits < MIN_RSA_BITS).then_some(Weakness::SmallRsaKey { bits })
}

/// Every weakness of a signature algorithm OID and a public key description.
pub fn weaknesses(signature_oid: &str, public_key_description: &str) -> Vec<Weakness> {
    signature(signature_oid)
        .into_iter()
        .chain(public_key(public_key_description))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha1_md5_and_small_rsa_are_weak() {
        assert_eq!(
            signature("1.2.840.113549.1.1.5"),
            Some(Weakness::Signature {
                algorithm: "SHA1-RSA",
                hash: "SHA-1"
            })
        );
        assert!(signature("1.2.840.10045.4.1").is_some());
        assert!(signature("1.2.840.113549.1.1.4").is_some());
        // SHA-256 with RSA and with ECDSA, Ed25519: fine.
        for ok in [
            "1.2.840.113549.1.1.11",
            "1.2.840.10045.4.3.2",
            "1.3.101.112",
        ] {
            assert_eq!(signature(ok), None, "{ok}");
        }
        assert_eq!(
            public_key("RSA 1024"),
            Some(Weakness::SmallRsaKey { bits: 1024 })
        );
        assert_eq!(public_key("RSA 2047").map(|_| ()), Some(()));
        for ok in ["RSA 2048", "RSA 4096", "ECDSA P-256", "Ed25519", "RSA x"] {
            assert_eq!(public_key(ok), None, "{ok}");
        }
        let both = weaknesses("1.2.840.113549.1.1.5", "RSA 1024");
        assert_eq!(both.len(), 2);
        assert_eq!(
            both[1].to_string(),
            "an RSA key of 1024 bits, under 2048 (use RSA 2048 or more, or ECDSA P-256)"
        );
    }
}
