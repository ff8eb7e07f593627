//! The normalisations on tables of cases, and their properties (total, idempotent) on random text.

use super::*;
use proptest::prelude::*;

#[test]
fn query_table() {
    let cases = [
        (
            "SELECT id, name FROM discount_type WHERE id = $1",
            "SELECT id, name FROM discount_type WHERE id = ?",
        ),
        (
            "SELECT id, name FROM discount_type WHERE id = 42",
            "SELECT id, name FROM discount_type WHERE id = ?",
        ),
        (
            "select * from t where a = 'O''Brien' and b = -3.5e2",
            "select * from t where a = ? and b = ?",
        ),
        (
            "SELECT * FROM t WHERE id IN (1, 2, 3)",
            "SELECT * FROM t WHERE id IN (?)",
        ),
        (
            "SELECT * FROM t WHERE id IN (?,?)",
            "SELECT * FROM t WHERE id IN (?)",
        ),
        (
            "SELECT * FROM t2 WHERE flag = true -- note\n  AND x = :x",
            "SELECT * FROM t2 WHERE flag = ? AND x = ?",
        ),
        (
            "INSERT INTO t (a, b) VALUES ($1, $2)",
            "INSERT INTO t (a, b) VALUES (?, ?)",
        ),
        // Collapsing the list ignores spacing and case.
        (
            "select 1 from t where id in( 1 ,2 )",
            "select ? from t where id in (?)",
        ),
        ("x NOT IN ('a','b')", "x NOT IN (?)"),
        ("x IN (?)", "x IN (?)"),
        ("x IN (1, NULL)", "x IN (?, NULL)"),
        (
            "SELECT * FROM t WHERE id IN ( SELECT id FROM u WHERE n > 5 )",
            "SELECT * FROM t WHERE id IN (SELECT id FROM u WHERE n > ?)",
        ),
        (
            "SELECT * FROM t WHERE id IN (SELECT id FROM u WHERE k IN (1,2))",
            "SELECT * FROM t WHERE id IN (SELECT id FROM u WHERE k IN (?))",
        ),
        // Digits inside identifiers are not literals.
        (
            "SELECT t1.col2 FROM table2 t1",
            "SELECT t1.col2 FROM table2 t1",
        ),
        ("SELECT a - 1, b-2 FROM t", "SELECT a - ?, b-? FROM t"),
        ("SELECT -1, (-2), x*-3", "SELECT ?, (?), x*?"),
        ("SELECT 0x1F, 1e10, .5, 3.", "SELECT ?, ?, ?, ?"),
        ("WHERE a IS NULL AND b = FALSE", "WHERE a IS NULL AND b = ?"),
        ("WHERE a = E'it\\'s' AND b = N'x'", "WHERE a = ? AND b = ?"),
        ("SELECT $tag$ a 'b' $tag$, $$c$$", "SELECT ?, ?"),
        (
            "UPDATE t SET a = %s, b = %(name)s WHERE c = @id AND d = ?3",
            "UPDATE t SET a = ?, b = ? WHERE c = ? AND d = ?",
        ),
        ("SELECT @@version", "SELECT @@version"),
        ("SELECT a % b FROM t", "SELECT a % b FROM t"),
        ("SELECT '1'::int, $1::text", "SELECT ?::int, ?::text"),
        ("SELECT arr[1:n] FROM t", "SELECT arr[?:n] FROM t"),
        (
            "SELECT \"Weird  Col\", `x 1` FROM \"t\"\"q\"",
            "SELECT \"Weird  Col\", `x 1` FROM \"t\"\"q\"",
        ),
        ("  SELECT /* hint */ a\n\t FROM   t  ", "SELECT a FROM t"),
        ("SELECT a/*x*/FROM t", "SELECT a FROM t"),
        ("f( a ,b,  c )", "f(a, b, c)"),
        ("SELECT 'unterminated", "SELECT ?"),
        ("SELECT /* open", "SELECT"),
        ("SELECT \"open", "SELECT \"open"),
        (
            "SELECT naïve FROM café WHERE x = 'é'",
            "SELECT naïve FROM café WHERE x = ?",
        ),
        ("", ""),
        ("   ", ""),
    ];
    for (input, want) in cases {
        assert_eq!(normalize_query(input), want, "input: {input:?}");
        assert_eq!(normalize_query(want), want, "not a fixed point: {want:?}");
    }
}

