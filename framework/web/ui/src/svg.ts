// SVG export: the visible graph as a standalone SVG document, drawn from
// the positions cytoscape computed (groups as rectangles, endpoints as
// shapes, edges as arrows), so it opens in any browser or editor.
import type { Core } from "cytoscape";

function esc(s: string): string {
  return s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function num(n: number): string {
  return (Math.round(n * 10) / 10).toString();
}

const colors: Record<string, string> = { pod: "#2b6cb0", svc: "#2f855a", node: "#6b46c1", ext: "#c05621" };

/** toSVG returns the visible elements of cy as an SVG document. */
export function toSVG(cy: Core): string {
  const visible = cy.elements(":visible");
  const bb = visible.boundingBox({});
  const pad = 20;
  const w = Math.max(1, bb.w) + 2 * pad;
  const h = Math.max(1, bb.h) + 2 * pad;
  const ox = pad - bb.x1;
  const oy = pad - bb.y1;
  const out: string[] = [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<svg xmlns="http://www.w3.org/2000/svg" width="${num(w)}" height="${num(h)}" viewBox="0 0 ${num(w)} ${num(h)}" font-family="sans-serif" font-size="10">`,
    `<title>gadget network graph</title>`,
    `<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse">` +
      `<path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
  ];
  visible.nodes(":parent").forEach((g) => {
    const b = g.boundingBox({});
    out.push(
      `<g class="group"><rect x="${num(b.x1 + ox)}" y="${num(b.y1 + oy)}" width="${num(b.w)}" height="${num(b.h)}" rx="6" fill="#f4f6fa" stroke="#a0aec0"/>` +
        `<text x="${num(b.x1 + ox + 6)}" y="${num(b.y1 + oy + 12)}" fill="#4a5568">${esc(String(g.data("label") ?? ""))}</text></g>`,
    );
  });
  visible.edges().forEach((e) => {
    const s = e.sourceEndpoint();
    const t = e.targetEndpoint();
    const width = Number(e.style("width").replace("px", "")) || 1;
    out.push(
      `<g class="edge"><line x1="${num(s.x + ox)}" y1="${num(s.y + oy)}" x2="${num(t.x + ox)}" y2="${num(t.y + oy)}" stroke="#555" stroke-opacity="0.7" stroke-width="${num(width)}" marker-end="url(#arrow)"/>` +
        `<text x="${num((s.x + t.x) / 2 + ox)}" y="${num((s.y + t.y) / 2 + oy - 3)}" fill="#2d3748" text-anchor="middle">${esc(String(e.data("label") ?? ""))}</text></g>`,
    );
  });
  visible.nodes(":childless").forEach((n) => {
    const p = n.position();
    const kind = String(n.data("kind") ?? "ext");
    const fill = colors[kind] ?? "#718096";
    const x = p.x + ox;
    const y = p.y + oy;
    const shape =
      kind === "svc"
        ? `<rect x="${num(x - 10)}" y="${num(y - 10)}" width="20" height="20" fill="${fill}"/>`
        : kind === "node"
          ? `<polygon points="${num(x)},${num(y - 12)} ${num(x + 12)},${num(y)} ${num(x)},${num(y + 12)} ${num(x - 12)},${num(y)}" fill="${fill}"/>`
          : `<circle cx="${num(x)}" cy="${num(y)}" r="10" fill="${fill}"/>`;
    out.push(`<g class="endpoint ${esc(kind)}">${shape}<text x="${num(x)}" y="${num(y + 22)}" text-anchor="middle">${esc(String(n.data("label") ?? ""))}</text></g>`);
  });
  out.push(`</svg>`);
  return out.join("\n");
}
