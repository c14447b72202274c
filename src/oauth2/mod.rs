//! OAuth 2.0 token machinery behind the `oauth2` auth type: checked settings, token requests for
//! every grant, the token store file, the token life cycle (single flight, refresh, back-off),
//! the `signet login` browser flow, and the [`crate::auth::TokenProvider`] the signer reads.

pub mod client;
pub mod grant;
pub mod login;
pub mod pkce;
pub mod provider;
pub mod settings;
pub mod source;
pub mod store;
pub mod token;

pub use login::{Login, LoginError, LoginOptions};
pub use provider::Sources;
pub use settings::{Grant, Settings};
pub use source::{SourceError, Status, TokenSource};
pub use token::{Token, TokenError};
