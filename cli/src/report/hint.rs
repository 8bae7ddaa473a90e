//! Errors that come with a hint: `error: MESSAGE` and then `hint: WHAT TO DO`.
//! Every error ends the command with exit code 1 ([`crate::report::exit::Code::Error`]).

/// An error with a hint line for the user.
#[derive(Debug)]
pub struct Hinted {
    pub message: String,
    pub hint: String,
}

impl std::fmt::Display for Hinted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Hinted {}

/// Prints an error on stderr: `error: ...` with its causes, or the message and
/// the hint line of a [`Hinted`] error.
pub fn report(e: &anyhow::Error) {
    if let Some(h) = e.downcast_ref::<Hinted>() {
        eprintln!("error: {}", h.message);
        eprintln!("hint: {}", h.hint);
    } else {
        eprintln!("error: {e:#}");
    }
}
