// The live view: reads the trace's batches from /api/events (Server-Sent
// Events), merges them and draws them as a graph (network-graph's edges)
// and as a table (every gadget).
import cytoscape from "cytoscape";
import type { Core, ElementDefinition, NodeSingular } from "cytoscape";
import fcose from "cytoscape-fcose";
import { Graph, isEdgeSchema, isRecord, matches, formatBytes } from "./model";
import type { Filter, GadgetEvent, GraphEdge, Observation } from "./model";
import { toSVG } from "./svg";

cytoscape.use(fcose);

interface Info {
  gadget: string;
  source?: string;
  intervalMs?: number;
  fields?: string[];
}

interface Batch {
  seq: number;
  time: string;
  events: GadgetEvent[];
}

/**
 * Timings for the benchmark, in milliseconds: the script's time to apply
 * the first batch (with the first layout) and the last one, and the time
 * until the next animation frame after each, when cytoscape draws.
 */
interface Timings {
  firstLayoutMs: number;
  firstFrameMs: number;
  lastUpdateMs: number;
  lastFrameMs: number;
  updates: number;
  frames: number;
  /** The last layout alone. */
  layoutMs: number;
  /** From the last batch to the frame after its table rows were updated. */
  tableMs: number;
  tables: number;
}

const maxTableRows = 5000;
/** Above this many endpoints, groupedLayout replaces the force layout. */
const forceLayoutMax = 150;
/** Above this many edges, edges are drawn the cheap way (haystack). */
const largeGraph = 500;
/**
 * minLabelPx is the smallest label size, on screen, that is drawn: smaller
 * labels cannot be read, and skipping them keeps redraws of large graphs
 * (zoomed out) fast. Zooming in brings them back.
 */
const minLabelPx = 6;
const maxWarnings = 200;

function $(id: string): HTMLElement {
  const el = document.getElementById(id);
  if (!el) throw new Error(`element #${id} is missing from index.html`);
  return el;
}

function text(tag: string, s: string, cls?: string): HTMLElement {
  const el = document.createElement(tag);
  el.textContent = s;
  if (cls) el.className = cls;
  return el;
}

