//! The specs of conv1d and conv2d, in Keras' names; an integer or a pair for each size.

use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use super::{Conv, ConvGeometry, Padding};
use crate::activation::Activation;
use crate::error::{CoreError, Result};
use crate::layer::Layer;
use crate::layers::{LayerConfig, LayerPlan};
use crate::limits::{check_extent, elements, MAX_TENSOR_ELEMENTS};
use crate::scalar::Float;

/// A spatial size in a convolution's spec (`kernel_size`, `strides`, `dilation_rate`, zero
/// `padding`): an integer ([`usize`]) for conv1d, an integer or a pair ([`Size2`]) for conv2d.
/// The type fixes the layer type of [`ConvConfig`].
pub trait SpatialSize:
    Copy + std::fmt::Debug + PartialEq + Serialize + DeserializeOwned + Send + Sync + 'static
{
    /// The layer type ("conv1d", "conv2d").
    const KIND: &'static str;
    /// Spatial axes of one example: 1 (length) or 2 (height, width).
    const AXES: usize;
    /// One example's input, as error messages describe it.
    const INPUT: &'static str;
    /// The same size along every axis.
    fn splat(n: usize) -> Self;
    /// The geometry over one example's spatial extents (`AXES` of them).
    fn geometry(
        input: &[usize],
        kernel: Self,
        strides: Self,
        dilation: Self,
        padding: Padding<Self>,
    ) -> Result<ConvGeometry>;
}

impl SpatialSize for usize {
    const KIND: &'static str = "conv1d";
    const AXES: usize = 1;
    const INPUT: &'static str = "(channels, length)";

    fn splat(n: usize) -> Self {
        n
    }

    fn geometry(
        input: &[usize],
        kernel: usize,
        strides: usize,
        dilation: usize,
        padding: Padding<usize>,
    ) -> Result<ConvGeometry> {
        ConvGeometry::new_1d(input[0], kernel, strides, dilation, padding)
    }
}

/// A conv2d size: one integer for both axes, or a pair `[height, width]`. Serialized as given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Size2 {
    /// The same size along the height and the width.
    Square(usize),
    /// `[height, width]`.
    Pair([usize; 2]),
}

impl Size2 {
    /// `[height, width]`.
    pub fn pair(self) -> [usize; 2] {
        match self {
            Size2::Square(n) => [n, n],
            Size2::Pair(p) => p,
        }
    }
}

impl From<usize> for Size2 {
    fn from(n: usize) -> Self {
        Size2::Square(n)
    }
}

impl From<[usize; 2]> for Size2 {
    fn from(p: [usize; 2]) -> Self {
        Size2::Pair(p)
    }
}

impl Serialize for Size2 {
    fn serialize<Ser: Serializer>(
        &self,
        serializer: Ser,
    ) -> std::result::Result<Ser::Ok, Ser::Error> {
        match self {
            Size2::Square(n) => n.serialize(serializer),
            Size2::Pair(p) => p.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Size2 {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        let size = match value {
            Value::Array(_) => serde_json::from_value(value).map(Size2::Pair),
            _ => serde_json::from_value(value).map(Size2::Square),
        };
        size.map_err(|e| {
            D::Error::custom(format!(
                "expected a positive integer or a pair [height, width]: {e}"
            ))
        })
    }
}

impl SpatialSize for Size2 {
    const KIND: &'static str = "conv2d";
    const AXES: usize = 2;
    const INPUT: &'static str = "(channels, height, width)";

    fn splat(n: usize) -> Self {
        Size2::Square(n)
    }

    fn geometry(
        input: &[usize],
        kernel: Size2,
        strides: Size2,
        dilation: Size2,
        padding: Padding<Size2>,
    ) -> Result<ConvGeometry> {
        ConvGeometry::new(
            [input[0], input[1]],
            kernel.pair(),
            strides.pair(),
            dilation.pair(),
            padding.map(Size2::pair),
        )
    }
}

impl<S: Serialize> Serialize for Padding<S> {
    fn serialize<Ser: Serializer>(
        &self,
        serializer: Ser,
    ) -> std::result::Result<Ser::Ok, Ser::Error> {
        match self {
            Padding::Valid => serializer.serialize_str("valid"),
            Padding::Same => serializer.serialize_str("same"),
            Padding::Zeros(p) => p.serialize(serializer),
        }
    }
}

impl<'de, S: DeserializeOwned> Deserialize<'de> for Padding<S> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        match Value::deserialize(deserializer)? {
            Value::String(name) => match name.as_str() {
                "valid" => Ok(Padding::Valid),
                "same" => Ok(Padding::Same),
                other => Err(D::Error::custom(format!(
                    "unknown padding {other:?}: expected \"valid\", \"same\" or a number of zeros"
                ))),
            },
            value => serde_json::from_value(value)
                .map(Padding::Zeros)
                .map_err(|e| {
                    D::Error::custom(format!(
                        "expected \"valid\", \"same\" or a number of zeros: {e}"
                    ))
                }),
        }
    }
}

