//! How the embedded interpreter is set up: WSGIPythonOptimize (flags,
//! asserts, docstrings, bytecode cache names), WSGIPythonHome (virtual
//! environment or plain prefix), WSGIPythonPath (site directories with
//! .pth files, moved to the front of sys.path), refusal of bad values and
//! of these directives inside <VirtualHost>, and what a script sees of
//! sys.argv, sys.stdout/sys.stderr and its own module name.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::*;
use serde_json::{Value, json};

const INFO_APP: &str = "python_setup_info.wsgi";
/// The helper imported to observe bytecode caching and optimisation.
const OPT_MODULE: &str = "python_setup_optimized";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(apps_dir().join(name))
        .unwrap_or_else(|err| panic!("cannot read tests/apps/{name}: {err}"))
}

fn info(apache: &Apache, path: &str) -> Value {
    let response = apache.get(path);
    assert_eq!(
        response.status,
        200,
        "{path}: {response:?}\n--- error_log ---\n{}",
        apache.error_log()
    );
    serde_json::from_slice(&response.body)
        .unwrap_or_else(|err| panic!("{path}: not JSON ({err}): {response:?}"))
}

fn str_list(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {value}"))
        .iter()
        .map(|v| {
            v.as_str()
                .unwrap_or_else(|| panic!("not a str: {v}"))
                .to_owned()
        })
        .collect()
}

fn make_world_writable(dir: &Path) {
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777))
        .unwrap_or_else(|err| panic!("cannot chmod {}: {err}", dir.display()));
}

// ---------------------------------------------------------------------------
// WSGIPythonOptimize

/// Serves the info app with `directive` (None: no WSGIPythonOptimize at
/// all) and checks what optimisation `level` means, in the script itself
/// and in a module imported from a directory www-data may write to.
fn check_optimize(mpm: Mpm, mode: Mode, directive: Option<&str>, level: u8) {
    let mut site = SiteBuilder::new(mpm, mode)
        .mount_app("/info", INFO_APP, "")
        .python_path("{root}/pylib")
        .with(|b| {
            b.file(
                format!("pylib/{OPT_MODULE}.py"),
                fixture(&format!("{OPT_MODULE}.py")),
            )
        });
    if let Some(value) = directive {
        site = site.conf(&format!("WSGIPythonOptimize {value}"));
    }
    let apache = site.start();
    // Python may write __pycache__ here; nothing imported it yet.
    make_world_writable(&apache.root().join("pylib"));

    let answer = info(&apache, &format!("/info?import={OPT_MODULE}"));
    let optimized = level >= 1;
    let stripped = level >= 2;
    assert_eq!(answer["optimize"], level, "{answer}");
    assert_eq!(answer["debug"], !optimized, "__debug__ at level {level}");
    assert_eq!(
        answer["assert_raises"], !optimized,
        "assert at level {level}"
    );
    let docstring = |text: &str| if stripped { Value::Null } else { json!(text) };
    assert_eq!(answer["docstring"], docstring("The script's docstring."));

    let helper = &answer["imports"][OPT_MODULE];
    assert!(
        helper["file"]
            .as_str()
            .is_some_and(|f| f.starts_with(&apache.root().join("pylib").display().to_string())),
        "{helper}"
    );
    assert_eq!(helper["debug"], !optimized, "helper __debug__: {helper}");
    assert_eq!(
        helper["assert_raises"], !optimized,
        "helper assert: {helper}"
    );
    assert_eq!(
        helper["docstring"],
        docstring("The helper function's docstring.")
    );
    assert_eq!(
        helper["module_docstring"],
        docstring("The helper module's docstring.")
    );
    let expected_cache = match level {
        0 => format!("{OPT_MODULE}.cpython-311.pyc"),
        n => format!("{OPT_MODULE}.cpython-311.opt-{n}.pyc"),
    };
    assert_eq!(
        helper["pycache"],
        json!([expected_cache]),
        "bytecode cache at level {level}: {helper}"
    );
    // Also on disk, as seen from the test.
    assert!(
        apache
            .root()
            .join("pylib/__pycache__")
            .join(&expected_cache)
            .is_file()
    );
}

fn python_optimize_default_is_0(mpm: Mpm, mode: Mode) {
    check_optimize(mpm, mode, None, 0);
}

fn python_optimize_0(mpm: Mpm, mode: Mode) {
    check_optimize(mpm, mode, Some("0"), 0);
}

fn python_optimize_1(mpm: Mpm, mode: Mode) {
    check_optimize(mpm, mode, Some("1"), 1);
}

