//! The SSRF guard: outgoing requests may only reach public addresses.
//! Hostnames are checked when they are resolved (a `reqwest` resolver that
//! drops forbidden addresses), so the connection goes to an address that was
//! checked and a DNS rebinding cannot slip a private one in; IP literals are
//! checked before sending. `SWITCHYARD_ALLOW_PRIVATE_TARGETS=true` lifts the
//! guard for tests and local development.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::Url;

use crate::error::{Error, Result};

/// Whether an outgoing request's error is this guard's refusal, in any of
/// the words the client, the provider calls and the resolver give it. A
/// refusal is final: the same target is refused again, so it is never
/// retried.
pub fn is_refusal(error: &str) -> bool {
    error.contains("by the SSRF guard")
}

/// Why an address is refused, or `None` if it is public.
pub fn forbidden_reason(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return forbidden_v4(v4);
            }
            let seg = v6.segments();
            // 6to4 (2002::/16) embeds an IPv4 address: judge that one.
            if seg[0] == 0x2002 {
                let v4 = Ipv4Addr::new((seg[1] >> 8) as u8, seg[1] as u8, (seg[2] >> 8) as u8, seg[2] as u8);
                return forbidden_v4(v4).or(Some("6to4 relay address"));
            }
            if seg[0] == 0x2001 && seg[1] == 0 {
                return Some("Teredo address");
            }
            if (seg[0] & 0xffc0) == 0xfec0 {
                return Some("site-local address");
            }
            if v6.is_unspecified() {
                Some("unspecified address")
            } else if v6.is_loopback() {
                Some("loopback address")
            } else if (seg[0] & 0xfe00) == 0xfc00 {
                Some("unique-local address")
            } else if (seg[0] & 0xffc0) == 0xfe80 {
                Some("link-local address")
            } else if v6.is_multicast() {
                Some("multicast address")
            } else if seg[0] == 0x2001 && seg[1] == 0x0db8 {
                Some("documentation address")
            } else if seg[0] == 0x0064 && seg[1] == 0xff9b {
                Some("NAT64 address")
            } else if seg[0] == 0 && seg[1] == 0 && seg[2] == 0 && seg[3] == 0 && seg[4] == 0 && seg[5] == 0 {
                Some("IPv4-compatible address")
            } else {
                None
            }
        }
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let o = ip.octets();
    if ip.is_unspecified() || o[0] == 0 {
        Some("unspecified address")
    } else if ip.is_loopback() {
        Some("loopback address")
    } else if ip.is_private() {
        Some("private address")
    } else if ip.is_link_local() {
        Some("link-local or metadata address")
    } else if o[0] == 100 && (o[1] & 0xc0) == 64 {
        Some("carrier-grade NAT address")
    } else if o[0] == 192 && o[1] == 0 && o[2] == 0 {
        Some("IETF protocol address")
    } else if o[0] == 192 && o[1] == 88 && o[2] == 99 {
        Some("6to4 relay anycast address")
    } else if ip.is_documentation() {
        Some("documentation address")
    } else if o[0] == 198 && (o[1] & 0xfe) == 18 {
        Some("benchmarking address")
    } else if ip.is_multicast() || ip.is_broadcast() || o[0] >= 240 {
        Some("reserved address")
    } else {
        None
    }
}

/// A resolver that refuses names resolving only to forbidden addresses and
/// drops forbidden ones from mixed answers.
#[derive(Clone)]
pub struct GuardedResolver {
    pub allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> =
                addrs.iter().copied().filter(|a| allow || forbidden_reason(a.ip()).is_none()).collect();
            if allowed.is_empty() {
                let why = addrs.first().and_then(|a| forbidden_reason(a.ip())).unwrap_or("no address");
                return Err(format!("refused by the SSRF guard: {host} resolves to a {why}").into());
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// Checks a target URL: http(s), a host, and (unless private targets are
/// allowed) no forbidden address, resolving hostnames now. Used when a
/// webhook is created and before every request.
pub async fn check_url(raw: &str, allow_private: bool) -> Result<Url> {
    let url = Url::parse(raw).map_err(|_| Error::invalid_field("url", "Not a valid URL"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Error::invalid_field("url", "Only http and https URLs are allowed"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::invalid_field("url", "Credentials in the URL are not allowed; use custom headers"));
    }
    let host = url.host_str().ok_or_else(|| Error::invalid_field("url", "The URL has no host"))?;
    if allow_private {
        return Ok(url);
    }
    let refuse = |why: &str| Error::invalid_field("url", format!("Refused by the SSRF guard: {why}"));
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = literal.parse::<IpAddr>() {
        return match forbidden_reason(ip) {
            Some(why) => Err(refuse(why)),
            None => Ok(url),
        };
    }
    let port = url.port_or_known_default().unwrap_or(443);
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|_| Error::invalid_field("url", format!("Cannot resolve host '{host}'")))?
        .collect();
    if let Some(why) = addrs.iter().find_map(|a| forbidden_reason(a.ip())) {
        return Err(refuse(&format!("{host} resolves to a {why}")));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_loopback_link_local_and_metadata_are_forbidden() {
        for bad in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "224.0.0.1",
            "2002:7f00:1::",
            "2002:a00:1::",
            "2001:0:4136:e378::1",
            "fec0::1",
            "192.88.99.1",
            "64:ff9b:1::1",
            "240.0.0.1",
        ] {
            assert!(forbidden_reason(bad.parse().unwrap()).is_some(), "{bad} should be forbidden");
        }
        for good in ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111", "172.32.0.1"] {
            assert!(forbidden_reason(good.parse().unwrap()).is_none(), "{good} should be allowed");
        }
    }

    #[tokio::test]
    async fn urls_are_checked_by_scheme_literal_and_resolution() {
        for bad in [
            "http://127.0.0.1:9/x",
            "http://10.0.0.1/",
            "http://169.254.169.254/latest",
            "http://[::1]:80/",
            "http://localhost:8080/",
        ] {
            assert!(check_url(bad, false).await.is_err(), "{bad} should be refused");
        }
        assert!(check_url("ftp://example.com/", true).await.is_err());
        assert!(check_url("http://user:pw@example.com/", true).await.is_err());
        assert!(check_url("http://127.0.0.1:9/x", true).await.is_ok(), "allowed when private targets are allowed");
    }
}
