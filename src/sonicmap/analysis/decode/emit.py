"""From decoded samples to :class:`~sonicmap.analysis.decode.base.Block`: the powers, the mono mix,
its decimation (or resampling) to the analysis rate and the high-band frames, with the state
carried from block to block."""

from __future__ import annotations

import numpy as np

from sonicmap.analysis.decode.base import ANALYSIS_SR, HF_N, SEGMENT_S, Block
from sonicmap.analysis.decode.dsp import Decimator, SwrResampler, hf_tables, scratch, segment_sums

_HALF_HALF = np.array([0.5, 0.5], np.float32)
_HALF_HALF.flags.writeable = False
_TWO = np.array([2.0])  # the weight of an interleaved stereo block's flat powers (two channels)
_TWO.flags.writeable = False


class Emitter:
    """``emit(x, last) → Block`` for planar float32 x [shape=(ch, n)], with the decimator or
    resampler state carried across calls; ``emit(x, last, interleaved=True)`` takes interleaved
    frames x [shape=(n, ch)] of a mono or stereo file (channel weights 1)."""

    def __init__(self, sr: int, ch: int, lw: np.ndarray, mw: np.ndarray) -> None:
        self.sr, self.ch, self.lw = sr, ch, lw
        self.mw32 = mw.astype(np.float32)
        self.factor = sr // ANALYSIS_SR if sr % ANALYSIS_SR == 0 else 0
        # integer ratios: the streamed FIR; other rates: libswresample
        self.decimator = Decimator(self.factor, sr) if self.factor else None
        self.resampler = None if self.factor else SwrResampler(sr)
        # interleaved stereo in whole-sample segments: L R L R … is one flat run of samples
        # whose 100 ms dot products are Σ_c Σ x_c² (the channel weights of a stereo file are 1, 1)
        self.flat_powers = ch == 2 and float(sr * SEGMENT_S).is_integer()
        self.pos = 0  # native samples emitted so far
        self.next_hf = 0  # native sample where the next high-band frame starts

    def _powers(self, x: np.ndarray, interleaved: bool) -> np.ndarray:
        if interleaved:
            return segment_sums(x.reshape(1, -1), 2 * self.sr, weights=_TWO)
        return segment_sums(x, self.sr, weights=self.lw)

    def __call__(self, x: np.ndarray, last: bool, *, interleaved: bool = False) -> Block:
        """x [shape=(ch, n), float32] (or [shape=(n, ch)] when ``interleaved``) → Block."""
        ch, dec = self.ch, self.decimator
        if interleaved and ch == 1:
            x, interleaved = x.reshape(1, -1), False
        elif interleaved and not self.flat_powers:
            x, interleaved = np.ascontiguousarray(x.T), False
        n = x.shape[0] if interleaved else x.shape[1]
        powers = self._powers(x, interleaved)
        # NaN/inf samples (broken float files) show in the powers; only then pay for a full check
        if not np.isfinite(powers).all() or (powers.size == 0 and not np.isfinite(x).all()):
            x = np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)
            powers = self._powers(x, interleaved)
        # the mix is written straight into the decimator's input (after its history)
        mono = dec.input(n) if dec is not None else scratch("mono", (n,))
        if interleaved:  # (L + R) / 2 as one BLAS matrix-vector product (the same floats)
            np.matmul(x, _HALF_HALF, out=mono)
        elif ch == 1:
            mono[:] = x[0]
        elif ch == 2:
            np.add(x[0], x[1], out=mono)
            mono *= np.float32(0.5)
        else:
            np.matmul(self.mw32, x, out=mono)
        mono_powers = segment_sums(mono[None, :], self.sr)
        hf = self._hf(mono, n)
        if dec is not None:
            y = dec.process_input(n - n % dec.factor)
        else:
            assert self.resampler is not None  # (one of the two, by construction)
            y = self.resampler.process(mono)
            if last:
                y = np.concatenate([y, self.resampler.flush()])
        return Block(powers, mono_powers, y, n, hf)

    def _hf(self, mono: np.ndarray, n: int) -> np.ndarray | None:
        """The native frames starting in this block (one per HF_EVERY_S; a frame that would
        cross the block's end starts at the next block's beginning), None when there is none."""
        _, _, step, offsets = hf_tables(self.sr)
        first = max(self.next_hf - self.pos, 0)
        self.pos += n
        if first > n - HF_N:
            return None
        starts = range(first, n - HF_N + 1, step)
        self.next_hf = self.pos - n + starts[-1] + step
        if len(starts) == 1:  # (a copy: mono is a reused buffer)
            return mono[first : first + HF_N][None, :].copy()
        frames: np.ndarray = mono[np.asarray(starts)[:, None] + offsets]
        return frames
