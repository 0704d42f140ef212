"""Faces in video: streaming decode -> track -> deblur in batches -> encode, with PyAV (FFmpeg inside).

Memory stays bounded: frames flow through a queue of ``batch`` frames; nothing is decoded ahead.
Each output frame keeps its input timestamp (variable frame rate survives), the stream keeps its
resolution and rotation, and audio packets are copied unchanged. The output is written to a
temporary file beside the destination and renamed at the end, so an interrupted run leaves
nothing half-written.

Temporal stability: a face restored frame by frame from freshly detected landmarks jitters, because
the detector's landmarks wobble by a pixel or two. :class:`FaceTracker` matches faces across frames
(box overlap) and smooths each track's landmarks with an exponential moving average, so the crop,
the restored face and the paste-back seam move smoothly with the face.
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from . import atomic
from .alignment import Face
from .extras import install_hint
from .imageio import ensure_folder
from .yuv import Yuv420

if TYPE_CHECKING:
    from .deblurrer import Deblurrer

VIDEO_EXTS = {".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v"}
VIDEO_NO_FACE = ("pass", "error")  # pass: frames without a face are copied unchanged


class VideoError(Exception):
    """A video that cannot be read or written (one-line message)."""


def is_video(path: str | Path) -> bool:
    return Path(path).suffix.lower() in VIDEO_EXTS


def _av():
    try:
        import av
    except ImportError:
        raise VideoError(f"video needs PyAV: {install_hint('video')}") from None
    return av


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


@dataclass
class _Track:
    box: np.ndarray
    landmarks: np.ndarray
    missed: int = 0


class FaceTracker:
    """Faces across frames: greedy box-overlap matching, landmark EMA, short holds.

    ``smooth`` in [0, 1): weight of the past in the landmark average (0 = raw detections).
    A track not re-detected is held ``hold`` frames at its last landmarks (a blink of the detector
    does not make the face flicker between restored and not), then dropped.
    """

    def __init__(self, smooth: float = 0.6, hold: int = 3, min_iou: float = 0.3):
        if not 0.0 <= smooth < 1.0:
            raise ValueError(f"smooth must be in [0, 1), got {smooth}")
        self.smooth, self.hold, self.min_iou = smooth, hold, min_iou
        self.tracks: list[_Track] = []

    def update(self, faces: list[Face]) -> list[np.ndarray]:
        """Feed one frame's detections; return the landmarks (5 x 2) to restore in that frame."""
        free = list(range(len(self.tracks)))
        for face in sorted(faces, key=lambda f: -f.score):
            best = max(free, key=lambda i: _iou(self.tracks[i].box, face.box), default=None)
            if best is not None and _iou(self.tracks[best].box, face.box) >= self.min_iou:
                t = self.tracks[best]
                free.remove(best)
                t.landmarks = self.smooth * t.landmarks + (1 - self.smooth) * face.landmarks
                t.box = self.smooth * t.box + (1 - self.smooth) * face.box
                t.missed = 0
            else:
                self.tracks.append(_Track(face.box.astype(np.float64), face.landmarks.astype(np.float64)))
        for i in free:
            self.tracks[i].missed += 1
        self.tracks = [t for t in self.tracks if t.missed <= self.hold]
        return [t.landmarks.copy() for t in self.tracks]


def restore_frames(
    deblurrer: Deblurrer,
    frames: Iterable[np.ndarray],
    smooth: float = 0.6,
    batch: int = 8,
    no_face: str = "pass",
    strength: float | None = None,
    on_frame: Callable[[int], None] | None = None,
) -> Iterator[np.ndarray]:
    """Deblur the faces of a stream of RGB uint8 frames, in order, ``batch`` frames per network call.

    Other programs can feed frames from their own source. ``no_face='error'`` raises
    :class:`~faceblur_cli.deblurrer.NoFaceError` if no frame of the stream has a face.
    ``on_frame(n)`` is told how many faces were restored in each frame as it is yielded.
    """
    from .deblurrer import NoFaceError, check_strength

    if no_face not in VIDEO_NO_FACE:
        raise ValueError(f"unknown no-face policy {no_face!r}; choose from {VIDEO_NO_FACE}")
    s = deblurrer.strength if strength is None else check_strength(strength)
    tracker = FaceTracker(smooth)
    pending: list[tuple[np.ndarray, list[np.ndarray]]] = []  # (frame, landmarks of its tracked faces)
    seen_face = False

    def flush() -> Iterator[np.ndarray]:
        # Video keeps the 256 crop (min_face_scale 0): the real clip measured best so, and faster.
        done = deblurrer.restore_landmarks([f for f, _ in pending], [lm for _, lm in pending], s, min_face_scale=0.0)
        for (out, cs, _), _ in zip(done, pending):
            if on_frame:
                on_frame(len(cs))
            yield out
        pending.clear()

    for frame in frames:
        landmarks = tracker.update(deblurrer.detect(frame))
        seen_face = seen_face or bool(landmarks)
        pending.append((frame, landmarks))
        if len(pending) >= batch:
            yield from flush()
    yield from flush()
    if no_face == "error" and not seen_face:
        raise NoFaceError("no face found in any frame")


