//! The grammar of the commands that maintainers write in GitHub comments.
//!
//! A comment body may hold several commands, one per line:
//!
//! ```text
//! Thanks! Let's try this:
//!
//! /agent run fix the flaky test in `tests/net.rs`
//! /agent review "error handling"
//! ```
//!
//! A *command line* is a line whose first token, after at most three spaces of
//! indentation, is exactly the prefix (`/agent`, configurable and case-sensitive),
//! followed by whitespace or the end of the line. The next token is the verb, matched
//! case-insensitively; the rest of the line holds the arguments.
//!
//! The parser reads the comment the way GitHub renders it, so that only text a reader
//! sees as a command is one. It skips:
//!
//! - fenced code blocks (```` ``` ```` or `~~~`, opened with at most three spaces of
//!   indentation, closed by the same character repeated at least as many times; an
//!   unclosed fence runs to the end of the comment),
//! - indented code (a line indented by four or more spaces, or by a tab),
//! - block quotes (a line starting with `>` after at most three spaces; a line below a
//!   quote without its own `>` is read as a line of its own, not as part of the quote),
//! - HTML comments `<!-- ... -->`, wherever they start and however many lines they
//!   span. They are cut out of the text before anything else is read, so hidden text
//!   never reaches a command or a task.
//!
//! Lines end at `\n`, `\r\n` or a lone `\r`, as in CommonMark; line numbers count them so.
//!
//! The text of `run` and of a custom verb is the rest of its line and the lines below it,
//! up to the next command line, as written (quotes and all): the templates get it as a
//! value, never through a shell.
//!
//! Parsing never fails as a whole and never panics: every command line yields a
//! [`ParsedCommand`] whose result is either a [`Command`] or a [`CommandError`] whose
//! message can be sent back to the user as is.

use std::borrow::Cow;
use std::fmt;

use thiserror::Error;

/// The most commands read from one comment; command lines past it are ignored, and
/// [`ParsedComment::truncated`] says so.
pub const MAX_COMMANDS_PER_COMMENT: usize = 10;

/// The shortest commit SHA prefix that `approve` accepts.
pub const MIN_SHA_LEN: usize = 7;
/// The longest commit SHA that `approve` accepts (SHA-256 object names).
pub const MAX_SHA_LEN: usize = 64;

/// Verbs longer than this get no suggestion (no candidate could be close, and the
/// distance costs time proportional to the length).
const SUGGESTION_MAX_VERB_CHARS: usize = 64;

/// Words other tools use for a built-in verb, suggested as it is (review 13i, F9:
/// `/agent cancel` got no "did you mean `stop`", where a typo gets one).
const OTHER_WORDS: [(&str, BuiltinVerb); 4] = [
    ("cancel", BuiltinVerb::Stop),
    ("abort", BuiltinVerb::Stop),
    ("kill", BuiltinVerb::Stop),
    ("rerun", BuiltinVerb::Retry),
];
/// User text echoed in an error message is cut to this many characters.
const ECHO_MAX_CHARS: usize = 40;

/// Declares [`BuiltinVerb`], [`BuiltinVerb::ALL`] and what the help and the config say
/// of each verb from one row per verb (review 12v, R25): a verb cannot be added to one and
/// forgotten in another (outside review 12, R1: a verb left out of a hand-kept `ALL`
/// compiled, passed every test, and answered "unknown command"). A row is the variant, the
/// verb as written in a comment (lowercase), its usage without the prefix, one sentence for
/// the help, and whether it starts agents: those services.yaml lists it for (an agent's
/// `comment.verbs`), as a verb of its own would; the others the service carries out
/// itself, and no agent may list them (`config` refuses it, naming the verb).
macro_rules! builtin_verbs {
    ($($verb:ident => $name:literal, $usage:literal, $description:literal, starts_agents: $starts:literal;)+) => {
        /// The verbs that agentpods itself understands.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum BuiltinVerb {
            $($verb),+
        }

        impl BuiltinVerb {
            /// Every built-in verb, in the order the help lists them.
            pub const ALL: [BuiltinVerb; [$(BuiltinVerb::$verb),+].len()] =
                [$(BuiltinVerb::$verb),+];

            /// The verb as written in a comment (lowercase).
            pub fn name(self) -> &'static str {
                match self {
                    $(BuiltinVerb::$verb => $name),+
                }
            }

            /// The verb with its arguments, without the prefix: `run <task>`.
            pub fn usage(self) -> &'static str {
                match self {
                    $(BuiltinVerb::$verb => $usage),+
                }
            }

            /// One sentence for the help text.
            pub fn description(self) -> &'static str {
                match self {
                    $(BuiltinVerb::$verb => $description),+
                }
            }

            /// Whether the verb starts agents: those services.yaml lists it for (an agent's
            /// `comment.verbs`), as a verb of its own would. The others the service carries
            /// out itself, and no agent may list them (`config` refuses it, naming the verb).
            pub fn starts_agents(self) -> bool {
                match self {
                    $(BuiltinVerb::$verb => $starts),+
                }
            }
        }
    };
}

builtin_verbs! {
    Run => "run", "run <task>",
        "start an agent on the task: the rest of the line and the lines below it, up to the \
         next command",
        starts_agents: true;
    Review => "review", "review [focus]",
        "ask the agent to review this pull request, optionally with a focus",
        starts_agents: true;
    Retry => "retry", "retry", "run the last agent run again", starts_agents: false;
    Stop => "stop", "stop", "stop the agent runs in progress here", starts_agents: false;
    Status => "status", "status", "show the state of the agent runs here", starts_agents: false;
    Approve => "approve", "approve [sha]",
        "let agents run on this pull request from a fork, at its head commit as it was when \
         you commented, or at the given commit (its full SHA, or at least its first 12 hex \
         characters); a new push needs a new approval",
        starts_agents: false;
    Help => "help", "help", "show this list of commands", starts_agents: false;
}

impl BuiltinVerb {
    /// The built-in verbs that start agents (`run`, `review`), in the help's order.
    pub fn starting_agents() -> impl Iterator<Item = BuiltinVerb> {
        BuiltinVerb::ALL
            .into_iter()
            .filter(|verb| verb.starts_agents())
    }

    /// The built-in verbs the service carries out itself, which no agent may list, in the
    /// help's order.
    pub fn reserved() -> impl Iterator<Item = BuiltinVerb> {
        BuiltinVerb::ALL
            .into_iter()
            .filter(|verb| !verb.starts_agents())
    }

    /// The built-in verb with this name, matched case-insensitively.
    pub fn from_name(name: &str) -> Option<BuiltinVerb> {
        BuiltinVerb::ALL
            .into_iter()
            .find(|verb| verb.name().eq_ignore_ascii_case(name))
    }
}

