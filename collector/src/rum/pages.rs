//! Per-page figures and front-end error groups, from the views and errors the browser store holds. A page is
//! a view's path templated as the site's own routes (`/products/{slug}`): the `http.route`s its backend
//! service's spans reported, else ids in the path (numbers, uuids, hashes) as `{id}`.

use std::collections::{BTreeSet, HashMap};

use protocol::{RumErrorGroup, RumPage, Sort};

use super::decode::{location, path_of};
use super::{Detail, Event, RumStore};
use crate::analysis::normalize::normalize_message;

/// The routes of a site, as its backend's endpoints name them (`GET /products/{slug}`). Each URL's page is
/// worked out once per `Routes` (one a query), however many events name it.
#[derive(Clone, Debug, Default)]
pub struct Routes {
    /// Each route, and its segments (`None` for a parameter).
    routes: Vec<(String, Vec<Option<String>>)>,
    known: std::cell::RefCell<HashMap<String, String>>,
}

impl Routes {
    /// The `GET` routes among `endpoints` (others are ignored: a page is something a browser GETs).
    pub fn from_endpoints<'a>(endpoints: impl IntoIterator<Item = &'a str>) -> Routes {
        let routes = endpoints
            .into_iter()
            .filter_map(|endpoint| endpoint.strip_prefix("GET "))
            .filter(|route| route.starts_with('/'))
            .map(|route| {
                let parts = segments(route)
                    .map(|s| {
                        let param = s.starts_with('{') || s.starts_with(':') || s.starts_with('*');
                        (!param).then(|| s.to_owned())
                    })
                    .collect();
                (route.to_owned(), parts)
            })
            .collect();
        Routes {
            routes,
            known: Default::default(),
        }
    }

    /// `url`'s path as the page it is: the best matching route (most literal segments), else the path with
    /// its ids as `{id}`.
    pub fn page(&self, url: &str) -> String {
        if let Some(page) = self.known.borrow().get(url) {
            return page.clone();
        }
        let page = self.template(url);
        self.known.borrow_mut().insert(url.to_owned(), page.clone());
        page
    }

    fn template(&self, url: &str) -> String {
        let path = path_of(url);
        let parts: Vec<&str> = segments(&path).collect();
        let best = (self.routes.iter())
            .filter(|(_, route)| {
                route.len() == parts.len()
                    && (route.iter().zip(&parts)).all(|(r, p)| r.as_deref().is_none_or(|r| r == *p))
            })
            .max_by_key(|(_, route)| route.iter().filter(|r| r.is_some()).count());
        if let Some((route, _)) = best {
            return route.clone();
        }
        let parts: Vec<&str> = (parts.iter())
            .map(|p| if looks_like_id(p) { "{id}" } else { p })
            .collect();
        format!("/{}", parts.join("/"))
    }
}

fn segments(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|s| !s.is_empty())
}

fn looks_like_id(segment: &str) -> bool {
    let digits = segment.bytes().filter(u8::is_ascii_digit).count();
    (!segment.is_empty() && digits == segment.len())
        || (segment.len() >= 16
            && digits > 0
            && segment.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-'))
}

/// The nearest-rank `q` quantile of sorted `values` (so never above the largest); 0 when empty.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn sorted(mut values: Vec<f64>) -> Vec<f64> {
    values.sort_by(f64::total_cmp);
    values
}

/// Whether a document resource says the page itself failed.
pub(super) fn failed_document(event: &Event) -> Option<u16> {
    match &event.detail {
        Detail::Resource {
            kind,
            status: Some(status),
            ..
        } if kind == "document" && *status >= 500 => Some(*status),
        _ => None,
    }
}

#[derive(Default)]
struct PageFigures {
    service: String,
    views: u64,
    loads: Vec<f64>,
    lcp: Vec<f64>,
    inp: Vec<f64>,
    cls: Vec<f64>,
    error_views: u64,
    errors: u64,
}

