//! Helpers for the tagged JSON schemas (layer specs, learning-rate schedules): `{"type": name,
//! ...fields}` read through a config struct per type, so that an error names its field
//! (`units: invalid value: integer -1, expected usize`), which serde's internally tagged enums
//! cannot do (they buffer the fields and lose the path).

use serde::de::{DeserializeOwned, Error};
use serde_json::{Map, Value};

/// Removes and returns the `"type"` tag of a tagged object.
pub(crate) fn take_tag<E: Error>(fields: &mut Map<String, Value>) -> Result<String, E> {
    match fields.remove("type") {
        Some(Value::String(kind)) => Ok(kind),
        Some(other) => Err(E::custom(format!(
            "type: expected a type name, got {other}"
        ))),
        None => Err(E::custom("missing field `type`")),
    }
}

/// Deserializes a config struct from an object's fields (the tag removed), with the failing
/// field's name in the error.
pub(crate) fn config<T: DeserializeOwned, E: Error>(fields: Map<String, Value>) -> Result<T, E> {
    serde_path_to_error::deserialize(Value::Object(fields)).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." {
            E::custom(inner)
        } else {
            E::custom(format!("{path}: {inner}"))
        }
    })
}
