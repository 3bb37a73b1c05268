//! Reports as the people on GitHub see them: eyes on the command, a check run (App) or a
//! commit status (token) that follows the run, one comment edited in place with the result
//! — exactly once through faults, rate limits and restarts — and an agent's hostile summary
//! made harmless.

use crate::support;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use agentpods::clock::{Clock, ManualClock};
use agentpods::config::Permission;
use agentpods::github_client::{ClientConfig, Credentials, GithubClient, RetryPolicy, Secret};
use agentpods::ids::{CheckRunId, CommentId, IssueNumber};
use agentpods::plan::{Refusal, RefusalReason};
use agentpods::report::{self, Posted, Reporter, RunInfo, Stage};
use support::fake_github::{APP_ID, APP_KEY_PEM, FakeGithub, FaultKind, PAT, manual_clock};
use support::fixtures::Example;
use support::server::within;

const REPO: &str = "octo/demo";
const SHA: &str = "4f2a9c1d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a39";

fn client(fake: &FakeGithub, clock: &Arc<ManualClock>, app: bool) -> GithubClient {
    let credentials = if app {
        Credentials::App {
            app_id: APP_ID,
            private_key_pem: Secret::new(APP_KEY_PEM),
        }
    } else {
        Credentials::Token(Secret::new(PAT))
    };
    let mut config = ClientConfig::new(credentials);
    config.base_url = fake.url();
    config.retry = RetryPolicy {
        base_delay: Duration::from_millis(10),
        jitter_seed: Some(3),
        ..RetryPolicy::default()
    };
    GithubClient::new(config, clock.clone()).expect("a client")
}

async fn fake(clock: &Arc<ManualClock>) -> FakeGithub {
    let fake = FakeGithub::start(clock.clone()).await;
    fake.install(REPO, 77);
    fake.set_role(REPO, "maintainer", "maintain");
    fake.set_role(REPO, "outsider", "read");
    fake
}

fn run() -> RunInfo {
    RunInfo {
        repo: REPO.parse().unwrap(),
        name: "review-pr2-d58c95d3".into(),
        agent: "review".into(),
        number: Some(IssueNumber(2)),
        head_sha: Some(SHA.parse().unwrap()),
        check_run: true,
        commit_status: false,
        requested_by: Some("maintainer".into()),
        details_url: Some("https://agentpods.example.com/runs/review-pr2-d58c95d3".into()),
        prefix: "/agent".into(),
    }
}

fn finished(clock: &Arc<ManualClock>, started: SystemTime, summary: &str) -> Stage {
    Stage::Finished {
        started_at: Some(started),
        at: clock.now().into(),
        conclusion: agentpods::agentrun::Conclusion::Failure,
        summary: summary.into(),
    }
}

fn assert_clean(fake: &FakeGithub) {
    assert_eq!(
        fake.violations(),
        Vec::<String>::new(),
        "{:#?}",
        fake.requests()
    );
}

