//! Terminal conventions shared by all subcommands: colour and output format.

use std::io::IsTerminal;

/// Output formats common to most subcommands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Human-readable text (default on a terminal).
    Text,
    /// One JSON document followed by a newline.
    Json,
}

/// True when coloured output should be written to stdout: stdout is a
/// terminal and `NO_COLOR` is unset or empty (<https://no-color.org>).
pub fn use_color() -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    !no_color && std::io::stdout().is_terminal()
}

/// True when progress should be drawn on stderr.
pub fn show_progress() -> bool {
    std::io::stderr().is_terminal()
}
