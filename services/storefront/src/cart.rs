//! Carts: the guest order a visitor's `guest_token` cookie (or the API's `X-Spree-Order-Token`) points at, its
//! line items, and the queries that change them.

use axum::http::HeaderMap;
use base64::Engine as _;
use shop_runtime::Db;
use sqlx::Row as _;
use sqlx::any::AnyRow;

/// The cookie that names a visitor's cart, as in Spree.
pub const COOKIE: &str = "guest_token";

/// The most of one variant a cart may hold.
pub const MAX_QUANTITY: i64 = 1000;

#[derive(Debug, Clone, PartialEq)]
pub struct LineItem {
    pub name: String,
    pub slug: String,
    pub quantity: i64,
    pub price_cents: i64,
}

impl LineItem {
    pub fn price(&self) -> String {
        crate::catalog::dollars(self.price_cents)
    }

    pub fn total(&self) -> String {
        crate::catalog::dollars(self.price_cents * self.quantity)
    }
}

/// The cart token in the visitor's cookies. Spree signs its cookie as `base64("\"token\"")--signature`; our own
/// cookie holds the bare token. Anything else is ignored (the visitor gets a new cart).
pub fn token_from_cookies(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .and_then(|(_, value)| parse_token(&percent_decode(value)))
}

fn parse_token(value: &str) -> Option<String> {
    if let Some((payload, _signature)) = value.split_once("--") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(payload)
            .ok()?;
        let token: String = serde_json::from_slice(&decoded).ok()?;
        return valid_token(&token).then_some(token);
    }
    valid_token(value).then(|| value.to_owned())
}

/// Tokens are short and plain; anything else is not one of ours.
pub fn valid_token(token: &str) -> bool {
    (1..=64).contains(&token.len())
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A fresh cart token.
pub fn new_token() -> String {
    use rand::RngExt as _;
    let mut rng = rand::rng();
    (0..22)
        .map(|_| {
            let n = rng.random_range(0..62u8);
            (match n {
                0..=9 => b'0' + n,
                10..=35 => b'a' + n - 10,
                _ => b'A' + n - 36,
            }) as char
        })
        .collect()
}

/// The id of the cart order with `token`, if there is one.
pub async fn order_id(db: &Db, token: &str) -> Result<Option<i64>, sqlx::Error> {
    db.fetch_optional(
        shop_runtime::db::query("SELECT id FROM cart_order WHERE token = $1")
            .bind(token.to_owned()),
    )
    .await?
    .map(|row| row.try_get("id"))
    .transpose()
}

/// The id of the cart order with `token`, created when missing.
pub async fn find_or_create(db: &Db, token: &str) -> Result<i64, sqlx::Error> {
    if let Some(id) = order_id(db, token).await? {
        return Ok(id);
    }
    db.execute(
        shop_runtime::db::query("INSERT INTO cart_order (token, state, created_at) VALUES ($1, 'cart', $2) ON CONFLICT (token) DO NOTHING")
            .bind(token.to_owned())
            .bind(unix_seconds()),
    )
    .await?;
    order_id(db, token).await?.ok_or(sqlx::Error::RowNotFound)
}

/// Adds `quantity` of a variant to the order, holding at most [`MAX_QUANTITY`] of it; `false` when there is no
/// such variant.
pub async fn add(
    db: &Db,
    order_id: i64,
    variant_id: i64,
    quantity: i64,
) -> Result<bool, sqlx::Error> {
    let Some(price) = db
        .fetch_optional(
            shop_runtime::db::query("SELECT price_cents FROM variant WHERE id = $1")
                .bind(variant_id),
        )
        .await?
    else {
        return Ok(false);
    };
    let price: i64 = price.try_get("price_cents")?;
    db.execute(
        shop_runtime::db::query(
            "INSERT INTO line_item (order_id, variant_id, quantity, price_cents) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (order_id, variant_id) DO UPDATE SET quantity = CASE \
             WHEN line_item.quantity + excluded.quantity > $5 THEN $5 ELSE line_item.quantity + excluded.quantity END",
        )
        .bind(order_id)
        .bind(variant_id)
        .bind(quantity)
        .bind(price)
        .bind(MAX_QUANTITY),
    )
    .await?;
    Ok(true)
}

/// The order's line items, in the order they were first added.
pub async fn items(db: &Db, order_id: i64) -> Result<Vec<LineItem>, sqlx::Error> {
    let rows = db
        .fetch_all(
            shop_runtime::db::query(
                "SELECT p.name, p.slug, li.quantity, li.price_cents FROM line_item li \
                 JOIN variant v ON v.id = li.variant_id JOIN product p ON p.id = v.product_id \
                 WHERE li.order_id = $1 ORDER BY li.id",
            )
            .bind(order_id),
        )
        .await?;
    rows.iter().map(line_item).collect()
}

fn line_item(row: &AnyRow) -> Result<LineItem, sqlx::Error> {
    Ok(LineItem {
        name: row.try_get("name")?,
        slug: row.try_get("slug")?,
        quantity: row.try_get("quantity")?,
        price_cents: row.try_get("price_cents")?,
    })
}

/// How many items the order holds (the cart link's count). PostgreSQL sums BIGINTs into NUMERIC, hence the cast.
pub async fn item_count(db: &Db, order_id: i64) -> Result<i64, sqlx::Error> {
    db.fetch_one(
        shop_runtime::db::query("SELECT CAST(COALESCE(SUM(quantity), 0) AS BIGINT) AS n FROM line_item WHERE order_id = $1").bind(order_id),
    )
    .await?
    .try_get("n")
}

fn unix_seconds() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cookies(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(axum::http::header::COOKIE, value.parse().unwrap());
        headers
    }

    #[test]
    fn spree_signed_cookies_and_bare_tokens_are_read() {
        let spree = "token=x; guest_token=ImFlaWhSUTFOblg3VGJmdmhodFFOTmcxNTY3NjExNTc4OTE5Ig%3D%3D--7ffb6f32; other=1";
        assert_eq!(
            token_from_cookies(&cookies(spree)).as_deref(),
            Some(crate::catalog::GUEST_ORDER_TOKEN)
        );
        assert_eq!(
            token_from_cookies(&cookies("guest_token=abc123")).as_deref(),
            Some("abc123")
        );
        assert_eq!(token_from_cookies(&cookies("guest_token=<script>")), None);
        assert_eq!(
            token_from_cookies(&cookies("guest_token=e30%3D--sig")),
            None,
            "not a JSON string"
        );
        assert_eq!(token_from_cookies(&cookies("guest_token=%ZZ")), None);
        assert_eq!(token_from_cookies(&HeaderMap::new()), None);
    }

    #[test]
    fn new_tokens_are_valid_and_different() {
        let (a, b) = (new_token(), new_token());
        assert!(valid_token(&a) && valid_token(&b));
        assert_ne!(a, b);
    }
}
