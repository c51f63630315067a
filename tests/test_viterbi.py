"""The memory-bounded extended Viterbi returns exactly the paths and scores of the
whole-array implementation it replaced (kept below as the oracle)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from heartsound.errors import ParameterError
from heartsound.segmentation.hsmm import (DurationModel, decode_with_score, duration_model,
                                          posteriors_to_loglik)
from heartsound.segmentation.viterbi import ExtendedViterbi


def _oracle(e: np.ndarray, durations: DurationModel) -> tuple[np.ndarray, float]:
    """The whole-array decoder of heartsound 20b1f64 (float64 tables of n_frames rows).

    Note: both decoders work on cumulative sums, so a ``-inf`` emission makes every later
    segment score NaN (``-inf - -inf``) and the decode fails; emissions from posteriors
    are floored (``posteriors_to_loglik``) and never ``-inf``."""
    n = e.shape[0]
    logp = durations.log_pmf()                      # (4, D)
    logs = durations.log_survival()                 # (4, D)
    dmax = logp.shape[1]
    # residual-life prior of the first segment: P(j, d) ∝ P(duration_j >= d)
    init = logs - np.log(np.exp(logs).sum())        # (4, D)
    cum = np.zeros((n + 1, 4))
    np.cumsum(e, axis=0, out=cum[1:])
    prev = np.array([3, 0, 1, 2])                   # predecessor of each state
    # best[k, j]: best log-score of frames 0..k-1 with a segment of state j ending at k-1
    best = np.full((n + 1, 4), -np.inf)
    back = np.zeros((n + 1, 4), dtype=np.int32)
    logp_t = np.ascontiguousarray(logp.T)           # (D, 4), row d-1
    init_t = np.ascontiguousarray(init.T)
    best_prev = np.full((n + 1, 4), -np.inf)  # best[k, prev[j]], filled as we go
    d_all = np.arange(1, dmax + 1)
    cols = np.arange(4)
    for k in range(1, n):
        dk = min(dmax, k)
        # segments of durations 1..dk ending at frame k - 1 start at frames k - 1 ... k - dk:
        # reversed slices (views) rather than gathers
        lo = k - dk
        cand = best_prev[k - 1::-1][:dk] if lo == 0 else best_prev[k - 1:lo - 1:-1]
        cs = cum[k - 1::-1][:dk] if lo == 0 else cum[k - 1:lo - 1:-1]
        cand = cand + logp_t[:dk] + (cum[k] - cs)
        if k <= dmax:                               # segment starting at frame 0
            cand[k - 1] = init_t[k - 1] + cum[k]
        arg = cand.argmax(axis=0)
        bk = cand[arg, cols]
        best[k] = bk
        back[k] = arg + 1
        best_prev[k] = bk[prev]
    # the last segment may continue after the last frame: survival instead of pmf
    dk = min(dmax, n)
    starts = n - d_all[:dk]
    cand = best_prev[starts] + logs.T[:dk] + (cum[n] - cum[starts])
    if n <= dmax:                                   # one segment covering everything
        cand[n - 1] = init_t[n - 1] + cum[n]
    arg = np.argmax(cand, axis=0)
    final = cand[arg, np.arange(4)]
    j = int(np.argmax(final))
    score = float(final[j])
    if not np.isfinite(score):
        raise ParameterError("no admissible path")
    states = np.empty(n, dtype=np.int8)
    k, d = n, int(arg[j]) + 1
    while True:
        states[k - d:k] = j + 1
        k -= d
        if k <= 0:
            break
        j = int(prev[j])
        d = int(back[k, j])
    return states, score


@pytest.mark.parametrize("seed", range(16))
def test_same_path_and_score_as_whole_array_decoder(seed: int) -> None:
    rng = np.random.default_rng(seed)
    # lengths around max_frames (one segment may cover everything) up to a few thousand
    n = [2, 3, 11, 12, 23, 61, 1500, 5000][seed % 8]  # around max_frames, > 1 block
    dm = duration_model(float(rng.uniform(40, 200)), 0.25)
    post = rng.dirichlet(np.full(4, rng.uniform(0.3, 3.0)), size=n)
    e = posteriors_to_loglik(post, np.array([0.15, 0.3, 0.15, 0.4]))
    if seed % 3 == 0:  # a state almost impossible in some frames (-inf: see the note)
        e[rng.random(n) < 0.05, int(rng.integers(4))] = -50.0
    try:
        want_states, want_score = _oracle(e, dm)
    except ParameterError:
        with pytest.raises(ParameterError):
            decode_with_score(e, dm)
        return
    states, score = decode_with_score(e, dm)
    assert np.array_equal(states, want_states)
    assert score == want_score  # bit-identical, not just close


@pytest.mark.parametrize("blocks", [[1] * 30, [7, 1, 22], [29, 1], [30]])
def test_block_size_does_not_change_result(blocks: list[int]) -> None:
    rng = np.random.default_rng(3)
    e = np.log(rng.dirichlet(np.ones(4), size=sum(blocks)))
    dm = duration_model(150.0, 0.2)
    v = ExtendedViterbi(dm)
    i = 0
    for b in blocks:
        v.push(e[i:i + b])
        i += b
    assert v.n_frames == 30
    states, score = v.finish()
    want_states, want_score = _oracle(e, dm)
    assert np.array_equal(states, want_states) and score == want_score


def test_back_pointers_are_compact() -> None:
    v = ExtendedViterbi(duration_model(60.0, 0.3))
    v.push(np.zeros((500, 4)))
    assert v._back[0].dtype == np.int16 and v._cum.shape[0] < v.max_frames + 2100


def test_too_short_or_impossible() -> None:
    v = ExtendedViterbi(duration_model(60.0, 0.3))
    v.push(np.zeros((1, 4)))
    with pytest.raises(ParameterError):
        v.finish()
    with pytest.raises(ParameterError):
        decode_with_score(np.full((50, 4), -np.inf), duration_model(60.0, 0.3))


def test_finish_can_be_called_between_pushes() -> None:
    rng = np.random.default_rng(7)
    e = np.log(rng.dirichlet(np.ones(4), size=3000))
    dm = duration_model(90.0, 0.28)
    v = ExtendedViterbi(dm)
    v.push(e[:1200])
    head_states, head_score = v.finish()
    v.push(e[1200:])
    states, score = v.finish()
    want_head, want_head_score = _oracle(e[:1200], dm)
    assert np.array_equal(head_states, want_head) and head_score == want_head_score
    want_states, want_score = _oracle(e, dm)
    assert np.array_equal(states, want_states) and score == want_score


@pytest.mark.parametrize("seed", range(4))
def test_empty_pushes_and_chunk_edges_match_oracle(seed: int) -> None:
    """Empty blocks change nothing; blocks longer than the chunk of window differences
    (256 frames), ending inside one, and crossing a slide of the tables (2048) give the
    whole-array decoder's path and score."""
    rng = np.random.default_rng(100 + seed)
    n = 2600
    e = np.log(rng.dirichlet(np.ones(4), size=n))
    dm = duration_model(float(rng.uniform(50, 160)), 0.25)
    v = ExtendedViterbi(dm)
    cuts = [0, 0, 1, 300, 300, 1000, 2300, n]
    for a, b in itertools.pairwise(cuts):
        v.push(e[a:b])
    states, score = v.finish()
    want_states, want_score = _oracle(e, dm)
    assert np.array_equal(states, want_states) and score == want_score
