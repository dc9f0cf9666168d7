//! The one rule for `null` in update inputs, applied the same way by every
//! mutation: a field left out is unchanged; `null` clears a field that may
//! be empty (its output type is nullable: an expiry, a quota, a schema, a
//! rate limit); `null` on a field that cannot be empty (a name, a URL, a
//! flag, a description — use `""` to empty a description) is an `INVALID`
//! user error and nothing changes.

use async_graphql::MaybeUndefined;

use crate::graphql::user_errors::{UserError, UserErrorCode};

/// A clearable field: left out is `None`, `null` is `Some(None)`.
pub fn clearable<T, U>(v: MaybeUndefined<T>, f: impl FnOnce(T) -> U) -> Option<Option<U>> {
    match v {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => Some(Some(f(v))),
    }
}

/// Collects the `null`s sent for fields that cannot be empty.
#[derive(Default)]
pub struct NotNull(Vec<UserError>);

impl NotNull {
    /// The new value of `input.<field>`: left out is `None`; `null` is
    /// `None` too, and noted as a user error.
    pub fn take<T>(&mut self, field: &str, v: MaybeUndefined<T>) -> Option<T> {
        match v {
            MaybeUndefined::Undefined => None,
            MaybeUndefined::Null => {
                self.0.push(UserError::at(
                    field,
                    UserErrorCode::Invalid,
                    "Cannot be null: leave the field out to keep its value",
                ));
                None
            }
            MaybeUndefined::Value(v) => Some(v),
        }
    }

    /// The user errors, if any `null` was sent where it may not be.
    pub fn check(self) -> Result<(), Vec<UserError>> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self.0)
        }
    }
}

/// Points `NOT_FOUND` user errors (which [`user_errors`] puts on `input.id`)
/// at the input field that names the target when it is not called `id`.
///
/// [`user_errors`]: crate::graphql::user_errors::user_errors
pub fn found_at(mut errors: Vec<UserError>, field: &str) -> Vec<UserError> {
    for e in &mut errors {
        if e.code == UserErrorCode::NotFound {
            e.field = Some(vec!["input".into(), field.into()]);
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_is_unchanged_null_clears_or_is_refused() {
        assert_eq!(clearable(MaybeUndefined::<i32>::Undefined, |v| v), None);
        assert_eq!(clearable(MaybeUndefined::<i32>::Null, |v| v), Some(None));
        assert_eq!(clearable(MaybeUndefined::Value(3), |v| v * 2), Some(Some(6)));

        let mut nn = NotNull::default();
        assert_eq!(nn.take("name", MaybeUndefined::Value("a")), Some("a"));
        assert_eq!(nn.take::<&str>("url", MaybeUndefined::Undefined), None);
        assert!(NotNull::default().check().is_ok());
        assert_eq!(nn.take::<&str>("url", MaybeUndefined::Null), None);
        let errs = nn.check().unwrap_err();
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].field.as_deref(), Some(&["input".to_string(), "url".into()][..]));
        assert_eq!(errs[0].code, UserErrorCode::Invalid);
    }
}
