//! Configuration: directive values parsed into typed structs, and how they
//! combine (server → virtual host, and directory sections).
//!
//! Parsing is pure and unit-tested in `wsgi-core` (`directives`,
//! `daemon_options`); `directives` here is the thin layer that httpd
//! calls.

pub mod access;
pub mod directives;

use std::path::PathBuf;

use wsgi_core::daemon_options::DaemonOptions;
use wsgi_core::directives::import_script::ImportScript;
use wsgi_core::directives::script_alias::ScriptAlias;
use wsgi_core::directives::script_file::ScriptFile;
use wsgi_core::directives::values::MapHeadToGet;
use wsgi_core::trusted_proxies::IpNet;

/// A WSGIScriptAliasMatch regular expression compiled by httpd
/// (`ap_pregcomp`), so its syntax is exactly httpd's; it lives in the
/// configuration pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompiledRegex(pub *mut apache_sys::ap_regex_t);

/// One script alias and, for WSGIScriptAliasMatch, its compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasEntry {
    pub alias: ScriptAlias,
    pub regex: Option<CompiledRegex>,
}

/// Per-server (main server or virtual host) configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerConfig {
    /// Script aliases, the virtual host's own first, then inherited ones.
    pub aliases: Vec<AliasEntry>,
    /// WSGIPythonOptimize (main server only).
    pub python_optimize: Option<u8>,
    /// WSGIPythonHome (main server only).
    pub python_home: Option<PathBuf>,
    /// WSGIPythonPath (main server only).
    pub python_path: Option<Vec<PathBuf>>,
    /// WSGILazyInitialization (main server only).
    pub lazy_initialization: Option<bool>,
    /// WSGIPythonHashSeed: `Some(None)` is "random".
    pub python_hash_seed: Option<Option<u32>>,
    /// WSGIDontWriteBytecode.
    pub dont_write_bytecode: Option<bool>,
    /// WSGIPythonWarnings, every occurrence in order.
    pub python_warnings: Vec<String>,
    /// WSGIRestrictStdout, WSGIRestrictStdin, WSGIRestrictSignal.
    pub restrict_stdout: Option<bool>,
    pub restrict_stdin: Option<bool>,
    pub restrict_signal: Option<bool>,
    /// WSGIImportScript lines of this server.
    pub import_scripts: Vec<ImportScript>,
    /// WSGIDaemonProcess groups defined in this server.
    pub daemon_groups: Vec<DaemonOptions>,
    /// WSGIRestrictEmbedded (main server only).
    pub restrict_embedded: Option<bool>,
    /// WSGISocketPrefix, resolved against ServerRoot (main server only).
    pub socket_prefix: Option<PathBuf>,
    /// WSGISocketRotation (main server only; default On).
    pub socket_rotation: Option<bool>,
    /// WSGIDestroyInterpreter (main server only; default On).
    pub destroy_interpreter: Option<bool>,
    /// WSGIVerboseDebugging (main server only; default Off).
    pub verbose_debugging: Option<bool>,
    /// WSGIServerMetrics (main server only; default Off).
    pub server_metrics: Option<bool>,
    /// WSGIAcceptMutex (main server only): checked, never used.
    pub accept_mutex: Option<String>,
    /// WSGIPythonEggs (main server only): PYTHON_EGG_CACHE in embedded
    /// interpreters.
    pub python_eggs: Option<PathBuf>,
    /// WSGICaseSensitivity (main server only; default On).
    pub case_sensitivity: Option<bool>,
    /// WSGINewRelicConfigFile and WSGINewRelicEnvironment (main server
    /// only): the New Relic agent in Apache's children.
    pub newrelic_config_file: Option<PathBuf>,
    pub newrelic_environment: Option<String>,
    /// WSGISwitchInterval (mod_wsgi 6; main server only).
    pub switch_interval: Option<std::time::Duration>,
    /// WSGISlowRequests, WSGITelemetryService, WSGITelemetryOptions
    /// (mod_wsgi 6; main server only): recorded, there is no telemetry
    /// reporter.
    pub slow_requests: Option<std::time::Duration>,
    pub telemetry_service: Option<wsgi_core::directives::newer::TelemetryService>,
    pub telemetry_options: Vec<String>,
}

