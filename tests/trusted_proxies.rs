//! WSGITrustedProxyHeaders and WSGITrustedProxies, played from both
//! sides: a trusted proxy (this test's connection from 127.0.0.1, when
//! listed) rewrites REMOTE_ADDR, the scheme, host, port, server name and
//! script name; an attacker (the same connection when 127.0.0.1 is not
//! listed) sends every proxy header mod_wsgi knows and none of them reach
//! the application nor change what it sees.

mod common;

use common::*;
use serde_json::Value;

/// Every proxy header mod_wsgi knows, with a spoofed value.
const SPOOFED: [(&str, &str); 15] = [
    ("X-Forwarded-For", "6.6.6.6"),
    ("X-Client-IP", "6.6.6.7"),
    ("X-Real-IP", "6.6.6.8"),
    ("X-Forwarded-Host", "evil.example"),
    ("X-Host", "evil2.example"),
    ("X-Forwarded-Server", "evil-server"),
    ("X-Forwarded-Port", "6666"),
    ("X-Script-Name", "/evil"),
    ("X-Forwarded-Script-Name", "/evil2"),
    ("X-Forwarded-Proto", "https"),
    ("X-Forwarded-Scheme", "https"),
    ("X-Scheme", "https"),
    ("X-Forwarded-HTTPS", "on"),
    ("X-Forwarded-SSL", "on"),
    ("X-HTTPS", "1"),
];

const ALL_CATEGORIES: &str = "X-Forwarded-For X-Forwarded-Proto X-Forwarded-Host \
    X-Forwarded-Port X-Forwarded-Server X-Script-Name";

fn site(mpm: Mpm, mode: Mode) -> Apache {
    let mut builder = SiteBuilder::new(mpm, mode);
    for (url, proxies) in [
        ("/trusted", "127.0.0.1"),
        ("/cidr", "10.0.0.0/8 127.0.0.0/8"),
        ("/untrusted", "10.0.0.0/8 192.168.0.1 2001:db8::/32"),
        ("/chain", "127.0.0.1 10.0.0.0/8 2001:db8::/32"),
    ] {
        builder = builder.mount_app(url, "environ.wsgi", "").conf(&format!(
            "<Location {url}>\n  WSGITrustedProxies {proxies}\n  \
             WSGITrustedProxyHeaders {ALL_CATEGORIES}\n</Location>\n"
        ));
    }
    builder
        .mount_app("/anyone", "environ.wsgi", "")
        .conf(
            "<Location /anyone>\n  WSGITrustedProxyHeaders X-Real-IP\n  \
             WSGITrustedProxyHeaders X-Forwarded-SSL\n</Location>\n",
        )
        .mount_app("/plain", "environ.wsgi", "")
        .start()
}

fn environ(apache: &Apache, path: &str, headers: &[(&str, &str)]) -> Value {
    let response = apache.request("GET", path, headers, b"");
    assert_eq!(response.status, 200, "{response:?}\n{}", apache.error_log());
    serde_json::from_slice(&response.body).expect("the environ as JSON")
}

fn proxy_keys(env: &Value) -> Vec<String> {
    SPOOFED
        .iter()
        .map(|(name, _)| format!("HTTP_{}", name.to_ascii_uppercase().replace('-', "_")))
        .filter(|key| env.get(key).is_some())
        .collect()
}

/// The attacker: 127.0.0.1 is not a trusted proxy of /untrusted, so every
/// header of the trusted categories is dropped and nothing is rewritten.
fn untrusted_peers_cannot_spoof(mpm: Mpm, mode: Mode) {
    let apache = site(mpm, mode);
    let port = apache.port().to_string();
    let env = environ(&apache, "/untrusted", &SPOOFED);
    assert_eq!(proxy_keys(&env), Vec::<String>::new(), "{env}");
    assert_eq!(env["REMOTE_ADDR"], "127.0.0.1");
    assert_eq!(env["wsgi.url_scheme"], "http");
    assert_eq!(env["HTTP_HOST"], format!("127.0.0.1:{port}"));
    assert_eq!(env["SERVER_PORT"], port);
    assert_eq!(env["SERVER_NAME"], "127.0.0.1");
    assert_eq!(env["SCRIPT_NAME"], "/untrusted");
    assert!(env.get("mod_wsgi.mount_point").is_none());
    // Without the directives the headers are the application's business.
    let plain = environ(&apache, "/plain", &SPOOFED);
    assert_eq!(plain["HTTP_X_FORWARDED_FOR"], "6.6.6.6");
    assert_eq!(plain["REMOTE_ADDR"], "127.0.0.1");
}

