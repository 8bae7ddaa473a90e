//! The one way the CLI writes to stdout. A reader that went away (`kcerts
//! check-expiration | head -1`) is not an error: the rest of the output is
//! dropped, the command goes on and exits as it would have, without a panic or
//! a message (like `cat`). Any other write error is returned.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result};

/// Set once stdout turned out to be a closed pipe.
static CLOSED: AtomicBool = AtomicBool::new(false);

/// Stdout as a writer, for output that streams (`inspect --summary`): writes to
/// a closed pipe succeed and do nothing.
pub struct Stdout;

impl Stdout {
    fn absorb<T>(r: io::Result<T>, done: T) -> io::Result<T> {
        match r {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                CLOSED.store(true, Ordering::SeqCst);
                Ok(done)
            }
            r => r,
        }
    }
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if closed() {
            return Ok(buf.len());
        }
        Self::absorb(io::stdout().lock().write(buf), buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if closed() {
            return Ok(());
        }
        Self::absorb(io::stdout().lock().flush(), ())
    }
}

/// Whether stdout is a closed pipe (streaming output can stop early).
pub fn closed() -> bool {
    CLOSED.load(Ordering::SeqCst)
}

/// Writes `text` to stdout and flushes it.
pub fn print(text: impl AsRef<[u8]>) -> Result<()> {
    let mut out = Stdout;
    out.write_all(text.as_ref())
        .and_then(|()| out.flush())
        .context("cannot write the output")
}

/// `outln!("...", args)`: one line to stdout through [`print`]; evaluates to
/// `anyhow::Result<()>`.
macro_rules! outln {
    () => {
        $crate::report::out::print("\n")
    };
    ($($arg:tt)*) => {
        $crate::report::out::print(&format!("{}\n", format_args!($($arg)*)))
    };
}

pub(crate) use outln;
