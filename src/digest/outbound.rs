//! Where a webhook post may go: the address policy, pure, so that the API (when a URL is
//! subscribed) and the delivery worker (on the address it is about to connect to) judge
//! alike.
//!
//! A tenant names the URL and the server makes the request, from inside its network. Left
//! unchecked, a URL is a way in: to the cloud's metadata service (credentials), to a
//! database on loopback, to anything on the private network; and the delivery errors
//! would tell which ports answer. So a URL is refused when it carries credentials, names a
//! cloud metadata service, or its host is (or resolves to) an address that is not an
//! ordinary public one. Addresses are judged as [`reqwest::Url`] parsed them: it reads the
//! WHATWG forms of IPv4 (`2130706433`, `0x7f.1`, `0177.0.0.1`, `127.1`) as the address
//! they mean, and IPv6 forms that carry an IPv4 address are judged by that address.
//!
//! Names are judged by what they resolve to (the resolver does that, in
//! [`super::resolver`]), except the names of metadata services, which are refused by name
//! whatever they resolve to. `localhost` or `*.internal` need no rule of their own: they
//! resolve to loopback or private addresses, which are refused, and a public address
//! behind any name is as good as any other.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use reqwest::Url;
use thiserror::Error;

/// Which webhook destinations a server accepts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Policy {
    /// Accept receivers on loopback, private (RFC 1918), shared (100.64/10) and unique-local
    /// (fc00::/7) addresses: on-premises receivers and local tests. Off by default
    /// (`--allow-private-webhooks`). Metadata, link-local, unspecified, multicast,
    /// broadcast, reserved and documentation addresses stay refused either way.
    pub allow_private_networks: bool,
}

/// The kind of special address an IP is; [`classify`] answers `None` for an ordinary
/// public one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressClass {
    /// 0.0.0.0/8, `::`: on Linux, connecting to it reaches the local host.
    Unspecified,
    /// 127/8, `::1`.
    Loopback,
    /// 10/8, 172.16/12, 192.168/16, and the deprecated IPv6 site-local fec0::/10.
    Private,
    /// 100.64/10, carrier-grade NAT: private in all but name.
    SharedAddressSpace,
    /// 169.254/16, fe80::/10: where metadata services and other host-local agents answer.
    LinkLocal,
    /// fc00::/7.
    UniqueLocal,
    /// An address where a cloud's instance metadata service (credentials) answers.
    Metadata,
    /// 224/4, ff00::/8.
    Multicast,
    /// 255.255.255.255.
    Broadcast,
    /// 240/4, 192.88.99/24, 100::/64: reserved or retired, never a receiver.
    Reserved,
    /// 192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32, 3fff::/20.
    Documentation,
    /// 198.18/15.
    Benchmarking,
    /// 192.0.0/24 and 2001::/23: IETF protocol assignments (Oracle Cloud's metadata
    /// service is 192.0.0.192).
    ProtocolAssignment,
}

impl AddressClass {
    /// Whether `--allow-private-webhooks` lets a receiver live here: the networks an
    /// on-premises receiver or a local test sits on. No receiver worth a digest lives on
    /// the others, and some of them hand out a cloud's credentials.
    pub fn is_private_network(self) -> bool {
        matches!(
            self,
            Self::Loopback | Self::Private | Self::SharedAddressSpace | Self::UniqueLocal
        )
    }

    /// The class as a phrase for an error detail: "a private address".
    pub fn describe(self) -> &'static str {
        match self {
            Self::Unspecified => "an unspecified address",
            Self::Loopback => "a loopback address",
            Self::Private => "a private address",
            Self::SharedAddressSpace => "a shared (carrier-grade NAT) address",
            Self::LinkLocal => "a link-local address",
            Self::UniqueLocal => "a unique-local (private) address",
            Self::Metadata => "a cloud metadata address",
            Self::Multicast => "a multicast address",
            Self::Broadcast => "the broadcast address",
            Self::Reserved => "a reserved address",
            Self::Documentation => "a documentation address",
            Self::Benchmarking => "a benchmarking address",
            Self::ProtocolAssignment => "an IETF protocol-assignment address",
        }
    }
}

