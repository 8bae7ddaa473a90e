//! `--fleet` and `--force` of the rotation phases that start signing with the
//! new CA or key (`ca rotate reissue`, `sa rotate switch`) and of `sa rotate
//! finish`: the proof that the phase may run now, or the override.

/// The proof a rotation phase needs before it changes anything.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct OrderArgs {
    /// reissue (ca) / switch (sa): a copy of each control-plane node's /etc/kubernetes,
    /// [NAME=]DIR or [NAME=]ARCHIVE as `kcerts fleet` takes them, proving that every node
    /// trusts the new CA or key; this node's own copy, when given, counts as its files
    /// after the phase. Repeat it or give several.
    #[arg(long, value_name = "NODE", num_args = 1..)]
    pub fleet: Vec<String>,
    /// reissue/switch: run without proof that every control-plane node trusts the new
    /// CA or key; sa finish: without waiting until tokens signed by the old key have
    /// expired. Says so on stderr.
    #[arg(long)]
    pub force: bool,
}
