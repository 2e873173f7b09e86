//! Scripts that decide how a request runs: WSGIHandlerScript (a handler
//! name, mapped with AddHandler or SetHandler, runs a script's
//! `handle_request` for the matched file), WSGIDispatchScript (chooses the
//! process group, application group and callable per request), and the
//! `reload_required(resource)` hook of WSGIScriptReloading.

mod common;

use std::time::Duration;

use common::*;

const RESOURCE_HANDLER: &str = r#"import os

def handle_request(environ, start_response):
    path = environ["SCRIPT_FILENAME"]
    content = open(path, "rb").read() if os.path.isfile(path) else b"<no file>"
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [("%s\t%s\t%s\t%s\t%s\t%d\t" % (
        path, environ["mod_wsgi.handler_script"], environ["mod_wsgi.callable_object"],
        environ["mod_wsgi.application_group"], environ["SCRIPT_NAME"], os.getpid(),
    )).encode() + content]
"#;

fn handler_site(mpm: Mpm, mode: Mode) -> Apache {
    SiteBuilder::new(mpm, mode)
        .with(|b| {
            b.file("apps/resource.wsgi", RESOURCE_HANDLER)
                .file("htdocs/pages/hello.page", "page text\n")
                .file("htdocs/pages/plain.txt", "plain text\n")
        })
        .conf(
            "WSGIHandlerScript wsgi-resource {root}/apps/resource.wsgi\n\
             WSGIHandlerScript wsgi-other {root}/apps/resource.wsgi application-group=other\n\
             <Directory {root}/htdocs/pages>\n  AddHandler wsgi-resource .page\n</Directory>\n\
             <Location /virtual>\n  SetHandler wsgi-other\n</Location>\n",
        )
        .start()
}

fn fields(response: &Response) -> Vec<String> {
    response.text().split('\t').map(str::to_string).collect()
}

/// AddHandler and SetHandler run the handler script's `handle_request`
/// for the matched file, whose path is SCRIPT_FILENAME.
fn handler_scripts_serve_matched_files(mpm: Mpm, mode: Mode) {
    let apache = handler_site(mpm, mode);
    let root = apache.root().display().to_string();
    let page = apache.get("/pages/hello.page");
    assert_eq!(page.status, 200, "{page:?}\n{}", apache.error_log());
    let f = fields(&page);
    assert_eq!(f[0], format!("{root}/htdocs/pages/hello.page"));
    assert_eq!(f[1], format!("{root}/apps/resource.wsgi"));
    assert_eq!(f[2], "handle_request");
    // The default application group is the target's %{RESOURCE}.
    assert_eq!(
        f[3],
        format!("127.0.0.1:{}|/pages/hello.page", apache.port()),
        "{f:?}"
    );
    assert_eq!(f[4], "/pages/hello.page");
    assert_eq!(f[6], "page text\n");
    // Other files are Apache's.
    let plain = apache.get("/pages/plain.txt");
    assert_eq!(plain.status, 200);
    assert_eq!(plain.text(), "plain text\n");
    // SetHandler with no file behind it, in the named application group.
    let virtual_ = apache.get("/virtual/anything");
    assert_eq!(virtual_.status, 200, "{virtual_:?}\n{}", apache.error_log());
    let f = fields(&virtual_);
    assert_eq!(f[3], "other");
    assert_eq!(f[6], "<no file>");
    let pid: i32 = f[5].parse().unwrap();
    assert_eq!(
        is_named_daemon(pid),
        mode == Mode::Daemon,
        "ran in pid {pid}"
    );
}

const DAEMON_HANDLER_CONF: &str = "WSGIDaemonProcess other-group processes=1 threads=2 display-name=%{GROUP}\n\
     WSGIHandlerScript wsgi-elsewhere {root}/apps/resource.wsgi process-group=other-group application-group=%{GLOBAL}\n\
     <Location /elsewhere>\n  SetHandler wsgi-elsewhere\n</Location>\n";

