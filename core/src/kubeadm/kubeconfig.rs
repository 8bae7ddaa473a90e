//! Kubeconfig files: reading the embedded credentials kubeadm checks, listing
//! every certificate a kubeconfig holds, and replacing one user's credentials
//! while keeping everything else as it was.
//!
//! The document is kept as a generic YAML tree (serde-saphyr into an
//! order-preserving `serde_json::Value`), so unknown fields, extensions and key
//! order survive a renewal untouched.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;
use serde_json::Value;
use thiserror::Error;

use crate::kubeadm::yaml::YamlError;

/// Why a kubeconfig cannot be used. Messages follow kubeadm's where it has one.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KubeconfigError {
    /// Not valid YAML (or over the parser's safety budget: aliases, depth, size);
    /// the parser's first line is shown.
    #[error("not a valid kubeconfig YAML document: {}", first_line(&.0.to_string()))]
    Yaml(YamlError),
    /// Not UTF-8 text.
    #[error("not a valid kubeconfig YAML document: not UTF-8 text ({0})")]
    NotText(std::str::Utf8Error),
    /// The document is not a mapping.
    #[error("not a kubeconfig: the document is not a YAML mapping")]
    NotAMapping,
    /// `current-context` is absent or empty.
    #[error("no current-context is set")]
    NoCurrentContext,
    /// The current context is not in `contexts`.
    #[error("missing context {0}")]
    MissingContext(String),
    /// The context's cluster is not in `clusters`.
    #[error("missing cluster {0}")]
    MissingCluster(String),
    /// The context's user is not in `users`.
    #[error("missing user {0}")]
    MissingUser(String),
    /// The cluster has no `certificate-authority-data`.
    #[error("does not have an embedded server certificate (cluster {cluster}{})", file_note(.file))]
    NoEmbeddedCa {
        /// Cluster name.
        cluster: String,
        /// The `certificate-authority:` file reference, if there is one.
        file: Option<String>,
    },
    /// The user has no `client-certificate-data`.
    #[error("does not have an embedded client certificate (user {user}{})", file_note(.file))]
    NoEmbeddedClientCert {
        /// User name.
        user: String,
        /// The `client-certificate:` file reference, if there is one.
        file: Option<String>,
    },
    /// An embedded field is not valid base64.
    #[error("{field} of {owner} is not valid base64")]
    BadBase64 {
        /// Field name, e.g. `client-key-data`.
        field: &'static str,
        /// `user NAME` or `cluster NAME`.
        owner: String,
    },
    /// The updated document could not be written as YAML.
    #[error("cannot serialise the kubeconfig: {0}")]
    Serialize(String),
}

fn file_note(file: &Option<String>) -> String {
    match file {
        Some(f) => format!("; it refers to the file {f}, which kcerts does not follow"),
        None => String::new(),
    }
}

/// A parsed kubeconfig.
#[derive(Debug, Clone, PartialEq)]
pub struct Kubeconfig {
    doc: Value,
}

/// The credentials of the current context, as kubeadm requires them.
#[derive(Clone, PartialEq, Eq)]
pub struct CurrentCredentials {
    /// Context name.
    pub context: String,
    /// Cluster name.
    pub cluster: String,
    /// User name.
    pub user: String,
    /// API server URL, if set.
    pub server: Option<String>,
    /// Decoded `certificate-authority-data`.
    pub ca_data: Vec<u8>,
    /// Decoded `client-certificate-data`.
    pub client_certificate_data: Vec<u8>,
    /// Decoded `client-key-data`, if embedded.
    pub client_key_data: Option<Vec<u8>>,
}

impl std::fmt::Debug for CurrentCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CurrentCredentials")
            .field("context", &self.context)
            .field("cluster", &self.cluster)
            .field("user", &self.user)
            .field("server", &self.server)
            .field(
                "client_key_data",
                &self.client_key_data.as_ref().map(|_| "<redacted>"),
            )
            .finish_non_exhaustive()
    }
}

/// Where one certificate or key of a kubeconfig is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum Material {
    /// Embedded base64 data (decoded).
    Embedded {
        /// Decoded bytes.
        #[serde(skip)]
        bytes: Vec<u8>,
    },
    /// A reference to a file by path.
    File {
        /// The path as written.
        path: String,
    },
}

