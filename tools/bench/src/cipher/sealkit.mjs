// Loads the built Sealkit packages and a raw-key provider for them, reporting which parts exist yet, so the
// benchmark runs its baselines even while @sealkit/cipher is being written.

/**
 * @returns {Promise<{ cipher, core, providers, oneShot: boolean, streams: boolean, range: boolean, notes: string[] }>}
 */
export async function loadSealkit() {
  const notes = [];
  let cipher = {};
  let core = {};
  try {
    cipher = await import("@sealkit/cipher");
  } catch (error) {
    notes.push(`@sealkit/cipher is not built (${error.code ?? error.message}); Sealkit rows skipped`);
  }
  try {
    core = await import("@sealkit/core");
  } catch (error) {
    notes.push(`@sealkit/core is not built (${error.code ?? error.message})`);
  }
  let providers;
  if (typeof core.rawKeyProvider === "function") {
    const key = crypto.getRandomValues(new Uint8Array(32));
    providers = [core.rawKeyProvider({ keyId: "bench-key", key })];
  } else {
    notes.push("@sealkit/core has no rawKeyProvider yet; Sealkit rows skipped");
  }
  const has = (...names) => names.every((n) => typeof cipher[n] === "function");
  const oneShot = Boolean(providers) && has("encrypt", "decrypt");
  const streams = Boolean(providers) && has("encryptStream", "decryptStream");
  const range = Boolean(providers) && has("encryptStream", "decryptRange");
  const built = typeof cipher === "object" && Object.keys(cipher).length > 0;
  if (providers && built && !oneShot) notes.push("@sealkit/cipher has no encrypt/decrypt yet");
  if (providers && built && !streams) notes.push("@sealkit/cipher has no encryptStream/decryptStream yet");
  if (providers && built && !range) notes.push("@sealkit/cipher has no decryptRange yet");
  return { cipher, core, providers, oneShot, streams, range, notes };
}
