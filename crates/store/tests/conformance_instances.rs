//! Store conformance, instances and NICs: allocation in one transaction, generation-checked
//! state writes, listings with their filters and paging totals, expunge. Every test runs on
//! SQLite and, when `TRELLIS_TEST_POSTGRES_URL` is set, on PostgreSQL.

mod common;

use std::collections::BTreeMap;

use common::{each_backend, event, instance, network, network_offering, nic, template, zone};
use trellis_model::entity::{DetailOwner, Instance};
use trellis_model::extension::ExtensionState;
use trellis_model::instance::VmState;
use trellis_store::{EventFilter, InstanceFilter, NewExtension, Page, Store};

/// A zone, an extension-bound template and a network to put instances in.
struct Place {
    zone: i64,
    template: i64,
    extension: i64,
    network: i64,
}

async fn place(s: &Store) -> Place {
    let z = s.zone_create(&zone("zi")).await.unwrap();
    let e = s
        .extension_create(
            &NewExtension {
                uuid: common::uuid(),
                name: "inst-ext".into(),
                description: None,
                ext_type: "Orchestrator".into(),
                relative_path: "inst-ext/inst-ext.sh".into(),
                is_user_defined: true,
                state: ExtensionState::Enabled,
                path_ready: true,
            },
            &BTreeMap::new(),
            &BTreeMap::new(),
            1,
        )
        .await
        .unwrap();
    let t = s
        .template_create(&template("tmpl", Some(e.id), 1))
        .await
        .unwrap();
    let no = s
        .network_offering_create(&network_offering("no"))
        .await
        .unwrap();
    let n = s
        .network_create(&network("net", z.id, no.id, 5))
        .await
        .unwrap();
    Place {
        zone: z.id,
        template: t.id,
        extension: e.id,
        network: n.id,
    }
}

