//! The WSGI environ: CGI variables, headers, the SCRIPT_NAME/PATH_INFO
//! split, wsgi.* and mod_wsgi.* keys, and the directives that shape them.

mod common;

use common::*;
use serde_json::Value;

fn environ(apache: &Apache, path: &str, headers: &[(&str, &str)]) -> Value {
    let response = apache.request("GET", path, headers, b"");
    assert_eq!(
        response.status,
        200,
        "{path}: {response:?}\n{}",
        apache.error_log()
    );
    serde_json::from_slice(&response.body).expect("the environ app answers JSON")
}

fn text<'a>(env: &'a Value, key: &str) -> &'a str {
    env[key]
        .as_str()
        .unwrap_or_else(|| panic!("environ[{key:?}] is not a str: {}", env[key]))
}

fn site(mpm: Mpm, mode: Mode) -> SiteBuilder {
    SiteBuilder::new(mpm, mode).mount_app("/env", "environ.wsgi", "")
}

fn cgi_and_wsgi_keys(mpm: Mpm, mode: Mode) {
    let apache = site(mpm, mode).start();
    let env = environ(
        &apache,
        "/env/sub/path?x=1&y=%20z",
        &[
            ("X-Custom-Header", "custom value"),
            ("Cookie", "a=b"),
            ("Proxy", "http://evil.example/"),
            ("Content-Type", "text/plain"),
        ],
    );
    assert_eq!(text(&env, "REQUEST_METHOD"), "GET");
    assert_eq!(text(&env, "SCRIPT_NAME"), "/env");
    assert_eq!(text(&env, "PATH_INFO"), "/sub/path");
    assert_eq!(text(&env, "QUERY_STRING"), "x=1&y=%20z");
    assert_eq!(text(&env, "REQUEST_URI"), "/env/sub/path?x=1&y=%20z");
    assert_eq!(text(&env, "SERVER_PROTOCOL"), "HTTP/1.1");
    assert_eq!(text(&env, "SERVER_NAME"), "127.0.0.1");
    assert_eq!(text(&env, "SERVER_PORT"), apache.port().to_string());
    assert_eq!(text(&env, "REMOTE_ADDR"), "127.0.0.1");
    assert!(text(&env, "REMOTE_PORT").parse::<u16>().is_ok());
    assert_eq!(text(&env, "GATEWAY_INTERFACE"), "CGI/1.1");
    assert_eq!(
        text(&env, "HTTP_HOST"),
        format!("127.0.0.1:{}", apache.port())
    );
    assert_eq!(text(&env, "HTTP_X_CUSTOM_HEADER"), "custom value");
    assert_eq!(text(&env, "HTTP_COOKIE"), "a=b");
    assert_eq!(text(&env, "CONTENT_TYPE"), "text/plain");
    assert!(
        env.get("HTTP_CONTENT_TYPE").is_none(),
        "Content-Type must be bare"
    );
    assert!(
        env.get("HTTP_PROXY").is_none(),
        "the Proxy header must never reach the app"
    );
    assert!(
        env.get("PATH").is_none(),
        "PATH is removed as mod_wsgi does"
    );
    assert!(env.get("HTTPS").is_none());
    assert!(text(&env, "SCRIPT_FILENAME").ends_with("/apps/environ.wsgi"));

    // Every CGI value is a native str holding latin-1 code points.
    let types = &env["__types__"];
    for (key, kind) in types.as_object().unwrap() {
        if key.starts_with("wsgi.")
            || key == "apache.version"
            || key.starts_with("mod_wsgi.") && kind != "str"
        {
            continue;
        }
        assert_eq!(kind, "str", "environ[{key}] is {kind}");
    }
    assert_eq!(env["__non_latin1__"], serde_json::json!([]));

    assert_eq!(text(&env, "wsgi.version"), "(1, 0)");
    assert_eq!(text(&env, "wsgi.url_scheme"), "http");
    assert_eq!(text(&env, "wsgi.input_terminated"), "True");
    assert_eq!(text(&env, "wsgi.run_once"), "False");
    let threaded = if mode.multithreaded(mpm) {
        "True"
    } else {
        "False"
    };
    assert_eq!(text(&env, "wsgi.multithread"), threaded, "{mpm:?}");
    assert_eq!(text(&env, "wsgi.multiprocess"), "True");
    assert_eq!(types["wsgi.input"], "Input");
    assert_eq!(types["wsgi.errors"], "TextIOWrapper");
    assert_eq!(types["wsgi.file_wrapper"], "type");
    assert!(text(&env, "apache.version").starts_with("(2, 4, "));
    assert!(text(&env, "mod_wsgi.version").starts_with('('));

    assert_eq!(text(&env, "mod_wsgi.process_group"), mode.process_group());
    assert_eq!(
        text(&env, "mod_wsgi.application_group"),
        format!("127.0.0.1:{}|/env", apache.port())
    );
    assert_eq!(text(&env, "mod_wsgi.callable_object"), "application");
    assert_eq!(text(&env, "mod_wsgi.request_handler"), "wsgi-script");
    assert_eq!(text(&env, "mod_wsgi.script_reloading"), "1");
    assert_eq!(
        text(&env, "mod_wsgi.listener_port"),
        apache.port().to_string()
    );
    assert!(!text(&env, "mod_wsgi.request_id").is_empty());
    assert!(text(&env, "mod_wsgi.request_start").parse::<u64>().is_ok());
    assert!(text(&env, "mod_wsgi.script_start").parse::<u64>().is_ok());
    assert_eq!(types["mod_wsgi.thread_id"], "int");
    assert_eq!(types["mod_wsgi.total_requests"], "int");
    assert!(
        env["__sys__"]["module_name"]
            .as_str()
            .unwrap()
            .starts_with("_mod_wsgi_"),
        "scripts are loaded as their own module, never __main__"
    );
}

