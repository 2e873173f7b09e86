//! WSGITrustedProxyHeaders and WSGITrustedProxies: which proxy headers
//! may rewrite the environ (client address, scheme, host, port, server
//! name, script name), from which peers, and stripping every header of a
//! trusted category that did not win, so that a client cannot spoof them
//! (the CVE-2022-2255 class). Includes mod_wsgi 6.0.5's fixes: empty
//! X-Forwarded-For entries are skipped, X-Forwarded-Server/-Port are
//! stripped from untrusted peers, and a trusted scheme header is final.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::directives::DirectiveError;
use crate::directives::words::words;

/// What a group of synonymous proxy headers tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    /// The client's address (REMOTE_ADDR).
    Client,
    /// The host the client asked for (HTTP_HOST).
    Host,
    /// The front server's name (SERVER_NAME).
    Server,
    /// The port the client used (SERVER_PORT).
    Port,
    /// Where the proxy mounted the application (SCRIPT_NAME).
    ScriptName,
    /// Whether the client used HTTPS (HTTPS, and so wsgi.url_scheme).
    Scheme,
}

const CATEGORIES: [Category; 6] = [
    Category::Client,
    Category::Host,
    Category::Server,
    Category::Port,
    Category::ScriptName,
    Category::Scheme,
];

/// Every header mod_wsgi knows, as its CGI variable, with its category.
pub const KNOWN_HEADERS: [(&str, Category); 15] = [
    ("HTTP_X_FORWARDED_FOR", Category::Client),
    ("HTTP_X_CLIENT_IP", Category::Client),
    ("HTTP_X_REAL_IP", Category::Client),
    ("HTTP_X_FORWARDED_HOST", Category::Host),
    ("HTTP_X_HOST", Category::Host),
    ("HTTP_X_FORWARDED_SERVER", Category::Server),
    ("HTTP_X_FORWARDED_PORT", Category::Port),
    ("HTTP_X_SCRIPT_NAME", Category::ScriptName),
    ("HTTP_X_FORWARDED_SCRIPT_NAME", Category::ScriptName),
    ("HTTP_X_FORWARDED_PROTO", Category::Scheme),
    ("HTTP_X_FORWARDED_SCHEME", Category::Scheme),
    ("HTTP_X_SCHEME", Category::Scheme),
    ("HTTP_X_FORWARDED_HTTPS", Category::Scheme),
    ("HTTP_X_FORWARDED_SSL", Category::Scheme),
    ("HTTP_X_HTTPS", Category::Scheme),
];

fn category_of(variable: &str) -> Option<Category> {
    KNOWN_HEADERS
        .iter()
        .find(|(name, _)| *name == variable)
        .map(|(_, category)| *category)
}

/// `X-Forwarded-For` → `HTTP_X_FORWARDED_FOR`; None for a name that is
/// not letters, digits and '-'.
pub fn header_variable(header: &str) -> Option<String> {
    if header.is_empty()
        || !header
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return None;
    }
    let mut variable = String::from("HTTP_");
    variable.extend(header.chars().map(|c| match c {
        '-' => '_',
        c => c.to_ascii_uppercase(),
    }));
    Some(variable)
}

/// The header names of one WSGITrustedProxyHeaders line, as CGI
/// variables, plus the names that mod_wsgi does not know (they are
/// accepted, as by mod_wsgi, and have no effect; the caller warns).
pub fn parse_headers(
    directive: &str,
    args: &str,
) -> Result<(Vec<String>, Vec<String>), DirectiveError> {
    let names = words(args);
    if names.is_empty() {
        return Err(crate::refuse!("{directive} needs at least one header name"));
    }
    let mut variables = Vec::new();
    let mut unknown = Vec::new();
    for name in names {
        let variable = header_variable(&name)
            .ok_or_else(|| crate::refuse!("{directive}: '{name}' is not a header name"))?;
        if category_of(&variable).is_none() {
            unknown.push(name);
        }
        variables.push(variable);
    }
    Ok((variables, unknown))
}

/// An address or network a WSGITrustedProxies line names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    network: IpAddr,
    prefix: u8,
}

impl IpNet {
    pub fn new(network: IpAddr, prefix: u8) -> IpNet {
        let prefix = prefix.min(max_prefix(&network));
        IpNet {
            network: mask(network, prefix),
            prefix,
        }
    }

