"""Known tones in, frequencies detected out: how tests prove audio flowed."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np


def write_tone(path: Path, freqs: float | list[float], seconds: float = 2.0,
               rate: int = 16000, amplitude: float = 0.3) -> Path:
    """A 16-bit mono WAV of one or more sine tones (loops seamlessly if whole periods)."""
    if not isinstance(freqs, list):
        freqs = [freqs]
    t = np.arange(int(seconds * rate)) / rate
    signal = sum(np.sin(2 * np.pi * f * t) for f in freqs) / len(freqs)
    return write_wav(path, np.asarray(signal) * amplitude * 32767, rate)


def write_wav(path: Path, samples: np.ndarray, rate: int = 16000) -> Path:
    """A 16-bit mono WAV of ``samples`` (in int16 units)."""
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(samples.astype("<i2").tobytes())
    return path


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """The first channel of a 16-bit WAV as floats in -1.0..1.0, and its rate."""
    with wave.open(str(path), "rb") as wav:
        assert wav.getsampwidth() == 2, "expected 16-bit PCM"
        rate = wav.getframerate()
        data = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
        if wav.getnchannels() > 1:
            data = data.reshape(-1, wav.getnchannels())[:, 0]
    return data.astype(np.float64) / 32768.0, rate


def rms_dbfs(samples: np.ndarray) -> float:
    if samples.size == 0:
        return -200.0
    rms = float(np.sqrt(np.mean(samples**2)))
    return float(20 * np.log10(max(rms, 1e-10)))


def tone_level(samples: np.ndarray, rate: int, freq: float, bandwidth: float = 25.0) -> float:
    """Level (dBFS, as a sine's RMS) of ``freq`` +- bandwidth in the signal."""
    if samples.size < rate // 10:
        return -200.0
    window = np.hanning(samples.size)
    spectrum = np.abs(np.fft.rfft(samples * window)) / (np.sum(window) / 2)
    freqs = np.fft.rfftfreq(samples.size, 1 / rate)
    band = (freqs > freq - bandwidth) & (freqs < freq + bandwidth)
    amplitude = float(np.sqrt(np.sum(spectrum[band] ** 2)))
    return float(20 * np.log10(max(amplitude / np.sqrt(2), 1e-10)))


def analyse(path: Path, freqs: list[float], skip: float = 0.2) -> dict[float, float]:
    """Tone levels at each of ``freqs`` in a recording, skipping its first ``skip`` s."""
    samples, rate = read_wav(path)
    samples = samples[int(skip * rate):]
    return {f: tone_level(samples, rate, f) for f in freqs}


def has_tone(levels: dict[float, float], freq: float, threshold: float = -40.0) -> bool:
    return levels[freq] > threshold


def window_levels(path: Path, freq: float, window: float = 1.0, skip: float = 0.3
                  ) -> list[float]:
    """Level of ``freq`` in consecutive windows of a recording (for stability checks)."""
    samples, rate = read_wav(path)
    samples = samples[int(skip * rate):]
    size = int(window * rate)
    return [tone_level(samples[i:i + size], rate, freq)
            for i in range(0, samples.size - size + 1, size)]
