//! Requests grouped into signet's rules: one `[[host]]` per scheme, host and port, whose `auth`
//! is the one most of its requests use, and `[[host.route]]` entries for the requests that use
//! another (a route per path, narrowed to methods where only the method differs).
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use super::requests::Target;

/// An auth as placed: a profile's index, or `None` for "No Auth".
pub type AuthRef = Option<usize>;

/// One request to place.
#[derive(Debug, Clone)]
pub struct Placed {
    /// Its name, for comments and reports.
    pub name: String,
    /// Upper-case method.
    pub method: String,
    /// Where it goes.
    pub target: Target,
    /// Its auth.
    pub auth: AuthRef,
}

impl Placed {
    fn label(&self) -> String {
        format!("{} ({} {})", self.name, self.method, self.target.path)
    }
}

/// A `[[host]]` to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostBlock {
    /// The `match` pattern.
    pub pattern: String,
    /// The host's auth.
    pub auth: AuthRef,
    /// The requests it serves without a route.
    pub requests: Vec<String>,
    /// Its routes, in the order signet checks them.
    pub routes: Vec<RouteBlock>,
}

/// A `[[host.route]]` to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteBlock {
    /// The path glob.
    pub path: String,
    /// Methods, when only they tell requests on this path apart.
    pub methods: Option<Vec<String>>,
    /// Its auth.
    pub auth: AuthRef,
    /// The requests it serves.
    pub requests: Vec<String>,
}

/// The `match` pattern of exactly this scheme, host and port.
pub fn pattern(target: &Target) -> String {
    match (target.scheme.as_str(), target.port) {
        ("https", 443) => target.host.clone(),
        ("http", 80) => format!("http://{}", target.host),
        (scheme, port) => format!("{scheme}://{}:{port}", target.host),
    }
}

/// The route glob of a request path: Postman's `:name` path variables, and segments that still
/// hold a `{{variable}}`, match any one segment.
pub fn path_glob(path: &str) -> String {
    let segments: Vec<&str> = path
        .split('/')
        .skip(1)
        .map(|seg| {
            if seg.starts_with(':') || seg.contains("%7B%7B") || seg.contains("{{") {
                "*"
            } else {
                seg
            }
        })
        .collect();
    format!("/{}", segments.join("/"))
}

/// Whether `glob` (literal segments and `*`) matches every path `other` (the same kind) does.
fn covers(glob: &str, other: &str) -> bool {
    let (a, b): (Vec<&str>, Vec<&str>) = (glob.split('/').collect(), other.split('/').collect());
    a.len() == b.len() && a.iter().zip(&b).all(|(x, y)| *x == "*" || x == y)
}

fn wildcards(glob: &str) -> usize {
    glob.split('/').filter(|s| *s == "*").count()
}

/// Groups `requests` (in document order) into host blocks; conflicting auth for one path and
/// method is reported (the first request keeps it).
pub fn hosts(requests: &[Placed], reports: &mut Vec<String>) -> Vec<HostBlock> {
    let mut patterns: Vec<String> = Vec::new();
    for r in requests {
        let p = pattern(&r.target);
        if !patterns.contains(&p) {
            patterns.push(p);
        }
    }
    patterns
        .into_iter()
        .map(|p| {
            let mine: Vec<&Placed> = requests
                .iter()
                .filter(|r| pattern(&r.target) == p)
                .collect();
            host_block(p, &mine, reports)
        })
        .collect()
}

/// The auth most requests use; on a tie the one that comes first.
fn majority(requests: &[&Placed]) -> AuthRef {
    let mut counts: Vec<(AuthRef, usize)> = Vec::new();
    for r in requests {
        match counts.iter_mut().find(|(a, _)| *a == r.auth) {
            Some((_, n)) => *n += 1,
            None => counts.push((r.auth, 1)),
        }
    }
    let mut best: Option<(AuthRef, usize)> = None;
    for (auth, n) in counts {
        if best.is_none_or(|(_, m)| n > m) {
            best = Some((auth, n));
        }
    }
    best.and_then(|(a, _)| a)
}

