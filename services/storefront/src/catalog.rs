//! The catalog: the store's 15 products, their master variants and taxons (seeded on first start), and the
//! queries the pages run on them.

use shop_runtime::Db;
use shop_runtime::db::Query;
use sqlx::Row as _;
use sqlx::any::AnyRow;

/// Products on one page of the home page's grid.
pub const PER_PAGE: i64 = 12;

/// The taxons: (id, taxonomy id, parent, name, permalink). Permalinks are flat, as in the workshop's store.
const TAXONS: &[(i64, i64, Option<i64>, &str, &str)] = &[
    (1, 1, None, "Categories", "categories"),
    (2, 2, None, "Brands", "brands"),
    (3, 1, Some(1), "Bags", "bags"),
    (4, 1, Some(1), "Mugs", "mugs"),
    (5, 1, Some(1), "Clothing", "clothing"),
    (6, 1, Some(5), "Shirts", "shirts"),
    (7, 1, Some(5), "T-Shirts", "t-shirts"),
];

/// The products: (slug, name, price in cents, taxon, description). Product `n` has master variant `n`.
const PRODUCTS: &[(&str, &str, i64, i64, &str)] = &[
    (
        "datadog-tote",
        "Datadog Tote",
        1599,
        3,
        "A sturdy canvas tote with the purple pup on it.",
    ),
    (
        "datadog-bag",
        "Datadog Bag",
        2299,
        3,
        "A roomy bag for laptops, chargers and stickers.",
    ),
    (
        "datadog-baseball-jersey",
        "Datadog Baseball Jersey",
        1999,
        6,
        "A baseball jersey for the company league.",
    ),
    (
        "datadog-jr-spaghetti",
        "Datadog Jr. Spaghetti",
        1999,
        7,
        "A light spaghetti-strap top for warm days.",
    ),
    (
        "datadog-ringer-t-shirt",
        "Datadog Ringer T-Shirt",
        1999,
        7,
        "A soft ringer T-shirt with contrast trims.",
    ),
    (
        "apache-baseball-jersey",
        "Apache Baseball Jersey",
        1999,
        6,
        "A jersey with the feather on the back.",
    ),
    (
        "spree-baseball-jersey",
        "Spree Baseball Jersey",
        1999,
        6,
        "A jersey for open-source shopkeepers.",
    ),
    (
        "spree-jr-spaghetti",
        "Spree Jr. Spaghetti",
        1999,
        7,
        "A spaghetti-strap top in Spree green.",
    ),
    (
        "spree-ringer-t-shirt",
        "Spree Ringer T-Shirt",
        1999,
        7,
        "A ringer T-shirt in Spree green.",
    ),
    (
        "spree-tote",
        "Spree Tote",
        1599,
        3,
        "A tote bag for the farmers' market.",
    ),
    (
        "spree-bag",
        "Spree Bag",
        2299,
        3,
        "A messenger bag with many pockets.",
    ),
    (
        "datadog-mug",
        "Datadog Mug",
        1399,
        4,
        "A mug for the on-call coffee.",
    ),
    (
        "datadog-stein",
        "Datadog Stein",
        1699,
        4,
        "A glass stein for celebrating green dashboards.",
    ),
    (
        "monitoring-stein",
        "Monitoring Stein",
        1699,
        4,
        "A stein that holds exactly one incident review.",
    ),
    (
        "monitoring-mug",
        "Monitoring Mug",
        1399,
        4,
        "A mug that says: it was DNS.",
    ),
];

/// The guest order the recorded browsing session carries in its `X-Spree-Order-Token` and `guest_token`.
pub const GUEST_ORDER_TOKEN: &str = "aeihRQ1NnX7TbfvhhtQNNg1567611578919";

#[derive(Debug, Clone, PartialEq)]
pub struct Product {
    pub id: i64,
    pub name: String,
    pub slug: String,
    pub description: String,
    pub price_cents: i64,
    /// The master variant, the one a cart holds.
    pub variant_id: i64,
}

impl Product {
    pub fn price(&self) -> String {
        dollars(self.price_cents)
    }