@dataclass
class VideoReport:
    frames: int = 0
    face_frames: int = 0  # frames in which at least one face was restored
    seconds: float = 0.0
    audio_streams: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0


def probe(path: str | Path) -> dict:
    """Frame count (decoded), rate, size, rotation, duration and audio streams of a video."""
    av = _av()
    try:
        with av.open(str(path)) as c:
            vs = c.streams.video[0]
            frames, rotation, first, last = 0, 0, None, None
            for f in c.decode(vs):
                frames += 1
                rotation = f.rotation
                first = f.time if first is None else first
                last = f.time
            return {
                "frames": frames,
                "width": vs.codec_context.width,
                "height": vs.codec_context.height,
                "rate": vs.average_rate,
                "rotation": rotation,
                "first_time": first,
                "last_time": last,
                "audio": len(c.streams.audio),
            }
    except (av.FFmpegError, IndexError) as err:
        raise VideoError(f"{path}: not a readable video ({_first_line(err)})") from None


def _rotation(path: Path) -> int:
    """Display rotation of the first frame (degrees, FFmpeg's display-matrix convention)."""
    av = _av()
    with av.open(str(path)) as c:
        for frame in c.decode(video=0):
            return int(frame.rotation or 0)
    return 0


def _first_line(err: Exception) -> str:
    return (str(err).splitlines() or [type(err).__name__])[0]


#: Audio codecs MP4 (.mp4 .m4v) can hold; others (PCM from an .avi, ...) are re-encoded to AAC.
MP4_AUDIO = {"aac", "mp3", "mp2", "ac3", "eac3", "alac", "opus", "flac"}
CONTAINER = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}
MIN_VIDEO_SIDE = 16


class _AudioTranscoder:
    """Decode one audio stream and re-encode it as AAC (when the output container cannot hold it)."""

    def __init__(self, av, out, stream):
        rate = stream.codec_context.sample_rate or 48000
        self.out = out
        self.stream = out.add_stream("aac", rate=rate)
        channels = getattr(stream.codec_context, "channels", 0) or 2
        self.stream.layout = "mono" if channels == 1 else "stereo"  # AAC here: mono or stereo
        self.resampler = av.AudioResampler(format="fltp", layout=self.stream.layout, rate=rate)

    def feed(self, packet) -> None:
        for frame in packet.decode():
            frame.pts = None
            for rs in self.resampler.resample(frame):
                for p in self.stream.encode(rs):
                    self.out.mux(p)

    def close(self) -> None:
        for rs in self.resampler.resample(None):
            for p in self.stream.encode(rs):
                self.out.mux(p)
        for p in self.stream.encode(None):
            self.out.mux(p)


