//! `kcerts inspect`: everything in a set of certificate, key, CSR and kubeconfig
//! files (built on [`crate::check::analysis::analyze`], which the web page shows
//! too). Its text and JSON forms are in `render::inspect_output`.

use time::OffsetDateTime;

use crate::check::analysis::{self, Analysis, InputFile, ItemKind};
use crate::check::verify::Thresholds;

/// Inspects `files` as of `now`.
///
/// Certificates found at kubeadm paths get their role, but the node report is
/// left out: a few files from `/etc/kubernetes/pki` are not a whole node, and
/// `verify` is the command that judges one.
pub fn inspect(files: &[InputFile<'_>], now: OffsetDateTime) -> Analysis {
    inspect_with(files, now, Thresholds::default())
}

/// [`inspect`], judging expiry with `thresholds` (`--warn`/`--crit`).
pub fn inspect_with(
    files: &[InputFile<'_>],
    now: OffsetDateTime,
    thresholds: Thresholds,
) -> Analysis {
    let mut a = analysis::analyze_with_progress(files, &[], now, thresholds, &mut |_, _| {});
    a.nodes.clear();
    a.warnings
        .retain(|w| !matches!(w.kind, analysis::WarningKind::NodeFile { .. }));
    a
}

/// Whether anything could not be understood (the CLI exits 1 then).
pub fn has_errors(a: &Analysis) -> bool {
    a.items.iter().any(|i| i.kind == ItemKind::Error)
}
