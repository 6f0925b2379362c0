//! Property-based fuzzing of the API surface that untrusted input reaches first: the parameter
//! parser (scalars, `name[i].field` maps, control characters, repeated names), validation
//! against every catalog command, the typed accessors and paging, request signatures (v1 and v3,
//! tampering), and the XML renderer. The properties: nothing panics, every refusal of bad input
//! is a 4xx CloudStack code, signatures verify exactly when nothing was changed.
//!
//! `PROPTEST_CASES` sets the number of inputs per property (256 by default; the count run for
//! the figures in docs/reliability.md is given there).

use proptest::prelude::*;
use trellis_api::catalog::COMMANDS;
use trellis_api::signature::{parse_expires, sign, string_to_sign, verify};
use trellis_api::{ApiError, Params};

/// Parameter names as clients send them and as attackers vary them: real catalog names, map
/// entries well and badly formed, odd case, odd characters.
fn name() -> impl Strategy<Value = String> {
    let catalog: Vec<String> = COMMANDS
        .iter()
        .flat_map(|c| c.params.iter().map(|p| p.name.to_string()))
        .collect();
    prop_oneof![
        4 => proptest::sample::select(catalog.clone()),
        2 => (proptest::sample::select(catalog.clone()), any::<u32>(), "[a-z]{1,8}")
            .prop_map(|(n, i, k)| format!("{n}[{i}].{k}")),
        1 => (proptest::sample::select(catalog), ".{0,6}", ".{0,6}")
            .prop_map(|(n, i, k)| format!("{n}[{i}]{k}")),
        1 => "[pP][aA][gG][eE]([sS][iI][zZ][eE])?",
        1 => ".{0,24}",
    ]
}

/// Values: numbers at the edges, uuids, dates, booleans, lists, long and odd strings.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => any::<i64>().prop_map(|n| n.to_string()),
        1 => Just("-1".to_string()),
        1 => "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        1 => "(true|false|TRUE|yes|1|0)",
        1 => "[0-9]{4}-[0-9]{2}-[0-9]{2}( [0-9]{2}:[0-9]{2}:[0-9]{2})?",
        1 => "([a-z0-9]{1,6},){0,4}[a-z0-9]{0,6}",
        3 => ".{0,40}",
        1 => proptest::collection::vec(any::<char>(), 0..300).prop_map(|c| c.into_iter().collect()),
    ]
}

fn pairs() -> impl Strategy<Value = Vec<(String, String)>> {
    proptest::collection::vec((name(), value()), 0..24)
}

/// A refusal of bad input: CloudStack's parameter codes, never a server error.
fn is_input_error(e: &ApiError) -> bool {
    (430..=432).contains(&e.code)
}

proptest! {
    #[test]
    fn parsing_and_validating_any_input_never_panics_and_refuses_with_4xx(raw in pairs(), pick in any::<prop::sample::Index>()) {
        let parsed = Params::from_pairs(raw.clone());
        let p = match parsed {
            Ok(p) => p,
            Err(e) => {
                prop_assert!(is_input_error(&e), "{} {}", e.code, e.text);
                return Ok(());
            }
        };
        // Every accessor on every name that came in, and validation against a command.
        for (n, _) in &raw {
            let base = n.split('[').next().unwrap_or(n);
            let _ = (p.str(n), p.raw(n), p.bool(n), p.int(n), p.list(n));
            let _ = (p.map_flat(base), p.map_kv(base), p.map_objects(base), p.map_pairs(base));
        }
        let cmd = pick.get(COMMANDS);
        if let Err(e) = p.validate(cmd) {
            prop_assert!(is_input_error(&e), "{}: {} {}", cmd.name, e.code, e.text);
            prop_assert!(e.text.len() <= trellis_api::error::MAX_ERROR_TEXT + 64);
        }
        let _ = p.unknown(cmd);
        if let Err(e) = p.paging(500) {
            prop_assert!(is_input_error(&e), "{} {}", e.code, e.text);
        }
    }

    #[test]
    fn paging_at_the_edges_of_i64_is_refused_not_overflowed(
        page in prop_oneof![any::<i64>(), -2..=3i64, (i64::MAX - 3)..=i64::MAX],
        size in prop_oneof![any::<i64>(), -2..=501i64],
    ) {
        let p = Params::from_pairs([
            ("page".to_string(), page.to_string()),
            ("pagesize".to_string(), size.to_string()),
        ]).unwrap();
        match p.paging(500) {
            Ok((offset, limit)) => {
                prop_assert!(offset >= 0);
                prop_assert!(limit.is_none_or(|l| (1..=500).contains(&l)));
            }
            Err(e) => prop_assert!(is_input_error(&e)),
        }
    }

    #[test]
    fn a_signed_request_verifies_and_any_change_breaks_it(
        raw in proptest::collection::vec(("[a-zA-Z][a-zA-Z0-9]{0,10}", ".{0,30}"), 1..10),
        secret in "[A-Za-z0-9_-]{8,40}",
        change in any::<prop::sample::Index>(),
    ) {
        let mut p: Vec<(String, String)> = vec![
            ("command".into(), "listZones".into()),
            ("apiKey".into(), "key".into()),
        ];
        let mut seen = std::collections::HashSet::new();
        seen.insert("command".to_string());
        seen.insert("apikey".to_string());
        for (k, v) in raw {
            if seen.insert(k.to_lowercase()) && !k.eq_ignore_ascii_case("signature") {
                p.push((k, v));
            }
        }
        let signature = sign(&p, &secret);
        let mut signed = p.clone();
        signed.push(("signature".into(), signature));
        prop_assert!(verify(&signed, &secret, 0).is_ok());
        let wrong = format!("{secret}x");
        prop_assert!(verify(&signed, &wrong, 0).is_err());
        // Change one value: the string to sign differs, so the signature must not verify.
        let at = change.index(p.len());
        let mut tampered = signed.clone();
        tampered[at].1.push('!');
        if string_to_sign(&tampered[..tampered.len() - 1]) != string_to_sign(&p) {
            prop_assert!(verify(&tampered, &secret, 0).is_err());
        }
    }

    #[test]
    fn any_signature_input_is_refused_without_panicking(raw in pairs(), secret in ".{0,20}", expires in ".{0,30}") {
        let mut p = raw;
        p.push(("signatureVersion".into(), "3".into()));
        p.push(("expires".into(), expires.clone()));
        let _ = parse_expires(&expires);
        let _ = verify(&p, &secret, 1_700_000_000_000);
    }

    #[test]
    fn the_xml_renderer_takes_any_text(key in ".{0,20}", text in ".{0,200}") {
        let body = serde_json::json!({ key: text, "n": [1, {"x": null}] });
        let xml = trellis_api::xml::render("listzonesresponse", &body);
        prop_assert!(xml.starts_with("<?xml"));
    }
}
