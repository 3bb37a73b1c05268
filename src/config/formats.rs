//! The string formats services.yaml uses, each with one syntax check shared by the schema
//! check (all errors, with positions) and deserialization.

use schemars::{Schema, json_schema};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    DnsLabel,
    DnsSubdomain,
    Quantity,
    Glob,
    Template,
    Image,
    EnvName,
    SecretKey,
    Team,
    Verb,
    Duration,
    Repository,
    User,
}

impl Format {
    pub const ALL: [Format; 13] = [
        Format::DnsLabel,
        Format::DnsSubdomain,
        Format::Quantity,
        Format::Glob,
        Format::Template,
        Format::Image,
        Format::EnvName,
        Format::SecretKey,
        Format::Team,
        Format::Verb,
        Format::Duration,
        Format::Repository,
        Format::User,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Format::DnsLabel => "dns-label",
            Format::DnsSubdomain => "dns-subdomain",
            Format::Quantity => "quantity",
            Format::Glob => "glob",
            Format::Template => "template",
            Format::Image => "image",
            Format::EnvName => "env-name",
            Format::SecretKey => "secret-key",
            Format::Team => "team",
            Format::Verb => "verb",
            Format::Duration => "agentpods-duration",
            Format::Repository => "repository-glob",
            Format::User => "github-user",
        }
    }

    pub fn from_name(name: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.name() == name)
    }

    fn description(self) -> &'static str {
        match self {
            Format::DnsLabel => {
                "a DNS label: lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters"
            }
            Format::DnsSubdomain => {
                "a Kubernetes object name: lowercase letters, digits, '-' and '.', at most 253 characters"
            }
            Format::Quantity => "a Kubernetes quantity such as 500m, 2, 512Mi or 4Gi",
            Format::Glob => {
                "a glob: '*' within a segment, '**' across segments, '{a,b}' alternatives"
            }
            Format::Template => "a minijinja template",
            Format::Image => "a container image reference such as ghcr.io/org/agent:1.2.3",
            Format::EnvName => {
                "an environment variable name: letters, digits and '_', not starting with a digit"
            }
            Format::SecretKey => "a Secret key: letters, digits, '-', '_' and '.'",
            Format::Team => "a team as org/team-slug",
            Format::Verb => {
                "a lowercase word: letters, digits and '-', starting with a letter, at most 32 characters"
            }
            Format::Duration => {
                "a duration such as 90s, 30m, 1h 30m or 2d, up to a year (m is minutes; months \
                 and years are not units here)"
            }
            Format::Repository => {
                "a repository as owner/name, where '*' matches within the owner or the name \
                 (owner/* is every repository of owner), and a leading '!' leaves the \
                 repositories it matches out"
            }
            Format::User => {
                "a GitHub login, best with the account's numeric id after a colon \
                 (octocat:583231): GitHub frees a login when its account is renamed, the id \
                 never changes"
            }
        }
    }

    /// A regular expression for editors and other JSON Schema validators, which do not know
    /// our `format` names (and must not read `duration` as ISO 8601's): it accepts what
    /// [`Format::check`] accepts, save that a duration's parts are bounded one by one (each
    /// at most a year: `400d` does not match, `200d 4000h` does, and so do a unit given
    /// twice and a fraction of a second, `1.5s`) and an image reference's length is not
    /// counted (at most 512 characters); `None` where no expression says it (globs and
    /// templates are parsed). ECMA 262 and Python `re` read it alike.
    pub fn pattern(self) -> Option<&'static str> {
        match self {
            Format::DnsLabel => Some("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"),
            Format::DnsSubdomain => {
                Some("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$")
            }
            Format::Quantity => Some(
                "^[+-]?([0-9]+(\\.[0-9]*)?|\\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?$",
            ),
            // A regular expression without look-around cannot refuse `**` or a name `..`.
            Format::Glob | Format::Template | Format::Repository => None,
            // Its shape (one tag, a digest of hex digits, no empty segment), not its
            // length: a reference is at most 512 characters, which only the check counts.
            Format::Image => Some(
                "^(?:(?:[A-Za-z0-9_][A-Za-z0-9._:-]*(?:/[A-Za-z0-9._:-]+)*/(?:[A-Za-z0-9._-]+(?::[A-Za-z0-9_][A-Za-z0-9._-]{0,127})?|:[A-Za-z0-9_][A-Za-z0-9._-]{0,127})|[A-Za-z0-9_][A-Za-z0-9._-]*(?::[A-Za-z0-9_][A-Za-z0-9._-]{0,127})?)(?:@(?:sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128}))?|@(?:sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128}))$",
            ),
            Format::EnvName => Some("^[A-Za-z_][A-Za-z0-9_]*$"),
            Format::SecretKey => Some("^[A-Za-z0-9._-]{1,253}$"),
            Format::Team => Some("^[A-Za-z0-9._-]+/[A-Za-z0-9._-]+$"),
            Format::Verb => Some("^[a-z][a-z0-9-]{0,31}$"),
            Format::User => Some("^[A-Za-z0-9][A-Za-z0-9_-]*(\\[bot\\])?(:[1-9][0-9]{0,18})?$"),
            // Numbers with units, decimals allowed (`1.5h`), at least one of them not zero,
            // none over a year (new-user review 13e: `400d` was green in an editor).
            Format::Duration => Some(duration_pattern()),
        }
    }

    pub fn schema(self) -> Schema {
        let mut schema = json_schema!({
            "type": "string",
            "format": self.name(),
            "description": self.description(),
        });
        if let Some(pattern) = self.pattern() {
            schema.insert("pattern".into(), pattern.into());
        }
        if self == Format::DnsSubdomain {
            schema.insert("maxLength".into(), 253.into());
        }
        if self == Format::Verb {
            // The service's own verbs, which no agent may take (new-user review 13e, N7:
            // an editor took `verbs: [retry]`, which validate refuses).
            let reserved: Vec<&str> = crate::github::command::BuiltinVerb::ALL
                .into_iter()
                .filter(|v| !v.starts_agents())
                .map(|v| v.name())
                .collect();
            schema.insert("not".into(), serde_json::json!({ "enum": reserved }));
        }
        schema
    }

    /// Checks a value; the error says what was expected.
    pub fn check(self, s: &str) -> Result<(), String> {
        let ok = match self {
            Format::DnsLabel => is_dns_label(s),
            Format::DnsSubdomain => is_dns_subdomain(s),
            Format::Quantity => is_quantity(s),
            Format::Glob => {
                return globset::Glob::new(s)
                    .map(|_| ())
                    .map_err(|e| format!("invalid glob `{s}`: {}", e.kind()));
            }
            Format::Template => {
                return check_template_syntax(s);
            }
            Format::Image => {
                let ok = !s.is_empty()
                    && s.len() <= 512
                    && !s.starts_with(['-', '.', '/', ':'])
                    && s.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "._-/:@".contains(c));
                if ok {
                    return check_image_shape(s);
                }
                false
            }
            Format::EnvName => {
                let mut chars = s.chars();
                chars
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                    && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
            }
            Format::SecretKey => {
                !s.is_empty()
                    && s.len() <= 253
                    && s.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            }
            Format::Team => match s.split_once('/') {
                Some((org, team)) => {
                    let part = |p: &str| {
                        !p.is_empty()
                            && p.chars()
                                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
                    };
                    part(org) && part(team)
                }
                None => false,
            },
            Format::Verb => {
                let mut chars = s.chars();
                s.len() <= 32
                    && chars.next().is_some_and(|c| c.is_ascii_lowercase())
                    && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            }
            Format::Duration => return parse_duration(s).map(|_| ()),
            Format::Repository => return check_glob(s),
            Format::User => return check_user(s),
        };
        if ok {
            return Ok(());
        }
        // What a newcomer most likely meant (new-user review 13d, N12).
        let hint = match self {
            Format::Team if s.starts_with('@') => {
                format!(": write it without the `@`, `{}`", shorten(&s[1..]))
            }
            Format::Verb if s.starts_with('/') && s.contains(' ') => format!(
                ": write the word alone, `{}`; the prefix comes from `github.command_prefix`",
                shorten(s.rsplit(' ').next().unwrap_or(s))
            ),
            // `Fix`: a comment's `/agent Fix` is read as `fix` anyway (new-user review 13e,
            // N8).
            Format::Verb
                if s.to_lowercase() != s && Format::Verb.check(&s.to_lowercase()).is_ok() =>
            {
                format!(
                    ": write `{}` (a comment's command is matched in any case)",
                    shorten(&s.to_lowercase())
                )
            }
            _ => String::new(),
        };
        Err(format!(
            "`{}` is not {}{hint}",
            shorten(s),
            self.description()
        ))
    }
}

