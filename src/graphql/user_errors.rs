//! Typed input problems in mutation payloads.
//!
//! Every mutation has the shape `verbNoun(input: VerbNounInput!):
//! VerbNounPayload!`, and every payload ends with `userErrors:
//! [UserError!]!`. Problems the caller can fix by changing the input
//! (validation, a taken name, an id that is not found) are user errors: the
//! payload's object is `null`, nothing changed, and `errors` stays empty.
//! Top-level `errors` are kept for what the input cannot fix:
//! authentication, authorization, rate limits and internal failures, each
//! with `extensions.code`.
//!
//! A resolver calls its service and hands the result to [`user_errors`]:
//!
//! ```ignore
//! match user_errors(service::create(app, p, new).await)? {
//!     Ok(thing) => Ok(CreateThingPayload { thing: Some(thing.into()), user_errors: vec![] }),
//!     Err(problems) => Ok(CreateThingPayload { thing: None, user_errors: problems }),
//! }
//! ```

use async_graphql::SimpleObject;

pub use crate::error::UserErrorCode;
use crate::error::{Error, Result};

/// A problem with a mutation's input. Nothing was changed.
#[derive(SimpleObject, Clone, Debug, PartialEq, Eq)]
pub struct UserError {
    /// The path to the input field at fault, starting at the argument, e.g.
    /// `["input", "name"]`; `null` when the problem is not one field's.
    pub field: Option<Vec<String>>,
    /// What is wrong, in a sentence a person can act on.
    pub message: String,
    /// What kind of problem it is, for programs.
    pub code: UserErrorCode,
}

impl UserError {
    /// A problem with `input.<field>` (a dotted name gives a deeper path).
    pub fn at(field: &str, code: UserErrorCode, message: impl Into<String>) -> Self {
        let mut path = vec!["input".to_string()];
        path.extend(field.split('.').filter(|s| !s.is_empty()).map(str::to_string));
        Self { field: Some(path), message: message.into(), code }
    }
}

/// Splits a service's answer into the value or the user errors it stands
/// for. Validation failures become one user error per field (a failure
/// without details becomes one without a field), NOT_FOUND becomes a
/// `NOT_FOUND` user error on `input.id`; every other error stays a
/// top-level GraphQL error.
pub fn user_errors<T>(result: Result<T>) -> async_graphql::Result<std::result::Result<T, Vec<UserError>>> {
    match result {
        Ok(v) => Ok(Ok(v)),
        Err(Error::InvalidRequest { message, details }) if details.is_empty() => {
            Ok(Err(vec![UserError { field: None, message, code: UserErrorCode::Invalid }]))
        }
        Err(Error::InvalidRequest { details, .. }) => {
            Ok(Err(details.into_iter().map(|d| UserError::at(&d.field, d.code, d.error)).collect()))
        }
        Err(e @ Error::NotFound(_)) => Ok(Err(vec![UserError::at("id", UserErrorCode::NotFound, e.to_string())])),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::FieldError;

    #[test]
    fn input_problems_become_user_errors_and_the_rest_stays_top_level() {
        let taken = Error::validation(vec![
            FieldError::new("name", "Too long"),
            FieldError::new("redirectUris.0", "Must use https").with_code(UserErrorCode::Invalid),
            FieldError::new("slug", "Already used").with_code(UserErrorCode::Taken),
        ]);
        let found = user_errors::<()>(Err(taken)).unwrap().unwrap_err();
        assert_eq!(found[0], UserError::at("name", UserErrorCode::Invalid, "Too long"));
        assert_eq!(found[1].field.as_deref(), Some(&["input".to_string(), "redirectUris".into(), "0".into()][..]));
        assert_eq!(found[2].code, UserErrorCode::Taken);

        let missing = user_errors::<()>(Err(Error::NotFound("Webhook"))).unwrap().unwrap_err();
        assert_eq!(missing, vec![UserError::at("id", UserErrorCode::NotFound, "Webhook not found")]);

        let general = user_errors::<()>(Err(Error::invalid("Nothing to change"))).unwrap().unwrap_err();
        assert_eq!(general[0].field, None);

        assert!(user_errors::<()>(Err(Error::Forbidden("no".into()))).is_err());
        assert!(user_errors::<()>(Err(Error::Unauthorized("no".into()))).is_err());
        assert_eq!(user_errors(Ok(7)).unwrap(), Ok(7));
    }
}
