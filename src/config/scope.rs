//! Which repositories an agent or a secret is for: `repositories:`, a list of globs over
//! `owner/name` (`acme/*`, `!acme/secret-repo`). Pure.
//!
//! A repository is in scope when it matches some glob without `!` and none with it; no list
//! means every repository the App is installed on. `*` matches any run of characters
//! within the owner or within the name, never across the `/`. Names compare as GitHub
//! compares them, ignoring ASCII case.

use super::model::{Agent, RepoGlob, SecretRef};

impl RepoGlob {
    /// Whether the glob leaves repositories out (`!owner/name`).
    pub fn is_negated(&self) -> bool {
        self.as_str().starts_with('!')
    }

    /// The glob without its `!`.
    pub fn pattern(&self) -> &str {
        let s = self.as_str();
        s.strip_prefix('!').unwrap_or(s)
    }

    /// Whether `repository` (`owner/name`) matches the pattern (whatever its `!`).
    pub fn matches(&self, repository: &str) -> bool {
        covers(self.pattern(), repository)
    }
}

impl Agent {
    /// The repositories this agent runs for.
    pub fn scope(&self) -> Scope<'_> {
        Scope(self.repositories.as_deref())
    }
}

impl crate::config::model::AllowedIn {
    /// The repositories its people are allowed in.
    pub fn scope(&self) -> Scope<'_> {
        Scope(Some(&self.repositories))
    }
}

impl crate::config::model::Authorization {
    /// The accounts allowed in `repository` (`None`: not known, so only the
    /// installation-wide ones).
    pub fn users_in<'a>(
        &'a self,
        repository: Option<&'a str>,
    ) -> impl Iterator<Item = &'a crate::config::model::AllowedUser> + 'a {
        self.allowed_users.iter().chain(
            self.allowed_in_repository(repository)
                .flat_map(|a| a.users.iter()),
        )
    }

    /// The teams allowed in `repository`, likewise.
    pub fn teams_in<'a>(
        &'a self,
        repository: Option<&'a str>,
    ) -> impl Iterator<Item = &'a crate::config::model::TeamSlug> + 'a {
        self.allowed_teams.iter().chain(
            self.allowed_in_repository(repository)
                .flat_map(|a| a.teams.iter()),
        )
    }

    fn allowed_in_repository<'a>(
        &'a self,
        repository: Option<&'a str>,
    ) -> impl Iterator<Item = &'a crate::config::model::AllowedIn> + 'a {
        self.allowed_in
            .iter()
            .filter(move |a| repository.is_some_and(|r| a.scope().admits(r)))
    }
}

impl SecretRef {
    /// The repositories whose runs may use this secret.
    pub fn scope(&self) -> Scope<'_> {
        Scope(self.repositories.as_deref())
    }
}

/// A `repositories` list, or its absence: every repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scope<'a>(pub Option<&'a [RepoGlob]>);

/// How one scope reaches beyond another (an agent's beyond the secret it lists).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Beyond<'a> {
    /// The first scope is every repository; the second is not.
    Everywhere,
    /// This glob of the first scope matches repositories no glob of the second covers.
    Glob(&'a RepoGlob),
    /// This glob of the first scope matches repositories that this negated glob of the
    /// second leaves out, and the first does not leave them out too.
    Excluded {
        glob: &'a RepoGlob,
        excluded: &'a RepoGlob,
    },
}

impl<'a> Scope<'a> {
    /// Every repository.
    pub const EVERY: Scope<'static> = Scope(None);

    /// Whether `repository` (`owner/name`) is in scope.
    pub fn admits(&self, repository: &str) -> bool {
        let Some(globs) = self.0 else {
            return true;
        };
        let hit = |negated: bool| {
            globs
                .iter()
                .any(|g| g.is_negated() == negated && g.matches(repository))
        };
        hit(false) && !hit(true)
    }

    /// Whether the scope is every repository (no list).
    pub fn is_every(&self) -> bool {
        self.0.is_none()
    }

