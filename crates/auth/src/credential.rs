//! Where a request carries its credential — the one reading every transport
//! uses (the REST API, gRPC, the web UI, the cluster gateway), given the
//! raw values of its headers, so none of them has a reading of its own.
//!
//! - `Authorization: Bearer <token>`: the scheme in any case, the token
//!   trimmed. A header that is not text, or a bearer header with nothing
//!   after the scheme, is a credential that is present and invalid — never
//!   taken for no credential (which could mean anonymous, or a trusted
//!   network's identity). Another scheme is not a bearer credential.
//! - A cookie (`token`, for the web sign-in): `name=value` pairs separated
//!   by `;`, the value trimmed and unquoted.

/// The bearer token among `Authorization` header values, if one names the
/// bearer scheme; `Some("")` for a malformed one (present, and invalid).
pub fn bearer<'a>(authorization: impl IntoIterator<Item = &'a [u8]>) -> Option<&'a str> {
    for value in authorization {
        let Ok(value) = std::str::from_utf8(value) else {
            return Some("");
        };
        let value = value.trim();
        let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
        if scheme.eq_ignore_ascii_case("bearer") {
            return Some(rest.trim());
        }
    }
    None
}

/// The value of cookie `name` among `Cookie` header values.
pub fn cookie<'a>(cookies: impl IntoIterator<Item = &'a [u8]>, name: &str) -> Option<&'a str> {
    cookies
        .into_iter()
        .filter_map(|value| std::str::from_utf8(value).ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.split_once('='))
        .find(|(n, _)| n.trim() == name)
        .map(|(_, value)| value.trim().trim_matches('"'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(values: &[&'static [u8]]) -> Option<&'static str> {
        bearer(values.iter().copied())
    }

    #[test]
    fn a_bearer_token_is_found_in_any_case_and_a_broken_one_is_not_taken_for_none() {
        assert_eq!(b(&[b"Bearer abc.def"]), Some("abc.def"));
        assert_eq!(b(&[b"bearer  abc "]), Some("abc"));
        assert_eq!(b(&[b"BEARER x"]), Some("x"));
        assert_eq!(b(&[b"Bearer"]), Some(""), "present, empty: invalid");
        assert_eq!(b(&[b"Bearer \xff"]), Some(""), "not text: invalid");
        assert_eq!(b(&[b"Basic dXNlcg=="]), None, "another scheme");
        assert_eq!(b(&[b"Basic dXNlcg==", b"Bearer t"]), Some("t"));
        assert_eq!(b(&[]), None);
    }

    #[test]
    fn a_cookie_is_found_by_its_exact_name() {
        let c = |values: &[&'static [u8]], name| cookie(values.iter().copied(), name);
        assert_eq!(c(&[b"a=1; token=abc"], "token"), Some("abc"));
        assert_eq!(c(&[b"a=1", b" token = \"abc\" "], "token"), Some("abc"));
        assert_eq!(c(&[b"tokens=abc; xtoken=d"], "token"), None);
        assert_eq!(c(&[b"token=a=b"], "token"), Some("a=b"));
        assert_eq!(c(&[b"\xff=1"], "token"), None);
    }
}
