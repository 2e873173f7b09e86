//! Access and auth scripts: WSGIAccessScript's `allow_access`, the `wsgi`
//! authn provider (WSGIAuthUserScript's `check_password` for Basic and
//! `get_realm_hash` for Digest), the `wsgi-group` authz provider
//! (WSGIAuthGroupScript's `groups_for_user`), failures, reloading, and
//! Django's own `django.contrib.auth.handlers.modwsgi` against a sqlite
//! user database. The scripts always run in the Apache child; the
//! application behind them runs in each mode.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

const MODULES: &str = "/usr/lib/apache2/modules";

/// Writes what each call received to wsgi.errors, so the test can check
/// the environ and where the script ran.
const AUTH_SCRIPT: &str = r#"import hashlib
import os

def _note(environ, what):
    print("auth-note %s pid=%d group=%r remote=%s authorization=%s errors=%s" % (
        what, os.getpid(), environ["mod_wsgi.application_group"],
        environ.get("REMOTE_ADDR"), "HTTP_AUTHORIZATION" in environ,
        type(environ["wsgi.errors"]).__name__), file=environ["wsgi.errors"])

def check_password(environ, user, password):
    _note(environ, "check_password:" + user)
    if user == "spy":
        return password == "secret"
    if user == "clerk":
        return password == "filing"
    if user == "grouperror":
        return True
    if user == "alias":
        return "renamed" if password == "secret" else False
    if user == "raise":
        raise RuntimeError("check_password failed on purpose")
    if user == "badtype":
        return 42
    return None

def get_realm_hash(environ, user, realm):
    _note(environ, "get_realm_hash:" + user)
    if user == "spy":
        return hashlib.md5(("%s:%s:secret" % (user, realm)).encode()).hexdigest()
    if user == "raise":
        raise RuntimeError("get_realm_hash failed on purpose")
    return None

def groups_for_user(environ, user):
    _note(environ, "groups_for_user:" + user)
    if user == "spy":
        return ["agents", b"staff"]
    if user == "grouperror":
        raise RuntimeError("groups_for_user failed on purpose")
    if user == "renamed":
        return []
    return ["staff"]
"#;

const ACCESS_SCRIPT: &str = r#"import os

def allow_access(environ, host):
    print("access-note host=%s pid=%d" % (host, os.getpid()), file=environ["wsgi.errors"])
    verdict = environ.get("HTTP_X_VERDICT")
    if verdict == "allow":
        return True
    if verdict == "deny":
        return False
    if verdict == "raise":
        raise RuntimeError("allow_access failed on purpose")
    if verdict == "string":
        return "yes"
    return None
"#;

/// The application: who Apache says the user is, and where it ran.
const REPORT: &str = r#"import os

def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [("%s %s %d" % (environ.get("REMOTE_USER"), environ.get("AUTH_TYPE"),
                           os.getpid())).encode()]
"#;

fn auth_modules() -> String {
    ["auth_basic", "auth_digest", "authn_core", "authz_user"]
        .iter()
        .map(|m| format!("LoadModule {m}_module {MODULES}/mod_{m}.so\n"))
        .collect()
}

fn protected_site(mpm: Mpm, mode: Mode) -> Apache {
    SiteBuilder::new(mpm, mode)
        .with(|b| b.file("apps/auth.wsgi", AUTH_SCRIPT))
        .mount("/basic", "report.wsgi", REPORT, "")
        .mount("/digest", "report.wsgi", REPORT, "")
        .mount("/group", "report.wsgi", REPORT, "")
        .conf(&auth_modules())
        .conf(
            "<Location /basic>\n\
               AuthType Basic\n  AuthName \"Top Secret\"\n  AuthBasicProvider wsgi\n\
               WSGIAuthUserScript {root}/apps/auth.wsgi\n  Require valid-user\n\
             </Location>\n\
             <Location /digest>\n\
               AuthType Digest\n  AuthName \"Top Secret\"\n  AuthDigestProvider wsgi\n\
               WSGIAuthUserScript {root}/apps/auth.wsgi\n  Require valid-user\n\
             </Location>\n\
             <Location /group>\n\
               AuthType Basic\n  AuthName \"Agents\"\n  AuthBasicProvider wsgi\n\
               WSGIAuthUserScript {root}/apps/auth.wsgi\n\
               WSGIAuthGroupScript {root}/apps/auth.wsgi application-group=groups\n\
               WSGIGroupAuthoritative Off\n\
               Require wsgi-group agents\n\
             </Location>\n",
        )
        .start()
}

