//! The web page's interface to kcerts-core: each function takes bytes or item
//! ids plus `now_ms`, calls one core function, and returns plain JS data.
//! Errors become JS exceptions with the core's message; bad files become
//! error items, never a crash.

use std::cell::RefCell;

use kcerts_core::KeyAlgorithm;
use kcerts_core::analysis::{self, Analysis, InputFile};
use kcerts_core::leaf::{self, RenewOptions, SigningCa};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use wasm_bindgen::prelude::*;

mod view;

/// One uploaded file as the page sends it: `{ name, bytes: Uint8Array }`.
#[derive(Deserialize)]
struct JsFile {
    name: String,
    #[serde(with = "serde_bytes")]
    bytes: Vec<u8>,
}

/// A generated key with a CSR or certificate, as PEM text for downloads.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Pems {
    name: String,
    key_pem: String,
    csr_pem: Option<String>,
    cert_pem: Option<String>,
}

thread_local! {
    /// The last analysis, so CSR and renewal calls can refer to its items by id.
    static LAST: RefCell<Option<Analysis>> = const { RefCell::new(None) };
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

/// Analyses files as of `now_ms`: items, links, key pairs, warnings, node report
/// (certificates without their extensions: see [`certificate_detail`]).
#[wasm_bindgen]
pub fn analyze(files: JsValue, now_ms: f64) -> Result<JsValue, JsError> {
    let files: Vec<JsFile> = serde_wasm_bindgen::from_value(files)
        .map_err(|e| JsError::new(&format!("expected [{{name, bytes}}]: {e}")))?;
    let now = time_from_ms(now_ms).map_err(|e| JsError::new(&e))?;
    let analysis = analyze_files(&files, now);
    let js = to_js(&view::AnalysisView::new(&analysis))?;
    LAST.with(|l| *l.borrow_mut() = Some(analysis));
    Ok(js)
}

/// The detail pane's extra facts for certificate item `item` of the last
/// analysis: SHA-1 fingerprint, key identifiers and every extension decoded.
#[wasm_bindgen(js_name = certificateDetail)]
pub fn certificate_detail(item: usize) -> Result<JsValue, JsError> {
    LAST.with(|l| {
        let last = l.borrow();
        let analysis = last
            .as_ref()
            .ok_or_else(|| JsError::new("no analysis yet: call analyze first"))?;
        let detail = view::DetailView::of(analysis, item)
            .ok_or_else(|| JsError::new(&format!("item {item} is not a certificate")))?;
        to_js(&detail)
    })
}

fn analyze_files(files: &[JsFile], now: OffsetDateTime) -> Analysis {
    let inputs: Vec<InputFile<'_>> = files
        .iter()
        .map(|f| InputFile {
            name: &f.name,
            bytes: &f.bytes,
        })
        .collect();
    analysis::analyze(&inputs, now)
}

/// A new key and a CSR with the subject and SANs of certificate item `item`.
#[wasm_bindgen(js_name = makeCsr)]
pub fn make_csr(item: usize, key_algorithm: &str) -> Result<JsValue, JsError> {
    let pems = with_last(|a| csr_for(a, item, key_algorithm)).map_err(|e| JsError::new(&e))?;
    to_js(&pems)
}

/// Renews certificate item `item` with a new key, signed by its issuer, whose
/// private key must be among the uploaded files.
#[wasm_bindgen(js_name = renewItem)]
pub fn renew_item(
    item: usize,
    key_algorithm: &str,
    validity_hours: u32,
    now_ms: f64,
) -> Result<JsValue, JsError> {
    let now = time_from_ms(now_ms).map_err(|e| JsError::new(&e))?;
    let pems = with_last(|a| renew_in(a, item, key_algorithm, validity_hours, now))
        .map_err(|e| JsError::new(&e))?;
    to_js(&pems)
}

fn with_last<T>(f: impl FnOnce(&Analysis) -> Result<T, String>) -> Result<T, String> {
    LAST.with(|l| match l.borrow().as_ref() {
        Some(a) => f(a),
        None => Err("no files were analysed yet".into()),
    })
}

fn base_name(a: &Analysis, item: usize) -> String {
    let it = &a.items[item];
    it.certificate
        .as_ref()
        .and_then(|c| c.role.clone().or_else(|| c.cert.common_name.clone()))
        .unwrap_or_else(|| format!("item-{item}"))
        .replace(['/', ':', ' '], "_")
}

/// Builds a CSR for an analysed certificate.
fn csr_for(a: &Analysis, item: usize, key_algorithm: &str) -> Result<Pems, String> {
    let cert = a
        .items
        .get(item)
        .and_then(|i| i.certificate.as_ref())
        .ok_or_else(|| format!("item {item} is not a certificate"))?;
    let key = kcerts_core::PrivateKey::generate(
        algorithm(key_algorithm)?,
        &mut kcerts_core::system_rng(),
    )
    .map_err(|e| e.to_string())?;
    let csr_pem =
        kcerts_core::csr_builder::for_certificate(&cert.cert, &key).map_err(|e| e.to_string())?;
    Ok(Pems {
        name: base_name(a, item),
        key_pem: key.to_pem(),
        csr_pem: Some(csr_pem),
        cert_pem: None,
    })
}

/// Renews an analysed certificate with its uploaded CA key.
fn renew_in(
    a: &Analysis,
    item: usize,
    key_algorithm: &str,
    validity_hours: u32,
    now: OffsetDateTime,
) -> Result<Pems, String> {
    let cert = a
        .items
        .get(item)
        .and_then(|i| i.certificate.as_ref())
        .ok_or_else(|| format!("item {item} is not a certificate"))?;
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
    let opts = RenewOptions {
        key_algorithm: algorithm(key_algorithm)?,
        validity: time::Duration::hours(i64::from(validity_hours)),
    };
    let issued = leaf::renew(&cert.cert, &ca, &opts, now, &mut kcerts_core::system_rng())
        .map_err(|e| e.to_string())?;
    Ok(Pems {
        name: base_name(a, item),
        key_pem: issued.key_pem(),
        csr_pem: None,
        cert_pem: Some(issued.cert_pem()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_bytes_become_error_items_and_bad_ids_errors() {
        let files = vec![
            JsFile {
                name: "x.crt".into(),
                bytes: vec![0x30, 0x82, 0xff],
            },
            JsFile {
                name: "y.key".into(),
                bytes: b"-----BEGIN RSA PRIVATE KEY-----\nAA==\n-----END RSA PRIVATE KEY-----\n"
                    .to_vec(),
            },
        ];
        let a = analyze_files(&files, time_from_ms(1.7e12).unwrap());
        assert_eq!(a.items.len(), 2);
        assert!(a.items.iter().all(|i| i.error.is_some()));
        assert!(csr_for(&a, 0, "ECDSA-P256").is_err());
        assert!(csr_for(&a, 99, "ECDSA-P256").is_err());
        assert!(time_from_ms(f64::NAN).is_err());
        assert!(time_from_ms(1e30).is_err());
    }
}