impl fmt::Display for BuiltinVerb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A command that parsed successfully.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `run <task>`: the task is the raw text of the rest of the line and of the lines below
    /// it up to the next command line, trimmed, never tokenized.
    Run {
        task: String,
    },
    /// `review [focus]`: the focus is the raw rest of the line, trimmed.
    Review {
        focus: Option<String>,
    },
    Retry,
    Stop,
    Status,
    Help,
    /// `approve [sha]`: the SHA is lowercased.
    Approve {
        sha: Option<String>,
    },
    /// A verb configured in services.yaml. `verb` is spelled as configured, `text` the
    /// rest of the line and the lines below it up to the next command line, as `run`'s
    /// task (new-user review 13g, G5), trimmed; empty when there is none.
    Custom {
        verb: String,
        text: String,
    },
}

impl Command {
    /// The verb of the command, lowercase for built-ins, as configured for custom verbs.
    pub fn verb(&self) -> &str {
        match self {
            Command::Run { .. } => BuiltinVerb::Run.name(),
            Command::Review { .. } => BuiltinVerb::Review.name(),
            Command::Retry => BuiltinVerb::Retry.name(),
            Command::Stop => BuiltinVerb::Stop.name(),
            Command::Status => BuiltinVerb::Status.name(),
            Command::Help => BuiltinVerb::Help.name(),
            Command::Approve { .. } => BuiltinVerb::Approve.name(),
            Command::Custom { verb, .. } => verb,
        }
    }

    /// The built-in verb of the command, `None` for a custom one.
    pub fn builtin(&self) -> Option<BuiltinVerb> {
        Some(match self {
            Command::Run { .. } => BuiltinVerb::Run,
            Command::Review { .. } => BuiltinVerb::Review,
            Command::Retry => BuiltinVerb::Retry,
            Command::Stop => BuiltinVerb::Stop,
            Command::Status => BuiltinVerb::Status,
            Command::Help => BuiltinVerb::Help,
            Command::Approve { .. } => BuiltinVerb::Approve,
            Command::Custom { .. } => return None,
        })
    }
}

/// A command line that could not be understood. Each message is written for the person
/// who wrote the comment, and can be posted as the bot's reply. User text is echoed in
/// a code span (so it cannot mention anyone or break the Markdown) and cut when long.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CommandError {
    /// The prefix alone, with no verb after it.
    #[error("{}; `help` lists the commands", self.what())]
    MissingVerb,
    /// A verb that is neither built in nor configured.
    #[error(
        "{}{}",
        self.what(),
        if suggestion.is_some() { "" } else { "; `help` lists the commands" }
    )]
    UnknownVerb {
        /// The verb as written.
        verb: String,
        /// The closest known verb, when it is close enough.
        suggestion: Option<String>,
    },
    /// `run` with no task on its line nor on the lines below it.
    #[error("`run` needs a task: write it after `run`, or on the lines below")]
    MissingTask,
    /// An argument given to a verb that takes none (or takes fewer).
    #[error("{} takes no further arguments, but got {}", code(verb), code(arg))]
    UnexpectedArgument { verb: String, arg: String },
    /// An argument that does not have the form the verb needs.
    #[error("invalid argument for {}: {message}", code(verb))]
    InvalidArgument { verb: String, message: String },
}

impl CommandError {
    /// The message as the bot replies it: the error, then the help command with the
    /// prefix (`/agent help`), once.
    pub fn reply(&self, prefix: &str) -> String {
        let text = self.what();
        let joint = if text.ends_with('?') { " " } else { "; " };
        format!("{text}{joint}`{prefix} help` lists the commands")
    }

    /// What is wrong, without pointing at the help.
    fn what(&self) -> String {
        match self {
            CommandError::MissingVerb => "no command after the prefix".to_owned(),
            CommandError::UnknownVerb {
                verb,
                suggestion: Some(suggestion),
            } => format!(
                "unknown command {}; did you mean {}?",
                code(verb),
                code(suggestion)
            ),
            CommandError::UnknownVerb {
                verb,
                suggestion: None,
            } => format!("unknown command {}", code(verb)),
            other => other.to_string(),
        }
    }
}

/// One command line of a comment and what it means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedCommand {
    /// The line of the comment the command is on, counting from 1.
    pub line: usize,
    pub result: Result<Command, CommandError>,
}

/// Everything a comment asks for, in the order written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParsedComment {
    pub commands: Vec<ParsedCommand>,
    /// More than [`MAX_COMMANDS_PER_COMMENT`] command lines were written; the ones past
    /// the limit were ignored.
    pub truncated: bool,
}

impl ParsedComment {
    /// Whether the comment holds no command line at all.
    pub fn is_empty(&self) -> bool {
        self.commands.is_empty()
    }
}

/// A line that reads as a command line but for its prefix, written in another case
/// (`/Agent run x`, `/AGENT run`) or with an `s` (`/agents run x`): not a command, since
/// the prefix is case-sensitive, but likely meant as one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MistypedPrefix {
    /// The prefix as written (`/Agent`).
    pub written: String,
    /// What is wrong with it.
    pub mistake: PrefixMistake,
    /// The rest of the line, trimmed (`run x`).
    pub rest: String,
}

/// How a [`MistypedPrefix`] differs from the prefix that is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrefixMistake {
    /// The prefix in another case (`/Agent`).
    Case,
    /// The prefix with an `s` after it (`/agents`), and in another case too when
    /// `case` (`/Agents`).
    TrailingS { case: bool },
    /// Not this repository's prefix: the default one, in any case, where services.yaml
    /// set another (`/agent` under `/bot`).
    OtherPrefix,
}

impl MistypedPrefix {
    /// What to tell the person who wrote it, with `prefix` the one that is read: what was
    /// wrong, the line as it would be read, their text in code spans (no mention, no
    /// Markdown), cut when long.
    pub fn hint(&self, prefix: &str) -> String {
        let mut words = self.rest.splitn(2, char::is_whitespace);
        let verb = words.next().unwrap_or_default().to_lowercase();
        let line = match words.next().map(str::trim).filter(|args| !args.is_empty()) {
            Some(args) => format!("{prefix} {verb} {args}"),
            None if verb.is_empty() => format!("{prefix} help"),
            None => format!("{prefix} {verb}"),
        };
        // The case the prefix is read in: lower for the default and most others.
        let in_case = if prefix.chars().any(char::is_uppercase) {
            "in exactly this case"
        } else {
            "in lower case"
        };
        let how = match self.mistake {
            PrefixMistake::Case => in_case.to_owned(),
            PrefixMistake::TrailingS { case: false } => "without an `s`".to_owned(),
            PrefixMistake::TrailingS { case: true } => format!("{in_case}, without an `s`"),
            PrefixMistake::OtherPrefix => "in this repository".to_owned(),
        };
        format!(
            "{} is not read as a command: commands start with {}, {how}: {}",
            code(&self.written),
            code(prefix),
            code(&line)
        )
    }
}

/// The prefix services.yaml's `github.command_prefix` takes when it names none.
pub const DEFAULT_PREFIX: &str = "/agent";

/// Reads the commands out of comment bodies.
#[derive(Debug, Clone, Copy)]
pub struct CommandParser<'a> {
    prefix: &'a str,
    custom_verbs: &'a [String],
}