fn content_length_and_post(mpm: Mpm, mode: Mode) {
    let apache = site(mpm, mode).start();
    let response = apache.request(
        "POST",
        "/env",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        b"a=1&b=2",
    );
    assert_eq!(response.status, 200);
    let env: Value = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(text(&env, "REQUEST_METHOD"), "POST");
    assert_eq!(text(&env, "CONTENT_LENGTH"), "7");
    assert_eq!(
        text(&env, "CONTENT_TYPE"),
        "application/x-www-form-urlencoded"
    );
    assert!(env.get("HTTP_CONTENT_LENGTH").is_none());
}

fn header_values_are_latin1(mpm: Mpm, mode: Mode) {
    let apache = site(mpm, mode).start();
    let mut request =
        b"GET /env HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nX-Latin: caf".to_vec();
    request.extend_from_slice(b"\xe9\r\n\r\n");
    let response = apache.raw(&request);
    let env: Value = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(text(&env, "HTTP_X_LATIN"), "caf\u{e9}");
}

fn script_name_and_path_info_split(mpm: Mpm, mode: Mode) {
    let apache = SiteBuilder::new(mpm, mode)
        .mount_app("/env", "environ.wsgi", "")
        .with(|b| {
            b.file(
                "apps/scripts/environ.wsgi",
                include_str!("apps/environ.wsgi"),
            )
        })
        .conf("WSGIScriptAlias /dir/ {root}/apps/scripts/\n")
        .conf("WSGIScriptAlias / {root}/apps/environ.wsgi\n")
        .start();
    let env = environ(&apache, "/env", &[]);
    assert_eq!(
        (text(&env, "SCRIPT_NAME"), text(&env, "PATH_INFO")),
        ("/env", "")
    );
    let env = environ(&apache, "/env/", &[]);
    assert_eq!(
        (text(&env, "SCRIPT_NAME"), text(&env, "PATH_INFO")),
        ("/env", "/")
    );
    let env = environ(&apache, "//env//a//b", &[]);
    assert_eq!(
        (text(&env, "SCRIPT_NAME"), text(&env, "PATH_INFO")),
        ("/env", "/a/b")
    );
    let env = environ(&apache, "/env/caf%C3%A9", &[]);
    assert_eq!(
        text(&env, "PATH_INFO"),
        "/caf\u{c3}\u{a9}",
        "PATH_INFO is %-decoded bytes as latin-1"
    );
    let env = environ(&apache, "/dir/environ.wsgi/extra/path", &[]);
    assert_eq!(
        (text(&env, "SCRIPT_NAME"), text(&env, "PATH_INFO")),
        ("/dir/environ.wsgi", "/extra/path")
    );
    let env = environ(&apache, "/somewhere/else", &[]);
    assert_eq!(
        (text(&env, "SCRIPT_NAME"), text(&env, "PATH_INFO")),
        ("", "/somewhere/else")
    );
    assert_eq!(apache.get("/dir/missing.wsgi").status, 404);
}

