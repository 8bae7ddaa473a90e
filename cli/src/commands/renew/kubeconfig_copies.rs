//! `renew ... --update-kubeconfig PATH`: copies of admin.conf (`~/.kube/config`)
//! rewritten with the renewed credentials in the same journaled transaction as
//! the renewal. Which users of a copy are admin.conf's is the core's rule
//! (`admin_copy`).

use std::path::{Path, PathBuf};

use anyhow::Result;
use kcerts_core::admin_copy;
use kcerts_core::kubeconfig::Kubeconfig;
use kcerts_core::node::{FileContent, NodePath};
use kcerts_core::renewal::{Outcome, RowPlan};
use kcerts_core::{NodeFiles, certificate};

use crate::fsio::txn::{Content, Op};
use crate::fsio::{self, NodeDirs};
use crate::report::Hinted;

/// The copies to rewrite: their writes and the directories they live in.
pub struct CopyWrites {
    /// One write per copy.
    pub ops: Vec<Op>,
    /// The directories of the copies (extra roots of the transaction).
    pub roots: Vec<PathBuf>,
    /// What to print once written, one line per copy.
    pub lines: Vec<String>,
}

/// Plans the rewrite of every copy in `paths` from the renewal `plans`, with
/// `before` the node's files as they were before renewing. Nothing is planned
/// when admin.conf is not renewed. Any copy that cannot be updated (missing,
/// unreadable, no user holding admin.conf's credentials) is an error before
/// anything is written.
pub fn plan(
    paths: &[PathBuf],
    dirs: &NodeDirs,
    before: &NodeFiles,
    plans: &[RowPlan],
) -> Result<CopyWrites> {
    let mut out = CopyWrites {
        ops: Vec::new(),
        roots: Vec::new(),
        lines: Vec::new(),
    };
    if paths.is_empty() {
        return Ok(out);
    }
    let admin_path = NodePath::kubeconfig("admin.conf");
    let new_admin = plans.iter().find_map(|p| match &p.outcome {
        Outcome::Renewed { writes, .. } => writes.iter().find(|w| w.path == admin_path),
        _ => None,
    });
    let Some(new_admin) = new_admin else {
        for p in paths {
            out.lines.push(format!(
                "[renew] admin.conf was not renewed: {} left as it is",
                p.display()
            ));
        }
        return Ok(out);
    };
    let unusable = |what: String| Hinted {
        message: format!("cannot update admin.conf's copies: {what}"),
        hint: "nothing was written; fix the file or leave it out of --update-kubeconfig".into(),
    };
    let old_admin = match before.get(&admin_path) {
        Some(FileContent::Bytes(b)) => Kubeconfig::parse(b)
            .and_then(|k| k.current())
            .map_err(|e| unusable(format!("admin.conf: {e}")))?,
        _ => return Err(unusable("admin.conf cannot be read".into()).into()),
    };
    let old_cert = certificate::parse_first(&old_admin.client_certificate_data)
        .map_err(|e| unusable(format!("admin.conf's certificate: {e}")))?;
    let new = Kubeconfig::parse(&new_admin.bytes)
        .and_then(|k| Ok((k.current()?, k.current_cluster_ca()?.1)))
        .map_err(|e| unusable(format!("the renewed admin.conf: {e}")))?;
    let (creds, ca) = new;
    let cert_pem = String::from_utf8_lossy(&creds.client_certificate_data).into_owned();
    let key_pem =
        String::from_utf8_lossy(creds.client_key_data.as_deref().unwrap_or_default()).into_owned();
    let admin_real = std::fs::canonicalize(dirs.path(&admin_path)).ok();
    for (i, path) in paths.iter().enumerate() {
        let shown = path.display();
        let real = std::fs::canonicalize(path).ok();
        if real.is_some() && real == admin_real {
            out.lines.push(format!(
                "[renew] {shown} is admin.conf itself (a link): nothing more to update"
            ));
            continue;
        }
        let bytes = match fsio::read_content(path) {
            Some(FileContent::Bytes(b)) => b,
            Some(FileContent::Unreadable(e)) => {
                return Err(unusable(format!("{shown} cannot be read: {e}")).into());
            }
            None => return Err(unusable(format!("{shown} does not exist")).into()),
        };
        let updated = admin_copy::update(&bytes, &old_cert, &cert_pem, &key_pem, &ca)
            .map_err(|e| unusable(format!("{shown} {e}")))?;
        if let Some(dir) = real.as_deref().and_then(Path::parent) {
            out.roots.push(dir.to_path_buf());
        }
        out.ops.push(Op {
            target: path.clone(),
            rel: format!("kubeconfig-copies/{i}/{}", file_name(path)),
            // A copy holds a private key: 0600 like admin.conf (its owner is kept).
            content: Content::File {
                bytes: updated.yaml.into_bytes(),
                secret: true,
            },
        });
        out.lines.push(format!(
            "[renew] {shown}: user {} now holds the renewed admin.conf credentials",
            updated.users.join(", ")
        ));
    }
    Ok(out)
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map_or_else(|| "copy".into(), |n| n.to_string_lossy().into_owned())
}
