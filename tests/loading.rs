//! The module loads into Apache under every MPM, survives graceful and hard
//! restarts, stops cleanly, announces itself in the Server header,
//! initialises Python only in the children, and refuses bad directives.

mod common;

use std::time::Duration;

use common::*;

const HELLO: &str = include_str!("../examples/hello.wsgi");

/// An app that reports the pids it runs under.
const PIDS: &str = r#"
import os

def application(environ, start_response):
    body = ("%d %d" % (os.getpid(), os.getppid())).encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
"#;

fn hello_server(mpm: Mpm) -> Apache {
    SiteBuilder::new(mpm, Mode::Embedded)
        .mount("/hello", "hello.wsgi", HELLO, "")
        .mount("/pids", "pids.wsgi", PIDS, "")
        .start()
}

fn assert_hello(apache: &Apache) {
    let response = apache.get("/hello");
    assert_eq!(response.status, 200, "{response:?}\n{}", apache.error_log());
    assert_eq!(response.text(), "Hello World!\n");
}

#[test]
fn serves_under_every_mpm_with_server_header() {
    for mpm in Mpm::ALL {
        let apache = hello_server(mpm);
        assert_hello(&apache);
        let response = apache.get("/hello");
        let server = response.header("Server").unwrap_or_default();
        assert!(server.contains("mod_wsgi/"), "{mpm:?}: Server: {server}");
        assert!(server.contains("Python/3.11"), "{mpm:?}: Server: {server}");
    }
}

