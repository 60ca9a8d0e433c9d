/**
 * Test hook: a bad path between daemons, to exercise the streams' recovery from loss, reordering and
 * duplication, and to give a path a long round trip (the kernel here has no netem to add one).
 */
import type { Path } from "./path.ts";

/** Shares (0 to 1) of sealed frames thrown away, held back behind the next one, and sent twice; and how long every frame waits. */
export interface PathImpairment {
  drop: number;
  reorder: number;
  duplicate: number;
  /** Milliseconds every sealed frame is held before it goes out: half the round trip it adds when both ends have it. */
  delayMs?: number;
}

export type SendFrame = (frame: Buffer | readonly Buffer[], to: Path, peer: number) => void;

/**
 * `send` through a bad path. The shares are read at every frame, so a test may change them while
 * traffic flows; `live` says whether a frame held back may still go out.
 */
export function impairedPath(send: SendFrame, path: PathImpairment, live: () => boolean): SendFrame {
  const out = delayedPath(send, () => path.delayMs ?? 0, live);
  let heldBack: Parameters<SendFrame> | undefined;
  const release = () => {
    const held = heldBack;
    heldBack = undefined;
    if (held && live()) out(...held);
  };
  return (...frame) => {
    if (Math.random() < path.drop) return;
    if (Math.random() < path.duplicate) out(...frame);
    if (!heldBack && Math.random() < path.reorder) {
      // Sent after the next frame, or a moment later if none comes: it arrives out of order.
      heldBack = frame;
      setTimeout(release, 2).unref();
      return;
    }
    out(...frame);
    release();
  };
}

/**
 * `send`, `delayMs()` late. A fast stream seals 100,000 frames a second, so they wait in one
 * first-in-first-out queue behind one timer set for the oldest, not a timer each. Frames keep their
 * order: one sent while others wait goes behind them even if the delay has just been lowered. The
 * frames' buffers are not reused once handed to `send` (the socket may queue them too), so holding
 * them is safe.
 */
export function delayedPath(send: SendFrame, delayMs: () => number, live: () => boolean): SendFrame {
  const queue: ({ due: number; frame: Parameters<SendFrame> } | undefined)[] = [];
  let head = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const flush = () => {
    timer = undefined;
    const now = performance.now();
    for (let next = queue[head]; next && next.due <= now; next = queue[head]) {
      queue[head++] = undefined;
      if (live()) send(...next.frame);
    }
    // Drop the sent part of the array once it is most of it: shifting each frame would be quadratic.
    if (head === queue.length || (head > 1024 && head * 2 > queue.length)) {
      queue.splice(0, head);
      head = 0;
    }
    const oldest = queue[head];
    if (oldest) timer = setTimeout(flush, oldest.due - now).unref();
  };
  return (...frame) => {
    const ms = delayMs();
    if (ms <= 0 && head === queue.length) return send(...frame);
    queue.push({ due: performance.now() + ms, frame });
    timer ??= setTimeout(flush, ms).unref();
  };
}
