//! A minimal DER writer: tag-length-value blocks, integers, OIDs, times and
//! names, enough to lay out a certificate byte for byte as Go writes it.

use time::OffsetDateTime;

/// DER tags used by certificates.
pub(crate) mod tag {
    pub const BOOLEAN: u8 = 0x01;
    pub const INTEGER: u8 = 0x02;
    pub const BIT_STRING: u8 = 0x03;
    pub const OCTET_STRING: u8 = 0x04;
    pub const OID: u8 = 0x06;
    pub const UTF8_STRING: u8 = 0x0c;
    pub const PRINTABLE_STRING: u8 = 0x13;
    pub const UTC_TIME: u8 = 0x17;
    pub const GENERALIZED_TIME: u8 = 0x18;
    pub const SEQUENCE: u8 = 0x30;
    pub const SET: u8 = 0x31;
}

/// One tag-length-value block.
pub(crate) fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

/// A SEQUENCE of already-encoded parts.
pub(crate) fn sequence(parts: &[Vec<u8>]) -> Vec<u8> {
    tlv(tag::SEQUENCE, &parts.concat())
}

/// A non-negative INTEGER from big-endian bytes, minimally encoded.
pub(crate) fn unsigned_integer(be: &[u8]) -> Vec<u8> {
    let skip = be.iter().take_while(|b| **b == 0).count();
    let mut body: Vec<u8> = be[skip..].to_vec();
    if body.first().is_none_or(|b| b & 0x80 != 0) {
        body.insert(0, 0);
    }
    tlv(tag::INTEGER, &body)
}

/// An OBJECT IDENTIFIER from dotted text, or `None` when the text is not an OID
/// X.660 allows (first arc 0, 1 or 2; under 0 and 1 the second below 40).
pub(crate) fn oid(dotted: &str) -> Option<Vec<u8>> {
    let arcs: Vec<u64> = dotted
        .split('.')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let (&first, &second) = (arcs.first()?, arcs.get(1)?);
    if first > 2 || (first < 2 && second >= 40) {
        return None;
    }
    let mut body = Vec::new();
    let head = first.checked_mul(40)?.checked_add(second)?;
    for arc in std::iter::once(head).chain(arcs[2..].iter().copied()) {
        let mut chunk = vec![(arc & 0x7f) as u8];
        let mut rest = arc >> 7;
        while rest > 0 {
            chunk.push(0x80 | (rest & 0x7f) as u8);
            rest >>= 7;
        }
        chunk.reverse();
        body.extend(chunk);
    }
    Some(tlv(tag::OID, &body))
}

/// A time as Go's x509 writes it: UTCTime from 1950 to 2049, GeneralizedTime
/// otherwise (RFC 5280 4.1.2.5), whole seconds in UTC.
pub(crate) fn time(t: OffsetDateTime) -> Vec<u8> {
    let t = t.to_offset(time::UtcOffset::UTC);
    let rest = format!(
        "{:02}{:02}{:02}{:02}{:02}Z",
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    if (1950..2050).contains(&t.year()) {
        let text = format!("{:02}{rest}", t.year() % 100);
        tlv(tag::UTC_TIME, text.as_bytes())
    } else {
        let text = format!("{:04}{rest}", t.year());
        tlv(tag::GENERALIZED_TIME, text.as_bytes())
    }
}

/// A directory string as Go's encoding/asn1 picks it: PrintableString when every
/// character is in its set, UTF8String otherwise.
pub(crate) fn directory_string(s: &str) -> Vec<u8> {
    let printable = s.bytes().all(|b| {
        b.is_ascii_alphanumeric()
            || matches!(
                b,
                b' ' | b'\'' | b'(' | b')' | b'+' | b',' | b'-' | b'.' | b'/' | b':' | b'=' | b'?'
            )
    });
    let t = if printable {
        tag::PRINTABLE_STRING
    } else {
        tag::UTF8_STRING
    };
    tlv(t, s.as_bytes())
}

/// A SET OF: the elements sorted by their encodings, as DER (X.690 11.6) and
/// Go 1.15+ require.
pub(crate) fn set_of(mut parts: Vec<Vec<u8>>) -> Vec<u8> {
    parts.sort();
    tlv(tag::SET, &parts.concat())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn encodes_lengths_integers_oids_and_times_as_der() {
        assert_eq!(tlv(0x04, &[1, 2]), [0x04, 2, 1, 2]);
        let long = tlv(0x04, &[0; 300]);
        assert_eq!(&long[..4], [0x04, 0x82, 0x01, 0x2c]);
        assert_eq!(unsigned_integer(&[0, 0, 0x7f]), [0x02, 1, 0x7f]);
        assert_eq!(unsigned_integer(&[0x80]), [0x02, 2, 0, 0x80]);
        assert_eq!(unsigned_integer(&[]), [0x02, 1, 0]);
        // id-kp-clientAuth
        assert_eq!(
            oid("1.3.6.1.5.5.7.3.2").unwrap(),
            [0x06, 8, 0x2b, 6, 1, 5, 5, 7, 3, 2]
        );
        // 2.999 needs two base-128 bytes for the first subidentifier (999 + 80).
        assert_eq!(oid("2.999.3").unwrap(), [0x06, 3, 0x88, 0x37, 3]);
        assert_eq!(oid("5.22.1"), None);
        assert_eq!(oid("1.40"), None);
        assert_eq!(oid("1"), None);
        assert_eq!(oid("malformed OID 2b"), None);
        assert_eq!(
            time(datetime!(2026-03-01 12:00:09 UTC)),
            tlv(tag::UTC_TIME, b"260301120009Z")
        );
        assert_eq!(
            time(datetime!(2050-01-01 00:00 UTC)),
            tlv(tag::GENERALIZED_TIME, b"20500101000000Z")
        );
        assert_eq!(directory_string("a?b")[0], tag::PRINTABLE_STRING);
        assert_eq!(directory_string("system:masters")[0], tag::PRINTABLE_STRING);
        assert_eq!(directory_string("a_b")[0], tag::UTF8_STRING);
        assert_eq!(directory_string("a*b")[0], tag::UTF8_STRING);
        assert_eq!(
            set_of(vec![vec![2, 9], vec![1, 9, 9]]),
            [0x31, 5, 1, 9, 9, 2, 9]
        );
    }
}
