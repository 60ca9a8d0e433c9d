/** The local socket's batched writer, on a real socket pair: what the other end reads, frame by frame. */
import { describe, expect, it } from "vitest";
import { BatchedWriter } from "../src/local-socket/batched-writes.ts";
import { binaryHeader } from "../src/local-socket/frames.ts";
import { END_FRAME, KIND } from "../src/local-socket/stream-frames.ts";
import { parseFrames, received, socketPair } from "./frame-pair.ts";
import { waitFor } from "./wait.ts";

const piece = (i: number) => Buffer.alloc(1_400, i);

describe("the batched writer", () => {
  it("sends the data gathered in one turn as one data frame, and what follows it after it", async () => {
    const [ours, theirs] = await socketPair();
    const read = received(theirs);
    const out = new BatchedWriter(ours, (bytes) => binaryHeader(KIND.data, bytes));
    for (let i = 0; i < 40; i++) out.data(piece(i));
    out.write(END_FRAME);
    await new Promise((resolve) => setImmediate(resolve));
    ours.end();
    const { frames, data } = await read.all;
    expect(frames).toEqual(["data 56000", "end"]);
    expect(data).toEqual(Buffer.concat(Array.from({ length: 40 }, (_, i) => piece(i))));
  });

  it("starts a new data frame after any other write, and at once when BATCH_BYTES wait", async () => {
    const [ours, theirs] = await socketPair();
    const read = received(theirs);
    const out = new BatchedWriter(ours, (bytes) => binaryHeader(KIND.data, bytes));
    out.data(piece(1));
    out.data(piece(2));
    out.write(binaryHeader(KIND.credit, 7));
    out.data(piece(3));
    // 256 KiB waiting sends the batch: the rest go in a frame of their own.
    for (let i = 0; i < 200; i++) out.data(piece(4));
    out.end();
    const { frames } = await read.all;
    expect(frames[0]).toBe("data 2800");
    expect(frames[1]).toBe("credit 7");
    const sizes = frames.slice(2).map((f) => Number(f.split(" ")[1]));
    expect(sizes.length).toBe(2);
    expect(sizes[0]).toBeGreaterThanOrEqual(262_144 - 2_800 - 5);
    expect(sizes[0]! + sizes[1]!).toBe(201 * 1_400);
  });

  it("gathers the data of a batch that waits out the gap behind the previous one into a frame of its own", async () => {
    const [ours, theirs] = await socketPair();
    const read = received(theirs);
    const out = new BatchedWriter(ours, (bytes) => binaryHeader(KIND.data, bytes));
    out.data(piece(1));
    await new Promise((resolve) => setImmediate(resolve));
    // Just after that batch went: this one waits for the 1 ms gap (a timer), gathering both pieces.
    out.data(piece(2));
    out.data(piece(3));
    // Both batches arrive with nothing more written.
    await waitFor(() => read.now().length === 2 * 5 + 3 * 1_400, "both batches");
    expect(parseFrames(read.now()).frames).toEqual(["data 1400", "data 2800"]);
    out.end(END_FRAME);
    expect((await read.all).frames).toEqual(["data 1400", "data 2800", "end"]);
  });

  it("ends the socket after the gathered data and the last frame", async () => {
    const [ours, theirs] = await socketPair();
    const read = received(theirs);
    const out = new BatchedWriter(ours, (bytes) => binaryHeader(KIND.data, bytes));
    out.data(piece(5));
    out.end(END_FRAME);
    expect((await read.all).frames).toEqual(["data 1400", "end"]);
  });

  it("drops what is written or gathered after the socket ended, and does not throw or fail the socket", async () => {
    const [ours, theirs] = await socketPair();
    const read = received(theirs);
    const errors: Error[] = [];
    ours.on("error", (e) => errors.push(e));
    const out = new BatchedWriter(ours, (bytes) => binaryHeader(KIND.data, bytes));
    out.end(END_FRAME);
    out.data(piece(6));
    out.write(binaryHeader(KIND.credit, 1));
    out.end(END_FRAME);
    expect((await read.all).frames).toEqual(["end"]);
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(errors).toEqual([]);
  });
});
