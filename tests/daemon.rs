//! Daemon mode: WSGIDaemonProcess groups forked by the Apache parent and
//! reached by Apache's children over a UNIX socket. Configuration checks,
//! routing (WSGIProcessGroup, process-group=, WSGIRestrictEmbedded,
//! WSGIRestrictProcess), sockets and the process model (restarts,
//! replacement, SO_PEERCRED), identity and environment of the processes,
//! WSGI flags, streaming with bounded memory, and every fault the group's
//! timeouts and limits handle.

mod common;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

const MIB: usize = 1024 * 1024;
const GIB: usize = 1024 * MIB;

/// The event MPM with exactly one child process, so that the child that
/// relays a request is known.
const ONE_EVENT_CHILD: &str = "StartServers 1\nServerLimit 1\nThreadsPerChild 10\n\
                               MaxRequestWorkers 10\nMinSpareThreads 1\nMaxSpareThreads 10\n\
                               ThreadLimit 10\n";

// ----- helpers -----

fn json_of(apache: &Apache, response: &Response) -> Value {
    assert_eq!(
        response.status,
        200,
        "{response:?}\n--- error_log ---\n{}",
        apache.error_log()
    );
    serde_json::from_slice(&response.body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {response:?}"))
}

/// GETs `path` (a mount of daemon_info.wsgi) and returns its report.
fn info(apache: &Apache, path: &str) -> Value {
    json_of(apache, &apache.get(path))
}

fn info_on_host(apache: &Apache, path: &str, host: &str) -> Value {
    json_of(apache, &apache.request("GET", path, &[("Host", host)], b""))
}

fn pid_of(report: &Value) -> i32 {
    report["pid"]
        .as_i64()
        .unwrap_or_else(|| panic!("no pid in {report}")) as i32
}

/// Polls `condition` every 50 ms until it holds or `timeout` passes.
fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// The children of the Apache parent that show `name` in `ps` (the
/// daemon processes of a group with that display-name).
fn processes_named(apache: &Apache, name: &str) -> BTreeSet<i32> {
    apache
        .child_pids()
        .into_iter()
        .filter(|pid| argv0(*pid).is_some_and(|a| a.starts_with(name)))
        .collect()
}

fn daemon_pids(apache: &Apache) -> BTreeSet<i32> {
    processes_named(apache, "(wsgi:wsgi-test)")
}

/// The pids the parent logged as started daemon processes of `group`.
fn started_pids(apache: &Apache, group: &str) -> Vec<i32> {
    let marker = format!("Starting process '{group}' #");
    apache
        .error_log()
        .lines()
        .filter(|line| line.contains(&marker))
        .filter_map(|line| {
            let tail = line.rsplit_once("(pid ")?.1;
            tail.trim_end_matches(['.', ')']).parse().ok()
        })
        .collect()
}

/// The pid in the `[pid N:tid M]` prefix of an error_log line.
fn logging_pid(line: &str) -> Option<i32> {
    let rest = line.split_once("[pid ")?.1;
    let end = rest.find([':', ']'])?;
    rest[..end].parse().ok()
}

/// The daemon sockets in the server's run directory (file names).
fn sockets(apache: &Apache) -> BTreeSet<String> {
    std::fs::read_dir(apache.root().join("run"))
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.starts_with("wsgi.") && name.ends_with(".sock"))
        .collect()
}

fn assert_log_contains(apache: &Apache, needle: &str) {
    assert!(
        apache.wait_for_log(needle, Duration::from_secs(5)),
        "the error_log does not contain {needle:?}:\n{}",
        apache.error_log()
    );
}

/// The groups `initgroups(user, gid)` gives, sorted.
fn grouplist(user: &str, gid: u32) -> Vec<u32> {
    let name = std::ffi::CString::new(user).unwrap();
    let mut groups = vec![0 as libc::gid_t; 256];
    let mut count = groups.len() as libc::c_int;
    // SAFETY: `groups` has room for `count` entries.
    let rc = unsafe { libc::getgrouplist(name.as_ptr(), gid, groups.as_mut_ptr(), &mut count) };
    assert!(rc >= 0, "getgrouplist({user}, {gid}) failed");
    groups.truncate(count as usize);
    groups.sort_unstable();
    groups.dedup();
    groups
}

fn gid_of(group: &str) -> u32 {
    let name = std::ffi::CString::new(group).unwrap();
    // SAFETY: getgrnam returns a pointer to static storage or null; read at once.
    let entry = unsafe { libc::getgrnam(name.as_ptr()) };
    assert!(!entry.is_null(), "no group {group}");
    // SAFETY: entry is non-null.
    unsafe { (*entry).gr_gid }
}

fn kill(pid: i32, signal: libc::c_int) {
    // SAFETY: kill(2) has no memory-safety preconditions.
    let rc = unsafe { libc::kill(pid, signal) };
    assert_eq!(rc, 0, "cannot signal {pid}");
}

/// The text Apache refuses `conf` with (it must refuse).
fn refusal(conf: &str) -> String {
    match ServerBuilder::new().conf(conf).start() {
        Ok(apache) => {
            let log = apache.error_log();
            drop(apache);
            panic!("Apache started with `{conf}`:\n{log}");
        }
        Err(err) => err.to_string(),
    }
}

/// A daemon-mode site with daemon_info.wsgi at `/info`.
fn info_site(mpm: Mpm) -> SiteBuilder {
    SiteBuilder::new(mpm, Mode::Daemon).mount_app("/info", "daemon_info.wsgi", "")
}

/// Requests `/info` until a pid other than `old` answers; returns it.
fn wait_for_new_pid(apache: &Apache, old: i32, timeout: Duration) -> Option<i32> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        let response = apache.get("/info");
        if response.status == 200 {
            let pid = pid_of(&json_of(apache, &response));
            if pid != old {
                return Some(pid);
            }
        }
        thread::sleep(Duration::from_millis(100));
    }
    None
}

// ----- configuration -----

#[test]
fn bad_daemon_options_are_refused() {
    for (conf, words) in [
        ("WSGIDaemonProcess g colour=red", &["colour"][..]),
        ("WSGIDaemonProcess g processes=two", &["processes"]),
        ("WSGIDaemonProcess g processes=0", &["processes"]),
        ("WSGIDaemonProcess g threads=-1", &["threads"]),
        (
            "WSGIDaemonProcess g request-timeout=1.5",
            &["request-timeout"],
        ),
        ("WSGIDaemonProcess g umask=999", &["umask"]),
        ("WSGIDaemonProcess g home=relative/dir", &["home"]),
        (
            "WSGIDaemonProcess g maximum-requests=-5",
            &["maximum-requests"],
        ),
        (
            "WSGIDaemonProcess g user=no-such-user-xyz",
            &["no-such-user-xyz"],
        ),
        (
            "WSGIDaemonProcess g group=no-such-group-xyz",
            &["no-such-group-xyz"],
        ),
        ("WSGIDaemonProcess g bogus", &["bogus"]),
        ("WSGIDaemonProcess g user=root", &["root"]),
        ("WSGIDaemonProcess g user=#0", &["root"]),
        ("WSGIDaemonProcess g\nWSGIDaemonProcess g", &["'g'"]),
    ] {
        let text = refusal(conf);
        assert!(
            text.contains("WSGIDaemonProcess"),
            "the error for `{conf}` does not name WSGIDaemonProcess:\n{text}"
        );
        for word in words {
            assert!(
                text.contains(word),
                "the error for `{conf}` does not name {word}:\n{text}"
            );
        }
    }
    assert_refused(
        "WSGIImportScript /tmp/x.py process-group=undefined application-group=%{GLOBAL}",
        "WSGIImportScript",
    );
    // A group defined after the WSGIImportScript naming it does not count.
    assert_refused(
        "WSGIImportScript /tmp/x.py process-group=late application-group=%{GLOBAL}\n\
         WSGIDaemonProcess late",
        "WSGIImportScript",
    );
}