    fn positive(&self) -> impl Iterator<Item = &'a RepoGlob> {
        self.0.into_iter().flatten().filter(|g| !g.is_negated())
    }

    fn negated(&self) -> impl Iterator<Item = &'a RepoGlob> {
        self.0.into_iter().flatten().filter(|g| g.is_negated())
    }

    /// Why the list can match no repository, whatever repositories there are: it is empty,
    /// it only leaves repositories out, or its `!` globs leave out every repository its
    /// other globs take in (`["acme/*", "!acme/*"]`).
    pub fn matches_nothing(&self) -> Option<String> {
        let globs = self.0?;
        if globs.is_empty() {
            return Some(
                "is empty, so it matches no repository; leave `repositories` out for every \
                 repository"
                    .into(),
            );
        }
        if self.positive().next().is_none() {
            return Some(
                "only leaves repositories out (`!`): a repository is in when it matches a \
                 glob without `!`, so this list matches none; put `owner/*` before them"
                    .into(),
            );
        }
        let mut taken_back = Vec::new();
        for glob in self.positive() {
            let by = self
                .negated()
                .find(|n| contains(n.pattern(), glob.pattern()))?;
            let by = format!("`!{}`", by.pattern());
            if !taken_back.contains(&by) {
                taken_back.push(by);
            }
        }
        Some(format!(
            "matches no repository: {} leave{} out every repository its other globs take \
             in; narrow the `!` glob, or leave `repositories` out",
            taken_back.join(", "),
            if taken_back.len() == 1 { "s" } else { "" }
        ))
    }

    /// The `!` globs (with their index in the list) that leave out nothing the list's
    /// other globs take in: a typo, most likely (`!acme-corp/x` under `acme/*`). Only those
    /// surely disjoint from every glob without `!`.
    pub fn idle_negations(&self) -> Vec<(usize, &'a RepoGlob)> {
        let Some(globs) = self.0 else {
            return Vec::new();
        };
        if self.positive().next().is_none() {
            return Vec::new();
        }
        globs
            .iter()
            .enumerate()
            .filter(|(_, n)| n.is_negated())
            .filter(|(_, n)| {
                !self
                    .positive()
                    .any(|p| may_overlap(p.pattern(), n.pattern()))
            })
            .collect()
    }

    /// Whether a negated glob of this scope leaves out every repository `glob` matches.
    fn left_out(&self, glob: &RepoGlob) -> bool {
        self.negated()
            .any(|n| contains(n.pattern(), glob.pattern()))
    }

    /// Where this scope reaches beyond `outer`: repositories it may admit that `outer`
    /// does not. Empty when it stays within. Sound, not complete: a glob covered only by
    /// several of `outer`'s together is reported (say it as one glob there, or narrow it).
    pub fn beyond(&self, outer: Scope<'a>) -> Vec<Beyond<'a>> {
        if outer.is_every() {
            return Vec::new();
        }
        if self.is_every() {
            return vec![Beyond::Everywhere];
        }
        let mut found = Vec::new();
        for glob in self.positive() {
            if self.left_out(glob) {
                continue;
            }
            if !outer
                .positive()
                .any(|o| contains(o.pattern(), glob.pattern()))
            {
                found.push(Beyond::Glob(glob));
                continue;
            }
            for excluded in outer.negated() {
                let also_left_out = self
                    .negated()
                    .any(|n| contains(n.pattern(), excluded.pattern()));
                if !also_left_out && may_overlap(glob.pattern(), excluded.pattern()) {
                    found.push(Beyond::Excluded { glob, excluded });
                }
            }
        }
        found
    }

    /// Whether the two scopes may admit a repository in common (`true` when unsure; a `!`
    /// glob is not weighed).
    pub fn may_share(&self, other: Scope<'_>) -> bool {
        if self.is_every() || other.is_every() {
            return true;
        }
        self.positive().any(|a| {
            other
                .positive()
                .any(|b| may_overlap(a.pattern(), b.pattern()))
        })
    }

    /// A repository in scope, made from its first glob that yields one (for sample
    /// deliveries); `None` when none does.
    pub fn example(&self) -> Option<String> {
        let Some(globs) = self.0 else {
            return Some("example/repository".into());
        };
        for glob in globs.iter().filter(|g| !g.is_negated()) {
            for filler in ["example", "repository", "x0"] {
                let Some((owner, name)) = glob.pattern().split_once('/') else {
                    continue;
                };
                let candidate = format!(
                    "{}/{}",
                    owner.replace('*', filler),
                    name.replace('*', filler)
                );
                if self.admits(&candidate) {
                    return Some(candidate);
                }
            }
        }
        None
    }

    /// A repository in scope whose owner and name are as long as GitHub allows where the
    /// globs leave them open (a `*`: 39 characters for the owner, 100 for the name), made
    /// of characters GitHub allows and a DNS label does not (upper case, `_`, `.`), so that
    /// a sample delivery for it overflows what a template makes a namespace or a label of,
    /// as a delivery from such a repository would. A list of exact names gives its first;
    /// [`Self::example`] when no glob yields one.
    pub fn longest_example(&self) -> Option<String> {
        use crate::github::event::{MAX_OWNER_LEN, MAX_REPO_NAME_LEN};
        let patterns: Vec<&str> = match self.0 {
            None => vec!["*/*"],
            Some(globs) => globs
                .iter()
                .filter(|g| !g.is_negated())
                .map(RepoGlob::pattern)
                .collect(),
        };
        let longest = patterns
            .into_iter()
            .filter_map(|pattern| {
                let (owner, name) = pattern.split_once('/')?;
                Some(format!(
                    "{}/{}",
                    fill(owner, MAX_OWNER_LEN, "Long-Owner-"),
                    fill(name, MAX_REPO_NAME_LEN, "Long_Repository.Name-")
                ))
            })
            .find(|candidate| self.admits(candidate));
        longest.or_else(|| self.example())
    }

    /// The list as written (`acme/*, !acme/x`), or "every repository".
    pub fn describe(&self) -> String {
        match self.0 {
            None => "every repository".into(),
            Some(globs) => globs
                .iter()
                .map(|g| format!("`{g}`"))
                .collect::<Vec<_>>()
                .join(", "),
        }
    }
}