fn get_as(apache: &Apache, path: &str, user: &str, password: &str) -> Response {
    apache.request(
        "GET",
        path,
        &[("Authorization", &basic_auth(user, password))],
        b"",
    )
}

/// The pid the application reported (third word of its answer).
fn app_pid(response: &Response) -> i32 {
    response
        .text()
        .split(' ')
        .nth(2)
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no pid in {response:?}"))
}

/// The pids in the log's `auth-note <what> pid=N` lines.
fn noted_pids(log: &str, what: &str) -> Vec<i32> {
    log.lines()
        .filter(|l| l.contains(&format!("auth-note {what} ")))
        .filter_map(|l| l.split("pid=").nth(1))
        .filter_map(|rest| rest.split(' ').next())
        .filter_map(|p| p.parse().ok())
        .collect()
}

fn basic_auth_with_check_password(mpm: Mpm, mode: Mode) {
    let apache = protected_site(mpm, mode);
    let anonymous = apache.get("/basic");
    assert_eq!(anonymous.status, 401, "{anonymous:?}");
    assert!(
        anonymous
            .header("WWW-Authenticate")
            .is_some_and(|v| v.contains("Basic realm=\"Top Secret\"")),
        "{anonymous:?}"
    );
    let good = get_as(&apache, "/basic", "spy", "secret");
    assert_eq!(good.status, 200, "{good:?}\n{}", apache.error_log());
    assert!(good.text().starts_with("spy Basic "), "{good:?}");
    for (user, password) in [("spy", "wrong"), ("stranger", "secret"), ("alias", "wrong")] {
        let refused = get_as(&apache, "/basic", user, password);
        assert_eq!(refused.status, 401, "{user}/{password}: {refused:?}");
    }
    // A name in answer: Apache's user becomes that name.
    let renamed = get_as(&apache, "/basic", "alias", "secret");
    assert_eq!(renamed.status, 200, "{renamed:?}");
    assert!(renamed.text().starts_with("renamed Basic "), "{renamed:?}");

    let log = apache.error_log();
    // The script ran in an Apache child, in the main interpreter, without
    // the credentials in its environ, with a request log as wsgi.errors.
    let children = apache.child_pids();
    let pids = noted_pids(&log, "check_password:spy");
    assert!(!pids.is_empty(), "{log}");
    assert!(
        pids.iter().all(|p| children.contains(p)),
        "{pids:?} vs {children:?}"
    );
    if mode == Mode::Daemon {
        assert!(
            !pids.contains(&app_pid(&good)),
            "auth ran in the daemon: {log}"
        );
    }
    assert!(
        log.contains("auth-note check_password:spy")
            && log.contains("group='' remote=127.0.0.1 authorization=False errors=TextIOWrapper"),
        "{log}"
    );
    assert!(log.contains("user stranger not found"), "{log}");
    assert!(
        log.contains("Password Mismatch") || log.contains("authentication failure"),
        "{log}"
    );
}

