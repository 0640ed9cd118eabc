"""Screenshots of the real app (an X window, not offscreen): live, several faces, review and demo mode.

    .venv/bin/python scripts/app_screenshots.py --video ../shared/data/videos/single_face.mp4 --out /tmp/shots

Without a DISPLAY it starts its own Xvfb (install the `xvfb` package). The app
runs in this process on Qt's xcb platform; each shot is the window as the X
server shows it (QScreen.grabWindow). Screenshots are for looking at, not for
committing. Settings go to a temporary INI file, not the user's.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
XVFB_DISPLAY = ":87"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--video", type=Path, default=SHARED / "videos" / "single_face.mp4")
    parser.add_argument("--faces-image", type=Path, default=SHARED / "images" / "multi_face.jpg",
                        help="a picture with several people, for the several-faces shot")
    parser.add_argument("--model", default=None, help="checkpoint (default: the shipped model)")
    parser.add_argument("--out", type=Path, default=Path("/tmp/affectstream-shots"))
    parser.add_argument("--screen", default="1920x1080", help="Xvfb screen size when it starts one")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for each state")
    return parser.parse_args()


def start_xvfb(screen: str) -> subprocess.Popen:
    if shutil.which("Xvfb") is None:
        sys.exit("no DISPLAY and no Xvfb: install the xvfb package or run under xvfb-run")
    server = subprocess.Popen(["Xvfb", XVFB_DISPLAY, "-screen", "0", f"{screen}x24", "-nolisten", "tcp"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.environ["DISPLAY"] = XVFB_DISPLAY
    socket = Path(f"/tmp/.X11-unix/X{XVFB_DISPLAY[1:]}")
    for _ in range(100):
        if socket.exists():
            return server
        time.sleep(0.05)
    server.kill()
    sys.exit("Xvfb did not start")


def main() -> int:
    args = parse_args()
    server = start_xvfb(args.screen) if not os.environ.get("DISPLAY") else None
    os.environ["QT_QPA_PLATFORM"] = "xcb"  # a real window: this is what the screenshots are about
    sys.path.insert(0, str(REPO))
    try:
        return take_screenshots(args)
    finally:
        if server is not None:
            server.terminate()
            server.wait(5)


def take_screenshots(args: argparse.Namespace) -> int:
    from PySide6.QtWidgets import QApplication

    from affectstream.app.launch import AppSession, LaunchOptions
    from affectstream.app.settings import AppSettings, open_store, save_settings
    from affectstream.app.theme import apply_palette

    app = QApplication(["affectstream"])
    apply_palette(app)
    args.out.mkdir(parents=True, exist_ok=True)

    def wait_until(condition, what: str) -> None:
        deadline = time.monotonic() + args.timeout
        while not condition():
            if time.monotonic() > deadline:
                raise SystemExit(f"timed out waiting for {what}")
            app.processEvents()
            time.sleep(0.005)

    def settle(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            app.processEvents()
            time.sleep(0.005)

    def shoot(widget, name: str) -> Path:
        settle(0.3)  # let the last paint reach the X server
        path = args.out / f"{name}.png"
        pixmap = widget.screen().grabWindow(widget.winId())
        if not pixmap.save(str(path)):
            raise SystemExit(f"could not write {path}")
        print(f"{path}  ({pixmap.width()}x{pixmap.height()})")
        return path

    with tempfile.TemporaryDirectory(prefix="affectstream-shots-") as tmp:
        ini = Path(tmp) / "settings.ini"
        save_settings(open_store(ini), AppSettings(show_landmarks=True))
        session = AppSession(LaunchOptions(source=str(args.video), model=args.model, settings_file=str(ini)),
                             open_store(ini), cameras=[])
        window = session.main
        session.start()
        live = window.live
        wait_until(lambda: (live.dashboard.video.frame_number or 0) >= 45 or "Cannot" in
                   live.dashboard.video.message_text, "live frames")
        if window.messages and window.messages[-1][1]:
            raise SystemExit(f"the app says: {window.messages[-1][0]}")
        shoot(window, "1-live")

        window.start(str(args.faces_image))
        wait_until(lambda: live.state == "idle" and live.history.latest is not None and
                   len(live.dashboard.video.visible_boxes()) > 0, "several faces")
        shoot(window, "2-several-faces")

        review = window.review
        window.tabs.setCurrentWidget(review)
        review.analyse(args.video)
        wait_until(lambda: review.data is not None, "the review analysis")
        target = min(max(review.data.first_frame, 45), review.data.last_frame)
        review.seek(target)
        wait_until(lambda: review.dashboard.video.frame_number == target, "the review frame")
        shoot(window, "3-review")

        demo = session.open_demo(str(args.video))
        wait_until(lambda: demo.live.history.frames_added >= 40 and demo.isFullScreen(), "demo frames")
        wait_until(lambda: (demo.dashboard.video.frame_number or 0) >= 45, "a smiling frame in the demo")
        shoot(demo, "4-demo")
        demo.close()
        window.close()
        app.processEvents()
    return 0


if __name__ == "__main__":
    sys.exit(main())
