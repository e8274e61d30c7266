//! Reads the Kubernetes protobuf envelope for the few kinds kubectl's typed clients send as
//! protobuf (`kubectl create namespace|configmap|secret|serviceaccount`); everything else the
//! server speaks is JSON or YAML.

use base64::Engine as _;
use serde_json::{json, Map, Value};

use super::status::ApiError;

enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

fn bad(what: &str) -> ApiError {
    ApiError::bad_request(format!("invalid protobuf body: {what}"))
}

fn varint(buf: &[u8], pos: &mut usize) -> Result<u64, ApiError> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *buf.get(*pos).ok_or_else(|| bad("truncated varint"))?;
        *pos += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(bad("varint too long"))
}

/// The (field number, value) pairs of one message.
fn fields(buf: &[u8]) -> Result<Vec<(u64, Field<'_>)>, ApiError> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let key = varint(buf, &mut pos)?;
        let field = match key & 7 {
            0 => Field::Varint(varint(buf, &mut pos)?),
            1 | 5 => {
                pos += if key & 7 == 1 { 8 } else { 4 };
                Field::Fixed
            }
            2 => {
                let len = usize::try_from(varint(buf, &mut pos)?).map_err(|_| bad("length"))?;
                let end = pos.checked_add(len).filter(|e| *e <= buf.len());
                let end = end.ok_or_else(|| bad("truncated field"))?;
                let bytes = &buf[pos..end];
                pos = end;
                Field::Bytes(bytes)
            }
            _ => return Err(bad("unsupported wire type")),
        };
        out.push((key >> 3, field));
    }
    if pos > buf.len() {
        return Err(bad("truncated fixed field"));
    }
    Ok(out)
}

fn string(b: &[u8]) -> Value {
    json!(String::from_utf8_lossy(b))
}

fn base64_bytes(b: &[u8]) -> Value {
    json!(base64::engine::general_purpose::STANDARD.encode(b))
}

/// A map entry message (key = 1, value = 2) into `map`.
fn map_entry(
    map: &mut Map<String, Value>,
    entry: &[u8],
    value: fn(&[u8]) -> Value,
) -> Result<(), ApiError> {
    let mut key = String::new();
    let mut val = value(&[]);
    for (n, f) in fields(entry)? {
        if let Field::Bytes(b) = f {
            match n {
                1 => key = String::from_utf8_lossy(b).into_owned(),
                2 => val = value(b),
                _ => {}
            }
        }
    }
    map.insert(key, val);
    Ok(())
}

fn object_meta(buf: &[u8]) -> Result<Value, ApiError> {
    let mut meta = Map::new();
    let (mut labels, mut annotations, mut finalizers) = (Map::new(), Map::new(), Vec::new());
    for (n, f) in fields(buf)? {
        // Go writes empty strings for unset fields; they mean nothing.
        let Field::Bytes(b) = f else { continue };
        if b.is_empty() {
            continue;
        }
        match n {
            1 => {
                meta.insert("name".into(), string(b));
            }
            2 => {
                meta.insert("generateName".into(), string(b));
            }
            3 => {
                meta.insert("namespace".into(), string(b));
            }
            11 => map_entry(&mut labels, b, string)?,
            12 => map_entry(&mut annotations, b, string)?,
            14 => finalizers.push(string(b)),
            _ => {}
        }
    }
    if !labels.is_empty() {
        meta.insert("labels".into(), Value::Object(labels));
    }
    if !annotations.is_empty() {
        meta.insert("annotations".into(), Value::Object(annotations));
    }
    if !finalizers.is_empty() {
        meta.insert("finalizers".into(), Value::Array(finalizers));
    }
    Ok(Value::Object(meta))
}

