// `sealkit encrypt` and `sealkit decrypt`: streamed, with crash-safe output files.

import { decryptStream, encryptStream } from "@sealkit/cipher";
import { MAX_FRAME_SIZE, MIN_FRAME_SIZE } from "@sealkit/core";
import { type ProviderFlags, parseContext, resolveSettings } from "../config.js";
import { UsageError } from "../exit-codes.js";
import {
  createAtomicFile,
  type OutputTarget,
  openDeviceOutput,
  openInput,
  peekHeader,
  resolveOutput,
  stdoutWritable,
} from "../io.js";
import { progressStream } from "../output.js";
import { type Session, suiteName } from "../providers.js";

export interface CryptOptions extends ProviderFlags {
  output?: string;
  context?: string[];
  expectContext?: string[];
  quiet?: boolean;
}

/** `-o`, resolved before any work; undefined for stdout (`-` or no -o). */
function outputOf(options: CryptOptions): OutputTarget | undefined {
  return options.output === undefined || options.output === "-" ? undefined : resolveOutput(options.output);
}

/**
 * Pipes `stream` to stdout, to a regular file (through a temp file renamed on success), or to a device or FIFO
 * (in place, as to stdout).
 */
async function writeOutput(
  stream: ReadableStream<Uint8Array>,
  output: OutputTarget | undefined,
): Promise<void> {
  if (output === undefined) {
    await stream.pipeTo(stdoutWritable());
    return;
  }
  const file =
    output.kind === "file" ? await createAtomicFile(output.path) : await openDeviceOutput(output.path);
  try {
    await stream.pipeTo(file.writable);
    await file.commit();
  } catch (error) {
    await file.abort();
    throw error;
  }
}

/** `sealkit encrypt [in] [-o out]`. */
export async function encryptCommand(
  input: string | undefined,
  options: CryptOptions,
  session: Session,
): Promise<void> {
  const settings = resolveSettings(options);
  const context = parseContext(options.context, "--context");
  const suite = suiteName(settings.suite);
  const frameSize = settings.frameSize;
  if (frameSize !== undefined && (frameSize < MIN_FRAME_SIZE || frameSize > MAX_FRAME_SIZE)) {
    throw new UsageError(
      `the frame size (--frame-size, SEALKIT_FRAME_SIZE or the profile's frameSize) expected ${MIN_FRAME_SIZE} to ${MAX_FRAME_SIZE} bytes, got ${frameSize}`,
    );
  }
  if ((options.output === undefined || options.output === "-") && process.stdout.isTTY) {
    throw new UsageError("refusing to write an envelope to a terminal: use -o <file> or redirect stdout");
  }
  const output = outputOf(options);
  // The input first: a file that cannot be read fails before any KMS call or output.
  const source = openInput(input);
  const providers = session.releasingAfterDataKey(await session.encryptProviders(settings));
  const envelope = source.stream
    .pipeThrough(progressStream("encrypt", source.size, options.quiet === true))
    .pipeThrough(
      encryptStream({
        providers,
        context,
        ...(suite ? { suite } : {}),
        ...(frameSize !== undefined ? { frameSize } : {}),
      }),
    );
  await writeOutput(envelope, output);
}

/**
 * `sealkit decrypt [in] [-o out]`. To a file: plaintext goes to a temp file renamed over the output only after
 * the whole envelope authenticated. To stdout: verified frames are written as they come; a truncated or damaged
 * envelope is reported at the end with exit code 3.
 */
export async function decryptCommand(
  input: string | undefined,
  options: CryptOptions,
  session: Session,
): Promise<void> {
  const settings = resolveSettings(options);
  const expectContext = parseContext(options.expectContext, "--expect-context");
  const output = outputOf(options);
  const source = openInput(input);
  const counted = source.stream.pipeThrough(progressStream("decrypt", source.size, options.quiet === true));
  const { header, stream } = await peekHeader(counted);
  const providers = session.releasingAfterDataKey(
    await session.decryptProviders(settings, header.encryptedDataKeys),
  );
  const plaintext = stream.pipeThrough(decryptStream({ providers, expectContext }));
  await writeOutput(plaintext, output);
}