/// Every option of mod_wsgi 4.9's WSGIDaemonProcess, with valid values,
/// is accepted and the group serves.
#[test]
fn every_mod_wsgi_option_is_accepted() {
    let options = "processes=1 threads=3 user=www-data group=www-data \
        supplementary-groups=www-data umask=0022 home=/tmp python-path=/tmp \
        python-eggs=/tmp display-name=all-options lang=C.UTF-8 locale=C.UTF-8 \
        maximum-requests=10000 restart-interval=3600 inactivity-timeout=3600 \
        request-timeout=600 graceful-timeout=15 eviction-timeout=0 shutdown-timeout=5 \
        startup-timeout=60 deadlock-timeout=300 socket-timeout=60 connect-timeout=15 \
        queue-timeout=60 response-socket-timeout=60 listen-backlog=50 socket-user=www-data \
        cpu-time-limit=0 cpu-priority=0 memory-limit=0 virtual-memory-limit=0 \
        stack-size=1048576 send-buffer-size=0 receive-buffer-size=0 \
        header-buffer-size=32768 response-buffer-size=65536 server-metrics=Off";
    let apache = info_site(Mpm::Event)
        .conf(&format!(
            "WSGIDaemonProcess all {options}\n\
             WSGIScriptAlias /all {{root}}/apps/daemon_info.wsgi process-group=all\n"
        ))
        .start();
    let report = info(&apache, "/all");
    assert_eq!(report["environ_process_group"], "all");
    assert_eq!(report["argv0"], "all-options");
    // Options only checked when Apache starts.
    for extra in [
        "script-user=root",
        "script-group=root",
        "newrelic-config-file=/tmp/x.ini newrelic-environment=test",
        "server-metrics=On cpu-priority=5",
    ] {
        let apache = ServerBuilder::new()
            .conf(&format!(
                "WSGISocketPrefix {{root}}/run/wsgi\nWSGIDaemonProcess g {extra}\n"
            ))
            .start();
        assert!(apache.is_ok(), "`{extra}` refused: {}", apache.unwrap_err());
    }
}

/// Values mod_wsgi 4.9 accepts ("0 for the default", 0 to disable) must
/// not stop Apache from starting, and the group serves with them.
#[test]
fn mod_wsgi_zero_values_are_accepted() {
    let mut refused = Vec::new();
    for option in [
        "deadlock-timeout=0",
        "header-buffer-size=0",
        "listen-backlog=0",
    ] {
        match info_site(Mpm::Event).daemon_option(option).server().start() {
            Ok(apache) => {
                let report = info(&apache, "/info");
                assert_eq!(report["environ_process_group"], "wsgi-test", "{option}");
            }
            Err(err) => refused.push(format!("{option}: {}", err.output.trim())),
        }
    }
    assert!(refused.is_empty(), "refused:\n{}", refused.join("\n"));
}

// ----- routing -----

fn routing(mpm: Mpm) {
    let apache = info_site(mpm)
        .conf(
            "WSGIDaemonProcess other processes=1 threads=2 display-name=%{GROUP}\n\
             WSGIScriptAlias /alias {root}/apps/daemon_info.wsgi process-group=other\n\
             WSGIScriptAlias /global {root}/apps/daemon_info.wsgi process-group=%{GLOBAL}\n\
             WSGIScriptAlias /missing {root}/apps/daemon_info.wsgi process-group=nosuch\n\
             WSGIScriptAlias /dir {root}/apps/dir/info.wsgi\n\
             WSGIScriptAlias /dirglobal {root}/apps/dirglobal/info.wsgi\n\
             WSGIScriptAlias /vonly {root}/apps/daemon_info.wsgi process-group=vonly\n\
             <Directory {root}/apps/dir>\n  WSGIProcessGroup other\n</Directory>\n\
             <Directory {root}/apps/dirglobal>\n  WSGIProcessGroup %{GLOBAL}\n</Directory>\n\
             <VirtualHost *:*>\n  ServerName 127.0.0.1\n</VirtualHost>\n\
             <VirtualHost *:*>\n  ServerName vhost.test\n  WSGIProcessGroup other\n\
             \x20 WSGIDaemonProcess vonly processes=1 threads=1 display-name=%{GROUP}\n\
             </VirtualHost>\n",
        )
        .with(|b| {
            b.file("apps/dir/info.wsgi", include_str!("apps/daemon_info.wsgi"))
                .file(
                    "apps/dirglobal/info.wsgi",
                    include_str!("apps/daemon_info.wsgi"),
                )
        })
        .start();
    let parent = apache.parent_pid();
    let check = |report: &Value, group: &str, what: &str| {
        assert_eq!(report["environ_process_group"], group, "{what}: {report}");
        assert_eq!(report["module_process_group"], group, "{what}: {report}");
        assert_eq!(report["ppid"], parent, "{what}: {report}");
        let pid = pid_of(report);
        if group.is_empty() {
            // Apache's own children (embedded mode).
            assert!(
                !argv0(pid).unwrap_or_default().starts_with("(wsgi:"),
                "{what}: pid {pid} is a daemon process"
            );
            assert_eq!(report["argv0"], "/usr/sbin/apache2", "{what}");
        } else {
            let daemons = processes_named(&apache, &format!("(wsgi:{group})"));
            assert!(
                daemons.contains(&pid),
                "{what}: pid {pid} is not a daemon of {group} ({daemons:?})"
            );
        }
    };
    check(
        &info(&apache, "/info"),
        "wsgi-test",
        "server-level WSGIProcessGroup",
    );
    check(&info(&apache, "/alias"), "other", "process-group=other");
    check(&info(&apache, "/global"), "", "process-group=%{GLOBAL}");
    check(
        &info(&apache, "/dir"),
        "other",
        "<Directory> WSGIProcessGroup",
    );
    check(
        &info(&apache, "/dirglobal"),
        "",
        "<Directory> WSGIProcessGroup %{GLOBAL}",
    );
    check(
        &info_on_host(&apache, "/info", "vhost.test"),
        "other",
        "<VirtualHost> WSGIProcessGroup",
    );
    check(
        &info_on_host(&apache, "/alias", "vhost.test"),
        "other",
        "process-group= in a virtual host",
    );
    check(
        &info_on_host(&apache, "/vonly", "vhost.test"),
        "vonly",
        "a virtual host's own group",
    );

    let missing = apache.get("/missing");
    assert_eq!(missing.status, 500, "{missing:?}");
    assert_log_contains(
        &apache,
        "No WSGI daemon process called 'nosuch' has been configured",
    );
    // A group defined in a virtual host serves only that virtual host.
    let foreign = apache.get("/vonly");
    assert_eq!(foreign.status, 500, "{foreign:?}");
    assert_log_contains(
        &apache,
        "Daemon process called 'vonly' cannot be accessed by this WSGI application",
    );
}

/// A group defined outside any virtual host is one set of processes,
/// however many virtual hosts there are (with or without directives of
/// their own), and serves them all.
#[test]
fn a_server_level_group_starts_once_whatever_the_virtual_hosts() {
    let apache = info_site(Mpm::Event)
        .conf(
            "WSGIDaemonProcess shared processes=3 threads=1 display-name=%{GROUP}\n\
             WSGIScriptAlias /shared {root}/apps/daemon_info.wsgi process-group=shared\n\
             <VirtualHost *:*>\n  ServerName 127.0.0.1\n</VirtualHost>\n\
             <VirtualHost *:*>\n  ServerName one.test\n\
             \x20 WSGIScriptAlias /one {root}/apps/daemon_info.wsgi process-group=shared\n\
             </VirtualHost>\n\
             <VirtualHost *:*>\n  ServerName two.test\n  WSGIProcessGroup shared\n\
             </VirtualHost>\n",
        )
        .start();
    let shared = || processes_named(&apache, "(wsgi:shared)");
    assert!(
        wait_until(Duration::from_secs(10), || shared().len() >= 3),
        "{:?}",
        shared()
    );
    // Time for any extra set to show up.
    thread::sleep(Duration::from_secs(1));
    assert_eq!(shared().len(), 3, "{:?}", shared());
    assert_eq!(started_pids(&apache, "shared").len(), 3);
    assert_eq!(
        daemon_pids(&apache).len(),
        DAEMON_PROCESSES as usize,
        "wsgi-test started more than once"
    );
    for (host, path) in [
        ("127.0.0.1", "/shared"),
        ("one.test", "/one"),
        ("one.test", "/shared"),
        ("two.test", "/info"),
    ] {
        let report = info_on_host(&apache, path, host);
        assert_eq!(report["module_process_group"], "shared", "{host}{path}");
        assert!(
            shared().contains(&pid_of(&report)),
            "{host}{path}: {report}"
        );
    }
}

