//! Seeding through the server's own API: each seed is looked up by name first, so running
//! quickstart again creates nothing twice.

use super::{
    Seeded, SimSeed, Sims, LOCAL_CLUSTER, LOCAL_HOST, LOCAL_TEMPLATE, MEDIUM_OFFERING, NETWORK,
    SMALL_OFFERING, ZONE,
};
use anyhow::Context as _;
use serde_json::Value;
use std::time::{Duration, Instant};
use trellis_client::Client;

/// The `id` of a created object, whether the response holds it as an object or a list.
pub(super) fn id_in(response: &Value, key: &str) -> anyhow::Result<String> {
    let item = match &response[key] {
        Value::Array(items) => items.first().cloned().unwrap_or(Value::Null),
        other => other.clone(),
    };
    item["id"]
        .as_str()
        .map(str::to_string)
        .with_context(|| format!("no {key} id in {response}"))
}

/// The id of the first item of `list_key` named `name` in the answer to `command`.
async fn find_named(
    client: &Client,
    command: &str,
    params: &[(&str, &str)],
    list_key: &str,
    name: &str,
) -> anyhow::Result<Option<String>> {
    let answer = client
        .call(command, params)
        .await
        .with_context(|| format!("{command} failed"))?;
    Ok(answer[list_key].as_array().and_then(|items| {
        items
            .iter()
            .find(|item| item["name"].as_str() == Some(name))
            .and_then(|item| item["id"].as_str().map(str::to_string))
    }))
}

/// Finds an object by name, else creates it; returns its id.
async fn ensure(
    client: &Client,
    find: (&str, &[(&str, &str)], &str),
    name: &str,
    create: (&str, &[(&str, &str)], &str),
) -> anyhow::Result<String> {
    let (list_command, list_params, list_key) = find;
    if let Some(id) = find_named(client, list_command, list_params, list_key, name).await? {
        return Ok(id);
    }
    let (create_command, create_params, create_key) = create;
    let answer = client
        .call(create_command, create_params)
        .await
        .with_context(|| format!("{create_command} {name} failed"))?;
    id_in(&answer, create_key)
}

async fn extension_id(client: &Client, name: &str) -> anyhow::Result<String> {
    find_named(
        client,
        "listExtensions",
        &[("name", name)],
        "extension",
        name,
    )
    .await?
    .with_context(|| format!("the built-in extension {name} is missing"))
}