/// A glob's segment (an owner or a name) with its first `*` filled from `filler`, repeated,
/// to `max` characters in all (or one, where the rest of the segment is that long already),
/// ending in a letter or a digit, and its other `*`s with nothing.
fn fill(segment: &str, max: usize, filler: &str) -> String {
    let Some((before, after)) = segment.split_once('*') else {
        return segment.to_string();
    };
    let after = after.replace('*', "");
    let room = max
        .saturating_sub(before.chars().count() + after.chars().count())
        .max(1);
    let mut filled: String = filler.chars().cycle().take(room).collect();
    if filled.ends_with(|c: char| !c.is_ascii_alphanumeric()) {
        filled.pop();
        filled.push('x');
    }
    format!("{before}{filled}{after}")
}

/// Whether glob `pattern` matches `text`, owner and name each on their own. With a glob as
/// `text`, whether `pattern` matches every repository `text` matches: `text`'s `*` is only
/// ever matched by a `*` of `pattern` (its other characters are never `*`).
fn covers(pattern: &str, text: &str) -> bool {
    match (pattern.split_once('/'), text.split_once('/')) {
        (Some((po, pn)), Some((to, tn))) => {
            wildcard(po.as_bytes(), to.as_bytes()) && wildcard(pn.as_bytes(), tn.as_bytes())
        }
        _ => false,
    }
}

/// Whether every repository glob `inner` matches, glob `outer` matches too.
fn contains(outer: &str, inner: &str) -> bool {
    covers(outer, inner)
}

/// Whether two globs may match a repository in common (`true` when unsure).
fn may_overlap(a: &str, b: &str) -> bool {
    match (a.split_once('/'), b.split_once('/')) {
        (Some((ao, an)), Some((bo, bn))) => {
            segments_may_overlap(ao, bo) && segments_may_overlap(an, bn)
        }
        _ => false,
    }
}

