"""What the browser tests use to check a page's accessibility: axe-core (from node_modules,
injected into the page, so nothing downloads) limited to the WCAG 2.0, 2.1 and 2.2 A and
AA rules, and the reflow check of WCAG 1.4.10 (nothing scrolls sideways)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa"]
NARROW, WIDE = 320, 1280

_RUN = """tags => axe.run(document, {
  runOnly: {type: 'tag', values: tags},
  resultTypes: ['violations'],
}).then(r => r.violations.map(v => ({
  id: v.id, impact: v.impact, help: v.help,
  nodes: v.nodes.map(n => ({target: n.target.join(' '), summary: n.failureSummary})),
})))"""

_SIDEWAYS = """() => {
  const root = document.scrollingElement
  if (root.scrollWidth <= root.clientWidth) return null
  // Name what sticks out, so a failure says where to look.
  const wide = [...document.body.querySelectorAll('*')]
    .filter(e => e.getBoundingClientRect().right > root.clientWidth + 1)
    .filter(e => !e.parentElement || e.parentElement.getBoundingClientRect().right
                                     <= root.clientWidth + 1)
    .slice(0, 5)
    .map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')
              + (e.className && typeof e.className === 'string'
                 ? '.' + e.className.trim().split(/\\s+/).join('.') : ''))
  return {scrollWidth: root.scrollWidth, clientWidth: root.clientWidth, wide}
}"""


_SQUASHED = """maxLines => [...document.querySelectorAll('table')].flatMap(table => {
  if (table.getBoundingClientRect().width === 0) return []
  return [...table.querySelectorAll('tbody > tr')].flatMap(row => {
    // The row's tallest cell, in lines of its text (padding aside).
    const lines = Math.max(...[...row.children].map(cell => {
      const style = getComputedStyle(cell)
      const line = parseFloat(style.lineHeight) || parseFloat(style.fontSize) * 1.2
      const padding = parseFloat(style.paddingTop) + parseFloat(style.paddingBottom)
      const inner = cell.clientHeight - padding
      return Math.round(inner / line)
    }))
    return lines > maxLines
      ? [(table.id ? '#' + table.id : 'table') + ' row ' + row.rowIndex + ': ' + lines + ' lines']
      : []
  })
})"""


def need_axe() -> Path:
    """axe-core's script, installed by ``npm ci``.

    Raises:
        AssertionError: it is not installed.
    """
    assert AXE.is_file(), f"axe-core is not installed at {AXE}: run `npm ci`"
    return AXE


async def axe_violations(page: Any) -> list[dict[str, Any]]:
    """The page's violations of the WCAG A and AA rules, as axe-core reports them.

    The page's browser context must be made with ``bypass_csp=True``: axe is injected as
    an inline script, which the app's Content-Security-Policy would otherwise refuse.
    """
    if not await page.evaluate("() => typeof window.axe !== 'undefined'"):
        await page.add_script_tag(path=str(need_axe()))
    violations: list[dict[str, Any]] = await page.evaluate(_RUN, WCAG_AA)
    return violations


async def sideways_scroll(page: Any) -> dict[str, Any] | None:
    """None when the page needs no sideways scrolling; otherwise its widths and the
    outermost elements that stick out."""
    found: dict[str, Any] | None = await page.evaluate(_SIDEWAYS)
    return found


async def squashed_rows(page: Any, max_lines: int = 6) -> list[str]:
    """Table rows taller than ``max_lines`` lines of text: columns squeezed so narrow that
    short values wrap into a tall, thin table (read at desktop width)."""
    found: list[str] = await page.evaluate(_SQUASHED, max_lines)
    return found


def describe(violations: list[dict[str, Any]]) -> str:
    """Violations in a few lines each: rule, impact, help and where."""
    lines = []
    for v in violations:
        lines.append(f"  {v['id']} ({v['impact']}): {v['help']}")
        lines.extend(f"    {node['target']}" for node in v["nodes"][:5])
    return "\n".join(lines)
