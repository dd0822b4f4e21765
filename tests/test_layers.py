"""Every layer's forward and backward against an independent NumPy implementation.

The reference below shares no code with deepnet: convolution and pooling are direct loops over
output positions and kernel taps, each recurrent cell is an explicit loop over time. Backward
passes are written out for Dense, Conv1D/2D (loops), the poolings, Flatten, SimpleRNN and GRU
(backpropagation through time) and Bidirectional of those; LSTM (alone and in Bidirectional)
is differentiated numerically from the NumPy forward. The numerical derivative is the complex
step, a finite difference in the imaginary direction: J(θ + ih·e_k) = J(θ) + ih·∂J/∂θ_k + O(h²),
so ∂J/∂θ_k = Im J(θ + ih·e_k) / h with no subtraction, exact to rounding, which lets every
float64 comparison use the same 1e-10 relative tolerance. The explicit backward passes are
themselves checked against the complex step.

Layout (deepnet's): the example axis is last; signals (channels, length, m), images (channels,
height, width, m), sequences (features, time, m). Equation numbers are those of
/work/shared/lecture/NOTATION.md; J is mse, (1/m) Σ_i (1/n_y) Σ_k (ŷ − y)², as in the README.

Deepnet's per-layer results are reached through small float64 models: the layer under test
followed by Flatten (forward: ``predict`` then is the layer's output, flattened row-major), or
a k = 1 convolution before it (so that its dA_prev (14) reaches a parameter) and Flatten +
a linear Dense after it (so that dA of the layer is known), comparing every gradient.
"""

from __future__ import annotations

import itertools
import pickle
import re

import deepnet as dn
import numpy as np
import pytest

RTOL = 1e-10
M = 3  # examples per batch


# ------------------------------------------------------------------------------------------------
# The NumPy reference
# ------------------------------------------------------------------------------------------------


def g(name, Z):
    """(10) A = g(Z), element by element; complex-safe (relu's kink is decided on Re z)."""
    if name == "linear":
        return Z
    if name == "tanh":
        return np.tanh(Z)
    if name == "relu":
        return np.where(Z.real > 0, Z, 0.0)
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-Z))
    if name == "softmax":
        E = np.exp(Z - Z.real.max(axis=0, keepdims=True))
        return E / E.sum(axis=0, keepdims=True)
    raise AssertionError(name)


def g_prime(name, Z):
    """g'(Z), the factor of (11)."""
    if name == "linear":
        return np.ones_like(Z)
    if name == "tanh":
        return 1.0 - np.tanh(Z) ** 2
    if name == "relu":
        return (Z > 0).astype(np.float64)
    if name == "sigmoid":
        s = g("sigmoid", Z)
        return s * (1.0 - s)
    raise AssertionError(name)


def sigmoid(Z):
    return 1.0 / (1.0 + np.exp(-Z))


def _sizes(value, dims):
    """An int or a list/tuple as a tuple of `dims` ints."""
    if isinstance(value, (list, tuple)):
        assert len(value) == dims
        return tuple(int(v) for v in value)
    return (int(value),) * dims


def _dtype(*arrays):
    return np.result_type(*arrays, np.float64)


