//! The GitHub client against the fake GitHub over real HTTP: App auth and its token cache,
//! per-run tokens, permissions, rate limits and faults, comments that are never posted
//! twice, and the App's webhook delivery list (the catch-up itself: tests/it/catch_up.rs).

use crate::support;

use std::sync::Arc;
use std::time::Duration;

use agentpods::clock::ManualClock;
use agentpods::config::Permission;
use agentpods::github::event::RepoFullName;
use agentpods::github::permission::Access;
use agentpods::github_client::{
    ClientConfig, Credentials, GithubClient, GithubError, IssueComment, RetryPolicy, Secret,
    TokenPermissions, own_login_from_env,
};
use agentpods::ids::IssueNumber;
use support::fake_github::{
    APP_ID, APP_KEY_PEM, BOT_LOGIN, FakeGithub, FaultKind, PAT, PAT_LOGIN, manual_clock,
};
use support::server::within;

const REPO: &str = "octo/demo";

fn repo() -> RepoFullName {
    REPO.parse().expect("repo name")
}

/// Pull request or issue `number` of [`REPO`].
fn issue(number: u64) -> IssueNumber {
    IssueNumber(number)
}

/// Our comment on [`issue`] `number` carrying `marker`, as `client` finds it.
async fn find(
    client: &GithubClient,
    number: u64,
    marker: &str,
) -> Result<Option<IssueComment>, GithubError> {
    client.find_comment(&repo(), issue(number), marker).await
}

fn policy() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        base_delay: Duration::from_millis(100),
        max_delay: Duration::from_secs(2),
        max_rate_limit_wait: Duration::from_secs(120),
        jitter_seed: Some(7),
        ..RetryPolicy::default()
    }
}

fn app_client(fake: &FakeGithub, clock: &Arc<ManualClock>) -> GithubClient {
    let mut config = ClientConfig::new(Credentials::App {
        app_id: APP_ID,
        private_key_pem: Secret::new(APP_KEY_PEM),
    });
    config.base_url = fake.url();
    config.retry = policy();
    GithubClient::new(config, clock.clone()).expect("an App client")
}

fn token_client(fake: &FakeGithub, clock: &Arc<ManualClock>) -> GithubClient {
    let mut config = ClientConfig::new(Credentials::Token(Secret::new(PAT)));
    config.base_url = fake.url();
    config.retry = policy();
    GithubClient::new(config, clock.clone()).expect("a token client")
}

/// What the `task` agent of the examples declares, and issues too.
fn write_permissions() -> TokenPermissions {
    TokenPermissions::of(
        &["contents", "pull_requests", "issues"]
            .into_iter()
            .map(|p| (p.to_owned(), Access::Write))
            .collect(),
    )
}

