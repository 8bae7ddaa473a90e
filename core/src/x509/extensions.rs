//! Every X.509 extension of a certificate, decoded into a name and readable text
//! (what `openssl x509 -text` shows, in one line each).

use std::net::IpAddr;

use serde::Serialize;
use x509_parser::extensions::{DistributionPointName, GeneralName, ParsedExtension, X509Extension};

use crate::x509::hex::{colon_hex, hex};

/// One extension, decoded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExtensionView {
    /// The extension OID.
    pub oid: String,
    /// Its common name (`subjectAltName`), or the OID when unknown.
    pub name: String,
    /// Whether it is marked critical.
    pub critical: bool,
    /// Its value as text.
    pub value: String,
}

/// Decodes one extension.
pub fn describe(ext: &X509Extension<'_>) -> ExtensionView {
    let oid = ext.oid.to_id_string();
    let (name, value) = match ext.parsed_extension() {
        ParsedExtension::SubjectAlternativeName(san) => (
            "subjectAltName",
            san.general_names
                .iter()
                .map(general_name)
                .collect::<Vec<_>>()
                .join(", "),
        ),
        ParsedExtension::IssuerAlternativeName(ian) => (
            "issuerAltName",
            ian.general_names
                .iter()
                .map(general_name)
                .collect::<Vec<_>>()
                .join(", "),
        ),
        ParsedExtension::KeyUsage(ku) => ("keyUsage", key_usage_names(ku.flags).join(", ")),
        ParsedExtension::ExtendedKeyUsage(eku) => {
            let mut v = Vec::new();
            for (set, n) in [
                (eku.any, "any"),
                (eku.server_auth, "serverAuth"),
                (eku.client_auth, "clientAuth"),
                (eku.code_signing, "codeSigning"),
                (eku.email_protection, "emailProtection"),
                (eku.time_stamping, "timeStamping"),
                (eku.ocsp_signing, "OCSPSigning"),
            ] {
                if set {
                    v.push(n.to_string());
                }
            }
            v.extend(eku.other.iter().map(|o| o.to_id_string()));
            ("extendedKeyUsage", v.join(", "))
        }
        ParsedExtension::BasicConstraints(bc) => (
            "basicConstraints",
            match (bc.ca, bc.path_len_constraint) {
                (true, Some(n)) => format!("CA:TRUE, pathlen:{n}"),
                (true, None) => "CA:TRUE".into(),
                (false, _) => "CA:FALSE".into(),
            },
        ),
        ParsedExtension::SubjectKeyIdentifier(id) => ("subjectKeyIdentifier", colon_hex(id.0)),
        ParsedExtension::AuthorityKeyIdentifier(aki) => {
            let mut parts = Vec::new();
            if let Some(k) = &aki.key_identifier {
                parts.push(format!("keyid:{}", colon_hex(k.0)));
            }
            if let Some(issuer) = &aki.authority_cert_issuer {
                parts.extend(issuer.iter().map(|g| format!("issuer:{}", general_name(g))));
            }
            if let Some(serial) = aki.authority_cert_serial {
                parts.push(format!("serial:{}", colon_hex(serial)));
            }
            ("authorityKeyIdentifier", parts.join(", "))
        }
        ParsedExtension::CRLDistributionPoints(points) => (
            "crlDistributionPoints",
            points
                .points
                .iter()
                .filter_map(|p| p.distribution_point.as_ref())
                .map(|d| match d {
                    DistributionPointName::FullName(names) => names
                        .iter()
                        .map(general_name)
                        .collect::<Vec<_>>()
                        .join(", "),
                    DistributionPointName::NameRelativeToCRLIssuer(_) => "relative name".into(),
                })
                .collect::<Vec<_>>()
                .join("; "),
        ),
        ParsedExtension::AuthorityInfoAccess(aia) => (
            "authorityInfoAccess",
            aia.accessdescs
                .iter()
                .map(|a| {
                    format!(
                        "{} - {}",
                        access_method(&a.access_method.to_id_string()),
                        general_name(&a.access_location)
                    )
                })
                .collect::<Vec<_>>()
                .join(", "),
        ),
        ParsedExtension::CertificatePolicies(policies) => (
            "certificatePolicies",
            policies
                .iter()
                .map(|p| p.policy_id.to_id_string())
                .collect::<Vec<_>>()
                .join(", "),
        ),
        ParsedExtension::NameConstraints(nc) => {
            let list = |trees: &Option<Vec<x509_parser::extensions::GeneralSubtree<'_>>>| {
                trees
                    .iter()
                    .flatten()
                    .map(|t| general_name(&t.base))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            (
                "nameConstraints",
                format!(
                    "permitted: [{}], excluded: [{}]",
                    list(&nc.permitted_subtrees),
                    list(&nc.excluded_subtrees)
                ),
            )
        }
        ParsedExtension::NsCertComment(c) => ("nsComment", c.to_string()),
        _ => (
            known_name(&oid),
            format!("{} bytes: {}", ext.value.len(), short_hex(ext.value)),
        ),
    };
    ExtensionView {
        name: name.to_string(),
        oid,
        critical: ext.critical,
        value,
    }
}

