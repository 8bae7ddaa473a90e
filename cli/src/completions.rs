//! `kcerts completions SHELL` and `kcerts man`, generated from the clap definition.

use anyhow::Result;
use clap::CommandFactory;

#[derive(Debug, clap::Args)]
pub struct CompletionArgs {
    /// The shell.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Writes kcerts.1 to stdout, or with --dir one page per command \
(kcerts.1, kcerts-verify.1, ...). Install with e.g. `kcerts man --dir /usr/local/share/man/man1`."
)]
pub struct ManArgs {
    /// Write kcerts.1 and a page per subcommand into this directory.
    #[arg(long, value_name = "DIR")]
    dir: Option<std::path::PathBuf>,
}

pub fn completions(a: CompletionArgs) -> Result<()> {
    let mut cmd = crate::Cli::command();
    clap_complete::generate(a.shell, &mut cmd, "kcerts", &mut std::io::stdout());
    Ok(())
}

pub fn man(a: ManArgs) -> Result<()> {
    let cmd = crate::Cli::command();
    match a.dir {
        None => {
            clap_mangen::Man::new(cmd).render(&mut std::io::stdout())?;
        }
        Some(dir) => {
            std::fs::create_dir_all(&dir)?;
            clap_mangen::generate_to(cmd, &dir)?;
        }
    }
    Ok(())
}
