// The demo page: sign in, encrypt files in the browser on WebAssembly with server-issued data keys, upload the
// envelopes, list them with their headers, decrypt them back, stream them through the edge worker, and read the
// key admin view and the audit trail.

import { decryptStream, encryptStream } from "@sealkit/cipher";
import { SealkitError, type SuiteName } from "@sealkit/core";
import { remoteProvider } from "@sealkit/remote";

interface Me {
  name: string;
  tenant: string;
  provider: string;
  keyArn: string;
}

interface StoredFile {
  id: string;
  name: string;
  contentType: string;
  owner: string;
  tenant: string;
  uploadedAt: string;
  envelopeBytes: number;
  header: {
    suite: string;
    frameSize: number;
    frames: number;
    plaintextBytes: number;
    context: Record<string, string>;
    encryptedDataKeys: { providerId: string; keyId: string }[];
  };
}

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const keys = remoteProvider({ endpoint: "/api/keys" });
let me: Me | undefined;

const text = (value: string) => document.createTextNode(value);
function el(tag: string, attrs: Record<string, string> = {}, ...children: (Node | string)[]): HTMLElement {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const child of children) node.append(typeof child === "string" ? text(child) : child);
  return node;
}

function bytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

/** Error text a person can act on. */
function explain(error: unknown): string {
  if (SealkitError.isInstance(error)) {
    switch (error.code) {
      case "ERR_ACCESS_DENIED":
        return `The key service refused: ${error.message.replace(/^data-key server refused \(\d+\): /, "")}`;
      case "ERR_NO_DECRYPTABLE_KEY": {
        // The key service's own reason is in the cause: one error per encrypted data key tried.
        const reasons = ((error.cause as AggregateError | undefined)?.errors ?? [])
          .map((e: unknown) => (SealkitError.isInstance(e) ? explain(e) : ""))
          .filter(Boolean);
        return (
          reasons[0] ??
          "No key you may use can open this file: the key service refused to unwrap its data key."
        );
      }
      case "ERR_AUTHENTICATION_FAILED":
        return "The file did not authenticate: it was damaged or tampered with. Nothing was released.";
      case "ERR_TRUNCATED":
        return "The file is incomplete (truncated).";
      case "ERR_CONTEXT_MISMATCH":
        return "The file belongs to another tenant.";
      case "ERR_RATE_LIMITED":
        return "Too many requests; wait a moment and try again.";
      default:
        return `${error.code}: ${error.message}`;
    }
  }
  return error instanceof Error ? error.message : String(error);
}

async function api<T>(path: string, init?: RequestInit): Promise<T> {
  const response = await fetch(path, init);
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error ?? `request failed (${response.status})`);
  return body as T;
}

// ---- session ---------------------------------------------------------------------------------------------

async function loadMe(): Promise<void> {
  const response = await fetch("/api/me");
  me = response.ok ? await response.json() : undefined;
  $("login").hidden = !!me;
  $("nav").hidden = !me;
  $("who").hidden = !me;
  if (me) {
    $("who-name").textContent = `${me.name} · tenant ${me.tenant}`;
    show(location.hash === "#admin" ? "admin" : "files");
  } else {
    $("files-view").hidden = true;
    $("admin-view").hidden = true;
  }
}

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new FormData(event.target as HTMLFormElement);
  $("login-error").textContent = "";
  try {
    await api("/api/login", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: form.get("name"), password: form.get("password") }),
    });
    await loadMe();
  } catch (error) {
    $("login-error").textContent = explain(error);
  }
});

$("logout").addEventListener("click", async () => {
  await fetch("/api/logout", { method: "POST" });
  location.hash = "";
  await loadMe();
});

function show(view: "files" | "admin"): void {
  $("files-view").hidden = view !== "files";
  $("admin-view").hidden = view !== "admin";
  for (const link of document.querySelectorAll<HTMLAnchorElement>("nav a")) {
    link.classList.toggle("active", link.dataset.view === view);
  }
  if (view === "files") void renderFiles();
  else void renderAdmin();
}
window.addEventListener("hashchange", () => me && show(location.hash === "#admin" ? "admin" : "files"));

// ---- upload ----------------------------------------------------------------------------------------------

$<HTMLInputElement>("file").addEventListener("change", () => {
  $<HTMLButtonElement>("upload").disabled = !$<HTMLInputElement>("file").files?.length;
});

