//! The contract between the collector and whatever reads it (the dashboard, the report, scripts): every answer
//! of the query API and the parameters it takes, as plain data with serde, defined once. The collector fills
//! these types and serialises them; the dashboard's remote source deserialises the same types. Nothing here
//! computes a figure, does I/O or knows a server.
//!
//! Field names are part of the interface. Times are unix nanoseconds, durations milliseconds.

pub mod class;
pub mod query;
pub mod responses;
pub mod results;
pub mod rum;
pub mod text;
pub mod trace;
pub mod units;
pub mod workshop;

pub use class::{ClassResponse, ClassStudent, StepReport, StudentProgress};
pub use query::{Sort, TraceSearch, TraceSort, Window};
pub use responses::{
    ApiError, DeploymentsResponse, EndpointsResponse, ErrorsResponse, ExportStats, ExportToggle,
    Grouped, InsightsResponse, LatencyResponse, LogStats, LogView, LogsResponse, ServicesResponse,
    SourceLine, SourceResponse, Stats, TracesResponse,
};
pub use results::{
    DependencyChange, Deployment, ErrorGroup, LogCount, MapEdge, MapNode, NPlusOne, ServiceMap,
    ServiceStats, Statement, VersionChange,
};
pub use rum::{
    RumErrorGroup, RumErrorsResponse, RumJourneyEvent, RumJourneyView, RumPage, RumPagesResponse,
    RumSession, RumSessionSummary, RumSessionsResponse, RumStats,
};
pub use trace::{
    CodeLocation, Dropped, EventView, ExceptionView, Frame, RepeatGroup, SpanView, TraceSummary,
    TraceView, parse_trace_id,
};
pub use workshop::{
    AnswerRequest, AnswerResponse, HintResponse, StepKind, WorkshopResponse, WorkshopStep,
};