    /// Whether `address` is in the network. An IPv4 address written as
    /// IPv4-mapped IPv6 (`::ffff:a.b.c.d`) matches IPv4 networks.
    pub fn contains(&self, address: &IpAddr) -> bool {
        let address = match address {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(*address, IpAddr::V4),
            v4 => *v4,
        };
        match (self.network, address) {
            (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => {
                mask(address, self.prefix) == self.network
            }
            _ => false,
        }
    }
}

fn max_prefix(address: &IpAddr) -> u8 {
    match address {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

fn mask(address: IpAddr, prefix: u8) -> IpAddr {
    match address {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let kept = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - prefix)
            };
            IpAddr::V4(Ipv4Addr::from(bits & kept))
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let kept = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - prefix)
            };
            IpAddr::V6(Ipv6Addr::from(bits & kept))
        }
    }
}

/// One entry of WSGITrustedProxies, as httpd's `apr_ipsubnet_create`
/// reads them: an address, `address/prefix`, an IPv4 `address/netmask`,
/// or a leading part of an IPv4 address (`10.1` is `10.1.0.0/16`).
pub fn parse_net(entry: &str) -> Option<IpNet> {
    let (address, mask_part) = match entry.split_once('/') {
        Some((address, mask_part)) => (address, Some(mask_part)),
        None => (entry, None),
    };
    if let Some((network, prefix)) = partial_ipv4(address)
        && mask_part.is_none()
    {
        return Some(IpNet::new(IpAddr::V4(network), prefix));
    }
    let network: IpAddr = address.parse().ok()?;
    let prefix = match mask_part {
        None => max_prefix(&network),
        Some(text) if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) => {
            let prefix: u8 = text.parse().ok()?;
            if prefix == 0 || prefix > max_prefix(&network) {
                return None;
            }
            prefix
        }
        Some(text) => {
            // A dotted netmask, IPv4 only, contiguous ones.
            let (IpAddr::V4(_), Ok(netmask)) = (network, text.parse::<Ipv4Addr>()) else {
                return None;
            };
            let bits = u32::from(netmask);
            let ones = bits.leading_ones();
            if ones == 0 || bits.checked_shl(ones).unwrap_or(0) != 0 {
                return None;
            }
            ones as u8
        }
    };
    Some(IpNet::new(network, prefix))
}

/// `10`, `10.1`, `10.1.2` as networks of /8, /16, /24.
fn partial_ipv4(text: &str) -> Option<(Ipv4Addr, u8)> {
    let parts: Vec<&str> = text.split('.').collect();
    if parts.len() >= 4 || parts.is_empty() {
        return None;
    }
    let mut octets = [0u8; 4];
    for (i, part) in parts.iter().enumerate() {
        if part.is_empty() || part.len() > 3 || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        octets[i] = part.parse().ok()?;
    }
    if octets[0] == 0 {
        return None;
    }
    Some((Ipv4Addr::from(octets), 8 * parts.len() as u8))
}

/// The networks of one WSGITrustedProxies line.
pub fn parse_proxies(directive: &str, args: &str) -> Result<Vec<IpNet>, DirectiveError> {
    let entries = words(args);
    if entries.is_empty() {
        return Err(crate::refuse!(
            "{directive} needs at least one IP address or subnet"
        ));
    }
    entries
        .iter()
        .map(|entry| {
            parse_net(entry).ok_or_else(|| {
                crate::refuse!(
                    "{directive}: unable to parse trusted proxy IP address/subnet of \"{entry}\""
                )
            })
        })
        .collect()
}

/// The request's CGI variables, as the proxy rules read and change them.
pub trait ProxyEnv {
    fn get(&self, name: &str) -> Option<Vec<u8>>;
    fn set(&mut self, name: &str, value: &[u8]);
    fn unset(&mut self, name: &str);
}

/// Variables as plain data (for tests and the fuzz target).
impl ProxyEnv for std::collections::BTreeMap<String, Vec<u8>> {
    fn get(&self, name: &str) -> Option<Vec<u8>> {
        std::collections::BTreeMap::get(self, name).cloned()
    }
    fn set(&mut self, name: &str, value: &[u8]) {
        self.insert(name.to_string(), value.to_vec());
    }
    fn unset(&mut self, name: &str) {
        self.remove(name);
    }
}

fn parse_ip(text: &[u8]) -> Option<IpAddr> {
    std::str::from_utf8(text).ok()?.trim().parse().ok()
}

