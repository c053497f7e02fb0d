//! Terminal conventions shared by all subcommands: colour and output format.
//!
//! Colour follows `--color` (a global flag), then `NO_COLOR` and whether
//! standard output is a terminal; every text renderer asks [`use_color`].

use std::io::IsTerminal;
use std::sync::OnceLock;

/// Output formats common to most subcommands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Human-readable text (default on a terminal).
    Text,
    /// One JSON document followed by a newline.
    Json,
}

/// When to colour text output (`--color`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    /// On a terminal, unless `NO_COLOR` is set.
    #[default]
    Auto,
    /// Always, even into a pipe or a file (and despite `NO_COLOR`).
    Always,
    /// Never.
    Never,
}

/// The `--color` choice of this process, set once by `main`.
static COLOR: OnceLock<ColorChoice> = OnceLock::new();

/// Records the `--color` choice for every renderer of this process,
/// including the `anstream` writers, which would otherwise strip styles
/// whenever standard output is not a terminal.
pub fn set_color(choice: ColorChoice) {
    let _ = COLOR.set(choice);
    anstream::ColorChoice::write_global(match choice {
        ColorChoice::Auto => anstream::ColorChoice::Auto,
        ColorChoice::Always => anstream::ColorChoice::Always,
        ColorChoice::Never => anstream::ColorChoice::Never,
    });
}

/// True when coloured output should be written to stdout: `--color always`,
/// or (the default, `auto`) stdout is a terminal and `NO_COLOR` is unset or
/// empty (<https://no-color.org>).
pub fn use_color() -> bool {
    match COLOR.get().copied().unwrap_or_default() {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
            !no_color && std::io::stdout().is_terminal()
        }
    }
}

/// True when progress should be drawn on stderr.
pub fn show_progress() -> bool {
    std::io::stderr().is_terminal()
}
