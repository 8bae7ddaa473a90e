//! How the items relate: which copy of a certificate counts (a file of its
//! own before a kubeconfig's embedded copy), which certificate signed which,
//! and which private key belongs to which certificate or CSR.

use std::collections::{HashMap, HashSet};

use super::ends_hash::EndsHash;
use super::model::{Item, ItemKind, KeyMatch, Link};
use crate::x509::certificate::Certificate;

/// Above this many certificates, issuer links are found by name and key
/// identifier only; below it every link's signature is also checked.
pub const SIGNATURE_CHECK_LIMIT: usize = 2000;

/// For each item, whether it is the first copy of its certificate, preferring
/// a file of its own over a copy embedded in a kubeconfig (every kubeconfig
/// repeats ca.crt). Non-certificates are their own first copy.
pub(super) fn first_copies(items: &[Item]) -> Vec<bool> {
    let mut first = vec![true; items.len()];
    for i in items.iter().filter(|i| i.certificate.is_some()) {
        first[i.id] = false;
    }
    for id in first_copy_order(items) {
        first[id] = true;
    }
    first
}

/// The ids of the first copies of each certificate, copies embedded as a
/// kubeconfig's certificate-authority last, otherwise in item order.
pub(super) fn first_copy_order(items: &[Item]) -> Vec<usize> {
    let mut order: Vec<&Item> = items.iter().filter(|i| i.certificate.is_some()).collect();
    order.sort_by_key(|i| (i.place.contains("certificate-authority"), i.id));
    let mut seen: HashSet<&[u8], EndsHash> =
        HashSet::with_capacity_and_hasher(order.len(), EndsHash);
    order
        .into_iter()
        .filter(|i| {
            i.certificate
                .as_ref()
                .is_some_and(|c| seen.insert(c.cert.der.as_slice()))
        })
        .map(|i| i.id)
        .collect()
}

/// Which certificate signed which: candidates share the issuer name (and the
/// key identifier when both carry one); the signature is checked unless the
/// upload is very large. Indexed by name, so a large bundle stays linear.
pub(super) fn link_issuers(items: &[Item], first: &[bool]) -> Vec<Link> {
    let certs: Vec<(usize, &Certificate)> = items
        .iter()
        .filter_map(|i| i.certificate.as_ref().map(|c| (i.id, &c.cert)))
        .collect();
    let check_signatures = certs.len() <= SIGNATURE_CHECK_LIMIT;
    let mut cas_by_subject: HashMap<&[u8], Vec<(usize, &Certificate)>, EndsHash> =
        HashMap::with_hasher(EndsHash);
    for (id, c) in &certs {
        if c.is_ca && first[*id] {
            cas_by_subject
                .entry(c.subject_der())
                .or_default()
                .push((*id, c));
        }
    }
    let mut links = Vec::new();
    for (child, c) in &certs {
        let Some(candidates) = cas_by_subject.get(c.issuer_der()) else {
            continue;
        };
        for (issuer, p) in candidates {
            if c.der == p.der {
                continue;
            }
            let ids_fit = match (&c.authority_key_id, &p.subject_key_id) {
                (Some(aki), Some(ski)) => aki == ski,
                _ => true,
            };
            if ids_fit && (!check_signatures || c.verify_signed_by(p).is_ok()) {
                links.push(Link {
                    child: *child,
                    issuer: *issuer,
                    signature_checked: check_signatures,
                });
            }
        }
    }
    links
}

/// Each private key's certificates and CSRs (first copies only): those with its public key.
pub(super) fn match_keys(items: &[Item], first: &[bool]) -> Vec<KeyMatch> {
    let mut by_key: HashMap<&[u8], Vec<usize>, EndsHash> = HashMap::with_hasher(EndsHash);
    for other in items
        .iter()
        .filter(|i| matches!(i.kind, ItemKind::Certificate | ItemKind::Csr))
    {
        if first[other.id] && !other.public_key_bits.is_empty() {
            by_key
                .entry(&other.public_key_bits)
                .or_default()
                .push(other.id);
        }
    }
    let mut key_matches = Vec::new();
    for key in items.iter().filter(|i| i.kind == ItemKind::PrivateKey) {
        for &certificate in by_key
            .get(key.public_key_bits.as_slice())
            .into_iter()
            .flatten()
        {
            key_matches.push(KeyMatch {
                key: key.id,
                certificate,
            });
        }
    }
    key_matches
}

#[cfg(test)]
mod tests {
    use super::super::analyze;
    use super::super::model::InputFile;
    use super::super::testing::{NOW, ecdsa_node};
    use crate::issue::pki;

    #[test]
    fn kubeconfig_copies_of_a_ca_come_after_its_own_file() {
        let node = ecdsa_node();
        // admin.conf first: its embedded ca.crt is item 0, pki/ca.crt comes later.
        let mut files: Vec<&pki::GeneratedFile> = node.files.iter().collect();
        files.sort_by_key(|f| !f.path.to_string().ends_with("admin.conf"));
        let names: Vec<String> = files.iter().map(|f| f.path.to_string()).collect();
        let inputs: Vec<InputFile<'_>> = files
            .iter()
            .zip(&names)
            .map(|(f, n)| InputFile {
                name: n,
                bytes: &f.bytes,
            })
            .collect();
        let a = analyze(&inputs, NOW);
        assert!(a.items[0].place.contains("certificate-authority"));
        let distinct = a.distinct_certificates();
        assert!(!distinct.contains(&0));
        let ca = a.items.iter().find(|i| i.file == "pki/ca.crt").unwrap();
        assert!(distinct.contains(&ca.id));
    }
}
