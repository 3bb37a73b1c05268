//! Runs a newer agentpods recorded or carried on (a rolling update, or a rollback), which
//! this binary leaves exactly as they are, for the newer controller: the controller does
//! not reconcile them, and the queue leaves them out (`super::queue`).

use crate::agentrun::source;
use crate::agentrun::{AgentRun, Conclusion, Phase};

/// The version of `run`'s source when a newer agentpods wrote it: a number above the
/// versions this binary reads. A version that is not a number, like a source that is not
/// as its version wrote it, is malformed, not newer: rendering fails the run, saying why.
fn newer_source(run: &AgentRun) -> Option<u64> {
    run.spec
        .source
        .version()
        .ok()
        .filter(|v| *v > source::CURRENT)
}

/// Why `run` is a newer agentpods's to carry on, when it is: its source is of a version
/// above those this binary reads ([`newer_source`]), or its status holds a phase or a
/// conclusion this binary does not know (a newer controller wrote them: a rolling upgrade,
/// or a rollback). Such a run still reads, so the watch keeps seeing every other run; it is
/// left exactly as it is, for the newer controller.
pub(super) fn left_for_newer(run: &AgentRun) -> Option<String> {
    if let Some(version) = newer_source(run) {
        return Some(format!(
            "its spec.source is version {version}, which a newer agentpods recorded \
             (this one reads versions 1 to {}): left untouched for the newer controller",
            source::CURRENT
        ));
    }
    let status = run.status.as_ref()?;
    let unknown = if let Some(Phase::Unknown(phase)) = &status.phase {
        format!("status.phase {phase:?}")
    } else if let Some(Conclusion::Unknown(conclusion)) =
        status.result.as_ref().map(|r| &r.conclusion)
    {
        format!("status.result.conclusion {conclusion:?}")
    } else if let Some(Phase::Unknown(phase)) =
        status.report.as_ref().and_then(|r| r.reported.as_ref())
    {
        format!("status.report.reported {phase:?}")
    } else {
        return None;
    };
    Some(format!(
        "its {unknown} is one a newer agentpods wrote, which this one does not know: left \
         untouched for the newer controller"
    ))
}
