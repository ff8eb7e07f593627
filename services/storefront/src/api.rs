//! The storefront's XHR and JSON endpoints: the cart link fragment, the API tokens and Spree's storefront API
//! call that adds an item to a cart. None of them uses the page layout.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::cart;
use crate::error::{ApiError, Error};

/// `GET /cart_link`: the cart link with its item count, fetched by the page's script after every page.
pub(crate) async fn cart_link(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Html<String>, Error> {
    let count = match cart::token_from_cookies(&headers) {
        Some(token) => match cart::order_id(&state.db, &token).await? {
            Some(id) => cart::item_count(&state.db, id).await?,
            None => 0,
        },
        None => 0,
    };
    let class = if count > 0 {
        "cart-info full"
    } else {
        "cart-info empty"
    };
    // The badge is there only when the cart has something in it.
    let badge = if count > 0 {
        format!(r#" <span id="cart-count" class="badge">{count}</span>"#)
    } else {
        String::new()
    };
    Ok(Html(format!(
        r#"<a href="/cart" class="{class}">Cart: ({count})</a>{badge}"#
    )))
}

/// `GET /api_tokens`: the visitor's order token (when their cart exists) and OAuth token (never: no accounts).
pub(crate) async fn api_tokens(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let order_token = match cart::token_from_cookies(&headers) {
        Some(token) => cart::order_id(&state.db, &token).await?.map(|_| token),
        None => None,
    };
    Ok(Json(
        json!({ "order_token": order_token, "oauth_token": null }),
    ))
}

/// `POST /api/v2/storefront/cart`: a new guest cart, its token in the answer (for `X-Spree-Order-Token`) and
/// in the visitor's cookie (for the cart page), as the page script creates one before its first add.
pub(crate) async fn create_cart(State(state): State<AppState>) -> Result<Response, ApiError> {
    let token = cart::new_token();
    let order_id = cart::find_or_create(&state.db, &token).await?;
    let body = json!({
        "data": {
            "id": order_id.to_string(),
            "type": "cart",
            "attributes": { "token": token, "item_count": 0, "currency": "USD" }
        }
    });
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    let cookie = format!("{}={token}; Path=/; HttpOnly; SameSite=Lax", cart::COOKIE);
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    Ok(response)
}

/// A variant id as the storefront's script sends it: a string (`"11"`) or a number.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Id {
    Number(i64),
    Text(String),
}

#[derive(Debug, Deserialize)]
pub(crate) struct AddItem {
    variant_id: Id,
    #[serde(default = "one")]
    quantity: i64,
}

fn one() -> i64 {
    1
}

/// `POST /api/v2/storefront/cart/add_item`: adds a variant to the cart named by `X-Spree-Order-Token`.
pub(crate) async fn add_item(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<AddItem>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(body) = body.map_err(|rejection| ApiError::BadRequest(rejection.body_text()))?;
    let token = headers
        .get("x-spree-order-token")
        .and_then(|v| v.to_str().ok())
        .filter(|t| cart::valid_token(t))
        .ok_or(ApiError::NotFound)?;
    let order_id = cart::order_id(&state.db, token)
        .await?
        .ok_or(ApiError::NotFound)?;
    let variant_id = match body.variant_id {
        Id::Number(id) => id,
        Id::Text(text) => text.trim().parse().map_err(|_| {
            ApiError::BadRequest(format!("variant_id must be a number, not {text:?}"))
        })?,
    };
    if !(1..=cart::MAX_QUANTITY).contains(&body.quantity) {
        return Err(ApiError::Unprocessable(format!(
            "quantity must be from 1 to {}, not {}",
            cart::MAX_QUANTITY,
            body.quantity
        )));
    }
    if !cart::add(&state.db, order_id, variant_id, body.quantity).await? {
        return Err(ApiError::NotFound);
    }
    let items = cart::items(&state.db, order_id).await?;
    let count: i64 = items.iter().map(|i| i.quantity).sum();
    let total: i64 = items.iter().map(|i| i.price_cents * i.quantity).sum();
    Ok(Json(json!({
        "data": {
            "id": order_id.to_string(),
            "type": "cart",
            "attributes": {
                "token": token,
                "item_count": count,
                "total": format!("{}.{:02}", total / 100, total % 100),
                "display_total": crate::catalog::dollars(total),
                "currency": "USD",
            }
        }
    })))
}