fn trusted(proxies: &[IpNet], address: &IpAddr) -> bool {
    proxies.iter().any(|net| net.contains(address))
}

/// The non-empty, trimmed entries of a comma separated list.
fn list_entries(value: &[u8]) -> Vec<&[u8]> {
    value
        .split(|&b| b == b',')
        .map(|entry| entry.trim_ascii())
        .filter(|entry| !entry.is_empty())
        .collect()
}

/// X-Forwarded-For: with trusted proxies, the client is the entry just
/// left of the trusted ones at the right end, and the list is cut to
/// start there; with no list of trusted proxies, the leftmost entry.
fn apply_forwarded_for(env: &mut dyn ProxyEnv, value: &[u8], proxies: Option<&[IpNet]>) {
    let entries = list_entries(value);
    let Some(proxies) = proxies else {
        if let Some(first) = entries.first() {
            env.set("REMOTE_ADDR", first);
        }
        return;
    };
    if entries.is_empty() {
        return;
    }
    let mut first_trusted = None;
    for (index, entry) in entries.iter().enumerate().rev() {
        match parse_ip(entry) {
            Some(address) if trusted(proxies, &address) => first_trusted = Some(index),
            _ => break,
        }
    }
    let client = match first_trusted {
        Some(index) => index.saturating_sub(1),
        None => entries.len() - 1,
    };
    env.set("REMOTE_ADDR", entries[client]);
    let kept = if first_trusted.is_some() {
        entries[client..].join(&b", "[..])
    } else {
        entries[client].to_vec()
    };
    env.set("HTTP_X_FORWARDED_FOR", &kept);
}

fn apply(env: &mut dyn ProxyEnv, variable: &str, value: &[u8], proxies: Option<&[IpNet]>) {
    let is = |a: &[u8], b: &str| a.eq_ignore_ascii_case(b.as_bytes());
    match variable {
        "HTTP_X_FORWARDED_FOR" => apply_forwarded_for(env, value, proxies),
        "HTTP_X_CLIENT_IP" | "HTTP_X_REAL_IP" => env.set("REMOTE_ADDR", value),
        "HTTP_X_FORWARDED_HOST" | "HTTP_X_HOST" => env.set("HTTP_HOST", value),
        "HTTP_X_FORWARDED_SERVER" => env.set("SERVER_NAME", value),
        "HTTP_X_FORWARDED_PORT" => env.set("SERVER_PORT", value),
        "HTTP_X_SCRIPT_NAME" | "HTTP_X_FORWARDED_SCRIPT_NAME" => {
            env.set("mod_wsgi.mount_point", value);
            env.set("SCRIPT_NAME", value);
        }
        "HTTP_X_FORWARDED_PROTO" | "HTTP_X_FORWARDED_SCHEME" | "HTTP_X_SCHEME" => {
            if is(value, "https") {
                env.set("HTTPS", b"1");
            } else if is(value, "http") {
                env.unset("HTTPS");
            }
        }
        _ => {
            if ["on", "true", "1"].iter().any(|v| is(value, v)) {
                env.set("HTTPS", b"1");
            } else if ["off", "false", "0"].iter().any(|v| is(value, v)) {
                env.unset("HTTPS");
            }
        }
    }
}

/// What applying the rules settled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Applied {
    /// A trusted scheme header decided HTTPS: the server's own view of
    /// the connection must not override it.
    pub scheme: bool,
}

