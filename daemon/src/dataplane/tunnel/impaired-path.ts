/** Test hook: a bad path between daemons, to exercise the streams' recovery from loss, reordering and duplication. */
import type { Path } from "./path.ts";

/** Shares (0 to 1) of sealed frames thrown away, held back behind the next one, and sent twice. */
export interface PathImpairment {
  drop: number;
  reorder: number;
  duplicate: number;
}

export type SendFrame = (frame: Buffer | readonly Buffer[], to: Path, peer: number) => void;

/**
 * `send` through a bad path. The shares are read at every frame, so a test may change them while
 * traffic flows; `live` says whether a frame held back may still go out.
 */
export function impairedPath(send: SendFrame, path: PathImpairment, live: () => boolean): SendFrame {
  let heldBack: Parameters<SendFrame> | undefined;
  const release = () => {
    const held = heldBack;
    heldBack = undefined;
    if (held && live()) send(...held);
  };
  return (...frame) => {
    if (Math.random() < path.drop) return;
    if (Math.random() < path.duplicate) send(...frame);
    if (!heldBack && Math.random() < path.reorder) {
      // Sent after the next frame, or a moment later if none comes: it arrives out of order.
      heldBack = frame;
      setTimeout(release, 2).unref();
      return;
    }
    send(...frame);
    release();
  };
}