$("upload").addEventListener("click", async () => {
  const file = $<HTMLInputElement>("file").files?.[0];
  if (!file || !me) return;
  const status = $("upload-status");
  const bar = $<HTMLProgressElement>("progress");
  const button = $<HTMLButtonElement>("upload");
  button.disabled = true;
  bar.hidden = false;
  bar.value = 0;
  // Not the previous upload's outcome (its "ok" or "error" stayed on while this one ran).
  status.className = "status";
  status.textContent = "Encrypting…";
  const started = performance.now();
  try {
    const { id } = await api<{ id: string; maxChunkBytes: number }>("/api/uploads", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: file.name, contentType: file.type }),
    });
    let read = 0;
    const counter = new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        read += chunk.length;
        bar.value = file.size ? read / file.size : 1;
        const seconds = (performance.now() - started) / 1000;
        status.textContent = `Encrypting… ${bytes(read)} of ${bytes(file.size)} (${bytes(read / Math.max(seconds, 0.001))}/s)`;
        controller.enqueue(chunk);
      },
    });
    const envelope = (file.stream() as ReadableStream<Uint8Array>).pipeThrough(counter).pipeThrough(
      encryptStream({
        providers: [keys],
        context: { tenant: me.tenant, file: file.name },
        suite: $<HTMLSelectElement>("suite").value as SuiteName,
      }),
    );
    // Browsers cannot stream a request body over HTTP/1.1, so the envelope goes up in 8 MiB chunks: memory stays
    // bounded whatever the file size.
    const CHUNK = 8 * 1024 * 1024;
    let pending: Uint8Array[] = [];
    let pendingBytes = 0;
    let offset = 0;
    const flush = async () => {
      if (pendingBytes === 0) return;
      const body = new Blob(pending as BlobPart[]);
      pending = [];
      pendingBytes = 0;
      await api(`/api/uploads/${id}?offset=${offset}`, { method: "PUT", body });
      offset += body.size;
    };
    const reader = envelope.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      pending.push(value);
      pendingBytes += value.length;
      if (pendingBytes >= CHUNK) await flush();
    }
    await flush();
    const stored = await api<StoredFile>(`/api/uploads/${id}/complete`, { method: "POST" });
    const seconds = (performance.now() - started) / 1000;
    status.textContent = `Uploaded ${stored.name}: ${bytes(file.size)} encrypted in ${seconds.toFixed(1)} s, envelope of ${bytes(stored.envelopeBytes)}.`;
    status.className = "status ok";
    await renderFiles();
  } catch (error) {
    status.textContent = `Upload failed. ${explain(error)}`;
    status.className = "status error";
  } finally {
    button.disabled = false;
    bar.hidden = true;
  }
});

// ---- files -----------------------------------------------------------------------------------------------

async function download(file: StoredFile, result: HTMLElement): Promise<void> {
  result.textContent = "Decrypting…";
  result.className = "result";
  try {
    const response = await fetch(`/api/files/${file.id}/envelope`);
    if (!response.ok || !response.body) throw new Error(`could not fetch the envelope (${response.status})`);
    const plaintext = response.body.pipeThrough(
      // The envelope must be the tenant's the listing says; whether this user may open it is the key service's call.
      decryptStream({ providers: [keys], expectContext: { tenant: file.tenant } }),
    );
    // Read it ourselves: Response.blob() would turn the decryptor's typed error into a bare "Failed to fetch".
    const parts: Uint8Array[] = [];
    const reader = plaintext.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      parts.push(value);
    }
    const blob = new Blob(parts as BlobPart[]);
    const link = el("a", {
      href: URL.createObjectURL(new Blob([blob], { type: file.contentType })),
      download: file.name,
    });
    link.textContent = `Save ${file.name}`;
    result.replaceChildren(text(`Decrypted and verified ${bytes(blob.size)}. `), link);
    result.className = "result ok";
    link.click();
  } catch (error) {
    result.textContent = explain(error);
    result.className = "result error";
  }
}

async function streamViaEdge(file: StoredFile, result: HTMLElement): Promise<void> {
  try {
    const { url } = await api<{ url: string }>(`/api/files/${file.id}/edge-link`);
    if (file.contentType.startsWith("video/") || file.contentType.startsWith("audio/")) {
      $("player").hidden = false;
      $<HTMLVideoElement>("video").src = url;
      result.textContent = "Playing through the edge worker; seek freely.";
    } else {
      result.replaceChildren(
        text("Edge link (valid one hour): "),
        el("a", { href: url, target: "_blank" }, "open"),
      );
    }
    result.className = "result ok";
  } catch (error) {
    result.textContent = explain(error);
    result.className = "result error";
  }
}

