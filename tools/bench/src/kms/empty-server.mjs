// The ceiling of any Node.js HTTP server on this machine, for `pnpm bench:kms`: a node:net responder that frames
// HTTP/1.1 requests by Content-Length and answers each with fixed bytes (no parsing beyond that, no SigV4, no JSON,
// no cryptography, no audit). Whatever the KMS server does costs on top of this.
// Usage: node empty-server.mjs [--processes <n>] → prints "listening on <url>" and "ready". With n > 1, n cluster
// workers share the listening socket: the most any number of Node.js processes can answer here with both cores.

import cluster from "node:cluster";
import { createServer } from "node:net";
import { parseArgs } from "node:util";

const { values } = parseArgs({ options: { processes: { type: "string", default: "1" } } });
const processes = Number(values.processes);

if (processes > 1 && cluster.isPrimary) {
  let listening = 0;
  for (let i = 0; i < processes; i++) {
    cluster.fork().on("message", (url) => {
      if (++listening === processes) process.stdout.write(`listening on ${url}\nready\n`);
    });
  }
  process.on("SIGTERM", () => {
    for (const worker of Object.values(cluster.workers)) worker.kill("SIGTERM");
    cluster.disconnect(() => process.exit(0));
  });
} else {
  serve();
}

function serve() {
  const body = JSON.stringify({
    CiphertextBlob: "A".repeat(244),
    KeyId: "arn:aws:kms:us-east-1:111122223333:key/00000000-0000-4000-8000-000000000000",
    Plaintext: "A".repeat(44),
  });
  const response = Buffer.from(
    `HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: ${body.length}\r\nx-amzn-RequestId: 00000000-0000-4000-8000-000000000000\r\nDate: ${new Date().toUTCString()}\r\n\r\n${body}`,
  );
  const server = createServer((socket) => {
    socket.setNoDelay(true);
    let pending = Buffer.alloc(0);
    socket.on("data", (chunk) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      for (;;) {
        const end = pending.indexOf("\r\n\r\n");
        if (end < 0) return;
        const head = pending.subarray(0, end).toString("latin1");
        const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        if (pending.length < end + 4 + length) return;
        pending = pending.subarray(end + 4 + length);
        socket.write(response);
      }
    });
    socket.on("error", () => socket.destroy());
  });
  // In a cluster worker, port 0 is one port shared by all workers (the primary holds the socket).
  server.listen(0, "127.0.0.1", () => {
    const url = `http://127.0.0.1:${server.address().port}`;
    if (cluster.isWorker) process.send(url);
    else process.stdout.write(`listening on ${url}\nready\n`);
  });
  process.on("SIGTERM", () => process.exit(0));
}