def deblur_video(
    deblurrer: Deblurrer,
    src: str | Path,
    dst: str | Path,
    crf: int = 18,
    smooth: float = 0.6,
    batch: int = 8,
    no_face: str = "pass",
    strength: float | None = None,
    progress: Callable[[int, int | None], None] | None = None,
    max_pixels: int | None = None,
    overwrite: bool = False,
) -> VideoReport:
    """Deblur the faces of ``src`` into ``dst`` (H.264, yuv420p, ``crf``; audio copied unchanged).

    ``no_face``: ``pass`` copies frames without faces unchanged; ``error`` refuses a video
    with no face at all (nothing is written). ``progress(done, total)`` is called per frame.
    ``max_pixels`` bounds one frame's size (checked from the stream header, before decoding).
    The result goes to an exclusive temp file and is claimed under ``dst`` at the end
    (:mod:`.atomic`): an existing ``dst`` is never replaced unless ``overwrite``.
    """
    av = _av()
    src, dst = Path(src), Path(dst)
    if not 0 <= crf <= 51:
        raise ValueError(f"--crf must be 0..51 (H.264), got {crf}")
    fmt = CONTAINER.get(dst.suffix.lower())
    if fmt is None:
        raise VideoError(f"{dst}: videos are written as H.264 in {', '.join(CONTAINER)}")
    report = VideoReport()
    t0 = time.perf_counter()
    try:
        inp = av.open(str(src))
    except av.FFmpegError as err:
        raise VideoError(f"{src}: not a readable video ({_first_line(err)})") from None
    tmp = None
    try:
        if not inp.streams.video:
            what = "audio only" if inp.streams.audio else "no streams"
            raise VideoError(f"{src}: no video stream ({what})")
        vin = inp.streams.video[0]
        cc = vin.codec_context
        width, height = cc.width, cc.height
        if max_pixels and width * height > max_pixels:
            raise VideoError(
                f"{src}: frames too large ({width}x{height} = {width * height:,} pixels, limit --max-pixels "
                f"{max_pixels:,})"
            )
        if min(width, height) < MIN_VIDEO_SIDE:
            raise VideoError(f"{src}: frames of {width}x{height} are too small (at least {MIN_VIDEO_SIDE} px a side)")
        rotation = _rotation(src)
        turns = int(round(rotation / 90)) % 4  # display = stored frame turned counter-clockwise
        vin.thread_type = "AUTO"
        total = vin.frames or None
        audio = list(inp.streams.audio)
        report.audio_streams = len(audio)
        ensure_folder(dst.parent)
        fd, tmp = atomic.make_temp(dst)
        odd = width % 2 or height % 2
        with os.fdopen(fd, "w+b") as fileobj, av.open(fileobj, "w", format=fmt) as out:
            vout = out.add_stream("libx264", rate=vin.average_rate or vin.guessed_rate or Fraction(25))
            vout.width, vout.height = width, height
            # libx264's 4:2:0 needs even sides; an odd-sized video keeps its size in 4:4:4.
            vout.pix_fmt = "yuv444p" if odd else "yuv420p"
            if odd:
                report.notes.append(f"odd frame size {width}x{height}: written as H.264 4:4:4 (4:2:0 needs even sides)")
            vout.time_base = vout.codec_context.time_base = vin.time_base  # keep every timestamp
            vout.options = {"crf": str(crf), "preset": "medium", "rc-lookahead": "20"}
            if rotation:
                vout.set_display_rotation(rotation)
            aout: dict = {}
            for a in audio:
                if fmt == "mp4" and a.codec_context.name not in MP4_AUDIO:
                    aout[a.index] = _AudioTranscoder(av, out, a)
                    report.notes.append(f"audio {a.codec_context.name} re-encoded to AAC ({dst.suffix} cannot hold it)")
                else:
                    aout[a.index] = out.add_stream_from_template(a)
            # 4:2:0 input (nearly all video): exact conversions, unchanged pixels keep their planes.
            exact = cc.pix_fmt == "yuv420p" and not odd
            for tag in ("colorspace", "color_range", "color_primaries", "color_trc"):  # decoded as the input
                setattr(vout.codec_context, tag, getattr(cc, tag))
            conv: dict = {}  # the stream's Yuv420, from its first frame's tags
            last_time = [0.0]  # of the last decoded frame, to spot a truncated file
            pending: list = []  # (pts, time_base, planes, rgb) of frames not yet encoded

            def upright_frames() -> Iterator[np.ndarray]:
                for packet in inp.demux(vin, *audio):
                    if packet.stream.type == "audio":
                        if packet.dts is None:  # the demuxer's flush packets carry no data
                            continue
                        target = aout[packet.stream.index]
                        if isinstance(target, _AudioTranscoder):
                            target.feed(packet)
                        else:
                            packet.stream = target
                            out.mux(packet)
                        continue
                    for frame in packet.decode():
                        if exact:
                            yuv = conv.setdefault("yuv", Yuv420(frame.colorspace, frame.color_range == 2))
                            planes = frame.to_ndarray(format="yuv420p")
                            rgb = yuv.to_rgb(planes)
                        else:
                            planes, rgb = None, frame.to_ndarray(format="rgb24")
                        pending.append((frame.pts, frame.time_base, planes, rgb))
                        if frame.time is not None:
                            last_time[0] = max(last_time[0], float(frame.time))
                        yield np.rot90(rgb, turns)  # faces upright for the detector

            def count(n: int) -> None:
                report.face_frames += n > 0

            for restored in restore_frames(deblurrer, upright_frames(), smooth, batch, no_face, strength, count):
                pts, tb, planes, before = pending.pop(0)
                after = np.ascontiguousarray(np.rot90(restored, -turns))
                if exact:
                    frame = av.VideoFrame.from_ndarray(conv["yuv"].merge(planes, before, after), format="yuv420p")
                else:
                    frame = av.VideoFrame.from_ndarray(after, format="rgb24")
                frame.pts, frame.time_base = pts, tb
                for packet in vout.encode(frame):
                    out.mux(packet)
                report.frames += 1
                if progress:
                    progress(report.frames, total)
            for packet in vout.encode():
                out.mux(packet)
            for target in aout.values():
                if isinstance(target, _AudioTranscoder):
                    target.close()
        if report.frames == 0:
            raise VideoError(f"{src}: no decodable video frames")
        announced = float(vin.duration * vin.time_base) if vin.duration else (inp.duration or 0) / 1e6
        step = 1 / float(vin.average_rate or 25)
        if total and report.frames < total:
            report.notes.append(f"decoded {report.frames} of the {total} frames its header announces (truncated?)")
        elif announced and last_time[0] + 3 * step < announced:
            report.notes.append(
                f"decoded {report.frames} frames up to {last_time[0]:.2f} s of the {announced:.2f} s its header "
                "announces (truncated?)"
            )
        atomic.claim(tmp, dst, overwrite)
    except av.FFmpegError as err:
        if getattr(err, "errno", None) == errno.ENOSPC:
            raise VideoError(f"{dst}: cannot write: no space left on the device") from None
        raise VideoError(f"{src}: broken or truncated video ({_first_line(err)})") from None
    except OSError as err:
        if isinstance(err, atomic.OutputExists):
            raise
        raise VideoError(f"{dst}: cannot write ({err.strerror or err})") from None
    finally:
        inp.close()
        if tmp is not None:
            tmp.unlink(missing_ok=True)
    report.seconds = time.perf_counter() - t0
    return report
