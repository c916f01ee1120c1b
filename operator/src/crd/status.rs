//! What every resource's status shares: `metav1.Condition`s (`Ready` always, `Reconciling` and
//! `Stalled` as kstatus and Flux read them) kept deterministic, so an unchanged state writes an
//! unchanged status and never triggers another reconcile.

pub use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

/// The resource serves as declared.
pub const READY: &str = "Ready";
/// The operator is working towards the declared state.
pub const RECONCILING: &str = "Reconciling";
/// The declared state cannot be reached without a change by the user (the reason says why).
pub const STALLED: &str = "Stalled";

/// Sets condition `kind` in `conditions`: its transition time moves only when its status does.
pub fn set_condition(
    conditions: &mut Vec<Condition>,
    kind: &str,
    status: bool,
    reason: &str,
    message: &str,
    generation: Option<i64>,
    now: &Time,
) {
    let status = if status { "True" } else { "False" }.to_string();
    let next = |last_transition_time| Condition {
        type_: kind.to_string(),
        status: status.clone(),
        reason: reason.to_string(),
        message: message.to_string(),
        observed_generation: generation,
        last_transition_time,
    };
    match conditions.iter_mut().find(|c| c.type_ == kind) {
        Some(c) => {
            let since = if c.status == status {
                c.last_transition_time.clone()
            } else {
                now.clone()
            };
            *c = next(since);
        }
        None => conditions.push(next(now.clone())),
    }
    conditions.sort_by(|a, b| a.type_.cmp(&b.type_));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Time {
        Time(k8s_openapi::jiff::Timestamp::from_second(secs).unwrap_or_default())
    }

    #[test]
    fn transition_time_moves_only_with_the_status() {
        let mut c = Vec::new();
        set_condition(
            &mut c,
            READY,
            false,
            "Creating",
            "pods starting",
            Some(1),
            &at(10),
        );
        set_condition(&mut c, READY, false, "Creating", "2 of 3 ready", Some(1), &at(20));
        assert_eq!(c[0].last_transition_time, at(10));
        assert_eq!(c[0].message, "2 of 3 ready");
        set_condition(&mut c, READY, true, "Ready", "3 of 3 ready", Some(2), &at(30));
        assert_eq!(c[0].last_transition_time, at(30));
        assert_eq!(c[0].observed_generation, Some(2));
        set_condition(&mut c, STALLED, false, "None", "", Some(2), &at(30));
        set_condition(&mut c, RECONCILING, false, "None", "", Some(2), &at(30));
        let kinds: Vec<&str> = c.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(
            kinds,
            vec![READY, RECONCILING, STALLED],
            "sorted: no churn in status"
        );
    }
}
