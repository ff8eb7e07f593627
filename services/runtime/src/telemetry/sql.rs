//! What a SQL statement's span is called and says about it ([`summarize_sql`]).

/// `SELECT`, `INSERT`, … and the first table a statement names: the `db.operation.name` and
/// `db.collection.name` of its span, and its span name (`SELECT discount_type`).
pub fn summarize_sql(sql: &str) -> (Option<String>, Option<String>) {
    let mut words = sql.split_whitespace();
    let Some(first) = words.next() else {
        return (None, None);
    };
    let operation: String = first
        .chars()
        .take_while(char::is_ascii_alphabetic)
        .collect::<String>()
        .to_ascii_uppercase();
    if operation.is_empty() {
        return (None, None);
    }
    let table = match operation.as_str() {
        "UPDATE" => words.next(),
        "SELECT" | "DELETE" => words
            .find(|w| w.eq_ignore_ascii_case("FROM"))
            .and(words.next()),
        "INSERT" => words
            .find(|w| w.eq_ignore_ascii_case("INTO"))
            .and(words.next()),
        _ => None,
    };
    // A subquery (`FROM (SELECT …)`) names no table.
    let collection = table
        .filter(|table| !table.starts_with('('))
        .and_then(|table| table.split(['(', ')', ',', ';']).next())
        .map(|table| table.trim_matches('"').to_owned())
        .filter(|table| {
            !table.is_empty()
                && table
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == '_' || c == '.')
        });
    (Some(operation), collection)
}
