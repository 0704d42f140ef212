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

import os
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from .deblurrer import MIN_DETECT_SIDE, Deblurrer, blend
from .faces import Face, alignment_matrix, paste_back, warp_face
from .yuv import Yuv420

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
        raise VideoError("video needs PyAV: pip install 'faceblur[video]'") from None
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
    pending: list[tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]] = []
    seen_face = False

    def flush() -> Iterator[np.ndarray]:
        crops = [c for _, _, cs in pending for c in cs]
        restored = iter(deblurrer.run_network(crops) if crops else [])
        for frame, matrices, cs in pending:
            out = frame
            for m, c in zip(matrices, cs):
                r = next(restored)
                out = paste_back(out, blend(c, r, s) if s < 1 else r, m, crop=c)
            if on_frame:
                on_frame(len(cs))
            yield out
        pending.clear()

    for frame in frames:
        faces = deblurrer.detector.detect(frame) if min(frame.shape[:2]) >= MIN_DETECT_SIDE else []
        matrices = [alignment_matrix(lm) for lm in tracker.update(faces)]
        seen_face = seen_face or bool(matrices)
        pending.append((frame, matrices, [warp_face(frame, m) for m in matrices]))
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
    try:
        with av.open(str(path)) as c:
            for frame in c.decode(video=0):
                return int(frame.rotation or 0)
    except (av.FFmpegError, IndexError) as err:
        raise VideoError(f"{path}: not a readable video ({_first_line(err)})") from None
    return 0


def _first_line(err: Exception) -> str:
    return (str(err).splitlines() or [type(err).__name__])[0]


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
) -> VideoReport:
    """Deblur the faces of ``src`` into ``dst`` (H.264, yuv420p, ``crf``; audio copied unchanged).

    ``no_face``: ``pass`` copies frames without faces unchanged; ``error`` refuses a video
    with no face at all (nothing is written). ``progress(done, total)`` is called per frame.
    """
    av = _av()
    src, dst = Path(src), Path(dst)
    if not 0 <= crf <= 51:
        raise ValueError(f"--crf must be 0..51 (H.264), got {crf}")
    report = VideoReport()
    rotation = _rotation(src)
    turns = int(round(rotation / 90)) % 4  # display = stored frame turned counter-clockwise
    tmp = dst.with_name(f".{dst.stem}.part{dst.suffix}")
    t0 = time.perf_counter()
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        inp = av.open(str(src))
    except av.FFmpegError as err:
        raise VideoError(f"{src}: not a readable video ({_first_line(err)})") from None
    try:
        if not inp.streams.video:
            raise VideoError(f"{src}: no video stream")
        vin = inp.streams.video[0]
        vin.thread_type = "AUTO"
        total = vin.frames or None
        audio = list(inp.streams.audio)
        report.audio_streams = len(audio)
        with av.open(str(tmp), "w") as out:
            vout = out.add_stream("libx264", rate=vin.average_rate or vin.guessed_rate or Fraction(25))
            vout.width, vout.height = vin.codec_context.width, vin.codec_context.height
            vout.pix_fmt = "yuv420p"
            vout.time_base = vout.codec_context.time_base = vin.time_base  # keep every timestamp
            vout.options = {"crf": str(crf), "preset": "medium", "rc-lookahead": "20"}
            if rotation:
                vout.set_display_rotation(rotation)
            aout = {a.index: out.add_stream_from_template(a) for a in audio}
            cc = vin.codec_context
            # 4:2:0 input (nearly all video): exact conversions, unchanged pixels keep their planes.
            exact = cc.pix_fmt == "yuv420p" and cc.width % 2 == 0 and cc.height % 2 == 0
            for tag in ("colorspace", "color_range", "color_primaries", "color_trc"):  # decoded as the input
                setattr(vout.codec_context, tag, getattr(cc, tag))
            conv: dict = {}  # the stream's Yuv420, from its first frame's tags
            pending: list = []  # (pts, time_base, planes, rgb) of frames not yet encoded

            def upright_frames() -> Iterator[np.ndarray]:
                for packet in inp.demux(vin, *audio):
                    if packet.stream.type == "audio":
                        if packet.dts is not None:  # the demuxer's flush packets carry no data
                            packet.stream = aout[packet.stream.index]
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
        if report.frames == 0:
            raise VideoError(f"{src}: no decodable video frames")
        os.replace(tmp, dst)
    except av.FFmpegError as err:
        raise VideoError(f"{src}: broken or truncated video ({_first_line(err)})") from None
    finally:
        inp.close()
        if tmp.exists():
            tmp.unlink()
    report.seconds = time.perf_counter() - t0
    return report
