//! `--color auto|always|never` and the colours of `pass`, `warn`, `fail`,
//! `critical` and `warning` at the start of a line.

use std::io::IsTerminal;

/// `--color auto|always|never`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    /// Colour when stdout is a terminal and NO_COLOR is unset or empty.
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

/// Whether to colour stdout (<https://no-color.org>: an explicit flag beats NO_COLOR).
pub fn color_enabled(choice: ColorChoice) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::io::stdout().is_terminal()
        }
    }
}

/// Colours the words `pass`, `warn`, `fail`, `critical` and `warning` where a line starts with them.
pub fn paint(text: &str) -> String {
    const WORDS: [(&str, &str); 5] = [
        ("pass", "32"),
        ("warn", "33"),
        ("fail", "1;31"),
        ("  critical", "1;31"),
        ("  warning", "33"),
    ];
    let mut out = String::with_capacity(text.len() + 64);
    for line in text.split_inclusive('\n') {
        match WORDS.iter().find(|(w, _)| {
            line.strip_prefix(w)
                .is_some_and(|rest| rest.starts_with([' ', ':']))
        }) {
            Some((w, code)) => {
                let trimmed = w.trim_start();
                let indent = &w[..w.len() - trimmed.len()];
                out.push_str(&format!(
                    "{indent}\x1b[{code}m{trimmed}\x1b[0m{}",
                    &line[w.len()..]
                ));
            }
            None => out.push_str(line),
        }
    }
    out
}