/// One certificate-bearing entry of a kubeconfig.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// `cluster` or `user` (x509-certificate-exporter's `embedded_kind`).
    pub kind: &'static str,
    /// The cluster or user name.
    pub name: String,
    /// The field: `certificate-authority`, `client-certificate`, `client-key`.
    pub field: &'static str,
    /// Where it is.
    pub material: Material,
}

impl Kubeconfig {
    /// Parses kubeconfig YAML (or JSON, a subset of YAML).
    pub fn parse(bytes: &[u8]) -> Result<Self, KubeconfigError> {
        let text = std::str::from_utf8(bytes).map_err(KubeconfigError::NotText)?;
        let doc = crate::kubeadm::yaml::parse(text, crate::kubeadm::yaml::Limits::default())
            .map_err(KubeconfigError::Yaml)?;
        if !doc.is_object() {
            return Err(KubeconfigError::NotAMapping);
        }
        Ok(Self { doc })
    }

    /// The credentials of the current context, checked as kubeadm does before renewal.
    pub fn current(&self) -> Result<CurrentCredentials, KubeconfigError> {
        let (context, cluster, user) = self.current_context()?;
        let (c, ca_data) = self.cluster_ca(&cluster)?;
        let u = named(&self.doc, "users", &user, "user")
            .ok_or_else(|| KubeconfigError::MissingUser(user.clone()))?;
        let owner = format!("user {user}");
        let client_certificate_data =
            decode(u, "client-certificate-data", &owner)?.ok_or_else(|| {
                KubeconfigError::NoEmbeddedClientCert {
                    user: user.clone(),
                    file: opt_str(u, "client-certificate"),
                }
            })?;
        let client_key_data = decode(u, "client-key-data", &owner)?;
        Ok(CurrentCredentials {
            context,
            server: opt_str(c, "server"),
            cluster,
            user,
            ca_data,
            client_certificate_data,
            client_key_data,
        })
    }

    /// The current context's cluster and user names, checked to exist.
    fn current_names(&self) -> Result<(String, String), KubeconfigError> {
        let (_, cluster, user) = self.current_context()?;
        named(&self.doc, "clusters", &cluster, "cluster")
            .ok_or_else(|| KubeconfigError::MissingCluster(cluster.clone()))?;
        named(&self.doc, "users", &user, "user")
            .ok_or_else(|| KubeconfigError::MissingUser(user.clone()))?;
        Ok((cluster, user))
    }

    /// The current context's cluster name and its embedded CA data, without
    /// looking at the user (kubelet.conf usually points at certificate files).
    pub fn current_cluster_ca(&self) -> Result<(String, Vec<u8>), KubeconfigError> {
        let (_, cluster, _) = self.current_context()?;
        let (_, ca) = self.cluster_ca(&cluster)?;
        Ok((cluster, ca))
    }

    /// The current context's name and its cluster and user names (not checked to exist).
    fn current_context(&self) -> Result<(String, String, String), KubeconfigError> {
        let context = self
            .doc
            .get("current-context")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or(KubeconfigError::NoCurrentContext)?
            .to_string();
        let ctx = named(&self.doc, "contexts", &context, "context")
            .ok_or_else(|| KubeconfigError::MissingContext(context.clone()))?;
        let (cluster, user) = (str_field(ctx, "cluster"), str_field(ctx, "user"));
        Ok((context, cluster, user))
    }

    /// A cluster's entry and its embedded CA data, which kubeadm requires.
    fn cluster_ca(&self, cluster: &str) -> Result<(&Value, Vec<u8>), KubeconfigError> {
        let c = named(&self.doc, "clusters", cluster, "cluster")
            .ok_or_else(|| KubeconfigError::MissingCluster(cluster.to_string()))?;
        let ca = decode(
            c,
            "certificate-authority-data",
            &format!("cluster {cluster}"),
        )?
        .ok_or_else(|| KubeconfigError::NoEmbeddedCa {
            cluster: cluster.to_string(),
            file: opt_str(c, "certificate-authority"),
        })?;
        Ok((c, ca))
    }