/// As in mod_wsgi 4.9.4 (checked side by side), a name is unique across
/// the whole configuration: two virtual hosts cannot each define a group
/// of the same name.
#[test]
fn the_same_group_name_in_two_virtual_hosts_is_refused() {
    let text = refusal(
        "<VirtualHost *:*>\n  ServerName a.test\n  WSGIDaemonProcess same processes=1\n\
         </VirtualHost>\n\
         <VirtualHost *:*>\n  ServerName b.test\n  WSGIDaemonProcess same processes=1\n\
         </VirtualHost>\n",
    );
    assert!(
        text.contains("WSGIDaemonProcess") && text.contains("'same' duplicates"),
        "{text}"
    );
}

#[test]
fn routing_event() {
    routing(Mpm::Event);
}

#[test]
fn routing_prefork() {
    routing(Mpm::Prefork);
}

#[test]
fn restrict_embedded_keeps_python_out_of_apache_children() {
    let apache = info_site(Mpm::Event)
        .conf(
            "WSGIRestrictEmbedded On\n\
             WSGIScriptAlias /global {root}/apps/daemon_info.wsgi process-group=%{GLOBAL}\n",
        )
        .start();
    let report = info(&apache, "/info");
    assert_eq!(report["environ_process_group"], "wsgi-test");
    let embedded = apache.get("/global");
    assert_eq!(embedded.status, 500, "{embedded:?}");
    assert_log_contains(&apache, "Embedded mode of mod_wsgi disabled");

    let daemons: BTreeSet<i32> = started_pids(&apache, "wsgi-test").into_iter().collect();
    assert_eq!(daemons.len(), DAEMON_PROCESSES as usize, "{daemons:?}");
    let log = apache.error_log();
    let initialising: BTreeSet<i32> = log
        .lines()
        .filter(|line| line.contains("Initializing Python."))
        .map(|line| logging_pid(line).unwrap_or_else(|| panic!("no pid in {line}")))
        .collect();
    assert!(
        initialising.is_subset(&daemons) && initialising.contains(&pid_of(&report)),
        "Python was initialised in {initialising:?}, the daemons are {daemons:?}:\n{log}"
    );
}

const GLOBAL_IMPORT: &str = r#"import os
marks = os.path.join(os.path.dirname(__file__), "..", "marks")
if os.path.isdir(marks):
    open(os.path.join(marks, "imported-%d" % os.getpid()), "w").close()
"#;

/// As in mod_wsgi, a WSGIImportScript for %{GLOBAL} still starts Python
/// in Apache's children under WSGIRestrictEmbedded On, and is loaded
/// there; requests for embedded mode are still refused.
#[test]
fn restrict_embedded_still_loads_global_import_scripts() {
    let apache = info_site(Mpm::Prefork)
        .with(|b| b.file("apps/global_import.py", GLOBAL_IMPORT))
        .conf(
            "WSGIRestrictEmbedded On\n\
             WSGIImportScript {root}/apps/global_import.py process-group=%{GLOBAL} application-group=%{GLOBAL}\n\
             WSGIScriptAlias /global {root}/apps/daemon_info.wsgi process-group=%{GLOBAL}\n",
        )
        .start();
    let marks = apache.writable_dir("marks");
    // Children started after the directory exists load the script: a
    // graceful restart makes new ones.
    apache.graceful();
    let children: Vec<i32> = apache
        .child_pids()
        .into_iter()
        .filter(|pid| !argv0(*pid).unwrap_or_default().starts_with("(wsgi:"))
        .collect();
    let until = std::time::Instant::now() + Duration::from_secs(10);
    let imported = loop {
        let found: Vec<i32> = std::fs::read_dir(&marks)
            .unwrap()
            .filter_map(Result::ok)
            .filter_map(|e| {
                e.file_name()
                    .to_string_lossy()
                    .strip_prefix("imported-")
                    .and_then(|p| p.parse().ok())
            })
            .collect();
        if found.iter().any(|p| children.contains(p)) || std::time::Instant::now() > until {
            break found;
        }
        thread::sleep(Duration::from_millis(100));
    };
    assert!(
        imported.iter().any(|p| children.contains(p)),
        "no Apache child imported the script: {imported:?} vs {children:?}\n{}",
        apache.error_log()
    );
    assert_eq!(apache.get("/global").status, 500);
}

#[test]
fn restrict_process_limits_the_groups() {
    let apache = info_site(Mpm::Event)
        .conf(
            "WSGIDaemonProcess other processes=1 threads=2\n\
             WSGIRestrictProcess wsgi-test %{GLOBAL}\n\
             WSGIScriptAlias /other {root}/apps/daemon_info.wsgi process-group=other\n\
             WSGIScriptAlias /global {root}/apps/daemon_info.wsgi process-group=%{GLOBAL}\n\
             WSGIScriptAlias /r-default {root}/apps/restricted/info.wsgi\n\
             WSGIScriptAlias /r-other {root}/apps/restricted/info.wsgi process-group=other\n\
             <Directory {root}/apps/restricted>\n  WSGIRestrictProcess other\n</Directory>\n",
        )
        .with(|b| {
            b.file(
                "apps/restricted/info.wsgi",
                include_str!("apps/daemon_info.wsgi"),
            )
        })
        .start();
    assert_eq!(info(&apache, "/info")["environ_process_group"], "wsgi-test");
    assert_eq!(info(&apache, "/global")["environ_process_group"], "");
    assert_eq!(info(&apache, "/r-other")["environ_process_group"], "other");

    let denied = apache.get("/other");
    assert_eq!(denied.status, 500, "server-level restriction: {denied:?}");
    assert_log_contains(
        &apache,
        "Daemon process called 'other' cannot be accessed by this WSGI application as not a \
         member of allowed groups",
    );
    let denied = apache.get("/r-default");
    assert_eq!(
        denied.status, 500,
        "directory-level restriction: {denied:?}"
    );
    assert_log_contains(
        &apache,
        "Daemon process called 'wsgi-test' cannot be accessed by this WSGI application as not a \
         member of allowed groups",
    );
}

// ----- sockets and the process model -----

#[test]
fn sockets_are_private_to_apaches_user() {
    let apache = info_site(Mpm::Event)
        .conf("WSGIDaemonProcess second processes=1 threads=1\n")
        .start();
    let parent = apache.parent_pid();
    let names = sockets(&apache);
    assert_eq!(names.len(), 2, "{names:?}");
    let mut indexes = Vec::new();
    for name in &names {
        let parts: Vec<&str> = name.split('.').collect();
        assert_eq!(parts.len(), 5, "{name}");
        assert_eq!(parts[0], "wsgi", "{name}");
        assert_eq!(parts[1], parent.to_string(), "{name}");
        parts[2]
            .parse::<u32>()
            .unwrap_or_else(|_| panic!("generation in {name}"));
        indexes.push(parts[3].parse::<u32>().unwrap());
        let meta = std::fs::metadata(apache.root().join("run").join(name)).unwrap();
        use std::os::unix::fs::FileTypeExt;
        assert!(meta.file_type().is_socket(), "{name}");
        assert_eq!(meta.permissions().mode() & 0o7777, 0o700, "{name}");
        assert_eq!(meta.uid(), 33, "{name} is not owned by www-data");
    }
    indexes.sort_unstable();
    assert_eq!(indexes, [0, 1]);
}