fn details(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test]
async fn instance_create_round_trips_with_nics_details_and_event() {
    each_backend(|s| async move {
        let p = place(&s).await;
        let want = instance("vm-a", 5, p.zone, p.template);
        let nics = [
            nic(p.network, 1, "02:00:00:00:00:02", Some("10.2.0.11")),
            nic(p.network, 0, "02:00:00:00:00:01", Some("10.2.0.10")),
        ];
        let d = details(&[("cpu.corespersocket", "2"), ("External:node", "pve1")]);
        let ev = event("VM.CREATE", 5, &want.uuid, "creating vm-a");
        let a = s
            .instance_create(&want, &nics, &d, Some(&ev))
            .await
            .unwrap();
        assert_eq!(a.instance_name, format!("i-5-{}-VM", a.id));
        assert_eq!(a.generation, 1, "a new instance starts at generation 1");
        assert!(!a.started_once && a.removed.is_none());
        let expected = Instance {
            id: a.id,
            instance_name: a.instance_name.clone(),
            generation: 1,
            ..want.clone()
        };
        assert_eq!(a, expected);
        assert_eq!(
            s.instance_get(a.id).await.unwrap().as_ref(),
            Some(&expected)
        );
        assert_eq!(
            s.instance_by_uuid(&want.uuid).await.unwrap().as_ref(),
            Some(&expected)
        );
        assert!(s.instance_get(a.id + 1000).await.unwrap().is_none());
        assert!(s.instance_by_uuid(&common::uuid()).await.unwrap().is_none());

        // NICs come back in device order, bound to the instance.
        let got = s.nic_list(a.id).await.unwrap();
        assert_eq!(
            got.iter()
                .map(|n| (n.device_id, n.mac.as_str(), n.instance_id))
                .collect::<Vec<_>>(),
            [
                (0, "02:00:00:00:00:01", a.id),
                (1, "02:00:00:00:00:02", a.id)
            ]
        );
        assert!(got[0].is_default && !got[1].is_default);
        assert_eq!(got[0].uuid, nics[1].uuid);
        assert_eq!(got[0].ip.as_deref(), Some("10.2.0.10"));
        // Details are visible details of the instance; the event was written with it.
        assert_eq!(
            s.details_visible(DetailOwner::Instance, a.id)
                .await
                .unwrap(),
            d
        );
        let (events, n) = s
            .event_list(
                &EventFilter {
                    resource_uuid: Some(want.uuid.clone()),
                    ..Default::default()
                },
                Page::all(),
            )
            .await
            .unwrap();
        assert_eq!(n, 1);
        assert_eq!(events[0].uuid, ev.uuid);
        assert_eq!(events[0].description, "creating vm-a");

        // A second instance without NICs, details or event.
        let b = s
            .instance_create(
                &instance("vm-b", 6, p.zone, p.template),
                &[],
                &BTreeMap::new(),
                None,
            )
            .await
            .unwrap();
        assert_eq!(b.instance_name, format!("i-6-{}-VM", b.id));
        assert!(s.nic_list(b.id).await.unwrap().is_empty());
        let many = s.nic_list_for(&[a.id, b.id, b.id + 1000]).await.unwrap();
        assert_eq!(many.len(), 1, "only instances with NICs: {many:?}");
        assert_eq!(many[&a.id], got);
        assert!(s.nic_list_for(&[]).await.unwrap().is_empty());
        let dv = s
            .details_visible_for(DetailOwner::Instance, &[a.id, b.id])
            .await
            .unwrap();
        assert_eq!(dv.len(), 1);
        assert_eq!(dv[&a.id], d);
        // Per network: IPs in use and live NICs.
        let mut ips = s.network_used_ips(p.network).await.unwrap();
        ips.sort();
        assert_eq!(ips, ["10.2.0.10", "10.2.0.11"]);
        let holders = s.network_address_holders(p.network).await.unwrap();
        assert_eq!(
            holders
                .iter()
                .map(|h| (h.0.as_str(), h.1.as_str()))
                .collect::<Vec<_>>(),
            [
                ("10.2.0.10", a.uuid.as_str()),
                ("10.2.0.11", a.uuid.as_str())
            ]
        );
        assert_eq!(holders[0].3, a.account_id);
        assert!(s
            .network_address_holders(p.network + 1000)
            .await
            .unwrap()
            .is_empty());
        assert_eq!(s.network_nic_count(p.network).await.unwrap(), 2);
        assert_eq!(s.network_nic_count(p.network + 1000).await.unwrap(), 0);
        let max = got.iter().map(|n| n.id).max().unwrap();
        assert_eq!(s.next_nic_seq().await.unwrap(), max + 1);
    })
    .await;
}

#[tokio::test]
async fn instance_create_is_all_or_nothing() {
    each_backend(|s| async move {
        let p = place(&s).await;
        assert_eq!(s.next_nic_seq().await.unwrap(), 1, "no NICs yet");
        let a = instance("vm-a", 5, p.zone, p.template);
        s.instance_create(
            &a,
            &[nic(p.network, 0, "02:00:00:00:00:aa", None)],
            &BTreeMap::new(),
            None,
        )
        .await
        .unwrap();
        // A second allocation whose NIC reuses a MAC fails as a whole: no instance, no details,
        // no event.
        let b = instance("vm-b", 5, p.zone, p.template);
        let err = s
            .instance_create(
                &b,
                &[nic(p.network, 0, "02:00:00:00:00:aa", None)],
                &details(&[("k", "v")]),
                Some(&event("VM.CREATE", 5, &b.uuid, "creating vm-b")),
            )
            .await
            .unwrap_err();
        assert!(err.is_unique_violation(), "{err}");
        assert!(s.instance_by_uuid(&b.uuid).await.unwrap().is_none());
        let (list, total) = s
            .instance_list(&InstanceFilter::default(), Page::all())
            .await
            .unwrap();
        assert_eq!((list.len(), total), (1, 1));
        assert_eq!(list[0].uuid, a.uuid);
        let events = s
            .event_list(
                &EventFilter {
                    resource_uuid: Some(b.uuid.clone()),
                    ..Default::default()
                },
                Page::all(),
            )
            .await
            .unwrap();
        assert_eq!(events.1, 0, "the event of a failed allocation is not kept");
        assert_eq!(s.network_nic_count(p.network).await.unwrap(), 1);
        // A duplicate instance uuid is a unique violation too.
        let dup = s
            .instance_create(&a, &[], &BTreeMap::new(), None)
            .await
            .unwrap_err();
        assert!(dup.is_unique_violation(), "{dup}");
    })
    .await;
}