    /// Returns the document with the current cluster's CA data set to `ca_pem`
    /// (one certificate or a bundle); nothing else changes.
    pub fn with_cluster_ca(&self, ca_pem: &[u8]) -> Result<Kubeconfig, KubeconfigError> {
        let (cluster, _) = self.current_cluster_ca()?;
        let mut doc = self.doc.clone();
        if let Some(c) = named_mut(&mut doc, "clusters", &cluster, "cluster") {
            set(c, "certificate-authority-data", STANDARD.encode(ca_pem));
        }
        Ok(Kubeconfig { doc })
    }

    /// Every CA, client certificate and client key in the file, embedded or by path.
    pub fn entries(&self) -> Result<Vec<Entry>, KubeconfigError> {
        let mut out = Vec::new();
        let fields: [(&str, &str, &'static str, &'static str); 3] = [
            ("clusters", "cluster", "certificate-authority", "cluster"),
            ("users", "user", "client-certificate", "user"),
            ("users", "user", "client-key", "user"),
        ];
        for (list, inner, field, kind) in fields {
            for item in self
                .doc
                .get(list)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let name = str_field(item, "name");
                let Some(body) = item.get(inner) else {
                    continue;
                };
                let data_field = data_field_name(field);
                if let Some(bytes) = decode(body, data_field, &format!("{kind} {name}"))? {
                    out.push(Entry {
                        kind,
                        name: name.clone(),
                        field,
                        material: Material::Embedded { bytes },
                    });
                } else if let Some(path) = opt_str(body, field) {
                    out.push(Entry {
                        kind,
                        name: name.clone(),
                        field,
                        material: Material::File { path },
                    });
                }
            }
        }
        Ok(out)
    }

    /// Returns the document with the current user's client certificate and key
    /// replaced and the current cluster's CA data set to `ca_pem`; nothing else changes.
    pub fn with_credentials(
        &self,
        cert_pem: &str,
        key_pem: &str,
        ca_pem: &[u8],
    ) -> Result<Kubeconfig, KubeconfigError> {
        let cur = self.current()?;
        let mut doc = self.doc.clone();
        if let Some(c) = named_mut(&mut doc, "clusters", &cur.cluster, "cluster") {
            set(c, "certificate-authority-data", STANDARD.encode(ca_pem));
        }
        if let Some(u) = named_mut(&mut doc, "users", &cur.user, "user") {
            set(u, "client-certificate-data", STANDARD.encode(cert_pem));
            set(u, "client-key-data", STANDARD.encode(key_pem));
        }
        Ok(Kubeconfig { doc })
    }

    /// Returns the document with the current user reading its client certificate
    /// and key from files (`client-certificate`, `client-key`) instead of embedded
    /// data, and the current cluster's CA data set to `ca_pem`: what kubeadm's
    /// troubleshooting page has users do to kubelet.conf by hand.
    pub fn with_client_files(
        &self,
        cert_path: &str,
        key_path: &str,
        ca_pem: &[u8],
    ) -> Result<Kubeconfig, KubeconfigError> {
        let (cluster, user) = self.current_names()?;
        let mut doc = self.doc.clone();
        if let Some(c) = named_mut(&mut doc, "clusters", &cluster, "cluster") {
            // kubectl refuses a cluster with both a CA file and CA data.
            if let Some(map) = c.as_object_mut() {
                map.remove("certificate-authority");
            }
            set(c, "certificate-authority-data", STANDARD.encode(ca_pem));
        }
        if let Some(u) = named_mut(&mut doc, "users", &user, "user") {
            if let Some(map) = u.as_object_mut() {
                map.remove("client-certificate-data");
                map.remove("client-key-data");
            }
            set(u, "client-certificate", cert_path.to_string());
            set(u, "client-key", key_path.to_string());
        }
        Ok(Kubeconfig { doc })
    }

    /// Returns the document with the embedded client certificate and key of each
    /// user in `users` replaced, and the CA data of every cluster a context pairs
    /// with one of them set to `ca_pem` (a `certificate-authority` path there is
    /// removed: kubectl refuses both). Other users, clusters and contexts stay.
    pub fn with_users_replaced(
        &self,
        users: &[String],
        cert_pem: &str,
        key_pem: &str,
        ca_pem: &[u8],
    ) -> Kubeconfig {
        let clusters: Vec<String> = self
            .doc
            .get("contexts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|c| c.get("context"))
            .filter(|c| users.contains(&str_field(c, "user")))
            .map(|c| str_field(c, "cluster"))
            .collect();
        let mut doc = self.doc.clone();
        for u in users {
            if let Some(v) = named_mut(&mut doc, "users", u, "user") {
                set(v, "client-certificate-data", STANDARD.encode(cert_pem));
                set(v, "client-key-data", STANDARD.encode(key_pem));
            }
        }
        for c in &clusters {
            if let Some(v) = named_mut(&mut doc, "clusters", c, "cluster") {
                if let Some(map) = v.as_object_mut() {
                    map.remove("certificate-authority");
                }
                set(v, "certificate-authority-data", STANDARD.encode(ca_pem));
            }
        }
        Kubeconfig { doc }
    }

    /// The document as YAML.
    pub fn to_yaml(&self) -> Result<String, KubeconfigError> {
        to_yaml(&self.doc).map_err(|e| KubeconfigError::Serialize(e.to_string()))
    }

    /// Builds a kubeconfig like the ones kubeadm writes.
    pub fn build(
        cluster: &str,
        server: &str,
        user: &str,
        ca_pem: &[u8],
        cert_pem: &str,
        key_pem: &str,
    ) -> Kubeconfig {
        let context = format!("{user}@{cluster}");
        let mut doc = serde_json::json!({
            "apiVersion": "v1",
            "clusters": [{
                "cluster": {
                    "certificate-authority-data": STANDARD.encode(ca_pem),
                    "server": server,
                },
                "name": cluster,
            }],
            "contexts": [{
                "context": { "cluster": cluster, "user": user },
                "name": context,
            }],
            "current-context": context,
            "kind": "Config",
            "preferences": {},
            "users": [{
                "name": user,
                "user": {
                    "client-certificate-data": STANDARD.encode(cert_pem),
                    "client-key-data": STANDARD.encode(key_pem),
                },
            }],
        });
        // Empty data is left out, as client-go writes it (omitempty): kubeadm's
        // generate-csr kubeconfigs hold only the key.
        if ca_pem.is_empty() {
            doc["clusters"][0]["cluster"]
                .as_object_mut()
                .map(|c| c.remove("certificate-authority-data"));
        }
        if cert_pem.is_empty() {
            doc["users"][0]["user"]
                .as_object_mut()
                .map(|u| u.remove("client-certificate-data"));
        }
        Kubeconfig { doc }
    }
}

