//! `GET /discount`, in its broken (sleepy, N+1) and fixed forms, which answer the same JSON.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use shop_runtime::Db;
use sqlx::Row as _;
use sqlx::any::AnyRow;

use crate::{AppState, Error, N_PLUS_ONE, SLEEP, sleep_for};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Discount {
    pub id: i64,
    pub name: String,
    pub code: String,
    pub value: i64,
    pub discount_type: DiscountType,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiscountType {
    pub id: i64,
    pub name: String,
    pub discount_query: String,
    pub influencer: Option<Influencer>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Influencer {
    pub id: i64,
    pub name: String,
}

pub(crate) async fn list(State(state): State<AppState>) -> Result<Json<Vec<Discount>>, Error> {
    let variant = state.faults.variant();
    if state.faults.is_on(SLEEP) {
        // FAULT discounts.sleep: every request waits (2.5 s in the original workshop) for nothing. The fix deletes
        // this sleep.
        tokio::time::sleep(sleep_for(variant)).await;
    }
    let discounts = if state.faults.is_on(N_PLUS_ONE) {
        // Each variant's loop walks another relation: both, the influencers only, the types only.
        match variant.number() {
            0 => load_lazily(&state.db).await?,
            1 => load_influencers_lazily(&state.db).await?,
            _ => load_types_lazily(&state.db).await?,
        }
    } else {
        load_joined(&state.db).await?
    };
    Ok(Json(discounts))
}

/// FAULT discounts.n-plus-one: one query for the discounts, then one per discount for its type and one per type
/// for its influencer, the way an ORM's lazy relations do it: 1 + 103 + 101 statements for the seeded data.
async fn load_lazily(db: &Db) -> Result<Vec<Discount>, sqlx::Error> {
    let rows = db
        .fetch_all(shop_runtime::db::query(
            "SELECT id, name, code, value, discount_type_id FROM discount ORDER BY id",
        ))
        .await?;
    let mut discounts = Vec::with_capacity(rows.len());
    for row in rows {
        let type_id: i64 = row.try_get("discount_type_id")?;
        let type_row = db
            .fetch_one(
                shop_runtime::db::query("SELECT id, name, discount_query, influencer_id FROM discount_type WHERE id = $1")
                    .bind(type_id),
            )
            .await?;
        let influencer = match type_row.try_get::<Option<i64>, _>("influencer_id")? {
            Some(influencer_id) => db
                .fetch_optional(
                    shop_runtime::db::query("SELECT id, name FROM influencer WHERE id = $1")
                        .bind(influencer_id),
                )
                .await?
                .as_ref()
                .map(influencer_row)
                .transpose()?,
            None => None,
        };
        discounts.push(lazy_discount(&row, &type_row, influencer)?);
    }
    Ok(discounts)
}

/// FAULT discounts.n-plus-one, variant 1: the types joined in, then one query per type for its influencer:
/// 1 + 101 statements for the seeded data.
async fn load_influencers_lazily(db: &Db) -> Result<Vec<Discount>, sqlx::Error> {
    let rows = db
        .fetch_all(shop_runtime::db::query(
            "SELECT d.id, d.name, d.code, d.value, \
                    t.id AS type_id, t.name AS type_name, t.discount_query, t.influencer_id \
             FROM discount d \
             LEFT OUTER JOIN discount_type t ON t.id = d.discount_type_id \
             ORDER BY d.id",
        ))
        .await?;
    let mut discounts = Vec::with_capacity(rows.len());
    for row in &rows {
        let mut discount = joined_row_without_influencer(row)?;
        if let Some(influencer_id) = row.try_get::<Option<i64>, _>("influencer_id")? {
            let influencer = db
                .fetch_optional(
                    shop_runtime::db::query("SELECT id, name FROM influencer WHERE id = $1")
                        .bind(influencer_id),
                )
                .await?;
            discount.discount_type.influencer =
                influencer.as_ref().map(influencer_row).transpose()?;
        }
        discounts.push(discount);
    }
    Ok(discounts)
}

/// FAULT discounts.n-plus-one, variant 2: the influencers in one query, then one query per discount for its
/// type: 1 + 1 + 103 statements for the seeded data.
async fn load_types_lazily(db: &Db) -> Result<Vec<Discount>, sqlx::Error> {
    let influencers: Vec<Influencer> = (db
        .fetch_all(shop_runtime::db::query("SELECT id, name FROM influencer"))
        .await?)
        .iter()
        .map(influencer_row)
        .collect::<Result<_, _>>()?;
    let rows = db
        .fetch_all(shop_runtime::db::query(
            "SELECT id, name, code, value, discount_type_id FROM discount ORDER BY id",
        ))
        .await?;
    let mut discounts = Vec::with_capacity(rows.len());
    for row in rows {
        let type_row = db
            .fetch_one(
                shop_runtime::db::query(
                    "SELECT id, name, discount_query, influencer_id FROM discount_type WHERE id = $1",
                )
                .bind(row.try_get::<i64, _>("discount_type_id")?),
            )
            .await?;
        let influencer_id = type_row.try_get::<Option<i64>, _>("influencer_id")?;
        let influencer = (influencers.iter())
            .find(|i| Some(i.id) == influencer_id)
            .cloned();
        discounts.push(lazy_discount(&row, &type_row, influencer)?);
    }
    Ok(discounts)
}

/// A discount from its own row and its type's, loaded apart.
fn lazy_discount(
    row: &AnyRow,
    type_row: &AnyRow,
    influencer: Option<Influencer>,
) -> Result<Discount, sqlx::Error> {
    discount(row, type_row, ["id", "name"], influencer)
}

/// A discount from `row` and its type from `type_row` (the same row when joined), whose id and name are the
/// columns `type_columns` names.
fn discount(
    row: &AnyRow,
    type_row: &AnyRow,
    [type_id, type_name]: [&str; 2],
    influencer: Option<Influencer>,
) -> Result<Discount, sqlx::Error> {
    Ok(Discount {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        code: row.try_get("code")?,
        value: row.try_get("value")?,
        discount_type: DiscountType {
            id: type_row.try_get(type_id)?,
            name: type_row.try_get(type_name)?,
            discount_query: type_row.try_get("discount_query")?,
            influencer,
        },
    })
}

fn influencer_row(row: &AnyRow) -> Result<Influencer, sqlx::Error> {
    Ok(Influencer {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
    })
}

/// The fix: one statement, the relations joined in.
async fn load_joined(db: &Db) -> Result<Vec<Discount>, sqlx::Error> {
    let rows = db
        .fetch_all(shop_runtime::db::query(
            "SELECT d.id, d.name, d.code, d.value, \
                    t.id AS type_id, t.name AS type_name, t.discount_query, \
                    i.id AS influencer_id, i.name AS influencer_name \
             FROM discount d \
             LEFT OUTER JOIN discount_type t ON t.id = d.discount_type_id \
             LEFT OUTER JOIN influencer i ON i.id = t.influencer_id \
             ORDER BY d.id",
        ))
        .await?;
    rows.iter().map(joined_row).collect()
}

fn joined_row(row: &AnyRow) -> Result<Discount, sqlx::Error> {
    let mut discount = joined_row_without_influencer(row)?;
    discount.discount_type.influencer = match row.try_get::<Option<i64>, _>("influencer_id")? {
        Some(id) => Some(Influencer {
            id,
            name: row.try_get("influencer_name")?,
        }),
        None => None,
    };
    Ok(discount)
}

/// A discount and its type from a joined row, the type's influencer left out.
fn joined_row_without_influencer(row: &AnyRow) -> Result<Discount, sqlx::Error> {
    discount(row, row, ["type_id", "type_name"], None)
}