impl RumStore {
    /// Every page's views, load times, web vitals and error rate, sorted by `sort` (`latency`: slowest p75
    /// first; `errors`: highest error rate first; `requests`: most views first; `name`).
    pub fn pages(&self, routes: &Routes, sort: Sort) -> Vec<RumPage> {
        let mut pages = self.with_events(|events| {
            // View id → its page, and the views that failed.
            let mut page_of: HashMap<&str, String> = HashMap::new();
            let mut failed: HashMap<&str, ()> = HashMap::new();
            let mut errors: HashMap<&str, u64> = HashMap::new();
            for event in events {
                match &event.detail {
                    Detail::View(_) => {
                        page_of.insert(&event.view_id, routes.page(&event.view_url));
                    }
                    Detail::Error { .. } => {
                        *errors.entry(&event.view_id).or_default() += 1;
                        failed.insert(&event.view_id, ());
                    }
                    _ if failed_document(event).is_some() => {
                        failed.insert(&event.view_id, ());
                    }
                    _ => {}
                }
            }
            let mut figures: HashMap<&str, PageFigures> = HashMap::new();
            for event in events {
                let Detail::View(view) = &event.detail else {
                    continue;
                };
                let page = &page_of[event.view_id.as_str()];
                let f = figures.entry(page.as_str()).or_default();
                if f.service.is_empty() {
                    f.service.clone_from(&event.service);
                }
                f.views += 1;
                f.loads.extend(view.load_ms);
                f.lcp.extend(view.lcp_ms);
                f.inp.extend(view.inp_ms);
                f.cls.extend(view.cls);
                f.error_views += u64::from(failed.contains_key(event.view_id.as_str()));
                f.errors += errors.get(event.view_id.as_str()).copied().unwrap_or(0);
            }
            figures
                .into_iter()
                .map(|(page, f)| {
                    let loads = sorted(f.loads);
                    let p75 = |v: Vec<f64>| (!v.is_empty()).then(|| quantile(&sorted(v), 0.75));
                    RumPage {
                        page: page.to_owned(),
                        service: f.service,
                        views: f.views,
                        loaded: loads.len() as u64,
                        load_p50_ms: quantile(&loads, 0.50),
                        load_p75_ms: quantile(&loads, 0.75),
                        load_p95_ms: quantile(&loads, 0.95),
                        load_max_ms: loads.last().copied().unwrap_or(0.0),
                        lcp_p75_ms: p75(f.lcp),
                        inp_p75_ms: p75(f.inp),
                        cls_p75: p75(f.cls),
                        error_views: f.error_views,
                        error_rate: f.error_views as f64 / f.views.max(1) as f64,
                        errors: f.errors,
                    }
                })
                .collect::<Vec<_>>()
        });
        pages.sort_by(|a, b| {
            let order = match sort {
                Sort::Latency => b.load_p75_ms.total_cmp(&a.load_p75_ms),
                Sort::Errors => {
                    (b.error_rate.total_cmp(&a.error_rate)).then(b.error_views.cmp(&a.error_views))
                }
                Sort::Requests => b.views.cmp(&a.views),
                Sort::Name => std::cmp::Ordering::Equal,
            };
            order.then_with(|| a.page.cmp(&b.page))
        });
        pages
    }