/// YAML with plain one-line scalars (no folded `>-` blocks), as kubectl and kubeadm write it.
pub(crate) fn to_yaml<T: Serialize>(value: &T) -> Result<String, serde_saphyr::SerializeError> {
    let options = serde_saphyr::ser_options! { prefer_block_scalars: false };
    serde_saphyr::to_string_with_options(value, options)
}

fn data_field_name(field: &str) -> &'static str {
    match field {
        "certificate-authority" => "certificate-authority-data",
        "client-certificate" => "client-certificate-data",
        _ => "client-key-data",
    }
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().to_string()
}

fn str_field(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn opt_str(v: &Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// Finds `list[i][inner]` where `list[i].name == name`.
fn named<'a>(doc: &'a Value, list: &str, name: &str, inner: &str) -> Option<&'a Value> {
    doc.get(list)?
        .as_array()?
        .iter()
        .find(|item| item.get("name").and_then(Value::as_str) == Some(name))?
        .get(inner)
}

fn named_mut<'a>(doc: &'a mut Value, list: &str, name: &str, inner: &str) -> Option<&'a mut Value> {
    doc.get_mut(list)?
        .as_array_mut()?
        .iter_mut()
        .find(|item| item.get("name").and_then(Value::as_str) == Some(name))?
        .get_mut(inner)
}

fn set(v: &mut Value, key: &str, value: String) {
    if let Some(map) = v.as_object_mut() {
        map.insert(key.to_string(), Value::String(value));
    }
}