#[tokio::test]
async fn instance_state_writes_are_generation_checked() {
    each_backend(|s| async move {
        let p = place(&s).await;
        let vm = s
            .instance_create(
                &instance("vm", 5, p.zone, p.template),
                &[],
                &BTreeMap::new(),
                None,
            )
            .await
            .unwrap();
        assert_eq!(vm.generation, 1);
        // The current generation wins and bumps the generation.
        let starting = s
            .instance_update_state(vm.id, 1, VmState::Starting, Some(7))
            .await
            .unwrap()
            .expect("current generation");
        assert_eq!(
            (
                starting.state.as_str(),
                starting.host_id,
                starting.last_host_id,
                starting.generation
            ),
            ("Starting", Some(7), Some(7), 2)
        );
        // A stale generation changes nothing.
        assert!(s
            .instance_update_state(vm.id, 1, VmState::Stopped, None)
            .await
            .unwrap()
            .is_none());
        assert!(s
            .instance_mark_running(vm.id, 1, 8, 100)
            .await
            .unwrap()
            .is_none());
        assert!(!s.instance_expunge(vm.id, 1, 100).await.unwrap());
        assert_eq!(s.instance_get(vm.id).await.unwrap().unwrap(), starting);
        // Marking running: state, host, power and first start in one conditional write.
        let running = s
            .instance_mark_running(vm.id, 2, 8, 100)
            .await
            .unwrap()
            .expect("current generation");
        assert_eq!(
            (
                running.state.as_str(),
                running.host_id,
                running.last_host_id,
                running.power_state.as_str(),
                running.power_state_updated,
                running.started_once,
                running.generation
            ),
            ("Running", Some(8), Some(8), "PowerOn", Some(100), true, 3)
        );
        assert_eq!(s.instance_get(vm.id).await.unwrap().unwrap(), running);
        // Stopping without a host keeps the last host.
        let stopped = s
            .instance_update_state(vm.id, 3, VmState::Stopped, None)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (stopped.host_id, stopped.last_host_id, stopped.generation),
            (None, Some(8), 4)
        );
        // Racing writers with the same generation: exactly one wins.
        let mut tasks = Vec::new();
        for (i, state) in VmState::ALL.into_iter().enumerate() {
            let s = s.clone();
            let i = i as i64;
            tasks.push(tokio::spawn(async move {
                s.instance_update_state(vm.id, 4, state, Some(i))
                    .await
                    .unwrap()
            }));
        }
        let mut winners = Vec::new();
        for t in tasks {
            winners.extend(t.await.unwrap());
        }
        assert_eq!(winners.len(), 1, "one writer wins: {winners:?}");
        let now = s.instance_get(vm.id).await.unwrap().unwrap();
        assert_eq!(now.generation, 5);
        assert_eq!(now.state, winners[0].state);
    })
    .await;
}

