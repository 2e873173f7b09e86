//! The Debian package, as a sysadmin meets it: `scripts/deb.sh` builds
//! it, dpkg installs it, `a2enmod wsgi_rs` refuses while Debian's own
//! mod_wsgi is enabled (`# Conflicts: wsgi`) and works once it is not,
//! `apache2ctl configtest` passes with the module loaded, and removing the
//! package disables the module first. The machine's Apache configuration
//! is put back as it was, whatever happens; no server is started.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const PACKAGE: &str = "libapache2-mod-wsgi-rs";
const ENABLED_DEBIAN_WSGI: &str = "/etc/apache2/mods-enabled/wsgi.load";
const ENABLED_OURS: &str = "/etc/apache2/mods-enabled/wsgi_rs.load";

fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("LANG", "C")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"))
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn ok(program: &str, args: &[&str]) -> String {
    let output = run(program, args);
    assert!(
        output.status.success(),
        "{program} {args:?} failed:\n{}",
        text(&output)
    );
    text(&output)
}

/// Puts the machine back: our package purged, Debian's mod_wsgi enabled
/// again if it was.
struct Restore {
    debian_wsgi_was_enabled: bool,
}

impl Drop for Restore {
    fn drop(&mut self) {
        if Path::new(ENABLED_OURS).exists() {
            let _ = run("a2dismod", &["-q", "wsgi_rs"]);
        }
        let _ = run("dpkg", &["--purge", PACKAGE]);
        if self.debian_wsgi_was_enabled && !Path::new(ENABLED_DEBIAN_WSGI).exists() {
            let _ = run("a2enmod", &["-q", "wsgi"]);
        }
    }
}

fn build_package() -> PathBuf {
    let checkout = Path::new(env!("CARGO_MANIFEST_DIR"));
    // Its own target directory: the module the other tests load stays
    // untouched while this builds.
    let target = checkout.join("target/deb");
    // Niced: the build shares the machine with tests that time things.
    let output = Command::new("nice")
        .args(["-n", "10"])
        .arg(checkout.join("scripts/deb.sh"))
        .env("CARGO_TARGET_DIR", &target)
        .env_remove("PYO3_PYTHON")
        .output()
        .expect("scripts/deb.sh runs");
    assert!(output.status.success(), "deb.sh failed:\n{}", text(&output));
    let debs: Vec<PathBuf> = std::fs::read_dir(target.join("debian"))
        .expect("target/deb/debian exists")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(PACKAGE))
                && p.extension().is_some_and(|e| e == "deb")
        })
        .collect();
    assert_eq!(debs.len(), 1, "one package in target/deb/debian: {debs:?}");
    debs.into_iter().next().unwrap()
}

#[test]
fn the_debian_package_installs_enables_and_removes_cleanly() {
    assert!(
        nix::unistd::Uid::effective().is_root(),
        "installing a package needs root"
    );
    let deb = build_package();
    let deb = deb.to_str().unwrap();

    // What it declares.
    let fields = ok("dpkg-deb", &["--field", deb, "Package", "Depends"]);
    assert!(fields.contains("apache2-api-20120211"), "{fields}");
    assert!(fields.contains("libpython3."), "{fields}");
    let contents = ok("dpkg-deb", &["--contents", deb]);
    for path in [
        "./usr/lib/apache2/modules/mod_wsgi_rs.so",
        "./etc/apache2/mods-available/wsgi_rs.load",
        "./etc/apache2/mods-available/wsgi_rs.conf",
    ] {
        assert!(
            contents.contains(path),
            "{path} is not in the package:\n{contents}"
        );
    }

    let _restore = Restore {
        debian_wsgi_was_enabled: Path::new(ENABLED_DEBIAN_WSGI).exists(),
    };
    ok("dpkg", &["--install", deb]);
    let load = std::fs::read_to_string("/etc/apache2/mods-available/wsgi_rs.load").unwrap();
    assert!(load.starts_with("# Conflicts: wsgi\n"), "{load}");

    // Beside an enabled Debian mod_wsgi, a2enmod refuses.
    if Path::new("/etc/apache2/mods-available/wsgi.load").exists() {
        ok("a2enmod", &["-q", "wsgi"]);
        let refused = run("a2enmod", &["wsgi_rs"]);
        assert!(!refused.status.success(), "a2enmod enabled it beside wsgi");
        assert!(text(&refused).contains("onflict"), "{}", text(&refused));
        assert!(!Path::new(ENABLED_OURS).exists());
        ok("a2dismod", &["-q", "wsgi"]);
    }

    ok("a2enmod", &["wsgi_rs"]);
    assert!(Path::new(ENABLED_OURS).exists());
    let configtest = ok("apache2ctl", &["configtest"]);
    assert!(configtest.contains("Syntax OK"), "{configtest}");
    // httpd really loaded it: the module list names it.
    let modules = ok("apache2ctl", &["-t", "-D", "DUMP_MODULES"]);
    assert!(modules.contains("wsgi_module (shared)"), "{modules}");

    // Removing the package disables the module first: Apache is not left
    // loading a file that is gone.
    ok("dpkg", &["--remove", PACKAGE]);
    assert!(
        !Path::new(ENABLED_OURS).exists(),
        "still enabled after removal"
    );
    assert!(!Path::new("/usr/lib/apache2/modules/mod_wsgi_rs.so").exists());
    ok("apache2ctl", &["configtest"]);
    ok("dpkg", &["--purge", PACKAGE]);
    assert!(!Path::new("/etc/apache2/mods-available/wsgi_rs.load").exists());
}