function download(name: string, blob: Blob): void {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

/** formatTime shortens an RFC 3339 time to the second: 2026-01-02 15:04:05Z. */
function formatTime(t: string): string {
  return t ? t.replace("T", " ").replace(/\.\d+(?=Z|[+-]\d\d:\d\d$)/, "") : "";
}

/** Edge width in pixels for a byte count or a rate in bytes per second. */
function widthFor(v: number): number {
  // Half-pixel steps: a counter that moves a little redraws nothing.
  return Math.round(Math.min(14, 1 + Math.log10(1 + v) * 1.3) * 2) / 2;
}

class View {
  private info: Info = { gadget: "" };
  /** Whether the events are graph edges; undefined until known. */
  private graphMode: boolean | undefined;
  private readonly graph = new Graph();
  private readonly rows: GadgetEvent[] = [];
  private droppedRows = 0;
  private columns: string[] = [];
  private cy: Core | undefined;
  private laidOut = false;
  private straight = false;
  private newSinceLayout = 0;
  private paused = false;
  private readonly pending: Batch[] = [];
  private flushScheduled = false;
  private batches = 0;
  private lastSeq = 0;
  private warningCount = 0;
  private filter: Filter = { namespace: "", pod: "", proto: "", port: 0 };
  private widthBy: "bytes" | "rate" = "bytes";
  private readonly namespaces = new Set<string>();
  private selected: string | undefined;
  /** The rows of the edge table by observation key (graph mode). */
  private readonly rowByKey = new Map<string, HTMLTableRowElement>();
  /** Observation keys whose table rows wait for deferTable. */
  private readonly tableKeys = new Set<string>();
  private tableScheduled = false;
  readonly timings: Timings = { firstLayoutMs: 0, firstFrameMs: 0, lastUpdateMs: 0, lastFrameMs: 0, updates: 0, frames: 0, layoutMs: 0, tableMs: 0, tables: 0 };

  start(): void {
    const es = new EventSource("api/events");
    es.addEventListener("info", (ev) => this.onInfo(JSON.parse((ev as MessageEvent<string>).data) as Info));
    es.addEventListener("batch", (ev) => this.enqueue(JSON.parse((ev as MessageEvent<string>).data) as Batch));
    es.addEventListener("warning", (ev) => {
      const w = JSON.parse((ev as MessageEvent<string>).data) as { time: string; message: string };
      this.warn(w.message, w.time);
    });
    es.onopen = () => this.status();
    es.onerror = () => {
      const s = $("status");
      s.textContent = es.readyState === EventSource.CLOSED ? "disconnected" : "disconnected, reconnecting…";
      s.className = "error";
    };
    this.wireControls();
  }

  private onInfo(info: Info): void {
    this.info = info;
    $("title").textContent = `gadget ${info.gadget}`;
    document.title = `${info.gadget} — gadget live view`;
    $("source").textContent = info.source ?? "";
    if (info.fields && info.fields.length > 0 && this.graphMode === undefined) {
      this.setMode(isEdgeSchema(info.fields), info.fields);
    }
    this.status();
  }

  private setMode(graph: boolean, fields: string[]): void {
    this.graphMode = graph;
    document.body.classList.toggle("table-view", !graph);
    if (graph) {
      this.columns = ["namespace", "pod", "direction", "proto", "remote", "port", "packets", "bytes", "firstSeen", "lastSeen"];
      $("table-title").textContent = "Edges (client → server)";
    } else {
      this.columns = fields.filter((f) => f !== "type" && f !== "message");
      $("table-title").textContent = "Events";
    }
    // A graph's table has known columns: a fixed table layout sizes them
    // once instead of measuring every cell of thousands of rows each time
    // a counter changes.
    $("edges").classList.toggle("fixed", graph);
    const head = $("edges-head");
    head.replaceChildren(...this.columns.map((c) => {
      const th = text("th", c);
      th.setAttribute("scope", "col");
      th.dataset.col = c;
      return th;
    }));
  }

  private enqueue(b: Batch): void {
    this.pending.push(b);
    if (this.paused || this.flushScheduled) {
      this.status();
      return;
    }
    this.flushScheduled = true;
    setTimeout(() => this.flush(), 0);
  }

  /** flush applies every batch received since the last flush, then draws once. */
  private flush(): void {
    this.flushScheduled = false;
    if (this.paused || this.pending.length === 0) return;
    const t0 = performance.now();
    const batches = this.pending.splice(0);
    const newEndpoints: string[] = [];
    const newEdges: string[] = [];
    const touched = new Set<string>();
    const touchedKeys = new Set<string>();
    for (const b of batches) {
      for (const e of b.events) {
        if (!isRecord(e)) {
          this.warn(`${e.node ? e.node + ": " : ""}${e.message ?? e.type}`, b.time);
          continue;
        }
        if (this.graphMode === undefined) {
          const fields = Object.keys(e);
          this.setMode(isEdgeSchema(fields), fields);
        }
        if (this.graphMode) {
          const r = this.graph.add(e, b.seq);
          touchedKeys.add(r.key);
          newEndpoints.push(...r.newEndpoints);
          if (r.newEdge) newEdges.push(r.edge);
          touched.add(r.edge);
          if (e.namespace) this.namespaces.add(e.namespace);
          if (e.remotePodNamespace) this.namespaces.add(e.remotePodNamespace);
        } else {
          this.rows.push(e);
          if (e.namespace) this.namespaces.add(e.namespace);
        }
      }
      this.batches++;
      this.lastSeq = b.seq;
    }
    if (this.rows.length > maxTableRows) {
      const n = this.rows.length - maxTableRows;
      this.rows.splice(0, n);
      this.droppedRows += n;
    }
    this.updateNamespaceOptions();
    if (this.graphMode) {
      this.draw(newEndpoints, newEdges, touched);
      this.deferTable(touchedKeys, t0);
    } else {
      this.renderTable();
    }
    this.status();
    const ms = performance.now() - t0;
    const first = this.graphMode && !this.timings.firstLayoutMs && this.laidOut;
    if (first) {
      this.timings.firstLayoutMs = ms;
    } else {
      this.timings.lastUpdateMs = ms;
      this.timings.updates++;
    }
    requestAnimationFrame(() => {
      const frame = performance.now() - t0;
      if (first) {
        this.timings.firstFrameMs = frame;
      } else {
        this.timings.lastFrameMs = frame;
      }
      this.timings.frames++;
    });
  }

  /**
   * deferTable updates the edge table after the next frame: laying out
   * thousands of rows takes longer than drawing the graph, so the graph
   * is drawn first and the table follows a frame later. Keys of batches
   * that arrive meanwhile join the pending update.
   */
  private deferTable(keys: Set<string>, t0: number): void {
    for (const k of keys) this.tableKeys.add(k);
    if (this.tableScheduled) return;
    this.tableScheduled = true;
    requestAnimationFrame(() =>
      setTimeout(() => {
        this.tableScheduled = false;
        const pending = new Set(this.tableKeys);
        this.tableKeys.clear();
        this.updateTable(pending);
        requestAnimationFrame(() => {
          this.timings.tableMs = performance.now() - t0;
          this.timings.tables++;
        });
      }, 0),
    );
  }

  private ensureCy(): Core {
    if (this.cy) return this.cy;
    const cy = cytoscape({
      container: $("graph"),
      wheelSensitivity: 0.3,
      pixelRatio: 1,
      hideEdgesOnViewport: true,
      minZoom: 0.05,
      maxZoom: 4,
      style: [
        { selector: "node", style: { label: "data(label)", "font-size": 10, "min-zoomed-font-size": minLabelPx, "text-valign": "bottom", "text-margin-y": 3, width: 20, height: 20, "background-color": "#2b6cb0" } },
        { selector: "node[kind = 'svc']", style: { shape: "round-rectangle", "background-color": "#2f855a" } },
        { selector: "node[kind = 'node']", style: { shape: "diamond", "background-color": "#6b46c1" } },
        { selector: "node[kind = 'ext']", style: { "background-color": "#c05621" } },
        { selector: "node[?stale]", style: { "background-opacity": 0.4, "font-style": "italic" } },
        { selector: ":parent", style: { "background-color": "#f4f6fa", "border-color": "#a0aec0", "border-width": 1, "text-valign": "top", "text-halign": "center", "font-size": 11, "min-zoomed-font-size": minLabelPx, shape: "round-rectangle", padding: "12px" } },
        { selector: "edge", style: { width: "data(w)", "curve-style": "bezier", "target-arrow-shape": "triangle", "line-color": "#718096", "target-arrow-color": "#718096", "arrow-scale": 0.8, opacity: 0.75 } },
        { selector: "edge:selected, edge.hover", style: { "line-color": "#d69e2e", "target-arrow-color": "#d69e2e", opacity: 1, label: "data(label)", "font-size": 9, "text-background-color": "#fff", "text-background-opacity": 0.8 } },
        { selector: ".hidden", style: { display: "none" } },
      ],
    });
    const tip = $("tooltip");
    cy.on("mouseover", "edge, node", (ev) => {
      const el = ev.target as cytoscape.SingularElementArgument;
      if (el.isEdge()) el.addClass("hover");
      tip.textContent = el.isEdge() ? this.edgeSummary(el.id()) : String(el.data("label"));
      tip.hidden = false;
    });
    cy.on("mousemove", (ev) => {
      const e = ev.originalEvent as MouseEvent | undefined;
      if (e) {
        tip.style.left = `${e.clientX + 12}px`;
        tip.style.top = `${e.clientY + 12}px`;
      }
    });
    cy.on("mouseout", "edge, node", (ev) => {
      (ev.target as cytoscape.SingularElementArgument).removeClass("hover");
      tip.hidden = true;
    });
    cy.on("tap", "edge, node", (ev) => {
      this.selected = (ev.target as cytoscape.SingularElementArgument).id();
      this.renderDetails();
    });
    this.cy = cy;
    return cy;
  }

  private edgeData(edge: GraphEdge): { w: number; label: string } {
    const c = this.graph.counters(edge);
    const secs = (this.info.intervalMs ?? 0) / 1000;
    const v = this.widthBy === "rate" && secs > 0 ? c.lastBytes / secs : c.bytes;
    return { w: widthFor(v), label: `${edge.proto}/${edge.port}` };
  }

  private draw(newEndpoints: string[], newEdges: string[], touched: Set<string>): void {
    const cy = this.ensureCy();
    const adds: ElementDefinition[] = [];
    for (const id of newEndpoints) {
      const ep = this.graph.endpoints.get(id);
      if (!ep) continue;
      let parent: string | undefined;
      if (ep.group) {
        parent = `grp:${ep.group}`;
        if (cy.getElementById(parent).empty() && !adds.some((a) => a.data.id === parent)) {
          adds.push({ group: "nodes", data: { id: parent, label: ep.group, kind: "group" } });
        }
      }
      adds.push({ group: "nodes", data: { id, label: ep.label, kind: ep.kind, stale: ep.stale, parent } });
    }
    for (const id of newEdges) {
      const edge = this.graph.edges.get(id);
      if (!edge) continue;
      adds.push({ group: "edges", data: { id, source: edge.source, target: edge.target, ...this.edgeData(edge) } });
    }
    if (!this.straight && this.graph.edges.size > largeGraph) {
      // Haystack edges (straight, arrow at the middle, opaque) draw several
      // times faster than curves with end arrows; parallel edges then
      // overlap, which at this size nobody tells apart anyway. Switched
      // before the elements are added, so their style is computed once.
      this.straight = true;
      cy.style()
        .selector("edge")
        .style({ "curve-style": "haystack", "haystack-radius": 0, "target-arrow-shape": "none", "mid-target-arrow-shape": "triangle", "mid-target-arrow-color": "#a0aec0", "line-color": "#a0aec0", opacity: 1 })
        .update();
    }
    cy.batch(() => {
      const added = cy.add(adds);
      const created = new Set(newEdges);
      for (const id of touched) {
        const edge = this.graph.edges.get(id);
        if (!edge || created.has(id)) continue;
        const el = cy.getElementById(id);
        const d = this.edgeData(edge);
        if (el.data("w") !== d.w) el.data(d);
      }
      // Names learned later (DNS) relabel external endpoints.
      for (const ep of this.graph.endpoints.values()) {
        if (ep.kind !== "ext") continue;
        const n = cy.getElementById(ep.id);
        if (n.data("label") !== ep.label) n.data({ label: ep.label, stale: ep.stale });
      }
      if (this.laidOut) this.place(added.nodes(":childless"));
    });
    this.newSinceLayout += newEndpoints.length;
    const nodes = cy.nodes(":childless").length;
    if (!this.laidOut && nodes > 0) {
      this.layout(true);
    } else if (this.newSinceLayout > Math.max(4, nodes * 0.2) && nodes <= 600) {
      this.layout(false);
    }
    this.applyFilter();
    if (this.selected && touched.has(this.selected)) this.renderDetails();
  }

  /** place puts new endpoints next to a neighbour already drawn, so the picture stays still. */
  private place(nodes: cytoscape.NodeCollection): void {
    const cy = this.ensureCy();
    const ext = cy.elements().boundingBox({});
    nodes.forEach((n: NodeSingular) => {
      const anchor = n.neighborhood("node").filter((m) => !nodes.contains(m)).first();
      const sibling = n.parent().nonempty() ? n.siblings().filter((m) => !nodes.contains(m)).first() : cy.collection();
      const ref = sibling.nonempty() ? sibling : anchor;
      const base = ref.nonempty() ? (ref as NodeSingular).position() : { x: ext.x2 + 60, y: ext.y1 + Math.random() * Math.max(100, ext.h) };
      const a = Math.random() * 2 * Math.PI;
      n.position({ x: base.x + 45 * Math.cos(a), y: base.y + 45 * Math.sin(a) });
    });
  }

  private layout(randomize: boolean): void {
    const cy = this.ensureCy();
    const n = cy.nodes(":childless").length;
    const t0 = performance.now();
    if (n > forceLayoutMax) {
      this.groupedLayout(cy);
    } else {
      cy.layout({
        name: "fcose",
        randomize,
        animate: false,
        quality: "default",
        nodeRepulsion: () => 6000,
        idealEdgeLength: () => 90,
        nestingFactor: 0.3,
        packComponents: true,
        fit: true,
        padding: 30,
      } as cytoscape.LayoutOptions).run();
    }
    this.laidOut = true;
    this.newSinceLayout = 0;
    this.timings.layoutMs = performance.now() - t0;
  }

  /**
   * groupedLayout places large graphs without a force simulation (which
   * takes seconds there): each group's endpoints on a circle in a cell of
   * a grid, and the ungrouped ones (external endpoints, nodes) on a ring
   * around the grid.
   */
  private groupedLayout(cy: Core): void {
    const groups = cy.nodes(":parent").sort((a, b) => (String(a.data("label")) < String(b.data("label")) ? -1 : 1));
    const cells = groups.map((g) => (g as NodeSingular).children());
    const radius = (k: number) => Math.max(30, (k * 34) / (2 * Math.PI));
    const cell = 2 * Math.max(30, ...cells.map((c) => radius(c.length))) + 80;
    const cols = Math.max(1, Math.ceil(Math.sqrt(cells.length)));
    const rows = Math.ceil(cells.length / cols);
    const loose = cy.nodes(":childless").filter((node) => node.parent().empty());
    const mid = { x: ((cols - 1) * cell) / 2, y: ((rows - 1) * cell) / 2 };
    const ring = loose.empty() ? 0 : Math.max((Math.max(cols, rows) * cell) / 2 + 120, (loose.length * 30) / (2 * Math.PI));
    cy.batch(() => {
      cells.forEach((children, i) => {
        const cx = (i % cols) * cell;
        const cyy = Math.floor(i / cols) * cell;
        const r = radius(children.length);
        children.forEach((c: NodeSingular, j: number) => {
          const a = (2 * Math.PI * j) / children.length;
          c.position({ x: cx + r * Math.cos(a), y: cyy + r * Math.sin(a) });
        });
      });
      loose.forEach((node, j) => {
        const a = (2 * Math.PI * j) / loose.length;
        node.position({ x: mid.x + ring * Math.cos(a), y: mid.y + ring * Math.sin(a) });
      });
    });
    // The extent is known from the placement: fitting the viewport to it
    // spares cytoscape a bounding box over every edge and group (seconds
    // at 2,000 edges).
    const halfW = Math.max(ring, (cols * cell) / 2) + 40;
    const halfH = Math.max(ring, (rows * cell) / 2) + 40;
    const zoom = Math.min(cy.maxZoom(), Math.max(cy.minZoom(), Math.min(cy.width() / (2 * halfW), cy.height() / (2 * halfH))));
    cy.viewport({ zoom, pan: { x: cy.width() / 2 - zoom * mid.x, y: cy.height() / 2 - zoom * mid.y } });
  }

  private visibleEdge(edge: GraphEdge): boolean {
    return edge.keys.some((k) => {
      const o = this.graph.observations.get(k);
      return !!o && matches(this.filter, o);
    });
  }

  private applyFilter(): void {
    const cy = this.cy;
    if (!cy) return;
    const f = this.filter;
    const active = !!(f.namespace || f.pod || f.proto || f.port);
    cy.batch(() => {
      if (!active) {
        cy.elements(".hidden").removeClass("hidden");
        return;
      }
      const shown = new Set<string>();
      for (const edge of this.graph.edges.values()) {
        const vis = this.visibleEdge(edge);
        cy.getElementById(edge.id).toggleClass("hidden", !vis);
        if (vis) {
          shown.add(edge.source);
          shown.add(edge.target);
        }
      }
      cy.nodes(":childless").forEach((n) => {
        n.toggleClass("hidden", !shown.has(n.id()));
      });
      cy.nodes(":parent").forEach((g) => {
        g.toggleClass("hidden", g.children().filter((c) => !c.hasClass("hidden")).empty());
      });
    });
  }

  private remoteText(e: GadgetEvent): string {
    switch (e.remoteKind) {
      case "pod":
        return `pod ${e.remotePodNamespace ? e.remotePodNamespace + "/" : ""}${e.remotePodName ?? e.ip}`;
      case "svc":
        return `svc ${e.remoteServiceNamespace}/${e.remoteServiceName}`;
    }
    return e.remoteName ? `${e.remoteName}${e.remoteNameStale ? " (stale)" : ""} (${e.ip})` : (e.ip ?? e.remoteOther ?? "");
  }

  private cell(o: Observation, col: string): string {
    const e = o.event;
    switch (col) {
      case "direction":
        return e.pktType === "HOST" ? "← in (server)" : "→ out (client)";
      case "remote":
        return this.remoteText(e);
      case "packets":
        return String(o.packets);
      case "bytes":
        return formatBytes(o.bytes);
      case "firstSeen":
        return formatTime(o.firstSeen);
      case "lastSeen":
        return formatTime(o.lastSeen);
    }
    const v = e[col];
    return v === undefined || v === null ? "" : String(v);
  }

  /** row is the table row of an observation. */
  private row(o: Observation): HTMLTableRowElement {
    const tr = document.createElement("tr");
    tr.dataset.key = o.key;
    for (const c of this.columns) {
      const td = text("td", this.cell(o, c), c === "packets" || c === "bytes" || c === "port" ? "num" : undefined);
      if (c === "remote") {
        td.title = td.textContent ?? "";
        if (o.event.remoteNameStale) td.classList.add("stale");
      }
      tr.append(td);
    }
    return tr;
  }

  /**
   * updateTable brings the edge table up to date after a batch: the
   * counters of the rows of keys are rewritten in place, new observations
   * are appended (the table lists edges in the order they were first seen).
   */
  private updateTable(keys: Set<string>): void {
    const body = $("edges-body");
    const frag = document.createDocumentFragment();
    for (const k of keys) {
      const o = this.graph.observations.get(k);
      if (!o) continue;
      const tr = this.rowByKey.get(k);
      if (!tr) {
        if (!matches(this.filter, o)) continue;
        const r = this.row(o);
        this.rowByKey.set(k, r);
        frag.append(r);
        continue;
      }
      this.columns.forEach((c, i) => {
        const v = this.cell(o, c);
        const td = tr.children[i];
        if (td.textContent !== v) td.textContent = v;
      });
      if (o.event.remoteNameStale !== undefined) tr.children[this.columns.indexOf("remote")]?.classList.toggle("stale", !!o.event.remoteNameStale);
    }
    body.append(frag);
    $("table-note").textContent = `${this.rowByKey.size} of ${this.graph.observations.size} shown.`;
  }

  private renderTable(): void {
    const body = $("edges-body");
    const frag = document.createDocumentFragment();
    let shown = 0;
    let total = 0;
    if (this.graphMode) {
      this.rowByKey.clear();
      total = this.graph.observations.size;
      for (const o of this.graph.observations.values()) {
        if (!matches(this.filter, o)) continue;
        shown++;
        const r = this.row(o);
        this.rowByKey.set(o.key, r);
        frag.append(r);
      }
    } else {
      total = this.rows.length;
      for (let i = this.rows.length - 1; i >= 0; i--) {
        const e = this.rows[i];
        const o: Observation = { key: "", event: e, packets: 0, bytes: 0, firstSeen: "", lastSeen: "", lastBytes: 0, seq: 0 };
        if (!matches(this.filter, o)) continue;
        shown++;
        const tr = document.createElement("tr");
        for (const c of this.columns) {
          const v = e[c];
          tr.append(text("td", v === undefined || v === null ? "" : typeof v === "object" ? JSON.stringify(v) : String(v)));
        }
        frag.append(tr);
      }
    }
    body.replaceChildren(frag);
    const dropped = this.droppedRows ? `; ${this.droppedRows} older events are no longer listed` : "";
    $("table-note").textContent = `${shown} of ${total} shown${dropped}.`;
  }

  private edgeSummary(id: string): string {
    const edge = this.graph.edges.get(id);
    if (!edge) return id;
    const c = this.graph.counters(edge);
    const src = this.graph.endpoints.get(edge.source)?.label ?? edge.source;
    const dst = this.graph.endpoints.get(edge.target)?.label ?? edge.target;
    return `${src} → ${dst} ${edge.proto}/${edge.port}: ${c.packets} packets, ${formatBytes(c.bytes)}`;
  }

  private renderDetails(): void {
    const box = $("details");
    const id = this.selected;
    if (!id) return;
    const dl = document.createElement("dl");
    const row = (k: string, v: string) => dl.append(text("dt", k), text("dd", v));
    const edge = this.graph.edges.get(id);
    if (edge) {
      const c = this.graph.counters(edge);
      const secs = (this.info.intervalMs ?? 0) / 1000;
      row("client", this.graph.endpoints.get(edge.source)?.label ?? edge.source);
      row("server", this.graph.endpoints.get(edge.target)?.label ?? edge.target);
      row("protocol", edge.proto);
      row("port", String(edge.port));
      row("packets", String(c.packets));
      row("bytes", formatBytes(c.bytes));
      if (secs > 0) row("rate", `${formatBytes(c.lastBytes / secs)}/s (last batch)`);
      row("first seen", formatTime(c.firstSeen) || "–");
      row("last seen", formatTime(c.lastSeen) || "–");
      row("seen by", [...new Set(edge.keys.map((k) => this.graph.observations.get(k)?.event.pod ?? "?"))].join(", "));
      box.replaceChildren(text("h3", "Edge"), dl);
      return;
    }
    const ep = this.graph.endpoints.get(id);
    if (!ep) return;
    row("kind", ep.kind);
    row("name", ep.label + (ep.stale ? " (stale DNS name)" : ""));
    if (ep.group) row("group", ep.group);
    let out = 0;
    let inc = 0;
    for (const e of this.graph.edges.values()) {
      if (e.source === id) out++;
      if (e.target === id) inc++;
    }
    row("edges", `${out} as client, ${inc} as server`);
    box.replaceChildren(text("h3", "Endpoint"), dl);
  }

  private warn(message: string, time: string): void {
    this.warningCount++;
    const list = $("warning-list");
    const li = text("li", `${time ? time.replace("T", " ").replace(/\..*$/, "") + " " : ""}${message}`);
    list.prepend(li);
    while (list.children.length > maxWarnings) list.lastElementChild?.remove();
    $("warning-count").textContent = `(${this.warningCount})`;
    $("warnings").hidden = false;
  }

  private updateNamespaceOptions(): void {
    const sel = $("f-namespace") as HTMLSelectElement;
    const have = new Set([...sel.options].map((o) => o.value));
    for (const ns of [...this.namespaces].sort()) {
      if (!have.has(ns)) sel.append(new Option(ns, ns));
    }
  }

  private status(): void {
    const s = $("status");
    s.className = "";
    const every = this.info.intervalMs ? `, a batch every ${this.info.intervalMs / 1000}s` : "";
    const size = this.graphMode ? `${this.graph.edges.size} edges, ${this.graph.endpoints.size} endpoints` : `${this.rows.length + this.droppedRows} events`;
    s.textContent = this.paused
      ? `paused: ${this.pending.length} batches waiting`
      : `live: ${this.batches} batches, ${size}${every}`;
  }

  private readFilter(): void {
    this.filter = {
      namespace: ($("f-namespace") as HTMLSelectElement).value,
      pod: ($("f-pod") as HTMLInputElement).value.trim(),
      proto: ($("f-proto") as HTMLSelectElement).value,
      port: Number(($("f-port") as HTMLInputElement).value) || 0,
    };
    this.applyFilter();
    this.renderTable();
  }

  private wireControls(): void {
    for (const id of ["f-namespace", "f-pod", "f-proto", "f-port"]) {
      $(id).addEventListener("input", () => this.readFilter());
      $(id).addEventListener("change", () => this.readFilter());
    }
    $("f-width").addEventListener("change", () => {
      this.widthBy = ($("f-width") as HTMLSelectElement).value === "rate" ? "rate" : "bytes";
      const cy = this.cy;
      if (!cy) return;
      cy.batch(() => {
        for (const edge of this.graph.edges.values()) cy.getElementById(edge.id).data(this.edgeData(edge));
      });
    });
    const pause = $("pause");
    pause.addEventListener("click", () => {
      this.paused = !this.paused;
      pause.textContent = this.paused ? "Resume" : "Pause";
      pause.setAttribute("aria-pressed", String(this.paused));
      if (!this.paused) this.flush();
      this.status();
    });
    $("relayout").addEventListener("click", () => this.layout(true));
    $("export-svg").addEventListener("click", () => download(`${this.info.gadget || "graph"}.svg`, new Blob([this.exportSVG()], { type: "image/svg+xml" })));
    $("export-png").addEventListener("click", () => {
      const cy = this.cy;
      if (cy) download(`${this.info.gadget || "graph"}.png`, cy.png({ output: "blob", full: true, scale: 2, bg: "#ffffff" }));
    });
    $("export-json").addEventListener("click", () => download(`${this.info.gadget || "events"}.json`, new Blob([this.exportJSON()], { type: "application/json" })));
  }

  /** exportSVG is the visible graph as an SVG document. */
  exportSVG(): string {
    return this.cy ? toSVG(this.cy) : `<svg xmlns="http://www.w3.org/2000/svg"/>`;
  }

  /**
   * exportJSON is what the view holds as a JSON array of events: for a
   * graph one event per observation with its summed counters (the input
   * 'gadget format' and 'advise' read), otherwise the listed events.
   */
  exportJSON(): string {
    if (!this.graphMode) return JSON.stringify(this.rows, null, 2);
    const out = [...this.graph.observations.values()].map((o) => ({
      ...o.event,
      packets: o.packets || undefined,
      bytes: o.bytes || undefined,
      firstSeen: o.firstSeen || undefined,
      lastSeen: o.lastSeen || undefined,
    }));
    return JSON.stringify(out, null, 2);
  }

  /** State for tests and benchmarks. */
  snapshot(): { batches: number; lastSeq: number; edges: number; endpoints: number; visibleEdges: number; warnings: number; layoutDone: boolean } {
    return {
      batches: this.batches,
      lastSeq: this.lastSeq,
      edges: this.graph.edges.size,
      endpoints: this.graph.endpoints.size,
      // style() computes pending styles, where :visible may read stale ones.
      visibleEdges: this.cy ? this.cy.edges().filter((e) => [e, e.source(), e.target()].every((x) => x.style("display") !== "none")).length : 0,
      warnings: this.warningCount,
      layoutDone: this.laidOut,
    };
  }
}

const view = new View();
(window as unknown as { gadgetView: View }).gadgetView = view;
view.start();
