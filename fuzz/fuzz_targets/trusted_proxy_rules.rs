//! Plays the attacker against the trusted-proxy rules: arbitrary header
//! values (and a peer address) for every proxy header mod_wsgi knows, with
//! the configuration taken from the input too. The rules may not panic,
//! and from a peer that is not a trusted proxy no header of a configured
//! category may survive and nothing the proxy headers rewrite may change.

#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use wsgi_core::trusted_proxies::{KNOWN_HEADERS, ProxyEnv, apply_trusted_headers, parse_proxies};

const REWRITTEN: [&str; 7] = [
    "REMOTE_ADDR",
    "HTTP_HOST",
    "SERVER_NAME",
    "SERVER_PORT",
    "SCRIPT_NAME",
    "HTTPS",
    "mod_wsgi.mount_point",
];

fuzz_target!(|data: &[u8]| {
    // Layout: a selector byte for the configured headers (a bit each, two
    // bytes), then NUL-separated fields: proxies, peer, then one value per
    // known header.
    if data.len() < 2 {
        return;
    }
    let mask = u16::from_le_bytes([data[0], data[1]]);
    let mut fields = data[2..].split(|&b| b == 0);
    let proxies_text = String::from_utf8_lossy(fields.next().unwrap_or_default());
    let peer = fields.next().unwrap_or_default().to_vec();
    let proxies = parse_proxies("WSGITrustedProxies", &proxies_text).ok();
    let mut env: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    ProxyEnv::set(&mut env, "REMOTE_ADDR", &peer);
    ProxyEnv::set(&mut env, "HTTP_HOST", b"real.example");
    ProxyEnv::set(&mut env, "SERVER_NAME", b"real.example");
    ProxyEnv::set(&mut env, "SERVER_PORT", b"80");
    ProxyEnv::set(&mut env, "SCRIPT_NAME", b"/app");
    for (name, _) in KNOWN_HEADERS {
        if let Some(value) = fields.next() {
            ProxyEnv::set(&mut env, name, value);
        }
    }
    let configured: Vec<String> = KNOWN_HEADERS
        .iter()
        .enumerate()
        .filter(|(i, _)| mask & (1 << (i % 16)) != 0)
        .map(|(_, (name, _))| name.to_string())
        .collect();
    let before: Vec<Option<Vec<u8>>> = REWRITTEN.iter().map(|name| ProxyEnv::get(&env, name)).collect();
    let peer_trusted = match &proxies {
        None => true,
        Some(list) => std::str::from_utf8(&peer)
            .ok()
            .and_then(|p| p.trim().parse().ok())
            .is_some_and(|address| list.iter().any(|net| net.contains(&address))),
    };
    let _ = apply_trusted_headers(&mut env, &configured, proxies.as_deref());
    if peer_trusted {
        return;
    }
    let categories: Vec<_> = KNOWN_HEADERS
        .iter()
        .filter(|(name, _)| configured.iter().any(|c| c == name))
        .map(|(_, category)| *category)
        .collect();
    for (name, category) in KNOWN_HEADERS {
        if categories.contains(&category) {
            assert!(ProxyEnv::get(&env, name).is_none(), "{name} survived an untrusted peer");
        }
    }
    let after: Vec<Option<Vec<u8>>> = REWRITTEN.iter().map(|name| ProxyEnv::get(&env, name)).collect();
    assert_eq!(before, after, "an untrusted peer changed the environ");
});
