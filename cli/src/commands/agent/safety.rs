//! What the agent looks at before it restarts anything (the rules are
//! `kcerts_core::restart_safety`): each etcd member's `/health` over mTLS with the
//! node's etcd client certificate, the members listed by the local member's peer
//! endpoint (`/members`, as a joining member reads them), and every other API
//! server's `/readyz`.

use std::net::IpAddr;

use kcerts_core::endpoint::Endpoint as HostPort;
use kcerts_core::live::Endpoint;
use kcerts_core::restart_safety::{Apiserver, EtcdMember};

use crate::fsio::NodeDirs;
use crate::node::endpoints::{self, Endpoints};
use crate::node::probe::{self, ClientCert};

/// The etcd members and whether each answers healthy; `Err` when they cannot be
/// listed.
pub fn etcd_members(endpoints: &Endpoints, dirs: &NodeDirs) -> Result<Vec<EtcdMember>, String> {
    let client = endpoints::client_cert(Endpoint::EtcdServer, dirs).ok_or_else(|| {
        format!(
            "cannot read the etcd client certificate {} and its key",
            dirs.cert_dir.join("apiserver-etcd-client.crt").display()
        )
    })?;
    let peer = endpoints.address(Endpoint::EtcdPeer);
    let body = get(peer, &client, "/members")?;
    let list: Vec<serde_json::Value> = serde_json::from_str(&body)
        .map_err(|e| format!("the member list from {peer}/members is not JSON: {e}"))?;
    let own = endpoints.address(Endpoint::EtcdServer).to_string();
    let mut out = Vec::new();
    for m in list.iter().take(64) {
        let name = m["name"].as_str().unwrap_or_default().to_string();
        let urls: Vec<String> = m["clientURLs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|u| u.as_str())
            .filter_map(host_port)
            .collect();
        let is_self = urls.contains(&own);
        // A member that has not started yet lists no client URL: not healthy.
        let healthy = urls.iter().any(|u| {
            get(u, &client, "/health").is_ok_and(|b| {
                serde_json::from_str::<serde_json::Value>(&b)
                    .is_ok_and(|v| v["health"].as_str() == Some("true"))
            })
        });
        out.push(EtcdMember {
            name: if name.is_empty() {
                urls.first().cloned().unwrap_or_else(|| "(unnamed)".into())
            } else {
                name
            },
            healthy,
            is_self,
        });
    }
    Ok(out)
}

/// `/readyz` of every API server at `ips` other than this node's (`port` the
/// API servers' port).
pub fn other_apiservers(endpoints: &Endpoints, ips: &[IpAddr], port: u16) -> Vec<Apiserver> {
    let own = HostPort::parse_host_port(endpoints.address(Endpoint::Apiserver))
        .ok()
        .and_then(|e| e.ip());
    ips.iter()
        .filter(|ip| Some(**ip) != own)
        .map(|ip| {
            let address = match ip {
                IpAddr::V4(v4) => format!("{v4}:{port}"),
                IpAddr::V6(v6) => format!("[{v6}]:{port}"),
            };
            let seen = probe::probe(&address, None, Some("/readyz"), probe::TIMEOUT);
            let (ready, detail) = match seen.health {
                Some(Ok((200, body))) if body.trim() == "ok" => (true, "ok".to_string()),
                Some(Ok((code, body))) => (
                    false,
                    format!("/readyz answered {code}: {}", first_line(&body)),
                ),
                Some(Err(e)) => (false, e.to_string()),
                None => (
                    false,
                    format!("{:?}", seen.probe).chars().take(200).collect(),
                ),
            };
            Apiserver {
                name: address,
                ready,
                detail,
            }
        })
        .collect()
}

fn first_line(s: &str) -> String {
    s.lines()
        .next()
        .unwrap_or_default()
        .chars()
        .take(200)
        .collect()
}

/// GET `path` at `address` with the client certificate: the body on 200.
fn get(address: &str, client: &ClientCert, path: &str) -> Result<String, String> {
    let seen = probe::probe(address, Some(client), Some(path), probe::TIMEOUT);
    match seen.health {
        Some(Ok((200, body))) => Ok(body),
        Some(Ok((code, body))) => Err(format!(
            "{address}{path} answered {code}: {}",
            first_line(&body)
        )),
        Some(Err(e)) => Err(format!("{address}{path}: {e}")),
        None => Err(format!("{address}{path}: no answer")),
    }
}

/// `host:port` of an `https://host:port` URL.
fn host_port(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let hp = rest.split('/').next()?;
    HostPort::parse_host_port(hp).ok()?;
    Some(hp.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_urls_become_host_and_port() {
        assert_eq!(
            host_port("https://198.51.100.11:2379").as_deref(),
            Some("198.51.100.11:2379")
        );
        assert_eq!(
            host_port("https://[fd00::1]:2379/").as_deref(),
            Some("[fd00::1]:2379")
        );
        assert_eq!(host_port("unix:///run/etcd.sock"), None);
    }
}
