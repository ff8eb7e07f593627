//! The guide of a workshop in another process (`lab tui --connect` to a `lab workshop`), or the class of an
//! instructor's lab, read through its query API: the guide pane over the network.

use protocol::{AnswerRequest, AnswerResponse, ClassResponse, HintResponse, WorkshopResponse};

use crate::run::GuideSource;
use crate::source::{Remote, segment};

/// The guide (and class) served at a query API's address.
#[derive(Debug)]
pub struct RemoteGuide {
    remote: Remote,
    /// Whether the lab serves a workshop (a student's) and a class (the instructor's).
    workshop: bool,
    class: bool,
}

impl RemoteGuide {
    /// The guide or class of the lab at `base`, when it serves either (`lab up` and `lab collect` serve
    /// neither).
    pub fn probe(base: &str) -> anyhow::Result<Option<RemoteGuide>> {
        let remote = Remote::new(base)?;
        let workshop = remote
            .get::<WorkshopResponse>("/api/workshop", &[])?
            .is_some();
        let class = remote.get::<ClassResponse>("/api/class", &[])?.is_some();
        Ok((workshop || class).then_some(RemoteGuide {
            remote,
            workshop,
            class,
        }))
    }
}

impl GuideSource for RemoteGuide {
    fn workshop(&self) -> anyhow::Result<WorkshopResponse> {
        anyhow::ensure!(
            self.workshop,
            "the instructor's lab has no workshop of its own"
        );
        self.remote.must("/api/workshop", &[])
    }

    fn answer(&self, step: &str, answer: &str) -> anyhow::Result<AnswerResponse> {
        let body = AnswerRequest {
            answer: answer.to_owned(),
        };
        let path = format!("/api/workshop/steps/{}/answer", segment(step));
        self.remote.post(&path, &body)
    }

    fn hint(&self, step: &str) -> anyhow::Result<HintResponse> {
        let path = format!("/api/workshop/steps/{}/hint", segment(step));
        self.remote.post(&path, &serde_json::json!({}))
    }

    fn class(&self) -> Option<anyhow::Result<ClassResponse>> {
        self.class.then(|| self.remote.must("/api/class", &[]))
    }
}
