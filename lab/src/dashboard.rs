//! The dashboard's links to the lab: its in-process data source ([`InProcess`], the collector of this process
//! or a recording), the shop's fault switches for its fault panel, flipped in-process exactly as the
//! admin API flips them (each flip deploys a new version of the service that owns it), and the workshop's
//! guide for its guide pane ([`LabGuide`]).

use protocol::{ServiceStats, Sort, TraceSearch, TraceSummary, TraceView, Window};
use shop_runtime::Faults;
use tui::app::Fault;
use tui::run::{FaultControl, GuideSource};
use tui::source::{Counts, DataSource, LATENCY_BUCKETS, Overview};

use crate::guide::Guide;
use crate::guide::class::Class;
use crate::shop::RunningShop;

/// The fault switches of a shop running in this process.
#[derive(Debug, Clone)]
pub struct ShopFaults {
    services: Vec<Faults>,
}

impl ShopFaults {
    pub fn of(shop: &RunningShop) -> ShopFaults {
        ShopFaults {
            services: vec![
                shop.storefront_state.faults.clone(),
                shop.ads_state.faults.clone(),
                shop.discounts_state.faults.clone(),
            ],
        }
    }
}

impl FaultControl for ShopFaults {
    fn list(&self) -> anyhow::Result<Vec<Fault>> {
        Ok(self
            .services
            .iter()
            .flat_map(|faults| {
                let version = faults.version();
                faults.statuses().into_iter().map(move |status| Fault {
                    name: status.name.to_owned(),
                    broken: status.broken,
                    description: status.description.to_owned(),
                    service: faults.service().to_owned(),
                    version: version.clone(),
                })
            })
            .collect())
    }

    fn set(&self, name: &str, broken: bool) -> anyhow::Result<String> {
        let faults = self
            .services
            .iter()
            .find(|faults| faults.names().contains(&name))
            .ok_or_else(|| anyhow::anyhow!("no service has a fault named {name:?}"))?;
        let changed = faults.set(name, broken)?;
        let state = if broken { "broken" } else { "fixed" };
        Ok(if changed {
            format!(
                "{name} {state}: {} now runs version {}",
                faults.service(),
                faults.version()
            )
        } else {
            format!("{name} was already {state}")
        })
    }
}

/// The workshop's guide of this process (`lab workshop`), for the dashboard's guide pane: the same [`Guide`]
/// the query API serves, checking against the collector of this process.
/// In the instructor's lab it has the class instead (or beside it), which the pane shows.
#[derive(Clone, Debug)]
pub struct LabGuide {
    guide: Option<Guide>,
    class: Option<Class>,
    query: collector::query::Query,
}

impl LabGuide {
    pub fn new(
        guide: Option<Guide>,
        class: Option<Class>,
        query: collector::query::Query,
    ) -> LabGuide {
        LabGuide {
            guide,
            class,
            query,
        }
    }

    fn guide(&self) -> anyhow::Result<&Guide> {
        (self.guide.as_ref())
            .ok_or_else(|| anyhow::anyhow!("the instructor's lab has no workshop of its own"))
    }
}

impl GuideSource for LabGuide {
    fn workshop(&self) -> anyhow::Result<protocol::WorkshopResponse> {
        Ok(self.guide()?.workshop(&self.query))
    }

    fn answer(&self, step: &str, answer: &str) -> anyhow::Result<protocol::AnswerResponse> {
        Ok(self.guide()?.answer(step, answer, &self.query)?)
    }

    fn hint(&self, step: &str) -> anyhow::Result<protocol::HintResponse> {
        Ok(self.guide()?.hint(step)?)
    }

    fn class(&self) -> Option<anyhow::Result<protocol::ClassResponse>> {
        self.class.as_ref().map(|class| Ok(class.students()))
    }
}

/// The dashboard's data from a collector in this process: the live collector of `lab up`, or a recording read
/// into a store of its own (`lab tui FILE`). Every answer is the collector's own ([`collector::query::Query`],
/// the same the query API serialises), handed over without a trip through JSON.
#[derive(Clone, Debug)]
pub struct InProcess {
    query: collector::query::Query,
    label: String,
    live: bool,
}