#[tokio::test]
async fn instance_setters_listings_and_host_queries() {
    each_backend(|s| async move {
        let p = place(&s).await;
        // Another template (no extension) and another zone.
        let other_t = s
            .template_create(&template("plain", None, 1))
            .await
            .unwrap();
        let z2 = s.zone_create(&zone("z2")).await.unwrap();
        let mk = |name: &'static str, account: i64, zone: i64, tmpl: i64| {
            let s = s.clone();
            async move {
                s.instance_create(
                    &instance(name, account, zone, tmpl),
                    &[],
                    &BTreeMap::new(),
                    None,
                )
                .await
                .unwrap()
            }
        };
        let web1 = mk("web-1", 5, p.zone, p.template).await;
        let web2 = mk("web-2", 5, p.zone, other_t.id).await;
        let db = mk("db_1", 6, z2.id, p.template).await;
        let gone = mk("gone", 6, p.zone, p.template).await;

        // Setters.
        s.instance_set_power(web1.id, "PowerOff", 42).await.unwrap();
        s.instance_set_started_once(web1.id).await.unwrap();
        s.instance_set_display_name(web1.id, "Front End")
            .await
            .unwrap();
        s.instance_set_vnc_password(web1.id, "n3w").await.unwrap();
        s.instance_set_name(web1.id, "web-1b").await.unwrap();
        assert_eq!(
            s.instance_get(web1.id).await.unwrap().unwrap().name,
            "web-1b"
        );
        s.instance_set_name(web1.id, "web-1").await.unwrap();
        let w = s.instance_get(web1.id).await.unwrap().unwrap();
        assert_eq!(
            (
                w.power_state.as_str(),
                w.power_state_updated,
                w.started_once,
                w.display_name.as_str(),
                w.vnc_password.as_str()
            ),
            ("PowerOff", Some(42), true, "Front End", "n3w")
        );
        assert_eq!(
            w.generation, 1,
            "setters of observed values do not bump the generation"
        );
        // User data and the key details, together or apart; other details stay.
        s.detail_upsert(
            trellis_model::entity::DetailOwner::Instance,
            web1.id,
            "keep",
            "me",
            true,
        )
        .await
        .unwrap();
        s.instance_set_guest_data(web1.id, Some("bmV3"), Some(("ssh-ed25519 AAAA k", "k1")))
            .await
            .unwrap();
        s.instance_set_guest_data(web1.id, None, Some(("ssh-ed25519 BBBB k", "k2")))
            .await
            .unwrap();
        let w = s.instance_get(web1.id).await.unwrap().unwrap();
        assert_eq!(w.user_data.as_deref(), Some("bmV3"));
        let d = s
            .details_visible(trellis_model::entity::DetailOwner::Instance, web1.id)
            .await
            .unwrap();
        assert_eq!(
            d.get("SSH.PublicKey").map(String::as_str),
            Some("ssh-ed25519 BBBB k")
        );
        assert_eq!(d.get("SSH.KeyPairNames").map(String::as_str), Some("k2"));
        assert_eq!(d.get("keep").map(String::as_str), Some("me"));
        s.instance_set_guest_data(web1.id, Some("b3RoZXI="), None)
            .await
            .unwrap();
        let w = s.instance_get(web1.id).await.unwrap().unwrap();
        assert_eq!(w.user_data.as_deref(), Some("b3RoZXI="));

        let web1 = s
            .instance_update_state(web1.id, 1, VmState::Running, Some(11))
            .await
            .unwrap()
            .unwrap();
        let web2 = s
            .instance_update_state(web2.id, 1, VmState::Running, Some(11))
            .await
            .unwrap()
            .unwrap();
        let gone = s
            .instance_update_state(gone.id, 1, VmState::Destroyed, None)
            .await
            .unwrap()
            .unwrap();

        let names = |f: InstanceFilter| {
            let s = s.clone();
            async move {
                let (items, total) = s.instance_list(&f, Page::all()).await.unwrap();
                assert_eq!(total, items.len() as i64);
                items.into_iter().map(|i| i.name).collect::<Vec<_>>()
            }
        };
        let all = InstanceFilter::default();
        assert_eq!(
            names(all.clone()).await,
            ["web-1", "web-2", "db_1"],
            "Destroyed hidden"
        );
        assert_eq!(
            names(InstanceFilter {
                include_destroyed: true,
                ..all.clone()
            })
            .await,
            ["web-1", "web-2", "db_1", "gone"]
        );
        assert_eq!(
            names(InstanceFilter {
                uuid: Some(web2.uuid.clone()),
                ..all.clone()
            })
            .await,
            ["web-2"]
        );
        assert_eq!(
            names(InstanceFilter {
                name: Some("db_1".into()),
                ..all.clone()
            })
            .await,
            ["db_1"]
        );
        assert_eq!(
            names(InstanceFilter {
                state: Some("running".into()),
                ..all.clone()
            })
            .await,
            ["web-1", "web-2"],
            "states compare case-insensitively"
        );
        assert_eq!(
            names(InstanceFilter {
                zone_id: Some(z2.id),
                ..all.clone()
            })
            .await,
            ["db_1"]
        );
        assert_eq!(
            names(InstanceFilter {
                host_id: Some(11),
                ..all.clone()
            })
            .await,
            ["web-1", "web-2"]
        );
        assert_eq!(
            names(InstanceFilter {
                account_id: Some(6),
                include_destroyed: true,
                ..all.clone()
            })
            .await,
            ["db_1", "gone"]
        );
        assert_eq!(
            names(InstanceFilter {
                extension_id: Some(p.extension),
                ..all.clone()
            })
            .await,
            ["web-1", "db_1"],
            "the extension of the instance's template"
        );
        assert_eq!(
            names(InstanceFilter {
                keyword: Some("FRONT".into()),
                ..all.clone()
            })
            .await,
            ["web-1"],
            "keywords match the display name too"
        );
        assert_eq!(
            names(InstanceFilter {
                keyword: Some("_".into()),
                ..all.clone()
            })
            .await,
            ["db_1"],
            "LIKE wildcards in keywords are literal"
        );
        let (page, total) = s
            .instance_list(
                &all,
                Page {
                    offset: 1,
                    limit: Some(1),
                },
            )
            .await
            .unwrap();
        assert_eq!(total, 3, "the total is of all matches, not the page");
        assert_eq!(page.iter().map(|i| i.id).collect::<Vec<_>>(), [web2.id]);

        // Host queries: current host, or last host while stopped.
        let on = |h: i64| {
            let s = s.clone();
            async move {
                s.instance_list_for_host(h)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|i| i.name)
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(on(11).await, ["web-1", "web-2"]);
        assert_eq!(s.instance_count_for_host(11).await.unwrap(), 2);
        let web2 = s
            .instance_update_state(web2.id, web2.generation, VmState::Stopped, None)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            on(11).await,
            ["web-1", "web-2"],
            "a stopped instance stays on its last host"
        );
        s.instance_update_state(web2.id, web2.generation, VmState::Running, Some(12))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(on(11).await, ["web-1"]);
        assert_eq!(on(12).await, ["web-2"]);
        assert_eq!(s.instance_count_for_host(11).await.unwrap(), 1);
        assert!(on(99).await.is_empty());
        assert_eq!(s.instance_count_for_host(99).await.unwrap(), 0);
        assert_eq!(
            (web1.host_id, gone.host_id, db.host_id),
            (Some(11), None, None)
        );
    })
    .await;
}