/// Applies WSGITrustedProxyHeaders (`headers`, as CGI variables) for a
/// request whose peer is `env`'s REMOTE_ADDR. Without `proxies` every
/// peer is trusted, as in mod_wsgi.
pub fn apply_trusted_headers(
    env: &mut dyn ProxyEnv,
    headers: &[String],
    proxies: Option<&[IpNet]>,
) -> Applied {
    let peer_trusted = match proxies {
        None => true,
        Some(proxies) => env
            .get("REMOTE_ADDR")
            .and_then(|addr| parse_ip(&addr))
            .is_some_and(|address| trusted(proxies, &address)),
    };
    let mut matched: Vec<Category> = Vec::new();
    let mut winners: Vec<(Category, &str)> = Vec::new();
    for variable in headers {
        let Some(category) = category_of(variable) else {
            continue;
        };
        if !matched.contains(&category) {
            matched.push(category);
        }
        if !peer_trusted {
            continue;
        }
        let Some(value) = env.get(variable) else {
            continue;
        };
        apply(env, variable, &value, proxies);
        winners.retain(|(c, _)| *c != category);
        winners.push((category, variable));
    }
    for category in CATEGORIES {
        if !matched.contains(&category) {
            continue;
        }
        let kept = winners
            .iter()
            .find(|(c, _)| *c == category)
            .map(|(_, v)| *v);
        for (variable, of) in KNOWN_HEADERS {
            if of == category && Some(variable) != kept {
                env.unset(variable);
            }
        }
    }
    Applied {
        scheme: winners.iter().any(|(c, _)| *c == Category::Scheme),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    type Env = BTreeMap<String, Vec<u8>>;

    fn env(pairs: &[(&str, &str)]) -> Env {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect()
    }

    fn text(env: &Env, name: &str) -> Option<String> {
        ProxyEnv::get(env, name).map(|v| String::from_utf8(v).unwrap())
    }

    fn headers(names: &str) -> Vec<String> {
        parse_headers("WSGITrustedProxyHeaders", names).unwrap().0
    }

    fn proxies(line: &str) -> Vec<IpNet> {
        parse_proxies("WSGITrustedProxies", line).unwrap()
    }

    #[test]
    fn networks_parse_like_apr() {
        let net = |s| parse_net(s).unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(net("10.0.0.1").contains(&ip("10.0.0.1")));
        assert!(!net("10.0.0.1").contains(&ip("10.0.0.2")));
        assert!(net("10.1.0.0/16").contains(&ip("10.1.200.3")));
        assert!(!net("10.1.0.0/16").contains(&ip("10.2.0.1")));
        assert!(net("10.1").contains(&ip("10.1.9.9")));
        assert!(net("192.168.0.0/255.255.0.0").contains(&ip("192.168.4.4")));
        assert!(net("2001:db8::/32").contains(&ip("2001:db8:1::5")));
        assert!(!net("2001:db8::/32").contains(&ip("2001:db9::5")));
        assert!(net("::1").contains(&ip("::1")));
        assert!(net("127.0.0.1").contains(&ip("::ffff:127.0.0.1")));
        assert!(!net("127.0.0.1").contains(&ip("::1")));
        for bad in [
            "",
            "host.example",
            "10.0.0.0/33",
            "10.0.0.0/0",
            "1.2.3.4/255.0.255.0",
            "::1/129",
            "300.1.1.1",
            "1.2.3.4.5",
            "fe80::1/a",
        ] {
            assert_eq!(parse_net(bad), None, "{bad}");
        }
        let err = parse_proxies("WSGITrustedProxies", "10.0.0.1 nonsense").unwrap_err();
        assert!(
            err.starts_with("WSGITrustedProxies") && err.contains("nonsense"),
            "{err}"
        );
    }

    #[test]
    fn header_names_become_variables_and_unknown_ones_are_reported() {
        let (variables, unknown) = parse_headers(
            "WSGITrustedProxyHeaders",
            "X-Forwarded-For x-real-ip X-Custom",
        )
        .unwrap();
        assert_eq!(
            variables,
            ["HTTP_X_FORWARDED_FOR", "HTTP_X_REAL_IP", "HTTP_X_CUSTOM"]
        );
        assert_eq!(unknown, ["X-Custom"]);
        assert!(parse_headers("WSGITrustedProxyHeaders", "").is_err());
        assert!(parse_headers("WSGITrustedProxyHeaders", "X_Bad").is_err());
    }

    #[test]
    fn forwarded_for_walks_past_trusted_proxies_from_the_right() {
        let trusted = proxies("10.0.0.0/8 192.168.1.1");
        let mut e = env(&[
            ("REMOTE_ADDR", "10.0.0.5"),
            (
                "HTTP_X_FORWARDED_FOR",
                "6.6.6.6, 1.2.3.4, 192.168.1.1, 10.1.1.1",
            ),
        ]);
        apply_trusted_headers(&mut e, &headers("X-Forwarded-For"), Some(&trusted));
        assert_eq!(text(&e, "REMOTE_ADDR").as_deref(), Some("1.2.3.4"));
        assert_eq!(
            text(&e, "HTTP_X_FORWARDED_FOR").as_deref(),
            Some("1.2.3.4, 192.168.1.1, 10.1.1.1")
        );
        // No trusted entry at the right end: the last one is the client.
        let mut e = env(&[
            ("REMOTE_ADDR", "10.0.0.5"),
            ("HTTP_X_FORWARDED_FOR", "6.6.6.6, 1.2.3.4"),
        ]);
        apply_trusted_headers(&mut e, &headers("X-Forwarded-For"), Some(&trusted));
        assert_eq!(text(&e, "REMOTE_ADDR").as_deref(), Some("1.2.3.4"));
        assert_eq!(text(&e, "HTTP_X_FORWARDED_FOR").as_deref(), Some("1.2.3.4"));
        // Every entry trusted: the leftmost is the client.
        let mut e = env(&[
            ("REMOTE_ADDR", "10.0.0.5"),
            ("HTTP_X_FORWARDED_FOR", "10.9.9.9,10.8.8.8"),
        ]);
        apply_trusted_headers(&mut e, &headers("X-Forwarded-For"), Some(&trusted));
        assert_eq!(text(&e, "REMOTE_ADDR").as_deref(), Some("10.9.9.9"));
    }

    #[test]
    fn empty_forwarded_for_entries_are_skipped() {
        let trusted = proxies("10.0.0.0/8");
        let mut e = env(&[
            ("REMOTE_ADDR", "10.0.0.5"),
            ("HTTP_X_FORWARDED_FOR", "1.2.3.4, , 10.1.1.1,"),
        ]);
        apply_trusted_headers(&mut e, &headers("X-Forwarded-For"), Some(&trusted));
        assert_eq!(text(&e, "REMOTE_ADDR").as_deref(), Some("1.2.3.4"));
        // Without a proxy list: the first non-empty entry.
        let mut e = env(&[
            ("REMOTE_ADDR", "10.0.0.5"),
            ("HTTP_X_FORWARDED_FOR", " , ,5.6.7.8, 1.1.1.1"),
        ]);
        apply_trusted_headers(&mut e, &headers("X-Forwarded-For"), None);
        assert_eq!(text(&e, "REMOTE_ADDR").as_deref(), Some("5.6.7.8"));
        // Only separators: nothing changes.
        let mut e = env(&[("REMOTE_ADDR", "10.0.0.5"), ("HTTP_X_FORWARDED_FOR", ", ,")]);
        apply_trusted_headers(&mut e, &headers("X-Forwarded-For"), Some(&trusted));
        assert_eq!(text(&e, "REMOTE_ADDR").as_deref(), Some("10.0.0.5"));
    }

    #[test]
    fn untrusted_peers_lose_every_header_of_the_trusted_categories() {
        let trusted = proxies("10.0.0.1");
        let all = headers(
            "X-Forwarded-For X-Forwarded-Host X-Forwarded-Server X-Forwarded-Port \
             X-Script-Name X-Forwarded-Proto",
        );
        let spoofed: Vec<(&str, &str)> = KNOWN_HEADERS
            .iter()
            .map(|(name, _)| (*name, "spoofed"))
            .chain([
                ("REMOTE_ADDR", "6.6.6.6"),
                ("HTTP_HOST", "real.example"),
                ("SERVER_NAME", "real.example"),
                ("SERVER_PORT", "80"),
                ("SCRIPT_NAME", "/app"),
            ])
            .collect();
        let mut e = env(&spoofed);
        let applied = apply_trusted_headers(&mut e, &all, Some(&trusted));
        assert!(!applied.scheme);
        for (name, _) in KNOWN_HEADERS {
            assert_eq!(text(&e, name), None, "{name} survived");
        }
        assert_eq!(text(&e, "REMOTE_ADDR").as_deref(), Some("6.6.6.6"));
        assert_eq!(text(&e, "HTTP_HOST").as_deref(), Some("real.example"));
        assert_eq!(text(&e, "SERVER_NAME").as_deref(), Some("real.example"));
        assert_eq!(text(&e, "SERVER_PORT").as_deref(), Some("80"));
        assert_eq!(text(&e, "SCRIPT_NAME").as_deref(), Some("/app"));
        assert_eq!(text(&e, "HTTPS"), None);
    }

    #[test]
    fn a_trusted_peer_rewrites_and_only_the_winner_stays() {
        let trusted = proxies("10.0.0.1 ::1");
        let mut e = env(&[
            ("REMOTE_ADDR", "::1"),
            ("HTTP_X_REAL_IP", "9.9.9.9"),
            ("HTTP_X_CLIENT_IP", "7.7.7.7"),
            ("HTTP_X_FORWARDED_HOST", "public.example"),
            ("HTTP_X_HOST", "other.example"),
            ("HTTP_X_FORWARDED_SERVER", "front"),
            ("HTTP_X_FORWARDED_PORT", "8443"),
            ("HTTP_X_FORWARDED_SCRIPT_NAME", "/mounted"),
            ("HTTP_X_FORWARDED_SSL", "on"),
            ("HTTP_X_FORWARDED_PROTO", "http"),
            ("SCRIPT_NAME", "/app"),
        ]);
        let applied = apply_trusted_headers(
            &mut e,
            &headers(
                "X-Real-IP X-Forwarded-Host X-Forwarded-Server X-Forwarded-Port \
                 X-Forwarded-Script-Name X-Forwarded-SSL",
            ),
            Some(&trusted),
        );
        assert!(applied.scheme);
        assert_eq!(text(&e, "REMOTE_ADDR").as_deref(), Some("9.9.9.9"));
        assert_eq!(text(&e, "HTTP_X_CLIENT_IP"), None);
        assert_eq!(text(&e, "HTTP_HOST").as_deref(), Some("public.example"));
        assert_eq!(text(&e, "HTTP_X_HOST"), None);
        assert_eq!(text(&e, "SERVER_NAME").as_deref(), Some("front"));
        assert_eq!(text(&e, "SERVER_PORT").as_deref(), Some("8443"));
        assert_eq!(text(&e, "SCRIPT_NAME").as_deref(), Some("/mounted"));
        assert_eq!(
            text(&e, "mod_wsgi.mount_point").as_deref(),
            Some("/mounted")
        );
        assert_eq!(text(&e, "HTTPS").as_deref(), Some("1"));
        // The untrusted synonym of the scheme is gone.
        assert_eq!(text(&e, "HTTP_X_FORWARDED_PROTO"), None);
        assert_eq!(text(&e, "HTTP_X_FORWARDED_SSL").as_deref(), Some("on"));
    }

    #[test]
    fn scheme_values() {
        for (header, value, https) in [
            ("X-Forwarded-Proto", "HTTPS", Some("1")),
            ("X-Forwarded-Proto", "http", None),
            ("X-Scheme", "https", Some("1")),
            ("X-Forwarded-HTTPS", "true", Some("1")),
            ("X-HTTPS", "0", None),
            ("X-Forwarded-SSL", "Off", None),
        ] {
            let variable = header_variable(header).unwrap();
            let mut e = env(&[
                ("REMOTE_ADDR", "10.0.0.1"),
                ("HTTPS", "1"),
                (&variable, value),
            ]);
            let applied = apply_trusted_headers(&mut e, &headers(header), None);
            assert!(applied.scheme);
            assert_eq!(text(&e, "HTTPS").as_deref(), https, "{header}: {value}");
        }
        // A value that says neither leaves HTTPS alone but still wins.
        let mut e = env(&[("HTTP_X_FORWARDED_PROTO", "gopher"), ("HTTPS", "1")]);
        apply_trusted_headers(&mut e, &headers("X-Forwarded-Proto"), None);
        assert_eq!(text(&e, "HTTPS").as_deref(), Some("1"));
    }

    #[test]
    fn without_a_proxy_list_every_peer_is_trusted() {
        let mut e = env(&[
            ("REMOTE_ADDR", "6.6.6.6"),
            ("HTTP_X_FORWARDED_FOR", "1.1.1.1, 2.2.2.2"),
        ]);
        apply_trusted_headers(&mut e, &headers("X-Forwarded-For"), None);
        assert_eq!(text(&e, "REMOTE_ADDR").as_deref(), Some("1.1.1.1"));
        assert_eq!(
            text(&e, "HTTP_X_FORWARDED_FOR").as_deref(),
            Some("1.1.1.1, 2.2.2.2")
        );
    }

    #[test]
    fn an_unparsable_peer_address_is_not_trusted() {
        let trusted = proxies("10.0.0.1");
        let mut e = env(&[("REMOTE_ADDR", "not-an-ip"), ("HTTP_X_REAL_IP", "1.1.1.1")]);
        apply_trusted_headers(&mut e, &headers("X-Real-IP"), Some(&trusted));
        assert_eq!(text(&e, "REMOTE_ADDR").as_deref(), Some("not-an-ip"));
        assert_eq!(text(&e, "HTTP_X_REAL_IP"), None);
    }
}