impl fmt::Display for AddressClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// Instance metadata services: AWS, GCP, Azure, OpenStack and DigitalOcean (169.254.169.254),
/// AWS ECS task metadata (169.254.170.2), Alibaba Cloud (100.100.100.200, inside the shared
/// range the flag allows), Oracle Cloud (192.0.0.192).
const METADATA_V4: [Ipv4Addr; 4] = [
    Ipv4Addr::new(169, 254, 169, 254),
    Ipv4Addr::new(169, 254, 170, 2),
    Ipv4Addr::new(100, 100, 100, 200),
    Ipv4Addr::new(192, 0, 0, 192),
];

/// AWS's IPv6 metadata endpoint, inside the unique-local range the flag allows.
const METADATA_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254);

/// Names of metadata services (GCP's, and AWS's older `instance-data`), refused whatever
/// they resolve to: inside a cloud they resolve to the service, outside to anything.
const METADATA_NAMES: [&str; 5] = [
    "metadata.google.internal",
    "metadata.goog",
    "metadata",
    "instance-data",
    "instance-data.ec2.internal",
];

/// What kind of special address `ip` is, `None` for an ordinary public one.
pub fn classify(ip: IpAddr) -> Option<AddressClass> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<AddressClass> {
    use AddressClass as C;
    if METADATA_V4.contains(&ip) {
        return Some(C::Metadata);
    }
    let class = match ip.octets() {
        [0, ..] => C::Unspecified,
        [10, ..] | [172, 16..=31, ..] | [192, 168, ..] => C::Private,
        [100, 64..=127, ..] => C::SharedAddressSpace,
        [127, ..] => C::Loopback,
        [169, 254, ..] => C::LinkLocal,
        [192, 0, 0, _] => C::ProtocolAssignment,
        [192, 0, 2, _] | [198, 51, 100, _] | [203, 0, 113, _] => C::Documentation,
        [192, 88, 99, _] => C::Reserved,
        [198, 18..=19, ..] => C::Benchmarking,
        [224..=239, ..] => C::Multicast,
        [255, 255, 255, 255] => C::Broadcast,
        [240..=255, ..] => C::Reserved,
        _ => return None,
    };
    Some(class)
}

fn classify_v6(ip: Ipv6Addr) -> Option<AddressClass> {
    use AddressClass as C;
    if ip == METADATA_V6 {
        return Some(C::Metadata);
    }
    if ip.is_unspecified() {
        return Some(C::Unspecified);
    }
    if ip.is_loopback() {
        return Some(C::Loopback);
    }
    if let Some(v4) = embedded_v4(ip) {
        return classify_v4(v4);
    }
    let s = ip.segments();
    let class = match s[0] {
        0x0100 if s[1..4] == [0, 0, 0] => C::Reserved,
        x if x & 0xffc0 == 0xfe80 => C::LinkLocal,
        x if x & 0xffc0 == 0xfec0 => C::Private,
        x if x & 0xfe00 == 0xfc00 => C::UniqueLocal,
        x if x & 0xff00 == 0xff00 => C::Multicast,
        0x2001 if s[1] == 0x0db8 => C::Documentation,
        0x2001 if s[1] < 0x0200 => C::ProtocolAssignment,
        0x3fff if s[1] < 0x1000 => C::Documentation,
        _ => return None,
    };
    Some(class)
}

/// The IPv4 address an IPv6 address stands for, where it stands for one: IPv4-mapped
/// (`::ffff:a.b.c.d`, which a dual-stack socket connects to over IPv4), IPv4-compatible
/// (`::a.b.c.d`, deprecated), NAT64 (`64:ff9b::/96`) and 6to4 (`2002:AABB:CCDD::/48`).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let low = |hi: u16, lo: u16| {
        let [a, b] = hi.to_be_bytes();
        let [c, d] = lo.to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    };
    if let Some(v4) = ip.to_ipv4_mapped() {
        Some(v4)
    } else if s[..6] == [0; 6] || s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        Some(low(s[6], s[7]))
    } else if s[0] == 0x2002 {
        Some(low(s[1], s[2]))
    } else {
        None
    }
}

