//! The guide pane's state and keys (`lab workshop`): the workshop's steps as the lab serves them, the step on
//! show, the answer being typed and the last verdict; in the instructor's lab, the class. `W` shows or hides the pane; while it shows, `A` types
//! an answer to the step, `H` asks for its next hint, `<` and `>` go through the steps.

use protocol::{AnswerResponse, HintResponse, StepKind, WorkshopResponse, WorkshopStep};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::{Action, App};

/// The longest answer typed, in characters.
const MAX_TYPED: usize = 500;

/// The guide pane, in a dashboard that has a guide.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GuidePane {
    pub shown: bool,
    /// The steps, as last fetched (`None` until the first fetch).
    pub workshop: Option<WorkshopResponse>,
    /// The step on show, when the student picked one; otherwise the current one (the first not done).
    pub picked: Option<String>,
    /// The answer being typed, while one is.
    pub input: Option<String>,
    /// The last verdict or hint's outcome, for the step it was about: (step, text, right).
    pub said: Option<(String, String, bool)>,
    /// An answer or hint request is on its way.
    pub asking: bool,
    /// The class, in the instructor's lab: the pane shows it instead of steps.
    pub class: Option<protocol::ClassResponse>,
}

/// What the guide asks of the lab (the event loop carries it out).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GuideRequest {
    Answer { step: String, answer: String },
    Hint { step: String },
}

/// The lab's reply to a [`GuideRequest`].
#[derive(Clone, Debug, PartialEq)]
pub enum GuideReply {
    Answered(AnswerResponse),
    Hint(HintResponse),
    Failed(String),
}

impl GuidePane {
    /// The step on show: the one picked, else the first not done, else the last.
    pub fn step(&self) -> Option<&WorkshopStep> {
        let workshop = self.workshop.as_ref()?;
        let wanted = self.picked.as_deref().or(workshop.current.as_deref());
        wanted
            .and_then(|id| workshop.step(id))
            .or(workshop.steps.last())
    }

    /// The step on show's position, from 0.
    pub fn position(&self) -> Option<usize> {
        let workshop = self.workshop.as_ref()?;
        let id = &self.step()?.id;
        workshop.steps.iter().position(|s| s.id == *id)
    }

    /// What was last said about the step on show.
    pub fn said(&self) -> Option<(&str, bool)> {
        let (step, text, right) = self.said.as_ref()?;
        (Some(step) == self.step().map(|s| &s.id)).then_some((text.as_str(), *right))
    }
}

impl App {
    /// Whether an answer is being typed (every key goes to it).
    pub fn guide_typing(&self) -> bool {
        self.guide.as_ref().is_some_and(|g| g.input.is_some())
    }

    /// The guide's keys, when `key` is one: `Some` with what to do, `None` when it means something else.
    pub(super) fn guide_key(&mut self, key: KeyEvent) -> Option<Option<Action>> {
        if self.guide_typing() {
            return Some(self.typing_key(key));
        }
        let shown = self.guide.as_ref().is_some_and(|g| g.shown);
        match key.code {
            KeyCode::Char('W') => {
                let Some(guide) = &mut self.guide else {
                    self.say(
                        "the guide runs in `lab workshop`, or over one with `lab tui --connect`",
                        true,
                    );
                    return Some(None);
                };
                guide.shown = !guide.shown;
                Some(None)
            }
            KeyCode::Char('A') if shown => Some(self.start_answer()),
            KeyCode::Char('H') if shown => Some(self.ask_hint()),
            KeyCode::Char(c @ ('<' | '>')) if shown => {
                let guide = self.guide.as_mut()?;
                let steps = guide.workshop.as_ref().map_or(0, |w| w.steps.len());
                let at = guide.position()?;
                let to = if c == '<' {
                    at.saturating_sub(1)
                } else {
                    (at + 1).min(steps.saturating_sub(1))
                };
                guide.picked = (guide.workshop.as_ref()?.steps.get(to)).map(|s| s.id.clone());
                Some(None)
            }
            _ => None,
        }
    }

    fn start_answer(&mut self) -> Option<Action> {
        let guide = self.guide.as_mut()?;
        let step = guide.step()?;
        if step.kind != StepKind::Answer {
            let message = "this step is done when the lab's data shows it: nothing to answer";
            self.say(message, false);
            return None;
        }
        guide.input = Some(String::new());
        None
    }

    fn ask_hint(&mut self) -> Option<Action> {
        let guide = self.guide.as_mut()?;
        let step = guide.step()?;
        if step.hints.len() >= step.hints_total {
            let message = "no more hints for this step";
            self.say(message, false);
            return None;
        }
        let step = step.id.clone();
        guide.asking = true;
        Some(Action::Guide(GuideRequest::Hint { step }))
    }

    fn typing_key(&mut self, key: KeyEvent) -> Option<Action> {
        let guide = self.guide.as_mut()?;
        let input = guide.input.as_mut()?;
        match key.code {
            KeyCode::Esc => guide.input = None,
            KeyCode::Enter if input.trim().is_empty() => guide.input = None,
            KeyCode::Enter => {
                let answer = std::mem::take(input);
                guide.input = None;
                let step = guide.step()?.id.clone();
                // The step answered stays on show, whatever becomes current.
                guide.picked = Some(step.clone());
                guide.asking = true;
                return Some(Action::Guide(GuideRequest::Answer { step, answer }));
            }
            KeyCode::Backspace => {
                input.pop();
            }
            KeyCode::Char('u') if key.modifiers.contains(KeyModifiers::CONTROL) => input.clear(),
            KeyCode::Char(c) if !c.is_control() && input.chars().count() < MAX_TYPED => {
                input.push(c);
            }
            _ => {}
        }
        None
    }

    /// Takes in the lab's reply to a guide request.
    pub(super) fn guide_reply(&mut self, reply: GuideReply) {
        let Some(guide) = &mut self.guide else { return };
        guide.asking = false;
        match reply {
            GuideReply::Answered(verdict) => {
                if let Some(step) = (guide.workshop.as_mut())
                    .and_then(|w| w.steps.iter_mut().find(|s| s.id == verdict.step))
                {
                    if verdict.correct {
                        step.done = true;
                        step.evidence = Some(verdict.reason.clone());
                    } else {
                        step.wrong_answers += 1;
                    }
                }
                if verdict.correct {
                    // On to the next step not done.
                    guide.picked = verdict.next.clone();
                    if let Some(w) = guide.workshop.as_mut() {
                        w.current = verdict.next.clone();
                    }
                }
                guide.said = Some((verdict.step, verdict.reason, verdict.correct));
            }
            GuideReply::Hint(hint) => {
                if let (Some(step), Some(text)) = (
                    (guide.workshop.as_mut())
                        .and_then(|w| w.steps.iter_mut().find(|s| s.id == hint.step)),
                    &hint.hint,
                ) && !step.hints.contains(text)
                {
                    step.hints.push(text.clone());
                }
                if hint.hint.is_none() {
                    self.say("no more hints for this step", false);
                }
            }
            GuideReply::Failed(message) => self.say(message, true),
        }
    }

    /// Takes in the steps as the lab now sees them.
    pub(super) fn guide_refreshed(&mut self, workshop: WorkshopResponse) {
        let Some(guide) = &mut self.guide else { return };
        // A step the data just completed moves the pane on, unless the student picked one.
        let was = guide.workshop.as_ref().and_then(|w| w.current.clone());
        if was.is_some() && was != workshop.current && guide.picked == was {
            guide.picked = None;
        }
        guide.workshop = Some(workshop);
    }
}