impl<'a> CommandParser<'a> {
    /// A parser for commands starting with `prefix` (such as `/agent`), which also
    /// knows the custom verbs configured in services.yaml.
    ///
    /// Custom verbs are matched case-insensitively. One that is empty, holds
    /// whitespace, or names a built-in verb is ignored (the built-in wins). A prefix that
    /// is empty or holds whitespace can never match, so such a parser finds nothing.
    pub fn new(prefix: &'a str, custom_verbs: &'a [String]) -> Self {
        CommandParser {
            prefix,
            custom_verbs,
        }
    }

    /// Reads every command line of a comment body.
    pub fn parse(&self, body: &str) -> ParsedComment {
        let mut parsed = ParsedComment::default();
        if self.prefix.is_empty() || self.prefix.chars().any(char::is_whitespace) {
            return parsed;
        }
        let lines = classify_lines(body);
        let mut index = 0;
        while index < lines.len() {
            let line = &lines[index];
            index += 1;
            let Some(rest) = self.command_rest(line) else {
                continue;
            };
            if parsed.commands.len() == MAX_COMMANDS_PER_COMMENT {
                parsed.truncated = true;
                break;
            }
            let (result, consumed) = self.parse_command(rest, &lines[index..]);
            index += consumed;
            parsed.commands.push(ParsedCommand {
                line: line.number,
                result,
            });
        }
        parsed
    }

    /// The first line of `body` that would be a command line but for its prefix's case, or
    /// an `s` after it (see [`MistypedPrefix`]); read as [`CommandParser::parse`] reads
    /// (never in code, a quote or an HTML comment).
    pub fn mistyped_prefix(&self, body: &str) -> Option<MistypedPrefix> {
        if self.prefix.is_empty() || self.prefix.chars().any(char::is_whitespace) {
            return None;
        }
        classify_lines(body).iter().find_map(|line| {
            if line.kind != LineKind::Text {
                return None;
            }
            let text = line.text.trim_start_matches(' ');
            let end = text.find(char::is_whitespace).unwrap_or(text.len());
            let (written, rest) = text.split_at(end);
            // The prefix in another case or with an `s`; or, where services.yaml set
            // another prefix, the default one (a habit from elsewhere, or the docs).
            let near = |prefix: &str| match written.len().checked_sub(prefix.len()) {
                Some(0) if written.eq_ignore_ascii_case(prefix) => Some(PrefixMistake::Case),
                Some(1) if written.ends_with(['s', 'S']) => written
                    .get(..prefix.len())
                    .filter(|bare| bare.eq_ignore_ascii_case(prefix))
                    .map(|bare| PrefixMistake::TrailingS {
                        case: bare != prefix,
                    }),
                _ => None,
            };
            let mistake = if written == self.prefix {
                None
            } else if let Some(mistake) = near(self.prefix) {
                Some(mistake)
            } else if self.prefix != DEFAULT_PREFIX {
                near(DEFAULT_PREFIX).map(|_| PrefixMistake::OtherPrefix)
            } else {
                None
            };
            mistake.map(|mistake| MistypedPrefix {
                written: written.to_owned(),
                mistake,
                rest: rest.trim().to_owned(),
            })
        })
    }

    /// The text after the prefix, when `line` is a command line.
    fn command_rest<'l>(&self, line: &'l Line<'_>) -> Option<&'l str> {
        if line.kind != LineKind::Text {
            return None;
        }
        // Text lines have at most three spaces of indentation.
        let rest = line
            .text
            .trim_start_matches(' ')
            .strip_prefix(self.prefix)?;
        match rest.chars().next() {
            None => Some(rest),
            Some(c) if c.is_whitespace() => Some(rest),
            Some(_) => None,
        }
    }

