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