#[tokio::test]
async fn expunge_releases_nics_and_details() {
    each_backend(|s| async move {
        let p = place(&s).await;
        let mac = "02:00:00:00:00:77";
        let vm = s
            .instance_create(
                &instance("vm", 5, p.zone, p.template),
                &[nic(p.network, 0, mac, Some("10.2.0.50"))],
                &details(&[("a", "1")]),
                None,
            )
            .await
            .unwrap();
        let vm = s
            .instance_update_state(vm.id, 1, VmState::Running, Some(3))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(s.instance_count_for_host(3).await.unwrap(), 1);
        assert!(s.instance_expunge(vm.id, vm.generation, 500).await.unwrap());
        // The row stays for history, marked removed; uuid lookups and lists no longer see it.
        let row = s
            .instance_get(vm.id)
            .await
            .unwrap()
            .expect("kept for history");
        assert_eq!(
            (row.state.as_str(), row.removed, row.host_id, row.generation),
            ("Expunged", Some(500), None, vm.generation + 1)
        );
        assert!(s.instance_by_uuid(&vm.uuid).await.unwrap().is_none());
        let all = InstanceFilter {
            include_destroyed: true,
            ..Default::default()
        };
        assert_eq!(s.instance_list(&all, Page::all()).await.unwrap().1, 0);
        assert_eq!(s.instance_count_for_host(3).await.unwrap(), 0);
        assert!(s.instance_list_for_host(3).await.unwrap().is_empty());
        // NICs are released (their MAC and IP free again), details dropped.
        assert!(s.nic_list(vm.id).await.unwrap().is_empty());
        assert!(s.nic_list_for(&[vm.id]).await.unwrap().is_empty());
        assert_eq!(s.network_nic_count(p.network).await.unwrap(), 0);
        assert!(s.network_used_ips(p.network).await.unwrap().is_empty());
        assert!(s
            .details_get(DetailOwner::Instance, vm.id)
            .await
            .unwrap()
            .is_empty());
        let again = s
            .instance_create(
                &instance("vm2", 5, p.zone, p.template),
                &[nic(p.network, 0, mac, Some("10.2.0.50"))],
                &BTreeMap::new(),
                None,
            )
            .await
            .expect("an expunged instance's MAC can be reused");
        // A second expunge of the same generation is refused.
        assert!(!s.instance_expunge(vm.id, vm.generation, 600).await.unwrap());
        assert_eq!(s.nic_list(again.id).await.unwrap()[0].mac, mac);
    })
    .await;
}

