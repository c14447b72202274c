//! signet: an HTTP(S) forward proxy that adds authentication to outgoing requests according to
//! host rules in a TOML file.
//!
//! The request path reads top to bottom: [`proxy`] accepts a client connection and finds the real
//! destination, [`policy`] (built from [`config`]) picks the host rule and route from [`rules`],
//! [`auth`] adds the credentials, and the upstream client sends the request over TLS configured
//! by [`tls`].

pub mod admin;
pub mod auth;
pub mod cli;
pub mod config;
pub mod cookies;
pub mod metrics;
pub mod oauth2;
pub mod policy;
pub mod proxy;
pub mod rules;
pub mod secret;
pub mod tls;
