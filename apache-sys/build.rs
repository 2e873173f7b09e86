//! Generates bindings to the installed httpd and APR headers and compiles the
//! C shim. Headers are found the way Apache module builds find them: `apxs`
//! for httpd, `apr-1-config`/`apu-1-config` for APR.

use std::path::PathBuf;
use std::process::Command;

fn tool_output(tool: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(tool).args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn split_flags(flags: &str) -> Vec<String> {
    flags.split_whitespace().map(str::to_string).collect()
}

fn main() {
    let apxs = std::env::var("APXS").unwrap_or_else(|_| "apxs".to_string());
    let httpd_include = tool_output(&apxs, &["-q", "INCLUDEDIR"]).unwrap_or_else(|| {
        panic!(
            "cannot run `{apxs} -q INCLUDEDIR`: install Debian's apache2-dev \
             (scripts/setup.sh does it) or set APXS"
        )
    });
    let mut cflags = vec![format!("-I{httpd_include}")];
    for (tool, args) in [
        ("apr-1-config", &["--cppflags", "--includes"][..]),
        ("apu-1-config", &["--includes"][..]),
    ] {
        let out = tool_output(tool, args)
            .unwrap_or_else(|| panic!("cannot run `{tool}`: install Debian's apache2-dev"));
        cflags.extend(split_flags(&out));
    }

    println!("cargo:rerun-if-changed=wrapper.h");
    println!("cargo:rerun-if-changed=shim.h");
    println!("cargo:rerun-if-changed=shim.c");
    println!("cargo:rerun-if-env-changed=APXS");

    let mut build = cc::Build::new();
    build.file("shim.c").warnings(true);
    for flag in &cflags {
        build.flag(flag);
    }
    build.compile("mod_wsgi_shim");

    let bindings = bindgen::Builder::default()
        .header("wrapper.h")
        .clang_args(&cflags)
        .allowlist_function("(ap|apr|apu|wsgi_shim)_.*")
        .allowlist_type("(ap|apr)_.*|request_rec|conn_rec|server_rec|module|command_rec|cmd_parms|process_rec|core_dir_config|core_server_config|authn_provider|authz_provider|authn_status|authz_status")
        .allowlist_var("(AP|APR|HTTP|M|OPT|OR|RSRC|ACCESS|GLOBAL|NOT|APLOG|REQUEST|MODULE_MAGIC|PROXYREQ)_.*|OK|DECLINED|DONE|SUSPENDED|EXEC_ON_READ|ap_.*")
        .derive_default(true)
        .layout_tests(false)
        .generate_comments(false)
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()))
        .generate()
        .expect("bindgen could not process the httpd/APR headers");

    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    bindings
        .write_to_file(out.join("bindings.rs"))
        .expect("cannot write bindings.rs");
}
