//! `--endpoint NAME=HOST:PORT` and `--manifests-dir`: where the control-plane
//! components listen (resolved against the manifests by `node::endpoints`).

use std::path::PathBuf;

use kcerts_core::endpoint::Endpoint as HostPort;
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
    HostPort::parse_host_port(addr).map_err(|err| format!("{err} (for {name})"))?;
    Ok((e, addr.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endpoint_is_name_and_host_port_with_ipv6_in_brackets() {
        assert_eq!(
            parse_endpoint("apiserver=[::1]:6443"),
            Ok((Endpoint::Apiserver, "[::1]:6443".to_string()))
        );
        assert_eq!(
            parse_endpoint("etcd-server=10.0.0.1:2379"),
            Ok((Endpoint::EtcdServer, "10.0.0.1:2379".to_string()))
        );
        assert_eq!(
            parse_endpoint("apiserver=::1:6443").unwrap_err(),
            "invalid address \"::1:6443\": an IPv6 address goes in brackets: write [::1]:6443 \
             (for apiserver)"
        );
        assert_eq!(
            parse_endpoint("apiserver=lb").unwrap_err(),
            "invalid address \"lb\": no port: use HOST:PORT (for apiserver)"
        );
        assert!(
            parse_endpoint("nothing=lb:1")
                .unwrap_err()
                .contains("unknown endpoint")
        );
        assert!(
            parse_endpoint("lb:1")
                .unwrap_err()
                .contains("NAME=HOST:PORT")
        );
    }
}