use crate::text::{is_dns_label, is_dns_subdomain};

/// [`Format::Duration`]'s pattern: parts of a number and a unit, one of them not zero, each
/// at most [`MAX_DURATION`] in its unit (`366d`, `8784h`; weeks up to 52 and a fraction).
fn duration_pattern() -> &'static str {
    static PATTERN: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        let max = MAX_DURATION.as_secs();
        // (the unit's names, the most of it a year holds: whole, and whether a fraction
        // of the last whole one is within the year too)
        let units: [(&str, u64, bool); 5] = [
            ("seconds|second|sec|s", max, false),
            ("minutes|minute|min|m", max / 60, false),
            ("hours|hour|hr|h", max / 3600, false),
            ("days|day|d", max / 86_400, false),
            ("weeks|week|w", max / 604_800, true),
        ];
        let part = |nonzero: bool| {
            units
                .iter()
                .map(|(names, most, fraction_of_most)| {
                    let most_fraction = if *fraction_of_most {
                        "(\\.[0-9]+)?"
                    } else {
                        "(\\.0+)?"
                    };
                    let below = if nonzero {
                        one_to(most - 1)
                    } else {
                        format!("0|{}", one_to(most - 1))
                    };
                    let zero_point = if nonzero {
                        "|0+\\.[0-9]*[1-9][0-9]*"
                    } else {
                        ""
                    };
                    format!(
                        "(0*(({below})(\\.[0-9]+)?|{most}{most_fraction}){zero_point}) *({names})"
                    )
                })
                .collect::<Vec<_>>()
                .join("|")
        };
        let any = part(false);
        let nonzero = part(true);
        format!("^ *(({any}) *)*({nonzero}) *(({any}) *)*$")
    });
    &PATTERN
}

