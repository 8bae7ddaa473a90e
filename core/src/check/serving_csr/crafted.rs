//! Test-only: certificate requests laid out by hand, byte by byte, with the shapes
//! a well-behaved builder never writes (several CNs, two extensionRequest
//! attributes, names of other kinds), signed with a real key so only the shape
//! differs.
#![cfg(test)]

use crate::issue::rcgen_key::RcgenKey;
use crate::x509::der_write::{self as der, tag};
use crate::x509::keys::{self, KeyAlgorithm, PrivateKey};

const COMMON_NAME: &str = "2.5.4.3";
const ORGANIZATION: &str = "2.5.4.10";
const EXTENSION_REQUEST: &str = "1.2.840.113549.1.9.14";
const SUBJECT_ALT_NAME: &str = "2.5.29.17";
const ECDSA_WITH_SHA256: &str = "1.2.840.10045.4.3.2";

fn oid(dotted: &str) -> Vec<u8> {
    der::oid(dotted).unwrap()
}

/// A subject with one RDN per attribute, in order: `("O", ...)` or `("CN", ...)`.
pub(super) fn subject(atvs: &[(&str, &str)]) -> Vec<u8> {
    let rdns: Vec<Vec<u8>> = atvs
        .iter()
        .map(|(kind, value)| {
            let o = if *kind == "CN" {
                COMMON_NAME
            } else {
                ORGANIZATION
            };
            der::set_of(vec![der::sequence(&[oid(o), der::directory_string(value)])])
        })
        .collect();
    der::sequence(&rdns)
}

/// A dNSName.
pub(super) fn dns(name: &str) -> Vec<u8> {
    der::tlv(0x82, name.as_bytes())
}

/// An iPAddress of any length.
pub(super) fn ip(bytes: &[u8]) -> Vec<u8> {
    der::tlv(0x87, bytes)
}

/// An otherName of type `type_oid` holding a UTF8String.
pub(super) fn other_name(type_oid: &str, value: &str) -> Vec<u8> {
    let explicit = der::tlv(0xa0, &der::tlv(tag::UTF8_STRING, value.as_bytes()));
    der::tlv(0xa0, &[oid(type_oid), explicit].concat())
}

/// A registeredID.
pub(super) fn registered_id(dotted: &str) -> Vec<u8> {
    let o = oid(dotted);
    // The OID's content octets under the context tag [8].
    der::tlv(0x88, &o[2..])
}

/// A subjectAltName extension holding `names`.
pub(super) fn san(names: &[Vec<u8>]) -> Vec<u8> {
    der::sequence(&[
        oid(SUBJECT_ALT_NAME),
        der::tlv(tag::OCTET_STRING, &der::sequence(names)),
    ])
}

/// An extensionRequest attribute: one value per entry of `values`, each a list of extensions.
pub(super) fn extension_request(values: &[&[Vec<u8>]]) -> Vec<u8> {
    let set: Vec<u8> = values
        .iter()
        .map(|exts| der::sequence(exts))
        .collect::<Vec<_>>()
        .concat();
    der::sequence(&[oid(EXTENSION_REQUEST), der::tlv(tag::SET, &set)])
}

/// A PEM CSR with `subject` and `attributes`, signed by a P-256 key.
pub(super) fn csr(subject: Vec<u8>, attributes: &[Vec<u8>]) -> String {
    let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256, &mut crate::seeded_rng(9)).unwrap();
    let info = der::sequence(&[
        der::unsigned_integer(&[0]),
        subject,
        keys::spki_der(&key),
        der::tlv(0xa0, &attributes.concat()),
    ]);
    let signature = rcgen::SigningKey::sign(&RcgenKey::new(&key), &info).unwrap();
    let mut bits = vec![0u8];
    bits.extend(signature);
    let der = der::sequence(&[
        info,
        der::sequence(&[oid(ECDSA_WITH_SHA256)]),
        der::tlv(tag::BIT_STRING, &bits),
    ]);
    crate::x509::encoding::to_pem("CERTIFICATE REQUEST", &der)
}
