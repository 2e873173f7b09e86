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
        .with(|b| b.mpm_conf(mpm.single_child_tuning()))
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

const DISPATCH_SCRIPT: &str = r#"def process_group(environ):
    print("dispatch-note mark=%s group=%r" % (environ.get("DISPATCH_MARK"),
          environ["mod_wsgi.application_group"]), file=environ["wsgi.errors"])
    choice = environ.get("HTTP_X_GROUP")
    if choice == "raise":
        raise RuntimeError("process_group failed on purpose")
    if choice == "number":
        return 42
    return choice

def application_group(environ):
    return environ.get("HTTP_X_APP")

def callable_object(environ):
    return environ.get("HTTP_X_CALLABLE")
"#;

const DISPATCHED_APP: &str = r#"import os

def report(environ, start_response, who):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [("%s\t%s\t%s\t%s\t%d" % (who, environ["mod_wsgi.process_group"],
             environ["mod_wsgi.application_group"], environ["mod_wsgi.callable_object"],
             os.getpid())).encode()]

def application(environ, start_response):
    return report(environ, start_response, "application")

def other(environ, start_response):
    return report(environ, start_response, "other")
"#;

/// WSGIDispatchScript's three functions each override one setting; None
/// keeps what the configuration says.
fn dispatch_script_chooses_where_requests_run(mpm: Mpm, mode: Mode) {
    let apache = SiteBuilder::new(mpm, mode)
        .with(|b| b.file("apps/dispatch.py", DISPATCH_SCRIPT))
        .mount("/app", "dispatched.wsgi", DISPATCHED_APP, "")
        .conf(
            "WSGISocketPrefix {root}/run/wsgi\n\
             WSGIDaemonProcess picked processes=1 threads=2 display-name=%{GROUP}\n\
             WSGIDispatchScript {root}/apps/dispatch.py\n\
             LoadModule env_module /usr/lib/apache2/modules/mod_env.so\n\
             SetEnv DISPATCH_MARK seen\n",
        )
        .start();
    let ask = |headers: &[(&str, &str)]| {
        let response = apache.request("GET", "/app", headers, b"");
        (response.status, fields(&response), response)
    };
    let configured = match mode {
        Mode::Embedded => "",
        Mode::Daemon => DAEMON_GROUP,
    };
    let (status, f, response) = ask(&[]);
    assert_eq!(status, 200, "{response:?}\n{}", apache.error_log());
    assert_eq!(f[0], "application");
    assert_eq!(f[1], configured);
    assert_eq!(f[2], format!("127.0.0.1:{}|/app", apache.port()));
    assert_eq!(f[3], "application");

    let (status, f, response) = ask(&[
        ("X-Group", "picked"),
        ("X-App", "chosen"),
        ("X-Callable", "other"),
    ]);
    assert_eq!(status, 200, "{response:?}\n{}", apache.error_log());
    assert_eq!(&f[..4], ["other", "picked", "chosen", "other"]);
    let pid: i32 = f[4].parse().unwrap();
    assert_eq!(argv0(pid).as_deref(), Some("(wsgi:picked)"));

    let (status, f, _) = ask(&[("X-Group", "%{GLOBAL}"), ("X-App", "%{GLOBAL}")]);
    assert_eq!(status, 200);
    assert_eq!(&f[1..3], ["", ""]);
    assert!(
        !is_named_daemon(f[4].parse().unwrap()),
        "%{{GLOBAL}} runs in Apache's child"
    );

    assert_eq!(ask(&[("X-Group", "raise")]).0, 500);
    assert_eq!(ask(&[("X-Group", "number")]).0, 500);
    assert_eq!(ask(&[("X-Group", "nowhere")]).0, 500);
    let log = apache.error_log();
    assert!(log.contains("process_group failed on purpose"), "{log}");
    assert!(
        log.contains("TypeError: Process group must be a byte string"),
        "{log}"
    );
    assert!(
        log.contains("No WSGI daemon process called 'nowhere'"),
        "{log}"
    );
    // The script sees subprocess_env (SetEnv) and its own interpreter's name.
    assert!(log.contains("dispatch-note mark=seen group=''"), "{log}");
}

wsgi_tests!(
    dispatch_script_chooses_where_requests_run,
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
        ("WSGIDispatchScript", "WSGIDispatchScript"),
        (
            "WSGIDispatchScript /d.py process-group=x",
            "WSGIDispatchScript",
        ),
    ] {
        assert_refused(conf, directive);
    }
}
