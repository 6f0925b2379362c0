//! The web console in a real browser: starts `trellis serve` (the `target/debug/trellis` binary,
//! or `TRELLIS_BIN`), drives headless Chromium through chromedriver, and walks the console as an
//! administrator and as a user: log in, create extensions, add a custom action with a parameter
//! editor, register a cluster, deploy an instance, run the action from the generated form
//! (client-side validation first), see the result rendered from `printmessage` output, stop and
//! start the instance, read events and alerts, log out. A second walk (`tenancy.rs`) covers
//! domains, roles and their rules, accounts, users and changing one's own password.
//!
//! Needs `chromium` and `chromedriver` (`scripts/install-chromium.sh`); when either is missing
//! the test prints why and passes without running. `CHROMIUM` and `CHROMEDRIVER` override the
//! paths. Screenshots go to `target/console-screenshots`, or to `TRELLIS_CONSOLE_SCREENSHOTS`
//! (`docs/screenshots` refreshes the committed ones).

mod harness;
mod tenancy;

use harness::{fail, find_tool, screenshot_dir, Api, Browser, Page, Server, TestResult};
use serde_json::Value;
use std::path::{Path, PathBuf};

const ENTER: &str = "\u{E007}";
const ESCAPE: &str = "\u{E00C}";

/// The recording extension: keeps a copy of every payload under `records/` next to itself,
/// tracks power state, and answers custom actions with a `printmessage` table.
const RECORDER: &str = r#"#!/usr/bin/env bash
# Test extension: records every payload and answers every action.
set -u
action=${1:-}
payload=${2:-}
[ -r "$payload" ] || { echo '{"status":"error","error":"File not found or unreadable"}'; exit 1; }
here=$(dirname "$0")
mkdir -p "$here/records" "$here/state"
cp "$payload" "$here/records/$(date +%s%N)-$action.json"
vm=$(grep -o '"virtualmachinename":"[^"]*"' "$payload" | head -n 1 | sed 's/.*:"//; s/"$//')
level=$(grep -o '"level":[0-9]*' "$payload" | head -n 1 | sed 's/.*://')
case "$action" in
  prepare) echo '' ;;
  create|start|reboot) [ -n "$vm" ] && echo poweron >"$here/state/$vm"; echo '{"status":"success"}' ;;
  stop) [ -n "$vm" ] && echo poweroff >"$here/state/$vm"; echo '{"status":"success"}' ;;
  delete) [ -n "$vm" ] && rm -f "$here/state/$vm"; echo '{"status":"success"}' ;;
  status)
    s=poweron
    [ -n "$vm" ] && [ -f "$here/state/$vm" ] && s=$(cat "$here/state/$vm")
    printf '{"status":"success","power_state":"%s"}\n' "$s" ;;
  statuses)
    out=""
    for f in "$here"/state/*; do
      [ -f "$f" ] || continue
      [ -n "$out" ] && out="$out,"
      out="$out\"$(basename "$f")\":\"$(cat "$f")\""
    done
    printf '{"status":"success","power_state":{%s}}\n' "$out" ;;
  getconsole) echo '{"status":"error","error":"Operation not supported"}'; exit 1 ;;
  *)
    printf '{"printmessage":"true","message":[{"snapshot":"daily-1","level":"%s","size":"10 GiB"},{"snapshot":"daily-2","level":"%s","size":"12 GiB"}]}\n' "$level" "$level" ;;
esac
"#;

fn write_recorder(extensions: &Path) {
    let dir = extensions.join("recorder");
    std::fs::create_dir_all(&dir).expect("recorder dir");
    let path = dir.join("recorder.sh");
    std::fs::write(&path, RECORDER).expect("write recorder");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// Payloads the recorder kept for one action, oldest first.
fn recorded(extensions: &Path, action: &str) -> Vec<Value> {
    let dir = extensions.join("recorder").join("records");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    files
        .iter()
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(&format!("-{action}.json")))
        })
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .filter_map(|t| serde_json::from_str(&t).ok())
        .collect()
}

/// The browser tests run one at a time: each starts a server and a Chromium, and two of them at
/// once on a small machine make every wait slower.
static ONE_BROWSER_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Chromium and chromedriver, or `None` (the test is skipped and says why).
fn browser_tools(test: &str) -> Option<(PathBuf, PathBuf)> {
    let chromium = find_tool(
        "CHROMIUM",
        &["chromium", "chromium-browser", "google-chrome"],
    );
    let chromedriver = find_tool("CHROMEDRIVER", &["chromedriver"]);
    match (chromium, chromedriver) {
        (Some(chromium), Some(chromedriver)) => Some((chromium, chromedriver)),
        _ => {
            eprintln!(
                "SKIPPED {test}: chromium and chromedriver are needed \
                 (run scripts/install-chromium.sh, or set CHROMIUM and CHROMEDRIVER)"
            );
            None
        }
    }
}

/// After a failed walk: a screenshot, the page source and the server log's tail.
async fn report_failure(page: &Page<'_>, server: &Server, test: &str) {
    let _ = page.shot(&format!("failure-{test}")).await;
    let src = page.c.source().await.unwrap_or_default();
    eprintln!(
        "--- page source (truncated) ---\n{}",
        &src[..src.len().min(6000)]
    );
    eprintln!("--- server log (tail) ---");
    let log = server.log();
    let tail: Vec<&str> = log.lines().rev().take(60).collect();
    for l in tail.iter().rev() {
        eprintln!("{l}");
    }
    eprintln!("screenshots: {}", page.shots.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_in_a_real_browser() {
    let Some((chromium, chromedriver)) = browser_tools("console_in_a_real_browser") else {
        return;
    };
    let _turn = ONE_BROWSER_AT_A_TIME.lock().await;
    let server = Server::start(write_recorder).expect("start trellis");
    let browser = Browser::start(&chromedriver, &chromium)
        .await
        .expect("start chromium");
    let page = Page {
        c: &browser.client,
        base: server.base.clone(),
        shots: screenshot_dir(),
    };
    // Boxed: the walk is one large future, too big for a test thread's stack in debug builds.
    let outcome = Box::pin(walk(&page, &server)).await;
    if outcome.is_err() {
        report_failure(&page, &server, "console").await;
    }
    browser.close().await;
    if let Err(e) = outcome {
        panic!("console walk-through failed: {e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenancy_pages_in_a_real_browser() {
    let Some((chromium, chromedriver)) = browser_tools("tenancy_pages_in_a_real_browser") else {
        return;
    };
    let _turn = ONE_BROWSER_AT_A_TIME.lock().await;
    let server = Server::start(|_| {}).expect("start trellis");
    let browser = Browser::start(&chromedriver, &chromium)
        .await
        .expect("start chromium");
    let page = Page {
        c: &browser.client,
        base: server.base.clone(),
        shots: screenshot_dir(),
    };
    let outcome = Box::pin(tenancy::walk(&page, &server)).await;
    if outcome.is_err() {
        report_failure(&page, &server, "tenancy").await;
    }
    browser.close().await;
    if let Err(e) = outcome {
        panic!("tenancy walk-through failed: {e}");
    }
}

async fn walk(page: &Page<'_>, server: &Server) -> TestResult {
    check_served_build(&server.base).await?;
    page.c.set_window_size(1280, 1000).await?;

    // --- Log in (a wrong password first: the error is shown in plain words).
    page.open("").await?;
    page.wait("#login-username").await?;
    page.shot("login").await?;
    page.fill("#login-username", "admin").await?;
    page.fill("#login-password", "not-the-password").await?;
    page.click("#login-submit").await?;
    page.wait_text("#login-error", "not correct").await?;
    // Keyboard only: Enter in the password field submits.
    page.fill(
        "#login-password",
        &format!("{}{ENTER}", harness::ADMIN_PASSWORD),
    )
    .await?;
    page.wait_text("#current-user", "admin").await?;
    page.wait_text("#current-user", "Administrator").await?;
    page.no_script_errors().await?;
    check_modules(page).await?;

    Box::pin(getting_started(page)).await?;

    // The session is the ordinary CloudStack one: both cookies set by login, key kept by the page.
    let cookies = page.c.get_all_cookies().await?;
    let names: Vec<String> = cookies.iter().map(|c| c.name().to_string()).collect();
    if !names.iter().any(|n| n == "sessionkey") {
        return fail(format!("no sessionkey cookie after login: {names:?}"));
    }

    // --- Extensions: create one with the scaffolded default script.
    page.click("a[data-path='/extensions']").await?;
    page.wait("[data-action=create-extension]").await?;
    page.click("[data-action=create-extension]").await?;
    page.fill("dialog [name=name]", "console-demo").await?;
    page.fill("dialog [name=description]", "Created from the web console")
        .await?;
    page.click("dialog [data-add=details]").await?;
    page.fill("dialog .kv-row:last-child .kv-key", "endpoint")
        .await?;
    page.fill(
        "dialog .kv-row:last-child .kv-value",
        "https://orchestrator.example",
    )
    .await?;
    page.click("dialog button[type=submit]").await?;
    page.wait_text("h1", "console-demo").await?;
    page.wait_text(".fields", "Ready").await?;
    page.wait_text(".fields", "console-demo/console-demo.sh")
        .await?;
    page.wait_text(".kv", "orchestrator.example").await?;
    page.shot("extension-details").await?;
    page.click("[data-action=disable-extension]").await?;
    page.wait_text(".fields", "Disabled").await?;
    page.click("[data-action=enable-extension]").await?;
    page.wait_text(".fields", "Enabled").await?;
    let scaffold = server
        .extensions_dir()
        .join("console-demo")
        .join("console-demo.sh");
    if !scaffold.is_file() {
        return fail(format!(
            "the default script was not scaffolded at {}",
            scaffold.display()
        ));
    }

    // A duplicate name: the API's errortext appears in the form.
    page.route("#/extensions").await?;
    page.click("[data-action=create-extension]").await?;
    page.fill("dialog [name=name]", "console-demo").await?;
    page.click("dialog button[type=submit]").await?;
    page.wait_text("dialog .form-error", "already exists")
        .await?;
    page.shot("extension-create-error").await?;
    page.c.active_element().await?.send_keys(ESCAPE).await?;
    page.wait_gone("dialog").await?;

    // --- The recording extension (its executable is already in place, so nothing is scaffolded).
    page.click("[data-action=create-extension]").await?;
    page.fill("dialog [name=name]", "recorder").await?;
    page.fill(
        "dialog [name=description]",
        "Records payloads; answers custom actions with a table",
    )
    .await?;
    page.fill("dialog [name=path]", "recorder.sh").await?;
    page.click("dialog button[type=submit]").await?;
    page.wait_text("h1", "recorder").await?;
    page.wait_text(".fields", "recorder/recorder.sh").await?;
    let recorder_id = page
        .c
        .current_url()
        .await?
        .fragment()
        .unwrap_or("")
        .rsplit('/')
        .next()
        .unwrap_or("")
        .to_string();
    if recorder_id.len() != 36 {
        return fail(format!(
            "unexpected extension route after create: {recorder_id}"
        ));
    }

    // --- A custom action with a parameter editor; a bad value option is caught first.
    page.click("[data-tab=actions]").await?;
    page.click("[data-action=add-custom-action]").await?;
    page.fill("dialog [name=name]", "snapshot-report").await?;
    page.fill("dialog [name=description]", "List the instance's snapshots")
        .await?;
    page.click("dialog input[name=allowedroletypes][value=User]")
        .await?;
    add_param(page, "level", "NUMBER", "NONE", "1,two,3", true).await?;
    add_param(page, "notify", "STRING", "EMAIL", "", false).await?;
    add_param(page, "full", "BOOLEAN", "NONE", "", false).await?;
    add_param(page, "since", "DATE", "NONE", "", false).await?;
    page.fill("dialog [name=timeout]", "10").await?;
    page.fill(
        "dialog [name=successmessage]",
        "Report for {{resourceName}} is ready",
    )
    .await?;
    page.click("dialog button[type=submit]").await?;
    page.wait_text("dialog .params-field .field-error", "two")
        .await?;
    page.fill("dialog .param-row:first-child .p-options", "1,2,3")
        .await?;
    page.shot("custom-action-editor").await?;
    page.click("dialog button[type=submit]").await?;
    page.wait_gone("dialog").await?;
    page.wait_text("tr[data-action='snapshot-report']", "level")
        .await?;
    page.wait_text("tr[data-action='snapshot-report']", "{1, 2, 3}")
        .await?;
    page.wait_text("tr[data-action='snapshot-report']", "Admin, User")
        .await?;
    page.shot("extension-custom-actions").await?;
    page.click("tr[data-action='snapshot-report'] [data-action=edit]")
        .await?;
    page.fill(
        "dialog [name=description]",
        "List the instance's snapshots, newest first",
    )
    .await?;
    page.click("dialog button[type=submit]").await?;
    page.wait_gone("dialog").await?;
    page.wait_text("tr[data-action='snapshot-report']", "newest first")
        .await?;
    page.wait_text("tr[data-action='snapshot-report']", "{1, 2, 3}")
        .await?;
    page.click("[data-tab=events]").await?;
    page.wait_text(".tab-panel", "EXTENSION.CUSTOM.ACTION.UPDATE")
        .await?;
    page.wait_text(".tab-panel", "EXTENSION.CREATE").await?;
    page.shot("extension-events").await?;

    // --- Infrastructure from the forms: a zone, an External cluster bound to the recorder, a
    // host, a service offering and a template with external details.
    page.route("#/zones").await?;
    page.click("[data-action=add-zone]").await?;
    page.fill("dialog [name=name]", "zone-1").await?;
    page.fill("dialog [name=description]", "Lab").await?;
    page.click("dialog button[type=submit]").await?;
    page.wait_text("table", "zone-1").await?;

    page.route("#/clusters").await?;
    page.click("[data-action=add-cluster]").await?;
    page.fill("dialog [name=clustername]", "rack-a").await?;
    page.select_text("dialog select[name=zoneid]", "zone-1")
        .await?;
    page.select_text("dialog select[name=extensionid]", "recorder")
        .await?;
    page.click("dialog [data-add=externaldetails]").await?;
    page.fill("dialog .kv-row:last-child .kv-key", "region")
        .await?;
    page.fill("dialog .kv-row:last-child .kv-value", "lab-1")
        .await?;
    page.click("dialog button[type=submit]").await?;
    page.wait_gone("dialog").await?;
    page.wait_text("table", "rack-a").await?;
    page.wait_text("table", "recorder").await?;
    page.shot("clusters").await?;

    page.route("#/hosts").await?;
    page.click("[data-action=add-host]").await?;
    page.select_text("dialog select[name=clusterid]", "rack-a")
        .await?;
    page.fill("dialog [name=url]", "node-1").await?;
    page.click("dialog [data-add=externaldetails]").await?;
    page.fill("dialog .kv-row:last-child .kv-key", "rack")
        .await?;
    page.fill("dialog .kv-row:last-child .kv-value", "a1")
        .await?;
    page.click("dialog button[type=submit]").await?;
    page.wait_gone("dialog").await?;
    page.wait_text("table", "node-1").await?;

    page.route("#/offerings").await?;
    page.click("[data-action=add-offering]").await?;
    page.fill("dialog [name=name]", "small").await?;
    page.fill("dialog [name=displaytext]", "1 CPU, 1 GiB")
        .await?;
    page.fill("dialog [name=memory]", "1024").await?;
    page.click("dialog [data-add=externaldetails]").await?;
    page.fill("dialog .kv-row:last-child .kv-key", "flavor")
        .await?;
    page.fill("dialog .kv-row:last-child .kv-value", "s1")
        .await?;
    page.click("dialog button[type=submit]").await?;
    page.wait_gone("dialog").await?;
    page.wait_text("table", "flavor").await?;
    page.shot("offerings").await?;

    page.route("#/templates").await?;
    page.click("[data-action=register-template]").await?;
    page.fill("dialog [name=name]", "ubuntu-24.04").await?;
    page.fill("dialog [name=displaytext]", "Ubuntu 24.04")
        .await?;
    page.select_text("dialog select[name=zoneid]", "zone-1")
        .await?;
    page.select_text("dialog select[name=extensionid]", "recorder")
        .await?;
    page.click("dialog [data-add=externaldetails]").await?;
    page.fill("dialog .kv-row:last-child .kv-key", "image")
        .await?;
    page.fill("dialog .kv-row:last-child .kv-value", "ubuntu-24.04")
        .await?;
    page.click("dialog button[type=submit]").await?;
    page.wait_gone("dialog").await?;
    page.wait_text("table", "image").await?;
    page.shot("templates").await?;

    // A spare External cluster without an extension, through the API.
    let api = Api::login(&server.base, "admin", harness::ADMIN_PASSWORD).await?;
    let zones = api.call("listZones", &[("name", "zone-1")]).await?;
    let zone_id = str_at(&zones, "/zone/0/id")?;
    Box::pin(shared_network(&api, &zone_id)).await?;

    // --- Register and unregister a cluster from the extension's page.
    page.route("#/extensions").await?;
    page.wait_text("table", "console-demo").await?;
    open_extension(page, "console-demo").await?;
    page.click("[data-action=register-cluster]").await?;
    let spare_option = page
        .wait("dialog select[name=resourceid] option:nth-child(2)")
        .await?;
    let spare_value = spare_option.attr("value").await?.unwrap_or_default();
    page.select("dialog select[name=resourceid]", &spare_value)
        .await?;
    page.click("dialog button[type=submit]").await?;
    page.wait_gone("dialog").await?;
    page.click("[data-tab=resources]").await?;
    page.wait_text(".tab-panel", "spare").await?;
    page.shot("extension-resources").await?;
    page.click(".tab-panel [data-action=unregister]").await?;
    page.click("dialog .btn-danger").await?;
    page.wait("[data-tab=resources]").await?;
    page.wait_text("[data-tab=resources]", "(0)").await?;

    // --- Infrastructure pages.
    page.route("#/clusters").await?;
    page.wait_text("table", "rack-a").await?;
    page.wait_text("table", "recorder").await?;
    page.route("#/hosts").await?;
    page.wait_text("table", "node-1").await?;
    page.shot("hosts").await?;
    page.click("table a[href^='#/hosts/']").await?;
    page.wait_text("h1", "node-1").await?;
    page.wait_text(".kv", "rack").await?;
    page.shot("host-details").await?;
    page.click("[data-action=maintenance]").await?;
    page.click("dialog .btn-primary").await?;
    page.wait_text(".fields", "Maintenance").await?;
    page.wait("[data-action=cancel-maintenance]").await?;
    page.wait_gone(".toast-job").await?;
    page.click("[data-action=cancel-maintenance]").await?;
    page.wait("[data-action=maintenance]").await?;
    page.wait_text(".fields", "Enabled").await?;

    // --- Deploy an instance from the form; the job is followed without reloading the page.
    page.route("#/instances").await?;
    page.click("[data-action=deploy]").await?;
    page.fill("dialog [name=name]", "web-1").await?;
    page.wait("dialog select[name=templateid] option[value]:not([value=''])")
        .await?;
    let offering = page
        .wait("dialog select[name=serviceofferingid] option:not([value=''])")
        .await?
        .attr("value")
        .await?
        .unwrap_or_default();
    page.select("dialog select[name=serviceofferingid]", &offering)
        .await?;
    page.shot("instance-deploy").await?;
    page.click("dialog button[type=submit]").await?;
    page.wait_gone("dialog").await?;
    page.wait_text("tr[data-vm='web-1']", "Running").await?;
    page.wait_gone(".toast-job").await?;
    page.shot("instances").await?;

    Box::pin(reload_and_layout(
        page,
        &api,
        &zone_id,
        &recorder_id,
        &offering,
    ))
    .await?;

    // --- Run Action: the generated form validates before sending.
    page.click("tr[data-vm='web-1'] [data-action=run-action]")
        .await?;
    page.wait("#run-action-form").await?;
    let level_tag = page
        .wait("dialog [name=param-level]")
        .await?
        .tag_name()
        .await?;
    if level_tag != "select" {
        return fail(format!(
            "a NUMBER parameter with value options should be a select, got {level_tag}"
        ));
    }
    if page
        .wait("dialog [name=param-full]")
        .await?
        .attr("type")
        .await?
        .as_deref()
        != Some("checkbox")
    {
        return fail("a BOOLEAN parameter should be a checkbox");
    }
    if page
        .wait("dialog [name=param-since]")
        .await?
        .attr("type")
        .await?
        .as_deref()
        != Some("datetime-local")
    {
        return fail("a DATE parameter should be a date-time picker");
    }
    // Nothing chosen for the required level, and a bad email: both are reported, nothing sent.
    page.fill("dialog [name=param-notify]", "not-an-email")
        .await?;
    page.click("dialog [data-action=run]").await?;
    page.wait_text("#run-action-error", "not valid").await?;
    page.wait_text("dialog .field-error", "email address")
        .await?;
    page.wait_text("dialog .field-error", "required").await?;
    page.shot("run-action-validation").await?;
    if !recorded(&server.extensions_dir(), "snapshot-report").is_empty() {
        return fail("an invalid form reached the extension");
    }
    page.select("dialog [name=param-level]", "2").await?;
    page.fill("dialog [name=param-notify]", "ops@example.com")
        .await?;
    page.click("dialog [name=param-full]").await?;
    page.set_value("dialog [name=param-since]", "2026-03-01T09:30:00")
        .await?;
    page.wait_text("dialog .field", "Sent as 2026-03-0").await?;
    page.click("dialog [data-action=run]").await?;
    page.wait_text("#run-action-status", "Succeeded").await?;
    page.wait_text("#run-action-status", "Report for").await?;
    page.wait_text("#run-action-output table", "daily-2")
        .await?;
    let out = page.text("#run-action-output").await?;
    if !out.contains("12 GiB") || !out.to_lowercase().contains("snapshot") {
        return fail(format!("the printmessage table is incomplete: {out}"));
    }
    page.shot("run-action-result").await?;
    let payloads = recorded(&server.extensions_dir(), "snapshot-report");
    let Some(p) = payloads.last() else {
        return fail("the recorder saw no snapshot-report payload");
    };
    let params = &p["parameters"];
    if params["level"] != serde_json::json!(2)
        || params["notify"] != "ops@example.com"
        || params["full"] != serde_json::json!(true)
        || params.get("since").is_none()
    {
        return fail(format!("unexpected parameters in the payload: {params}"));
    }
    page.click("[data-action=close-result]").await?;
    page.wait_gone("dialog").await?;

    // --- Stop and start from the list; the rows change without a page reload.
    page.c.execute("window.__noReload = true;", vec![]).await?;
    page.click("tr[data-vm='web-1'] [data-action=stop]").await?;
    page.wait_text("tr[data-vm='web-1']", "Stopped").await?;
    page.click("tr[data-vm='web-1'] [data-action=start]")
        .await?;
    page.wait_text("tr[data-vm='web-1']", "Running").await?;
    let still = page
        .c
        .execute("return window.__noReload === true;", vec![])
        .await?;
    if still != Value::Bool(true) {
        return fail("the page was reloaded by an instance action");
    }
    if recorded(&server.extensions_dir(), "stop").is_empty() {
        return fail("stop never reached the extension");
    }
    page.click("tr[data-vm='web-1'] a").await?;
    page.wait_text("h1", "web-1").await?;
    page.wait_text(".fields", "recorder").await?;
    Box::pin(nic_section(page, &api)).await?;
    page.shot("instance-details").await?;

    // --- Events, alerts (built-in extensions without binaries raise "path not ready"), overview.
    page.route("#/events").await?;
    page.wait_text("table", "CUSTOM.ACTION").await?;
    page.shot("events").await?;
    page.route("#/alerts").await?;
    page.wait_text("table", "Extension path not ready").await?;
    page.shot("alerts").await?;
    page.route("#/").await?;
    page.wait(".cards .card").await?;
    page.wait_text(".notice-warn", "Extension path not ready")
        .await?;
    page.shot("overview").await?;
    if page.exists("#getting-started").await? {
        return fail("the overview still shows the getting-started panel with a zone in place");
    }
    page.route("#/extensions").await?;
    page.wait_text("table", "recorder").await?;
    page.shot("extensions").await?;

    // --- A narrow window: the menu collapses behind a button, tables scroll.
    page.c.set_window_size(420, 900).await?;
    page.route("#/instances").await?;
    page.wait_text("tr[data-vm='web-1']", "Running").await?;
    page.shot("narrow-instances").await?;
    page.click(".menu-toggle").await?;
    page.wait("body.nav-open .sidebar").await?;
    page.shot("narrow-menu").await?;
    page.click("a[data-path='/instances']").await?;
    page.c.set_window_size(1280, 1000).await?;
    page.no_script_errors().await?;

    // --- Destroy with expunge: the extension is asked to delete the instance.
    page.route("#/instances").await?;
    page.click("tr[data-vm='web-1'] [data-action=destroy]")
        .await?;
    page.click("dialog [name=expunge]").await?;
    page.click("dialog button[type=submit]").await?;
    page.wait_gone("dialog").await?;
    page.wait_gone(".toast-job").await?;
    page.wait_gone("tr[data-vm='web-1'] [data-action=run-action]")
        .await?;
    if recorded(&server.extensions_dir(), "delete").is_empty() {
        return fail("expunge never reached the extension");
    }

    // --- A user sees only what listApis allows: no extensions or infrastructure.
    api.call(
        "createAccount",
        &[
            ("username", "dana"),
            ("password", "dana-Secret-1"),
            ("email", "dana@example.com"),
            ("firstname", "Dana"),
            ("lastname", "User"),
            ("accounttype", "0"),
        ],
    )
    .await?;
    let admin_key = session_key(page).await?;
    page.click("[data-action=logout]").await?;
    page.wait_text(".login-card", "logged out").await?;
    // Log out ended the session on the server: the old key is refused.
    let status = api_with_key(&server.base, &admin_key, "listZones").await?;
    if status != 401 {
        return fail(format!(
            "the session still works after logout: HTTP {status}"
        ));
    }
    page.fill("#login-username", "dana").await?;
    page.fill("#login-password", "dana-Secret-1").await?;
    page.click("#login-submit").await?;
    page.wait_text("#current-user", "dana").await?;
    page.wait("a[data-path='/instances']").await?;
    for hidden in ["/extensions", "/hosts", "/clusters", "/alerts"] {
        if page.exists(&format!("a[data-path='{hidden}']")).await? {
            return fail(format!("a user's menu shows {hidden}"));
        }
    }
    page.route("#/instances").await?;
    page.click("[data-action=deploy]").await?;
    page.fill("dialog [name=name]", "dana-1").await?;
    page.wait("dialog select[name=templateid] option[value]:not([value=''])")
        .await?;
    let offering = page
        .wait("dialog select[name=serviceofferingid] option:not([value=''])")
        .await?
        .attr("value")
        .await?
        .unwrap_or_default();
    page.select("dialog select[name=serviceofferingid]", &offering)
        .await?;
    page.click("dialog button[type=submit]").await?;
    page.wait_text("tr[data-vm='dana-1']", "Running").await?;
    if page.exists("tr[data-vm='web-1']").await? {
        return fail("a user sees another account's instance");
    }
    page.click("tr[data-vm='dana-1'] [data-action=run-action]")
        .await?;
    page.select("dialog [name=param-level]", "1").await?;
    page.click("dialog [data-action=run]").await?;
    page.wait_text("#run-action-status", "Succeeded").await?;
    page.click("[data-action=close-result]").await?;
    page.wait_gone("dialog").await?;
    page.wait_gone(".toast-job").await?;
    page.shot("user-instances").await?;
    let by_user = recorded(&server.extensions_dir(), "snapshot-report");
    match by_user.last() {
        Some(p) if p["parameters"]["level"] == serde_json::json!(1) => {}
        other => {
            return fail(format!(
                "the user's run did not reach the extension: {other:?}"
            ));
        }
    }
    page.no_script_errors().await?;
    // The server ends the session (as after a timeout): the next call is refused and the
    // console says so on its login page.
    let key = session_key(page).await?;
    let logout = api_with_key(&server.base, &key, "logout").await?;
    if logout != 200 {
        return fail(format!("logout with the page's key answered HTTP {logout}"));
    }
    page.route("#/events").await?;
    page.wait_text(".login-card", "session has ended").await?;
    page.wait("#login-username").await?;
    Ok(())
}

/// The console's own rules, run in the page: value checks for custom-action parameters and
/// the rendering of `printmessage` output in its other shapes.
const MODULE_CHECKS: &str = r#"
const done = arguments[arguments.length - 1];
const base = document.querySelector('script[type=module]').src.replace(/js\/app\.js$/, '');
Promise.all([import(base + 'js/validate.js'), import(base + 'js/pages/runaction.js')]).then(([v, r]) => {
  const out = {};
  const html = (x) => r.renderOutput(x).outerHTML;
  out.decimalOk = v.checkParamValue({ type: 'NUMBER', validationformat: 'DECIMAL' }, '2.5');
  out.integerBad = v.checkParamValue({ type: 'NUMBER', validationformat: 'NONE' }, '2.5');
  out.optionBad = v.checkParamValue({ type: 'NUMBER', valueoptions: [1, 2] }, '3');
  out.urlBad = v.checkParamValue({ type: 'STRING', validationformat: 'URL' }, 'example.com');
  out.urlOk = v.checkParamValue({ type: 'STRING', validationformat: 'URL' }, 'https://example.com/a');
  out.uuidBad = v.checkParamValue({ type: 'STRING', validationformat: 'UUID' }, '1234');
  out.requiredBlank = v.checkParamValue({ type: 'STRING', required: true }, '  ');
  out.optionalBlank = v.checkParamValue({ type: 'STRING' }, '');
  out.boolOptions = v.checkParamDefinition({ name: 'b', type: 'BOOLEAN', validationformat: 'NONE', valueoptions: 'x' });
  out.emailOnNumber = v.checkParamDefinition({ name: 'n', type: 'NUMBER', validationformat: 'EMAIL' });
  out.goodDefinition = v.checkParamDefinition({ name: 's', type: 'STRING', validationformat: 'EMAIL', valueoptions: 'a@b.c, d@e.f' });
  out.badName = v.checkActionName('snap/shot');
  out.object = html('{"printmessage":"true","message":{"disk":"10 GiB","state":"ok"}}');
  out.text = html('{"printmessage":true,"message":"all <b>good</b>"}');
  out.list = html('{"printmessage":"true","message":["a","b"]}');
  out.json = html('{"status":"success"}');
  out.plain = html('Exit code: 1, Output: nope');
  out.empty = html('');
  done(out);
}).catch((e) => done({ error: String(e) }));
"#;

async fn check_modules(page: &Page<'_>) -> TestResult {
    let out = page.c.execute_async(MODULE_CHECKS, vec![]).await?;
    let s = |k: &str| out[k].as_str().unwrap_or("").to_string();
    let checks: Vec<(&str, bool)> = vec![
        ("decimal accepted", out["decimalOk"].is_null()),
        (
            "fraction refused for NUMBER",
            s("integerBad").contains("whole number"),
        ),
        (
            "value outside options refused",
            s("optionBad").contains("1, 2"),
        ),
        ("URL without scheme refused", s("urlBad").contains("scheme")),
        ("URL accepted", out["urlOk"].is_null()),
        ("bad UUID refused", s("uuidBad").contains("UUID")),
        (
            "blank required refused",
            s("requiredBlank").contains("required"),
        ),
        ("blank optional accepted", out["optionalBlank"].is_null()),
        (
            "options on BOOLEAN refused",
            s("boolOptions").contains("only possible"),
        ),
        (
            "EMAIL on NUMBER refused",
            s("emailOnNumber").contains("cannot be used"),
        ),
        ("good definition accepted", out["goodDefinition"].is_null()),
        ("bad action name refused", !s("badName").is_empty()),
        (
            "object as key/value table",
            s("object").contains("<th scope=\"row\">disk</th>"),
        ),
        (
            "text as text, not markup",
            s("text").contains("all &lt;b&gt;good&lt;/b&gt;"),
        ),
        ("list as list", s("list").contains("<li>b</li>")),
        (
            "other JSON pretty-printed",
            s("json").contains("\"status\": \"success\""),
        ),
        ("plain output as text", s("plain").contains("Exit code: 1")),
        ("no output said so", s("empty").contains("No output")),
    ];
    let failed: Vec<&str> = checks
        .iter()
        .filter(|(_, ok)| !ok)
        .map(|(n, _)| *n)
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        fail(format!("module checks failed: {failed:?} in {out}"))
    }
}

/// An empty install (no zone yet): the overview says how to get started.
async fn getting_started(page: &Page<'_>) -> TestResult {
    page.wait_text("#getting-started", "trellis quickstart")
        .await?;
    page.wait_text("#getting-started", "Add a zone").await?;
    page.wait("#getting-started a[href='#/zones']").await?;
    page.shot("overview-getting-started").await?;
    Ok(())
}

/// A Shared network in the zone, so that instances get a NIC with an address.
async fn shared_network(api: &Api, zone_id: &str) -> TestResult {
    let offerings = api
        .call("listNetworkOfferings", &[("guestiptype", "Shared")])
        .await?;
    let net_offering = str_at(&offerings, "/networkoffering/0/id")?;
    api.call(
        "createNetwork",
        &[
            ("name", "lab-shared"),
            ("displaytext", "Lab shared network"),
            ("networkofferingid", &net_offering),
            ("zoneid", zone_id),
            ("gateway", "10.20.0.1"),
            ("netmask", "255.255.255.0"),
            ("startip", "10.20.0.10"),
            ("endip", "10.20.0.50"),
        ],
    )
    .await?;
    api.call(
        "addCluster",
        &[
            ("clustername", "spare"),
            ("zoneid", zone_id),
            ("hypervisor", "External"),
        ],
    )
    .await?;
    Ok(())
}

/// The menu entry of the page already shown reloads its data; at 1280x800 every column
/// including Actions is on screen.
async fn reload_and_layout(
    page: &Page<'_>,
    api: &Api,
    zone_id: &str,
    recorder_id: &str,
    offering: &str,
) -> TestResult {
    // --- The menu entry of the page already shown reloads its data: an instance deployed
    // meanwhile through the API appears.
    let template_id = str_at(
        &api.call(
            "listTemplates",
            &[("templatefilter", "all"), ("name", "ubuntu-24.04")],
        )
        .await?,
        "/template/0/id",
    )?;
    api.call(
        "deployVirtualMachine",
        &[
            ("zoneid", zone_id),
            ("templateid", &template_id),
            ("serviceofferingid", offering),
            ("name", "db-replica-02"),
            (
                "displayname",
                "db-replica-02.eu-west-1.internal.example.com",
            ),
            ("startvm", "false"),
        ],
    )
    .await?;
    if page.exists("tr[data-vm='db-replica-02']").await? {
        return fail("the instance list showed an instance before it was reloaded");
    }
    page.click("a[data-path='/instances']").await?;
    page.wait_text("tr[data-vm='db-replica-02']", "Stopped")
        .await?;
    page.wait("tr[data-vm='db-replica-02'] [data-action=start]")
        .await?;

    // --- At 1280x800, with realistic data, every column including Actions is on screen and
    // rows are one line high: Instances, Templates and an extension's Custom actions.
    realistic_data(api, zone_id, recorder_id).await?;
    page.c.set_window_size(1280, 800).await?;
    page.wait_text("tr[data-vm='web-1']", "Running").await?;
    actions_on_screen(page, "Instances", 3, 52.0).await?;
    page.shot("instances-1280").await?;
    page.click("a[data-path='/templates']").await?;
    page.wait("tr[data-template='debian-12-genericcloud-amd64-20260301']")
        .await?;
    actions_on_screen(page, "Templates", 2, 52.0).await?;
    // A cut value keeps the whole text in its cell's tooltip.
    let tips = page
        .c
        .execute(
            "return [...document.querySelectorAll(\"tr[data-template^='debian'] td[title]\")].map((t) => t.title);",
            vec![],
        )
        .await?;
    let tips = tips.to_string();
    if !tips.contains("debian-12-genericcloud-amd64-20260301")
        || !tips.contains("storage = ceph-pool-ssd-replicated")
    {
        return fail(format!(
            "the template row's tooltips lack the whole values: {tips}"
        ));
    }
    page.shot("templates-1280").await?;
    page.route(&format!("#/extensions/{recorder_id}?tab=actions"))
        .await?;
    page.wait("tr[data-action='collect-diagnostics']").await?;
    actions_on_screen(page, "Custom actions", 2, 120.0).await?;
    page.shot("custom-actions-1280").await?;
    page.c.set_window_size(1280, 1000).await?;
    page.route("#/instances").await?;
    page.wait_text("tr[data-vm='web-1']", "Running").await?;
    Ok(())
}

/// The instance page's NIC section: MAC, network, address, netmask, gateway, default.
async fn nic_section(page: &Page<'_>, api: &Api) -> TestResult {
    let vms = api
        .call(
            "listVirtualMachines",
            &[("name", "web-1"), ("listall", "true")],
        )
        .await?;
    let mac = str_at(&vms, "/virtualmachine/0/nic/0/macaddress")?;
    let ip = str_at(&vms, "/virtualmachine/0/nic/0/ipaddress")?;
    let nics = page.wait_text("#nics", &mac).await?;
    for want in [
        ip.as_str(),
        "lab-shared",
        "255.255.255.0",
        "10.20.0.1",
        "Yes",
    ] {
        if !nics.contains(want) {
            return fail(format!("the NIC section lacks {want:?}: {nics}"));
        }
    }
    Ok(())
}

/// Data with the lengths seen in real installs: a template with a long name and several
/// external details, a custom action with a long description, every role and a few parameters.
async fn realistic_data(api: &Api, zone_id: &str, extension_id: &str) -> TestResult {
    api.call(
        "registerTemplate",
        &[
            ("name", "debian-12-genericcloud-amd64-20260301"),
            (
                "displaytext",
                "Debian 12 (bookworm) generic cloud image, amd64, March 2026",
            ),
            ("format", "EXTERNAL"),
            ("hypervisor", "External"),
            ("url", "external"),
            ("zoneid", zone_id),
            ("extensionid", extension_id),
            (
                "externaldetails[0].image",
                "local:iso/debian-12-genericcloud-amd64-20260301.qcow2",
            ),
            ("externaldetails[0].storage", "ceph-pool-ssd-replicated"),
            (
                "externaldetails[0].node",
                "pve-node-01.rack-a.lab.example.com",
            ),
        ],
    )
    .await?;
    api.call(
        "addCustomAction",
        &[
            ("extensionid", extension_id),
            ("name", "collect-diagnostics"),
            (
                "description",
                "Collect a diagnostics bundle (logs, hardware inventory, network state) from the \
                 instance's host and upload it to the support portal",
            ),
            ("resourcetype", "VirtualMachine"),
            ("allowedroletypes", "Admin,ResourceAdmin,DomainAdmin,User"),
            ("timeout", "120"),
            ("parameters[0].name", "ticket"),
            ("parameters[0].type", "STRING"),
            ("parameters[0].required", "true"),
            ("parameters[1].name", "contact"),
            ("parameters[1].type", "STRING"),
            ("parameters[1].validationformat", "EMAIL"),
            ("parameters[2].name", "include_memory_dump"),
            ("parameters[2].type", "BOOLEAN"),
        ],
    )
    .await?;
    Ok(())
}

/// Every button in the Actions column is inside the window and inside its table (nothing to
/// scroll to), there are at least `min_buttons` of them, the page does not scroll sideways and
/// no row is taller than `max_row` pixels.
async fn actions_on_screen(
    page: &Page<'_>,
    what: &str,
    min_buttons: u64,
    max_row: f64,
) -> TestResult {
    let r = page
        .c
        .execute(
            r#"
const vw = document.documentElement.clientWidth;
const vh = document.documentElement.clientHeight;
const out = { vw, vh, buttons: 0, outside: [], rows: [], pageScroll: document.documentElement.scrollWidth - vw, tableScroll: [] };
for (const w of document.querySelectorAll('main .table-wrap')) {
  if (w.scrollWidth > w.clientWidth + 1) out.tableScroll.push(w.scrollWidth - w.clientWidth);
}
for (const b of document.querySelectorAll('main td.actions button')) {
  const r = b.getBoundingClientRect();
  const wrap = b.closest('.table-wrap').getBoundingClientRect();
  out.buttons += 1;
  if (r.left < 0 || r.right > vw || r.left < wrap.left || r.right > wrap.right) {
    out.outside.push(`${b.textContent} at ${Math.round(r.left)}..${Math.round(r.right)}`);
  }
}
for (const tr of document.querySelectorAll('main tbody tr')) out.rows.push(Math.round(tr.getBoundingClientRect().height));
return out;
"#,
            vec![],
        )
        .await?;
    let buttons = r["buttons"].as_u64().unwrap_or(0);
    let tallest = r["rows"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_f64).fold(0.0, f64::max))
        .unwrap_or(0.0);
    let outside = r["outside"].as_array().is_none_or(|a| !a.is_empty());
    let scrolls = r["pageScroll"].as_i64().unwrap_or(1) > 0
        || r["tableScroll"].as_array().is_none_or(|a| !a.is_empty());
    if buttons < min_buttons || outside || scrolls || tallest > max_row {
        return fail(format!(
            "{what} at 1280 px: Actions buttons off screen, sideways scrolling or tall rows \
             (want >= {min_buttons} buttons, rows <= {max_row} px): {r}"
        ));
    }
    Ok(())
}

/// The session key the console keeps for this tab.
async fn session_key(page: &Page<'_>) -> TestResult<String> {
    let key = page
        .c
        .execute(
            "return JSON.parse(sessionStorage.getItem('trellis.console.session')).sessionkey;",
            vec![],
        )
        .await?;
    match key.as_str() {
        Some(k) if !k.is_empty() => Ok(k.to_string()),
        _ => fail(format!("no session key in the page: {key}")),
    }
}

/// Call a command with a session key as both cookie and parameter; returns the HTTP status.
async fn api_with_key(base: &str, key: &str, command: &str) -> TestResult<u16> {
    let status = reqwest::Client::new()
        .post(format!("{base}/client/api"))
        .header("Cookie", format!("sessionkey={key}"))
        .form(&[
            ("command", command),
            ("response", "json"),
            ("sessionkey", key),
        ])
        .send()
        .await?
        .status();
    Ok(status.as_u16())
}

async fn open_extension(page: &Page<'_>, name: &str) -> TestResult {
    let links = page
        .c
        .find_all(fantoccini::Locator::Css("table a[href^='#/extensions/']"))
        .await?;
    for l in links {
        if l.text().await? == name {
            l.click().await?;
            page.wait_text("h1", name).await?;
            return Ok(());
        }
    }
    fail(format!("no extension link named {name}"))
}

async fn add_param(
    page: &Page<'_>,
    name: &str,
    ty: &str,
    format: &str,
    options: &str,
    required: bool,
) -> TestResult {
    page.click("dialog [data-add=parameter]").await?;
    let row = "dialog .param-row:last-child";
    page.fill(&format!("{row} .p-name"), name).await?;
    page.select(&format!("{row} .p-type"), ty).await?;
    if format != "NONE" {
        page.select(&format!("{row} .p-format"), format).await?;
    }
    if !options.is_empty() {
        page.fill(&format!("{row} .p-options"), options).await?;
    }
    if required {
        page.click(&format!("{row} .p-required")).await?;
    }
    Ok(())
}

fn str_at(v: &Value, pointer: &str) -> TestResult<String> {
    match v.pointer(pointer).and_then(Value::as_str) {
        Some(s) => Ok(s.to_string()),
        None => fail(format!("no {pointer} in {v}")),
    }
}

/// The binary must serve this crate's build of the console (else it is stale), with the
/// console's headers on the page and on its scripts.
async fn check_served_build(base: &str) -> TestResult {
    let want = trellis_console::asset_base();
    for (path, ty, cache) in [
        ("/".to_string(), "text/html", "no-cache"),
        (format!("{want}js/app.js"), "text/javascript", "immutable"),
        (format!("{want}style.css"), "text/css", "immutable"),
    ] {
        let r = reqwest::get(format!("{base}{path}")).await?;
        let h = |n: &str| {
            r.headers()
                .get(n)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string()
        };
        if !r.status().is_success()
            || !h("content-type").starts_with(ty)
            || !h("cache-control").contains(cache)
            || h("content-security-policy") != trellis_console::CONTENT_SECURITY_POLICY
        {
            return fail(format!(
                "{path}: HTTP {}, content-type {:?}, cache-control {:?}, csp {:?}",
                r.status(),
                h("content-type"),
                h("cache-control"),
                h("content-security-policy")
            ));
        }
    }
    let html = reqwest::get(format!("{base}/")).await?.text().await?;
    if !html.contains(&want) {
        return fail(format!(
            "{} serves another build of the console (expected assets under {want}); \
             rebuild it with `cargo build -p trellis-cli`",
            Server::binary().display()
        ));
    }
    Ok(())
}
