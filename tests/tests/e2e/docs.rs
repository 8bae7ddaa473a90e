//! Docs tests: every `console` block of README.md, CONTRIBUTING.md and docs/*.md is
//! run against a fixture node at a fixed time and its output compared, so the guide
//! cannot drift. The convention (how a block is marked, what the harness adds to a
//! command, the placeholders) is written down in CONTRIBUTING.md, "Docs tests".
//!
//! `KCERTS_DOCS_BLESS=1` writes the output of every block that does not match back
//! into the Markdown file (placeholders in it are lost: put them back by hand, and
//! read every change before committing it).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use kcerts_core::pki::{self, PkiOptions};
use kcerts_core::{KeyAlgorithm, NodeFiles};
use kcerts_tests::*;

/// The time of a block unless its directive says `at=`: the tests' `NOW`.
const DEFAULT_AT: &str = "2026-03-01T12:00:00Z";
/// The seed of the fixture nodes (the same bytes every run).
const SEED: u64 = 21;
/// Absolute paths in a command that the harness moves under the block's root.
const ROOTED: [&str; 5] = ["/etc/", "/var/", "/root/", "/tmp/", "/media/"];

/// Flags the harness adds to a `kcerts` command that accepts them and does not
/// give them itself: the fixture's directories (under the block's root) and the
/// block's time.
fn injected(root: &Path, at: &str) -> Vec<(&'static str, String)> {
    let r = root.display();
    vec![
        ("--cert-dir", format!("{r}/etc/kubernetes/pki")),
        ("--kubeconfig-dir", format!("{r}/etc/kubernetes")),
        ("--kubelet-pki-dir", format!("{r}/var/lib/kubelet/pki")),
        (
            "--kubelet-client-cert",
            format!("{r}/var/lib/kubelet/pki/kubelet-client-current.pem"),
        ),
        ("--at", at.to_string()),
    ]
    .into_iter()
    .filter(|(flag, _)| *flag != "--at" || at != "now")
    .collect()
}

/// One fenced block of a Markdown file.
struct Block {
    file: PathBuf,
    /// 1-based line of the opening fence.
    line: usize,
    info: String,
    /// The `<!-- docs-test ... -->` comment right before the fence, if any.
    directive: Option<String>,
    /// Indentation of the fence, stripped from the body.
    indent: usize,
    body: Vec<String>,
}

impl Block {
    fn at(&self) -> String {
        format!("{}:{}", self.file.display(), self.line)
    }
}

/// What a block's directive says.
#[derive(Default)]
struct Directive {
    at: Option<String>,
    fixture: Option<String>,
    cwd: Option<String>,
    illustrative: Option<String>,
    /// `real-run: NAME`: output of a test against the real programs, kept in
    /// `target/real-runs/NAME.txt` (`real_cluster::RunLog`).
    real_run: Option<String>,
    setup: Vec<String>,
}

fn parse_directive(text: &str) -> Result<Directive, String> {
    let mut d = Directive::default();
    let mut lines = text.lines();
    let first = lines.next().unwrap_or_default().trim();
    let opts = first
        .strip_prefix("docs-test")
        .ok_or("a docs-test comment starts with `docs-test`")?
        .trim_start_matches(':')
        .trim();
    if let Some(reason) = opts.strip_prefix("illustrative:") {
        let reason = reason.trim();
        if reason.len() < 10 {
            return Err("`illustrative:` needs a reason (why it cannot run here)".into());
        }
        d.illustrative = Some(reason.to_string());
    } else if let Some(name) = opts.strip_prefix("real-run:") {
        d.real_run = Some(name.trim().to_string());
    } else {
        for word in opts.split_whitespace() {
            match word.split_once('=') {
                Some(("at", v)) => d.at = Some(v.into()),
                Some(("fixture", v)) => d.fixture = Some(v.into()),
                Some(("cwd", v)) => d.cwd = Some(v.into()),
                _ => return Err(format!("unknown docs-test option {word:?}")),
            }
        }
    }
    d.setup = lines
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    Ok(d)
}

/// The fenced blocks of a Markdown file.
fn blocks(file: &Path) -> Vec<Block> {
    let text = std::fs::read_to_string(file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i];
        let indent = l.len() - l.trim_start().len();
        let Some(info) = l.trim_start().strip_prefix("```") else {
            i += 1;
            continue;
        };
        let start = i;
        let mut body = Vec::new();
        i += 1;
        while i < lines.len() && !lines[i].trim_start().starts_with("```") {
            let b = lines[i];
            let cut = indent.min(b.len() - b.trim_start().len());
            body.push(b[cut..].to_string());
            i += 1;
        }
        i += 1;
        out.push(Block {
            file: file.to_path_buf(),
            line: start + 1,
            info: info.trim().to_string(),
            directive: directive_before(&lines, start),
            indent,
            body,
        });
    }
    out
}

