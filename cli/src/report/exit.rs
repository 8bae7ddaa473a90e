//! Exit codes for scripts and monitoring: what every subcommand's `run` returns.

use kcerts_core::verify::Status;

/// How `kcerts` exits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// 0: everything fine.
    Ok,
    /// 1: kcerts could not do its job: bad arguments, a file that cannot be read
    /// or parsed, a refused renewal (already reported on stderr).
    Error,
    /// 2: something needs attention: expiry within `--warn`, a `warn` row of verify.
    Warning,
    /// 3: something is broken or about to be: expiry within `--crit` or past, a `fail` row.
    Critical,
}

impl Code {
    /// 0 for `pass`, 2 for `warn`, 3 for `fail`.
    pub fn of(status: Status) -> Self {
        match status {
            Status::Pass => Self::Ok,
            Status::Warn => Self::Warning,
            Status::Fail => Self::Critical,
        }
    }
}

impl From<Code> for std::process::ExitCode {
    fn from(code: Code) -> Self {
        Self::from(match code {
            Code::Ok => 0,
            Code::Error => 1,
            Code::Warning => 2,
            Code::Critical => 3,
        })
    }
}