#[test]
fn daemons_are_named_children_of_the_parent() {
    let apache = info_site(Mpm::Event)
        .conf(
            "WSGIDaemonProcess custom processes=1 threads=1 display-name=custom-name\n\
             WSGIDaemonProcess plain processes=1 threads=1\n\
             WSGIScriptAlias /custom {root}/apps/daemon_info.wsgi process-group=custom\n\
             WSGIScriptAlias /plain {root}/apps/daemon_info.wsgi process-group=plain\n",
        )
        .start();
    let parent = apache.parent_pid();
    // Both processes of the group, whichever serves.
    assert!(
        wait_until(Duration::from_secs(10), || daemon_pids(&apache).len()
            == DAEMON_PROCESSES as usize),
        "daemons: {:?}",
        daemon_pids(&apache)
    );
    let report = info(&apache, "/info");
    assert_eq!(report["ppid"], parent);
    assert_eq!(report["argv0"], "(wsgi:wsgi-test)");
    assert!(daemon_pids(&apache).contains(&pid_of(&report)));
    let ps = Command::new("ps")
        .args(["-o", "args=", "-p", &pid_of(&report).to_string()])
        .output()
        .unwrap();
    let ps = String::from_utf8_lossy(&ps.stdout);
    assert!(ps.starts_with("(wsgi:wsgi-test)"), "ps shows {ps:?}");

    let custom = info(&apache, "/custom");
    assert_eq!(custom["argv0"], "custom-name");
    assert_eq!(custom["ppid"], parent);
    // Without display-name, the process keeps Apache's command line.
    let plain = info(&apache, "/plain");
    assert_eq!(plain["argv0"], "/usr/sbin/apache2");
    assert_eq!(plain["ppid"], parent);
    let started = started_pids(&apache, "plain");
    assert_eq!(started, [pid_of(&plain)]);
}

#[test]
fn killed_daemon_is_replaced() {
    let apache = info_site(Mpm::Event).daemon_option("processes=1").start();
    let old = pid_of(&info(&apache, "/info"));
    kill(old, libc::SIGKILL);
    let killed = Instant::now();
    let new = wait_for_new_pid(&apache, old, Duration::from_secs(10))
        .unwrap_or_else(|| panic!("no new daemon process:\n{}", apache.error_log()));
    assert!(
        killed.elapsed() < Duration::from_secs(5),
        "the replacement took {:?}",
        killed.elapsed()
    );
    assert!(!is_running(old));
    assert!(apache.child_pids().contains(&new));
    assert_eq!(argv0(new).as_deref(), Some("(wsgi:wsgi-test)"));
    assert_eq!(started_pids(&apache, "wsgi-test").last(), Some(&new));
}

/// An Apache child keeps its connection to a daemon process between
/// requests. When that process has died meanwhile, the next request goes
/// to its replacement without an error.
#[test]
fn a_request_after_the_daemon_died_is_served_by_the_replacement() {
    let apache = info_site(Mpm::Prefork)
        .daemon_option("processes=1")
        .with(|b| {
            b.mpm_conf(
                "StartServers 1\nMinSpareServers 1\nMaxSpareServers 1\n\
                 ServerLimit 1\nMaxRequestWorkers 1\n",
            )
        })
        .start();
    let old = pid_of(&info(&apache, "/info"));
    // The one Apache child now holds a connection to `old`.
    assert_eq!(pid_of(&info(&apache, "/info")), old);
    kill(old, libc::SIGKILL);
    assert!(wait_until(Duration::from_secs(5), || !is_running(old)));
    let response = apache.get("/info");
    assert_eq!(response.status, 200, "{response:?}\n{}", apache.error_log());
    assert_ne!(pid_of(&json_of(&apache, &response)), old);
}

/// Each Apache worker thread keeps its connection to the daemon process
/// that served it last. When every thread of that process has become busy
/// since, a request sent on the connection must not wait for the busy
/// process: it is handed back and a process with a free thread serves it.
#[test]
fn a_request_on_a_connection_to_a_busy_process_goes_to_a_free_one() {
    const WORKERS: usize = 8;
    let apache = info_site(Mpm::Event)
        .daemon_option("processes=2 threads=1")
        .with(|b| {
            b.mpm_conf(
                "StartServers 1\nServerLimit 1\nThreadsPerChild 8\nThreadLimit 8\n\
                 MaxRequestWorkers 8\nMinSpareThreads 1\nMaxSpareThreads 8\n",
            )
        })
        .start();
    let concurrently = |path: &'static str, count: usize| -> Vec<(i32, Duration)> {
        thread::scope(|s| {
            let running: Vec<_> = (0..count)
                .map(|_| {
                    s.spawn(|| {
                        let began = Instant::now();
                        let pid = pid_of(&info(&apache, path));
                        (pid, began.elapsed())
                    })
                })
                .collect();
            running.into_iter().map(|t| t.join().unwrap()).collect()
        })
    };
    // Every worker thread opens a connection of its own, to either process
    // (each has one thread, so both serve).
    let warm: BTreeSet<i32> = concurrently("/info?sleep=0.3", WORKERS)
        .into_iter()
        .map(|(pid, _)| pid)
        .collect();
    assert_eq!(warm.len(), 2, "both processes should have served: {warm:?}");

    thread::scope(|s| {
        let slow = s.spawn(|| pid_of(&info(&apache, "/info?sleep=8")));
        thread::sleep(Duration::from_millis(500));
        // The other workers all at once: those whose connection leads to
        // the busy process would wait for it.
        let fast = concurrently("/info", WORKERS - 1);
        let busy = slow.join().unwrap();
        for (pid, took) in &fast {
            assert!(
                *took < Duration::from_secs(3),
                "a request took {took:?} while process {busy} was busy (answers {fast:?})\n{}",
                apache.error_log()
            );
            assert_ne!(*pid, busy, "the busy process answered? {fast:?}");
        }
    });
}

/// The generation field of a socket name `wsgi.<parent>.<generation>.<index>.sock`.
fn socket_generation(name: &str) -> u64 {
    name.split('.')
        .nth(2)
        .and_then(|g| g.parse().ok())
        .unwrap_or_else(|| panic!("no generation in {name}"))
}

fn restarts_replace_daemons_and_sockets(mpm: Mpm) {
    let apache = info_site(mpm).start();
    let processes = DAEMON_PROCESSES as usize;
    let served = pid_of(&info(&apache, "/info"));
    assert!(wait_until(Duration::from_secs(10), || daemon_pids(&apache)
        .len()
        == processes));
    let mut all_daemons = BTreeSet::new();
    let mut daemons = daemon_pids(&apache);
    let mut socks = sockets(&apache);
    assert!(daemons.contains(&served), "{served} not in {daemons:?}");
    assert_eq!(socks.len(), 1, "{socks:?}");
    for (action, restart) in [
        ("graceful", Apache::graceful as fn(&Apache)),
        ("restart", Apache::restart as fn(&Apache)),
    ] {
        restart(&apache);
        assert!(
            wait_until(Duration::from_secs(10), || daemons
                .iter()
                .all(|p| !is_running(*p))),
            "{action}: old daemons {daemons:?} still alive"
        );
        let new_sockets = sockets(&apache);
        assert_eq!(new_sockets.len(), 1, "{action}: {new_sockets:?}");
        let (old_name, new_name) = (socks.first().unwrap(), new_sockets.first().unwrap());
        assert!(
            socket_generation(new_name) > socket_generation(old_name),
            "{action}: old socket kept: {old_name} -> {new_name}"
        );
        let report = info(&apache, "/info");
        assert!(
            wait_until(Duration::from_secs(10), || daemon_pids(&apache).len()
                == processes),
            "{action}: daemons {:?}",
            daemon_pids(&apache)
        );
        let new_daemons = daemon_pids(&apache);
        assert!(
            new_daemons.is_disjoint(&daemons),
            "{action}: {daemons:?} -> {new_daemons:?}"
        );
        assert!(new_daemons.contains(&pid_of(&report)), "{action}: {report}");
        assert_eq!(report["ppid"], apache.parent_pid());
        all_daemons.extend(daemons);
        daemons = new_daemons;
        socks = new_sockets;
    }
    all_daemons.extend(daemons);
    apache.stop();
    let left: Vec<i32> = all_daemons
        .iter()
        .copied()
        .filter(|p| is_running(*p))
        .collect();
    assert!(left.is_empty(), "daemons alive after stop: {left:?}");
    let left = sockets(&apache);
    assert!(left.is_empty(), "sockets left after stop: {left:?}");
}

