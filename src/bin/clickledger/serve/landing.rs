//! Where a tracking link may send a visitor, and the landing URL with its click ID.
//!
//! A tracking server that redirects anywhere it is told is an open redirect: anyone can
//! dress a phishing link in the tracker's trusted domain. So a landing URL must be
//! `http` or `https`, carry no user name or password, and name a host that is one of the
//! program's landing domains or a subdomain of one (`shop.example.com` belongs to
//! `example.com`; `badexample.com` does not).

use clickledger::ClickId;
use url::{Host, Url};

/// The URL parameter that carries the click ID to the landing page.
pub(crate) const CLICK_ID_PARAM: &str = "aecid";

/// Why a landing URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum LandingError {
    /// Not an absolute URL.
    #[error("`url` is not an absolute URL: {problem}")]
    Malformed {
        /// What the URL parser said.
        problem: String,
    },
    /// A scheme other than http and https.
    #[error("`url` must be http or https, found {scheme}")]
    Scheme {
        /// The scheme found.
        scheme: String,
    },
    /// User name or password in the URL.
    #[error("`url` must not carry a user name or password")]
    Credentials,
    /// The host is not a landing domain of the program.
    #[error("`url` host {host} is not a landing domain of program {program}")]
    ForeignHost {
        /// The host found.
        host: String,
        /// The program's name.
        program: String,
    },
    /// No `url` and no default landing URL.
    #[error("no `url` given and program {program} has no default landing URL")]
    NoDefault {
        /// The program's name.
        program: String,
    },
}

/// Parses a landing URL and checks it against the program's domains.
pub(crate) fn check(text: &str, domains: &[String], program: &str) -> Result<Url, LandingError> {
    let url = parse(text)?;
    let host = match url.host() {
        Some(Host::Domain(domain)) => domain.to_owned(),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    if domains.iter().any(|domain| host_belongs_to(&host, domain)) {
        Ok(url)
    } else {
        Err(LandingError::ForeignHost {
            host,
            program: program.to_owned(),
        })
    }
}

/// Parses an http(s) URL without credentials.
pub(crate) fn parse(text: &str) -> Result<Url, LandingError> {
    let url = Url::parse(text).map_err(|error| LandingError::Malformed {
        problem: error.to_string(),
    })?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(LandingError::Scheme {
            scheme: url.scheme().to_owned(),
        });
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(LandingError::Credentials);
    }
    Ok(url)
}

/// A landing domain as a program registers it: a host name (no scheme, port or path),
/// lower-cased, without a trailing dot.
pub(crate) fn check_domain(text: &str) -> Result<String, String> {
    let domain = text.trim_end_matches('.').to_ascii_lowercase();
    match Host::parse(&domain) {
        Ok(Host::Domain(parsed)) if parsed == domain && !domain.contains(['/', ':', '@']) => {
            Ok(domain)
        }
        _ => Err(format!(
            "landing domain {text:?} is not a host name (give `shop.example`, without \
             scheme, port or path)"
        )),
    }
}

/// True when `host` is `domain` or a subdomain of it, ignoring letter case and a
/// trailing dot on either.
fn host_belongs_to(host: &str, domain: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    if domain.is_empty() {
        return false;
    }
    host == domain
        || host
            .strip_suffix(&domain)
            .is_some_and(|prefix| prefix.ends_with('.'))
}

/// The landing URL with `aecid=<id>` as its last query parameter. Every other parameter
/// is kept byte for byte (the URL parser already percent-encoded what needs it), every
/// `aecid` already there is dropped (a link copied from a landing page must not carry
/// the old visitor's ID), and the fragment stays.
pub(crate) fn with_click_id(mut url: Url, id: &ClickId) -> Url {
    let kept: Vec<&str> = url
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|pair| !pair.is_empty() && !names_click_id(pair))
        .collect();
    let mut query = kept.join("&");
    if !query.is_empty() {
        query.push('&');
    }
    query.push_str(CLICK_ID_PARAM);
    query.push('=');
    query.push_str(&id.to_string());
    url.set_query(Some(&query));
    url
}

/// True when a `name=value` pair's name decodes to `aecid` (`AECID` and `%61ecid` too:
/// a landing page may read names case-blind or decoded).
fn names_click_id(pair: &str) -> bool {
    let name = pair.split('=').next().unwrap_or_default();
    let decoded = url::form_urlencoded::parse(name.as_bytes())
        .next()
        .map(|(name, _)| name.into_owned())
        .unwrap_or_default();
    decoded.eq_ignore_ascii_case(CLICK_ID_PARAM)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn domains() -> Vec<String> {
        vec!["shop.example".to_owned()]
    }

    fn id() -> ClickId {
        "603ed1800000000000000000".parse().unwrap()
    }

    #[test]
    fn a_landing_url_keeps_its_query_and_fragment_and_gets_the_id_last() {
        let url = check("https://shop.example/p?q=a%20b&x=1#top", &domains(), "p").unwrap();
        assert_eq!(
            with_click_id(url, &id()).as_str(),
            "https://shop.example/p?q=a%20b&x=1&aecid=603ed1800000000000000000#top"
        );
    }

    #[test]
    fn every_existing_click_id_is_replaced_whatever_its_case_or_encoding() {
        let text = "https://shop.example/?aecid=old&AECID=x&%61ecid=y&aecidx=kept";
        let url = check(text, &domains(), "p").unwrap();
        assert_eq!(
            with_click_id(url, &id()).as_str(),
            "https://shop.example/?aecidx=kept&aecid=603ed1800000000000000000"
        );
    }

    #[test]
    fn characters_that_need_encoding_are_encoded() {
        let url = check("https://shop.example/a b?c=d e\"", &domains(), "p").unwrap();
        assert_eq!(
            with_click_id(url, &id()).as_str(),
            "https://shop.example/a%20b?c=d%20e%22&aecid=603ed1800000000000000000"
        );
    }

    #[test]
    fn subdomains_belong_but_lookalikes_do_not() {
        assert!(check("https://www.shop.example/", &domains(), "p").is_ok());
        assert!(check("https://SHOP.example./", &domains(), "p").is_ok());
        for foreign in [
            "https://evilshop.example/",
            "https://shop.example.evil/",
            "https://shop.example@evil.example/",
            "javascript:alert(1)",
            "//evil.example/",
            "https://127.0.0.1/",
        ] {
            assert!(check(foreign, &domains(), "p").is_err(), "{foreign}");
        }
    }

    #[test]
    fn landing_domains_are_host_names() {
        assert_eq!(check_domain("Shop.Example."), Ok("shop.example".to_owned()));
        for bad in [
            "https://shop.example",
            "shop.example/x",
            "shop.example:8080",
            "",
            "a b",
        ] {
            assert!(check_domain(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn credentials_are_refused_even_on_a_landing_domain() {
        let refused = check("https://user:pw@shop.example/", &domains(), "p");
        assert_eq!(refused, Err(LandingError::Credentials));
    }

    #[test]
    fn a_program_without_domains_accepts_no_url() {
        let refused = check("https://shop.example/", &[], "p");
        assert!(matches!(refused, Err(LandingError::ForeignHost { .. })));
    }
}