async function renderFiles(): Promise<void> {
  const list = $("files");
  try {
    const files = await api<StoredFile[]>("/api/files");
    $("files-error").textContent = "";
    if (files.length === 0) {
      list.replaceChildren(el("p", { class: "muted" }, "No envelopes yet. Encrypt a file above."));
      return;
    }
    list.replaceChildren(
      ...files.map((file) => {
        const result = el("p", { class: "result", "data-result": file.id });
        const context = Object.entries(file.header.context)
          .map(([k, v]) => `${k}=${v}`)
          .join(", ");
        const node = el(
          "article",
          { class: "file", "data-file": file.name },
          el(
            "header",
            {},
            el("strong", {}, file.name),
            el(
              "span",
              { class: "muted" },
              `tenant ${file.tenant} · uploaded by ${file.owner} · ${new Date(file.uploadedAt).toLocaleString()}`,
            ),
          ),
          el(
            "dl",
            {},
            el("dt", {}, "Suite"),
            el("dd", {}, file.header.suite),
            el("dt", {}, "Frames"),
            el(
              "dd",
              {},
              `${file.header.frames} × ${bytes(file.header.frameSize)} (${bytes(file.header.plaintextBytes)} plaintext, ${bytes(file.envelopeBytes)} envelope)`,
            ),
            el("dt", {}, "Context"),
            el("dd", {}, el("code", {}, context || "(empty)")),
            el("dt", {}, "Data key wrapped by"),
            el(
              "dd",
              {},
              ...file.header.encryptedDataKeys.map((k) => el("code", {}, `${k.providerId}: ${k.keyId}`)),
            ),
          ),
        );
        const decryptButton = el("button", { "data-action": "decrypt" }, "Decrypt & download");
        decryptButton.addEventListener("click", () => download(file, result));
        const actions = el("div", { class: "actions" }, decryptButton);
        if (file.tenant === me?.tenant) {
          const edgeButton = el("button", { "data-action": "edge" }, "Stream via edge");
          edgeButton.addEventListener("click", () => streamViaEdge(file, result));
          actions.append(edgeButton);
        }
        node.append(actions, result);
        return node;
      }),
    );
  } catch (error) {
    $("files-error").textContent = explain(error);
  }
}

// ---- admin -----------------------------------------------------------------------------------------------

function table(headers: string[], rows: (string | Node)[][]): HTMLElement {
  return el(
    "table",
    {},
    el("thead", {}, el("tr", {}, ...headers.map((h) => el("th", {}, h)))),
    el("tbody", {}, ...rows.map((row) => el("tr", {}, ...row.map((cell) => el("td", {}, cell))))),
  );
}

async function renderAdmin(): Promise<void> {
  try {
    const keyList =
      await api<
        {
          keyId: string;
          description?: string;
          state: string;
          manager: string;
          aliases: string[];
          rotation?: { enabled: boolean; periodDays?: number; next?: string };
        }[]
      >("/api/admin/keys");
    $("keys").replaceChildren(
      table(
        ["Key", "Aliases", "State", "Manager", "Rotation", "Description"],
        keyList.map((k) => [
          el("code", {}, k.keyId),
          k.aliases.join(", ") || "—",
          k.state,
          k.manager,
          k.rotation?.enabled
            ? `every ${k.rotation.periodDays} days${k.rotation.next ? `, next ${new Date(k.rotation.next).toLocaleDateString()}` : ""}`
            : "off",
          k.description ?? "",
        ]),
      ),
    );
    const requests =
      await api<
        {
          time: string;
          operation: string;
          principal?: string;
          context?: Record<string, string>;
          outcome: string;
          code?: string;
        }[]
      >("/api/admin/key-requests");
    $("key-requests").replaceChildren(
      requests.length === 0
        ? el("p", { class: "muted" }, "None yet.")
        : table(
            ["Time", "Request", "User", "Context", "Outcome"],
            requests.map((r) => [
              new Date(r.time).toLocaleTimeString(),
              r.operation === "generate" ? "issue data key" : "unwrap data key",
              r.principal ?? "—",
              Object.entries(r.context ?? {})
                .map(([k, v]) => `${k}=${v}`)
                .join(", ") || "—",
              el(
                "span",
                { class: r.outcome === "refused" || r.outcome === "failed" ? "denied" : "" },
                r.code ? `${r.outcome} (${r.code})` : r.outcome,
              ),
            ]),
          ),
    );
    const audit = await api<{
      verification: { ok: boolean; events: number; problems: { sequence: number; kind: string }[] };
      events: {
        eventTime: string;
        eventName: string;
        userIdentity?: { arn?: string };
        requestParameters?: { keyId?: string; encryptionContext?: Record<string, string> };
        errorCode?: string;
      }[];
    }>("/api/admin/audit");
    const badge = $("audit-status");
    badge.textContent = audit.verification.ok
      ? `verified: ${audit.verification.events} events intact`
      : `TAMPERING DETECTED at event ${audit.verification.problems[0]?.sequence}`;
    badge.className = `badge ${audit.verification.ok ? "ok" : "bad"}`;
    $("audit").replaceChildren(
      table(
        ["Time", "Operation", "Principal", "Key", "Context", "Outcome"],
        audit.events.map((e) => {
          const outcome = el("span", { class: e.errorCode ? "denied" : "" }, e.errorCode ?? "ok");
          return [
            new Date(e.eventTime).toLocaleTimeString(),
            e.eventName,
            e.userIdentity?.arn?.replace(/^arn:aws:iam::\d+:/, "") ?? "—",
            e.requestParameters?.keyId
              ? el("code", {}, e.requestParameters.keyId.replace(/^.*key\//, ""))
              : "—",
            Object.entries(e.requestParameters?.encryptionContext ?? {})
              .map(([k, v]) => `${k}=${v}`)
              .join(", ") || "—",
            outcome,
          ];
        }),
      ),
    );
  } catch (error) {
    $("keys").textContent = explain(error);
  }
}

void loadMe();