#[tokio::test]
async fn nic_update_changes_mac_and_ip() {
    each_backend(|s| async move {
        let p = place(&s).await;
        let vm = s
            .instance_create(
                &instance("vm", 5, p.zone, p.template),
                &[
                    nic(p.network, 0, "02:00:00:00:01:00", None),
                    nic(p.network, 1, "02:00:00:00:01:01", Some("10.2.0.9")),
                ],
                &BTreeMap::new(),
                None,
            )
            .await
            .unwrap();
        let before = s.nic_list(vm.id).await.unwrap();
        s.nic_update(before[0].id, "52:54:00:12:34:56", Some("10.2.0.77"))
            .await
            .unwrap();
        s.nic_update(before[1].id, "52:54:00:12:34:57", None)
            .await
            .unwrap();
        let after = s.nic_list(vm.id).await.unwrap();
        assert_eq!(
            after
                .iter()
                .map(|n| (n.mac.as_str(), n.ip.as_deref()))
                .collect::<Vec<_>>(),
            [
                ("52:54:00:12:34:56", Some("10.2.0.77")),
                ("52:54:00:12:34:57", None)
            ]
        );
        assert_eq!(after[0].uuid, before[0].uuid);
        // MACs stay unique.
        let err = s
            .nic_update(before[1].id, "52:54:00:12:34:56", None)
            .await
            .unwrap_err();
        assert!(err.is_unique_violation(), "{err}");
        assert_eq!(s.network_used_ips(p.network).await.unwrap(), ["10.2.0.77"]);
    })
    .await;
}

#[tokio::test]
async fn instances_are_counted_by_state_without_the_expunged() {
    each_backend(|s| async move {
        let p = place(&s).await;
        assert!(s.instance_count_by_state().await.unwrap().is_empty());
        let mut vms = Vec::new();
        for (i, state) in [
            VmState::Running,
            VmState::Running,
            VmState::Stopped,
            VmState::Error,
        ]
        .into_iter()
        .enumerate()
        {
            let vm = s
                .instance_create(
                    &instance(&format!("c{i}"), 5, p.zone, p.template),
                    &[],
                    &BTreeMap::new(),
                    None,
                )
                .await
                .unwrap();
            let vm = s
                .instance_update_state(vm.id, vm.generation, state, None)
                .await
                .unwrap()
                .unwrap();
            vms.push(vm);
        }
        let expunged = &vms[3];
        assert!(s
            .instance_expunge(expunged.id, expunged.generation, 9)
            .await
            .unwrap());
        assert_eq!(
            s.instance_count_by_state().await.unwrap(),
            vec![("Running".to_string(), 2), ("Stopped".to_string(), 1)]
        );
    })
    .await;
}
