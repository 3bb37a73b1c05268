//! Exact-commit pinning, once for every trigger: no run starts at a moving ref.

use crate::github::event::WebhookEvent;

use super::{
    Decision, Deferral, Facts, Launch, RefCommit, Refusal, RefusalReason, Subject, ending_with,
};

/// Every run at an exact commit. A launch about an issue or a release gets the commit its
/// ref named when the delivery came (`facts.commit`: the default branch's head, the tag's
/// commit); until GitHub has said it, the delivery waits. A ref GitHub does not have, or
/// a pushed or released ref holding `#` (which git build contexts read as a separator),
/// starts nothing, and the requester is told. Without GitHub to ask (a preview) the run
/// is shown at the ref itself.
pub(super) fn pin(event: &WebhookEvent, out: Vec<Decision>, facts: &Facts<'_>) -> Vec<Decision> {
    let mut kept = Vec::with_capacity(out.len());
    let mut refused = None;
    let refuse = |launch: &Launch, reason: RefusalReason| {
        Decision::Refuse(Refusal {
            login: launch.requested_by.clone(),
            reason,
        })
    };
    for decision in out {
        let Decision::Launch(mut launch) = decision else {
            kept.push(decision);
            continue;
        };
        let git_ref = launch.subject.git_ref(event);
        let pushed_or_released = matches!(
            launch.subject,
            Subject::Ref { .. } | Subject::Release { .. }
        );
        if pushed_or_released && git_ref.contains('#') {
            refused.get_or_insert(refuse(&launch, RefusalReason::HashInRef { git_ref }));
            continue;
        }
        // Pull requests and pushes name their commit already; issues and releases are
        // pinned here.
        let pinned_here = matches!(
            launch.subject,
            Subject::Issue { .. } | Subject::Release { .. }
        );
        if !pinned_here || launch.subject.sha().is_some() {
            kept.push(Decision::Launch(launch));
            continue;
        }
        let pinned = match facts.commit {
            RefCommit::Unpinned => None,
            RefCommit::Known(commit) => Some(commit.clone()),
            RefCommit::NotAsked | RefCommit::Unanswered => {
                return vec![Decision::Defer(Deferral::CommitUnknown { git_ref })];
            }
            RefCommit::Missing => {
                refused.get_or_insert(refuse(&launch, RefusalReason::RefMissing { git_ref }));
                continue;
            }
        };
        if let Subject::Issue { sha, .. } | Subject::Release { sha, .. } = &mut launch.subject {
            *sha = pinned;
        }
        kept.push(Decision::Launch(launch));
    }
    match refused {
        Some(refused) => ending_with(kept, refused),
        None => kept,
    }
}