    /// Parses the text after the prefix. `following` are the lines after the command
    /// line; returns how many of them the command took (the task below the line of `run`
    /// or of a custom verb).
    fn parse_command(
        &self,
        rest: &str,
        following: &[Line<'_>],
    ) -> (Result<Command, CommandError>, usize) {
        let rest = rest.trim_start();
        let verb_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let (verb, raw_args) = rest.split_at(verb_end);
        let args = raw_args.trim();
        if verb.is_empty() {
            return (Err(CommandError::MissingVerb), 0);
        }
        // The task of `run` and of a custom verb is the rest of the line and every line
        // below it up to the next command line, as written (blank lines, lists and code
        // blocks included). Verbatim: only the task's two ends are trimmed, not each line's.
        let task_with_lines_below = || {
            let (below, consumed) = self.task_below(following);
            (format!("{raw_args}\n{below}").trim().to_owned(), consumed)
        };
        let Some(builtin) = BuiltinVerb::from_name(verb) else {
            return match self.parse_custom(verb) {
                Ok(verb) => {
                    let (text, consumed) = task_with_lines_below();
                    (Ok(Command::Custom { verb, text }), consumed)
                }
                Err(unknown) => (Err(unknown), 0),
            };
        };
        match builtin {
            BuiltinVerb::Run => {
                let (task, consumed) = task_with_lines_below();
                let result = if task.is_empty() {
                    Err(CommandError::MissingTask)
                } else {
                    Ok(Command::Run { task })
                };
                (result, consumed)
            }
            BuiltinVerb::Review => (
                Ok(Command::Review {
                    focus: (!args.is_empty()).then(|| args.to_owned()),
                }),
                0,
            ),
            // One arm a verb, no catch-all (tests/it/catch_alls.rs): a new verb without
            // arguments is a compile error here until it is given its own command.
            BuiltinVerb::Retry => (without_arguments(builtin, args, Command::Retry), 0),
            BuiltinVerb::Stop => (without_arguments(builtin, args, Command::Stop), 0),
            BuiltinVerb::Status => (without_arguments(builtin, args, Command::Status), 0),
            BuiltinVerb::Help => (without_arguments(builtin, args, Command::Help), 0),
            BuiltinVerb::Approve => (parse_approve(args), 0),
        }
    }

    /// A custom verb as configured, or else an unknown one with a did-you-mean.
    fn parse_custom(&self, verb: &str) -> Result<String, CommandError> {
        let lowercase = verb.to_lowercase();
        let Some(custom) = self
            .custom_verbs()
            .find(|custom| custom.to_lowercase() == lowercase)
        else {
            return Err(CommandError::UnknownVerb {
                verb: verb.to_owned(),
                suggestion: self.suggest(&lowercase),
            });
        };
        Ok(custom.clone())
    }

    /// The custom verbs that count: non-empty, without whitespace, not a built-in.
    fn custom_verbs(&self) -> impl Iterator<Item = &'a String> + 'a {
        self.custom_verbs
            .iter()
            .filter(|verb| is_valid_custom_verb(verb))
    }

    /// The known verb closest to `verb` (lowercase), when it is close enough.
    fn suggest(&self, verb: &str) -> Option<String> {
        if verb.chars().count() > SUGGESTION_MAX_VERB_CHARS {
            return None;
        }
        if let Some((_, meant)) = OTHER_WORDS.iter().find(|(word, _)| *word == verb) {
            return Some(meant.name().to_owned());
        }
        let builtins = BuiltinVerb::ALL.iter().map(|builtin| builtin.name());
        let customs = self.custom_verbs().map(String::as_str);
        // The same rule as every other did-you-mean (services.yaml keys and values,
        // template fields, event names).
        crate::suggest::did_you_mean(verb, builtins.chain(customs)).map(str::to_owned)
    }

    /// The lines of a task (`run`'s, a custom verb's) below its command line: every line up to the next command
    /// line or the end, as written, except the lines that only hold an HTML comment (hidden
    /// text never reaches a task). Returns them joined, with how many lines it took.
    fn task_below(&self, following: &[Line<'_>]) -> (String, usize) {
        let mut taken: Vec<&str> = Vec::new();
        let mut consumed = 0;
        for line in following {
            if self.command_rest(line).is_some() {
                break;
            }
            consumed += 1;
            if line.kind != LineKind::Hidden {
                taken.push(&line.text);
            }
        }
        (taken.join("\n"), consumed)
    }
}

fn is_valid_custom_verb(verb: &str) -> bool {
    !verb.is_empty()
        && !verb.chars().any(char::is_whitespace)
        && BuiltinVerb::from_name(verb).is_none()
}

/// `command`, for a verb that takes no arguments: refused when `args` has one.
fn without_arguments(
    verb: BuiltinVerb,
    args: &str,
    command: Command,
) -> Result<Command, CommandError> {
    match args.split_whitespace().next() {
        Some(arg) => Err(CommandError::UnexpectedArgument {
            verb: verb.name().to_owned(),
            arg: arg.to_owned(),
        }),
        None => Ok(command),
    }
}

fn parse_approve(args: &str) -> Result<Command, CommandError> {
    let mut words = args.split_whitespace();
    let Some(sha) = words.next() else {
        return Ok(Command::Approve { sha: None });
    };
    if let Some(extra) = words.next() {
        return Err(CommandError::UnexpectedArgument {
            verb: BuiltinVerb::Approve.name().to_owned(),
            arg: extra.to_owned(),
        });
    }
    let valid = (MIN_SHA_LEN..=MAX_SHA_LEN).contains(&sha.len())
        && sha.bytes().all(|b| b.is_ascii_hexdigit());
    if !valid {
        return Err(CommandError::InvalidArgument {
            verb: BuiltinVerb::Approve.name().to_owned(),
            message: format!(
                "{} is not a commit SHA (expected {MIN_SHA_LEN} to {MAX_SHA_LEN} hexadecimal \
                 characters, such as `1a2b3c4`)",
                code(sha)
            ),
        });
    }
    Ok(Command::Approve {
        sha: Some(sha.to_ascii_lowercase()),
    })
}

/// The help reply: a Markdown list of the built-in verbs given (those that work where it is
/// asked, in `BuiltinVerb::ALL`'s order), then the custom ones given as
/// `(verb, description)`. Custom verbs that the parser would ignore (empty, holding
/// whitespace, or naming a built-in) are left out.
///
/// ```text
/// - `/agent run <task>`: start an agent on the task: ...
/// - `/agent docs [args]`: rebuild the docs
/// ```
pub fn help_text(prefix: &str, builtin: &[BuiltinVerb], custom: &[(String, String)]) -> String {
    let mut help = String::new();
    for &verb in builtin {
        help.push_str(&format!(
            "- `{prefix} {}`: {}\n",
            verb.usage(),
            verb.description()
        ));
    }
    for (verb, description) in custom {
        if !is_valid_custom_verb(verb) {
            continue;
        }
        // One list item per verb, whatever the configured description holds.
        let description = description.split_whitespace().collect::<Vec<_>>().join(" ");
        help.push_str(&format!("- `{prefix} {verb} [args]`: {description}\n"));
    }
    help
}

/// User text as a Markdown code span, cut to [`ECHO_MAX_CHARS`]: see [`code_of`].
pub(crate) fn code(text: &str) -> String {
    code_of(text, ECHO_MAX_CHARS)
}

/// Someone's text as a Markdown code span, cut to `max_chars` characters: inside a code
/// span an `@name` mentions no one and `*`, `[`, `<` mean nothing; its fence is longer
/// than any run of backticks inside, so nothing in it closes it. A control character or a
/// line separator is a space; a character not shown as itself (a bidi control, which
/// would reorder what a reader sees of the bot's words around it, a zero-width or other
/// invisible one, which hides what is there: [`super::refname::hidden_kind`]) shows as its
/// code point (`[U+202E]`, `[U+200B]`).
pub(crate) fn code_of(text: &str, max_chars: usize) -> String {
    let mut shown = String::new();
    for c in crate::text::clip(text, max_chars).chars() {
        if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') {
            shown.push(' ');
        } else if super::refname::hidden_kind(c).is_some() {
            shown.push_str(&format!("[U+{:04X}]", u32::from(c)));
        } else {
            shown.push(c);
        }
    }
    // The fence must be longer than any run of backticks inside.
    let mut longest_run = 0;
    let mut run = 0;
    for c in shown.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest_run = longest_run.max(run);
    }
    let fence = "`".repeat(longest_run + 1);
    let pad = if shown.starts_with('`') || shown.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{shown}{pad}{fence}")
}

// ---------------------------------------------------------------------------------------
// Lines, the way GitHub's Markdown sees them.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LineKind {
    /// Ordinary text, with at most three spaces of indentation: may be a command line.
    Text,
    /// Empty or whitespace only (outside code fences).
    Blank,
    /// Only HTML comment (or the inside of one): as if the line were not there.
    Hidden,
    /// A fence line, or a line inside a fenced code block.
    FencedCode,
    /// Indented by four or more spaces, or by a tab.
    IndentedCode,
    /// A block quote line.
    Quote,
}

#[derive(Debug)]
struct Line<'b> {
    /// Counting from 1.
    number: usize,
    kind: LineKind,
    /// The line without its line ending and without HTML comments (except in code
    /// fences, where nothing is a comment).
    text: Cow<'b, str>,
}

/// An open code fence: its character and length.
#[derive(Debug, Clone, Copy)]
struct Fence {
    ch: char,
    len: usize,
}

/// Splits `body` into lines (at `\n`, `\r\n` or a lone `\r`) and tells what each one is.
fn classify_lines(body: &str) -> Vec<Line<'_>> {
    let mut lines = Vec::new();
    let mut fence: Option<Fence> = None;
    let mut in_html_comment = false;
    for (index, raw) in split_lines(body).enumerate() {
        let number = index + 1;
        if let Some(open) = fence {
            if is_closing_fence(raw, open) {
                fence = None;
            }
            lines.push(Line {
                number,
                kind: LineKind::FencedCode,
                text: Cow::Borrowed(raw),
            });
            continue;
        }
        if !in_html_comment && let Some(open) = opening_fence(raw) {
            fence = Some(open);
            lines.push(Line {
                number,
                kind: LineKind::FencedCode,
                text: Cow::Borrowed(raw),
            });
            continue;
        }
        let (text, had_comment) = strip_html_comments(raw, &mut in_html_comment);
        let kind = if text.trim().is_empty() {
            if had_comment {
                LineKind::Hidden
            } else {
                LineKind::Blank
            }
        } else {
            classify_text(&text)
        };
        lines.push(Line { number, kind, text });
    }
    lines
}

