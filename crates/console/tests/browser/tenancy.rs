//! The tenancy pages in a real browser: an administrator builds a domain tree, creates a role
//! with ordered rules, creates an account in a domain and locks, disables and enables it; a user
//! with the default User role sees none of these pages and changes its own password.

use crate::harness::{fail, Api, Page, Server, TestResult, ADMIN_PASSWORD};
use crate::{check_served_build, ENTER, ESCAPE};
use fantoccini::Locator;
use serde_json::Value;
use std::time::{Duration, Instant};

const ADMIN_PAGES: [&str; 4] = ["/domains", "/accounts", "/users", "/roles"];

pub async fn walk(page: &Page<'_>, server: &Server) -> TestResult {
    check_served_build(&server.base).await?;
    page.c.set_window_size(1280, 1000).await?;
    page.open("").await?;
    log_in(page, "admin", ADMIN_PASSWORD).await?;
    for path in ADMIN_PAGES {
        page.wait(&format!("a[data-path='{path}']")).await?;
    }
    let api = Api::login(&server.base, "admin", ADMIN_PASSWORD).await?;

    Box::pin(domains(page, &api)).await?;
    Box::pin(roles(page, &api)).await?;
    Box::pin(accounts(page, &api)).await?;
    Box::pin(plain_user(page, &api)).await?;
    page.no_script_errors().await?;
    Ok(())
}

async fn log_in(page: &Page<'_>, username: &str, password: &str) -> TestResult {
    page.fill("#login-username", username).await?;
    page.fill("#login-password", &format!("{password}{ENTER}"))
        .await?;
    page.wait_text("#current-user", username).await?;
    Ok(())
}

async fn submit(page: &Page<'_>) -> TestResult {
    page.click("dialog button[type=submit]").await?;
    page.wait_gone("dialog").await
}

/// Confirm the open confirmation dialog (its danger button).
async fn confirm(page: &Page<'_>) -> TestResult {
    page.click("dialog .dialog-footer .btn-danger").await?;
    page.wait_gone("dialog").await
}

/// Add a child domain from the tree, with the given parent path.
async fn add_child(page: &Page<'_>, parent: &str, name: &str, network: &str) -> TestResult {
    page.click(&format!(
        "tr[data-domain='{parent}'] [data-action=add-child]"
    ))
    .await?;
    page.fill("dialog [name=name]", name).await?;
    if !network.is_empty() {
        page.fill("dialog [name=networkdomain]", network).await?;
    }
    Ok(())
}

async fn domains(page: &Page<'_>, api: &Api) -> TestResult {
    page.click("a[data-path='/domains']").await?;
    page.wait("tr[data-domain='ROOT']").await?;
    add_child(page, "ROOT", "engineering", "eng.example.internal").await?;
    submit(page).await?;
    page.wait_text("tr[data-domain='ROOT/engineering']", "eng.example.internal")
        .await?;
    add_child(page, "ROOT/engineering", "scratch", "").await?;
    submit(page).await?;
    page.wait("tr[data-domain='ROOT/engineering/scratch']")
        .await?;
    // A tree: the child comes right after its parent, one level further in.
    let order = attr_list(page, "main tbody tr", "data-domain").await?;
    let levels = attr_list(page, "main tbody .tree-name", "data-level").await?;
    if order != ["ROOT", "ROOT/engineering", "ROOT/engineering/scratch"]
        || levels != ["0", "1", "2"]
    {
        return fail(format!(
            "the domain tree reads {order:?} at levels {levels:?}"
        ));
    }

    // A second domain of the same name under ROOT: the form shows the API's error text.
    add_child(page, "ROOT", "engineering", "").await?;
    page.click("dialog button[type=submit]").await?;
    let refused = api
        .call("createDomain", &[("name", "engineering")])
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    let shown = page.wait_text("dialog .form-error", "engineering").await?;
    if shown.is_empty() || !refused.contains(&shown) {
        return fail(format!(
            "the form shows {shown:?}, not the API's errortext ({refused})"
        ));
    }
    page.c.active_element().await?.send_keys(ESCAPE).await?;
    page.wait_gone("dialog").await?;

    // Rename: the path follows.
    page.click("tr[data-domain='ROOT/engineering/scratch'] [data-action=edit-domain]")
        .await?;
    page.fill("dialog [name=name]", "sandbox").await?;
    submit(page).await?;
    page.wait("tr[data-domain='ROOT/engineering/sandbox']")
        .await?;
    if page
        .exists("tr[data-domain='ROOT/engineering/scratch']")
        .await?
    {
        return fail("the renamed domain is still listed under its old path");
    }

    // Delete with cleanup (an async job); the tree loses the row.
    page.click("tr[data-domain='ROOT/engineering/sandbox'] [data-action=delete-domain]")
        .await?;
    page.click("dialog [name=cleanup]").await?;
    submit(page).await?;
    page.wait_gone("tr[data-domain='ROOT/engineering/sandbox']")
        .await?;
    let left = api
        .call("listDomains", &[("listall", "true"), ("name", "sandbox")])
        .await?;
    if left["count"].as_i64().unwrap_or(0) != 0 {
        return fail(format!("the deleted domain is still there: {left}"));
    }
    page.shot("domains").await?;
    Ok(())
}

