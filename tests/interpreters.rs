//! Application groups as Python interpreters, script loading and
//! reloading, the `mod_wsgi` module, Python start-up directives, lazy
//! initialisation, and teardown when a process exits.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use common::*;
use serde_json::Value;

fn json(response: &Response) -> Value {
    assert_eq!(response.status, 200, "{response:?}");
    serde_json::from_slice(&response.body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {response:?}"))
}

fn groups_site(mpm: Mpm, mode: Mode) -> Apache {
    SiteBuilder::new(mpm, mode)
        .mount_app("/a1", "interp_report.wsgi", "application-group=alpha")
        .with(|b| {
            b.file(
                "apps/second/report.wsgi",
                include_str!("apps/interp_report.wsgi"),
            )
            .file(
                "apps/dir/report.wsgi",
                include_str!("apps/interp_report.wsgi"),
            )
            .file(
                "apps/env/report.wsgi",
                include_str!("apps/interp_report.wsgi"),
            )
            .conf("LoadModule env_module /usr/lib/apache2/modules/mod_env.so")
        })
        .conf(
            "WSGIScriptAlias /a2 {root}/apps/second/report.wsgi application-group=alpha\n\
             WSGIScriptAlias /b {root}/apps/interp_report.wsgi application-group=beta\n\
             WSGIScriptAlias /g {root}/apps/interp_report.wsgi application-group=%{GLOBAL}\n\
             WSGIScriptAlias /d {root}/apps/interp_report.wsgi\n\
             WSGIScriptAlias /dir {root}/apps/dir/report.wsgi\n\
             <Directory {root}/apps/dir>\n  WSGIApplicationGroup alpha\n</Directory>\n\
             WSGIScriptAlias /env {root}/apps/env/report.wsgi\n\
             <Directory {root}/apps/env>\n  WSGIApplicationGroup %{ENV:GROUP_NAME}\n</Directory>\n\
             <Location /env>\n  SetEnv GROUP_NAME beta\n</Location>\n",
        )
        .start()
}

fn application_groups_are_interpreters(mpm: Mpm, mode: Mode) {
    let apache = groups_site(mpm, mode);
    let port = apache.port();
    let expected_group = |path: &str| match path {
        "/a1" | "/a2" | "/dir" => "alpha".to_string(),
        "/b" | "/env" => "beta".to_string(),
        "/g" => String::new(),
        "/d" => format!("127.0.0.1:{port}|/d"),
        _ => unreachable!(),
    };
    // (pid, path) -> id(sys.modules) seen there.
    let mut seen: HashMap<(u64, &str), u64> = HashMap::new();
    for round in 0..12 {
        for path in ["/a1", "/a2", "/b", "/g", "/d", "/dir", "/env"] {
            let answer = json(&apache.get(path));
            let group = expected_group(path);
            assert_eq!(
                answer["environ_application_group"],
                group.as_str(),
                "{path}"
            );
            assert_eq!(answer["module_application_group"], group.as_str(), "{path}");
            assert_eq!(
                answer["module_process_group"],
                answer["environ_process_group"]
            );
            assert_eq!(answer["module_process_group"], mode.process_group());
            let pid = answer["pid"].as_u64().unwrap();
            let modules = answer["modules_id"].as_u64().unwrap();
            if let Some(before) = seen.insert((pid, path), modules) {
                assert_eq!(
                    before, modules,
                    "{path} changed interpreter in pid {pid} (round {round})"
                );
            }
        }
    }
    let pids: Vec<u64> = {
        let mut pids: Vec<u64> = seen.keys().map(|(pid, _)| *pid).collect();
        pids.sort();
        pids.dedup();
        pids
    };
    for pid in pids {
        let id = |path| seen.get(&(pid, path)).copied();
        // Scripts of one group share sys.modules; other groups never do.
        for (a, b) in [("/a1", "/a2"), ("/a1", "/dir"), ("/b", "/env")] {
            if let (Some(x), Some(y)) = (id(a), id(b)) {
                assert_eq!(x, y, "pid {pid}: {a} and {b} are in one group");
            }
        }
        let distinct = ["/a1", "/b", "/g", "/d"];
        for (i, a) in distinct.iter().enumerate() {
            for b in &distinct[i + 1..] {
                if let (Some(x), Some(y)) = (id(a), id(b)) {
                    assert_ne!(x, y, "pid {pid}: {a} and {b} must not share sys.modules");
                }
            }
        }
    }
}

fn mod_wsgi_module_matches_environ(mpm: Mpm, mode: Mode) {
    let apache = SiteBuilder::new(mpm, mode)
        .mount_app("/r", "interp_report.wsgi", "")
        .start();
    let answer = json(&apache.get("/r"));
    assert_eq!(answer["module_version"], answer["environ_version"]);
    let threads = answer["threads_per_process"].as_u64().unwrap();
    assert_eq!(
        threads,
        u64::from(mode.threads_per_process(mpm)),
        "{mpm:?} {mode:?}"
    );
    let processes = answer["maximum_processes"].as_u64().unwrap();
    match mode {
        Mode::Daemon => assert_eq!(processes, u64::from(DAEMON_PROCESSES)),
        Mode::Embedded => assert!(processes >= 1),
    }
    assert_eq!(answer["file_wrapper_is_module_type"], true);
    assert!(
        answer["module_name"]
            .as_str()
            .unwrap()
            .starts_with("_mod_wsgi_")
    );
}

fn c_extensions_work(mpm: Mpm, mode: Mode) {
    let venv = test_venv();
    let apache = SiteBuilder::new(mpm, mode)
        .mount_app(
            "/global",
            "interp_extensions.wsgi",
            "application-group=%{GLOBAL}",
        )
        .with(|b| {
            b.file(
                "apps/sub/ext.wsgi",
                include_str!("apps/interp_extensions.wsgi"),
            )
        })
        .python_path(&site_packages(&venv).display().to_string())
        .conf("WSGIScriptAlias /sub {root}/apps/sub/ext.wsgi application-group=sub\n")
        .start();
    for path in ["/global", "/sub"] {
        let answer = json(&apache.get(path));
        assert_eq!(answer["json"], serde_json::json!({"a": [1, 2]}), "{path}");
        assert_eq!(
            answer["sha256"], "d64f6f57e8100c1b0f6f0868b37c895bc723bba2ec9ffa45709c7cd79d125446",
            "{path}"
        );
    }
    let numpy = json(&apache.get("/global?numpy"));
    assert_eq!(numpy["numpy_sum"], 45);
    assert!(numpy["numpy_version"].as_str().unwrap().starts_with("2."));
    assert!(
        !apache.error_log().contains("Traceback"),
        "{}",
        apache.error_log()
    );
}

fn set_mtime_later(path: &Path) {
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.set_modified(SystemTime::now() + Duration::from_secs(10))
        .unwrap();
}

fn script_reloading_on_and_off(mpm: Mpm, mode: Mode) {
    let apache = SiteBuilder::new(mpm, mode)
        // Both requests of a check must reach the same process.
        .daemon_option("processes=1")
        .mount_app("/on", "interp_version.wsgi", "")
        .with(|b| {
            b.file(
                "apps/off/version.wsgi",
                include_str!("apps/interp_version.wsgi"),
            )
            .file(
                "apps/offreport/report.wsgi",
                include_str!("apps/interp_report.wsgi"),
            )
        })
        .conf(
            "WSGIScriptAlias /off {root}/apps/off/version.wsgi\n\
             WSGIScriptAlias /offreport {root}/apps/offreport/report.wsgi\n\
             <Directory {root}/apps/off>\n  WSGIScriptReloading Off\n</Directory>\n\
             <Directory {root}/apps/offreport>\n  WSGIScriptReloading Off\n</Directory>\n",
        )
        .start();
    assert_eq!(json(&apache.get("/offreport"))["script_reloading"], "0");
    for (path, file, reloads) in [
        ("/on", "apps/interp_version.wsgi", true),
        ("/off", "apps/off/version.wsgi", false),
    ] {
        // One connection, so both requests reach the same process.
        let mut stream = apache.connect();
        let first = keepalive_request(&mut stream, "GET", path, b"");
        assert_eq!(first.text(), "one", "{path}");
        apache.write_file(
            file,
            include_str!("apps/interp_version.wsgi").replace("one", "two"),
        );
        set_mtime_later(&apache.root().join(file));
        let second = keepalive_request(&mut stream, "GET", path, b"");
        let expected = if reloads { "two" } else { "one" };
        assert_eq!(
            second.text(),
            expected,
            "{path}: WSGIScriptReloading {}",
            if reloads { "On" } else { "Off" }
        );
    }
}

fn import_scripts_load_at_process_start(mpm: Mpm, mode: Mode) {
    let group = mode.process_group_option();
    let apache = SiteBuilder::new(mpm, mode)
        .mount_app("/r", "interp_report.wsgi", "application-group=preloaded")
        .mount_app("/other", "interp_report.wsgi", "application-group=other")
        .mount_app(
            "/startup",
            "interp_startup.wsgi",
            &format!("process-group={group} application-group=%{{GLOBAL}}"),
        )
        .with(|b| b.file("apps/interp_preload.py", include_str!("apps/interp_preload.py")))
        .conf(&format!(
            "WSGIImportScript {{root}}/apps/interp_preload.py process-group={group} application-group=preloaded\n"
        ))
        .start();
    // Every process that runs the applications loads both before serving
    // anything: each Apache child in embedded mode, each daemon process in
    // daemon mode.
    let loaded_in = |needle: &str| -> Vec<String> {
        let mut pids: Vec<String> = apache
            .error_log()
            .lines()
            .filter_map(|line| line.split(needle).nth(1).map(|pid| pid.trim().to_string()))
            .collect();
        pids.sort();
        pids.dedup();
        pids
    };
    let expected: Vec<String> = match mode {
        Mode::Embedded => {
            let mut pids: Vec<String> = apache.child_pids().iter().map(|p| p.to_string()).collect();
            pids.sort();
            pids
        }
        Mode::Daemon => Vec::new(),
    };
    for needle in [
        "preloaded into group 'preloaded' in pid ",
        "alias script loaded at start in pid ",
    ] {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let pids = loaded_in(needle);
            let done = match mode {
                Mode::Embedded => expected.iter().all(|p| pids.contains(p)),
                Mode::Daemon => pids.len() >= DAEMON_PROCESSES as usize,
            };
            if done {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{needle}: loaded in {pids:?}, expected {expected:?}\n{}",
                apache.error_log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let preloaded = json(&apache.get("/r"));
    let other = json(&apache.get("/other"));
    assert_eq!(
        preloaded["script_modules"].as_array().unwrap().len(),
        2,
        "{preloaded}"
    );
    assert_eq!(
        other["script_modules"].as_array().unwrap().len(),
        1,
        "{other}"
    );
    assert_eq!(apache.get("/startup").text(), "startup");
}

/// `hash()` of the probe string under PYTHONHASHSEED=`seed`, from the same
/// Python the module runs.
fn reference_hash(seed: &str) -> i64 {
    let out = std::process::Command::new("/usr/bin/python3")
        .env_clear()
        .env("PYTHONHASHSEED", seed)
        .args(["-c", "print(hash('mod_wsgi hash seed'))"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

fn python_startup_directives(mpm: Mpm, mode: Mode) {
    let apache = SiteBuilder::new(mpm, mode)
        .mount_app("/s", "interp_settings.wsgi", "")
        .mount_app("/sub", "interp_settings.wsgi", "application-group=sub")
        .with(|b| {
            b.file("probe/bytecode_probe.py", "VALUE = 1\n")
                .conf("LoadModule env_module /usr/lib/apache2/modules/mod_env.so")
        })
        .conf(
            "WSGIPythonHashSeed 4242\n\
             WSGIDontWriteBytecode On\n\
             WSGIPythonWarnings ignore::DeprecationWarning\n\
             WSGIPythonWarnings error::UserWarning\n\
             SetEnv PROBE_DIR {root}/probe\n",
        )
        .start();
    apache.writable_dir("probe");
    let expected_hash = reference_hash("4242");
    for path in ["/s", "/sub"] {
        let answer = json(&apache.get(path));
        assert_eq!(answer["hash"].as_i64().unwrap(), expected_hash, "{path}");
        assert_eq!(answer["dont_write_bytecode"], true, "{path}");
        assert_eq!(
            answer["pycache"],
            serde_json::json!([]),
            "{path}: no bytecode written"
        );
        assert_eq!(
            answer["warnoptions"],
            serde_json::json!(["ignore::DeprecationWarning", "error::UserWarning"]),
            "{path}"
        );
        assert_eq!(answer["user_warning"]["error"], "UserWarning", "{path}");
    }

    let defaults = SiteBuilder::new(mpm, mode)
        .mount_app("/s", "interp_settings.wsgi", "")
        .with(|b| {
            b.file("probe/bytecode_probe.py", "VALUE = 1\n")
                .conf("LoadModule env_module /usr/lib/apache2/modules/mod_env.so")
        })
        .conf("SetEnv PROBE_DIR {root}/probe\n")
        .start();
    defaults.writable_dir("probe");
    let answer = json(&defaults.get("/s"));
    assert_eq!(answer["hash_randomization"], 1);
    assert_eq!(answer["dont_write_bytecode"], false);
    assert_eq!(
        answer["pycache"],
        serde_json::json!(["bytecode_probe.cpython-311.pyc"])
    );
    assert_eq!(answer["warnoptions"], serde_json::json!([]));
    assert!(answer["user_warning"].get("ok").is_some(), "{answer}");
}

fn restrictions(mpm: Mpm, mode: Mode) {
    // mod_wsgi 4.9's defaults: stdout and stdin usable, signal() restricted.
    let defaults = SiteBuilder::new(mpm, mode)
        .mount_app("/s", "interp_settings.wsgi", "")
        .mount_app("/sub", "interp_settings.wsgi", "application-group=sub")
        .start();
    for path in ["/s", "/sub"] {
        let answer = json(&defaults.get(path));
        assert!(answer["print"].get("ok").is_some(), "{path}: {answer}");
        assert_eq!(answer["stdout_type"], "TextIOWrapper");
        assert!(answer["stdin_read"].get("ok").is_some(), "{path}: {answer}");
        assert_eq!(answer["signal_type"], "SignalIntercept", "{path}");
        assert_eq!(
            answer["signal_result"]["ok"], "True",
            "signal() returns the handler: {answer}"
        );
    }
    assert!(defaults.wait_for_log(
        "Callback registration for signal 12 ignored.",
        Duration::from_secs(5)
    ));
    assert!(defaults.wait_for_log("printed by interp_settings", Duration::from_secs(5)));

    let restricted = SiteBuilder::new(mpm, mode)
        .mount_app("/s", "interp_settings.wsgi", "")
        .mount_app("/sub", "interp_settings.wsgi", "application-group=sub")
        .conf("WSGIRestrictStdout On\nWSGIRestrictStdin On\nWSGIRestrictSignal Off\n")
        .start();
    for path in ["/s", "/sub"] {
        let answer = json(&restricted.get(path));
        assert_eq!(answer["print"]["error"], "OSError", "{path}: {answer}");
        assert_eq!(
            answer["print"]["message"],
            "sys.stdout access restricted by mod_wsgi"
        );
        assert_eq!(answer["stdin_read"]["error"], "OSError", "{path}");
        assert_eq!(
            answer["stdin_read"]["message"],
            "sys.stdin access restricted by mod_wsgi"
        );
        assert_eq!(answer["signal_type"], "function", "{path}");
    }
}

fn atexit_runs_when_a_child_exits(mpm: Mpm, mode: Mode) {
    let apache = SiteBuilder::new(mpm, mode)
        .mount_app(
            "/global",
            "interp_atexit.wsgi",
            "application-group=%{GLOBAL}",
        )
        .mount_app("/sub", "interp_atexit.wsgi", "application-group=subgroup")
        .start();
    let exits = apache.writable_dir("exits");
    let mut served: Vec<(String, &str)> = Vec::new();
    for path in ["/global", "/sub"] {
        let response = apache.get(path);
        assert_eq!(response.status, 200, "{response:?}");
        let group = if path == "/global" {
            "GLOBAL"
        } else {
            "subgroup"
        };
        served.push((response.text(), group));
    }
    apache.graceful();
    let deadline = Instant::now() + Duration::from_secs(20);
    for (pid, group) in served {
        let marker = exits.join(format!("{pid}-{group}"));
        while !marker.exists() {
            assert!(
                Instant::now() < deadline,
                "atexit of {group} in pid {pid} did not run\n{}",
                apache.error_log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    // A full stop (SIGTERM to the children) runs them too.
    let pid = apache.get("/sub").text();
    apache.stop();
    let marker = exits.join(format!("{pid}-subgroup"));
    assert!(
        marker.exists(),
        "atexit did not run on stop in pid {pid}\n{}",
        apache.error_log()
    );
    let log = apache.error_log();
    assert!(
        !log.contains("Fatal Python error") && !log.contains("exit signal"),
        "{log}"
    );
}

fn hung_atexit_does_not_hang_the_child(mpm: Mpm, mode: Mode) {
    let apache = SiteBuilder::new(mpm, mode)
        .mount_app("/hang", "interp_atexit.wsgi", "")
        .start();
    apache.writable_dir("exits");
    let response = apache.get("/hang?hang");
    assert_eq!(response.status, 200);
    let pid: i32 = response.text().parse().unwrap();
    let started = Instant::now();
    apache.graceful();
    while is_running(pid) {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "child {pid} still alive after a graceful restart with a hung atexit"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(apache.get("/hang").status, 200, "the new generation serves");
}

fn lazy_initialization_off_initialises_in_the_parent(mpm: Mpm, mode: Mode) {
    let apache = SiteBuilder::new(mpm, mode)
        .mount_app("/g", "interp_report.wsgi", "application-group=%{GLOBAL}")
        .mount_app("/sub", "interp_report.wsgi", "application-group=sub")
        .conf("WSGILazyInitialization Off\n")
        .start();
    let parent = apache.parent_pid();
    for path in ["/g", "/sub"] {
        let answer = json(&apache.get(path));
        assert_ne!(answer["pid"].as_i64().unwrap(), i64::from(parent));
    }
    for _ in 0..3 {
        apache.graceful();
        for path in ["/g", "/sub"] {
            assert_eq!(apache.get(path).status, 200);
        }
    }
    let log = apache.error_log();
    let initialising: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("Initializing Python"))
        .collect();
    assert!(!initialising.is_empty(), "{log}");
    for line in &initialising {
        assert!(
            line.contains(&format!("(pid={parent})")),
            "only the parent initialises: {line}"
        );
    }
    assert!(
        log.contains(&format!("mod_wsgi (pid={parent}): Terminating Python.")),
        "{log}"
    );
}

wsgi_tests!(
    application_groups_are_interpreters,
    mod_wsgi_module_matches_environ,
    c_extensions_work,
    script_reloading_on_and_off,
    import_scripts_load_at_process_start,
    python_startup_directives,
    restrictions,
    atexit_runs_when_a_child_exits,
    hung_atexit_does_not_hang_the_child,
    lazy_initialization_off_initialises_in_the_parent,
);

/// The parent's resident memory (VmRSS, KiB).
fn parent_rss_kib(apache: &Apache) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", apache.parent_pid())).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/<pid>/status")
}

/// Parent RSS after start and after 20 graceful restarts, with
/// WSGILazyInitialization `setting`. Printed for docs/directives.md.
fn parent_rss_over_restarts(setting: &str) -> (u64, u64) {
    let apache = SiteBuilder::new(Mpm::Event, Mode::Embedded)
        .mount_app("/r", "interp_report.wsgi", "")
        .conf(&format!("WSGILazyInitialization {setting}\n"))
        .start();
    assert_eq!(apache.get("/r").status, 200);
    // The first restart settles allocations httpd makes once.
    apache.graceful();
    let before = parent_rss_kib(&apache);
    for _ in 0..20 {
        apache.graceful();
    }
    assert_eq!(apache.get("/r").status, 200);
    let after = parent_rss_kib(&apache);
    println!(
        "WSGILazyInitialization {setting}: parent VmRSS {before} KiB, after 20 graceful restarts {after} KiB"
    );
    (before, after)
}

#[test]
fn lazy_initialization_keeps_the_parent_small_across_restarts() {
    let (before_on, after_on) = parent_rss_over_restarts("On");
    assert!(
        after_on <= before_on + 256,
        "with lazy initialisation the parent must not grow: {before_on} KiB -> {after_on} KiB"
    );
    let (before_off, _) = parent_rss_over_restarts("Off");
    assert!(
        before_off > before_on,
        "with WSGILazyInitialization Off the parent holds Python: {before_off} KiB vs {before_on} KiB"
    );
}
