//! Records the libpython this module links, as pyo3 resolved it for the
//! build (`PYO3_PYTHON`): its version, for the Server header, and its
//! path, for `mod_wsgi-express module-config`. When the library is not in
//! a directory the dynamic loader searches anyway, the module carries it as
//! its rpath, so that httpd finds it when loading the module.

fn main() {
    let config = pyo3_build_config::get();
    let python = config.version();
    let version = format!("{}.{}", python.major, python.minor);
    let lib_dir = config.lib_dir().unwrap_or_default().to_string();
    let lib_name = config
        .lib_name()
        .map_or_else(|| format!("python{version}"), str::to_string);
    let library = if lib_dir.is_empty() {
        format!("lib{lib_name}.so")
    } else {
        format!("{lib_dir}/lib{lib_name}.so")
    };
    println!("cargo:rustc-env=MOD_WSGI_PYTHON_VERSION={version}");
    println!("cargo:rustc-env=MOD_WSGI_LIBPYTHON={library}");
    if !lib_dir.is_empty() && !searched_by_default(&lib_dir) {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-rpath,{lib_dir}");
    }
    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");
    println!("cargo:rerun-if-changed=build.rs");
}

/// The directories the dynamic loader searches without being told (the
/// Debian multiarch ones included).
fn searched_by_default(dir: &str) -> bool {
    let dir = dir.trim_end_matches('/');
    ["/lib", "/lib64", "/usr/lib", "/usr/lib64"].contains(&dir)
        || ["/lib/", "/usr/lib/"].iter().any(|prefix| {
            dir.strip_prefix(prefix)
                .is_some_and(|rest| rest.ends_with("-linux-gnu") && !rest.contains('/'))
        })
}
