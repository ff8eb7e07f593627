//! The whole shop in one process: the storefront, ads and discounts services, each on its own listener, each with
//! its own database (SQLite files in a data directory, or a schema each on PostgreSQL).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use shop_runtime::{DbOptions, Export, Faults, ShopState, Telemetry, Variant, serve};
use tokio::sync::watch;
use tokio::task::{JoinError, JoinSet};

/// Where and how to run the shop.
#[derive(Debug, Clone)]
pub struct ShopOptions {
    pub state: ShopState,
    /// PostgreSQL instead of SQLite.
    pub database_url: Option<String>,
    /// Where the SQLite files go.
    pub data_dir: PathBuf,
    pub host: IpAddr,
    pub storefront_port: u16,
    pub ads_port: u16,
    pub discounts_port: u16,
    /// How long the storefront waits for the ads and discounts services.
    pub upstream_timeout: Duration,
    /// Where the services' spans go; in the `broken-no-instrumentation` state nowhere, whatever this says.
    pub export: Export,
    /// PostgreSQL only: put the services' schemas under this prefix (`<prefix>_discounts_service`), so that
    /// two shops share one database without sharing tables.
    pub schema_prefix: Option<String>,
    /// Where the storefront's `/rum` forwards the browser SDK's batches (the collector's OTLP/HTTP base URL);
    /// without it the pages load no SDK.
    pub rum_intake: Option<String>,
    /// Which version of each fault the services run (`lab workshop --variant`).
    pub variant: Variant,
    /// The RUM application the storefront's pages report as.
    pub rum_app: storefront::rum::RumApp,
    /// The browser SDK the storefront's pages load: the one built in, if the build found one.
    pub rum_sdk: Option<storefront::rum::Sdk>,
}

impl ShopOptions {
    /// The workshop's ports (3000, 5002, 5001) on 127.0.0.1.
    pub fn new(state: ShopState, data_dir: PathBuf) -> ShopOptions {
        ShopOptions {
            state,
            database_url: None,
            data_dir,
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            storefront_port: storefront::PORT,
            ads_port: ads_service::PORT,
            discounts_port: discounts_service::PORT,
            upstream_timeout: Duration::from_secs(5),
            export: Export::Off,
            schema_prefix: None,
            rum_intake: None,
            variant: Variant::ORIGINAL,
            rum_app: storefront::rum::RumApp::default(),
            rum_sdk: storefront::rum::Sdk::built_in(),
        }
    }

    /// Ports the system picks, for tests and for shops that run beside another.
    pub fn ephemeral(state: ShopState, data_dir: PathBuf) -> ShopOptions {
        ShopOptions {
            storefront_port: 0,
            ads_port: 0,
            discounts_port: 0,
            ..ShopOptions::new(state, data_dir)
        }
    }

    fn db(&self, service: &str) -> DbOptions {
        let mut options =
            DbOptions::for_service(self.database_url.as_deref(), &self.data_dir, service);
        if let (Some(prefix), Some(schema)) = (&self.schema_prefix, &options.schema) {
            options.schema = Some(format!("{prefix}_{schema}"));
        }
        options
    }
}

/// The three services, serving until [`RunningShop::stop`].
#[derive(Debug)]
pub struct RunningShop {
    pub storefront: SocketAddr,
    pub ads: SocketAddr,
    pub discounts: SocketAddr,
    pub storefront_state: storefront::AppState,
    pub ads_state: ads_service::AppState,
    pub discounts_state: discounts_service::AppState,
    /// The storefront's server and its stop signal, apart: it stops before the services it calls.
    storefront_shutdown: watch::Sender<bool>,
    /// A set of one, so that dropping the shop aborts it as it does the others.
    storefront_server: JoinSet<std::io::Result<()>>,
    /// The ads and discounts services' servers and their stop signal.
    upstreams_shutdown: watch::Sender<bool>,
    upstream_servers: JoinSet<std::io::Result<()>>,
}

