//! deepnet: deep neural networks in the notation of the lecture "RNA profunda (deep learning),
//! gradiente descendente". Examples are columns: X is (n_x, m), W^[l] is (n^[l], n^[l-1]),
//! b^[l] is (n^[l], 1). Equation numbers in comments, e.g. `(12)`, are the lecture's.
//!
//! The core (everything but `python`) is plain ndarray in, ndarray out, with no PyO3.

pub mod activation;
pub mod data_parallel;
pub mod error;
pub mod io;
pub mod layer;
pub mod layers;
pub mod limits;
pub mod loss;
pub mod matmul;
pub mod model_file;
pub mod network;
pub mod optimizers;
pub mod rng;
pub mod scalar;
mod schema;
pub mod simd;
pub mod team;
pub mod training;

#[cfg(feature = "python")]
mod python;

pub use activation::Activation;
pub use error::{CoreError, Result};
pub use layer::{Layer, Upstream, Workspace};
pub use layers::conv::{Conv, Conv1DConfig, Conv2DConfig, ConvConfig, ConvGeometry};
pub use layers::recurrent::{
    Bidirectional, BidirectionalConfig, Cell, GruConfig, LstmConfig, Recurrent, RecurrentSpec,
    SimpleRnnConfig,
};
pub use layers::{
    AveragePooling1DConfig, AveragePooling2DConfig, Dense, DenseConfig, Dropout, DropoutConfig,
    Flatten, FlattenConfig, GlobalAveragePooling1DConfig, GlobalAveragePooling2DConfig,
    GlobalMaxPooling1DConfig, GlobalMaxPooling2DConfig, LayerConfig, LayerPlan, LayerSpec,
    MaxPooling1DConfig, MaxPooling2DConfig, Pooling,
};
pub use loss::Loss;
pub use model_file::{Architecture, ModelFile};
pub use network::{Checkpoint, EpochEnd, EpochReport, FitOptions, FitReport, Network, StopReason};
pub use optimizers::{sgd_update, Optimizer, OptimizerConfig, OptimizerKind, Schedule};
pub use rng::RngState;
pub use scalar::Float;