/// A daemon that would take longer than 3 s to stop (a request running,
/// shutdown-timeout=30) is killed by Apache 3 s after a restart began.
fn restart_kills_slow_daemons_after_three_seconds(mpm: Mpm, action: &str) {
    let apache = info_site(mpm)
        .daemon_option("processes=1 threads=2 shutdown-timeout=30")
        .start();
    let daemon = pid_of(&info(&apache, "/info"));
    thread::scope(|scope| {
        let running = scope.spawn(|| {
            let mut stream = apache.connect();
            stream
                .write_all(b"GET /info?sleep=60 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .unwrap();
            try_read_response(&mut stream, false)
        });
        thread::sleep(Duration::from_millis(500));
        let began = Instant::now();
        match action {
            "graceful" => apache.graceful(),
            _ => apache.restart(),
        }
        assert!(wait_until(Duration::from_secs(15), || !is_running(daemon)));
        let took = began.elapsed();
        assert!(
            took < Duration::from_secs(5),
            "{action}: the daemon was gone {took:?} after the restart began"
        );
        // A hard restart may end the Apache child too, without an answer.
        if let Ok(response) = running.join().unwrap() {
            assert!((500..600).contains(&response.status), "{response:?}");
        }
    });
    assert_ne!(pid_of(&info(&apache, "/info")), daemon);
}

#[test]
fn graceful_kills_slow_daemons_after_three_seconds_event() {
    restart_kills_slow_daemons_after_three_seconds(Mpm::Event, "graceful");
}

#[test]
fn restart_kills_slow_daemons_after_three_seconds_event() {
    restart_kills_slow_daemons_after_three_seconds(Mpm::Event, "restart");
}

#[test]
fn restart_kills_slow_daemons_after_three_seconds_prefork() {
    restart_kills_slow_daemons_after_three_seconds(Mpm::Prefork, "restart");
}

#[test]
fn restarts_replace_daemons_and_sockets_event() {
    restarts_replace_daemons_and_sockets(Mpm::Event);
}

#[test]
fn restarts_replace_daemons_and_sockets_prefork() {
    restarts_replace_daemons_and_sockets(Mpm::Prefork);
}

// ----- identity and environment -----

#[test]
fn daemons_run_as_the_configured_identity() {
    let apache = info_site(Mpm::Event)
        .conf(
            "WSGIDaemonProcess both processes=1 threads=1 user=nobody group=nogroup \
             home={root}/nobody\n\
             WSGIDaemonProcess useronly processes=1 threads=1 user=nobody\n\
             WSGIDaemonProcess supplementary processes=1 threads=1 supplementary-groups=adm\n\
             WSGIScriptAlias /both {root}/apps/daemon_info.wsgi process-group=both\n\
             WSGIScriptAlias /useronly {root}/apps/daemon_info.wsgi process-group=useronly\n\
             WSGIScriptAlias /supplementary {root}/apps/daemon_info.wsgi \
             process-group=supplementary\n",
        )
        .with(|b| {
            // Python runs a user's usercustomize (found from $HOME, which
            // the daemon sets to its home) while it starts: it records who
            // Python started as.
            b.file(
                "nobody/.local/lib/python3.11/site-packages/usercustomize.py",
                "import os, sys\n\
                 sys.daemon_init_ids = [os.getuid(), os.geteuid(), os.getgid(), os.getegid()]\n",
            )
        })
        .start();
    let ids = |report: &Value| {
        (
            report["uid"].as_u64().unwrap(),
            report["euid"].as_u64().unwrap(),
            report["gid"].as_u64().unwrap(),
            report["egid"].as_u64().unwrap(),
        )
    };
    let default = info(&apache, "/info");
    assert_eq!(ids(&default), (33, 33, 33, 33), "{default}");
    assert_eq!(default["groups"], json!(grouplist("www-data", 33)));

    let both = info(&apache, "/both");
    assert_eq!(ids(&both), (65534, 65534, 65534, 65534), "{both}");
    // Privileges were dropped before Python started.
    assert_eq!(
        both["init_ids"],
        json!([65534, 65534, 65534, 65534]),
        "{both}"
    );
    assert_eq!(both["groups"], json!(grouplist("nobody", 65534)));

    // Without group=, the group is Apache's Group (as mod_wsgi).
    let user_only = info(&apache, "/useronly");
    assert_eq!(ids(&user_only), (65534, 65534, 33, 33), "{user_only}");
    assert_eq!(user_only["groups"], json!(grouplist("nobody", 33)));

    let supplementary = info(&apache, "/supplementary");
    assert_eq!(ids(&supplementary), (33, 33, 33, 33), "{supplementary}");
    let mut expected = vec![33, gid_of("adm")];
    expected.sort_unstable();
    assert_eq!(supplementary["groups"], json!(expected));

    // Every id (real, effective, saved, filesystem) was dropped.
    for (report, uid, gid) in [(&both, 65534, 65534), (&user_only, 65534, 33)] {
        let status = std::fs::read_to_string(format!("/proc/{}/status", pid_of(report))).unwrap();
        let ids_line = |field: &str| -> Vec<u32> {
            status
                .lines()
                .find_map(|l| l.strip_prefix(field))
                .unwrap()
                .split_whitespace()
                .map(|v| v.parse().unwrap())
                .collect()
        };
        assert_eq!(ids_line("Uid:"), [uid; 4]);
        assert_eq!(ids_line("Gid:"), [gid; 4]);
    }
}

#[test]
fn daemons_get_their_environment() {
    let apache = info_site(Mpm::Event)
        .conf(
            "WSGIDaemonProcess env processes=1 threads=1 home={root}/home umask=0027 \
             lang=en_US.UTF-8 locale=C.UTF-8 python-path={root}/lib1:{root}/lib2\n\
             WSGIScriptAlias /env {root}/apps/daemon_info.wsgi process-group=env\n",
        )
        .with(|b| {
            b.file("home/readme", "home of the env group\n")
                .file("lib1/unused.py", "")
                .file(
                    "lib2/daemon_marker.py",
                    include_str!("apps/daemon_marker.py"),
                )
        })
        .start();
    let root = apache.root().to_str().unwrap().to_owned();
    let env = info(&apache, "/env");
    assert_eq!(env["cwd"], format!("{root}/home"));
    assert_eq!(env["home_env"], format!("{root}/home"));
    assert_eq!(env["umask"], "0027");
    assert_eq!(env["lang"], "en_US.UTF-8");
    assert_eq!(env["lc_all"], "C.UTF-8");
    let path: Vec<&str> = env["path"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    for dir in [format!("{root}/lib1"), format!("{root}/lib2")] {
        assert!(path.contains(&dir.as_str()), "{dir} not in {path:?}");
    }
    // home= leads sys.path, before python-path (mod_wsgi inserts it last,
    // at the front), so modules beside the application import.
    assert_eq!(path.first().copied(), Some(format!("{root}/home").as_str()));
    assert_eq!(env["marker"], "daemon-marker");

    // Defaults: the user's home (www-data's), no LANG/LC_ALL, no extra path.
    let default = info(&apache, "/info");
    let default_path = default["path"].as_array().unwrap();
    assert!(
        !default_path.iter().any(|p| p == "/var/www"),
        "the default home is not on sys.path: {default_path:?}"
    );
    assert_eq!(default["cwd"], "/var/www");
    assert_eq!(default["lang"], Value::Null);
    assert_eq!(default["lc_all"], Value::Null);
    assert_eq!(default["marker"], Value::Null);
}

/// WSGIImportScript naming a daemon group runs in each of its processes
/// when they start, before any request.
#[test]
fn import_script_runs_in_the_daemon_processes() {
    let apache = SiteBuilder::new(Mpm::Event, Mode::Daemon)
        .mount_app("/info", "daemon_info.wsgi", "application-group=%{GLOBAL}")
        .conf(
            "WSGIImportScript {root}/apps/daemon_preload.py process-group=wsgi-test \
             application-group=%{GLOBAL}\n\
             WSGIScriptAlias /global {root}/apps/daemon_info.wsgi process-group=%{GLOBAL} \
             application-group=%{GLOBAL}\n",
        )
        .with(|b| {
            b.file(
                "apps/daemon_preload.py",
                include_str!("apps/daemon_preload.py"),
            )
        })
        .start();
    for _ in 0..20 {
        let report = info(&apache, "/info");
        assert_eq!(report["preloaded_by"], report["pid"], "{report}");
    }
    assert_eq!(info(&apache, "/global")["preloaded_by"], Value::Null);
}

#[test]
fn python_home_selects_the_venv() {
    let venv = test_venv();
    let apache = info_site(Mpm::Event)
        .conf(&format!(
            "WSGIDaemonProcess venv processes=1 threads=1 python-home={}\n\
             WSGIScriptAlias /venv {{root}}/apps/daemon_info.wsgi process-group=venv\n",
            venv.display()
        ))
        .start();
    let report = info(&apache, "/venv");
    assert_eq!(report["prefix"], venv.to_str().unwrap(), "{report}");
    let site = site_packages(&venv);
    assert!(
        report["path"]
            .as_array()
            .unwrap()
            .contains(&json!(site.to_str().unwrap())),
        "{site:?} not on {report}"
    );
    assert_eq!(info(&apache, "/info")["prefix"], "/usr");
}

#[test]
fn wsgi_flags_and_mod_wsgi_follow_the_group() {
    let apache = info_site(Mpm::Event)
        .conf(
            "WSGIDaemonProcess implicit threads=1\n\
             WSGIDaemonProcess once threads=1 maximum-requests=1\n\
             WSGIDaemonProcess one processes=1 threads=5\n\
             WSGIScriptAlias /implicit {root}/apps/daemon_info.wsgi process-group=implicit\n\
             WSGIScriptAlias /once {root}/apps/daemon_info.wsgi process-group=once\n\
             WSGIScriptAlias /one {root}/apps/daemon_info.wsgi process-group=one\n",
        )
        .start();
    for (path, group, processes, threads, multiprocess, multithread, run_once) in [
        (
            "/info",
            "wsgi-test",
            DAEMON_PROCESSES,
            DAEMON_THREADS,
            true,
            true,
            false,
        ),
        ("/implicit", "implicit", 1, 1, false, false, false),
        ("/once", "once", 1, 1, false, false, true),
        ("/one", "one", 1, 5, true, true, false),
    ] {
        let report = info(&apache, path);
        assert_eq!(
            (
                report["environ_process_group"].as_str(),
                report["module_process_group"].as_str(),
                report["maximum_processes"].as_u64(),
                report["threads_per_process"].as_u64(),
                report["multiprocess"].as_bool(),
                report["multithread"].as_bool(),
                report["run_once"].as_bool(),
            ),
            (
                Some(group),
                Some(group),
                Some(u64::from(processes)),
                Some(u64::from(threads)),
                Some(multiprocess),
                Some(multithread),
                Some(run_once),
            ),
            "{path}: {report}"
        );
    }
}

// ----- streaming -----

/// A site for the streaming tests: one Apache child, one daemon process.
fn stream_site() -> (Apache, i32, i32) {
    let apache = SiteBuilder::new(Mpm::Event, Mode::Daemon)
        .daemon_option("processes=1")
        .mount_app("/s", "daemon_stream.wsgi", "")
        .with(|b| b.mpm_conf(ONE_EVENT_CHILD))
        .start();
    let warmup = apache.get("/s/");
    assert_eq!(warmup.status, 200, "{warmup:?}\n{}", apache.error_log());
    let daemon: i32 = warmup.header("X-Pid").unwrap().parse().unwrap();
    let children = apache.child_pids();
    let others: Vec<i32> = children.iter().copied().filter(|p| *p != daemon).collect();
    assert_eq!(others.len(), 1, "children {children:?}, daemon {daemon}");
    assert!(children.contains(&daemon));
    (apache, daemon, others[0])
}

fn assert_bounded(what: &str, pid: i32, before: u64) {
    const ALLOWED_GROWTH_KIB: u64 = 64 * 1024;
    let after = peak_rss_kib(pid);
    assert!(
        after.saturating_sub(before) <= ALLOWED_GROWTH_KIB,
        "peak RSS of the {what} (pid {pid}) grew from {before} KiB to {after} KiB"
    );
}

#[test]
fn one_gib_upload_streams_with_bounded_memory() {
    let (apache, daemon, child) = stream_site();
    let (daemon_before, child_before) = (peak_rss_kib(daemon), peak_rss_kib(child));
    let mut stream = apache.connect();
    write!(
        stream,
        "POST /s/upload HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {GIB}\r\n\r\n"
    )
    .unwrap();
    let mut hasher = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("cannot run sha256sum");
    {
        let pipe = hasher.stdin.as_mut().unwrap();
        let base: Vec<u8> = (0..MIB + 8192).map(|i| (i * 7 + i / 251) as u8).collect();
        let mut sent = 0;
        let mut n = 0;
        while sent < GIB {
            let len = (MIB - 1 + n % 3).min(GIB - sent);
            let start = n * 1031 % 8192;
            let block = &base[start..start + len];
            stream.write_all(block).unwrap();
            pipe.write_all(block).unwrap();
            sent += len;
            n += 1;
        }
    }
    drop(hasher.stdin.take());
    let expected = String::from_utf8(hasher.wait_with_output().unwrap().stdout).unwrap();
    let expected = expected.split_whitespace().next().unwrap().to_owned();
    let response = read_response(&mut stream, false);
    let answer = json_of(&apache, &response);
    assert_eq!(response.header("X-Pid"), Some(daemon.to_string().as_str()));
    assert_eq!(answer["size"], json!(GIB));
    assert_eq!(answer["sha256"], json!(expected));
    assert_eq!(answer["largest_block"], json!(65536));
    assert_bounded("daemon process", daemon, daemon_before);
    assert_bounded("Apache child", child, child_before);
}

#[test]
fn one_gib_download_streams_with_bounded_memory() {
    let (apache, daemon, child) = stream_site();
    let (daemon_before, child_before) = (peak_rss_kib(daemon), peak_rss_kib(child));
    let mut stream = apache.connect();
    write!(
        stream,
        "GET /s/download/1024 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let head = read_raw_head(&mut stream);
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
    assert!(head.contains(&format!("X-Pid: {daemon}\r\n")), "{head}");
    assert!(
        head.contains(&format!("Content-Length: {GIB}\r\n")),
        "{head}"
    );
    assert_eq!(read_byte_pattern(&mut stream), GIB);
    assert_bounded("daemon process", daemon, daemon_before);
    assert_bounded("Apache child", child, child_before);
}

// ----- faults -----

/// Ten clients keep requesting until the group's processes have been
/// replaced at least once each way (three pids seen) or 40 s have passed.
/// Not one request may fail.
fn maximum_requests_recycles_without_failures(options: &str) {
    let apache = info_site(Mpm::Event)
        .daemon_option(&format!(
            "processes=2 threads=4 maximum-requests=10 {options}"
        ))
        .start();
    let seen = std::sync::Mutex::new(BTreeSet::new());
    let deadline = Instant::now() + Duration::from_secs(40);
    let done = || seen.lock().unwrap().len() > 2 || Instant::now() > deadline;
    let statuses: Vec<u16> = thread::scope(|scope| {
        let workers: Vec<_> = (0..10)
            .map(|_| {
                scope.spawn(|| {
                    let mut statuses = Vec::new();
                    while !done() {
                        let response = apache.get("/info");
                        if response.status == 200 {
                            let pid = pid_of(&json_of(&apache, &response));
                            seen.lock().unwrap().insert(pid);
                        }
                        statuses.push(response.status);
                    }
                    statuses
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    let failures: Vec<u16> = statuses.iter().copied().filter(|s| *s != 200).collect();
    assert!(
        failures.is_empty(),
        "{} of {} requests failed: {failures:?}\n{}",
        failures.len(),
        statuses.len(),
        apache.error_log()
    );
    let pids = seen.lock().unwrap().clone();
    assert!(pids.len() > 2, "no recycling in 40 s: pids {pids:?}");
    assert_log_contains(&apache, "maximum requests (10) reached");
}

/// With the default graceful-timeout (15 s) a process that reached its
/// limit keeps serving until it has no request running or the timeout
/// ends, as in mod_wsgi.
#[test]
fn maximum_requests_recycles_without_failures_gracefully() {
    maximum_requests_recycles_without_failures("");
}

/// Without a graceful phase the process stops taking requests at once and
/// finishes those it has.
#[test]
fn maximum_requests_recycles_without_failures_at_once() {
    maximum_requests_recycles_without_failures("graceful-timeout=0");
}

#[test]
fn request_timeout_answers_within_the_limit_and_replaces_the_process() {
    let apache = info_site(Mpm::Event)
        .daemon_option("processes=1 threads=1 request-timeout=2")
        .start();
    let old = pid_of(&info(&apache, "/info"));
    let sent = Instant::now();
    let response = apache.get("/info?sleep=60");
    let elapsed = sent.elapsed();
    assert!(
        (500..600).contains(&response.status),
        "{response:?}\n{}",
        apache.error_log()
    );
    assert!(
        elapsed < Duration::from_secs(4),
        "the answer took {elapsed:?} with request-timeout=2"
    );
    assert_log_contains(&apache, "request time limit exceeded");
    let new = wait_for_new_pid(&apache, old, Duration::from_secs(15));
    assert!(new.is_some(), "not replaced:\n{}", apache.error_log());
}

/// With several threads, request-timeout applies to the average running
/// time of the requests across all threads (mod_wsgi's rule): one request
/// of 3 s in a process of 2 threads averages 1.5 s, under the limit.
#[test]
fn request_timeout_averages_over_threads() {
    let apache = info_site(Mpm::Event)
        .daemon_option("processes=1 threads=2 request-timeout=2")
        .start();
    let old = pid_of(&info(&apache, "/info"));
    let report = info(&apache, "/info?sleep=3");
    assert_eq!(pid_of(&report), old);
    assert!(!apache.error_log().contains("request time limit exceeded"));
    // Two such requests average 2 s after 2 s: over the limit.
    let statuses: Vec<u16> = thread::scope(|scope| {
        let a = scope.spawn(|| apache.get("/info?sleep=5").status);
        let b = scope.spawn(|| apache.get("/info?sleep=5").status);
        vec![a.join().unwrap(), b.join().unwrap()]
    });
    assert!(
        statuses.iter().all(|s| (500..600).contains(s)),
        "{statuses:?}\n{}",
        apache.error_log()
    );
    assert_log_contains(&apache, "request time limit exceeded");
}

fn daemon_dying_before_the_response_gives_502_at_once(mpm: Mpm) {
    let apache = info_site(mpm).daemon_option("processes=1").start();
    let old = pid_of(&info(&apache, "/info"));
    let sent = Instant::now();
    let response = apache.get("/info?kill=before");
    let elapsed = sent.elapsed();
    assert_eq!(response.status, 502, "{response:?}");
    assert!(elapsed < Duration::from_secs(2), "took {elapsed:?}");
    assert_log_contains(
        &apache,
        &format!(
            "Daemon process 'wsgi-test' pid {old} killed by signal 9 (SIGKILL) while running \
             GET /info?kill=before after "
        ),
    );
    assert!(wait_for_new_pid(&apache, old, Duration::from_secs(10)).is_some());
}

#[test]
fn daemon_dying_before_the_response_gives_502_at_once_event() {
    daemon_dying_before_the_response_gives_502_at_once(Mpm::Event);
}

#[test]
fn daemon_dying_before_the_response_gives_502_at_once_prefork() {
    daemon_dying_before_the_response_gives_502_at_once(Mpm::Prefork);
}

/// A daemon that dies after part of the body went out leaves the client
/// with an incomplete response (short of Content-Length, or without the
/// last chunk), whichever framing the response had.
#[test]
fn daemon_dying_mid_body_cuts_the_response() {
    let apache = info_site(Mpm::Event).daemon_option("processes=1").start();
    let mut old = pid_of(&info(&apache, "/info"));
    for kill in ["after", "after-chunked"] {
        let mut stream = apache.connect();
        write!(
            stream,
            "GET /info?kill={kill} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let sent = Instant::now();
        let response = try_read_response(&mut stream, false);
        let elapsed = sent.elapsed();
        let response = response
            .unwrap_or_else(|e| panic!("{kill}: no response head: {e}\n{}", apache.error_log()));
        assert_eq!(response.status, 200, "{kill}: {response:?}");
        assert!(!response.complete, "{kill}: {response:?}");
        assert!(
            response.body.len() >= 65536,
            "{kill}: {} bytes",
            response.body.len()
        );
        assert!(
            response.body.len() < MIB,
            "{kill}: {} bytes",
            response.body.len()
        );
        if kill == "after-chunked" {
            assert_eq!(response.header("Transfer-Encoding"), Some("chunked"));
        }
        assert!(elapsed < Duration::from_secs(5), "{kill}: took {elapsed:?}");
        old = wait_for_new_pid(&apache, old, Duration::from_secs(10))
            .unwrap_or_else(|| panic!("{kill}: not replaced:\n{}", apache.error_log()));
    }
}

#[test]
fn queue_timeout_gives_504() {
    let apache = info_site(Mpm::Event)
        .daemon_option("processes=1 threads=1 queue-timeout=1")
        .start();
    info(&apache, "/info");
    let (slow, queued) = thread::scope(|scope| {
        let slow = scope.spawn(|| apache.get("/info?sleep=3"));
        thread::sleep(Duration::from_millis(300));
        let queued = apache.get("/info");
        (slow.join().unwrap(), queued)
    });
    assert_eq!(slow.status, 200, "{slow:?}");
    assert_eq!(queued.status, 504, "{queued:?}\n{}", apache.error_log());
    assert_log_contains(&apache, "Queue timeout expired");
    // Requests that do not wait are served.
    info(&apache, "/info");
}

#[test]
fn connect_timeout_gives_503() {
    let apache = info_site(Mpm::Event)
        .daemon_option("connect-timeout=2")
        .start();
    // Before any request: an Apache child keeps its connections open
    // between requests, and would not need to connect again.
    assert!(wait_until(Duration::from_secs(5), || !sockets(&apache).is_empty()));
    for name in sockets(&apache) {
        std::fs::remove_file(apache.root().join("run").join(name)).unwrap();
    }
    let sent = Instant::now();
    let response = apache.get("/info");
    let elapsed = sent.elapsed();
    assert_eq!(response.status, 503, "{response:?}");
    assert!(
        elapsed >= Duration::from_secs(2) && elapsed < Duration::from_secs(10),
        "took {elapsed:?}"
    );
    assert_log_contains(
        &apache,
        "Unable to connect to WSGI daemon process 'wsgi-test'",
    );
}

#[test]
fn socket_timeout_gives_504() {
    let apache = info_site(Mpm::Event)
        .daemon_option("socket-timeout=1")
        .start();
    info(&apache, "/info");
    let sent = Instant::now();
    let response = apache.get("/info?sleep=3");
    let elapsed = sent.elapsed();
    assert_eq!(response.status, 504, "{response:?}");
    assert!(elapsed < Duration::from_secs(3), "took {elapsed:?}");
    assert_log_contains(
        &apache,
        "Timeout when reading response headers from daemon process 'wsgi-test'",
    );
}

#[test]
fn inactivity_timeout_restarts_an_idle_process() {
    let apache = info_site(Mpm::Event)
        .daemon_option("processes=1 inactivity-timeout=1")
        .start();
    let old = pid_of(&info(&apache, "/info"));
    thread::sleep(Duration::from_secs(3));
    assert!(
        !is_running(old),
        "pid {old} still alive:\n{}",
        apache.error_log()
    );
    let new = pid_of(&info(&apache, "/info"));
    assert_ne!(new, old);
    assert_log_contains(&apache, "inactivity timeout");
}

/// The inactivity timer only runs once the process has had a request (as
/// in mod_wsgi): a fresh process nobody used is not restarted over and
/// over, and answers at once when a request finally comes.
#[test]
fn inactivity_timeout_spares_a_fresh_process() {
    let apache = info_site(Mpm::Event)
        .daemon_option("processes=1 inactivity-timeout=1")
        .start();
    thread::sleep(Duration::from_secs(4));
    let started = started_pids(&apache, "wsgi-test");
    let sent = Instant::now();
    let report = info(&apache, "/info");
    let elapsed = sent.elapsed();
    assert_eq!(
        started.len(),
        1,
        "an unused process was restarted: {started:?}\n{}",
        apache.error_log()
    );
    assert_eq!(started, [pid_of(&report)]);
    assert!(elapsed < Duration::from_secs(1), "took {elapsed:?}");
}

#[test]
fn restart_interval_restarts_under_light_load() {
    let apache = info_site(Mpm::Event)
        .daemon_option("processes=1 restart-interval=2")
        .start();
    let old = pid_of(&info(&apache, "/info"));
    let since = Instant::now();
    let new = wait_for_new_pid(&apache, old, Duration::from_secs(8));
    assert!(new.is_some(), "not restarted:\n{}", apache.error_log());
    assert!(
        since.elapsed() < Duration::from_secs(5),
        "restarted after {:?}",
        since.elapsed()
    );
    assert_log_contains(&apache, "restart interval reached");
}

#[test]
fn startup_timeout_restarts_a_process_that_cannot_load_its_script() {
    let apache = SiteBuilder::new(Mpm::Event, Mode::Daemon)
        .daemon_option("processes=1 startup-timeout=1")
        .mount_app("/broken", "daemon_broken.wsgi", "")
        .start();
    let response = apache.get("/broken");
    assert_eq!(response.status, 500, "{response:?}");
    assert!(
        apache.wait_for_log("startup timeout", Duration::from_secs(10)),
        "{}",
        apache.error_log()
    );
    assert!(
        wait_until(Duration::from_secs(10), || started_pids(
            &apache,
            "wsgi-test"
        )
        .len()
            >= 2),
        "not restarted:\n{}",
        apache.error_log()
    );
    let first = started_pids(&apache, "wsgi-test")[0];
    assert!(wait_until(Duration::from_secs(5), || !is_running(first)));
}

#[test]
fn deadlock_timeout_replaces_a_process_stuck_holding_the_gil() {
    let apache = info_site(Mpm::Event)
        .daemon_option("processes=1 threads=2 deadlock-timeout=2")
        .start();
    let old = pid_of(&info(&apache, "/info"));
    let sent = Instant::now();
    let (response, elapsed) = thread::scope(|scope| {
        let stuck = scope.spawn(|| {
            let response = apache.get("/info?block=30");
            (response, sent.elapsed())
        });
        assert!(
            wait_until(Duration::from_secs(2 + 5 + 5), || !is_running(old)),
            "pid {old} still alive after {:?}:\n{}",
            sent.elapsed(),
            apache.error_log()
        );
        stuck.join().unwrap()
    });
    assert!((500..600).contains(&response.status), "{response:?}");
    assert!(elapsed < Duration::from_secs(13), "took {elapsed:?}");
    assert!(
        apache.error_log().to_lowercase().contains("deadlock"),
        "{}",
        apache.error_log()
    );
    assert!(wait_for_new_pid(&apache, old, Duration::from_secs(10)).is_some());
}

/// A daemon told to stop while a request runs exits once shutdown-timeout
/// has passed, not when the request ends.
#[test]
fn shutdown_timeout_bounds_a_stopping_process() {
    let apache = info_site(Mpm::Event)
        .daemon_option("processes=1 threads=2 shutdown-timeout=1")
        .start();
    let old = pid_of(&info(&apache, "/info"));
    thread::scope(|scope| {
        let running = scope.spawn(|| apache.get("/info?sleep=30"));
        thread::sleep(Duration::from_millis(500));
        let signalled = Instant::now();
        kill(old, libc::SIGTERM);
        assert!(
            wait_until(Duration::from_secs(10), || !is_running(old)),
            "pid {old} ignored SIGTERM"
        );
        let took = signalled.elapsed();
        assert!(
            took < Duration::from_millis(2500),
            "exited {took:?} after SIGTERM with shutdown-timeout=1"
        );
        let response = running.join().unwrap();
        assert!((500..600).contains(&response.status), "{response:?}");
    });
    assert!(wait_for_new_pid(&apache, old, Duration::from_secs(10)).is_some());
}

/// On Apache stop, a daemon with a request still running exits within its
/// shutdown-timeout (before Apache's own 3 s deadline).
fn stop_with_a_running_request_ends_the_daemon_in_time(mpm: Mpm) {
    let apache = info_site(mpm)
        .daemon_option("processes=1 threads=2 shutdown-timeout=1")
        .start();
    let daemon = pid_of(&info(&apache, "/info"));
    thread::scope(|scope| {
        let running = scope.spawn(|| {
            let mut stream = apache.connect();
            stream
                .write_all(b"GET /info?sleep=30 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .unwrap();
            let mut rest = Vec::new();
            let _ = stream.read_to_end(&mut rest);
        });
        thread::sleep(Duration::from_millis(500));
        let stopping = Instant::now();
        let stopper = scope.spawn(|| apache.stop());
        let gone = wait_until(Duration::from_secs(10), || !is_running(daemon));
        let took = stopping.elapsed();
        assert!(
            gone,
            "daemon {daemon} still alive {took:?} after stop began ({:?}):\n{}",
            std::fs::read_to_string(format!("/proc/{daemon}/stat")),
            std::fs::read_to_string(apache.root().join("logs/error_log")).unwrap_or_default()
        );
        assert!(
            took < Duration::from_millis(2500),
            "daemon exited {took:?} after stop began, shutdown-timeout=1"
        );
        stopper.join().unwrap();
        running.join().unwrap();
    });
    assert!(sockets(&apache).is_empty());
}

#[test]
fn stop_with_a_running_request_ends_the_daemon_in_time_prefork() {
    stop_with_a_running_request_ends_the_daemon_in_time(Mpm::Prefork);
}

/// With the event MPM the parent does not signal its process group on
/// stop: the daemons must be told by the module.
#[test]
fn stop_with_a_running_request_ends_the_daemon_in_time_event() {
    stop_with_a_running_request_ends_the_daemon_in_time(Mpm::Event);
}