fn digest_auth_with_get_realm_hash(mpm: Mpm, mode: Mode) {
    let apache = protected_site(mpm, mode);
    let url = format!("http://127.0.0.1:{}/digest", apache.port());
    let curl = |user: &str| {
        let out = Command::new("curl")
            .args(["-s", "--digest", "-u", user, "-w", "\n%{http_code}", &url])
            .output()
            .expect("curl runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let good = curl("spy:secret");
    assert!(good.ends_with("\n200"), "{good}\n{}", apache.error_log());
    assert!(good.starts_with("spy Digest "), "{good}");
    assert!(curl("spy:wrong").ends_with("\n401"));
    assert!(curl("stranger:secret").ends_with("\n401"));
    let failed = curl("raise:secret");
    assert!(failed.ends_with("\n500"), "{failed}");
    let log = apache.error_log();
    assert!(log.contains("get_realm_hash failed on purpose"), "{log}");
    assert!(log.contains("Traceback (most recent call last)"), "{log}");
}

fn group_authorization_with_groups_for_user(mpm: Mpm, mode: Mode) {
    let apache = protected_site(mpm, mode);
    let member = get_as(&apache, "/group", "spy", "secret");
    assert_eq!(member.status, 200, "{member:?}\n{}", apache.error_log());
    assert!(member.text().starts_with("spy Basic "), "{member:?}");
    // Authenticated, but not in the group: Apache asks again (401).
    let outsider = get_as(&apache, "/group", "clerk", "filing");
    assert_eq!(outsider.status, 401, "{outsider:?}");
    let no_groups = get_as(&apache, "/group", "alias", "secret");
    assert_eq!(no_groups.status, 401, "{no_groups:?}");
    let log = apache.error_log();
    assert!(log.contains("User is not a member of any groups"), "{log}");
    // The group script ran in its own application group.
    assert!(
        log.contains("auth-note groups_for_user:spy") && log.contains("group='groups'"),
        "{log}"
    );
    assert!(log.contains("auth-note groups_for_user:renamed"), "{log}");
}

fn access_script_decides_access(mpm: Mpm, mode: Mode) {
    let apache = SiteBuilder::new(mpm, mode)
        .with(|b| b.file("apps/access.wsgi", ACCESS_SCRIPT))
        .mount("/guarded", "report.wsgi", REPORT, "")
        .conf("<Location /guarded>\n  WSGIAccessScript {root}/apps/access.wsgi\n</Location>\n")
        .start();
    let ask = |verdict: &str| apache.request("GET", "/guarded", &[("X-Verdict", verdict)], b"");
    let allowed = ask("allow");
    assert_eq!(allowed.status, 200, "{allowed:?}\n{}", apache.error_log());
    assert!(allowed.text().starts_with("None None "), "{allowed:?}");
    assert_eq!(ask("none").status, 200, "no opinion leaves it to Apache");
    assert_eq!(ask("deny").status, 403);
    assert_eq!(ask("raise").status, 500);
    assert_eq!(ask("string").status, 500);
    let log = apache.error_log();
    assert!(log.contains("access-note host=127.0.0.1"), "{log}");
    assert!(
        log.contains("Client denied by server configuration"),
        "{log}"
    );
    assert!(log.contains("allow_access failed on purpose"), "{log}");
    assert!(log.contains("must a boolean or None"), "{log}");
    let pids: Vec<i32> = log
        .lines()
        .filter_map(|l| l.split("access-note host=127.0.0.1 pid=").nth(1))
        .filter_map(|p| p.trim().parse().ok())
        .collect();
    assert!(
        !pids.is_empty() && !pids.iter().any(|p| is_named_daemon(*p)),
        "{log}"
    );
}

fn failing_scripts_answer_500_with_traceback(mpm: Mpm, mode: Mode) {
    let apache = protected_site(mpm, mode);
    let raised = get_as(&apache, "/basic", "raise", "x");
    assert_eq!(raised.status, 500, "{raised:?}");
    let bad_type = get_as(&apache, "/basic", "badtype", "x");
    assert_eq!(bad_type.status, 500, "{bad_type:?}");
    let group_raised = get_as(&apache, "/group", "grouperror", "x");
    assert_eq!(group_raised.status, 500, "{group_raised:?}");
    let log = apache.error_log();
    assert!(log.contains("check_password failed on purpose"), "{log}");
    assert!(log.contains("groups_for_user failed on purpose"), "{log}");
    assert!(log.contains("Traceback (most recent call last)"), "{log}");
    assert!(
        log.contains("Basic auth provider must return True, False None or user name as string"),
        "{log}"
    );
    assert!(
        log.contains("RuntimeError exception raised processing WSGI script"),
        "{log}"
    );
}

const SYNTAX_ERROR_SCRIPT: &str = "def check_password(environ, user, password)\n    return True\n";
const NO_FUNCTION_SCRIPT: &str = "VALUE = 1\n";

fn broken_scripts_answer_500(mpm: Mpm, mode: Mode) {
    let apache = SiteBuilder::new(mpm, mode)
        .with(|b| {
            b.file("apps/syntax.wsgi", SYNTAX_ERROR_SCRIPT)
                .file("apps/nofunction.wsgi", NO_FUNCTION_SCRIPT)
        })
        .mount("/syntax", "report.wsgi", REPORT, "")
        .mount("/nofunction", "report.wsgi", REPORT, "")
        .mount("/nogroups", "report.wsgi", REPORT, "")
        .conf(&auth_modules())
        .conf(
            "<Location /syntax>\n  AuthType Basic\n  AuthName x\n  AuthBasicProvider wsgi\n\
               WSGIAuthUserScript {root}/apps/syntax.wsgi\n  Require valid-user\n</Location>\n\
             <Location /nofunction>\n  AuthType Basic\n  AuthName x\n  AuthBasicProvider wsgi\n\
               WSGIAuthUserScript {root}/apps/nofunction.wsgi\n  Require valid-user\n</Location>\n\
             <Location /nogroups>\n  AuthType Basic\n  AuthName x\n  AuthBasicProvider wsgi\n\
               WSGIAuthUserScript {root}/apps/nofunction.wsgi\n\
               Require wsgi-group agents\n</Location>\n",
        )
        .start();
    for path in ["/syntax", "/nofunction", "/nogroups"] {
        let response = get_as(&apache, path, "spy", "secret");
        assert_eq!(response.status, 500, "{path}: {response:?}");
    }
    let log = apache.error_log();
    assert!(log.contains("SyntaxError"), "{log}");
    assert!(log.contains("Failed to exec Python script file"), "{log}");
    assert!(
        log.contains("does not provide 'Basic' auth provider"),
        "{log}"
    );
}

const NEW_PASSWORD_SCRIPT: &str = r#"def check_password(environ, user, password):
    return user == "spy" and password == "changed"
"#;

/// A changed script is loaded again (WSGIScriptReloading, default On);
/// with WSGIScriptReloading Off the loaded one stays.
fn changed_scripts_reload_unless_reloading_is_off(mpm: Mpm, mode: Mode) {
    for reloading in ["On", "Off"] {
        let apache = SiteBuilder::new(mpm, mode)
            .with(|b| {
                b.file("apps/auth.wsgi", AUTH_SCRIPT)
                    .mpm_conf(mpm.single_child_tuning())
            })
            .mount("/basic", "report.wsgi", REPORT, "")
            .conf(&auth_modules())
            .conf(&format!(
                "<Location /basic>\n  AuthType Basic\n  AuthName x\n  AuthBasicProvider wsgi\n\
                   WSGIAuthUserScript {{root}}/apps/auth.wsgi\n  Require valid-user\n\
                   WSGIScriptReloading {reloading}\n</Location>\n"
            ))
            .start();
        assert_eq!(get_as(&apache, "/basic", "spy", "secret").status, 200);
        // A different modification time whatever the clock's resolution.
        std::thread::sleep(Duration::from_millis(20));
        apache.write_file("apps/auth.wsgi", NEW_PASSWORD_SCRIPT);
        let (old, new) = match reloading {
            "On" => (401, 200),
            _ => (200, 401),
        };
        for _ in 0..3 {
            assert_eq!(
                get_as(&apache, "/basic", "spy", "secret").status,
                old,
                "old password, reloading {reloading}"
            );
            assert_eq!(
                get_as(&apache, "/basic", "spy", "changed").status,
                new,
                "new password, reloading {reloading}"
            );
        }
    }
}

const DJANGO_AUTH_SETTINGS: &str = r#"# Django settings with a sqlite user database, for the auth tests.
import os

from mysite.settings import *  # noqa: F401,F403

INSTALLED_APPS = ["django.contrib.auth", "django.contrib.contenttypes"]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
            os.path.abspath(__file__)))), "db", "users.sqlite3"),
    }
}
"#;