/// The trusted proxy: each category's configured header rewrites its
/// variable, and the synonyms that were not configured are dropped.
fn trusted_proxies_rewrite_the_environ(mpm: Mpm, mode: Mode) {
    let apache = site(mpm, mode);
    for path in ["/trusted", "/cidr"] {
        let env = environ(&apache, path, &SPOOFED);
        assert_eq!(env["REMOTE_ADDR"], "6.6.6.6", "{path}");
        assert_eq!(env["HTTP_X_FORWARDED_FOR"], "6.6.6.6");
        assert_eq!(env["wsgi.url_scheme"], "https");
        assert_eq!(env["HTTP_HOST"], "evil.example");
        assert_eq!(env["SERVER_PORT"], "6666");
        assert_eq!(env["SERVER_NAME"], "evil-server");
        assert_eq!(env["SCRIPT_NAME"], "/evil");
        assert_eq!(env["mod_wsgi.mount_point"], "/evil");
        // The original script name is still there for those who need it.
        assert_eq!(env["mod_wsgi.script_name"], path);
        let mut kept = proxy_keys(&env);
        kept.sort();
        assert_eq!(
            kept,
            [
                "HTTP_X_FORWARDED_FOR",
                "HTTP_X_FORWARDED_HOST",
                "HTTP_X_FORWARDED_PORT",
                "HTTP_X_FORWARDED_PROTO",
                "HTTP_X_FORWARDED_SERVER",
                "HTTP_X_SCRIPT_NAME",
            ],
            "{path}"
        );
    }
    // A trusted "http" is final even if another synonym says otherwise.
    let env = environ(
        &apache,
        "/trusted",
        &[("X-Forwarded-Proto", "http"), ("X-Forwarded-SSL", "on")],
    );
    assert_eq!(env["wsgi.url_scheme"], "http");
    assert!(env.get("HTTP_X_FORWARDED_SSL").is_none());
}

/// X-Forwarded-For is walked from the right past the trusted proxies
/// (IPv6 networks included); what an attacker put in front is cut off,
/// and empty entries are skipped.
fn forwarded_for_chains(mpm: Mpm, mode: Mode) {
    let apache = site(mpm, mode);
    let env = environ(
        &apache,
        "/chain",
        &[(
            "X-Forwarded-For",
            "6.6.6.6, 1.2.3.4, , 2001:db8::7, 10.1.1.1",
        )],
    );
    assert_eq!(env["REMOTE_ADDR"], "1.2.3.4");
    assert_eq!(
        env["HTTP_X_FORWARDED_FOR"],
        "1.2.3.4, 2001:db8::7, 10.1.1.1"
    );
    let env = environ(
        &apache,
        "/chain",
        &[("X-Forwarded-For", "2001:db8::1, 9.9.9.9")],
    );
    assert_eq!(env["REMOTE_ADDR"], "9.9.9.9");
    let env = environ(&apache, "/chain", &[("X-Forwarded-For", ", ,")]);
    assert_eq!(env["REMOTE_ADDR"], "127.0.0.1");
}

/// With WSGITrustedProxyHeaders and no WSGITrustedProxies every peer is
/// trusted, as in mod_wsgi; repeated directives add up.
fn headers_without_proxies_trust_everyone(mpm: Mpm, mode: Mode) {
    let apache = site(mpm, mode);
    let env = environ(&apache, "/anyone", &SPOOFED);
    assert_eq!(env["REMOTE_ADDR"], "6.6.6.8");
    assert_eq!(env["wsgi.url_scheme"], "https");
    let mut kept = proxy_keys(&env);
    kept.sort();
    // Categories not configured (host, port, ...) are left alone.
    assert!(kept.contains(&"HTTP_X_REAL_IP".to_string()), "{kept:?}");
    assert!(kept.contains(&"HTTP_X_FORWARDED_SSL".to_string()));
    assert!(!kept.contains(&"HTTP_X_FORWARDED_FOR".to_string()));
    assert!(!kept.contains(&"HTTP_X_FORWARDED_PROTO".to_string()));
    assert!(kept.contains(&"HTTP_X_FORWARDED_HOST".to_string()));
}

wsgi_tests!(
    untrusted_peers_cannot_spoof,
    trusted_proxies_rewrite_the_environ,
    forwarded_for_chains,
    headers_without_proxies_trust_everyone,
);

#[test]
fn bad_proxy_directives_stop_apache_naming_them() {
    for (conf, directive) in [
        ("WSGITrustedProxies", "WSGITrustedProxies"),
        ("WSGITrustedProxies proxy.example", "WSGITrustedProxies"),
        ("WSGITrustedProxies 10.0.0.0/40", "WSGITrustedProxies"),
        (
            "WSGITrustedProxies 1.2.3.4/255.0.255.0",
            "WSGITrustedProxies",
        ),
        ("WSGITrustedProxyHeaders", "WSGITrustedProxyHeaders"),
        (
            "WSGITrustedProxyHeaders X_Forwarded_For",
            "WSGITrustedProxyHeaders",
        ),
    ] {
        assert_refused(conf, directive);
    }
}

/// An unknown header is accepted, as by mod_wsgi, with a warning.
#[test]
fn unknown_proxy_headers_are_accepted_with_a_warning() {
    let apache = SiteBuilder::new(Mpm::Event, Mode::Embedded)
        .mount_app("/e", "environ.wsgi", "")
        .conf("WSGITrustedProxyHeaders X-Forwarded-For X-Custom-Thing\n")
        .start();
    assert_eq!(apache.get("/e").status, 200);
}
