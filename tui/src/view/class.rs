//! The class table in the guide pane of the instructor's lab (`lab workshop --instructor`): each student, the
//! step they are on, how many steps are done, the time they have spent, the hints they used and their wrong
//! answers, and how long ago their lab last reported (dimmed when that is a while ago).

use protocol::ClassResponse;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Widget};

use crate::app::App;
use crate::fmt;

/// A report older than this marks its student as not heard from.
const STALE_S: u64 = 30;

/// `seconds` as `1h05`, `12m03`, `45s`.
fn spent(seconds: u64) -> String {
    match seconds {
        s if s >= 3600 => format!("{}h{:02}", s / 3600, s % 3600 / 60),
        s if s >= 60 => format!("{}m{:02}", s / 60, s % 60),
        s => format!("{s}s"),
    }
}

pub fn render(app: &App, class: &ClassResponse, area: Rect, buf: &mut Buffer) {
    let theme = &app.theme;
    let title = format!(" Class · {} students ", class.students.len());
    let inner = super::guide::frame(app, title, area, buf);
    let name = (inner.width as usize).saturating_sub(41).clamp(6, 20);
    let mut lines = vec![Line::styled(
        format!(
            "{:<name$} v {:<14}  done  time  h  ✗  seen",
            "student", "step"
        ),
        theme.header(),
    )];
    if class.students.is_empty() {
        lines.push(Line::styled(
            "no student has reported yet (lab workshop --student NAME --class URL)",
            theme.dim(),
        ));
    }
    for student in &class.students {
        let p = &student.progress;
        let step = p.current.as_deref().unwrap_or("all done");
        let style = if p.current.is_none() {
            theme.good()
        } else if student.quiet_s > STALE_S {
            theme.dim()
        } else {
            ratatui::style::Style::new()
        };
        lines.push(Line::styled(
            format!(
                "{:<name$} {} {:<14} {:>2}/{:<2} {:>5} {:>2} {:>2} {:>5}",
                fmt::fit(&fmt::clean(&p.student), name),
                p.variant,
                fmt::fit(&fmt::clean(step), 14),
                p.done,
                p.total,
                spent(p.time_spent_s),
                p.hints_used,
                p.wrong_answers,
                spent(student.quiet_s),
            ),
            style,
        ));
    }
    Paragraph::new(lines).render(inner, buf);
}
