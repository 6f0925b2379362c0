//! Overhead of the extension runner against a bare spawn, and no-op throughput.
//!
//! Run with `cargo run --release -p trellis-ext-runner --example runner_bench`. Measures, in one
//! process and interleaved so that machine noise hits all variants alike:
//!
//! - latency (p50/p99) of a bare tokio spawn + wait of `/bin/true` (stdio to /dev/null), of the
//!   same with stdout and stderr piped and read (`output()`), and of `Runner::run` of it;
//! - no-op actions per second through `Runner::run` at concurrency 2, 4 and 8, next to the bare
//!   spawn at the same concurrency.
//!
//! Optional arguments: `[rounds] [throughput-actions]` (defaults 10 and 3000).

use anyhow::Context;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use trellis_ext_runner::{Invocation, Runner, RunnerConfig};

const NO_OP: &str = "/bin/true";
const BATCH: usize = 200;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Variant {
    Bare,
    BarePiped,
    Runner,
}

impl Variant {
    fn label(self) -> &'static str {
        match self {
            Variant::Bare => "bare spawn+wait (stdio null)",
            Variant::BarePiped => "bare spawn+output (pipes read)",
            Variant::Runner => "Runner::run",
        }
    }
}

fn payload() -> Vec<u8> {
    // About the size of a real lifecycle payload (4 KiB).
    let filler = "x".repeat(4000);
    format!(r#"{{"virtualmachinename":"i-2-10-VM","filler":"{filler}"}}"#).into_bytes()
}

async fn once(variant: Variant, runner: &Runner, payload: &[u8]) -> anyhow::Result<()> {
    match variant {
        Variant::Bare => {
            let status = tokio::process::Command::new(NO_OP)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .await
                .context("bare spawn")?;
            anyhow::ensure!(status.success(), "no-op failed");
        }
        Variant::BarePiped => {
            let output = tokio::process::Command::new(NO_OP)
                .stdin(Stdio::null())
                .output()
                .await
                .context("bare output")?;
            anyhow::ensure!(output.status.success(), "no-op failed");
        }
        Variant::Runner => {
            runner
                .run(Invocation {
                    extension: "bench".to_owned(),
                    executable: PathBuf::from(NO_OP),
                    action: "status".to_owned(),
                    payload: payload.to_vec(),
                    timeout: Duration::from_secs(30),
                    host_key: None,
                    secrets: Default::default(),
                })
                .await
                .context("runner run")?;
        }
    }
    Ok(())
}

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn micros(duration: Duration) -> String {
    format!("{:.0} µs", duration.as_secs_f64() * 1e6)
}

async fn throughput(
    variant: Variant,
    runner: &Runner,
    payload: &Arc<Vec<u8>>,
    concurrency: usize,
    total: usize,
) -> anyhow::Result<f64> {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let runner = runner.clone();
            let next = Arc::clone(&next);
            let payload = Arc::clone(payload);
            tokio::spawn(async move {
                while next.fetch_add(1, Ordering::Relaxed) < total {
                    once(variant, &runner, &payload).await?;
                }
                anyhow::Ok(())
            })
        })
        .collect();
    for worker in workers {
        worker.await.context("worker panicked")??;
    }
    Ok(total as f64 / started.elapsed().as_secs_f64())
}

fn payload_parent() -> PathBuf {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    }
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let rounds: usize = args
        .next()
        .map(|a| a.parse())
        .transpose()
        .context("rounds")?
        .unwrap_or(10);
    let total: usize = args
        .next()
        .map(|a| a.parse())
        .transpose()
        .context("throughput actions")?
        .unwrap_or(3000);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let payload_dir = tempfile::Builder::new().prefix("runner-bench").tempdir_in(payload_parent())?;
        let runner = Runner::new(RunnerConfig { payload_dir: payload_dir.path().join("payloads"), ..RunnerConfig::default() })?;
        let payload = Arc::new(payload());
        let cores = std::thread::available_parallelism().map_or(0, usize::from);
        println!("runner_bench: no-op = {NO_OP}, {cores} CPUs, 2 runtime workers, payload {} bytes on {}", payload.len(), payload_parent().display());

        let variants = [Variant::Bare, Variant::BarePiped, Variant::Runner];
        for variant in variants {
            for _ in 0..50 {
                once(variant, &runner, &payload).await?;
            }
        }

        // Latency: interleaved batches, one action at a time.
        let mut samples: Vec<Vec<Duration>> = vec![Vec::new(); variants.len()];
        for _ in 0..rounds {
            for (index, variant) in variants.iter().enumerate() {
                for _ in 0..BATCH {
                    let started = Instant::now();
                    once(*variant, &runner, &payload).await?;
                    samples[index].push(started.elapsed());
                }
            }
        }
        println!();
        println!("Latency, sequential ({} runs each):", rounds * BATCH);
        println!("{:<32} {:>9} {:>9}", "variant", "p50", "p99");
        let mut p50s = Vec::new();
        for (variant, mut durations) in variants.iter().zip(samples) {
            durations.sort();
            let p50 = percentile(&durations, 0.50);
            p50s.push(p50);
            println!("{:<32} {:>9} {:>9}", variant.label(), micros(p50), micros(percentile(&durations, 0.99)));
        }
        println!(
            "runner p50 / bare p50 = {:.2}x; runner p50 / bare piped p50 = {:.2}x",
            p50s[2].as_secs_f64() / p50s[0].as_secs_f64(),
            p50s[2].as_secs_f64() / p50s[1].as_secs_f64()
        );

        println!();
        println!("Throughput, no-op actions/s ({total} actions per cell):");
        println!("{:<12} {:>12} {:>12} {:>8}", "concurrency", "bare", "runner", "ratio");
        for concurrency in [2, 4, 8] {
            let bare = throughput(Variant::Bare, &runner, &payload, concurrency, total).await?;
            let through_runner = throughput(Variant::Runner, &runner, &payload, concurrency, total).await?;
            println!("{concurrency:<12} {bare:>12.0} {through_runner:>12.0} {:>8.2}", through_runner / bare);
        }
        anyhow::ensure!(runner.sweep_retained(Duration::ZERO)? == 0, "payload files were left behind");
        anyhow::Ok(())
    })
}
