//! Colours and emphasis, in one place so that `NO_COLOR` turns every colour off at once and leaves the
//! emphasis (bold, reversed, underlined) that still tells an error from the rest.

use ratatui::style::{Color, Modifier, Style};

/// How the dashboard paints; `Theme::default()` is coloured, [`Theme::from_env`] honours `NO_COLOR`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Theme {
    pub color: bool,
}

impl Default for Theme {
    fn default() -> Theme {
        Theme { color: true }
    }
}

/// Colours given to services, chosen by a hash of the name so a service keeps its colour across views and runs.
const PALETTE: [Color; 6] = [
    Color::Cyan,
    Color::Green,
    Color::Magenta,
    Color::Blue,
    Color::Yellow,
    Color::LightCyan,
];

/// Colours of a trace's services, given in order of appearance so that the services of one trace always differ
/// (up to eight of them; then they repeat).
const TRACE_PALETTE: [Color; 8] = [
    Color::Cyan,
    Color::Magenta,
    Color::Green,
    Color::Yellow,
    Color::Blue,
    Color::LightRed,
    Color::LightGreen,
    Color::LightMagenta,
];

/// Without colours, the fill of a trace's `k`th service's bars: each service its own texture.
const TRACE_FILLS: [char; 8] = ['█', '▓', '▒', '#', '=', '+', '%', '*'];

/// The fill of the cells of a flame bar its children cover (the time it waits on them): its own time is solid.
pub const WAITING_FILL: char = '░';

impl Theme {
    /// Coloured unless `NO_COLOR` is set to anything but the empty string (<https://no-color.org>).
    pub fn from_env() -> Theme {
        Theme {
            color: std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        }
    }

    /// A theme without colours.
    pub fn mono() -> Theme {
        Theme { color: false }
    }

    fn paint(&self, color: Color, fallback: Modifier) -> Style {
        if self.color {
            Style::new().fg(color)
        } else {
            Style::new().add_modifier(fallback)
        }
    }

    /// The service's own colour (bars of the flame view, boxes of the map).
    pub fn service(&self, name: &str) -> Style {
        if !self.color {
            return Style::new();
        }
        // FNV-1a: stable across runs and platforms, unlike std's RandomState.
        let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        Style::new().fg(PALETTE[(hash % PALETTE.len() as u64) as usize])
    }

    /// The colour of a trace's `k`th service (in order of appearance in the trace): distinct for the first
    /// eight, where [`Theme::service`]'s hash may give two services one colour.
    pub fn trace_service(&self, k: usize) -> Style {
        if !self.color {
            return Style::new();
        }
        Style::new().fg(TRACE_PALETTE[k % TRACE_PALETTE.len()])
    }

    /// What a trace's `k`th service's own time is drawn with: a solid block in colour; without colour, a
    /// texture of its own, so services stay apart under `NO_COLOR`.
    pub fn trace_fill(&self, k: usize) -> char {
        if self.color {
            '█'
        } else {
            TRACE_FILLS[k % TRACE_FILLS.len()]
        }
    }

    /// Something failing: an erroring service, edge, span or row.
    pub fn error(&self) -> Style {
        self.paint(Color::Red, Modifier::UNDERLINED)
            .add_modifier(Modifier::BOLD)
    }

    /// Something worth a look but not failing: slow, repeated, on the critical path.
    pub fn warn(&self) -> Style {
        self.paint(Color::Yellow, Modifier::BOLD)
    }

    /// Something good: a fix that worked, a healthy figure.
    pub fn good(&self) -> Style {
        self.paint(Color::Green, Modifier::empty())
    }

    /// A log record's severity (OpenTelemetry's number): errors and worse as errors, warnings as warnings,
    /// DEBUG and TRACE dim, the rest plain.
    pub fn severity(&self, number: i32) -> Style {
        match number {
            17.. => self.error(),
            13..=16 => self.warn(),
            1..=8 => self.dim(),
            _ => Style::new(),
        }
    }

    /// The selected row or item.
    pub fn selected(&self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }

    /// Secondary text: units, hints, borders of inactive panes.
    pub fn dim(&self) -> Style {
        self.paint(Color::DarkGray, Modifier::DIM)
    }

    /// Column headers and titles.
    pub fn header(&self) -> Style {
        Style::new().add_modifier(Modifier::BOLD)
    }

    /// Spans or rows the user was sent to look at (the repeated statements of an N+1, a searched term).
    pub fn highlight(&self) -> Style {
        self.paint(Color::LightYellow, Modifier::UNDERLINED)
            .add_modifier(Modifier::BOLD)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mono_has_no_colour_but_keeps_errors_apart() {
        let mono = Theme::mono();
        for style in [
            mono.service("store-frontend"),
            mono.error(),
            mono.warn(),
            mono.dim(),
        ] {
            assert_eq!(style.fg, None);
        }
        assert!(mono.error().add_modifier.contains(Modifier::BOLD));
        assert_ne!(mono.error(), Style::new());
    }

    #[test]
    fn a_traces_services_differ_in_colour_and_without_it_in_texture() {
        let (colour, mono) = (Theme::default(), Theme::mono());
        for a in 0..8 {
            for b in 0..a {
                assert_ne!(colour.trace_service(a), colour.trace_service(b));
                assert_ne!(mono.trace_fill(a), mono.trace_fill(b));
                assert_ne!(mono.trace_fill(a), WAITING_FILL);
            }
        }
        assert_eq!(mono.trace_service(0).fg, None);
    }

    #[test]
    fn a_service_keeps_its_colour() {
        let theme = Theme::default();
        assert_eq!(
            theme.service("discounts-service"),
            theme.service("discounts-service")
        );
        assert!(theme.service("discounts-service").fg.is_some());
    }
}