impl ServerConfig {
    /// A virtual host's configuration on top of the main server's.
    pub fn merge(parent: &ServerConfig, child: &ServerConfig) -> ServerConfig {
        let mut aliases = child.aliases.clone();
        aliases.extend(parent.aliases.iter().cloned());
        let pick = |c: &Option<PathBuf>, p: &Option<PathBuf>| c.clone().or_else(|| p.clone());
        ServerConfig {
            aliases,
            python_optimize: child.python_optimize.or(parent.python_optimize),
            python_home: pick(&child.python_home, &parent.python_home),
            python_path: child
                .python_path
                .clone()
                .or_else(|| parent.python_path.clone()),
            lazy_initialization: child.lazy_initialization.or(parent.lazy_initialization),
            python_hash_seed: child.python_hash_seed.or(parent.python_hash_seed),
            dont_write_bytecode: child.dont_write_bytecode.or(parent.dont_write_bytecode),
            python_warnings: if child.python_warnings.is_empty() {
                parent.python_warnings.clone()
            } else {
                child.python_warnings.clone()
            },
            restrict_stdout: child.restrict_stdout.or(parent.restrict_stdout),
            restrict_stdin: child.restrict_stdin.or(parent.restrict_stdin),
            restrict_signal: child.restrict_signal.or(parent.restrict_signal),
            // Each server keeps its own; start-up walks every server.
            import_scripts: child.import_scripts.clone(),
            daemon_groups: child.daemon_groups.clone(),
            restrict_embedded: child.restrict_embedded.or(parent.restrict_embedded),
            socket_prefix: pick(&child.socket_prefix, &parent.socket_prefix),
            socket_rotation: child.socket_rotation.or(parent.socket_rotation),
            destroy_interpreter: child.destroy_interpreter.or(parent.destroy_interpreter),
            verbose_debugging: child.verbose_debugging.or(parent.verbose_debugging),
            server_metrics: child.server_metrics.or(parent.server_metrics),
            accept_mutex: child
                .accept_mutex
                .clone()
                .or_else(|| parent.accept_mutex.clone()),
            python_eggs: pick(&child.python_eggs, &parent.python_eggs),
            case_sensitivity: child.case_sensitivity.or(parent.case_sensitivity),
            newrelic_config_file: pick(&child.newrelic_config_file, &parent.newrelic_config_file),
            newrelic_environment: child
                .newrelic_environment
                .clone()
                .or_else(|| parent.newrelic_environment.clone()),
            switch_interval: child.switch_interval.or(parent.switch_interval),
            slow_requests: child.slow_requests.or(parent.slow_requests),
            telemetry_service: child
                .telemetry_service
                .clone()
                .or_else(|| parent.telemetry_service.clone()),
            telemetry_options: if child.telemetry_options.is_empty() {
                parent.telemetry_options.clone()
            } else {
                child.telemetry_options.clone()
            },
        }
    }
}

/// Per-directory configuration; at server level these directives land in
/// the server's default directory configuration, which every directory
/// section of that server inherits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DirConfig {
    pub process_group: Option<String>,
    /// WSGIRestrictProcess: the process groups (`""` for `%{GLOBAL}`) this
    /// location may use.
    pub restrict_process: Option<Vec<String>>,
    pub application_group: Option<String>,
    pub script_reloading: Option<bool>,
    pub callable_object: Option<String>,
    pub pass_authorization: Option<bool>,
    /// WSGIPassApacheRequest: `apache.request_rec` in embedded mode.
    pub pass_apache_request: Option<bool>,
    pub chunked_request: Option<bool>,
    pub map_head_to_get: Option<MapHeadToGet>,
    /// WSGIAccessScript, WSGIAuthUserScript, WSGIAuthGroupScript: run in
    /// the Apache child during the access and auth phases.
    pub access_script: Option<ScriptFile>,
    pub auth_user_script: Option<ScriptFile>,
    pub auth_group_script: Option<ScriptFile>,
    /// WSGIGroupAuthoritative (accepted; see docs/directives.md).
    pub group_authoritative: Option<bool>,
    /// WSGIDispatchScript.
    pub dispatch_script: Option<ScriptFile>,
    /// WSGIHandlerScript: handler name → script; a section's own entries
    /// replace inherited ones of the same name.
    pub handler_scripts: Vec<(String, ScriptFile)>,
    /// WSGITrustedProxyHeaders, as CGI variable names (every line of one
    /// section adds to the list).
    pub trusted_proxy_headers: Option<Vec<String>>,
    /// WSGITrustedProxies (every line of one section adds to the list).
    pub trusted_proxies: Option<Vec<IpNet>>,
    /// WSGIErrorOverride: Apache's error documents for a daemon's errors.
    pub error_override: Option<bool>,
    /// WSGIEnableSendfile: sendfile() for wsgi.file_wrapper (embedded).
    pub enable_sendfile: Option<bool>,
    /// WSGIIgnoreActivity: the request does not count for
    /// inactivity-timeout.
    pub ignore_activity: Option<bool>,
}

