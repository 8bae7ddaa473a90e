//! What a node's kube-apiserver static pod manifest says about its cluster,
//! for the commands run without a kubeadm configuration (issue 22 item 2):
//! kubeadm would read the `kubeadm-config` ConfigMap; offline, the manifest it
//! wrote from that configuration still shows the service range
//! (`--service-cluster-ip-range`, from `networking.serviceSubnet`), the
//! advertise address (`--advertise-address`, from
//! `localAPIEndpoint.advertiseAddress`) and the release (the image tag, from
//! `kubernetesVersion`).

use std::net::IpAddr;

use serde_json::Value;

use crate::kubeadm::alt_names;
use crate::kubeadm::static_pod::{StaticPod, StaticPodError};
use crate::kubeadm::version::KubernetesVersion;

/// What the kube-apiserver manifest shows; `None` where it does not say, or
/// says something that does not parse (then nothing is taken from it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApiserverManifest {
    /// `--service-cluster-ip-range` (one CIDR, or two comma-separated).
    pub service_subnet: Option<String>,
    /// `--advertise-address`.
    pub advertise_address: Option<IpAddr>,
    /// The tag of the first container's image (`registry.k8s.io/kube-apiserver:v1.37.2`).
    pub release: Option<KubernetesVersion>,
}

impl ApiserverManifest {
    /// Reads a kube-apiserver manifest (YAML or JSON).
    pub fn parse(bytes: &[u8]) -> Result<Self, StaticPodError> {
        let pod = StaticPod::parse(bytes)?;
        let service_subnet = pod
            .flag("service-cluster-ip-range")
            .map(str::trim)
            .filter(|s| alt_names::service_ip(s).is_some())
            .map(str::to_string);
        // kubeadm refuses a loopback or unspecified advertise address
        // ("unable to select an IP from lo network interface"): such a flag
        // was not written from a kubeadm configuration, so it says nothing
        // about the certificates.
        let advertise_address = pod
            .flag("advertise-address")
            .and_then(|a| a.trim().parse::<IpAddr>().ok())
            .filter(|ip| !ip.is_unspecified() && !ip.is_loopback());
        Ok(Self {
            service_subnet,
            advertise_address,
            release: image(bytes).and_then(|i| KubernetesVersion::from_image(&i)),
        })
    }

    /// The `kubernetes` service IP of the range, as kubeadm puts it in the
    /// apiserver certificate.
    pub fn service_ip(&self) -> Option<IpAddr> {
        self.service_subnet
            .as_deref()
            .and_then(alt_names::service_ip)
    }

    /// Whether the manifest showed anything.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// What was taken, for a note: `the service range 10.100.0.0/16, the
    /// advertise address 192.0.2.11 and the release v1.37.2`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(s) = &self.service_subnet {
            parts.push(format!("the service range {s}"));
        }
        if let Some(a) = self.advertise_address {
            parts.push(format!("the advertise address {a}"));
        }
        if let Some(r) = self.release {
            parts.push(format!("the release {r}"));
        }
        match parts.split_last() {
            None => String::new(),
            Some((last, [])) => last.clone(),
            Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
        }
    }
}

/// `spec.containers[0].image` (StaticPod::parse has read the file already: it
/// is bounded YAML).
fn image(bytes: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(bytes).ok()?;
    let doc = crate::kubeadm::yaml::parse(text, crate::kubeadm::yaml::Limits::default()).ok()?;
    doc.pointer("/spec/containers/0/image")
        .and_then(Value::as_str)
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The head of a kube-apiserver manifest as kubeadm v1.37.2 writes it.
    fn manifest(flags: &str, image: &str) -> String {
        format!(
            "apiVersion: v1
kind: Pod
metadata:
  name: kube-apiserver
  namespace: kube-system
spec:
  containers:
  - command:
    - kube-apiserver
{flags}    image: {image}
    name: kube-apiserver
"
        )
    }

    #[test]
    fn service_range_advertise_address_and_release() {
        let m = ApiserverManifest::parse(
            manifest(
                "    - --advertise-address=192.0.2.11\n    - --allow-privileged=true\n    \
                 - --service-cluster-ip-range=10.100.0.0/16,fd00:10:96::/112\n",
                "registry.k8s.io/kube-apiserver:v1.37.2",
            )
            .as_bytes(),
        )
        .unwrap();
        assert_eq!(
            m.service_subnet.as_deref(),
            Some("10.100.0.0/16,fd00:10:96::/112")
        );
        assert_eq!(m.service_ip(), Some("10.100.0.1".parse().unwrap()));
        assert_eq!(m.advertise_address, Some("192.0.2.11".parse().unwrap()));
        assert_eq!(m.release, KubernetesVersion::parse("v1.37.2"));
        assert_eq!(
            m.describe(),
            "the service range 10.100.0.0/16,fd00:10:96::/112, the advertise address \
             192.0.2.11 and the release v1.37.2"
        );
    }

    #[test]
    fn what_does_not_parse_is_not_taken() {
        let m = ApiserverManifest::parse(
            manifest(
                "    - --advertise-address=0.0.0.0\n    - --service-cluster-ip-range=10.96.0.0\n",
                "registry.k8s.io/kube-apiserver@sha256:0123",
            )
            .as_bytes(),
        )
        .unwrap();
        assert!(m.is_empty(), "{m:?}");
        let loopback = ApiserverManifest::parse(
            manifest(
                "    - --advertise-address=127.0.0.1\n",
                "registry.k8s.io/kube-apiserver",
            )
            .as_bytes(),
        )
        .unwrap();
        assert_eq!(loopback.advertise_address, None);
        assert_eq!(m.describe(), "");
        let only = ApiserverManifest::parse(
            manifest(
                "    - --advertise-address=2001:db8::11\n",
                "localhost:5000/kube-apiserver",
            )
            .as_bytes(),
        )
        .unwrap();
        assert_eq!(only.describe(), "the advertise address 2001:db8::11");
        assert!(ApiserverManifest::parse(b"kind: Pod\n").is_err());
        assert!(ApiserverManifest::parse(b"\xff").is_err());
    }
}
