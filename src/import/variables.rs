//! `{{variables}}` as Postman fills them: environment over collection variables over globals,
//! unticked values skipped, nested references resolved again (up to Postman's limit of 19
//! passes), an unknown name left as written. `{{$dynamic}}` values and `{{vault:…}}` secrets are
//! never filled: the first are made up per request by Postman, the second never leave its vault.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::collections::{BTreeMap, BTreeSet};

use super::collection::Variable;

/// postman-collection's `Substitutor.VARS_SUBREPLACE_LIMIT`.
const PASS_LIMIT: usize = 19;

/// One known variable.
#[derive(Debug, Clone)]
struct Known {
    value: String,
    /// Marked `secret` in its environment.
    secret: bool,
}

/// The variables in force for an import, precedence already applied.
#[derive(Debug, Default)]
pub struct Scope {
    vars: BTreeMap<String, Known>,
}

/// A text with its variables filled, and what could not be.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Resolved {
    /// The text, unknown references left as written.
    pub text: String,
    /// Names referenced (directly or through another variable) but defined nowhere.
    pub unresolved: BTreeSet<String>,
    /// `$…` names: Postman's dynamic values.
    pub dynamic: BTreeSet<String>,
    /// `vault:…` names.
    pub vault: BTreeSet<String>,
    /// A variable marked `secret` took part.
    pub secret: bool,
    /// The text was exactly one reference, `{{name}}`: its name.
    pub whole: Option<String>,
}

impl Resolved {
    /// Something in the text is not a value Postman's export can give.
    pub fn is_complete(&self) -> bool {
        self.unresolved.is_empty() && self.dynamic.is_empty() && self.vault.is_empty()
    }
}

impl Scope {
    /// Layers the variables: `globals` lowest, then the collection's, then each environment in
    /// the order given (a later one wins).
    pub fn layered<'a>(
        globals: &'a [Variable],
        collection: &'a [Variable],
        environments: impl IntoIterator<Item = &'a [Variable]>,
    ) -> Scope {
        let mut scope = Scope::default();
        scope.add(globals);
        scope.add(collection);
        for env in environments {
            scope.add(env);
        }
        scope
    }

    fn add(&mut self, vars: &[Variable]) {
        for var in vars.iter().filter(|v| v.is_active()) {
            let Some(key) = var.key.as_deref() else {
                continue;
            };
            let value = match &var.value {
                None | Some(serde_json::Value::Null) => String::new(),
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
            };
            let secret = var.kind.as_deref() == Some("secret");
            self.vars.insert(key.to_owned(), Known { value, secret });
        }
    }

    /// Fills the references in `text`.
    pub fn resolve(&self, text: &str) -> Resolved {
        let mut out = Resolved {
            whole: whole_reference(text).map(str::to_owned),
            ..Resolved::default()
        };
        let mut current = text.to_owned();
        for _ in 0..PASS_LIMIT {
            let (next, changed) = self.pass(&current, &mut out);
            current = next;
            if !changed {
                break;
            }
        }
        out.text = current;
        out
    }

    /// One pass over every `{{…}}` (innermost, as the pattern `{{([^{}]*?)}}` finds them).
    fn pass(&self, text: &str, out: &mut Resolved) -> (String, bool) {
        let mut result = String::with_capacity(text.len());
        let mut changed = false;
        let mut rest = text;
        while let Some((before, name, after)) = next_reference(rest) {
            result.push_str(before);
            if name.starts_with('$') {
                out.dynamic.insert(name.to_owned());
                push_reference(&mut result, name);
            } else if name.starts_with("vault:") {
                out.vault.insert(name.to_owned());
                push_reference(&mut result, name);
            } else if let Some(known) = self.vars.get(name) {
                result.push_str(&known.value);
                out.secret |= known.secret;
                changed = true;
            } else {
                out.unresolved.insert(name.to_owned());
                push_reference(&mut result, name);
            }
            rest = after;
        }
        result.push_str(rest);
        (result, changed)
    }
}

fn push_reference(out: &mut String, name: &str) {
    out.push_str("{{");
    out.push_str(name);
    out.push_str("}}");
}

/// The first `{{name}}` whose name holds no brace: (text before, name, text after).
fn next_reference(text: &str) -> Option<(&str, &str, &str)> {
    let mut from = 0;
    loop {
        let open = from + text.get(from..)?.find("{{")?;
        let inner_start = open + 2;
        let inner = text.get(inner_start..)?;
        let stop = inner.find(['{', '}'])?;
        if inner.get(stop..)?.starts_with("}}") {
            let name = inner.get(..stop)?;
            let after = inner.get(stop + 2..)?;
            return Some((text.get(..open)?, name, after));
        }
        // A brace inside: the reference (if any) starts further on, as the regex would find it.
        from = open + 1;
    }
}

/// `name` when `text` is exactly `{{name}}`.
fn whole_reference(text: &str) -> Option<&str> {
    let (before, name, after) = next_reference(text)?;
    (before.is_empty() && after.is_empty()).then_some(name)
}

#[cfg(test)]
#[path = "variables_tests.rs"]
mod tests;