#[test]
fn message_table() {
    let cases = [
        ("order 17 not found", "order ? not found"),
        ("order 23 not found", "order ? not found"),
        (
            "connection to 127.0.0.1:5002 refused",
            "connection to ?:? refused",
        ),
        ("key \"abc\" missing", "key ? missing"),
        ("key 'abc' missing", "key ? missing"),
        ("can't find user 'bob'", "can't find user ?"),
        (
            "trace 4bf92f3577b34da6a3ce929d0e0e4736 span 00f067aa0ba902b7",
            "trace ? span ?",
        ),
        ("id 123e4567-e89b-12d3-a456-426614174000 gone", "id ? gone"),
        ("addr 0x7ffd1 bad", "addr ? bad"),
        ("took 1.25 s, limit 1", "took ? s, limit ?"),
        ("user42 and 17ms stay", "user42 and 17ms stay"),
        ("deadbeef is a word", "deadbeef is a word"),
        ("found 17.", "found ?."),
        ("  many\t\n spaces  ", "many spaces"),
        ("say \"a \\\"b\\\" c\" now", "say ? now"),
        ("open 'quote", "open 'quote"),
        ("", ""),
    ];
    for (input, want) in cases {
        assert_eq!(normalize_message(input), want, "input: {input:?}");
        assert_eq!(normalize_message(want), want, "not a fixed point: {want:?}");
    }
}

fn loc(file: &str, line: u32) -> Option<Location> {
    Some(Location {
        file: file.to_owned(),
        line,
    })
}

#[test]
fn rust_std_backtrace() {
    let stack = "\
   0: std::backtrace::Backtrace::force_capture
         at /rustc/0f1e2d3c4b5a69788796a5b4c3d2e1f001122334/library/std/src/backtrace.rs:312:9
   1: <storefront::error::AppError as core::convert::From<E>>::from
   2: storefront::layout::banner
         at ./services/storefront/src/layout.rs:65:9
   3: storefront::handlers::index::{{closure}}
         at ./services/storefront/src/handlers.rs:18:22
   4: tokio::runtime::task::core::Core<T,S>::poll
         at /root/.cargo/registry/src/index.crates.io-6f17d22bba15001f/tokio-1.54.0/src/runtime/task/core.rs:331:17
   5: core::ops::function::FnOnce::call_once
         at /rustc/0f1e2d3c4b5a69788796a5b4c3d2e1f001122334/library/core/src/ops/function.rs:250:5
";
    assert_eq!(
        top_project_frame(stack),
        loc("services/storefront/src/layout.rs", 65)
    );
}

#[test]
fn rust_simple_formats() {
    let bare = "error: banner failed\n/root/.cargo/git/checkouts/dep/src/lib.rs:3\nservices/storefront/src/layout.rs:65\nservices/storefront/src/main.rs:10\n";
    assert_eq!(
        top_project_frame(bare),
        loc("services/storefront/src/layout.rs", 65)
    );
    let at = "  at /usr/local/lib/rustlib/x.rs:1:1\n  at services/storefront/src/layout.rs:65:9\n";
    assert_eq!(
        top_project_frame(at),
        loc("services/storefront/src/layout.rs", 65)
    );
    // Absolute project paths are kept as written.
    let abs = "at /home/dev/shop/services/ads/src/main.rs:7:1";
    assert_eq!(
        top_project_frame(abs),
        loc("/home/dev/shop/services/ads/src/main.rs", 7)
    );
}

#[test]
fn python_traceback_takes_innermost_project_frame() {
    let stack = r#"Traceback (most recent call last):
  File "/usr/local/lib/python3.12/site-packages/flask/app.py", line 1473, in wsgi_app
response = self.full_dispatch_request()
  File "/app/shop/views.py", line 42, in index
return render(cart_summary(user))
  File "/app/shop/cart.py", line 17, in cart_summary
total = sum(item.price for item in items)
  File "<frozen importlib._bootstrap>", line 1360, in _find_and_load
  File "/usr/local/lib/python3.12/decimal.py", line 5, in __add__
TypeError: unsupported operand type(s) for +: 'int' and 'NoneType'
"#;
    assert_eq!(top_project_frame(stack), loc("/app/shop/cart.py", 17));
}