async fn roles(page: &Page<'_>, api: &Api) -> TestResult {
    page.click("a[data-path='/roles']").await?;
    page.wait("tr[data-role='User']").await?;
    // Default roles cannot be edited: no Edit or Delete in their row.
    if page
        .exists("tr[data-role='User'] [data-action=edit-role], tr[data-role='User'] [data-action=delete-role]")
        .await?
    {
        return fail("a default role offers Edit or Delete");
    }
    page.click("[data-action=create-role]").await?;
    page.fill("dialog [name=name]", "Auditor").await?;
    page.select("dialog [name=type]", "User").await?;
    page.fill("dialog [name=description]", "Reads instances only")
        .await?;
    submit(page).await?;
    page.wait_text("h1", "Auditor").await?;
    page.wait_text("#rules", "No rules").await?;

    add_rule(page, "listVirtualMachines", "allow").await?;
    page.wait("tr[data-rule='listVirtualMachines']").await?;
    // A rule the server refuses: its errortext in the form.
    page.click("[data-action=add-rule]").await?;
    page.fill("dialog [name=rule]", "list/everything").await?;
    page.click("dialog button[type=submit]").await?;
    page.wait("dialog .form-error:not([hidden])").await?;
    let error = page.text("dialog .form-error").await?;
    if error.trim().is_empty() || error.contains("highlighted") {
        return fail(format!("no API error for a bad rule: {error:?}"));
    }
    page.click("dialog .form-actions button:not([type=submit])")
        .await?;
    page.wait_gone("dialog").await?;
    add_rule(page, "list*", "deny").await?;
    page.wait("tr[data-rule='list*']").await?;
    rule_order(page, &["listVirtualMachines", "list*"]).await?;

    // Move the wildcard up, then allow it.
    page.click("tr[data-rule='list*'] [data-action=rule-up]")
        .await?;
    rule_order(page, &["list*", "listVirtualMachines"]).await?;
    page.wait_text("tr[data-rule='list*'] td.permission", "deny")
        .await?;
    page.click("tr[data-rule='list*'] [data-action=flip-rule]")
        .await?;
    page.wait_text("tr[data-rule='list*'] td.permission", "allow")
        .await?;

    // After a reload, the order and the permission come from the server.
    page.c.refresh().await?;
    page.wait_text("h1", "Auditor").await?;
    page.wait("tr[data-rule='listVirtualMachines']").await?;
    rule_order(page, &["list*", "listVirtualMachines"]).await?;
    page.wait_text("tr[data-rule='list*'] td.permission", "allow")
        .await?;
    let role_id = page
        .c
        .current_url()
        .await?
        .fragment()
        .and_then(|f| f.strip_prefix("/roles/"))
        .map(str::to_string)
        .unwrap_or_default();
    let perms = api
        .call("listRolePermissions", &[("roleid", &role_id)])
        .await?;
    let stored: Vec<(&str, &str)> = perms["rolepermission"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|p| {
                    (
                        p["rule"].as_str().unwrap_or(""),
                        p["permission"].as_str().unwrap_or(""),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    if stored != [("list*", "allow"), ("listVirtualMachines", "allow")] {
        return fail(format!("the server keeps the rules as {stored:?}"));
    }
    page.shot("role-rules").await?;

    // Import: a role with its rules in one step, in the order written.
    page.click("a[data-path='/roles']").await?;
    page.click("[data-action=import-role]").await?;
    page.fill("dialog [name=name]", "Reader").await?;
    page.fill(
        "dialog [name=rules]",
        "listTemplates allow\nlist* deny Nothing else to read",
    )
    .await?;
    submit(page).await?;
    page.wait_text("h1", "Reader").await?;
    rule_order(page, &["listTemplates", "list*"]).await?;
    page.wait_text("tr[data-rule='list*']", "Nothing else to read")
        .await?;
    Ok(())
}

async fn add_rule(page: &Page<'_>, rule: &str, permission: &str) -> TestResult {
    page.click("[data-action=add-rule]").await?;
    page.fill("dialog [name=rule]", rule).await?;
    page.select("dialog [name=permission]", permission).await?;
    submit(page).await
}

/// The `attr` of every element matching `css`, in document order.
async fn attr_list(page: &Page<'_>, css: &str, attr: &str) -> TestResult<Vec<String>> {
    let mut out = Vec::new();
    for e in page.c.find_all(Locator::Css(css)).await? {
        out.push(e.attr(attr).await?.unwrap_or_default());
    }
    Ok(out)
}

/// Wait until the rules table lists exactly these rules, in this order.
async fn rule_order(page: &Page<'_>, want: &[&str]) -> TestResult {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = attr_list(page, "#rules tbody tr", "data-rule")
            .await
            .unwrap_or_default();
        if got == want {
            return Ok(());
        }
        if Instant::now() > deadline {
            return fail(format!("the rules read {got:?}, not {want:?}"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn account_state(api: &Api, name: &str) -> TestResult<String> {
    let r = api
        .call("listAccounts", &[("listall", "true"), ("name", name)])
        .await?;
    Ok(r["account"][0]["state"].as_str().unwrap_or("").to_string())
}

async fn accounts(page: &Page<'_>, api: &Api) -> TestResult {
    let row = "tr[data-account='eng-team']";
    let state = "tr[data-account='eng-team'] td.state";
    page.click("a[data-path='/accounts']").await?;
    page.wait("tr[data-account='admin']").await?;
    page.click("[data-action=create-account]").await?;
    page.fill("dialog [name=account]", "eng-team").await?;
    page.select_text("dialog [name=domainid]", "ROOT/engineering")
        .await?;
    page.select_text("dialog [name=roleid]", "User (User)")
        .await?;
    page.fill("dialog [name=username]", "erin").await?;
    page.fill("dialog [name=password]", "erin-Secret-1").await?;
    page.fill("dialog [name=email]", "erin@example.com").await?;
    page.fill("dialog [name=firstname]", "Erin").await?;
    page.fill("dialog [name=lastname]", "Engineer").await?;
    submit(page).await?;
    let text = page.wait_text(row, "ROOT/engineering").await?;
    for want in ["enabled", "User"] {
        if !text.contains(want) {
            return fail(format!("the new account's row lacks {want:?}: {text}"));
        }
    }

    // Lock (after a confirmation), then enable: the state shown follows.
    page.click(&format!("{row} [data-action=lock]")).await?;
    confirm(page).await?;
    page.wait_text(state, "locked").await?;
    if account_state(api, "eng-team").await? != "locked" {
        return fail("the console showed locked, the server disagrees");
    }
    page.click(&format!("{row} [data-action=enable]")).await?;
    page.wait_text(state, "enabled").await?;
    if page.exists(&format!("{row} [data-action=enable]")).await? {
        return fail("an enabled account still offers Enable");
    }

    // Disable (not only lock): an async job; then enable again.
    page.click(&format!("{row} [data-action=disable]")).await?;
    page.select("dialog [name=lock]", "false").await?;
    submit(page).await?;
    page.wait_text(state, "disabled").await?;
    if account_state(api, "eng-team").await? != "disabled" {
        return fail("the console showed disabled, the server disagrees");
    }
    page.click(&format!("{row} [data-action=enable]")).await?;
    page.wait_text(state, "enabled").await?;

    // Another role of the same type.
    page.click(&format!("{row} [data-action=edit-account]"))
        .await?;
    page.select_text("dialog [name=roleid]", "Auditor").await?;
    submit(page).await?;
    page.wait_text(row, "Auditor").await?;
    page.shot("accounts").await?;

    // The account's users.
    page.click(&format!("{row} td a")).await?;
    page.wait_text("h1", "Users of eng-team").await?;
    page.wait_text("tr[data-user='erin']", "erin@example.com")
        .await?;
    if page.exists("tr[data-user='admin']").await? {
        return fail("the users of eng-team include admin");
    }
    page.shot("users").await?;
    Ok(())
}

async fn plain_user(page: &Page<'_>, api: &Api) -> TestResult {
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
    page.click("[data-action=logout]").await?;
    page.wait_text(".login-card", "logged out").await?;
    log_in(page, "dana", "dana-Secret-1").await?;
    page.wait("a[data-path='/instances']").await?;
    for path in ADMIN_PAGES {
        if page.exists(&format!("a[data-path='{path}']")).await? {
            return fail(format!("a user with the User role sees {path} in the menu"));
        }
    }
    // Nor the pages themselves: the address left by the administrator (the users of
    // eng-team), or typed in.
    page.wait_text("#not-allowed", "Not available").await?;
    for path in ["#/domains", "#/accounts", "#/roles"] {
        page.route("#/").await?;
        page.wait("#getting-started, .cards").await?;
        page.route(path).await?;
        page.wait_text("#not-allowed", "Not available").await?;
        if page.exists("main table").await? {
            return fail(format!("a user with the User role gets a list at {path}"));
        }
    }
    page.route("#/").await?;

    // Change the password: a wrong current password is refused with the API's text.
    page.click("[data-action=change-password]").await?;
    page.fill("dialog [name=currentpassword]", "not-my-password")
        .await?;
    page.fill("dialog [name=password]", "dana-Secret-2").await?;
    page.fill("dialog [name=confirm]", "dana-Secret-2").await?;
    page.click("dialog button[type=submit]").await?;
    page.wait("dialog .form-error:not([hidden])").await?;
    let error = page.text("dialog .form-error").await?;
    if error.trim().is_empty() || error.contains("highlighted") {
        return fail(format!(
            "no API error for a wrong current password: {error:?}"
        ));
    }
    page.shot("change-password").await?;
    page.fill("dialog [name=currentpassword]", "dana-Secret-1")
        .await?;
    submit(page).await?;
    page.click("[data-action=logout]").await?;
    page.wait_text(".login-card", "logged out").await?;
    page.fill("#login-username", "dana").await?;
    page.fill("#login-password", "dana-Secret-1").await?;
    page.click("#login-submit").await?;
    page.wait_text("#login-error", "not correct").await?;
    log_in(page, "dana", "dana-Secret-2").await?;
    let who: Value = page
        .c
        .execute(
            "return JSON.parse(sessionStorage.getItem('trellis.console.session')).username;",
            vec![],
        )
        .await?;
    if who != "dana" {
        return fail(format!("logged in as {who} after the password change"));
    }
    narrow_top_bar(page).await
}

/// On a phone-sized window the top bar still fits: the user's name, "Password" and "Log out"
/// inside the window, nothing to scroll sideways.
async fn narrow_top_bar(page: &Page<'_>) -> TestResult {
    page.c.set_window_size(420, 900).await?;
    let r = page
        .c
        .execute(
            r#"
const vw = document.documentElement.clientWidth;
const right = (css) => Math.round(document.querySelector(css).getBoundingClientRect().right);
return { vw, scroll: document.documentElement.scrollWidth - vw, logout: right('[data-action=logout]'),
  user: right('#current-user'), label: document.querySelector('[data-action=change-password]').innerText };
"#,
            vec![],
        )
        .await?;
    page.c.set_window_size(1280, 1000).await?;
    let vw = r["vw"].as_i64().unwrap_or(0);
    let fits = r["scroll"].as_i64().unwrap_or(1) <= 0
        && r["logout"].as_i64().unwrap_or(i64::MAX) <= vw
        && r["user"].as_i64().unwrap_or(i64::MAX) <= vw;
    if !fits || r["label"] != "Password" {
        return fail(format!("the top bar does not fit 420 px: {r}"));
    }
    Ok(())
}
