//! Distinguished names as servers return them (RFC 4514, leniently): parsed
//! into RDNs with unescaped values, so that names are compared by value and
//! never by their textual escaping.

use std::fmt;

/// One `type=value` of an RDN, with the value unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ava {
    pub attr: String,
    pub value: String,
}

/// A parsed DN: its RDNs, leftmost first; each RDN one or more AVAs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dn(pub Vec<Vec<Ava>>);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnError(pub String);

impl fmt::Display for DnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Ava {
    /// Whether its type is `attr` (a lowercase name), by name or OID, without allocating.
    pub fn is(&self, attr: &str) -> bool {
        self.attr.eq_ignore_ascii_case(attr) || (self.attr.starts_with(|c: char| c.is_ascii_digit()) && attr_name(&self.attr) == attr)
    }
}

/// The well-known numeric OIDs of the attribute types Writ names in DNs.
fn attr_name(attr: &str) -> String {
    match attr {
        "0.9.2342.19200300.100.1.1" => "uid".into(),
        "2.5.4.3" => "cn".into(),
        "2.5.4.11" => "ou".into(),
        "2.5.4.10" => "o".into(),
        "0.9.2342.19200300.100.1.25" => "dc".into(),
        _ => attr.to_ascii_lowercase(),
    }
}

