//! Watches of the fake API server: a chunked stream of events from a
//! resourceVersion on (the current objects first when none is given), ended by
//! `timeoutSeconds`, [`super::Options::watch_cap`] or the server stopping, and
//! 410 Expired errors on demand ([`super::Options::expire_watches`]).

use std::io::{self, Write};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::Shared;
use super::http::{Request, Tls};
use super::routes::{matches, selected, status};

/// A chunked stream of watch events from `resourceVersion` on, until
/// `timeoutSeconds` (or [`Options::watch_cap`]) or the server stops.
pub(super) fn watch(tls: &mut Tls, req: &Request, shared: &Shared) -> io::Result<()> {
    let name = selected(req);
    let secs: u64 = req
        .query
        .get("timeoutSeconds")
        .and_then(|s| s.parse().ok())
        .unwrap_or(1800);
    let mut limit = Duration::from_secs(secs);
    if let Some(cap) = shared.opts.watch_cap {
        limit = limit.min(cap);
    }
    let end = Instant::now() + limit;
    tls.write_all(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
    )?;
    let send = |tls: &mut Tls, ev: Value| -> io::Result<()> {
        let mut line = serde_json::to_vec(&ev).unwrap_or_default();
        line.push(b'\n');
        tls.write_all(format!("{:x}\r\n", line.len()).as_bytes())?;
        tls.write_all(&line)?;
        tls.write_all(b"\r\n")?;
        tls.flush()
    };
    let rv_param = req
        .query
        .get("resourceVersion")
        .cloned()
        .unwrap_or_default();
    let mut since: u64;
    {
        let mut st = shared.state.lock().unwrap();
        if st.expire_watches > 0 {
            st.expire_watches -= 1;
            drop(st);
            let (_, s) = status(
                410,
                "Expired",
                &format!("too old resource version: {rv_param}"),
            );
            send(tls, json!({"type": "ERROR", "object": s}))?;
            return tls.write_all(b"0\r\n\r\n");
        }
        if rv_param.is_empty() || rv_param == "0" {
            // No version: the current state as ADDED events, then changes.
            since = st.version;
            let current: Vec<Value> = st
                .objects
                .values()
                .filter(|o| matches(o, &name))
                .cloned()
                .collect();
            drop(st);
            for o in current {
                send(tls, json!({"type": "ADDED", "object": o}))?;
            }
        } else {
            since = rv_param.parse().unwrap_or(0);
        }
    }
    loop {
        let pending: Vec<(u64, &'static str, Value)> = {
            let st = shared.state.lock().unwrap();
            let fresh: Vec<_> = st
                .events
                .iter()
                .filter(|(v, _, o)| *v > since && matches(o, &name))
                .cloned()
                .collect();
            if fresh.is_empty() {
                if shared.stop.load(Ordering::SeqCst) || Instant::now() >= end {
                    break;
                }
                let wait = end
                    .saturating_duration_since(Instant::now())
                    .min(Duration::from_millis(200));
                let _ = shared.changed.wait_timeout(st, wait).unwrap();
                continue;
            }
            fresh
        };
        for (v, kind, obj) in pending {
            since = v;
            send(tls, json!({"type": kind, "object": obj}))?;
        }
    }
    tls.write_all(b"0\r\n\r\n")
}