/// The lines of `body`, without their line endings.
fn split_lines(body: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(body);
    std::iter::from_fn(move || {
        let text = rest?;
        match text.find(['\n', '\r']) {
            None => {
                rest = None;
                Some(text)
            }
            Some(end) => {
                let after = &text[end..];
                let ending = if after.starts_with("\r\n") { 2 } else { 1 };
                rest = Some(&after[ending..]);
                Some(&text[..end])
            }
        }
    })
}

/// What a line outside code fences and HTML comments is.
fn classify_text(text: &str) -> LineKind {
    let unindented = text.trim_start_matches(' ');
    let indent = text.len() - unindented.len();
    if indent >= 4 || unindented.starts_with('\t') {
        LineKind::IndentedCode
    } else if unindented.starts_with('>') {
        LineKind::Quote
    } else {
        LineKind::Text
    }
}

/// The fence that `line` opens, if it opens one.
fn opening_fence(line: &str) -> Option<Fence> {
    let unindented = line.trim_start_matches(' ');
    if line.len() - unindented.len() > 3 {
        return None;
    }
    let ch = unindented
        .chars()
        .next()
        .filter(|c| matches!(c, '`' | '~'))?;
    let len = unindented.chars().take_while(|&c| c == ch).count();
    if len < 3 {
        return None;
    }
    // A backtick fence's info string may not hold a backtick (that is inline code).
    let info = &unindented[len * ch.len_utf8()..];
    if ch == '`' && info.contains('`') {
        return None;
    }
    Some(Fence { ch, len })
}

/// Whether `line` closes the fence `open`: the same character at least as many times,
/// at most three spaces of indentation, nothing but whitespace after.
fn is_closing_fence(line: &str, open: Fence) -> bool {
    let unindented = line.trim_start_matches(' ');
    if line.len() - unindented.len() > 3 {
        return false;
    }
    let len = unindented.chars().take_while(|&c| c == open.ch).count();
    len >= open.len && unindented[len * open.ch.len_utf8()..].trim().is_empty()
}

