//! Every auth table as the config wrote it, after `${…}` expansion: what a reload compares to
//! tell a profile whose settings stayed the same (its tokens, Digest state and NTLM connections
//! carry over) from one that changed (it starts fresh).

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

/// The `[proxy]` keys that decide how token requests go out; a change to any of them starts
/// every profile fresh.
const WAY_OUT_KEYS: &[&str] = &[
    "upstream_proxy",
    "upstream_proxy_auth",
    "token_timeout",
    "connect_timeout",
    "tls_handshake_timeout",
];

/// The expanded auth tables of one config, by the name each scheme is built under (a profile's
/// name, or the key path of an inline table such as `host[0].auth`). Debug shows names only:
/// the tables hold credentials.
#[derive(Clone, Default, PartialEq)]
pub struct AuthTables {
    base_dir: PathBuf,
    way_out: toml::Table,
    tables: BTreeMap<String, toml::Value>,
}

impl AuthTables {
    /// The tables of a config in `base_dir` whose expanded `[proxy]` table is `proxy`.
    pub(super) fn new(base_dir: PathBuf, proxy: Option<&toml::Value>) -> Self {
        let mut way_out = toml::Table::new();
        if let Some(toml::Value::Table(proxy)) = proxy {
            for key in WAY_OUT_KEYS {
                if let Some(value) = proxy.get(*key) {
                    way_out.insert((*key).to_owned(), value.clone());
                }
            }
        }
        AuthTables {
            base_dir,
            way_out,
            tables: BTreeMap::new(),
        }
    }

    /// Notes the table that the scheme `name` is built from.
    pub(super) fn insert(&mut self, name: String, table: toml::Value) {
        self.tables.insert(name, table);
    }

    /// Whether the scheme `name` is built from the same settings here as in `previous`: the
    /// same table, resolved against the same directory, with token requests going out the same
    /// way.
    pub fn unchanged(&self, previous: &AuthTables, name: &str) -> bool {
        self.base_dir == previous.base_dir
            && self.way_out == previous.way_out
            && self.way_out_profile() == previous.way_out_profile()
            && self
                .tables
                .get(name)
                .is_some_and(|table| previous.tables.get(name) == Some(table))
    }

    /// The table of the profile that answers the parent proxy, if any.
    fn way_out_profile(&self) -> Option<&toml::Value> {
        let name = self.way_out.get("upstream_proxy_auth")?.as_str()?;
        self.tables.get(name)
    }
}

impl fmt::Debug for AuthTables {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthTables")
            .field("names", &self.tables.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}
