//! Parsing: every certificate, key, CSR, public key and kubeconfig entry in a
//! file becomes an item, and whatever cannot be understood an error item.

use time::OffsetDateTime;

use super::model::{CertificateItem, Item, ItemKind};
use crate::kubeadm::kubeconfig::{Kubeconfig, Material};
use crate::kubeadm::residual;
use crate::x509::certificate::{self, Certificate};
use crate::x509::csr;
use crate::x509::encoding;
use crate::x509::keys::{self, PrivateKey};

/// Blocks of a bundle between two progress calls.
const PROGRESS_EVERY: usize = 1000;

/// Collects the items of the files as they are parsed.
pub(super) struct Builder {
    pub(super) items: Vec<Item>,
    pub(super) now: OffsetDateTime,
}

impl Builder {
    fn push(&mut self, file: &str, place: String, kind: ItemKind) -> &mut Item {
        let id = self.items.len();
        self.items.push(Item {
            id,
            file: file.to_string(),
            place,
            kind,
            certificate: None,
            key: None,
            csr: None,
            reference: None,
            error: None,
            public_key_bits: Vec::new(),
            private_key: None,
        });
        &mut self.items[id]
    }

    pub(super) fn error(&mut self, file: &str, place: String, message: String) {
        self.push(file, place, ItemKind::Error).error = Some(message);
    }

    fn certificate(&mut self, file: &str, place: String, cert: Certificate) {
        let now = self.now;
        let residual_seconds = cert.residual_seconds(now);
        let bits = cert.public_key_bits();
        let item = self.push(file, place, ItemKind::Certificate);
        item.public_key_bits = bits;
        item.certificate = Some(CertificateItem {
            residual: residual::human(residual_seconds),
            residual_seconds,
            cert,
            role: None,
            node: None,
        });
    }

    fn key(&mut self, file: &str, place: String, key: PrivateKey) {
        let item = self.push(file, place, ItemKind::PrivateKey);
        item.key = Some(key.describe());
        item.public_key_bits = key.public_key_bits();
        item.private_key = Some(key);
    }

    /// Adds whatever `bytes` hold: certificates, a key, a CSR, or a kubeconfig,
    /// calling `progress` with the part of a large bundle done so far.
    pub(super) fn file(&mut self, name: &str, bytes: &[u8], progress: &mut dyn FnMut(f64)) {
        if !encoding::looks_like_pem(bytes) && bytes.first() != Some(&0x30) {
            self.kubeconfig(name, bytes);
            return;
        }
        let blocks = match encoding::blocks(bytes) {
            Ok(b) => b,
            Err(e) => return self.error(name, "file".into(), e.to_string()),
        };
        let count = blocks.len();
        for (i, block) in blocks.into_iter().enumerate() {
            if i % PROGRESS_EVERY == PROGRESS_EVERY - 1 {
                progress((i + 1) as f64 / count as f64);
            }
            let place = if count > 1 {
                format!("block {} of {count}", i + 1)
            } else {
                String::new()
            };
            match block.label.as_str() {
                "CERTIFICATE" | "X509 CERTIFICATE" => match Certificate::from_der_vec(block.der) {
                    Ok(c) => self.certificate(name, place, c),
                    Err(e) => {
                        self.error(name, place, format!("not a valid X.509 certificate: {e}"))
                    }
                },
                "CERTIFICATE REQUEST" | "NEW CERTIFICATE REQUEST" => match csr::parse(&block.der) {
                    Ok(c) => {
                        let item = self.push(name, place, ItemKind::Csr);
                        item.public_key_bits = c.public_key_bits.clone();
                        item.csr = Some(c);
                    }
                    Err(e) => self.error(name, place, e.to_string()),
                },
                "PUBLIC KEY" => {
                    let item = self.push(name, place, ItemKind::PublicKey);
                    item.key = Some("public key".into());
                    item.public_key_bits = keys::spki_bits(&block.der).unwrap_or_default();
                }
                label if label.ends_with("PRIVATE KEY") => {
                    let own = encoding::to_pem(label, &block.der);
                    match PrivateKey::parse(own.as_bytes()) {
                        Ok(k) => self.key(name, place, k),
                        Err(e) => self.error(name, place, e.to_string()),
                    }
                }
                "" => self.der(name, &block.der),
                other => self.error(name, place, format!("unsupported PEM block {other:?}")),
            }
        }
    }

    fn der(&mut self, name: &str, der: &[u8]) {
        if let Ok(c) = Certificate::from_der(der) {
            return self.certificate(name, String::new(), c);
        }
        if let Ok(c) = csr::parse(der) {
            let item = self.push(name, String::new(), ItemKind::Csr);
            item.public_key_bits = c.public_key_bits.clone();
            item.csr = Some(c);
            return;
        }
        match PrivateKey::parse(der) {
            Ok(k) => self.key(name, String::new(), k),
            Err(_) => self.error(
                name,
                "file".into(),
                "DER data that is neither a certificate, a CSR nor a private key".into(),
            ),
        }
    }

    fn kubeconfig(&mut self, name: &str, bytes: &[u8]) {
        let kc = match Kubeconfig::parse(bytes) {
            Ok(k) => k,
            Err(e) => {
                return self.error(
                    name,
                    "file".into(),
                    format!("not PEM, DER or a kubeconfig: {e}"),
                );
            }
        };
        let entries = match kc.entries() {
            Ok(e) => e,
            Err(e) => return self.error(name, "file".into(), e.to_string()),
        };
        if entries.is_empty() {
            self.error(
                name,
                "file".into(),
                "a kubeconfig without certificates or keys".into(),
            );
        }
        for entry in entries {
            let place = format!("{} {} {}", entry.kind, entry.name, entry.field);
            match entry.material {
                Material::File { path } => {
                    self.push(name, place, ItemKind::FileReference).reference = Some(path);
                }
                Material::Embedded { bytes } if entry.field == "client-key" => {
                    match PrivateKey::parse(&bytes) {
                        Ok(k) => self.key(name, place, k),
                        Err(e) => self.error(name, place, e.to_string()),
                    }
                }
                Material::Embedded { bytes } => match certificate::parse_all(&bytes) {
                    Ok(certs) => {
                        let n = certs.len();
                        for (i, c) in certs.into_iter().enumerate() {
                            let p = if n > 1 {
                                format!("{place} ({} of {n})", i + 1)
                            } else {
                                place.clone()
                            };
                            self.certificate(name, p, c);
                        }
                    }
                    Err(e) => self.error(name, place, e.to_string()),
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::analyze;
    use super::super::model::InputFile;
    use super::super::testing::NOW;
    use super::*;

    #[test]
    fn bad_files_become_error_items() {
        let a = analyze(
            &[
                InputFile {
                    name: "junk.crt",
                    bytes: b"\x30\x03\x01\x02",
                },
                InputFile {
                    name: "empty.pem",
                    bytes: b"",
                },
                InputFile {
                    name: "text.txt",
                    bytes: b"hello: [",
                },
                InputFile {
                    name: "bad.pem",
                    bytes: b"-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----\n",
                },
            ],
            NOW,
        );
        assert_eq!(a.items.len(), 4);
        assert!(
            a.items
                .iter()
                .all(|i| i.kind == ItemKind::Error && i.error.is_some()),
            "{:?}",
            a.items
        );
        assert!(a.nodes.is_empty());
    }
}