/// Cuts the HTML comments out of one line. `in_comment` says whether the line starts
/// inside a comment opened above, and is left saying whether the next one does.
/// Returns the text that is left and whether any comment was cut.
fn strip_html_comments<'l>(line: &'l str, in_comment: &mut bool) -> (Cow<'l, str>, bool) {
    const OPEN: &str = "<!--";
    const CLOSE: &str = "-->";
    if !*in_comment && !line.contains(OPEN) {
        return (Cow::Borrowed(line), false);
    }
    let mut kept = String::new();
    let mut rest = line;
    loop {
        if *in_comment {
            match rest.find(CLOSE) {
                Some(end) => {
                    rest = &rest[end + CLOSE.len()..];
                    *in_comment = false;
                }
                None => break,
            }
        } else {
            match rest.find(OPEN) {
                Some(start) => {
                    kept.push_str(&rest[..start]);
                    // `<!-->` and `<!--->` are (empty) comments too.
                    rest = &rest[start + OPEN.len()..];
                    if let Some(after) = rest.strip_prefix('>') {
                        rest = after;
                    } else if let Some(after) = rest.strip_prefix("->") {
                        rest = after;
                    } else {
                        *in_comment = true;
                    }
                }
                None => {
                    kept.push_str(rest);
                    break;
                }
            }
        }
    }
    (Cow::Owned(kept), true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const PREFIX: &str = "/agent";

    fn customs() -> Vec<String> {
        vec!["docs".to_owned(), "bench".to_owned()]
    }

    /// A line that would be a command but for its prefix's case, or an `s` after it, is
    /// found (never in code or a quote); the real prefix, another word, or a longer one
    /// are not.
    #[test]
    fn a_prefix_in_another_case_or_with_an_s_is_found_as_mistyped() {
        let customs = customs();
        let parser = CommandParser::new(PREFIX, &customs);
        let found = |body: &str| parser.mistyped_prefix(body).map(|m| (m.written, m.rest));
        let at = |written: &str, rest: &str| Some((written.to_owned(), rest.to_owned()));
        assert_eq!(found("/Agent run x"), at("/Agent", "run x"));
        assert_eq!(found("hi\n  /AGENT   RUN  it \n"), at("/AGENT", "RUN  it"));
        assert_eq!(found("/agents run x"), at("/agents", "run x"));
        assert_eq!(found("/AgentS"), at("/AgentS", ""));
        for body in [
            "/agent run x",
            "/agentx run",
            "/agentss run",
            "/Agentur",
            "    /Agent run x",
            "> /Agent run x",
            "```\n/Agent run x\n```",
            "<!-- /Agent run x -->",
            "say /Agent run x",
            "/Ägent run",
        ] {
            assert_eq!(found(body), None, "{body:?}");
        }
        let hint = |body: &str| parser.mistyped_prefix(body).map(|m| m.hint(PREFIX));
        assert_eq!(
            hint("/Agent RUN fix @someone").as_deref(),
            Some(
                "`/Agent` is not read as a command: commands start with `/agent`, in lower \
                 case: `/agent run fix @someone`"
            )
        );
        assert_eq!(
            hint("/AGENT").as_deref(),
            Some(
                "`/AGENT` is not read as a command: commands start with `/agent`, in lower \
                 case: `/agent help`"
            )
        );
    }

    /// The hint says what was wrong with the prefix: its case, an `s`, or both (before, an
    /// `s` alone was told to write the prefix in lower case, which it was).
    #[test]
    fn the_hint_says_whether_the_case_or_an_s_was_wrong() {
        let customs = customs();
        let parser = CommandParser::new(PREFIX, &customs);
        let mistake = |body: &str| parser.mistyped_prefix(body).map(|m| m.mistake);
        assert_eq!(mistake("/Agent run"), Some(PrefixMistake::Case));
        assert_eq!(
            mistake("/agents run"),
            Some(PrefixMistake::TrailingS { case: false })
        );
        assert_eq!(
            mistake("/Agents run"),
            Some(PrefixMistake::TrailingS { case: true })
        );
        let hint = |body: &str| parser.mistyped_prefix(body).map(|m| m.hint(PREFIX));
        assert_eq!(
            hint("/agents run x").as_deref(),
            Some(
                "`/agents` is not read as a command: commands start with `/agent`, without an \
                 `s`: `/agent run x`"
            )
        );
        assert_eq!(
            hint("/AGENTS status").as_deref(),
            Some(
                "`/AGENTS` is not read as a command: commands start with `/agent`, in lower \
                 case, without an `s`: `/agent status`"
            )
        );
        // A prefix of services.yaml's own with capitals is read in exactly its case.
        let capital = CommandParser::new("/Bot", &customs);
        assert_eq!(
            capital
                .mistyped_prefix("/bot run x")
                .map(|m| m.hint("/Bot"))
                .as_deref(),
            Some(
                "`/bot` is not read as a command: commands start with `/Bot`, in exactly this \
                 case: `/Bot run x`"
            )
        );
    }

    /// New-user review 13b, N15: under a prefix of services.yaml's own (`/bot`), a command
    /// written with the default one (`/agent run x`) is pointed at the prefix that is read;
    /// before, it was silently no command.
    #[test]
    fn the_default_prefix_under_another_is_found_as_mistyped() {
        let customs = customs();
        let parser = CommandParser::new("/bot", &customs);
        let hint = |body: &str| parser.mistyped_prefix(body).map(|m| m.hint("/bot"));
        assert_eq!(
            hint("/agent run fix it").as_deref(),
            Some(
                "`/agent` is not read as a command: commands start with `/bot`, in this \
                 repository: `/bot run fix it`"
            )
        );
        assert!(hint("/Agents status").is_some());
        assert_eq!(
            hint("/Bot run x").as_deref(),
            Some(
                "`/Bot` is not read as a command: commands start with `/bot`, in lower case: `/bot run x`"
            )
        );
        assert_eq!(hint("/bot run x"), None);
        assert_eq!(hint("/agentx run"), None);
        let default = CommandParser::new(DEFAULT_PREFIX, &customs);
        assert_eq!(default.mistyped_prefix("/bot run x"), None);
    }

    fn parse(body: &str) -> ParsedComment {
        let customs = customs();
        CommandParser::new(PREFIX, &customs).parse(body)
    }

    /// The results of a comment, for comments where line numbers are not the point.
    fn results(body: &str) -> Vec<Result<Command, CommandError>> {
        parse(body).commands.into_iter().map(|c| c.result).collect()
    }

    fn run(task: &str) -> Result<Command, CommandError> {
        Ok(Command::Run {
            task: task.to_owned(),
        })
    }

    #[test]
    fn a_maintainer_asks_for_a_fix_and_a_review_in_one_comment() {
        let body = "Thanks for the report! Let's have the agent look.\n\
                    \n\
                    /agent run fix the flaky test in `tests/net.rs`\n\
                    /agent REVIEW error handling\n\
                    \n\
                    Cheers";
        let parsed = parse(body);
        assert_eq!(
            parsed,
            ParsedComment {
                commands: vec![
                    ParsedCommand {
                        line: 3,
                        result: run("fix the flaky test in `tests/net.rs`"),
                    },
                    ParsedCommand {
                        line: 4,
                        result: Ok(Command::Review {
                            focus: Some("error handling".to_owned())
                        }),
                    },
                ],
                truncated: false,
            }
        );
    }

    #[test]
    fn a_comment_without_commands_yields_nothing() {
        assert!(parse("LGTM, merging. The /agent did well.").is_empty());
        assert!(parse("").is_empty());
    }

    #[test]
    fn the_prefix_must_be_a_whole_word_spelled_exactly() {
        assert!(parse("/agentx run it\n/Agent run it\nagent run it\n- /agent run it").is_empty());
        assert_eq!(results("/agent\trun it"), vec![run("it")]);
        assert_eq!(results("   /agent run it"), vec![run("it")]);
    }

    #[test]
    fn commands_in_code_quotes_and_html_comments_are_only_shown_not_run() {
        let body = "To start the agent, write:\n\
                    ```\n\
                    /agent run example task\n\
                    ```\n\
                    ~~~~markdown\n\
                    /agent stop\n\
                    ~~~\n\
                    still inside the tilde fence: /agent help\n\
                    /agent status\n\
                    ~~~~\n\
                    \n\
                    \x20   /agent run indented code\n\
                    \t/agent run tab-indented code\n\
                    > /agent run quoted from an earlier comment\n\
                    \x20 > /agent stop\n\
                    <!-- /agent run hidden -->\n\
                    <!--\n\
                    /agent run hidden over several lines\n\
                    -->\n\
                    /agent retry";
        let parsed = parse(body);
        assert_eq!(
            parsed.commands,
            vec![ParsedCommand {
                line: 20,
                result: Ok(Command::Retry),
            }]
        );
    }

    #[test]
    fn a_backtick_line_with_backticks_after_it_is_inline_code_not_a_fence() {
        assert_eq!(
            results("``` not a fence ```\n/agent stop"),
            vec![Ok(Command::Stop)]
        );
    }

    #[test]
    fn an_unclosed_fence_hides_the_rest_of_the_comment() {
        assert!(parse("```\n/agent run never\n").is_empty());
    }

    #[test]
    fn text_after_an_html_comment_is_still_read() {
        assert_eq!(
            results(
                "<!-- template: describe the task --> /agent stop\n/agent run ship it <!-- soon -->"
            ),
            vec![Ok(Command::Stop), run("ship it")]
        );
    }

    #[test]
    fn a_typo_in_the_verb_gets_a_suggestion() {
        assert_eq!(
            results("/agent revew"),
            vec![Err(CommandError::UnknownVerb {
                verb: "revew".to_owned(),
                suggestion: Some("review".to_owned()),
            })]
        );
        let error = results("/agent revew").remove(0).unwrap_err();
        assert_eq!(
            error.to_string(),
            "unknown command `revew`; did you mean `review`?"
        );
    }

    #[test]
    fn another_tool_s_word_for_stop_or_retry_gets_the_verb() {
        for (said, meant) in [("cancel", "stop"), ("abort", "stop"), ("rerun", "retry")] {
            let error = results(&format!("/agent {said}")).remove(0).unwrap_err();
            assert_eq!(
                error.to_string(),
                format!("unknown command `{said}`; did you mean `{meant}`?")
            );
        }
    }

    #[test]
    fn custom_verbs_are_suggested_too() {
        assert_eq!(
            results("/agent bnech"),
            vec![Err(CommandError::UnknownVerb {
                verb: "bnech".to_owned(),
                suggestion: Some("bench".to_owned()),
            })]
        );
    }

    #[test]
    fn a_verb_far_from_every_command_gets_no_suggestion() {
        let error = results("/agent frobnicate").remove(0).unwrap_err();
        assert_eq!(
            error,
            CommandError::UnknownVerb {
                verb: "frobnicate".to_owned(),
                suggestion: None,
            }
        );
        assert_eq!(
            error.to_string(),
            "unknown command `frobnicate`; `help` lists the commands"
        );
        assert_eq!(
            results("/agent xy").remove(0),
            Err(CommandError::UnknownVerb {
                verb: "xy".to_owned(),
                suggestion: None,
            })
        );
    }

    #[test]
    fn the_prefix_alone_is_a_missing_verb() {
        assert_eq!(
            results("/agent\n/agent   "),
            vec![
                Err(CommandError::MissingVerb),
                Err(CommandError::MissingVerb)
            ]
        );
    }

    #[test]
    fn run_takes_its_task_from_the_lines_below_up_to_the_next_command() {
        let body = "/agent run\n\
                    Fix the flaky test in tests/net.rs.\n\
                    \x20 It times out on slow machines.\n\
                    <!-- private note -->\n\
                    Keep the \"retry\" logic.\n\
                    \n\
                    This line is part of the task too.\n\
                    \n\
                    /agent status";
        assert_eq!(
            parse(body).commands,
            vec![
                ParsedCommand {
                    line: 1,
                    result: run("Fix the flaky test in tests/net.rs.\n  \
                                 It times out on slow machines.\n\
                                 Keep the \"retry\" logic.\n\
                                 \n\
                                 This line is part of the task too."),
                },
                ParsedCommand {
                    line: 9,
                    result: Ok(Command::Status),
                },
            ]
        );
    }

    #[test]
    fn the_lines_after_a_run_line_are_part_of_its_task_verbatim() {
        let body = "Thanks! Let's try this:\n\
                    \n\
                    /agent run fix the flaky test\n\
                    It fails one run in ten on CI:\n\
                    \n\
                    - `tests/net.rs` times out\n\
                    \x20 - only on ARM\n\
                    > the log says \"connection reset\"\n\
                    \n\
                    ```\n\
                    /agent stop\n\
                    ```\n\
                    /agent run second task\n\
                    with its own line\n";
        assert_eq!(
            results(body),
            vec![
                run("fix the flaky test\n\
                     It fails one run in ten on CI:\n\
                     \n\
                     - `tests/net.rs` times out\n  \
                     - only on ARM\n\
                     > the log says \"connection reset\"\n\
                     \n\
                     ```\n\
                     /agent stop\n\
                     ```"),
                run("second task\nwith its own line"),
            ]
        );
    }

    #[test]
    fn a_task_below_may_hold_a_code_block_with_blank_lines() {
        let body = "/agent run\nMake this pass:\n```rust\nfn main() {\n\n    assert!(true);\n}\n```\n\nbye";
        assert_eq!(
            results(body),
            vec![run(
                "Make this pass:\n```rust\nfn main() {\n\n    assert!(true);\n}\n```\n\nbye"
            )]
        );
    }

    #[test]
    fn a_task_below_ends_at_the_next_command() {
        let body = "/agent run\nfirst task\n/agent run second task\n/agent run\n\n/agent stop";
        let parsed = parse(body);
        let lines: Vec<usize> = parsed.commands.iter().map(|c| c.line).collect();
        assert_eq!(lines, vec![1, 3, 4, 6]);
        assert_eq!(
            results(body),
            vec![
                run("first task"),
                run("second task"),
                Err(CommandError::MissingTask),
                Ok(Command::Stop),
            ]
        );
    }

    #[test]
    fn run_keeps_quotes_in_its_task_verbatim() {
        assert_eq!(
            results(r#"/agent run  rename "foo bar" to 'baz' \n  "#),
            vec![run(r#"rename "foo bar" to 'baz' \n"#)]
        );
        assert_eq!(results("/agent run \"unclosed"), vec![run("\"unclosed")]);
    }

    #[test]
    fn a_custom_verb_is_named_as_configured() {
        assert_eq!(
            results("/agent Bench"),
            vec![Ok(Command::Custom {
                verb: "bench".to_owned(),
                text: String::new(),
            })]
        );
    }

    /// Before, the rest of a custom verb's line was also split shell-like, into arguments
    /// nothing read, and a lone apostrophe failed the command with "a quote is opened but
    /// never closed" (architecture review 12d, R1).
    #[test]
    fn a_custom_verb_keeps_its_text_as_written_quotes_and_all() {
        for text in [
            r#"don't forget the "intro""#,
            "'x",
            r#"--section "Getting started" 'it''s' c:\tmp"#,
        ] {
            let parsed = results(&format!("/agent docs {text}"));
            assert!(
                matches!(
                    &parsed[..],
                    [Ok(Command::Custom { verb, text: kept, .. })] if verb == "docs" && kept == text
                ),
                "{text}: {parsed:?}"
            );
        }
    }

    /// New-user review 13g, G5: a custom verb kept only its line, while `run` keeps the
    /// lines below, and the README says the lines below a command are its task.
    #[test]
    fn a_custom_verb_takes_the_lines_below_it_up_to_the_next_command_as_run_does() {
        assert_eq!(
            results("/agent docs the intro\n\n- and the FAQ\n<!-- hidden -->\n/agent stop\nlater"),
            vec![
                Ok(Command::Custom {
                    verb: "docs".to_owned(),
                    text: "the intro\n\n- and the FAQ".to_owned(),
                }),
                Ok(Command::Stop),
            ]
        );
        assert_eq!(
            results("/agent docs\n  all of it\n"),
            vec![Ok(Command::Custom {
                verb: "docs".to_owned(),
                text: "all of it".to_owned(),
            })]
        );
    }

    #[test]
    fn a_custom_verb_named_like_a_builtin_is_ignored() {
        let customs = vec!["run".to_owned(), "Stop".to_owned(), "has space".to_owned()];
        let parser = CommandParser::new(PREFIX, &customs);
        assert_eq!(parser.parse("/agent run it").commands[0].result, run("it"));
        assert_eq!(
            parser.parse("/agent stop").commands[0].result,
            Ok(Command::Stop)
        );
    }

    #[test]
    fn verbs_without_arguments_refuse_extra_ones() {
        let error = results("/agent stop now please").remove(0).unwrap_err();
        assert_eq!(
            error,
            CommandError::UnexpectedArgument {
                verb: "stop".to_owned(),
                arg: "now".to_owned(),
            }
        );
        assert_eq!(
            error.to_string(),
            "`stop` takes no further arguments, but got `now`"
        );
        assert_eq!(
            results("/agent status\n/agent help\n/agent retry"),
            vec![Ok(Command::Status), Ok(Command::Help), Ok(Command::Retry)]
        );
    }

    #[test]
    fn approve_takes_an_optional_commit_sha() {
        assert_eq!(
            results("/agent approve\n/agent approve 1A2B3C4\n/agent approve 1a2b3c4 extra"),
            vec![
                Ok(Command::Approve { sha: None }),
                Ok(Command::Approve {
                    sha: Some("1a2b3c4".to_owned())
                }),
                Err(CommandError::UnexpectedArgument {
                    verb: "approve".to_owned(),
                    arg: "extra".to_owned(),
                }),
            ]
        );
        let sha256 = "a".repeat(64);
        assert_eq!(
            results(&format!("/agent approve {sha256}")),
            vec![Ok(Command::Approve { sha: Some(sha256) })]
        );
    }

    #[test]
    fn approve_with_a_bad_sha_says_what_a_sha_looks_like() {
        for bad in ["main", "1a2b3c", "xyz1234", &"a".repeat(65), "1a2b3c4é"] {
            let error = results(&format!("/agent approve {bad}"))
                .remove(0)
                .unwrap_err();
            let CommandError::InvalidArgument { verb, message } = &error else {
                panic!("expected InvalidArgument for {bad:?}, got {error:?}");
            };
            assert_eq!(verb, "approve");
            assert!(message.contains("7 to 64 hexadecimal"), "{message}");
        }
        assert_eq!(
            results("/agent approve main")
                .remove(0)
                .unwrap_err()
                .to_string(),
            "invalid argument for `approve`: `main` is not a commit SHA (expected 7 to 64 \
             hexadecimal characters, such as `1a2b3c4`)"
        );
    }

    #[test]
    fn only_the_first_ten_commands_count() {
        let body: String = (1..=12).map(|i| format!("/agent run task {i}\n")).collect();
        let parsed = parse(&body);
        assert!(parsed.truncated);
        assert_eq!(parsed.commands.len(), MAX_COMMANDS_PER_COMMENT);
        assert_eq!(parsed.commands[9].result, run("task 10"));

        let body: String = (1..=10).map(|i| format!("/agent run task {i}\n")).collect();
        assert!(!parse(&body).truncated);
    }

    #[test]
    fn errors_count_toward_the_limit_too() {
        let body = "/agent nope\n".repeat(11);
        let parsed = parse(&body);
        assert!(parsed.truncated);
        assert_eq!(parsed.commands.len(), MAX_COMMANDS_PER_COMMENT);
    }

    #[test]
    fn windows_line_endings_are_understood() {
        let body = "Hi\r\n\r\n/agent run fix it\r\n/agent run\r\nline one\r\nline two\r\n\r\n```\r\n/agent stop\r\n```\r\n/agent status\r\n";
        let parsed = parse(body);
        assert_eq!(
            parsed.commands,
            vec![
                ParsedCommand {
                    line: 3,
                    result: run("fix it")
                },
                ParsedCommand {
                    line: 4,
                    // Lines end in `\n` in the task, whatever ended them in the comment; the
                    // fenced `/agent stop` is code in the task, not a command.
                    result: run("line one\nline two\n\n```\n/agent stop\n```")
                },
                ParsedCommand {
                    line: 11,
                    result: Ok(Command::Status)
                },
            ]
        );
    }

    #[test]
    fn a_lone_carriage_return_ends_a_line() {
        assert_eq!(
            results("/agent stop\r/agent status"),
            vec![Ok(Command::Stop), Ok(Command::Status)]
        );
    }

    #[test]
    fn user_text_in_messages_is_a_short_harmless_code_span() {
        let error = CommandError::UnknownVerb {
            verb: "`@everyone`".to_owned(),
            suggestion: None,
        };
        assert_eq!(
            error.to_string(),
            "unknown command `` `@everyone` ``; `help` lists the commands"
        );
        let long = CommandError::UnknownVerb {
            verb: "x".repeat(1000),
            suggestion: None,
        };
        assert!(long.to_string().len() < 100);
    }

    #[test]
    fn command_verb_names_the_verb() {
        assert_eq!(Command::Run { task: "x".into() }.verb(), "run");
        assert_eq!(Command::Approve { sha: None }.verb(), "approve");
        let custom = Command::Custom {
            verb: "docs".into(),
            text: String::new(),
        };
        assert_eq!(custom.verb(), "docs");
        assert_eq!(custom.builtin(), None);
    }

    #[test]
    fn help_mentions_every_builtin_verb_and_the_custom_ones() {
        let custom = vec![
            (
                "docs".to_owned(),
                "rebuild the docs\nand publish them".to_owned(),
            ),
            ("run".to_owned(), "shadowed by the built-in".to_owned()),
        ];
        let help = help_text("/agent", &BuiltinVerb::ALL, &custom);
        for verb in BuiltinVerb::ALL {
            assert!(
                help.contains(&format!("- `/agent {}`: ", verb.usage())),
                "{verb} missing from:\n{help}"
            );
            assert!(help.contains(verb.description()));
            assert_eq!(
                BuiltinVerb::from_name(&verb.name().to_uppercase()),
                Some(verb)
            );
        }
        assert!(help.contains("- `/agent docs [args]`: rebuild the docs and publish them\n"));
        assert!(!help.contains("shadowed"));
        assert_eq!(help.lines().count(), BuiltinVerb::ALL.len() + 1);
    }

    #[test]
    fn a_prefix_that_cannot_match_finds_nothing() {
        assert!(
            CommandParser::new("", &[])
                .parse("run it\n /agent run")
                .is_empty()
        );
        assert!(
            CommandParser::new("/a b", &[])
                .parse("/a b run it")
                .is_empty()
        );
    }

    #[test]
    fn odd_input_does_not_panic() {
        for body in [
            "/agent\0run\0",
            "/agent run \0",
            "\r\r\n\n\r",
            "<!--",
            "<!-->/agent stop",
            "<!--->/agent stop",
            "-->/agent stop",
            "/agent é\u{301}",
            "/agent run\n```",
            "~~~é\n/agent run",
            "\u{feff}/agent run x",
            "/agent \u{a0}run",
        ] {
            let _ = parse(body);
        }
        let long = format!("/agent {}", "é".repeat(100_000));
        assert!(matches!(
            results(&long).remove(0),
            Err(CommandError::UnknownVerb {
                suggestion: None,
                ..
            })
        ));
        assert_eq!(results("<!-->/agent stop"), vec![Ok(Command::Stop)]);
    }

    /// Text made of the pieces the grammar cares about, to reach its corners more often
    /// than arbitrary strings do.
    fn markdownish() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("/agent".to_owned()),
            Just(" ".to_owned()),
            Just("\t".to_owned()),
            Just("\n".to_owned()),
            Just("\r\n".to_owned()),
            Just("\r".to_owned()),
            Just("```".to_owned()),
            Just("~~~".to_owned()),
            Just(">".to_owned()),
            Just("<!--".to_owned()),
            Just("-->".to_owned()),
            Just("\"".to_owned()),
            Just("'".to_owned()),
            Just("\\".to_owned()),
            Just("run".to_owned()),
            Just("revew".to_owned()),
            Just("approve".to_owned()),
            Just("docs".to_owned()),
            Just("1a2b3c4".to_owned()),
            any::<String>(),
        ];
        prop::collection::vec(piece, 0..40).prop_map(|pieces| pieces.concat())
    }

    proptest! {
        #[test]
        fn parsing_never_panics(body in any::<String>()) {
            let parsed = parse(&body);
            prop_assert!(parsed.commands.len() <= MAX_COMMANDS_PER_COMMENT);
        }

        #[test]
        fn parsing_markdownish_text_never_panics_and_keeps_its_promises(body in markdownish()) {
            let parsed = parse(&body);
            prop_assert!(parsed.commands.len() <= MAX_COMMANDS_PER_COMMENT);
            prop_assert!(!parsed.truncated || parsed.commands.len() == MAX_COMMANDS_PER_COMMENT);
            let line_count = split_lines(&body).count();
            let mut last = 0;
            for command in &parsed.commands {
                prop_assert!(command.line > last && command.line <= line_count);
                last = command.line;
                if let Ok(Command::Run { task }) = &command.result {
                    prop_assert!(!task.is_empty());
                    prop_assert_eq!(task.trim(), task.as_str());
                }
                if let Err(error) = &command.result {
                    prop_assert!(!error.to_string().is_empty());
                }
            }
        }

        #[test]
        fn run_keeps_a_one_line_task_verbatim(
            task in "[^\r\n]*".prop_filter(
                "non-blank, without HTML comments",
                |t| !t.trim().is_empty() && !t.contains("<!--"),
            )
        ) {
            let parsed = parse(&format!("/agent run {task}"));
            prop_assert_eq!(
                parsed.commands,
                vec![ParsedCommand { line: 1, result: run(task.trim()) }]
            );
        }
    }
}