#[test]
fn survives_repeated_graceful_and_hard_restarts() {
    for mpm in Mpm::ALL {
        let apache = hello_server(mpm);
        assert_hello(&apache);
        for _ in 0..3 {
            apache.graceful();
            assert_hello(&apache);
        }
        for _ in 0..3 {
            apache.restart();
            assert_hello(&apache);
        }
        let parent = apache.parent_pid();
        let mut pids = apache.child_pids();
        pids.push(parent);
        apache.stop();
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        while !pids.iter().all(|&pid| !is_running(pid)) {
            assert!(
                std::time::Instant::now() < deadline,
                "{mpm:?}: processes left: {pids:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let log = apache.error_log();
        assert!(
            !log.contains("Segmentation fault") && !log.contains("exit signal"),
            "{mpm:?}:\n{log}"
        );
    }
}

#[test]
fn python_is_initialised_in_children_never_in_the_parent() {
    for mpm in [Mpm::Event, Mpm::Prefork] {
        let apache = hello_server(mpm);
        let parent = apache.parent_pid();
        let answer = apache.get("/pids").text();
        let (pid, ppid) = answer.split_once(' ').expect("two pids");
        assert_eq!(
            ppid.parse::<i32>().unwrap(),
            parent,
            "{mpm:?}: app runs in a child of the parent"
        );
        assert_ne!(pid.parse::<i32>().unwrap(), parent);
        apache.graceful();
        assert_hello(&apache);
        let log = apache.error_log();
        let initialising: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("Initializing Python"))
            .collect();
        assert!(
            !initialising.is_empty(),
            "{mpm:?}: no initialisation logged:\n{log}"
        );
        for line in initialising {
            assert!(
                !line.contains(&format!("(pid={parent})")),
                "{mpm:?}: the parent initialised Python: {line}"
            );
        }
    }
}

#[test]
fn bad_directives_stop_apache_naming_the_directive() {
    for (conf, directive) in [
        ("WSGIPythonOptimize 3", "WSGIPythonOptimize"),
        ("WSGIPythonOptimize high", "WSGIPythonOptimize"),
        ("WSGIPythonHome relative/dir", "WSGIPythonHome"),
        ("WSGIChunkedRequest maybe", "WSGIChunkedRequest"),
        ("WSGIPassAuthorization yes", "WSGIPassAuthorization"),
        ("WSGIMapHEADToGET sometimes", "WSGIMapHEADToGET"),
        ("WSGICallableObject \"\"", "WSGICallableObject"),
        ("WSGIScriptAlias /only-url", "WSGIScriptAlias"),
        ("WSGIScriptAlias /a /b.wsgi colour=red", "WSGIScriptAlias"),
        (
            "WSGIScriptAlias /a /b.wsgi process-group",
            "WSGIScriptAlias",
        ),
        (
            "WSGIScriptAlias /a /b.wsgi pass-authorization=perhaps",
            "WSGIScriptAlias",
        ),
        (
            "WSGIScriptAliasMatch ^/(unclosed /b.wsgi",
            "WSGIScriptAliasMatch",
        ),
        (
            "<Location /x>\nWSGIScriptAlias /a /b.wsgi\n</Location>",
            "WSGIScriptAlias",
        ),
        (
            "<VirtualHost *:80>\nWSGIPythonPath /tmp\n</VirtualHost>",
            "WSGIPythonPath",
        ),
        (
            "<VirtualHost *:80>\nWSGIPythonOptimize 1\n</VirtualHost>",
            "WSGIPythonOptimize",
        ),
        (
            "<VirtualHost *:80>\nWSGIPythonHome /usr\n</VirtualHost>",
            "WSGIPythonHome",
        ),
        ("WSGIPythonHashSeed sometimes", "WSGIPythonHashSeed"),
        ("WSGIPythonHashSeed 4294967296", "WSGIPythonHashSeed"),
        ("WSGILazyInitialization maybe", "WSGILazyInitialization"),
        ("WSGIDontWriteBytecode yes", "WSGIDontWriteBytecode"),
        (
            "WSGIPythonWarnings shout::UserWarning",
            "WSGIPythonWarnings",
        ),
        ("WSGIRestrictStdout 1", "WSGIRestrictStdout"),
        ("WSGIRestrictStdin 1", "WSGIRestrictStdin"),
        ("WSGIRestrictSignal 1", "WSGIRestrictSignal"),
        ("WSGIScriptReloading sometimes", "WSGIScriptReloading"),
        ("WSGIImportScript /a.wsgi", "WSGIImportScript"),
        (
            "WSGIImportScript /a.wsgi process-group=%{GLOBAL}",
            "WSGIImportScript",
        ),
        (
            "WSGIImportScript /a.wsgi process-group=daemon application-group=x",
            "WSGIImportScript",
        ),
        (
            "<Location /y>\nWSGIImportScript /a.wsgi process-group=%{GLOBAL} application-group=x\n</Location>",
            "WSGIImportScript",
        ),
        (
            "<Location /y>\nWSGIRestrictSignal Off\n</Location>",
            "WSGIRestrictSignal",
        ),
        (
            "<VirtualHost *:80>\nWSGILazyInitialization Off\n</VirtualHost>",
            "WSGILazyInitialization",
        ),
        (
            "<VirtualHost *:80>\nWSGIRestrictSignal Off\n</VirtualHost>",
            "WSGIRestrictSignal",
        ),
    ] {
        assert_refused(conf, directive);
    }
}

#[test]
fn good_directives_in_every_allowed_context_start() {
    let apache = SiteBuilder::new(Mpm::Event, Mode::Embedded)
        .mount("/hello", "hello.wsgi", HELLO, "process-group=%{GLOBAL} application-group=%{GLOBAL} callable-object=application pass-authorization=Off")
        .conf(
            "WSGIPythonOptimize 0\n\
             WSGIPythonPath /tmp\n\
             WSGICallableObject application\n\
             WSGIChunkedRequest Off\n\
             WSGIPassAuthorization Off\n\
             WSGIMapHEADToGET Auto\n\
             WSGIScriptAliasMatch ^/match/(.*) {root}/apps/hello.wsgi\n\
             <Directory {root}/apps>\n\
               WSGICallableObject application\n\
               WSGIChunkedRequest On\n\
               WSGIPassAuthorization On\n\
               WSGIMapHEADToGET On\n\
             </Directory>\n\
             <Location /hello>\n\
               WSGIMapHEADToGET Off\n\
             </Location>\n",
        )
        .start();
    assert_hello(&apache);
    assert_eq!(apache.get("/match/anything").text(), "Hello World!\n");
}
