//! Test hook for fault injection into the renewal's durable steps. Never set in
//! production: with neither variable set, [`step`] does nothing.
//!
//! - `KCERTS_TEST_FAULT_STEP=N`: step N (1-based, counted over the whole run) is
//!   not done. With `KCERTS_TEST_FAULT_MODE=error` (the default) it fails as a
//!   failing write would ("injected fault"); with `KCERTS_TEST_FAULT_MODE=hang` the
//!   process prints `kcerts-test: paused before step N (<what>)` on stderr and
//!   sleeps, so a test can SIGKILL it at exactly that point.
//! - `KCERTS_TEST_FAULT_TRACE=1`: prints every step on stderr (`kcerts-test: step
//!   N: <what>`), to count them.

use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Result, bail};

static STEPS: AtomicUsize = AtomicUsize::new(0);

/// Marks the start of one durable step (a backup copy, the journal, a staged
/// file, a rename...). Fails or pauses when the test hook asks for it.
pub fn step(what: &dyn std::fmt::Display) -> Result<()> {
    let n = STEPS.fetch_add(1, Ordering::SeqCst) + 1;
    if std::env::var_os("KCERTS_TEST_FAULT_TRACE").is_some() {
        eprintln!("kcerts-test: step {n}: {what}");
    }
    let Some(at) = std::env::var("KCERTS_TEST_FAULT_STEP")
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
    else {
        return Ok(());
    };
    if n != at {
        return Ok(());
    }
    if std::env::var("KCERTS_TEST_FAULT_MODE").as_deref() == Ok("hang") {
        eprintln!("kcerts-test: paused before step {n} ({what})");
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
    bail!("injected fault before step {n} ({what}) (KCERTS_TEST_FAULT_STEP)")
}