impl DirConfig {
    pub fn merge(parent: &DirConfig, child: &DirConfig) -> DirConfig {
        DirConfig {
            process_group: child
                .process_group
                .clone()
                .or_else(|| parent.process_group.clone()),
            restrict_process: child
                .restrict_process
                .clone()
                .or_else(|| parent.restrict_process.clone()),
            application_group: child
                .application_group
                .clone()
                .or_else(|| parent.application_group.clone()),
            script_reloading: child.script_reloading.or(parent.script_reloading),
            callable_object: child
                .callable_object
                .clone()
                .or_else(|| parent.callable_object.clone()),
            pass_authorization: child.pass_authorization.or(parent.pass_authorization),
            pass_apache_request: child.pass_apache_request.or(parent.pass_apache_request),
            chunked_request: child.chunked_request.or(parent.chunked_request),
            map_head_to_get: child.map_head_to_get.or(parent.map_head_to_get),
            access_script: child
                .access_script
                .clone()
                .or_else(|| parent.access_script.clone()),
            auth_user_script: child
                .auth_user_script
                .clone()
                .or_else(|| parent.auth_user_script.clone()),
            auth_group_script: child
                .auth_group_script
                .clone()
                .or_else(|| parent.auth_group_script.clone()),
            group_authoritative: child.group_authoritative.or(parent.group_authoritative),
            dispatch_script: child
                .dispatch_script
                .clone()
                .or_else(|| parent.dispatch_script.clone()),
            handler_scripts: {
                let mut merged = child.handler_scripts.clone();
                for (name, script) in &parent.handler_scripts {
                    if !merged.iter().any(|(known, _)| known == name) {
                        merged.push((name.clone(), script.clone()));
                    }
                }
                merged
            },
            trusted_proxy_headers: child
                .trusted_proxy_headers
                .clone()
                .or_else(|| parent.trusted_proxy_headers.clone()),
            trusted_proxies: child
                .trusted_proxies
                .clone()
                .or_else(|| parent.trusted_proxies.clone()),
            error_override: child.error_override.or(parent.error_override),
            enable_sendfile: child.enable_sendfile.or(parent.enable_sendfile),
            ignore_activity: child.ignore_activity.or(parent.ignore_activity),
        }
    }

    /// The script WSGIHandlerScript defined for handler `name`.
    pub fn handler_script(&self, name: &str) -> Option<&ScriptFile> {
        self.handler_scripts
            .iter()
            .find(|(known, _)| known == name)
            .map(|(_, script)| script)
    }
}

/// The settings that apply to one request, after directory merging and
/// the options of the WSGIScriptAlias that matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestConfig {
    pub process_group: String,
    pub restrict_process: Option<Vec<String>>,
    pub application_group: String,
    pub callable_object: String,
    pub pass_authorization: bool,
    pub pass_apache_request: bool,
    pub chunked_request: bool,
    pub map_head_to_get: MapHeadToGet,
    pub script_reloading: bool,
    /// WSGIDispatchScript.
    pub dispatch_script: Option<ScriptFile>,
    pub trusted_proxy_headers: Option<Vec<String>>,
    pub trusted_proxies: Option<Vec<IpNet>>,
    pub error_override: bool,
    pub enable_sendfile: bool,
    pub ignore_activity: bool,
}

/// What a matching script alias says about the request, handed from the
/// translate-name phase to the handler.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AliasOverrides {
    pub process_group: Option<String>,
    pub application_group: Option<String>,
    pub callable_object: Option<String>,
    pub pass_authorization: Option<bool>,
}

