//! Expanding application-group and process-group names, and the callable
//! name, which may refer to the request: `%{GLOBAL}`, `%{SERVER}`,
//! `%{HOST}`, `%{RESOURCE}` and `%{ENV:NAME}`.

/// The default application group.
pub const RESOURCE: &str = "%{RESOURCE}";

/// What the expansions are made from.
pub struct GroupContext<'a> {
    /// The virtual host's ServerName.
    pub server_hostname: &'a str,
    /// The port the request came in on.
    pub port: u16,
    /// The Host header's host name, or the server name if absent.
    pub request_hostname: &'a str,
    /// SCRIPT_NAME of the request.
    pub script_name: &'a str,
    /// Looks up `%{ENV:NAME}`: request notes, then the request's
    /// environment table, then the process environment.
    pub env: &'a dyn Fn(&str) -> Option<String>,
}

/// `host[:port]`, leaving out the default ports 80 and 443 as mod_wsgi does.
fn host_with_port(host: &str, port: u16) -> String {
    if port == 80 || port == 443 {
        host.to_string()
    } else {
        format!("{host}:{port}")
    }
}

/// Expands a group name. Only a name that is exactly one of the `%{...}`
/// forms is expanded; anything else is taken literally, as is an
/// `%{ENV:NAME}` whose variable is not set. A variable's value may itself
/// be one of the other forms (`%{GLOBAL}`, ...). The script name in
/// `%{RESOURCE}` is lower-cased, as mod_wsgi does.
pub fn expand_group(name: &str, ctx: &GroupContext<'_>) -> String {
    match name {
        "%{GLOBAL}" => String::new(),
        "%{SERVER}" => host_with_port(ctx.server_hostname, ctx.port),
        "%{HOST}" => {
            let host = if ctx.request_hostname.is_empty() {
                ctx.server_hostname
            } else {
                ctx.request_hostname
            };
            host_with_port(host, ctx.port)
        }
        "%{RESOURCE}" => format!(
            "{}|{}",
            host_with_port(ctx.server_hostname, ctx.port),
            ctx.script_name.to_ascii_lowercase()
        ),
        _ => match env_reference(name).and_then(|var| (ctx.env)(var)) {
            Some(value) if value.starts_with('%') && env_reference(&value).is_none() => {
                expand_group(&value, ctx)
            }
            Some(value) => value,
            None => name.to_string(),
        },
    }
}

/// Expands a callable name: `%{ENV:NAME}` (falling back to `application`
/// when unset, as mod_wsgi does) or a literal name.
pub fn expand_callable(name: &str, ctx: &GroupContext<'_>) -> String {
    if !name.starts_with('%') {
        return name.to_string();
    }
    env_reference(name)
        .and_then(|var| (ctx.env)(var))
        .unwrap_or_else(|| "application".to_string())
}

fn env_reference(name: &str) -> Option<&str> {
    name.strip_prefix("%{ENV:")?.strip_suffix('}')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx<'a>(env: &'a dyn Fn(&str) -> Option<String>, port: u16) -> GroupContext<'a> {
        GroupContext {
            server_hostname: "example.com",
            port,
            request_hostname: "www.example.com",
            script_name: "/app",
            env,
        }
    }

    #[test]
    fn expansions() {
        let env = |name: &str| match name {
            "GROUP" => Some("from-env".to_string()),
            "INDIRECT" => Some("%{GLOBAL}".to_string()),
            _ => None,
        };
        let c = ctx(&env, 8080);
        assert_eq!(expand_group("%{GLOBAL}", &c), "");
        assert_eq!(expand_group("%{SERVER}", &c), "example.com:8080");
        assert_eq!(expand_group("%{HOST}", &c), "www.example.com:8080");
        assert_eq!(expand_group("%{RESOURCE}", &c), "example.com:8080|/app");
        assert_eq!(expand_group("%{ENV:GROUP}", &c), "from-env");
        assert_eq!(expand_group("%{ENV:INDIRECT}", &c), "");
        assert_eq!(expand_group("%{ENV:MISSING}", &c), "%{ENV:MISSING}");
        assert_eq!(expand_group("literal", &c), "literal");
        assert_eq!(expand_callable("%{ENV:GROUP}", &c), "from-env");
        assert_eq!(expand_callable("%{ENV:MISSING}", &c), "application");
        assert_eq!(expand_callable("app", &c), "app");
    }

    #[test]
    fn resource_lowercases_script_name_and_host_falls_back() {
        let env = |_: &str| None;
        let mut c = ctx(&env, 80);
        c.script_name = "/App";
        c.request_hostname = "";
        assert_eq!(expand_group("%{RESOURCE}", &c), "example.com|/app");
        assert_eq!(expand_group("%{HOST}", &c), "example.com");
    }

    #[test]
    fn default_ports_are_left_out() {
        let env = |_: &str| None;
        assert_eq!(
            expand_group("%{RESOURCE}", &ctx(&env, 80)),
            "example.com|/app"
        );
        assert_eq!(expand_group("%{SERVER}", &ctx(&env, 443)), "example.com");
    }
}