/// A comparison key for one value under the matching rules of the names Writ
/// deals with (`caseIgnoreMatch` on directory strings): case folded and
/// insignificant spaces removed (RFC 4518, approximately).
fn value_key(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

impl Dn {
    pub fn parse(s: &str) -> Result<Dn, DnError> {
        Parser { s: s.as_bytes(), i: 0 }.dn()
    }

    /// The first RDN of `s` and the rest of `s` after its separator (the
    /// parent DN, unparsed): enough to name a member without parsing (and
    /// allocating) its whole DN.
    pub fn split_first(s: &str) -> Result<(Vec<Ava>, &str), DnError> {
        let mut p = Parser { s: s.as_bytes(), i: 0 };
        let mut rdn = vec![p.ava()?];
        loop {
            match p.peek() {
                Some(b'+') => {
                    p.i += 1;
                    rdn.push(p.ava()?);
                }
                Some(b',' | b';') => {
                    let rest = &s[p.i + 1..];
                    if rest.trim().is_empty() {
                        return p.err("empty RDN at the end");
                    }
                    return Ok((rdn, rest));
                }
                None => return Ok((rdn, "")),
                Some(_) => return p.err("expected `,` or `+`"),
            }
        }
    }

    /// The single AVA of the first RDN, if that RDN has exactly one.
    pub fn first(&self) -> Option<&Ava> {
        match self.0.first() {
            Some(rdn) if rdn.len() == 1 => rdn.first(),
            _ => None,
        }
    }

    /// A key under which two DNs that the server matches as equal compare equal
    /// (attribute types by name, case-insensitively; values by [`value_key`];
    /// the AVAs of a multi-valued RDN in any order).
    pub fn key(&self) -> Vec<Vec<(String, String)>> {
        self.0
            .iter()
            .map(|rdn| {
                let mut avas: Vec<(String, String)> = rdn.iter().map(|a| (attr_name(&a.attr), value_key(&a.value))).collect();
                avas.sort();
                avas
            })
            .collect()
    }

    /// The value of the first RDN if it is a single `attr` (by name or OID).
    pub fn first_is(&self, attr: &str) -> Option<&str> {
        self.first().filter(|a| a.is(attr)).map(|a| a.value.as_str())
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn err<T>(&self, what: &str) -> Result<T, DnError> {
        Err(DnError(format!("invalid DN at byte {}: {what}", self.i)))
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn skip_spaces(&mut self) {
        while self.peek() == Some(b' ') {
            self.i += 1;
        }
    }

    fn dn(mut self) -> Result<Dn, DnError> {
        let mut rdns = Vec::new();
        self.skip_spaces();
        if self.peek().is_none() {
            return Ok(Dn(rdns));
        }
        loop {
            let mut rdn = vec![self.ava()?];
            loop {
                match self.peek() {
                    Some(b'+') => {
                        self.i += 1;
                        rdn.push(self.ava()?);
                    }
                    Some(b',' | b';') => {
                        self.i += 1;
                        break;
                    }
                    None => break,
                    Some(_) => return self.err("expected `,` or `+`"),
                }
            }
            rdns.push(rdn);
            if self.peek().is_none() {
                if matches!(self.s.last(), Some(b',' | b';')) {
                    return self.err("empty RDN at the end");
                }
                return Ok(Dn(rdns));
            }
        }
    }

    fn ava(&mut self) -> Result<Ava, DnError> {
        self.skip_spaces();
        let start = self.i;
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || c == b'-' || c == b'.' {
                self.i += 1;
            } else {
                break;
            }
        }
        if self.i == start {
            return self.err("expected an attribute type");
        }
        let attr = String::from_utf8_lossy(&self.s[start..self.i]).into_owned();
        self.skip_spaces();
        if self.peek() != Some(b'=') {
            return self.err("expected `=`");
        }
        self.i += 1;
        self.skip_spaces();
        let value = match self.peek() {
            Some(b'#') => self.hex_value()?,
            Some(b'"') => self.quoted_value()?,
            _ => self.string_value()?,
        };
        Ok(Ava { attr, value })
    }

    fn hex_digit(&self, at: usize) -> Option<u8> {
        let c = *self.s.get(at)?;
        (c as char).to_digit(16).map(|d| d as u8)
    }

    /// `string` with `\` escapes; unescaped trailing spaces are not part of it.
    fn string_value(&mut self) -> Result<String, DnError> {
        let mut out = Vec::new();
        let mut kept = 0; // length of `out` up to the last byte that is not an unescaped space
        while let Some(c) = self.peek() {
            match c {
                b',' | b';' | b'+' => break,
                b'\\' => {
                    if let (Some(h), Some(l)) = (self.hex_digit(self.i + 1), self.hex_digit(self.i + 2)) {
                        out.push(h << 4 | l);
                        self.i += 3;
                    } else if let Some(&next) = self.s.get(self.i + 1) {
                        out.push(next);
                        self.i += 2;
                    } else {
                        return self.err("`\\` at the end");
                    }
                    kept = out.len();
                }
                _ => {
                    out.push(c);
                    self.i += 1;
                    if c != b' ' {
                        kept = out.len();
                    }
                }
            }
        }
        out.truncate(kept);
        String::from_utf8(out).map_err(|_| DnError("invalid DN: a value is not UTF-8".into()))
    }

    /// RFC 2253's legacy `"quoted"` values.
    fn quoted_value(&mut self) -> Result<String, DnError> {
        self.i += 1;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None => return self.err("unterminated quoted value"),
                Some(b'"') => {
                    self.i += 1;
                    break;
                }
                Some(b'\\') => {
                    if let (Some(h), Some(l)) = (self.hex_digit(self.i + 1), self.hex_digit(self.i + 2)) {
                        out.push(h << 4 | l);
                        self.i += 3;
                    } else if let Some(&next) = self.s.get(self.i + 1) {
                        out.push(next);
                        self.i += 2;
                    } else {
                        return self.err("`\\` at the end");
                    }
                }
                Some(c) => {
                    out.push(c);
                    self.i += 1;
                }
            }
        }
        self.skip_spaces();
        String::from_utf8(out).map_err(|_| DnError("invalid DN: a value is not UTF-8".into()))
    }

    /// `#` and the hex of a BER-encoded string value (octet, UTF-8, printable,
    /// IA5 or teletex string with a short or long definite length).
    fn hex_value(&mut self) -> Result<String, DnError> {
        self.i += 1;
        let mut ber = Vec::new();
        while let (Some(h), Some(l)) = (self.hex_digit(self.i), self.hex_digit(self.i + 1)) {
            ber.push(h << 4 | l);
            self.i += 2;
        }
        self.skip_spaces();
        let bad = || DnError("invalid DN: a `#` value is not a BER-encoded string".into());
        let (&tag, rest) = ber.split_first().ok_or_else(bad)?;
        if ![0x04, 0x0c, 0x13, 0x14, 0x16].contains(&tag) {
            return Err(bad());
        }
        let (&len0, rest) = rest.split_first().ok_or_else(bad)?;
        let (len, body) = if len0 < 0x80 {
            (len0 as usize, rest)
        } else {
            let n = (len0 & 0x7f) as usize;
            if n == 0 || n > 4 || rest.len() < n {
                return Err(bad());
            }
            (rest[..n].iter().fold(0usize, |acc, b| acc << 8 | *b as usize), &rest[n..])
        };
        if body.len() != len {
            return Err(bad());
        }
        String::from_utf8(body.to_vec()).map_err(|_| bad())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first(dn: &str) -> String {
        Dn::parse(dn).unwrap().first().unwrap().value.clone()
    }

    #[test]
    fn unescapes_what_dn_escape_writes() {
        for name in [
            "alice",
            "a,b+c\"d\\e<f>g;h=i",
            "#hash",
            " leading",
            "trailing ",
            "  two  ",
            "new\nline",
            "ünïcödé-名前",
            "nul\0byte",
            "cn=admin,dc=writ,dc=test",
            "*)(uid=*))(|(uid=*",
            "#",
            " ",
            "\\",
        ] {
            let dn = format!("uid={},ou=people,dc=writ,dc=test", ldap3::dn_escape(name));
            let parsed = Dn::parse(&dn).unwrap();
            assert_eq!(parsed.first().unwrap().value, name, "{dn}");
            assert_eq!(parsed.first_is("uid"), Some(name));
            let parent = Dn::split_first(&dn).unwrap().1;
            assert_eq!(Dn::parse(parent).unwrap().key(), Dn::parse("OU=People, DC=writ,dc=TEST").unwrap().key());
        }
    }

    #[test]
    fn reads_other_escapings_servers_use() {
        assert_eq!(first("uid=\\41lice,ou=x"), "Alice");
        assert_eq!(first("uid=a\\,b,ou=x"), "a,b");
        assert_eq!(first("uid=\\20x\\20,ou=x"), " x ");
        assert_eq!(first("uid=x   ,ou=x"), "x");
        assert_eq!(first("uid=\"a,b\" ,ou=x"), "a,b");
        assert_eq!(first("uid=#04024869,ou=x"), "Hi");
        assert_eq!(first("uid=\\c3\\bc,ou=x"), "ü");
        assert_eq!(Dn::parse("0.9.2342.19200300.100.1.1=bob").unwrap().first_is("uid"), Some("bob"));
        let multi = Dn::parse("cn=a+uid=b,ou=x").unwrap();
        assert!(multi.first().is_none());
        assert_eq!(multi.key(), Dn::parse("UID=B+cn=A,ou=X").unwrap().key());
        assert_eq!(Dn::parse("").unwrap(), Dn(vec![]));
    }

    #[test]
    fn splits_off_the_first_rdn() {
        let (rdn, rest) = Dn::split_first("uid=a\\,b\\2C,ou=People, dc=x").unwrap();
        assert_eq!(rdn, vec![Ava { attr: "uid".into(), value: "a,b,".into() }]);
        assert_eq!(rest, "ou=People, dc=x");
        assert_eq!(Dn::split_first("cn=x").unwrap().1, "");
        assert!(Dn::split_first("cn=x,").is_err());
        assert_eq!(Dn::split_first("cn=x+uid=y,o=z").unwrap().0.len(), 2);
    }

    #[test]
    fn refuses_what_is_not_a_dn() {
        for bad in ["uid", "=x", "uid=x,", "uid=x\\", "uid=#zz", "uid=\"x", "uid=\\ff"] {
            assert!(Dn::parse(bad).is_err(), "{bad:?}");
        }
    }
}
