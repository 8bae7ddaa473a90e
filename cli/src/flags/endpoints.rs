//! `--endpoint NAME=HOST:PORT` and `--manifests-dir`: where the control-plane
//! components listen (resolved against the manifests by `node::endpoints`).

use std::path::PathBuf;

use kcerts_core::live::Endpoint;

/// `--endpoint NAME=HOST:PORT` and `--manifests-dir`, shared by `verify --live`
/// and `restart`.
#[derive(Debug, Clone, clap::Args)]
pub struct EndpointArgs {
    /// Where a component listens, NAME=HOST:PORT (repeatable). NAME is one of apiserver,
    /// etcd-server, etcd-peer, controller-manager, scheduler, kubelet [default: from the
    /// component's manifest, else kubeadm's port on 127.0.0.1: 6443, 2379, 2380, 10257,
    /// 10259, 10250].
    #[arg(long = "endpoint", value_name = "NAME=HOST:PORT", value_parser = parse_endpoint)]
    pub endpoints: Vec<(Endpoint, String)>,
    /// The kubelet's static pod manifests directory [default: <kubeconfig-dir>/manifests].
    #[arg(long, value_name = "DIR")]
    pub manifests_dir: Option<PathBuf>,
}

fn parse_endpoint(s: &str) -> Result<(Endpoint, String), String> {
    let names: Vec<_> = Endpoint::ALL.iter().map(|e| e.name()).collect();
    let (name, addr) = s
        .split_once('=')
        .ok_or_else(|| format!("invalid endpoint {s:?}: use NAME=HOST:PORT"))?;
    let e = Endpoint::from_name(name)
        .ok_or_else(|| format!("unknown endpoint {name:?}: use one of {}", names.join(", ")))?;
    let port_ok = addr
        .rsplit_once(':')
        .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
    if !port_ok {
        return Err(format!(
            "invalid address {addr:?} for {name}: use HOST:PORT"
        ));
    }
    Ok((e, addr.to_string()))
}
