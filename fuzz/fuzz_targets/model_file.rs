//! Coverage-guided fuzzing of the Rust model-file loader: `ModelFile::parse`, then
//! `ModelFile::build` with the file's dtype, then one `predict`.
//!
//! The contract (the same as fuzz/fuzz_load.py's, one level down): for ANY bytes, `parse`
//! returns a file or an error whose message starts with "not a valid deepnet model file:";
//! a file that parses builds (or fails with such an error: the Python binding turns it into
//! the same ValueError), and the network it builds predicts on a well-shaped input. Anything
//! else is a finding: a panic, an abort (e.g. an allocation sized by the file before it was
//! validated; run with -rss_limit_mb), a hang, or an error of the wrong kind.
//!
//!     cargo +nightly fuzz run model_file -- -max_total_time=600 -rss_limit_mb=4096
//!
//! With DEEPNET_FUZZ_DEBUG=1 in the environment it prints how far each input got (for
//! reproducing an artifact: `cargo +nightly fuzz run model_file ARTIFACT`).

#![no_main]

use deepnet::model_file::{DType, ModelFile};
use deepnet::{Float, Network};
use libfuzzer_sys::fuzz_target;
use ndarray::{ArrayD, IxDyn};
use std::sync::LazyLock;

const PREFIX: &str = "not a valid deepnet model file:";

static DEBUG: LazyLock<bool> = LazyLock::new(|| std::env::var_os("DEEPNET_FUZZ_DEBUG").is_some());

macro_rules! debug {
    ($($arg:tt)*) => {
        if *DEBUG {
            eprintln!($($arg)*);
        }
    };
}

/// The most elements one predict may touch: the input and every layer's output of a batch of
/// 2 examples. Every size of a network that parses is backed by the file's own tensors (the
/// last layer is dense, so n_x and each width are bounded by the file's bytes), so this only
/// skips predict for inputs far larger than libFuzzer's -max_len.
const PREDICT_BUDGET: usize = 1 << 26;

fuzz_target!(|data: &[u8]| {
    let file = match ModelFile::parse(data) {
        Ok(file) => file,
        Err(e) => {
            let msg = e.to_string();
            debug!("parse: Err: {msg}");
            assert!(
                msg.starts_with(PREFIX),
                "parse: error without the prefix: {msg}"
            );
            return;
        }
    };
    match file.dtype() {
        DType::F32 => use_model(file.build::<f32>()),
        DType::F64 => use_model(file.build::<f64>()),
    }
    // the binding returns the architecture as validated, as JSON
    if let Err(e) = serde_json::to_string(&file.architecture) {
        panic!("the validated architecture does not serialize: {e}");
    }
});

fn use_model<F: Float>(built: deepnet::Result<Network<F>>) {
    let mut net = match built {
        Ok(net) => net,
        Err(e) => {
            let msg = e.to_string();
            debug!("build: Err: {msg}");
            assert!(
                msg.starts_with(PREFIX),
                "build after a successful parse: {msg}"
            );
            return;
        }
    };
    // one example's input shape: [n_x] for a dense network (format 1's n_x), any axes in
    // format 2's input_shape; X is that shape plus a batch axis of m examples
    let mut shape = net.input_shape().to_vec();
    let m = 2;
    let widest = net
        .layers()
        .iter()
        .map(|l| elements(l.output_shape()))
        .fold(elements(&shape), usize::max);
    if widest
        .saturating_mul(m)
        .saturating_mul(net.layers().len() + 1)
        > PREDICT_BUDGET
    {
        debug!("built; predict skipped (input {shape:?}, widest layer {widest})");
        return;
    }
    shape.push(m);
    let x = ArrayD::<F>::zeros(IxDyn(&shape));
    let y = net
        .predict(x.view())
        .unwrap_or_else(|e| panic!("a loaded model failed to predict on zeros {shape:?}: {e}"));
    assert_eq!(y.shape(), [net.n_y(), m], "predictions' shape");
    debug!(
        "built and predicted: {:?} from X of shape {:?}",
        y.shape(),
        shape
    );
}

/// The number of elements of `shape` (saturating: the harness itself must not overflow).
fn elements(shape: &[usize]) -> usize {
    shape.iter().fold(1usize, |n, &d| n.saturating_mul(d))
}