#[tokio::test]
async fn a_maintainers_command_gets_eyes_a_check_run_and_one_comment_edited_with_the_result() {
    within(30, async {
        let clock = manual_clock();
        let fake = fake(&clock).await;
        let client = client(&fake, &clock, true);
        let example = Example::load();
        let reporter = Reporter {
            client: &client,
            template: &example.engine,
        };
        let command = fake.add_comment(REPO, 2, "maintainer", "/agent review");

        assert_eq!(
            client
                .collaborator_permission(&run().repo, "maintainer")
                .await
                .unwrap(),
            Permission::Maintain
        );
        reporter
            .accepted(&run().repo, CommentId(command))
            .await
            .unwrap();
        let mut refs = Posted::default();
        reporter
            .report(&run(), &Stage::Queued, &mut refs)
            .await
            .unwrap();
        let started = SystemTime::from(clock.now());
        reporter
            .report(&run(), &Stage::Started { at: started }, &mut refs)
            .await
            .unwrap();
        clock.advance(Duration::from_secs(252));
        let done = finished(&clock, started, "Two problems:\n\n- the link is broken.");
        reporter.report(&run(), &done, &mut refs).await.unwrap();

        assert_eq!(
            fake.with(|m| m.reactions.clone()),
            vec![(REPO.into(), command, "eyes".into(), "agentpods[bot]".into())]
        );
        let checks = fake.check_runs();
        assert_eq!(checks.len(), 1);
        assert_eq!(checks[0].history, ["queued", "in_progress", "completed"]);
        assert_eq!(checks[0].conclusion.as_deref(), Some("failure"));
        assert_eq!(checks[0].details_url, run().details_url);
        assert_eq!(refs.check_run_id, Some(CheckRunId(checks[0].id)));
        let ours: Vec<_> = fake
            .comments()
            .into_iter()
            .filter(|c| c.login == "agentpods[bot]")
            .collect();
        assert_eq!(ours.len(), 1, "one comment per run");
        assert_eq!(
            ours[0].edits, 1,
            "created when started, edited with the result"
        );
        assert_eq!(refs.comment_id, Some(CommentId(ours[0].id)));
        assert!(
            ours[0]
                .body
                .starts_with("❌ **review** finished: `failure` in 4m 12s."),
            "{}",
            ours[0].body
        );
        assert!(
            ours[0]
                .body
                .ends_with(&report::marker("review-pr2-d58c95d3"))
        );
        assert!(
            fake.statuses().is_empty(),
            "App auth reports with check runs"
        );
        assert_clean(&fake);
    })
    .await;
}

#[tokio::test]
async fn with_only_a_token_the_run_is_reported_as_commit_statuses() {
    within(30, async {
        let clock = manual_clock();
        let fake = fake(&clock).await;
        let client = client(&fake, &clock, false);
        let example = Example::load();
        let reporter = Reporter {
            client: &client,
            template: &example.engine,
        };
        let mut refs = Posted::default();
        let started = SystemTime::from(clock.now());
        reporter
            .report(&run(), &Stage::Started { at: started }, &mut refs)
            .await
            .unwrap();
        reporter
            .report(&run(), &finished(&clock, started, "ok"), &mut refs)
            .await
            .unwrap();
        let states: Vec<_> = fake
            .statuses()
            .iter()
            .map(|(_, sha, b)| (sha.clone(), b["state"].clone(), b["context"].clone()))
            .collect();
        assert_eq!(
            states,
            vec![
                (SHA.into(), "pending".into(), "agentpods/review".into()),
                (SHA.into(), "failure".into(), "agentpods/review".into()),
            ]
        );
        assert!(fake.check_runs().is_empty());
        assert_eq!(refs.status_context.as_deref(), Some("agentpods/review"));
        assert_eq!(fake.comments().len(), 1);
        assert_clean(&fake);
    })
    .await;
}

/// Review 13d, N4: `github.report.commit_status` was documented and never read, so a
/// token install that wrote `check_run: false, commit_status: true` got no status at all.
/// Now it is a commit status per run whatever the auth: alone with a token, and beside
/// the check run with an App.
#[tokio::test]
async fn commit_status_is_a_status_per_run_with_a_token_or_an_app() {
    within(30, async {
        for (app, check_run, checks) in [(false, false, 0), (true, false, 0), (true, true, 1)] {
            let clock = manual_clock();
            let fake = fake(&clock).await;
            let client = client(&fake, &clock, app);
            let example = Example::load();
            let reporter = Reporter {
                client: &client,
                template: &example.engine,
            };
            let info = RunInfo {
                check_run,
                commit_status: true,
                ..run()
            };
            let mut refs = Posted::default();
            let started = SystemTime::from(clock.now());
            reporter
                .report(&info, &Stage::Started { at: started }, &mut refs)
                .await
                .unwrap();
            reporter
                .report(&info, &finished(&clock, started, "ok"), &mut refs)
                .await
                .unwrap();
            let states: Vec<_> = fake
                .statuses()
                .iter()
                .map(|(_, _, b)| b["state"].clone())
                .collect();
            assert_eq!(
                states,
                ["pending", "failure"],
                "app {app}, check_run {check_run}"
            );
            assert_eq!(
                fake.check_runs().len(),
                checks,
                "app {app}, check_run {check_run}: a check run only when asked for"
            );
            assert_clean(&fake);
        }
    })
    .await;
}