/// A convolution's spec, in Keras' names: `{"type": "conv2d", "filters": 8, "kernel_size": 3,
/// "strides": 1, "padding": "same", "dilation_rate": 1, "activation": "relu", "l2": 0.0}`, all
/// but `filters` and `kernel_size` optional (defaults: 1, "valid", 1, "linear", 0).
/// `S` is `usize` for conv1d ([`Conv1DConfig`]) and [`Size2`] for conv2d ([`Conv2DConfig`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    bound(serialize = "S: SpatialSize", deserialize = "S: SpatialSize")
)]
pub struct ConvConfig<S> {
    /// The number of filters: the output's channels.
    pub filters: usize,
    /// (kh, kw), or k for conv1d.
    pub kernel_size: S,
    /// The step between two output positions, in input positions.
    #[serde(default = "one")]
    pub strides: S,
    /// "valid", "same" or a number of zeros per side.
    #[serde(default = "valid")]
    pub padding: Padding<S>,
    /// The step between two weights of a filter, in input positions.
    #[serde(default = "one")]
    pub dilation_rate: S,
    /// g^[l].
    #[serde(default = "linear")]
    pub activation: Activation,
    /// λ of the L2 penalty (λ/2)·‖W‖².
    #[serde(default, skip_serializing_if = "is_zero")]
    pub l2: f64,
}

/// conv1d's spec: sizes are integers.
pub type Conv1DConfig = ConvConfig<usize>;
/// conv2d's spec: sizes are integers or pairs `[height, width]`.
pub type Conv2DConfig = ConvConfig<Size2>;

fn one<S: SpatialSize>() -> S {
    S::splat(1)
}

fn valid<S>() -> Padding<S> {
    Padding::Valid
}

fn linear() -> Activation {
    Activation::Linear
}

fn is_zero(v: &f64) -> bool {
    *v == 0.0
}

impl<S: SpatialSize> ConvConfig<S> {
    /// A spec with the defaults: strides 1, "valid", dilation 1, linear, no L2.
    pub fn new(filters: usize, kernel_size: S) -> Self {
        ConvConfig {
            filters,
            kernel_size,
            strides: S::splat(1),
            padding: Padding::Valid,
            dilation_rate: S::splat(1),
            activation: Activation::Linear,
            l2: 0.0,
        }
    }

    /// The number of input channels and the geometry over `input_shape` (one example's):
    /// checks every field, before anything is allocated.
    pub fn geometry(&self, input_shape: &[usize]) -> Result<(usize, ConvGeometry)> {
        let l2 = self.l2;
        if !(l2.is_finite() && l2 >= 0.0) {
            return Err(CoreError::Value(format!(
                "l2: expected a finite number >= 0, got {l2}"
            )));
        }
        check_extent("filters", self.filters)?;
        if input_shape.len() != S::AXES + 1 {
            return Err(CoreError::Shape(format!(
                "{} takes {} per example, got input shape {input_shape:?}",
                S::KIND,
                S::INPUT
            )));
        }
        let channels = check_extent("the number of input channels", input_shape[0])?;
        let geometry = S::geometry(
            &input_shape[1..],
            self.kernel_size,
            self.strides,
            self.dilation_rate,
            self.padding,
        )?;
        Ok((channels, geometry))
    }
}

impl<S: SpatialSize> LayerConfig for ConvConfig<S> {
    fn plan(&self, input_shape: &[usize]) -> Result<LayerPlan> {
        let (channels, g) = self.geometry(input_shape)?;
        let spatial = 2 - S::AXES;
        let output_shape = [&[self.filters][..], &g.output()[spatial..]].concat();
        let w_shape = [&[self.filters, channels][..], &g.kernel()[spatial..]].concat();
        elements("W", &w_shape, MAX_TENSOR_ELEMENTS)?;
        elements("one example's output", &output_shape, MAX_TENSOR_ELEMENTS)?;
        Ok(LayerPlan {
            output_shape,
            params: vec![("W".into(), w_shape), ("b".into(), vec![self.filters, 1])],
        })
    }

    fn build<F: Float>(&self, input_shape: &[usize]) -> Result<Box<dyn Layer<F>>> {
        Ok(Box::new(Conv::new(self, input_shape)?))
    }

    fn output_activation(&self) -> Option<Activation> {
        Some(self.activation)
    }
}