impl InProcess {
    /// The collector of this process, receiving spans.
    pub fn live(
        store: collector::store::Store,
        analysis: collector::analysis::Analysis,
        label: impl Into<String>,
    ) -> InProcess {
        InProcess {
            query: collector::query::Query::new(store, analysis),
            label: label.into(),
            live: true,
        }
    }

    /// The same, with the collector's exporters to show and switch.
    pub fn with_exports(mut self, exports: collector::export::Exports) -> InProcess {
        self.query = self.query.with_exports(exports);
        self
    }

    /// A recording (`lab up --record`, `lab collect --record`) read into a store of its own, as `lab report`
    /// reads it; lines that could not be read are returned with their number.
    pub async fn recording(
        path: &std::path::Path,
    ) -> anyhow::Result<(InProcess, Vec<(u64, String)>)> {
        let (store, analysis, loaded) = collector::playback::analyse(
            path,
            collector::store::DEFAULT_CAPACITY,
            Default::default(),
        )
        .await?;
        let source = InProcess {
            query: collector::query::Query::new(store, analysis),
            label: format!("recording {}", path.display()),
            live: false,
        };
        Ok((source, loaded.problems))
    }
}

impl DataSource for InProcess {
    fn describe(&self) -> String {
        self.label.clone()
    }

    fn is_live(&self) -> bool {
        self.live
    }

    fn overview(&self, window: Window) -> anyhow::Result<Overview> {
        let stats = self.query.stats();
        Ok(Overview {
            services: self.query.services(window, Sort::Latency).services,
            map: self.query.map(window),
            errors: self.query.errors().errors,
            n_plus_one: self.query.insights().n_plus_one,
            deployments: self.query.deployments().deployments,
            browser: tui::source::Browser {
                pages: self.query.rum_pages(Sort::Latency).pages,
                errors: self.query.rum_errors().errors,
                sessions: (self.query)
                    .rum_sessions(tui::source::SESSION_LIMIT)
                    .sessions,
            },
            counts: Counts::from(&stats),
            exports: stats.exports,
        })
    }

    fn set_export(&self, name: &str, enabled: bool) -> anyhow::Result<protocol::ExportStats> {
        self.query
            .exports
            .set_enabled(name, enabled)
            .ok_or_else(|| anyhow::anyhow!("this lab has no {name} exporter"))
    }

    fn endpoints(&self, service: &str, window: Window) -> anyhow::Result<Vec<ServiceStats>> {
        Ok(self
            .query
            .endpoints(service, window, Sort::Latency)
            .map(|answer| answer.endpoints)
            .unwrap_or_default())
    }

    fn latency(&self, service: &str) -> anyhow::Result<Vec<f64>> {
        Ok(self
            .query
            .latency(service, LATENCY_BUCKETS)
            .map(|answer| answer.p95_ms)
            .unwrap_or_default())
    }

    fn traces(&self, filter: &TraceSearch) -> anyhow::Result<Vec<TraceSummary>> {
        Ok(self.query.traces(filter).traces)
    }

    fn session(&self, id: &str) -> anyhow::Result<Option<protocol::RumSession>> {
        Ok(self.query.rum_session(id))
    }

    fn trace(&self, trace_id: &str) -> anyhow::Result<Option<TraceView>> {
        let Some(id) = protocol::parse_trace_id(trace_id).map(collector::TraceId::from_u128) else {
            anyhow::bail!(
                "{trace_id:?} is not a trace id (32 hex digits, 16, or a decimal number)"
            );
        };
        Ok(self.query.trace(id))
    }

    fn logs(&self, search: &protocol::query::LogSearch) -> anyhow::Result<Vec<protocol::LogView>> {
        Ok(self
            .query
            .search_logs(search)
            .map_err(anyhow::Error::msg)?
            .logs)
    }
}