/// Decodes `k8s\0` + runtime.Unknown{typeMeta, raw} into the JSON form of the object.
pub(crate) fn decode(body: &[u8]) -> Result<Value, ApiError> {
    let envelope = body
        .strip_prefix(b"k8s\0")
        .ok_or_else(|| bad("missing the k8s envelope"))?;
    let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), &[][..]);
    for (n, f) in fields(envelope)? {
        let Field::Bytes(b) = f else { continue };
        match n {
            1 => {
                for (tn, tf) in fields(b)? {
                    if let Field::Bytes(tb) = tf {
                        match tn {
                            1 => api_version = String::from_utf8_lossy(tb).into_owned(),
                            2 => kind = String::from_utf8_lossy(tb).into_owned(),
                            _ => {}
                        }
                    }
                }
            }
            2 => raw = b,
            _ => {}
        }
    }
    let mut object = Map::new();
    object.insert("apiVersion".into(), json!(api_version));
    object.insert("kind".into(), json!(kind));
    let (mut data, mut second) = (Map::new(), Map::new());
    for (n, f) in fields(raw)? {
        match (kind.as_str(), n, f) {
            (_, 1, Field::Bytes(b)) => {
                object.insert("metadata".into(), object_meta(b)?);
            }
            ("Namespace", 2, Field::Bytes(b)) => {
                let finalizers: Vec<Value> = fields(b)?
                    .into_iter()
                    .filter_map(|(n, f)| match (n, f) {
                        (1, Field::Bytes(s)) => Some(string(s)),
                        _ => None,
                    })
                    .collect();
                object.insert("spec".into(), json!({ "finalizers": finalizers }));
            }
            ("ConfigMap", 2, Field::Bytes(b)) => map_entry(&mut data, b, string)?,
            ("ConfigMap", 3, Field::Bytes(b)) => map_entry(&mut second, b, base64_bytes)?,
            ("ConfigMap", 4, Field::Varint(v)) | ("Secret", 5, Field::Varint(v)) => {
                object.insert("immutable".into(), json!(v != 0));
            }
            ("Secret", 2, Field::Bytes(b)) => map_entry(&mut data, b, base64_bytes)?,
            ("Secret", 3, Field::Bytes(b)) => {
                object.insert("type".into(), string(b));
            }
            ("Secret", 4, Field::Bytes(b)) => map_entry(&mut second, b, string)?,
            ("ServiceAccount", 4, Field::Varint(v)) => {
                object.insert("automountServiceAccountToken".into(), json!(v != 0));
            }
            ("Namespace" | "ConfigMap" | "Secret" | "ServiceAccount", _, _) => {}
            _ => {
                return Err(ApiError::new(
                    415,
                    "UnsupportedMediaType",
                    format!("the sandbox API server reads protobuf only for Namespace, ConfigMap, Secret and ServiceAccount, not {kind}; send JSON"),
                ))
            }
        }
    }
    if !data.is_empty() {
        object.insert("data".into(), Value::Object(data));
    }
    if !second.is_empty() {
        let key = if kind == "Secret" {
            "stringData"
        } else {
            "binaryData"
        };
        object.insert(key.into(), Value::Object(second));
    }
    Ok(Value::Object(object))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(n: u64, bytes: &[u8]) -> Vec<u8> {
        let mut out = vec![((n << 3) | 2) as u8, bytes.len() as u8];
        out.extend_from_slice(bytes);
        out
    }

    #[test]
    fn decodes_a_configmap() {
        let meta = [
            field(1, b"cm"),
            field(11, &[field(1, b"a"), field(2, b"b")].concat()),
        ]
        .concat();
        let raw = [
            field(1, &meta),
            field(2, &[field(1, b"k"), field(2, b"v")].concat()),
        ]
        .concat();
        let type_meta = [field(1, b"v1"), field(2, b"ConfigMap")].concat();
        let body = [b"k8s\0".to_vec(), field(1, &type_meta), field(2, &raw)].concat();
        let v = decode(&body).expect("decodes");
        assert_eq!(
            v,
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "cm", "labels": {"a": "b"}}, "data": {"k": "v"}})
        );
        assert!(decode(&body[..body.len() - 3]).is_err());
    }
}