/// A regular expression for the whole numbers from 1 to `n` without leading zeros (none
/// when `n` is 0, where it matches nothing).
fn one_to(n: u64) -> String {
    if n == 0 {
        return "[^\\s\\S]".into();
    }
    let digits: Vec<u32> = n
        .to_string()
        .chars()
        .filter_map(|c| c.to_digit(10))
        .collect();
    let k = digits.len();
    let mut alternatives = Vec::new();
    if k > 1 {
        alternatives.push(format!("[1-9][0-9]{{0,{}}}", k - 2));
    }
    for (i, d) in digits.iter().enumerate() {
        let lowest = u32::from(i == 0);
        if *d > lowest {
            let prefix: String = digits[..i].iter().map(|d| d.to_string()).collect();
            let rest = k - 1 - i;
            let tail = if rest == 0 {
                String::new()
            } else {
                format!("[0-9]{{{rest}}}")
            };
            alternatives.push(format!("{prefix}[{lowest}-{}]{tail}", d - 1));
        }
    }
    alternatives.push(n.to_string());
    alternatives.join("|")
}

/// What the kubelet refuses (InvalidImageName) in a reference made of the right characters
/// (new-user review 13c, N5): a scheme (`https://`, copied from a registry's page), an
/// empty path segment (`//`), an empty tag, two tags, a digest that is not `sha256:` and 64
/// hex digits. Each error says what to write. An upper-case path is refused later, with
/// its lower-case form.
fn check_image_shape(s: &str) -> Result<(), String> {
    let refused = |why: &str, write: &str| {
        Err(format!(
            "image `{}`: {why}, which the kubelet refuses (InvalidImageName); write `{}`",
            shorten(s),
            shorten(write)
        ))
    };
    if let Some((scheme, rest)) = s.split_once("://") {
        return refused(
            &format!("an image reference has no scheme (`{scheme}://`)"),
            rest.trim_start_matches('/'),
        );
    }
    let (name, digest) = match s.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (s, None),
    };
    if name.contains("//") || name.ends_with('/') {
        let parts: Vec<&str> = name.split('/').filter(|p| !p.is_empty()).collect();
        let fixed = format!(
            "{}{}",
            parts.join("/"),
            digest.map(|d| format!("@{d}")).unwrap_or_default()
        );
        return refused("a path segment is empty", &fixed);
    }
    // A tag follows a `:` in the last segment (a `:` before it is a registry's port).
    let (path, last) = name.rsplit_once('/').unwrap_or(("", name));
    let joined = |last: &str| {
        let mut out = if path.is_empty() {
            last.to_string()
        } else {
            format!("{path}/{last}")
        };
        if let Some(d) = digest {
            out.push('@');
            out.push_str(d);
        }
        out
    };
    let mut parts = last.split(':');
    let repository = parts.next().unwrap_or_default();
    let tags: Vec<&str> = parts.collect();
    match tags.as_slice() {
        [] => {}
        [""] => {
            return refused(
                "the tag after `:` is empty",
                &format!("{}:1.2.3", joined(repository).trim_end_matches(':')),
            );
        }
        [tag] if tag.len() > 128 || tag.starts_with(['.', '-']) => {
            return Err(format!(
                "image `{}`: a tag is at most 128 letters, digits, `_`, `.` and `-`, not \
                 beginning with `.` or `-`, which the kubelet refuses otherwise \
                 (InvalidImageName)",
                shorten(s)
            ));
        }
        [_] => {}
        [first, ..] => {
            return refused(
                "an image has one tag, and this one has two",
                &joined(&format!("{repository}:{first}")),
            );
        }
    }
    if let Some(digest) = digest {
        let hex = |h: &str, n: usize| {
            h.len() == n
                && h.chars()
                    .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
        };
        let ok = match digest.split_once(':') {
            Some(("sha256", h)) => hex(h, 64),
            Some(("sha512", h)) => hex(h, 128),
            _ => false,
        };
        if !ok || digest.contains('@') {
            return refused(
                "a digest is `sha256:` and 64 hex digits",
                &format!("{name}@sha256:<64 hex digits>"),
            );
        }
    }
    Ok(())
}