/// The text of a `<!-- docs-test ... -->` comment ending on the last non-blank line
/// before line `fence`.
fn directive_before(lines: &[&str], fence: usize) -> Option<String> {
    let mut j = fence;
    while j > 0 && lines[j - 1].trim().is_empty() {
        j -= 1;
    }
    if j == 0 || !lines[j - 1].trim_end().ends_with("-->") {
        return None;
    }
    let end = j - 1;
    let mut k = end;
    while !lines[k].contains("<!--") {
        if k == 0 {
            return None;
        }
        k -= 1;
    }
    let text = lines[k..=end].join("\n");
    let inner = text.split_once("<!--")?.1.rsplit_once("-->")?.0.trim();
    inner.starts_with("docs-test").then(|| inner.to_string())
}

/// One command of a transcript and the output shown under it.
struct Step {
    /// The command as written (continuation lines joined by newlines).
    command: String,
    expected: Vec<String>,
}

/// The output the docs show under the `nth` (from 0) command `$ COMMAND` in
/// `docs/FILE`, for a test elsewhere that runs that command where the docs test
/// cannot (an illustrative block): it compares its real output with [`matches`].
pub(crate) fn shown_output(file: &str, command: &str, nth: usize) -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("docs")
        .join(file);
    blocks(&path)
        .iter()
        .filter(|b| b.info.split_whitespace().next() == Some("console"))
        .flat_map(|b| steps(&b.body).unwrap())
        .filter(|s| s.command == command)
        .nth(nth)
        .unwrap_or_else(|| panic!("docs/{file} shows no `$ {command}` (number {nth})"))
        .expected
}

fn steps(body: &[String]) -> Result<Vec<Step>, String> {
    let mut out: Vec<Step> = Vec::new();
    let mut lines = body.iter();
    while let Some(l) = lines.next() {
        if let Some(cmd) = l.strip_prefix("$ ") {
            let mut command = cmd.to_string();
            while command.ends_with('\\') {
                let next = lines.next().ok_or("a command ends with `\\` at the end")?;
                command.push('\n');
                command.push_str(next);
            }
            out.push(Step {
                command,
                expected: Vec::new(),
            });
        } else if let Some(s) = out.last_mut() {
            s.expected.push(l.clone());
        } else {
            return Err(format!("output before the first `$ ` command: {l:?}"));
        }
    }
    Ok(out)
}

/// Whether `actual` matches `expected`: `[..]` in an expected line stands for any
/// text within the line, a line `...` for any number of lines.
pub(crate) fn matches(expected: &[String], actual: &[&str]) -> bool {
    match expected.split_first() {
        None => actual.is_empty(),
        Some((e, rest)) if e == "..." => (0..=actual.len()).any(|k| matches(rest, &actual[k..])),
        Some((e, rest)) => {
            !actual.is_empty() && line_matches(e, actual[0]) && matches(rest, &actual[1..])
        }
    }
}

