//! Per (extension, action) metrics, rendered in the Prometheus text exposition format.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// Upper bounds (seconds) of the latency histogram buckets.
const BUCKETS: [f64; 18] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    300.0, 900.0, 1800.0,
];

#[derive(Debug, Default, Clone)]
struct ActionMetrics {
    bucket_counts: [u64; BUCKETS.len()],
    count: u64,
    sum_seconds: f64,
    queued: i64,
    in_flight: i64,
    timeouts: u64,
    kills: u64,
    signaled: u64,
    spawn_failures: u64,
    nonzero_exits: u64,
    bad_output: u64,
}

/// How a run ended, for counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    Success,
    SpawnFailure,
    TimedOut,
    Signaled,
    NonZeroExit,
    BadOutput,
}

#[derive(Debug, Default)]
pub(crate) struct Metrics {
    by_extension: Mutex<BTreeMap<String, BTreeMap<String, ActionMetrics>>>,
}

impl Metrics {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, BTreeMap<String, ActionMetrics>>> {
        // The map holds plain counters; a panic while holding the lock cannot leave it inconsistent
        // in a way that matters, so keep going with the poisoned value.
        self.by_extension
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn update(&self, extension: &str, action: &str, change: impl FnOnce(&mut ActionMetrics)) {
        let mut by_extension = self.lock();
        let by_action = match by_extension.get_mut(extension) {
            Some(by_action) => by_action,
            None => by_extension.entry(extension.to_owned()).or_default(),
        };
        let entry = match by_action.get_mut(action) {
            Some(entry) => entry,
            None => by_action.entry(action.to_owned()).or_default(),
        };
        change(entry);
    }

    /// Count a run as queued until the returned guard is dropped.
    pub(crate) fn queued(self: &Arc<Self>, extension: &str, action: &str) -> GaugeGuard {
        self.update(extension, action, |entry| entry.queued += 1);
        GaugeGuard {
            metrics: Arc::clone(self),
            extension: extension.to_owned(),
            action: action.to_owned(),
            gauge: Gauge::Queued,
        }
    }

    /// Count a run as in flight until the returned guard is dropped.
    pub(crate) fn in_flight(self: &Arc<Self>, extension: &str, action: &str) -> GaugeGuard {
        self.update(extension, action, |entry| entry.in_flight += 1);
        GaugeGuard {
            metrics: Arc::clone(self),
            extension: extension.to_owned(),
            action: action.to_owned(),
            gauge: Gauge::InFlight,
        }
    }

    /// Record the end of a run; `elapsed` is `None` when nothing was started.
    pub(crate) fn record(
        &self,
        extension: &str,
        action: &str,
        ending: Ending,
        elapsed: Option<Duration>,
        kills: u64,
    ) {
        self.update(extension, action, |entry| {
            if let Some(elapsed) = elapsed {
                let seconds = elapsed.as_secs_f64();
                entry.count += 1;
                entry.sum_seconds += seconds;
                if let Some(index) = BUCKETS.iter().position(|bound| seconds <= *bound) {
                    entry.bucket_counts[index] += 1;
                }
            }
            entry.kills += kills;
            match ending {
                Ending::Success => {}
                Ending::SpawnFailure => entry.spawn_failures += 1,
                Ending::TimedOut => entry.timeouts += 1,
                Ending::Signaled => entry.signaled += 1,
                Ending::NonZeroExit => entry.nonzero_exits += 1,
                Ending::BadOutput => entry.bad_output += 1,
            }
        });
    }

