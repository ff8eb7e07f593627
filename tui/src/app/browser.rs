//! The Browser tab's state and keys: what the shoppers saw, from the collector's real user monitoring —
//! pages (by load time or by errors), front-end errors and sessions in one list, and a session's journey,
//! whose documents and calls open the backend trace they caused.

use protocol::{
    RumErrorGroup, RumJourneyEvent, RumJourneyView, RumPage, RumSession, RumSessionSummary,
};
use ratatui::crossterm::event::{KeyCode, KeyEvent};

use super::{Action, App, Tab};
use crate::trace::Focus;

/// The Browser tab's own state.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BrowserState {
    /// The row selected in the list of pages, then errors, then sessions.
    pub selected: usize,
    /// Pages sorted by error rate (`e`) rather than by load time (`l`).
    pub by_errors: bool,
    /// The session whose journey is open.
    pub journey: Option<Journey>,
}

/// A session's journey, open on the Browser tab.
#[derive(Clone, Debug, PartialEq)]
pub struct Journey {
    pub id: String,
    /// `None` until fetched (or when the collector no longer holds it).
    pub session: Option<RumSession>,
    pub selected: usize,
}

/// A row of the Browser tab's list.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum BrowserRow<'a> {
    Page(&'a RumPage),
    Error(&'a RumErrorGroup),
    Session(&'a RumSessionSummary),
}

/// A row of a journey: a page view, or something that happened on it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum JourneyRow<'a> {
    View(&'a RumJourneyView),
    Event(&'a RumJourneyEvent),
}

impl JourneyRow<'_> {
    /// The backend trace the row's document or call caused.
    pub fn trace_id(&self) -> Option<&str> {
        match self {
            JourneyRow::View(view) => view.trace_id.as_deref(),
            JourneyRow::Event(event) => event.trace_id.as_deref(),
        }
    }
}

impl App {
    /// The pages in their shown order: slowest p75 load first, or highest error rate first.
    pub fn browser_pages(&self) -> Vec<&RumPage> {
        let mut pages: Vec<&RumPage> = self.overview.browser.pages.iter().collect();
        if self.browser.by_errors {
            pages.sort_by(|a, b| {
                (b.error_rate.total_cmp(&a.error_rate))
                    .then(b.errors.cmp(&a.errors))
                    .then_with(|| a.page.cmp(&b.page))
            });
        }
        pages
    }

    /// The list's rows: pages, then front-end errors, then sessions.
    pub fn browser_rows(&self) -> Vec<BrowserRow<'_>> {
        let browser = &self.overview.browser;
        (self.browser_pages().into_iter().map(BrowserRow::Page))
            .chain(browser.errors.iter().map(BrowserRow::Error))
            .chain(browser.sessions.iter().map(BrowserRow::Session))
            .collect()
    }

    /// The open journey's rows: each view, then what happened on it, in order.
    pub fn journey_rows(&self) -> Vec<JourneyRow<'_>> {
        let Some(session) = self
            .browser
            .journey
            .as_ref()
            .and_then(|j| j.session.as_ref())
        else {
            return Vec::new();
        };
        let mut rows = Vec::new();
        for view in &session.views {
            rows.push(JourneyRow::View(view));
            rows.extend(view.events.iter().map(JourneyRow::Event));
        }
        rows
    }

    /// The list the Browser tab moves in: the journey's rows when one is open, else the tab's.
    pub(super) fn browser_list(&mut self) -> (&mut usize, usize) {
        match self.browser.journey.is_some() {
            true => {
                let len = self.journey_rows().len();
                let journey = self.browser.journey.as_mut().expect("checked");
                (&mut journey.selected, len)
            }
            false => {
                let len = self.browser_rows().len();
                (&mut self.browser.selected, len)
            }
        }
    }

    /// Takes in a fetched journey (for the session still open).
    pub(super) fn take_journey(&mut self, session: Option<RumSession>) {
        if let Some(journey) = &mut self.browser.journey
            && session.as_ref().is_none_or(|s| s.summary.id == journey.id)
        {
            journey.session = session;
            let len = self.journey_rows().len();
            if let Some(journey) = &mut self.browser.journey {
                journey.selected = journey.selected.min(len.saturating_sub(1));
            }
        }
    }

    /// Enter on the Browser tab: a session (or an error's example session) opens its journey; in a journey, a
    /// page view or a call opens the backend trace it caused.
    pub(super) fn browser_enter(&mut self) -> Option<Action> {
        if self.browser.journey.is_some() {
            let rows = self.journey_rows();
            let row = rows.get(self.browser.journey.as_ref()?.selected)?;
            let Some(id) = row.trace_id().map(str::to_owned) else {
                self.say(
                    "no backend trace for this row: Enter on a page view or a call",
                    true,
                );
                return None;
            };
            return self.open_trace(id, Focus::None);
        }
        let id = match self.browser_rows().get(self.browser.selected)? {
            BrowserRow::Session(session) => session.id.clone(),
            BrowserRow::Error(error) => error.example_session.clone(),
            BrowserRow::Page(_) => {
                self.say(
                    "Enter on an error or a session shows a shopper's journey",
                    false,
                );
                return None;
            }
        };
        self.browser.journey = Some(Journey {
            id,
            session: None,
            selected: 0,
        });
        self.refresh()
    }

    /// Esc on the Browser tab: closes the journey.
    pub(super) fn browser_back(&mut self) -> Option<Action> {
        self.browser.journey.take()?;
        self.refresh()
    }

    /// The Browser tab's own keys: `l` and `e` sort the pages by load time or by errors.
    pub(super) fn browser_key(&mut self, key: KeyEvent) -> Option<Action> {
        if self.tab != Tab::Browser || self.browser.journey.is_some() {
            return None;
        }
        match key.code {
            KeyCode::Char('e') => self.browser.by_errors = true,
            KeyCode::Char('l') => self.browser.by_errors = false,
            _ => {}
        }
        None
    }
}
