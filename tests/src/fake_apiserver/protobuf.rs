//! Just enough of Kubernetes' protobuf encoding to read a CertificateSigningRequest's
//! name, resourceVersion and status conditions (k8s.io/api/certificates/v1/generated.proto):
//! kubectl 1.32 sends its approval PUT as protobuf.

use serde_json::{Value, json};

/// One field: (number, wire type, varint value, bytes).
type Field<'a> = (u64, u8, u64, &'a [u8]);

/// The fields of one message.
fn fields(mut b: &[u8]) -> Option<Vec<Field<'_>>> {
    let mut out = Vec::new();
    while !b.is_empty() {
        let key = varint(&mut b)?;
        let (num, wire) = (key >> 3, (key & 7) as u8);
        match wire {
            0 => out.push((num, 0, varint(&mut b)?, &b[..0])),
            2 => {
                let len = usize::try_from(varint(&mut b)?).ok()?;
                let (v, rest) = (b.get(..len)?, b.get(len..)?);
                out.push((num, 2, 0, v));
                b = rest;
            }
            1 => b = b.get(8..)?,
            5 => b = b.get(4..)?,
            _ => return None,
        }
    }
    Some(out)
}

fn varint(b: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = b.split_first()?;
        *b = rest;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

fn text(b: &[u8]) -> Value {
    json!(String::from_utf8_lossy(b))
}

fn time(b: &[u8]) -> Option<Value> {
    let secs = fields(b)?.iter().find(|f| f.0 == 1).map_or(0, |f| f.2);
    let t = time::OffsetDateTime::from_unix_timestamp(i64::try_from(secs).ok()?).ok()?;
    Some(json!(
        t.format(&time::format_description::well_known::Rfc3339)
            .ok()?
    ))
}

/// `k8s\0` + runtime.Unknown{raw} + CertificateSigningRequest -> JSON (metadata and status).
pub(super) fn csr_to_json(body: &[u8]) -> Option<Value> {
    let unknown = fields(body.strip_prefix(b"k8s\0")?)?;
    let raw = unknown.iter().find(|f| f.0 == 2)?.3;
    let mut obj = json!({"metadata": {}, "status": {}});
    for (num, _, _, v) in fields(raw)? {
        match num {
            1 => {
                for (n, _, _, m) in fields(v)? {
                    match n {
                        1 => obj["metadata"]["name"] = text(m),
                        6 => obj["metadata"]["resourceVersion"] = text(m),
                        _ => {}
                    }
                }
            }
            3 => {
                let mut conditions = Vec::new();
                for (n, _, _, c) in fields(v)? {
                    if n != 1 {
                        continue;
                    }
                    let mut cond = json!({});
                    for (cn, _, _, cv) in fields(c)? {
                        let key = match cn {
                            1 => "type",
                            2 => "reason",
                            3 => "message",
                            4 => "lastUpdateTime",
                            5 => "lastTransitionTime",
                            6 => "status",
                            _ => continue,
                        };
                        cond[key] = if cn == 4 || cn == 5 {
                            time(cv)?
                        } else {
                            text(cv)
                        };
                    }
                    conditions.push(cond);
                }
                obj["status"]["conditions"] = json!(conditions);
            }
            _ => {}
        }
    }
    Some(obj)
}
