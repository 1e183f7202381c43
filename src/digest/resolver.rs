//! Name resolution under the address policy ([`super::outbound`]), at both ends: when a
//! URL is subscribed (every address its host resolves to must pass), and as the delivery
//! client's DNS resolver, so the address a post actually connects to is judged, not the
//! one seen at subscription: DNS can change in between, by accident or on purpose.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::Url;
use thiserror::Error;

use super::outbound::{Destination, Policy, Refusal};

/// How long a lookup may take, when subscribing or posting: a receiver's name that takes
/// longer is as good as broken.
pub const LOOKUP_TIMEOUT: Duration = Duration::from_secs(2);

/// Why a webhook's host cannot be used.
#[derive(Debug, Error)]
pub enum LookupError {
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// No address, or the resolver said so; the OS's words are the source, for the log.
    #[error("url host `{host}` does not resolve; check the name")]
    NotFound {
        host: String,
        #[source]
        source: Option<std::io::Error>,
    },
    #[error("url host `{host}` did not resolve within {} s; try again", after.as_secs())]
    TimedOut { host: String, after: Duration },
}

/// Every address `host` resolves to, deduplicated, in the resolver's order.
async fn lookup(host: &str, timeout: Duration) -> Result<Vec<IpAddr>, LookupError> {
    let found = tokio::time::timeout(timeout, tokio::net::lookup_host((host, 0)))
        .await
        .map_err(|_| LookupError::TimedOut {
            host: host.to_owned(),
            after: timeout,
        })?
        .map_err(|e| LookupError::NotFound {
            host: host.to_owned(),
            source: Some(e),
        })?;
    let mut ips: Vec<IpAddr> = Vec::new();
    for ip in found.map(|a| a.ip()) {
        if !ips.contains(&ip) {
            ips.push(ip);
        }
    }
    if ips.is_empty() {
        return Err(LookupError::NotFound {
            host: host.to_owned(),
            source: None,
        });
    }
    Ok(ips)
}

/// The subscription-time check: the URL passes the policy by itself, and if it names a
/// host, every address the host resolves to passes too (one refused address is enough to
/// refuse it: it could be the one a post connects to).
///
/// # Errors
/// [`LookupError::Refused`] with the reason, [`LookupError::NotFound`] or
/// [`LookupError::TimedOut`] for a host that does not resolve.
///
/// # Cancel safety
/// Cancel safe: it only reads.
pub async fn check_destination(
    policy: Policy,
    url: &Url,
    timeout: Duration,
) -> Result<(), LookupError> {
    let host = match policy.check_url(url)? {
        Destination::Address(_) => return Ok(()),
        Destination::Name(host) => host,
    };
    for ip in lookup(host, timeout).await? {
        policy.check_ip(ip).map_err(|class| Refusal::Resolved {
            host: host.to_owned(),
            class,
        })?;
    }
    Ok(())
}

/// The delivery client's resolver: resolves as the system does, then drops the addresses
/// the policy refuses; a host left with none fails the connect, so nothing is sent.
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver {
    policy: Policy,
    timeout: Duration,
}

impl GuardedResolver {
    pub fn new(policy: Policy, timeout: Duration) -> Self {
        Self { policy, timeout }
    }

    /// The addresses of `host` a post may connect to (port 0: the client puts the URL's).
    ///
    /// # Errors
    /// [`LookupError::Refused`] when the name is refused or none of its addresses pass;
    /// the lookup's own errors.
    pub async fn allowed(&self, host: &str) -> Result<Vec<SocketAddr>, LookupError> {
        self.policy.check_name(host)?;
        let mut refused = None;
        let mut allowed = Vec::new();
        for ip in lookup(host, self.timeout).await? {
            match self.policy.check_ip(ip) {
                Ok(()) => allowed.push(SocketAddr::new(ip, 0)),
                Err(class) => {
                    tracing::warn!(host, address = %ip, class = %class, "a webhook host resolved to a refused address; it is not connected to");
                    refused.get_or_insert(class);
                }
            }
        }
        match (allowed.is_empty(), refused) {
            (true, Some(class)) => Err(Refusal::Resolved {
                host: host.to_owned(),
                class,
            }
            .into()),
            _ => Ok(allowed),
        }
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let resolver = *self;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs = resolver.allowed(&host).await?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::outbound::AddressClass;

    const STRICT: Policy = Policy::STRICT;
    const ALLOW: Policy = Policy::ALLOW_PRIVATE_NETWORKS;

    /// Through the trait, as the HTTP client calls it, with the system's own resolver:
    /// `localhost` resolves (from /etc/hosts) to loopback only.
    #[tokio::test]
    async fn the_resolver_refuses_a_name_that_resolves_to_a_refused_address() {
        let strict = GuardedResolver::new(STRICT, LOOKUP_TIMEOUT);
        let err = match Resolve::resolve(&strict, "localhost".parse().unwrap()).await {
            Ok(addrs) => panic!("resolved to {:?}", addrs.collect::<Vec<_>>()),
            Err(e) => e,
        };
        let err = err.downcast_ref::<LookupError>().unwrap();
        assert!(
            matches!(
                err,
                LookupError::Refused(Refusal::Resolved {
                    class: AddressClass::Loopback,
                    ..
                })
            ),
            "{err:?}"
        );

        let allowing = GuardedResolver::new(ALLOW, LOOKUP_TIMEOUT);
        let addrs: Vec<SocketAddr> = Resolve::resolve(&allowing, "localhost".parse().unwrap())
            .await
            .unwrap()
            .collect();
        assert!(addrs.iter().all(|a| a.ip().is_loopback()), "{addrs:?}");
        assert!(addrs.contains(&"127.0.0.1:0".parse().unwrap()), "{addrs:?}");
    }

    #[tokio::test]
    async fn the_resolver_refuses_metadata_names_before_asking_dns() {
        let allowing = GuardedResolver::new(ALLOW, LOOKUP_TIMEOUT);
        let err = allowing
            .allowed("metadata.google.internal")
            .await
            .unwrap_err();
        assert!(
            matches!(err, LookupError::Refused(Refusal::MetadataName { .. })),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn subscribing_checks_every_address_of_a_name() {
        let url = |raw: &str| Url::parse(raw).unwrap();
        let err = check_destination(STRICT, &url("http://localhost:5432/"), LOOKUP_TIMEOUT)
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "url host `localhost` resolves to a loopback address; pass \
             --allow-private-webhooks to the server to allow receivers on private networks"
        );
        check_destination(ALLOW, &url("http://localhost:5432/"), LOOKUP_TIMEOUT)
            .await
            .unwrap();
        // RFC 6761: `.invalid` never resolves.
        let err = check_destination(ALLOW, &url("http://no-such-host.invalid/"), LOOKUP_TIMEOUT)
            .await
            .unwrap_err();
        assert!(matches!(err, LookupError::NotFound { .. }), "{err:?}");
        // A literal public address needs no lookup.
        check_destination(STRICT, &url("https://93.184.215.14/hook"), LOOKUP_TIMEOUT)
            .await
            .unwrap();
    }
}
