//! The guide pane (`lab workshop`): the step on show, its question, the hints given, the last verdict or what
//! the data shows so far, and the answer being typed. It takes its own place beside the view (at the right on
//! a wide screen, below it on a narrow one), so it never covers what a step asks the student to look at.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Widget, Wrap};

use crate::app::{App, GuidePane};
use crate::fmt;
use protocol::StepKind;

/// From this width on the pane stands at the right of the view; below it, under the view.
const SIDE_BY_SIDE: u16 = 140;

/// Splits `body` into the view's place and the pane's.
pub fn split(body: Rect) -> (Rect, Rect) {
    if body.width >= SIDE_BY_SIDE {
        let width = (body.width / 3).min(52);
        let [view, pane] =
            Layout::horizontal([Constraint::Min(0), Constraint::Length(width)]).areas(body);
        (view, pane)
    } else {
        // Eight lines leave an 80×24 screen's view fourteen: a table and its detail still fit.
        let height = if body.height >= 18 {
            8
        } else {
            body.height / 2
        };
        let [view, pane] =
            Layout::vertical([Constraint::Min(0), Constraint::Length(height)]).areas(body);
        (view, pane)
    }
}

/// Draws the pane's frame titled `title`, saying how to hide it; the inside, to draw in.
pub(super) fn frame(app: &App, title: String, area: Rect, buf: &mut Buffer) -> Rect {
    let block = Block::default()
        .borders(Borders::ALL)
        .title(Line::styled(title, app.theme.header()))
        .title_bottom(Line::styled(" W hides ", app.theme.dim()).right_aligned());
    let inner = block.inner(area);
    block.render(area, buf);
    inner
}

pub fn render(app: &App, guide: &GuidePane, area: Rect, buf: &mut Buffer) {
    if let Some(class) = &guide.class {
        super::class::render(app, class, area, buf);
        return;
    }
    let theme = &app.theme;
    // Beside the view the pane is tall: every hint given and the steps' list fit.
    let tall = area.height > 12;
    let Some(workshop) = &guide.workshop else {
        Paragraph::new(Line::styled(" Fetching the workshop…", theme.dim()))
            .block(Block::default().borders(Borders::ALL).title(" Guide "))
            .render(area, buf);
        return;
    };
    let (Some(step), Some(at)) = (guide.step(), guide.position()) else {
        return;
    };
    let total = workshop.steps.len();
    let marks: String = (workshop.steps.iter().enumerate())
        .map(|(i, s)| match (s.done, i == at) {
            (true, _) => '✓',
            (false, true) => '▸',
            (false, false) => '·',
        })
        .collect();
    let title = format!(
        " Guide {}/{total} {marks} {} ",
        at + 1,
        fmt::clean(&step.title)
    );
    let inner = frame(app, title, area, buf);
    if inner.height == 0 {
        return;
    }
    let [text, keys] = Layout::vertical([Constraint::Min(0), Constraint::Length(1)]).areas(inner);

    let mut lines = vec![Line::styled(
        fmt::clean(&step.question),
        theme.header().add_modifier(Modifier::BOLD),
    )];
    // What was last said (about this step, or the one just answered), else where the step stands.
    let said = guide.said.as_ref().filter(|(id, _, right)| {
        *id == step.id || (*right && at > 0 && workshop.steps[at - 1].id == *id)
    });
    if step.done {
        let evidence = step.evidence.as_deref().unwrap_or("done");
        lines.push(Line::styled(
            format!("✓ {}", fmt::clean(evidence)),
            theme.good(),
        ));
    } else if let Some((id, text, right)) = said {
        let about = if *id == step.id {
            String::new()
        } else {
            format!("{}: ", workshop.step(id).map_or("", |s| s.title.as_str()))
        };
        let (mark, style) = if *right {
            ("✓", theme.good())
        } else {
            ("✗", theme.error())
        };
        lines.push(Line::styled(
            format!("{mark} {}{}", fmt::clean(&about), fmt::clean(text)),
            style,
        ));
    }
    if !step.done
        && let Some(waiting) = &step.waiting
    {
        let what = match step.kind {
            StepKind::Verify => "so far",
            _ => "not yet",
        };
        lines.push(Line::styled(
            format!("{what}: {}", fmt::clean(waiting)),
            theme.dim(),
        ));
    }
    // Every hint given where there is room, else the latest.
    let shown = if tall {
        0
    } else {
        step.hints.len().saturating_sub(1)
    };
    for (i, hint) in step.hints.iter().enumerate().skip(shown) {
        lines.push(Line::from(vec![
            Span::styled(
                format!("hint {}/{}: ", i + 1, step.hints_total),
                theme.warn(),
            ),
            Span::raw(fmt::clean(hint)),
        ]));
    }
    if tall {
        lines.push(Line::raw(""));
        for (i, s) in workshop.steps.iter().enumerate() {
            let mark = if s.done {
                "✓"
            } else if i == at {
                "▸"
            } else {
                " "
            };
            let style = if s.done { theme.good() } else { theme.dim() };
            lines.push(Line::styled(
                format!("{mark} {}. {}", i + 1, fmt::clean(&s.title)),
                style,
            ));
        }
    }
    Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .render(text, buf);

    let line = match &guide.input {
        Some(input) => {
            // The end of the answer, with the cursor, whatever its length.
            let room = keys.width.saturating_sub(10) as usize;
            let typed: String = fmt::clean(input);
            let skip = typed.chars().count().saturating_sub(room);
            let shown: String = typed.chars().skip(skip).collect();
            Line::from(vec![
                Span::styled(" answer> ", theme.header()),
                Span::raw(shown),
                Span::styled("█", theme.dim()),
            ])
        }
        None if guide.asking => Line::styled(" checking…", theme.dim()),
        None => {
            let mut keys = Vec::new();
            if step.kind == StepKind::Answer && !step.done {
                keys.push("A answer".to_owned());
            }
            if step.hints.len() < step.hints_total {
                keys.push(format!(
                    "H hint {}/{}",
                    step.hints.len() + 1,
                    step.hints_total
                ));
            }
            keys.push("< > steps".to_owned());
            Line::styled(format!(" {}", keys.join(" · ")), theme.dim())
        }
    };
    line.render(keys, buf);
}
