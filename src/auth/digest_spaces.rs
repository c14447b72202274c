//! The scheme's memory: the challenges remembered per origin and realm, with caps so that an
//! origin varying its realm, or a rule matching many hosts, cannot grow it without end.
//!
//! Hand-written rather than taken from an LRU crate: a lookup goes by URI prefix over every
//! entry (a challenge's `domain` may name other origins), so no crate's keyed lookup helps,
//! and with a few realms per origin a use stamp per entry and a scan on eviction suffice.

use std::collections::HashMap;

use super::challenge::Challenge;

/// Realms remembered per origin; a ninth evicts the least recently used.
pub const MAX_REALMS_PER_ORIGIN: usize = 8;
/// Origins remembered; one more evicts the least recently used with all its realms.
pub const MAX_ORIGINS: usize = 1024;

/// Remembered challenges: per origin (`scheme://host:port`), one entry per realm.
#[derive(Default)]
pub struct Spaces {
    origins: HashMap<String, Vec<Entry>>,
    /// Bumped on every store and every use; stamps entries with both.
    clock: u64,
    /// Requests signed so far with the configured realm and nonce.
    pub preset_uses: u32,
}

pub struct Entry {
    pub challenge: Challenge,
    /// The last nonce count sent with this nonce.
    pub nc: u32,
    /// Absolute URI prefixes this challenge covers (its `domain`, else the whole origin).
    pub prefixes: Vec<String>,
    /// When stored: the newest of two equally specific entries wins.
    stored: u64,
    /// When last stored or used to sign: the least recently used is evicted first.
    used: u64,
    /// For `-sess`: the client nonce HA1 was first computed with, kept for the nonce's life.
    pub session_cnonce: Option<String>,
}

impl Entry {
    /// How well this entry covers `abs`: its longest matching prefix, then its age.
    fn rank(&self, abs: &str) -> Option<(usize, u64)> {
        let longest = self
            .prefixes
            .iter()
            .filter(|p| abs.starts_with(p.as_str()))
            .map(String::len)
            .max()?;
        Some((longest, self.stored))
    }
}

impl Spaces {
    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    /// The entry that covers `abs` most specifically.
    pub fn best(&self, abs: &str) -> Option<&Entry> {
        self.origins
            .values()
            .flatten()
            .filter_map(|e| Some((e.rank(abs)?, e)))
            .max_by_key(|(rank, _)| *rank)
            .map(|(_, e)| e)
    }

    /// Like [`Spaces::best`], for signing with it: the entry counts as just used.
    pub fn best_for_use(&mut self, abs: &str) -> Option<&mut Entry> {
        let now = self.tick();
        let entry = self
            .origins
            .values_mut()
            .flatten()
            .filter_map(|e| Some((e.rank(abs)?, e)))
            .max_by_key(|(rank, _)| *rank)
            .map(|(_, e)| e)?;
        entry.used = now;
        Some(entry)
    }

    /// The entry of `origin` for `realm`.
    pub fn get_mut(&mut self, origin: &str, realm: &str) -> Option<&mut Entry> {
        self.origins
            .get_mut(origin)?
            .iter_mut()
            .find(|e| e.challenge.realm == realm)
    }

    /// Stores `challenge` for `origin`, replacing the one for its realm; the nonce count and
    /// session client nonce carry over when the nonce is the same. Evicts past the caps.
    pub fn store(&mut self, origin: String, challenge: Challenge, prefixes: Vec<String>) {
        let now = self.tick();
        if !self.origins.contains_key(&origin) && self.origins.len() >= MAX_ORIGINS {
            self.evict_origin();
        }
        let entries = self.origins.entry(origin).or_default();
        let same_realm = entries
            .iter()
            .position(|e| e.challenge.realm == challenge.realm);
        let (nc, session_cnonce) = match same_realm.and_then(|i| entries.get(i)) {
            Some(old) if old.challenge.nonce == challenge.nonce => {
                (old.nc, old.session_cnonce.clone())
            }
            _ => (0, None),
        };
        let entry = Entry {
            challenge,
            nc,
            prefixes,
            stored: now,
            used: now,
            session_cnonce,
        };
        match same_realm.and_then(|i| entries.get_mut(i)) {
            Some(old) => *old = entry,
            None => {
                if entries.len() >= MAX_REALMS_PER_ORIGIN
                    && let Some(i) = least_used(entries)
                {
                    entries.swap_remove(i);
                }
                entries.push(entry);
            }
        }
    }

    /// Drops the challenge with `realm` and `nonce` that covers `abs` (the one a refused
    /// request was signed with), so that the next request there starts without credentials.
    pub fn forget(&mut self, abs: &str, realm: &str, nonce: &str) {
        self.origins.retain(|_, entries| {
            entries.retain(|e| {
                let signed_it = e.challenge.realm == realm && e.challenge.nonce == nonce;
                !(signed_it && e.rank(abs).is_some())
            });
            !entries.is_empty()
        });
    }

    /// Removes the origin whose most recent use is the oldest.
    fn evict_origin(&mut self) {
        let oldest = self
            .origins
            .iter()
            .min_by_key(|(_, entries)| entries.iter().map(|e| e.used).max())
            .map(|(origin, _)| origin.clone());
        if let Some(origin) = oldest {
            self.origins.remove(&origin);
        }
    }

    /// How many challenges are remembered, over every origin.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.origins.values().map(Vec::len).sum()
    }
}

fn least_used(entries: &[Entry]) -> Option<usize> {
    entries
        .iter()
        .enumerate()
        .min_by_key(|(_, e)| e.used)
        .map(|(i, _)| i)
}
