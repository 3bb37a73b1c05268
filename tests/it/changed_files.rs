//! A `paths` filter on a pull request trigger, with GitHub: the service asks GitHub which
//! files the pull request changes, and starts the agent only when one of them matches.
//! Before, only `render --changed-files` and `serve --dry-run --changed-files` knew them: the
//! service never asked, so an agent with a `paths` filter never started (the README's own
//! example has one).

use crate::scenario::{OWNER, PullRequest, Scenario};

const PULL_REQUEST_TRIGGER: &str =
    "        actions: [opened, synchronize, reopened, ready_for_review]\n      comment:";

fn review_of_src_only() -> Scenario {
    Scenario::new().config(
        PULL_REQUEST_TRIGGER,
        "        actions: [opened, synchronize, reopened, ready_for_review]\n        paths: [\"src/**\"]\n        paths_ignore: [\"src/**/*.md\"]\n      comment:",
    )
}

#[tokio::test]
async fn a_review_of_src_runs_for_a_pull_request_that_changes_src_and_for_no_other() {
    crate::support::server::within(60, async {
        let s = review_of_src_only().start().await;
        s.gh.set_role(OWNER, "admin");

        // It changes the code: the review runs.
        let (_, code) =
            s.gh.open_pull_request(PullRequest::new(3).changing(&["README.md", "src/main.rs"]))
                .await;
        let review = code.expect_status(202).run();
        assert!(review.starts_with("review-"), "{review}");

        // It changes the docs, and a note beside the code: no review, and the answer says why.
        let (_, docs) = s
            .gh
            .open_pull_request(PullRequest::new(4).changing(&["docs/setup.md", "src/cli/NOTES.md"]))
            .await;
        assert!(docs.runs().is_empty(), "{}", docs.json());
        assert!(
            docs.json()
                .to_string()
                .contains("no changed file matches its `paths` filter"),
            "{}",
            docs.json()
        );

        // A file moved out of src still changed src.
        let (_, moved) = s
            .gh
            .open_pull_request(PullRequest::new(5).changing_by_rename("src/old.rs", "lib/new.rs"))
            .await;
        assert_eq!(moved.expect_status(202).runs().len(), 1, "{}", moved.json());
        s.end();
    })
    .await;
}

/// A pull request of 3,000 files (the most GitHub lists), `code_at` of them under src:
/// `docs/N.md` but for file number `code_at`, `src/main.rs`.
fn three_thousand_files_with_code_at(code_at: usize) -> Vec<String> {
    (1..=3000)
        .map(|n| {
            if n == code_at {
                "src/main.rs".to_owned()
            } else {
                format!("docs/{n}.md")
            }
        })
        .collect()
}

/// Issue 15, API economy: the changed files are read 100 a request only until the `paths`
/// filter is decided. Before, every push of a 3,000-file pull request cost 30 requests,
/// whatever its first page held; now a match on the first page costs one, and a match
/// on the 2,900th file still starts the review (29 requests).
#[tokio::test]
async fn the_changed_files_are_read_only_until_the_paths_filter_is_decided() {
    crate::support::server::within(90, async {
        let s = review_of_src_only().start().await;
        s.gh.set_role(OWNER, "admin");
        // (pull request, where its one file under src is (0: none), whether the review
        // runs, the requests for its files)
        for (number, code_at, runs, requests) in [
            // On the first page: one request.
            (3, 1, true, 1),
            // File 2,900: the review still runs, read to page 29.
            (4, 2900, true, 29),
            // None: every page is read, and the answer says none matched.
            (5, 0, false, 30),
        ] {
            let files = three_thousand_files_with_code_at(code_at);
            let files: Vec<&str> = files.iter().map(String::as_str).collect();
            let (_, opened) =
                s.gh.open_pull_request(PullRequest::new(number).changing(&files))
                    .await;
            let answer = opened.json().to_string();
            assert_eq!(opened.runs().len(), usize::from(runs), "{answer}");
            if !runs {
                assert!(
                    answer.contains("no changed file matches its `paths` filter"),
                    "{answer}"
                );
            }
            let read = s.gh.fake.count("GET", &format!("/pulls/{number}/files?"));
            assert_eq!(read, requests, "#{number}: {:#?}", s.gh.fake.requests());
        }
        s.end();
    })
    .await;
}

/// Outside review 15b, B1: a stranger's fork pull request of 3,000 files, none under src,
/// cost 30 requests a push before anything judged whether its code could run at all (under
/// `never` too): the installation's 5,000 an hour, shared by every repository, in 170
/// pushes. Its files are now read only at a head that may run: none before a maintainer
/// approves that head, and then as for anyone's.
#[tokio::test]
async fn a_fork_s_changed_files_are_read_only_at_a_head_that_may_run() {
    crate::support::server::within(90, async {
        const FORK_HEAD: &str = "0123456789abcdef0123456789abcdef01234567";
        let s = review_of_src_only().start().await;
        s.gh.set_role("writer1", "write");
        s.gh.set_association("writer1", "COLLABORATOR");
        s.gh.set_role("forker", "read");
        let files = three_thousand_files_with_code_at(2900);
        let files: Vec<&str> = files.iter().map(String::as_str).collect();
        let (pr, opened) =
            s.gh.open_pull_request(
                PullRequest::new(6)
                    .in_fork("forker")
                    .at(FORK_HEAD)
                    .changing(&files),
            )
            .await;
        assert!(opened.runs().is_empty(), "{}", opened.json());
        let read = || s.gh.fake.count("GET", "/pulls/6/files?");
        assert_eq!(read(), 0, "{:#?}", s.gh.fake.requests());

        // A maintainer approves the head: the files are read until the approval's plan
        // has its filter decided (page 29, as for anyone's: issue 12, review 12w R33; it
        // read all 30 while the approval's facts were gathered by hand), and the review
        // runs. Before, an approval never read them, and an agent with a `paths` filter
        // never started by one.
        let approved =
            s.gh.comment_as("writer1", pr, &format!("/agent approve {FORK_HEAD}"))
                .await;
        assert_eq!(
            approved.expect_status(202).runs().len(),
            1,
            "{}",
            approved.json()
        );
        assert_eq!(read(), 29, "{:#?}", s.gh.fake.requests());
        s.end();
    })
    .await;
}
