//! The subject of an X.509 certificate as text (`CN=…,O=…`), for mTLS
//! clients' verified certificates (the access log's
//! `$context.identity.clientCert.subjectDN`). Sans-IO: a minimal DER walk
//! over a certificate rustls already verified; attributes in certificate
//! order, the common ones named (CN, O, OU, C, ST, L, emailAddress), others
//! as dotted OIDs; `,` `+` `"` `\` `<` `>` `;` in values escaped with `\`.

/// One DER element: (tag, contents, rest).
fn element(der: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = der.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |a, &b| (a << 8) | usize::from(b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

fn oid_name(oid: &[u8]) -> Option<&'static str> {
    Some(match oid {
        [0x55, 0x04, 0x03] => "CN",
        [0x55, 0x04, 0x0a] => "O",
        [0x55, 0x04, 0x0b] => "OU",
        [0x55, 0x04, 0x06] => "C",
        [0x55, 0x04, 0x08] => "ST",
        [0x55, 0x04, 0x07] => "L",
        [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01] => "emailAddress",
        _ => return None,
    })
}

fn dotted(oid: &[u8]) -> String {
    let mut parts: Vec<u64> = Vec::new();
    let mut v: u64 = 0;
    for &b in oid {
        v = (v << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            if parts.is_empty() {
                parts.push((v / 40).min(2));
                parts.push(v - parts[0] * 40);
            } else {
                parts.push(v);
            }
            v = 0;
        }
    }
    parts
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(".")
}

/// The subject distinguished name of a DER certificate.
pub fn subject_dn(cert: &[u8]) -> Option<String> {
    let (0x30, cert, _) = element(cert)? else {
        return None;
    };
    let (0x30, tbs, _) = element(cert)? else {
        return None;
    };
    let mut rest = tbs;
    let (tag, _, r) = element(rest)?;
    if tag == 0xa0 {
        rest = r; // version
    }
    // serial, signature algorithm, issuer, validity, then the subject.
    for _ in 0..4 {
        rest = element(rest)?.2;
    }
    let (0x30, mut name, _) = element(rest)? else {
        return None;
    };
    let mut out = String::new();
    while !name.is_empty() {
        let (0x31, mut set, r) = element(name)? else {
            return None;
        };
        name = r;
        while !set.is_empty() {
            let (0x30, atv, r) = element(set)? else {
                return None;
            };
            set = r;
            let (0x06, oid, r) = element(atv)? else {
                return None;
            };
            let (_, value, _) = element(r)?;
            if !out.is_empty() {
                out.push(',');
            }
            match oid_name(oid) {
                Some(n) => out.push_str(n),
                None => out.push_str(&dotted(oid)),
            }
            out.push('=');
            for c in String::from_utf8_lossy(value).chars() {
                if matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';') {
                    out.push('\\');
                }
                out.push(c);
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A DER element of `tag` around `content`.
    fn el(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut v = vec![tag];
        if content.len() < 128 {
            v.push(content.len() as u8);
        } else {
            v.push(0x82);
            v.extend_from_slice(&(content.len() as u16).to_be_bytes());
        }
        v.extend_from_slice(content);
        v
    }

    fn atv(oid: &[u8], value: &str) -> Vec<u8> {
        el(
            0x31,
            &el(0x30, &[el(0x06, oid), el(0x0c, value.as_bytes())].concat()),
        )
    }

    #[test]
    fn reads_the_subject_after_the_issuer_and_validity() {
        let issuer = el(0x30, &atv(&[0x55, 0x04, 0x03], "Issuer CA"));
        let subject = el(
            0x30,
            &[
                atv(&[0x55, 0x04, 0x0a], "Acme, Inc"),
                atv(&[0x55, 0x04, 0x03], "client.example.com"),
                atv(&[0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x01], "x"),
            ]
            .concat(),
        );
        let tbs = el(
            0x30,
            &[
                el(0xa0, &el(0x02, &[2])),
                el(0x02, &[1; 16]),
                el(
                    0x30,
                    &el(0x06, &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02]),
                ),
                issuer,
                el(
                    0x30,
                    &[el(0x17, b"200101000000Z"), el(0x17, b"300101000000Z")].concat(),
                ),
                subject,
                el(0x30, &[0u8; 200]),
            ]
            .concat(),
        );
        let cert = el(0x30, &[tbs, el(0x30, &[]), el(0x03, &[0])].concat());
        assert_eq!(
            subject_dn(&cert).as_deref(),
            Some("O=Acme\\, Inc,CN=client.example.com,1.3.6.1.4.1.311.1=x")
        );
        assert_eq!(subject_dn(&cert[..20]), None);
        assert_eq!(subject_dn(b""), None);
    }
}
