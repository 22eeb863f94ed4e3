// Prometheus text-format metrics of the KMS server: requests by operation and outcome, latency histogram, in-flight.

const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

interface Histogram {
  readonly counts: number[];
  sum: number;
  count: number;
}

/** Counters and histograms the server updates on every request. */
export class ServerMetrics {
  // Operation, then error name, to count: no key string built per request.
  readonly #requests = new Map<string, Map<string, number>>();
  readonly #latency = new Map<string, Histogram>();
  inFlight = 0;
  openConnections = 0;
  rejectedConnections = 0;
  reclaimedConnections = 0;

  /** Records one finished request: its operation ("-" when unknown), its error name ("" on success) and its duration. */
  record(operation: string, error: string, seconds: number): void {
    let byError = this.#requests.get(operation);
    if (byError === undefined) {
      byError = new Map();
      this.#requests.set(operation, byError);
    }
    byError.set(error, (byError.get(error) ?? 0) + 1);
    let h = this.#latency.get(operation);
    if (h === undefined) {
      h = { counts: new Array(BUCKETS.length).fill(0), sum: 0, count: 0 };
      this.#latency.set(operation, h);
    }
    for (let i = 0; i < BUCKETS.length; i++) {
      if (seconds <= (BUCKETS[i] as number)) {
        (h.counts[i] as number)++;
        break;
      }
    }
    h.sum += seconds;
    h.count++;
  }

  /** The metrics in Prometheus text exposition format (version 0.0.4). `extra` lines are appended as given. */
  render(extra: readonly string[] = []): string {
    const lines: string[] = [
      "# HELP sealkit_kms_requests_total KMS requests by operation and error (empty error: success).",
      "# TYPE sealkit_kms_requests_total counter",
    ];
    for (const [op, byError] of this.#requests) {
      for (const [error, n] of byError) {
        lines.push(`sealkit_kms_requests_total{operation="${label(op)}",error="${label(error)}"} ${n}`);
      }
    }
    lines.push(
      "# HELP sealkit_kms_request_duration_seconds Time from the end of the request body to the response, by operation.",
      "# TYPE sealkit_kms_request_duration_seconds histogram",
    );
    for (const [op, h] of this.#latency) {
      let cumulative = 0;
      for (let i = 0; i < BUCKETS.length; i++) {
        cumulative += h.counts[i] as number;
        lines.push(
          `sealkit_kms_request_duration_seconds_bucket{operation="${label(op)}",le="${BUCKETS[i]}"} ${cumulative}`,
        );
      }
      lines.push(
        `sealkit_kms_request_duration_seconds_bucket{operation="${label(op)}",le="+Inf"} ${h.count}`,
      );
      lines.push(`sealkit_kms_request_duration_seconds_sum{operation="${label(op)}"} ${h.sum}`);
      lines.push(`sealkit_kms_request_duration_seconds_count{operation="${label(op)}"} ${h.count}`);
    }
    lines.push(
      "# HELP sealkit_kms_in_flight_requests Requests being processed.",
      "# TYPE sealkit_kms_in_flight_requests gauge",
      `sealkit_kms_in_flight_requests ${this.inFlight}`,
      "# HELP sealkit_kms_open_connections Open client connections.",
      "# TYPE sealkit_kms_open_connections gauge",
      `sealkit_kms_open_connections ${this.openConnections}`,
      "# HELP sealkit_kms_rejected_connections_total Connections refused by the connection limit.",
      "# TYPE sealkit_kms_rejected_connections_total counter",
      `sealkit_kms_rejected_connections_total ${this.rejectedConnections}`,
      "# HELP sealkit_kms_reclaimed_connections_total Silent connections closed to make room at the connection limit.",
      "# TYPE sealkit_kms_reclaimed_connections_total counter",
      `sealkit_kms_reclaimed_connections_total ${this.reclaimedConnections}`,
      ...extra,
    );
    return `${lines.join("\n")}\n`;
  }
}

function label(s: string): string {
  return s.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}