#[test]
fn java_stack() {
    let stack = "java.lang.IllegalStateException: cart is closed
\tat java.base/java.util.Objects.requireNonNull(Objects.java:259)
\tat com.shop.Cart.add(Cart.java:42)
\tat com.shop.CartController.post(CartController.java:88) ~[classes/:na]
\tat org.springframework.web.servlet.FrameworkServlet.service(FrameworkServlet.java:885)
\tat java.base/java.lang.Thread.run(Thread.java:1583)
";
    assert_eq!(top_project_frame(stack), loc("Cart.java", 42));
    let native = "\tat sun.misc.Unsafe.park(Native Method)\n\tat com.shop.Q.take(Q.java:9)";
    assert_eq!(top_project_frame(native), loc("Q.java", 9));
}

#[test]
fn node_stack() {
    let stack = "TypeError: Cannot read properties of undefined (reading 'price')
at Array.map (<anonymous>)
at priceOf (/srv/app/node_modules/pricing/index.js:12:5)
at addItem (/srv/app/cart.js:42:13)
at /srv/app/routes.js:7:3
at process.processTicksAndRejections (node:internal/process/task_queues:95:5)
";
    assert_eq!(top_project_frame(stack), loc("/srv/app/cart.js", 42));
    let bare = "Error: boom\n    at node:internal/main:1:1\n    at /srv/app/routes.js:7:3";
    assert_eq!(top_project_frame(bare), loc("/srv/app/routes.js", 7));
    let esm = "    at load (file:///srv/app/loader.mjs:3:9)";
    assert_eq!(top_project_frame(esm), loc("/srv/app/loader.mjs", 3));
}

#[test]
fn no_project_frame() {
    assert_eq!(top_project_frame(""), None);
    assert_eq!(top_project_frame("something went wrong at 12:30"), None);
    assert_eq!(top_project_frame("see http://example.test:8080"), None);
    assert_eq!(top_project_frame("https://example.test:8080"), None);
    assert_eq!(top_project_frame("at src/x.rs:0:1"), None);
    assert_eq!(
        top_project_frame("  File \"/usr/lib/python3/dist-packages/x.py\", line 3, in f"),
        None
    );
    assert_eq!(
        top_project_frame("  File \"<stdin>\", line 1, in <module>"),
        None
    );
}

proptest! {
    #[test]
    fn query_total_and_idempotent(sql in any::<String>()) {
        let once = normalize_query(&sql);
        prop_assert_eq!(normalize_query(&once), once);
    }

    #[test]
    fn query_sqlish_idempotent(sql in "[a-fA-FiIxXeEnNsS0-9_ ,.()\\[\\]=<>*/'\"`$:?@%\\\\\n\t-]{0,40}") {
        let once = normalize_query(&sql);
        prop_assert_eq!(normalize_query(&once), once);
    }

    #[test]
    fn query_integer_literal_is_ignored(
        prefix in "[a-zA-Z_ ,.()=<>*/-]{0,20}",
        suffix in "[a-zA-Z0-9_ ,.()=<>*/-]{0,20}",
        a in any::<u64>(),
        b in any::<u64>(),
    ) {
        prop_assert_eq!(
            normalize_query(&format!("{prefix} {a} {suffix}")),
            normalize_query(&format!("{prefix} {b} {suffix}"))
        );
    }

    #[test]
    fn message_total_and_idempotent(message in any::<String>()) {
        let once = normalize_message(&message);
        prop_assert_eq!(normalize_message(&once), once);
    }

    #[test]
    fn message_tricky_idempotent(message in "[a-fA-Fx0-9_ .:'\"\\\\-]{0,40}") {
        let once = normalize_message(&message);
        prop_assert_eq!(normalize_message(&once), once);
    }

    #[test]
    fn message_number_is_ignored(a in any::<u32>(), b in any::<u32>()) {
        prop_assert_eq!(
            normalize_message(&format!("order {a} not found")),
            normalize_message(&format!("order {b} not found"))
        );
    }

    #[test]
    fn frame_total(stack in any::<String>()) {
        if let Some(found) = top_project_frame(&stack) {
            prop_assert!(found.line > 0);
            prop_assert!(!found.file.is_empty());
        }
    }

    #[test]
    fn frame_total_on_framey_text(stack in "(( *(at |File \")?[a-z./<:(\" ]{0,12}:[0-9]{1,3}(:[0-9])?\\)?(, line [0-9])?)?\n){0,6}") {
        let _ = top_project_frame(&stack);
    }
}