fn python_optimize_2(mpm: Mpm, mode: Mode) {
    check_optimize(mpm, mode, Some("2"), 2);
}

// ---------------------------------------------------------------------------
// Refused configurations

#[test]
fn bad_python_optimize_values_stop_apache() {
    for value in ["3", "x", "-1", "1.5", "\"\""] {
        assert_refused(&format!("WSGIPythonOptimize {value}"), "WSGIPythonOptimize");
    }
    assert_refused("WSGIPythonOptimize", "WSGIPythonOptimize");
    assert_refused("WSGIPythonOptimize 1 2", "WSGIPythonOptimize");
}

#[test]
fn relative_python_home_stops_apache() {
    assert_refused("WSGIPythonHome relative/venv", "WSGIPythonHome");
    assert_refused("WSGIPythonHome venv", "WSGIPythonHome");
}

#[test]
fn python_directives_are_server_config_only() {
    for (directive, value) in [
        ("WSGIPythonHome", "/usr"),
        ("WSGIPythonPath", "/tmp"),
        ("WSGIPythonOptimize", "1"),
    ] {
        assert_refused(
            &format!(
                "<VirtualHost 127.0.0.1:*>\n    ServerName vhost.example\n    {directive} {value}\n</VirtualHost>"
            ),
            directive,
        );
    }
}

// ---------------------------------------------------------------------------
// WSGIPythonHome

fn python_home_virtualenv(mpm: Mpm, mode: Mode) {
    let venv = test_venv();
    let venv_str = venv.display().to_string();
    let apache = SiteBuilder::new(mpm, mode)
        .conf(&format!("WSGIPythonHome {venv_str}"))
        .mount_app("/info", INFO_APP, "")
        .start();
    let answer = info(&apache, "/info?import=flask,django,json");
    assert_eq!(answer["prefix"], venv_str, "{answer}");
    assert_eq!(answer["exec_prefix"], venv_str, "{answer}");
    assert_eq!(answer["base_prefix"], "/usr", "{answer}");
    let path = str_list(&answer["path"]);
    let site = site_packages(&venv).display().to_string();
    assert!(path.contains(&site), "{site} not on sys.path {path:?}");
    assert!(
        path.iter().any(|p| p == "/usr/lib/python3.11"),
        "the standard library is missing from {path:?}"
    );
    let imports = &answer["imports"];
    for module in ["flask", "django"] {
        let file = imports[module]["file"]
            .as_str()
            .unwrap_or_else(|| panic!("{module} does not import with the venv as home: {imports}"));
        assert!(file.starts_with(&site), "{module} from {file}");
    }
    assert!(
        imports["json"]["file"]
            .as_str()
            .is_some_and(|f| f.starts_with("/usr/lib/python3.11/")),
        "{imports}"
    );
}

fn python_home_plain_prefix(mpm: Mpm, mode: Mode) {
    let apache = SiteBuilder::new(mpm, mode)
        .conf("WSGIPythonHome /usr")
        .mount_app("/info", INFO_APP, "")
        .start();
    let answer = info(&apache, "/info?import=json");
    assert_eq!(answer["prefix"], "/usr", "{answer}");
    assert_eq!(answer["base_prefix"], "/usr", "{answer}");
    assert_eq!(answer["exec_prefix"], "/usr", "{answer}");
    let path = str_list(&answer["path"]);
    assert!(path.iter().any(|p| p == "/usr/lib/python3.11"), "{path:?}");
    assert!(
        !path.iter().any(|p| p.contains("mod_wsgi-rs-venv")),
        "{path:?}"
    );
    assert!(
        answer["imports"]["json"]["file"]
            .as_str()
            .is_some_and(|f| f.starts_with("/usr/lib/python3.11/")),
        "{answer}"
    );
}

// ---------------------------------------------------------------------------
// WSGIPythonPath

