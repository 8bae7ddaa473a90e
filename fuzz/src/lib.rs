//! The bodies of the fuzz targets: each feeds arbitrary bytes to a kcerts-core
//! parser and checks what must hold for any input (no panic; what parses
//! re-encodes and parses again to the same thing).
//!
//! The workspace test `tests/tests/e2e/fuzz_corpus.rs` includes this file with
//! `#[path]` and replays every corpus file through the same functions, so
//! `cargo test` covers the corpus without nightly. Keep it free of any
//! dependency other than kcerts-core and time.

use std::sync::OnceLock;

use kcerts_core::analysis::{self, InputFile};
use kcerts_core::certificate;
use kcerts_core::csr;
use kcerts_core::kubeconfig::Kubeconfig;
use kcerts_core::leaf::{self, LeafSpec, RenewOptions, SigningCa};
use kcerts_core::node::{NodeFiles, NodePath, ReadError};
use kcerts_core::{KeyAlgorithm, PrivateKey};
use kcerts_core::{expiration, structured, text};
use time::OffsetDateTime;
use time::macros::datetime;

/// The fixed "now" of every target: 2026-03-01 12:00 UTC (the e2e tests' `NOW`).
pub const NOW: OffsetDateTime = datetime!(2026-03-01 12:00 UTC);

/// Marks a file of a [`report`] bundle as present but unreadable.
pub const UNREADABLE: &[u8] = b"!unreadable";

/// Certificates (PEM or DER): every parsed certificate re-parses from its PEM.
pub fn cert(data: &[u8]) {
    let Ok(certs) = certificate::parse_all(data) else {
        return;
    };
    for c in &certs {
        let again = certificate::parse_first(c.to_pem().as_bytes())
            .expect("a parsed certificate parses again from its own PEM");
        assert_eq!(again.der, c.der, "PEM round trip changed the DER");
        let _ = c.residual_seconds(NOW);
        let _ = c.verify_signed_by(c);
    }
}

/// Private keys: a parsed key re-parses from its PEM with the same public key,
/// and the fast public-key path agrees with the full parse.
pub fn key(data: &[u8]) {
    let fast = PrivateKey::public_key_bits_of(data);
    let Ok(k) = PrivateKey::parse(data) else {
        return;
    };
    let _ = k.describe();
    let again = PrivateKey::parse(k.to_pem().as_bytes())
        .expect("a parsed key parses again from its own PEM");
    assert_eq!(again.public_key_bits(), k.public_key_bits());
    if let Ok(bits) = fast {
        assert_eq!(
            bits,
            k.public_key_bits(),
            "public_key_bits_of disagrees with parse"
        );
    }
}

/// Certificate signing requests.
pub fn csr(data: &[u8]) {
    let _ = csr::parse(data);
}

/// Kubeconfigs: what parses can be checked, listed, and written back as YAML
/// that parses again (renewal writes kubeconfigs with `to_yaml`).
pub fn kubeconfig(data: &[u8]) {
    let Ok(kc) = Kubeconfig::parse(data) else {
        return;
    };
    let current = kc.current();
    let _ = kc.entries();
    if let Ok(yaml) = kc.to_yaml() {
        let again =
            Kubeconfig::parse(yaml.as_bytes()).expect("a kubeconfig's own YAML parses again");
        assert_eq!(again.current().is_ok(), current.is_ok());
    }
}

/// Splits a bundle into named files: each file starts with a line
/// `@@@ <name>` (`@@@ pki/ca.crt`, `@@@ admin.conf`); bytes before the first such
/// line form a file named `input`. A file whose contents are [`UNREADABLE`]
/// stands for a file that exists but cannot be read.
pub fn split_bundle(data: &[u8]) -> Vec<(String, &[u8])> {
    const SEP: &[u8] = b"@@@ ";
    let mut starts = Vec::new();
    let mut i = 0;
    while i + SEP.len() <= data.len() {
        if (i == 0 || data[i - 1] == b'\n') && &data[i..i + SEP.len()] == SEP {
            starts.push(i);
            i += SEP.len();
        } else {
            i += 1;
        }
    }
    let mut out = Vec::new();
    let first = starts.first().copied().unwrap_or(data.len());
    if first > 0 {
        out.push(("input".to_string(), &data[..first]));
    }
    for (n, &s) in starts.iter().enumerate() {
        let end = starts.get(n + 1).copied().unwrap_or(data.len());
        let part = &data[s + SEP.len()..end];
        let nl = part.iter().position(|&c| c == b'\n').unwrap_or(part.len());
        let name = String::from_utf8_lossy(&part[..nl]).into_owned();
        let body = part.get(nl + 1..).unwrap_or_default();
        out.push((name, body));
    }
    out
}

/// The report builders over an arbitrary set of files: kubeadm's report of a
/// node (files named `pki/...` go to the cert dir, others to the kubeconfig
/// dir) and the web page's analysis of uploaded files, in every output form.
pub fn report(data: &[u8]) {
    let files = split_bundle(data);
    let inputs: Vec<InputFile<'_>> = files
        .iter()
        .map(|(name, bytes)| InputFile { name, bytes })
        .collect();
    let _ = analysis::analyze(&inputs, NOW);
    let mut node = NodeFiles::default();
    for (name, bytes) in &files {
        let path = match name.strip_prefix("pki/") {
            Some(rel) => NodePath::cert(rel),
            None => NodePath::kubeconfig(name.as_str()),
        };
        if *bytes == UNREADABLE {
            node.insert_unreadable(path, ReadError::System("permission denied".into()));
        } else {
            node.insert(path, bytes.to_vec());
        }
    }
    let r = expiration::build(&node, NOW);
    let _ = text::render(&r);
    let _ = structured::to_json(&r);
    let _ = structured::to_yaml(&r);
}

fn fuzz_ca() -> &'static SigningCa {
    static CA: OnceLock<SigningCa> = OnceLock::new();
    CA.get_or_init(|| {
        let mut rng = kcerts_core::seeded_rng(1);
        leaf::issue_ca("fuzz-ca", KeyAlgorithm::EcdsaP256, NOW, &mut rng)
            .expect("issuing the fuzz CA")
    })
}

/// Parse, renew, parse: a renewed certificate keeps CN, O, SANs and extended
/// key usages (spec section 4) and matches its new key. Renewal may refuse a
/// certificate (e.g. several O values); it must not panic or change names.
pub fn roundtrip(data: &[u8]) {
    let Ok(old) = certificate::parse_first(data) else {
        return;
    };
    let opts = RenewOptions {
        key_algorithm: KeyAlgorithm::EcdsaP256,
        validity: leaf::DEFAULT_VALIDITY,
    };
    let mut rng = kcerts_core::seeded_rng(2);
    let Ok(issued) = leaf::renew(&old, fuzz_ca(), &opts, NOW, &mut rng) else {
        return;
    };
    let new = certificate::parse_first(issued.cert_pem().as_bytes())
        .expect("a renewed certificate parses");
    // Several O values come back in DER SET order, as Go writes them.
    let sorted_orgs = |c: &certificate::Certificate| {
        let mut spec = LeafSpec::from_existing(c);
        spec.organizations.sort_by_key(|o| (o.len(), o.clone()));
        spec
    };
    assert_eq!(
        sorted_orgs(&new),
        sorted_orgs(&old),
        "renewal must keep CN, O, SANs and extended key usages"
    );
    assert!(
        new.matches_key(&issued.key),
        "renewed certificate must match its key"
    );
    assert!(new.verify_signed_by(&fuzz_ca().cert).is_ok());
}