impl RunningShop {
    /// Opens the databases (creating and seeding them on first start), binds the three listeners, and serves.
    pub async fn start(options: &ShopOptions) -> anyhow::Result<RunningShop> {
        let faults_on = options.state.faults_on();
        let export = if options.state.instrumented() {
            options.export.clone()
        } else {
            Export::Off
        };
        let variant = options.variant;
        let ads_state = ads_service::AppState::open_variant(
            &options.db(ads_service::SERVICE),
            faults_on,
            variant,
        )
        .await
        .context("opening the advertisements database")?
        .with_telemetry(export.clone())?;
        let discounts_state = discounts_service::AppState::open_variant(
            &options.db(discounts_service::SERVICE),
            faults_on,
            variant,
        )
        .await
        .context("opening the discounts database")?
        .with_telemetry(export.clone())?;
        let ads_listener = serve::bind(
            ads_service::SERVICE,
            SocketAddr::new(options.host, options.ads_port),
        )
        .await?;
        let discounts_listener = serve::bind(
            discounts_service::SERVICE,
            SocketAddr::new(options.host, options.discounts_port),
        )
        .await?;
        let storefront_listener = serve::bind(
            storefront::SERVICE,
            SocketAddr::new(options.host, options.storefront_port),
        )
        .await?;
        let (ads, discounts, storefront) = (
            ads_listener.local_addr()?,
            discounts_listener.local_addr()?,
            storefront_listener.local_addr()?,
        );
        let upstreams = storefront::UpstreamConfig {
            ads_url: format!("http://{ads}"),
            discounts_url: format!("http://{discounts}"),
            timeout: options.upstream_timeout,
            rum_intake: options.rum_intake.clone(),
            rum_app: options.rum_app.clone(),
            rum_sdk: options.rum_sdk,
        };
        let storefront_state = storefront::AppState::open_variant(
            &options.db(storefront::SERVICE),
            faults_on,
            variant,
            upstreams,
        )
        .await
        .context("opening the storefront database")?
        .with_telemetry(export)?;

        let (upstreams_shutdown, stopped) = watch::channel(false);
        let mut upstream_servers = JoinSet::new();
        for (service, listener, router) in [
            (
                ads_service::SERVICE,
                ads_listener,
                ads_service::router(ads_state.clone()),
            ),
            (
                discounts_service::SERVICE,
                discounts_listener,
                discounts_service::router(discounts_state.clone()),
            ),
        ] {
            upstream_servers.spawn(serve::serve(
                service,
                listener,
                router,
                stopped_by(stopped.clone()),
            ));
        }
        let (storefront_shutdown, stopped) = watch::channel(false);
        let mut storefront_server = JoinSet::new();
        storefront_server.spawn(serve::serve(
            storefront::SERVICE,
            storefront_listener,
            storefront::router(storefront_state.clone()),
            stopped_by(stopped),
        ));
        Ok(RunningShop {
            storefront,
            ads,
            discounts,
            storefront_state,
            ads_state,
            discounts_state,
            storefront_shutdown,
            storefront_server,
            upstreams_shutdown,
            upstream_servers,
        })
    }

    /// The fault switches of the three services.
    pub fn faults(&self) -> [&Faults; 3] {
        [
            &self.storefront_state.faults,
            &self.ads_state.faults,
            &self.discounts_state.faults,
        ]
    }

    /// Where each service listens, as lines for a person.
    pub fn describe(&self) -> String {
        let line = |name: &str, addr: SocketAddr, faults: &Faults| {
            format!(
                "  {name:<24} http://{addr}  (version {})\n",
                faults.version()
            )
        };
        line(
            storefront::SERVICE,
            self.storefront,
            &self.storefront_state.faults,
        ) + &line(ads_service::SERVICE, self.ads, &self.ads_state.faults)
            + &line(
                discounts_service::SERVICE,
                self.discounts,
                &self.discounts_state.faults,
            )
    }

    /// What `lab up` says of real user monitoring: whether the storefront's pages load Datadog's browser SDK,
    /// and if not, why and what to do.
    pub fn rum_notice(&self) -> String {
        let config = self.storefront_state.upstreams.config();
        match (config.rum_sdk, &config.rum_intake) {
            (None, _) => "The storefront was built without Datadog's browser SDK: its pages are served without \
                          RUM (build with the npm registry reachable, or LAB_RUM_SDK=/path/to/datadog-rum-slim.js)."
                .to_owned(),
            (Some(_), None) => {
                "No OTLP/HTTP receiver, so no browser intake: the pages are served without RUM.".to_owned()
            }
            (Some(sdk), Some(_)) => format!(
                "Real user monitoring: the pages load Datadog's browser SDK ({}), reporting through /rum.",
                sdk.origin
            ),
        }
    }

    /// The three services' telemetry.
    pub fn telemetry(&self) -> [&Telemetry; 3] {
        [
            &self.storefront_state.telemetry,
            &self.ads_state.telemetry,
            &self.discounts_state.telemetry,
        ]
    }

    /// Stops accepting, finishes the requests in flight, exports the spans still buffered, releases the
    /// ports and closes the databases. The storefront stops first: its requests in flight still call the ads
    /// and discounts services, which must be there to answer. Everything is stopped even when a step fails; the
    /// first failure is the error.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let mut result = Ok(());
        for (shutdown, servers) in [
            (&self.storefront_shutdown, &mut self.storefront_server),
            (&self.upstreams_shutdown, &mut self.upstream_servers),
        ] {
            let _ = shutdown.send(true);
            while let Some(joined) = servers.join_next().await {
                result = result.and(served(joined));
            }
        }
        let telemetry: Vec<Telemetry> = self.telemetry().into_iter().cloned().collect();
        let flushed =
            tokio::task::spawn_blocking(move || telemetry.iter().for_each(Telemetry::shutdown))
                .await
                .context("flushing the spans");
        self.storefront_state.db.close().await;
        self.ads_state.db.close().await;
        self.discounts_state.db.close().await;
        result.and(flushed)
    }
}

/// Resolves once `stop` says so: a server's graceful-shutdown signal.
async fn stopped_by(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

/// How a server task ended, as the shop's error.
fn served(joined: Result<std::io::Result<()>, JoinError>) -> anyhow::Result<()> {
    joined.context("a server task panicked")?.context("serving")
}
