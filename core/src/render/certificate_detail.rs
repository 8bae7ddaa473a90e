//! One certificate among analysed files, row by row: what `kcerts inspect`
//! prints under each certificate and what the web page's detail pane shows
//! (the same rows, labels and wording; each front end only lays them out).

use crate::check::analysis::{Analysis, Item};
use crate::kubeadm::residual::{self, format_date};
use crate::x509::hex::{colon_hex, unhex};
use crate::x509::signature_check::signature_algorithm_name;

/// A certificate's detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateDetail {
    /// Where it is (`chain.pem (block 1 of 2)`).
    pub location: String,
    /// `(label, value)` rows, in order: role, names, chain, validity, key,
    /// usages, private key, fingerprint.
    pub rows: Vec<(&'static str, String)>,
    /// Every extension decoded: `(name, value)`, the name followed by
    /// ` (critical)` for a critical one.
    pub extensions: Vec<(String, String)>,
}

/// A fingerprint as kcerts stores it (lowercase hex) the way openssl prints
/// one: `AB:CD:...`.
pub fn fingerprint_text(hex: &str) -> String {
    colon_hex(&unhex(hex).unwrap_or_default())
}

/// `DNS:a, IP:b`, or `none`.
pub fn sans(dns: &[String], ips: &[std::net::IpAddr]) -> String {
    let all: Vec<String> = dns
        .iter()
        .map(|d| format!("DNS:{d}"))
        .chain(ips.iter().map(|i| format!("IP:{i}")))
        .collect();
    if all.is_empty() {
        "none".into()
    } else {
        all.join(", ")
    }
}

/// The detail of `item`, or `None` when it is not a certificate.
pub fn certificate_detail(a: &Analysis, item: &Item) -> Option<CertificateDetail> {
    let ci = item.certificate.as_ref()?;
    let c = &ci.cert;
    let mut rows: Vec<(&'static str, String)> = Vec::new();
    if let Some(role) = &ci.role {
        rows.push(("kubeadm role", role.clone()));
    }
    rows.push(("Subject", c.subject.clone()));
    rows.push(("Issuer", c.issuer.clone()));
    let issuers: Vec<String> = a
        .links
        .iter()
        .filter(|l| l.child == item.id)
        .map(|l| {
            format!(
                "signed by {} (signature verified)",
                a.items[l.issuer].location()
            )
        })
        .collect();
    let chain = if !issuers.is_empty() {
        issuers.join("; ")
    } else if c.subject_der() == c.issuer_der() {
        match c.verify_signed_by(c) {
            Ok(()) => "self-signed (signature verified)".to_string(),
            Err(e) => format!("self-signed, but the signature does not verify: {e}"),
        }
    } else {
        "issuer not among these files".to_string()
    };
    rows.push(("Chain", chain));
    rows.push(("Serial", fingerprint_text(&c.serial)));
    rows.push(("Not before", format_date(c.not_before)));
    let left = if ci.residual_seconds < 0 {
        format!("expired {} ago", residual::human(-ci.residual_seconds))
    } else if c.not_before > a.now {
        format!("not valid yet; {} left after that", ci.residual)
    } else {
        format!("{} left", ci.residual)
    };
    rows.push((
        "Not after",
        format!("{} ({left})", format_date(c.not_after)),
    ));
    rows.push(("SANs", sans(&c.dns_names, &c.ip_addresses)));
    rows.push(("Public key", c.public_key.clone()));
    rows.push((
        "Signature algorithm",
        signature_algorithm_name(&c.signature_algorithm).to_string(),
    ));
    rows.push(("CA", if c.is_ca { "yes" } else { "no" }.to_string()));
    rows.push((
        "Key usage",
        if c.key_usage.is_empty() {
            "none".to_string()
        } else {
            c.key_usage.join(", ")
        },
    ));
    rows.push((
        "Extended key usage",
        if c.extended_key_usage.is_empty() {
            "none".to_string()
        } else {
            c.extended_key_usage
                .iter()
                .map(|u| u.name())
                .collect::<Vec<_>>()
                .join(", ")
        },
    ));
    let keys: Vec<String> = a
        .key_matches
        .iter()
        .filter(|m| m.certificate == item.id)
        .map(|m| a.items[m.key].location())
        .collect();
    if !keys.is_empty() {
        rows.push(("Private key", keys.join(", ")));
    }
    rows.push((
        "SHA-256 fingerprint",
        fingerprint_text(&c.sha256_fingerprint()),
    ));
    let extensions = c
        .extensions()
        .into_iter()
        .map(|e| {
            let crit = if e.critical { " (critical)" } else { "" };
            (format!("{}{crit}", e.name), e.value)
        })
        .collect();
    Some(CertificateDetail {
        location: item.location(),
        rows,
        extensions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::analysis::{InputFile, analyze};
    use crate::issue::pki;
    use crate::test_support::{NOW, ecdsa_example};

    #[test]
    fn a_leaf_names_its_role_issuer_key_and_extensions() {
        let node = pki::generate(&ecdsa_example(), NOW, &mut crate::seeded_rng(5)).unwrap();
        let names: Vec<String> = node.files.iter().map(|f| f.path.to_string()).collect();
        let inputs: Vec<InputFile<'_>> = node
            .files
            .iter()
            .zip(&names)
            .map(|(f, name)| InputFile {
                name,
                bytes: &f.bytes,
            })
            .collect();
        let a = analyze(&inputs, NOW);
        let detail = |file: &str| {
            let item = a.items.iter().find(|i| i.file == file).unwrap();
            certificate_detail(&a, item).unwrap()
        };
        let row = |d: &CertificateDetail, label: &str| {
            d.rows
                .iter()
                .find(|(l, _)| *l == label)
                .map(|(_, v)| v.clone())
        };
        let apiserver = detail("pki/apiserver.crt");
        assert_eq!(apiserver.location, "pki/apiserver.crt");
        assert_eq!(
            row(&apiserver, "kubeadm role").as_deref(),
            Some("apiserver")
        );
        assert_eq!(
            row(&apiserver, "Chain").as_deref(),
            Some("signed by pki/ca.crt (signature verified)")
        );
        assert_eq!(
            row(&apiserver, "Private key").as_deref(),
            Some("pki/apiserver.key")
        );
        assert!(
            apiserver
                .extensions
                .iter()
                .any(|(n, v)| n == "subjectAltName" && v.contains("DNS:kubernetes")),
            "{:?}",
            apiserver.extensions
        );
        let key = a.items.iter().find(|i| i.file == "pki/sa.key").unwrap();
        assert!(certificate_detail(&a, key).is_none());
    }
}
