//! Driver tests with small test tasks on a test context (real time, short periods).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{watch, Notify};
use tokio::time::Instant;

use super::{render_metrics, spawn, Reconciler, Spawned, TickStatus};

/// What the test tasks work on and record into.
#[derive(Default)]
struct Probe {
    period_ms: AtomicU64,
    tick_ms: AtomicU64,
    ticks: AtomicUsize,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    starts: Mutex<Vec<Instant>>,
    notify: Notify,
}

impl Probe {
    fn new(period: Duration, tick: Duration) -> Arc<Probe> {
        let probe = Probe::default();
        probe
            .period_ms
            .store(period.as_millis() as u64, Ordering::SeqCst);
        probe
            .tick_ms
            .store(tick.as_millis() as u64, Ordering::SeqCst);
        Arc::new(probe)
    }

    fn ticks(&self) -> usize {
        self.ticks.load(Ordering::SeqCst)
    }
}

/// How a test task's ticks end.
#[derive(Clone, Copy)]
enum Behaviour {
    Succeed,
    /// Odd-numbered ticks (the 1st, 3rd, …) fail.
    FailOdd,
    /// The first tick panics, the others succeed.
    PanicFirst,
}

struct TestTask(Behaviour);

impl Reconciler<Probe> for TestTask {
    fn name(&self) -> &'static str {
        "test"
    }

    fn period(&self, probe: &Probe) -> Duration {
        Duration::from_millis(probe.period_ms.load(Ordering::SeqCst))
    }

    fn activation<'a>(&self, probe: &'a Probe) -> Option<&'a Notify> {
        Some(&probe.notify)
    }

    async fn tick(&self, probe: &Arc<Probe>) -> TickStatus {
        probe.starts.lock().unwrap().push(Instant::now());
        let now_in_flight = probe.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        probe
            .max_in_flight
            .fetch_max(now_in_flight, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(probe.tick_ms.load(Ordering::SeqCst))).await;
        probe.in_flight.fetch_sub(1, Ordering::SeqCst);
        let n = probe.ticks.fetch_add(1, Ordering::SeqCst) + 1;
        match self.0 {
            Behaviour::Succeed => TickStatus::Ok(format!("tick {n}")),
            Behaviour::FailOdd if n % 2 == 1 => TickStatus::Error(format!("tick {n} failed")),
            Behaviour::FailOdd => TickStatus::Ok(format!("tick {n}")),
            Behaviour::PanicFirst if n == 1 => panic!("test tick panics"),
            Behaviour::PanicFirst => TickStatus::Ok(format!("tick {n}")),
        }
    }
}

const HOUR: Duration = Duration::from_secs(3600);

fn start(probe: &Arc<Probe>, behaviour: Behaviour) -> (Spawned, watch::Sender<bool>) {
    let (stop, shutdown) = watch::channel(false);
    (spawn(probe.clone(), TestTask(behaviour), shutdown), stop)
}

async fn wait_until(what: &str, check: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn stop(spawned: Spawned, stop: watch::Sender<bool>) {
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), spawned.handle)
        .await
        .expect("the driver stops on shutdown")
        .unwrap();
}

#[tokio::test]
async fn the_period_is_honoured() {
    let period = Duration::from_millis(100);
    let probe = Probe::new(period, Duration::ZERO);
    let started = Instant::now();
    let (spawned, tx) = start(&probe, Behaviour::Succeed);
    wait_until("three ticks ran", || probe.ticks() >= 3).await;
    stop(spawned, tx).await;
    let starts = probe.starts.lock().unwrap().clone();
    assert!(
        starts[0] - started >= period,
        "no tick before the first period"
    );
    for pair in starts.windows(2) {
        assert!(pair[1] - pair[0] >= period, "ticks are a period apart");
    }
}

#[tokio::test]
async fn explicit_activation_runs_at_once() {
    let probe = Probe::new(HOUR, Duration::ZERO);
    let (spawned, tx) = start(&probe, Behaviour::Succeed);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(probe.ticks(), 0, "no tick before the hour-long period");
    let activated = Instant::now();
    spawned.activator.activate();
    wait_until("the activated tick ran", || probe.ticks() == 1).await;
    assert!(activated.elapsed() < Duration::from_secs(1));
    // The context's own Notify (like `App::readiness_notify`) activates it too.
    probe.notify.notify_one();
    wait_until("the notified tick ran", || probe.ticks() == 2).await;
    stop(spawned, tx).await;
}

#[tokio::test]
async fn a_changed_period_applies_within_a_second() {
    let probe = Probe::new(HOUR, Duration::ZERO);
    let (spawned, tx) = start(&probe, Behaviour::Succeed);
    tokio::time::sleep(Duration::from_millis(50)).await;
    probe.period_ms.store(10, Ordering::SeqCst);
    let changed = Instant::now();
    wait_until("a tick ran on the new period", || probe.ticks() >= 1).await;
    assert!(changed.elapsed() < Duration::from_secs(3));
    stop(spawned, tx).await;
}