impl RequestConfig {
    /// Resolves the unexpanded settings for a request; group names and the
    /// callable name may still hold `%{...}` references (see `groups`).
    pub fn resolve(dir: &DirConfig, alias: &AliasOverrides) -> RequestConfig {
        RequestConfig {
            process_group: alias
                .process_group
                .clone()
                .or_else(|| dir.process_group.clone())
                .unwrap_or_default(),
            restrict_process: dir.restrict_process.clone(),
            application_group: alias
                .application_group
                .clone()
                .or_else(|| dir.application_group.clone())
                .unwrap_or_else(|| wsgi_core::directives::groups::RESOURCE.to_string()),
            callable_object: alias
                .callable_object
                .clone()
                .or_else(|| dir.callable_object.clone())
                .unwrap_or_else(|| "application".to_string()),
            pass_authorization: alias
                .pass_authorization
                .or(dir.pass_authorization)
                .unwrap_or(false),
            pass_apache_request: dir.pass_apache_request.unwrap_or(false),
            chunked_request: dir.chunked_request.unwrap_or(false),
            map_head_to_get: dir.map_head_to_get.unwrap_or_default(),
            script_reloading: dir.script_reloading.unwrap_or(true),
            dispatch_script: dir.dispatch_script.clone(),
            trusted_proxy_headers: dir.trusted_proxy_headers.clone(),
            trusted_proxies: dir.trusted_proxies.clone(),
            error_override: dir.error_override.unwrap_or(false),
            enable_sendfile: dir.enable_sendfile.unwrap_or(false),
            ignore_activity: dir.ignore_activity.unwrap_or(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alias(url: &str) -> AliasEntry {
        AliasEntry {
            alias: ScriptAlias {
                url: url.into(),
                target: "/t".into(),
                ..ScriptAlias::default()
            },
            regex: None,
        }
    }

    #[test]
    fn vhost_aliases_come_before_inherited_ones() {
        let parent = ServerConfig {
            aliases: vec![alias("/main")],
            python_optimize: Some(1),
            ..ServerConfig::default()
        };
        let child = ServerConfig {
            aliases: vec![alias("/vhost")],
            ..ServerConfig::default()
        };
        let merged = ServerConfig::merge(&parent, &child);
        let urls: Vec<_> = merged
            .aliases
            .iter()
            .map(|a| a.alias.url.as_str())
            .collect();
        assert_eq!(urls, ["/vhost", "/main"]);
        assert_eq!(merged.python_optimize, Some(1));
    }

    #[test]
    fn directory_settings_inherit_unless_set() {
        let parent = DirConfig {
            callable_object: Some("app".into()),
            chunked_request: Some(true),
            ..DirConfig::default()
        };
        let child = DirConfig {
            chunked_request: Some(false),
            map_head_to_get: Some(MapHeadToGet::On),
            ..DirConfig::default()
        };
        let merged = DirConfig::merge(&parent, &child);
        assert_eq!(merged.callable_object.as_deref(), Some("app"));
        assert_eq!(merged.chunked_request, Some(false));
        assert_eq!(merged.map_head_to_get, Some(MapHeadToGet::On));
    }

    #[test]
    fn request_defaults_are_mod_wsgis() {
        let rc = RequestConfig::resolve(&DirConfig::default(), &AliasOverrides::default());
        assert_eq!(rc.callable_object, "application");
        assert_eq!(rc.process_group, "");
        assert_eq!(rc.application_group, "%{RESOURCE}");
        assert!(!rc.pass_authorization && !rc.chunked_request);
        assert_eq!(rc.map_head_to_get, MapHeadToGet::Auto);
        assert!(rc.script_reloading);
    }

    #[test]
    fn application_group_from_directory_unless_the_alias_says() {
        let dir = DirConfig {
            application_group: Some("from-dir".into()),
            ..DirConfig::default()
        };
        let plain = RequestConfig::resolve(&dir, &AliasOverrides::default());
        assert_eq!(plain.application_group, "from-dir");
        let overrides = AliasOverrides {
            application_group: Some("from-alias".into()),
            ..AliasOverrides::default()
        };
        assert_eq!(
            RequestConfig::resolve(&dir, &overrides).application_group,
            "from-alias"
        );
    }

    #[test]
    fn alias_options_override_directory_settings() {
        let dir = DirConfig {
            callable_object: Some("dir_app".into()),
            pass_authorization: Some(false),
            ..DirConfig::default()
        };
        let overrides = AliasOverrides {
            callable_object: Some("alias_app".into()),
            pass_authorization: Some(true),
            application_group: Some(String::new()),
            ..AliasOverrides::default()
        };
        let rc = RequestConfig::resolve(&dir, &overrides);
        assert_eq!(rc.callable_object, "alias_app");
        assert!(rc.pass_authorization);
        assert_eq!(rc.application_group, "");
    }
}
