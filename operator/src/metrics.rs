//! The operator's Prometheus metrics: reconciles and their errors by resource kind and error
//! category, and the disruptive operations in progress per cluster. Plain counters behind a
//! lock, written out in the text format; nothing here is on a hot path.

use std::collections::BTreeMap;
use std::fmt::Write;

use parking_lot::Mutex;

/// Counters and gauges.
#[derive(Debug, Default)]
pub struct Metrics {
    reconciles: Mutex<BTreeMap<String, u64>>,
    errors: Mutex<BTreeMap<(String, String), u64>>,
    operations: Mutex<BTreeMap<String, String>>,
    steps: Mutex<BTreeMap<String, u64>>,
}

impl Metrics {
    pub fn reconciled(&self, kind: &str) {
        *self.reconciles.lock().entry(kind.to_string()).or_default() += 1;
    }
    pub fn failed(&self, kind: &str, category: &str) {
        *self
            .errors
            .lock()
            .entry((kind.to_string(), category.to_string()))
            .or_default() += 1;
    }
    /// Records the step a cluster is in (None: none in progress).
    pub fn operation(&self, cluster: &str, op: Option<&str>) {
        let mut ops = self.operations.lock();
        match op {
            Some(op) => {
                ops.insert(cluster.to_string(), op.to_string());
            }
            None => {
                ops.remove(cluster);
            }
        }
    }
    /// Counts an applied step by its kind (create_pod, drain, upgrade, ...).
    pub fn step(&self, kind: &str) {
        *self.steps.lock().entry(kind.to_string()).or_default() += 1;
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP quiver_operator_reconciles_total Reconciles run, by resource kind."
        );
        let _ = writeln!(out, "# TYPE quiver_operator_reconciles_total counter");
        for (kind, n) in self.reconciles.lock().iter() {
            let _ = writeln!(out, "quiver_operator_reconciles_total{{kind=\"{kind}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "# HELP quiver_operator_reconcile_errors_total Failed reconciles, by kind and error category."
        );
        let _ = writeln!(out, "# TYPE quiver_operator_reconcile_errors_total counter");
        for ((kind, cat), n) in self.errors.lock().iter() {
            let _ = writeln!(
                out,
                "quiver_operator_reconcile_errors_total{{kind=\"{kind}\",category=\"{cat}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP quiver_operator_steps_total Cluster steps applied, by step."
        );
        let _ = writeln!(out, "# TYPE quiver_operator_steps_total counter");
        for (step, n) in self.steps.lock().iter() {
            let _ = writeln!(out, "quiver_operator_steps_total{{step=\"{step}\"}} {n}");
        }
        let ops = self.operations.lock();
        let _ = writeln!(
            out,
            "# HELP quiver_operator_operations_in_progress Clusters with a step in progress."
        );
        let _ = writeln!(out, "# TYPE quiver_operator_operations_in_progress gauge");
        let _ = writeln!(out, "quiver_operator_operations_in_progress {}", ops.len());
        for (cluster, op) in ops.iter() {
            let op = op.replace('"', "'");
            let _ = writeln!(
                out,
                "quiver_operator_operation{{cluster=\"{cluster}\",operation=\"{op}\"}} 1"
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_by_label() {
        let m = Metrics::default();
        m.reconciled("VectorCluster");
        m.reconciled("VectorCluster");
        m.failed("VectorCluster", "engine");
        m.operation("ns/vec", Some("drain peer 7"));
        let text = m.render();
        assert!(text.contains("quiver_operator_reconciles_total{kind=\"VectorCluster\"} 2"));
        assert!(text.contains("category=\"engine\"} 1"));
        assert!(text.contains("quiver_operator_operations_in_progress 1"));
        m.operation("ns/vec", None);
        assert!(m.render().contains("quiver_operator_operations_in_progress 0"));
    }
}
