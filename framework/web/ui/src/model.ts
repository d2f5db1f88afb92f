// The data of the view, without the DOM: events merged into observations
// (one per edge as a pod saw it) and observations into a graph of
// endpoints and client → server edges.

/** One event of a batch, in its JSON form. Edge fields are network-graph's. */
export interface GadgetEvent {
  type?: string;
  message?: string;
  node?: string;
  namespace?: string;
  pod?: string;
  container?: string;
  pktType?: string;
  proto?: string;
  ip?: string;
  port?: number;
  remoteKind?: string;
  podHostIP?: string;
  remoteServiceNamespace?: string;
  remoteServiceName?: string;
  remotePodNamespace?: string;
  remotePodName?: string;
  remoteOther?: string;
  remoteName?: string;
  remoteNameStale?: boolean;
  packets?: number;
  bytes?: number;
  firstSeen?: string;
  lastSeen?: string;
  [field: string]: unknown;
}

/** An edge as one watched pod saw it, its counters summed over batches. */
export interface Observation {
  key: string;
  event: GadgetEvent;
  packets: number;
  bytes: number;
  firstSeen: string;
  lastSeen: string;
  /** Bytes counted in the last batch that had this observation. */
  lastBytes: number;
  /** Sequence number of that batch. */
  seq: number;
}

export type EndpointKind = "pod" | "svc" | "node" | "ext";

export interface Endpoint {
  id: string;
  kind: EndpointKind;
  label: string;
  /** Namespace (or, without one, "node NAME") the endpoint is grouped in; "" for none. */
  group: string;
  stale: boolean;
  /** Set on pods: the namespace and pod name, for the filters. */
  namespace: string;
  pod: string;
}

export interface GraphEdge {
  id: string;
  source: string;
  target: string;
  proto: string;
  port: number;
  /** The observations of this edge (one per end that is watched). */
  keys: string[];
}

/** Edge fields every network-graph event carries. */
const edgeFields = ["pktType", "proto", "ip", "port"];

/** isEdgeSchema tells whether events with these fields are graph edges. */
export function isEdgeSchema(fields: string[]): boolean {
  return edgeFields.every((f) => fields.includes(f));
}

/** isRecord tells a record of the trace from a warning or error event. */
export function isRecord(e: GadgetEvent): boolean {
  return e.type === undefined || e.type === "" || e.type === "normal";
}

/** observationKey is types.Event.Key(): namespace/pod/pktType/proto/ip/port. */
export function observationKey(e: GadgetEvent): string {
  return `${e.namespace ?? ""}/${e.pod ?? ""}/${e.pktType ?? ""}/${e.proto ?? ""}/${e.ip ?? ""}/${e.port ?? 0}`;
}

/** groupOf is where a pod is drawn: its namespace, or its node on one machine. */
function groupOf(namespace: string | undefined, node: string | undefined): string {
  if (namespace) return namespace;
  return node ? `node ${node}` : "";
}

/** The observations and the graph drawn from them. */
export class Graph {
  readonly observations = new Map<string, Observation>();
  readonly endpoints = new Map<string, Endpoint>();
  readonly edges = new Map<string, GraphEdge>();
  /** Node (host) addresses seen as podHostIP: remote ends there are nodes. */
  private readonly hostIPs = new Set<string>();

  /**
   * add merges one record into the graph and returns what it created:
   * the IDs of new endpoints and edges, and of the edge it touched.
   */
  add(e: GadgetEvent, seq: number): { key: string; newEndpoints: string[]; newEdge: boolean; edge: string } {
    const key = observationKey(e);
    let o = this.observations.get(key);
    const bytes = e.bytes ?? 0;
    if (!o) {
      o = { key, event: e, packets: 0, bytes: 0, firstSeen: e.firstSeen ?? "", lastSeen: e.lastSeen ?? "", lastBytes: 0, seq };
      this.observations.set(key, o);
    } else if (e.remoteName) {
      o.event.remoteName = e.remoteName;
      o.event.remoteNameStale = e.remoteNameStale;
    }
    o.packets += e.packets ?? 0;
    o.bytes += bytes;
    if (e.firstSeen && (!o.firstSeen || e.firstSeen < o.firstSeen)) o.firstSeen = e.firstSeen;
    if (e.lastSeen && e.lastSeen > o.lastSeen) o.lastSeen = e.lastSeen;
    o.lastBytes = o.seq === seq ? o.lastBytes + bytes : bytes;
    o.seq = seq;
    if (e.podHostIP) this.hostIPs.add(e.podHostIP);

    const newEndpoints: string[] = [];
    const local = this.endpoint(
      {
        id: `pod:${e.namespace ?? ""}/${e.pod ?? ""}`,
        kind: "pod",
        label: e.pod || e.podIP?.toString() || "?",
        group: groupOf(e.namespace, e.node),
        stale: false,
        namespace: e.namespace ?? "",
        pod: e.pod ?? "",
      },
      newEndpoints,
    );
    const remote = this.endpoint(this.remoteOf(e), newEndpoints);
    const outgoing = e.pktType !== "HOST";
    const [source, target] = outgoing ? [local, remote] : [remote, local];
    const proto = e.proto ?? "";
    const port = e.port ?? 0;
    const id = `${source}>${target}/${proto}/${port}`;
    let edge = this.edges.get(id);
    const newEdge = !edge;
    if (!edge) {
      edge = { id, source, target, proto, port, keys: [] };
      this.edges.set(id, edge);
    }
    if (!edge.keys.includes(key)) edge.keys.push(key);
    return { key, newEndpoints, newEdge, edge: id };
  }

