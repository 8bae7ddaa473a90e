//! The Kubernetes release a cluster runs (the configuration's
//! `kubernetesVersion`, or the tag of the kube-apiserver image in its static pod
//! manifest), and what kubeadm writes differently from one release to the next.

use std::fmt;

/// A Kubernetes release: `v1.37.2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct KubernetesVersion {
    /// Major (1).
    pub major: u32,
    /// Minor (37).
    pub minor: u32,
    /// Patch (2).
    pub patch: u32,
}

impl KubernetesVersion {
    /// `v1.37.2`, `1.37.2`, `v1.37.2-rc.0`, `v1.37.2+build`; `None` for a label
    /// kubeadm resolves online (`stable`, `stable-1.37`, `latest`, `ci/...`) or
    /// anything else.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        let s = s.strip_prefix('v').unwrap_or(s);
        let core = s.split(['-', '+']).next()?;
        let mut parts = core.split('.');
        let mut num = || -> Option<u32> {
            let p = parts.next()?;
            (!p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
                .then(|| p.parse().ok())
                .flatten()
        };
        let v = Self {
            major: num()?,
            minor: num()?,
            patch: num()?,
        };
        parts.next().is_none().then_some(v)
    }

    /// The release in an image reference's tag:
    /// `registry.k8s.io/kube-apiserver:v1.37.2` (a `@sha256:...` digest after it
    /// is ignored).
    pub fn from_image(image: &str) -> Option<Self> {
        let name = image.split('@').next()?;
        let last = name.rsplit('/').next()?;
        let (_, tag) = last.split_once(':')?;
        Self::parse(tag)
    }
}

impl fmt::Display for KubernetesVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// The `O` kubeadm gives a new apiserver-kubelet-client certificate. Releases
/// v1.36.1 and later write the CN alone (the API server's access to the
/// kubelets is granted by the `kubeadm:apiserver-kubelet-client`
/// ClusterRoleBinding they create); earlier ones write
/// `O=kubeadm:cluster-admins`. The fix was also backported to 1.33 and 1.34
/// patch releases whose numbers are not known here (v1.34.4 still writes the
/// O): those, and a cluster whose release is not known, get
/// `kubeadm:cluster-admins`, which every cluster since 1.29 binds to
/// cluster-admin, so the certificate works on any of them.
pub fn apiserver_kubelet_client_organization(
    version: Option<KubernetesVersion>,
) -> Option<&'static str> {
    const CN_ONLY_SINCE: KubernetesVersion = release(1, 36, 1);
    match version {
        Some(v) if v >= CN_ONLY_SINCE => None,
        _ => Some("kubeadm:cluster-admins"),
    }
}

const fn release(major: u32, minor: u32, patch: u32) -> KubernetesVersion {
    KubernetesVersion {
        major,
        minor,
        patch,
    }
}

/// kubeadm v1.37 reads only kubeadm.k8s.io/v1beta4 ("your configuration file
/// uses an old API spec") and no longer knows the `PublicKeysECDSA` feature
/// gate ("PublicKeysECDSA is not a valid feature name"); v1.36 and older read
/// v1beta3 and honour the gate. A cluster whose `kubernetesVersion` is v1.37 or
/// later is set up by kubeadm v1.37 or later; an older or unknown release may
/// be set up by an older kubeadm, so both are read then.
pub fn reads_v1beta3_and_public_keys_ecdsa(version: Option<KubernetesVersion>) -> bool {
    !matches!(version, Some(v) if v >= release(1, 37, 0))
}

/// `encryptionAlgorithm: ECDSA-P384` came with kubeadm v1.34, which sets up
/// v1.33 and later control planes; a `kubernetesVersion` before v1.33 is set
/// up by a kubeadm that refuses it.
pub fn takes_ecdsa_p384(version: Option<KubernetesVersion>) -> bool {
    !matches!(version, Some(v) if v < release(1, 33, 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Option<KubernetesVersion> {
        KubernetesVersion::parse(s)
    }

    #[test]
    fn versions_and_labels() {
        assert_eq!(
            v("v1.37.2"),
            Some(KubernetesVersion {
                major: 1,
                minor: 37,
                patch: 2
            })
        );
        assert_eq!(v("1.34.4"), v("v1.34.4"));
        assert_eq!(v("v1.37.0-rc.1"), v("v1.37.0"));
        assert_eq!(v("v1.37.2+k3s1"), v("v1.37.2"));
        for label in [
            "stable",
            "stable-1.37",
            "latest",
            "ci/latest",
            "v1.37",
            "v1.x.2",
            "",
        ] {
            assert_eq!(v(label), None, "{label}");
        }
        assert_eq!(v("v1.37.2").unwrap().to_string(), "v1.37.2");
    }

    #[test]
    fn image_tags() {
        assert_eq!(
            KubernetesVersion::from_image("registry.k8s.io/kube-apiserver:v1.37.2"),
            v("v1.37.2")
        );
        assert_eq!(
            KubernetesVersion::from_image("localhost:5000/kube-apiserver:v1.34.4@sha256:ab12"),
            v("v1.34.4")
        );
        assert_eq!(
            KubernetesVersion::from_image("localhost:5000/kube-apiserver"),
            None
        );
    }

    #[test]
    fn kubelet_client_organization_by_release() {
        let org = |s: &str| apiserver_kubelet_client_organization(v(s));
        assert_eq!(org("v1.37.2"), None);
        assert_eq!(org("v1.36.1"), None);
        assert_eq!(org("v1.36.0"), Some("kubeadm:cluster-admins"));
        assert_eq!(org("v1.34.4"), Some("kubeadm:cluster-admins"));
        assert_eq!(
            apiserver_kubelet_client_organization(None),
            Some("kubeadm:cluster-admins")
        );
    }

    #[test]
    fn what_each_release_of_kubeadm_reads() {
        let v1beta3 = |s: &str| reads_v1beta3_and_public_keys_ecdsa(v(s));
        assert!(v1beta3("v1.34.4"));
        assert!(v1beta3("v1.36.9"));
        assert!(!v1beta3("v1.37.0"));
        assert!(!v1beta3("v1.38.1"));
        assert!(reads_v1beta3_and_public_keys_ecdsa(None));
        let p384 = |s: &str| takes_ecdsa_p384(v(s));
        assert!(!p384("v1.32.9"));
        assert!(p384("v1.33.0"));
        assert!(p384("v1.37.2"));
        assert!(takes_ecdsa_p384(None));
    }
}