fn known_name(oid: &str) -> &'static str {
    match oid {
        "1.3.6.1.4.1.11129.2.4.2" => "ctPrecertificateSCTs",
        "2.5.29.36" => "policyConstraints",
        "2.5.29.54" => "inhibitAnyPolicy",
        "2.5.29.33" => "policyMappings",
        "1.3.6.1.5.5.7.1.11" => "subjectInfoAccess",
        _ => "unknown",
    }
}

fn access_method(oid: &str) -> &str {
    match oid {
        "1.3.6.1.5.5.7.48.1" => "OCSP",
        "1.3.6.1.5.5.7.48.2" => "CA Issuers",
        other => other,
    }
}

/// A general name as openssl prints it: `DNS:x`, `IP Address:1.2.3.4`, `URI:...`.
pub fn general_name(g: &GeneralName<'_>) -> String {
    match g {
        GeneralName::DNSName(d) => format!("DNS:{d}"),
        GeneralName::IPAddress(b) => match b.len() {
            4 => <[u8; 4]>::try_from(*b)
                .map(|a| format!("IP Address:{}", IpAddr::from(a)))
                .unwrap_or_default(),
            16 => <[u8; 16]>::try_from(*b)
                .map(|a| format!("IP Address:{}", IpAddr::from(a)))
                .unwrap_or_default(),
            _ => format!("IP Address:<{} bytes>", b.len()),
        },
        GeneralName::RFC822Name(e) => format!("email:{e}"),
        GeneralName::URI(u) => format!("URI:{u}"),
        GeneralName::DirectoryName(n) => format!("DirName:{n}"),
        GeneralName::RegisteredID(oid) => format!("Registered ID:{}", oid.to_id_string()),
        GeneralName::OtherName(oid, _) => format!("othername:{}", oid.to_id_string()),
        other => other.to_string(),
    }
}

fn short_hex(bytes: &[u8]) -> String {
    let shown = &bytes[..bytes.len().min(32)];
    let mut s = hex(shown);
    if bytes.len() > 32 {
        s.push('…');
    }
    s
}

/// The names of the key usage bits set in `flags` (RFC 5280 order).
pub(crate) fn key_usage_names(flags: u16) -> Vec<String> {
    const NAMES: [&str; 9] = [
        "digitalSignature",
        "nonRepudiation",
        "keyEncipherment",
        "dataEncipherment",
        "keyAgreement",
        "keyCertSign",
        "cRLSign",
        "encipherOnly",
        "decipherOnly",
    ];
    NAMES
        .iter()
        .enumerate()
        .filter(|(i, _)| flags & (1 << i) != 0)
        .map(|(_, n)| n.to_string())
        .collect()
}
