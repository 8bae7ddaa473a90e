//! A node as a kubelet with client-certificate rotation leaves it: the client pair
//! in `kubelet/kubelet-client-current.pem`, and the self-signed serving pair beside it.

use std::path::Path;

use base64::Engine;

use crate::NOW;

/// Moves kubelet.conf's embedded client certificate and key into
/// `ROOT/kubelet/kubelet-client-current.pem` and makes kubelet.conf refer to it,
/// as a kubelet with rotation enabled leaves a node; writes the self-signed
/// `kubelet.crt`/`kubelet.key` the kubelet makes beside it.
pub fn rotating_kubelet(root: &Path) -> String {
    let conf_path = root.join("kubelet.conf");
    let conf = std::fs::read_to_string(&conf_path).unwrap();
    let pem_path = root.join("kubelet/kubelet-client-current.pem");
    let pem_arg = "kubelet/kubelet-client-current.pem".to_string();
    let mut pem = Vec::new();
    let mut out = String::new();
    for line in conf.lines() {
        let t = line.trim_start();
        let indent = &line[..line.len() - t.len()];
        if let Some(b64) = t.strip_prefix("client-certificate-data: ") {
            pem.extend(
                base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .unwrap(),
            );
            out.push_str(&format!("{indent}client-certificate: {pem_arg}\n"));
        } else if let Some(b64) = t.strip_prefix("client-key-data: ") {
            pem.extend(
                base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .unwrap(),
            );
            out.push_str(&format!("{indent}client-key: {pem_arg}\n"));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    std::fs::create_dir_all(pem_path.parent().unwrap()).unwrap();
    std::fs::write(&pem_path, pem).unwrap();
    std::fs::write(&conf_path, out).unwrap();
    // And the serving certificate the kubelet makes for itself beside it.
    let serving = kcerts_core::kubelet_selfsigned::generate(
        &kcerts_core::kubelet_selfsigned::ServingSpec {
            host: "cp-1".into(),
            ips: vec![],
            dns: vec![],
        },
        NOW,
        &mut kcerts_core::seeded_rng(1),
    )
    .unwrap();
    let dir = pem_path.parent().unwrap();
    std::fs::write(dir.join("kubelet.crt"), serving.cert_pem()).unwrap();
    std::fs::write(dir.join("kubelet.key"), serving.key.to_pem()).unwrap();
    pem_arg
}
