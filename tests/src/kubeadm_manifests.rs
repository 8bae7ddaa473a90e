//! The static pod manifests of kube-apiserver and kube-controller-manager as kubeadm
//! writes them, reduced to the flags naming the files they read: what the CA and
//! service-account rotation phases read and rewrite.

use std::path::Path;

/// kube-apiserver's and kube-controller-manager's static pod manifests with the
/// flags kubeadm writes for the files they read (cmd/kubeadm/app/phases/
/// controlplane/manifests.go), pointing into `root`.
pub fn write_manifests(root: &Path) {
    let pki = root.join("pki").display().to_string();
    let dir = root.join("manifests");
    std::fs::create_dir_all(&dir).unwrap();
    let api = format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  labels:\n    component: kube-apiserver\n    tier: control-plane\n  name: kube-apiserver\n  namespace: kube-system\nspec:\n  containers:\n  - command:\n    - kube-apiserver\n    - --advertise-address=192.0.2.10\n    - --client-ca-file={pki}/ca.crt\n    - --etcd-cafile={pki}/etcd/ca.crt\n    - --requestheader-client-ca-file={pki}/front-proxy-ca.crt\n    - --service-account-issuer=https://kubernetes.default.svc.cluster.local\n    - --service-account-key-file={pki}/sa.pub\n    - --service-account-signing-key-file={pki}/sa.key\n    - --tls-cert-file={pki}/apiserver.crt\n    - --tls-private-key-file={pki}/apiserver.key\n    image: registry.k8s.io/kube-apiserver:v1.32.0\n    name: kube-apiserver\n  hostNetwork: true\n"
    );
    let kcm = format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  labels:\n    component: kube-controller-manager\n    tier: control-plane\n  name: kube-controller-manager\n  namespace: kube-system\nspec:\n  containers:\n  - command:\n    - kube-controller-manager\n    - --client-ca-file={pki}/ca.crt\n    - --cluster-signing-cert-file={pki}/ca.crt\n    - --cluster-signing-key-file={pki}/ca.key\n    - --root-ca-file={pki}/ca.crt\n    - --service-account-private-key-file={pki}/sa.key\n    image: registry.k8s.io/kube-controller-manager:v1.32.0\n    name: kube-controller-manager\n  hostNetwork: true\n"
    );
    std::fs::write(dir.join("kube-apiserver.yaml"), api).unwrap();
    std::fs::write(dir.join("kube-controller-manager.yaml"), kcm).unwrap();
}
