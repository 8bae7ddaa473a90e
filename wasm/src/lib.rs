//! The web page's interface to kcerts-core. [`analyze`] returns an
//! [`Analysis`] object that holds the core's analysis; its methods give the
//! page the table view, one certificate's detail, a CSR or a renewal for one
//! of its certificates. Every rule (which copy of a certificate is shown, names,
//! fingerprints, the key algorithm and validity of a renewal, the file size
//! limit) is the core's: the page only renders what it is given. Errors become
//! JS exceptions with the core's message; bad files become error items.

use kcerts_core::KeyAlgorithm;
use kcerts_core::analysis::{self, InputFile, SkippedFile};
use kcerts_core::fleet::{self, Fleet, FleetError};
use kcerts_core::leaf::{self, RenewOptions, SigningCa};
use kcerts_core::node_archive;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use wasm_bindgen::prelude::*;

mod page;
mod types;

/// One file as the page sends it: `{ name, bytes: Uint8Array }`, or
/// `{ name, size }` without bytes for a file over the size limit, or
/// `{ name, error }` for one the worker could not read (an archive that does
/// not gunzip). Archives (`cp-1.tgz`) come gunzipped by the worker.
#[derive(Deserialize)]
struct JsFile {
    name: String,
    #[serde(default, with = "serde_bytes")]
    bytes: Option<Vec<u8>>,
    #[serde(default)]
    size: u64,
    #[serde(default)]
    error: Option<String>,
}

/// A generated key with a CSR or certificate, as PEM text for downloads.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Pems {
    name: String,
    key_algorithm: &'static str,
    key_pem: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    csr_pem: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cert_pem: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    validity_hours: Option<i64>,
}

#[wasm_bindgen]
extern "C" {
    /// `(done, total) => void`, called as the files are parsed.
    #[wasm_bindgen(typescript_type = "(done: number, total: number) => void")]
    pub type ProgressCallback;
    #[wasm_bindgen(method, js_name = call)]
    fn call(this: &ProgressCallback, this_arg: &JsValue, done: f64, total: f64);

    /// The shapes in `types.rs`, for the generated `.d.ts`.
    #[wasm_bindgen(typescript_type = "Pems")]
    pub type JsPems;
    #[wasm_bindgen(typescript_type = "Report")]
    pub type JsReport;
    #[wasm_bindgen(typescript_type = "Rows")]
    pub type JsRows;
    #[wasm_bindgen(typescript_type = "Detail")]
    pub type JsDetail;
    #[wasm_bindgen(typescript_type = "JsFile[]")]
    pub type JsFiles;
}

fn to_js<T: Serialize>(value: &T) -> Result<JsValue, JsError> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| JsError::new(&e.to_string()))
}

/// Milliseconds since the epoch (JS `Date.now()`) to a time.
fn time_from_ms(now_ms: f64) -> Result<OffsetDateTime, String> {
    if !now_ms.is_finite() {
        return Err("now_ms must be a finite number of milliseconds".into());
    }
    OffsetDateTime::from_unix_timestamp_nanos((now_ms as i128) * 1_000_000)
        .map_err(|e| format!("now_ms out of range: {e}"))
}

fn algorithm(name: &str) -> Result<KeyAlgorithm, String> {
    KeyAlgorithm::from_name(name).ok_or_else(|| format!("unknown key algorithm {name:?}"))
}

/// The crate version.
#[wasm_bindgen]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

/// Whether a file of `size` bytes is over the analysis' limit: send it as
/// `{ name, size }` without reading it (it becomes an error item).
#[wasm_bindgen(js_name = fileTooLarge)]
pub fn file_too_large(size: f64) -> bool {
    analysis::file_too_large(size as u64)
}

/// The key algorithms the page offers, in kubeadm's spelling.
#[wasm_bindgen(js_name = keyAlgorithms)]
pub fn key_algorithms() -> Vec<String> {
    KeyAlgorithm::ALL
        .iter()
        .map(|a| a.name().to_string())
        .collect()
}

/// Whether the page should gunzip and unpack the file `name` as a node
/// archive (`cp-1.tgz`, `.tar.gz`, `.tar`), and the most it may decompress to.
#[wasm_bindgen(js_name = archiveLimit)]
pub fn archive_limit(name: &str) -> Option<f64> {
    node_archive::node_name(base(name)).map(|_| node_archive::MAX_UNPACKED_BYTES as f64)
}