    pub(crate) fn render(&self) -> String {
        let snapshot = self.lock().clone();
        let rows: Vec<(String, &ActionMetrics)> = snapshot
            .iter()
            .flat_map(|(extension, by_action)| {
                by_action.iter().map(move |(action, entry)| {
                    (
                        format!(
                            "extension=\"{}\",action=\"{}\"",
                            escape_label(extension),
                            escape_label(action)
                        ),
                        entry,
                    )
                })
            })
            .collect();
        let mut text = String::new();

        header(
            &mut text,
            "trellis_extension_action_duration_seconds",
            "histogram",
            "Wall-clock time of extension runs, from spawn to the end of the run.",
        );
        for (labels, entry) in &rows {
            let mut cumulative = 0;
            for (bound, bucket_count) in BUCKETS.iter().zip(entry.bucket_counts.iter()) {
                cumulative += bucket_count;
                let _ = writeln!(text, "trellis_extension_action_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}");
            }
            let _ = writeln!(
                text,
                "trellis_extension_action_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                entry.count
            );
            let _ = writeln!(
                text,
                "trellis_extension_action_duration_seconds_sum{{{labels}}} {}",
                entry.sum_seconds
            );
            let _ = writeln!(
                text,
                "trellis_extension_action_duration_seconds_count{{{labels}}} {}",
                entry.count
            );
        }

        let series: [Series; 8] = [
            ("trellis_extension_actions_queued", "gauge", "Runs waiting for a concurrency slot.", |m| m.queued.to_string()),
            ("trellis_extension_actions_in_flight", "gauge", "Runs holding a concurrency slot.", |m| m.in_flight.to_string()),
            ("trellis_extension_action_timeouts_total", "counter", "Runs stopped because their timeout passed.", |m| m.timeouts.to_string()),
            (
                "trellis_extension_action_kills_total",
                "counter",
                "SIGKILLs sent to a process group: after the grace period of a timeout, or to descendants still holding the output pipes after the extension exited.",
                |m| m.kills.to_string(),
            ),
            ("trellis_extension_action_signaled_total", "counter", "Runs that ended by a signal not sent because of a timeout.", |m| m.signaled.to_string()),
            ("trellis_extension_action_spawn_failures_total", "counter", "Runs that could not start: unusable executable, payload file or spawn failure.", |m| m.spawn_failures.to_string()),
            ("trellis_extension_action_nonzero_exits_total", "counter", "Runs that exited with a non-zero code.", |m| m.nonzero_exits.to_string()),
            ("trellis_extension_action_bad_output_total", "counter", "Runs that exited 0 with unusable output.", |m| m.bad_output.to_string()),
        ];
        for (name, kind, help, value) in series {
            header(&mut text, name, kind, help);
            for (labels, entry) in &rows {
                let _ = writeln!(text, "{name}{{{labels}}} {}", value(entry));
            }
        }
        text
    }
}

/// A gauge or counter: name, type, help text and how to read its value.
type Series = (
    &'static str,
    &'static str,
    &'static str,
    fn(&ActionMetrics) -> String,
);

fn header(text: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(text, "# HELP {name} {help}");
    let _ = writeln!(text, "# TYPE {name} {kind}");
}

fn escape_label(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            '"' => escaped.push_str("\\\""),
            '\n' => escaped.push_str("\\n"),
            c => escaped.push(c),
        }
    }
    escaped
}

#[derive(Debug, Clone, Copy)]
enum Gauge {
    Queued,
    InFlight,
}

/// Decrements a gauge when dropped, so cancelled runs are accounted for too.
#[derive(Debug)]
pub(crate) struct GaugeGuard {
    metrics: Arc<Metrics>,
    extension: String,
    action: String,
    gauge: Gauge,
}

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        let gauge = self.gauge;
        self.metrics
            .update(&self.extension, &self.action, |entry| match gauge {
                Gauge::Queued => entry.queued -= 1,
                Gauge::InFlight => entry.in_flight -= 1,
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_histogram_and_counters() {
        let metrics = Arc::new(Metrics::default());
        {
            let _running = metrics.in_flight("px\"1", "start");
            metrics.record(
                "px\"1",
                "start",
                Ending::Success,
                Some(Duration::from_millis(3)),
                0,
            );
            metrics.record(
                "px\"1",
                "start",
                Ending::TimedOut,
                Some(Duration::from_secs(20)),
                1,
            );
            assert!(metrics.render().contains(
                "trellis_extension_actions_in_flight{extension=\"px\\\"1\",action=\"start\"} 1"
            ));
        }
        let text = metrics.render();
        assert!(text.contains("trellis_extension_action_duration_seconds_bucket{extension=\"px\\\"1\",action=\"start\",le=\"0.005\"} 1"));
        assert!(text.contains("trellis_extension_action_duration_seconds_bucket{extension=\"px\\\"1\",action=\"start\",le=\"30\"} 2"));
        assert!(text.contains("trellis_extension_action_duration_seconds_count{extension=\"px\\\"1\",action=\"start\"} 2"));
        assert!(text.contains(
            "trellis_extension_action_timeouts_total{extension=\"px\\\"1\",action=\"start\"} 1"
        ));
        assert!(text.contains(
            "trellis_extension_action_kills_total{extension=\"px\\\"1\",action=\"start\"} 1"
        ));
        assert!(text.contains(
            "trellis_extension_actions_in_flight{extension=\"px\\\"1\",action=\"start\"} 0"
        ));
    }
}