#[tokio::test]
async fn an_outsider_is_refused_by_the_api_permission_and_told_once() {
    within(30, async {
        let clock = manual_clock();
        let fake = fake(&clock).await;
        let client = client(&fake, &clock, true);
        let example = Example::load();
        let reporter = Reporter {
            client: &client,
            template: &example.engine,
        };
        // The payload says COLLABORATOR; the API says read.
        let has = client
            .collaborator_permission(&run().repo, "outsider")
            .await
            .unwrap();
        assert_eq!(has, Permission::Read);
        let refusal = Refusal {
            login: "outsider".into(),
            reason: RefusalReason::NotAuthorized {
                has,
                needs: Permission::Write,
                inferred: false,
                allowed_as: None,
            },
        };
        for _ in 0..2 {
            // The same delivery twice (a redelivery): one reply.
            reporter
                .reply_once(
                    &run().repo,
                    IssueNumber(2),
                    "delivery-1",
                    &refusal.message("/agent"),
                )
                .await
                .unwrap();
        }
        let comments = fake.comments();
        assert_eq!(comments.len(), 1);
        assert!(
            comments[0]
                .body
                .starts_with("@outsider you need `write` permission"),
            "{}",
            comments[0].body
        );
        assert!(fake.check_runs().is_empty() && fake.with(|m| m.reactions.is_empty()));
        assert_clean(&fake);
    })
    .await;
}

#[tokio::test]
async fn through_502s_and_rate_limits_every_report_arrives_exactly_once() {
    within(30, async {
        let clock = manual_clock();
        let fake = fake(&clock).await;
        let client = client(&fake, &clock, true);
        let example = Example::load();
        let reporter = Reporter {
            client: &client,
            template: &example.engine,
        };
        fake.fail_next(2, None, FaultKind::BadGateway);
        fake.fail_next(
            1,
            Some(("POST", "/check-runs")),
            FaultKind::BadGatewayAfterActing,
        );
        fake.fail_next(
            1,
            Some(("POST", "/issues/2/comments")),
            FaultKind::BadGatewayAfterActing,
        );
        fake.fail_next(
            1,
            Some(("PATCH", "/issues/comments/")),
            FaultKind::SecondaryLimit { retry_after: 5 },
        );
        fake.fail_next(1, Some(("PATCH", "/check-runs/")), FaultKind::BadGateway);

        let mut refs = Posted::default();
        let started = SystemTime::from(clock.now());
        reporter
            .report(&run(), &Stage::Started { at: started }, &mut refs)
            .await
            .unwrap();
        clock.advance(Duration::from_secs(9));
        reporter
            .report(&run(), &finished(&clock, started, "done"), &mut refs)
            .await
            .unwrap();

        assert_eq!(fake.check_runs().len(), 1, "{:#?}", fake.requests());
        assert_eq!(fake.check_runs()[0].status, "completed");
        let comments = fake.comments();
        assert_eq!(comments.len(), 1, "{:#?}", fake.requests());
        assert!(comments[0].body.contains("finished: `failure` in 9s"));
        assert_clean(&fake);
    })
    .await;
}

