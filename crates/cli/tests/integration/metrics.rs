//! `/metrics` as an operator scrapes it: API requests and latency by command and error code,
//! build info and uptime, instances by state, extension readiness.

use super::isolation::setup;
use super::*;

fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_requests_instances_and_extension_readiness() {
    let env = setup().await;
    let url = format!("http://{}/metrics", env.s.addr);
    let vm = env.deploy(&env.a, "m-1", &env.template, &[]).await.unwrap();
    assert_eq!(vm["state"], "Running");
    for _ in 0..3 {
        env.a.call("listZones", &[]).await.unwrap();
    }
    let bad = env.a.call("listZones", &[("page", "x")]).await;
    assert_eq!(code_of(bad), 431);
    let text = reqwest::get(&url).await.unwrap().text().await.unwrap();
    let ok = value(
        &text,
        "trellis_api_requests_total{command=\"listZones\",code=\"0\"}",
    );
    assert!(ok.is_some_and(|n| n >= 3.0), "{text}");
    assert_eq!(
        value(
            &text,
            "trellis_api_requests_total{command=\"listZones\",code=\"431\"}"
        ),
        Some(1.0),
        "{text}"
    );
    let count = value(
        &text,
        "trellis_api_request_duration_seconds_count{command=\"listZones\"}",
    );
    let inf = value(
        &text,
        "trellis_api_request_duration_seconds_bucket{command=\"listZones\",le=\"+Inf\"}",
    );
    assert!(count.is_some() && count == inf, "{text}");
    assert!(text.contains("trellis_build_info{version=\""), "{text}");
    assert!(value(&text, "trellis_uptime_seconds").is_some_and(|s| s > 0.0));
    assert_eq!(
        value(&text, "trellis_instances{state=\"Running\"}"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(&text, "trellis_extension_ready{extension=\"dumper\"}"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(&text, "trellis_extension_enabled{extension=\"dumper\"}"),
        Some(1.0)
    );
    // A stopped instance moves between the series.
    let id = vm["id"].as_str().unwrap().to_string();
    env.run(&env.a, "stopVirtualMachine", &[("id", &id)])
        .await
        .unwrap();
    let text = reqwest::get(&url).await.unwrap().text().await.unwrap();
    assert_eq!(
        value(&text, "trellis_instances{state=\"Stopped\"}"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(&text, "trellis_instances{state=\"Running\"}"),
        None,
        "{text}"
    );
}
