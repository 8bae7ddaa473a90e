//! `renew --expiring-within`: pick the rows that are due.

use anyhow::Result;
use kcerts_core::NodeFiles;
use kcerts_core::inventory::Row;
use time::{Duration, OffsetDateTime};

use crate::report::out::outln;

/// The rows due for renewal, or `None` (after saying so) when nothing is due.
pub fn select(
    files: &NodeFiles,
    rows: Vec<&'static Row>,
    window: Option<Duration>,
    now: OffsetDateTime,
) -> Result<Option<Vec<&'static Row>>> {
    let Some(window) = window else {
        return Ok(Some(rows));
    };
    let text = if window.whole_seconds() % 86_400 == 0 {
        format!("{}d", window.whole_days())
    } else {
        kcerts_core::duration::format_go(window)
    };
    let due = kcerts_core::expiring::rows_expiring_within(files, &rows, now, window);
    if due.is_empty() {
        outln!("[renew] no certificate expires within {text}; nothing to do")?;
        return Ok(None);
    }
    let names: Vec<&str> = due.iter().map(|r| r.name).collect();
    outln!("[renew] expiring within {text}: {}", names.join(", "))?;
    Ok(Some(due))
}
