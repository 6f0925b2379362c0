//! Server-wide Prometheus figures that belong to no one component: API requests and their
//! latency per command and error code, build information and uptime. Instances by state,
//! extension readiness, jobs, the runner and the reconcilers add their own lines (see the
//! `/metrics` handler).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A component that adds its own lines to `/metrics` once it runs (the reconcilers register
/// theirs with [`crate::app::App::add_metrics_source`] when they start).
pub trait MetricsSource: Send + Sync {
    fn metrics_text(&self) -> String;
}

impl crate::app::App {
    /// Add `source`'s lines to this server's `/metrics` from now on.
    pub fn add_metrics_source(&self, source: std::sync::Arc<dyn MetricsSource>) {
        self.metrics_sources
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(source);
    }

    /// The lines of every registered source, in registration order.
    pub fn sources_metrics_text(&self) -> String {
        let sources = self
            .metrics_sources
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        sources.iter().map(|s| s.metrics_text()).collect()
    }
}

/// Upper bounds (seconds) of the request-latency histogram buckets.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Debug, Default, Clone)]
struct Histogram {
    /// Cumulative counts per bucket of [`BUCKETS`].
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        for (i, bound) in BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                self.buckets[i] += 1;
            }
        }
        self.count += 1;
        self.sum += seconds;
    }
}

/// API request counts and latencies.
#[derive(Debug)]
pub struct ApiMetrics {
    started: Instant,
    /// (command, errorcode or 0) → request count.
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    /// command → latency histogram.
    latency: Mutex<BTreeMap<String, Histogram>>,
}

impl Default for ApiMetrics {
    fn default() -> Self {
        ApiMetrics {
            started: Instant::now(),
            requests: Mutex::new(BTreeMap::new()),
            latency: Mutex::new(BTreeMap::new()),
        }
    }
}

impl ApiMetrics {
    /// Count one answered request: its command (as the catalog names it, or `unknown`), the
    /// CloudStack error code it failed with (0 on success) and how long it took.
    pub fn record(&self, command: &str, code: u16, elapsed: Duration) {
        if let Ok(mut r) = self.requests.lock() {
            *r.entry((command.to_string(), code)).or_default() += 1;
        }
        if let Ok(mut l) = self.latency.lock() {
            l.entry(command.to_string())
                .or_default()
                .observe(elapsed.as_secs_f64());
        }
    }

    /// Prometheus lines: requests, latency, build info, uptime.
    pub fn text(&self) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP trellis_build_info The running build\n# TYPE trellis_build_info gauge\n",
        );
        let _ = writeln!(
            out,
            "trellis_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        out.push_str("# HELP trellis_uptime_seconds Time since this server started\n# TYPE trellis_uptime_seconds gauge\n");
        let _ = writeln!(
            out,
            "trellis_uptime_seconds {:.3}",
            self.started.elapsed().as_secs_f64()
        );
        out.push_str("# HELP trellis_api_requests_total API requests by command and CloudStack error code (0: success)\n# TYPE trellis_api_requests_total counter\n");
        if let Ok(r) = self.requests.lock() {
            for ((command, code), n) in r.iter() {
                let _ = writeln!(
                    out,
                    "trellis_api_requests_total{{command=\"{command}\",code=\"{code}\"}} {n}"
                );
            }
        }
        out.push_str("# HELP trellis_api_request_duration_seconds API request latency by command\n# TYPE trellis_api_request_duration_seconds histogram\n");
        if let Ok(l) = self.latency.lock() {
            for (command, h) in l.iter() {
                for (bound, n) in BUCKETS.iter().zip(h.buckets.iter()) {
                    let _ = writeln!(
                        out,
                        "trellis_api_request_duration_seconds_bucket{{command=\"{command}\",le=\"{bound}\"}} {n}"
                    );
                }
                let _ = writeln!(
                    out,
                    "trellis_api_request_duration_seconds_bucket{{command=\"{command}\",le=\"+Inf\"}} {}",
                    h.count
                );
                let _ = writeln!(
                    out,
                    "trellis_api_request_duration_seconds_sum{{command=\"{command}\"}} {:.6}",
                    h.sum
                );
                let _ = writeln!(
                    out,
                    "trellis_api_request_duration_seconds_count{{command=\"{command}\"}} {}",
                    h.count
                );
            }
        }
        out
    }
}

impl crate::app::App {
    /// Prometheus lines for what the database holds: instances by state, and whether each
    /// extension is ready (its executable present and identical on every live server) and
    /// enabled.
    pub async fn state_metrics_text(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP trellis_instances Instances (not expunged) by state\n# TYPE trellis_instances gauge\n");
        match self.store.instance_count_by_state().await {
            Ok(counts) => {
                for (state, n) in counts {
                    let _ = writeln!(out, "trellis_instances{{state=\"{state}\"}} {n}");
                }
            }
            Err(e) => {
                tracing::warn!(error = %trellis_model::ErrorChain(&e), "metrics: instance counts unavailable")
            }
        }
        out.push_str("# HELP trellis_extension_ready 1 when the extension's executable is present and identical on every live server\n# TYPE trellis_extension_ready gauge\n");
        out.push_str("# HELP trellis_extension_enabled 1 when the extension is enabled\n# TYPE trellis_extension_enabled gauge\n");
        match self.store.extension_all().await {
            Ok(extensions) => {
                for e in &extensions {
                    let name = e.name.replace(['"', '\\', '\n'], "_");
                    let _ = writeln!(
                        out,
                        "trellis_extension_ready{{extension=\"{name}\"}} {}",
                        u8::from(e.path_ready)
                    );
                    let _ = writeln!(
                        out,
                        "trellis_extension_enabled{{extension=\"{name}\"}} {}",
                        u8::from(e.state == trellis_model::extension::ExtensionState::Enabled)
                    );
                }
            }
            Err(e) => {
                tracing::warn!(error = %trellis_model::ErrorChain(&e), "metrics: extensions unavailable")
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_per_command_and_code_and_timed_in_buckets() {
        let m = ApiMetrics::default();
        m.record("listZones", 0, Duration::from_micros(800));
        m.record("listZones", 0, Duration::from_millis(30));
        m.record("deployVirtualMachine", 431, Duration::from_millis(3));
        let t = m.text();
        assert!(
            t.contains("trellis_api_requests_total{command=\"listZones\",code=\"0\"} 2"),
            "{t}"
        );
        assert!(t.contains(
            "trellis_api_requests_total{command=\"deployVirtualMachine\",code=\"431\"} 1"
        ));
        assert!(t.contains(
            "trellis_api_request_duration_seconds_bucket{command=\"listZones\",le=\"0.001\"} 1"
        ));
        assert!(t.contains(
            "trellis_api_request_duration_seconds_bucket{command=\"listZones\",le=\"0.05\"} 2"
        ));
        assert!(t.contains("trellis_api_request_duration_seconds_count{command=\"listZones\"} 2"));
        assert!(t.contains("trellis_build_info{version="));
        assert!(t.contains("trellis_uptime_seconds "));
    }
}
