//! `--wait` and `--stop-wait`: the bounds of each wait of a restart.

use std::time::Duration;

use crate::flags::value;

/// How long each wait may last, and how often to look.
#[derive(Debug, Clone, Copy)]
pub struct Waits {
    /// Until the endpoint stops answering after the manifest is moved away.
    pub stop: Duration,
    /// Until the endpoint serves the file on disk and is healthy again.
    pub start: Duration,
    /// Between two probes.
    pub poll: Duration,
}

/// The wait flags shared by `restart` and `renew --restart`.
#[derive(Debug, Clone, clap::Args)]
pub struct WaitArgs {
    /// How long to wait for each component to come back healthy with the new
    /// certificate.
    #[arg(long, default_value = "3m", value_parser = value::parse_duration, value_name = "DURATION")]
    pub wait: time::Duration,
    /// How long to wait for each component to stop once its manifest is moved away
    /// (the kubelet looks at the manifests every 20 s by default).
    #[arg(long, default_value = "60s", value_parser = value::parse_duration, value_name = "DURATION")]
    pub stop_wait: time::Duration,
}

impl WaitArgs {
    /// The waits, polling every 250 ms.
    pub fn waits(&self) -> Waits {
        let d = |t: time::Duration| Duration::from_millis(t.whole_milliseconds().max(0) as u64);
        Waits {
            stop: d(self.stop_wait),
            start: d(self.wait),
            poll: Duration::from_millis(250),
        }
    }
}
