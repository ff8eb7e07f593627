//! The page layout every storefront HTML page shares: title, navigation, search box, footer — and, in the broken
//! shop, the ad banner, which is the workshop's "wrong file" bug.

use std::panic::Location;

use crate::catalog::{self, Taxon};
use crate::error::Error;
use crate::{ADS_IN_LAYOUT, AppState};

/// The ad a page handler loaded for its banner, or didn't.
#[derive(Debug, Clone)]
pub enum AdSlot {
    /// The handler never asked the ads service: only the home and product pages do.
    NotLoaded,
    /// The handler asked, and the ads service did not answer in time: the page renders without a banner.
    Unavailable,
    Loaded(Banner),
}

/// An ad ready to show: its image inlined as a data URI (the server fetched it), linked to the ad's page.
#[derive(Debug, Clone, PartialEq)]
pub struct Banner {
    pub name: String,
    pub url: String,
    pub image: String,
}

/// Renders the ad banner of `ad`, failing when the page never loaded an ad. The error points at the caller's
/// file and line, the way a template error points at the template line that did the lookup.
/// Traced as a span of its own (`render banner`), which records the error.
#[track_caller]
pub fn banner(ad: &AdSlot) -> Result<Option<Banner>, Error> {
    let location = Location::caller();
    let span = tracing::info_span!(
        "render banner",
        code.file.path = location.file(),
        // An i64, so that it is exported as an int (tracing-opentelemetry records a u32 as text).
        code.line.number = i64::from(location.line())
    );
    let _entered = span.enter();
    match ad {
        AdSlot::Loaded(banner) => Ok(Some(banner.clone())),
        AdSlot::Unavailable => Ok(None),
        AdSlot::NotLoaded => {
            let err = Error::MissingAd { location };
            shop_runtime::telemetry::record_error(&span, err.kind(), &err.to_string(), location);
            Err(err)
        }
    }
}

/// What the layout shows around every page.
#[derive(Debug, Clone)]
pub struct Layout {
    pub title: String,
    pub taxons: Vec<Taxon>,
    pub keywords: String,
    pub banner: Option<Banner>,
    pub service: &'static str,
    pub version: String,
}

impl Layout {
    /// The layout of a page titled `title`, whose handler loaded `ad` (or not).
    pub async fn new(
        state: &AppState,
        title: impl Into<String>,
        ad: &AdSlot,
    ) -> Result<Layout, Error> {
        let taxons = catalog::taxons(&state.db).await?;
        let broken = state.faults.is_on(ADS_IN_LAYOUT);
        // FAULT frontend.ads-in-layout: the banner is rendered in the layout every page shares, but only some pages
        // load an ad (home, product; by variant the listings or the search: `listing_ad`); on the others the call
        // fails with HTTP 500. The fix renders it in the views that loaded the ad. Each variant calls it elsewhere.
        let banner = match broken.then(|| state.faults.variant().number()) {
            Some(0) => banner(ad)?,
            Some(1) => navigation_banner(ad)?,
            Some(_) => footer_banner(ad)?,
            None => None,
        };
        Ok(Layout {
            title: title.into(),
            taxons,
            keywords: String::new(),
            banner,
            service: crate::SERVICE,
            version: state.faults.version(),
        })
    }

    /// The same layout with the search box filled in.
    pub fn with_keywords(mut self, keywords: &str) -> Layout {
        keywords.clone_into(&mut self.keywords);
        self
    }

    /// Whether the views render the banner themselves (the fixed shop) rather than the layout.
    pub fn banner_in_views(state: &AppState) -> bool {
        !state.faults.is_on(ADS_IN_LAYOUT)
    }

    /// The banner a listing's view renders: its ad's, in the fixed shop, when it loaded one.
    pub fn listing_banner(state: &AppState, ad: &AdSlot) -> Result<Option<Banner>, Error> {
        match ad {
            AdSlot::NotLoaded => Ok(None),
            _ if Layout::banner_in_views(state) => banner(ad),
            _ => Ok(None),
        }
    }
}

/// What a page shows for real user monitoring, read from the page being served (`rum::scope`).
impl Layout {
    /// Datadog's browser SDK and what it is initialised with; `None` serves the page without RUM.
    pub fn rum(&self) -> Option<crate::rum::RumInit> {
        crate::rum::RumInit::for_page()
    }

    /// Whether the page script's cart badge update is the broken one (`frontend.cart-badge`).
    pub fn cart_badge_fault(&self) -> bool {
        crate::rum::cart_badge_fault()
    }
}

/// FAULT frontend.ads-in-layout, variant 1: the layout's navigation renders the banner.
fn navigation_banner(ad: &AdSlot) -> Result<Option<Banner>, Error> {
    banner(ad)
}

/// FAULT frontend.ads-in-layout, variant 2: the layout's footer renders the banner.
fn footer_banner(ad: &AdSlot) -> Result<Option<Banner>, Error> {
    banner(ad)
}

/// A listing page that, by variant, loads an ad like the home and product pages do: the taxon pages (variant
/// 1) or the search (variant 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listing {
    Taxon,
    Search,
}

/// The ad of a listing page: loaded where its variant's listing loads one, else `NotLoaded`.
pub async fn listing_ad(state: &AppState, listing: Listing) -> AdSlot {
    let loads = match state.faults.variant().number() {
        1 => listing == Listing::Taxon,
        2 => listing == Listing::Search,
        _ => false,
    };
    if loads {
        state.upstreams.random_ad().await
    } else {
        AdSlot::NotLoaded
    }
}
