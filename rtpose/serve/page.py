"""The page of ``rtpose serve``'s ``/``: every stream's live view and figures, plain HTML and JavaScript.

The pictures are ``<img>`` elements on ``/streams/N/video`` (MJPEG, which browsers play by themselves); the
figures come from ``/streams`` once a second. A token given in the page's address (``?token=``) is passed on
to those requests (an ``<img>`` cannot send an ``Authorization`` header).
"""

from __future__ import annotations

import html

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>rtpose</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body { margin: 0; font: 14px system-ui, sans-serif; background: #111; color: #ddd; }
header { padding: 8px 12px; background: #222; }
main { display: flex; flex-wrap: wrap; gap: 8px; padding: 8px; }
figure { margin: 0; background: #1b1b1b; padding: 6px; }
img { display: block; width: 480px; max-width: 95vw; background: #000; }
figcaption { padding-top: 4px; font-variant-numeric: tabular-nums; }
.name { color: #fff; } .bad { color: #f66; }
</style></head>
<body><header>rtpose: <span id="state">connecting</span></header>
<main>__STREAMS__</main>
<script>
const token = new URLSearchParams(location.search).get("token");
const withToken = (path) => token ? path + "?token=" + encodeURIComponent(token) : path;
document.querySelectorAll("img[data-src]").forEach((img) => { img.src = withToken(img.dataset.src); });
async function tick() {
  try {
    const reply = await fetch(withToken("/streams"), { cache: "no-store" });
    const data = await reply.json();
    document.getElementById("state").textContent = data.ready ? "running" : "not ready";
    for (const s of data.streams) {
      const el = document.getElementById("fig" + s.stream);
      if (!el) continue;
      const f = (v, d) => (v === undefined || v === null) ? "-" : Number(v).toFixed(d);
      el.textContent = `${f(s.fps, 1)} frames/s · latency ${f(s.latency_ms, 0)} ms · ${f(s.people, 0)} people · ` +
        `${f(s.frames, 0)} frames · ${f(s.dropped, 0)} dropped · ${f(s.outages, 0)} outages`;
    }
  } catch (e) {
    document.getElementById("state").textContent = "unreachable";
  }
}
tick();
setInterval(tick, 1000);
</script></body></html>
"""


def page_html(headers: list[dict]) -> str:
    """The page for streams with these ``rtpose.poses`` headers (their ``source`` names are already redacted)."""
    figures = []
    for header in headers:
        n = int(header["stream"])
        figures.append(
            f'<figure><img data-src="/streams/{n}/video" alt="stream {n}">'
            f'<figcaption><span class="name">{n}: {html.escape(str(header["source"]))}</span><br>'
            f'<span id="fig{n}">-</span></figcaption></figure>')
    body = "\n".join(figures) or "<p>the streams are opening; reload in a moment</p>"
    return _PAGE.replace("__STREAMS__", body)




__all__ = ["page_html"]