/// process-group= sends a handler script's requests to that group
/// whatever WSGIProcessGroup says.
fn handler_script_process_group_option(mpm: Mpm, mode: Mode) {
    let apache = SiteBuilder::new(mpm, mode)
        .with(|b| b.file("apps/resource.wsgi", RESOURCE_HANDLER))
        .conf(DAEMON_HANDLER_CONF)
        .start();
    let response = apache.get("/elsewhere/x");
    assert_eq!(response.status, 200, "{response:?}\n{}", apache.error_log());
    let f = fields(&response);
    assert_eq!(f[3], "", "%{{GLOBAL}} is the main interpreter");
    let pid: i32 = f[5].parse().unwrap();
    assert_eq!(argv0(pid).as_deref(), Some("(wsgi:other-group)"));
}

const RELOAD_HOOK_APP: &str = r#"import os
import time

LOAD_ID = str(time.time_ns())
FLAG = os.path.join(os.path.dirname(__file__), "..", "flags", "reload")

def reload_required(resource):
    print("reload_required(%s)" % resource)
    if os.path.exists(FLAG + ".raise"):
        raise RuntimeError("reload_required raised on purpose")
    if os.path.exists(FLAG):
        os.unlink(FLAG)
        return True
    return False

def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [LOAD_ID.encode()]
"#;

/// `reload_required(resource)` is asked before each request once the
/// script is loaded: True loads it again (a new process in daemon mode),
/// False keeps it, and an exception is logged and keeps it.
fn reload_required_hook_decides(mpm: Mpm, mode: Mode) {
    let apache = SiteBuilder::new(mpm, mode)
        .with(|b| b.mpm_conf(single_child(mpm)))
        .daemon_option("processes=1")
        .mount("/app", "reload_hook.wsgi", RELOAD_HOOK_APP, "")
        .start();
    let flags = apache.writable_dir("flags");
    let id = || {
        let response = apache.get("/app");
        assert_eq!(response.status, 200, "{response:?}\n{}", apache.error_log());
        response.text()
    };
    let first = id();
    assert_eq!(id(), first, "kept while the hook says False");
    std::fs::write(flags.join("reload"), b"").unwrap();
    let second = id();
    assert_ne!(second, first, "the hook said True");
    assert_eq!(id(), second, "a one-shot reload");
    std::fs::write(flags.join("reload.raise"), b"").unwrap();
    assert_eq!(id(), second, "a raising hook keeps the module");
    let script = format!("{}/apps/reload_hook.wsgi", apache.root().display());
    assert!(
        apache.wait_for_log(
            "RuntimeError: reload_required raised on purpose",
            Duration::from_secs(5)
        ),
        "{}",
        apache.error_log()
    );
    let log = apache.error_log();
    assert!(log.contains(&format!("reload_required({script})")), "{log}");
    assert!(
        log.contains(&format!("Loading WSGI script '{script}'.")),
        "{log}"
    );
}

/// One Apache child (and so, in embedded mode, one copy of the module).
fn single_child(mpm: Mpm) -> &'static str {
    match mpm {
        Mpm::Prefork => {
            "StartServers 1\nMinSpareServers 1\nMaxSpareServers 1\nServerLimit 1\nMaxRequestWorkers 1\n"
        }
        _ => {
            "ServerLimit 1\nStartServers 1\nThreadsPerChild 8\nMaxRequestWorkers 8\n\
             MinSpareThreads 1\nMaxSpareThreads 8\n"
        }
    }
}

wsgi_tests!(
    handler_scripts_serve_matched_files,
    handler_script_process_group_option,
    reload_required_hook_decides,
);

#[test]
fn bad_handler_scripts_stop_apache_naming_the_directive() {
    for (conf, directive) in [
        ("WSGIHandlerScript", "WSGIHandlerScript"),
        ("WSGIHandlerScript name", "WSGIHandlerScript"),
        (
            "WSGIHandlerScript name /h.wsgi colour=red",
            "WSGIHandlerScript",
        ),
        (
            "WSGIHandlerScript name /h.wsgi pass-authorization=maybe",
            "WSGIHandlerScript",
        ),
    ] {
        assert_refused(conf, directive);
    }
}