    /// What kind of thing the product is, for its picture.
    pub fn kind(&self) -> ProductKind {
        ProductKind::of(&self.slug)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProductKind {
    Bag,
    Mug,
    Shirt,
}

impl ProductKind {
    pub fn of(slug: &str) -> ProductKind {
        if slug.contains("tote") || slug.contains("bag") {
            ProductKind::Bag
        } else if slug.contains("mug") || slug.contains("stein") {
            ProductKind::Mug
        } else {
            ProductKind::Shirt
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Taxon {
    pub id: i64,
    pub name: String,
    pub permalink: String,
}

/// `$12.34` for 1234 cents.
pub fn dollars(cents: i64) -> String {
    format!("${}.{:02}", cents / 100, cents % 100)
}

pub(crate) async fn seed_if_empty(db: &Db) -> Result<(), sqlx::Error> {
    let count: i64 = db
        .fetch_one(shop_runtime::db::query("SELECT COUNT(*) AS n FROM product"))
        .await?
        .try_get("n")?;
    if count > 0 {
        return Ok(());
    }
    let mut rows: Vec<Query> = vec![
        shop_runtime::db::query("INSERT INTO taxonomy (id, name) VALUES (1, 'Categories')"),
        shop_runtime::db::query("INSERT INTO taxonomy (id, name) VALUES (2, 'Brands')"),
    ];
    for &(id, taxonomy, parent, name, permalink) in TAXONS {
        rows.push(
            shop_runtime::db::query("INSERT INTO taxon (id, taxonomy_id, parent_id, name, permalink) VALUES ($1, $2, $3, $4, $5)")
                .bind(id)
                .bind(taxonomy)
                .bind(parent)
                .bind(name)
                .bind(permalink),
        );
    }
    for (i, &(slug, name, price, taxon, description)) in PRODUCTS.iter().enumerate() {
        let id = i as i64 + 1;
        rows.push(
            shop_runtime::db::query("INSERT INTO product (id, name, slug, description, price_cents) VALUES ($1, $2, $3, $4, $5)")
                .bind(id)
                .bind(name)
                .bind(slug)
                .bind(description)
                .bind(price),
        );
        rows.push(
            shop_runtime::db::query("INSERT INTO variant (id, product_id, sku, is_master, price_cents) VALUES ($1, $1, $2, 1, $3)")
                .bind(id)
                .bind(slug.to_uppercase())
                .bind(price),
        );
        for taxon in [taxon, 2] {
            rows.push(
                shop_runtime::db::query(
                    "INSERT INTO product_taxon (product_id, taxon_id) VALUES ($1, $2)",
                )
                .bind(id)
                .bind(taxon),
            );
        }
    }
    rows.push(
        shop_runtime::db::query(
            "INSERT INTO cart_order (token, state, created_at) VALUES ($1, 'cart', 0)",
        )
        .bind(GUEST_ORDER_TOKEN),
    );
    db.execute_all(rows).await?;
    tracing::info!(products = PRODUCTS.len(), "seeded the storefront database");
    Ok(())
}

/// What [`product`] reads: a product's columns and its master variant's id, `FROM` the two joined; statements
/// go on with `WHERE`, `JOIN` or `ORDER BY`. A macro, so that fixed statements stay `&'static str`.
macro_rules! products_from {
    () => {
        "p.id, p.name, p.slug, p.description, p.price_cents, v.id AS variant_id \
         FROM product p JOIN variant v ON v.product_id = p.id AND v.is_master = 1"
    };
}

fn product(row: &AnyRow) -> Result<Product, sqlx::Error> {
    Ok(Product {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        slug: row.try_get("slug")?,
        description: row.try_get("description")?,
        price_cents: row.try_get("price_cents")?,
        variant_id: row.try_get("variant_id")?,
    })
}

/// One page (1-based) of every product, and how many pages there are.
pub async fn page(db: &Db, page: i64) -> Result<(Vec<Product>, i64), sqlx::Error> {
    let total: i64 = db
        .fetch_one(shop_runtime::db::query("SELECT COUNT(*) AS n FROM product"))
        .await?
        .try_get("n")?;
    let rows = db
        .fetch_all(
            shop_runtime::db::query(concat!(
                "SELECT ",
                products_from!(),
                " ORDER BY p.id LIMIT $1 OFFSET $2"
            ))
            .bind(PER_PAGE)
            .bind((page.max(1) - 1).saturating_mul(PER_PAGE)),
        )
        .await?;
    let pages = (total + PER_PAGE - 1) / PER_PAGE;
    Ok((
        rows.iter().map(product).collect::<Result<_, _>>()?,
        pages.max(1),
    ))
}

pub async fn by_slug(db: &Db, slug: &str) -> Result<Option<Product>, sqlx::Error> {
    db.fetch_optional(
        shop_runtime::db::query(concat!("SELECT ", products_from!(), " WHERE p.slug = $1"))
            .bind(slug.to_owned()),
    )
    .await?
    .as_ref()
    .map(product)
    .transpose()
}

/// The taxons a product is filed under, most specific first.
pub async fn taxons_of(db: &Db, product_id: i64) -> Result<Vec<Taxon>, sqlx::Error> {
    let rows = db
        .fetch_all(
            shop_runtime::db::query(
                "SELECT t.id, t.name, t.permalink FROM taxon t \
                 JOIN product_taxon pt ON pt.taxon_id = t.id WHERE pt.product_id = $1 ORDER BY t.id DESC",
            )
            .bind(product_id),
        )
        .await?;
    rows.iter().map(taxon).collect()
}

fn taxon(row: &AnyRow) -> Result<Taxon, sqlx::Error> {
    Ok(Taxon {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        permalink: row.try_get("permalink")?,
    })
}

pub async fn taxon_by_permalink(db: &Db, permalink: &str) -> Result<Option<Taxon>, sqlx::Error> {
    db.fetch_optional(
        shop_runtime::db::query("SELECT id, name, permalink FROM taxon WHERE permalink = $1")
            .bind(permalink.to_owned()),
    )
    .await?
    .as_ref()
    .map(taxon)
    .transpose()
}

/// Every taxon, for the navigation and the search form's drop-down.
pub async fn taxons(db: &Db) -> Result<Vec<Taxon>, sqlx::Error> {
    let rows = db
        .fetch_all(shop_runtime::db::query(
            "SELECT id, name, permalink FROM taxon ORDER BY id",
        ))
        .await?;
    rows.iter().map(taxon).collect()
}

/// The ids of a taxon and of all the taxons below it (the tree is shallow: three levels).
const TAXON_AND_CHILDREN: &str = "SELECT id FROM taxon WHERE id = $1 OR parent_id = $1 \
     OR parent_id IN (SELECT id FROM taxon WHERE parent_id = $1)";

/// The products filed under a taxon or any taxon below it.
pub async fn in_taxon(db: &Db, taxon_id: i64) -> Result<Vec<Product>, sqlx::Error> {
    let sql = format!(
        concat!(
            "SELECT DISTINCT ",
            products_from!(),
            " JOIN product_taxon pt ON pt.product_id = p.id WHERE pt.taxon_id IN ({}) ORDER BY p.id"
        ),
        TAXON_AND_CHILDREN
    );
    let rows = db
        .fetch_all(shop_runtime::db::query_assembled(sql).bind(taxon_id))
        .await?;
    rows.iter().map(product).collect()
}

/// The most words of a search that count; the rest are ignored.
pub const MAX_SEARCH_WORDS: usize = 8;

/// Products whose name or description contains every word of `keywords` (case-insensitively), optionally only
/// under `taxon`. The words are bound as parameters, with LIKE's wildcards escaped: input is never SQL.
pub async fn search(
    db: &Db,
    keywords: &str,
    taxon: Option<i64>,
) -> Result<Vec<Product>, sqlx::Error> {
    let words: Vec<String> = keywords
        .split_whitespace()
        .take(MAX_SEARCH_WORDS)
        .map(|word| format!("%{}%", escape_like(&word.to_lowercase())))
        .collect();
    let mut sql = concat!("SELECT DISTINCT ", products_from!(), " WHERE 1 = 1").to_owned();
    let mut param = 0;
    for _ in &words {
        param += 1;
        sql.push_str(&format!(
            " AND (LOWER(p.name) LIKE ${param} ESCAPE '\\' OR LOWER(p.description) LIKE ${param} ESCAPE '\\')"
        ));
    }
    if taxon.is_some() {
        param += 1;
        sql.push_str(&format!(
            " AND p.id IN (SELECT product_id FROM product_taxon WHERE taxon_id IN ({}))",
            TAXON_AND_CHILDREN.replace("$1", &format!("${param}"))
        ));
    }
    sql.push_str(" ORDER BY p.id");
    let mut query = shop_runtime::db::query_assembled(sql);
    for word in words {
        query = query.bind(word);
    }
    if let Some(taxon) = taxon {
        query = query.bind(taxon);
    }
    let rows = db.fetch_all(query).await?;
    rows.iter().map(product).collect()
}

fn escape_like(word: &str) -> String {
    let mut out = String::with_capacity(word.len());
    for c in word.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_wildcards_in_input_are_literal() {
        assert_eq!(escape_like("50%_off\\"), "50\\%\\_off\\\\");
    }

    #[test]
    fn prices_print_as_dollars() {
        assert_eq!(dollars(1599), "$15.99");
        assert_eq!(dollars(500), "$5.00");
    }

    #[test]
    fn kinds_follow_the_slug() {
        assert_eq!(ProductKind::of("spree-tote"), ProductKind::Bag);
        assert_eq!(ProductKind::of("monitoring-stein"), ProductKind::Mug);
        assert_eq!(
            ProductKind::of("apache-baseball-jersey"),
            ProductKind::Shirt
        );
    }
}
