//! Feeds arbitrary text to every directive-value parser (the words of a
//! directive line as httpd would pass them): WSGIScriptAlias,
//! WSGIImportScript, the script-file directives, WSGIDaemonProcess, the
//! trusted-proxy lists and the single values. None may
//! panic, and what they accept must hold what they promise: a parsed
//! alias's URL prefix matches itself, daemon options are within range.

#![no_main]

use libfuzzer_sys::fuzz_target;
use wsgi_core::daemon_options;
use wsgi_core::trusted_proxies;
use wsgi_core::directives::{import_script, newer, script_alias, script_file, values, words};

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    let _ = words::words(line);
    if let Ok(alias) = script_alias::parse("WSGIScriptAlias", line) {
        assert_eq!(
            script_alias::prefix_match(&alias.url, &alias.url),
            Some(alias.url.len())
        );
    }
    let _ = import_script::parse("WSGIImportScript", line);
    if let Ok(script) = script_file::parse("WSGIAccessScript", line) {
        assert!(!script.path.is_empty() && script.process_group.is_none());
    }
    if let Ok((name, script)) = script_file::parse_handler("WSGIHandlerScript", line) {
        assert!(!name.is_empty() && !script.path.is_empty());
    }
    if let Ok(options) = daemon_options::parse("WSGIDaemonProcess", line) {
        assert!(!options.name.is_empty());
        assert!(options.threads <= 1000);
        assert!((-20..=20).contains(&options.cpu_priority));
        let _ = options.display_name();
    }
    if let Ok(networks) = trusted_proxies::parse_proxies("WSGITrustedProxies", line) {
        assert!(!networks.is_empty());
    }
    if let Ok((variables, _)) = trusted_proxies::parse_headers("WSGITrustedProxyHeaders", line) {
        assert!(variables.iter().all(|v| v.starts_with("HTTP_")));
    }
    if let Ok(interval) = newer::switch_interval("WSGIX", line) {
        assert!(!interval.is_zero());
    }
    let _ = newer::slow_requests("WSGIX", line);
    if let Ok(service) = newer::telemetry_service("WSGIX", line) {
        assert!(service.socket.starts_with('/'));
    }
    let _ = newer::telemetry_options("WSGIX", line, Vec::new());
    let _ = values::on_off("WSGIX", line);
    let _ = values::map_head_to_get("WSGIX", line);
    let _ = values::optimize_level("WSGIX", line);
    let _ = values::python_home("WSGIX", line);
    let _ = values::python_path("WSGIX", line);
    let _ = values::callable_object("WSGIX", line);
    let _ = values::hash_seed("WSGIX", line);
    let _ = values::warning_option("WSGIX", line);
});
