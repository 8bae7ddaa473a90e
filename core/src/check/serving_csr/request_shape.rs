//! The request's shape, before any name is compared with the cluster: the
//! requester is a node, the CSR parses with a valid signature, holds one
//! extensionRequest and one CN (the requester), O exactly `system:nodes`, a kubelet
//! server's usages, at least one DNS name or IP and no name of another kind (Go and
//! x509-parser read such requests differently, or the signer would copy a name no
//! rule here checks).

use crate::check::serving_csr::{Refusal, Request};
use crate::kubeadm::role::{KUBELET_CN_PREFIX, KUBELET_ORG};
use crate::x509::csr::{self, Csr};
use crate::x509::strength;

/// The usages allowed, as the certificates API spells them.
const DIGITAL_SIGNATURE: &str = "digital signature";
const KEY_ENCIPHERMENT: &str = "key encipherment";
const SERVER_AUTH: &str = "server auth";

/// The node the request is for and the parsed CSR, or why its shape is refused.
pub(super) fn check(req: &Request<'_>) -> Result<(String, Csr), Refusal> {
    let node = req
        .username
        .strip_prefix(KUBELET_CN_PREFIX)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| Refusal::NotANode(req.username.to_string()))?;
    if !req.groups.iter().any(|g| g == KUBELET_ORG) {
        return Err(Refusal::NotInNodesGroup {
            user: req.username.to_string(),
            groups: req.groups.join(", "),
        });
    }
    let csr = csr::parse(req.csr_pem).map_err(|e| Refusal::BadCsr(e.to_string()))?;
    if let Some(w) = strength::weaknesses(&csr.signature_algorithm, &csr.public_key)
        .into_iter()
        .next()
    {
        return Err(Refusal::Weak(w));
    }
    if !csr.signature_valid {
        return Err(Refusal::BadCsr("its signature does not verify".into()));
    }
    if csr.extension_requests > 1 {
        return Err(Refusal::ExtensionRequests(csr.extension_requests));
    }
    if csr.common_names.len() > 1 {
        return Err(Refusal::CommonNames(csr.common_names.clone()));
    }
    let cn = csr.common_name.clone().unwrap_or_default();
    if cn != req.username {
        return Err(Refusal::CommonName {
            cn,
            user: req.username.to_string(),
        });
    }
    if csr.organizations != [KUBELET_ORG] {
        return Err(Refusal::Organization(csr.organizations.clone()));
    }
    check_usages(req, &csr)?;
    if let Some(odd) = csr.odd_names.first() {
        return Err(Refusal::UncheckedName(odd.clone()));
    }
    if !csr.email_addresses.is_empty() {
        return Err(Refusal::Email(csr.email_addresses.clone()));
    }
    if !csr.uris.is_empty() {
        return Err(Refusal::Uri(csr.uris.clone()));
    }
    if csr.dns_names.is_empty() && csr.ip_addresses.is_empty() {
        return Err(Refusal::NoNames);
    }
    Ok((node.to_string(), csr))
}

fn check_usages(req: &Request<'_>, csr: &Csr) -> Result<(), Refusal> {
    let rsa = csr.public_key.starts_with("RSA ");
    let mut usages: Vec<&str> = req.usages.iter().map(String::as_str).collect();
    usages.sort_unstable();
    usages.dedup();
    let plain = [DIGITAL_SIGNATURE, SERVER_AUTH];
    let with_ke = [DIGITAL_SIGNATURE, KEY_ENCIPHERMENT, SERVER_AUTH];
    if usages != plain && !(rsa && usages == with_ke) {
        return Err(Refusal::Usages {
            usages: req.usages.to_vec(),
            key: csr.public_key.clone(),
        });
    }
    Ok(())
}
