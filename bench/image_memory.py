"""Peak memory and CPU of an image upload: the web request's check, the worker's re-encoding.

    python -m bench.image_memory          # ours
    python -m bench.image_memory --old    # also main's prepare_upload on the probe's GIF

Each case runs in a fresh process (ru_maxrss is a process's high-water mark) after Django
and Pillow are imported, and prints that process's peak RSS, its growth over the baseline
and the CPU seconds of the call. Pillow allocates pixels outside Python's allocator, so
tracemalloc would not see them: RSS is the figure that kills a worker.

The inputs are built small: a GIF whose frames are one-pixel patches on a large canvas is a
few bytes per frame on disk and a whole canvas per frame decoded (the probe's 2.5 MB GIF of
1,000 frames of 1000 x 1000 costs the same to decode as this 23 kB one).
"""

from __future__ import annotations

import json
import os
import resource
import struct
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OLD_CAP_BYTES = 3 * 1024**3  # the old code is stopped by a MemoryError rather than the OOM killer


def many_frames_gif(width: int, height: int, frames: int) -> bytes:
    """Same as tests/posts/test_image_processing.py's builder (kept apart: the bench imports no
    test module)."""
    out = [
        b"GIF89a",
        struct.pack("<HHBBB", width, height, 0x80, 0, 0),
        b"\x00\x00\x00\xff\xff\xff",
        b"!\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00",
    ]
    for i in range(frames):
        out.append(b"!\xf9\x04\x00" + struct.pack("<H", 10) + b"\x00\x00")
        out.append(b"," + struct.pack("<HHHHB", i % width, (i // width) % height, 1, 1, 0))
        out.append(b"\x02\x02" + (b"\x4c\x01" if i % 2 else b"\x44\x01") + b"\x00")
    out.append(b";")
    return b"".join(out)


CASES = {
    # name: (what runs, width, height, frames)
    "web: probe GIF 1000x1000 x 1,000 frames": ("inspect", 1000, 1000, 1000),
    "web: probe GIF 6000x6000 x 120 frames": ("inspect", 6000, 6000, 120),
    "worker: GIF 1000x1000 x 100 frames (at IMAGE_MAX_TOTAL_PIXELS)": ("reencode", 1000, 1000, 100),
    "old web: main's prepare_upload, probe GIF 1000x1000 x 1,000": ("old", 1000, 1000, 1000),
}


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def _child(name: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "queueloop.settings")
    os.environ.setdefault("DEBUG", "true")
    import django

    django.setup()
    from posts import media

    kind, width, height, frames = CASES[name]
    data = many_frames_gif(width, height, frames)
    if kind == "old":
        import importlib.util

        source = subprocess.run(
            ["git", "show", "main:posts/media.py"], cwd=ROOT, capture_output=True, check=True
        ).stdout
        path = Path("/tmp/queueloop_old_media.py")
        path.write_bytes(source)
        spec = importlib.util.spec_from_file_location("old_media", path)
        old = importlib.util.module_from_spec(spec)
        sys.modules["old_media"] = old  # its dataclasses look their module up
        spec.loader.exec_module(old)
        resource.setrlimit(resource.RLIMIT_AS, (OLD_CAP_BYTES, OLD_CAP_BYTES))
        call = lambda: old.prepare_upload(data, filename="probe.gif")  # noqa: E731
    elif kind == "inspect":
        call = lambda: media.inspect_upload(data, filename="probe.gif")  # noqa: E731
    else:
        call = lambda: media.reencode(data, filename="probe.gif")  # noqa: E731
    baseline = _rss_mb()
    cpu = time.process_time()
    try:
        result = call()
        outcome = f"accepted ({len(getattr(result, 'data', b'')):,} bytes out)"
    except media.ImageRefused as exc:
        outcome = f"refused: {exc}"
    except MemoryError:
        outcome = f"MemoryError at the {OLD_CAP_BYTES / 1024**3:.0f} GB cap"
    except Exception as exc:  # what the old code raised
        outcome = f"{type(exc).__name__}: {exc}"
    print(
        json.dumps(
            {
                "case": name,
                "file_bytes": len(data),
                "baseline_rss_mb": round(baseline, 1),
                "peak_rss_mb": round(_rss_mb(), 1),
                "growth_mb": round(_rss_mb() - baseline, 1),
                "cpu_s": round(time.process_time() - cpu, 2),
                "outcome": outcome,
            }
        )
    )


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        _child(sys.argv[2])
        return
    names = [n for n in CASES if "--old" in sys.argv or CASES[n][0] != "old"]
    for name in names:
        run = subprocess.run(
            [sys.executable, "-m", "bench.image_memory", "--child", name],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
        )
        lines = [line for line in run.stdout.splitlines() if line.startswith("{")]
        if not lines:
            print(f"{name}: failed\n{run.stderr[-2000:]}")
            continue
        row = json.loads(lines[-1])
        print(
            f"{row['case']}\n  file {row['file_bytes']:,} B · peak RSS {row['peak_rss_mb']} MB "
            f"(+{row['growth_mb']} MB over {row['baseline_rss_mb']} MB after start-up) · "
            f"CPU {row['cpu_s']} s · {row['outcome']}"
        )


if __name__ == "__main__":
    main()