  private endpoint(ep: Endpoint, created: string[]): string {
    const known = this.endpoints.get(ep.id);
    if (!known) {
      this.endpoints.set(ep.id, ep);
      created.push(ep.id);
    } else if (ep.kind === "ext" && ep.label !== known.label && ep.label !== known.id.slice(4)) {
      // A DNS name learned later names the endpoint from now on.
      known.label = ep.label;
      known.stale = ep.stale;
    }
    return ep.id;
  }

  /** remoteOf is the remote end of an observation, by what the enrichers found. */
  private remoteOf(e: GadgetEvent): Endpoint {
    const ip = e.ip ?? e.remoteOther ?? "";
    switch (e.remoteKind) {
      case "pod": {
        const ns = e.remotePodNamespace ?? "";
        const pod = e.remotePodName ?? ip;
        return { id: `pod:${ns}/${pod}`, kind: "pod", label: pod, group: groupOf(ns, e.node), stale: false, namespace: ns, pod };
      }
      case "svc": {
        const ns = e.remoteServiceNamespace ?? "";
        const name = e.remoteServiceName ?? ip;
        return { id: `svc:${ns}/${name}`, kind: "svc", label: name, group: ns, stale: false, namespace: ns, pod: "" };
      }
    }
    if (this.hostIPs.has(ip)) {
      return { id: `node:${ip}`, kind: "node", label: `node ${ip}`, group: "", stale: false, namespace: "", pod: "" };
    }
    const name = e.remoteName ?? "";
    return { id: `ext:${ip}`, kind: "ext", label: name || ip, group: "", stale: !!name && !!e.remoteNameStale, namespace: "", pod: "" };
  }

  /** Counters of an edge: the largest of its observations (both ends count the same traffic). */
  counters(edge: GraphEdge): { packets: number; bytes: number; lastBytes: number; seq: number; firstSeen: string; lastSeen: string } {
    const c = { packets: 0, bytes: 0, lastBytes: 0, seq: 0, firstSeen: "", lastSeen: "" };
    for (const k of edge.keys) {
      const o = this.observations.get(k);
      if (!o) continue;
      c.packets = Math.max(c.packets, o.packets);
      c.bytes = Math.max(c.bytes, o.bytes);
      if (o.seq > c.seq) {
        c.seq = o.seq;
        c.lastBytes = o.lastBytes;
      } else if (o.seq === c.seq) {
        c.lastBytes = Math.max(c.lastBytes, o.lastBytes);
      }
      if (o.firstSeen && (!c.firstSeen || o.firstSeen < c.firstSeen)) c.firstSeen = o.firstSeen;
      if (o.lastSeen > c.lastSeen) c.lastSeen = o.lastSeen;
    }
    return c;
  }
}

/** What the filters of the page select. Empty fields select everything. */
export interface Filter {
  namespace: string;
  pod: string;
  proto: string;
  port: number;
}

/** matches tells whether an observation passes the filter. */
export function matches(f: Filter, o: Observation): boolean {
  const e = o.event;
  if (f.namespace && e.namespace !== f.namespace && e.remotePodNamespace !== f.namespace && e.remoteServiceNamespace !== f.namespace) {
    return false;
  }
  if (f.pod) {
    const p = f.pod.toLowerCase();
    if (!(e.pod ?? "").toLowerCase().includes(p) && !(e.remotePodName ?? "").toLowerCase().includes(p)) return false;
  }
  if (f.proto && (e.proto ?? "").toLowerCase() !== f.proto.toLowerCase()) return false;
  if (f.port && e.port !== f.port) return false;
  return true;
}

/** formatBytes renders a byte count with a binary unit. */
export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
}