fn is_quantity(s: &str) -> bool {
    quantity_value(s).is_some()
}

/// The value of a Kubernetes quantity (`500m`, `2`, `4Gi`, `1e3`), to compare two; `None`
/// when `s` is not one (the one grammar services.yaml and `validate` read quantities by).
pub(crate) fn quantity_value(s: &str) -> Option<f64> {
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '+' | '-')))
        .unwrap_or(s.len());
    let (number, suffix) = s.split_at(end);
    let number: f64 = number.parse().ok()?;
    let scale = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024f64,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        e => 10f64.powi(e.strip_prefix(['e', 'E'])?.parse().ok()?),
    };
    Some(number * scale)
}

/// The units a duration may use (those of humantime that the schema's pattern lists).
/// Not months or years: `15M` is 15 months to humantime, where `15m` was meant, and no
/// timeout or TTL here is that long. Nor below a second: Kubernetes counts whole seconds,
/// and the schema took `500ms` that the check refuses (new-user review 13e, N7).
const DURATION_UNITS: [&str; 18] = [
    "seconds", "second", "sec", "s", "minutes", "minute", "min", "m", "hours", "hour", "hr", "h",
    "days", "day", "d", "weeks", "week", "w",
];

/// The longest duration: a year (a timeout or TTL beyond it is a typo, `100000d`).
const MAX_DURATION: std::time::Duration = std::time::Duration::from_secs(366 * 24 * 3600);

/// The units of `s` when it is numbers with units (`1h 30m`, `1.5h`), as the schema's
/// pattern says: humantime alone also takes spaces inside a number and units the pattern
/// does not list.
fn duration_units(s: &str) -> Option<Vec<&str>> {
    let mut rest = s.trim_start_matches(' ');
    let mut units = Vec::new();
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            return None;
        }
        rest = &rest[digits..];
        if let Some(after) = rest.strip_prefix('.') {
            let fraction =
                after.len() - after.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            if fraction == 0 {
                return None;
            }
            rest = &after[fraction..];
        }
        rest = rest.trim_start_matches(' ');
        let letters = rest.len()
            - rest
                .trim_start_matches(|c: char| c.is_ascii_alphabetic())
                .len();
        if !DURATION_UNITS.contains(&&rest[..letters]) {
            return None;
        }
        units.push(&rest[..letters]);
        rest = rest[letters..].trim_start_matches(' ');
    }
    (!units.is_empty()).then_some(units)
}

/// The unit `unit` (one of [`DURATION_UNITS`]) is, by the name of its shortest form: `m`
/// for `min` and `minutes`.
fn unit_kind(unit: &str) -> &str {
    match unit {
        "seconds" | "second" | "sec" => "s",
        "minutes" | "minute" | "min" => "m",
        "hours" | "hour" | "hr" => "h",
        "days" | "day" => "d",
        "weeks" | "week" => "w",
        short => short,
    }
}

pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let unit_after_number = |unit: &str| {
        s.split(|c: char| c.is_ascii_digit() || c == '.' || c == ' ')
            .any(|w| w == unit)
    };
    if s.len() > 1
        && s.starts_with('P')
        && s[1..].starts_with(|c: char| c == 'T' || c.is_ascii_digit())
    {
        return Err(format!(
            "`{}` is an ISO 8601 duration, which is not read here: write a number and a unit, \
             like 15m, 1h 30m or 2d",
            shorten(s)
        ));
    }
    if unit_after_number("M") {
        return Err(format!(
            "`{}`: `M` is months; minutes are `m` (like 30m)",
            shorten(s)
        ));
    }
    let Some(units) = duration_units(s) else {
        // `20 mins`: a number and a unit this reader does not know (new-user review 13d, N7).
        let unknown = s
            .split(|c: char| !c.is_ascii_alphabetic())
            .find(|w| !w.is_empty() && !DURATION_UNITS.contains(w));
        if unknown.is_some_and(|u| ["ns", "us", "ms", "nsec", "usec", "msec"].contains(&u)) {
            return Err(format!(
                "duration `{}` is not a whole number of seconds: Kubernetes counts whole \
                 seconds, so write it like 1s, 90s or 30m",
                shorten(s)
            ));
        }
        if let Some(unit) =
            unknown.filter(|_| s.trim_start().starts_with(|c: char| c.is_ascii_digit()))
        {
            return Err(format!(
                "`{}`: `{}` is not a unit; the units are s, m, h, d and w (or seconds, \
                 minutes, hours, days, weeks), like 90s, 30m, 1h 30m or 2d",
                shorten(s),
                shorten(unit)
            ));
        }
        return Err(format!(
            "`{}` is not a duration: write a number and a unit, like 90s, 30m, 1.5h, 1h 30m \
             or 2d",
            shorten(s)
        ));
    };
    // humantime adds `15m 15m` up to 30m: a slip (a value pasted twice), not a sum meant
    // (new-user review 13c, N13; 13b N5).
    let kinds: Vec<&str> = units.iter().map(|u| unit_kind(u)).collect();
    if let Some(twice) = kinds
        .iter()
        .enumerate()
        .find_map(|(i, k)| kinds[..i].contains(k).then_some(*k))
    {
        // humantime's own form, not `text::duration`'s whole seconds: the sum is what to
        // write instead, and `1s 500ms` must stay `1s 500ms`.
        let sum = humantime::parse_duration(s)
            .map(|d| {
                format!(
                    " (`{}` if you mean their sum)",
                    humantime::format_duration(d)
                )
            })
            .unwrap_or_default();
        return Err(format!(
            "duration `{}` gives `{twice}` more than once; give each unit once, like 1h 30m{sum}",
            shorten(s)
        ));
    }
    match humantime::parse_duration(s) {
        Ok(d) if d.is_zero() => Err(format!(
            "duration `{}` must be longer than zero",
            shorten(s)
        )),
        // Kubernetes counts whole seconds (`activeDeadlineSeconds`,
        // `ttlSecondsAfterFinished`): `500ms` would be 0, which the API server refuses.
        Ok(d) if d.subsec_nanos() != 0 => Err(format!(
            "duration `{}` is not a whole number of seconds: Kubernetes counts whole seconds, \
             so write it like 1s, 90s or 30m",
            shorten(s)
        )),
        Ok(d) if d > MAX_DURATION => Err(format!(
            "duration `{}` is longer than a year; write it like 90s, 30m, 1h 30m or 2d",
            shorten(s)
        )),
        Ok(d) => Ok(d),
        Err(e) => Err(format!(
            "`{}` is not a duration ({e}); write it like 90s, 30m, 1h 30m or 2d",
            shorten(s)
        )),
    }
}

/// An `allowed_users` entry: a login, and after a colon the account's id
/// (`octocat:583231`). A login written as a mention (`@octocat`) would never match: it is
/// refused with what to write instead.
fn check_user(s: &str) -> Result<(), String> {
    let (login, id) = match s.split_once(':') {
        Some((login, id)) => (login, Some(id)),
        None => (s, None),
    };
    if let Some(bare) = login.strip_prefix('@').filter(|b| !b.is_empty()) {
        let id = id.map(|id| format!(":{id}")).unwrap_or_default();
        return Err(format!(
            "`{}`: write the login without @ (`{}`): a login with @ never matches",
            shorten(s),
            shorten(&format!("{bare}{id}"))
        ));
    }
    let name = login.strip_suffix("[bot]").unwrap_or(login);
    let login_ok = name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    let id_ok = id.is_none_or(|id| {
        (1..=19).contains(&id.len())
            && !id.starts_with('0')
            && id.chars().all(|c| c.is_ascii_digit())
    });
    match (login_ok, id_ok) {
        (true, true) => Ok(()),
        (true, false) => Err(format!(
            "`{}`: the account id after the colon is a number, as GitHub's API gives it \
             (https://api.github.com/users/{login} says `id`), like octocat:583231",
            shorten(s)
        )),
        (false, _) => Err(format!(
            "`{}` is not a GitHub login (letters, digits and '-'), or login:id to pin the \
             account (octocat:583231)",
            shorten(s)
        )),
    }
}

