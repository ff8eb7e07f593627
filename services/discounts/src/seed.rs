//! The seed data, the same on every start and every machine: the workshop's three named discounts and 100
//! generated ones, each generated discount with its own type and its own influencer.

use shop_runtime::Db;
use shop_runtime::db::Query;
use sqlx::Row as _;

const FIRST: &[&str] = &[
    "Ada", "Bea", "Cleo", "Dev", "Eli", "Finn", "Gus", "Hana", "Ines", "Jun", "Kai", "Lena",
    "Milo", "Nia", "Omar", "Pia", "Quinn", "Rosa", "Sam", "Tess",
];
const LAST: &[&str] = &["Park", "Silva", "Okafor", "Novak", "Reyes"];
const ADJECTIVES: &[&str] = &[
    "Sunny", "Cozy", "Bold", "Lucky", "Happy", "Crisp", "Golden", "Snappy", "Fresh", "Mighty",
];
const NOUNS: &[&str] = &[
    "Savings", "Deal", "Bargain", "Bonus", "Special", "Treat", "Steal", "Drop", "Offer", "Perk",
];

/// A named discount's row: (name, code, value, type name, discount query, influencer).
type Named = (
    &'static str,
    &'static str,
    i64,
    &'static str,
    &'static str,
    Option<&'static str>,
);

/// The workshop's three named discounts.
const NAMED: &[Named] = &[
    (
        "Black Friday",
        "BFRIDAY",
        5,
        "Save with Sherry",
        "price * .8",
        Some("Sherry"),
    ),
    (
        "SWEET SUNDAY",
        "OFF",
        300,
        "Sunday Savings",
        "price * .9",
        None,
    ),
    (
        "Monday Funday",
        "PARTY",
        542,
        "Monday Funday",
        "price * .95",
        None,
    ),
];

/// How many discounts the seed makes (3 named + 100 generated).
pub const SEEDED: i64 = 103;

pub(crate) async fn seed_if_empty(db: &Db) -> Result<(), sqlx::Error> {
    let count: i64 = db
        .fetch_one(shop_runtime::db::query(
            "SELECT COUNT(*) AS n FROM discount",
        ))
        .await?
        .try_get("n")?;
    if count > 0 {
        return Ok(());
    }
    db.execute_all(rows()).await?;
    tracing::info!(discounts = SEEDED, "seeded the discounts database");
    Ok(())
}

fn rows() -> Vec<Query> {
    let mut queries = Vec::new();
    let mut influencer_id = 0;
    for (i, &(name, code, value, type_name, discount_query, influencer)) in NAMED.iter().enumerate()
    {
        let id = i as i64 + 1;
        let influencer_id = influencer.map(|person| {
            influencer_id += 1;
            queries.push(influencer_row(influencer_id, person));
            influencer_id
        });
        queries.push(type_row(id, type_name, discount_query, influencer_id));
        queries.push(discount_row(id, name, code, value, id));
    }
    let mut rng = SplitMix(0x5eed_d15c);
    for n in 0..(SEEDED - NAMED.len() as i64) {
        let id = NAMED.len() as i64 + 1 + n;
        influencer_id += 1;
        let person = format!("{} {}", pick(&mut rng, FIRST), pick(&mut rng, LAST));
        queries.push(influencer_row(influencer_id, &person));
        let (adjective, noun) = (pick(&mut rng, ADJECTIVES), pick(&mut rng, NOUNS));
        let percent = 50 + rng.below(49);
        queries.push(type_row(
            id,
            &format!("{adjective} {noun} with {person}"),
            &format!("price * .{percent:02}"),
            Some(influencer_id),
        ));
        let code = format!("{}{}", adjective.to_uppercase(), 10 + rng.below(90));
        let value = 1 + rng.below(999) as i64;
        queries.push(discount_row(
            id,
            &format!("{adjective} {noun}"),
            &code,
            value,
            id,
        ));
    }
    queries
}

fn influencer_row(id: i64, name: &str) -> Query {
    shop_runtime::db::query("INSERT INTO influencer (id, name) VALUES ($1, $2)")
        .bind(id)
        .bind(name.to_owned())
}

fn type_row(id: i64, name: &str, discount_query: &str, influencer_id: Option<i64>) -> Query {
    shop_runtime::db::query("INSERT INTO discount_type (id, name, discount_query, influencer_id) VALUES ($1, $2, $3, $4)")
        .bind(id)
        .bind(name.to_owned())
        .bind(discount_query.to_owned())
        .bind(influencer_id)
}

fn discount_row(id: i64, name: &str, code: &str, value: i64, type_id: i64) -> Query {
    shop_runtime::db::query("INSERT INTO discount (id, name, code, value, discount_type_id) VALUES ($1, $2, $3, $4, $5)")
        .bind(id)
        .bind(name.to_owned())
        .bind(code.to_owned())
        .bind(value)
        .bind(type_id)
}

fn pick<'a>(rng: &mut SplitMix, items: &[&'a str]) -> &'a str {
    items[rng.below(items.len() as u64) as usize]
}

/// SplitMix64: a tiny generator whose sequence is fixed forever, unlike a library RNG's, so the seed data is too.
struct SplitMix(u64);

impl SplitMix {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % n
    }
}
