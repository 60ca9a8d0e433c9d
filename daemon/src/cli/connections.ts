/** pilotctl's commands about this daemon's stream connections, through the SDK. */
import { callDaemon } from "./call-daemon.ts";

/** `disconnect <conn_id>`: closes one connection; the program on the other side sees its stream end. */
export const disconnect = (connId: number) => callDaemon("disconnect", { conn_id: connId });