fn base(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

/// Each node archive in `files` replaced by its files under a folder named
/// after it (`nodes/cp-1.tgz` gives `nodes/cp-1/pki/ca.crt`, so the core finds
/// node `cp-1` as in a dropped folder), or by an error item when refused.
fn unpack_archives(files: Vec<JsFile>) -> Vec<JsFile> {
    let mut out = Vec::with_capacity(files.len());
    for f in files {
        let node = match (&f.bytes, node_archive::node_name(base(&f.name))) {
            (Some(_), Some(node)) => node.to_string(),
            _ => {
                out.push(f);
                continue;
            }
        };
        let bytes = f.bytes.as_deref().unwrap_or_default();
        let folder = format!("{}{node}/", &f.name[..f.name.len() - base(&f.name).len()]);
        let failed = |reason: String| JsFile {
            name: f.name.clone(),
            bytes: None,
            size: bytes.len() as u64,
            error: Some(reason),
        };
        let archive = match node_archive::read(bytes, analysis::MAX_FILE_BYTES) {
            Ok(a) => a,
            Err(e) => {
                out.push(failed(e.to_string()));
                continue;
            }
        };
        for path in archive.entries.keys() {
            let name = format!("{folder}{path}");
            out.push(match archive.file(path, analysis::MAX_FILE_BYTES) {
                Some(Ok(b)) => JsFile {
                    name,
                    bytes: Some(b.to_vec()),
                    size: b.len() as u64,
                    error: None,
                },
                Some(Err(reason)) => JsFile {
                    name,
                    bytes: None,
                    size: 0,
                    error: Some(reason.to_string()),
                },
                None => continue,
            });
        }
    }
    out
}

/// Analyses files as of `now_ms`, calling `progress(done, total)` on the way.
#[wasm_bindgen]
pub fn analyze(
    files: JsFiles,
    now_ms: f64,
    progress: Option<ProgressCallback>,
) -> Result<Analysis, JsError> {
    let files: Vec<JsFile> = serde_wasm_bindgen::from_value(files.into())
        .map_err(|e| JsError::new(&format!("expected [{{name, bytes}}]: {e}")))?;
    let now = time_from_ms(now_ms).map_err(|e| JsError::new(&e))?;
    let mut report = |done: u64, total: u64| {
        if let Some(p) = &progress {
            p.call(&JsValue::NULL, done as f64, total as f64);
        }
    };
    let inner = analyze_files(&unpack_archives(files), now, &mut report);
    Ok(Analysis {
        fleet: fleet_of(&inner),
        page: page::Page::new(&inner),
        inner,
    })
}

/// `kcerts fleet`'s cross-node checks, when the files hold several nodes.
fn fleet_of(a: &analysis::Analysis) -> Option<Result<Fleet, FleetError>> {
    if a.nodes.len() < 2 {
        return None;
    }
    let nodes: Vec<_> = a
        .nodes
        .iter()
        .map(|n| (n.name.clone(), n.files.clone()))
        .collect();
    Some(fleet::check(&nodes, &fleet::Options::default(), a.now))
}

fn analyze_files(
    files: &[JsFile],
    now: OffsetDateTime,
    progress: &mut dyn FnMut(u64, u64),
) -> analysis::Analysis {
    let inputs: Vec<InputFile<'_>> = files
        .iter()
        .filter_map(|f| {
            Some(InputFile {
                name: &f.name,
                bytes: f.bytes.as_deref()?,
            })
        })
        .collect();
    let skipped: Vec<SkippedFile> = files
        .iter()
        .filter(|f| f.bytes.is_none())
        .map(|f| SkippedFile {
            name: f.name.clone(),
            size: f.size,
            reason: f.error.clone(),
        })
        .collect();
    // The default windows of the one expiry rule, as `verify` and `serve` use.
    let thresholds = kcerts_core::verify::Thresholds::default();
    analysis::analyze_with_progress(&inputs, &skipped, now, thresholds, progress)
}

/// The core's analysis of a set of files, kept for the page's later calls.
#[wasm_bindgen]
pub struct Analysis {
    inner: analysis::Analysis,
    fleet: Option<Result<Fleet, FleetError>>,
    page: page::Page,
}

#[wasm_bindgen]
impl Analysis {
    /// What the page renders after the analysis: node tables, fleet checks,
    /// warnings, timeline, other items, and the first `count` table rows
    /// sorted by column `sort_key` in `sort_dir` (1 or -1).
    pub fn report(
        &mut self,
        sort_key: &str,
        sort_dir: i32,
        count: usize,
    ) -> Result<JsReport, JsError> {
        let report = self
            .page
            .report(&self.inner, self.fleet.as_ref(), sort_key, sort_dir, count);
        Ok(to_js(&report)?.unchecked_into())
    }

    /// Table rows `offset..offset + count`, sorted as [`Analysis::report`]'s.
    pub fn rows(
        &mut self,
        sort_key: &str,
        sort_dir: i32,
        offset: usize,
        count: usize,
    ) -> Result<JsRows, JsError> {
        let rows = self
            .page
            .rows(&self.inner, sort_key, sort_dir, offset, count);
        Ok(to_js(&rows)?.unchecked_into())
    }

    /// The detail pane of certificate item `item`: its facts, fingerprints,
    /// what signed it and what it signed, its key, every extension decoded.
    #[wasm_bindgen(js_name = detailRows)]
    pub fn detail_rows(&self, item: usize) -> Result<JsDetail, JsError> {
        let detail = page::detail(&self.inner, item)
            .ok_or_else(|| JsError::new(&format!("item {item} is not a certificate")))?;
        Ok(to_js(&detail)?.unchecked_into())
    }

    /// A new key and a CSR with the subject and SANs of certificate item
    /// `item`; the key is of `key_algorithm`, or of the certificate's own
    /// algorithm when it is empty.
    #[wasm_bindgen(js_name = makeCsr)]
    pub fn make_csr(&self, item: usize, key_algorithm: &str) -> Result<JsPems, JsError> {
        let pems = csr_for(&self.inner, item, key_algorithm).map_err(|e| JsError::new(&e))?;
        Ok(to_js(&pems)?.unchecked_into())
    }

    /// Renews certificate item `item` for kubeadm's default validity with a
    /// new key (as for [`Analysis::make_csr`]), signed by its issuer, whose
    /// private key must be among the files.
    pub fn renew(&self, item: usize, key_algorithm: &str, now_ms: f64) -> Result<JsPems, JsError> {
        let now = time_from_ms(now_ms).map_err(|e| JsError::new(&e))?;
        let pems = renew_in(&self.inner, item, key_algorithm, now).map_err(|e| JsError::new(&e))?;
        Ok(to_js(&pems)?.unchecked_into())
    }
}

fn base_name(a: &analysis::Analysis, item: usize) -> String {
    let it = &a.items[item];
    it.certificate
        .as_ref()
        .and_then(|c| c.role.clone().or_else(|| c.cert.common_name.clone()))
        .unwrap_or_else(|| format!("item-{item}"))
        .replace(['/', ':', ' '], "_")
}

fn certificate(a: &analysis::Analysis, item: usize) -> Result<&analysis::CertificateItem, String> {
    a.items
        .get(item)
        .and_then(|i| i.certificate.as_ref())
        .ok_or_else(|| format!("item {item} is not a certificate"))
}

/// The algorithm asked for, or the certificate's own (refused, as the CLI does,
/// when kubeadm never writes keys of that type: pick one in the list then).
fn key_algorithm_for(
    cert: &analysis::CertificateItem,
    asked: &str,
) -> Result<KeyAlgorithm, String> {
    if !asked.is_empty() {
        return algorithm(asked);
    }
    kcerts_core::key_choice::current_algorithm(&cert.cert).map_err(|e| e.to_string())
}

/// Builds a CSR for an analysed certificate.
fn csr_for(a: &analysis::Analysis, item: usize, key_algorithm: &str) -> Result<Pems, String> {
    let cert = certificate(a, item)?;
    let alg = key_algorithm_for(cert, key_algorithm)?;
    let key = kcerts_core::PrivateKey::generate(alg, &mut kcerts_core::system_rng())
        .map_err(|e| e.to_string())?;
    let csr_pem =
        kcerts_core::csr_builder::for_certificate(&cert.cert, &key).map_err(|e| e.to_string())?;
    Ok(Pems {
        name: base_name(a, item),
        key_algorithm: alg.name(),
        key_pem: key.to_pem(),
        csr_pem: Some(csr_pem),
        cert_pem: None,
        validity_hours: None,
    })
}

/// Renews an analysed certificate with its uploaded CA key.
fn renew_in(
    a: &analysis::Analysis,
    item: usize,
    key_algorithm: &str,
    now: OffsetDateTime,
) -> Result<Pems, String> {
    let cert = certificate(a, item)?;
    let issuer = a
        .links
        .iter()
        .find(|l| l.child == item)
        .map(|l| l.issuer)
        .ok_or("its CA certificate is not among the uploaded files")?;
    let ca_key = a
        .key_matches
        .iter()
        .find(|m| m.certificate == issuer)
        .and_then(|m| a.items[m.key].private_key.clone())
        .ok_or("upload the CA's private key (e.g. pki/ca.key) to renew here")?;
    let ca_cert = a.items[issuer]
        .certificate
        .as_ref()
        .ok_or("bad issuer")?
        .cert
        .clone();
    let ca = SigningCa::new(ca_cert, ca_key).map_err(|e| e.to_string())?;
    let alg = key_algorithm_for(cert, key_algorithm)?;
    let opts = RenewOptions {
        key_algorithm: alg,
        validity: leaf::DEFAULT_VALIDITY,
    };
    let issued = leaf::renew(&cert.cert, &ca, &opts, now, &mut kcerts_core::system_rng())
        .map_err(|e| e.to_string())?;
    Ok(Pems {
        name: base_name(a, item),
        key_algorithm: alg.name(),
        key_pem: issued.key_pem(),
        csr_pem: None,
        cert_pem: Some(issued.cert_pem()),
        validity_hours: Some(leaf::DEFAULT_VALIDITY.whole_hours()),
    })
}

/// The analysis of a generated node's files (named `pki/ca.crt`...) and of
/// `extra` files, as of `now`.
#[cfg(test)]
pub(crate) fn analyze_node(
    node: &kcerts_core::pki::GeneratedNode,
    extra: &[analysis::InputFile<'_>],
    now: OffsetDateTime,
) -> analysis::Analysis {
    let names: Vec<String> = node.files.iter().map(|f| f.path.to_string()).collect();
    let inputs: Vec<InputFile<'_>> = node
        .files
        .iter()
        .zip(&names)
        .map(|(f, name)| InputFile {
            name,
            bytes: &f.bytes,
        })
        .chain(extra.iter().copied())
        .collect();
    analysis::analyze(&inputs, now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kcerts_core::pki::{self, PkiOptions};

    /// Three joined control-plane nodes as dropped folders `cluster/cp-N/...`,
    /// with `plant` applied to the files first.
    fn cluster(plant: impl Fn(&str, &str, &mut Vec<u8>)) -> Vec<JsFile> {
        let now = time::macros::datetime!(2026-03-01 12:00 UTC);
        let mut rng = kcerts_core::seeded_rng(11);
        let opts = |i: u8| PkiOptions {
            node_name: format!("cp-{i}"),
            advertise_address: std::net::IpAddr::from([192, 168, 10, 30 + i]),
            control_plane_endpoint: Some("cp.example:6443".into()),
            key_algorithm: KeyAlgorithm::EcdsaP256,
            ..PkiOptions::example()
        };
        let first = pki::generate(&opts(1), now, &mut rng).unwrap();
        let first_files = kcerts_core::NodeFiles::from_generated(&first);
        let mut nodes = vec![first];
        for i in 2..=3 {
            nodes.push(pki::generate_joined(&opts(i), &first_files, now, &mut rng).unwrap());
        }
        let mut files = Vec::new();
        for (i, node) in nodes.iter().enumerate() {
            let name = format!("cp-{}", i + 1);
            for f in &node.files {
                let path = f.path.to_string();
                let mut bytes = f.bytes.clone();
                plant(&name, &path, &mut bytes);
                files.push(JsFile {
                    name: format!("cluster/{name}/{path}"),
                    size: bytes.len() as u64,
                    error: None,
                    bytes: Some(bytes),
                });
            }
        }
        files
    }

    fn fleet_view(files: &[JsFile]) -> serde_json::Value {
        let now = time_from_ms(1.78e12).unwrap();
        let inner = analyze_files(files, now, &mut |_, _| {});
        let fleet = fleet_of(&inner);
        let report = page::Page::new(&inner).report(&inner, fleet.as_ref(), "notAfter", 1, 0);
        serde_json::to_value(report).unwrap()["fleet"].clone()
    }

    #[test]
    fn a_cluster_drop_gets_the_fleet_checks_and_a_differing_ca_fails_them() {
        let clean = fleet_view(&cluster(|_, _, _| {}));
        let same_ca =
            |v: &serde_json::Value| {
                v["problems"].as_array().unwrap().iter().any(|p| {
                    p["target"] == "ca" && p["check"] == "same-cert" && p["status"] == "fail"
                })
            };
        assert!(clean["pass"].as_u64().unwrap() > 0, "{clean}");
        assert!(!same_ca(&clean), "{clean}");
        assert!(clean["text"].as_str().unwrap().contains("cp-3"));

        let other = pki::generate(
            &PkiOptions::example(),
            time::macros::datetime!(2026-03-01 12:00 UTC),
            &mut kcerts_core::seeded_rng(12),
        )
        .unwrap();
        let other_ca = other
            .files
            .iter()
            .find(|f| f.path.to_string() == "pki/ca.crt")
            .unwrap()
            .bytes
            .clone();
        let planted = fleet_view(&cluster(|node, path, bytes| {
            if node == "cp-3" && path == "pki/ca.crt" {
                *bytes = other_ca.clone();
            }
        }));
        assert!(same_ca(&planted), "{planted}");
        assert!(planted["fail"].as_u64().unwrap() > 0);
        assert_eq!(planted["problems"][0]["status"], "fail", "failures first");
    }

    /// A self-signed Ed25519 certificate made with `openssl req -x509 -newkey ed25519`.
    const ED25519_CERT: &str = "-----BEGIN CERTIFICATE-----
MIIBOjCB7aADAgECAhRMgz6Ivf8PncptEebXdOcQd1BRrDAFBgMrZXAwEjEQMA4G
A1UEAwwHZWQtbm9kZTAgFw0yNjExMzAwNTMyNDFaGA8yMTI2MTEwNjA1MzI0MVow
EjEQMA4GA1UEAwwHZWQtbm9kZTAqMAUGAytlcAMhACIVvxCqDCiIrEZ9HTyld03j
7mRt9fMblxYpPVckHOK2o1MwUTAdBgNVHQ4EFgQU9qL+4OjugE2bHzofXC3Ouths
d44wHwYDVR0jBBgwFoAU9qL+4OjugE2bHzofXC3Outhsd44wDwYDVR0TAQH/BAUw
AwEB/zAFBgMrZXADQQBRIoHS9XWEnrmMefSuRWD3mHzmsPE7ekHSCcnT0MoXtjUQ
nZtW9xPzEQnvgrzv555ZfpcEyKfAA9y/hVEN3YcO
-----END CERTIFICATE-----
";

    #[test]
    fn a_key_kubeadm_never_writes_is_not_kept_silently_as_in_the_cli() {
        let files = vec![JsFile {
            name: "ed.crt".into(),
            bytes: Some(ED25519_CERT.as_bytes().to_vec()),
            size: 0,
            error: None,
        }];
        let a = analyze_files(&files, time_from_ms(1.8e12).unwrap(), &mut |_, _| {});
        assert_eq!(page::detail(&a, 0).unwrap().key_algorithm, "");
        // (Pems holds a private key: no Debug, so no unwrap_err.)
        let Err(err) = csr_for(&a, 0, "") else {
            panic!("an Ed25519 certificate got a CSR without an algorithm picked")
        };
        assert!(
            err.contains("its key is Ed25519") && err.contains("ECDSA-P256"),
            "{err}"
        );
        let Ok(pems) = csr_for(&a, 0, "ECDSA-P256") else {
            panic!("ECDSA-P256 picked: a CSR is expected")
        };
        assert_eq!(pems.key_algorithm, "ECDSA-P256");
    }

    #[test]
    fn bad_bytes_become_error_items_and_bad_ids_errors() {
        let files = vec![
            JsFile {
                name: "x.crt".into(),
                bytes: Some(vec![0x30, 0x82, 0xff]),
                size: 3,
                error: None,
            },
            JsFile {
                name: "y.key".into(),
                bytes: Some(
                    b"-----BEGIN RSA PRIVATE KEY-----\nAA==\n-----END RSA PRIVATE KEY-----\n"
                        .to_vec(),
                ),
                size: 0,
                error: None,
            },
            JsFile {
                name: "disk.img".into(),
                bytes: None,
                size: 1 << 40,
                error: None,
            },
        ];
        let mut calls = Vec::new();
        let a = analyze_files(&files, time_from_ms(1.7e12).unwrap(), &mut |d, t| {
            calls.push((d, t))
        });
        assert_eq!(a.items.len(), 3);
        assert!(a.items.iter().all(|i| i.error.is_some()));
        assert_eq!(
            a.items[2].error.as_deref(),
            Some("1099511627776 bytes is over the page's 67108864 byte limit")
        );
        let total = 3 + files[1].bytes.as_ref().unwrap().len() as u64;
        assert_eq!(calls.last(), Some(&(total, total)));
        assert!(csr_for(&a, 0, "ECDSA-P256").is_err());
        assert!(csr_for(&a, 99, "ECDSA-P256").is_err());
        assert!(time_from_ms(f64::NAN).is_err());
        assert!(time_from_ms(1e30).is_err());
    }
}
