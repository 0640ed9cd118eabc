"""Colours, fonts and line widths: the normal window and the high-contrast demo screen."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Theme:
    name: str
    background: str
    panel: str  # behind the plots' frames and labels
    foreground: str
    muted: str  # axes, grid, faint text
    font_pt: int  # axis labels and ticks
    title_pt: int  # plot titles
    headline_pt: int  # the followed face's expression above the video
    values_pt: int  # its valence and arousal beside it
    line_width: float  # bold (smoothed) curves; raw ones are thinner and faint
    valence: str
    arousal: str
    face: str  # boxes of faces not followed
    followed: str  # box of the followed face
    landmarks: str
    bar: str
    bar_top: str  # the top expression
    au_on: str
    au_off: str
    threshold: str
    error: str
    raw_alpha: int = 90  # 0-255 opacity of raw curves


NORMAL = Theme(
    name="normal", background="#1b1d21", panel="#24272c", foreground="#e8e8e8", muted="#8a9099",
    font_pt=10, title_pt=11, headline_pt=18, values_pt=13, line_width=2.5,
    valence="#4fa3ff", arousal="#ff9f43", face="#cfd4da", followed="#39e07a", landmarks="#7fe0ff",
    bar="#5c6b7a", bar_top="#39e07a", au_on="#ff5a7a", au_off="#4a525c", threshold="#ffffff", error="#ff6b6b",
)

DEMO = Theme(
    name="demo", background="#000000", panel="#000000", foreground="#ffffff", muted="#b0b0b0",
    font_pt=16, title_pt=18, headline_pt=40, values_pt=24, line_width=5.0,
    valence="#33b5ff", arousal="#ffb000", face="#ffffff", followed="#00ff66", landmarks="#00e5ff",
    bar="#606060", bar_top="#00ff66", au_on="#ff3366", au_off="#3a3a3a", threshold="#ffffff", error="#ff4040",
    raw_alpha=110,
)


def apply_palette(app, theme: Theme = NORMAL) -> None:
    """Fusion with the theme's colours, so toolbars and dialogs match the dark plots."""
    from PySide6.QtGui import QColor, QPalette

    app.setStyle("Fusion")
    palette = QPalette()
    role = QPalette.ColorRole
    for which, colour in ((role.Window, theme.panel), (role.WindowText, theme.foreground),
                          (role.Base, theme.background), (role.AlternateBase, theme.panel),
                          (role.Text, theme.foreground), (role.Button, theme.panel),
                          (role.ButtonText, theme.foreground), (role.ToolTipBase, theme.panel),
                          (role.ToolTipText, theme.foreground), (role.Highlight, theme.valence),
                          (role.HighlightedText, "#000000"), (role.PlaceholderText, theme.muted)):
        palette.setColor(which, QColor(colour))
    disabled = QPalette.ColorGroup.Disabled
    for which in (role.WindowText, role.Text, role.ButtonText):
        palette.setColor(disabled, which, QColor(theme.muted).darker(130))
    app.setPalette(palette)
