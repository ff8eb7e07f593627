//! JSON changed structurally: elements repeated, keys dropped, values of the wrong type, containers nested
//! inside themselves, very long strings, numbers at the edges.

use serde_json::{Map, Value};

use crate::rng::Rng;

fn count_nodes(value: &Value) -> usize {
    1 + match value {
        Value::Array(items) => items.iter().map(count_nodes).sum(),
        Value::Object(map) => map.values().map(count_nodes).sum(),
        _ => 0,
    }
}

/// Calls `f` on the `target`-th node in depth-first order.
fn visit(
    value: &mut Value,
    target: usize,
    seen: &mut usize,
    f: &mut dyn FnMut(&mut Value),
) -> bool {
    if *seen == target {
        f(value);
        return true;
    }
    *seen += 1;
    match value {
        Value::Array(items) => items.iter_mut().any(|item| visit(item, target, seen, f)),
        Value::Object(map) => map.values_mut().any(|item| visit(item, target, seen, f)),
        _ => false,
    }
}

fn scalar(rng: &mut Rng) -> Value {
    match rng.below(9) {
        0 => Value::Null,
        1 => Value::Bool(rng.one_in(2)),
        2 => Value::from(*rng.pick(&[0i64, -1, i64::MIN, i64::MAX])),
        3 => Value::from(u64::MAX),
        4 => Value::from(*rng.pick(&[1e300, -0.0, 5e-324])),
        5 => Value::String(String::new()),
        6 => Value::String(
            rng.pick(&[
                "\u{202e}",
                "\u{0}",
                "ffffffffffffffffffffffffffffffff",
                "0000000000000000",
            ])
            .to_string(),
        ),
        7 => Value::Array(Vec::new()),
        _ => Value::Object(Map::new()),
    }
}

/// Applies one structural mutation to the JSON in `data` (which must parse), keeping it under `max_len`;
/// `false` when `data` is not JSON.
pub fn mutate(rng: &mut Rng, data: &mut Vec<u8>, max_len: usize) -> bool {
    let Ok(mut root) = serde_json::from_slice::<Value>(data) else {
        return false;
    };
    let target = rng.below(count_nodes(&root));
    let total = data.len();
    let room = |one: usize| max_len.saturating_sub(total) / one.max(1);
    let choice = rng.below(6);
    let mut rng2 = rng.clone();
    visit(&mut root, target, &mut 0, &mut |value| match choice {
        0 | 1 => match value {
            Value::Array(items) if !items.is_empty() => {
                let i = rng2.below(items.len());
                let item = items[i].clone();
                let times = rng2.count(room(item.to_string().len() + 1));
                items.splice(i..i, std::iter::repeat_n(item, times));
            }
            Value::String(s) => {
                let piece = if s.is_empty() {
                    "x".to_owned()
                } else {
                    s.clone()
                };
                let times = rng2.count(room(piece.len()));
                *s = piece.repeat(times);
            }
            _ => *value = scalar(&mut rng2),
        },
        2 => {
            // Nest the value inside itself.
            if matches!(value, Value::Array(_) | Value::Object(_)) {
                let one = value.to_string().len();
                // Past serde_json's limit (128), not so deep that writing it out overflows a test thread's stack.
                let levels = rng2.count(300).min(room(one + 8));
                let mut nested = value.clone();
                for _ in 0..levels {
                    nested = match value {
                        Value::Array(items) => {
                            let mut items = items.clone();
                            items.push(nested);
                            Value::Array(items)
                        }
                        Value::Object(map) => {
                            let mut map = map.clone();
                            map.insert("value".to_owned(), nested);
                            Value::Object(map)
                        }
                        _ => unreachable!(),
                    };
                }
                *value = nested;
            }
        }
        3 => {
            if let Value::Object(map) = value {
                if let Some(key) = map.keys().nth(rng2.below(map.len())).cloned() {
                    map.remove(&key);
                }
            } else if let Value::Array(items) = value {
                items.truncate(rng2.below(items.len() + 1));
            }
        }
        _ => *value = scalar(&mut rng2),
    });
    *rng = rng2;
    *data = serde_json::to_vec(&root).expect("a Value always serialises");
    true
}
