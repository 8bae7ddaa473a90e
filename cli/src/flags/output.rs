//! `-o, --output FORMAT`: the one output format type of every command that has
//! one. Each command accepts its own subset, each value with the help text that
//! command gives it ([`OutputFormat::parser`]).

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};

/// What a command prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// For people.
    Text,
    /// JSON.
    Json,
    /// YAML.
    Yaml,
    /// The Prometheus text format.
    Prometheus,
}

/// The formats a command accepts, each with its help text (`None`: no help).
pub type Formats = [(OutputFormat, Option<&'static str>)];

impl OutputFormat {
    const ALL: [Self; 4] = [Self::Text, Self::Json, Self::Yaml, Self::Prometheus];

    /// The value on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Json => "json",
            Self::Yaml => "yaml",
            Self::Prometheus => "prometheus",
        }
    }

    /// The clap parser for `--output` accepting only `formats`, listed (and
    /// described in `--help`) in that order.
    pub fn parser(formats: &'static Formats) -> impl TypedValueParser<Value = Self> {
        let values = formats.iter().map(|(f, help)| {
            let v = PossibleValue::new(f.name());
            match help {
                Some(h) => v.help(*h),
                None => v,
            }
        });
        PossibleValuesParser::new(values).try_map(|name: String| {
            Self::ALL
                .into_iter()
                .find(|f| f.name() == name)
                .ok_or_else(|| format!("unknown output format {name:?}"))
        })
    }
}