/// Why a webhook URL or address is refused. Each message is a whole detail for the
/// caller, saying how to get past it where the flag can.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Refusal {
    #[error("url must be http or https, not `{0}`")]
    Scheme(String),
    #[error("url has no host")]
    NoHost,
    /// Credentials in a URL are stored and shown with it, and sent in the clear; the
    /// receiver knows nextbest by the signature instead.
    #[error(
        "url carries credentials (a user name or password); remove them: receivers \
         authenticate nextbest by the Nextbest-Signature header"
    )]
    Credentials,
    /// A literal address: the caller wrote it, so the detail may repeat it.
    #[error("url names {address}, {class}{}", hint(*class))]
    Address {
        address: IpAddr,
        class: AddressClass,
    },
    /// A name that resolves to a refused address. The detail does not say which: the
    /// server's resolver sees the inside of its network, and the caller need not.
    #[error("url host `{host}` resolves to {class}{}", hint(*class))]
    Resolved { host: String, class: AddressClass },
    #[error(
        "url host `{host}` is a cloud metadata service{}",
        hint(AddressClass::Metadata)
    )]
    MetadataName { host: String },
}

impl Refusal {
    /// Whether the refusal is about where the post would go (as opposed to what the URL
    /// looks like): what the delivery listing calls a blocked address.
    pub fn is_address(&self) -> bool {
        matches!(
            self,
            Self::Address { .. } | Self::Resolved { .. } | Self::MetadataName { .. }
        )
    }
}

fn hint(class: AddressClass) -> &'static str {
    if class.is_private_network() {
        "; pass --allow-private-webhooks to the server to allow receivers on private networks"
    } else {
        "; this is refused even with --allow-private-webhooks"
    }
}

/// Where a URL points, once its form passed: a literal address (judged already) or a
/// name that the resolver must judge by its addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination<'a> {
    Address(IpAddr),
    Name(&'a str),
}

impl Policy {
    /// Public receivers only: the default.
    pub const STRICT: Self = Self {
        allow_private_networks: false,
    };
    /// `--allow-private-webhooks`.
    pub const ALLOW_PRIVATE_NETWORKS: Self = Self {
        allow_private_networks: true,
    };

    /// Whether a receiver may be at `ip`.
    ///
    /// # Errors
    /// The address's class, when the policy refuses it.
    pub fn check_ip(self, ip: IpAddr) -> Result<(), AddressClass> {
        match classify(ip) {
            Some(class) if !(self.allow_private_networks && class.is_private_network()) => {
                Err(class)
            }
            _ => Ok(()),
        }
    }