fn line_matches(expected: &str, actual: &str) -> bool {
    let parts: Vec<&str> = expected.split("[..]").collect();
    if parts.len() == 1 {
        return expected == actual;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !actual.starts_with(first) || actual.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &actual[first.len()..];
    for p in &parts[1..parts.len() - 1] {
        match rest.find(p) {
            Some(k) => rest = &rest[k + p.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

/// The `kcerts` binary's subcommands and the flags each accepts, asked of the
/// binary itself (`--help`), so the harness follows the CLI as it changes.
#[derive(Default)]
struct Cli {
    subcommands: HashMap<Vec<String>, Vec<String>>,
    accepts: HashMap<(Vec<String>, &'static str), bool>,
}

impl Cli {
    fn help(path: &[String], extra: &[&str]) -> std::process::Output {
        let mut c = Command::new(kcerts_bin());
        c.args(path).args(extra).arg("--help");
        c.output().unwrap()
    }

    /// The subcommands of `kcerts PATH` (its help's "Commands:" section).
    fn subcommands(&mut self, path: &[String]) -> &[String] {
        self.subcommands.entry(path.to_vec()).or_insert_with(|| {
            let help = stdout(&Self::help(path, &[]));
            let mut names = Vec::new();
            let mut inside = false;
            for l in help.lines() {
                if l.starts_with("Commands:") {
                    inside = true;
                } else if inside && l.starts_with("  ") {
                    if let Some(w) = l.split_whitespace().next() {
                        names.push(w.to_string());
                    }
                } else if inside && !l.starts_with(' ') {
                    inside = false;
                }
            }
            names
        })
    }

    /// Whether `kcerts PATH FLAG VALUE` parses (hidden flags included).
    fn accepts(&mut self, path: &[String], flag: &'static str, value: &str) -> bool {
        *self
            .accepts
            .entry((path.to_vec(), flag))
            .or_insert_with(|| Self::help(path, &[flag, value]).status.success())
    }
}

/// `command` with the injected flags added after each `kcerts SUBCOMMAND...` and
/// the absolute paths of [`ROOTED`] moved under `root`.
fn rewrite(command: &str, root: &Path, at: &str, cli: &mut Cli) -> String {
    let command = &root_paths(command, root);
    let mut out = String::new();
    let words: Vec<(usize, &str)> = command
        .split_whitespace()
        .map(|w| (w.as_ptr() as usize - command.as_ptr() as usize, w))
        .collect();
    let mut copied = 0;
    for (i, &(pos, w)) in words.iter().enumerate() {
        let command_position = i == 0
            || matches!(words[i - 1].1, "|" | "&&" | "||" | ";")
            || words[i - 1].1.ends_with("$(");
        if w != "kcerts" || !command_position {
            continue;
        }
        let mut path: Vec<String> = Vec::new();
        let mut end = pos + w.len();
        for &(p, next) in &words[i + 1..] {
            if cli.subcommands(&path).iter().any(|s| s == next) {
                path.push(next.to_string());
                end = p + next.len();
            } else {
                break;
            }
        }
        let given = &command[pos..];
        let mut add = String::new();
        for (flag, value) in injected(root, at) {
            if !given.contains(flag) && cli.accepts(&path, flag, &value) {
                write!(add, " {flag} {value}").unwrap();
            }
        }
        out.push_str(&command[copied..end]);
        out.push_str(&add);
        copied = end;
    }
    out.push_str(&command[copied..]);
    out
}

fn root_paths(s: &str, root: &Path) -> String {
    let mut out = String::new();
    let mut prev = ' ';
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        if matches!(prev, ' ' | '=' | '\'' | '"' | '\n' | '(')
            && ROOTED.iter().any(|p| rest.starts_with(p))
        {
            out.push_str(&root.display().to_string());
        }
        out.push(c);
        prev = c;
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// Writes the block's fixture under `root` and returns the directory its commands
/// run in.
fn fixture(d: &Directive, root: &Path) -> PathBuf {
    let opts = |name: &str, last: u8| PkiOptions {
        node_name: name.into(),
        advertise_address: std::net::IpAddr::from([192, 168, 10, last]),
        key_algorithm: KeyAlgorithm::EcdsaP256,
        ..PkiOptions::example()
    };
    let now =
        time::OffsetDateTime::parse(DEFAULT_AT, &time::format_description::well_known::Rfc3339)
            .unwrap();
    let mut rng = kcerts_core::seeded_rng(SEED);
    let node_root = root.join("etc/kubernetes");
    for dir in ["etc/kubernetes", "var/lib/kubelet/pki", "root", "tmp"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    match d.fixture.as_deref().unwrap_or("node") {
        "node" => {
            let node = pki::generate(&opts("cp-1", 11), now, &mut rng).unwrap();
            write_node(&node, &node_root);
        }
        "cluster" => {
            let first = pki::generate(&opts("cp-1", 11), now, &mut rng).unwrap();
            let shared = NodeFiles::from_generated(&first);
            write_node(&first, &root.join("root/cp-1"));
            for (n, last) in [("cp-2", 12), ("cp-3", 13)] {
                let node = pki::generate_joined(&opts(n, last), &shared, now, &mut rng).unwrap();
                write_node(&node, &root.join("root").join(n));
            }
        }
        "empty" => {}
        other => panic!("unknown fixture {other:?}"),
    }
    match &d.cwd {
        Some(cwd) => root.join(cwd.trim_start_matches('/')),
        None => node_root,
    }
}

/// A mark between the outputs of two commands (not in any output).
const MARK: char = '\u{1e}';

/// Runs a transcript; returns each command's output, the root shown as `/`.
fn run_block(
    b: &Block,
    d: &Directive,
    steps: &[Step],
    cli: &mut Cli,
) -> Result<Vec<String>, String> {
    let temp = tempdir();
    let root = std::fs::canonicalize(temp.path()).unwrap();
    let cwd = fixture(d, &root);
    let at = d.at.clone().unwrap_or_else(|| DEFAULT_AT.to_string());
    let bin_dir = kcerts_bin().parent().unwrap().to_path_buf();
    let mut script = String::from("exec 2>&1\n");
    writeln!(script, "cd '{}' || exit 99", cwd.display()).unwrap();
    for s in &d.setup {
        let cmd = rewrite(s, &root, &at, cli);
        writeln!(
            script,
            "{{ {cmd}\n}} >/dev/null || {{ echo 'setup failed: {}'; exit 99; }}",
            s.replace('\'', "")
        )
        .unwrap();
    }
    for (i, s) in steps.iter().enumerate() {
        writeln!(script, "__rc=$?; printf '{MARK}{i}{MARK}\\n'; (exit $__rc)").unwrap();
        writeln!(script, "{}", rewrite(&s.command, &root, &at, cli)).unwrap();
    }
    writeln!(script, "printf '{MARK}end{MARK}\\n'").unwrap();
    let path = std::env::var("PATH").unwrap_or_default();
    let out = Command::new("sh")
        .arg("-c")
        .arg(&script)
        .env("PATH", format!("{}:{path}", bin_dir.display()))
        .env("NO_COLOR", "1")
        .env("TZ", "UTC")
        .env("HOME", root.join("root"))
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let text = stdout(&out).replace(&root.display().to_string(), "");
    let mut outputs = Vec::new();
    for i in 0..steps.len() {
        let start = format!("{MARK}{i}{MARK}\n");
        let end = if i + 1 == steps.len() {
            format!("{MARK}end{MARK}\n")
        } else {
            format!("{MARK}{}{MARK}\n", i + 1)
        };
        let (Some(a), Some(z)) = (text.find(&start), text.find(&end)) else {
            return Err(format!(
                "{}: the block's script stopped early:\n{text}",
                b.at()
            ));
        };
        outputs.push(text[a + start.len()..z].to_string());
    }
    Ok(outputs)
}

/// The Markdown files whose commands are run.
fn doc_files() -> Vec<PathBuf> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut files = vec![repo.join("README.md"), repo.join("CONTRIBUTING.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(repo.join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files.retain(|f| f.exists());
    files
}

/// A `kcerts` command of a `sh` block: its subcommands exist and its flags are
/// in their help.
fn check_sh_command(line: &str, cli: &mut Cli) -> Result<(), String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let mut path: Vec<String> = Vec::new();
    for w in &words[1..] {
        if w.starts_with('-') {
            break;
        }
        if cli.subcommands(&path).iter().any(|s| s == w) {
            path.push((*w).to_string());
        } else if !cli.subcommands(&path).is_empty() {
            return Err(format!(
                "`kcerts {}` has no subcommand {w:?}",
                path.join(" ")
            ));
        } else {
            break;
        }
    }
    let help = stdout(&Cli::help(&path, &[]));
    for w in &words[1..] {
        if ["#", ">", "|", "&&", ";"].contains(w) {
            break;
        }
        let flag = w.split('=').next().unwrap();
        if flag.starts_with("--") && !help.contains(flag) {
            return Err(format!("`kcerts {}` has no flag {flag}", path.join(" ")));
        }
    }
    Ok(())
}

/// Puts the actual outputs of a block into its file (`KCERTS_DOCS_BLESS=1`).
fn bless(b: &Block, steps: &[Step], outputs: &[String]) {
    let text = std::fs::read_to_string(&b.file).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let pad = " ".repeat(b.indent);
    let mut body = Vec::new();
    for (s, o) in steps.iter().zip(outputs) {
        for (k, c) in s.command.lines().enumerate() {
            body.push(if k == 0 {
                format!("{pad}$ {c}")
            } else {
                format!("{pad}{c}")
            });
        }
        let same = matches(&s.expected, &o.lines().collect::<Vec<_>>());
        if same {
            body.extend(s.expected.iter().map(|l| format!("{pad}{l}")));
        } else {
            body.extend(
                o.lines()
                    .map(|l| format!("{pad}{l}").trim_end().to_string()),
            );
        }
    }
    let from = b.line; // the line after the fence, 0-based
    lines.splice(from..from + b.body.len(), body);
    std::fs::write(&b.file, lines.join("\n") + "\n").unwrap();
}

/// A line with every word holding a digit (times, serials, sizes) and every
/// month name as `#`: what two real runs print alike.
fn mask_run_line(line: &str) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mut out = String::new();
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if word.chars().any(|c| c.is_ascii_digit()) || MONTHS.contains(&word.as_str()) {
            out.push('#');
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in line.trim_end().chars() {
        if c.is_ascii_alphanumeric() {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// A `real-run: NAME` block against `target/real-runs/NAME.txt`: a test
/// against the real programs must write it (`RunLog::new("NAME")`), each `$
/// kcerts` line's words must be those of a command it ran (which may have
/// had more flags), and each other line but `...` must be a line of its
/// output, times, serials and other numbers aside. Without the file (the
/// real-program tests did not run here) the block is not compared.
fn compare_real_run(name: &str, body: &[String]) -> Result<(), String> {
    let e2e = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e");
    let writer = format!("RunLog::new(\"{name}\")");
    let written = std::fs::read_dir(&e2e)
        .unwrap()
        .flatten()
        .any(|f| std::fs::read_to_string(f.path()).is_ok_and(|t| t.contains(&writer)));
    if !written {
        return Err(format!("no test in tests/e2e writes the real run {name:?}"));
    }
    let path = kcerts_tests::real_cluster::RunLog::dir().join(format!("{name}.txt"));
    let Ok(text) = std::fs::read_to_string(&path) else {
        println!(
            "docs: {} not there (the real-program tests did not run): not compared",
            path.display()
        );
        return Ok(());
    };
    let commands: Vec<Vec<&str>> = text
        .lines()
        .filter_map(|l| l.strip_prefix("$ "))
        .map(|c| c.split_whitespace().collect())
        .collect();
    let lines: std::collections::BTreeSet<String> = text.lines().map(mask_run_line).collect();
    let mut missing = Vec::new();
    for l in body {
        let l = l.trim_end();
        if l == "..." {
            continue;
        }
        if let Some(cmd) = l.strip_prefix("$ ") {
            let words: Vec<&str> = cmd.split_whitespace().collect();
            if !commands.iter().any(|c| words.iter().all(|w| c.contains(w))) {
                missing.push(format!("command not run: {l}"));
            }
        } else if !lines.contains(&mask_run_line(l)) {
            missing.push(format!("not printed: {l}"));
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "differs from the real run in {}:\n{}",
            path.display(),
            missing.join("\n")
        ))
    }
}

#[test]
fn every_command_shown_in_the_docs_prints_what_the_docs_say() {
    let bless_mode = std::env::var_os("KCERTS_DOCS_BLESS").is_some();
    let mut cli = Cli::default();
    let mut failures = Vec::new();
    let (mut run, mut commands, mut illustrative, mut sh, mut real) = (0, 0, 0, 0, 0);
    for file in doc_files() {
        // Blessing changes line counts: go from the last block up.
        let mut all = blocks(&file);
        all.reverse();
        for b in &all {
            let lang = b.info.split_whitespace().next().unwrap_or("");
            let shows_kcerts = b.body.iter().any(|l| l.starts_with("$ kcerts"));
            let d = match b.directive.as_deref().map(parse_directive).transpose() {
                Ok(d) => d,
                Err(e) => {
                    failures.push(format!("{}: {e}", b.at()));
                    continue;
                }
            };
            if lang == "sh" {
                sh += 1;
                for l in b.body.iter().filter(|l| l.starts_with("kcerts ")) {
                    if let Err(e) = check_sh_command(l, &mut cli) {
                        failures.push(format!("{}: {e}", b.at()));
                    }
                }
            }
            if lang != "console" {
                if shows_kcerts {
                    failures.push(format!(
                        "{}: a transcript (`$ kcerts`) must be a `console` block",
                        b.at()
                    ));
                }
                continue;
            }
            let d = d.unwrap_or_default();
            if d.illustrative.is_some() {
                illustrative += 1;
                continue;
            }
            if let Some(name) = &d.real_run {
                real += 1;
                if let Err(e) = compare_real_run(name, &b.body) {
                    failures.push(format!("{}: {e}", b.at()));
                }
                continue;
            }
            let steps = match steps(&b.body) {
                Ok(s) => s,
                Err(e) => {
                    failures.push(format!("{}: {e}", b.at()));
                    continue;
                }
            };
            let outputs = match run_block(b, &d, &steps, &mut cli) {
                Ok(o) => o,
                Err(e) => {
                    failures.push(e);
                    continue;
                }
            };
            run += 1;
            commands += steps.len();
            let mut ok = true;
            for (s, o) in steps.iter().zip(&outputs) {
                let actual: Vec<&str> = o.lines().map(str::trim_end).collect();
                if !matches(&s.expected, &actual) {
                    ok = false;
                    failures.push(format!(
                        "{}: `$ {}` printed:\n{}\n--- the docs say:\n{}\n",
                        b.at(),
                        s.command,
                        actual.join("\n"),
                        s.expected.join("\n")
                    ));
                }
            }
            if !ok && bless_mode {
                bless(b, &steps, &outputs);
            }
        }
    }
    println!(
        "docs: {run} blocks run ({commands} commands compared), {illustrative} illustrative, \
         {real} from real runs, {sh} sh blocks checked"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(run > 0, "no docs block was run");
    assert!(
        illustrative * 3 <= run,
        "{illustrative} illustrative blocks against {run} run: illustrative blocks must be rare"
    );
}

#[test]
fn real_run_lines_compare_without_times_serials_and_months() {
    let m = mask_run_line;
    assert_eq!(
        m("[restart] etcd: serves pki/etcd/server.crt, /health ok after 0.0s, without a restart"),
        m(
            "[restart] etcd: serves pki/etcd/server.crt, /health ok after 12.5s, without a restart  "
        )
    );
    assert_eq!(
        m(
            "pass    apiserver    live   serves pki/apiserver.crt (serial 2f925963d95014ab, expires Dec 07, 2027 02:20 UTC)"
        ),
        m(
            "pass    apiserver    live   serves pki/apiserver.crt (serial 0e563386306fa4f9, expires Jan 17, 2028 11:02 UTC)"
        )
    );
    assert_ne!(m("pass    apiserver"), m("fail    apiserver"));
    assert_ne!(
        m("[restart] restarted kube-scheduler (0.8s)"),
        m("[restart] restarted etcd (0.8s)")
    );
}

#[test]
fn placeholders_match_as_documented() {
    let e = |s: &[&str]| s.iter().map(|l| l.to_string()).collect::<Vec<_>>();
    assert!(matches(&e(&["a [..] c"]), &["a b c"]));
    assert!(matches(&e(&["a [..] c"]), &["a  c"]));
    assert!(!matches(&e(&["a [..] c"]), &["a b d"]));
    assert!(matches(&e(&["x", "...", "z"]), &["x", "y1", "y2", "z"]));
    assert!(matches(&e(&["x", "...", "z"]), &["x", "z"]));
    assert!(!matches(&e(&["x", "...", "z"]), &["x", "y"]));
    assert!(!matches(&e(&["x"]), &["x", "extra"]));
    assert!(line_matches("[..]", "anything"));
    assert!(!line_matches("ab[..]ba", "aba"));
}

/// The README starts with the two commands that work on a fresh machine: the main
/// job on the built-in example node (run here exactly as written, from the
/// repository's root), and the command that runs every test (not run here: it
/// runs this test).
#[test]
fn the_readme_starts_with_the_main_job_and_the_test_command() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let sh: Vec<Block> = blocks(&repo.join("README.md"))
        .into_iter()
        .filter(|b| b.info == "sh")
        .take(2)
        .collect();
    assert_eq!(sh.len(), 2, "README.md starts with two sh blocks");
    assert_eq!(sh[1].body, ["bash scripts/test.sh"]);
    let main_job = sh[0].body.join("\n");
    assert!(main_job.contains("cargo run"), "{main_job}");
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(&main_job).current_dir(repo);
    // As kcerts_bin does: cargo's variables for this test process would make the
    // inner cargo rebuild ring and its dependants.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        if key.starts_with("CARGO_") && key != "CARGO_HOME" && key != "CARGO_TARGET_DIR" {
            cmd.env_remove(key);
        }
    }
    let out = cmd.output().unwrap();
    assert_ok(&out, "the README's first command");
    let text = stdout(&out);
    // The rows under a table's header line, up to the blank line after them.
    let rows = |header: &str| {
        let mut lines = text.lines().skip_while(|l| !l.starts_with(header));
        lines
            .next()
            .map_or(0, |_| lines.take_while(|l| !l.is_empty()).count())
    };
    assert_eq!(rows("CERTIFICATE "), 11, "{text}");
    assert_eq!(rows("CERTIFICATE AUTHORITY "), 3, "{text}");
    assert!(text.contains("365d") || text.contains("364d"), "{text}");
}
