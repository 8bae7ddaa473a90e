//! Child processes waited for at most a limit: killed, and the test failed with
//! their output, when they overstay.

use std::process::{Child, Output};
use std::time::{Duration, Instant};

use crate::{stderr, stdout};

/// Waits for the child at most `limit`, killing it when it overstays.
pub fn finish(mut child: Child, limit: Duration) -> Output {
    let end = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() >= end {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "kcerts did not finish within {limit:?}\nstdout:\n{}\nstderr:\n{}",
                stdout(&out),
                stderr(&out)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}