    /// Judges what a URL says by itself: scheme, credentials, a literal address, a
    /// metadata service's name. A name that passes still needs its addresses judged.
    ///
    /// # Errors
    /// The first [`Refusal`] that applies.
    pub fn check_url(self, url: &Url) -> Result<Destination<'_>, Refusal> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Refusal::Scheme(url.scheme().to_owned()));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Refusal::Credentials);
        }
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or(Refusal::NoHost)?;
        // The parser has already turned every IPv4 spelling into dotted decimal, and
        // brackets IPv6; what does not parse as an address is a name.
        let literal = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let Ok(address) = literal.parse::<IpAddr>() else {
            self.check_name(host)?;
            return Ok(Destination::Name(host));
        };
        self.check_ip(address)
            .map_err(|class| Refusal::Address { address, class })?;
        Ok(Destination::Address(address))
    }

    /// Refuses the names of metadata services, with or without a final dot, in any case.
    ///
    /// # Errors
    /// [`Refusal::NoHost`] for an empty name, [`Refusal::MetadataName`].
    pub fn check_name(self, name: &str) -> Result<(), Refusal> {
        let bare = name.trim_end_matches('.').to_ascii_lowercase();
        if bare.is_empty() {
            return Err(Refusal::NoHost);
        }
        if METADATA_NAMES.contains(&bare.as_str()) {
            return Err(Refusal::MetadataName {
                host: name.to_owned(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AddressClass as C;

    const STRICT: Policy = Policy::STRICT;
    const ALLOW: Policy = Policy::ALLOW_PRIVATE_NETWORKS;

    fn ip(raw: &str) -> IpAddr {
        raw.parse().unwrap()
    }

    fn url(raw: &str) -> Url {
        Url::parse(raw).unwrap()
    }

    #[test]
    fn every_special_ipv4_range_is_classified_at_both_ends() {
        let cases = [
            ("0.0.0.0", C::Unspecified),
            ("0.255.255.255", C::Unspecified),
            ("10.0.0.0", C::Private),
            ("10.255.255.255", C::Private),
            ("100.64.0.0", C::SharedAddressSpace),
            ("100.127.255.255", C::SharedAddressSpace),
            ("127.0.0.1", C::Loopback),
            ("127.255.255.254", C::Loopback),
            ("169.254.0.1", C::LinkLocal),
            ("169.254.255.255", C::LinkLocal),
            ("169.254.169.254", C::Metadata),
            ("169.254.170.2", C::Metadata),
            ("100.100.100.200", C::Metadata),
            ("192.0.0.192", C::Metadata),
            ("172.16.0.0", C::Private),
            ("172.31.255.255", C::Private),
            ("192.0.0.1", C::ProtocolAssignment),
            ("192.0.2.1", C::Documentation),
            ("198.51.100.7", C::Documentation),
            ("203.0.113.255", C::Documentation),
            ("192.88.99.1", C::Reserved),
            ("192.168.0.0", C::Private),
            ("192.168.255.255", C::Private),
            ("198.18.0.0", C::Benchmarking),
            ("198.19.255.255", C::Benchmarking),
            ("224.0.0.1", C::Multicast),
            ("239.255.255.255", C::Multicast),
            ("240.0.0.1", C::Reserved),
            ("255.255.255.254", C::Reserved),
            ("255.255.255.255", C::Broadcast),
        ];
        for (raw, class) in cases {
            assert_eq!(classify(ip(raw)), Some(class), "{raw}");
        }
    }

    #[test]
    fn the_neighbours_of_the_special_ranges_are_public() {
        for raw in [
            "1.1.1.1",
            "8.8.8.8",
            "93.184.215.14",
            "9.255.255.255",
            "11.0.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "126.255.255.255",
            "128.0.0.0",
            "169.253.255.255",
            "169.255.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.167.255.255",
            "192.169.0.0",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
        ] {
            assert_eq!(classify(ip(raw)), None, "{raw}");
        }
    }

    #[test]
    fn ipv6_ranges_and_embedded_ipv4_are_classified() {
        let cases = [
            ("::", C::Unspecified),
            ("::1", C::Loopback),
            ("fe80::1", C::LinkLocal),
            ("febf:ffff::1", C::LinkLocal),
            ("fec0::1", C::Private),
            ("fc00::1", C::UniqueLocal),
            ("fdff:ffff::1", C::UniqueLocal),
            ("fd00:ec2::254", C::Metadata),
            ("ff02::1", C::Multicast),
            ("ff0e::1", C::Multicast),
            ("2001:db8::1", C::Documentation),
            ("3fff::1", C::Documentation),
            ("2001::1", C::ProtocolAssignment),
            ("100::1", C::Reserved),
            // Judged by the IPv4 address they carry.
            ("::ffff:127.0.0.1", C::Loopback),
            ("::ffff:10.1.2.3", C::Private),
            ("::ffff:169.254.169.254", C::Metadata),
            ("::127.0.0.1", C::Loopback),
            ("::192.168.0.1", C::Private),
            ("64:ff9b::127.0.0.1", C::Loopback),
            ("64:ff9b::a9fe:a9fe", C::Metadata),
            ("2002:7f00:1::1", C::Loopback),
            ("2002:a00:1::", C::Private),
        ];
        for (raw, class) in cases {
            assert_eq!(classify(ip(raw)), Some(class), "{raw}");
        }
        for raw in [
            "2606:4700::1111",
            "2a00:1450:4001:82a::200e",
            "::ffff:93.184.215.14",
            "64:ff9b::808:808",
            "2002:808:808::1",
            "2001:4860::8888",
            "fbff::1",
            "fe00::1",
        ] {
            assert_eq!(classify(ip(raw)), None, "{raw}");
        }
    }

    #[test]
    fn the_flag_allows_private_networks_and_nothing_else() {
        for raw in [
            "127.0.0.1",
            "::1",
            "10.0.0.1",
            "192.168.1.1",
            "100.64.0.1",
            "fd12::1",
        ] {
            assert!(STRICT.check_ip(ip(raw)).is_err(), "{raw}");
            assert_eq!(ALLOW.check_ip(ip(raw)), Ok(()), "{raw}");
        }
        for raw in [
            "169.254.169.254",
            "100.100.100.200",
            "fd00:ec2::254",
            "169.254.1.1",
            "fe80::1",
            "0.0.0.0",
            "::",
            "224.0.0.1",
            "255.255.255.255",
            "240.0.0.1",
            "192.0.2.1",
            "2001:db8::1",
        ] {
            assert!(ALLOW.check_ip(ip(raw)).is_err(), "{raw}");
        }
        for raw in ["93.184.215.14", "2606:4700::1111"] {
            assert_eq!(STRICT.check_ip(ip(raw)), Ok(()), "{raw}");
        }
    }

    /// The URL parser reads every spelling of an IPv4 address as that address, so the
    /// policy sees 127.0.0.1 however it is written.
    #[test]
    fn every_spelling_of_loopback_in_a_url_is_refused() {
        for raw in [
            "http://127.0.0.1:6379/",
            "http://2130706433/",
            "http://0x7f.1/",
            "http://0x7f000001/",
            "http://0177.0.0.1/",
            "http://127.1/",
            "http://017700000001/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:7f00:1]/",
            "http://[::1]:8080/",
            "http://[0:0:0:0:0:0:0:1]/",
        ] {
            let refusal = STRICT.check_url(&url(raw)).unwrap_err();
            assert!(
                matches!(
                    refusal,
                    Refusal::Address {
                        class: C::Loopback,
                        ..
                    }
                ),
                "{raw}: {refusal:?}"
            );
            assert!(ALLOW.check_url(&url(raw)).is_ok(), "{raw}");
        }
        assert!(matches!(
            STRICT.check_url(&url("http://0.0.0.0/")),
            Err(Refusal::Address {
                class: C::Unspecified,
                ..
            })
        ));
        assert!(matches!(
            STRICT.check_url(&url("http://0/")),
            Err(Refusal::Address {
                class: C::Unspecified,
                ..
            })
        ));
    }

    #[test]
    fn metadata_services_are_refused_by_address_and_by_name_even_with_the_flag() {
        for raw in [
            "http://169.254.169.254/latest/meta-data/",
            "http://[fd00:ec2::254]/",
            "http://[::ffff:a9fe:a9fe]/",
            "http://2852039166/",
            "http://metadata.google.internal/computeMetadata/v1/",
            "http://METADATA.google.internal./",
            "http://metadata/",
            "http://instance-data/",
        ] {
            for policy in [STRICT, ALLOW] {
                let refusal = policy.check_url(&url(raw)).unwrap_err();
                assert!(refusal.is_address(), "{raw}");
                assert!(refusal.to_string().contains("metadata"), "{raw}: {refusal}");
                assert!(
                    refusal.to_string().contains("refused even with"),
                    "{refusal}"
                );
            }
        }
    }

    #[test]
    fn credentials_and_other_schemes_are_refused() {
        for raw in [
            "https://user:pass@example.com/hook",
            "https://user@example.com/hook",
            "https://:pass@example.com/hook",
        ] {
            assert_eq!(
                ALLOW.check_url(&url(raw)),
                Err(Refusal::Credentials),
                "{raw}"
            );
        }
        assert_eq!(
            STRICT.check_url(&url("ftp://example.com/x")),
            Err(Refusal::Scheme("ftp".into()))
        );
        assert!(STRICT.check_url(&url("file:///etc/passwd")).is_err());
    }

    #[test]
    fn public_destinations_pass_and_names_are_left_to_the_resolver() {
        assert_eq!(
            STRICT.check_url(&url("https://93.184.215.14/hook")),
            Ok(Destination::Address(ip("93.184.215.14")))
        );
        assert_eq!(
            STRICT.check_url(&url("https://[2606:4700::1111]/hook")),
            Ok(Destination::Address(ip("2606:4700::1111")))
        );
        for (raw, name) in [
            ("https://partners.example.com/hook", "partners.example.com"),
            ("http://localhost:5432/", "localhost"),
            ("http://db.internal/", "db.internal"),
        ] {
            assert_eq!(
                STRICT.check_url(&url(raw)),
                Ok(Destination::Name(name)),
                "{raw}"
            );
        }
    }

    #[test]
    fn details_say_why_and_what_to_do() {
        let private = STRICT.check_url(&url("http://10.0.0.1/")).unwrap_err();
        assert_eq!(
            private.to_string(),
            "url names 10.0.0.1, a private address; pass --allow-private-webhooks to the \
             server to allow receivers on private networks"
        );
        let resolved = Refusal::Resolved {
            host: "db.corp".into(),
            class: C::Private,
        };
        assert!(
            resolved
                .to_string()
                .starts_with("url host `db.corp` resolves to a private address;"),
            "{resolved}"
        );
    }
}