    /// Front-end errors grouped by source, type, message (normalised) and location in the served script,
    /// with the pages whose documents answered 5xx as `document` errors; most frequent first.
    pub fn errors(&self, routes: &Routes) -> Vec<RumErrorGroup> {
        let mut groups = self.with_events(|events| {
            let mut page_of: HashMap<&str, String> = HashMap::new();
            for event in events {
                if matches!(event.detail, Detail::View(_)) {
                    page_of.insert(&event.view_id, routes.page(&event.view_url));
                }
            }
            let page = |event: &Event| {
                page_of
                    .get(event.view_id.as_str())
                    .cloned()
                    .unwrap_or_else(|| routes.page(&event.view_url))
            };
            type Key = (String, String, String, Option<String>, Option<u32>);
            let mut groups: HashMap<Key, (RumErrorGroup, BTreeSet<String>)> = HashMap::new();
            for event in events {
                let (source, kind, message, stack, place) = match &event.detail {
                    Detail::Error {
                        source,
                        kind,
                        message,
                        stack,
                    } => {
                        let place = stack.as_deref().and_then(location);
                        (
                            source.clone(),
                            kind.clone(),
                            message.clone(),
                            stack.clone(),
                            place,
                        )
                    }
                    Detail::Resource { method, .. } => match failed_document(event) {
                        Some(status) => (
                            "document".to_owned(),
                            format!("HTTP {status}"),
                            format!(
                                "{} {} answered {status}",
                                if method.is_empty() { "GET" } else { method },
                                page(event)
                            ),
                            None,
                            None,
                        ),
                        None => continue,
                    },
                    _ => continue,
                };
                let (file, line, column) = match place {
                    Some((file, line, column)) => (Some(file), Some(line), column),
                    None => (None, None, None),
                };
                let key = (
                    source.clone(),
                    kind.clone(),
                    normalize_message(&message),
                    file.clone(),
                    line,
                );
                let (group, pages) = groups.entry(key).or_insert_with(|| {
                    (
                        RumErrorGroup {
                            source,
                            r#type: kind,
                            message,
                            file,
                            line,
                            column,
                            count: 0,
                            pages: Vec::new(),
                            example_session: event.session.clone(),
                            example_view: event.view_id.clone(),
                            first_seen: event.date_ns,
                            last_seen: event.date_ns,
                            stack,
                        },
                        BTreeSet::new(),
                    )
                });
                group.count += 1;
                group.first_seen = group.first_seen.min(event.date_ns);
                if event.date_ns >= group.last_seen {
                    group.last_seen = event.date_ns;
                    group.example_session.clone_from(&event.session);
                    group.example_view.clone_from(&event.view_id);
                }
                pages.insert(page(event));
            }
            groups
                .into_values()
                .map(|(mut group, pages)| {
                    group.pages = pages.into_iter().collect();
                    group
                })
                .collect::<Vec<_>>()
        });
        groups.sort_by(|a, b| {
            (b.count.cmp(&a.count))
                .then(b.last_seen.cmp(&a.last_seen))
                .then_with(|| a.message.cmp(&b.message))
        });
        groups
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_templated_as_the_sites_routes() {
        let routes = Routes::from_endpoints([
            "GET /",
            "GET /products",
            "GET /products/{slug}",
            "GET /t/{*taxon}",
            "GET /products/new",
            "POST /api/v2/storefront/cart/add_item",
        ]);
        let check = |url: &str, want: &str| assert_eq!(routes.page(url), want, "{url}");
        check("http://127.0.0.1:3000/", "/");
        check(
            "http://127.0.0.1:3000/products/datadog-mug",
            "/products/{slug}",
        );
        check("http://127.0.0.1:3000/products/new", "/products/new");
        check("http://127.0.0.1:3000/products?keywords=mug", "/products");
        check("http://127.0.0.1:3000/t/mugs#top", "/t/{*taxon}");
        // No route: ids templated, words kept.
        check("http://h/orders/12345/items", "/orders/{id}/items");
        check("http://h/s/0f8fad5b-d9cb-469f-a165-70867728950e", "/s/{id}");
        check("http://h/cart", "/cart");
    }

    #[test]
    fn quantiles_are_nearest_rank_and_never_above_the_max() {
        let v = sorted(vec![5.0, 1.0, 3.0, 2.0, 4.0]);
        assert_eq!(quantile(&v, 0.5), 3.0);
        assert_eq!(quantile(&v, 0.75), 4.0);
        assert_eq!(quantile(&v, 0.95), 5.0);
        assert_eq!(quantile(&v, 1.0), 5.0);
        assert_eq!(quantile(&[7.0], 0.95), 7.0);
        assert_eq!(quantile(&[], 0.5), 0.0);
    }
}