#[tokio::test]
async fn shutdown_stops_the_task() {
    let probe = Probe::new(Duration::from_millis(10), Duration::ZERO);
    let (spawned, tx) = start(&probe, Behaviour::Succeed);
    wait_until("a tick ran", || probe.ticks() >= 1).await;
    stop(spawned, tx).await;
    let after_stop = probe.ticks();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(probe.ticks(), after_stop, "no tick after shutdown");
}

#[tokio::test]
async fn shutdown_lets_a_running_tick_finish() {
    let probe = Probe::new(HOUR, Duration::from_millis(200));
    let (spawned, tx) = start(&probe, Behaviour::Succeed);
    spawned.activator.activate();
    wait_until("the tick started", || {
        probe.in_flight.load(Ordering::SeqCst) == 1
    })
    .await;
    stop(spawned, tx).await;
    assert_eq!(
        probe.ticks(),
        1,
        "the started tick finished before the stop"
    );
}

#[tokio::test]
async fn ticks_never_overlap() {
    let probe = Probe::new(Duration::from_millis(1), Duration::from_millis(30));
    let (spawned, tx) = start(&probe, Behaviour::Succeed);
    for _ in 0..20 {
        spawned.activator.activate();
        probe.notify.notify_one();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    wait_until("several ticks ran", || probe.ticks() >= 4).await;
    stop(spawned, tx).await;
    assert_eq!(probe.max_in_flight.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn activations_during_a_tick_coalesce_into_one_more_tick() {
    let probe = Probe::new(HOUR, Duration::from_millis(100));
    let (spawned, tx) = start(&probe, Behaviour::Succeed);
    spawned.activator.activate();
    wait_until("the tick started", || {
        probe.in_flight.load(Ordering::SeqCst) == 1
    })
    .await;
    for _ in 0..5 {
        spawned.activator.activate();
    }
    wait_until("the follow-up tick ran", || probe.ticks() == 2).await;
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(
        probe.ticks(),
        2,
        "five activations during a tick make one tick"
    );
    stop(spawned, tx).await;
}

#[tokio::test]
async fn the_status_is_recorded() {
    let probe = Probe::new(HOUR, Duration::from_millis(20));
    let (spawned, tx) = start(&probe, Behaviour::Succeed);
    let before = spawned.status.snapshot();
    assert_eq!(before.last_finished, None);
    assert_eq!((before.runs_ok, before.runs_error), (0, 0));
    spawned.activator.activate();
    wait_until("the tick was recorded", || {
        spawned.status.snapshot().runs_ok == 1
    })
    .await;
    let after = spawned.status.snapshot();
    assert!(!after.running);
    assert!(after.last_started.is_some() && after.last_finished.is_some());
    assert!(after.last_duration >= Duration::from_millis(20));
    assert_eq!(after.last_outcome, Some(TickStatus::Ok("tick 1".into())));
    let text = render_metrics(std::slice::from_ref(&spawned.status));
    assert!(text.contains("# TYPE trellis_reconciler_runs_total counter\n"));
    assert!(text.contains("trellis_reconciler_runs_total{task=\"test\",outcome=\"ok\"} 1\n"));
    assert!(text.contains("trellis_reconciler_runs_total{task=\"test\",outcome=\"error\"} 0\n"));
    assert!(text.contains("trellis_reconciler_last_duration_seconds{task=\"test\"} 0.0"));
    let stamp = text
        .lines()
        .find_map(|l| {
            l.strip_prefix("trellis_reconciler_last_run_timestamp_seconds{task=\"test\"} ")
        })
        .expect("a timestamp line");
    assert!(stamp.parse::<f64>().unwrap() > 1.7e9);
    stop(spawned, tx).await;
}

#[tokio::test]
async fn a_failing_tick_is_counted_and_followed_by_more_ticks() {
    let probe = Probe::new(Duration::from_millis(10), Duration::ZERO);
    let (spawned, tx) = start(&probe, Behaviour::FailOdd);
    wait_until("four ticks ran", || {
        let s = spawned.status.snapshot();
        s.runs_ok + s.runs_error >= 4
    })
    .await;
    let status = spawned.status.clone();
    stop(spawned, tx).await;
    let s = status.snapshot();
    // Odd ticks fail: of n ticks, ⌈n/2⌉ failed and ⌊n/2⌋ succeeded.
    let n = probe.ticks() as u64;
    assert_eq!((s.runs_error, s.runs_ok), (n.div_ceil(2), n / 2));
    let last = if n % 2 == 1 {
        TickStatus::Error(format!("tick {n} failed"))
    } else {
        TickStatus::Ok(format!("tick {n}"))
    };
    assert_eq!(s.last_outcome, Some(last));
}

#[tokio::test]
async fn a_panicking_tick_is_counted_as_an_error() {
    let probe = Probe::new(Duration::from_millis(10), Duration::ZERO);
    let (spawned, tx) = start(&probe, Behaviour::PanicFirst);
    wait_until("a tick after the panic succeeded", || {
        spawned.status.snapshot().runs_ok >= 1
    })
    .await;
    let s = spawned.status.snapshot();
    assert_eq!(s.runs_error, 1);
    stop(spawned, tx).await;
}