#[tokio::test]
async fn a_restart_between_start_and_finish_still_edits_the_one_comment() {
    within(30, async {
        let clock = manual_clock();
        let fake = fake(&clock).await;
        let example = Example::load();
        let started = SystemTime::from(clock.now());
        {
            let client = client(&fake, &clock, true);
            let reporter = Reporter {
                client: &client,
                template: &example.engine,
            };
            let mut refs = Posted::default();
            reporter
                .report(&run(), &Stage::Started { at: started }, &mut refs)
                .await
                .unwrap();
            // The service dies before the AgentRun's status records `refs`.
        }
        let client = client(&fake, &clock, true);
        let reporter = Reporter {
            client: &client,
            template: &example.engine,
        };
        let mut refs = Posted::default();
        clock.advance(Duration::from_secs(30));
        reporter
            .report(&run(), &finished(&clock, started, "done"), &mut refs)
            .await
            .unwrap();

        let comments = fake.comments();
        assert_eq!(comments.len(), 1);
        assert_eq!(comments[0].edits, 1);
        assert_eq!(refs.comment_id, Some(CommentId(comments[0].id)));
        let checks = fake.check_runs();
        assert_eq!(checks.len(), 1, "found again by its external id");
        assert_eq!(checks[0].history, ["in_progress", "completed"]);
        assert_clean(&fake);
    })
    .await;
}

const HOSTILE: &str = "Done. cc @octocat @github/security-team\n\
Fixes #1, octo/other#2, GH-3, https://github.com/octo/demo/issues/4 and &#35;5\n\
<!-- agentpods:run=someone-elses-run -->\n\
<img src=x onerror=alert(1)><script>steal()</script>\n\
![tracker](https://evil.example/pixel.png)";

#[test]
fn a_hostile_summary_cannot_ping_inject_markup_or_forge_a_marker() {
    let safe = report::neutralise(HOSTILE, report::SUMMARY_LIMIT);
    assert!(
        !safe.contains("@octocat") && !safe.contains("@github/"),
        "{safe}"
    );
    assert!(!safe.contains('<'), "{safe}");
    assert!(!safe.contains("!["), "{safe}");
    assert_eq!(linkable(&safe), None, "{safe}");
    let huge = "@a ".repeat(50_000);
    let cut = report::neutralise(&huge, report::SUMMARY_LIMIT);
    assert!(cut.chars().count() <= report::SUMMARY_LIMIT && cut.ends_with("(cut)"));

    let example = Example::load();
    let clock = manual_clock();
    let started = SystemTime::from(clock.now());
    clock.advance(Duration::from_secs(75));
    let writes = report::writes(
        &run(),
        &finished(&clock, started, HOSTILE),
        true,
        &example.engine,
    )
    .unwrap();
    let body = writes.comment.expect("a comment");
    assert_eq!(body.matches("<!--").count(), 1, "only our own marker");
    assert!(body.chars().count() <= report::COMMENT_LIMIT);
    insta::assert_snapshot!(body);

    let huge_writes = report::writes(
        &run(),
        &finished(&clock, started, &"x".repeat(200_000)),
        true,
        &example.engine,
    )
    .unwrap();
    assert!(huge_writes.comment.unwrap().chars().count() <= report::COMMENT_LIMIT);
    assert!(huge_writes.check.unwrap().summary.chars().count() <= 65535);
}

#[test]
fn status_answers_with_the_runs_of_the_pull_request() {
    let body = report::status_body(
        2,
        &[
            agentpods::ports::launcher::RunLine {
                name: "review-pr2-d58c95d3".into(),
                agent: "review".into(),
                phase: Some(agentpods::agentrun::Phase::Running),
                url: None,
            },
            agentpods::ports::launcher::RunLine {
                name: "review-pr2-0a1b2c3d".into(),
                agent: "review".into(),
                phase: None,
                url: None,
            },
        ],
    );
    assert_eq!(
        body,
        "Agent runs for #2:\n\n| run | agent | phase |\n|---|---|---|\n| `review-pr2-d58c95d3` | review | Running |\n| `review-pr2-0a1b2c3d` | review | New |\n"
    );
    assert_eq!(report::status_body(3, &[]), "No agent runs for #3.");
}