fn segments_may_overlap(a: &str, b: &str) -> bool {
    if !a.contains('*') {
        return wildcard(b.as_bytes(), a.as_bytes());
    }
    if !b.contains('*') {
        return wildcard(a.as_bytes(), b.as_bytes());
    }
    let agree = |x: &str, y: &str, at_end: bool| {
        let (x, y) = (x.to_ascii_lowercase(), y.to_ascii_lowercase());
        if at_end {
            x.ends_with(&y) || y.ends_with(&x)
        } else {
            x.starts_with(&y) || y.starts_with(&x)
        }
    };
    let prefix = |s: &'_ str| s.split('*').next().unwrap_or("").to_string();
    let suffix = |s: &'_ str| s.rsplit('*').next().unwrap_or("").to_string();
    agree(&prefix(a), &prefix(b), false) && agree(&suffix(a), &suffix(b), true)
}

/// `*` matches any run of bytes (here: within an owner or a name); every other byte itself,
/// ignoring ASCII case.
fn wildcard(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p].eq_ignore_ascii_case(&text[t]) {
            p += 1;
            t += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&b| b == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn globs(list: &[&str]) -> Vec<RepoGlob> {
        list.iter()
            .map(|g| RepoGlob::try_from(g.to_string()).expect("a valid glob"))
            .collect()
    }

    #[test]
    fn a_repository_is_in_when_a_glob_matches_it_and_no_negated_one_does() {
        let table: &[(&[&str], &str, bool)] = &[
            (&["acme/*"], "acme/api", true),
            (&["acme/*"], "ACME/Api", true),
            (&["acme/*"], "acme2/api", false),
            (&["acme/*"], "other/acme", false),
            (&["acme/*", "!acme/secret"], "acme/secret", false),
            (&["acme/*", "!acme/secret"], "acme/Secret", false),
            (&["acme/*", "!acme/secret"], "acme/secrets", true),
            (&["!acme/secret", "acme/*"], "acme/secret", false),
            (&["acme/team-*"], "acme/team-a", true),
            (&["acme/team-*"], "acme/team-", true),
            (&["acme/team-*"], "acme/other", false),
            (&["*/docs"], "anyone/docs", true),
            (&["*/docs"], "anyone/docs2", false),
            (&["acme/a", "acme/b"], "acme/b", true),
            (&["acme/*-api"], "acme/billing-api", true),
            (&["acme/*-api"], "acme/billing-api-v2", false),
            (&["a*b*c/x"], "aXbYc/x", true),
            (&["a*b*c/x"], "aXcYb/x", false),
            (&[], "acme/a", false),
            (&["!acme/a"], "acme/b", false),
        ];
        for (list, repository, expected) in table {
            let list = globs(list);
            let scope = Scope(Some(&list));
            assert_eq!(
                scope.admits(repository),
                *expected,
                "{} admits {repository}",
                scope.describe()
            );
        }
        assert!(Scope::EVERY.admits("anyone/anything"));
    }

    #[test]
    fn an_agent_stays_within_a_secret_only_if_each_of_its_repositories_is_the_secrets() {
        // (agent, secret, what reaches beyond, as `glob` or `glob ∖ excluded`)
        type Globs<'a> = Option<&'a [&'a str]>;
        let table: &[(Globs, Globs, &[&str])] = &[
            (None, None, &[]),
            (Some(&["acme/a"]), None, &[]),
            (None, Some(&["acme/*"]), &["everywhere"]),
            (Some(&["acme/a"]), Some(&["acme/*"]), &[]),
            (Some(&["acme/a", "acme/b"]), Some(&["acme/a"]), &["acme/b"]),
            (Some(&["acme/*"]), Some(&["acme/a"]), &["acme/*"]),
            (Some(&["ACME/A"]), Some(&["acme/a"]), &[]),
            (Some(&["acme/team-*"]), Some(&["acme/*"]), &[]),
            (Some(&["acme/*"]), Some(&["acme/team-*"]), &["acme/*"]),
            (
                Some(&["acme/*"]),
                Some(&["acme/*", "!acme/secret"]),
                &["acme/* ∖ !acme/secret"],
            ),
            (
                Some(&["acme/*", "!acme/secret"]),
                Some(&["acme/*", "!acme/secret"]),
                &[],
            ),
            (
                Some(&["acme/*", "!acme/sec*"]),
                Some(&["acme/*", "!acme/secret"]),
                &[],
            ),
            (Some(&["acme/api-*"]), Some(&["acme/*", "!acme/web-*"]), &[]),
            (Some(&["acme/a", "!acme/a"]), Some(&["other/*"]), &[]),
        ];
        for (agent, secret, expected) in table {
            let agent = agent.map(globs);
            let secret = secret.map(globs);
            let found: Vec<String> = Scope(agent.as_deref())
                .beyond(Scope(secret.as_deref()))
                .into_iter()
                .map(|b| match b {
                    Beyond::Everywhere => "everywhere".to_string(),
                    Beyond::Glob(g) => g.to_string(),
                    Beyond::Excluded { glob, excluded } => format!("{glob} ∖ {excluded}"),
                })
                .collect();
            assert_eq!(&found, expected, "{agent:?} within {secret:?}");
        }
    }

    #[test]
    fn a_list_whose_negations_take_back_everything_matches_nothing() {
        for list in [
            &["acme/*", "!acme/*"][..],
            &["acme/x", "!Acme/X"],
            &["acme/*", "!*/*"],
            &["acme/x", "acme/y", "!acme/*"],
        ] {
            let globs = globs(list);
            let why = Scope(Some(&globs)).matches_nothing();
            assert!(
                why.as_deref()
                    .is_some_and(|w| w.starts_with("matches no repository: `!")),
                "{list:?}: {why:?}"
            );
        }
        for list in [
            &["acme/*", "!acme/x"][..],
            &["acme/x", "other/y", "!acme/*"],
        ] {
            let globs = globs(list);
            assert_eq!(Scope(Some(&globs)).matches_nothing(), None, "{list:?}");
        }
    }

    #[test]
    fn a_negation_that_leaves_nothing_out_is_found() {
        let list = globs(&["acme/*", "!acme-corp/x", "!acme/x", "!*/y", "!other/*"]);
        let idle: Vec<String> = Scope(Some(&list))
            .idle_negations()
            .into_iter()
            .map(|(i, g)| format!("{i} {g}"))
            .collect();
        assert_eq!(idle, ["1 !acme-corp/x", "4 !other/*"]);
    }

    #[test]
    fn an_example_repository_is_in_scope() {
        let list = globs(&["acme/*", "!acme/example"]);
        let example = Scope(Some(&list)).example().expect("an example");
        assert!(Scope(Some(&list)).admits(&example), "{example}");
        assert_eq!(
            Scope::EVERY.example().as_deref(),
            Some("example/repository")
        );
        let none = globs(&["!acme/a"]);
        assert_eq!(Scope(Some(&none)).example(), None);
    }

    /// The longest repository in scope: each `*` filled to GitHub's limits (39 characters
    /// of owner, 100 of name), exact names kept, and none out of scope.
    #[test]
    fn the_longest_example_is_as_long_as_github_allows_where_the_globs_leave_room() {
        let lengths = |list: &[&str]| {
            let list = globs(list);
            let scope = Scope(Some(&list));
            let example = scope.longest_example().expect("an example");
            assert!(scope.admits(&example), "{example}");
            let (owner, name) = example.split_once('/').expect("owner/name");
            (owner.len(), name.len())
        };
        let every = Scope::EVERY.longest_example().expect("an example");
        let (owner, name) = every.split_once('/').expect("owner/name");
        assert_eq!((owner.len(), name.len()), (39, 100), "{every}");
        assert!(every.parse::<crate::github::event::RepoFullName>().is_ok());
        assert!(
            name.contains(|c: char| c.is_ascii_uppercase()) && name.contains(['_', '.']),
            "{name}"
        );
        assert_eq!(lengths(&["acme/*"]), (4, 100));
        assert_eq!(lengths(&["*/docs"]), (39, 4));
        assert_eq!(lengths(&["acme/team-*-api"]), (4, 100));
        assert_eq!(lengths(&["acme/a*b*c"]), (4, 100));
        assert_eq!(lengths(&["acme/api", "acme/*"]), (4, 3));
        assert_eq!(lengths(&["acme/*", "!acme/Long*"]), (4, 7));
    }
}