/// One path's requests, with conflicting ones left out.
struct PathGroup<'a> {
    glob: String,
    /// (method, auth, requests)
    methods: Vec<(String, AuthRef, Vec<&'a Placed>)>,
}

fn path_groups<'a>(
    pattern: &str,
    requests: &[&'a Placed],
    reports: &mut Vec<String>,
) -> Vec<PathGroup<'a>> {
    let mut groups: Vec<PathGroup<'a>> = Vec::new();
    for r in requests {
        let glob = path_glob(&r.target.path);
        let at = match groups.iter().position(|g| g.glob == glob) {
            Some(at) => at,
            None => {
                groups.push(PathGroup {
                    glob,
                    methods: Vec::new(),
                });
                groups.len() - 1
            }
        };
        let Some(group) = groups.get_mut(at) else {
            continue;
        };
        match group.methods.iter_mut().find(|(m, _, _)| *m == r.method) {
            None => group.methods.push((r.method.clone(), r.auth, vec![r])),
            Some((_, auth, served)) if *auth == r.auth => served.push(r),
            Some((_, _, served)) => reports.push(format!(
                "request {:?}: conflicting auth for {} {} on {pattern}: {:?} uses another for the \
                 same path and method, and keeps it; this request's auth is not imported",
                r.name,
                r.method,
                group.glob,
                served.first().map_or("", |s| s.name.as_str()),
            )),
        }
    }
    groups
}

fn host_block(pattern: String, requests: &[&Placed], reports: &mut Vec<String>) -> HostBlock {
    let default = majority(requests);
    let mut block = HostBlock {
        pattern: pattern.clone(),
        auth: default,
        requests: Vec::new(),
        routes: Vec::new(),
    };
    let groups = path_groups(&pattern, requests, reports);
    for group in &groups {
        let first_auth = group.methods.first().map(|(_, a, _)| *a);
        let uniform = group.methods.iter().all(|(_, a, _)| Some(*a) == first_auth);
        for (method, auth, served) in &group.methods {
            let labels: Vec<String> = served.iter().map(|r| r.label()).collect();
            if *auth == default {
                block.requests.extend(labels);
            } else if uniform {
                match block.routes.iter_mut().find(|r| r.path == group.glob) {
                    Some(route) => route.requests.extend(labels),
                    None => block.routes.push(RouteBlock {
                        path: group.glob.clone(),
                        methods: None,
                        auth: *auth,
                        requests: labels,
                    }),
                }
            } else {
                block.routes.push(RouteBlock {
                    path: group.glob.clone(),
                    methods: Some(vec![method.clone()]),
                    auth: *auth,
                    requests: labels,
                });
            }
        }
    }
    // Literal paths before the globs that would catch them.
    block.routes.sort_by_key(|r| wildcards(&r.path));
    unshadow(&mut block, &groups);
    block
}

/// A request on the host's own auth whose path a route's glob catches (`/users/me` under
/// `/users/*`) gets a route of its own ahead of that one.
fn unshadow(block: &mut HostBlock, groups: &[PathGroup<'_>]) {
    for group in groups {
        for (method, auth, served) in &group.methods {
            if *auth != block.auth {
                continue;
            }
            let shadow = block.routes.iter().position(|r| {
                covers(&r.path, &group.glob)
                    && r.methods.as_ref().is_none_or(|m| m.contains(method))
            });
            let Some(at) = shadow else { continue };
            if block.routes.get(at).is_some_and(|r| r.auth == *auth) {
                continue;
            }
            let labels: Vec<String> = served.iter().map(|r| r.label()).collect();
            block.requests.retain(|l| !labels.contains(l));
            block.routes.insert(
                at,
                RouteBlock {
                    path: group.glob.clone(),
                    methods: Some(vec![method.clone()]),
                    auth: *auth,
                    requests: labels,
                },
            );
        }
    }
}

#[cfg(test)]
#[path = "layout_tests.rs"]
mod tests;
