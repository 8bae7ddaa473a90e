//! `kcerts restart COMPONENT...|all`: restart static pods the kubeadm way, one at
//! a time, each checked (the engine is `node::restart`).

use anyhow::{Context, Result};
use kcerts_core::static_pod::Component;

use crate::flags::DirArgs;
use crate::flags::endpoints::EndpointArgs;
use crate::flags::waits::WaitArgs;
use crate::fsio::{self, hold};
use crate::node::endpoints::Endpoints;
use crate::node::restart::{self, Request};
use crate::report::Hinted;
use crate::report::exit::Code;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Components: etcd, apiserver, controller-manager, scheduler (or their pod \
names kube-apiserver...), or all; restarted in that order, one at a time, whatever the order given.\n\n\
Beyond kubeadm (which only says \"You must restart...\"): each manifest is moved to \
<kubeconfig-dir>/tmp/kcerts-restart, kcerts waits until the component stops answering \
(--stop-wait), moves the manifest back, and waits until the component serves the certificate on \
disk and its health path (/health, /livez, /healthz) answers ok (--wait). A manifest is never \
lost: a journal (<kubeconfig-dir>/tmp/kcerts-restart-pending) records the one held, and \
`kcerts restart --recover` or the next restart puts it back. On a timeout the manifest is put \
back and kcerts stops with an error. Only this node's etcd member is restarted, so an etcd \
cluster never loses more than one member at a time."
)]
pub struct Args {
    /// Components to restart: all, or etcd, apiserver, controller-manager, scheduler.
    #[arg(value_name = "all|COMPONENT", required_unless_present = "recover")]
    components: Vec<String>,
    #[command(flatten)]
    dirs: DirArgs,
    #[command(flatten)]
    endpoints: EndpointArgs,
    #[command(flatten)]
    waits: WaitArgs,
    /// Print the plan and change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Only put back a manifest an interrupted restart left in the holding directory.
    #[arg(long, conflicts_with = "dry_run")]
    recover: bool,
}

/// `all` or names, as components.
pub fn parse_components(names: &[String]) -> Result<Vec<Component>> {
    if names.iter().any(|n| n == "all") {
        return Ok(Component::ALL.to_vec());
    }
    names
        .iter()
        .map(|n| {
            Component::from_name(n).ok_or_else(|| {
                Hinted {
                    message: format!("unknown component {n:?}"),
                    hint: "use all, etcd, apiserver, controller-manager or scheduler".into(),
                }
                .into()
            })
        })
        .collect()
}

pub fn run(a: Args) -> Result<Code> {
    let dirs = a.dirs.dirs();
    let endpoints = Endpoints::resolve(&a.endpoints, &dirs);
    let mut components = parse_components(&a.components)?;
    if a.components.iter().any(|n| n == "all") {
        // External etcd: nothing of etcd runs here.
        let files = dirs.load();
        if kcerts_core::node_loader::is_external_etcd(&files)
            && !restart::manifest_path(&endpoints, Component::Etcd).exists()
        {
            components.retain(|c| *c != Component::Etcd);
        }
    }
    let req = Request {
        components: &components,
        endpoints: &endpoints,
        dirs: &dirs,
        waits: a.waits.waits(),
    };
    if a.dry_run {
        if let Ok(j) = std::fs::read_to_string(hold::journal_path(&dirs)) {
            println!(
                "[dry-run] would first put back the manifest an interrupted restart left: {}",
                j.trim_end()
            );
        }
        for l in restart::plan_lines(&req) {
            println!("{l}");
        }
        return Ok(Code::Ok);
    }
    let _lock = fsio::lock::lock_node(&dirs)?;
    if a.recover {
        match hold::recover(&dirs).context("cannot recover")? {
            Some(r) => println!("{}", restart::recovered_line(&r)),
            None => println!("[restart] no interrupted restart: nothing to put back"),
        }
        return Ok(Code::Ok);
    }
    restart::run_restart(&req)?;
    Ok(Code::Ok)
}
