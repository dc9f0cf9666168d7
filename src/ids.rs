//! Prefixed, time-sortable identifiers (`ws_`, `usr_`, `ak_`, `evt_`, … + a
//! ULID). Generated monotonically within the process, so ids made in the same
//! millisecond still sort in creation order and serve as pagination cursors.

use std::sync::Mutex;

use ulid::Generator;

static GENERATOR: Mutex<Option<Generator>> = Mutex::new(None);

/// A new id with the given prefix, e.g. `new_id("ak")` → `ak_01JD…`.
pub fn new_id(prefix: &str) -> String {
    let mut guard = GENERATOR.lock().unwrap_or_else(|p| p.into_inner());
    let generator = guard.get_or_insert_with(Generator::new);
    // `generate` fails only when the random part overflows within one
    // millisecond (2^80 ids); a fresh non-monotonic ULID is fine then.
    let ulid = generator.generate().unwrap_or_else(|_| ulid::Ulid::new());
    drop(guard);
    // Written straight into a string of the right size (two ids per
    // accepted record: `format!` made this a visible part of it).
    let mut buf = [0; ulid::ULID_LEN];
    let mut id = String::with_capacity(prefix.len() + 1 + ulid::ULID_LEN);
    id.push_str(prefix);
    id.push('_');
    id.push_str(ulid.array_to_str(&mut buf));
    id
}

/// Whether `id` looks like an id of the given prefix (used to reject bad
/// cursors and ids early with a clear error).
pub fn has_prefix(id: &str, prefix: &str) -> bool {
    id.len() == prefix.len() + 27
        && id.starts_with(prefix)
        && id.as_bytes()[prefix.len()] == b'_'
        && ulid::Ulid::from_string(&id[prefix.len() + 1..]).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_prefixed_and_increase() {
        let a = new_id("ak");
        let b = new_id("ak");
        assert!(a.starts_with("ak_") && a.len() == 29);
        assert!(a < b, "{a} should sort before {b}");
        assert!(has_prefix(&a, "ak"));
        assert!(!has_prefix(&a, "ws"));
        assert!(!has_prefix("ak_nope", "ak"));
    }
}
