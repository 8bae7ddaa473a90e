//! A leaf, the intermediates its file carries, and a root: does the leaf chain
//! to the root, and is every link valid now? kubeadm accepts such a leaf file
//! under an external CA (pkiutil.TryLoadCertChainFromDisk, then VerifyCertChain
//! with the CA as the only root); errors read like Go's `x509` ones.

use thiserror::Error;
use time::OffsetDateTime;

use crate::x509::certificate::Certificate;

/// Why a chain does not verify.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ChainError {
    /// No path of signatures leads from the leaf to the root.
    #[error("x509: certificate signed by unknown authority")]
    UnknownAuthority,
    /// A certificate on the path is outside its validity period.
    #[error(
        "x509: certificate has expired or is not yet valid: current time {now} is {relation} {bound}"
    )]
    OutsideValidity {
        /// `now` in RFC 3339.
        now: String,
        /// `after` (expired) or `before` (not yet valid).
        relation: &'static str,
        /// The bound crossed, in RFC 3339.
        bound: String,
    },
}

/// The path from `leaf` to `root` through `intermediates`: the certificates
/// above the leaf, root last. Only signatures are checked here.
pub fn path<'a>(
    leaf: &'a Certificate,
    intermediates: &'a [Certificate],
    root: &'a Certificate,
) -> Result<Vec<&'a Certificate>, ChainError> {
    let mut current = leaf;
    let mut used = vec![false; intermediates.len()];
    let mut above = Vec::new();
    // Each step uses an intermediate at most once, so the walk ends.
    loop {
        if current.verify_signed_by(root).is_ok() {
            above.push(root);
            return Ok(above);
        }
        let next = intermediates
            .iter()
            .enumerate()
            .find(|(i, c)| !used[*i] && c.is_ca && current.verify_signed_by(c).is_ok());
        match next {
            Some((i, c)) => {
                used[i] = true;
                above.push(c);
                current = c;
            }
            None => return Err(ChainError::UnknownAuthority),
        }
    }
}

/// [`path`], then every certificate on it (leaf and root too) valid at `now`,
/// as Go's `Certificate.Verify` checks them.
pub fn verify(
    leaf: &Certificate,
    intermediates: &[Certificate],
    root: &Certificate,
    now: OffsetDateTime,
) -> Result<(), ChainError> {
    let above = path(leaf, intermediates, root)?;
    for c in std::iter::once(leaf).chain(above) {
        let (relation, bound) = if now > c.not_after {
            ("after", c.not_after)
        } else if now < c.not_before {
            ("before", c.not_before)
        } else {
            continue;
        };
        return Err(ChainError::OutsideValidity {
            now: rfc3339(now),
            relation,
            bound: rfc3339(bound),
        });
    }
    Ok(())
}

/// Go's `time.RFC3339` in UTC: whole seconds, `Z`.
fn rfc3339(t: OffsetDateTime) -> String {
    utc_with(t, "T", "Z")
}

/// A time in UTC to whole seconds as Go prints it: the date, `separator`, the
/// time, then `zone` (`T` and `Z` for RFC 3339; ` ` and ` +0000 UTC` for
/// `time.Time.String()`).
pub(crate) fn utc_with(t: OffsetDateTime, separator: &str, zone: &str) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}{separator}{:02}:{:02}:{:02}{zone}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}
