//! Reading and editing the command-line flags of kubeadm's static pod manifests
//! (`/etc/kubernetes/manifests/*.yaml`), line by line.
//!
//! kubeadm writes each flag as one list item, `    - --name=value`, under the
//! container's `command:`. Editing those lines as text keeps every other byte of
//! the file (comments, field order, the kubelet's own additions) as it was; the
//! result is read back with the YAML reader so an edit never leaves a broken file.

use thiserror::Error;

use crate::kubeadm::yaml;

/// Why a manifest could not be read or edited.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ManifestError {
    /// The flag the edit needs is not in the manifest.
    #[error(
        "has no `--{flag}` flag; edit it by hand or regenerate it with `kubeadm init phase control-plane`"
    )]
    MissingFlag {
        /// The flag's name, without dashes.
        flag: String,
    },
    /// The edited text no longer parses (never expected: a guard, not a path).
    #[error("would no longer be valid YAML after the edit: {0}")]
    Broken(String),
    /// The manifest is not UTF-8 text.
    #[error("is not UTF-8 text")]
    NotText,
}

/// One `- --name=value` line.
struct FlagLine<'a> {
    indent: &'a str,
    name: &'a str,
    value: &'a str,
}

fn flag_line(line: &str) -> Option<FlagLine<'_>> {
    let trimmed = line.trim_start();
    let indent = &line[..line.len() - trimmed.len()];
    let rest = trimmed.strip_prefix("- --")?;
    let (name, value) = rest.split_once('=')?;
    Some(FlagLine {
        indent,
        name,
        value: value.trim_end_matches(['\r', ' ']),
    })
}

/// Every value the manifest gives `--flag`, in order.
pub fn flag_values(manifest: &[u8], flag: &str) -> Vec<String> {
    let Ok(text) = std::str::from_utf8(manifest) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(flag_line)
        .filter(|l| l.name == flag)
        .map(|l| l.value.trim_matches('"').to_string())
        .collect()
}

fn text(manifest: &[u8]) -> Result<&str, ManifestError> {
    std::str::from_utf8(manifest).map_err(|_| ManifestError::NotText)
}

fn checked(out: String) -> Result<Vec<u8>, ManifestError> {
    yaml::parse(&out, yaml::Limits::default()).map_err(|e| ManifestError::Broken(e.to_string()))?;
    Ok(out.into_bytes())
}

fn rebuild<'a>(lines: impl Iterator<Item = std::borrow::Cow<'a, str>>, trailing: bool) -> String {
    let mut out = String::new();
    for l in lines {
        out.push_str(&l);
        out.push('\n');
    }
    if !trailing {
        out.pop();
    }
    out
}

/// Sets every `--flag=` line (there is one in kubeadm's manifests) to `value`.
pub fn set_flag(manifest: &[u8], flag: &str, value: &str) -> Result<Vec<u8>, ManifestError> {
    let text = text(manifest)?;
    let mut found = false;
    let lines = text.lines().map(|line| match flag_line(line) {
        Some(l) if l.name == flag => {
            found = true;
            std::borrow::Cow::Owned(format!("{}- --{flag}={value}", l.indent))
        }
        _ => std::borrow::Cow::Borrowed(line),
    });
    let out = rebuild(lines.collect::<Vec<_>>().into_iter(), text.ends_with('\n'));
    if !found {
        return Err(ManifestError::MissingFlag { flag: flag.into() });
    }
    checked(out)
}

/// Adds `--flag=value` after the last `--flag=` line, unless that exact line is
/// there already (so a re-run changes nothing).
pub fn add_flag(manifest: &[u8], flag: &str, value: &str) -> Result<Vec<u8>, ManifestError> {
    let text = text(manifest)?;
    if flag_values(manifest, flag).iter().any(|v| v == value) {
        return Ok(manifest.to_vec());
    }
    let lines: Vec<&str> = text.lines().collect();
    let Some(last) = lines
        .iter()
        .rposition(|l| flag_line(l).is_some_and(|f| f.name == flag))
    else {
        return Err(ManifestError::MissingFlag { flag: flag.into() });
    };
    let indent = flag_line(lines[last]).map_or("", |f| f.indent);
    let added = format!("{indent}- --{flag}={value}");
    let mut out: Vec<std::borrow::Cow<'_, str>> = lines.iter().map(|l| (*l).into()).collect();
    out.insert(last + 1, added.into());
    checked(rebuild(out.into_iter(), text.ends_with('\n')))
}

/// Removes the `--flag=value` line (only that value; the flag's other lines stay).
pub fn remove_flag(manifest: &[u8], flag: &str, value: &str) -> Result<Vec<u8>, ManifestError> {
    let text = text(manifest)?;
    let lines = text.lines().filter(|line| {
        !flag_line(line).is_some_and(|l| l.name == flag && l.value.trim_matches('"') == value)
    });
    checked(rebuild(
        lines.map(std::borrow::Cow::Borrowed),
        text.ends_with('\n'),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KCM: &str = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: kube-controller-manager\n  namespace: kube-system\nspec:\n  containers:\n  - command:\n    - kube-controller-manager\n    - --cluster-signing-cert-file=/etc/kubernetes/pki/ca.crt\n    - --cluster-signing-key-file=/etc/kubernetes/pki/ca.key\n    - --root-ca-file=/etc/kubernetes/pki/ca.crt\n    image: registry.k8s.io/kube-controller-manager:v1.32.0\n    name: kube-controller-manager\n";

    #[test]
    fn set_changes_only_the_flag_line() {
        let out = set_flag(
            KCM.as_bytes(),
            "cluster-signing-cert-file",
            "/etc/kubernetes/pki/ca-signing.crt",
        )
        .unwrap();
        let out = String::from_utf8(out).unwrap();
        assert_eq!(
            out,
            KCM.replace(
                "cluster-signing-cert-file=/etc/kubernetes/pki/ca.crt",
                "cluster-signing-cert-file=/etc/kubernetes/pki/ca-signing.crt"
            )
        );
        assert_eq!(
            flag_values(out.as_bytes(), "root-ca-file"),
            ["/etc/kubernetes/pki/ca.crt"]
        );
    }

    #[test]
    fn add_is_idempotent_and_remove_undoes_it() {
        let once = add_flag(KCM.as_bytes(), "root-ca-file", "/x.crt").unwrap();
        let twice = add_flag(&once, "root-ca-file", "/x.crt").unwrap();
        assert_eq!(once, twice);
        assert_eq!(
            flag_values(&once, "root-ca-file"),
            ["/etc/kubernetes/pki/ca.crt", "/x.crt"]
        );
        let back = remove_flag(&once, "root-ca-file", "/x.crt").unwrap();
        assert_eq!(back, KCM.as_bytes());
    }

    #[test]
    fn a_missing_flag_is_an_error_naming_it() {
        let e = set_flag(KCM.as_bytes(), "service-account-key-file", "/x").unwrap_err();
        assert!(e.to_string().contains("--service-account-key-file"));
        assert!(add_flag(b"\xff", "a", "b").is_err());
    }
}