/// Django's documented `WSGIAuthUserScript` / `WSGIAuthGroupScript`
/// target: its handlers module, with the project set up.
const DJANGO_AUTH_SCRIPT: &str = r#"import os
import sys

SITE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "django_site")
if SITE not in sys.path:
    sys.path.insert(0, SITE)
os.environ["DJANGO_SETTINGS_MODULE"] = "mysite.auth_settings"

import django

django.setup()

from django.contrib.auth.handlers.modwsgi import check_password, groups_for_user  # noqa: E402,F401
"#;

const DJANGO_MAKE_USERS: &str = r#"import os, sys
sys.path.insert(0, sys.argv[1])
os.environ["DJANGO_SETTINGS_MODULE"] = "mysite.auth_settings"
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0, interactive=False)
from django.contrib.auth.models import Group, User
agents = Group.objects.create(name="agents")
spy = User.objects.create_user("spy", password="secret")
spy.groups.add(agents)
User.objects.create_user("clerk", password="filing")
retired = User.objects.create_user("retired", password="gone")
retired.is_active = False
retired.save()
"#;

fn django_user_database(mpm: Mpm, mode: Mode) {
    let venv = test_venv();
    let apache = SiteBuilder::new(mpm, mode)
        .conf(&format!("WSGIPythonHome \"{}\"\n", venv.display()))
        .with(|b| {
            b.copy_dir(&apps_dir().join("django_site"), "apps/django_site")
                .file(
                    "apps/django_site/mysite/auth_settings.py",
                    DJANGO_AUTH_SETTINGS,
                )
                .file("apps/django_auth.wsgi", DJANGO_AUTH_SCRIPT)
        })
        .mount("/members", "report.wsgi", REPORT, "")
        .mount("/agents", "report.wsgi", REPORT, "")
        .conf(&auth_modules())
        .conf(
            "<Location /members>\n  AuthType Basic\n  AuthName Django\n  AuthBasicProvider wsgi\n\
               WSGIAuthUserScript {root}/apps/django_auth.wsgi\n  Require valid-user\n</Location>\n\
             <Location /agents>\n  AuthType Basic\n  AuthName Django\n  AuthBasicProvider wsgi\n\
               WSGIAuthUserScript {root}/apps/django_auth.wsgi\n\
               WSGIAuthGroupScript {root}/apps/django_auth.wsgi\n\
               Require wsgi-group agents\n</Location>\n",
        )
        .start();
    // The user database: made by Django's own migrations, writable by the
    // children (sqlite writes beside the file).
    let db = apache.writable_dir("apps/db");
    let made = Command::new(venv.join("bin/python"))
        .env_clear()
        .arg("-c")
        .arg(DJANGO_MAKE_USERS)
        .arg(apache.root().join("apps/django_site"))
        .output()
        .expect("venv python runs");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let chown = Command::new("chown")
        .args(["-R", "www-data:www-data"])
        .arg(&db)
        .status()
        .expect("chown runs");
    assert!(chown.success());

    let ok = get_as(&apache, "/members", "spy", "secret");
    assert_eq!(ok.status, 200, "{ok:?}\n{}", apache.error_log());
    assert!(ok.text().starts_with("spy Basic "), "{ok:?}");
    assert_eq!(get_as(&apache, "/members", "clerk", "filing").status, 200);
    for (user, password) in [("spy", "wrong"), ("nobody", "x"), ("retired", "gone")] {
        let refused = get_as(&apache, "/members", user, password);
        assert_eq!(refused.status, 401, "{user}: {refused:?}");
    }
    assert_eq!(get_as(&apache, "/agents", "spy", "secret").status, 200);
    assert_eq!(get_as(&apache, "/agents", "clerk", "filing").status, 401);
    let log = apache.error_log();
    assert!(!log.contains("Traceback"), "{log}");
    assert!(log.contains("not a member of"), "{log}");
}