fn python_path_site_dirs_with_pth(mpm: Mpm, mode: Mode) {
    let apache = SiteBuilder::new(mpm, mode)
        .python_path("{root}/pylib_a:{root}/pylib_b")
        .mount_app("/info", INFO_APP, "")
        .with(|b| {
            b.file(
                "pylib_a/python_setup_path_a.py",
                fixture("python_setup_path_a.py"),
            )
            .file(
                "pylib_b/python_setup_path_b.py",
                fixture("python_setup_path_b.py"),
            )
            .file(
                "pylib_b/python_setup_extra.pth",
                fixture("python_setup_extra.pth"),
            )
            .file(
                "pylib_c/python_setup_path_c.py",
                fixture("python_setup_path_c.py"),
            )
        })
        .start();
    let root = apache.root().display().to_string();
    let (a, b, c) = (
        format!("{root}/pylib_a"),
        format!("{root}/pylib_b"),
        format!("{root}/pylib_c"),
    );
    let answer = info(
        &apache,
        "/info?import=python_setup_path_a,python_setup_path_b,python_setup_path_c",
    );
    let path = str_list(&answer["path"]);
    assert_eq!(path[..2], [a.clone(), b.clone()], "sys.path = {path:?}");
    // The .pth entry is added by the same addsitedir call, so it is moved
    // to the front too, ahead of everything that was there before.
    assert_eq!(path.get(2), Some(&c), "sys.path = {path:?}");
    // (Compared by suffix: where the prefix is found is another test's concern.)
    let stdlib = path
        .iter()
        .position(|p| p.ends_with("/lib/python3.11"))
        .unwrap_or_else(|| panic!("no standard library on {path:?}"));
    assert!(stdlib > 2, "{path:?}");
    for dir in [&a, &b, &c] {
        assert_eq!(
            path.iter().filter(|p| p == &dir).count(),
            1,
            "{dir} listed more than once: {path:?}"
        );
    }

    let imports = &answer["imports"];
    for (module, dir, value) in [
        ("python_setup_path_a", &a, "from directory a"),
        ("python_setup_path_b", &b, "from directory b"),
        (
            "python_setup_path_c",
            &c,
            "from directory c, named by a .pth file in b",
        ),
    ] {
        assert_eq!(imports[module]["value"], value, "{module}: {imports}");
        assert_eq!(
            imports[module]["file"],
            format!("{dir}/{module}.py"),
            "{module}: {imports}"
        );
    }
}

// ---------------------------------------------------------------------------
// What a script sees

fn script_environment(mpm: Mpm, mode: Mode) {
    let apache = SiteBuilder::new(mpm, mode)
        .mount_app("/info", INFO_APP, "")
        .start();
    let answer = info(&apache, "/info/print");
    assert_eq!(answer["argv"], json!(["mod_wsgi"]), "{answer}");

    for stream in ["stdout", "stderr"] {
        assert_eq!(
            answer[format!("{stream}_is_text_io_wrapper")],
            true,
            "sys.{stream} is {}",
            answer[format!("{stream}_type")]
        );
        assert_eq!(
            answer[format!("{stream}_type")],
            "_io.TextIOWrapper",
            "sys.{stream}: {answer}"
        );
    }
    let log = apache.error_log();
    assert!(
        log.contains("python-setup: printed to stdout"),
        "print() output missing from the error_log:\n{log}"
    );
    assert!(
        log.contains("python-setup: printed to stderr"),
        "print(file=sys.stderr) output missing from the error_log:\n{log}"
    );

    let name = answer["name"].as_str().unwrap();
    assert_ne!(name, "__main__");
    assert!(name.starts_with("_mod_wsgi_"), "script module name {name}");
    assert_eq!(answer["main_is_script"], false, "{answer}");
    assert_eq!(answer["optimize"], 0);
}

/// Without WSGIPythonHome, Python finds its prefix as the system `python3`
/// does (mod_wsgi leaves the program name at its default, `python3`,
/// which is found on PATH): `/usr`, with the /usr/local site directory.
fn default_prefix_is_system_pythons(mpm: Mpm, mode: Mode) {
    let apache = SiteBuilder::new(mpm, mode)
        .mount_app("/info", INFO_APP, "")
        .start();
    let answer = info(&apache, "/info?import=json");
    assert_eq!(answer["prefix"], "/usr", "{answer}");
    assert_eq!(answer["base_prefix"], "/usr", "{answer}");
    assert_eq!(answer["exec_prefix"], "/usr", "{answer}");
    let path = str_list(&answer["path"]);
    assert!(path.iter().any(|p| p == "/usr/lib/python3.11"), "{path:?}");
    if Path::new("/usr/local/lib/python3.11/dist-packages").is_dir() {
        assert!(
            path.iter()
                .any(|p| p == "/usr/local/lib/python3.11/dist-packages"),
            "Debian's /usr/local site directory is missing from {path:?}"
        );
    }
    assert!(
        answer["imports"]["json"]["file"]
            .as_str()
            .is_some_and(|f| f.starts_with("/usr/lib/python3.11/")),
        "{answer}"
    );
}

wsgi_tests!(
    python_optimize_default_is_0,
    python_optimize_0,
    python_optimize_1,
    python_optimize_2,
    python_home_virtualenv,
    python_home_plain_prefix,
    python_path_site_dirs_with_pth,
    script_environment,
    default_prefix_is_system_pythons,
);
