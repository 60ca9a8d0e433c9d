/**
 * The daemon process's GC tuning (gc-tuning.ts), in child processes of its own (V8's flags are the
 * whole process's): the growth holds while the live heap is small, is handed back to V8 when it
 * is large and comes back when it is small again, dead buffers are freed within the collection,
 * collections are counted, and the memory report answers even where /proc is hidden.
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const MODULE = fileURLToPath(new URL("../src/gc-tuning.ts", import.meta.url));
const ENTRY = fileURLToPath(new URL("../src/index.ts", import.meta.url));

/** Runs `body` (ESM, with the module imported as `gc`) in a fresh Node process; what it prints, parsed. */
function child(body: string, wrap: (argv: string[]) => string[] = (a) => a): unknown {
  const script = `import * as gc from ${JSON.stringify(MODULE)};\nconst settle = () => new Promise((r) => setTimeout(r, 50));\n${body}`;
  const argv = wrap([process.execPath, "--expose-gc", "--input-type=module", "-e", script]);
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: "utf8", timeout: 60_000 });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
}

describe("GC tuning", () => {
  it("lets the old generation grow while the live heap is small, hands it back to V8 above 64 MiB, and takes it again below 48", () => {
    const seen = child(`
      const steps = [];
      gc.tuneGc();
      steps.push(gc.heapGrowthOn());
      let live = Array.from({ length: 1_500_000 }, (_, i) => ({ i, s: "v" + i })); // well over 64 MiB
      globalThis.gc();
      await settle();
      steps.push(gc.heapGrowthOn());
      live = null;
      globalThis.gc();
      await settle();
      steps.push(gc.heapGrowthOn());
      console.log(JSON.stringify({ steps, majors: gc.memoryReport().major_gcs, live }));
    `) as { steps: boolean[]; majors: number };
    expect(seen.steps).toEqual([true, false, true]);
    expect(seen.majors).toBeGreaterThanOrEqual(2);
  });

  it("has V8 free dead buffers within the collection itself, not later on a background thread", () => {
    // 2,000 buffers of 8 KiB, each outside the heap as a datagram or a sealed packet is; right after a
    // young collection, what is still counted for them is what no one has freed yet. Without the
    // tuning V8 frees them on a thread of its own after the collection, and nearly always all 16 MB
    // are still counted when gc() returns (a round in about 16 finds them freed already): five
    // rounds must all find them freed. The first collection empties the young generation, so none
    // of the buffers is promoted out of it by a collection of its own making.
    const seen = child(`
      gc.tuneGc();
      globalThis.gc();
      const rounds = [];
      for (let round = 0; round < 5; round++) {
        let buffers = Array.from({ length: 2000 }, () => Buffer.allocUnsafeSlow(8192));
        const held = process.memoryUsage().arrayBuffers;
        buffers = null;
        globalThis.gc({ type: "minor" });
        rounds.push({ held, after: process.memoryUsage().arrayBuffers, buffers });
      }
      console.log(JSON.stringify(rounds));
    `) as { held: number; after: number }[];
    expect(seen).toHaveLength(5);
    for (const round of seen) {
      expect(round.held).toBeGreaterThan(2000 * 8192);
      expect(round.after).toBeLessThan(1 << 20);
    }
  });

  it("is the package's to offer programs: tuneGc from the package entry turns the growth on in the program's process", () => {
    const seen = child(`
      const before = gc.heapGrowthOn();
      const { tuneGc } = await import(${JSON.stringify(ENTRY)});
      tuneGc();
      console.log(JSON.stringify({ before, after: gc.heapGrowthOn() }));
    `);
    expect(seen).toEqual({ before: false, after: true });
  });

  it("counts collections without tuning when only counting is asked for (a daemon in a test's process)", () => {
    const seen = child(`
      gc.countGcs();
      globalThis.gc();
      await settle();
      console.log(JSON.stringify({ growth: gc.heapGrowthOn(), report: gc.memoryReport() }));
    `) as { growth: boolean; report: { rss_bytes: number; heap_used_bytes: number; major_gcs: number } };
    expect(seen.growth).toBe(false);
    expect(seen.report.major_gcs).toBeGreaterThanOrEqual(1);
    expect(seen.report.rss_bytes).toBeGreaterThan(seen.report.heap_used_bytes);
  });

  // Hiding /proc takes a mount namespace of one's own, which needs root (CI runs as root).
  it.skipIf(process.getuid?.() !== 0)("reports memory with a null resident size, not an error, where /proc is hidden", () => {
    const hideProc = (argv: string[]) => ["unshare", "--mount", "--propagation", "private", "sh", "-c", 'mount -t tmpfs none /proc && exec "$@"', "sh", ...argv];
    const seen = child(`console.log(JSON.stringify(gc.memoryReport()));`, hideProc) as { rss_bytes: number | null; heap_used_bytes: number };
    expect(seen.rss_bytes).toBeNull();
    expect(seen.heap_used_bytes).toBeGreaterThan(0);
  });
});