wsgi_tests!(
    basic_auth_with_check_password,
    digest_auth_with_get_realm_hash,
    group_authorization_with_groups_for_user,
    access_script_decides_access,
    failing_scripts_answer_500_with_traceback,
    broken_scripts_answer_500,
    changed_scripts_reload_unless_reloading_is_off,
    django_user_database,
);

/// mod_wsgi-express writes WSGIRestrictEmbedded On; auth scripts still run
/// in the children (Python is started there for them), the application in
/// the daemon.
#[test]
fn auth_scripts_run_under_restrict_embedded() {
    for mpm in [Mpm::Event, Mpm::Prefork] {
        let apache = SiteBuilder::new(mpm, Mode::Daemon)
            .with(|b| b.file("apps/auth.wsgi", AUTH_SCRIPT))
            .mount("/basic", "report.wsgi", REPORT, "")
            .conf(&auth_modules())
            .conf(
                "WSGIRestrictEmbedded On\n\
                 <Location /basic>\n  AuthType Basic\n  AuthName x\n  AuthBasicProvider wsgi\n\
                   WSGIAuthUserScript {root}/apps/auth.wsgi\n  Require valid-user\n</Location>\n",
            )
            .start();
        let good = get_as(&apache, "/basic", "spy", "secret");
        assert_eq!(good.status, 200, "{good:?}\n{}", apache.error_log());
        assert_eq!(get_as(&apache, "/basic", "spy", "nope").status, 401);
    }
}

#[test]
fn bad_auth_directives_stop_apache_naming_them() {
    let modules = auth_modules();
    for (conf, directive) in [
        (
            "<Location /x>\nWSGIAuthUserScript\n</Location>",
            "WSGIAuthUserScript",
        ),
        (
            "<Location /x>\nWSGIAuthUserScript /a.wsgi process-group=g\n</Location>",
            "WSGIAuthUserScript",
        ),
        (
            "<Location /x>\nWSGIAuthGroupScript /a.wsgi colour=red\n</Location>",
            "WSGIAuthGroupScript",
        ),
        (
            "<Location /x>\nWSGIAccessScript /a.wsgi application-group=\n</Location>",
            "WSGIAccessScript",
        ),
        ("WSGIAccessScript /a.wsgi", "WSGIAccessScript"),
        (
            "<Location /x>\nWSGIGroupAuthoritative maybe\n</Location>",
            "WSGIGroupAuthoritative",
        ),
    ] {
        assert_refused(&format!("{modules}{conf}"), directive);
    }
}
