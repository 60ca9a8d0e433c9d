/**
 * Moving bytes through the SDK in end-to-end tests: deterministic payloads, writing with
 * backpressure, and reading to the end with a SHA-256 of what arrived.
 */
import { createHash } from "node:crypto";
import type { PilotConnection } from "../../src/sdk/pilot.ts";

export const MiB = 1 << 20;

export const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

/** Deterministic bytes that differ from one seed to the next (xorshift). */
export function pattern(size: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(size);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < size; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b.writeUInt32LE(x >>> 0, i);
  }
  return b;
}

/** Writes `data` in 1 MiB pieces, waiting whenever the connection pushes back, then half-closes. */
export async function writeAll(conn: PilotConnection, data: Buffer): Promise<{ waits: number }> {
  let waits = 0;
  for (let at = 0; at < data.length; at += MiB) {
    if (!conn.write(data.subarray(at, at + MiB))) {
      waits++;
      await new Promise((r) => conn.once("drain", r));
    }
  }
  conn.end();
  return { waits };
}

/**
 * Reads a connection to its end; a slow reader stops for `pauseMs` after every MiB. `onData` hears
 * the running total after each chunk.
 */
export function readAll(conn: PilotConnection, pauseMs = 0, onData?: (bytes: number) => void): Promise<{ hash: string; bytes: number }> {
  const hash = createHash("sha256");
  let bytes = 0;
  let sincePause = 0;
  return new Promise((resolve, reject) => {
    conn.on("data", (chunk: Buffer) => {
      hash.update(chunk);
      bytes += chunk.length;
      sincePause += chunk.length;
      onData?.(bytes);
      if (pauseMs && sincePause >= MiB) {
        sincePause = 0;
        conn.pause();
        setTimeout(() => conn.resume(), pauseMs);
      }
    });
    conn.on("end", () => resolve({ hash: hash.digest("hex"), bytes }));
    conn.on("error", reject);
  });
}