fn authorization_only_when_passed(mpm: Mpm, mode: Mode) {
    let apache = SiteBuilder::new(mpm, mode)
        .mount_app("/plain", "environ.wsgi", "")
        .mount_app("/option", "environ.wsgi", "pass-authorization=On")
        .with(|b| {
            b.file(
                "apps/located/environ.wsgi",
                include_str!("apps/environ.wsgi"),
            )
        })
        .conf(
            "WSGIScriptAlias /located {root}/apps/located/environ.wsgi\n\
             <Directory {root}/apps/located>\n  WSGIPassAuthorization On\n</Directory>\n",
        )
        .start();
    let auth = [("Authorization", "Basic dXNlcjpwYXNz")];
    assert!(
        environ(&apache, "/plain", &auth)
            .get("HTTP_AUTHORIZATION")
            .is_none()
    );
    assert_eq!(
        text(&environ(&apache, "/option", &auth), "HTTP_AUTHORIZATION"),
        "Basic dXNlcjpwYXNz"
    );
    assert_eq!(
        text(&environ(&apache, "/located", &auth), "HTTP_AUTHORIZATION"),
        "Basic dXNlcjpwYXNz"
    );

    let server_wide = SiteBuilder::new(mpm, mode)
        .mount_app("/env", "environ.wsgi", "")
        .mount_app("/off", "environ.wsgi", "pass-authorization=Off")
        .conf("WSGIPassAuthorization On\n")
        .start();
    assert_eq!(
        text(&environ(&server_wide, "/env", &auth), "HTTP_AUTHORIZATION"),
        "Basic dXNlcjpwYXNz"
    );
    assert!(
        environ(&server_wide, "/off", &auth)
            .get("HTTP_AUTHORIZATION")
            .is_none()
    );
}

fn https_sets_url_scheme(mpm: Mpm, mode: Mode) {
    let apache = SiteBuilder::new(mpm, mode)
        .mount_app("/env", "environ.wsgi", "")
        .mount_app("/secure", "environ.wsgi", "")
        .with(|b| b.conf("LoadModule env_module /usr/lib/apache2/modules/mod_env.so"))
        .conf("<Location /secure>\n  SetEnv HTTPS on\n  SetEnv CUSTOM_SETTING from-setenv\n</Location>\n")
        .start();
    assert_eq!(
        text(&environ(&apache, "/env", &[]), "wsgi.url_scheme"),
        "http"
    );
    let env = environ(&apache, "/secure", &[]);
    assert_eq!(text(&env, "wsgi.url_scheme"), "https");
    assert!(
        env.get("HTTPS").is_none(),
        "HTTPS becomes wsgi.url_scheme and is removed"
    );
    assert_eq!(
        text(&env, "CUSTOM_SETTING"),
        "from-setenv",
        "SetEnv values reach the environ"
    );
}

const TWO_APPS: &str = r#"
def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"default"]

def other(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"other"]
"#;