async fn fake(clock: &Arc<ManualClock>) -> FakeGithub {
    let fake = FakeGithub::start(clock.clone()).await;
    fake.install(REPO, 77);
    fake.install("octo/other", 77);
    fake.set_role(REPO, "maintainer", "maintain");
    fake.set_role(REPO, "reader", "read");
    fake
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
async fn an_installation_token_is_reused_until_five_minutes_before_it_expires() {
    within(30, async {
        let clock = manual_clock();
        let fake = fake(&clock).await;
        let client = app_client(&fake, &clock);

        assert_eq!(
            client
                .collaborator_permission(&repo(), "maintainer")
                .await
                .unwrap(),
            Permission::Maintain
        );
        clock.advance(Duration::from_secs(61)); // past the permission cache
        assert_eq!(
            client
                .collaborator_permission(&repo(), "maintainer")
                .await
                .unwrap(),
            Permission::Maintain
        );
        assert_eq!(
            fake.count("GET", "/installation"),
            1,
            "the installation is looked up once"
        );
        assert_eq!(
            fake.count("POST", "/access_tokens"),
            1,
            "one token serves both calls"
        );

        // The token lives an hour; 56 minutes on, it has less than five minutes left.
        clock.advance(Duration::from_secs(55 * 60));
        client
            .collaborator_permission(&repo(), "reader")
            .await
            .unwrap();
        assert_eq!(
            fake.count("POST", "/access_tokens"),
            2,
            "renewed before it expires"
        );
        assert_clean(&fake);
    })
    .await;
}

#[tokio::test]
async fn callers_waiting_for_a_token_share_one_renewal() {
    within(30, async {
        let clock = manual_clock();
        let fake = fake(&clock).await;
        let client = app_client(&fake, &clock);
        let users = ["maintainer", "reader", "a", "b", "c", "d"];
        let repo = repo();
        let answers = futures_util::future::join_all(
            users
                .iter()
                .map(|u| client.collaborator_permission(&repo, u)),
        )
        .await;
        assert!(answers.iter().all(Result::is_ok), "{answers:?}");
        assert_eq!(fake.count("POST", "/access_tokens"), 1);
        assert_clean(&fake);
    })
    .await;
}

#[tokio::test]
async fn a_revoked_installation_token_is_dropped_and_the_call_sent_again_with_a_new_one() {
    within(30, async {
        let clock = manual_clock();
        let fake = fake(&clock).await;
        let client = app_client(&fake, &clock);
        client
            .collaborator_permission(&repo(), "maintainer")
            .await
            .unwrap();

        // The installation's tokens are revoked long before they expire: the call is
        // refused once, a new token is asked for, and the call goes through with it.
        fake.revoke_installation_tokens();
        let id = client
            .create_comment(&repo(), issue(3), "hello")
            .await
            .expect("sent again with a new token");
        let posts: Vec<String> = fake
            .requests()
            .into_iter()
            .filter(|r| r.starts_with("POST /repos/octo/demo/issues/3/comments"))
            .collect();
        assert_eq!(
            posts,
            [
                "POST /repos/octo/demo/issues/3/comments -> 401",
                "POST /repos/octo/demo/issues/3/comments -> 201"
            ]
        );
        assert_eq!(fake.count("POST", "/access_tokens"), 2);
        let comments = fake.comments();
        assert_eq!(comments.len(), 1, "a refused request posted nothing");
        assert_eq!(comments[0].id, id.get());

        // The new token is the cached one now.
        client
            .update_comment(&repo(), id, "hello again")
            .await
            .unwrap();
        assert_eq!(fake.count("POST", "/access_tokens"), 2);

        // Refused again with the new token too: that 401 is the answer, with no third try.
        fake.fail_next(
            2,
            Some(("PATCH", "/issues/comments/")),
            FaultKind::BadCredentials,
        );
        let err = client
            .update_comment(&repo(), id, "and again")
            .await
            .unwrap_err();
        assert!(matches!(err, GithubError::Unauthorized { .. }), "{err}");
        assert_eq!(fake.count("PATCH", "/issues/comments/"), 3);
        assert_eq!(fake.count("POST", "/access_tokens"), 3);
        assert_eq!(fake.comments()[0].body, "hello again");
        assert_clean(&fake);
    })
    .await;
}

#[tokio::test]
async fn a_reinstalled_app_is_looked_up_again_under_its_new_installation_id() {
    within(30, async {
        let clock = manual_clock();
        let fake = fake(&clock).await;
        let client = app_client(&fake, &clock);
        let other: RepoFullName = "octo/other".parse().unwrap();
        let since = |n: usize| fake.requests().into_iter().skip(n).collect::<Vec<_>>();
        for repo in [repo(), other.clone()] {
            client
                .collaborator_permission(&repo, "maintainer")
                .await
                .unwrap();
            assert_eq!(client.installation_id(&repo).await.unwrap(), 77);
        }

        // The owner uninstalls and reinstalls the App: installation 77 is gone, with its
        // tokens. The cached token is refused, a new one for 77 is refused with 404, the
        // installation is looked up again (78), and the call goes through with its token.
        fake.reinstall(77, 78);
        let n = fake.requests().len();
        let id = client
            .create_comment(&repo(), issue(3), "hello")
            .await
            .expect("sent with a token of the new installation");
        assert_eq!(
            since(n),
            [
                "POST /repos/octo/demo/issues/3/comments -> 401",
                "POST /app/installations/77/access_tokens -> 404",
                "GET /repos/octo/demo/installation -> 200",
                "POST /app/installations/78/access_tokens -> 201",
                "POST /repos/octo/demo/issues/3/comments -> 201",
            ]
        );
        assert_eq!(fake.comments()[0].id, id.get());
        assert_eq!(client.installation_id(&repo()).await.unwrap(), 78);

        // The other repository was cached under 77 too: it is looked up afresh, with no
        // request to the old id first.
        let n = fake.requests().len();
        let token = client
            .scoped_token(&other, &write_permissions())
            .await
            .expect("a run token from the new installation");
        assert_eq!(token.repositories, vec!["octo/other".to_owned()]);
        assert_eq!(
            since(n),
            [
                "GET /repos/octo/other/installation -> 200",
                "POST /app/installations/78/access_tokens -> 201",
            ]
        );

        // Reinstalled again: a per-run token for 78 gets 404, 79 is looked up, asked once
        // more.
        fake.reinstall(78, 79);
        let n = fake.requests().len();
        let token = client
            .scoped_token(&repo(), &write_permissions())
            .await
            .expect("a run token from the new installation");
        let grant = fake
            .with(|m| m.grants.get(token.token.expose()).cloned())
            .expect("granted");
        assert_eq!(grant.installation, 79);
        assert_eq!(grant.repositories, Some(vec!["demo".to_owned()]));
        assert_eq!(
            since(n),
            [
                "POST /app/installations/78/access_tokens -> 404",
                "GET /repos/octo/demo/installation -> 200",
                "POST /app/installations/79/access_tokens -> 201",
            ]
        );

        // Uninstalled for good: the lookup's 404 is the answer, after one look.
        fake.uninstall(79);
        let n = fake.requests().len();
        let err = client
            .scoped_token(&repo(), &write_permissions())
            .await
            .unwrap_err();
        assert!(matches!(err, GithubError::NotFound { .. }), "{err}");
        assert_eq!(
            since(n),
            [
                "POST /app/installations/79/access_tokens -> 404",
                "GET /repos/octo/demo/installation -> 404",
            ]
        );
        assert_clean(&fake);
    })
    .await;
}

/// When nothing answers, the error names the call and keeps why as its source, whole
/// (not its words alone): the chain goes down to the socket's error (review 12d, R15).
#[tokio::test]
async fn a_github_nobody_answers_is_an_error_that_keeps_why() {
    let clock = manual_clock();
    let mut config = ClientConfig::new(Credentials::Token(Secret::new(PAT)));
    // Nothing listens on port 1.
    config.base_url = "http://127.0.0.1:1".into();
    config.retry = RetryPolicy {
        max_attempts: 1,
        ..policy()
    };
    let client = GithubClient::new(config, clock.clone()).expect("a token client");
    let err = within(10, client.collaborator_permission(&repo(), "someone"))
        .await
        .expect_err("nothing answers");
    assert!(
        matches!(&err, GithubError::Transport { what, .. } if what == "GET /repos/octo/demo/collaborators/someone/permission"),
        "{err:?}"
    );
    assert!(err.is_ambiguous());
    let mut causes = Vec::new();
    let mut cause = std::error::Error::source(&err);
    while let Some(c) = cause {
        causes.push(c);
        cause = c.source();
    }
    assert!(
        causes
            .iter()
            .any(|c| c.downcast_ref::<std::io::Error>().is_some()),
        "the socket's error is in the chain: {causes:?}"
    );
}

#[tokio::test]
async fn a_refused_plain_token_is_the_answer_at_once() {
    within(30, async {
        let clock = manual_clock();
        let fake = fake(&clock).await;
        let client = token_client(&fake, &clock);
        fake.fail_next(1, None, FaultKind::BadCredentials);
        let err = client
            .collaborator_permission(&repo(), "reader")
            .await
            .unwrap_err();
        assert!(matches!(err, GithubError::Unauthorized { .. }), "{err}");
        assert_eq!(fake.requests().len(), 1, "{:#?}", fake.requests());
        assert_clean(&fake);
    })
    .await;
}

#[tokio::test]
async fn a_run_token_covers_one_repository_and_only_the_permissions_asked_for() {
    within(30, async {
        let clock = manual_clock();
        let fake = fake(&clock).await;
        let client = app_client(&fake, &clock);
        let token = client
            .scoped_token(&repo(), &write_permissions())
            .await
            .expect("a run token");
        assert_eq!(token.repositories, vec![REPO.to_owned()]);
        assert_eq!(
            token.permissions.keys().collect::<Vec<_>>(),
            ["contents", "issues", "pull_requests"]
        );
        assert!(token.permissions.values().all(|v| v == "write"));
        assert_eq!(format!("{:?}", token.token), "***", "a token never prints");
        let grant = fake
            .with(|m| m.grants.get(token.token.expose()).cloned())
            .expect("granted");
        assert_eq!(grant.repositories, Some(vec!["demo".to_owned()]));
        assert_clean(&fake);
    })
    .await;
}

/// An answer that grants something is asked again each time: a permission GitHub changes
/// counts from the next call on, and while it is unchanged GitHub answers 304. Only `none`
/// is believed for a minute (a stranger's refused commands cost one request each).
#[tokio::test]
async fn a_permission_comes_from_the_api_every_time_and_a_change_counts_at_once() {
    within(30, async {
        let clock = manual_clock();
        let fake = fake(&clock).await;
        let client = token_client(&fake, &clock);
        let demo = repo();
        let ask = |user: &'static str| client.collaborator_permission(&demo, user);
        assert_eq!(ask("reader").await.unwrap(), Permission::Read);
        assert_eq!(ask("stranger").await.unwrap(), Permission::None);
        fake.set_role(REPO, "reader", "write");
        assert_eq!(ask("reader").await.unwrap(), Permission::Write, "at once");
        assert_eq!(ask("reader").await.unwrap(), Permission::Write);
        // Write taken away a second later: the next event sees it.
        clock.advance(Duration::from_secs(1));
        fake.set_role(REPO, "reader", "none");
        assert_eq!(ask("reader").await.unwrap(), Permission::None);
        let asked: Vec<String> = fake
            .requests()
            .into_iter()
            .filter(|r| r.contains("/collaborators/reader/permission"))
            .map(|r| r.rsplit(" -> ").next().unwrap_or_default().to_string())
            .collect();
        assert_eq!(
            asked,
            ["200", "200", "304", "200"],
            "conditional when unchanged"
        );
        // `none` is believed for a minute, then asked again.
        fake.set_role(REPO, "reader", "write");
        assert_eq!(ask("reader").await.unwrap(), Permission::None, "remembered");
        clock.advance(Duration::from_secs(61));
        assert_eq!(ask("reader").await.unwrap(), Permission::Write);
        fake.with(|m| {
            m.teams
                .insert("octo/reviewers".into(), vec!["reader".into()])
        });
        assert!(
            client
                .is_team_member(&repo(), "octo", "reviewers", "reader")
                .await
                .unwrap()
        );
        assert!(
            !client
                .is_team_member(&repo(), "octo", "reviewers", "stranger")
                .await
                .unwrap()
        );
        assert_clean(&fake);
    })
    .await;
}

#[tokio::test]
async fn a_fork_pull_request_is_read_as_our_type() {
    within(30, async {
        let clock = manual_clock();
        let fake = fake(&clock).await;
        let client = token_client(&fake, &clock);
        fake.add_pull(REPO, 5, &"a".repeat(40), "someone/demo");
        fake.add_pull(REPO, 6, &"b".repeat(40), REPO);
        let fork = client.pull_request(&repo(), issue(5)).await.unwrap();
        assert!(fork.is_fork());
        assert_eq!(fork.head.sha.as_str(), "a".repeat(40));
        assert_eq!(fork.head.ref_name, "fix-readme");
        assert!(
            !client
                .pull_request(&repo(), issue(6))
                .await
                .unwrap()
                .is_fork()
        );
        assert!(matches!(
            client.pull_request(&repo(), issue(9)).await,
            Err(GithubError::NotFound { .. })
        ));
        assert_clean(&fake);
    })
    .await;
}

#[tokio::test]
async fn rate_limits_are_waited_out_then_the_call_goes_through() {
    within(30, async {
        let clock = manual_clock();
        let fake = fake(&clock).await;
        let client = token_client(&fake, &clock);
        fake.fail_next(1, None, FaultKind::SecondaryLimit { retry_after: 30 });
        fake.fail_next(1, None, FaultKind::PrimaryLimit { reset_in: 90 });
        client
            .collaborator_permission(&repo(), "reader")
            .await
            .expect("after the limits");
        let slept = clock.slept();
        assert_eq!(slept[0], Duration::from_secs(30), "retry-after honoured");
        assert_eq!(
            slept[1],
            Duration::from_secs(90),
            "waited until x-ratelimit-reset"
        );
        assert_eq!(fake.count("GET", "/permission"), 3);

        // A limit that lasts longer than the policy allows is handed back, with its time.
        fake.fail_next(1, None, FaultKind::SecondaryLimit { retry_after: 3600 });
        let err = client
            .collaborator_permission(&repo(), "maintainer")
            .await
            .unwrap_err();
        assert!(matches!(err, GithubError::RateLimited { .. }), "{err}");
        assert_clean(&fake);
    })
    .await;
}

#[tokio::test]
async fn server_errors_are_retried_with_growing_jittered_waits_then_given_up() {
    within(30, async {
        let clock = manual_clock();
        let fake = fake(&clock).await;
        let client = token_client(&fake, &clock);
        fake.fail_next(2, None, FaultKind::BadGateway);
        client
            .collaborator_permission(&repo(), "reader")
            .await
            .expect("third time lucky");
        let slept = clock.slept();
        assert_eq!(slept.len(), 2);
        assert!(
            slept[0] >= Duration::from_millis(50) && slept[0] <= Duration::from_millis(100),
            "{slept:?}"
        );
        assert!(
            slept[1] >= Duration::from_millis(100) && slept[1] <= Duration::from_millis(200),
            "{slept:?}"
        );

        fake.fail_next(10, None, FaultKind::BadGateway);
        let err = client
            .collaborator_permission(&repo(), "maintainer")
            .await
            .unwrap_err();
        assert!(
            matches!(err, GithubError::Server { status: 502, .. }),
            "{err}"
        );
        assert_eq!(
            fake.count("GET", "/collaborators/maintainer/"),
            4,
            "bounded attempts"
        );
        assert!(!err.to_string().contains(PAT), "no token in errors");
        assert_clean(&fake);
    })
    .await;
}

#[tokio::test]
async fn a_comment_github_posted_before_failing_is_found_not_posted_again() {
    within(30, async {
        let clock = manual_clock();
        let fake = fake(&clock).await;
        let client = app_client(&fake, &clock);
        let marker = "<!-- agentpods:run=r1 -->";
        // Someone quoting the marker does not make their comment ours.
        fake.add_comment(REPO, 3, "mallory", &format!("look: {marker}"));
        fake.fail_next(
            1,
            Some(("POST", "/issues/3/comments")),
            FaultKind::BadGatewayAfterActing,
        );
        let id = client
            .create_comment_once(&repo(), issue(3), marker, &format!("hello\n\n{marker}"))
            .await
            .expect("the comment");
        let ours: Vec<_> = fake
            .comments()
            .into_iter()
            .filter(|c| c.login.ends_with("[bot]"))
            .collect();
        assert_eq!(ours.len(), 1, "{ours:#?}");
        assert_eq!(ours[0].id, id.get());
        assert_eq!(fake.count("POST", "/issues/3/comments"), 1);

        // Asked again (a redelivery, a restart): the same comment.
        let again = client
            .create_comment_once(&repo(), issue(3), marker, &format!("hello\n\n{marker}"))
            .await
            .unwrap();
        assert_eq!(again, id);
        assert_eq!(fake.count("POST", "/issues/3/comments"), 1);
        assert_clean(&fake);
    })
    .await;
}

#[tokio::test]
async fn with_app_auth_only_our_own_bots_comments_are_ours() {
    within(30, async {
        let clock = manual_clock();
        let fake = fake(&clock).await;
        let client = app_client(&fake, &clock);
        let marker = "<!-- agentpods:approved sha=abc -->";
        // Another App's bot writes our marker: a bot, but not ours.
        fake.add_bot_comment(REPO, 4, "other-app[bot]", &format!("approved {marker}"));
        assert_eq!(find(&client, 4, marker).await.unwrap(), None);

        let id = client
            .create_comment_once(&repo(), issue(4), marker, &format!("Approved.\n\n{marker}"))
            .await
            .unwrap();
        let found = find(&client, 4, marker).await.unwrap().expect("ours");
        assert_eq!((found.id, found.author.as_str()), (id, BOT_LOGIN));
        assert_eq!(client.own_login().await.unwrap(), Some(BOT_LOGIN));
        assert_eq!(fake.count("GET", "/app"), 1, "GET /app is asked once");
        assert_clean(&fake);
    })
    .await;
}

#[tokio::test]
async fn our_login_comes_from_the_probe_or_the_config_and_is_never_guessed() {
    within(30, async {
        let clock = manual_clock();
        let fake = fake(&clock).await;

        // The readiness probe asks GET /app anyway: the slug it answers names our bot.
        let client = app_client(&fake, &clock);
        client.ping().await.expect("GitHub answers");
        assert_eq!(client.own_login().await.unwrap(), Some(BOT_LOGIN));
        assert_eq!(fake.count("GET", "/app"), 1);

        // A login in the config wins, and GitHub is not asked.
        let mut config = ClientConfig::new(Credentials::App {
            app_id: APP_ID,
            private_key_pem: Secret::new(APP_KEY_PEM),
        });
        config.base_url = fake.url();
        config.own_login = Some("agentpods-staging[bot]".into());
        let configured = GithubClient::new(config, clock.clone()).unwrap();
        assert_eq!(
            configured.own_login().await.unwrap(),
            Some("agentpods-staging[bot]")
        );
        assert_eq!(fake.count("GET", "/app"), 1);

        // GitHub cannot say who we are: no comment is taken for ours (the call fails),
        // and the next call asks again.
        let client = app_client(&fake, &clock);
        fake.fail_next(10, Some(("GET", "/app")), FaultKind::BadGateway);
        let marker = "<!-- agentpods:run=r9 -->";
        fake.add_bot_comment(REPO, 5, "other-app[bot]", marker);
        let err = find(&client, 5, marker).await.unwrap_err();
        assert!(matches!(err, GithubError::Server { .. }), "{err}");
        fake.clear_faults();
        assert_eq!(find(&client, 5, marker).await.unwrap(), None);
        assert_eq!(client.own_login().await.unwrap(), Some(BOT_LOGIN));
        assert_clean(&fake);
    })
    .await;
}

#[tokio::test]
async fn with_a_token_our_login_is_the_tokens_user_from_get_user() {
    within(30, async {
        let clock = manual_clock();
        let fake = fake(&clock).await;
        let client = token_client(&fake, &clock);
        let marker = "<!-- agentpods:approved sha=abc -->";
        // Someone else writes our marker: not ours.
        fake.add_comment(REPO, 4, "mallory", &format!("approved {marker}"));
        assert_eq!(find(&client, 4, marker).await.unwrap(), None);

        let id = client
            .create_comment_once(&repo(), issue(4), marker, &format!("Approved.\n\n{marker}"))
            .await
            .unwrap();
        let found = find(&client, 4, marker).await.unwrap().expect("ours");
        assert_eq!((found.id, found.author.as_str()), (id, PAT_LOGIN));
        assert_eq!(client.own_login().await.unwrap(), Some(PAT_LOGIN));
        assert_eq!(fake.count("GET", "/user"), 1, "GET /user is asked once");

        // GitHub down when the login is first needed: the lookup fails (nothing is taken
        // for ours), and the next one asks again.
        let client = token_client(&fake, &clock);
        fake.fail_next(10, Some(("GET", "/user")), FaultKind::BadGateway);
        let err = find(&client, 4, marker).await.unwrap_err();
        assert!(matches!(err, GithubError::Server { .. }), "{err}");
        fake.clear_faults();
        assert_eq!(
            find(&client, 4, marker).await.unwrap().map(|c| c.id),
            Some(id)
        );
        assert_clean(&fake);
    })
    .await;
}

#[tokio::test]
async fn a_token_github_will_not_name_still_posts_each_reply_once() {
    within(30, async {
        let clock = manual_clock();
        let fake = fake(&clock).await;
        // An installation token handed over as a plain token (as Actions' GITHUB_TOKEN):
        // GitHub answers GET /user with 403, and it posts as the App's bot.
        let mut config = ClientConfig::new(Credentials::Token(Secret::new(
            fake.installation_token(REPO),
        )));
        config.base_url = fake.url();
        config.retry = policy();
        let client = GithubClient::new(config.clone(), clock.clone()).unwrap();
        assert_eq!(client.own_login().await.unwrap(), None);
        assert_eq!(client.own_login().await.unwrap(), None);
        assert_eq!(
            fake.requests()
                .iter()
                .filter(|r| r.starts_with("GET /user"))
                .collect::<Vec<_>>(),
            ["GET /user -> 403"],
            "the refusal is kept: asked once"
        );

        let marker = "<!-- agentpods:approved sha=abc -->";
        fake.add_comment(REPO, 4, "forker", marker);

        // Replies are still posted once: for de-duplication any marked comment is taken.
        let reply = "<!-- agentpods:reply=d1-0 -->";
        let id = client
            .create_comment_once(&repo(), issue(5), reply, &format!("Hello.\n\n{reply}"))
            .await
            .unwrap();
        let again = client
            .create_comment_once(&repo(), issue(5), reply, &format!("Hello.\n\n{reply}"))
            .await
            .unwrap();
        assert_eq!(again, id);
        assert_eq!(fake.count("POST", "/issues/5/comments"), 1);

        // The operator names the login: GitHub is not asked, and only that login's
        // markers count.
        config.own_login = Some(BOT_LOGIN.into());
        let named = GithubClient::new(config, clock.clone()).unwrap();
        assert_eq!(find(&named, 4, marker).await.unwrap(), None);
        named
            .create_comment(&repo(), issue(4), &format!("Approved.\n\n{marker}"))
            .await
            .unwrap();
        let found = find(&named, 4, marker).await.unwrap().expect("ours");
        assert_eq!(found.author, BOT_LOGIN);
        assert_eq!(fake.count("GET", "/user"), 1);
        assert_clean(&fake);
    })
    .await;
}

#[tokio::test]
async fn a_pull_request_github_opened_before_failing_is_found_not_opened_again() {
    within(30, async {
        let clock = manual_clock();
        let fake = fake(&clock).await;
        let client = token_client(&fake, &clock);
        fake.fail_next(
            1,
            Some(("POST", "/repos/octo/demo/pulls")),
            FaultKind::BadGatewayAfterActing,
        );
        let repo = repo();
        let open =
            || client.create_pull_request(&repo, "agentpods/task-1", "main", "Fix it", "Done.");
        let pr = open().await.expect("the pull request");
        let pulls = fake.pulls(REPO);
        assert_eq!(pulls.len(), 1, "{pulls:#?}");
        assert_eq!(pulls[0]["number"], pr.number.get());
        assert_eq!(pulls[0]["head"]["ref"], "agentpods/task-1");
        assert_eq!(pulls[0]["base"]["ref"], "main");
        assert_eq!(pr.html_url, pulls[0]["html_url"]);
        assert_eq!(fake.count("POST", "/pulls"), 1, "{:#?}", fake.requests());
        assert!(
            fake.requests()
                .iter()
                .any(|r| r.contains("/pulls?head=octo%3Aagentpods%2Ftask-1&state=open")),
            "{:#?}",
            fake.requests()
        );

        // Asked again (a restarted pod): GitHub's 422 "already exists" is that one.
        assert_eq!(open().await.expect("the same pull request"), pr);
        assert_eq!(fake.pulls(REPO).len(), 1);
        assert_clean(&fake);
    })
    .await;
}

#[tokio::test]
async fn a_pull_request_github_did_not_open_is_posted_again_once() {
    within(30, async {
        let clock = manual_clock();
        let fake = fake(&clock).await;
        let client = app_client(&fake, &clock);
        fake.fail_next(1, Some(("POST", "/pulls")), FaultKind::BadGateway);
        let pr = client
            .create_pull_request(&repo(), "agentpods/task-2", "main", "Fix it", "Done.")
            .await
            .expect("the pull request");
        assert_eq!(fake.pulls(REPO).len(), 1);
        assert_eq!(fake.pulls(REPO)[0]["number"], pr.number.get());
        assert_eq!(fake.count("POST", "/pulls"), 2, "{:#?}", fake.requests());

        // A 422 for another reason stands: nothing of ours is open for that head.
        let err = client
            .create_pull_request(&repo(), "agentpods/task-3", "", "Fix it", "Done.")
            .await
            .unwrap_err();
        assert!(
            matches!(err, GithubError::Rejected { status: 422, .. }),
            "{err}"
        );
        assert_clean(&fake);
    })
    .await;
}

const HOUR: Duration = Duration::from_secs(3600);

#[tokio::test]
async fn the_delivery_list_is_read_page_by_page_back_to_a_time_and_no_further() {
    within(30, async {
        let clock = manual_clock();
        let fake = fake(&clock).await;
        let client = app_client(&fake, &clock);
        let minutes = |m: f64| Duration::from_secs_f64(m * 60.0);
        // 400 answered deliveries, one a minute, and three that failed: one on the first
        // page, one on the third within four hours, one just older than that.
        for i in 1..=400 {
            fake.add_delivery(&format!("ok-{i}"), "issue_comment", 202, minutes(i as f64));
        }
        let recent = fake.add_delivery("down-new", "issue_comment", 502, minutes(30.5));
        let deep = fake.add_delivery("down-deep", "pull_request", 0, minutes(235.5));
        let old = fake.add_delivery("down-old", "pull_request", 502, minutes(250.5));
        let pages = || fake.count("GET", "/app/hook/deliveries");
        let since = clock_now(&clock) - 4 * HOUR;
        let ids = |read: &agentpods::github_client::DeliveriesRead| -> Vec<u64> {
            read.deliveries
                .iter()
                .filter(|d| d.status_code != 202)
                .map(|d| d.id)
                .collect()
        };

        // At most two pages: the failed delivery on the third is not reached.
        let capped = client.hook_deliveries(since, 2).await.expect("the list");
        assert!(capped.cut_short);
        assert_eq!(ids(&capped), vec![recent]);
        assert_eq!(pages(), 2);

        // Four hours back: pages until one reaches back past it (the third of five),
        // following GitHub's cursor; nothing older is kept.
        let read = client.hook_deliveries(since, 30).await.expect("the list");
        assert!(!read.cut_short);
        assert_eq!(ids(&read), vec![recent, deep]);
        assert!(read.deliveries.iter().all(|d| d.id != old));
        assert_eq!(read.deliveries.len(), 240 + 2);
        assert_eq!(pages(), 2 + 3);
        let cursors: Vec<String> = fake
            .requests()
            .into_iter()
            .filter(|r| r.starts_with("GET /app/hook/deliveries"))
            .skip(2)
            .collect();
        assert!(cursors[0].contains("?per_page=100 -> "), "{cursors:#?}");
        assert!(
            cursors[1..]
                .iter()
                .all(|r| r.contains("?per_page=100&cursor=v1_")),
            "{cursors:#?}"
        );
        // The two pages read before are asked for with their ETags: unchanged, GitHub
        // answers 304 (not counted against the rate limit) and the kept page is read.
        let answers: Vec<&str> = cursors
            .iter()
            .map(|r| r.rsplit(" -> ").next().unwrap_or_default())
            .collect();
        assert_eq!(answers, ["304", "304", "200"], "{cursors:#?}");
        assert_clean(&fake);
    })
    .await;
}

fn clock_now(clock: &Arc<ManualClock>) -> std::time::SystemTime {
    use agentpods::clock::Clock;
    clock.now().into()
}

#[tokio::test]
async fn a_bad_key_or_token_is_reported_without_showing_it() {
    within(30, async {
        let clock = manual_clock();
        let fake = fake(&clock).await;
        let mut config = ClientConfig::new(Credentials::App {
            app_id: APP_ID,
            private_key_pem: Secret::new(
                "-----BEGIN RSA PRIVATE KEY-----\nnope\n-----END RSA PRIVATE KEY-----",
            ),
        });
        config.base_url = fake.url();
        let err = GithubClient::new(config.clone(), clock.clone())
            .err()
            .expect("refused");
        assert!(!err.to_string().contains("nope"), "{err}");
        assert!(!format!("{config:?}").contains("nope"));

        config.credentials = Credentials::Token(Secret::new("ghp_wrong"));
        let client = GithubClient::new(config, clock.clone()).unwrap();
        let err = client
            .collaborator_permission(&repo(), "reader")
            .await
            .unwrap_err();
        assert!(matches!(err, GithubError::Unauthorized { .. }), "{err}");
        assert!(!format!("{err:?}").contains("ghp_wrong"));
    })
    .await;
}

#[test]
fn the_fake_holds_requests_to_githubs_rest_description() {
    let ops = support::fake_github::Operations::load();
    assert_eq!(ops.package, "@octokit/openapi@23.0.2");
    let check = |m: &str, p: &str, q: &[(&str, &str)], b: &str| {
        let q: Vec<(String, String)> = q.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        ops.check(m, p, &q, b.as_bytes())
    };
    assert!(
        check(
            "POST",
            "/repos/o/r/issues/1/comments",
            &[],
            r#"{"body":"hi"}"#
        )
        .is_empty()
    );
    assert!(
        !check(
            "POST",
            "/repos/o/r/issues/1/comments",
            &[],
            r#"{"body":"hi","bodyy":1}"#
        )
        .is_empty(),
        "unknown field"
    );
    assert!(
        !check("POST", "/repos/o/r/issues/1/comments", &[], r#"{"body":1}"#).is_empty(),
        "wrong type"
    );
    assert!(
        !check(
            "POST",
            "/repos/o/r/check-runs",
            &[],
            r#"{"name":"x","head_sha":"a","status":"done"}"#
        )
        .is_empty(),
        "not in the enum"
    );
    assert!(
        !check("POST", "/repos/o/r/check-runs", &[], r#"{"name":"x"}"#).is_empty(),
        "head_sha required"
    );
    assert!(
        !check(
            "GET",
            "/repos/o/r/issues/1/comments",
            &[("perpage", "100")],
            ""
        )
        .is_empty(),
        "unknown query"
    );
    assert!(
        !check("DELETE", "/repos/o/r", &[], "").is_empty(),
        "not an operation we call"
    );
}

#[test]
fn credentials_come_from_the_environment_and_errors_never_show_them() {
    use std::collections::HashMap;
    let env = |pairs: &[(&str, &str)]| {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name: &str| map.get(name).cloned()
    };
    let no_file = |path: &str| -> std::io::Result<String> {
        Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{path} not found"),
        ))
    };
    let key_file =
        |_: &str| -> std::io::Result<String> { Ok(support::fake_github::APP_KEY_PEM.into()) };

    assert!(
        Credentials::from_env(env(&[]), no_file)
            .expect("no error")
            .is_none()
    );
    assert_eq!(
        own_login_from_env(env(&[("AGENTPODS_GITHUB_LOGIN", " @agentpods-bot ")])),
        Some("agentpods-bot".to_owned())
    );
    assert_eq!(
        own_login_from_env(env(&[("AGENTPODS_GITHUB_LOGIN", " ")])),
        None
    );
    let token = Credentials::from_env(env(&[("GITHUB_TOKEN", "ghp_x ")]), no_file).expect("ok");
    assert!(matches!(token, Some(Credentials::Token(t)) if t.expose() == "ghp_x"));
    let app = Credentials::from_env(
        env(&[
            ("GITHUB_APP_ID", "42"),
            ("GITHUB_APP_PRIVATE_KEY_PATH", "/k.pem"),
            ("GITHUB_TOKEN", "t"),
        ]),
        key_file,
    )
    .expect("ok");
    assert!(
        matches!(app, Some(Credentials::App { app_id: 42, .. })),
        "the App wins over a token"
    );

    for (pairs, says) in [
        (
            &[("GITHUB_APP_ID", "abc")][..],
            "GITHUB_APP_ID is not a number",
        ),
        (
            &[("GITHUB_APP_ID", "42")][..],
            "neither GITHUB_APP_PRIVATE_KEY_PATH",
        ),
        (
            &[
                ("GITHUB_APP_ID", "42"),
                ("GITHUB_APP_PRIVATE_KEY_PATH", "/nope.pem"),
            ][..],
            "/nope.pem: cannot read",
        ),
    ] {
        let err = Credentials::from_env(env(pairs), no_file)
            .expect_err("refused")
            .to_string();
        assert!(err.contains(says), "{err}");
    }

    // A file that is not the App's key is said at once with its path and what to do
    // (new-user review 13h, F18: `the App private key is not an RSA PEM key`, no path,
    // when the client was made).
    let not_a_key = |_: &str| -> std::io::Result<String> { Ok("-----BEGIN KEY-----".into()) };
    let err = Credentials::from_env(
        env(&[
            ("GITHUB_APP_ID", "42"),
            ("GITHUB_APP_PRIVATE_KEY_PATH", "/tmp/bad.pem"),
        ]),
        not_a_key,
    )
    .expect_err("refused")
    .to_string();
    assert!(
        err.contains(
            "the App private key in /tmp/bad.pem is not an RSA PEM key\nwhat to do: set \
             GITHUB_APP_PRIVATE_KEY_PATH to the App's private key file"
        ),
        "{err}"
    );
    assert!(!err.contains("BEGIN KEY"), "{err}");
}

/// `DELETE /installation/token` with the run's own token: GitHub answers 204 and refuses
/// the token from then on; revoking it again is no error (the token is as good as gone).
#[tokio::test]
async fn a_revoked_run_token_is_refused_from_then_on() {
    within(30, async {
        let clock = manual_clock();
        let fake = fake(&clock).await;
        let client = app_client(&fake, &clock);
        let token = client
            .scoped_token(&repo(), &write_permissions())
            .await
            .expect("a run token");
        let as_run = |token: &Secret| {
            let mut config = ClientConfig::new(Credentials::Token(token.clone()));
            config.base_url = fake.url();
            config.retry = policy();
            GithubClient::new(config, clock.clone()).expect("a client with the run's token")
        };
        fake.add_pull(REPO, 1, &"a".repeat(40), REPO);
        let run = as_run(&token.token);
        run.pull_request(&repo(), issue(1))
            .await
            .expect("the token is good before it is revoked");

        client.revoke_token(&token.token).await.expect("revoked");
        let refused = run.pull_request(&repo(), issue(1)).await.unwrap_err();
        assert!(
            matches!(refused, GithubError::Unauthorized { .. }),
            "{refused}"
        );
        client
            .revoke_token(&token.token)
            .await
            .expect("a token revoked already is no error");
        let tokens = fake.scoped_tokens();
        assert_eq!(tokens.len(), 1);
        assert!(tokens[0].1.revoked, "the fake records the revoke");
        let log = fake.requests();
        assert!(
            log.contains(&"DELETE /installation/token -> 204".to_owned()),
            "{log:#?}"
        );
        assert!(
            log.contains(&"DELETE /installation/token -> 401".to_owned()),
            "{log:#?}"
        );
        assert_clean(&fake);
    })
    .await;
}

/// An App installed in two organisations has two hourly budgets: one spent holds back
/// none of the other's calls, and the gauge says each one's (review 15d, D10: one gauge
/// and one wait for all; the first installation's spent limit made the other's calls wait
/// for its reset, or fail).
#[tokio::test]
async fn one_installation_s_spent_rate_limit_holds_back_no_other() {
    within(30, async {
        let clock = manual_clock();
        let fake = fake(&clock).await;
        fake.install("elsewhere/api", 88);
        fake.set_role("elsewhere/api", "reader", "read");
        let client = app_client(&fake, &clock);
        let elsewhere: RepoFullName = "elsewhere/api".parse().expect("a repository");
        // Each installation's token, minted; then the first installation's limit is spent
        // for an hour (past what the policy waits).
        client
            .collaborator_permission(&repo(), "reader")
            .await
            .expect("the first");
        client
            .collaborator_permission(&elsewhere, "reader")
            .await
            .expect("the other");
        fake.fail_next(
            1,
            Some(("GET", "/repos/octo/demo/")),
            FaultKind::PrimaryLimit { reset_in: 3600 },
        );
        let spent = client
            .collaborator_permission(&repo(), "maintainer")
            .await
            .unwrap_err();
        assert!(matches!(spent, GithubError::RateLimited { .. }), "{spent}");

        // The other installation's calls go on at once, and the App's own too.
        let slept = clock.slept().len();
        assert_eq!(
            client
                .collaborator_permission(&elsewhere, "reader")
                .await
                .expect("not held back"),
            Permission::Read
        );
        assert_eq!(clock.slept().len(), slept, "nothing waited");
        let err = client
            .collaborator_permission(&repo(), "reader")
            .await
            .unwrap_err();
        assert!(
            matches!(err, GithubError::RateLimited { .. }),
            "the spent one still waits: {err}"
        );

        let mut gauges = String::new();
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register(
            "remaining",
            "",
            client.metrics().rate_limit_remaining.clone(),
        );
        prometheus_client::encoding::text::encode(&mut gauges, &registry).expect("encoded");
        for budget in ["installation/77", "installation/88", "app"] {
            assert!(
                gauges.contains(&format!("remaining{{budget=\"{budget}\"}}")),
                "{budget}: {gauges}"
            );
        }
        assert!(
            gauges.contains("remaining{budget=\"installation/77\"} 0"),
            "{gauges}"
        );
        assert_clean(&fake);
    })
    .await;
}

/// Sixteen deliveries at once for a repository the client has not seen, each asking the
/// same person's permission: one installation look-up, one token, one counted permission
/// read; the others are answered 304 (review 15c, F10: sixteen of each, all counted).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookups_at_once_for_one_repository_and_person_are_made_once() {
    within(30, async {
        let clock = manual_clock();
        let fake = fake(&clock).await;
        let client = Arc::new(app_client(&fake, &clock));
        let asked = (0..16).map(|_| {
            let client = client.clone();
            async move { client.collaborator_permission(&repo(), "maintainer").await }
        });
        for answer in futures_util::future::join_all(asked).await {
            assert_eq!(answer.expect("a permission"), Permission::Maintain);
        }
        assert_eq!(
            fake.count("GET", "/installation"),
            1,
            "{:#?}",
            fake.requests()
        );
        assert_eq!(
            fake.count("POST", "/access_tokens"),
            1,
            "{:#?}",
            fake.requests()
        );
        let counted = fake
            .requests()
            .iter()
            .filter(|r| r.contains("/permission") && !r.ends_with("-> 304"))
            .count();
        assert_eq!(counted, 1, "{:#?}", fake.requests());
        assert_clean(&fake);
    })
    .await;
}