fn check_template_syntax(s: &str) -> Result<(), String> {
    let env = minijinja::Environment::new();
    env.template_from_str(s).map(|_| ()).map_err(|e| {
        format!(
            "template syntax error: {}",
            e.detail().unwrap_or("invalid template")
        )
    })
}

/// The characters GitHub allows in an owner (a user or an organisation): letters, digits
/// and `-`, and `_` (the `_shortcode` of Enterprise Managed Users).
fn owner_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

/// The characters GitHub allows in a repository name.
fn name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
}

/// Checks one glob of a `repositories` list: `Err` says why no repository could ever match
/// it, and what to write instead.
pub fn check_glob(s: &str) -> Result<(), String> {
    let shown = shorten(s);
    let body = s.strip_prefix('!').unwrap_or(s);
    let fail = |why: String| Err(format!("`{shown}` {why}"));
    if body.is_empty() {
        return fail(
            "names no repository: write `owner/name`, or `owner/*` for every \
             repository of an owner (`!owner/name` leaves one out)"
                .into(),
        );
    }
    if body.starts_with('!') {
        return fail(
            "has more than one `!`: one leading `!` leaves the repositories it \
             matches out"
                .into(),
        );
    }
    if body.contains("**") {
        let mut one = body.to_string();
        while one.contains("**") {
            one = one.replace("**", "*");
        }
        return fail(format!(
            "holds `**`: a repository is only `owner/name` deep, and `*` already matches a \
             whole owner or name; write `{}`",
            shorten(&one)
        ));
    }
    let Some((owner, name)) = body.split_once('/') else {
        return fail(format!(
            "has no `/`: a repository glob is `owner/name`; write `{}/*` for every \
             repository of `{}`",
            shorten(body),
            shorten(body)
        ));
    };
    if name.contains('/') {
        return fail("has more than one `/`: a repository is `owner/name`".into());
    }
    if owner.is_empty() {
        return fail(format!(
            "has no owner before the `/`: write `owner/{}`, or `*/{}` for that name under \
             any owner",
            shorten(name),
            shorten(name)
        ));
    }
    if name.is_empty() {
        return fail(format!(
            "has no name after the `/`: write `{}/*` for every repository of `{}`",
            shorten(owner),
            shorten(owner)
        ));
    }
    let wildcard_hint = |c: char| {
        if "?[]{},".contains(c) {
            "; only `*` is a wildcard here: list each repository as an entry of its own"
        } else {
            ""
        }
    };
    if let Some(c) = owner.chars().find(|&c| c != '*' && !owner_char(c)) {
        return fail(format!(
            "holds `{}` in its owner, which GitHub never allows there (letters, digits and \
             `-`){}",
            c.escape_debug(),
            wildcard_hint(c)
        ));
    }
    if let Some(c) = name.chars().find(|&c| c != '*' && !name_char(c)) {
        return fail(format!(
            "holds `{}` in its name, which GitHub never allows in a repository name \
             (letters, digits, `-`, `_` and `.`){}",
            c.escape_debug(),
            wildcard_hint(c)
        ));
    }
    if name == "." || name == ".." {
        return fail(format!(
            "names `{name}`, which GitHub never allows as a repository"
        ));
    }
    Ok(())
}