fn callable_object_selection(mpm: Mpm, mode: Mode) {
    let apache = SiteBuilder::new(mpm, mode)
        .mount("/default", "two.wsgi", TWO_APPS, "")
        .mount(
            "/option",
            "two_option.wsgi",
            TWO_APPS,
            "callable-object=other",
        )
        .mount(
            "/missing",
            "two_missing.wsgi",
            TWO_APPS,
            "callable-object=nothing_here",
        )
        .with(|b| {
            b.file("apps/dir/two.wsgi", TWO_APPS)
                .file("apps/envdir/two.wsgi", TWO_APPS)
                .conf("LoadModule env_module /usr/lib/apache2/modules/mod_env.so")
        })
        .conf(
            "WSGIScriptAlias /directory {root}/apps/dir/two.wsgi\n\
             <Directory {root}/apps/dir>\n  WSGICallableObject other\n</Directory>\n\
             WSGIScriptAlias /fromenv {root}/apps/envdir/two.wsgi\n\
             <Directory {root}/apps/envdir>\n  WSGICallableObject %{ENV:APP_NAME}\n</Directory>\n\
             <Location /fromenv>\n  SetEnv APP_NAME other\n</Location>\n",
        )
        .start();
    assert_eq!(apache.get("/default").text(), "default");
    assert_eq!(apache.get("/option").text(), "other");
    assert_eq!(apache.get("/directory").text(), "other");
    assert_eq!(apache.get("/fromenv").text(), "other");
    let missing = apache.get("/missing");
    assert_eq!(missing.status, 500);
    assert!(apache.wait_for_log(
        "does not contain WSGI application 'nothing_here'",
        std::time::Duration::from_secs(5)
    ));
}

fn script_alias_match_substitutes(mpm: Mpm, mode: Mode) {
    let apache = SiteBuilder::new(mpm, mode)
        .mount_app("/env", "environ.wsgi", "")
        .conf("WSGIScriptAliasMatch ^/m/([^/]+) {root}/apps/$1.wsgi\n")
        .start();
    let env = environ(&apache, "/m/environ/more/path", &[]);
    assert_eq!(
        (text(&env, "SCRIPT_NAME"), text(&env, "PATH_INFO")),
        ("/m/environ", "/more/path")
    );
    assert!(text(&env, "SCRIPT_FILENAME").ends_with("/apps/environ.wsgi"));
    assert_eq!(apache.get("/m/nonexistent").status, 404);
}

const METHOD: &str = r#"
def application(environ, start_response):
    body = b"x" * 100
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("X-Method", environ["REQUEST_METHOD"]),
                              ("Content-Length", str(len(body)))])
    return [body]
"#;

fn head_requests_and_map_head_to_get(mpm: Mpm, mode: Mode) {
    let apache = SiteBuilder::new(mpm, mode)
        .mount("/auto", "auto.wsgi", METHOD, "")
        .mount("/on", "on.wsgi", METHOD, "")
        .mount("/off", "off.wsgi", METHOD, "")
        .mount("/filtered", "filtered.wsgi", METHOD, "")
        .with(|b| {
            b.conf("LoadModule filter_module /usr/lib/apache2/modules/mod_filter.so")
                .conf("LoadModule deflate_module /usr/lib/apache2/modules/mod_deflate.so")
        })
        .conf(
            "<Location /on>\n  WSGIMapHEADToGET On\n</Location>\n\
             <Location /off>\n  WSGIMapHEADToGET Off\n</Location>\n\
             <Location /filtered>\n  SetOutputFilter DEFLATE\n</Location>\n",
        )
        .start();
    let head = |path: &str| {
        let response = apache.request("HEAD", path, &[], b"");
        assert_eq!(response.status, 200, "{path}: {response:?}");
        assert!(response.body.is_empty(), "{path}: HEAD sends no body");
        response.header("X-Method").unwrap_or_default().to_string()
    };
    assert_eq!(
        head("/auto"),
        "HEAD",
        "Auto without content filters keeps HEAD"
    );
    assert_eq!(head("/on"), "GET");
    assert_eq!(head("/off"), "HEAD");
    assert_eq!(
        head("/filtered"),
        "GET",
        "Auto with a content filter maps HEAD to GET"
    );
    assert_eq!(apache.get("/auto").header("X-Method"), Some("GET"));
    assert_eq!(apache.get("/auto").body.len(), 100);
}

wsgi_tests!(
    cgi_and_wsgi_keys,
    content_length_and_post,
    header_values_are_latin1,
    script_name_and_path_info_split,
    authorization_only_when_passed,
    https_sets_url_scheme,
    callable_object_selection,
    script_alias_match_substitutes,
    head_requests_and_map_head_to_get,
);