fn decode(v: &Value, field: &'static str, owner: &str) -> Result<Option<Vec<u8>>, KubeconfigError> {
    match v.get(field).and_then(Value::as_str) {
        None | Some("") => Ok(None),
        Some(s) => {
            // Hand-edited files sometimes wrap the base64; most do not.
            let decoded = if s.bytes().any(|b| b.is_ascii_whitespace()) {
                let compact: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
                STANDARD.decode(compact)
            } else {
                STANDARD.decode(s)
            };
            decoded.map(Some).map_err(|_| KubeconfigError::BadBase64 {
                field,
                owner: owner.to_string(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Kubeconfig {
        Kubeconfig::build(
            "kubernetes",
            "https://10.0.0.1:6443",
            "kubernetes-admin",
            b"CA",
            "CERT",
            "KEY",
        )
    }

    #[test]
    fn reads_current_credentials() {
        let cur = sample().current().unwrap();
        assert_eq!(cur.context, "kubernetes-admin@kubernetes");
        assert_eq!(cur.ca_data, b"CA");
        assert_eq!(cur.client_certificate_data, b"CERT");
        assert_eq!(cur.client_key_data.as_deref(), Some(&b"KEY"[..]));
        assert!(!format!("{cur:?}").contains("KEY\""));
    }

    #[test]
    fn replaces_only_the_current_user_and_keeps_unknown_fields() {
        let yaml = "apiVersion: v1\nkind: Config\nx-extra: {keep: me}\ncurrent-context: a\n\
            contexts:\n- name: a\n  context: {cluster: c, user: u}\n\
            clusters:\n- name: c\n  cluster: {server: 'https://h:6443', certificate-authority-data: Q0E=}\n\
            users:\n- name: other\n  user: {token: t}\n- name: u\n  user: {client-certificate-data: Q0VSVA==, client-key-data: S0VZ}\n";
        let kc = Kubeconfig::parse(yaml.as_bytes()).unwrap();
        let out = kc.with_credentials("NEWCERT", "NEWKEY", b"NEWCA").unwrap();
        let cur = out.current().unwrap();
        assert_eq!(cur.client_certificate_data, b"NEWCERT");
        assert_eq!(cur.client_key_data.as_deref(), Some(&b"NEWKEY"[..]));
        assert_eq!(cur.ca_data, b"NEWCA");
        let text = out.to_yaml().unwrap();
        assert!(text.contains("keep: me"), "{text}");
        assert!(text.contains("token: t"), "{text}");
        let again = Kubeconfig::parse(text.as_bytes()).unwrap();
        assert_eq!(again, out);
    }

    #[test]
    fn names_each_missing_piece() {
        let no_ctx = "apiVersion: v1\nkind: Config\n";
        assert_eq!(
            Kubeconfig::parse(no_ctx.as_bytes()).unwrap().current(),
            Err(KubeconfigError::NoCurrentContext)
        );
        let files = "current-context: a\ncontexts:\n- name: a\n  context: {cluster: c, user: u}\n\
            clusters:\n- name: c\n  cluster: {certificate-authority-data: Q0E=}\n\
            users:\n- name: u\n  user: {client-certificate: /var/lib/kubelet/pki/kubelet-client-current.pem}\n";
        let err = Kubeconfig::parse(files.as_bytes())
            .unwrap()
            .current()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "does not have an embedded client certificate (user u; it refers to the file \
             /var/lib/kubelet/pki/kubelet-client-current.pem, which kcerts does not follow)"
        );
        let entries = Kubeconfig::parse(files.as_bytes())
            .unwrap()
            .entries()
            .unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(
            entries[1].material,
            Material::File {
                path: "/var/lib/kubelet/pki/kubelet-client-current.pem".into()
            }
        );
    }

    #[test]
    fn rejects_alias_bombs_and_non_mappings() {
        let bomb = crate::kubeadm::yaml::billion_laughs();
        assert!(matches!(
            Kubeconfig::parse(bomb.as_bytes()),
            Err(KubeconfigError::Yaml(_))
        ));
        assert_eq!(
            Kubeconfig::parse(b"- a\n- b\n"),
            Err(KubeconfigError::NotAMapping)
        );
        assert!(matches!(
            Kubeconfig::parse(&[0xff, 0xfe]),
            Err(KubeconfigError::NotText(_))
        ));
    }
}