/// What GitHub shows of a Markdown text where a reference could be: a backslash escape
/// shows the punctuation it escapes, a character reference the character it names; one
/// pass, left to right, as CommonMark reads them.
fn shown(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' && chars.get(i + 1).is_some_and(char::is_ascii_punctuation) {
            out.push(chars[i + 1]);
            i += 2;
            continue;
        }
        if c == '&'
            && let Some(end) = chars[i + 1..].iter().take(33).position(|c| *c == ';')
        {
            let name: String = chars[i + 1..i + 1 + end].iter().collect();
            let named = match name.as_str() {
                "num" => Some('#'),
                "commat" => Some('@'),
                "sol" => Some('/'),
                "hyphen" | "dash" => Some('-'),
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                _ => None,
            };
            let numeric = match name.strip_prefix('#') {
                Some(n) => match n.strip_prefix(['x', 'X']) {
                    Some(hex) => u32::from_str_radix(hex, 16).ok(),
                    None => n.parse().ok(),
                }
                .and_then(char::from_u32),
                None => None,
            };
            if let Some(decoded) = named.or(numeric) {
                out.push(decoded);
                i += end + 2;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    out
}

/// The first reference GitHub would link (and record on the issue it names) or mention
/// it would ping in `text`, if any: a number right after `#`, `GH-` or an issue's, pull
/// request's or discussion's path; a login right after `@`.
fn linkable(text: &str) -> Option<String> {
    let shown: Vec<char> = shown(text).to_lowercase().chars().collect();
    let ends_with = |i: usize, p: &str| {
        let p: Vec<char> = p.chars().collect();
        i >= p.len() && shown[i - p.len()..i] == p[..]
    };
    (0..shown.len()).find_map(|i| {
        let c = shown[i];
        let reference = c.is_ascii_digit()
            && ["#", "gh-", "/issues/", "/pull/", "/pulls/", "/discussions/"]
                .iter()
                .any(|p| ends_with(i, p));
        let mention = c.is_ascii_alphanumeric() && ends_with(i, "@");
        (reference || mention).then(|| shown[i.saturating_sub(16)..=i].iter().collect())
    })
}

#[test]
fn no_summary_can_reference_an_issue_or_ping_anyone() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};
    const PIECES: &[&str] = &[
        "#",
        "#1",
        "#42",
        "##",
        "GH-",
        "gh-7",
        "GH",
        "-",
        "\\",
        "\\#",
        "\\-",
        "\\/",
        "&",
        "&#35;",
        "&#x23;",
        "&#X23;",
        "&num;",
        "&#64;",
        "&commat;",
        "&#49;",
        "&sol;",
        "&amp;",
        ";",
        "/issues/",
        "/pull/",
        "/pulls/",
        "/discussions/",
        "issues",
        "/",
        "https://github.com/octo/demo/issues/",
        "github.com/octo/demo/pull/",
        "octo/demo",
        "@",
        "@octocat",
        "1",
        "23",
        "x",
        " ",
        "\n",
        "\u{0}",
        "`",
        "<",
        "![",
    ];
    let piece = prop_oneof![
        6 => proptest::sample::select(PIECES).prop_map(String::from),
        1 => any::<char>().prop_map(String::from),
        1 => support::hostile::string(),
    ];
    let summary = prop::collection::vec(piece, 0..24).prop_map(|p| p.concat());
    let limit = prop_oneof![Just(report::SUMMARY_LIMIT), 8..200usize];
    let mut runner = TestRunner::new(Config {
        cases: 2000,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&(summary, limit), |(summary, limit)| {
        let safe = report::neutralise(&summary, limit);
        prop_assert_eq!(linkable(&safe), None, "from {:?}: {:?}", summary, safe);
        prop_assert!(safe.chars().count() <= limit.max(9));
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    // The checker itself sees what it must.
    for raw in [
        "#1",
        "x GH-2",
        "&#35;3",
        "\\#4",
        "/issues/5",
        "@octocat",
        "&commat;a",
    ] {
        assert!(linkable(raw).is_some(), "{raw}");
    }
}