/// A cluster bound to `extension` with one host carrying `host_details` (updated when the
/// host exists, so restarted simulators' new addresses reach it); returns the cluster id.
async fn ensure_cluster_with_host(
    client: &Client,
    zone: &str,
    extension: &str,
    cluster_name: &str,
    host_url: &str,
    host_details: &[(&str, String)],
) -> anyhow::Result<String> {
    let extension_id = extension_id(client, extension).await?;
    let cluster = ensure(
        client,
        ("listClusters", &[("name", cluster_name)], "cluster"),
        cluster_name,
        (
            "addCluster",
            &[
                ("zoneid", zone),
                ("clustername", cluster_name),
                ("hypervisor", "External"),
                ("extensionid", &extension_id),
            ],
            "cluster",
        ),
    )
    .await?;
    let details: Vec<(String, String)> = host_details
        .iter()
        .map(|(key, value)| (format!("externaldetails[0].{key}"), value.clone()))
        .collect();
    let hosts = client
        .call("listHosts", &[("clusterid", &cluster)])
        .await
        .context("listHosts failed")?;
    let existing = hosts["host"]
        .as_array()
        .and_then(|list| list.first())
        .and_then(|host| host["id"].as_str())
        .map(str::to_string);
    match existing {
        Some(host) if !details.is_empty() => {
            let mut params = vec![("id".to_string(), host)];
            params.extend(details);
            client
                .call_owned("updateHost", &params)
                .await
                .context("updateHost failed")?;
        }
        Some(_) => {}
        None => {
            let mut params: Vec<(String, String)> = [
                ("zoneid", zone),
                ("clusterid", cluster.as_str()),
                ("url", host_url),
                ("hypervisor", "External"),
                ("username", "External"),
                ("password", "External"),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
            params.extend(details);
            client
                .call_owned("addHost", &params)
                .await
                .with_context(|| format!("addHost {host_url} failed"))?;
        }
    }
    Ok(cluster)
}

/// A template bound to `extension` with instance details `details`; returns its id.
async fn ensure_template(
    client: &Client,
    zone: &str,
    extension: &str,
    name: &str,
    details: &[(&str, &str)],
) -> anyhow::Result<String> {
    if let Some(id) = find_named(
        client,
        "listTemplates",
        &[("templatefilter", "self"), ("name", name)],
        "template",
        name,
    )
    .await?
    {
        return Ok(id);
    }
    let extension_id = extension_id(client, extension).await?;
    let mut params: Vec<(String, String)> = [
        ("name", name),
        ("displaytext", name),
        ("format", "External"),
        ("hypervisor", "External"),
        ("url", "http://localhost/not-downloaded"),
        ("zoneid", zone),
        ("extensionid", extension_id.as_str()),
        ("ispublic", "true"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (key, value) in details {
        params.push((format!("externaldetails[0].{key}"), value.to_string()));
    }
    let answer = client
        .call_owned("registerTemplate", &params)
        .await
        .with_context(|| format!("registerTemplate {name} failed"))?;
    id_in(&answer, "template")
}

pub(super) async fn seed(
    client: &Client,
    sims: Option<&Sims>,
    vnc_port_base: Option<u16>,
) -> anyhow::Result<Seeded> {
    let zone = ensure(
        client,
        ("listZones", &[("name", ZONE)], "zone"),
        ZONE,
        ("createZone", &[("name", ZONE)], "zone"),
    )
    .await?;
    let local_details: Vec<(&str, String)> = vnc_port_base
        .map(|port| ("vnc_port_base", port.to_string()))
        .into_iter()
        .collect();
    ensure_cluster_with_host(
        client,
        &zone,
        "Local",
        LOCAL_CLUSTER,
        LOCAL_HOST,
        &local_details,
    )
    .await?;
    let small = ensure(
        client,
        (
            "listServiceOfferings",
            &[("name", SMALL_OFFERING)],
            "serviceoffering",
        ),
        SMALL_OFFERING,
        (
            "createServiceOffering",
            &[
                ("name", SMALL_OFFERING),
                ("displaytext", "1 vCPU, 256 MiB"),
                ("cpunumber", "1"),
                ("cpuspeed", "1000"),
                ("memory", "256"),
            ],
            "serviceoffering",
        ),
    )
    .await?;
    let medium = ensure(
        client,
        (
            "listServiceOfferings",
            &[("name", MEDIUM_OFFERING)],
            "serviceoffering",
        ),
        MEDIUM_OFFERING,
        (
            "createServiceOffering",
            &[
                ("name", MEDIUM_OFFERING),
                ("displaytext", "2 vCPUs, 1 GiB"),
                ("cpunumber", "2"),
                ("cpuspeed", "1000"),
                ("memory", "1024"),
            ],
            "serviceoffering",
        ),
    )
    .await?;
    let template = ensure_template(
        client,
        &zone,
        "Local",
        LOCAL_TEMPLATE,
        &[("disk_size_gb", "1")],
    )
    .await?;
    let network = match find_named(
        client,
        "listNetworks",
        &[("zoneid", &zone)],
        "network",
        NETWORK,
    )
    .await?
    {
        Some(id) => id,
        None => {
            let offerings = client
                .call("listNetworkOfferings", &[("guestiptype", "L2")])
                .await
                .context("listNetworkOfferings failed")?;
            let offering = offerings["networkoffering"][0]["id"]
                .as_str()
                .context("no L2 network offering")?
                .to_string();
            let answer = client
                .call(
                    "createNetwork",
                    &[
                        ("name", NETWORK),
                        ("displaytext", "Quickstart L2 network"),
                        ("networkofferingid", &offering),
                        ("zoneid", &zone),
                    ],
                )
                .await
                .context("createNetwork failed")?;
            id_in(&answer, "network")?
        }
    };
    let mut sim_clusters = Vec::new();
    if let Some(sims) = sims {
        for sim in sims.seeds() {
            ensure_cluster_with_host(
                client,
                &zone,
                sim.extension,
                sim.cluster,
                sim.host,
                &sim.host_details,
            )
            .await?;
            let template = ensure_template(
                client,
                &zone,
                sim.extension,
                sim.template,
                &sim.template_details,
            )
            .await?;
            sim_clusters.push(SimSeed {
                extension: sim.extension,
                binary: sim.binary,
                cluster: sim.cluster,
                template,
                url: sim.url.clone(),
            });
        }
    }
    let local_ready = wait_until_ready(client, "Local", Duration::from_secs(30)).await?;
    Ok(Seeded {
        zone,
        small,
        medium,
        template,
        network,
        local_ready,
        sim_clusters,
    })
}

/// Waits until the extension's executable is ready (installed and checked).
async fn wait_until_ready(client: &Client, name: &str, limit: Duration) -> anyhow::Result<bool> {
    let started = Instant::now();
    loop {
        let answer = client
            .call("listExtensions", &[("name", name)])
            .await
            .context("listExtensions failed")?;
        if answer["extension"][0]["pathready"] == Value::Bool(true) {
            return Ok(true);
        }
        if started.elapsed() > limit {
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
