//! `kcerts completions SHELL` and `kcerts man`, generated from the clap definition.

use anyhow::Result;

use crate::report::exit::Code;

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

pub fn completions(a: CompletionArgs, mut cmd: clap::Command) -> Result<Code> {
    let mut script = Vec::new();
    clap_complete::generate(a.shell, &mut cmd, "kcerts", &mut script);
    crate::report::out::print(script)?;
    Ok(Code::Ok)
}

pub fn man(a: ManArgs, cmd: clap::Command) -> Result<Code> {
    match a.dir {
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(cmd).render(&mut page)?;
            crate::report::out::print(page)?;
        }
        Some(dir) => {
            std::fs::create_dir_all(&dir)?;
            clap_mangen::generate_to(cmd, &dir)?;
        }
    }
    Ok(Code::Ok)
}
