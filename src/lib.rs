//! signet: an HTTP(S) forward proxy that adds authentication to outgoing requests according to
//! host rules in a TOML file.
//!
//! The floors, each importing only those below it (`tests/layering.rs` keeps it so):
//! - [`context`], [`secret`], [`fsutil`], [`rules`] (pure matching), [`metrics`]: the ground.
//! - [`auth`]: signers, pure functions of a request head, a body and a [`context`].
//! - [`tls`], [`net`]: certificates, and the wire (dialing, the parent proxy, bodies).
//! - [`config`], [`cookies`], [`oauth2`] (token machinery, a provider for the `oauth2` signer).
//! - [`import`]: Postman collections as config text (on config's floor).
//! - [`policy`]: the rules with their built schemes; [`upstream`]: the one way to an origin.
//! - [`proxy`]: serves clients, each request as named phases; [`admin`].
//! - [`app`]: builds all of it from a config; [`cli`]: the commands.

pub mod admin;
pub mod app;
pub mod auth;
pub mod aws;
pub mod cli;
pub mod config;
pub mod context;
pub mod cookies;
pub mod fsutil;
pub mod gss;
pub mod import;
pub mod metrics;
pub mod net;
pub mod oauth2;
pub mod policy;
pub mod proxy;
pub mod rules;
pub mod secret;
pub mod shared;
pub mod tls;
pub mod upstream;