def conv_geometry(L, k, s, d, padding):
    """Output length and zeros before the input along one axis of a convolution.

    "valid": none; "same": output ⌈L/s⌉, the total padding split with the odd extra zero at
    the end (Keras); an int p: p zeros on both sides (PyTorch)."""
    span = (k - 1) * d + 1
    if padding == "valid":
        lo = hi = 0
    elif padding == "same":
        out = -(-L // s)
        total = max((out - 1) * s + span - L, 0)
        lo, hi = total // 2, total - total // 2
    else:
        lo = hi = int(padding)
    out = (L + lo + hi - span) // s + 1
    if padding == "same":
        assert out == -(-L // s)
    return out, lo


def pool_geometry(L, k, s, padding):
    """Output length and padding before the input along one axis of a pooling (Keras' rule)."""
    if padding == "valid":
        return (L - k) // s + 1, 0
    out = -(-L // s)
    total = max((out - 1) * s + k - L, 0)
    return out, total // 2


class RefDense:
    def __init__(self, activation):
        self.activation = activation

    def forward(self, params, A):
        W, b = params
        Z = W @ A + b  # (9)
        return g(self.activation, Z), (A, Z)  # (10)

    def backward(self, params, cache, dA):
        W, _ = params
        A, Z = cache
        m = A.shape[-1]
        if self.activation == "softmax":
            S = g("softmax", Z)
            dZ = S * dA - S * np.sum(S * dA, axis=0, keepdims=True)
        else:
            dZ = dA * g_prime(self.activation, Z)  # (11)
        return [dZ @ A.T / m, dZ.sum(axis=1, keepdims=True) / m], W.T @ dZ  # (12)-(14)


class RefConv:
    """Conv1D and Conv2D: cross-correlation by direct loops over filters, output positions,
    channels and kernel taps (the example axis is vectorized)."""

    def __init__(self, dims, strides, padding, dilation_rate, activation, **_):
        self.dims = dims
        self.s = _sizes(strides, dims)
        self.d = _sizes(dilation_rate, dims)
        self.padding = padding if isinstance(padding, str) else _sizes(padding, dims)
        self.activation = activation

    def _geometry(self, W, A):
        K, S = W.shape[2:], A.shape[1:-1]
        geo = [
            conv_geometry(
                S[a],
                K[a],
                self.s[a],
                self.d[a],
                self.padding if isinstance(self.padding, str) else self.padding[a],
            )
            for a in range(self.dims)
        ]
        return K, S, tuple(o for o, _ in geo), tuple(lo for _, lo in geo)

    def _taps(self, W, A):
        """(f, p, c, j, q): filter f at output position p reads input position q with tap j
        of channel c, for every q inside the input (the others read zero padding)."""
        F, C = W.shape[:2]
        K, S, out, lo = self._geometry(W, A)
        for f, p, c, j in itertools.product(range(F), np.ndindex(*out), range(C), np.ndindex(*K)):
            q = tuple(p[a] * self.s[a] + j[a] * self.d[a] - lo[a] for a in range(self.dims))
            if all(0 <= q[a] < S[a] for a in range(self.dims)):
                yield f, p, c, j, q

    def forward(self, params, A):
        W, b = params
        _, _, out, _ = self._geometry(W, A)
        Z = np.zeros((W.shape[0], *out, A.shape[-1]), dtype=_dtype(W, b, A))
        for f in range(W.shape[0]):
            Z[f] = b[f, 0]
        for f, p, c, j, q in self._taps(W, A):
            Z[(f, *p)] += W[(f, c, *j)] * A[(c, *q)]  # (9)
        return g(self.activation, Z), (A, Z)  # (10)

    def backward(self, params, cache, dA):
        W, b = params
        A, Z = cache
        m = A.shape[-1]
        dZ = dA * g_prime(self.activation, Z)  # (11)
        dW = np.zeros_like(W)
        dA_prev = np.zeros_like(A)
        for f, p, c, j, q in self._taps(W, A):
            dW[(f, c, *j)] += dZ[(f, *p)] @ A[(c, *q)] / m  # (12)
            dA_prev[(c, *q)] += W[(f, c, *j)] * dZ[(f, *p)]  # (14)
        db = dZ.reshape(dZ.shape[0], -1).sum(axis=1, keepdims=True) / m  # (13)
        return [dW, db], dA_prev


class RefPool:
    """Max and average pooling by direct loops over windows; padded positions never win the
    max and are not counted by the average."""

    def __init__(self, op, dims, pool_size, strides, padding):
        self.op, self.dims, self.padding = op, dims, padding
        self.k = _sizes(pool_size, dims)
        self.s = self.k if strides is None else _sizes(strides, dims)

    def _windows(self, A):
        """The output shape, and (p, [q, ...]): each output position and the input positions
        of its window (padding left out)."""
        S = A.shape[1:-1]
        geo = [pool_geometry(S[a], self.k[a], self.s[a], self.padding) for a in range(self.dims)]
        out = tuple(o for o, _ in geo)
        windows = []
        for p in np.ndindex(*out):
            qs = []
            for j in np.ndindex(*self.k):
                q = tuple(p[a] * self.s[a] + j[a] - geo[a][1] for a in range(self.dims))
                if all(0 <= q[a] < S[a] for a in range(self.dims)):
                    qs.append(q)
            assert qs, "a window of padding only"
            windows.append((p, qs))
        return out, windows

    def forward(self, params, A):
        shape, windows = self._windows(A)
        C, m = A.shape[0], A.shape[-1]
        out = np.zeros((C, *shape, m), dtype=A.dtype)
        argmax = {}
        for c in range(C):
            for p, qs in windows:
                vals = np.stack([A[(c, *q)] for q in qs])  # (window, m)
                if self.op == "max":
                    win = np.argmax(vals.real, axis=0)
                    out[(c, *p)] = vals[win, np.arange(m)]
                    argmax[(c, p)] = [qs[w] for w in win]
                else:
                    out[(c, *p)] = vals.sum(axis=0) / len(qs)  # real positions only
        return out, (A, windows, argmax)

    def backward(self, params, cache, dA):
        A, windows, argmax = cache
        dA_prev = np.zeros_like(A)
        for c in range(A.shape[0]):
            for p, qs in windows:
                if self.op == "max":
                    for i, q in enumerate(argmax[(c, p)]):
                        dA_prev[(c, *q, i)] += dA[(c, *p, i)]
                else:
                    for q in qs:
                        dA_prev[(c, *q)] += dA[(c, *p)] / len(qs)
        return [], dA_prev


class RefGlobal:
    def __init__(self, op):
        self.op = op

    def forward(self, params, A):
        C, m = A.shape[0], A.shape[-1]
        flat = A.reshape(C, -1, m)  # (C, positions, m)
        if self.op == "max":
            win = np.argmax(flat.real, axis=1)  # (C, m)
            return np.take_along_axis(flat, win[:, None, :], axis=1)[:, 0, :], (A, win)
        return flat.sum(axis=1) / flat.shape[1], (A, None)

    def backward(self, params, cache, dA):
        A, win = cache
        C, m = A.shape[0], A.shape[-1]
        dflat = np.zeros((C, int(np.prod(A.shape[1:-1])), m))
        if self.op == "max":
            for c in range(C):
                for i in range(m):
                    dflat[c, win[c, i], i] = dA[c, i]
        else:
            dflat += dA[:, None, :] / dflat.shape[1]
        return [], dflat.reshape(A.shape)


class RefFlatten:
    """(C, L, m) → (C·L, m), row c·L + l (likewise for images)."""

    def forward(self, params, A):
        return A.reshape(-1, A.shape[-1]), A.shape

    def backward(self, params, shape, dA):
        return [], dA.reshape(shape)


class RefIdentity:
    """Dropout outside training."""

    def forward(self, params, A):
        return A, None

    def backward(self, params, cache, dA):
        return [], dA


def _last_or_all(Hs, return_sequences):
    return np.stack(Hs, axis=1) if return_sequences else Hs[-1]


def _dH(dA, T, return_sequences):
    """dh_t coming from the layer's output: every step's, or only the last one's."""
    if return_sequences:
        return [dA[:, t] for t in range(T)]
    return [np.zeros_like(dA)] * (T - 1) + [dA]


class RefSimpleRNN:
    """z_t = Wx x_t + bx + Wh h_{t−1} + bh, h_t = g(z_t), h_0 = 0; backward through time."""

    def __init__(self, activation, return_sequences):
        self.activation, self.return_sequences = activation, return_sequences

    def forward(self, params, X):
        Wx, Wh, bx, bh = params
        h = np.zeros((Wh.shape[1], X.shape[-1]), dtype=_dtype(Wx, X))
        Hs, Zs = [h], []
        for t in range(X.shape[1]):
            Zs.append(Wx @ X[:, t] + bx + Wh @ Hs[-1] + bh)  # (9)
            Hs.append(g(self.activation, Zs[-1]))  # (10)
        return _last_or_all(Hs[1:], self.return_sequences), (X, Hs, Zs)

    def backward(self, params, cache, dA):
        Wx, Wh, bx, bh = params
        X, Hs, Zs = cache
        T, m = X.shape[1], X.shape[-1]
        dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(bx)
        dX = np.zeros_like(X)
        dh_out = _dH(dA, T, self.return_sequences)
        dz_next = np.zeros_like(Hs[0])
        for t in reversed(range(T)):
            dz = (dh_out[t] + Wh.T @ dz_next) * g_prime(self.activation, Zs[t])  # (11)
            dWx += dz @ X[:, t].T
            dWh += dz @ Hs[t].T  # Hs[t] is h_{t−1}
            db += dz.sum(axis=1, keepdims=True)
            dX[:, t] = Wx.T @ dz  # (14)
            dz_next = dz
        return [dWx / m, dWh / m, db / m, db / m], dX


class RefGRU:
    """PyTorch's GRU: gate blocks r, z, n; n = tanh(Wx_n x + bx_n + r ⊙ (Wh_n h + bh_n)),
    h' = (1 − z) ⊙ n + z ⊙ h; backward through time."""

    def __init__(self, return_sequences):
        self.return_sequences = return_sequences

    def forward(self, params, X):
        Wx, Wh, bx, bh = params
        u = Wh.shape[1]
        h = np.zeros((u, X.shape[-1]), dtype=_dtype(Wx, X))
        Hs, steps = [h], []
        for t in range(X.shape[1]):
            gx = Wx @ X[:, t] + bx
            gh = Wh @ h + bh
            r = sigmoid(gx[:u] + gh[:u])
            z = sigmoid(gx[u : 2 * u] + gh[u : 2 * u])
            n = np.tanh(gx[2 * u :] + r * gh[2 * u :])
            h = (1 - z) * n + z * h
            Hs.append(h)
            steps.append((r, z, n, gh[2 * u :]))
        return _last_or_all(Hs[1:], self.return_sequences), (X, Hs, steps)

    def backward(self, params, cache, dA):
        Wx, Wh, bx, bh = params
        X, Hs, steps = cache
        T, m = X.shape[1], X.shape[-1]
        dWx, dWh = np.zeros_like(Wx), np.zeros_like(Wh)
        dbx, dbh = np.zeros_like(bx), np.zeros_like(bh)
        dX = np.zeros_like(X)
        dh_out = _dH(dA, T, self.return_sequences)
        dh_next = np.zeros_like(Hs[0])
        for t in reversed(range(T)):
            r, z, n, hn = steps[t]
            h_prev = Hs[t]
            dh = dh_out[t] + dh_next
            dn_pre = dh * (1 - z) * (1 - n**2)
            dz_pre = dh * (h_prev - n) * z * (1 - z)
            dr_pre = dn_pre * hn * r * (1 - r)
            dgx = np.concatenate([dr_pre, dz_pre, dn_pre])  # ∂J/∂(Wx x + bx), blocks r, z, n
            dgh = np.concatenate([dr_pre, dz_pre, dn_pre * r])  # ∂J/∂(Wh h + bh)
            dWx += dgx @ X[:, t].T
            dbx += dgx.sum(axis=1, keepdims=True)
            dWh += dgh @ h_prev.T
            dbh += dgh.sum(axis=1, keepdims=True)
            dX[:, t] = Wx.T @ dgx
            dh_next = dh * z + Wh.T @ dgh
        return [dWx / m, dWh / m, dbx / m, dbh / m], dX


class RefLSTM:
    """PyTorch's LSTM: gate blocks i, f, g, o; c_t = f ⊙ c_{t−1} + i ⊙ g, h_t = o ⊙ tanh(c_t).
    Forward only: its gradients come from the complex step."""

    backward = None

    def __init__(self, return_sequences):
        self.return_sequences = return_sequences

    def forward(self, params, X):
        Wx, Wh, bx, bh = params
        u = Wh.shape[1]
        h = np.zeros((u, X.shape[-1]), dtype=_dtype(Wx, X))
        c = np.zeros_like(h)
        Hs = []
        for t in range(X.shape[1]):
            G = Wx @ X[:, t] + bx + Wh @ h + bh
            i, f = sigmoid(G[:u]), sigmoid(G[u : 2 * u])
            gg, o = np.tanh(G[2 * u : 3 * u]), sigmoid(G[3 * u :])
            c = f * c + i * gg
            h = o * np.tanh(c)
            Hs.append(h)
        return _last_or_all(Hs, self.return_sequences), None


class RefBidirectional:
    """The cell forward in time and a second cell on the time-reversed input; outputs
    concatenated forward units first, the backward outputs re-reversed to align with the input
    steps (return_sequences) or its last state, i.e. after input step 0."""

    def __init__(self, cell):
        self.cell = cell
        if cell.backward is None:
            self.backward = None

    def forward(self, params, X):
        out_f, cache_f = self.cell.forward(params[:4], X)
        out_b, cache_b = self.cell.forward(params[4:], X[:, ::-1])
        if self.cell.return_sequences:
            out_b = out_b[:, ::-1]
        return np.concatenate([out_f, out_b]), (cache_f, cache_b)

    def backward(self, params, cache, dA):
        u = params[1].shape[1]
        dA_b = dA[u:, ::-1] if self.cell.return_sequences else dA[u:]
        grads_f, dX_f = self.cell.backward(params[:4], cache[0], dA[:u])
        grads_b, dX_b = self.cell.backward(params[4:], cache[1], dA_b)
        return grads_f + grads_b, dX_f + dX_b[:, ::-1]


def reference_of(layer):
    """The NumPy twin of a deepnet layer, from the arguments it was declared with."""
    spec = layer.spec()
    kind = spec.pop("type")
    if kind == "dense":
        return RefDense(spec["activation"])
    if kind in ("conv1d", "conv2d"):
        return RefConv(int(kind[-2]), **spec)
    if kind.startswith(("max_pooling", "average_pooling")):
        return RefPool(kind.split("_")[0][:3], int(kind[-2]), **spec)
    if kind.startswith("global_"):
        return RefGlobal(kind.split("_")[1][:3])
    if kind == "flatten":
        return RefFlatten()
    if kind == "dropout":
        return RefIdentity()
    if kind == "simple_rnn":
        return RefSimpleRNN(spec["activation"], spec["return_sequences"])
    if kind == "gru":
        return RefGRU(spec["return_sequences"])
    if kind == "lstm":
        return RefLSTM(spec["return_sequences"])
    if kind == "bidirectional":
        return RefBidirectional(reference_of(layer.layer))
    raise AssertionError(kind)


def ref_forward(refs, params, X):
    caches, A = [], X
    for ref, p in zip(refs, params):
        A, cache = ref.forward(p, A)
        caches.append(cache)
    return A, caches


def ref_cost(refs, params, X, Y):
    """mse: J = (1/m) Σ_i (1/n_y) Σ_k (ŷ − y)² (complex-safe: no abs)."""
    Yhat, _ = ref_forward(refs, params, X)
    return np.sum((Yhat - Y) ** 2) / Y.size


def ref_gradients(refs, params, X, Y):
    """Explicit backward, (15) then (11)–(14) layer by layer: [[dW, db], [], ...]."""
    Yhat, caches = ref_forward(refs, params, X)
    dA = 2 * (Yhat - Y) / Y.shape[0]  # (15) for mse
    grads = [None] * len(refs)
    for l in reversed(range(len(refs))):
        grads[l], dA = refs[l].backward(params[l], caches[l], dA)
    return grads


def complex_step_gradients(refs, params, X, Y, h=1e-30):
    """∂J/∂θ_k = Im J(θ + ih·e_k) / h for every parameter, from the NumPy forward alone."""
    grads = []
    for l, layer_params in enumerate(params):
        layer_grads = []
        for i, theta in enumerate(layer_params):
            grad = np.zeros_like(theta)
            for k in np.ndindex(theta.shape):
                shifted = theta.astype(np.complex128)
                shifted[k] += 1j * h
                trial = [list(p) for p in params]
                trial[l][i] = shifted
                grad[k] = ref_cost(refs, trial, X, Y).imag / h
            layer_grads.append(grad)
        grads.append(layer_grads)
    return grads


def reference_gradients(refs, params, X, Y):
    """The explicit backward where every layer has one, else the complex step."""
    if all(ref.backward is not None for ref in refs):
        return ref_gradients(refs, params, X, Y)
    return complex_step_gradients(refs, params, X, Y)


# ------------------------------------------------------------------------------------------------
# Helpers
# ------------------------------------------------------------------------------------------------


def assert_close(actual, expected, rtol=RTOL):
    """Element-wise |a − e| <= rtol·(|e| + max|e|): relative to the array's scale."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale)


def assert_gradients_close(actual, expected, rtol=RTOL):
    assert len(actual) == len(expected)
    for l, (ga, ge) in enumerate(zip(actual, expected)):
        assert len(ga) == len(ge), f"layer {l + 1}: {len(ga)} gradients, expected {len(ge)}"
        for a, e in zip(ga, ge):
            assert_close(a, e, rtol)


def build(layers, input_shape, loss="mse", seed=0):
    return dn.Sequential(layers, input_shape=input_shape, loss=loss, dtype="float64", seed=seed)


def randomize(model, rng, scale=0.5):
    """Sets every parameter to N(0, scale²) values (biases too, so no ReLU state sits at its
    kink); returns them, layer by layer, for the reference."""
    params = []
    for layer in model.layers:
        weights = [rng.normal(0.0, scale, size=w.shape) for w in layer.get_weights()]
        if weights:
            layer.set_weights(weights)
        params.append(weights)
    return params


def _copy(layer):
    return type(layer).from_config(layer.get_config())


def _outputs_vectors(layers, input_shape):
    """Whether the last of `layers` outputs one vector per example (built on copies)."""
    probe = build([*map(_copy, layers), dn.Flatten()], input_shape)
    return len(probe.layers[-2].output_shape) == 1


def with_head(layers, input_shape, n_y=2):
    """`layers`, then Flatten if they output more than vectors, then Dense(n_y, linear)."""
    flatten = [] if _outputs_vectors(layers, input_shape) else [dn.Flatten()]
    return [*layers, *flatten, dn.Dense(n_y, activation="linear")]


def check_forward(layer, input_shape, rng):
    """[layer, Flatten] (or [layer] when it outputs vectors): predict against the reference."""
    flatten = [] if _outputs_vectors([layer], input_shape) else [dn.Flatten()]
    model = build([layer, *flatten], input_shape)
    params = randomize(model, rng)
    X = rng.normal(size=(*input_shape, M))
    expected, _ = ref_forward([reference_of(x) for x in model.layers], params, X)
    assert_close(model.predict(X), expected)
    return model


def check_backward(layer, input_shape, rng, n_y=2):
    """[Conv k=1, layer, Flatten (if needed), Dense(n_y)]: every gradient against the
    reference; the convolution's dW, db need the layer's dA_prev (14)."""
    conv = dn.Conv1D if len(input_shape) == 2 else dn.Conv2D
    model = build(
        with_head([conv(3, 1, activation="linear"), layer], input_shape, n_y), input_shape
    )
    params = randomize(model, rng)
    X = rng.normal(size=(*input_shape, M))
    Y = rng.normal(size=(n_y, M))
    refs = [reference_of(x) for x in model.layers]
    assert_close(model.predict(X), ref_forward(refs, params, X)[0])
    assert_close(model.cost(X, Y), ref_cost(refs, params, X, Y))
    assert_gradients_close(model.gradients(X, Y), reference_gradients(refs, params, X, Y))
    return model


# ------------------------------------------------------------------------------------------------
# Flatten and Dropout
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 4)])
def test_flatten_order_is_row_major(shape, rng):
    """(C, L, m) → row c·L + l; (C, H, W, m) → row c·H·W + y·W + x."""
    model = build([dn.Flatten()], shape)
    X = rng.normal(size=(*shape, M))
    expected = np.zeros((int(np.prod(shape)), M))
    for index in np.ndindex(*shape):
        row = sum(i * int(np.prod(shape[a + 1 :])) for a, i in enumerate(index))
        expected[row] = X[index]
    assert model.layers[0].output_shape == (int(np.prod(shape)),)
    np.testing.assert_array_equal(model.predict(X), expected)


def test_dropout_on_signals_is_the_identity_outside_training(rng):
    X = rng.normal(size=(2, 5, M))
    model = build([dn.Dropout(0.5), dn.Flatten()], (2, 5))
    assert model.layers[0].output_shape == (2, 5)
    np.testing.assert_array_equal(model.predict(X), X.reshape(10, M))
    # and its backward is the identity too: gradients as without it
    check_backward(dn.Dropout(0.4), (2, 5), rng)


# ------------------------------------------------------------------------------------------------
# Convolutions
# ------------------------------------------------------------------------------------------------

# (channels, length, filters, kernel, strides, padding, dilation, activation)
CONV1D_CASES = [
    (1, 12, 2, 3, 1, "valid", 1, "linear"),
    (2, 12, 3, 3, 2, "valid", 1, "relu"),
    (3, 11, 2, 3, 1, "same", 2, "tanh"),  # span 5: 2 zeros each side
    (2, 12, 3, 3, 2, "same", 1, "tanh"),  # total padding 1: the zero at the end
    (2, 10, 2, 3, 2, "same", 2, "relu"),  # span 5, total 3: 1 before, 2 after
    (2, 7, 2, 4, 1, "same", 1, "linear"),  # even kernel: 1 before, 2 after
    (1, 5, 2, 5, 3, "same", 1, "tanh"),  # stride > 1, kernel = length
    (2, 10, 3, 3, 1, 2, 1, "tanh"),
    (3, 9, 2, 2, 2, 1, 2, "linear"),
    (2, 6, 2, 3, 2, 1, 1, "relu"),
]


def _conv1d(case):
    C, L, F, k, s, p, d, act = case
    return (C, L), dn.Conv1D(F, k, strides=s, padding=p, dilation_rate=d, activation=act)


@pytest.mark.parametrize("case", CONV1D_CASES, ids=str)
def test_conv1d_forward(case, rng):
    shape, layer = _conv1d(case)
    model = check_forward(layer, shape, rng)
    _, L, F, k, s, p, d, _ = case
    assert model.layers[0].output_shape == (F, conv_geometry(L, k, s, d, p)[0])


@pytest.mark.parametrize("case", CONV1D_CASES, ids=str)
def test_conv1d_backward(case, rng):
    shape, layer = _conv1d(case)
    check_backward(layer, shape, rng)


# (channels, height, width, filters, kernel, strides, padding, dilation, activation)
CONV2D_CASES = [
    (1, 6, 7, 2, 3, 1, "valid", 1, "linear"),
    (2, 7, 6, 3, (2, 3), (2, 1), "same", 1, "relu"),
    (2, 8, 7, 2, 3, 2, "same", (2, 1), "tanh"),
    (3, 6, 6, 2, 3, 1, 1, 2, "tanh"),
    (2, 5, 6, 2, (3, 2), (1, 2), (2, 1), 1, "relu"),
    (1, 7, 7, 3, 2, 2, "valid", 2, "linear"),
]


def _conv2d(case):
    C, H, W, F, k, s, p, d, act = case
    return (C, H, W), dn.Conv2D(F, k, strides=s, padding=p, dilation_rate=d, activation=act)


@pytest.mark.parametrize("case", CONV2D_CASES, ids=str)
def test_conv2d_forward(case, rng):
    shape, layer = _conv2d(case)
    model = check_forward(layer, shape, rng)
    _, H, W, F, k, s, p, d, _ = case
    k, s, d = _sizes(k, 2), _sizes(s, 2), _sizes(d, 2)
    p = (p, p) if isinstance(p, str) else _sizes(p, 2)
    out = [conv_geometry(n, k[a], s[a], d[a], p[a])[0] for a, n in enumerate((H, W))]
    assert model.layers[0].output_shape == (F, *out)


@pytest.mark.parametrize("case", CONV2D_CASES, ids=str)
def test_conv2d_backward(case, rng):
    shape, layer = _conv2d(case)
    check_backward(layer, shape, rng)


# ------------------------------------------------------------------------------------------------
# Pooling
# ------------------------------------------------------------------------------------------------

# (length, pool_size, strides, padding): strides <, =, > pool_size, both paddings
POOL1D_CASES = [
    (10, 3, 2, "valid"),
    (10, 3, 2, "same"),  # total 1: the padding at the end
    (11, 3, 3, "valid"),
    (10, 3, 3, "same"),  # total 2: one each side
    (10, 2, 3, "valid"),  # stride > pool: positions skipped
    (7, 2, 3, "same"),
    (8, 3, None, "same"),  # strides default to pool_size
    (6, 4, 1, "same"),  # total 3: 1 before, 2 after
    (5, 7, None, "same"),  # a pool larger than the input, allowed with "same"
]
POOL2D_CASES = [
    (6, 7, 2, None, "valid"),
    (7, 7, 2, None, "same"),
    (6, 8, (2, 3), (1, 2), "same"),
    (7, 8, 3, 2, "valid"),
    (8, 7, (2, 2), (3, 3), "same"),
    (6, 6, 3, (3, 2), "same"),
    (5, 9, (3, 2), (2, 4), "valid"),
]
POOL_1D = {"max": dn.MaxPooling1D, "average": dn.AveragePooling1D}
POOL_2D = {"max": dn.MaxPooling2D, "average": dn.AveragePooling2D}


@pytest.mark.parametrize("op", ["max", "average"])
@pytest.mark.parametrize("case", POOL1D_CASES, ids=str)
def test_pooling1d_forward_and_backward(op, case, rng):
    L, k, s, padding = case
    layer = POOL_1D[op](k, strides=s, padding=padding)
    model = check_forward(layer, (2, L), rng)
    assert model.layers[0].output_shape == (2, pool_geometry(L, k, s or k, padding)[0])
    check_backward(POOL_1D[op](k, strides=s, padding=padding), (2, L), rng)


@pytest.mark.parametrize("op", ["max", "average"])
@pytest.mark.parametrize("case", POOL2D_CASES, ids=str)
def test_pooling2d_forward_and_backward(op, case, rng):
    H, W, k, s, padding = case
    layer = POOL_2D[op](k, strides=s, padding=padding)
    model = check_forward(layer, (2, H, W), rng)
    k2 = _sizes(k, 2)
    s2 = k2 if s is None else _sizes(s, 2)
    out = tuple(pool_geometry(n, k2[a], s2[a], padding)[0] for a, n in enumerate((H, W)))
    assert model.layers[0].output_shape == (2, *out)
    check_backward(POOL_2D[op](k, strides=s, padding=padding), (2, H, W), rng)


GLOBAL = {
    "global_average_pooling1d": (dn.GlobalAveragePooling1D, (2, 7)),
    "global_max_pooling1d": (dn.GlobalMaxPooling1D, (2, 7)),
    "global_average_pooling2d": (dn.GlobalAveragePooling2D, (2, 4, 5)),
    "global_max_pooling2d": (dn.GlobalMaxPooling2D, (2, 4, 5)),
}


@pytest.mark.parametrize("kind", sorted(GLOBAL))
def test_global_pooling_forward_and_backward(kind, rng):
    cls, shape = GLOBAL[kind]
    model = check_forward(cls(), shape, rng)
    assert model.layers[0].output_shape == (shape[0],)
    check_backward(cls(), shape, rng)


# ------------------------------------------------------------------------------------------------
# Recurrent layers
# ------------------------------------------------------------------------------------------------

SEQ_SHAPE = (2, 5)  # (features, time)

CELLS = {
    "simple_rnn_tanh": lambda rs: dn.SimpleRNN(3, activation="tanh", return_sequences=rs),
    "simple_rnn_relu": lambda rs: dn.SimpleRNN(3, activation="relu", return_sequences=rs),
    "gru": lambda rs: dn.GRU(3, return_sequences=rs),
    "lstm": lambda rs: dn.LSTM(3, return_sequences=rs),
}


@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("cell", sorted(CELLS))
def test_recurrent_forward(cell, return_sequences, rng):
    model = check_forward(CELLS[cell](return_sequences), SEQ_SHAPE, rng)
    expected = (3, SEQ_SHAPE[1]) if return_sequences else (3,)
    assert model.layers[0].output_shape == expected


@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("cell", sorted(CELLS))
def test_recurrent_backward(cell, return_sequences, rng):
    """BPTT for SimpleRNN and GRU, the complex step for LSTM; dX reaches a k = 1 conv."""
    check_backward(CELLS[cell](return_sequences), SEQ_SHAPE, rng)


@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("cell", sorted(CELLS))
def test_bidirectional_forward(cell, return_sequences, rng):
    layer = dn.Bidirectional(CELLS[cell](return_sequences))
    model = check_forward(layer, SEQ_SHAPE, rng)
    expected = (6, SEQ_SHAPE[1]) if return_sequences else (6,)
    assert model.layers[0].output_shape == expected
    assert model.layers[0].param_names[:4] == (
        "forward_Wx",
        "forward_Wh",
        "forward_bx",
        "forward_bh",
    )


@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("cell", sorted(CELLS))
def test_bidirectional_backward(cell, return_sequences, rng):
    check_backward(dn.Bidirectional(CELLS[cell](return_sequences)), SEQ_SHAPE, rng)


def test_bidirectional_alignment_by_hand(rng):
    """With a backward cell whose output is its input (linear SimpleRNN, Wx = I, Wh = 0), the
    backward half equals X at every aligned step, and without return_sequences it is X at
    step 0, the backward cell's last step."""
    X = rng.normal(size=(2, 4, M))
    for rs in (True, False):
        model = build([dn.Bidirectional(dn.SimpleRNN(2, "linear", rs)), dn.Flatten()], (2, 4))
        zero2, zero1 = np.zeros((2, 2)), np.zeros((2, 1))
        model.layers[0].set_weights(
            [np.eye(2), zero2, zero1, zero1, np.eye(2), zero2] + [zero1] * 2
        )
        out = model.predict(X).reshape((4, 4, M) if rs else (4, M))
        if rs:
            np.testing.assert_array_equal(out[:2], X)
            np.testing.assert_array_equal(out[2:], X)
        else:
            np.testing.assert_array_equal(out, np.concatenate([X[:, -1], X[:, 0]]))


# ------------------------------------------------------------------------------------------------
# The reference checked against itself: explicit backward = complex step of its forward
# ------------------------------------------------------------------------------------------------

REFERENCE_SELF_CHECKS = {
    "conv1d": (
        [dn.Conv1D(2, 3, strides=2, padding="same", dilation_rate=2, activation="tanh")],
        (2, 9),
    ),
    "conv2d": (
        [dn.Conv2D(2, (2, 3), strides=(2, 1), padding=(1, 0), activation="tanh")],
        (2, 5, 5),
    ),
    "max_pool": ([dn.Conv1D(2, 1), dn.MaxPooling1D(3, 2, "same")], (2, 8)),
    "avg_pool2d": ([dn.Conv2D(2, 1), dn.AveragePooling2D(2, (1, 3), "same")], (1, 5, 7)),
    "avg_pool1d": ([dn.Conv1D(2, 1), dn.AveragePooling1D(3, 2, "same")], (1, 8)),
    "max_pool2d": ([dn.Conv2D(2, 1), dn.MaxPooling2D(2, 3, "same")], (1, 5, 7)),
    "global_max2d": ([dn.Conv2D(2, 1), dn.GlobalMaxPooling2D()], (1, 3, 3)),
    "global_avg1d": ([dn.Conv1D(2, 1), dn.GlobalAveragePooling1D()], (1, 5)),
    "rnn_relu": ([dn.Conv1D(2, 1), dn.SimpleRNN(3, activation="relu")], (2, 4)),
    "gru_seq": ([dn.Conv1D(2, 1), dn.GRU(3, return_sequences=True)], (2, 4)),
    "bi_rnn": ([dn.Conv1D(2, 1), dn.Bidirectional(dn.SimpleRNN(2, return_sequences=True))], (2, 4)),
    "bi_gru": ([dn.Conv1D(2, 1), dn.Bidirectional(dn.GRU(2))], (2, 4)),
}


@pytest.mark.parametrize("name", sorted(REFERENCE_SELF_CHECKS))
def test_reference_backward_matches_its_complex_step(name, rng):
    layers, shape = REFERENCE_SELF_CHECKS[name]
    layers = [_copy(x) for x in layers]
    model = build(with_head(layers, shape), shape)
    params = randomize(model, rng)
    refs = [reference_of(x) for x in model.layers]
    X, Y = rng.normal(size=(*shape, M)), rng.normal(size=(2, M))
    assert_gradients_close(
        ref_gradients(refs, params, X, Y), complex_step_gradients(refs, params, X, Y)
    )


# ------------------------------------------------------------------------------------------------
# Gradient checks: every layer kind alone, and mixed networks
# ------------------------------------------------------------------------------------------------

ALONE = {
    "dense": ([dn.Dense(3, activation="tanh")], (4,)),
    "conv1d": (
        [dn.Conv1D(2, 3, strides=2, padding="same", dilation_rate=2, activation="tanh")],
        (2, 9),
    ),
    "conv2d": (
        [dn.Conv2D(2, (2, 3), strides=(2, 1), padding="same", activation="relu")],
        (2, 5, 6),
    ),
    "dropout": ([dn.Conv1D(2, 2), dn.Dropout(0.5)], (2, 5)),
    "flatten": ([dn.Conv2D(2, 2), dn.Flatten()], (1, 3, 4)),
    "max_pooling1d": ([dn.Conv1D(2, 1), dn.MaxPooling1D(3, 2, "same")], (2, 8)),
    "average_pooling1d": ([dn.Conv1D(2, 1), dn.AveragePooling1D(2, 3, "same")], (2, 7)),
    "max_pooling2d": ([dn.Conv2D(2, 1), dn.MaxPooling2D((2, 3), (1, 2), "same")], (1, 5, 6)),
    "average_pooling2d": ([dn.Conv2D(2, 1), dn.AveragePooling2D(3, 2, "same")], (1, 6, 5)),
    "global_max_pooling1d": ([dn.Conv1D(2, 1), dn.GlobalMaxPooling1D()], (2, 6)),
    "global_average_pooling1d": ([dn.Conv1D(2, 1), dn.GlobalAveragePooling1D()], (2, 6)),
    "global_max_pooling2d": ([dn.Conv2D(2, 1), dn.GlobalMaxPooling2D()], (1, 4, 3)),
    "global_average_pooling2d": ([dn.Conv2D(2, 1), dn.GlobalAveragePooling2D()], (1, 4, 3)),
    "simple_rnn": ([dn.SimpleRNN(3, activation="relu", return_sequences=True)], (2, 5)),
    "gru": ([dn.GRU(3)], (2, 5)),
    "lstm": ([dn.LSTM(3, return_sequences=True)], (2, 5)),
    "bidirectional_simple_rnn": ([dn.Bidirectional(dn.SimpleRNN(2))], (2, 5)),
    "bidirectional_gru": ([dn.Bidirectional(dn.GRU(2, return_sequences=True))], (2, 5)),
    "bidirectional_lstm": ([dn.Bidirectional(dn.LSTM(2))], (2, 5)),
}


@pytest.mark.parametrize("name", sorted(ALONE))
def test_gradient_check_each_layer_kind(name, rng):
    layers, shape = ALONE[name]
    model = build(with_head([_copy(x) for x in layers], shape), shape)
    randomize(model, rng)
    X, Y = rng.normal(size=(*shape, M)), rng.normal(size=(2, M))
    assert dn.gradient_check(model, X, Y) < 1e-6


def test_mixed_conv1d_gru_dense(rng):
    """conv1d → gru → dense: gradient check, and every gradient against the reference."""
    model = build([dn.Conv1D(3, 3, activation="tanh"), dn.GRU(4), dn.Dense(2)], (2, 8))
    params = randomize(model, rng)
    X, Y = rng.normal(size=(2, 8, M)), rng.normal(size=(2, M))
    assert dn.gradient_check(model, X, Y) < 1e-6
    refs = [reference_of(x) for x in model.layers]
    assert_gradients_close(model.gradients(X, Y), ref_gradients(refs, params, X, Y))


def test_mixed_conv2d_max_pooling2d_flatten_dense(rng):
    model = build(
        [
            dn.Conv2D(2, 3, padding="same", activation="relu"),
            dn.MaxPooling2D(2),
            dn.Flatten(),
            dn.Dense(3),
        ],
        (1, 6, 6),
    )
    params = randomize(model, rng)
    X, Y = rng.normal(size=(1, 6, 6, M)), rng.normal(size=(3, M))
    assert dn.gradient_check(model, X, Y) < 1e-6
    refs = [reference_of(x) for x in model.layers]
    assert_gradients_close(model.gradients(X, Y), ref_gradients(refs, params, X, Y))


def test_mixed_bidirectional_lstm_global_average_softmax(rng):
    """bidirectional(lstm, return_sequences) → global_average_pooling1d → dense softmax,
    categorical cross-entropy with integer labels."""
    model = build(
        [
            dn.Bidirectional(dn.LSTM(3, return_sequences=True)),
            dn.GlobalAveragePooling1D(),
            dn.Dense(3, activation="softmax"),
        ],
        (2, 5),
        loss="categorical_crossentropy",
    )
    randomize(model, rng)
    X, labels = rng.normal(size=(2, 5, 4)), np.array([0, 2, 1, 2])
    assert dn.gradient_check(model, X, labels) < 1e-6


# ------------------------------------------------------------------------------------------------
# Files, pickling, summary
# ------------------------------------------------------------------------------------------------


def _mixed_model(dtype):
    return dn.Sequential(
        [
            dn.Conv1D(4, 3, padding="same", activation="relu"),
            dn.MaxPooling1D(2),
            dn.Dropout(0.2),
            dn.GRU(5, return_sequences=True),
            dn.Bidirectional(dn.LSTM(3, return_sequences=True)),
            dn.AveragePooling1D(2, padding="same"),
            dn.Flatten(),
            dn.Dense(3, activation="softmax"),
        ],
        input_shape=(2, 12),
        loss="categorical_crossentropy",
        dtype=dtype,
        seed=3,
    )


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_mixed_model_save_load_and_pickle_are_exact(dtype, tmp_path, rng):
    model = _mixed_model(dtype)
    X, labels = rng.normal(size=(2, 12, 16)), rng.integers(0, 3, 16)
    model.fit(X, labels, epochs=2, batch_size=8, optimizer="adam", verbose=0)
    path = tmp_path / "mixed.safetensors"
    model.save(path)
    for clone in (dn.load(path), pickle.loads(pickle.dumps(model))):
        assert repr(clone) == repr(model) and clone.dtype == dtype
        np.testing.assert_array_equal(clone.predict(X), model.predict(X))
        for a, b in zip(clone.get_weights(), model.get_weights()):
            np.testing.assert_array_equal(a, b)
        assert [x.output_shape for x in clone.layers] == [x.output_shape for x in model.layers]
    # training resumes identically (optimizer state, shuffling, dropout masks)
    loaded = dn.load(path)
    h1 = model.fit(X, labels, epochs=2, batch_size=8, verbose=0)
    h2 = loaded.fit(X, labels, epochs=2, batch_size=8, verbose=0)
    assert h1.history == h2.history
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_summary_shows_example_axis_last_shapes():
    model = dn.Sequential(
        [
            dn.Conv1D(4, 5, strides=2, padding=1, activation="relu"),
            dn.MaxPooling1D(2),
            dn.GRU(3, return_sequences=True),
            dn.Flatten(),
            dn.Dense(2),
        ],
        input_shape=(1, 40),
        loss="mse",
    )
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    for shape in ["(1, 40, m)", "(4, 19, m)", "(4, 9, m)", "(3, 9, m)", "(27, m)", "(2, m)"]:
        assert shape in text, (shape, text)
    image = dn.Sequential(
        [dn.Conv2D(8, 3, padding="same"), dn.AveragePooling2D(), dn.GlobalMaxPooling2D()],
        input_shape=(1, 8, 6),
        loss="mse",
    )
    lines = []
    image.summary(print_fn=lines.append)
    for shape in ["(1, 8, 6, m)", "(8, 8, 6, m)", "(8, 4, 3, m)", "(8, m)"]:
        assert shape in lines[0], (shape, lines[0])


# ------------------------------------------------------------------------------------------------
# Bad input at build time: ValueError naming the layer and its input shape
# ------------------------------------------------------------------------------------------------


def _shape(*ns):
    """A regex for a per-example shape written as a list or a tuple: [2, 3] or (2, 3)."""
    inner = r",\s*".join(str(n) for n in ns)
    return rf"[\[(]{inner},?[\])]"


BAD_BUILDS = {
    "rnn_after_global_pool": (
        [dn.GlobalAveragePooling1D(), dn.SimpleRNN(3)],
        (2, 5),
        ["layer 2", "simple_rnn", _shape(2), "time"],
    ),
    "lstm_after_flatten": ([dn.Flatten(), dn.LSTM(3)], (2, 5), ["layer 2", "lstm", _shape(10)]),
    "bidirectional_on_vectors": (
        [dn.Dense(4), dn.Bidirectional(dn.GRU(2))],
        (3,),
        ["layer 2", "bidirectional", _shape(4)],
    ),
    "dense_after_conv1d": (
        [dn.Conv1D(2, 3), dn.Dense(3)],
        (2, 5),
        ["layer 2", "dense", _shape(2, 3), "Flatten"],
    ),
    "kernel_larger_than_padded_input": ([dn.Conv1D(2, 8, padding=1)], (1, 5), ["layer 1", "7"]),
    "dilated_kernel_too_large": ([dn.Conv1D(2, 3, dilation_rate=3)], (1, 6), ["layer 1", "6"]),
    "kernel2d_too_wide": ([dn.Conv2D(2, (3, 9))], (1, 8, 8), ["layer 1", "8"]),
    "pool_larger_than_input": ([dn.MaxPooling1D(7), dn.Flatten()], (2, 5), ["layer 1", "5"]),
    "pool_after_conv_too_large": (
        [dn.Conv1D(2, 3), dn.AveragePooling1D(4), dn.Flatten()],
        (1, 5),
        ["layer 2", "3"],
    ),
    "pool2d_too_tall": ([dn.AveragePooling2D((9, 2)), dn.Flatten()], (1, 8, 8), ["layer 1", "8"]),
    "conv2d_on_signals": ([dn.Conv2D(2, 3)], (1, 40), ["layer 1", "conv2d", _shape(1, 40)]),
    "conv1d_on_vectors": ([dn.Conv1D(2, 3)], (40,), ["layer 1", "conv1d", _shape(40)]),
}


@pytest.mark.parametrize("name", sorted(BAD_BUILDS))
def test_bad_architecture_is_a_value_error_naming_layer_and_shape(name):
    layers, shape, patterns = BAD_BUILDS[name]
    with pytest.raises(ValueError) as info:
        dn.Sequential([_copy(x) for x in layers], input_shape=shape, loss="mse")
    for pattern in patterns:
        assert re.search(pattern, str(info.value)), (pattern, info.value)


@pytest.mark.parametrize("bad_shape", [(40, 3), (1, 1, 40, 3), (3,)])
def test_x_with_the_wrong_number_of_axes(bad_shape):
    model = build([dn.Conv1D(2, 3), dn.Flatten(), dn.Dense(1)], (1, 40))
    X = np.zeros(bad_shape)
    for call in (lambda: model.predict(X), lambda: model.gradients(X, np.zeros((1, 3)))):
        with pytest.raises(ValueError, match=r"\(1, 40, m\)"):
            call()


# ------------------------------------------------------------------------------------------------
# Beyond one small batch: chunked predict, memory layouts, one example, L2 on W/Wx/Wh
# ------------------------------------------------------------------------------------------------


def test_predict_over_chunks_and_layouts_matches_the_reference(rng):
    """m = 4100 crosses predict's 4,096-column chunks; Fortran order, strided views and single
    columns give the same bits."""
    shape = (2, 9)
    layers = [
        dn.Conv1D(2, 3, strides=2, padding="same", activation="tanh"),
        dn.MaxPooling1D(2, padding="same"),
        dn.GRU(3, return_sequences=True),
        dn.Bidirectional(dn.LSTM(2)),
    ]
    model = build(with_head(layers, shape), shape)
    params = randomize(model, rng)
    X = rng.normal(size=(*shape, 4100))
    P = model.predict(X)
    assert_close(P, ref_forward([reference_of(x) for x in model.layers], params, X)[0])
    np.testing.assert_array_equal(model.predict(np.asfortranarray(X[..., :40])), P[:, :40])
    np.testing.assert_array_equal(model.predict(X[..., ::7]), P[:, ::7])
    np.testing.assert_array_equal(model.predict(X[..., 4097:4098]), P[:, 4097:4098])


L2_CASES = {
    "conv1d": (dn.Conv1D(2, 3, l2=0.3), (2, 6)),
    "conv2d": (dn.Conv2D(2, 2, strides=2, l2=0.3), (1, 4, 5)),
    "simple_rnn": (dn.SimpleRNN(2, l2=0.3, return_sequences=True), (2, 4)),
    "gru": (dn.GRU(3, l2=0.3), (2, 4)),
    "lstm": (dn.LSTM(2, l2=0.3), (2, 4)),
    "bidirectional": (dn.Bidirectional(dn.GRU(2, l2=0.3)), (2, 4)),
}


@pytest.mark.parametrize("name", sorted(L2_CASES))
def test_l2_penalises_the_weights_not_the_biases(name, rng):
    """J gains (λ/2)‖W‖² (‖Wx‖² + ‖Wh‖² for recurrent layers, both directions), and the
    weights' gradients λW; biases are not penalised."""
    layer, shape = L2_CASES[name]
    layer = _copy(layer)
    model = build(with_head([layer], shape), shape)
    params = randomize(model, rng)
    refs = [reference_of(x) for x in model.layers]
    X, Y = rng.normal(size=(*shape, M)), rng.normal(size=(2, M))
    expected = reference_gradients(refs, params, X, Y)
    penalty = 0.0
    for i, param in enumerate(layer.param_names):
        if param.endswith(("W", "Wx", "Wh")):
            expected[0][i] = expected[0][i] + 0.3 * params[0][i]
            penalty += 0.15 * np.sum(params[0][i] ** 2)
    assert_close(model.cost(X, Y), ref_cost(refs, params, X, Y) + penalty)
    assert_gradients_close(model.gradients(X, Y), expected)
