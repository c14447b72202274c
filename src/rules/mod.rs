//! Pure matching primitives: destination hosts, request paths and the egress policy.
//!
//! Everything here is decided on values normalised once per request (`normalize_host`,
//! `normalize_path`); the `matches`/`permits` calls themselves never allocate.

pub mod egress;
pub mod host;
mod index;
pub mod path;
pub mod table;
pub mod trace;

pub use egress::{EgressPolicy, EgressRefusal, IpNet};
pub use host::{HostKind, HostPattern, PortSpec, UrlScheme, normalize_host};
pub use path::{PathGlob, normalize_path};
pub use table::{Decision, Destination, HostRule, Route, RouteAuth, RuleLabel, RuleTable};

/// Why a host, pattern, glob, egress entry or request path was refused.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    /// A destination host that cannot be normalised.
    #[error("invalid host {host:?}: {reason}")]
    InvalidHost {
        /// The host as given.
        host: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A `match` (or egress) host pattern that cannot be parsed.
    #[error("invalid host pattern {pattern:?}: {reason}")]
    InvalidHostPattern {
        /// The pattern as written.
        pattern: String,
        /// Why it was refused.
        reason: String,
    },
    /// A route `path` glob that cannot be parsed.
    #[error("invalid path glob {glob:?}: {reason}")]
    InvalidPathGlob {
        /// The glob as written.
        glob: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A `[proxy] allow`/`deny` entry that is neither a host pattern nor an IP/CIDR.
    #[error("invalid egress entry {entry:?}: {reason}")]
    InvalidEgressEntry {
        /// The entry as written.
        entry: String,
        /// Why it was refused.
        reason: String,
    },
    /// A request target that is not an absolute `http://` or `https://` URI.
    #[error("{0}")]
    NotAbsolute(String),
    /// A request path whose meaning depends on how the upstream decodes it. The path itself is
    /// left out of the message: request paths may carry tokens.
    #[error("ambiguous request path: {reason}")]
    AmbiguousPath {
        /// Why it was refused.
        reason: &'static str,
    },
}
