//! Colours for the terminal report: on only when stderr is a terminal and `NO_COLOR` is unset
//! (or forced with `--color always`), so piped and logged reports stay plain text.

use std::io::IsTerminal;

use anstyle::{AnsiColor, Style};
use clap::ColorChoice;

/// Paints text with ANSI styles, or leaves it alone when colours are off.
#[derive(Debug, Clone, Copy, Default)]
pub struct Paint {
    enabled: bool,
}

impl Paint {
    /// No colours.
    pub fn plain() -> Self {
        Self { enabled: false }
    }

    /// Colours for a report on stderr, as `--color` and `NO_COLOR` decide.
    pub fn for_stderr(choice: ColorChoice) -> Self {
        let enabled = match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => std::io::stderr().is_terminal() && !no_color_set(),
        };
        Self { enabled }
    }

    pub fn bold(self, text: &str) -> String {
        self.style(Style::new().bold(), text)
    }

    /// Bad news: errors, regressions.
    pub fn bad(self, text: &str) -> String {
        self.style(AnsiColor::Red.on_default().bold(), text)
    }

    /// The headline result.
    pub fn good(self, text: &str) -> String {
        self.style(AnsiColor::Green.on_default().bold(), text)
    }

    /// Advice and asides.
    pub fn note(self, text: &str) -> String {
        self.style(AnsiColor::Cyan.on_default(), text)
    }

    /// Labels and decoration.
    pub fn dim(self, text: &str) -> String {
        self.style(Style::new().dimmed(), text)
    }

    fn style(self, style: Style, text: &str) -> String {
        if self.enabled {
            format!("{style}{text}{style:#}")
        } else {
            text.to_owned()
        }
    }
}

/// `NO_COLOR` set to anything but the empty string (<https://no-color.org>).
fn no_color_set() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_leaves_text_alone_and_always_paints() {
        assert_eq!(Paint::plain().bad("3"), "3");
        let painted = Paint::for_stderr(ColorChoice::Always).bad("3");
        assert!(painted.starts_with('\u{1b}') && painted.contains('3'));
        assert_eq!(Paint::for_stderr(ColorChoice::Never).good("x"), "x");
    }
}