/// Cuts a value for an error message, so a huge value cannot flood the output.
pub fn shorten(s: &str) -> String {
    crate::text::clip(s, 60)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_team_with_an_at_or_a_verb_with_its_prefix_says_what_to_write() {
        let team = Format::Team.check("@acme/platform").unwrap_err();
        assert!(
            team.ends_with("write it without the `@`, `acme/platform`"),
            "{team}"
        );
        let verb = Format::Verb.check("/qa run").unwrap_err();
        assert!(
            verb.ends_with(
                "write the word alone, `run`; the prefix comes from `github.command_prefix`"
            ),
            "{verb}"
        );
    }

    #[test]
    fn a_number_with_a_unit_not_known_says_which_units_are() {
        for (written, unit) in [
            ("20 mins", "mins"),
            ("2 secs", "secs"),
            ("1fortnight", "fortnight"),
        ] {
            let e = parse_duration(written).unwrap_err();
            assert!(
                e.contains(&format!(
                    "`{unit}` is not a unit; the units are s, m, h, d and w"
                )),
                "{e}"
            );
        }
    }

    use super::*;

    #[test]
    fn quantities_follow_kubernetes() {
        for ok in [
            "500m",
            "2",
            "4Gi",
            "1.5",
            "0.5Gi",
            "1e3",
            "128974848",
            "+1Ki",
        ] {
            assert!(Format::Quantity.check(ok).is_ok(), "{ok}");
        }
        for bad in ["", "2 Gi", "Gi", "1.2.3", "4gb", "1e", "."] {
            assert!(Format::Quantity.check(bad).is_err(), "{bad}");
        }
    }

    /// `15M` was 15 months (456 days) to humantime, and `100000d` 273 years: a newcomer's
    /// typo became a timeout no run reaches (outside review N2).
    #[test]
    fn a_duration_is_minutes_to_days_never_months_and_at_most_a_year() {
        for (given, secs) in [("15m", 900), ("2 weeks", 1_209_600), ("366d", 31_622_400)] {
            assert_eq!(
                parse_duration(given).map(|d| d.as_secs()),
                Ok(secs),
                "{given}"
            );
        }
        let said = |s: &str| parse_duration(s).expect_err(s);
        assert_eq!(
            said("15M"),
            "`15M`: `M` is months; minutes are `m` (like 30m)"
        );
        assert!(said("1y").contains("`y` is not a unit"), "{}", said("1y"));
        assert!(said("2 months").contains("`months` is not a unit"));
        assert!(said("soon").contains("is not a duration"));
        assert!(said("100000d").contains("longer than a year"));
        assert!(said("367d").contains("longer than a year"));
        // New-user review 13b, N5: these rendered `activeDeadlineSeconds: 0`, which the
        // API server refuses at every launch; `PT15M` was told `M` is months.
        for sub_second in ["500ms", "1ms", "0.5s", "1.5s", "1s 1ms"] {
            assert!(
                said(sub_second).contains("not a whole number of seconds"),
                "{sub_second}: {}",
                said(sub_second)
            );
        }
        assert!(said("PT15M").contains("ISO 8601"), "{}", said("PT15M"));
        assert!(said("P1D").contains("ISO 8601"));
        assert_eq!(parse_duration("1.5m").map(|d| d.as_secs()), Ok(90));
    }

    /// The schema's patterns (for editors) accept exactly what the checks accept.
    #[test]
    fn each_pattern_agrees_with_its_check() {
        let samples: &[&str] = &[
            "",
            "a",
            "review-42",
            "Review",
            "-a",
            "a-",
            "a.b",
            "a..b",
            ".a",
            "a.b-c.d",
            "500m",
            "2",
            "4Gi",
            "1.5",
            ".5",
            "1.",
            "1e3",
            "+1Ki",
            "2 Gi",
            "Gi",
            "1.2.3",
            "4gb",
            "1e",
            ".",
            "ghcr.io/org/agent:1.2.3",
            "x@sha256:abc",
            "-image",
            "/abs",
            "a b",
            "_x",
            "X_1",
            "1X",
            "A-B",
            "key.with-dash_1",
            "org/team",
            "org/",
            "/team",
            "org/team/x",
            "run",
            "run-2",
            "Run",
            "2run",
            "30m",
            "1h 30m",
            "1h30m",
            "1.5h",
            "1.5 h",
            ".5h",
            "1.h",
            "0s",
            "0m 0s",
            "0.5m",
            "0.0s",
            "1h 0m",
            "1 0m",
            "5µs",
            "-5m",
            "1.5",
            "90s",
            "2d",
            "soon",
            "30",
            "m",
            "30 m",
            "1 hour",
            "3 weeks",
            "366d",
            "367d",
            "400d",
            "0400d",
            "365.5d",
            "366.5d",
            "8784h",
            "8785h",
            "527040m",
            "527041 minutes",
            "31622400s",
            "31622401s",
            "52w",
            "53w",
            "1w 400d",
            "0d 30m",
            " 5m",
            "5m ",
            "10x",
            &"a".repeat(63),
            &"a".repeat(64),
            &"v".repeat(33),
            &"v".repeat(32),
            "octocat:583231",
            "octocat:0583231",
            "octocat:",
            "@octocat",
            "dependabot[bot]",
            "dependabot[bot]:49699333",
            "octo_acme",
            "octo cat",
            "octocat:12345678901234567890",
            "octocat:1234567890123456789",
            "https://registry.example/a/b:1",
            "registry.example//a/b:1",
            "registry.example/a/b:",
            "registry.example/a/b:1:2",
            "localhost:5000/a/b:1.0",
            "registry.example/a/:1",
            "a/b@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "a/b:1@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "a/b@sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
            "a/b:.1",
            "a@b@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ];
        for format in Format::ALL {
            let Some(pattern) = format.pattern() else {
                continue;
            };
            let re = regex::Regex::new(pattern).expect("a valid pattern");
            for sample in samples {
                assert_eq!(
                    re.is_match(sample),
                    format.check(sample).is_ok(),
                    "{}: {sample:?} (pattern {pattern})",
                    format.name()
                );
            }
        }
    }

    /// A login can be pinned to its account; a mention (`@octocat`) never matches a login,
    /// so it is refused saying what to write (outside review A4, new-user review N9).
    #[test]
    fn an_allowed_user_is_a_login_and_may_pin_its_account_id() {
        for ok in [
            "octocat",
            "octocat:583231",
            "dependabot[bot]",
            "octo_acme",
            "Octo-Cat:1",
        ] {
            assert!(Format::User.check(ok).is_ok(), "{ok}");
        }
        let said = |s: &str| Format::User.check(s).expect_err(s);
        assert_eq!(
            said("@octocat"),
            "`@octocat`: write the login without @ (`octocat`): a login with @ never matches"
        );
        assert!(said("@octocat:583231").contains("(`octocat:583231`)"));
        assert!(said("octocat:abc").contains("the account id after the colon is a number"));
        assert!(said("octocat:0").contains("the account id after the colon is a number"));
        assert!(said("octo cat").contains("is not a GitHub login"));
        assert!(said("@").contains("is not a GitHub login"));
    }

    #[test]
    fn dns_labels() {
        assert!(is_dns_label("review-42"));
        assert!(!is_dns_label("Review"));
        assert!(!is_dns_label("-a"));
        assert!(!is_dns_label(&"a".repeat(64)));
    }

    #[test]
    fn durations_must_be_positive_and_readable() {
        assert_eq!(parse_duration("30m").unwrap().as_secs(), 1800);
        assert_eq!(parse_duration("1h 30m").unwrap().as_secs(), 5400);
        assert!(parse_duration("0s").is_err());
        // A unit given twice is a slip, not a sum (new-user review 13c, N13).
        for twice in ["15m 15m", "1h 30min 5m", "2d 1day"] {
            let e = parse_duration(twice).unwrap_err();
            assert!(e.contains("more than once"), "{twice}: {e}");
        }
        assert!(
            parse_duration("soon")
                .unwrap_err()
                .contains("not a duration")
        );
    }

    /// A validator that asserts formats (check-jsonschema does by default) checks the ones
    /// JSON Schema defines by their standard meaning: a name of ours that is one of them
    /// made every `30m` of the shipped services.yaml "not a 'duration'" (ISO 8601's
    /// `PT30M`; new-user review 13f, N1). Ours are names no standard gives, checked by
    /// their `pattern`.
    #[test]
    fn no_format_takes_a_name_json_schema_defines() {
        // JSON Schema 2020-12, Validation, section 7.3, and the drafts before it.
        const STANDARD: [&str; 22] = [
            "date-time",
            "date",
            "time",
            "duration",
            "email",
            "idn-email",
            "hostname",
            "idn-hostname",
            "ipv4",
            "ipv6",
            "uri",
            "uri-reference",
            "iri",
            "iri-reference",
            "uuid",
            "uri-template",
            "json-pointer",
            "relative-json-pointer",
            "regex",
            "host-name",
            "ip-address",
            "color",
        ];
        for f in Format::ALL {
            assert!(
                !STANDARD.contains(&f.name()),
                "{:?} is named {:?}, a format JSON Schema defines",
                f,
                f.name()
            );
        }
    }

    #[test]
    fn every_format_has_a_distinct_name() {
        for f in Format::ALL {
            assert_eq!(Format::from_name(f.name()), Some(f));
        }
    }

    #[test]
    fn a_glob_that_can_match_nothing_is_refused_with_what_to_write() {
        for ok in [
            "acme/*",
            "!acme/secret",
            "*/*",
            "acme/my.repo_name-2",
            "acme-corp/*",
            "user_emu/*",
            "a*/b*c",
        ] {
            assert_eq!(check_glob(ok), Ok(()), "{ok}");
        }
        let table = [
            ("acme", "has no `/`"),
            ("!acme", "write `acme/*`"),
            ("acme/**", "holds `**`"),
            ("**", "holds `**`"),
            ("acme/a/b", "more than one `/`"),
            ("/a", "has no owner"),
            ("acme/", "has no name"),
            ("acme.corp/*", "holds `.` in its owner"),
            ("acme/my repo", "holds ` ` in its name"),
            ("acme/{a,b}", "only `*` is a wildcard"),
            ("acme/?", "only `*` is a wildcard"),
            ("acme/..", "names `..`"),
            ("", "names no repository"),
            ("!", "names no repository"),
            ("!!acme/a", "more than one `!`"),
        ];
        for (bad, says) in table {
            let err = check_glob(bad).expect_err(bad);
            assert!(err.contains(says), "{bad}: {err}");
        }
    }
}
