//! Model files: tensors in the safetensors format, with string metadata (the architecture,
//! as JSON, is the caller's). The format holds only a JSON header and raw little-endian
//! numbers, so reading a file can never run code; every malformed file is an error.

use std::collections::HashMap;

use ndarray::{ArrayD, IxDyn};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::error::{CoreError, Result};

/// A tensor of either float type.
#[derive(Clone, Debug, PartialEq)]
pub enum Tensor {
    F32(ArrayD<f32>),
    F64(ArrayD<f64>),
}

impl Tensor {
    fn dtype(&self) -> Dtype {
        match self {
            Tensor::F32(_) => Dtype::F32,
            Tensor::F64(_) => Dtype::F64,
        }
    }

    fn shape(&self) -> Vec<usize> {
        match self {
            Tensor::F32(a) => a.shape().to_vec(),
            Tensor::F64(a) => a.shape().to_vec(),
        }
    }

    fn le_bytes(&self) -> Vec<u8> {
        match self {
            Tensor::F32(a) => a.iter().flat_map(|v| v.to_le_bytes()).collect(),
            Tensor::F64(a) => a.iter().flat_map(|v| v.to_le_bytes()).collect(),
        }
    }
}

/// Serializes `tensors` (names must be unique) and `metadata` to safetensors bytes.
pub fn to_safetensors(
    tensors: &[(String, Tensor)],
    metadata: HashMap<String, String>,
) -> Result<Vec<u8>> {
    let bytes: Vec<Vec<u8>> = tensors.iter().map(|(_, t)| t.le_bytes()).collect();
    let views = tensors
        .iter()
        .zip(&bytes)
        .map(|((name, t), b)| {
            TensorView::new(t.dtype(), t.shape(), b)
                .map(|v| (name.as_str(), v))
                .map_err(|e| CoreError::Value(format!("tensor {name:?}: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut bytes = safetensors::serialize(views, Some(metadata))
        .map_err(|e| CoreError::Value(format!("could not write the model file: {e}")))?;
    sort_header(&mut bytes);
    Ok(bytes)
}

/// Rewrites the header with its keys sorted (the metadata arrives as a `HashMap`, whose order
/// changes from map to map), so that the same model always gives the same bytes. Same keys and
/// values, so the same length: the data offsets stay valid.
fn sort_header(bytes: &mut [u8]) {
    let Some(len) = bytes
        .first_chunk::<8>()
        .and_then(|n| usize::try_from(u64::from_le_bytes(*n)).ok())
    else {
        return;
    };
    let Some(header) = bytes.get_mut(8..8 + len) else {
        return;
    };
    // serde_json's Map is a BTreeMap: parsing and writing back sorts every object's keys
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(header.trim_ascii_end()) else {
        return;
    };
    let Ok(sorted) = serde_json::to_vec(&value) else {
        return;
    };
    if sorted.len() <= header.len() {
        header[..sorted.len()].copy_from_slice(&sorted);
        header[sorted.len()..].fill(b' '); // safetensors pads headers with spaces
    }
}

/// A model file's contents: its string metadata and its named tensors, sorted by name.
pub type Contents = (HashMap<String, String>, Vec<(String, Tensor)>);

/// Copies a safetensors tensor (float32 or float64, little-endian) into an array.
pub fn tensor_from_view(name: &str, view: &TensorView<'_>) -> Result<Tensor> {
    let shape = IxDyn(view.shape());
    let data = view.data();
    let err = |e: ndarray::ShapeError| CoreError::Value(format!("tensor {name:?}: {e}"));
    Ok(match view.dtype() {
        Dtype::F32 => Tensor::F32(
            ArrayD::from_shape_vec(
                shape,
                data.chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
            )
            .map_err(err)?,
        ),
        Dtype::F64 => Tensor::F64(
            ArrayD::from_shape_vec(
                shape,
                data.chunks_exact(8)
                    .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
                    .collect(),
            )
            .map_err(err)?,
        ),
        other => {
            return Err(CoreError::Value(format!(
                "tensor {name:?} has dtype {other:?}; deepnet files hold F32 or F64"
            )))
        }
    })
}

/// The float types a model file holds, and how to take an array of one out of a [`Tensor`].
pub trait TensorElement: crate::scalar::Float {
    /// The safetensors dtype of this type.
    const SAFETENSORS_DTYPE: Dtype;
    /// The array, if `t` holds this type.
    fn take(t: Tensor) -> Option<ArrayD<Self>>;
}

impl TensorElement for f32 {
    const SAFETENSORS_DTYPE: Dtype = Dtype::F32;
    fn take(t: Tensor) -> Option<ArrayD<f32>> {
        match t {
            Tensor::F32(a) => Some(a),
            Tensor::F64(_) => None,
        }
    }
}

impl TensorElement for f64 {
    const SAFETENSORS_DTYPE: Dtype = Dtype::F64;
    fn take(t: Tensor) -> Option<ArrayD<f64>> {
        match t {
            Tensor::F64(a) => Some(a),
            Tensor::F32(_) => None,
        }
    }
}

/// Parses safetensors bytes: the metadata and every tensor (float32 or float64 only).
pub fn from_safetensors(bytes: &[u8]) -> Result<Contents> {
    let bad = |what: String| CoreError::Value(format!("not a valid deepnet model file: {what}"));
    if bytes.is_empty() {
        return Err(bad("the file is empty".into()));
    }
    let parsed = SafeTensors::deserialize(bytes).map_err(|e| bad(format!("{e}")))?;
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| bad(format!("{e}")))?;
    let metadata = header.metadata().clone().unwrap_or_default();
    let mut tensors = Vec::new();
    for (name, view) in parsed.tensors() {
        let tensor = tensor_from_view(&name, &view).map_err(|e| bad(e.to_string()))?;
        tensors.push((name, tensor));
    }
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    Ok((metadata, tensors))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn round_trip_and_malformed_files() {
        let tensors = vec![
            (
                "a".to_string(),
                Tensor::F32(array![[1.5f32, -2.0]].into_dyn()),
            ),
            ("b".to_string(), Tensor::F64(array![3.25f64].into_dyn())),
        ];
        let meta = HashMap::from([("format".to_string(), "deepnet".to_string())]);
        let bytes = to_safetensors(&tensors, meta.clone()).unwrap();
        let mut many = meta.clone();
        for k in 0..20 {
            many.insert(format!("key{k}"), k.to_string());
        }
        assert_eq!(
            to_safetensors(&tensors, many.clone()).unwrap(),
            // another map of the same entries: another random iteration order
            to_safetensors(&tensors, many.into_iter().collect()).unwrap(),
            "the same contents give the same bytes"
        );
        let (m, t) = from_safetensors(&bytes).unwrap();
        assert_eq!((m, t), (meta, tensors));
        assert!(from_safetensors(&[]).is_err());
        assert!(from_safetensors(&bytes[..bytes.len() - 3]).is_err()); // truncated
        assert!(from_safetensors(b"\x80\x04\x95garbage pickle").is_err());
        let mut huge = (u64::MAX / 2).to_le_bytes().to_vec();
        huge.extend_from_slice(b"{}");
        assert!(from_safetensors(&huge).is_err()); // oversized header
    }
}
