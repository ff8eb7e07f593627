//! The storefront's HTML pages: home, product, search, taxon listings, cart and login, each a handler that
//! loads what its view needs and renders it inside the shared [`Layout`].

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};

use crate::AppState;
use crate::cart::{self, LineItem};
use crate::catalog::{self, Product, Taxon};
use crate::error::Error;
use crate::layout::{self, AdSlot, Banner, Layout};
use crate::upstream::Promotion;

/// Renders a template into a page: the one adapter between askama and axum. Traced as `render <name>`; a
/// template error is recorded on that span.
#[track_caller]
fn render(name: &'static str, template: &impl Template) -> Result<Html<String>, Error> {
    let location = std::panic::Location::caller();
    let span = tracing::info_span!("render", otel.name = format!("render {name}"));
    let _entered = span.enter();
    template.render().map(Html).map_err(|err| {
        let error = Error::from(err);
        shop_runtime::telemetry::record_error(&span, error.kind(), &error.to_string(), location);
        error
    })
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    layout: Layout,
    banner: Option<Banner>,
    promotion: Option<Promotion>,
    products: Vec<Product>,
    page: i64,
    pages: i64,
}

/// `GET /` and `GET /?page=N`: the product grid, a discount and an ad.
pub(crate) async fn home(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Html<String>, Error> {
    // Spree ignores a page number it cannot read, and so do we.
    let page = params
        .get("page")
        .and_then(|p| p.parse::<i64>().ok())
        .filter(|p| *p >= 1)
        .unwrap_or(1);
    let ad = state.upstreams.random_ad().await;
    let promotion = state.upstreams.random_discount().await;
    let (products, pages) = catalog::page(&state.db, page).await?;
    let layout = Layout::new(&state, "Shop", &ad).await?;
    // The fixed shop renders the banner here, in the view that loaded the ad.
    let banner = if Layout::banner_in_views(&state) {
        layout::banner(&ad)?
    } else {
        None
    };
    render(
        "home.html",
        &HomePage {
            layout,
            banner,
            promotion,
            products,
            page,
            pages,
        },
    )
}

#[derive(Template)]
#[template(path = "product.html")]
struct ProductPage {
    layout: Layout,
    banner: Option<Banner>,
    product: Product,
    taxons: Vec<Taxon>,
}

/// `GET /products/{slug}`: one product and an ad.
pub(crate) async fn product(
    State(state): State<AppState>,
    Path(slug): Path<String>,
) -> Result<Html<String>, Error> {
    let product = catalog::by_slug(&state.db, &slug)
        .await?
        .ok_or(Error::NotFound)?;
    let taxons = catalog::taxons_of(&state.db, product.id).await?;
    let ad = state.upstreams.random_ad().await;
    let layout = Layout::new(&state, product.name.clone(), &ad).await?;
    // The fixed shop renders the banner here, in the view that loaded the ad.
    let banner = if Layout::banner_in_views(&state) {
        layout::banner(&ad)?
    } else {
        None
    };
    render(
        "product.html",
        &ProductPage {
            layout,
            banner,
            product,
            taxons,
        },
    )
}

#[derive(Template)]
#[template(path = "listing.html")]
struct ListingPage {
    layout: Layout,
    banner: Option<Banner>,
    heading: String,
    products: Vec<Product>,
}

/// `GET /products?keywords=…&taxon=…`: search results.
pub(crate) async fn search(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Html<String>, Error> {
    let keywords = params.get("keywords").map(|k| k.trim()).unwrap_or("");
    let taxon =
        match params
            .get("taxon")
            .map(|t| t.trim())
            .filter(|t| !t.is_empty())
        {
            Some(taxon) => Some(taxon.parse::<i64>().map_err(|_| {
                Error::BadRequest(format!("taxon must be a number, not {taxon:?}"))
            })?),
            None => None,
        };
    let products = catalog::search(&state.db, keywords, taxon).await?;
    let heading = if keywords.is_empty() {
        "All products".to_owned()
    } else {
        format!("Search results for '{keywords}'")
    };
    let ad = layout::listing_ad(&state, layout::Listing::Search).await;
    let layout = Layout::new(&state, "Search", &ad)
        .await?
        .with_keywords(keywords);
    render(
        "listing.html",
        &ListingPage {
            layout,
            banner: Layout::listing_banner(&state, &ad)?,
            heading,
            products,
        },
    )
}

/// `GET /t/{permalink}`: the products filed under a taxon or below it.
pub(crate) async fn taxon(
    State(state): State<AppState>,
    Path(path): Path<String>,
) -> Result<Html<String>, Error> {
    let path = path.trim_matches('/');
    // Spree nests permalinks (`categories/clothing`); ours are flat, so the last segment names the taxon.
    let taxon = match catalog::taxon_by_permalink(&state.db, path).await? {
        Some(taxon) => taxon,
        None => {
            let last = path.rsplit('/').next().unwrap_or(path);
            catalog::taxon_by_permalink(&state.db, last)
                .await?
                .ok_or(Error::NotFound)?
        }
    };
    let products = catalog::in_taxon(&state.db, taxon.id).await?;
    let ad = layout::listing_ad(&state, layout::Listing::Taxon).await;
    let layout = Layout::new(&state, taxon.name.clone(), &ad).await?;
    render(
        "listing.html",
        &ListingPage {
            layout,
            banner: Layout::listing_banner(&state, &ad)?,
            heading: taxon.name,
            products,
        },
    )
}

#[derive(Template)]
#[template(path = "cart.html")]
struct CartPage {
    layout: Layout,
    items: Vec<LineItem>,
    total: String,
}

/// `GET /cart` shows the visitor's cart; `GET /cart?variant_id=N[&quantity=Q]` first adds a variant to it.
pub(crate) async fn cart_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, Error> {
    let variant_id =
        match params.get("variant_id") {
            Some(v) => Some(v.trim().parse::<i64>().map_err(|_| {
                Error::BadRequest(format!("variant_id must be a number, not {v:?}"))
            })?),
            None => None,
        };
    let quantity = match params.get("quantity") {
        Some(q) => q
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|q| (1..=cart::MAX_QUANTITY).contains(q))
            .ok_or_else(|| {
                Error::BadRequest(format!(
                    "quantity must be a number from 1 to {}, not {q:?}",
                    cart::MAX_QUANTITY
                ))
            })?,
        None => 1,
    };
    let cookie_token = cart::token_from_cookies(&headers);
    let mut new_cookie = None;
    let mut order_id = match &cookie_token {
        Some(token) => cart::order_id(&state.db, token).await?,
        None => None,
    };
    if let Some(variant_id) = variant_id {
        let token = cookie_token.clone().unwrap_or_else(|| {
            let token = cart::new_token();
            new_cookie = Some(token.clone());
            token
        });
        let id = cart::find_or_create(&state.db, &token).await?;
        if !cart::add(&state.db, id, variant_id, quantity).await? {
            return Err(Error::NotFound);
        }
        order_id = Some(id);
    }
    let items = match order_id {
        Some(id) => cart::items(&state.db, id).await?,
        None => Vec::new(),
    };
    let total = catalog::dollars(items.iter().map(|i| i.price_cents * i.quantity).sum());
    let layout = Layout::new(&state, "Shopping cart", &AdSlot::NotLoaded).await?;
    let mut response = render(
        "cart.html",
        &CartPage {
            layout,
            items,
            total,
        },
    )?
    .into_response();
    if let Some(token) = new_cookie {
        let cookie = format!("{}={token}; Path=/; HttpOnly; SameSite=Lax", cart::COOKIE);
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().insert(header::SET_COOKIE, value);
        }
    }
    Ok(response)
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    layout: Layout,
    message: Option<&'static str>,
}

/// `GET /login`: the login form.
pub(crate) async fn login(State(state): State<AppState>) -> Result<Html<String>, Error> {
    let layout = Layout::new(&state, "Login", &AdSlot::NotLoaded).await?;
    render(
        "login.html",
        &LoginPage {
            layout,
            message: None,
        },
    )
}

/// `POST /login`: the shop has no customer accounts, so every attempt fails politely.
pub(crate) async fn login_attempt(State(state): State<AppState>) -> Result<Html<String>, Error> {
    let layout = Layout::new(&state, "Login", &AdSlot::NotLoaded).await?;
    render(
        "login.html",
        &LoginPage {
            layout,
            message: Some("Invalid email or password."),
        },
    )
}
